// The timeline: the one model every converter and the analysis write out
// (decoder-internal). Shape as pandoc's document tree or Perfetto's trace
// processor tables: read -> filter -> timeline -> writers. A writer that
// re-pairs events or re-reads the capture would be a second model growing.
//
// The timeline turns the (filtered) events of one capture into:
//   - threads: their ids and names as they change, their latest time, and
//     the spans and polls open on each, innermost last;
//   - tasks: each created by the first event that names it (an index in
//     order of first sight), with the spawn site that names it, its parent
//     and frame size: from that first event when it was its spawn, else
//     (1.4) from the capture's task table, which outlives the spawn event's
//     overwrite (spec/identities.md); and its open waits;
//   - slices: spans and polls paired by the one rule of pairing.hpp, at most
//     max_depth open per thread (deeper begins are hidden with their ends);
//     an end closes the innermost open begin of its site (span) or task
//     (poll), and what opened inside it and never ended is cut there; what is
//     open at the end of the capture ends there, unfinished, at its thread's
//     last time;
//   - waits: a wait_end closes its task's innermost open wait on the same
//     resource and operation (cutting those inside it), at most max_waits
//     open per task; waits open at the end end at the capture's last time;
//   - flows, for a writer that draws them (Sink::wants_flows): each wake
//     starts a flow (numbered 1, 2, ... per capture) unless its task already
//     has max_pending_flows waiting; the task's next poll begin ends them
//     all. A poll hidden by the depth cap drops them;
//   - identities: a span_context names the innermost open span of its
//     thread (polls are not spans), the first one winning. (1.4) A span
//     context still open at the end whose span_context event is not in the
//     capture (overwritten) encloses everything the thread recorded after
//     it: the innermost such one is the thread's `inherited` identity,
//     known from its first event on;
//   - stall samples (1.4): each is handed to the sink on its thread between
//     the events before it and the events after it, so the slices open on
//     the thread then are the ones it was taken in (those after the
//     thread's last event: before the end of the capture closes them);
//   - the time range of the events, and (from the read pass) the losses.
//
// It streams, as the reader does: memory grows with threads, open slices
// and tasks, never with events. A writer is a sink: a class deriving from
// tl::sink that hides the callbacks it wants (timeline<Sink> calls them
// directly, so nothing is virtual on the per-event path). Callbacks get the
// model's objects, which stay valid until the end (a slice: until its
// slice_end returns), and the event where one caused the callback.
#pragma once

#include <climits>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bbx/decoder/capture.hpp"
#include "bbx/decoder/filter.hpp"
#include "containers.hpp"
#include "pairing.hpp"

namespace bbx::dec::tl {

namespace fmt = ::bbx::format;

using pairing::max_depth;                       // open slices per thread
inline constexpr size_t max_waits = 64;         // open waits per task
inline constexpr uint32_t max_pending_flows = 4;  // wakes before a poll that each get a flow to it
inline constexpr size_t npos = size_t(-1);

enum class slice_kind : uint8_t { span, poll };

// How a slice or wait ended.
enum class end_how : uint8_t {
    ended,       // by its end event
    cut,         // an enclosing one ended first (its own end is not in the capture): it ends then too
    unfinished,  // still open at the end of the capture
};

// An open span or poll on a thread.
struct slice {
    slice_kind kind = slice_kind::span;
    uint32_t task = 0;            // poll: the task's index
    struct task* owner = nullptr;  // poll: the task (model::tasks[task])
    const site* where = nullptr;  // span: its site (a poll's await site comes with its end)
    uint64_t ticks = 0;           // the begin's
    int64_t begin_ns = 0;
    uint64_t ordinal = 0;         // span: the span begins on its thread before it (hidden ones too)
    bool identified = false;      // span: a span_context named it
    span_identity identity{};
    // To 128 bytes: t.open.size(), asked on every begin and end, is then a
    // shift, not a division by 104.
    unsigned char pad_[24] = {};
};
static_assert(sizeof(slice) == 128);

struct thread {
    uint32_t index = 0;                  // in capture::threads()
    const thread_info* info = nullptr;   // as the capture's metadata describes it
    std::string name;                    // its latest name: the metadata's, then each thread_name event's
    int64_t last_ns = INT64_MIN;         // its latest event so far
    std::vector<slice> open;             // open spans and polls, innermost last
    uint64_t hidden = 0;                 // open begins past max_depth: not delivered, nor their ends
    uint64_t span_begins = 0;            // span begins so far, hidden ones too
    // 1.4: the innermost span context still open at the end whose
    // span_context event came before the thread's first event here (it was
    // overwritten): every span of the thread here is inside its span.
    // Null: none. Set at the thread's first event.
    const open_context* inherited = nullptr;
    size_t next_sample = 0, end_sample = 0;  // its stall samples not yet delivered (capture::stall_samples())
    // An event of the thread later than this takes the slow path: its first
    // event (INT64_MIN until then), or one with a stall sample to deliver
    // before it (the next sample's time; INT64_MAX: none left). One compare
    // per event instead of two (and the struct is 128 bytes: an index is a shift).
    int64_t attention_ns = INT64_MIN;

