// blackbox for Asio: records an existing Asio program's handlers as async
// tasks, through Asio's custom handler tracking hooks, with no change to the
// program's code. Standalone Asio (1.22, Debian libasio-dev) and Boost.Asio
// (Boost 1.74, libboost-dev, Beast included):
//
//     g++ -DASIO_ENABLE_HANDLER_TRACKING '-DASIO_CUSTOM_HANDLER_TRACKING="bbx/asio_tracking.hpp"' ...
//     g++ -DBOOST_ASIO_ENABLE_HANDLER_TRACKING
//         '-DBOOST_ASIO_CUSTOM_HANDLER_TRACKING="bbx/asio_tracking.hpp"' ...   # Boost.Asio and Beast
//
// then link the recorder and start it (bbx::start(), or run with BBX_FILE=x.bbx).
// Give the definitions to every translation unit of the program that includes
// Asio: they change the layout of Asio's operations, so mixing is an ODR
// violation.
//
// WHAT A TASK IS
// - A coroutine started by co_spawn (asio::awaitable) is one task, with
//   everything it awaits: "asio.co_spawn", child of the task running the
//   co_spawn. Every handler created while it runs belongs to it.
// - Callback code: a chain of handlers serving one I/O object (a socket, a
//   timer, a signal set, a resolver, a descriptor) is one task, named for the
//   object that started it ("asio.socket", "asio.timer", "asio.signal_set",
//   "asio.resolver", "asio.descriptor"), or "asio.acceptor" when that was an
//   async_accept, and "asio.connection" for a child of a task that accepts
//   connections. An operation started on an object belongs to the task
//   that owns the object, whoever starts it (a chat room writing to another
//   session's socket writes as that session). An object nobody owns yet is
//   taken:
//     * outside any handler (main, another thread): by a new task;
//     * from a handler of a task that accepts connections (it started an
//       async_accept): by a new child task, "asio.connection"; the first new
//       object one handler invocation touches starts it, the others that
//       invocation touches join it (an accepted socket, and the timers a
//       Beast stream keeps beside it);
//     * otherwise by the running handler's task (a connection's next timer,
//       a proxy's upstream socket, a posted handler that opens a socket).
//   So an accept loop is one task and each accepted connection a child.
//   Posts, dispatches, defers and executes (also on strands) belong to the
//   task that issues them; from outside any handler, each starts a task
//   "asio.post" (20,000 handlers posted from main are 20,000 tasks).
//   An object is forgotten when it is closed (or destroyed open); timers,
//   signal sets and resolvers are never closed, so their entry lapses when
//   the owning task completes.
// - Spawn sites: Asio gives no source location for where a handler or a
//   co_spawn comes from, so a task's Task site has the name above and an
//   unknown file and line (empty file, line 0): never a line of this header.
//
// WAKES (task_wake; waker = w1)
// - An I/O operation (socket, descriptor) is woken when the non-blocking call
//   that finished it returns something other than would_block, with waker 0:
//   the I/O woke the task. This holds when that call is made inside the
//   initiating function, within the task's own poll (a write on loopback that
//   completes at once): an operation that completed at once, or an inner step
//   of a composed operation (async_write's further writes), is never recorded
//   as the task waking itself.
// - Timers, signals, resolves and other operations: just before their handler
//   runs, waker 0.
// - post, defer, execute, and a dispatch on an io_context that cannot run it
//   at once: at creation, by the task running then. A handler that re-posts
//   itself is a task waking itself (waker = the task): a self-wake.
// - A dispatch or execute on a strand runs at once when it can: then it is
//   part of the running poll (below); when it has to wait for the strand (or
//   was posted to it), its wake is recorded when it runs, by the task running
//   then: the strand's invoker, whose own post is the wake that counts.
//   asio::post to a strand from the task's own handler is one self-wake. The
//   invoker re-posting itself after running a handler, for handlers queued
//   behind it from another thread (a timer's completion racing a read's),
//   is counted to the task whose handler it ran, with waker 0: what queued
//   them woke the task, not the task.
// - One wake per handler at most.
//
// POLLS
// - Each handler invocation (ASIO_HANDLER_INVOCATION_BEGIN .. END) is a poll
//   of its task on the invoking thread, including the inner steps of composed
//   operations. Polls of different tasks nest (a strand's invoker running
//   other tasks' handlers; a co_spawn inside a handler, below).
// - A handler invoked while its own task is being polled on this thread and
//   that was never woken (a strand dispatch run at once, the strand invoker
//   running the handler that scheduled it) is part of the running poll: no
//   wake, no nested poll, so its time is counted once.
// - A coroutine co_spawned inside a handler on a running io_context starts
//   at once (Asio >= 1.22 dispatches it): that first run is a nested poll of
//   the new task, woken by the spawner. Older Asio (Boost 1.74's 1.18) posts
//   it: it is woken by the spawner and polled later.
//
// AWAIT SITES (task_poll_end's site: where the task now waits)
// - A co_await given asio::use_awaitable_t<>() or use_awaitable_t(__FILE__,
//   __LINE__, ...) (Asio pushes that location): that file and line. The
//   plain asio::use_awaitable (no location): unknown (site 0).
// - While a coroutine waits at such a line, the inner steps of the composed
//   operation it awaits (an async_write needing several writes) keep that
//   line: they are the same wait.
// - A poll in which the task posts a handler of its own (a self-wake) names
//   that post's site, whatever it starts after it: the task resumes there.
//   For a coroutine's co_await post(ex, use_awaitable_t<>()), its line; for
//   a callback, none (Asio gives a post no location), so `bbx analyze`
//   says the line of such a self-wake is unknown rather than naming an
//   async_write inside Asio's headers that the handler started after.
// - Callback code has no location of its own: a composed operation's
//   handlers carry Asio's location of it (async_write in asio/impl/write.hpp,
//   async_read_until ...), which names the operation; anything else has no
//   site. A poll that starts nothing for its own task names no site.
//
// NO SILENT LIMITS: handlers are counted per task (a task completes when its
// last handler is done: invoked, or destroyed unrun at shutdown) in a table
// of 16,384 entries that grows by doubling segments, up to 67 million tasks
// alive at once. A task that finds no entry (out of memory, or past that) is
// traced but never gets its task_complete, and is recorded as a WARN instant
// "asio"/"untracked_task" (args: task, untracked = how many so far), so a
// reader can say how many. Objects are tracked in a table that grows alike
// (an object that finds no entry: WARN instant "asio"/"untracked_object").
//
// OTHER EVENTS, category "asio", integers only (a call site per name, made
// at run time the first time Asio names it: see "diagnostic instants" below):
// - DEBUG "start:<object>.<operation>" at each handler creation, e.g.
//   "start:socket.async_receive" (args: task, handle = the native handle);
// - DEBUG "op:<object>.<operation>" for an operation without a handler,
//   e.g. "op:socket.close" (task, handle);
// - DEBUG "register" and "deregister" of descriptors (handle, registration);
// - TRACE "io:<call>" for every non-blocking call, e.g. "io:non_blocking_recv"
//   (task, result = bytes moved, 0 for an accept or connect done, or minus
//   the error value: -11 would block);
// - TRACE "ready" for reactor readiness events (registration, events).
//
// COSTS: a few thread-local loads and stores per hook, one atomic add per
// handler created and one atomic subtract per handler done; for callback
// operations on an I/O object, one lookup in the object table (a few cache
// lines). No system call and no allocation, except when a table grows (an
// mmap of the next segment, under a lock). Locks only where the recorder's
// cold paths take one: a thread's first event, a site's first use, an await
// site missing from the thread's 64-entry cache. The hooks run (and tasks are
// counted) whether or not a recording is on; events are written only while
// one is. bench/asio.sh measures the CPU cost on Asio's HTTP server and the
// coroutine echo server (bench/RESULTS.md).
//
// LIMITS
// - Operations an object's owner did not start still run as that owner:
//   right for the chat room, surprising for a task that borrows another's
//   socket for good (hand the socket over by moving it: a new object).
// - One handler invocation of an accept loop that opens several unrelated
//   objects makes them one child task; a timer an accept loop opens for
//   itself from its handler becomes a "connection" too.
// - A coroutine that hands an accepted socket to callback code keeps those
//   callbacks as its own task (a coroutine's handlers are its own).
// - A coroutine resumed by another's completion (co_await co_spawn(...,
//   use_awaitable)) is resumed in a handler of the child's task, so that poll
//   counts to the child.
// - Boost 1.74 only: co_spawn of a coroutine returning a value (awaitable<T>,
//   T not void) pushes no location, so it is not seen as a new task: its
//   coroutine runs as the task that spawned it (awaitable<void> is fine).
// - Work handed to an executor belongs to the task that hands it over: when
//   an accept loop's handler dispatches a new connection's first step onto
//   the connection's strand (Beast's session::run), that step runs inside
//   the accept loop's poll and counts to it (the connection's task starts
//   with the first operation on its socket or timer). A strand's invoker is
//   a handler of the task that posted to the idle strand; the strand's
//   handlers of other tasks run as polls nested in its poll.
// - A callback task with operations in flight in parallel, on an io_context
//   run by several threads, can have two polls at once on two threads.
// - A timer's, signal set's or resolver's address reused by a new object
//   while its old owner is still alive is taken as the old owner's, except
//   in an accept loop's handler: there an object another task owns is taken
//   as the accepted connection's (a new connection's timer often lands where
//   the last one's was while that one's final handler still runs). So an
//   accept loop's handler that starts an operation on another connection's
//   object moves that object to the new connection.
// Everything in bbx::detail is internal and not API.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "bbx/task.hpp"

