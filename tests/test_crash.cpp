// Crashes and kills of a real process (tests/programs/crash_child.cpp): what
// the writer had committed comes back, the crash record is the crashing
// thread's last event, no torn event passes as valid, and the process still
// dies of its signal.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"
#include "programs/crash_side.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"

extern char** environ;

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::crash_info;
using bbx::dec::event;

namespace {

// The child is built next to this binary ($(B)/tests/crash_child).
std::string child_path() { return build_dir() + "/tests/crash_child"; }

// The shared side file the child reports its committed events into.
struct side_file {
    std::string path;
    crash_side* side = nullptr;
    explicit side_file(const std::string& name) : path("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + name + ".side") {
        unlink(path.c_str());
        int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(ftruncate(fd, 4096) == 0);
        void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        REQUIRE(m != MAP_FAILED);
        side = static_cast<crash_side*>(m);
    }
    ~side_file() {
        munmap(side, 4096);
        unlink(path.c_str());
    }
    side_file(const side_file&) = delete;
    side_file& operator=(const side_file&) = delete;
    void reset() { std::memset(static_cast<void*>(side), 0, sizeof *side); }
    uint64_t committed(uint32_t t) const {
        return std::atomic_ref<uint64_t>(side->committed[t].value).load(std::memory_order_acquire);
    }
};

// Starts the child (fork + exec, core dumps off) with the environment
// minus BBX_* plus `extra_env`.
pid_t spawn_child(const std::string& mode, const std::string& capture_path, const std::string& side_path,
                  const std::vector<std::string>& extra_env = {}) {
    // stdout as it is; stderr to /dev/null; no core dump (it crashes on purpose).
    return spawn({child_path(), mode, capture_path, side_path}, {extra_env, false, true, true});
}

int wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

// Slots event n of the child takes: the head (a), then words b, t and the
// string's length, then the string's bytes (1.x: 16 payload bytes a slot;
// 2.0: 8).
uint64_t slots_of(uint64_t n, bool v2) {
    const uint32_t len = uint32_t(seq_text(n).size());
    return 1 + (v2 ? fmt::v2::continuation_slots(3, len) : fmt::continuation_slots(3, len));
}

struct crash_seen {
    uint32_t ring;
    crash_info info;
};

// What the decoder recovered: per child thread the sequence numbers in ring
// order, the crash records, and every event that broke the invariant.
struct recovered {
    std::map<uint32_t, std::vector<uint64_t>> seqs;  // thread -> a of its events
    std::map<uint32_t, uint32_t> ring_of;            // thread -> ring
    std::map<uint32_t, fmt::kind> last_kind;         // ring -> kind of its last event
    std::vector<crash_seen> crashes;
    uint64_t invalid = 0;     // payload broke b == ~a, s == seq_text(a), or the thread's ring
    uint64_t malformed = 0;   // ring_stats malformed + bad_site (2.0: + untimed + unresolved), summed
    bool v2 = false;          // a 2.0 capture (16-byte slots, time bases)
    uint32_t flags = 0;
    std::vector<bbx::dec::thread_info> threads;
};

recovered decode(const std::string& path) {
    recovered r;
    auto c = capture::open(path);
    REQUIRE_MESSAGE(!c.is_error(), (c.is_error() ? c.err().message() : std::string()));
    capture& cap = *c.value();
    r.flags = cap.header().flags;
    r.v2 = cap.header().version_major == fmt::v2::version_major;
    auto done = cap.for_each_event([&](const event& e) {
        r.last_kind[e.thread] = e.kind;
        if (e.kind == fmt::kind::crash) {
            r.crashes.push_back({e.thread, *e.crash});
            return;
        }
        if (e.kind == fmt::kind::thread_name) return;
        if (e.kind != fmt::kind::instant || !e.where || e.where->name != "seq" || e.nargs != 4) {
            ++r.invalid;
            return;
        }
        uint64_t a = e.args[0].word, b = e.args[1].word, t = e.args[2].word;
        bool ok = b == ~a && t < 8 && e.args[3].str == seq_text(a);
        if (ok) {
            auto [it, fresh] = r.ring_of.emplace(uint32_t(t), e.thread);
            ok = fresh || it->second == e.thread;
        }
        if (!ok) {
            ++r.invalid;
            return;
        }
        r.seqs[uint32_t(t)].push_back(a);
    });
    REQUIRE(!done.is_error());
    for (auto& s : done.value().threads) r.malformed += s.malformed + s.bad_site + s.untimed + s.unresolved;
    r.threads = cap.threads();
    return r;
}

// Every event 0 .. count-1 of thread t, in order, and nothing else.
void check_complete(const recovered& r, uint32_t t, uint64_t count) {
    CAPTURE(t);
    auto it = r.seqs.find(t);
    REQUIRE(it != r.seqs.end());
    const std::vector<uint64_t>& s = it->second;
    CHECK(s.size() == count);
    bool in_order = true;
    for (size_t i = 0; i < s.size(); ++i) in_order &= s[i] == i;
    CHECK(in_order);
}

// A thread still writing at the end, in a ring of `slots` slots (overwrite
// mode): its events form one run without gaps, ending at the last one it
// reported committed (or the one after, committed but not yet reported);
// and if the run does not start at 0, the event before it could not have
// fitted: it, the run and the event being written take more than the ring.
void check_window(const recovered& r, uint32_t t, uint64_t reported, uint64_t ring_bytes) {
    const uint64_t slots = ring_bytes / (r.v2 ? fmt::v2::slot_size : fmt::slot_size);
    CAPTURE(t);
    CAPTURE(reported);
    auto it = r.seqs.find(t);
    if (it == r.seqs.end() || it->second.empty()) {
        CHECK(reported == 0);
        return;
    }
    const std::vector<uint64_t>& s = it->second;
    bool gapless = true;
    for (size_t i = 1; i < s.size(); ++i) gapless &= s[i] == s[i - 1] + 1;
    CHECK(gapless);
    uint64_t first = s.front(), last = s.back();
    CHECK(last + 1 >= reported);  // nothing reported committed is missing at the end
    CHECK(last <= reported);      // nothing beyond what could have been committed
    if (first > 0) {
        uint64_t need = slots_of(last + 1, r.v2);
        for (uint64_t n = first - 1; n <= last; ++n) need += slots_of(n, r.v2);
        // 2.0: the window also holds time bases (2 slots each, at least
        // slots / 2 positions apart, one more where the ticks' high half
        // changed) and the owner's first slots: the most they can take.
        if (r.v2) need += 2 * (need / (slots / 2) + 2) + 1 + 1 + fmt::max_thread_name / 8;
        CAPTURE(first);
        CHECK(need > slots);
    }
}

std::vector<bbx::dec::frame_symbol> symbols(const crash_info& c) {
    auto s = bbx::dec::symbolizer::open(child_path());
    REQUIRE_MESSAGE(!s.is_error(), (s.is_error() ? s.err().what : std::string()));
    auto f = s.value().crash_frames(c);
    REQUIRE_MESSAGE(!f.is_error(), (f.is_error() ? f.err().what : std::string()));
    return f.value();
}

bool names(const bbx::dec::frame_symbol& f, const std::string& function) {
    for (auto& w : f.where)
        if (w.function.find(function) != std::string::npos) return true;
    return false;
}

// Runs a crashing mode and returns what the capture holds; checks the exit status.
recovered run_crash(const std::string& mode, int signo, side_file& side, const temp_capture& tc,
                    const std::vector<std::string>& env = {}) {
    int status = wait_child(spawn_child(mode, tc.path, side.path, env));
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == signo);
    return decode(tc.path);
}

