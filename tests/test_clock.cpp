// The event counter and its calibration: rdtsc on x86-64, cntvct_el0 on
// aarch64 (make test-aarch64 runs these under qemu-aarch64). An event's
// ticks, turned into time by the rate bbx::start() measured, must land on
// CLOCK_MONOTONIC where the event happened.
#include <doctest/doctest.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "test_util.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

uint64_t mono_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_nsec);
}

}  // namespace

TEST_CASE("event times decode onto CLOCK_MONOTONIC: each lies between the clock reads around it") {
    temp_capture tc("clock");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    // Five events 30 ms apart, each bracketed by two clock reads.
    std::vector<uint64_t> before, after;
    for (int i = 0; i < 5; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(30));
        before.push_back(mono_ns());
        BBX_INSTANT(INFO, "clock", "mark", bbx::arg("i", i));
        after.push_back(mono_ns());
    }
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    INFO("tick rate measured at start: " << c.header().tick_hz << " Hz");
    CHECK(c.header().tick_hz > 1e6);  // every counter blackbox uses runs at MHz or more
    std::vector<uint64_t> at;  // CLOCK_MONOTONIC of each event, as decoded
    REQUIRE(!c.for_each_event([&](const event& e) {
                 if (e.kind == fmt::kind::instant) at.push_back(c.start_monotonic_ns() + uint64_t(e.ns));
             }).is_error());
    REQUIRE(at.size() == 5);
    // The calibration's error: the anchors' read windows (a few us) and the
    // rate's error over the span of the test (~120 ms); 200 us covers both
    // with room, even under emulation, and is far below the 30 ms steps.
    const uint64_t slack = 200000;
    for (size_t i = 0; i < at.size(); ++i) {
        INFO("event " << i << ": decoded " << int64_t(at[i] - before[i]) << " ns after the read before it, read after at "
                      << int64_t(after[i] - before[i]) << " ns");
        CHECK(at[i] + slack >= before[i]);
        CHECK(at[i] <= after[i] + slack);
    }
}

#if defined(__aarch64__)
namespace {
uint64_t cntvct() {
    uint64_t v;
    asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
    return v;
}
uint64_t cntfrq() {
    uint64_t v;
    asm volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}
}  // namespace

TEST_CASE("aarch64: the counter is cntvct_el0 and the calibration finds CNTFRQ_EL0") {
    // The recorder's reads fall between direct reads of the virtual counter.
    for (int i = 0; i < 1000; ++i) {
        const uint64_t a = cntvct(), t = bbx::detail::now_ticks(), b = cntvct();
        REQUIRE(a <= t);
        REQUIRE(t <= b);
    }
    temp_capture tc("clock-arm");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 1;
    REQUIRE(bbx::start(cfg).ok());
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    const double measured = r.value()->header().tick_hz, architected = double(cntfrq());
    INFO("measured " << measured << " Hz, CNTFRQ_EL0 " << architected << " Hz");
    REQUIRE(architected > 0);
    CHECK(measured > architected * 0.99);
    CHECK(measured < architected * 1.01);
}
#endif