#if __has_include(<asio/version.hpp>)
#include <asio/version.hpp>
#endif
#if __has_include(<boost/asio/version.hpp>)
#include <boost/asio/version.hpp>
#endif

namespace bbx::detail::asio_hooks {

// Whether co_spawn inside a running handler starts the coroutine at once:
// Asio 1.22 dispatches its first step (checked), Boost 1.74's Asio 1.18
// posts it (checked); versions in between are taken to post, which only
// moves a coroutine's first run out of a nested poll.
#if defined(ASIO_VERSION) && ASIO_VERSION >= 102200
inline constexpr bool standalone_co_spawn_inline = true;
#else
inline constexpr bool standalone_co_spawn_inline = false;
#endif
#if defined(BOOST_ASIO_VERSION) && BOOST_ASIO_VERSION >= 102200
inline constexpr bool boost_co_spawn_inline = true;
#else
inline constexpr bool boost_co_spawn_inline = false;
#endif

struct task_entry;

// What Asio's operations inherit (scheduler_operation derives from this).
enum handler_flags : uint16_t {
    hf_woken = 1,      // its wake is recorded
    hf_coroutine = 2,  // its task is a co_spawned coroutine
    hf_executor = 4,   // post, dispatch, defer, execute: woken by a task, not by I/O
    hf_user_site = 8,  // bbx_site_ is where the program waits (a use_awaitable location), or unknown there
    hf_strand = 16,    // given to a strand, which may run it at once
};
struct tracked_handler {
    task_id bbx_task_ = 0;                // 0: not created through the hooks (Asio internals)
    task_entry* bbx_entry_ = nullptr;     // its task's handler count; null: untracked (never completes)
    uint32_t bbx_site_ = 0;               // the await site its task waits at while it is pending
    uint16_t bbx_session_ = 0;            // low bits of the session bbx_site_ was registered in
    mutable uint16_t bbx_flags_ = 0;      // handler_flags; woken is set by the const reactor_operation hook
};

// ---- tables that grow ----------------------------------------------------------
// Open addressing in segments: segment k holds 2^(bits + k) entries; a key is
// looked for in a window of `window` entries near its hash in each segment in
// turn. When no window has room, a segment twice the size of the last is
// mapped (under a lock; the only allocation). Entries never move, so a
// pointer to one stays valid for the life of the process.
template <class Entry, unsigned Bits, unsigned Window>
class segmented_table {
public:
    static constexpr unsigned max_segments = 12;
    static constexpr unsigned window = Window;
    static constexpr size_t size_of(unsigned k) { return size_t(1) << (Bits + k); }
    static size_t start(uint64_t hash, unsigned k) { return size_t(hash >> (64 - Bits - k)); }

