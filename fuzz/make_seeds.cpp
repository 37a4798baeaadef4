// Writes the seeds of the ring, meta and convert fuzz targets: small real
// captures recorded with the recorder's APIs (spans, every argument type,
// hostile strings, counters, tasks with waits on channels, trace contexts, a
// crash record, an overwritten ring, a full ring in discard mode), each under
// 40 KiB, in the format the recorder writes (2.0); the same events written
// again as 1.4 by the golden vectors' writer (tests/golden/transcode.hpp), as
// the decoder still reads 1.x; and the spec's test vectors.
//
//   make_seeds CORPUS_DIR [RING_FILE...]
//
// convert/real-NAME-OUTPUT:    byte 0 picks the output (fuzz_convert.cpp), then
//                              the capture; every capture with every output
// convert/real14-NAME-OUTPUT:  each capture's 1.4 rewrite, one output each, in turn
// convert/golden-NAME-OUTPUT:  each RING_FILE that decodes: of format 2.0 with
//                              every output, of 1.x with one output each, in turn
// ring/real2-NAME.bbx:         each capture as recorded
// ring/golden-ok|bad-NAME.bbx: each RING_FILE (from tests/golden/ok or bad)
// meta/real-NAME-N:            the distinct metadata record bodies of the captures
// meta/golden-NAME-N:          those of each RING_FILE (valid or not)
//
// Run by `make -f fuzz/fuzz.mk seeds`; the captures carry this run's pids,
// clocks and paths, so regenerated seeds differ in those bytes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/context.hpp"
#include "bbx/crash.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "../tests/golden/transcode.hpp"

namespace {

namespace fmt = bbx::format;

std::string g_tmp;  // where captures are recorded

std::vector<unsigned char> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool write_all(const std::string& path, const unsigned char* p, size_t n) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    bool ok = std::fwrite(p, 1, n, f) == n;
    return std::fclose(f) == 0 && ok;
}

bbx::config small(const std::string& path, uint32_t threads, bool discard = false) {
    bbx::config c;
    static std::string keep;
    keep = path;
    c.path = keep.c_str();
    c.ring_kb = 4;
    c.max_threads = threads;
    c.meta_kb = 8;
    c.tasks = 16;  // a small task table (1 KiB): the default's 256 KiB would make every seed that big
    c.discard = discard;
    return c;
}

// ---- the captures -----------------------------------------------------------------

void record_args() {
    bbx::set_thread_name("args\x1b[31m-red");
    std::string bad_utf8 = "caf\xc3 \xff\xfe \xed\xa0\x80 ok";
    std::string escape = "\x1b]0;title\x07\x1b[2J\r\n\t\x7f";
    BBX_SPAN(INFO, "io\x1b[1m", "read \"block\"", bbx::arg("bytes", 4096), bbx::arg("neg", -7),
             bbx::arg("big", uint64_t(1) << 63), bbx::arg("ratio", 0.25), bbx::arg("ok", true),
             bbx::arg("path", std::string_view("/tmp/x\\y")));
    BBX_INSTANT(WARN, "text", "hostile", bbx::arg("utf8", std::string_view(bad_utf8)),
                bbx::arg("esc", std::string_view(escape)), bbx::arg("long", std::string(150, 'L')));
    BBX_INSTANT(DEBUG, "num", "specials", bbx::arg("nan", std::numeric_limits<double>::quiet_NaN()),
                bbx::arg("inf", std::numeric_limits<double>::infinity()), bbx::arg("ninf", -HUGE_VAL),
                bbx::arg("tiny", 5e-324), bbx::arg("min", std::numeric_limits<int64_t>::min()));
    BBX_INSTANT(TRACE, "many", "sixteen", bbx::arg("a0", 0), bbx::arg("a1", 1), bbx::arg("a2", 2.5), bbx::arg("a3", "s3"),
                bbx::arg("a4", false), bbx::arg("a5", 5u), bbx::arg("a6", "six"), bbx::arg("a7", 7), bbx::arg("a8", 8),
                bbx::arg("a9", 9), bbx::arg("a10", 10), bbx::arg("a11", 11), bbx::arg("a12", "twelve"),
                bbx::arg("a13", 13), bbx::arg("a14", 14.0), bbx::arg("a15", true));
    for (int i = 0; i < 4; ++i) {
        BBX_COUNTER(INFO, "queue", "depth", i * 3 - 2);
        BBX_COUNTER(INFO, "queue", "load", i * 0.5);
    }
    BBX_COUNTER(INFO, "queue", "weird", std::numeric_limits<double>::quiet_NaN());
    {
        BBX_SPAN(INFO, "outer", "nested");
        BBX_SPAN(DEBUG, "inner", "nested");
        BBX_INSTANT(INFO, "inner", "mark");
    }
}

