// `bbx analyze`, its rules: what the async tasks of a capture did, and what
// went wrong. (Its containers are containers.hpp; its reports, text and
// JSON, analyze_reports.cpp.)
//
// THE CONTRACT. Every number and warning below follows these rules; tests/
// test_analyze.cpp records real captures for each and checks the findings.
//
// Input. The timeline of one pass over the capture (timeline.hpp: events
// merged by time across threads, spans and polls paired per thread, waits
// per task). Memory grows with the number of tasks, resources, threads and
// open spans, never with the number of events. Task events (format 1.1):
//   spawn(task, parent, frame bytes, site = task site: name, file:line)
//   wake(task, waker task or 0)               poll_begin(task) / poll_end(task,
//   complete(task)                              site = await site it suspended at)
//   wait_begin(task, resource, op, site = await site) / wait_end(task, resource, op)
//   resource_op(task, resource, op): an operation that completed without waiting
// The thread of a poll is the thread of its events. A task is created by the
// first event that names it; its lifetime runs from its spawn (or that first
// event) to its completion (or the end of the capture). A poll whose end is
// not in the capture (an enclosing poll or span ended first) counts no busy
// time; a poll_end whose begin is not in the capture only says where the
// task suspended.
//
// Time. Event times are ns since the capture's start, as `bbx dump` prints
// them. The capture spans from its first event to its last event, or to the
// clean stop (bbx::stop) when that is later. Durations never go negative.
//
// States and times of a task.
//   - A wake makes an idle task *scheduled*; the scheduled interval runs from
//     that wake to the task's next poll_begin. A wake while already scheduled
//     does not restart the clock. A wake while the task is being polled (by
//     itself or by anyone else) makes it scheduled from the END of that poll.
//     Wakes of a completed task are counted and otherwise ignored.
//   - busy = sum of poll_begin..poll_end, less the polls nested in them on
//     the same thread: each moment of a thread counts to the innermost poll
//     open on it. So a task polled inside its own poll (a strand's invoker
//     and the handler it runs, both the connection's) counts that time once,
//     a poll of another task nested in it (a co_spawn that starts at once)
//     counts to that task alone, and on each thread the tasks' busy times
//     add up to the thread's busy time. A task polled on two threads at
//     once (an Asio connection's handlers run in parallel by a thread
//     pool) counts that overlap once: busy is the time at least one of its
//     polls was the innermost on some thread, so busy + scheduled never
//     exceeds its lifetime. (A poll cut short counts no busy time; if it
//     overlapped another of its task's polls, the overlap is still taken
//     off, so such a task's busy time may be short by it.) scheduled = sum of scheduled
//     intervals (one still open at the end counts up to the end). idle =
//     lifetime - busy - scheduled. A poll still open at the end counts as busy
//     up to the end, and the task is *running*. Completion while scheduled
//     closes the interval at the completion.
//   - Scheduled-time percentiles (p50, p99: nearest rank) and max cover the
//     intervals that ended in a poll. Kept per task: the exact values while
//     there are at most 32, then a log-linear histogram (16 sub-buckets per
//     power of two, sparse) whose bucket midpoints are within 3.2% of the
//     true value; max is always exact.
//   - wakes counts every wake event; a self-wake is one whose waker is the
//     woken task: it made itself runnable again during its own poll, with no
//     event in between (a yield; a handler that posts itself; co_await
//     post). A wake by an event is not one (waker 0 or another task): I/O
//     that completed, a timer, another task. Which wakes are which is
//     decided where they are recorded: the task API's task_wake(t) inside
//     t's own poll is a self-wake; bbx/asio_tracking.hpp records an
//     operation that completed at once, inside the call that started it,
//     and each inner step of a composed operation (async_write's further
//     writes) as woken by the I/O (waker 0), never by the task, and a
//     handler posted by its own task as a self-wake.
//   - End state: done (completed), running (in a poll), scheduled (woken, not
//     polled since), idle (otherwise).
//   - Longest poll: its length, thread, the await site named by its poll_end,
//     and its spans: the BBX_SPAN stack open on that thread when it ended,
//     outermost first, followed by the longest span that began and ended
//     inside the poll (with its enclosing spans that also began inside it);
//     the last span's length (if it ran inside) and BBX_SPAN line.
//     A poll's length (longest poll, long_poll) is all of it, nested polls
//     included: it held its thread that long. The thread's busy time counts
//     the outermost polls.
// Threads: every ring that ran a poll; busy fraction = outermost poll time on
// the ring / the capture's span; the longest poll on it.
//
// Warnings (T = the threshold, --long-poll, default 10 ms). Each names a task,
// a time and the most specific source line known.
//   long_poll: a poll longer than T. One warning per task, for its longest
//     poll (time = the poll's begin, line = the await site it suspended at,
//     or the spawn line), with how many of its polls were over T, the spans
//     inside it, and the tasks it kept waiting: other tasks with a scheduled
//     interval that overlapped the poll by at least T/10, with the overlap
//     (the longest 16, and how many in all). A poll still running at the end
//     counts up to the end.
//   woken_never_polled: at the end, a task scheduled for at least T (time =
//     the wake, line = where it last suspended, or its spawn line).
//   self_wake: at least 4 wakes, more than half of them self-wakes (time =
//     the last self-wake, line = the await site named by the end of the poll
//     that made that self-wake: where the task yields, as a coroutine's
//     `co_await post(..., use_awaitable_t<>())` line. When that poll names
//     none, the line is unknown and the message says so; the spawn line is
//     given instead if known. Asio callbacks are such a case: Asio gives a
//     post no source location, and bbx/asio_tracking.hpp has a poll that
//     posts its own task name that post's site, so a composed operation
//     started later in the poll never lends its line inside Asio's headers).
//   lost_wake: recorded events say the task should have been woken and it
//     was not. At the end the task is idle (not done, running or scheduled:
//     so no wake since its last poll), and for at least T, one of:
//     (a) its wait on a resource was ended (wait_end) while it was suspended,
//         after its last poll, and no wake followed; or
//     (b) it waits (open wait_begin) to send on a resource that is not a
//         timer, something then received from it (resource_op recv) after the
//         wait began and after the task's last poll, no task sent on it or
//         began or ended a send wait on it since, and no other task waits to
//         send on it (receive waits likewise, send and recv swapped).
//     A task merely suspended with nothing open is never flagged: a timer,
//     socket or join can wake it without leaving a trace here.
//   deadlock: at the end, a task is *blocked* when it is idle with an open
//     wait to send or receive on a resource that is not a timer, and is not
//     lost_wake. Its counterparts are the live (not done) tasks other than
//     itself that ever did the opposite operation on that resource
//     (resource_op, wait_begin or wait_end): the drainers of a channel it
//     sends on, the feeders of one it receives from. Keep the blocked tasks
//     whose counterparts are all kept, and not none (no code outside tasks
//     did the opposite operation either), until nothing changes: what
//     remains can never run again. Each cycle among them (following the
//     lowest-id counterpart) is one warning, printed with every wait's
//     resource, capacity and await site, starting at its lowest task id;
//     time = when its last wait began, line = the first wait's. The kept
//     tasks that are on no cycle wait (maybe through others) on one: they
//     are listed with the cycle their waits lead to ("stuck behind them").
//     Lock waits take no part: without unlock events nobody can say who
//     holds a lock.
//   untracked: the recorder says it could not follow something: an instant
//     named untracked_<what> with a running count in an argument "untracked"
//     (bbx/asio_tracking.hpp writes "asio"/"untracked_task" when its task
//     table is full, "asio"/"untracked_object" for its object table). One
//     warning per such site: how many instants the capture holds (count),
//     and the highest running count among them (count_reported: more when
//     earlier ones were overwritten); time = the first, task = the first
//     one's, line unknown (the instant's line is the recorder's own).
// Warnings are sorted by kind (untracked, deadlock, lost_wake, long_poll,
// woken_never_polled, self_wake), then by time. No warning is a verdict on
// code the capture did not see: events lost to overwriting (counted in the
// header of the report) hide early history.
//
// Output (analyze_reports.cpp): text (a table of tasks, busiest first, at
// most 50 unless --all; threads; warnings, or "warnings: none"), durations
// with 3 significant digits and a unit; or one JSON object {capture, tasks
// (all), threads, warnings} with every time in ns. The exit status does not
// depend on the warnings.
#include <algorithm>
#include <array>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyze_rules.hpp"
#include "bbx/decoder.hpp"
#include "containers.hpp"
#include "timeline.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

const char* task_end_state_name(task_end_state s) {
    switch (s) {
        case task_end_state::running: return "running";
        case task_end_state::idle: return "idle";
        case task_end_state::scheduled: return "scheduled";
        case task_end_state::done: return "done";
    }
    return "?";
}

const char* warning_kind_name(warning_kind k) {
    switch (k) {
        case warning_kind::untracked: return "untracked";
        case warning_kind::deadlock: return "deadlock";
        case warning_kind::lost_wake: return "lost_wake";
        case warning_kind::long_poll: return "long_poll";
        case warning_kind::woken_never_polled: return "woken_never_polled";
        case warning_kind::self_wake: return "self_wake";
    }
    return "?";
}

