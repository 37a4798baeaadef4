// The program tests/test_crash.cpp runs and lets crash (or kills):
//
//     crash_child MODE CAPTURE SIDE
//
// It records events "seq" with arguments a = n, b = ~n, t = thread, s =
// seq_text(n), n = 0, 1, 2, ... per thread, and after each one stores n + 1
// into its counter in the side file (a shared mapping the parent reads
// after the child died): every event below the counter was committed. Then
// MODE decides how it ends:
//
//   segv       main records 2000 events, two helpers record on; main writes through a null pointer
//   abort      main records 2000 events, then abort()
//   overflow   main records 2000 events, then recurses until its stack overflows
//   thread-overflow  main records 2000 events, then starts a thread named "overflower" that has never
//              recorded and recurses until its stack overflows
//   bad-sp     main records 2000 events, then loads garbage into its stack pointer and
//              writes through a null pointer (x86-64 only; elsewhere it exits with 5)
//   ringless   a helper records 2000 events; main, which never recorded, writes through a null pointer
//   chain      as segv without helpers, with a SIGSEGV handler installed before blackbox's;
//              it marks the side file and re-raises
//   kill       four threads record until the parent sends SIGKILL
//   anon-segv  as segv without helpers, rings in anonymous memory (bbx::start_anonymous)
//   anon-stop  main and a helper record 2000 events each in anonymous mode, then stop(); exit 0
//   env        as anon-segv, but the child calls neither start() nor install_crash_handler():
//              BBX_FILE (CAPTURE is ignored), BBX_ANONYMOUS=1 and BBX_CRASH=1 do it before main
//
// and one mode that neither crashes nor uses a side file (tests/test_fork.cpp):
//
//     crash_child exec CAPTURE N
//
//   exec       BBX_FILE (CAPTURE is ignored) started the recording before main; records 100
//              events "seq" with t = N, then, while N > 0, execs itself as exec N-1 with the
//              same environment; exits 0
//
// The crash handler is installed by install_crash_handler(), except with
// BBX_CRASH=1 in the environment (start() then installs it).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/crash.hpp"
#include "crash_side.hpp"