    // The innermost open span at or below depth `below` (exclusive), polls
    // skipped: its depth in `open`, or npos.
    size_t span_under(size_t below) const {
        for (size_t k = below; k > 0; --k)
            if (open[k - 1].kind == slice_kind::span) return k - 1;
        return npos;
    }
    size_t innermost_span() const { return span_under(open.size()); }
};

struct wait {
    uint64_t resource = 0, op = 0;
    uint32_t thread = 0;          // the thread its wait_begin was on
    const site* at = nullptr;     // the await site
    int64_t begin_ns = 0;
};

// (Ordered so that nothing pads it: a capture may have millions.)
struct task {
    uint64_t id = 0;
    uint32_t index = 0;
    bool seen_at_spawn = false;      // the first event naming it was its spawn (task_seen's e.spawn is valid)
    // 1.4: its spawn is not in the capture, but the task table named it:
    // named_by, parent, frame_bytes and spawn_ns come from the table.
    bool from_table = false;
    bool waits_grown = false;        // waits outgrew its inline room (in model::grown_)
    const site* named_by = nullptr;  // its spawn site: from its spawn event, or (1.4) the task table
    uint64_t parent = 0, frame_bytes = 0;  // as its spawn said (spawn event or table); 0: unknown
    int64_t spawn_ns = 0;                  // when it was spawned (seen_at_spawn or from_table)
    small_vec<wait, 1> waits;        // open, innermost last
    // The writer's own record of the task, when it keeps one (set in its
    // task_seen): reached from the task (and a poll's slice) without an
    // index lookup of its own on every event.
    void* sink_data = nullptr;
};
static_assert(sizeof(task) == 104);

// The callbacks a writer may hide (defaults do nothing). `t` is the thread of
// the event (for the ends at the end of the capture: the slice's thread, or
// the thread the wait began on).
struct sink {
    // Wake flows numbered and handed to wake() and slice_begin() (else 0 and none).
    static constexpr bool wants_flows = false;
    void renamed(thread&, const event&) {}                  // a thread_name event; t.name is the new name
    // A span or poll began; flows_in: the wake flows a poll begin ends.
    void slice_begin(thread&, slice&, const event&, std::span<const uint64_t> /*flows_in*/) {}
    // A slice ends (still on top of t.open). await: a poll's await site, from its end event.
    void slice_end(thread&, const slice&, int64_t /*ns*/, end_how, const site* /*await*/) {}
    void lone_end(thread&, slice_kind, const event&) {}     // a span_end or poll_end whose begin is not in the capture
    void identified(thread&, slice&, const event&) {}       // a span_context named this span
    void instant(thread&, const event&) {}
    void counter(thread&, const event&) {}
    void crash(thread&, const event&) {}
    void stall_sample(thread&, const dec::stall_sample&) {}       // a native stack sampled in what is open on t now
    void task_seen(thread&, task&, const event&) {}         // the first event naming the task (before its own callback)
    void spawn(thread&, task&, const event&) {}
    void complete(thread&, task&, const event&) {}
    void wake(thread&, task&, const event&, uint64_t /*flow: 0 none*/) {}
    void wait_begin(thread&, task&, const wait* /*null: past max_waits, not kept*/, const event&) {}
    void wait_end(thread&, task&, const wait&, int64_t /*ns*/, end_how) {}
    void lone_wait_end(thread&, task&, const event&) {}     // no open wait of the task matches it
    void resource_op(thread&, task* /*null: task id 0*/, const event&) {}
    // At the end of the capture, before what is open is closed.
    template <class Timeline>
    void closing(Timeline&) {}
};

// What every writer sees of one capture once its events are in.
struct model {
    const capture* cap = nullptr;
    std::vector<thread> threads;
    stable_vec<task> tasks;
    uint64_t flows = 0;                       // flows started (when the writer wants them)
    int64_t first_ns = INT64_MAX, last_ns = INT64_MIN;  // the earliest and latest event (first > last: none)
    uint64_t events = 0;
    uint64_t task_events = 0;                 // of the task kinds (16..23), task id 0 too