bool capture_args(const std::string& path) {
    if (!bbx::start(small(path, 2)).ok()) return false;
    std::thread(record_args).join();
    std::thread([] {
        BBX_SPAN(ERROR, "second", "left_open");  // still open at stop(): the thread is inside it
        BBX_INSTANT(INFO, "second", "inside");
        bbx::stop();
    }).join();
    return true;
}

void poll_once(bbx::task_id t, int sleep_us) {
    bbx::poll_scope p(t);
    if (sleep_us) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    bbx::note_await();
}

bool capture_tasks(const std::string& path) {
    if (!bbx::start(small(path, 3)).ok()) return false;
    bbx::resource_id a = 0, b = 0, lock = 0;
    bbx::task_id t1 = 0, t2 = 0, t3 = 0, orphan = 0;
    std::thread([&] {
        bbx::set_thread_name("executor-0");
        a = bbx::register_resource(bbx::resource_kind::channel, "requests", 1);
        b = bbx::register_resource(bbx::resource_kind::channel, "replies", 1);
        lock = bbx::register_resource(bbx::resource_kind::mutex, "state");
        bbx::register_resource(bbx::resource_kind::timer, "tick");
        t1 = bbx::new_task_id();
        t2 = bbx::new_task_id();
        t3 = bbx::new_task_id();
        orphan = bbx::new_task_id();
        BBX_TASK_SPAWN("server", t1, 0, 512);
        bbx::task_wake(t1);
        {
            bbx::poll_scope p(t1);
            BBX_SPAN(INFO, "srv", "handle");
            BBX_TASK_SPAWN("worker", t2, bbx::current_task(), 128);
            BBX_TASK_SPAWN("logger", t3, bbx::current_task(), 0);
            bbx::task_wake(t2);
            bbx::task_wake(t3);
            bbx::resource_used(a, bbx::resource_op::send);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a long poll with two tasks waiting
            bbx::note_await();
        }
        bbx::task_wake(orphan);  // never spawned, never polled
        {
            bbx::poll_scope p(t1);
            bbx::wait_begin(t1, b, bbx::resource_op::recv);  // waits for a reply that never comes
        }
        for (int i = 0; i < 3; ++i) {
            bbx::task_wake(t3);
            poll_once(t3, 0);
        }
        {
            bbx::poll_scope p(t3);
            bbx::task_wake(t3);  // wakes itself
            bbx::wait_scope w(lock, bbx::resource_op::lock);
        }
        bbx::task_complete(t3);
    }).join();
    std::thread([&] {
        bbx::set_thread_name("executor-1");
        bbx::poll_scope p(t2);
        bbx::resource_used(a, bbx::resource_op::recv);
        bbx::wait_begin(t2, a, bbx::resource_op::recv);  // waits on requests, which only t1 sends
    }).join();
    bbx::stop();
    return true;
}

void traced_request(bbx::trace_context parent) {
    BBX_SPAN(INFO, "http", "handle", bbx::arg("path", "/users/7"));
    bbx::context_scope server(bbx::span_role::server, parent);
    BBX_INSTANT(INFO, "http", "parsed", bbx::arg("bytes_sent", 120));
    {
        BBX_SPAN(INFO, "rpc", "fetch_user");
        bbx::context_scope client(bbx::span_role::client);
        BBX_INSTANT(INFO, "net", "sent", bbx::arg("bytes", 64));
        BBX_SPAN(DEBUG, "db", "query", bbx::arg("sql", "select 1"));
    }
    for (int i = 0; i < 3; ++i) BBX_INSTANT(TRACE, "http", "chunk", bbx::arg("i", i));
}