namespace {

crash_side* g_side = nullptr;
int* volatile g_null = nullptr;
volatile int g_never = -1;

void record(uint32_t thread, uint64_t n) {
    std::string s = seq_text(n);
    BBX_INSTANT(INFO, "crash", "seq", bbx::arg("a", n), bbx::arg("b", ~n), bbx::arg("t", uint64_t(thread)),
                bbx::arg("s", std::string_view(s)));
    std::atomic_ref<uint64_t>(g_side->committed[thread].value).store(n + 1, std::memory_order_release);
}

void record_many(uint32_t thread, uint64_t count) {
    for (uint64_t n = 0; n < count; ++n) record(thread, n);
}

// Until the process dies.
void record_forever(uint32_t thread) {
    bbx::set_thread_name(("helper-" + std::to_string(thread)).c_str());
    for (uint64_t n = 0;; ++n) record(thread, n);
}

__attribute__((noinline)) void crash_null_write() {
    *g_null = 42;
    asm volatile("" ::: "memory");  // keeps the store from being the last instruction (a tail call)
}

__attribute__((noinline)) int overflow_stack(int depth) {
    volatile char pad[512];
    pad[0] = char(depth);
    if (depth == g_never) return 0;
    return overflow_stack(depth + 1) + pad[0];
}

// The unwinder starts from a stack pointer of 16: its first read faults.
// The frame pointer goes too, so that a build with frame pointers (which
// the unwinder would follow instead) faults the same way.
#if defined(__x86_64__)  // (the test that uses it is x86-64 only)
__attribute__((noinline)) void crash_with_bad_sp() {
    asm volatile("mov $16, %%rsp\n\tmov $16, %%rbp\n\tmovl $42, (%0)" : : "a"(g_null) : "memory");
}
#endif

void previous_handler(int signo, siginfo_t*, void*) {
    std::atomic_ref<uint64_t>(g_side->previous_handler_ran).store(1, std::memory_order_release);
    signal(signo, SIG_DFL);
    raise(signo);
}

bool start(const char* path, bool anonymous, uint32_t ring_kb) {
    bbx::config cfg;
    cfg.path = path;
    cfg.ring_kb = ring_kb;
    cfg.max_threads = 8;
    bbx::start_result r = anonymous ? bbx::start_anonymous(cfg) : bbx::start(cfg);
    if (!r.ok()) {
        std::fprintf(stderr, "crash_child: start: %s\n", r.message());
        return false;
    }
    if (!std::getenv("BBX_CRASH") && !bbx::install_crash_handler()) {
        std::fprintf(stderr, "crash_child: install_crash_handler failed\n");
        return false;
    }
    return true;
}

// exec N: see the top of this file.
int exec_chain(char** argv) {
    const uint64_t t = std::strtoull(argv[3], nullptr, 10);
    if (!bbx::current_path()) {
        std::fprintf(stderr, "crash_child: exec: not recording (is BBX_FILE set?)\n");
        return 3;
    }
    for (uint64_t n = 0; n < 100; ++n) {
        std::string s = seq_text(n);
        BBX_INSTANT(INFO, "crash", "seq", bbx::arg("a", n), bbx::arg("b", ~n), bbx::arg("t", t),
                    bbx::arg("s", std::string_view(s)));
    }
    if (t == 0) return 0;
    std::string next = std::to_string(t - 1);
    char* args[] = {argv[0], argv[1], argv[2], next.data(), nullptr};
    execv("/proc/self/exe", args);
    std::perror("crash_child: exec");
    return 4;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: crash_child MODE CAPTURE SIDE\n       crash_child exec CAPTURE N\n");
        return 2;
    }
    const std::string mode = argv[1];
    if (mode == "exec") return exec_chain(argv);
    int fd = open(argv[3], O_RDWR);
    void* m = fd < 0 ? MAP_FAILED : mmap(nullptr, sizeof(crash_side), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        std::perror("crash_child: side file");
        return 2;
    }
    g_side = static_cast<crash_side*>(m);

    const bool anonymous = mode.rfind("anon-", 0) == 0;
    if (mode == "chain") {
        struct sigaction sa{};
        sa.sa_sigaction = previous_handler;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, nullptr);
    }
    if (mode != "env" && !start(argv[2], anonymous, mode == "kill" ? 256 : 1024)) return 3;
    bbx::set_thread_name("main");
    std::vector<std::thread> helpers;

    if (mode == "kill") {
        for (uint32_t t = 0; t < 4; ++t) helpers.emplace_back(record_forever, t);
        for (auto& h : helpers) h.join();  // never: the parent kills us
        return 0;
    }
    if (mode == "ringless") {
        std::thread h(record_many, 1, 2000);
        h.join();
        crash_null_write();
        return 0;
    }
    record_many(0, 2000);
    if (mode == "segv") {
        for (uint32_t t = 1; t <= 2; ++t) helpers.emplace_back(record_forever, t);
        // Crash while they write: wait until both have recorded something.
        while (std::atomic_ref<uint64_t>(g_side->committed[1].value).load() < 100 ||
               std::atomic_ref<uint64_t>(g_side->committed[2].value).load() < 100)
            std::this_thread::yield();
        crash_null_write();
    } else if (mode == "abort") {
        std::abort();
    } else if (mode == "overflow") {
        return overflow_stack(0);
    } else if (mode == "thread-overflow") {
        std::thread t([] {
            bbx::set_thread_name("overflower");  // the name only: this records nothing
            overflow_stack(0);
        });
        t.join();
    } else if (mode == "bad-sp") {
#if defined(__x86_64__)
        crash_with_bad_sp();
#else
        return 5;
#endif
    } else if (mode == "chain" || mode == "anon-segv" || mode == "env") {
        crash_null_write();
    } else if (mode == "anon-stop") {
        std::thread h(record_many, 1, 2000);
        h.join();
        bbx::stop();
        return 0;
    } else {
        std::fprintf(stderr, "crash_child: unknown mode %s\n", mode.c_str());
        return 2;
    }
    return 4;  // not reached: the crash ended the process
}
