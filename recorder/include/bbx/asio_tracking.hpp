// blackbox for Asio: records an existing Asio program's handlers as async
// tasks, through Asio's custom handler tracking hooks. Standalone Asio 1.22
// (Debian libasio-dev); no change to the program's code:
//
//     #define ASIO_ENABLE_HANDLER_TRACKING
//     #define ASIO_CUSTOM_HANDLER_TRACKING "bbx/asio_tracking.hpp"
//     #include <asio.hpp>                       // in every TU that includes Asio
//
// then link the recorder and start it (bbx::start(), or BBX_FILE=x.bbx).
// Define both in every translation unit of the program that includes Asio:
// they change the layout of Asio's operations, so mixing is an ODR violation.
//
// What becomes what:
// - Task identity: the handler tree. A handler created while another runs
//   belongs to that one's task; so a callback chain, or an asio::awaitable
//   coroutine and everything it awaits, is ONE task. A new task starts
//   (task_spawn, parent = the task running then) at
//     * co_spawn: Asio's co_spawn_entry_point pushes a handler location; the
//       coroutine it starts is task "asio.co_spawn", even when co_spawn runs
//       inside another task's handler (an acceptor loop spawning sessions);
//     * a handler created outside any handler (from main, another thread):
//       the root of a new tree, task "asio.handler".
//   Task names are these two fixed strings; what the task does is in the
//   "asio" instants (below) and in its await sites.
// - Wake: when the handler became ready. For reactor operations (socket
//   reads, writes, accepts, connects) that is the non-blocking call that
//   finished it (ASIO_HANDLER_REACTOR_OPERATION with a result other than
//   would_block); for post/dispatch/defer/execute, creation (it is runnable at
//   once); otherwise (timers, ...) just before the invocation. One wake per
//   handler; the waker is the task running on the waking thread, if any.
// - Poll: each handler invocation (ASIO_HANDLER_INVOCATION_BEGIN .. END) is a
//   poll of the handler's task on the invoking thread, including the inner
//   steps of composed operations (each partial write of an async_write that
//   needed several is a poll that does not resume the coroutine). Polls nest
//   (a handler run inside another's, as a strand's invoker runs the strand's
//   queued handlers). A coroutine started by
//   co_spawn inside a handler runs at once (Asio dispatches it inline): that
//   first run is a nested poll of the new task, from the co_spawn until the
//   coroutine first suspends. (Heuristic: "inside a handler" is taken to mean
//   "the dispatch runs inline"; when co_spawn inside a handler targets another
//   io_context, that nested poll is short and empty.)
// - Await site: the Asio handler location (ASIO_HANDLER_LOCATION) active when
//   a task creates its next handler: the outermost one pushed since the
//   handler or co_spawn began. asio::use_awaitable_t<>() built at the co_await
//   carries the caller's file, line and function (when Asio has a source
//   location: ASIO_HAS_SOURCE_LOCATION, g++ and clang with libstdc++); the
//   global asio::use_awaitable carries none, and then the site is Asio's own
//   location of a composed operation (async_write in asio/impl/write.hpp ...)
//   or none.
// - Complete: when the task's last handler is done (invoked, or destroyed
//   unrun at shutdown) and no co_spawn of it is still starting. Handlers are
//   counted per task in a fixed table of 16384 entries; a task that finds no
//   entry is traced all the same but never gets its task_complete.
// - Instants, category "asio" (DEBUG unless said): "start" at each handler
//   creation (task, object type, operation name, native handle), "op" for
//   operations without a handler (close, cancel, ...), "register" and
//   "deregister" of descriptors with the reactor, and at TRACE "io" for every
//   non-blocking call (task, call, errno value, bytes) and "ready" for reactor
//   readiness events.
//
// Costs: no allocation and no system call; a few thread-local loads and
// stores per hook, one atomic add per handler created and one atomic
// subtract per handler done, plus the events. Locks only where the
// recorder's cold paths take one: a thread's first event, a site's first
// use, an await site missing from the thread's 64-entry cache. The hooks run
// (and tasks are counted) whether or not a recording is on; events are
// written only while one is. Standalone Asio only (Boost.Asio's macros are
// named BOOST_ASIO_*).
//
// Limits: a coroutine resumed by another's completion (co_await co_spawn(...,
// use_awaitable)) is resumed in a handler of the child's tree, so that poll
// counts to the child. A callback tree with operations in flight in parallel,
// on an io_context run by several threads, can have two polls of one task at
// once on two threads. A strand's invoker counts to the task that first
// posted to the idle strand. Everything in bbx::detail is not API.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bbx/task.hpp"

