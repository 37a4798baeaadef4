// blackbox for C++20 coroutines: a promise mixin that records every co_await
// of an instrumented task with its source line, and the task's lifecycle.
//
// Quick start: derive your task type's promise from bbx::promise_tracing and
// call its hooks from the executor (examples/async/ has a complete one):
//
//     #include <bbx/coro.hpp>
//     struct promise_type : bbx::promise_tracing {
//         ...                                                   // your task type, as before
//         auto final_suspend() noexcept { on_final_suspend(); return your_final_awaiter{}; }
//     };
//     // executor:
//     p.on_spawn(BBX_TASK_SITE("handle_request"));              // a new top-level task
//     p.on_wake();            run_queue.push(handle);           // made runnable
//     { auto poll = p.on_resume(); handle.resume(); }           // one poll: begin .. end
//
// Every co_await in the task's body then goes through
// promise_tracing::await_transform, which notes the co_await's file, line
// and function (default arguments; nothing to write at the co_await) when,
// and only when, the task really suspends there. The poll_end that follows
// names that await site, so `bbx analyze` can say where a task was parked.
//
// Nested tasks (a task that co_awaits another task) share one task id: call
// adopt_task(bbx::current_task()) on the callee's promise when it is awaited,
// and spawn only top-level tasks. An executor that resumes nested coroutine
// handles (the innermost awaiting coroutine, as a channel hands them back)
// records by id instead: bbx::task_wake(id) and bbx::poll_scope(id), with the
// id the awaiter read from bbx::current_task() when it suspended.
//
// A promise that defines its own await_transform hides this one; forward to
// it: `return promise_tracing::await_transform(std::forward<A>(a), loc);`
// with `bbx::await_here loc = bbx::await_here::current()` as your own
// default argument, so the location stays the co_await's.
//
// Compiled out (BBX_LEVEL_MAX below BBX_TASK_LEVEL, or BBX_DISABLE),
// await_transform hands the awaitable back untouched, the hooks record
// nothing, and no task name, file or function name reaches the binary.
// Everything in bbx::detail is internal and not API.
#pragma once

#include <coroutine>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "bbx/task.hpp"

namespace bbx {

// Where a task is spawned: the task site of BBX_TASK_SITE("name"). A plain
// pair of pointers to static data; empty (no event recorded) when task events
// are compiled out.
struct task_site {
    detail::site_ref* ref = nullptr;
    const detail::site_info* info = nullptr;
};

// What an awaitable's factory takes to learn the caller's co_await line:
//
//     recv_op recv(bbx::await_here loc = bbx::await_here::current());
//
// then hands on to bbx::wait_begin(task, resource, op, loc). It is
// bbx::await_location; with task events compiled out it is an empty type, so
// that no file or function name of the caller reaches the binary (a location
// held in an awaiter lives in the coroutine frame, where the optimizer leaves
// it).
#if BBX_DETAIL_TASKS_ON
using await_here = await_location;
#else
struct await_here {
    static constexpr await_here current() noexcept { return {}; }
    constexpr operator await_location() const noexcept { return {nullptr, nullptr, 0}; }
};
#endif

namespace detail {

// The frame size the compiler last asked promise_tracing::operator new for
// on this thread; the promise constructor takes it and resets it to 0.
constinit inline thread_local std::size_t t_frame_bytes = 0;

template <class A>
concept member_co_await = requires(A&& a) { static_cast<A&&>(a).operator co_await(); };
template <class A>
concept free_co_await = requires(A&& a) { operator co_await(static_cast<A&&>(a)); };

// Wraps the awaiter of one co_await. `Inner` is a reference when the awaiter
// is the awaitable itself (which the co_await expression keeps alive across
// the suspension), a value when operator co_await made it.
template <class Inner>
struct traced_awaiter {
    Inner inner;
    await_location loc;

    bool await_ready() noexcept(noexcept(inner.await_ready())) { return inner.await_ready(); }

    // Notes the await site when, and only when, the coroutine suspends here.
    // Once the inner await_suspend has handed the handle on, another thread
    // may already have resumed (even destroyed) the coroutine, so nothing
    // after it touches `this`: the location is copied first. The note itself
    // is this thread's, for the poll_end this thread records next.
    template <class P>
    auto await_suspend(std::coroutine_handle<P> h) noexcept(noexcept(inner.await_suspend(h))) {
        using R = decltype(inner.await_suspend(h));
        if constexpr (std::is_void_v<R>) {
            note_await(loc);  // before: a void await_suspend always suspends
            inner.await_suspend(h);
        } else if constexpr (std::is_same_v<R, bool>) {
            const await_location where = loc;
            const bool suspended = inner.await_suspend(h);
            if (suspended) note_await(where);
            return suspended;
        } else {
            // Symmetric transfer: handing back `h` itself resumes it at once.
            const await_location where = loc;
            auto next = inner.await_suspend(h);
            if (next != h) note_await(where);
            return next;
        }
    }

    // The task runs again: whatever await it had noted is over.
    decltype(auto) await_resume() noexcept(noexcept(inner.await_resume())) {
        t_task.pending_site = 0;
        return inner.await_resume();
    }
};

}  // namespace detail

// A mixin for a coroutine promise type: holds the task id and the frame size,
// wraps every co_await, and gives an executor its hooks. Each hook may be
// called from any thread, but for one task by one thread at a time (as a
// coroutine is resumed by one thread at a time).
class promise_tracing {
public:
    // Takes the frame size recorded by operator new on this thread (0 when
    // the compiler elided the allocation). No event.
    promise_tracing() noexcept : frame_bytes_(detail::t_frame_bytes) { detail::t_frame_bytes = 0; }