    unsigned segments() const { return used_.load(std::memory_order_acquire); }
    Entry* segment(unsigned k) { return k == 0 ? first_ : more_[k - 1].load(std::memory_order_acquire); }

    // Adds segment `seen` unless another thread already did (true), or says
    // there is no room for one (false: the limit, or no memory).
    bool grow(unsigned seen, unsigned limit) {
        std::lock_guard lock(mu_);
        const unsigned n = used_.load(std::memory_order_relaxed);
        if (n != seen) return true;
        if (n >= limit || n >= max_segments) return false;
        void* p = ::mmap(nullptr, size_of(n) * sizeof(Entry), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return false;
        more_[n - 1].store(static_cast<Entry*>(p), std::memory_order_release);  // zero pages: free entries
        used_.store(n + 1, std::memory_order_release);
        return true;
    }

    // Calls f(entry) for each entry of each window of `hash`, in the first
    // `limit` segments, until f returns true (then returns that entry).
    template <class F>
    Entry* scan(uint64_t hash, unsigned limit, F&& f) {
        const unsigned n = segments() < limit ? segments() : limit;
        for (unsigned k = 0; k < n; ++k) {
            Entry* seg = segment(k);
            const size_t mask = size_of(k) - 1, at = start(hash, k);
            for (unsigned i = 0; i < Window; ++i)
                if (Entry* e = &seg[(at + i) & mask]; f(*e)) return e;
        }
        return nullptr;
    }

private:
    Entry first_[size_t(1) << Bits]{};
    std::atomic<Entry*> more_[max_segments - 1]{};
    std::atomic<unsigned> used_{1};
    std::mutex mu_;
};

inline uint64_t hash_word(uint64_t v) { return (v ^ (v >> 29)) * 0x9e3779b97f4a7c15ull; }

// ---- handlers per task ----------------------------------------------------------
// A task's entry counts its live handlers (plus one while a co_spawn of it is
// starting) in the low 48 bits of `count`; the task completes when the count
// drops to zero, and the entry is free again.
inline constexpr uint64_t count_mask = (uint64_t(1) << 48) - 1;
inline constexpr uint64_t accepts = uint64_t(1) << 48;  // the task has accepted connections

struct alignas(16) task_entry {
    std::atomic<uint64_t> task{0};
    std::atomic<uint64_t> count{0};
};
using task_table = segmented_table<task_entry, 14, 64>;
inline constinit task_table g_tasks{};
// Segments the task table may use: a test lowers it to make the table overflow.
inline constinit std::atomic<unsigned> g_task_segment_limit{task_table::max_segments};
inline constinit std::atomic<uint64_t> g_untracked_tasks{0};

// Takes an entry for a new task, holding one reference; null if none is free
// (then the task is counted and reported as untracked).
inline task_entry* claim_task(task_id task, uint64_t flags) {
    const uint64_t hash = hash_word(task);
    for (;;) {
        const unsigned limit = g_task_segment_limit.load(std::memory_order_relaxed);
        const unsigned seen = g_tasks.segments();
        task_entry* e = g_tasks.scan(hash, limit, [&](task_entry& x) {
            uint64_t expected = 0;
            if (x.task.load(std::memory_order_relaxed) != 0 ||
                !x.task.compare_exchange_strong(expected, task, std::memory_order_acquire, std::memory_order_relaxed))
                return false;
            x.count.store(1 | flags, std::memory_order_release);
            return true;
        });
        if (e) return e;
        if (!g_tasks.grow(seen, limit)) break;
    }
    const uint64_t untracked = g_untracked_tasks.fetch_add(1, std::memory_order_relaxed) + 1;
    BBX_INSTANT(WARN, "asio", "untracked_task", bbx::arg("task", task), bbx::arg("untracked", untracked));
    return nullptr;
}

inline void retain(task_entry* e) {
    if (e) e->count.fetch_add(1, std::memory_order_relaxed);
}

// Drops one reference; the last one completes the task and frees the entry.
inline void release(task_entry* e, task_id task) {
    if (!e) return;
    if ((e->count.fetch_sub(1, std::memory_order_acq_rel) & count_mask) == 1) {
        task_complete(task);
        e->count.store(0, std::memory_order_relaxed);
        e->task.store(0, std::memory_order_release);
    }
}

// A reference to `task` through an entry found in the object table: only if
// the task is still alive there (its count not yet zero, the entry not reused).
inline bool retain_if_alive(task_entry* e, task_id task) {
    uint64_t c = e->count.load(std::memory_order_relaxed);
    do {
        if ((c & count_mask) == 0) return false;
    } while (!e->count.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_relaxed));
    if (e->task.load(std::memory_order_acquire) == task) return true;
    release(e, e->task.load(std::memory_order_acquire));  // reused meanwhile: give back what was taken
    return false;
}

inline void mark(task_entry* e, uint64_t flag) {
    if (e && !(e->count.load(std::memory_order_relaxed) & flag)) e->count.fetch_or(flag, std::memory_order_relaxed);
}
inline bool marked(const task_entry* e, uint64_t flag) {
    return e && (e->count.load(std::memory_order_relaxed) & flag);
}

// ---- I/O objects and their owning task ---------------------------------------------
struct object_entry {
    std::atomic<uintptr_t> object{0};
    std::atomic<uint64_t> task{0};
    std::atomic<task_entry*> entry{nullptr};
};
using object_table = segmented_table<object_entry, 13, 32>;
inline constinit object_table g_objects{};
inline constinit std::atomic<uint64_t> g_untracked_objects{0};

// An entry whose owner is gone (completed, or never tracked) can be reused.
inline bool owner_gone(const object_entry& o) {
    task_entry* e = o.entry.load(std::memory_order_acquire);
    return !e || e->task.load(std::memory_order_relaxed) != o.task.load(std::memory_order_relaxed);
}

struct owner {
    task_id task = 0;
    task_entry* entry = nullptr;
};

// The live task that owns `object`, with a reference taken; none otherwise.
inline owner find_owner(const void* object) {
    const uintptr_t key = reinterpret_cast<uintptr_t>(object);
    owner found;
    g_objects.scan(hash_word(key), object_table::max_segments, [&](object_entry& o) {
        if (o.object.load(std::memory_order_acquire) != key) return false;
        task_entry* e = o.entry.load(std::memory_order_acquire);
        const task_id t = o.task.load(std::memory_order_relaxed);
        if (e && retain_if_alive(e, t)) found = {t, e};
        return true;
    });
    return found;
}

inline void set_owner(const void* object, task_id task, task_entry* entry) {
    const uintptr_t key = reinterpret_cast<uintptr_t>(object);
    const uint64_t hash = hash_word(key);
    auto take = [&](object_entry& o) {
        o.entry.store(nullptr, std::memory_order_relaxed);
        o.task.store(task, std::memory_order_relaxed);
        o.entry.store(entry, std::memory_order_release);
        return true;
    };
    for (;;) {
        const unsigned seen = g_objects.segments();
        // Its old entry if it has one, else the first free or lapsed one.
        if (g_objects.scan(hash, object_table::max_segments, [&](object_entry& o) {
                return o.object.load(std::memory_order_acquire) == key && take(o);
            }))
            return;
        if (g_objects.scan(hash, object_table::max_segments, [&](object_entry& o) {
                uintptr_t was = o.object.load(std::memory_order_acquire);
                if (was != 0 && !owner_gone(o)) return false;
                return o.object.compare_exchange_strong(was, key, std::memory_order_acq_rel) && take(o);
            }))
            return;
        if (!g_objects.grow(seen, object_table::max_segments)) break;
    }
    const uint64_t untracked = g_untracked_objects.fetch_add(1, std::memory_order_relaxed) + 1;
    BBX_INSTANT(WARN, "asio", "untracked_object", bbx::arg("task", task), bbx::arg("untracked", untracked));
}

inline void forget_object(const void* object) {
    const uintptr_t key = reinterpret_cast<uintptr_t>(object);
    g_objects.scan(hash_word(key), object_table::max_segments, [&](object_entry& o) {
        if (o.object.load(std::memory_order_relaxed) != key) return false;
        o.entry.store(nullptr, std::memory_order_relaxed);
        o.object.store(0, std::memory_order_release);
        return true;
    });
}

// ---- task names: Task sites with no known location -----------------------------------
enum class task_kind : uint8_t {
    co_spawn, post, acceptor, connection, socket, descriptor, timer, signal_set, resolver, other
};

#if BBX_DETAIL_TASKS_ON
#define BBX_DETAIL_ASIO_SPAWN(name)                                                                              \
    do {                                                                                                       \
        static constexpr site_info site =                                                                      \
            make_site<>(::bbx::format::site_kind::task, BBX_TASK_LEVEL, "task", name, "", 0, "");              \
        static site_ref ref;                                                                                   \
        task_spawn(ref, site, task, parent, 0);                                                                \
    } while (0)
#else
#define BBX_DETAIL_ASIO_SPAWN(name) (void)0
#endif

inline void record_spawn(task_kind kind, task_id task, task_id parent) {
    switch (kind) {
        case task_kind::co_spawn: BBX_DETAIL_ASIO_SPAWN("asio.co_spawn"); break;
        case task_kind::post: BBX_DETAIL_ASIO_SPAWN("asio.post"); break;
        case task_kind::acceptor: BBX_DETAIL_ASIO_SPAWN("asio.acceptor"); break;
        case task_kind::connection: BBX_DETAIL_ASIO_SPAWN("asio.connection"); break;
        case task_kind::socket: BBX_DETAIL_ASIO_SPAWN("asio.socket"); break;
        case task_kind::descriptor: BBX_DETAIL_ASIO_SPAWN("asio.descriptor"); break;
        case task_kind::timer: BBX_DETAIL_ASIO_SPAWN("asio.timer"); break;
        case task_kind::signal_set: BBX_DETAIL_ASIO_SPAWN("asio.signal_set"); break;
        case task_kind::resolver: BBX_DETAIL_ASIO_SPAWN("asio.resolver"); break;
        case task_kind::other: BBX_DETAIL_ASIO_SPAWN("asio.handler"); break;
    }
    (void)task, (void)parent;
}
#undef BBX_DETAIL_ASIO_SPAWN

inline task_id start_task(task_kind kind, task_id parent, uint64_t flags, task_entry*& entry) {
    const task_id task = new_task_id();
    entry = claim_task(task, flags);
    record_spawn(kind, task, parent);
    return task;
}

inline bool same(const char* a, const char* b) { return a && std::strcmp(a, b) == 0; }

// The name of a task started for an object: by the object, or for what it
// does (an accept loop; a connection it accepted).
inline task_kind kind_of_object(const char* object_type, const char* op_name) {
    if (same(op_name, "async_accept")) return task_kind::acceptor;
    if (same(object_type, "socket")) return task_kind::socket;
    if (same(object_type, "deadline_timer")) return task_kind::timer;
    if (same(object_type, "signal_set")) return task_kind::signal_set;
    if (same(object_type, "resolver")) return task_kind::resolver;
    if (same(object_type, "descriptor")) return task_kind::descriptor;
    return task_kind::other;
}

// What an operation is: I/O on an object, or work handed to an executor:
// queued (runnable now), or given to a strand, which runs it at once when it
// can (dispatch, and execute unless blocking.never: asio::post on a strand is
// an execute too, queued through the strand's invoker).
enum class op_class : uint8_t { io, executor, maybe_inline };
inline op_class classify(const char* object_type, const char* op_name) {
    if (!object_type) return op_class::io;
    const bool strand = same(object_type, "strand") || same(object_type, "strand_executor");
    if (strand)
        return same(op_name, "dispatch") || same(op_name, "execute") ? op_class::maybe_inline : op_class::executor;
    if (same(object_type, "io_context") || same(object_type, "system_executor") || same(object_type, "thread_pool"))
        return op_class::executor;
    return op_class::io;
}

// A location Asio pushed from its own headers (a composed operation, co_spawn)
// rather than the program's (use_awaitable_t's caller).
inline bool asio_file(const char* file) {
    return std::strstr(file, "asio/impl/") || std::strstr(file, "asio/detail/") || std::strstr(file, "asio/ssl/") ||
           std::strstr(file, "asio/experimental/");
}

// Asio's strings (object types, operation names, file names) are literals, so
// their addresses repeat: what the hooks make of them is computed once per
// address on each thread, in small direct-mapped caches in front of the
// string compares above (which cost more than the rest of a hook).
struct op_info {
    op_class oc;
    task_kind kind;  // the name of a task this operation starts
    bool accept;
};
struct op_key {
    const char* object;
    const char* op;
    op_info info;
    bool valid;
};
inline constinit thread_local op_key t_ops[32]{};

inline op_info describe(const char* object_type, const char* op_name) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(object_type), b = reinterpret_cast<uintptr_t>(op_name);
    op_key& k = t_ops[((a >> 3) ^ (b >> 1) ^ (b >> 6)) & 31];
    if (k.valid && k.object == object_type && k.op == op_name) return k.info;
    const op_info info{classify(object_type, op_name), kind_of_object(object_type, op_name), same(op_name, "async_accept")};
    k = {object_type, op_name, info, true};
    return info;
}