const task_report* analysis::find_task(uint64_t id) const {
    for (const task_report& t : tasks)
        if (t.id == id) return &t;
    return nullptr;
}

namespace {

constexpr size_t exact_samples = 32;
constexpr size_t max_waiting = 16;
constexpr uint64_t self_wake_min_wakes = 4;
constexpr uint8_t op_send = uint8_t(fmt::resource_op::send), op_recv = uint8_t(fmt::resource_op::recv);
constexpr uint32_t no_task = UINT32_MAX;

using an::elapsed;
using an::dur;
using an::secs;
using an::loc_text;
using an::span_path;
int64_t add_sat(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }  // a, b >= 0

// Log-linear bucket: values below 16 exactly, then 16 buckets per power of two.
uint16_t bucket_of(uint64_t v) {
    if (v < 16) return uint16_t(v);
    int e = 63 - __builtin_clzll(v);  // >= 4
    uint64_t sub = (v >> (e - 4)) - 16;
    return uint16_t(16 + uint64_t(e - 4) * 16 + sub);
}
int64_t bucket_mid(uint16_t b) {
    if (b < 16) return b;
    unsigned e = (b - 16u) / 16u + 4u, sub = (b - 16u) % 16u;
    uint64_t lo = uint64_t(16 + sub) << (e - 4), width = uint64_t(1) << (e - 4);
    uint64_t mid = lo + (width - 1) / 2;
    return mid > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(mid);
}

// The scheduled intervals of one task: exact while few, then a sparse histogram.
class sched_dist {
public:
    void add(int64_t v) {
        if (!hist_ && exact_.size() < exact_samples) {
            exact_.push_back(v);
            return;
        }
        if (!hist_) hist_ = std::make_unique<std::vector<std::pair<uint16_t, uint64_t>>>();
        if (!exact_.empty()) {
            for (int64_t x : exact_) bump(bucket_of(uint64_t(x)));
            exact_.release();
        }
        bump(bucket_of(uint64_t(v)));
    }
    // It allocated (its destructor has something to free).
    bool owns_memory() const { return hist_ || exact_.on_heap(); }
    uint64_t count() const {
        if (!hist_) return exact_.size();
        uint64_t n = 0;
        for (const auto& b : *hist_) n += b.second;
        return n;
    }
    bool exact() const { return !hist_; }
    // Nearest rank: the smallest value with at least p of the values at or below it.
    int64_t percentile(double p, int64_t max) const {
        const uint64_t total = count();
        if (total == 0) return 0;
        uint64_t rank = uint64_t(std::ceil(p * double(total)));
        rank = std::clamp<uint64_t>(rank, 1, total);
        if (!hist_) {
            int64_t v[exact_samples];
            std::copy(exact_.begin(), exact_.end(), v);
            std::nth_element(v, v + (rank - 1), v + exact_.size());
            return v[rank - 1];
        }
        uint64_t seen = 0;
        for (const auto& [b, n] : *hist_) {
            seen += n;
            if (seen >= rank) return std::min(bucket_mid(b), max);
        }
        return max;
    }

private:
    void bump(uint16_t b) {
        auto it = std::lower_bound(hist_->begin(), hist_->end(), b, [](const auto& e, uint16_t k) { return e.first < k; });
        if (it != hist_->end() && it->first == b) ++it->second;
        else hist_->insert(it, {b, 1});
    }
    small_vec<int64_t, 2> exact_;
    std::unique_ptr<std::vector<std::pair<uint16_t, uint64_t>>> hist_;  // by bucket (the count: their sum)
};

// A resource a task did something to: ops bit 0 send, bit 1 recv.
struct res_touch {
    uint64_t res = 0;
    uint8_t ops = 0;
};

// The analyzer's record of a task, beside the timeline's (tl::task): what
// the timeline keeps of it (id, spawn site, parent, frame size) is read
// there, not copied here. Every task of a capture has one, and a capture may
// have millions, so it is packed: each cache line of it is first written
// while the capture is read. (What the passes over every task at the end
// read comes first.)
// Aligned to a cache line (stable_vec's blocks are), so that its first line
// is one line; four lines in all.
struct alignas(64) task_state {
    // Its first cache line: all that the pass over every task at the end
    // (find_warnings) and the report order read of most tasks.
    int64_t busy = 0;
    bool spawn_seen = false, done = false, scheduled = false;
    bool woken_in_poll = false, self_in_poll = false, polled = false, has_longest = false;
    bool longest_unfinished = false, wait_ended_idle = false;
    bool wait_open = false;  // its last wait_begin (wait_*) is open: no wait_end on its resource, no completion since
    uint8_t wait_op = 0;
    bool owns_memory = false;  // in analyzer::owners_: a vector below may have grown past its inline room
    uint16_t running = 0;  // poll depth
    uint16_t on_top = 0;   // threads on which its poll is the innermost now (more than 1: task_extra)
    union {
        int64_t sched_start = 0;  // while scheduled: since when
        int64_t done_at;          // once done (it is never scheduled again)
    };
    int64_t sched_total = 0;
    uint64_t wait_res = 0;
    uint64_t wakes = 0;
    uint64_t polls = 0;
    // (64 bytes)
    uint32_t sched_pos = 0;  // its place in analyzer::scheduled_, while scheduled
    uint32_t longest_ring = 0;
    int64_t wait_begin = 0;
    const site* wait_at = nullptr;
    int64_t first = 0;
    int64_t sched_max = 0;
    // The task that woke it: of its scheduled interval while scheduled, of
    // the wake that will schedule it at its poll's end while woken in a poll
    // (never both at once: a task is scheduled only when not in a poll).
    uint64_t waker = 0;
    sched_dist sched;
    small_vec<const site*, 2> longest_spans;
    small_vec<res_touch, 1> touched;  // every resource it sent on or received from
    int64_t last_poll_end = 0;
    const site* last_await = nullptr;
    int64_t longest = 0, longest_at = 0, longest_span = 0;
    const site* longest_await = nullptr;
    int64_t wait_ended_at = 0;
    uint64_t wait_ended_res = 0;
};
static_assert(offsetof(task_state, sched_pos) == 64 && sizeof(task_state) == 256);

// What few tasks need (polled on two threads at once, polls over the
// threshold, self-wakes): aside, by task index (analyzer::extra_).
struct task_extra {
    int64_t top_at = 0;    // while on_top > 1: when on_top last changed
    int64_t overlap = 0;   // time it was innermost on two threads at once (counted twice in busy, once too many)
    uint64_t polls_over = 0;
    uint64_t self_wakes = 0;
    int64_t last_self_wake = 0;
    const site* self_site = nullptr;  // the await site named by the end of the poll that made its last self-wake
};

using waits = std::vector<std::pair<uint32_t, int64_t>>;  // task index, overlap

struct long_poll_info {
    waits waiting;
    uint64_t total = 0;
    std::vector<const dec::stall_sample*> samples;  // taken during the poll (nested polls included)
};

struct span_open {
    const site* s;
    int64_t begin;
};

struct poll_open {
    uint32_t task = 0;
    task_state* ts = nullptr;          // tasks_[task]
    int64_t begin = 0;
    int64_t nested = 0;                // time of the polls nested in it that counted for their tasks
    int64_t best_span = 0;             // the longest span that began and ended inside
    std::vector<span_open> best_path;  // it, with its enclosing spans that began inside
    waits waiting;                     // tasks whose scheduled interval ended during the poll
    uint64_t waiting_total = 0;
    std::vector<const dec::stall_sample*> samples;  // stall samples taken during it (nested polls' too)
};

// The polls open on a thread, innermost last. Entries are reused, vectors
// and all: opening a poll allocates nothing once the stack has been as deep.
class poll_stack {
public:
    size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    poll_open& operator[](size_t i) { return v_[i]; }
    const poll_open& operator[](size_t i) const { return v_[i]; }
    poll_open& back() { return v_[n_ - 1]; }
    poll_open* begin() { return v_.data(); }
    poll_open* end() { return v_.data() + n_; }
    void push(uint32_t task, task_state* ts, int64_t begin) {
        if (n_ == v_.size()) v_.emplace_back();
        poll_open& p = v_[n_++];
        p.task = task;
        p.ts = ts;
        p.begin = begin;
        p.nested = 0;
        p.best_span = 0;
        p.best_path.clear();
        p.waiting.clear();
        p.waiting_total = 0;
        p.samples.clear();
    }
    void pop_back() { --n_; }

private:
    std::vector<poll_open> v_;
    size_t n_ = 0;
};

struct ring_state {
    poll_stack polls;  // the polls open on the thread (the timeline's), with what the rules keep for each
    uint64_t npolls = 0;
    int64_t busy = 0, longest = 0, longest_at = 0;
    uint64_t longest_task = 0;
};

struct res_state {
    bool outside_send = false, outside_recv = false;  // operations outside any task
    bool has_op[2] = {}, has_any[2] = {};
    int64_t last_op[2] = {};     // resource_op send/recv: completed operations
    uint32_t last_op_task[2] = {no_task, no_task};
    int64_t last_any[2] = {};    // any send/recv event (resource_op, wait_begin, wait_end)
};

// A recorder limit hit (its untracked_* instants at one site).
struct limit_hit {
    const site* where;
    uint64_t count, reported;
    int64_t first_ns;
    uint64_t first_task;
};

int op_slot(uint8_t op) { return op == op_send ? 0 : op == op_recv ? 1 : -1; }

class analyzer : public tl::sink {
public:
    analyzer(const capture& c, const analyze_options& o) : c_(c), opt_(o), rings_(c.threads().size()) {
        for (const site& s : c.sites()) untracked_any_ = untracked_any_ || s.name.compare(0, 10, "untracked_") == 0;
    }
    // Only the tasks that allocated are destroyed one by one: visiting
    // every task's record to find them cost a cache miss or two a task.
    ~analyzer() {
        for (uint32_t ti : owners_) tasks_[ti].~task_state();
        tasks_.forget();
    }
    analyzer(const analyzer&) = delete;
    analyzer& operator=(const analyzer&) = delete;
    void begin(const tl::model& m) { model_ = &m; }

