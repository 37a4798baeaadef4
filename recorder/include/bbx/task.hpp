// blackbox async task events: what an executor or a coroutine task type
// records so that `bbx analyze` can tell which tasks ran, how long a woken
// task waited, which poll blocked its thread, and which tasks deadlocked.
//
// Quick start for an executor (examples/async/ has a complete one):
//
//     bbx::task_id id = bbx::new_task_id();
//     BBX_TASK_SPAWN("handle_request", id, bbx::current_task(), sizeof(frame));
//     bbx::task_wake(id);                       // made runnable (by whoever runs now)
//     { bbx::poll_scope poll(id); handle.resume(); }   // poll begin .. poll end
//     bbx::task_complete(id);                   // at final_suspend
//
// and, where a task suspends, bbx::note_await() (the coroutine mixin in
// bbx/coro.hpp does this for every co_await, with its source line).
//
// Task events are recorded at level BBX_TASK_LEVEL (default INFO): removed
// from the binary when BBX_LEVEL_MAX is below it, disabled at run time when
// the level is. Each costs about what an instant event costs.
#pragma once

#include "bbx/bbx.hpp"

#ifndef BBX_TASK_LEVEL
#define BBX_TASK_LEVEL BBX_LEVEL_INFO
#endif

#if BBX_LEVEL_MAX >= BBX_TASK_LEVEL
#define BBX_DETAIL_TASKS_ON 1
#else
#define BBX_DETAIL_TASKS_ON 0
#endif