// The one crash record, last in the crashing thread's ring.
const crash_info& only_crash(const recovered& r, uint32_t ring, int signo) {
    REQUIRE(r.crashes.size() == 1);
    CHECK(r.crashes[0].ring == ring);
    CHECK(r.last_kind.at(ring) == fmt::kind::crash);
    CHECK(r.crashes[0].info.signo == signo);
    CHECK((r.flags & fmt::flag_ended_crash) != 0);
    CHECK((r.flags & fmt::flag_ended_clean) == 0);
    return r.crashes[0].info;
}

}  // namespace

TEST_CASE("a null write is recorded as SIGSEGV, last in the crashing thread, and the process still dies of it") {
    temp_capture tc("crash-segv");
    side_file side("crash-segv");
    recovered r = run_crash("segv", SIGSEGV, side, tc);
    CHECK(r.invalid == 0);
    CHECK(r.malformed == 0);
    check_complete(r, 0, 2000);
    REQUIRE(side.committed(0) == 2000);
    // The helpers were writing while main crashed (1 MiB rings).
    for (uint32_t t = 1; t <= 2; ++t) check_window(r, t, side.committed(t), 1024 * 1024);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGSEGV);
    CHECK(c.code == SEGV_MAPERR);
    CHECK(c.addr == 0);
    CHECK(c.exe_base != 0);  // a PIE executable
    REQUIRE(c.nframes >= 1);
    auto f = symbols(c);
    REQUIRE(f.size() == c.nframes + 1);
    CHECK(f[0].in_executable);
    CHECK(names(f[0], "crash_null_write"));
    CHECK(f[0].where.at(0).file.find("crash_child.cpp") != std::string::npos);
    CHECK(names(f[1], "main"));

    // bbx dump and bbx info print the frames symbolised.
    auto cap = capture::open(tc.path);
    REQUIRE(!cap.is_error());
    for (int info = 0; info < 2; ++info) {
        char* text = nullptr;
        size_t size = 0;
        std::FILE* out = open_memstream(&text, &size);
        REQUIRE(out);
        std::string err;
        bbx::dec::crash_options opt{child_path()};
        bool ok = info ? bbx::dec::write_info(*cap.value(), out, err, opt) : bbx::dec::write_dump(*cap.value(), out, err, opt);
        std::fclose(out);
        std::string s(text, size);
        std::free(text);
        CAPTURE(info);
        CHECK(ok);
        CHECK(s.find("signal=SIGSEGV code=1 addr=0x0") != std::string::npos);
        CHECK(s.find("#0  0x") != std::string::npos);
        CHECK(s.find("crash_null_write() at ") != std::string::npos);
        CHECK(s.find("#1  0x") != std::string::npos);
    }
}