    // ---- the timeline's callbacks -----------------------------------------------------

    void task_seen(tl::thread&, tl::task& k, const event& e) {
        task_state& T = tasks_.emplace_back();  // (index k.index: tasks are made in the same order)
        k.sink_data = &T;
        T.first = e.ns;
        // Its spawn site, parent and frame size are the timeline's (k's):
        // its spawn event's, or the task table's when that was overwritten
        // (spawn_seen stays false then).
    }
    void spawn(tl::thread&, tl::task& k, const event& e) {
        task_state& T = of(k);
        T.spawn_seen = true;
        T.first = std::min(T.first, e.ns);
        // Each spawn event of the task says its parent and frame size (and
        // its site, when it names one): the first is the timeline's; a
        // later one that says otherwise (a damaged capture, or merged ones
        // that share an id) overrides it.
        const spawn_fields was = spawn_of(k), now{e.where ? e.where : was.where, e.spawn.parent, e.spawn.frame_bytes};
        if (now.where != was.where || now.parent != was.parent || now.frame != was.frame) respawned_[k.index] = now;
    }
    void wake(tl::thread&, tl::task& k, const event& e, uint64_t) { wake(k.index, k.id, of(k), e.wake.waker, e.ns); }
    void complete(tl::thread&, tl::task& k, const event& e) {
        task_state& T = of(k);
        if (T.done) return;
        T.done = true;
        if (T.scheduled) {
            T.sched_total = add_sat(T.sched_total, elapsed(T.sched_start, e.ns));
            unschedule(T);
        }
        T.done_at = e.ns;  // (after the last read of sched_start: they share their bytes)
        T.wait_open = false;
    }
    void wait_begin(tl::thread&, tl::task& k, const tl::wait*, const event& e) {
        task_state& T = of(k);
        T.wait_res = e.res.id;
        T.wait_begin = e.ns;
        T.wait_at = e.where;
        T.wait_op = uint8_t(e.res.op);
        T.wait_open = true;
        resource_event(k.index, &T, e.res.id, uint8_t(e.res.op), e.ns, false);
    }
    void wait_end(tl::thread&, tl::task& k, const tl::wait& w, int64_t ns, tl::end_how how) {
        if (how == tl::end_how::ended) wait_ended(k.index, of(k), w.resource, w.op, ns);  // (a cut or unfinished wait had no event)
    }
    void lone_wait_end(tl::thread&, tl::task& k, const event& e) { wait_ended(k.index, of(k), e.res.id, e.res.op, e.ns); }
    void resource_op(tl::thread&, tl::task* k, const event& e) {
        if (k) resource_event(k->index, &of(*k), e.res.id, uint8_t(e.res.op), e.ns, true);
        else resource_event(no_task, nullptr, e.res.id, uint8_t(e.res.op), e.ns, true);
    }
    // A stall sample: the innermost poll open on its thread was running then.
    void stall_sample(tl::thread& t, const dec::stall_sample& s) {
        ring_state& R = rings_[t.index];
        if (!R.polls.empty()) R.polls.back().samples.push_back(&s);
    }
    void slice_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t>) {
        if (s.kind == tl::slice_kind::poll) poll_begin(s.task, of(*s.owner), t.index, e.ns);
    }
    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        if (how == tl::end_how::unfinished) return;  // closing() counted it
        if (s.kind == tl::slice_kind::span) {
            if (how == tl::end_how::ended) span_end(t, s, ns);  // a cut span: its end is not in the capture
            return;
        }
        if (how == tl::end_how::cut) poll_cut(t.index, ns);
        else poll_end(s.task, of(*s.owner), t, ns, await);
    }
    // The recorder's "a limit was hit" instants: untracked_<what>, with the
    // running count in an argument "untracked" (and the task in "task").
    void instant(tl::thread&, const event& e) {
        // (An event's site is one of the capture's: most captures have no
        // untracked_ site, and then an instant costs one test, not eleven.)
        if (!untracked_any_) return;
        const site& s = *e.where;
        if (!untracked_site(s)) return;
        uint64_t reported = 0, task = 0;
        bool counted = false;
        for (uint32_t i = 0; i < e.nargs; ++i) {
            if (!e.args[i].decl) continue;
            if (e.args[i].decl->name == "untracked") reported = e.args[i].word, counted = true;
            else if (e.args[i].decl->name == "task") task = e.args[i].word;
        }
        if (!counted) return;
        auto it = std::find_if(limits_.begin(), limits_.end(), [&](const limit_hit& l) { return l.where == &s; });
        if (it == limits_.end()) {
            limits_.push_back({&s, 0, 0, e.ns, task});
            it = limits_.end() - 1;
        }
        ++it->count;
        it->reported = std::max(it->reported, reported);
    }
    void lone_end(tl::thread&, tl::slice_kind kind, const event& e) {
        if (kind != tl::slice_kind::poll) return;
        // Its poll_begin was overwritten: only the suspension is known.
        const tl::task* k = model_->find_task(e.task);
        if (!k) return;
        task_state& T = of(*k);
        if (!T.running) {
            T.polled = true;
            T.last_poll_end = e.ns;
            T.last_await = e.where;
        }
    }
    // The end of the capture: polls still open run until it.
    template <class Timeline>
    void closing(Timeline& m) {
        const header_info& h = c_.header();
        any_ = m.events > 0;
        start_ = any_ ? m.first_ns : 0;
        end_ = any_ ? m.last_ns : 0;
        if ((h.flags & fmt::flag_ended_clean) && h.anchor_count >= 2 && any_)
            end_ = std::max(end_, c_.ticks_to_ns(h.anchors[1].ticks));
        for (uint32_t r = 0; r < rings_.size(); ++r) {
            ring_state& R = rings_[r];
            if (!R.polls.empty()) top_change(R.polls.back(), -1, end_);
            for (size_t i = R.polls.size(); i-- > 0;) {  // innermost first: each gives its time to the one around it
                poll_open& p = R.polls[i];
                int64_t d = elapsed(p.begin, end_);
                count_busy(R, i, d);
                ring_longest(R, p, d);
                poll_done(p, m.threads[r], end_, nullptr, true);
                if (i > 0) give_samples(p, R.polls[i - 1]);
            }
        }
        // (Polls on two threads at once count their overlap once: find_warnings'
        // pass over every task takes it off, before anything reads busy.)
    }

    // The analysis; its tasks: the first `limit` reports in report order
    // (fill_report and report_order give the others).
    analysis finish(const read_stats& stats, size_t limit = SIZE_MAX) {
        analysis a;
        a.file = c_.name();
        a.long_poll_ns = opt_.long_poll_ns;
        a.events = model_->events;
        a.task_events = model_->task_events;
        for (const ring_stats& s : stats.threads) a.events_overwritten += s.overwritten;
        a.loss = losses_of(c_, stats);
        a.ring_kb = c_.header().ring_size / 1024;
        for (const ring_stats& s : stats.threads) {
            const uint64_t held = s.events_written > s.overwritten ? s.events_written - s.overwritten : 0;
            if (!held) continue;
            const uint64_t full = (c_.header().flags & format::flag_discard) ? s.events_dropped : 0;
            const double g = double(s.events_written + full) / double(held);
            if (g > 1 && g > a.ring_growth) a.ring_growth = g;
        }
        if (a.ring_growth > 1) {
            uint64_t kb = a.ring_kb ? a.ring_kb : 4;
            while (double(kb) < double(a.ring_kb) * a.ring_growth && kb < 1048576) kb *= 2;
            a.suggested_ring_kb = uint32_t(kb);
        }
        a.start_ns = start_;
        a.end_ns = end_;
        find_warnings(a, limit);
        reports(a, limit);
        return a;
    }

    size_t task_count() const { return tasks_.size(); }
    bool task_index(uint64_t id, uint32_t& ti) const {
        const tl::task* k = model_->find_task(id);
        if (k) ti = k->index;
        return k != nullptr;
    }