struct file_key {
    const char* file;
    bool asio;
};
inline constinit thread_local file_key t_files[16]{};

inline bool asio_file_cached(const char* file) {
    file_key& k = t_files[(reinterpret_cast<uintptr_t>(file) >> 4) & 15];
    if (k.file != file) k = {file, asio_file(file)};
    return k.asio;
}

// ---- per-thread state ---------------------------------------------------------------
class completion;
class location;

// Completions and locations live on the stack and nest strictly on a thread;
// `depth` orders the two kinds, so that the innermost of either is known.
struct thread_state {
    completion* innermost_completion;
    location* innermost_location;
    uint32_t depth;
    uint32_t polls;     // handler invocations in progress on this thread
    uint32_t ctx_site;  // where the polled task waits: its handler's site, or the last one it started here
    bool ctx_user;      // ctx_site is a program's use_awaitable location (or unknown there)
    bool self_posted;   // the polled task posted a handler of its own: the poll ends naming that post's site
    // Strands, in the current poll: the last strand operation the polled task
    // started that has not run yet, and whether a strand's handler has just
    // run in it, and whose (so a post now is the strand's invoker re-posting
    // itself for handlers queued behind it).
    const void* pending_strand;
    bool after_inline;
    task_id last_strand_task;
    task_entry* last_strand_entry;
};
inline constinit thread_local thread_state t_hooks{};

