// The LTTng-UST peer: one tracepoint carrying one 64-bit integer
// (bench/lttng_tp.h), recording into a session that bench/hot_path.sh
// creates (lttng-sessiond, a user-space channel, this event enabled) before
// the benchmark starts. The events are counted in the trace by that script
// after the run, with babeltrace2; without a session the case is skipped.
#include "peers.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "lttng_tp.h"

namespace bbx_bench {
namespace {

bool enabled() { return tracepoint_enabled(bbx_bench, instant_int); }

std::string setup(const peer_env&) {
    // The session is set up before the process starts; registration with the
    // session daemon finishes in a constructor, but give it a moment anyway.
    bool expected = std::getenv("BBX_BENCH_LTTNG_SESSION") != nullptr;
    for (int i = 0; !enabled() && expected && i < 500; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!enabled())
        return expected ? "the session's event bbx_bench:instant_int never became enabled in this process"
                        : "no LTTng session has bbx_bench:instant_int enabled (`make bench` runs bench/hot_path.sh, "
                          "which sets one up)";
    return "";
}

__attribute__((noinline)) void run(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        tracepoint(bbx_bench, instant_int, int64_t(v + i));
        asm volatile("" ::: "memory");
    }
}

void drain() {}

bool finish(uint64_t emitted, std::string& line) {
    // bench/hot_path.sh reads "lttng-emitted: N" and counts the events in the trace.
    line = "lttng-emitted: " + std::to_string(emitted) + " events; bench/hot_path.sh counts them in the trace after the run";
    return emitted > 0;
}

}  // namespace

const peer& lttng_peer() {
    static const peer p{"lttng", "LTTng-UST tracepoint, 1 int", "liblttng-ust-dev lttng-tools", setup, run, drain, finish};
    return p;
}

}  // namespace bbx_bench