private:
    // The analyzer's record of a timeline task (task_seen made it).
    static task_state& of(const tl::task& k) { return *static_cast<task_state*>(k.sink_data); }
    const tl::task& timeline_task(uint32_t ti) const { return model_->tasks[ti]; }
    uint64_t id_of(uint32_t ti) const { return timeline_task(ti).id; }

    // A task's spawn site, parent and frame size: the timeline's, unless a
    // later spawn event of it said otherwise (respawned_).
    struct spawn_fields {
        const site* where = nullptr;
        uint64_t parent = 0, frame = 0;
    };
    spawn_fields spawn_of(const tl::task& k) const {
        if (!respawned_.empty()) [[unlikely]] {
            auto it = respawned_.find(k.index);
            if (it != respawned_.end()) return it->second;
        }
        return {k.named_by, k.parent, k.frame_bytes};
    }
    spawn_fields spawn_of(uint32_t ti) const { return spawn_of(timeline_task(ti)); }
    std::unordered_map<uint32_t, spawn_fields> respawned_;  // by task index: rare

    // Whether a site is one of the recorder's "untracked_<what>" instants,
    // remembered by site id (a name compare per instant was a tenth of
    // analyze's work on an instant-heavy capture).
    bool untracked_site(const site& s) {
        if (s.id >= (1u << 20)) [[unlikely]] return s.name.compare(0, 10, "untracked_") == 0;
        if (s.id >= untracked_sites_.size()) untracked_sites_.resize(s.id + 1, 0);
        uint8_t& u = untracked_sites_[s.id];
        if (u == 0) u = s.name.compare(0, 10, "untracked_") == 0 ? 2 : 1;
        return u == 2;
    }
    std::vector<uint8_t> untracked_sites_;  // by site id: 0 not seen, 1 no, 2 yes
    bool untracked_any_ = false;            // some site of the capture is an untracked_ one

    std::unordered_map<uint32_t, task_extra> extra_;  // by task index: the few tasks that need one
    const task_extra& extra_of(uint32_t ti) const {
        static const task_extra none;
        if (extra_.empty()) return none;
        auto it = extra_.find(ti);
        return it == extra_.end() ? none : it->second;
    }

    void owns(uint32_t ti, task_state& T) {
        T.owns_memory = true;
        owners_.push_back(ti);
    }
    std::vector<uint32_t> owners_;  // the tasks whose record allocated (task_state::owns_memory)

    void unschedule(task_state& T) {
        T.scheduled = false;
        const uint32_t last = scheduled_.back();
        scheduled_[T.sched_pos] = last;
        tasks_[last].sched_pos = T.sched_pos;
        scheduled_.pop_back();
    }

    // Thread r left its last open poll.
    void deactivate(uint32_t r) {
        size_t i = 0;
        while (active_[i] != r) ++i;
        for (; i + 1 < active_.size(); ++i) active_[i] = active_[i + 1];
        active_.pop_back();
    }

    void schedule(uint32_t ti, task_state& T, int64_t t, uint64_t waker) {
        T.scheduled = true;
        T.sched_start = t;
        T.waker = waker;
        T.sched_pos = uint32_t(scheduled_.size());
        scheduled_.push_back(ti);
    }

    void wake(uint32_t ti, uint64_t id, task_state& T, uint64_t waker, int64_t t) {
        ++T.wakes;
        if (waker == id) {
            task_extra& x = extra_[ti];
            ++x.self_wakes;
            x.last_self_wake = t;
            if (T.running) T.self_in_poll = true;
        }
        if (T.done) return;
        if (T.running) {
            if (!T.woken_in_poll) T.waker = waker;
            T.woken_in_poll = true;
            return;
        }
        if (!T.scheduled) schedule(ti, T, t, waker);
    }

    // Adds a task that waited `ov` during poll p (merging repeats; the longest 16 stay).
    void add_waiting(waits& w, uint64_t& total, uint32_t ti, int64_t ov) const {
        if (ov < opt_.long_poll_ns / 10 || ov <= 0) return;
        for (auto& [k, v] : w)
            if (k == ti) {
                v = add_sat(v, ov);
                return;
            }
        ++total;
        if (w.size() < max_waiting) {
            w.push_back({ti, ov});
            return;
        }
        auto low = std::min_element(w.begin(), w.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
        if (low->second < ov) *low = {ti, ov};
    }

    void poll_begin(uint32_t ti, task_state& T, uint32_t r, int64_t t) {
        if (T.scheduled) {
            int64_t d = elapsed(T.sched_start, t);
            T.sched_total = add_sat(T.sched_total, d);
            T.sched_max = std::max(T.sched_max, d);
            T.sched.add(d);
            if (!T.owns_memory && T.sched.owns_memory()) owns(ti, T);
            // The polls running elsewhere meanwhile kept this task waiting.
            for (uint32_t o : active_) {
                if (o == r) continue;
                for (poll_open& p : rings_[o].polls)
                    if (p.task != ti && p.begin < t)
                        add_waiting(p.waiting, p.waiting_total, ti, elapsed(std::max(p.begin, T.sched_start), t));
            }
            unschedule(T);
        }
        ++T.polls;
        ++T.running;
        ring_state& R = rings_[r];
        if (R.polls.empty()) active_.push_back(r);
        else top_change(R.polls.back(), -1, t);
        R.polls.push(ti, &T, t);
        top_change(ti, T, +1, t);
        if (R.polls.size() == 1) ++R.npolls;
    }

    void ring_longest(ring_state& R, const poll_open& p, int64_t d) {
        if (d > R.longest || R.longest_task == 0) {
            R.longest = d;
            R.longest_at = p.begin;
            R.longest_task = id_of(p.task);
        }
    }

    // The task's poll became (+1) or stopped being (-1) the innermost on a
    // thread at t: while it is innermost on k > 1 threads at once, k - 1 of
    // them count twice in busy (taken off at the end).
    [[gnu::always_inline]] void top_change(uint32_t ti, task_state& T, int delta, int64_t t) {
        const uint16_t was = T.on_top;
        T.on_top = uint16_t(was + delta);
        if (was > 1 || T.on_top > 1) [[unlikely]] overlap_change(ti, was, T.on_top, t);
    }
    [[gnu::noinline]] void overlap_change(uint32_t ti, uint16_t was, uint16_t now, int64_t t) {
        task_extra& x = extra_[ti];
        if (was > 1) x.overlap = add_sat(x.overlap, int64_t(was - 1) * elapsed(x.top_at, t));
        if (now > 1) x.top_at = t;
    }
    void top_change(const poll_open& p, int delta, int64_t t) { top_change(p.task, *p.ts, delta, t); }

    // The poll at depth i of ring R ran d (inclusive): its task is busy for
    // d less the polls nested in it, and the poll around it (if any) is not
    // busy for those d. So each moment of a thread counts to the innermost
    // poll on it: a task polled inside its own poll counts that time once,
    // and on each thread the tasks' busy times add up to the thread's.
    void count_busy(ring_state& R, size_t i, int64_t d) {
        poll_open& p = R.polls[i];
        task_state& T = *p.ts;
        T.busy = add_sat(T.busy, d - std::min(d, p.nested));
        if (i == 0) R.busy = add_sat(R.busy, d);
        else R.polls[i - 1].nested = add_sat(R.polls[i - 1].nested, d);
    }

    // A poll whose end was lost ends with the poll (or span) enclosing it: no busy time.
    void poll_cut(uint32_t r, int64_t t) {
        ring_state& R = rings_[r];
        task_state& U = *R.polls.back().ts;
        if (U.running) --U.running;
        top_change(R.polls.back(), -1, t);
        if (R.polls.size() >= 2) give_samples(R.polls.back(), R.polls[R.polls.size() - 2]);
        R.polls.pop_back();
        if (!R.polls.empty()) top_change(R.polls.back(), +1, t);
        if (R.polls.empty()) deactivate(r);
    }

    // A nested poll's samples were taken during the poll around it too.
    static void give_samples(const poll_open& inner, poll_open& outer) {
        outer.samples.insert(outer.samples.end(), inner.samples.begin(), inner.samples.end());
    }

    // A long poll's samples, symbolised, as its warning's distinct stacks
    // (by the functions their frames name), most samples first.
    void stacks_of(const std::vector<const dec::stall_sample*>& samples, analysis_warning& w) {
        w.stall_samples = uint32_t(samples.size());
        if (samples.empty()) return;
        if (!sym_) sym_ = std::make_unique<stall_symbolizer>(c_);
        std::vector<std::pair<std::string, sampled_stack>> groups;
        for (const dec::stall_sample* s : samples) {
            sampled_stack st;
            std::string key;
            for (size_t i = 0; i < s->frames.size(); ++i) {
                const frame_symbol* f = sym_->find(s->frames[i], i > 0);
                stack_frame base;
                base.address = s->frames[i];
                if (f) base.object = f->object, base.offset = f->offset;
                if (!f || f->where.empty()) {
                    st.frames.push_back(base);
                    char b[64];
                    std::snprintf(b, sizeof b, "+%" PRIx64, base.offset);
                    key += base.object + b + "\n";
                    continue;
                }
                for (size_t k = 0; k < f->where.size(); ++k) {
                    stack_frame x = base;
                    x.function = f->where[k].function;
                    x.file = f->where[k].file;
                    x.line = f->where[k].line;
                    x.inlined = k + 1 < f->where.size();
                    key += x.function + "\n";
                    st.frames.push_back(std::move(x));
                }
            }
            auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
            if (it == groups.end()) {
                st.samples = 1;
                groups.emplace_back(std::move(key), std::move(st));
            } else {
                ++it->second.samples;
            }
        }
        std::stable_sort(groups.begin(), groups.end(), [](const auto& x, const auto& y) { return x.second.samples > y.second.samples; });
        for (size_t i = 0; i < groups.size() && i < 5; ++i) w.stacks.push_back(std::move(groups[i].second));
    }

    // The poll on top of the thread's open polls ends (the timeline paired it).
    void poll_end(uint32_t ti, task_state& T, const tl::thread& th, int64_t t, const site* where) {
        const uint32_t r = th.index;
        ring_state& R = rings_[r];
        const size_t i = R.polls.size();
        poll_open& p = R.polls[i - 1];
        int64_t d = elapsed(p.begin, t);
        count_busy(R, i - 1, d);
        ring_longest(R, p, d);
        poll_done(p, th, t, where, false);
        if (i >= 2) give_samples(p, R.polls[i - 2]);
        top_change(ti, T, -1, t);
        R.polls.pop_back();
        if (R.polls.empty()) deactivate(r);
        else top_change(R.polls.back(), +1, t);
        if (T.running) --T.running;
        if (T.running) return;
        T.polled = true;
        T.last_poll_end = t;
        T.last_await = where;
        if (T.self_in_poll) {
            extra_[ti].self_site = where;
            T.self_in_poll = false;
        }
        if (T.woken_in_poll) {
            T.woken_in_poll = false;
            if (!T.done) schedule(ti, T, t, T.waker);
        }
    }

    // A poll ended (or the capture did): the task's longest poll and the long-poll finding.
    void poll_done(poll_open& p, const tl::thread& th, int64_t end, const site* where, bool unfinished) {
        const uint32_t r = th.index;
        task_state& T = *p.ts;
        int64_t d = elapsed(p.begin, end);
        if (d > opt_.long_poll_ns) ++extra_[p.task].polls_over;
        if (T.has_longest && d <= T.longest) return;
        T.has_longest = true;
        T.longest = d;
        T.longest_at = p.begin;
        T.longest_ring = r;
        T.longest_await = where;
        T.longest_unfinished = unfinished;
        T.longest_spans.clear();
        // The spans open on the thread, outermost first, then the longest one inside the poll.
        for (const tl::slice& s : th.open)
            if (s.kind == tl::slice_kind::span) T.longest_spans.push_back(s.where);
        for (const span_open& s : p.best_path) {
            bool open = std::any_of(th.open.begin(), th.open.end(), [&](const tl::slice& o) {
                return o.kind == tl::slice_kind::span && o.where == s.s && o.begin_ns == s.begin;
            });
            if (!open) T.longest_spans.push_back(s.s);
        }
        if (!T.owns_memory && T.longest_spans.on_heap()) owns(p.task, T);
        T.longest_span = p.best_path.empty() ? 0 : p.best_span;
        if (d <= opt_.long_poll_ns) return;
        long_poll_info info{p.waiting, p.waiting_total, p.samples};
        // The tasks still scheduled, by id (when more than max_waiting qualify,
        // which are kept may depend on the order).
        std::vector<uint32_t> sched(scheduled_.begin(), scheduled_.end());
        std::sort(sched.begin(), sched.end(), [&](uint32_t x, uint32_t y) { return id_of(x) < id_of(y); });
        for (uint32_t v : sched) {
            if (v == p.task || tasks_[v].sched_start >= end) continue;
            add_waiting(info.waiting, info.total, v, elapsed(std::max(p.begin, tasks_[v].sched_start), end));
        }
        long_polls_[p.task] = std::move(info);
    }

    // Span sp (on top of the thread's open slices) ends: the longest span inside the innermost open poll.
    void span_end(const tl::thread& th, const tl::slice& sp, int64_t t) {
        ring_state& R = rings_[th.index];
        if (R.polls.empty()) return;
        poll_open& p = R.polls.back();
        int64_t d = elapsed(sp.begin_ns, t);
        if (sp.begin_ns >= p.begin && (p.best_path.empty() || d > p.best_span)) {
            p.best_span = d;
            // The open spans from the first that began inside the poll up to sp.
            p.best_path.clear();
            bool inside = false;
            for (const tl::slice& s : th.open) {
                if (s.kind != tl::slice_kind::span) continue;
                inside = inside || s.begin_ns >= p.begin || &s == &sp;
                if (inside) p.best_path.push_back({s.where, s.begin_ns});
            }
        }
    }

    // A wait_end event of task ti.
    void wait_ended(uint32_t ti, task_state& T, uint64_t res, uint64_t op, int64_t t) {
        if (T.wait_open && T.wait_res == res) {
            T.wait_open = false;
            if (!T.done && !T.running && !T.scheduled) {
                T.wait_ended_idle = true;
                T.wait_ended_at = t;
                T.wait_ended_res = res;
            }
        }
        resource_event(ti, &T, res, uint8_t(op), t, false);
    }

    // ti, T: the task (no_task, null: code outside any task).
    void resource_event(uint32_t ti, task_state* T, uint64_t res, uint8_t op, int64_t t, bool completed) {
        int k = op_slot(op);
        if (res == 0 || k < 0) return;
        if (res != last_res_id_) {
            last_res_ = &res_[res];  // (nodes of an unordered_map never move)
            last_res_id_ = res;
        }
        res_state& S = *last_res_;
        if (ti == no_task) {
            (k == 0 ? S.outside_send : S.outside_recv) = true;
        } else {
            const uint8_t bit = uint8_t(1u << k);
            bool seen = false;
            for (res_touch& x : T->touched)
                if (x.res == res) {
                    x.ops |= bit;
                    seen = true;
                    break;
                }
            if (!seen) {
                T->touched.push_back({res, bit});
                if (!T->owns_memory && T->touched.on_heap()) owns(ti, *T);
            }
        }
        S.has_any[k] = true;
        S.last_any[k] = t;
        if (completed) {
            S.has_op[k] = true;
            S.last_op[k] = t;
            S.last_op_task[k] = ti;
        }
    }

    // ---- findings at the end ----------------------------------------------------------

    bool idle_at_end(const task_state& T) const { return !T.done && !T.running && !T.scheduled; }

    // A call site's name and line as reports print them, made once per site.
    struct site_text {
        bool made = false;
        std::string name;
        code_location at;
    };
    const site_text& text_of(const site* s) const {
        const std::vector<site>& sites = c_.sites();
        if (site_text_.size() != sites.size()) site_text_.assign(sites.size(), site_text{});
        const size_t i = size_t(s - sites.data());
        site_text* x = i < sites.size() && &sites[i] == s ? &site_text_[i] : &other_text_;
        if (!x->made || x == &other_text_) {
            x->made = true;
            x->name = printable(s->name);
            x->at.file = printable(s->file);
            x->at.function = printable(s->function);
            x->at.line = s->line;
        }
        return *x;
    }
    const std::string& site_name(const site* s) const {
        static const std::string none;
        return s ? text_of(s).name : none;
    }

    std::string name_of(uint32_t ti) const { return site_name(spawn_of(ti).where); }

    const code_location& loc(const site* s) const {
        static const code_location none;
        return s ? text_of(s).at : none;
    }
    // An await site if known, else the spawn line.
    const code_location& best_loc(const site* await_site, uint32_t ti) const {
        return loc(await_site ? await_site : spawn_of(ti).where);
    }

    std::string res_name(uint64_t res) const {
        const resource* r = c_.find_resource(res);
        return r ? printable(r->name) : "#" + std::to_string(res);
    }
    uint64_t res_capacity(uint64_t res) const {
        const resource* r = c_.find_resource(res);
        return r ? r->capacity : 0;
    }
    bool is_timer(uint64_t res) const {
        const resource* r = c_.find_resource(res);
        return r && r->kind == 2;
    }

    std::string who(uint64_t id) const;
    std::string who_i(uint32_t ti) const { return who(id_of(ti)); }

    // (limit: reports'; its report order is picked in the same pass.)
    void find_warnings(analysis& a, size_t limit) {
        const int64_t thr = opt_.long_poll_ns;
        std::vector<bool> lost(tasks_.size(), false);

        // One pass over every task, reading the first cache line of most:
        // busy less the overlap of polls on two threads at once (counted
        // twice), scheduled time up to the end, spawns not in the capture,
        // and which tasks each finding below needs to look at.
        // Open waits per (resource, op), of tasks not done: "no other task waits to send on it".
        std::unordered_map<uint64_t, uint32_t> open_waiters[2];
        std::vector<uint32_t> idle, woken, selfish;
        for (const auto& [ti, x] : extra_) {
            task_state& T = tasks_[ti];
            T.busy -= std::min(T.busy, x.overlap);
        }
        tasks_.for_each([&](task_state& T, size_t i) {
            const uint32_t ti = uint32_t(i);
            if (limit > 0 && limit < tasks_.size()) pick(top_, limit, T.busy, ti);
            a.tasks_spawn_unseen += !T.spawn_seen;
            if (T.scheduled) T.sched_total = add_sat(T.sched_total, elapsed(T.sched_start, end_));
            if (!T.done && T.wait_open && op_slot(T.wait_op) >= 0) ++open_waiters[op_slot(T.wait_op)][T.wait_res];
            if (idle_at_end(T)) idle.push_back(ti);
            if (!(T.done || T.running || !T.scheduled || elapsed(T.sched_start, end_) < thr)) woken.push_back(ti);
            if (T.wakes >= self_wake_min_wakes && extra_of(ti).self_wakes * 2 > T.wakes) selfish.push_back(ti);
        });

        for (uint32_t ti : idle) {
            const task_state& T = tasks_[ti];
            const int64_t after = T.polled ? T.last_poll_end : T.first;
            analysis_warning w;
            w.kind = warning_kind::lost_wake;
            w.task = id_of(ti);
            w.task_name = name_of(ti);
            if (T.wait_ended_idle && T.wait_ended_at >= after && elapsed(T.wait_ended_at, end_) >= thr) {
                w.time_ns = T.wait_ended_at;
                w.duration_ns = elapsed(T.wait_ended_at, end_);
                w.at = best_loc(T.last_await, ti);
                w.resource = T.wait_ended_res;
                w.resource_name = res_name(T.wait_ended_res);
                w.message = who_i(ti) + ": its wait on \"" + w.resource_name + "\" was ended at " + secs(w.time_ns) +
                            " while it was suspended (at " + loc_text(w.at) + "), but no wake followed in the " +
                            dur(w.duration_ns) + " until the end of the capture";
            } else if (T.wait_open && op_slot(T.wait_op) >= 0 && !is_timer(T.wait_res)) {
                int same = op_slot(T.wait_op), comp = 1 - same;
                auto it = res_.find(T.wait_res);
                if (it == res_.end()) continue;
                const res_state& S = it->second;
                if (!S.has_op[comp] || S.last_op[comp] <= std::max(T.wait_begin, after)) continue;
                if (S.has_any[same] && S.last_any[same] >= S.last_op[comp]) continue;
                if (open_waiters[same][T.wait_res] > 1) continue;
                if (elapsed(S.last_op[comp], end_) < thr) continue;
                w.time_ns = S.last_op[comp];
                w.duration_ns = elapsed(S.last_op[comp], end_);
                w.at = best_loc(T.wait_at, ti);
                w.resource = T.wait_res;
                w.resource_name = res_name(T.wait_res);
                uint32_t by = S.last_op_task[comp];
                std::string cap = res_capacity(T.wait_res) ? " (capacity " + std::to_string(res_capacity(T.wait_res)) + ")" : "";
                w.message = who_i(ti) + " waits to " + (same == 0 ? "send on \"" : "receive from \"") + w.resource_name +
                            "\"" + cap + " at " + loc_text(w.at) + " since " + secs(T.wait_begin) + "; " +
                            (by == no_task ? std::string("code outside any task") : who_i(by)) +
                            (same == 0 ? " received from it" : " sent on it") + " at " + secs(w.time_ns) + " and no " +
                            (same == 0 ? "send" : "receive") + " followed, yet no wake came in the " +
                            dur(w.duration_ns) + " until the end of the capture";
            } else {
                continue;
            }
            lost[ti] = true;
            a.warnings.push_back(std::move(w));
        }

        find_deadlocks(a, idle, lost);

        for (auto& [ti, info] : long_polls_) {
            const task_state& T = tasks_[ti];
            analysis_warning w;
            w.kind = warning_kind::long_poll;
            w.task = id_of(ti);
            w.task_name = name_of(ti);
            w.time_ns = T.longest_at;
            w.duration_ns = T.longest;
            w.at = best_loc(T.longest_await, ti);
            w.ring = T.longest_ring;
            for (const site* s : T.longest_spans) w.spans.push_back(s ? printable(s->name) : "?");
            w.span_ns = T.longest_span;
            if (!T.longest_spans.empty()) w.span_at = loc(T.longest_spans.back());
            w.polls_over = extra_of(ti).polls_over;
            waits ws = info.waiting;
            std::sort(ws.begin(), ws.end(), [&](const auto& x, const auto& y) {
                return x.second != y.second ? x.second > y.second : id_of(x.first) < id_of(y.first);
            });
            for (auto& [v, ov] : ws) w.waiting.push_back({id_of(v), name_of(v), ov});
            w.waiting_total = info.total;
            stacks_of(info.samples, w);
            std::string m = who_i(ti) + ": a poll ran " + dur(w.duration_ns) + " on thread " + thread_text(w.ring) +
                            " from " + secs(w.time_ns);
            if (!w.spans.empty()) m += ", inside " + span_path(w.spans, w.span_ns, loc_text(w.span_at));
            if (T.longest_unfinished) m += ", and was still running at the end of the capture";
            else if (T.longest_await) m += ", then suspended at " + loc_text(w.at);
            else m += ", then ended without naming an await site";
            if (w.polls_over > 1) m += " (" + std::to_string(w.polls_over) + " of its polls ran over " + dur(thr) + ")";
            if (w.waiting.empty()) {
                m += "; no other woken task waited on it";
            } else {
                m += "; it kept " + std::to_string(w.waiting_total) + " woken task" + (w.waiting_total == 1 ? "" : "s") +
                     " waiting: ";
                for (size_t i = 0; i < w.waiting.size(); ++i)
                    m += (i ? ", " : "") + who(w.waiting[i].task) + " " + dur(w.waiting[i].waited_ns);
                if (w.waiting_total > w.waiting.size())
                    m += " and " + std::to_string(w.waiting_total - w.waiting.size()) + " more";
            }
            w.message = std::move(m);
            a.warnings.push_back(std::move(w));
        }

        for (uint32_t ti : woken) {
            const task_state& T = tasks_[ti];
            analysis_warning w;
            w.kind = warning_kind::woken_never_polled;
            w.task = id_of(ti);
            w.task_name = name_of(ti);
            w.time_ns = T.sched_start;
            w.duration_ns = elapsed(T.sched_start, end_);
            w.at = best_loc(T.last_await, ti);
            w.waker = T.waker;
            w.message = who_i(ti) + " was woken at " + secs(w.time_ns) + " by " +
                        (w.waker ? who(w.waker) : std::string("code outside any task")) + " and not polled in the " +
                        dur(w.duration_ns) + " until the end of the capture; " +
                        (T.last_await ? "it last suspended at " : "spawned at ") + loc_text(w.at);
            a.warnings.push_back(std::move(w));
        }

        for (uint32_t ti : selfish) {
            const task_state& T = tasks_[ti];
            analysis_warning w;
            w.kind = warning_kind::self_wake;
            w.task = id_of(ti);
            w.task_name = name_of(ti);
            const task_extra& x = extra_of(ti);
            w.time_ns = x.last_self_wake;
            w.at = best_loc(x.self_site, ti);
            w.wakes = T.wakes;
            w.self_wakes = x.self_wakes;
            char pct[16];
            std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * double(x.self_wakes) / double(T.wakes));
            w.message = who_i(ti) + " woke itself for " + std::to_string(x.self_wakes) + " of its " +
                        std::to_string(T.wakes) + " wakes (" + pct + "), the last at " + secs(w.time_ns) +
                        (x.self_site ? ", yielding at " + loc_text(w.at) : std::string()) +
                        ": it spins through the executor instead of waiting for an event" +
                        (x.self_site ? std::string()
                                     : "; where it yields is unknown: the poll that woke it named no await site");
            a.warnings.push_back(std::move(w));
        }

        for (const limit_hit& l : limits_) a.warnings.push_back(limit_warning(l));

        std::stable_sort(a.warnings.begin(), a.warnings.end(), [](const analysis_warning& x, const analysis_warning& y) {
            if (x.kind != y.kind) return x.kind < y.kind;
            if (x.time_ns != y.time_ns) return x.time_ns < y.time_ns;
            return x.task < y.task;
        });
    }

    analysis_warning limit_warning(const limit_hit& l) const {
        analysis_warning w;
        w.kind = warning_kind::untracked;
        w.task = l.first_task;
        w.task_name = l.first_task && model_->find_task(l.first_task) ? name_of(model_->find_task(l.first_task)->index) : "";
        w.time_ns = l.first_ns;  // (no line: the instant's own is the recorder's, not the program's)
        w.limit = printable(l.where->category) + "/" + printable(l.where->name);
        w.count = l.count;
        w.count_reported = l.reported;
        const std::string what = printable(l.where->name.substr(10));
        std::string m = "the recorder could not track " + std::to_string(l.count) + " " + what +
                        (l.count == 1 ? "" : "s") + " in this capture (" + w.limit + ", the first at " +
                        secs(l.first_ns) + ")";
        if (l.reported > l.count)
            m += "; " + std::to_string(l.reported) + " in all by the recorder's count, some before this capture's events";
        if (what == "task")
            m += "; a task it could not track never completes here: it is counted idle or running, not done";
        else if (what == "object")
            m += "; an I/O object it could not track has no owner: its next operations may start a task of their own";
        m += "; its table of them was full, or out of memory";
        w.message = std::move(m);
        return w;
    }

    std::vector<uint32_t> counterparts(uint32_t ti) const {
        const task_state& T = tasks_[ti];
        std::vector<uint32_t> out;
        if (res_.find(T.wait_res) == res_.end()) return out;
        const auto& set = doers_.at(T.wait_res)[T.wait_op == op_send ? 1 : 0];
        for (uint32_t u : set)
            if (u != ti && !tasks_[u].done) out.push_back(u);
        std::sort(out.begin(), out.end(), [&](uint32_t x, uint32_t y) { return id_of(x) < id_of(y); });
        return out;
    }

    // idle: the tasks idle at the end, in index order.
    void find_deadlocks(analysis& a, const std::vector<uint32_t>& idle, const std::vector<bool>& lost) {
        std::vector<uint32_t> stuck;
        for (uint32_t ti : idle) {
            const task_state& T = tasks_[ti];
            if (lost[ti] || !T.wait_open || op_slot(T.wait_op) < 0 || is_timer(T.wait_res)) continue;
            auto it = res_.find(T.wait_res);
            if (it == res_.end()) continue;
            if (T.wait_op == op_send ? it->second.outside_recv : it->second.outside_send) continue;
            stuck.push_back(ti);
        }
        if (stuck.empty()) return;
        std::vector<char> in(tasks_.size(), 0);
        for (uint32_t ti : stuck) in[ti] = 1;
        // Who sent on and who received from the resources they wait on.
        for (uint32_t ti : stuck) doers_[tasks_[ti].wait_res];
        if (!doers_.empty())
            for (uint32_t ui = 0; ui < tasks_.size(); ++ui)
                for (const res_touch& x : tasks_[ui].touched) {
                    auto it = doers_.find(x.res);
                    if (it == doers_.end()) continue;
                    if (x.ops & 1) it->second[0].push_back(ui);
                    if (x.ops & 2) it->second[1].push_back(ui);
                }
        std::unordered_map<uint32_t, std::vector<uint32_t>> edges;
        for (uint32_t ti : stuck) edges[ti] = counterparts(ti);
        for (bool changed = true; changed;) {
            changed = false;
            for (uint32_t ti : stuck) {
                if (!in[ti]) continue;
                const auto& cp = edges[ti];
                if (cp.empty() || std::any_of(cp.begin(), cp.end(), [&](uint32_t u) { return !in[u]; })) {
                    in[ti] = 0;
                    changed = true;
                }
            }
        }
        std::sort(stuck.begin(), stuck.end(), [&](uint32_t x, uint32_t y) { return id_of(x) < id_of(y); });
        // Walk from each kept task along its lowest-id counterpart; a walk that
        // comes back onto itself found a cycle, one that meets an earlier walk
        // did not. Every walk ends in a cycle (each kept task has a kept
        // counterpart): the tasks on the way are blocked behind that one.
        std::vector<int> walk(tasks_.size(), -1), cycle_of(tasks_.size(), -1);
        std::vector<std::vector<uint32_t>> cycles, behind;
        int n = 0;
        for (uint32_t start : stuck) {
            if (!in[start] || walk[start] >= 0) continue;
            std::vector<uint32_t> path;
            uint32_t v = start;
            while (walk[v] < 0) {
                walk[v] = n;
                path.push_back(v);
                v = edges[v].front();
            }
            auto from = path.end();
            int c;
            if (walk[v] == n) {
                from = std::find(path.begin(), path.end(), v);
                std::vector<uint32_t> cycle(from, path.end());
                auto low = std::min_element(cycle.begin(), cycle.end(),
                                            [&](uint32_t x, uint32_t y) { return id_of(x) < id_of(y); });
                std::rotate(cycle.begin(), low, cycle.end());
                c = int(cycles.size());
                for (uint32_t u : cycle) cycle_of[u] = c;
                cycles.push_back(std::move(cycle));
                behind.emplace_back();
            } else {
                c = cycle_of[v];
            }
            for (auto it = path.begin(); it != from; ++it) {
                cycle_of[*it] = c;
                behind[size_t(c)].push_back(*it);
            }
            ++n;
        }
        for (size_t c = 0; c < cycles.size(); ++c) {
            std::sort(behind[c].begin(), behind[c].end(), [&](uint32_t x, uint32_t y) { return id_of(x) < id_of(y); });
            a.warnings.push_back(deadlock_warning(cycles[c], behind[c], edges));
        }
    }

    deadlock_step step(uint32_t ti, std::unordered_map<uint32_t, std::vector<uint32_t>>& edges) const {
        const task_state& T = tasks_[ti];
        deadlock_step st;
        st.task = id_of(ti);
        st.task_name = name_of(ti);
        st.op = fmt::resource_op(T.wait_op);
        st.resource = T.wait_res;
        st.resource_name = res_name(T.wait_res);
        st.capacity = res_capacity(T.wait_res);
        st.at = best_loc(T.wait_at, ti);
        st.since_ns = T.wait_begin;
        for (uint32_t u : edges[ti]) st.counterparts.push_back(id_of(u));
        return st;
    }

    static std::string wait_text(const deadlock_step& st) {
        return std::string(st.op == fmt::resource_op::send ? "waits to send on \"" : "waits to receive from \"") +
               st.resource_name + "\"" + (st.capacity ? " (capacity " + std::to_string(st.capacity) + ")" : "") +
               " at " + loc_text(st.at) + " since " + secs(st.since_ns);
    }

    analysis_warning deadlock_warning(const std::vector<uint32_t>& cycle, const std::vector<uint32_t>& behind,
                                      std::unordered_map<uint32_t, std::vector<uint32_t>>& edges) const {
        analysis_warning w;
        w.kind = warning_kind::deadlock;
        const task_state& first = tasks_[cycle[0]];
        w.task = id_of(cycle[0]);
        w.task_name = name_of(cycle[0]);
        w.at = best_loc(first.wait_at, cycle[0]);
        w.resource = first.wait_res;
        w.resource_name = res_name(first.wait_res);
        std::string m;
        for (size_t i = 0; i < cycle.size(); ++i) {
            deadlock_step st = step(cycle[i], edges);
            w.time_ns = i ? std::max(w.time_ns, st.since_ns) : st.since_ns;
            m += (i ? ", which " : who_i(cycle[i]) + " ") + wait_text(st) + "; \"" + st.resource_name + "\" is " +
                 (st.op == fmt::resource_op::send ? "drained" : "fed") + " only by ";
            for (size_t k = 0; k < st.counterparts.size(); ++k)
                m += (k ? (k + 1 == st.counterparts.size() ? " and " : ", ") : "") + who(st.counterparts[k]);
            w.cycle.push_back(std::move(st));
        }
        m += ": none of them can run again";
        for (size_t i = 0; i < behind.size(); ++i) {
            deadlock_step st = step(behind[i], edges);
            m += (i ? "; and " : "; stuck behind them: ") + who_i(behind[i]) + ", which " + wait_text(st);
            w.blocked_behind.push_back(std::move(st));
        }
        w.message = "deadlock: " + m;
        return w;
    }