inline uint32_t session_of(uint64_t gate) { return uint32_t(gate >> 8); }

// One poll of a task on this thread: the work of bbx::poll_scope, split into
// begin and end because Asio's hooks are a pair of statements.
struct poll_state {
    task_id task = 0, prev = 0;
    uint32_t prev_site = 0, prev_ctx_site = 0;
    const void* prev_pending_strand = nullptr;
    bool prev_ctx_user = false, prev_after_inline = false, prev_self_posted = false, active = false;
    poll_mark mark;

    void begin(task_id t, uint32_t ctx_site, bool ctx_user) {
        prev = t_task.current;
        prev_site = t_task.pending_site;
        prev_ctx_site = t_hooks.ctx_site;
        prev_ctx_user = t_hooks.ctx_user;
        prev_pending_strand = t_hooks.pending_strand;
        prev_after_inline = t_hooks.after_inline;
        prev_self_posted = t_hooks.self_posted;
        t_task.current = t;
        t_task.pending_site = 0;
        t_hooks.ctx_site = ctx_site;
        t_hooks.ctx_user = ctx_user;
        t_hooks.pending_strand = nullptr;
        t_hooks.after_inline = false;
        t_hooks.self_posted = false;
        task = t;
        active = true;
        ++t_hooks.polls;
        mark = poll_begin_event(t);
    }
    void end() {
        poll_end_event(task, t_task.pending_site, mark);
        t_task.current = prev;
        t_task.pending_site = prev_site;
        t_hooks.ctx_site = prev_ctx_site;
        t_hooks.ctx_user = prev_ctx_user;
        t_hooks.pending_strand = prev_pending_strand;
        t_hooks.after_inline = prev_after_inline;
        t_hooks.self_posted = prev_self_posted;
        active = false;
        --t_hooks.polls;
    }
};

// ---- diagnostic instants: a call site per name, no strings per event ------------------
// Asio names an operation by two literals (object type, operation) and a
// non-blocking call by one: each pair of addresses gets a call site of its
// own the first time it is seen (bbx::detail::runtime_sites), named
// "start:socket.async_receive" (a handler was created for it),
// "op:socket.close" (an operation without a handler) or "io:non_blocking_recv"
// (a non-blocking call), so that an event carries only its integers: 2 slots
// where the strings took about 7, and 1 (kind instant_task, bbx.hpp's
// emit_instant_task) when the task is the one being polled on this thread,
// which the reader then names from the ring's poll events. A table that is full (128, 64 and 32 names,
// far more than Asio has) records a new name's events in the form all had before:
// "start"/"op" with the strings as arguments (task, object, op, handle), "io"
// with (task, call, error, bytes). Compiled out with their level (no table, no code).
#if BBX_LEVEL_MAX >= BBX_LEVEL_DEBUG
inline constinit runtime_sites<256, 128> g_start_sites{};
inline constinit runtime_sites<128, 64> g_op_sites{};
#endif
#if BBX_LEVEL_MAX >= BBX_LEVEL_TRACE
inline constinit runtime_sites<64, 32> g_io_sites{};
#endif