namespace bbx::detail::asio_hooks {

// The fields Asio's operations inherit (scheduler_operation derives from
// this): the task, its handler-count entry, and whether the wake was recorded.
struct tracked_handler {
    task_id bbx_task_ = 0;             // 0: not created through the hooks (Asio internals)
    uint32_t bbx_slot_ = 0;            // entry in g_live + 1; 0: none (never completes)
    mutable uint32_t bbx_woken_ = 0;   // set by the const reactor_operation hook
};

// ---- handlers per task ------------------------------------------------------
// A task's entry counts its live handlers, plus one while a co_spawn of it is
// still starting; the task completes when the count drops to zero. Entries
// are claimed by compare-and-swap near a hash of the id, freed by a store.
inline constexpr uint32_t live_entries = 1u << 14;
inline constexpr uint32_t live_probes = 64;

struct alignas(16) live_entry {
    std::atomic<uint64_t> task{0};
    std::atomic<uint64_t> handlers{0};
};
inline constinit live_entry g_live[live_entries]{};

// Claims an entry holding one reference; 0 if none is free near the hash.
inline uint32_t claim(task_id task) {
    const uint32_t start = uint32_t((task * 0x9e3779b97f4a7c15ull) >> 50);
    for (uint32_t i = 0; i < live_probes; ++i) {
        const uint32_t at = (start + i) & (live_entries - 1);
        live_entry& e = g_live[at];
        uint64_t expected = 0;
        if (e.task.load(std::memory_order_relaxed) == 0 &&
            e.task.compare_exchange_strong(expected, task, std::memory_order_acquire, std::memory_order_relaxed)) {
            e.handlers.store(1, std::memory_order_relaxed);
            return at + 1;
        }
    }
    return 0;
}

inline void retain(uint32_t slot) {
    if (slot) g_live[slot - 1].handlers.fetch_add(1, std::memory_order_relaxed);
}

// Drops one reference; the last one completes the task and frees the entry.
inline void release(uint32_t slot, task_id task) {
    if (!slot) return;
    live_entry& e = g_live[slot - 1];
    if (e.handlers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        task_complete(task);
        e.task.store(0, std::memory_order_release);
    }
}

// ---- per-thread state ---------------------------------------------------------
class completion;
class location;

// Completions and locations live on the stack and nest strictly on a thread;
// `depth` orders the two kinds, so that the innermost of either is known.
struct thread_state {
    completion* innermost_completion;
    location* innermost_location;
    uint32_t depth;
    uint32_t polls;  // handler invocations in progress on this thread
};
inline constinit thread_local thread_state t_hooks{};

// One poll of a task on this thread: the work of bbx::poll_scope, split into
// begin and end because Asio's hooks are a pair of statements.
struct poll_state {
    task_id task = 0, prev = 0;
    uint32_t prev_site = 0;
    bool active = false;

    void begin(task_id t) {
        prev = t_task.current;
        prev_site = t_task.pending_site;
        t_task.current = t;
        t_task.pending_site = 0;
        task = t;
        active = true;
        ++t_hooks.polls;
        task_event(format::kind::task_poll_begin, 0, t, false);
    }
    void end() {
        task_event(format::kind::task_poll_end, t_task.pending_site, task, false);
        t_task.current = prev;
        t_task.pending_site = prev_site;
        active = false;
        --t_hooks.polls;
    }
};

inline void spawn_coroutine(task_id task, task_id parent) { BBX_TASK_SPAWN("asio.co_spawn", task, parent, 0); }
inline void spawn_tree(task_id task, task_id parent) { BBX_TASK_SPAWN("asio.handler", task, parent, 0); }

// ---- the hooks ------------------------------------------------------------------

// ASIO_HANDLER_LOCATION: a source location Asio pushes while it starts an
// operation (use_awaitable_t's caller, a composed operation, co_spawn).
class location {
public:
    location(const char* file, int line, const char* function) : file_(file), function_(function), line_(line) {
        if (!file_) return;  // as Asio's own tracker: a location without a file is not pushed
        next_ = t_hooks.innermost_location;
        depth_ = ++t_hooks.depth;
        t_hooks.innermost_location = this;
        if (function_ && std::strcmp(function_, "co_spawn_entry_point") == 0) {
            task_ = new_task_id();
            slot_ = claim(task_);
            spawn_coroutine(task_, t_task.current);
            if (t_hooks.polls) {  // inside a handler: the coroutine runs now, within this scope
                task_wake(task_);
                poll_.begin(task_);
            }
        }
    }
    ~location() {
        if (!file_) return;
        if (poll_.active) poll_.end();
        t_hooks.innermost_location = next_;
        --t_hooks.depth;
        if (task_) release(slot_, task_);
    }
    location(const location&) = delete;
    location& operator=(const location&) = delete;

private:
    friend struct walk;
    const char* file_;
    const char* function_;
    int line_;
    uint32_t depth_ = 0;
    location* next_ = nullptr;
    task_id task_ = 0;  // co_spawn_entry_point: the coroutine's task
    uint32_t slot_ = 0;
    poll_state poll_;
};

// ASIO_HANDLER_COMPLETION: a handler is about to be invoked (or destroyed
// unrun). Copies what it needs: Asio frees the operation before the upcall.
class completion {
public:
    explicit completion(const tracked_handler& h)
        : task_(h.bbx_task_), slot_(h.bbx_slot_), woken_(h.bbx_woken_ != 0), next_(t_hooks.innermost_completion),
          depth_(++t_hooks.depth) {
        t_hooks.innermost_completion = this;
    }
    ~completion() {
        if (poll_.active) poll_.end();  // the handler threw
        t_hooks.innermost_completion = next_;
        --t_hooks.depth;
        if (task_) release(slot_, task_);
    }
    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;

