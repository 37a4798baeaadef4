// The hostile-input suite: makes inputs crafted to hurt a decoder, then runs
// every bbx verb on each, as a child under a timeout, and checks what the
// child did:
//   - it exited 0 or 1 (2 only where a case asks for a usage error), never
//     by a signal, and within the timeout (a hang is a failure);
//   - exit 1: the first line of standard error is `bbx: <input>: <what> at
//     offset N` (the cases that read a program file: `bbx: <path>: <what>`);
//   - its peak resident memory (getrusage of the child) was at most twice
//     the input's size + 64 MiB;
//   - for the escape-sequence cases: nothing it wrote to standard output or
//     standard error holds a control character (C0 but newline and tab, DEL,
//     C1) or bytes that are not UTF-8.
// The inputs: LZ4 bombs (an image that is no capture; a valid header over
// 256 MiB of junk; more rings in use at once than the inflation budget
// allows), a FIFO, a device, a directory, standard input (a stream of
// zeros, a capture that runs on), escape sequences in every string a
// capture holds (process, program path, threads, sites, arguments,
// resources) for every verb and flag that prints them, huge lengths and
// counts, and a real capture (ring file and container) cut at every 64th of
// its length.
//
//   hostile BBX_BINARY [--keep DIR]     prints one line per failure and a
//                                       summary, then "hostile: N passed, M failed"
#include <fcntl.h>
#include <lz4.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/capture.hpp"
#include "bbx/format.hpp"
#include "bbx/task.hpp"

namespace fmt = bbx::format;
using bytes = std::vector<uint8_t>;

namespace {

std::string g_dir;           // where the cases are made
std::string g_bbx;           // the tool under test
constexpr int timeout_s = 60;  // per run (a bomb takes a few seconds on a loaded machine)

bytes read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& path, const bytes& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
template <class T>
void put(bytes& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
}

// ---- making captures by hand ---------------------------------------------------------

// A ring-file header for the layout; file_size from compute_layout.
fmt::file_header header_for(uint32_t ring_size, uint32_t ring_count, uint32_t rings_used, uint64_t meta_capacity) {
    fmt::file_header h{};
    std::memcpy(h.magic, fmt::ring_magic, 8);
    h.version_major = fmt::version_major;
    h.version_minor = fmt::version_minor;
    h.header_size = fmt::header_size;
    h.slot_size = fmt::slot_size;
    h.ring_size = ring_size;
    h.ring_count = ring_count;
    h.rings_used = rings_used;
    h.meta_capacity = meta_capacity;
    const fmt::layout l = fmt::compute_layout(ring_size, ring_count, meta_capacity);
    h.file_size = l.file_size;
    h.ring_table_offset = l.ring_table_offset;
    h.meta_offset = l.meta_offset;
    h.rings_offset = l.rings_offset;
    h.owner_table_offset = l.owner_table_offset;
    h.identity_offset = l.identity_offset;
    h.pid = 4242;
    h.anchor_count = 1;
    h.anchors[0] = {1000, 1'000'000'000, 1'700'000'000'000'000'000, 1'000'000'000};
    h.tick_hz = 1e9;
    h.level = 3;
    std::strcpy(h.process_name, "hostile");
    return h;
}

// A container of an image given chunk by chunk: chunk(k, dst) fills chunk k.
bytes container_of(uint64_t image_size, uint32_t chunk_size, const std::function<void(uint32_t, uint8_t*)>& chunk) {
    bytes out;
    bytes raw(chunk_size), scratch(fmt::container_scratch_size(chunk_size));
    uint32_t have = UINT32_MAX;
    auto at = [&](uint64_t off, uint32_t) -> const unsigned char* {
        const uint32_t k = uint32_t(off / chunk_size);
        if (k != have) std::fill(raw.begin(), raw.end(), 0), chunk(k, raw.data()), have = k;
        return raw.data();
    };
    fmt::write_container_from(at, image_size, chunk_size, scratch.data(), fmt::lz4_fast, [&](const void* p, size_t n) {
        out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
        return true;
    });
    return out;
}

// The ring-file image a container holds (the container is a good one).
bytes image_of(const bytes& box) {
    fmt::container_header h;
    std::memcpy(&h, box.data(), sizeof h);
    bytes img(h.image_size);
    uint64_t off = fmt::container_header_size;
    for (uint32_t k = 0; k < h.chunk_count; ++k) {
        fmt::chunk_header c;
        std::memcpy(&c, box.data() + off, sizeof c);
        if (c.packed_size)
            LZ4_decompress_safe(reinterpret_cast<const char*>(box.data() + off + sizeof c),
                                reinterpret_cast<char*>(img.data() + uint64_t(k) * h.chunk_size), int(c.packed_size),
                                int(c.raw_size));
        off += sizeof c + c.packed_size;
    }
    return img;
}

// ---- the hostile strings capture -----------------------------------------------------

// Escape sequences (CSI colours and clear screen, OSC title, BEL, DEL, a C1
// CSI, a C1 OSC) and bytes that are not UTF-8.
#define HOSTILE "\x1b[31m\x1b]0;pwned\x07\x1b[2J\x7f\xc2\x9b\x32\x4a\xc2\x9d\xff\xfe"

// Records a capture whose every string is hostile, in a child process (the
// recorder is per process), then writes hostile bytes into the process
// name and the program path.
bool record_hostile(const std::string& path) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        bbx::config c;
        c.path = path.c_str();
        c.ring_kb = 4;
        c.max_threads = 2;
        c.meta_kb = 8;
        if (!bbx::start(c).ok()) _exit(3);
        std::thread([] {
            bbx::set_thread_name("thread" HOSTILE);
            bbx::resource_id r = bbx::register_resource(bbx::resource_kind::channel, "chan" HOSTILE, 1);
            bbx::task_id t = bbx::new_task_id();
            BBX_TASK_SPAWN("task" HOSTILE, t, 0, 64);
            bbx::task_wake(t);
            {
                bbx::poll_scope p(t);
                BBX_SPAN(INFO, "cat" HOSTILE, "span" HOSTILE, bbx::arg("arg" HOSTILE, std::string_view("value" HOSTILE)));
                BBX_INSTANT(WARN, "cat" HOSTILE, "instant" HOSTILE, bbx::arg("n" HOSTILE, 1));
                BBX_COUNTER(INFO, "cat" HOSTILE, "counter" HOSTILE, 7);
                bbx::wait_begin(t, r, bbx::resource_op::recv);
            }
            bbx::set_thread_name("renamed" HOSTILE);
        }).join();
        bbx::stop();
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return false;
    bytes b = read_all(path);
    if (b.size() < fmt::header_size) return false;
    std::memset(b.data() + offsetof(fmt::file_header, process_name), 0, fmt::process_name_size);
    std::memset(b.data() + offsetof(fmt::file_header, exe_path), 0, fmt::exe_path_size);
    std::strcpy(reinterpret_cast<char*>(b.data()) + offsetof(fmt::file_header, process_name), "proc" HOSTILE);
    std::strcpy(reinterpret_cast<char*>(b.data()) + offsetof(fmt::file_header, exe_path), "/nonexistent/prog" HOSTILE);
    write_all(path, b);
    return true;
}