    // Coroutine frames of a derived promise are allocated here, so that the
    // size the compiler asks for -- the whole frame: promise, parameters and
    // the locals that live across suspensions -- can be recorded. That size
    // is the only portable measure of a frame; it is what on_spawn records as
    // the task's frame bytes (0 when the allocation was elided, or when the
    // derived promise has an operator new of its own).
    static void* operator new(std::size_t n) {
        detail::t_frame_bytes = n;
        return ::operator new(n);
    }
    // (Unsized ::operator delete: clang 14 has no sized one by default.)
    static void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }

    // This task's id: 0 until on_spawn or adopt_task gave it one.
    task_id id() const noexcept { return id_; }
    // The frame size this coroutine was allocated with, or 0 (see operator new).
    std::size_t frame_bytes() const noexcept { return frame_bytes_; }
    // True for a task started by on_spawn (which on_final_suspend completes).
    bool is_top_level() const noexcept { return top_level_; }

    // This coroutine is a top-level task started at `site`: gives it a new
    // id and records task_spawn (parent: the task running now, if any; frame:
    // frame_bytes()). One id allocation (usually thread-local) and one event.
    void on_spawn(task_site site) noexcept {
        id_ = new_task_id();
        top_level_ = true;
#if BBX_DETAIL_TASKS_ON
        if (site.ref && site.info) detail::task_spawn(*site.ref, *site.info, id_, current_task(), frame_bytes_);
#else
        (void)site;
#endif
    }

    // This coroutine runs as part of task `parent` (it is co_awaited by it):
    // its awaits and polls are that task's. No event.
    void adopt_task(task_id parent) noexcept {
        id_ = parent;
        top_level_ = false;
    }

    // Records task_wake: the task was made runnable (by the task running now,
    // if any). Call it where the executor queues the task. One event.
    void on_wake() const noexcept { task_wake(id_); }

    // One poll: `auto poll = p.on_resume(); h.resume();` records poll_begin
    // now and poll_end (naming the await site where the task suspended) when
    // `poll` goes out of scope. Two events.
    poll_scope on_resume() const noexcept { return poll_scope(id_); }

    // Call from final_suspend(): records task_complete for a top-level task
    // (a nested one completes with its parent) and clears the noted await
    // site, so the closing poll_end names none. At most one event.
    void on_final_suspend() noexcept {
        if (top_level_) task_complete(id_);
        detail::t_task.pending_site = 0;
    }

    // Wraps the awaiter of every co_await in the body (awaiters with
    // await_ready/await_suspend/await_resume, or types with a member or free
    // operator co_await). When the task suspends, the await site `loc` -- by
    // default the co_await's own file, line and function -- is noted for the
    // poll's poll_end. Costs a lookup in a small thread-local cache per
    // suspension (a lock the first time a site is seen in a session), and a
    // thread-local store per resumption; no event of its own.
    template <class A>
#if BBX_DETAIL_TASKS_ON
    auto await_transform(A&& a, await_here loc = await_here::current()) {
        if constexpr (detail::member_co_await<A>) {
            using W = decltype(static_cast<A&&>(a).operator co_await());
            return detail::traced_awaiter<W>{static_cast<A&&>(a).operator co_await(), loc};
        } else if constexpr (detail::free_co_await<A>) {
            using W = decltype(operator co_await(static_cast<A&&>(a)));
            return detail::traced_awaiter<W>{operator co_await(static_cast<A&&>(a)), loc};
        } else {
            return detail::traced_awaiter<A&&>{static_cast<A&&>(a), loc};
        }
    }
#else
    A&& await_transform(A&& a, await_here = {}) noexcept {
        return static_cast<A&&>(a);
    }
#endif

private:
    task_id id_ = 0;
    std::size_t frame_bytes_ = 0;
    bool top_level_ = false;
};

}  // namespace bbx

// BBX_TASK_SITE("name"): a bbx::task_site for promise_tracing::on_spawn (or
// an executor's spawn), naming the tasks started here. The name must be a
// string literal; the site's file, line and function are where the macro is
// written. Usable in any expression; thread-safe. Costs a function-local
// static's guard check (its metadata is written by the first spawn of a
// session, in on_spawn). Compiled out, it is an empty site and the name is
// not in the binary.
#if BBX_DETAIL_TASKS_ON
#define BBX_TASK_SITE(name)                                                                                       \
    ([](const char* bbx_function_) -> ::bbx::task_site {                                                          \
        static const ::bbx::detail::site_info bbx_site_ = ::bbx::detail::make_site<>(                             \
            ::bbx::format::site_kind::task, BBX_TASK_LEVEL, "task", name, __FILE__, __LINE__, bbx_function_);     \
        static ::bbx::detail::site_ref bbx_ref_;                                                                  \
        return {&bbx_ref_, &bbx_site_};                                                                           \
    }(__func__))
#else
#define BBX_TASK_SITE(name) ((void)sizeof(name), ::bbx::task_site{})
#endif
