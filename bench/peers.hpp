// The peers the hot-path benchmark measures next to blackbox, each recording
// for real into a temporary folder. A peer is built only when its Debian
// package is installed (bench/bench.mk decides, and defines
// BBX_BENCH_HAVE_<PEER> for hot_path.cpp); see bench/README.md.
#pragma once

#include <cstdint>
#include <string>

namespace bbx_bench {

// What a peer is given to set itself up.
struct peer_env {
    std::string dir;      // a private temporary folder, removed after the run
    int helper_cpu = -1;  // where a peer's own thread should run (-1: anywhere); the benchmark runs on another
    bool smoke = false;   // a tiny run
};

struct peer {
    const char* id;       // "spdlog"
    const char* label;    // for the table
    const char* package;  // the Debian package(s) it needs
    // Starts recording. Returns "" or why the peer cannot run here (then it is skipped).
    std::string (*setup)(const peer_env& env);
    // Records n events carrying one 64-bit integer derived from v, one compiler barrier per event.
    void (*run)(uint64_t n, uint64_t v);
    // Untimed: waits until the peer's backlog is written, so that its helper
    // thread does not run while the next case is timed.
    void (*drain)();
    // Stops recording and checks that `emitted` events are there. Fills `line`
    // with what was checked; false if the events are not all there.
    bool (*finish)(uint64_t emitted, std::string& line);
};

const peer& spdlog_peer();  // peer_spdlog.cpp
const peer& lttng_peer();   // peer_lttng.cpp

}  // namespace bbx_bench