    explicit model(const capture& c) : cap(&c), threads(c.threads().size()) {
        for (size_t i = 0; i < threads.size(); ++i) {
            threads[i].index = uint32_t(i);
            threads[i].info = &c.threads()[i];
            threads[i].name = c.threads()[i].name;
        }
        const auto& samples = c.stall_samples();  // by thread, then time
        for (size_t i = 0; i < samples.size(); ++i) {
            thread& t = threads[samples[i].thread];
            if (t.next_sample == t.end_sample) t.next_sample = i;
            t.end_sample = i + 1;
        }
    }
    model(const model&) = delete;
    model& operator=(const model&) = delete;
    // Only the stall samples the filter keeps, as dump lists them: those of
    // its threads, inside its window (run() calls this before the events).
    void keep_samples(const event_filter& f) {
        const auto& s = cap->stall_samples();
        for (thread& t : threads) {
            if (!f.keeps_thread(t.index)) {
                t.next_sample = t.end_sample;
                continue;
            }
            while (t.next_sample != t.end_sample && s[t.next_sample].ns < f.since_ns()) ++t.next_sample;
            while (t.end_sample != t.next_sample && s[t.end_sample - 1].ns > f.until_ns()) --t.end_sample;
        }
    }
    // Only the tasks whose waits allocated are destroyed one by one:
    // visiting every task to find them cost a cache miss a task.
    ~model() {
        for (task* k : grown_) k->waits.release();
        tasks.forget();
    }
    // The latest time of any thread: where waits open at the end end.
    int64_t threads_last_ns() const {
        int64_t l = INT64_MIN;
        for (const thread& t : threads) l = t.last_ns > l ? t.last_ns : l;
        return l;
    }
    const task* find_task(uint64_t id) const {
        uint32_t i;
        return index_.find(id, i) ? &tasks[i] : nullptr;
    }

protected:
    id_index index_;
    std::vector<std::pair<uint64_t, task*>> last_task_;  // per thread: its last task (id, record)
    std::vector<task*> grown_;                            // the tasks whose waits allocated (task::waits_grown)
    uint64_t open_waits_ = 0;                             // of every task, now
};

template <class Sink>
class timeline : public model {
public:
    timeline(const capture& c, Sink& s) : model(c), nthreads_(threads.size()), sink_(s) {
        last_task_.assign(threads.size(), {0, nullptr});
    }

    void on(const event& e) {
        static_assert(uint8_t(fmt::kind::task_spawn) == fmt::kind_first_task &&
                      uint8_t(fmt::kind::resource_op) == fmt::kind_last_task &&
                      fmt::kind_last_task - fmt::kind_first_task == 7);  // the eight task cases below
        if (e.thread >= nthreads_) [[unlikely]] return;  // the reader yields threads of the capture only
        thread& t = threads.data()[e.thread];
        if (e.ns > t.attention_ns) [[unlikely]] attention(t, e);
        t.last_ns = e.ns;
        ++events;
        if (e.ns < first_ns) first_ns = e.ns;
        if (e.ns > last_ns) last_ns = e.ns;
        switch (e.kind) {
            case fmt::kind::span_begin: return span_begin(t, e);
            case fmt::kind::span_end: return span_end(t, e);
            case fmt::kind::instant: return e.where ? sink_.instant(t, e) : void();
            case fmt::kind::counter: return e.where ? sink_.counter(t, e) : void();
            case fmt::kind::thread_name:
                t.name.assign(e.thread_name);
                return sink_.renamed(t, e);
            case fmt::kind::span_context: return context(t, e);
            case fmt::kind::crash: return sink_.crash(t, e);
            // The eight task kinds (16..23), in the same switch: a second
            // switch on them cost 8 instructions a task event.
            case fmt::kind::task_spawn:
                if (task* k = task_event(t, e)) sink_.spawn(t, *k, e);
                return;
            case fmt::kind::task_complete:
                if (task* k = task_event(t, e)) sink_.complete(t, *k, e);
                return;
            case fmt::kind::task_wake:
                if (task* k = task_event(t, e)) wake(t, *k, e);
                return;
            case fmt::kind::task_poll_begin:
                if (task* k = task_event(t, e)) poll_begin(t, *k, e);
                return;
            case fmt::kind::task_poll_end:
                if (task* k = task_event(t, e)) poll_end(t, *k, e);
                return;
            case fmt::kind::wait_begin:
                if (task* k = task_event(t, e)) wait_begin(t, *k, e);
                return;
            case fmt::kind::wait_end:
                if (task* k = task_event(t, e)) wait_end(t, *k, e);
                return;
            case fmt::kind::resource_op:  // the one task kind that means something without a task (id 0)
                return sink_.resource_op(t, task_event(t, e), e);
            default: return;
        }
    }