// DEBUG "start:<object>.<op>" (task, handle): a handler was created for an
// operation (`started`); "op:<object>.<op>": an operation without a handler.
// `t` is g_start_sites' or g_op_sites' table (a test gives a small one).
inline void record_operation(runtime_site_table& t, bool started, const char* object_type, const char* op_name,
                             task_id task, uint64_t handle) {
#if BBX_LEVEL_MAX >= BBX_LEVEL_DEBUG
    const uint64_t g = gate_open(BBX_LEVEL_DEBUG);
    if (!g) return;
    static constexpr site_info info = make_site<uint64_t, uint64_t>(format::site_kind::instant, BBX_LEVEL_DEBUG,
                                                                   "asio", "", __FILE__, __LINE__, __func__);
    const char* parts[] = {started ? "start:" : "op:", object_type, ".", op_name};
    if (runtime_site* s = runtime_site_of(t, object_type, op_name, info, parts, 4))
        emit_instant_task(s->ref, s->info, g, arg_value<uint64_t>{"task", task}, arg_value<uint64_t>{"handle", handle});
    else if (started)  // the table is full: the strings
        BBX_INSTANT(DEBUG, "asio", "start", bbx::arg("task", task), bbx::arg("object", object_type),
                    bbx::arg("op", op_name), bbx::arg("handle", handle));
    else
        BBX_INSTANT(DEBUG, "asio", "op", bbx::arg("task", task), bbx::arg("object", object_type),
                    bbx::arg("op", op_name), bbx::arg("handle", handle));
#else
    (void)t, (void)started, (void)object_type, (void)op_name, (void)task, (void)handle;
#endif
}

// TRACE "io:<call>" (task, result): a non-blocking call for a handler of
// `task`; result is the bytes it moved, or minus its error code's value when
// it failed (-11: EAGAIN, would block; -2 for a stream's end: Asio's misc
// error eof, as the old "io" event's error 2 was).
inline void record_io(runtime_site_table& t, const char* call, task_id task, int err, std::size_t bytes) {
#if BBX_LEVEL_MAX >= BBX_LEVEL_TRACE
    const uint64_t g = gate_open(BBX_LEVEL_TRACE);
    if (!g) return;
    static constexpr site_info info = make_site<uint64_t, int64_t>(format::site_kind::instant, BBX_LEVEL_TRACE,
                                                                  "asio", "", __FILE__, __LINE__, __func__);
    const char* parts[] = {"io:", call};
    if (runtime_site* s = runtime_site_of(t, call, nullptr, info, parts, 2))
        emit_instant_task(s->ref, s->info, g, arg_value<uint64_t>{"task", task},
                          arg_value<int64_t>{"result", err ? -int64_t(err) : int64_t(bytes)});
    else
        BBX_INSTANT(TRACE, "asio", "io", bbx::arg("task", task), bbx::arg("call", call), bbx::arg("error", err),
                    bbx::arg("bytes", uint64_t(bytes)));
#else
    (void)t, (void)call, (void)task, (void)err, (void)bytes;
#endif
}

// ---- the hooks ----------------------------------------------------------------------

// ASIO_HANDLER_LOCATION: a source location Asio pushes while it starts an
// operation: use_awaitable_t's caller (file null for the plain use_awaitable),
// a composed operation, or co_spawn's entry point (which starts a task).
class location {
public:
    location(bool co_spawn_inline, const char* file, int line, const char* function)
        : file_(file), function_(function), line_(line), next_(t_hooks.innermost_location), depth_(++t_hooks.depth) {
        t_hooks.innermost_location = this;
        if (function_ && file_ && std::strcmp(function_, "co_spawn_entry_point") == 0) {
            user_ = false;
            task_ = start_task(task_kind::co_spawn, t_task.current, 0, entry_);
            if (co_spawn_inline && t_hooks.polls) {  // inside a handler: the coroutine runs now, within this scope
                task_wake(task_);
                poll_.begin(task_, 0, false);
            }
        } else {
            user_ = !file_ || !asio_file_cached(file_);
        }
    }
    ~location() {
        if (poll_.active) poll_.end();
        t_hooks.innermost_location = next_;
        --t_hooks.depth;
        if (task_) release(entry_, task_);
    }
    location(const location&) = delete;
    location& operator=(const location&) = delete;

    // The state below is read by walk and on_creation.
    await_location where() const { return {file_, function_ ? function_ : "", uint32_t(line_)}; }

    const char* file_;
    const char* function_;
    int line_;
    location* next_;
    uint32_t depth_;
    bool user_ = false;         // the program's location (or unknown), not Asio's own
    task_id task_ = 0;          // co_spawn_entry_point: the coroutine's task
    task_entry* entry_ = nullptr;
    poll_state poll_;
};

struct standalone_location : location {
    standalone_location(const char* file, int line, const char* function)
        : location(standalone_co_spawn_inline, file, line, function) {}
};
struct boost_location : location {
    boost_location(const char* file, int line, const char* function)
        : location(boost_co_spawn_inline, file, line, function) {}
};

// ASIO_HANDLER_COMPLETION: a handler is about to be invoked (or destroyed
// unrun). Copies what it needs: Asio frees the operation before the upcall.
class completion {
public:
    explicit completion(const tracked_handler& h)
        : op_(&h), task_(h.bbx_task_), entry_(h.bbx_entry_), site_(h.bbx_site_), session_(h.bbx_session_),
          flags_(h.bbx_flags_), next_(t_hooks.innermost_completion), depth_(++t_hooks.depth) {
        t_hooks.innermost_completion = this;
    }
    ~completion() {
        if (poll_.active) poll_.end();  // the handler threw
        if (task_ && (flags_ & hf_strand)) {
            t_hooks.after_inline = true;
            t_hooks.last_strand_task = task_;
            t_hooks.last_strand_entry = entry_;
        }
        t_hooks.innermost_completion = next_;
        --t_hooks.depth;
        if (task_) release(entry_, task_);
    }
    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;