public:
    // Report order: busiest first, then by id. Only the first `limit` are
    // sorted (and returned).
    std::vector<uint32_t> report_order(size_t limit) const {
        std::vector<order_key> k;
        if (limit >= tasks_.size()) {
            k.resize(tasks_.size());
            model_->tasks.for_each([&](const tl::task& t, size_t i) { k[i] = {0, t.id, uint32_t(i)}; });
            tasks_.for_each([&](const task_state& T, size_t i) { k[i].busy = T.busy; });
            std::sort(k.begin(), k.end(), before);
        } else if (limit > 0) {
            tasks_.for_each([&](const task_state& T, size_t i) { pick(k, limit, T.busy, uint32_t(i)); });
            std::sort_heap(k.begin(), k.end(), before);
        }
        return ti_of(k);
    }

private:
    struct order_key {
        int64_t busy;
        uint64_t id;
        uint32_t ti;
    };
    static bool before(const order_key& x, const order_key& y) { return x.busy != y.busy ? x.busy > y.busy : x.id < y.id; }
    static std::vector<uint32_t> ti_of(const std::vector<order_key>& k) {
        std::vector<uint32_t> order(k.size());
        for (size_t i = 0; i < k.size(); ++i) order[i] = k[i].ti;
        return order;
    }
    // Task ti, with its busy time, into k: the best `limit` so far in a heap
    // whose top is the last of them. (The id, in the timeline's record, is
    // read only when needed.)
    void pick(std::vector<order_key>& k, size_t limit, int64_t busy, uint32_t ti) const {
        if (k.size() < limit) {
            k.push_back({busy, id_of(ti), ti});
            std::push_heap(k.begin(), k.end(), before);
        } else if (busy > k.front().busy || (busy == k.front().busy && id_of(ti) < k.front().id)) {
            std::pop_heap(k.begin(), k.end(), before);
            k.back() = {busy, id_of(ti), ti};
            std::push_heap(k.begin(), k.end(), before);
        }
    }
    std::vector<order_key> top_;  // finish(limit): the first `limit` tasks, picked by find_warnings' pass