TEST_CASE("abort() is recorded as SIGABRT with BBX_CRASH=1, and the exit status stays SIGABRT") {
    temp_capture tc("crash-abort");
    side_file side("crash-abort");
    recovered r = run_crash("abort", SIGABRT, side, tc, {"BBX_CRASH=1"});
    CHECK(r.invalid == 0);
    check_complete(r, 0, 2000);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGABRT);
    CHECK(c.code == SI_TKILL);  // raised by abort(), not a fault
    CHECK(c.addr == 0);
    // abort and raise are in libc; main called abort.
    auto f = symbols(c);
    CHECK(!f[0].in_executable);
    bool main_found = false;
    for (auto& fr : f) main_found |= fr.in_executable && names(fr, "main");
    CHECK(main_found);
}

TEST_CASE("a stack overflow is recorded: the handler runs on its alternate stack") {
    temp_capture tc("crash-overflow");
    side_file side("crash-overflow");
    recovered r = run_crash("overflow", SIGSEGV, side, tc);
    CHECK(r.invalid == 0);
    check_complete(r, 0, 2000);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGSEGV);
    CHECK(c.nframes == bbx::format::max_crash_frames);  // deep recursion fills the record
    auto f = symbols(c);
    for (auto& fr : f) CHECK(names(fr, "overflow_stack"));
}

TEST_CASE("a stack overflow in a thread that never recorded is recorded: it had its alternate stack from its start") {
    temp_capture tc("crash-thread-overflow");
    side_file side("crash-thread-overflow");
    recovered r = run_crash("thread-overflow", SIGSEGV, side, tc);
    CHECK(r.invalid == 0);
    check_complete(r, 0, 2000);
    REQUIRE(r.crashes.size() == 1);
    const uint32_t ring = r.crashes[0].ring;
    CHECK(ring != r.ring_of.at(0));
    const crash_info& c = only_crash(r, ring, SIGSEGV);
    REQUIRE(ring < r.threads.size());
    CHECK(r.threads[ring].name == "overflower");
    CHECK(c.nframes == bbx::format::max_crash_frames);
    auto f = symbols(c);
    for (auto& fr : f) CHECK(names(fr, "overflow_stack"));
}

TEST_CASE("a corrupt stack pointer: the unwinder's own fault ends the walk, the record is still written") {
#if defined(__x86_64__)
    temp_capture tc("crash-bad-sp");
    side_file side("crash-bad-sp");
    recovered r = run_crash("bad-sp", SIGSEGV, side, tc);
    check_complete(r, 0, 2000);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGSEGV);
    CHECK(c.nframes == 0);  // nothing readable above a stack pointer of 16
    auto f = symbols(c);
    CHECK(names(f[0], "crash_with_bad_sp"));
#else
    MESSAGE("x86-64 only");
#endif
}