// ---- running ----------------------------------------------------------------------------

struct run {
    std::string label;               // for messages
    std::vector<std::string> argv;   // after the bbx binary
    std::string input;               // the path named in error messages ("<stdin>" for standard input)
    uint64_t input_bytes = 0;        // for the memory bound
    std::string stdin_file;          // fed as standard input ("" : /dev/null)
    bool stdin_zeros = false;        // an endless stream of zeros as standard input
    bool escapes = false;            // check the output for control characters
    bool program_error = false;      // exit 1 names a program file, not an offset
    bool usage_ok = false;           // exit 2 is the expected answer
};

struct outcome {
    int status = 0;
    long peak_kib = 0;
    double seconds = 0;
    bool timed_out = false;
};

bool terminal_safe(const std::string& s, std::string& why) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = p[i];
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            ++i;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            why = std::string("control byte 0x") + hex[c >> 4] + hex[c & 15] + " at " + std::to_string(i);
            return false;
        }
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!n || i + n > s.size()) {
            why = "a byte that is not UTF-8 at " + std::to_string(i);
            return false;
        }
        for (size_t k = 1; k < n; ++k)
            if ((p[i + k] & 0xc0) != 0x80) {
                why = "a byte that is not UTF-8 at " + std::to_string(i);
                return false;
            }
        if (c == 0xc2 && p[i + 1] < 0xa0) {
            why = "a C1 control at " + std::to_string(i);
            return false;
        }
        i += n;
    }
    return true;
}