public:
    // Task ti's report, into r (every field set: r may hold another task's).
    void fill_report(uint32_t ti, task_report& r) const {
        const task_state& T = tasks_[ti];
        const spawn_fields sp = spawn_of(ti);
        r.id = id_of(ti);
        r.name = site_name(sp.where);
        r.spawned_at = loc(sp.where);
        r.parent = sp.parent;
        r.frame_bytes = sp.frame;
        r.spawn_seen = T.spawn_seen;
        r.first_ns = T.first;
        r.last_ns = T.done ? T.done_at : end_;
        r.polls = T.polls;
        r.wakes = T.wakes;
        r.self_wakes = extra_of(ti).self_wakes;
        r.busy_ns = T.busy;
        r.scheduled_ns = T.sched_total;
        int64_t life = elapsed(r.first_ns, r.last_ns);
        r.idle_ns = std::max<int64_t>(0, life - std::min(life, T.busy) - std::min(life, T.sched_total));
        r.scheduled_count = T.sched.count();
        r.sched_p50_ns = T.sched.percentile(0.50, T.sched_max);
        r.sched_p99_ns = T.sched.percentile(0.99, T.sched_max);
        r.sched_max_ns = T.sched_max;
        r.sched_exact = T.sched.exact();
        const size_t nspans = T.has_longest ? T.longest_spans.size() : 0;
        r.longest_poll_spans.resize(nspans);
        if (T.has_longest) {
            r.longest_poll_ns = T.longest;
            r.longest_poll_at_ns = T.longest_at;
            r.longest_poll_ring = T.longest_ring;
            r.longest_poll_unfinished = T.longest_unfinished;
            r.longest_poll_await = loc(T.longest_await);
            for (size_t i = 0; i < nspans; ++i) {
                const site* s = T.longest_spans[i];
                if (s) r.longest_poll_spans[i] = site_name(s);
                else r.longest_poll_spans[i] = "?";
            }
            r.longest_poll_span_ns = T.longest_span;
            r.longest_poll_span_at = T.longest_spans.empty() ? code_location() : loc(T.longest_spans.back());
        } else {
            r.longest_poll_ns = 0;
            r.longest_poll_at_ns = 0;
            r.longest_poll_ring = 0;
            r.longest_poll_unfinished = false;
            r.longest_poll_await = code_location();
            r.longest_poll_span_ns = 0;
            r.longest_poll_span_at = code_location();
        }
        r.state = T.done ? task_end_state::done
                  : T.running ? task_end_state::running
                  : T.scheduled ? task_end_state::scheduled
                                : task_end_state::idle;
    }