namespace bbx {

using task_id = uint64_t;          // 0 means "no task"
using resource_id = uint64_t;      // 0 means "no resource"
using format::resource_op;

enum class resource_kind : uint8_t { channel = 0, mutex = 1, timer = 2, other = 3 };

// A source location for an await site. Filled by default arguments
// (__builtin_FILE and friends, which g++ and clang 14 both have, unlike
// std::source_location), so callers write nothing.
struct await_location {
    const char* file;
    const char* function;
    uint32_t line;
    static constexpr await_location current(const char* file = __builtin_FILE(),
                                            const char* function = __builtin_FUNCTION(),
                                            uint32_t line = __builtin_LINE()) {
        return {file, function, line};
    }
};

// A new task id, unique in the process. Lock-free: ids come from a per-thread
// block of 4096, refilled with one atomic add. Thread-safe; not signal-safe.
BBX_API task_id new_task_id();

// The task this thread is polling now, or 0. Thread-safe, signal-safe.
BBX_API task_id current_task();

// Registers a channel, lock or timer so that waits on it can be named; writes
// its metadata once (cold path, takes a lock). Returns 0 when not recording.
BBX_API resource_id register_resource(resource_kind kind, const char* name, uint64_t capacity = 0);

namespace detail {

struct task_thread_state {
    task_id current;        // the task being polled on this thread
    uint32_t pending_site;  // the await site noted by the task before it suspended
    // Polls open on this thread (poll_begin_event .. poll_end_event), written
    // or not: a ring taken while one is open lacks its poll_begin.
    uint32_t polls;
};
extern BBX_API constinit thread_local task_thread_state t_task;

BBX_API uint32_t await_site(const await_location& loc, uint32_t session);  // cache, then registration

// A poll event of this thread's ring was lost (not written while its partner
// is or may be): from here the ring writes only explicit forms, its time
// bases name format::v2::unknown_task, and one goes before its next event
// (spec/events.md, "The current task"). Cold.
BBX_API void poll_event_lost();
inline void note_poll_lost() {
    if (t_ring.implicit_task != implicit_unknown) poll_event_lost();  // (once: it stays unknown)
}

// The task table (spec/identities.md): a spawn claims an entry, a
// completion marks it. Cold: only spawn and complete call them.
BBX_API void note_spawn(uint32_t session, uint32_t site, task_id task, task_id parent, uint64_t frame_bytes,
                        uint32_t slots_written);
BBX_API void note_complete(uint32_t session, task_id task);

inline uint64_t task_gate() {
#if BBX_DETAIL_TASKS_ON
    return gate_open(BBX_TASK_LEVEL);
#else
    return 0;
#endif
}

// A task event that names a task (the waker, the waiting task) beside its B
// word: the implicit form (1 slot; a reader takes the ring's current task)
// when `task` is the task a reader takes as current at this ring's write
// position (t_ring.implicit_task), else the explicit `_for` form (2 slots,
// the task in the continuation). Decided after the ring is acquired: a new
// ring has no poll open.
[[gnu::always_inline]] inline bool emit_task(format::kind implicit_kind, format::kind explicit_kind, uint32_t site,
                                            uint64_t gate, uint64_t b, task_id task) {
    thread_ring* r = &t_ring;
    if (__builtin_expect(r->session != uint32_t(gate >> 8), 0)) {
        if (!acquire_ring(gate)) return false;
    }
    const uint64_t ticks = now_ticks();
    if (task == r->implicit_task && task != implicit_unknown)
        return write_event_units(r, implicit_kind, site, ticks, b, 0, [](uint32_t) { return uint64_t{0}; });
    return write_event_units(r, explicit_kind, site, ticks, b, 1, [task](uint32_t) { return task; });
}

// A wait or resource_op: B = resource | op << 56. A resource id past 56 bits
// (a user's own; register_resource hands out small ones) is never written
// cut: the event is dropped and counted.
inline bool emit_resource(format::kind implicit_kind, format::kind explicit_kind, uint32_t site, uint64_t gate,
                          resource_id res, resource_op op, task_id task) {
    if (__builtin_expect(res > format::v2::max_resource, 0)) {
        if (t_ring.session == uint32_t(gate >> 8) || acquire_ring(gate)) count_drop();
        return false;
    }
    return emit_task(implicit_kind, explicit_kind, site, gate, format::v2::resource_word(res, uint8_t(op)), task);
}

// What a poll's end needs of its begin to keep t_ring.implicit_task what a
// reader takes as the current task.
struct poll_mark {
    uint64_t prev_implicit = 0;  // implicit_task before the poll_begin
    uint32_t began = 0;          // the session whose ring holds the poll_begin (0: not written)
};

// poll_begin of `task`. While it is in the ring, task events naming `task`
// are written in their 1-slot implicit forms. One that is not written
// (dropped, or gated out) is a loss at once, not only at the poll's end: its
// end, if written, would close another poll for a reader, who would take the
// events before it for this poll's.
[[gnu::always_inline]] inline poll_mark poll_begin_event(task_id task) {
    poll_mark m;
#if BBX_DETAIL_TASKS_ON
    // (A ring acquired here sees t_task.polls without this poll: its begin goes in.)
    if (uint64_t g = task_gate(); g && emit_words(format::kind::task_poll_begin, 0, g, task, 0)) [[likely]] {
        thread_ring& r = t_ring;
        m.began = r.session;
        m.prev_implicit = r.implicit_task;
        if (r.implicit_task != implicit_unknown) r.implicit_task = task;
    } else {
        note_poll_lost();
    }
    ++t_task.polls;
#else
    (void)task;
#endif
    return m;
}

// poll_end of `task` at await site `site`. A poll_begin or poll_end lost
// (dropped, or gated out) while its partner is written makes the ring use
// only explicit forms from then on: a reader's nesting of polls may no
// longer be the recorder's.
[[gnu::always_inline]] inline void poll_end_event(task_id task, uint32_t site, const poll_mark& m) {
#if BBX_DETAIL_TASKS_ON
    bool ended = false;
    // (A ring acquired here sees this poll open in t_task.polls: its begin is in no ring of the owner.)
    if (uint64_t g = task_gate()) ended = emit_words(format::kind::task_poll_end, site, g, task, 0);
    --t_task.polls;
    thread_ring& r = t_ring;
    const bool began_here = m.began && r.session == m.began;
    // Begun here and not ended: a reader keeps this poll open. Ended, but
    // begun in no ring of this owner: a reader closes another poll with it.
    if (began_here != ended) [[unlikely]] note_poll_lost();
    else if (ended && r.implicit_task != implicit_unknown) r.implicit_task = m.prev_implicit;
#else
    (void)task, (void)site, (void)m;
#endif
}

}  // namespace detail

// Records that `task` was made runnable by `waker`: another task, or 0 when
// no task made it runnable (code outside any task, a timer, or an I/O
// operation that completed inside the call that started it even though a
// task is running now: the I/O woke the task, not the task itself).
// 1 slot when the waker is 0 (task_wake_external, which needs no current
// task) or the ring's current task (task_wake); else 2 (task_wake_by).
inline void task_wake(task_id task, task_id waker) {
    if (uint64_t g = detail::task_gate()) {
        if (waker == 0)
            detail::emit_words(format::kind::task_wake_external, 0, g, task, 0);
        else
            detail::emit_task(format::kind::task_wake, format::kind::task_wake_by, 0, g, task, waker);
    }
}

// Records that `task` was made runnable, by the task running now (if any).
inline void task_wake(task_id task) { task_wake(task, detail::t_task.current); }

// Records that `task` finished and will not be polled again.
inline void task_complete(task_id task) {
    if (uint64_t g = detail::task_gate()) {
        detail::emit_words(format::kind::task_complete, 0, g, task, 0);
        detail::note_complete(uint32_t(g >> 8), task);
    }
}

// Notes where the current task is about to suspend; the poll_end event that
// follows names this await site. Cheap after a site's first use (a lookup in a
// small per-thread cache).
inline void note_await(const await_location& loc = await_location::current()) {
#if BBX_DETAIL_TASKS_ON
    if (uint64_t g = detail::task_gate()) detail::t_task.pending_site = detail::await_site(loc, uint32_t(g >> 8));
#else
    (void)loc;
#endif
}

// One poll (resume) of a task: poll_begin now, poll_end when the scope ends,
// naming the await site noted meanwhile. Makes `task` the current task, and
// restores the previous one after (polls may nest).
class poll_scope {
public:
    [[gnu::always_inline]] explicit poll_scope(task_id task)
        : task_(task), prev_(detail::t_task.current), prev_site_(detail::t_task.pending_site) {
        detail::t_task.current = task;
        detail::t_task.pending_site = 0;
        mark_ = detail::poll_begin_event(task);
    }
    [[gnu::always_inline]] ~poll_scope() {
        detail::poll_end_event(task_, detail::t_task.pending_site, mark_);
        detail::t_task.current = prev_;
        detail::t_task.pending_site = prev_site_;
    }
    poll_scope(const poll_scope&) = delete;
    poll_scope& operator=(const poll_scope&) = delete;

private:
    task_id task_, prev_;
    uint32_t prev_site_;
    detail::poll_mark mark_;
};

// A wait on a resource: wait_begin now (at the await site `loc`), wait_end
// when the scope ends. For a channel send on a full channel, a receive on an
// empty one, a lock, a timer.
class wait_scope {
public:
    wait_scope(resource_id res, resource_op op, await_location loc = await_location::current())
        : task_(detail::t_task.current), res_(res), op_(op) {
#if BBX_DETAIL_TASKS_ON
        uint64_t g = res ? detail::task_gate() : 0;  // resource 0: registered while not recording
        if (g)
            detail::emit_resource(format::kind::wait_begin, format::kind::wait_begin_for,
                                  detail::await_site(loc, uint32_t(g >> 8)), g, res, op, task_);
        else
            res_ = 0;
#else
        (void)loc;
#endif
    }
    // For a task that waits across polls: the scope can be ended explicitly
    // from the poll that resumes it.
    void end() {
        if (res_) {
            if (uint64_t g = detail::task_gate())
                detail::emit_resource(format::kind::wait_end, format::kind::wait_end_for, 0, g, res_, op_, task_);
        }
        res_ = 0;
    }
    ~wait_scope() { end(); }
    wait_scope(const wait_scope&) = delete;
    wait_scope& operator=(const wait_scope&) = delete;

private:
    task_id task_;
    resource_id res_;
    resource_op op_;
};

// The two halves of a wait that spans polls, for integrations that cannot
// hold a wait_scope across the suspension.
inline void wait_begin(task_id task, resource_id res, resource_op op, await_location loc = await_location::current()) {
#if BBX_DETAIL_TASKS_ON
    if (uint64_t g = detail::task_gate())
        detail::emit_resource(format::kind::wait_begin, format::kind::wait_begin_for,
                              detail::await_site(loc, uint32_t(g >> 8)), g, res, op, task);
#else
    (void)task, (void)res, (void)op, (void)loc;
#endif
}
inline void wait_end(task_id task, resource_id res, resource_op op) {
    if (uint64_t g = detail::task_gate())
        detail::emit_resource(format::kind::wait_end, format::kind::wait_end_for, 0, g, res, op, task);
}

// An operation on a resource that completed without waiting (a send into a
// channel with room, a receive of a ready item). This is how the analysis
// learns which task drains which channel.
inline void resource_used(resource_id res, resource_op op) {
    if (uint64_t g = detail::task_gate())
        detail::emit_resource(format::kind::resource_op, format::kind::resource_op_for, 0, g, res, op,
                              detail::t_task.current);
}

}  // namespace bbx