// Runs one case as a child: its own process group, standard output and
// error to files, killed at the timeout; peak memory from wait4.
outcome execute(const run& r, const std::string& out_path, const std::string& err_path) {
    outcome o;
    int zeros[2] = {-1, -1};
    if (r.stdin_zeros && pipe(zeros) != 0) return o;
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int in = r.stdin_zeros ? zeros[0] : open(r.stdin_file.empty() ? "/dev/null" : r.stdin_file.c_str(), O_RDONLY);
        // Standard output is kept only where it is checked (escapes): the
        // bombs' conversions are hundreds of MB.
        int out = open(r.escapes ? out_path.c_str() : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (r.stdin_zeros) close(zeros[1]);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(g_bbx.c_str()));
        for (const std::string& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(g_bbx.c_str(), argv.data());
        _exit(127);
    }
    std::thread feeder;
    if (r.stdin_zeros) {
        close(zeros[0]);
        // 1.2 GB of zeros, or until the reader is gone (EPIPE: SIGPIPE is ignored).
        feeder = std::thread([fd = zeros[1]] {
            static const char z[65536] = {};
            for (uint64_t sent = 0; sent < 1'200'000'000;) {
                ssize_t n = write(fd, z, sizeof z);
                if (n <= 0) break;
                sent += uint64_t(n);
            }
            close(fd);
        });
    }
    struct rusage ru {};
    int st = 0;
    for (;;) {
        pid_t w = wait4(pid, &st, WNOHANG, &ru);
        if (w == pid) break;
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(timeout_s)) {
            kill(-pid, SIGKILL);
            o.timed_out = true;
            wait4(pid, &st, 0, &ru);
            break;
        }
        usleep(2000);
    }
    if (feeder.joinable()) feeder.join();
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    o.status = st;
    o.peak_kib = ru.ru_maxrss;
    return o;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// "" or what was wrong with the run.