    // The end of the capture: slices open on each thread end at its last
    // time, innermost first; then waits still open, task by task, at the
    // latest time of any thread.
    void finish() {
        for (thread& t : threads) samples_until(t, INT64_MAX);
        sink_.closing(*this);
        for (thread& t : threads)
            while (!t.open.empty()) {
                sink_.slice_end(t, t.open.back(), t.last_ns, end_how::unfinished, nullptr);
                t.open.pop_back();
            }
        const int64_t end = threads_last_ns();
        if (open_waits_ == 0) return;  // (most captures: no pass over every task for none)
        tasks.for_each([&](task& k, size_t) {
            while (!k.waits.empty()) {
                const wait& w = k.waits.back();
                sink_.wait_end(threads[w.thread], k, w, end, end_how::unfinished);
                k.waits.pop_back();
            }
        });
    }

private:
    [[gnu::noinline]] void attention(thread& t, const event& e) {
        if (t.last_ns == INT64_MIN) first_event(t, e);
        samples_until(t, e.ns);
        t.attention_ns = t.next_sample != t.end_sample ? cap->stall_samples()[t.next_sample].ns : INT64_MAX;
    }

    void samples_until(thread& t, int64_t ns) {
        const auto& samples = cap->stall_samples();
        while (t.next_sample != t.end_sample && samples[t.next_sample].ns < ns) sink_.stall_sample(t, samples[t.next_sample++]);
    }

    // An event of a task kind: counted; its task, or null for "no task" (id 0).
    [[gnu::always_inline]] task* task_event(thread& t, const event& e) {
        ++task_events;
        if (!e.task) return nullptr;
        auto& last = last_task_[t.index];
        if (last.first == e.task) [[likely]] return last.second;
        return &task_of(t, e);
    }

    void wake(thread& t, task& k, const event& e) {
        uint64_t flow = 0;
        if constexpr (Sink::wants_flows) {
            pending_flows& p = pending_[k.index];
            if (p.n < max_pending_flows) p.ids[p.n++] = flow = ++flows;
        }
        sink_.wake(t, k, e, flow);
    }

    // The task of e (not the thread's last one), made at its first event.
    [[gnu::noinline]] task& task_of(thread& t, const event& e) {
        auto& last = last_task_[t.index];
        bool added;
        const uint32_t i = index_.find_or_add(e.task, uint32_t(tasks.size()), added);
        if (!added) {
            last = {e.task, &tasks[i]};
            return *last.second;
        }
        task& k = tasks.emplace_back();
        last = {e.task, &k};
        k.id = e.task;
        k.index = i;
        if (e.kind == fmt::kind::task_spawn) {
            k.named_by = e.where;
            k.seen_at_spawn = true;
            k.parent = e.spawn.parent;
            k.frame_bytes = e.spawn.frame_bytes;
            k.spawn_ns = e.ns;
        } else if (const task_identity* ti = cap->find_task_identity(e.task)) {
            k.named_by = ti->where;
            k.from_table = true;
            k.parent = ti->parent;
            k.frame_bytes = ti->frame_bytes;
            k.spawn_ns = cap->ticks_to_ns(ti->spawn_ticks);
        }
        if constexpr (Sink::wants_flows) pending_.emplace_back();
        sink_.task_seen(t, k, e);
        return k;
    }

    // A thread's first event: the innermost span context still open whose
    // span_context event is older (overwritten) is the thread's inherited one.
    void first_event(thread& t, const event& e) {
        for (const open_context& c : cap->open_contexts(t.index))
            if (c.ticks < e.ticks && (!t.inherited || c.depth > t.inherited->depth)) t.inherited = &c;
    }

    void span_begin(thread& t, const event& e) {
        if (!e.where) return;
        const uint64_t ordinal = t.span_begins++;
        if (t.open.size() >= max_depth) {
            ++t.hidden;
            return;
        }
        slice& s = t.open.emplace_back();
        s.kind = slice_kind::span;
        s.where = e.where;
        s.ticks = e.ticks;
        s.begin_ns = e.ns;
        s.ordinal = ordinal;
        sink_.slice_begin(t, s, e, {});
    }