private:
    void reports(analysis& a, size_t limit) {
        std::vector<uint32_t> order;
        if (limit < tasks_.size()) {  // (find_warnings picked them)
            std::sort_heap(top_.begin(), top_.end(), before);
            order = ti_of(top_);
        } else {
            order = report_order(limit);
        }
        a.tasks.resize(order.size());
        for (size_t i = 0; i < order.size(); ++i) fill_report(order[i], a.tasks[i]);
        const int64_t span = elapsed(a.start_ns, a.end_ns);
        for (uint32_t r = 0; r < rings_.size(); ++r) {
            const ring_state& R = rings_[r];
            if (!R.npolls) continue;
            thread_report t;
            t.ring = r;
            if (r < c_.threads().size()) {
                t.tid = c_.threads()[r].tid;
                t.name = printable(c_.threads()[r].name);
            }
            t.polls = R.npolls;
            t.busy_ns = R.busy;
            t.busy_fraction = span > 0 ? std::min(1.0, double(R.busy) / double(span)) : 0;
            t.longest_poll_ns = R.longest;
            t.longest_poll_at_ns = R.longest_at;
            t.longest_poll_task = R.longest_task;
            a.threads.push_back(std::move(t));
        }
    }

    std::string thread_text(uint32_t r) const {
        std::string s = "T" + std::to_string(r);
        if (r < c_.threads().size() && !c_.threads()[r].name.empty()) s += " \"" + printable(c_.threads()[r].name) + "\"";
        return s;
    }