    // ASIO_HANDLER_INVOCATION_BEGIN((args...)): the handler's arguments are not recorded.
    template <class... Args>
    void invocation_begin(const Args&...) {
        if (!task_) return;
        if (!woken_) task_wake(task_);
        woken_ = true;
        poll_.begin(task_);
    }
    void invocation_end() {
        if (poll_.active) poll_.end();
    }

private:
    friend struct walk;
    task_id task_;
    uint32_t slot_;
    bool woken_;
    completion* next_;
    uint32_t depth_;
    poll_state poll_;
};

// What a new handler inherits: the innermost co_spawn location or handler on
// this thread, and the await site (the outermost location pushed since then).
struct walk {
    task_id task = 0;
    uint32_t slot = 0;
    const location* site = nullptr;

    walk() {
        const completion* c = t_hooks.innermost_completion;
        const uint32_t floor = c ? c->depth_ : 0;
        for (const location* l = t_hooks.innermost_location; l && l->depth_ > floor; l = l->next_) {
            if (l->task_) {
                if (!site) site = l;
                task = l->task_;
                slot = l->slot_;
                return;
            }
            site = l;
        }
        if (c) {
            task = c->task_;
            slot = c->slot_;
        }
    }
    await_location where() const { return {site->file_, site->function_, uint32_t(site->line_)}; }
};

// Operations that are runnable as soon as they exist (post, dispatch, defer,
// execute...), unlike the async_* ones that wait for something.
inline bool runnable_at_creation(const char* op_name) { return !op_name || std::strncmp(op_name, "async_", 6) != 0; }

// The hooks proper; the templates below only drop the execution context
// (an incomplete type where this header is included), and keep one copy of
// each event's call site for all context types.
inline void on_creation(tracked_handler& h, const char* object_type, std::uintmax_t native_handle,
                        const char* op_name) {
    walk w;
    if (w.task) {
        retain(w.slot);
    } else {  // the root of a new handler tree
        w.task = new_task_id();
        w.slot = claim(w.task);
        spawn_tree(w.task, t_task.current);
    }
    h.bbx_task_ = w.task;
    h.bbx_slot_ = w.slot;
    h.bbx_woken_ = 0;
    BBX_INSTANT(DEBUG, "asio", "start", bbx::arg("task", w.task), bbx::arg("object", object_type),
                bbx::arg("op", op_name), bbx::arg("handle", uint64_t(native_handle)));
    if (w.site && w.task == t_task.current) note_await(w.where());
    if (runnable_at_creation(op_name)) {
        task_wake(w.task);
        h.bbx_woken_ = 1;
    }
}

inline void on_operation(const char* object_type, std::uintmax_t native_handle, const char* op_name) {
    BBX_INSTANT(DEBUG, "asio", "op", bbx::arg("task", t_task.current), bbx::arg("object", object_type),
                bbx::arg("op", op_name), bbx::arg("handle", uint64_t(native_handle)));
}

inline void on_registration(bool added, std::uintmax_t native_handle, std::uintmax_t registration) {
    if (added)
        BBX_INSTANT(DEBUG, "asio", "register", bbx::arg("handle", uint64_t(native_handle)),
                    bbx::arg("registration", uint64_t(registration)));
    else
        BBX_INSTANT(DEBUG, "asio", "deregister", bbx::arg("handle", uint64_t(native_handle)),
                    bbx::arg("registration", uint64_t(registration)));
}

inline void on_reactor_events(std::uintmax_t registration, unsigned events) {
    BBX_INSTANT(TRACE, "asio", "ready", bbx::arg("registration", uint64_t(registration)),
                bbx::arg("events", uint64_t(events)));
}

// A non-blocking call made for handler `h`: anything but would_block finished
// the operation, so the handler is ready.
inline void on_reactor_operation(const tracked_handler& h, const char* call, int err, std::size_t bytes) {
    if (!h.bbx_task_) return;
    BBX_INSTANT(TRACE, "asio", "io", bbx::arg("task", h.bbx_task_), bbx::arg("call", call), bbx::arg("error", err),
                bbx::arg("bytes", uint64_t(bytes)));
    if (!h.bbx_woken_ && err != EWOULDBLOCK && err != EAGAIN) {
        task_wake(h.bbx_task_);
        h.bbx_woken_ = 1;
    }
}

// ASIO_HANDLER_CREATION: an operation was started with handler `h`.
template <class Context>
inline void creation(Context&, tracked_handler& h, const char* object_type, void* /*object*/,
                     std::uintmax_t native_handle, const char* op_name) {
    on_creation(h, object_type, native_handle, op_name);
}

// ASIO_HANDLER_OPERATION: an operation without a handler (close, cancel ...).
template <class Context>
inline void operation(Context&, const char* object_type, void* /*object*/, std::uintmax_t native_handle,
                      const char* op_name) {
    on_operation(object_type, native_handle, op_name);
}

template <class Context>
inline void reactor_registration(Context&, std::uintmax_t native_handle, std::uintmax_t registration) {
    on_registration(true, native_handle, registration);
}

template <class Context>
inline void reactor_deregistration(Context&, std::uintmax_t native_handle, std::uintmax_t registration) {
    on_registration(false, native_handle, registration);
}

template <class Context>
inline void reactor_events(Context&, std::uintmax_t registration, unsigned events) {
    on_reactor_events(registration, events);
}

// ASIO_HANDLER_REACTOR_OPERATION((h, call, ec)) and ((h, call, ec, bytes)).
template <class ErrorCode>
inline void reactor_operation(const tracked_handler& h, const char* call, const ErrorCode& ec,
                              std::size_t bytes = 0) {
    on_reactor_operation(h, call, ec.value(), bytes);
}

inline void init() {}

}  // namespace bbx::detail::asio_hooks