    // ASIO_HANDLER_INVOCATION_BEGIN((args...)): the handler's arguments are not recorded.
    template <class... Args>
    void invocation_begin(const Args&...) {
        if (!task_) return;
        if (op_ == t_hooks.pending_strand) t_hooks.pending_strand = nullptr;
        if (flags_ & hf_strand) t_hooks.after_inline = false;
        if (!(flags_ & hf_woken)) {
            if (task_ == t_task.current) return;  // run at once inside its own task's poll: part of it
            task_wake(task_, (flags_ & hf_executor) ? t_task.current : 0);
            flags_ |= hf_woken;
        }
        const uint64_t g = task_gate();
        const bool valid = g && uint16_t(session_of(g)) == session_;
        poll_.begin(task_, valid ? site_ : 0, (flags_ & hf_user_site) != 0);
    }
    void invocation_end() {
        if (poll_.active) poll_.end();
    }

    // The state below is read by walk and task_for.
    const void* op_;  // the operation, as an identity only: Asio has freed it by the upcall
    task_id task_;
    task_entry* entry_;
    uint32_t site_;
    uint16_t session_;
    uint16_t flags_;
    completion* next_;
    uint32_t depth_;
    task_id fresh_task_ = 0;  // the child task the new objects this invocation touched joined
    task_entry* fresh_entry_ = nullptr;
    poll_state poll_;
};

// What a new handler is created in: the innermost co_spawn starting on this
// thread or handler being invoked, and the outermost location pushed since.
struct walk {
    task_id task = 0;
    task_entry* entry = nullptr;
    bool coroutine = false;
    completion* c = nullptr;    // the handler being invoked (null: none, or a co_spawn starts inside it)
    location* spawn = nullptr;  // the co_spawn starting now, if that is what runs
    const location* site = nullptr;

    walk() {
        completion* ic = t_hooks.innermost_completion;
        const uint32_t floor = ic ? ic->depth_ : 0;
        for (location* l = t_hooks.innermost_location; l && l->depth_ > floor; l = l->next_) {
            if (l->task_) {
                if (!site) site = l;
                task = l->task_;
                entry = l->entry_;
                coroutine = true;
                spawn = l;
                return;
            }
            site = l;
        }
        if (ic) {
            c = ic;
            task = ic->task_;
            entry = ic->entry_;
            coroutine = (ic->flags_ & hf_coroutine) != 0;
        }
    }
};

// The task a new handler belongs to (one reference taken), by the rules atop.
inline task_id task_for(const walk& w, const op_info& info, const void* object, task_id current, task_entry*& entry) {
    const op_class oc = info.oc;
    if (w.task && (w.coroutine || oc != op_class::io)) {
        entry = w.entry;
        retain(entry);
        return w.task;
    }
    if (oc != op_class::io) return start_task(task_kind::post, current, 0, entry);
    if (owner o = find_owner(object); o.task) {
        // In an accept loop's handler (callback code), an object another
        // task owns is taken as the accepted connection's: it is a new
        // connection's timer at the address of one whose task's last
        // handler still runs on another thread (seen about 1 run in 20 of
        // tests/test_asio.cpp's callback server, its timer counted to the
        // old connection).
        const bool accepting = w.task && w.task != o.task && marked(w.entry, accepts) && !info.accept;
        if (!accepting) {
            entry = o.entry;
            return o.task;
        }
        release(o.entry, o.task);
    }
    task_id task;
    if (!w.task) {
        task = start_task(info.kind, current, 0, entry);
    } else if (!marked(w.entry, accepts) || info.accept) {
        task = w.task;  // its own new object: a connection's second timer, a proxy's upstream socket
        entry = w.entry;
        retain(entry);
    } else if (w.c && w.c->fresh_task_) {
        task = w.c->fresh_task_;
        entry = w.c->fresh_entry_;
        retain(entry);
    } else {  // an accept loop's handler: an accepted connection
        task = start_task(task_kind::connection, w.task, 0, entry);
        if (w.c) {
            w.c->fresh_task_ = task;
            w.c->fresh_entry_ = entry;
        }
    }
    set_owner(object, task, entry);
    return task;
}

// The hooks proper; the templates below only drop the execution context
// (an incomplete type where this header is included), and keep one copy of
// each event's call site for all context types.
inline void on_creation(tracked_handler& h, const char* object_type, const void* object, std::uintmax_t native_handle,
                        const char* op_name) {
    const walk w;
    const op_info info = describe(object_type, op_name);
    const op_class oc = info.oc;
    const task_id current = t_task.current;
    task_entry* entry = nullptr;
    // A strand's invoker, having run handlers, re-posts itself for handlers
    // queued behind it from elsewhere (another thread): that post serves the
    // task whose handler the strand ran, and was caused by what queued them,
    // not by a task (waker 0). A post the task's own handler made to the
    // strand (pending_strand) is that task's.
    task_id task = 0;
    bool strand_repost = false;
    if (oc == op_class::executor && current && t_hooks.after_inline && !t_hooks.pending_strand) {
        task = t_hooks.last_strand_task;
        entry = t_hooks.last_strand_entry;
        strand_repost = !entry || retain_if_alive(entry, task);
    }
    if (!strand_repost) task = task_for(w, info, object, current, entry);
    if (info.accept) mark(entry, accepts);
    uint16_t flags = w.task == task && w.coroutine ? hf_coroutine : 0;
    if (oc == op_class::maybe_inline) flags |= hf_strand;

    // Where the task waits while this handler is pending.
    const uint64_t g = task_gate();
    uint32_t site = 0;
    bool user = false;
    if (w.site && w.site->user_) {  // a co_await with use_awaitable (file null: no location given)
        user = true;
        if (g && w.site->file_) site = await_site(w.site->where(), session_of(g));
    } else if (task == current && t_hooks.ctx_user) {  // an inner step of what the coroutine awaits
        user = true;
        site = t_hooks.ctx_site;
    } else if (w.site && g) {  // Asio's location of a composed operation
        site = await_site(w.site->where(), session_of(g));
    }
    if (user) flags |= hf_user_site;
    if (task == current) {
        if (!t_hooks.self_posted) t_task.pending_site = site;
        t_hooks.ctx_site = site;
        t_hooks.ctx_user = user;
    }
    h.bbx_task_ = task;
    h.bbx_entry_ = entry;
    h.bbx_site_ = site;
    h.bbx_session_ = uint16_t(session_of(g));
#if BBX_LEVEL_MAX >= BBX_LEVEL_DEBUG
    record_operation(g_start_sites.table, true, object_type, op_name, task, uint64_t(native_handle));
#else
    (void)native_handle;
#endif
    if (oc != op_class::io) flags |= hf_executor;
    if (oc == op_class::maybe_inline && task == current) t_hooks.pending_strand = &h;
    if (oc == op_class::executor) {  // runnable now; a strand dispatch may run at once instead
        task_id waker = strand_repost ? 0 : current;
        if (waker == task && w.spawn && w.spawn->poll_.active) waker = w.spawn->poll_.prev;  // a co_spawn start that waits
        task_wake(task, waker);
        flags |= hf_woken;
        // A self-wake: the task resumes at this post, so the poll names its
        // site (none for a callback's post) and keeps it, even if the handler
        // goes on to start a composed operation (whose site is Asio's).
        if (waker == task && task == current) t_hooks.self_posted = true;
    }
    h.bbx_flags_ = flags;
}

