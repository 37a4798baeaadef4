// Filters: which events every verb that reads a capture sees (--level,
// --category, --thread, --task, --since/--until, --name, --user-only), and
// the filter stage that applies one. What each option keeps, how span pairs
// stay whole and what a time window carries in is the comment block atop
// filter.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bbx/decoder/capture.hpp"

namespace bbx::dec {

// A --since or --until as given.
struct filter_time {
    enum class base : uint8_t {
        none,   // not given: the window is open on that side
        start,  // ns after the capture's start (anchor 0)
        end,    // ns before the capture's last event (given negative)
        wall,   // ns is CLOCK_REALTIME, ns since the Unix epoch (RFC 3339)
    };
    base from = base::none;
    int64_t ns = 0;
};

struct name_pattern;  // a compiled --name regex (filter.cpp)

// The filter options, each checked as it is added; no capture needed yet.
struct filter_spec {
    int level = 0;                          // 1 error .. 5 trace; 0: any
    std::vector<std::string> categories;    // exact, or a prefix ending in '*'
    std::vector<std::string> threads;       // "T3", "3", a tid or a thread name, resolved by event_filter::make
    std::vector<uint64_t> tasks;
    filter_time since, until;
    std::string name;                       // the --name regex as given ("" none)
    std::shared_ptr<const name_pattern> name_re;  // compiled once, here
    bool user_only = false;
    std::vector<std::string> given;         // the options added, "--opt value", in order

    // 1: `option` ("--level", ...) is a filter option that takes a value;
    // 0: one that takes none (--user-only); -1: not a filter option.
    static int arity(std::string_view option);
    // Adds one option and its value. A repeated --category, --thread or
    // --task adds to the list; a repeated --level, --since, --until or
    // --name replaces. Returns "" or a usage error naming the option
    // ("--name: '(' is not a valid regular expression ...").
    std::string add(std::string_view option, std::string_view value = {});
    bool empty() const { return given.empty(); }
    // The options as given, space-separated (for bbx info).
    std::string describe() const;
};

// The value parsers add() uses: "" or what is wrong with v.
std::string parse_filter_level(std::string_view v, int& level);  // error|warn|info|debug|trace or 1-5
std::string parse_filter_time(std::string_view v, filter_time& t);

// Why event_filter::make failed.
struct filter_error {
    bool usage = false;  // true: the spec does not fit the capture (bbx exits 2); false: reading it failed (exit 1)
    std::string what;
};

// A filter_spec bound to one capture: its threads resolved, its times to ns
// since the capture's start, each call site judged once. Immutable: several
// passes (and several verbs) may share it.
class event_filter {
public:
    // Binds spec to c. A --since or --until counted from the end costs one
    // pass over c to find its last event. Returns null with err set when a
    // --thread names no thread of c (unless threads_required is false: then
    // it selects nothing in c, and unmatched_threads() lists it), the window
    // is empty, a wall-clock time meets a capture without a realtime anchor
    // (usage), or c could not be read.
    static std::shared_ptr<const event_filter> make(const filter_spec& spec, const capture& c, filter_error& err,
                                                    bool threads_required = true);

    const filter_spec& spec() const { return spec_; }
    const capture* bound_to() const { return cap_; }
    // The window in ns since the capture's start, both ends included
    // (INT64_MIN, INT64_MAX: open).
    int64_t since_ns() const { return since_; }
    int64_t until_ns() const { return until_; }
    bool keeps_thread(uint32_t thread) const;
    // The --thread values (comma lists split) that name no thread of the capture.
    const std::vector<std::string>& unmatched_threads() const { return unmatched_; }

private:
    event_filter() = default;
    friend struct filter_pass;
    enum : uint8_t { site_event_ok = 1, site_task_name_ok = 2 };
    bool selects_task(uint64_t task) const;
    uint8_t site_bits(const site* s) const;

    filter_spec spec_;
    const capture* cap_ = nullptr;
    std::vector<uint8_t> threads_;    // by thread: its events may pass
    std::vector<uint8_t> site_bits_;  // by index into cap_->sites()
    std::vector<uint64_t> tasks_;     // sorted
    std::vector<std::string> unmatched_;
    int64_t since_ = 0, until_ = 0;
    bool task_category_ok_ = true;    // --category admits "task"
    bool no_name_ok_ = true;          // --name matches the empty name (tasks whose spawn is not seen)
};

// The filter stage: calls fn for the events of c that f keeps (null: every
// event, as capture::for_each_event), in time order except that what a
// window carries in comes first, at its own earlier times. The stats count
// the events that passed as `events`; the rest are the reader's. f must be
// bound to c (event_filter::make).
result<read_stats> read_events(const capture& c, const event_filter* f, const event_fn& fn);

// One capture as a verb reads it: the capture, and the filter its events
// pass (null: every event). Every writer and the analysis take one.
struct input {
    input(const capture& c, const event_filter* f = nullptr) : cap(&c), filter(f) {}
    const capture* cap;
    const event_filter* filter;
    result<read_stats> read(const event_fn& fn) const { return read_events(*cap, filter, fn); }
};

}  // namespace bbx::dec
