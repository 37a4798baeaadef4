// Stall stacks (spec/stall-stacks.md): a watchdog thread that notices a task
// poll or span running longer than a threshold, and a signal handler that
// writes the stalled thread's native stack into the capture's stall-sample
// area. Recorder-internal.
#pragma once

#include <cstdint>

#include "bbx/bbx.hpp"

namespace bbx::detail::stall {

struct settings {
    uint32_t threshold_ms = 0;  // 0: off
    uint32_t period_ms = 0;     // sample (and check) period
    int signo = 0;
    bool frame_pointers = false;
    uint32_t samples_per_ring = 64;
    uint32_t mappings = 256;
};

// The settings of a session: the config's fields, then for each one left 0
// the environment's (BBX_STALL_MS, BBX_STALL_SAMPLE_MS, BBX_STALL_SIGNAL,
// BBX_STALL_UNWIND). False: a value is out of range (the session is a bad_config).
bool resolve(const config& cfg, settings& out);

// Fills the header's stall fields (the area is zero, as the file was made).
void write_header(format::file_header* h, uint64_t offset, const settings& s);

// After the session is running, outside the session lock: installs the
// signal handler, warms the unwinder and starts the watchdog over the rings
// at base. Prints a line to stderr and leaves sampling off if the program
// already handles the signal.
void begin(unsigned char* base, const settings& s);

// Stops and joins the watchdog (before stop() takes the session lock).
void end();

// In a forked child: the watchdog thread does not exist there.
void forget_after_fork();

}  // namespace bbx::detail::stall