namespace bbx::detail {
// A spawn: task_spawn_here (1 slot, 2 with a frame size; the parent left
// out) when the parent is the ring's current task (implicit_task, as
// emit_task decides; not 0: a spawn outside any poll names its parent 0 in
// the explicit form, so that a reader at a window's start, where it may not
// know that no poll is open, still decodes it), else task_spawn (3 slots).
// Returns the slots written (0: none).
[[gnu::always_inline]] inline uint32_t emit_spawn(uint32_t site, uint64_t gate, task_id task, task_id parent,
                                                  uint64_t frame_bytes) {
    thread_ring* r = &t_ring;
    if (__builtin_expect(r->session != uint32_t(gate >> 8), 0)) {
        if (!acquire_ring(gate)) return 0;
    }
    const uint64_t ticks = now_ticks();
    if (parent == r->implicit_task && parent != 0 && parent != implicit_unknown) {
        const uint32_t cont = frame_bytes != 0;
        return write_event_units(r, format::kind::task_spawn_here, site, ticks, task, cont,
                                 [frame_bytes](uint32_t) { return frame_bytes; }) ? 1 + cont : 0;
    }
    const uint64_t payload[2] = {parent, frame_bytes};
    return write_event(r, format::kind::task_spawn, site, ticks, task, payload, 2) ? 3 : 0;
}

template <class = void>
inline void task_spawn(site_ref& ref, const site_info& info, task_id task, task_id parent, uint64_t frame_bytes) {
    if (uint64_t g = task_gate()) {
        const uint32_t session = uint32_t(g >> 8);
        uint64_t st = ref.state.load(std::memory_order_acquire);
        if (__builtin_expect(uint32_t(st >> 32) != session || uint32_t(st) == 0, 0)) {
            if (t_ring.session != session && !acquire_ring(g)) return;
            const char* names[] = {nullptr};
            st = register_site(ref, info, names, session);
            if (st == 0) return;
        }
        const uint32_t slots = emit_spawn(uint32_t(st), g, task, parent, frame_bytes);
        note_spawn(session, uint32_t(st), task, parent, frame_bytes, slots);
    }
}
}  // namespace bbx::detail

