// bbx analyze: async task analysis (analyze*.cpp). One streaming pass over a
// capture's task events (format 1.1): per task, per executor thread, and
// warnings. The rules each number and warning follow are the comment block
// atop analyze_rules.cpp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bbx/decoder/filter.hpp"

namespace bbx::dec {


struct analyze_options {
    // A poll longer than this is a warning. It is also how long a task must
    // have been woken-but-not-polled, or missing its wake, at the end of the
    // capture before that is a warning.
    int64_t long_poll_ns = 10'000'000;
    bool json = false;  // write_analysis: one JSON object instead of text
    bool all = false;   // text: every task, not only the 50 busiest
};

// Where a task was at the end of the capture.
enum class task_end_state : uint8_t {
    running,    // inside a poll
    idle,       // suspended, not woken since
    scheduled,  // woken, not polled since
    done,       // completed
};
const char* task_end_state_name(task_end_state s);

struct code_location {
    std::string file, function;
    uint32_t line = 0;  // 0: unknown
};

struct task_report {
    uint64_t id = 0;
    std::string name;             // the spawn site's name; "" when the spawn is not in the capture
    code_location spawned_at;     // the BBX_TASK_SPAWN line
    uint64_t parent = 0;          // the task that spawned it (0: none, or not known)
    uint64_t frame_bytes = 0;     // 0: not known
    bool spawn_seen = false;
    int64_t first_ns = 0;         // spawn, or the first event that names the task
    int64_t last_ns = 0;          // completion, or the end of the capture
    uint64_t polls = 0, wakes = 0, self_wakes = 0;
    int64_t busy_ns = 0;          // sum of its polls, less polls nested in them (counted once; see analyze_rules.cpp)
    int64_t scheduled_ns = 0;     // sum of woken -> polled intervals (an open one counts up to the end)
    int64_t idle_ns = 0;          // lifetime - busy - scheduled
    uint64_t scheduled_count = 0; // woken -> polled intervals that ended in a poll
    int64_t sched_p50_ns = 0, sched_p99_ns = 0, sched_max_ns = 0;
    bool sched_exact = true;      // percentiles exact (few intervals) or from the log histogram
    int64_t longest_poll_ns = 0;
    int64_t longest_poll_at_ns = 0;      // when it began
    uint32_t longest_poll_ring = 0;      // on which thread
    bool longest_poll_unfinished = false;  // still running at the end of the capture
    code_location longest_poll_await;    // where the task suspended when it ended (line 0: unknown)
    std::vector<std::string> longest_poll_spans;  // spans open on the thread during it, outermost first
    int64_t longest_poll_span_ns = 0;    // the last listed span's length, when it began and ended inside the poll
    code_location longest_poll_span_at;  // the last listed span's BBX_SPAN line
    task_end_state state = task_end_state::idle;
};

struct thread_report {
    uint32_t ring = 0, tid = 0;
    std::string name;
    uint64_t polls = 0;
    int64_t busy_ns = 0;          // time inside (outermost) polls
    double busy_fraction = 0;     // busy_ns over the capture's span
    int64_t longest_poll_ns = 0, longest_poll_at_ns = 0;
    uint64_t longest_poll_task = 0;
};

// untracked: the recorder hit one of its limits and said so with an
// instant (bbx/asio_tracking.hpp's "asio"/"untracked_task" and
// "asio"/"untracked_object"): what it could not follow is missing from
// the rest.
enum class warning_kind : uint8_t { untracked, deadlock, lost_wake, long_poll, woken_never_polled, self_wake };
const char* warning_kind_name(warning_kind k);  // "deadlock", "lost_wake", ...

// A task that a long poll kept waiting: woken before or during the poll, and
// not polled until after (or before) it ended; waited_ns is the overlap.
struct waiting_task {
    uint64_t task = 0;
    std::string name;
    int64_t waited_ns = 0;
};

// One task of a deadlock cycle: its open wait, and who alone could end it.
struct deadlock_step {
    uint64_t task = 0;
    std::string task_name;
    format::resource_op op{};     // send or recv
    uint64_t resource = 0;
    std::string resource_name;
    uint64_t capacity = 0;
    code_location at;             // the wait's await site
    int64_t since_ns = 0;         // when the wait began
    std::vector<uint64_t> counterparts;  // every live task that ever did the opposite operation on it
};

// A frame of a sampled native stack, symbolised (stall stacks, format 1.4).
struct stack_frame {
    uint64_t address = 0;    // as recorded
    std::string object;      // the loaded object that holds it ("": none known)
    uint64_t offset = 0;     // the address in that object's file
    std::string function, file;  // "" unknown
    uint32_t line = 0;       // 0 unknown
    bool inlined = false;    // inlined into the next frame (same address)
};

// The samples of one stack: those whose frames name the same functions.
struct sampled_stack {
    uint32_t samples = 0;
    std::vector<stack_frame> frames;  // innermost first (of the first such sample)
};

struct analysis_warning {
    warning_kind kind{};
    uint64_t task = 0;
    std::string task_name;
    int64_t time_ns = 0;          // when: see analyze.cpp for each kind
    code_location at;             // the most specific source line known
    int64_t duration_ns = 0;      // long_poll: the poll; woken_never_polled, lost_wake: how long until the end
    std::string message;          // one line for people
    // long_poll
    uint32_t ring = 0;
    std::vector<std::string> spans;
    int64_t span_ns = 0;
    code_location span_at;        // the last span's BBX_SPAN line
    uint64_t polls_over = 0;      // polls of the task over the threshold
    std::vector<waiting_task> waiting;  // the longest waits first (at most 16)
    uint64_t waiting_total = 0;
    // The native stacks sampled while that poll ran (stall stacks: the
    // recording process set BBX_STALL_MS): the distinct stacks, most samples first (at most 5).
    uint32_t stall_samples = 0;
    std::vector<sampled_stack> stacks;
    // woken_never_polled
    uint64_t waker = 0;
    // self_wake
    uint64_t wakes = 0, self_wakes = 0;
    // lost_wake: the resource whose state says the task should have been woken
    uint64_t resource = 0;
    std::string resource_name;
    // untracked: the instant ("category/name"), how many are in the capture,
    // and the highest running count they carried (>= count: earlier ones
    // were overwritten or came before the recording)
    std::string limit;
    uint64_t count = 0, count_reported = 0;
    // deadlock
    std::vector<deadlock_step> cycle;
    std::vector<deadlock_step> blocked_behind;  // blocked tasks not in the cycle that wait on it (maybe through others)
};

struct analysis {
    std::string file;
    int64_t start_ns = 0, end_ns = 0;   // first event .. last event (or the clean stop)
    uint64_t events = 0, task_events = 0;
    uint64_t events_overwritten = 0;    // lost before the capture ended: early history may be missing
    losses loss;                        // everything the capture lost (bbx info's counts)
    // The window: tasks polled or woken whose spawn is not in what was read
    // (overwritten, dropped, before the recording or outside a filter).
    uint64_t tasks_spawn_unseen = 0;
    uint32_t ring_kb = 0;               // the capture's ring size
    // When a ring wrapped (or filled, in discard mode): how many times larger
    // the ring that lost the largest share would have to be to hold all its
    // thread wrote (written / held; discard: (held + dropped) / held), and
    // ring_kb times that, rounded up to a power of two, at most the
    // recorder's 1048576 (0: no ring lost anything).
    double ring_growth = 0;
    uint32_t suggested_ring_kb = 0;
    int64_t long_poll_ns = 0;           // the threshold used
    std::vector<task_report> tasks;     // busiest first
    std::vector<thread_report> threads; // threads that polled a task, by ring
    std::vector<analysis_warning> warnings;  // recorder limits hit, deadlocks, lost wakes, long polls, woken never polled, self-wakes
    const task_report* find_task(uint64_t id) const;
};

// Runs the analysis (one pass over the input's events).
result<analysis> analyze(const input& in, const analyze_options& opt);
// bbx analyze: the analysis as text (or JSON with opt.json). Returns false
// when reading the capture or writing failed.
bool write_analysis(const input& in, const analyze_options& opt, std::FILE* out, std::string& err);

}  // namespace bbx::dec