inline void on_operation(const char* object_type, const void* object, std::uintmax_t native_handle,
                         const char* op_name) {
#if BBX_LEVEL_MAX >= BBX_LEVEL_DEBUG
    record_operation(g_op_sites.table, false, object_type, op_name, t_task.current, uint64_t(native_handle));
#else
    (void)object_type, (void)native_handle;
#endif
    if (same(op_name, "close") || same(op_name, "release")) forget_object(object);
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
// the operation, so the handler is ready; the I/O woke it (waker 0).
inline void on_reactor_operation(const tracked_handler& h, const char* call, int err, std::size_t bytes) {
    if (!h.bbx_task_) return;
#if BBX_LEVEL_MAX >= BBX_LEVEL_TRACE
    record_io(g_io_sites.table, call, h.bbx_task_, err, bytes);
#else
    (void)call, (void)bytes;
#endif
    if (!(h.bbx_flags_ & hf_woken) && err != EWOULDBLOCK && err != EAGAIN) {
        task_wake(h.bbx_task_, 0);
        h.bbx_flags_ |= hf_woken;
    }
}

// ASIO_HANDLER_CREATION: an operation was started with handler `h`.
template <class Context>
inline void creation(Context&, tracked_handler& h, const char* object_type, const void* object,
                     std::uintmax_t native_handle, const char* op_name) {
    on_creation(h, object_type, object, native_handle, op_name);
}

// ASIO_HANDLER_OPERATION: an operation without a handler (close, cancel ...).
template <class Context>
inline void operation(Context&, const char* object_type, const void* object, std::uintmax_t native_handle,
                      const char* op_name) {
    on_operation(object_type, object, native_handle, op_name);
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
// Standalone Asio (ASIO_*) and Boost.Asio (BOOST_ASIO_*) ask for the same
// hooks with the same arguments (asio/detail/handler_tracking.hpp and
// boost/asio/detail/handler_tracking.hpp); both sets are defined, so one
// program may use both.
#define ASIO_INHERIT_TRACKED_HANDLER : public ::bbx::detail::asio_hooks::tracked_handler
#define ASIO_ALSO_INHERIT_TRACKED_HANDLER , public ::bbx::detail::asio_hooks::tracked_handler
#define ASIO_HANDLER_TRACKING_INIT ::bbx::detail::asio_hooks::init()
#define ASIO_HANDLER_LOCATION(args) ::bbx::detail::asio_hooks::standalone_location tracked_location args
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

#define BOOST_ASIO_INHERIT_TRACKED_HANDLER : public ::bbx::detail::asio_hooks::tracked_handler
#define BOOST_ASIO_ALSO_INHERIT_TRACKED_HANDLER , public ::bbx::detail::asio_hooks::tracked_handler
#define BOOST_ASIO_HANDLER_TRACKING_INIT ::bbx::detail::asio_hooks::init()
#define BOOST_ASIO_HANDLER_LOCATION(args) ::bbx::detail::asio_hooks::boost_location tracked_location args
#define BOOST_ASIO_HANDLER_CREATION(args) ::bbx::detail::asio_hooks::creation args
#define BOOST_ASIO_HANDLER_COMPLETION(args) ::bbx::detail::asio_hooks::completion tracked_completion args
#define BOOST_ASIO_HANDLER_INVOCATION_BEGIN(args) tracked_completion.invocation_begin args
#define BOOST_ASIO_HANDLER_INVOCATION_END tracked_completion.invocation_end()
#define BOOST_ASIO_HANDLER_OPERATION(args) ::bbx::detail::asio_hooks::operation args
#define BOOST_ASIO_HANDLER_REACTOR_REGISTRATION(args) ::bbx::detail::asio_hooks::reactor_registration args
#define BOOST_ASIO_HANDLER_REACTOR_DEREGISTRATION(args) ::bbx::detail::asio_hooks::reactor_deregistration args
#define BOOST_ASIO_HANDLER_REACTOR_READ_EVENT 1
#define BOOST_ASIO_HANDLER_REACTOR_WRITE_EVENT 2
#define BOOST_ASIO_HANDLER_REACTOR_ERROR_EVENT 4
#define BOOST_ASIO_HANDLER_REACTOR_EVENTS(args) ::bbx::detail::asio_hooks::reactor_events args
#define BOOST_ASIO_HANDLER_REACTOR_OPERATION(args) ::bbx::detail::asio_hooks::reactor_operation args