    // Ends the slice at depth k - 1 (1-based k from pairing::find_begin) and
    // cuts the ones above it.
    void end_at(thread& t, size_t k, int64_t ns, const site* await) {
        if (t.open.size() > k) [[unlikely]] cut_above(t, k, ns);
        sink_.slice_end(t, t.open.back(), ns, end_how::ended, await);
        t.open.pop_back();
    }
    [[gnu::noinline]] void cut_above(thread& t, size_t k, int64_t ns) {
        while (t.open.size() > k) {
            sink_.slice_end(t, t.open.back(), ns, end_how::cut, nullptr);
            t.open.pop_back();
        }
    }

    void span_end(thread& t, const event& e) {
        if (!e.where) return;
        if (t.hidden) {
            --t.hidden;
            return;
        }
        const size_t k = pairing::find_begin(t.open, t.open.size(),
                                             [&](const slice& s) { return s.kind == slice_kind::span && s.where == e.where; });
        if (k == pairing::none) return sink_.lone_end(t, slice_kind::span, e);
        end_at(t, k, e.ns, nullptr);
    }

    void poll_begin(thread& t, task& k, const event& e) {
        if (t.open.size() >= max_depth) {
            ++t.hidden;
            if constexpr (Sink::wants_flows) pending_[k.index].n = 0;
            return;
        }
        slice& s = t.open.emplace_back();
        s.kind = slice_kind::poll;
        s.task = k.index;
        s.owner = &k;
        s.ticks = e.ticks;
        s.begin_ns = e.ns;
        std::span<const uint64_t> in;
        if constexpr (Sink::wants_flows) {
            pending_flows& p = pending_[k.index];
            in = std::span<const uint64_t>(p.ids, p.n);
            p.n = 0;
        }
        sink_.slice_begin(t, s, e, in);
    }

    void poll_end(thread& t, task& k, const event& e) {
        if (t.hidden) {
            --t.hidden;
            return;
        }
        const uint32_t ki = k.index;
        const size_t n = pairing::find_begin(t.open, t.open.size(),
                                             [&](const slice& s) { return s.kind == slice_kind::poll && s.task == ki; });
        if (n == pairing::none) return sink_.lone_end(t, slice_kind::poll, e);
        end_at(t, n, e.ns, e.where);
    }

    void context(thread& t, const event& e) {
        if (t.hidden) return;  // the innermost open span is not kept
        const size_t d = t.innermost_span();
        if (d == npos) return;  // no span open: it names nothing
        slice& s = t.open[d];
        if (s.identified) return;  // the first one wins
        s.identified = true;
        s.identity = e.context;
        sink_.identified(t, s, e);
    }

    void wait_begin(thread& t, task& k, const event& e) {
        if (k.waits.size() >= max_waits) return sink_.wait_begin(t, k, nullptr, e);
        k.waits.push_back(wait{e.res.id, e.res.op, t.index, e.where, e.ns});
        ++open_waits_;
        if (k.waits.on_heap() && !k.waits_grown) [[unlikely]] {
            k.waits_grown = true;
            grown_.push_back(&k);
        }
        sink_.wait_begin(t, k, &k.waits.back(), e);
    }

    void wait_end(thread& t, task& k, const event& e) {
        size_t n = k.waits.size();
        while (n > 0 && (k.waits[n - 1].resource != e.res.id || k.waits[n - 1].op != e.res.op)) --n;
        if (n == 0) return sink_.lone_wait_end(t, k, e);
        open_waits_ -= k.waits.size() - (n - 1);
        while (k.waits.size() > n) {
            sink_.wait_end(t, k, k.waits.back(), e.ns, end_how::cut);
            k.waits.pop_back();
        }
        sink_.wait_end(t, k, k.waits.back(), e.ns, end_how::ended);
        k.waits.pop_back();
    }

    // A task's wakes since its last poll began, by task index (the flows
    // they started); kept only for a writer that draws flows.
    struct pending_flows {
        uint32_t n = 0;
        uint64_t ids[max_pending_flows];
    };
    stable_vec<pending_flows> pending_;
    const size_t nthreads_;  // threads.size(), which divides by sizeof(thread) on every event
    Sink& sink_;
};

// Reads in's events into a timeline that calls s; then finish(). The model
// stays for the caller to read (tasks, time range) until it goes.
template <class Sink>
result<read_stats> run(const input& in, timeline<Sink>& tl) {
    if (in.filter) tl.keep_samples(*in.filter);
    auto r = in.read([&](const event& e) { tl.on(e); });
    if (!r.is_error()) tl.finish();
    return r;
}

}  // namespace bbx::dec::tl
