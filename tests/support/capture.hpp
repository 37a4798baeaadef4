// Test support: temporary captures and what a pass over one finds.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "bbx/decoder/capture.hpp"

// A unique capture path under /tmp, removed before and after the test.
struct temp_capture {
    std::string path;
    explicit temp_capture(const std::string& name)
        : path("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + name + ".bbx") {
        unlink(path.c_str());
    }
    ~temp_capture() { unlink(path.c_str()); }
    temp_capture(const temp_capture&) = delete;
    temp_capture& operator=(const temp_capture&) = delete;
};

// What a pass over c finds (the counts of damaged and overwritten slots):
// the stats of one more pass, which a finished capture gives again alike.
inline bbx::dec::read_stats stats_of(const bbx::dec::capture& c) {
    auto r = c.for_each_event([](const bbx::dec::event&) {});
    return r.is_error() ? bbx::dec::read_stats{} : r.value();
}

// A task event's two values as the tests record them: spawn (parent, frame
// bytes), wake (waker, 0), wait_begin, wait_end and resource_op (resource,
// op); (0, 0) for the other kinds.
inline std::pair<uint64_t, uint64_t> task_values(const bbx::dec::event& e) {
    using k = bbx::format::kind;
    switch (e.kind) {
        case k::task_spawn: return {e.spawn.parent, e.spawn.frame_bytes};
        case k::task_wake: return {e.wake.waker, 0};
        case k::wait_begin:
        case k::wait_end:
        case k::resource_op: return {e.res.id, e.res.op};
        default: return {0, 0};
    }
}
