// The program tests/test_stall.cpp runs, built twice: as every program here
// (tests/stall_child) and with -fno-omit-frame-pointer (tests/stall_child_fp).
//
//     stall_child CAPTURE UNWIND MS
//
// Records with stall sampling on (threshold 10 ms, a sample every 2 ms,
// UNWIND "dwarf" or "fp"): one task whose poll calls stall_outer ->
// stall_middle -> stall_burn, which spins for MS milliseconds; then a
// second, short poll; then stop(). Exits 0.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bbx/task.hpp"

namespace {

volatile uint64_t sink;

[[gnu::noinline]] void stall_burn(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    uint64_t x = 1;
    while (std::chrono::steady_clock::now() < end)
        for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
}

[[gnu::noinline]] void stall_middle(int ms) {
    stall_burn(ms);
    sink = sink + 1;
}

[[gnu::noinline]] void stall_outer(int ms) {
    stall_middle(ms);
    sink = sink + 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: stall_child CAPTURE dwarf|fp MS\n");
        return 2;
    }
    bbx::config cfg;
    cfg.path = argv[1];
    cfg.max_threads = 4;
    cfg.stall_ms = 10;
    cfg.stall_sample_ms = 2;
    cfg.stall_frame_pointers = std::strcmp(argv[2], "fp") == 0;
    if (!bbx::start(cfg).ok()) return 3;
    const bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("stalling_task", t, 0, 0);
    {
        bbx::poll_scope poll(t);
        stall_outer(std::atoi(argv[3]));
    }
    {
        bbx::poll_scope poll(t);
        sink = sink + 1;
    }
    bbx::task_complete(t);
    bbx::stop();
    return 0;
}
