// bbx top: a live view of a running process's ring file (top.cpp). Each
// refresh reads only what the writers added since the last one (per ring,
// from the position read last: capture::for_each_event_from), feeds it to
// one timeline that lives as long as the view, and shows the tasks, the
// threads and the warnings that hold now. It works on a dead process's file
// (or a snapshot) too: then "now" is the capture's last event.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "bbx/decoder/result.hpp"

namespace bbx::dec {

enum class top_sort : uint8_t { busy, polls, wakes, sched, since, name, id };

struct top_options {
    int64_t long_poll_ns = 10'000'000;  // a poll running this long now is a warning; so is a task woken this long ago
    int64_t interval_ns = 1'000'000'000;  // interactive: time between refreshes
    top_sort sort = top_sort::busy;
    std::string name;                   // only tasks whose name holds this (case-insensitive); "" all
    bool all = false;                   // --once: every task (default: the first 50 in sort order)
    bool done = false;                  // list the tasks that completed too (default: those not done)
};

// One view of one capture: open, then refresh() and render as often as wanted.
class top_view {
public:
    static result<std::unique_ptr<top_view>> open(const std::string& path, const top_options& opt);
    ~top_view();
    // Reads what was written since the last refresh (the first: everything in
    // the rings). A file whose metadata grew (new call sites, rings, or a ring
    // that changed hands) is opened again and read whole.
    result<bool> refresh();
    // One frame of text. width 0: lines are not cut; rows 0: every row (the
    // task list still stops at 50 unless opt.all).
    std::string text(unsigned width = 0, unsigned rows = 0) const;
    // The same as one JSON document (every task; times in ns since the capture's start).
    std::string json() const;

    struct impl;
    impl& state() { return *p_; }

private:
    top_view();
    std::unique_ptr<impl> p_;
};

// bbx top FILE: the interactive view on a terminal until q, SIGINT or
// SIGTERM; the terminal is restored however it ends. Returns the exit status.
int run_top_ui(const std::string& path, const top_options& opt, std::string& err);

}  // namespace bbx::dec