// ---- the macros Asio's custom handler tracking requires -------------------------
#define ASIO_INHERIT_TRACKED_HANDLER : public ::bbx::detail::asio_hooks::tracked_handler
#define ASIO_ALSO_INHERIT_TRACKED_HANDLER , public ::bbx::detail::asio_hooks::tracked_handler
#define ASIO_HANDLER_TRACKING_INIT ::bbx::detail::asio_hooks::init()
#define ASIO_HANDLER_LOCATION(args) ::bbx::detail::asio_hooks::location tracked_location args
#define ASIO_HANDLER_CREATION(args) ::bbx::detail::asio_hooks::creation args
#define ASIO_HANDLER_COMPLETION(args) ::bbx::detail::asio_hooks::completion tracked_completion args
#define ASIO_HANDLER_INVOCATION_BEGIN(args) tracked_completion.invocation_begin args
#define ASIO_HANDLER_INVOCATION_END tracked_completion.invocation_end()
#define ASIO_HANDLER_OPERATION(args) ::bbx::detail::asio_hooks::operation args
#define ASIO_HANDLER_REACTOR_REGISTRATION(args) ::bbx::detail::asio_hooks::reactor_registration args
#define ASIO_HANDLER_REACTOR_DEREGISTRATION(args) ::bbx::detail::asio_hooks::reactor_deregistration args
#define ASIO_HANDLER_REACTOR_READ_EVENT 1
#define ASIO_HANDLER_REACTOR_WRITE_EVENT 2
#define ASIO_HANDLER_REACTOR_ERROR_EVENT 4
#define ASIO_HANDLER_REACTOR_EVENTS(args) ::bbx::detail::asio_hooks::reactor_events args
#define ASIO_HANDLER_REACTOR_OPERATION(args) ::bbx::detail::asio_hooks::reactor_operation args