bool capture_context(const std::string& path) {
    if (!bbx::start(small(path, 2)).ok()) return false;
    std::thread([] {
        auto tp = bbx::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        traced_request(tp.context);
        traced_request(bbx::trace_context{});  // a new root
        BBX_SPAN(INFO, "plain", "no_context");
        BBX_INSTANT(INFO, "plain", "event");
    }).join();
    std::thread([] {
        BBX_SPAN(INFO, "consumer", "batch");
        bbx::context_scope c(bbx::span_role::consumer);
        BBX_SPAN(INFO, "consumer", "item");
        bbx::context_scope p(bbx::span_role::producer);
    }).join();
    bbx::stop();
    return true;
}

// The crash record comes from a child process: start, record, crash.
bool capture_crash(const std::string& path) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (!bbx::start(small(path, 2)).ok() || !bbx::install_crash_handler()) _exit(3);
        std::thread([] {
            BBX_SPAN(INFO, "bg", "work");
            BBX_INSTANT(INFO, "bg", "tick", bbx::arg("n", 1));
        }).join();
        BBX_SPAN(INFO, "main", "request", bbx::arg("id", 99));
        BBX_INSTANT(WARN, "main", "about_to_crash");
        volatile int* volatile null = nullptr;
        *null = 1;  // a volatile store: the compiler keeps it
        _exit(4);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) return true;
    std::fprintf(stderr, "make_seeds: the crashing child ended with status 0x%x\n", unsigned(status));
    return false;
}

bool capture_wrap(const std::string& path) {
    if (!bbx::start(small(path, 1)).ok()) return false;
    std::thread([] {
        bbx::task_id t = bbx::new_task_id();
        BBX_TASK_SPAWN("busy", t, 0, 0);
        for (int i = 0; i < 300; ++i) {
            BBX_SPAN(INFO, "loop", "outer", bbx::arg("i", i));
            bbx::task_wake(t);
            bbx::poll_scope p(t);
            BBX_INSTANT(DEBUG, "loop", "step", bbx::arg("s", "0123456789abcdefghij"));
        }
        BBX_SPAN(INFO, "loop", "open_at_end");
        bbx::stop();
    }).join();
    return true;
}

bool capture_discard(const std::string& path) {
    if (!bbx::start(small(path, 1, true)).ok()) return false;
    std::thread([] {
        for (int i = 0; i < 200; ++i) {
            BBX_SPAN(INFO, "fill", "span", bbx::arg("i", i), bbx::arg("s", "text"));
        }
    }).join();
    bbx::stop();
    return true;
}

// ---- seeds ---------------------------------------------------------------------------

const char* output_names[] = {"perfetto", "chrome", "otlp", "analyze", "analyze-json", "dump", "info"};
constexpr unsigned outputs = 7;

// The metadata record bodies of a ring file, when its header lets one find them.
std::vector<std::vector<unsigned char>> records_of(const std::vector<unsigned char>& f) {
    std::vector<std::vector<unsigned char>> out;
    if (f.size() < fmt::header_size) return out;
    fmt::file_header h;
    std::memcpy(&h, f.data(), sizeof h);
    if (h.meta_offset >= f.size() || h.meta_used > f.size() - h.meta_offset) return out;
    for (uint64_t off = 0; off + 8 <= h.meta_used;) {
        fmt::meta_record_header rh;
        std::memcpy(&rh, f.data() + h.meta_offset + off, sizeof rh);
        if (rh.commit != fmt::meta_commit || rh.size == 0 || off + 8 + rh.size > h.meta_used) break;
        const unsigned char* p = f.data() + h.meta_offset + off + 8;
        out.emplace_back(p, p + rh.size);
        off += 8 + fmt::align8(rh.size);
    }
    return out;
}

struct seeder {
    std::string dir;
    std::set<std::vector<unsigned char>> seen_records;
    unsigned written = 0, failed = 0;