TEST_CASE("a thread that never recorded gets a ring in the handler for its crash record") {
    temp_capture tc("crash-ringless");
    side_file side("crash-ringless");
    recovered r = run_crash("ringless", SIGSEGV, side, tc);
    CHECK(r.invalid == 0);
    check_complete(r, 1, 2000);
    REQUIRE(r.crashes.size() == 1);
    uint32_t ring = r.crashes[0].ring;
    CHECK(ring != r.ring_of.at(1));
    only_crash(r, ring, SIGSEGV);
    REQUIRE(ring < r.threads.size());
    CHECK(r.threads[ring].name == "main");
}

TEST_CASE("a SIGSEGV handler installed before blackbox's still runs after the record") {
    temp_capture tc("crash-chain");
    side_file side("crash-chain");
    recovered r = run_crash("chain", SIGSEGV, side, tc);
    CHECK(std::atomic_ref<uint64_t>(side.side->previous_handler_ran).load() == 1);
    check_complete(r, 0, 2000);
    only_crash(r, r.ring_of.at(0), SIGSEGV);
}

TEST_CASE("anonymous mode: the crash handler writes the rings to the file, an ordinary capture") {
    temp_capture tc("crash-anon");
    side_file side("crash-anon");
    recovered r = run_crash("anon-segv", SIGSEGV, side, tc);
    CHECK(r.invalid == 0);
    CHECK(r.malformed == 0);
    check_complete(r, 0, 2000);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGSEGV);
    CHECK(c.addr == 0);
}

TEST_CASE("BBX_FILE, BBX_ANONYMOUS=1 and BBX_CRASH=1 record a crash with no code, from before main") {
    temp_capture tc("crash-env");
    side_file side("crash-env");
    recovered r = run_crash("env", SIGSEGV, side, tc, {"BBX_FILE=" + tc.path, "BBX_ANONYMOUS=1", "BBX_CRASH=1", "BBX_RING_KB=1024"});
    CHECK(r.invalid == 0);
    check_complete(r, 0, 2000);
    const crash_info& c = only_crash(r, r.ring_of.at(0), SIGSEGV);
    CHECK(c.exe_base != 0);  // found by the handler installed from a constructor
    auto f = symbols(c);
    CHECK(names(f[0], "crash_null_write"));
}

TEST_CASE("anonymous mode: stop() writes the rings to the file, ended cleanly") {
    temp_capture tc("crash-anon-stop");
    side_file side("crash-anon-stop");
    int status = wait_child(spawn_child("anon-stop", tc.path, side.path));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    recovered r = decode(tc.path);
    CHECK(r.invalid == 0);
    check_complete(r, 0, 2000);
    check_complete(r, 1, 2000);
    CHECK(r.crashes.empty());
    CHECK((r.flags & fmt::flag_ended_clean) != 0);
    CHECK((r.flags & fmt::flag_ended_crash) == 0);
}

TEST_CASE("kill -9 at 60 random moments while 4 threads write: every committed event in the window, none torn") {
    temp_capture tc("crash-kill");
    side_file side("crash-kill");
    std::mt19937 rng(20261126);
    const uint64_t ring_bytes = 256 * 1024;  // the child's kill-mode rings
    int runs = 0;
    uint64_t wrapped = 0, not_wrapped = 0;
    for (int run = 0; run < 60; ++run) {
        CAPTURE(run);
        unlink(tc.path.c_str());
        side.reset();
        pid_t pid = spawn_child("kill", tc.path, side.path);
        // Wait until all four write, then a random 0 .. 3 ms more (every
        // other run 0 .. 0.3 ms, before most rings wrap).
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        bool all = false;
        while (!all && std::chrono::steady_clock::now() < deadline) {
            all = true;
            for (uint32_t t = 0; t < 4; ++t) all &= side.committed(t) > 0;
            if (!all) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % (run % 2 ? 3000 : 300)));
        kill(pid, SIGKILL);
        int status = wait_child(pid);
        REQUIRE(all);
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
        recovered r = decode(tc.path);
        CHECK(r.invalid == 0);
        CHECK(r.malformed == 0);
        CHECK(r.crashes.empty());
        CHECK((r.flags & (fmt::flag_ended_clean | fmt::flag_ended_crash)) == 0);
        for (uint32_t t = 0; t < 4; ++t) {
            check_window(r, t, side.committed(t), ring_bytes);
            auto it = r.seqs.find(t);
            (it != r.seqs.end() && !it->second.empty() && it->second.front() > 0 ? wrapped : not_wrapped) += 1;
        }
        ++runs;
    }
    CHECK(runs == 60);
    MESSAGE("rings wrapped before the kill: " << wrapped << ", not: " << not_wrapped);
}