// BBX_TASK_SPAWN("name", task, parent, frame_bytes): task `task` was created
// here (by `parent`, 0 if none), with a frame (or future) of frame_bytes
// bytes (0 if unknown). The name must be a string literal.
#if BBX_DETAIL_TASKS_ON
#define BBX_TASK_SPAWN(name, id_, parent_, frame_bytes_)                                                                 \
    do {                                                                                                               \
        static constexpr ::bbx::detail::site_info BBX_DETAIL_CAT(bbx_site_, __LINE__) = ::bbx::detail::make_site<>(   \
            ::bbx::format::site_kind::task, BBX_TASK_LEVEL, "task", name, __FILE__, __LINE__, __func__);              \
        static ::bbx::detail::site_ref BBX_DETAIL_CAT(bbx_ref_, __LINE__);                                             \
        ::bbx::detail::task_spawn(BBX_DETAIL_CAT(bbx_ref_, __LINE__), BBX_DETAIL_CAT(bbx_site_, __LINE__), (id_),     \
                                  (parent_), (frame_bytes_));                                                            \
    } while (0)
#else
#define BBX_TASK_SPAWN(name, id_, parent_, frame_bytes_) \
    do {                                                \
        (void)sizeof(::bbx::detail::discard((id_), (parent_), (frame_bytes_))); \
    } while (0)
#endif