std::string judge(const run& r, const outcome& o, const std::string& out, const std::string& err) {
    if (o.timed_out) return "no answer in " + std::to_string(timeout_s) + " s (a hang)";
    if (WIFSIGNALED(o.status)) return "killed by signal " + std::to_string(WTERMSIG(o.status));
    const int rc = WEXITSTATUS(o.status);
    const long bound_kib = long((2 * r.input_bytes + (uint64_t(64) << 20)) / 1024);
    if (o.peak_kib > bound_kib)
        return "peak memory " + std::to_string(o.peak_kib) + " KiB, over 2x the input + 64 MiB (" +
               std::to_string(bound_kib) + " KiB)";
    if (r.escapes) {
        std::string why;
        if (!terminal_safe(out, why)) return "standard output: " + why;
        if (!terminal_safe(err, why)) return "standard error: " + why;
    }
    if (rc == 2 && r.usage_ok) return "";
    if (rc != 0 && rc != 1) return "exit " + std::to_string(rc) + ": " + first_line(err);
    if (rc == 1) {
        const std::string l = first_line(err);
        const std::string head = "bbx: " + r.input + ": ";
        if (r.program_error) return l.rfind("bbx: ", 0) == 0 && l.size() > 5 ? "" : "error not named: " + l;
        const size_t at = l.rfind(" at offset ");
        const bool digits = at != std::string::npos && at + 11 < l.size() &&
                            std::all_of(l.begin() + long(at) + 11, l.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (l.rfind(head, 0) != 0 || !digits || at <= head.size())
            return "exit 1 without 'bbx: " + r.input + ": <what> at offset N': " + l;
    }
    return "";
}

// Every verb on one input (a path, or standard input).
void verbs(std::vector<run>& runs, const std::string& label, const std::string& path, bool as_stdin = false,
           bool escapes = false) {
    struct stat st {};
    const uint64_t size = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
    const std::string arg = as_stdin ? "-" : path;
    const std::string snap = g_dir + "/out-" + std::to_string(runs.size()) + ".snap";
    std::vector<std::vector<std::string>> all = {
        {"info", arg},
        {"dump", arg},
        {"convert", arg, "--to", "perfetto", "-o", "-"},
        {"convert", arg, "--to", "chrome", "-o", "-"},
        {"convert", arg, "--to", "otlp", "-o", "-"},
        {"analyze", "--all", "--long-poll", "0.001", arg},
        {"analyze", "--json", arg},
        {"snapshot", arg, "-o", snap},
    };
    if (!as_stdin) {  // bbx top reads a ring file, never standard input
        all.push_back({"top", "--once", "--all", "--long-poll", "0.001", arg});
        all.push_back({"top", "--json", arg});
    }
    for (const auto& a : all) {
        run r;
        r.label = label + ": bbx " + a[0] + (a.size() > 2 && a[0] == "convert" ? " " + a[3] : a[1] == "--json" ? " --json" : "");
        r.argv = a;
        r.input = as_stdin ? "<stdin>" : path;
        r.input_bytes = size;
        if (as_stdin) r.stdin_file = path;
        // Binary outputs never reach a terminal (bbx refuses one): not checked for escapes.
        r.escapes = escapes && a[0] != "snapshot" && !(a[0] == "convert" && a[3] == "perfetto");
        runs.push_back(r);
    }
}

// Makes every case in g_dir and lists its runs.
void generate(std::vector<run>& runs) {
    auto file = [&](const std::string& name, const bytes& b) {
        const std::string p = g_dir + "/" + name;
        write_all(p, b);
        return p;
    };

    // ---- LZ4 bombs ----
    {
        // 1 GiB of 'A' in 4 MiB chunks (4 MB of container): not a capture,
        // found in chunk 0 before any other chunk is inflated.
        const uint32_t cs = 4u << 20;
        bytes b = container_of(uint64_t(1) << 30, cs, [&](uint32_t, uint8_t* d) { std::memset(d, 'A', cs); });
        verbs(runs, "bomb: an image that is no capture", file("bomb-not-capture.bbx", b));
    }
    {
        // A valid header over two rings of 128 MiB of junk (1 MB of
        // container): every slot is read, none is an event; the chunks are
        // inflated a few at a time.
        const uint32_t cs = 4u << 20, rs = 128u << 20;
        fmt::file_header h = header_for(rs, 2, 2, 4096);
        bytes head(h.rings_offset, 0);
        std::memcpy(head.data(), &h, sizeof h);
        for (uint32_t i = 0; i < 2; ++i) {
            fmt::ring_descriptor d{};
            d.write_pos = d.events_written = rs / fmt::slot_size;
            d.tid = 100 + i;
            d.state = fmt::ring_released;
            std::memcpy(head.data() + h.ring_table_offset + i * sizeof d, &d, sizeof d);
        }
        bytes b = container_of(h.file_size, cs, [&](uint32_t k, uint8_t* d) {
            const uint64_t from = uint64_t(k) * cs;
            std::memset(d, 'A', cs);
            if (from < head.size()) std::memcpy(d, head.data() + from, std::min<uint64_t>(cs, head.size() - from));
        });
        verbs(runs, "bomb: a valid header over 256 MiB of junk", file("bomb-valid-header.bbx", b));
    }
    {
        // 32 rings of 4 MiB, each full of valid events interleaved in time,
        // in 4 MiB chunks: reading them at once needs 128 MiB inflated, more
        // than 64 MiB + the container's size. An error, not the memory.
        const uint32_t cs = 4u << 20, rs = 4u << 20, n = 32;
        fmt::file_header h = header_for(rs, n, n, 4096);
        bytes head(h.rings_offset, 0);
        std::memcpy(head.data(), &h, sizeof h);
        const uint64_t slots = rs / fmt::slot_size;
        for (uint32_t i = 0; i < n; ++i) {
            fmt::ring_descriptor d{};
            d.write_pos = d.events_written = slots;
            d.tid = 100 + i;
            d.state = fmt::ring_released;
            std::memcpy(head.data() + h.ring_table_offset + i * sizeof d, &d, sizeof d);
        }
        bytes b = container_of(h.file_size, cs, [&](uint32_t k, uint8_t* d) {
            const uint64_t from = uint64_t(k) * cs;
            for (uint64_t off = from; off < from + cs && off < h.file_size; off += fmt::slot_size) {
                if (off < h.rings_offset) continue;
                const uint64_t ring = (off - h.rings_offset) / rs, pos = (off - h.rings_offset) % rs / fmt::slot_size;
                fmt::event_slot s{};
                s.stamp = pos + 1;
                s.kind = uint8_t(fmt::kind::thread_name);  // an empty name: a valid event of one slot
                s.ticks = 2000 + pos * n + ring;
                std::memcpy(d + (off - from), &s, sizeof s);
            }
            if (from < head.size()) std::memcpy(d, head.data() + from, std::min<uint64_t>(cs, head.size() - from));
        });
        verbs(runs, "bomb: more rings at once than the inflation budget", file("bomb-many-rings.bbx", b));
    }

    // ---- not files ----
    {
        const std::string fifo = g_dir + "/fifo";
        mkfifo(fifo.c_str(), 0600);
        verbs(runs, "a FIFO with no writer", fifo);
        verbs(runs, "a character device", "/dev/zero");
        verbs(runs, "a directory", g_dir);
    }

    // ---- standard input ----
    const std::string golden = "tests/golden/ok/all_kinds.bbx";
    const std::string demo_box = "tests/outputs/inputs/demo-service-deadlock.bbx";
    {
        run r;
        r.label = "1.2 GB of zeros on standard input";
        r.argv = {"info", "-"};
        r.input = "<stdin>";
        r.stdin_zeros = true;
        runs.push_back(r);
        verbs(runs, "a capture on standard input", golden, true);
        verbs(runs, "a container on standard input", demo_box, true);
        bytes more = read_all(golden);
        more.resize(more.size() + (8u << 20), 0);  // then 8 MiB more than it declares
        verbs(runs, "a capture that runs on, on standard input", file("runs-on.bbx", more), true);
    }

    // ---- escape sequences in every string ----
    {
        const std::string esc = g_dir + "/escapes.bbx";
        if (record_hostile(esc)) {
            verbs(runs, "escapes", esc, false, true);
            verbs(runs, "escapes on standard input", esc, true, true);
            const uint64_t size = read_all(esc).size();
            auto add = [&](const std::string& label, std::vector<std::string> a, bool program = false, bool usage = false) {
                run r;
                r.label = "escapes: bbx " + label;
                r.argv = std::move(a);
                r.input = esc;
                r.input_bytes = size * 2;  // (merge reads it twice)
                r.escapes = true;
                r.program_error = program;
                r.usage_ok = usage;
                runs.push_back(r);
            };
            add("info --symbols", {"info", "--symbols", esc});
            add("dump --symbols", {"dump", "--symbols", esc});
            add("merge --verbose", {"merge", "--verbose", esc, esc, "--to", "chrome", "-o", "-"});
            add("dump --thread (no such thread: a usage error listing the threads)", {"dump", "--thread", "nobody", esc},
                false, true);
            add("analyze --name", {"analyze", "--name", "span", esc});
            // A crash record, and a program path (with escapes) that does not exist.
            bytes crash = image_of(read_all("tests/outputs/inputs/seed-crash.bbx"));
            std::memset(crash.data() + offsetof(fmt::file_header, exe_path), 0, fmt::exe_path_size);
            std::strcpy(reinterpret_cast<char*>(crash.data()) + offsetof(fmt::file_header, exe_path),
                        "/nonexistent/prog" HOSTILE);
            const std::string cr = file("escapes-crash.bbx", crash);
            for (const char* verb : {"info", "dump"}) {
                run r;
                r.label = std::string("escapes: bbx ") + verb + " --symbols, a crash and no program file";
                r.argv = {verb, "--symbols", cr};
                r.input = cr;
                r.input_bytes = crash.size();
                r.escapes = true;
                r.program_error = true;
                runs.push_back(r);
            }
        } else {
            run r;
            r.label = "escapes: the capture could not be recorded";
            r.argv = {"info", "/nonexistent"};
            r.input = "(none)";
            runs.push_back(r);
        }
    }

    // ---- huge lengths and counts ----
    {
        const bytes minimal = read_all("tests/golden/ok/minimal.bbx");
        auto variant = [&](const std::string& name, const std::function<void(bytes&)>& change) {
            bytes b = minimal;
            change(b);
            verbs(runs, "huge: " + name, file("huge-" + name + ".bbx", b));
        };
        const fmt::file_header mh = [&] {
            fmt::file_header h;
            std::memcpy(&h, minimal.data(), sizeof h);
            return h;
        }();
        variant("4096-rings-of-1GiB", [](bytes& b) {
            const fmt::file_header h = header_for(1u << 30, 4096, 1, 4096);
            std::memcpy(b.data(), &h, sizeof h);
        });
        variant("64MiB-metadata", [](bytes& b) {
            fmt::file_header h = header_for(4096, 1, 1, 64u << 20);
            h.meta_used = 64u << 20;
            std::memcpy(b.data(), &h, sizeof h);
        });
        variant("write_pos-2^60", [&](bytes& b) {
            put<uint64_t>(b, mh.ring_table_offset + offsetof(fmt::ring_descriptor, write_pos), (uint64_t(1) << 60) - 1);
        });
        variant("write_pos-2^59", [&](bytes& b) {
            put<uint64_t>(b, mh.ring_table_offset + offsetof(fmt::ring_descriptor, write_pos), uint64_t(1) << 59);
        });
        variant("rings_used-4096", [](bytes& b) { put<uint32_t>(b, offsetof(fmt::file_header, rings_used), 4096); });
        variant("meta-record-4GiB", [&](bytes& b) { put<uint32_t>(b, mh.meta_offset, 0xffffffffu); });
        variant("string-length-2^63", [&](bytes& b) {
            // minimal's one event: an instant with an i64; its word as a huge string length is malformed
            put<uint64_t>(b, mh.rings_offset + 24, uint64_t(1) << 63);
            put<uint8_t>(b, mh.rings_offset + 8, uint8_t(fmt::kind::thread_name));
        });
        variant("cont-255", [&](bytes& b) { put<uint8_t>(b, mh.rings_offset + 9, 255); });
        bytes box = read_all("tests/outputs/inputs/seed-args.bbx");
        auto box_variant = [&](const std::string& name, const std::function<void(bytes&)>& change) {
            bytes b = box;
            change(b);
            verbs(runs, "huge: " + name, file("huge-" + name + ".bbx", b));
        };
        auto reseal = [](bytes& b) {
            put<uint32_t>(b, offsetof(fmt::container_header, header_crc),
                          fmt::crc32c(b.data(), offsetof(fmt::container_header, header_crc)));
        };
        box_variant("image-8GiB", [&](bytes& b) {
            put<uint64_t>(b, offsetof(fmt::container_header, image_size), uint64_t(8) << 30);
            put<uint32_t>(b, offsetof(fmt::container_header, chunk_count), uint32_t((uint64_t(8) << 30) / 65536));
            reseal(b);
        });
        box_variant("chunk_count-2^32", [&](bytes& b) {
            put<uint32_t>(b, offsetof(fmt::container_header, chunk_count), 0xffffffffu);
            reseal(b);
        });
        box_variant("packed_size-4GiB", [&](bytes& b) {
            put<uint32_t>(b, fmt::container_header_size + offsetof(fmt::chunk_header, packed_size), 0xffffffffu);
        });
    }

    // ---- 1.4: the identity region at its largest ----
    {
        // 2^20 task entries (64 MiB), every one a distinct live task: the
        // decoder's memory for them grows with the file, never past it much;
        // then the same region of junk (entries with any state, sites, rings).
        fmt::file_header h = header_for(4096, 1, 1, 4096);
        h.task_entries = fmt::max_task_entries;
        const fmt::layout l = fmt::compute_layout(4096, 1, 4096, fmt::version_minor, h.task_entries);
        h.file_size = l.file_size;
        h.identity_offset = l.identity_offset;
        bytes b(h.file_size, 0);
        std::memcpy(b.data(), &h, sizeof h);
        for (uint32_t j = 0; j < h.task_entries; ++j) {
            fmt::task_entry e{2, fmt::task_live, uint64_t(j) + 1, 0, 64, 1000, 0, 0, 0, 1, 0};
            std::memcpy(b.data() + h.identity_offset + uint64_t(j) * fmt::task_entry_size, &e, sizeof e);
        }
        verbs(runs, "identity: 2^20 live task entries", file("identity-tasks-max.bbx", b));
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (uint64_t off = h.identity_offset; off + 8 <= h.file_size; off += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
            std::memcpy(b.data() + off, &x, 8);
        }
        verbs(runs, "identity: 64 MiB of junk entries", file("identity-junk.bbx", b));
    }

    // ---- 2.0 slots (f2-design.md) ----
    {
        auto v2_header = [](uint32_t ring_size, uint32_t ring_count, uint32_t rings_used) {
            fmt::file_header h = header_for(ring_size, ring_count, rings_used, 4096);
            h.version_major = fmt::v2::version_major;
            h.version_minor = fmt::v2::version_minor;
            h.slot_size = fmt::v2::slot_size;
            return h;
        };
        // A 2.0 file of rings whose slots are filled by fill(ring, pos, A, B); write_pos = slots.
        auto v2_file = [&](const std::string& name, uint32_t ring_size, uint32_t n,
                           const std::function<void(uint32_t, uint64_t, uint64_t&, uint64_t&)>& fill) {
            const fmt::file_header h = v2_header(ring_size, n, n);
            bytes b(h.file_size, 0);
            std::memcpy(b.data(), &h, sizeof h);
            const uint64_t slots = ring_size / fmt::v2::slot_size;
            for (uint32_t i = 0; i < n; ++i) {
                fmt::ring_descriptor d{};
                d.write_pos = d.events_written = slots;
                d.tid = 100 + i;
                d.state = fmt::ring_released;
                d.generation = 1;
                std::memcpy(b.data() + h.ring_table_offset + i * sizeof d, &d, sizeof d);
                for (uint64_t p = 0; p < slots; ++p) {
                    uint64_t a = 0, w = 0;
                    fill(i, p, a, w);
                    std::memcpy(b.data() + h.rings_offset + uint64_t(i) * ring_size + p * 16, &a, 8);
                    std::memcpy(b.data() + h.rings_offset + uint64_t(i) * ring_size + p * 16 + 8, &w, 8);
                }
            }
            return file(name, b);
        };
        const uint32_t rs = 1u << 20;  // 65536 slots a ring
        // Every slot a first continuation claiming 255 more: each head-less, each malformed.
        verbs(runs, "v2: every slot a continuation 1 of 255",
              v2_file("v2-cont-storm.bbx", rs, 2, [](uint32_t, uint64_t p, uint64_t& a, uint64_t& b) {
                  a = fmt::v2::continuation_word(p >> 16, 1, 255);
                  b = p;
              }));
        // Heads each followed by 255 continuations that are all right but their last (index 255 says n 254).
        verbs(runs, "v2: 255-slot events broken at their last slot",
              v2_file("v2-long-events.bbx", rs, 2, [](uint32_t, uint64_t p, uint64_t& a, uint64_t& b) {
                  const uint64_t i = p % 256;
                  a = i == 0 ? fmt::v2::head_word(fmt::kind::thread_name, p >> 16, 0, p)
                             : fmt::v2::continuation_word(p >> 16, uint32_t(i), i == 255 ? 254 : 255);
                  b = i == 0 ? 63 : 0x4141414141414141ull;
              }));
        // Only time bases, each with a wild hi and a prev_hi that disagrees.
        verbs(runs, "v2: a ring of time bases that disagree",
              v2_file("v2-time-bases.bbx", rs, 2, [](uint32_t, uint64_t p, uint64_t& a, uint64_t& b) {
                  a = p % 2 ? fmt::v2::continuation_word(p >> 16, 1, 1) : fmt::v2::head_word(fmt::kind::time_base, p >> 16, 0, p);
                  b = p % 2 ? p * 0x9e3779b97f4a7c15ull : fmt::v2::time_base_word(uint32_t(p * 2654435761u), uint32_t(p));
              }));
        // No time base at all: a whole window of polls nested 65536 deep, and implicit waits (untimed, never resolved).
        verbs(runs, "v2: polls nested a window deep, no time base",
              v2_file("v2-deep-polls.bbx", rs, 2, [](uint32_t, uint64_t p, uint64_t& a, uint64_t& b) {
                  a = fmt::v2::head_word(p % 3 ? fmt::kind::task_poll_begin : fmt::kind::wait_begin, p >> 16, 0, p);
                  b = p;
              }));
        // Laps of every value (8-bit wrap), kinds of every value, on 64 rings: torn, newer, unknown.
        verbs(runs, "v2: every lap and kind byte",
              v2_file("v2-laps.bbx", 1u << 16, 64, [](uint32_t r, uint64_t p, uint64_t& a, uint64_t& b) {
                  a = (p * 0x9e3779b97f4a7c15ull) ^ (uint64_t(r) << 40);
                  b = a * 31;
              }));
        // The 2.0 golden vectors cut at every 16th of their length.
        for (const char* g : {"v2_tasks_window", "v2_owners", "v2_wrapped"}) {
            const bytes whole = read_all(std::string("tests/golden/ok/") + g + ".bbx");
            for (int k = 0; k < 16; ++k) {
                const bytes a(whole.begin(), whole.begin() + long(whole.size() * k / 16));
                verbs(runs, std::string("cut ") + g + " " + std::to_string(k) + "/16",
                      file(std::string("cut-") + g + "-" + std::to_string(k) + ".bbx", a));
            }
        }
        // write_pos near 2^60 on a 2.0 ring (the lap of a far position).
        bytes far = read_all("tests/golden/ok/v2_plain.bbx");
        fmt::file_header fh;
        std::memcpy(&fh, far.data(), sizeof fh);
        put<uint64_t>(far, fh.ring_table_offset + offsetof(fmt::ring_descriptor, write_pos), (uint64_t(1) << 60) - 1);
        verbs(runs, "v2: write_pos 2^60 - 1", file("v2-write-pos.bbx", far));
    }

    // ---- a real capture cut at every 64th of its length ----
    {
        const bytes box = read_all(demo_box);
        const bytes ring = image_of(box);
        for (int k = 0; k < 64; ++k) {
            const bytes a(ring.begin(), ring.begin() + long(ring.size() * k / 64));
            verbs(runs, "cut ring file " + std::to_string(k) + "/64", file("cut-ring-" + std::to_string(k) + ".bbx", a));
            const bytes c(box.begin(), box.begin() + long(box.size() * k / 64));
            verbs(runs, "cut container " + std::to_string(k) + "/64", file("cut-box-" + std::to_string(k) + ".bbx", c));
        }
    }

}

// The runs, one field per line (no field holds a newline), for the runner.
void save(const std::vector<run>& runs, const std::string& path) {
    std::ofstream f(path, std::ios::trunc);
    for (const run& r : runs) {
        f << r.label << '\n' << r.argv.size() << '\n';
        for (const std::string& a : r.argv) f << a << '\n';
        f << r.input << '\n' << r.input_bytes << '\n' << r.stdin_file << '\n'
          << int(r.stdin_zeros) << int(r.escapes) << int(r.program_error) << int(r.usage_ok) << '\n';
    }
}
std::vector<run> load(const std::string& path) {
    std::vector<run> runs;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        run r;
        r.label = line;
        std::getline(f, line);
        for (size_t n = std::stoul(line); n > 0; --n) std::getline(f, r.argv.emplace_back());
        std::getline(f, r.input);
        std::getline(f, line);
        r.input_bytes = std::stoull(line);
        std::getline(f, r.stdin_file);
        std::getline(f, line);
        if (line.size() != 4) break;
        r.stdin_zeros = line[0] == '1', r.escapes = line[1] == '1', r.program_error = line[2] == '1', r.usage_ok = line[3] == '1';
        runs.push_back(std::move(r));
    }
    return runs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: hostile BBX_BINARY [--keep DIR]\n");
        return 2;
    }
    g_bbx = argv[1];
    if (argc == 4 && std::string(argv[2]) == "--keep") {
        g_dir = argv[3];
        mkdir(g_dir.c_str(), 0700);
    } else {
        char tmpl[] = "/tmp/bbx-hostile.XXXXXX";
        if (!mkdtemp(tmpl)) return 2;
        g_dir = tmpl;
    }
    signal(SIGPIPE, SIG_IGN);
    const auto t0 = std::chrono::steady_clock::now();
    // The cases are made by a child: a child of this process starts with its
    // resident memory (that is what getrusage then counts as the run's
    // peak), so this one stays small.
    const std::string list = g_dir + "/runs.txt";
    pid_t maker = fork();
    if (maker == 0) {
        std::vector<run> made;
        generate(made);
        save(made, list);
        _exit(0);
    }
    int mst = 0;
    while (waitpid(maker, &mst, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(mst) || WEXITSTATUS(mst) != 0) {
        std::printf("FAIL hostile: making the cases failed (status 0x%x)\nhostile: 0 passed, 1 failed\n", unsigned(mst));
        return 1;
    }
    std::vector<run> runs = load(list);
    const double made_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // ---- run them, two at a time ----
    std::vector<std::string> failures(runs.size());
    std::vector<outcome> outcomes(runs.size());
    std::atomic<size_t> next{0};
    auto worker = [&](int w) {
        const std::string out = g_dir + "/stdout-" + std::to_string(w), err = g_dir + "/stderr-" + std::to_string(w);
        for (size_t i; (i = next++) < runs.size();) {
            outcomes[i] = execute(runs[i], out, err);
            const bytes o = runs[i].escapes ? read_all(out) : bytes(), e = read_all(err);
            failures[i] = judge(runs[i], outcomes[i], std::string(o.begin(), o.end()), std::string(e.begin(), e.end()));
            for (const std::string& a : runs[i].argv)
                if (a.find("/out-") != std::string::npos) unlink(a.c_str());
        }
    };
    std::thread w1(worker, 1), w2(worker, 2);
    w1.join();
    w2.join();

    size_t passed = 0, failed = 0;
    long peak = 0;
    double slowest = 0;
    std::string peak_of, slowest_of;
    for (size_t i = 0; i < runs.size(); ++i) {
        if (failures[i].empty()) ++passed;
        else {
            ++failed;
            std::printf("FAIL hostile: %s: %s\n", runs[i].label.c_str(), failures[i].c_str());
        }
        if (outcomes[i].peak_kib > peak) peak = outcomes[i].peak_kib, peak_of = runs[i].label;
        if (outcomes[i].seconds > slowest) slowest = outcomes[i].seconds, slowest_of = runs[i].label;
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (std::getenv("BBX_HOSTILE_TIMES")) {  // where the time goes, by kind of case
        std::vector<std::pair<std::string, double>> by;
        for (size_t i = 0; i < runs.size(); ++i) {
            const std::string k = runs[i].label.substr(0, runs[i].label.find(':'));
            const std::string kind = k.rfind("cut ", 0) == 0 ? k.substr(0, k.find_last_of(' ')) : k;
            auto it = std::find_if(by.begin(), by.end(), [&](const auto& p) { return p.first == kind; });
            if (it == by.end()) by.push_back({kind, outcomes[i].seconds});
            else it->second += outcomes[i].seconds;
        }
        for (const auto& [k, t] : by) std::printf("  %-60s %7.2f s\n", k.c_str(), t);
    }
    std::printf("hostile: %zu runs in %.1f s (cases made in %.1f s); the largest peak memory %ld KiB (%s); "
                "the slowest %.2f s (%s)\n",
                runs.size(), total, made_s, peak, peak_of.c_str(), slowest, slowest_of.c_str());
    if (argc != 4) std::system(("rm -rf '" + g_dir + "'").c_str());
    std::printf("hostile: %zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