private:
    const capture& c_;
    const analyze_options& opt_;
    const tl::model* model_ = nullptr;
    bool any_ = false;
    int64_t start_ = 0, end_ = 0;  // the first event and the end of the capture (closing())
    stable_vec<task_state> tasks_;  // by the timeline's task index
    std::vector<ring_state> rings_;  // by thread
    small_vec<uint32_t, 16> active_;            // threads inside a poll, in the order they entered
    small_vec<uint32_t, 16> scheduled_;         // tasks woken and not yet polled (task_state::sched_pos); its push inline
    std::unordered_map<uint64_t, res_state> res_;
    uint64_t last_res_id_ = 0;   // the resource of the last resource event (0: none yet)
    res_state* last_res_ = nullptr;
    std::unordered_map<uint64_t, std::array<std::vector<uint32_t>, 2>> doers_;  // deadlock search: senders, receivers
    mutable std::vector<site_text> site_text_;  // by index in c_.sites()
    mutable site_text other_text_;
    std::unordered_map<uint32_t, long_poll_info> long_polls_;
    std::unique_ptr<stall_symbolizer> sym_;  // made for the first long poll with stall samples
    std::vector<limit_hit> limits_;  // the recorder's untracked_* instants, by site
};

}  // namespace

// ---- text shared by the rules' messages and the reports --------------------------------

namespace an {

int64_t elapsed(int64_t from, int64_t to) {
    if (to <= from) return 0;
    uint64_t d = uint64_t(to) - uint64_t(from);
    return d > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(d);
}

std::string secs(int64_t ns) {
    char b[48];
    std::snprintf(b, sizeof b, "%.6f s", double(ns) / 1e9);
    return b;
}

std::string loc_text(const code_location& l) {
    if (l.line == 0 && l.file.empty()) return "?";
    return l.file + ":" + std::to_string(l.line);
}

std::string span_path(const std::vector<std::string>& spans, int64_t last_ns, const std::string& at) {
    std::string s;
    for (size_t i = 0; i < spans.size(); ++i) s += (i ? " > " : "") + spans[i];
    std::string note = last_ns > 0 ? dur(last_ns) : "";
    if (!at.empty() && at != "?") note += (note.empty() ? "" : " at ") + at;
    if (!note.empty()) s += " (" + note + ")";
    return s;
}

// 3 significant digits with a unit: 950 ns, 12.3 us, 4.56 ms, 1.20 s.
std::string dur(int64_t ns) {
    char b[48];
    if (ns < 1000) {
        std::snprintf(b, sizeof b, "%" PRId64 " ns", ns);
        return b;
    }
    double v = double(ns);
    double p = std::pow(10.0, std::floor(std::log10(v)) - 2);
    v = std::round(v / p) * p;  // 3 significant digits, before choosing the unit
    const char* unit = "s";
    double x = v / 1e9;
    if (v < 1e6) unit = "us", x = v / 1e3;
    else if (v < 1e9) unit = "ms", x = v / 1e6;
    if (x >= 1000) std::snprintf(b, sizeof b, "%.0f %s", x, unit);
    else if (x >= 100) std::snprintf(b, sizeof b, "%.0f %s", x, unit);
    else if (x >= 10) std::snprintf(b, sizeof b, "%.1f %s", x, unit);
    else std::snprintf(b, sizeof b, "%.2f %s", x, unit);
    return b;
}

}  // namespace an

namespace {

// "task 7 \"producer\"" (or `task 7` when its spawn is not in the capture).
std::string analyzer::who(uint64_t id) const {
    std::string s = "task " + std::to_string(id);
    uint32_t ti;
    if (task_index(id, ti)) {
        const std::string& n = name_of(ti);
        if (!n.empty()) s += " \"" + n + "\"";
    }
    return s;
}

}  // namespace

// ---- the rules over one input, for the reports ----------------------------------------

namespace an {

struct rules::impl {
    analyze_options opt;
    analyzer z;
    tl::timeline<analyzer> t;
    read_stats stats;
    impl(const capture& c, const analyze_options& o) : opt(o), z(c, opt), t(c, z) { z.begin(t); }
};

result<std::unique_ptr<rules>> rules::run(const input& in, const analyze_options& opt) {
    std::unique_ptr<rules> r(new rules());
    r->p_ = std::make_unique<impl>(*in.cap, opt);
    auto pass = tl::run(in, r->p_->t);
    if (pass.is_error()) return pass.err();
    r->p_->stats = std::move(pass.value());
    return r;
}

rules::rules() = default;
rules::~rules() = default;
analysis rules::finish(size_t limit) { return p_->z.finish(p_->stats, limit); }
size_t rules::task_count() const { return p_->z.task_count(); }
std::vector<uint32_t> rules::report_order(size_t limit) const { return p_->z.report_order(limit); }
void rules::fill_report(uint32_t task, task_report& r) const { p_->z.fill_report(task, r); }
bool rules::task_index(uint64_t id, uint32_t& task) const { return p_->z.task_index(id, task); }

}  // namespace an

result<analysis> analyze(const input& in, const analyze_options& opt) {
    auto r = an::rules::run(in, opt);
    if (r.is_error()) return r.err();
    return r.value()->finish(SIZE_MAX);
}

}  // namespace bbx::dec