    void put(const std::string& path, const std::vector<unsigned char>& bytes) {
        if (write_all(dir + "/" + path, bytes.data(), bytes.size())) ++written;
        else {
            std::fprintf(stderr, "make_seeds: cannot write %s/%s\n", dir.c_str(), path.c_str());
            ++failed;
        }
    }
    void records(const std::string& prefix, const std::vector<unsigned char>& file) {
        unsigned n = 0;
        for (auto& r : records_of(file))
            if (seen_records.insert(r).second) put("meta/" + prefix + "-" + std::to_string(n++), r);
    }
    void convert(const std::string& name, const std::vector<unsigned char>& file, unsigned output, uint8_t flags) {
        std::vector<unsigned char> s;
        s.push_back(uint8_t(output | flags));
        s.insert(s.end(), file.begin(), file.end());
        put("convert/" + name, s);
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: make_seeds CORPUS_DIR [RING_FILE...]\n");
        return 2;
    }
    seeder s;
    s.dir = argv[1];
    g_tmp = "/tmp/bbx-seeds-" + std::to_string(getpid());
    struct capture_fn {
        const char* name;
        bool (*fn)(const std::string&);
    } captures[] = {{"args", capture_args},       {"tasks", capture_tasks}, {"context", capture_context},
                    {"crash", capture_crash},     {"wrap", capture_wrap},   {"discard", capture_discard}};
    unsigned turn = 0;
    for (const capture_fn& c : captures) {
        std::string path = g_tmp + "-" + c.name + ".bbx";
        unlink(path.c_str());
        bool ok = c.fn(path);
        std::vector<unsigned char> bytes = read_all(path);
        std::string err;
        const std::vector<unsigned char> v14 = ok ? golden::transcode(path, 1, err) : std::vector<unsigned char>{};
        unlink(path.c_str());
        auto opened = bbx::dec::capture::from_bytes(bytes.data(), bytes.size());
        auto opened14 = bbx::dec::capture::from_bytes(v14.data(), v14.size());
        const bool v2 = bytes.size() >= fmt::header_size && bytes[8] == fmt::v2::version_major;
        if (!ok || opened.is_error() || !v2 || bytes.size() + 1 > 40 * 1024 || opened14.is_error() || v14.size() + 1 > 40 * 1024) {
            std::fprintf(stderr, "make_seeds: capture %s failed (%zu bytes, %s; 1.4: %zu bytes%s%s%s)\n", c.name, bytes.size(),
                         opened.is_error() ? opened.err().message().c_str() : v2 ? "2.0" : "not 2.0", v14.size(),
                         err.empty() ? "" : ", ", err.c_str(), opened14.is_error() ? opened14.err().message().c_str() : "");
            ++s.failed;
            continue;
        }
        s.put(std::string("ring/real2-") + c.name + ".bbx", bytes);
        s.records(std::string("real-") + c.name, bytes);
        for (unsigned o = 0; o < outputs; ++o)
            s.convert(std::string("real-") + c.name + "-" + output_names[o], bytes, o, o == 3 ? 8 | 16 : 0);
        const unsigned o = turn++ % outputs;
        s.convert(std::string("real14-") + c.name + "-" + output_names[o], v14, o, o == 3 ? 8 | 16 : 0);
    }
    turn = 0;
    for (int i = 2; i < argc; ++i) {
        std::string path = argv[i];
        std::string base = path.substr(path.rfind('/') + 1);
        base = base.substr(0, base.rfind('.'));
        std::string kind = path.find("/bad/") != std::string::npos ? "bad" : "ok";
        std::vector<unsigned char> bytes = read_all(path);
        s.put("ring/golden-" + kind + "-" + base + ".bbx", bytes);
        s.records("golden-" + kind + "-" + base, bytes);
        if (bytes.empty() || bbx::dec::capture::from_bytes(bytes.data(), bytes.size()).is_error()) continue;
        // 2.0, what the recorder writes, has the fewest vectors: each with every
        // output (analyze with --all and a 1 us threshold, as the captures').
        if (bytes.size() >= fmt::header_size && bytes[8] == fmt::v2::version_major) {
            for (unsigned o = 0; o < outputs; ++o)
                s.convert("golden-" + kind + "-" + base + "-" + output_names[o], bytes, o, o == 3 || o == 4 ? 8 | 16 : 0);
            continue;
        }
        unsigned o = turn++ % outputs;
        s.convert("golden-" + kind + "-" + base + "-" + output_names[o], bytes, o, 0);
    }
    std::printf("make_seeds: %u files written, %u failures\n", s.written, s.failed);
    return s.failed ? 1 : 0;
}
