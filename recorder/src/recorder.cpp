// The recorder's cold paths: session set-up, ring hand-out, call-site
// registration. The hot path lives inline in bbx.hpp.
#include "bbx/bbx.hpp"
#include "bbx/crash.hpp"
#include "bbx/task.hpp"
#include "stall.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "bbx_meta_generated.h"

bbx_detail_gate_word bbx_detail_gate;  // bbx/common.h: C linkage, shared with the C API

namespace bbx {
namespace detail {

constinit thread_local thread_ring t_ring{};

namespace {

namespace fmt = ::bbx::format;

// Everything a running session owns. Guarded by `mu` except where noted.
struct session_state {
    std::mutex mu;
    uint32_t session = 0;       // current session number, 0 = none ever started
    bool running = false;
    fmt::file_header* header = nullptr;
    unsigned char* base = nullptr;
    uint64_t file_size = 0;
    int fd = -1;
    uint32_t ring_size = 0;
    uint32_t next_site_id = 0;
    uint64_t next_resource_id = 0;  // process-wide, never reset
    bool discard = false;
    bool anonymous = false;  // rings in anonymous memory; fd is the file the image is written to
    int64_t test_clock_offset_ns = 0;  // BBX_TEST_CLOCK_OFFSET_NS (see start_locked); 0 outside tests
    // The last session's sizes and measured counter rate: what a forked child records with.
    uint32_t ring_kb = 0, max_threads = 0, meta_kb = 0, tasks = 0;
    double tick_hz = 0;
    stall::settings stall;  // the running session's stall sampling (threshold 0: off)
    // fork() (see fork_child): a child that has not yet made its own capture.
    bool fork_pending = false;
    uint32_t fork_parent_pid = 0;
    // A child whose capture could not be made: its events are counted as
    // dropped in the header it inherited (the parent's, still mapped).
    uint32_t fork_failed_session = 0;
    unsigned char* inherited_base = nullptr;  // the parent's mapping, unmapped once the child has its own
    uint64_t inherited_size = 0;
    char path[4096] = {};
};
constinit session_state g;

constinit thread_local char t_name[fmt::max_thread_name] = {};

// This thread's view of the session's identity region (spec/identities.md),
// set when it asks for a ring (acquire_ring_locked): the task table, and
// its ring's open span contexts. Only this thread writes its ring's contexts.
struct identity_view {
    uint32_t session;                // the session it belongs to (0: none)
    uint32_t task_entries;
    fmt::task_entry* tasks;          // null: no task table
    fmt::context_entry* contexts;    // its ring's context_entries_per_ring entries; null: no ring
    fmt::file_header* header;
    uint32_t ring, generation;       // UINT32_MAX, 0: no ring
    int32_t depth;                   // context_scopes recorded and open (past the entries too)
};
constinit thread_local identity_view t_ident{};

// A bump allocator over a static arena, so that building a metadata record
// never touches the heap (it runs under g.mu, one record at a time).
class arena_allocator final : public flatbuffers::Allocator {
public:
    uint8_t* allocate(size_t size) override {
        size = (size + 15) & ~size_t{15};
        if (used_ + size > sizeof arena_) return nullptr;
        uint8_t* p = arena_ + used_;
        used_ += size;
        return p;
    }
    void deallocate(uint8_t*, size_t) override {}
    void reset() { used_ = 0; }

private:
    alignas(16) uint8_t arena_[64 * 1024];
    size_t used_ = 0;
};
// Constructed on first use (under g.mu): a program's own static constructors
// may record before this file's dynamic initialisers have run.
arena_allocator& metadata_arena() {
    static arena_allocator a;
    a.reset();
    return a;
}

uint32_t current_tid() { return uint32_t(syscall(SYS_gettid)); }

template <class T>
std::atomic_ref<T> atom(T& v) {
    return std::atomic_ref<T>(v);
}

// Reads the counter between two CLOCK_MONOTONIC reads, five times, and keeps
// the narrowest window: a preemption (or a VM pause) between the reads would
// otherwise shift the anchor by the length of the pause.
fmt::clock_anchor read_anchor() {
    auto ns = [](const timespec& t) { return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_nsec); };
    fmt::clock_anchor best{};
    uint64_t best_window = ~uint64_t{0};
    for (int i = 0; i < 5; ++i) {
        timespec a, b, r, bt;
        clock_gettime(CLOCK_MONOTONIC, &a);
        uint64_t ticks = now_ticks();
        clock_gettime(CLOCK_MONOTONIC, &b);
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_BOOTTIME, &bt);
        uint64_t window = ns(b) - ns(a);
        if (window >= best_window) continue;
        best_window = window;
        uint64_t mono = ns(a) + window / 2;
        // Realtime and boottime were read just after; move them back to `mono`.
        uint64_t lag = ns(b) - mono;
        best = {ticks, mono, ns(r) - lag, ns(bt) - lag};
    }
    return best;
}

void write_anchor(fmt::file_header* h, unsigned index, fmt::clock_anchor a) {
    // The test hook of start_locked: every clock of every anchor, never the ticks.
    a.monotonic_ns += uint64_t(g.test_clock_offset_ns);
    a.realtime_ns += uint64_t(g.test_clock_offset_ns);
    a.boottime_ns += uint64_t(g.test_clock_offset_ns);
    auto seq = atom(h->calib_seq);
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    atom(h->anchors[index].ticks).store(a.ticks, std::memory_order_relaxed);
    atom(h->anchors[index].monotonic_ns).store(a.monotonic_ns, std::memory_order_relaxed);
    atom(h->anchors[index].realtime_ns).store(a.realtime_ns, std::memory_order_relaxed);
    atom(h->anchors[index].boottime_ns).store(a.boottime_ns, std::memory_order_relaxed);
    if (index + 1 > h->anchor_count) atom(h->anchor_count).store(index + 1, std::memory_order_relaxed);
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// Appends one finished FlatBuffer as a metadata record. Caller holds g.mu.
bool append_meta(const uint8_t* data, uint32_t size) {
    fmt::file_header* h = g.header;
    uint64_t used = h->meta_used;
    uint64_t need = sizeof(fmt::meta_record_header) + fmt::align8(size);
    if (used + need > h->meta_capacity) return false;
    unsigned char* p = g.base + h->meta_offset + used;
    std::memcpy(p + sizeof(fmt::meta_record_header), data, size);
    auto* rh = reinterpret_cast<fmt::meta_record_header*>(p);
    atom(rh->size).store(size, std::memory_order_relaxed);
    atom(rh->commit).store(fmt::meta_commit, std::memory_order_release);
    atom(h->meta_used).store(used + need, std::memory_order_release);
    return true;
}

std::string_view cut(const char* s, size_t max) {
    if (!s) return {};
    std::string_view v(s);
    return v.substr(0, v.size() < max ? v.size() : max);
}

fmt::ring_descriptor* ring_desc(uint32_t ring) {
    return reinterpret_cast<fmt::ring_descriptor*>(g.base + g.header->ring_table_offset) + ring;
}

fmt::owner_entry* owner_at(uint32_t ring, uint32_t generation) {
    return reinterpret_cast<fmt::owner_entry*>(g.base + g.header->owner_table_offset) +
           uint64_t(ring) * fmt::owner_entries_per_ring + generation % fmt::owner_entries_per_ring;
}

// Writes a ring's owner table entry under its sequence word. Caller holds g.mu.
void write_owner_entry(uint32_t ring, uint32_t generation, uint32_t tid, uint64_t start_pos, std::string_view name) {
    fmt::owner_entry* e = owner_at(ring, generation);
    auto seq = atom(e->seq);
    seq.store(seq.load(std::memory_order_relaxed) | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    atom(e->generation).store(generation, std::memory_order_relaxed);
    atom(e->tid).store(tid, std::memory_order_relaxed);
    atom(e->start_pos).store(start_pos, std::memory_order_relaxed);
    char padded[sizeof e->name] = {};
    std::memcpy(padded, name.data(), name.size());
    for (size_t i = 0; i < sizeof padded; i += 8) {
        uint64_t w;
        std::memcpy(&w, padded + i, 8);
        atom(*reinterpret_cast<uint64_t*>(e->name + i)).store(w, std::memory_order_relaxed);
    }
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void release_ring_at_exit();

struct ring_releaser {
    uint32_t session = 0;
    ~ring_releaser() { release_ring_at_exit(); }
};
thread_local ring_releaser t_releaser;

void release_ring_at_exit() {
    std::lock_guard lock(g.mu);
    crash_thread_exit();
    thread_ring& r = t_ring;
    if (!g.running || r.session != g.session) return;
    if (r.desc) {
        // The hand-out gives the ring released longest ago to the next thread that finds no free one.
        atom(r.desc->released_ticks).store(now_ticks(), std::memory_order_relaxed);
        atom(r.desc->state).store(fmt::ring_released, std::memory_order_release);
    }
    // Events from later thread-exit destructors are dropped and counted, not given a new ring.
    uint32_t session = r.session;
    r = thread_ring{};
    r.session = session;
    r.drop_counter = &g.header->events_dropped;
}

// Writes a site-less event whose B word is a string's length and whose
// payload is the string (thread names).
void write_string_event(fmt::kind k, std::string_view text) {
    thread_ring* r = &t_ring;
    const uint64_t words[2] = {word_of(text), 0};
    uint64_t units[(fmt::max_thread_name + 16) / 8];
    const uint32_t cont = pack_payload(units, words, 1, &text, 1);
    write_event(r, k, 0, now_ticks(), words[0], units, cont);
}

void prefault(unsigned char* p, size_t n) {
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
#endif
    // Touch every page now, so the hot path never takes a first-write fault.
    for (size_t off = 0; off < n; off += 4096) atom(p[off]).fetch_add(0, std::memory_order_relaxed);
}

// The kernel's boot id, a UUID: captures with the same one share
// CLOCK_MONOTONIC, so a merge can align them without a network estimate.
void read_boot_id(unsigned char out[16]) {
    std::memset(out, 0, 16);
    char text[64] = {};
    FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    bool ok = std::fgets(text, sizeof text, f) != nullptr;
    std::fclose(f);
    unsigned char id[16];
    int k = 0;
    for (const char* p = text; ok && *p && *p != '\n' && k < 32; ++p) {
        if (*p == '-') continue;
        int v = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (v < 0) return;
        id[k / 2] = (k % 2) ? uint8_t(id[k / 2] | v) : uint8_t(v << 4);
        ++k;
    }
    if (k == 32) std::memcpy(out, id, 16);
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

int parse_level(const char* s) {
    static const char* names[] = {"off", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i <= 5; ++i)
        if (strcasecmp(s, names[i]) == 0) return i;
    char* end;
    long v = std::strtol(s, &end, 10);
    return (*end == 0 && v >= 0 && v <= 5) ? int(v) : -1;
}

bool parse_u32(const char* s, uint32_t& out) {
    char* end;
    errno = 0;
    unsigned long v = std::strtoul(s, &end, 10);
    if (errno || *end || end == s || v > 0xffffffffu) return false;
    out = uint32_t(v);
    return true;
}

void stop_at_exit() { stop(); }

// fork(): the child shares the parent's MAP_SHARED rings, and two processes
// writing one ring would break its one-writer rule. So the child records into
// a capture of its own, <parent's path>.<child pid>, made by its first event
// (start_forked_child): this handler runs in the child right after fork(),
// where a multithreaded parent may have left any lock held (malloc's, stdio's),
// so it only arms that start, with async-signal-safe work. The gate gets the
// next session number, which no thread's ring has: every thread's next event
// takes the slow path once, into acquire_ring. The lock is held across fork
// so the child never inherits it locked by a thread that does not exist there.
void fork_prepare() { g.mu.lock(); }
void fork_parent() { g.mu.unlock(); }

// Appends ".<n>" to the NUL-terminated text in buf; false if it does not fit.
// Async-signal-safe (no snprintf).
bool append_number(char* buf, size_t size, uint32_t n) {
    char digits[12];
    int k = 0;
    do digits[k++] = char('0' + n % 10);
    while ((n /= 10) != 0);
    size_t len = strnlen(buf, size);
    if (len + 1 + size_t(k) + 1 > size) return false;
    buf[len++] = '.';
    while (k) buf[len++] = digits[--k];
    buf[len] = 0;
    return true;
}

void fork_child() {
    const uint64_t gate = gate_load(std::memory_order_relaxed);
    if (g.running) {
        // The parent's capture: the base of the child's name, where a child
        // that cannot make its own counts its losses, and unmapped once it has.
        g.inherited_base = g.base;
        g.inherited_size = g.file_size;
        g.fork_pending = true;
    } else if (g.fork_pending) {
        // Forked again before this process made its capture: the grandchild's
        // name is based on the one this process would have had.
        if (!append_number(g.path, sizeof g.path, uint32_t(getppid()))) g.fork_pending = false;
    }
    if (g.fork_pending) {
        g.fork_parent_pid = uint32_t(getppid());
        g.fork_failed_session = 0;
        gate_store((uint64_t(g.session + 1) << 8) | (gate & 0xff), std::memory_order_relaxed);
    } else {
        g.fork_failed_session = 0;
        gate_store(0, std::memory_order_relaxed);
    }
    g.running = false;
    if (g.fd >= 0) close(g.fd);
    g.fd = -1;
    g_crash_target = {};  // the parent's capture: a crash of the child never marks it
    g.stall = {};
    stall::forget_after_fork();
    g.mu.unlock();
}

}  // namespace

bool start_forked_child_locked(uint32_t session, int level);  // below, with start()

namespace {

// A forked child whose own capture could not be made, in the session its gate names.
bool failed_child(uint32_t session) { return !g.running && session != 0 && g.fork_failed_session == session; }

// The ring a thread that has none gets (caller holds g.mu): one never used;
// else the one whose owner released it longest ago; else one whose owner
// thread is gone without releasing it (it never ran its thread_local
// destructors: the kernel knows no such thread in this process). UINT32_MAX:
// none (every ring's owner is alive). Signal-safe (tgkill is).
uint32_t pick_ring() {
    fmt::file_header* h = g.header;
    const uint32_t used = atom(h->rings_used).load(std::memory_order_relaxed);
    if (used < h->ring_count) return used;
    uint32_t best = UINT32_MAX;
    uint64_t best_ticks = 0;
    for (uint32_t i = 0; i < used; ++i) {
        const fmt::ring_descriptor* d = ring_desc(i);
        if (d->state != fmt::ring_released || d->generation == UINT32_MAX) continue;
        if (best == UINT32_MAX || d->released_ticks < best_ticks) best = i, best_ticks = d->released_ticks;
    }
    if (best != UINT32_MAX) return best;
    const pid_t pid = getpid();
    const int saved_errno = errno;  // (a crash handler may be the caller)
    for (uint32_t i = 0; i < used; ++i) {
        const fmt::ring_descriptor* d = ring_desc(i);
        if (d->state != fmt::ring_owned || d->generation == UINT32_MAX) continue;
        if (syscall(SYS_tgkill, pid, pid_t(d->tid), 0) != 0 && errno == ESRCH) best = i;
        if (best != UINT32_MAX) break;
    }
    errno = saved_errno;
    return best;
}

// acquire_ring with g.mu held. In the crash handler (in_signal) it leaves
// out what is not signal-safe: the alternate stack, the thread-exit hook,
// and a forked child's start.
bool acquire_ring_locked(uint64_t gate, bool in_signal) {
    thread_ring& r = t_ring;
    uint32_t session = uint32_t(gate >> 8);
    if (g.fork_pending && !g.running && session == g.session + 1) {
        if (in_signal) return false;
        start_forked_child_locked(session, int(gate & 0xff));
    }
    const bool lost_child = failed_child(session);
    if (!lost_child && (!g.running || g.session != session)) return false;  // stopped meanwhile
    if (r.session == session) return r.limit != 0;
    r = thread_ring{};
    r.session = session;
    fmt::file_header* h = g.header;
    t_ident = identity_view{};
    if (!lost_child) {
        t_ident.session = session;
        t_ident.header = h;
        t_ident.task_entries = h->task_entries;
        t_ident.tasks = h->task_entries ? reinterpret_cast<fmt::task_entry*>(g.base + h->identity_offset) : nullptr;
        t_ident.ring = UINT32_MAX;
    }
    const uint32_t index = lost_child ? UINT32_MAX : pick_ring();
    if (index == UINT32_MAX) {
        atom(h->threads_dropped).fetch_add(1, std::memory_order_relaxed);
        r.drop_counter = &h->events_dropped;
        count_drop();
        return false;  // limit stays 0: every later event of this thread is dropped and counted
    }
    const bool fresh = index == atom(h->rings_used).load(std::memory_order_relaxed);
    if (fresh) atom(h->rings_used).store(index + 1, std::memory_order_release);
    fmt::ring_descriptor* desc = ring_desc(index);
    unsigned char* slots = g.base + h->rings_offset + uint64_t(index) * g.ring_size;
    if (fresh) prefault(slots, g.ring_size);
    const uint32_t tid = current_tid();
    const uint32_t generation = desc->generation + 1;
    char name[fmt::max_thread_name] = {};
    if (t_name[0]) std::memcpy(name, t_name, sizeof name);
    else pthread_getname_np(pthread_self(), name, sizeof name);
    const std::string_view name_view = cut(name, fmt::max_thread_name - 1);
    // The new owner keeps the ring's write position, so its stamps go on
    // from the last owner's, and the decoder tells the owners apart by the
    // owner event: table entry first, then the owner event, then the
    // generation (spec/ring-buffer.md, "Rings change hands").
    write_owner_entry(index, generation, tid, desc->write_pos, name_view);
    atom(desc->tid).store(tid, std::memory_order_relaxed);
    atom(desc->state).store(fmt::ring_owned, std::memory_order_release);
    r.slots = slots;
    r.desc = desc;
    r.pos = desc->write_pos;
    r.events = desc->events_written;
    const uint64_t nslots = g.ring_size / fmt::v2::slot_size;
    r.mask = nslots - 1;
    r.shift = uint32_t(__builtin_ctzll(nslots));
    // An event takes at most a quarter of the ring (and 1 + 255 slots), so
    // that time bases, at most nslots / 2 + 1 + max_cont + 1 apart, leave one
    // in every window of the ring (make_room).
    r.max_cont = uint32_t(nslots / 4 - 1 < fmt::v2::max_continuations ? nslots / 4 - 1 : fmt::v2::max_continuations);
    // Discard mode keeps a ring's oldest slots: a reused ring that is full stays full.
    r.hard_limit = g.discard ? nslots : ~uint64_t{0};
    r.ring_index = index;
    r.drop_counter = &desc->events_dropped;
    // No poll_begin of this owner is in the ring yet. Taken inside a poll (its
    // begin is in no ring of this owner: a reader would take its end for
    // another's), the ring writes only explicit forms, and the time base
    // before its first event names unknown_task (spec/events.md, "The
    // current task").
    r.implicit_task = t_task.polls ? implicit_unknown : 0;
    {
        // The owner event (2.0: B = generation | hi << 32, hi the high half
        // of its own ticks; continuation tid | L << 32, then the L name
        // bytes) is written with no time_base before it, and times the
        // owner's first events as a time base would: hi = its hi, and the
        // next time base is due half a ring on (make_room), so that every
        // window holds a time base or an owner event. Taken inside a poll,
        // the first event is still preceded by a time base (naming
        // unknown_task), as after poll_event_lost.
        const uint64_t ticks = now_ticks();
        const uint64_t at = r.pos;
        r.hi = ticks >> 32;
        r.tb_limit = ~uint64_t{0};
        r.limit = r.hard_limit;
        const uint64_t words[3] = {fmt::v2::owner_word(generation, uint32_t(r.hi)),
                                   uint64_t(tid) | (uint64_t(name_view.size()) << 32), 0};
        uint64_t units[2 + fmt::max_thread_name / 8 + 2];
        const uint32_t cont = pack_payload(units, words, 2, &name_view, 1);
        if (write_event(&r, fmt::kind::owner, 0, ticks, words[0], units, cont)) {
            r.tb_limit = r.implicit_task == implicit_unknown ? r.pos : at + ((r.mask + 1) >> 1);
        } else {
            // Dropped (discard mode, the ring full): an event that still
            // fits gets a time base first, as no owner event times it.
            r.hi = no_hi;
            r.tb_limit = r.pos;
        }
        r.limit = r.tb_limit < r.hard_limit ? r.tb_limit : r.hard_limit;
    }
    atom(desc->generation).store(generation, std::memory_order_release);
    t_ident.ring = index;
    t_ident.generation = generation;
    t_ident.contexts = reinterpret_cast<fmt::context_entry*>(g.base + h->identity_offset +
                                                             uint64_t(h->task_entries) * fmt::task_entry_size) +
                       uint64_t(index) * fmt::context_entries_per_ring;
    write_anchor(h, 1, read_anchor());
    if (!in_signal) {
        t_releaser.session = session;  // first use registers the thread-exit hook
        crash_thread_setup();
    }
    return true;
}

}  // namespace

bool acquire_ring(uint64_t gate) {
    std::lock_guard lock(g.mu);
    return acquire_ring_locked(gate, false);
}

// The slow path of write_event_units (bbx.hpp). Signal-safe: no lock, no
// system call. True means the caller writes its event at r->pos now. The time_base (kind 9, 2 slots) goes before the event, with
// the event's ticks: head B = hi << 32 | prev_hi, continuation B = the task a
// reader takes as current here (implicit_task; format::v2::unknown_task when
// a poll event of this ring was lost: the thread's current task could then
// name a task the reader's nesting does not have there). After it, the next one is due when an event would
// pass half a ring further on, so every window of the ring holds one.
bool make_room(thread_ring* r, uint32_t slots, uint64_t ticks) {
    const uint64_t pos = r->pos, hard = r->hard_limit, hi = ticks >> 32;
    if (pos + slots > hard) {  // no ring, or discard mode and full
        count_drop();
        return false;
    }
    if (hi == r->hi && pos + slots <= r->tb_limit) return true;  // (not reached: the caller compared)
    if (pos + 2 + slots > hard) {  // discard mode: the time_base does not fit, the event goes with it
        count_drop();
        return false;
    }
    const uint32_t prev_hi = r->hi == no_hi ? fmt::v2::no_prev_hi : uint32_t(r->hi);
    static_assert(implicit_unknown == fmt::v2::unknown_task);
    const uint64_t task = r->implicit_task;
    put_slot(r->slots + (pos & r->mask) * fmt::v2::slot_size, fmt::v2::head_word(fmt::kind::time_base, pos >> r->shift, 0, ticks),
             fmt::v2::time_base_word(uint32_t(hi), prev_hi));
    put_slot(r->slots + ((pos + 1) & r->mask) * fmt::v2::slot_size,
             fmt::v2::continuation_word((pos + 1) >> r->shift, 1, 1), task);
    // Published with the event it precedes (one write_pos store for both).
    // It is not counted in events_written, which counts the events the
    // program recorded (and owner events, as 1.3 does): write_pos * 16 /
    // events_written is the ring's bytes per event, time bases included.
    r->pos = pos + 2;
    r->hi = hi;
    r->tb_limit = pos + ((r->mask + 1) >> 1);
    r->limit = r->tb_limit < hard ? r->tb_limit : hard;
    return true;
}

void poll_event_lost() {
    thread_ring& r = t_ring;
    if (r.implicit_task == implicit_unknown) return;
    r.implicit_task = implicit_unknown;
    // The next event passes tb_limit: make_room writes a time base (naming
    // unknown_task) before it, so that a reader that finds the polls open at
    // the start of its window from the poll ends ahead stops before this
    // loss. (A ring of an ended session, or none, is reset when one is taken.)
    r.tb_limit = r.pos;
    if (r.limit > r.pos) r.limit = r.pos;
}

bool acquire_ring_in_signal(uint64_t gate) {
    if (!g.mu.try_lock()) return false;  // held, perhaps by this very thread: no ring, no wait
    std::lock_guard lock(g.mu, std::adopt_lock);
    return acquire_ring_locked(gate, true);
}

// ---- the identity region (spec/identities.md) -------------------------------------

namespace {

// Where a task's probe window starts: the high half of its id times 2^64/phi
// (Fibonacci hashing: consecutive ids land far apart).
uint32_t task_slot(uint64_t task, uint32_t entries) {
    return uint32_t(((task * 0x9e3779b97f4a7c15ull) >> 32) % entries);
}

// The ticks of the event this thread just wrote (its head `slots` slots
// back), read from the ring: the counter is not read twice (on some
// machines a read costs as much as the event). Its head holds the low half;
// the high half is the ring's hi, which that event set. A thread without a
// ring, or in discard mode (where the event may have been dropped, and the
// slots `slots` back be an older event's), reads the counter.
uint64_t just_written_ticks(fmt::kind k, uint32_t slots) {
    const thread_ring& r = t_ring;
    if (r.hard_limit != ~uint64_t{0} || r.pos < slots || r.hi == no_hi) return now_ticks();
    const uint64_t at = r.pos - slots;
    const uint64_t a = atom(*reinterpret_cast<uint64_t*>(r.slots + (at & r.mask) * fmt::v2::slot_size))
                           .load(std::memory_order_relaxed);
    if (fmt::v2::kind_of(a) != uint8_t(k) || fmt::v2::lap_of(a) != fmt::v2::lap_at(at, r.shift)) return now_ticks();
    return (r.hi << 32) | fmt::v2::ticks_lo_of(a);
}

// Stores a word into the shared mapping as a relaxed atomic (a reader may copy it meanwhile).
template <class T>
void store(T& field, T v) {
    atom(field).store(v, std::memory_order_relaxed);
}

}  // namespace

// A spawn claims, in the task_probe entries from task_slot, the first one
// not live (empty, or completed). (The one that completed longest ago would
// keep recent identities longer, but scanning the whole window made spawn +
// complete 82 ns instead of 24 in make bench: spec/identities.md.) The claim is a CAS of
// the entry's sequence word from the even value read with its state to the
// next (odd) one; the fields follow, then the next even value (release).
// Nothing to take (every entry live, or being written): counted.
void note_spawn(uint32_t session, uint32_t site, task_id task, task_id parent, uint64_t frame_bytes,
                uint32_t slots_written) {
    identity_view& v = t_ident;
    if (v.session != session || !v.tasks || task == 0) return;
    const uint32_t n = v.task_entries, start = task_slot(task, n), window = n < fmt::task_probe ? n : fmt::task_probe;
    for (int attempt = 0; attempt < 4; ++attempt) {
        fmt::task_entry* best = nullptr;
        uint32_t best_seq = 0;
        for (uint32_t i = 0; i < window; ++i) {
            fmt::task_entry* e = v.tasks + (start + i) % n;
            const uint32_t seq = atom(e->seq).load(std::memory_order_acquire);
            if (seq & 1) continue;
            const uint32_t state = atom(e->state).load(std::memory_order_relaxed);
            if (state != fmt::task_live) {
                best = e, best_seq = seq;
                break;
            }
        }
        if (!best) break;
        if (!atom(best->seq).compare_exchange_strong(best_seq, best_seq + 1, std::memory_order_acquire,
                                                     std::memory_order_relaxed))
            continue;  // another spawn or completion took it first: look again
        std::atomic_thread_fence(std::memory_order_release);
        store(best->state, uint32_t(fmt::task_live));
        store(best->id, task);
        store(best->parent, parent);
        store(best->frame_bytes, frame_bytes);
        // The spawn event's: task_spawn (3 slots) or task_spawn_here (1 or 2); none written: now.
        store(best->spawn_ticks, slots_written == 0 ? now_ticks()
                                 : just_written_ticks(slots_written == 3 ? fmt::kind::task_spawn : fmt::kind::task_spawn_here,
                                                      slots_written));
        store(best->complete_ticks, uint64_t{0});
        store(best->site, site);
        store(best->spawn_ring, v.ring);
        store(best->spawn_generation, v.generation);
        atom(best->seq).store(best_seq + 2, std::memory_order_release);
        return;
    }
    atom(v.header->tasks_untracked).fetch_add(1, std::memory_order_relaxed);
}

// The task's live entry in its probe window, marked completed under its sequence word.
void note_complete(uint32_t session, task_id task) {
    identity_view& v = t_ident;
    if (v.session != session || !v.tasks || task == 0) return;
    const uint32_t n = v.task_entries, start = task_slot(task, n), window = n < fmt::task_probe ? n : fmt::task_probe;
    for (uint32_t i = 0; i < window; ++i) {
        fmt::task_entry* e = v.tasks + (start + i) % n;
        for (int attempt = 0; attempt < 64; ++attempt) {
            uint32_t seq = atom(e->seq).load(std::memory_order_acquire);
            if (seq & 1) continue;  // being written (by another task's spawn): look again
            if (atom(e->id).load(std::memory_order_relaxed) != task ||
                atom(e->state).load(std::memory_order_relaxed) != fmt::task_live)
                break;
            if (!atom(e->seq).compare_exchange_strong(seq, seq + 1, std::memory_order_acquire, std::memory_order_relaxed))
                continue;
            std::atomic_thread_fence(std::memory_order_release);
            store(e->complete_ticks, just_written_ticks(fmt::kind::task_complete, 1));  // the task_complete event's
            store(e->state, uint32_t(fmt::task_completed));
            atom(e->seq).store(seq + 2, std::memory_order_release);
            return;
        }
    }
}

// A recorded context_scope's identity, at its depth in the ring's entries.
int32_t push_context(uint32_t session, uint64_t ticks, uint64_t span_id, uint64_t trace_hi, uint64_t trace_lo,
                     uint64_t parent, uint64_t role_flags) {
    identity_view& v = t_ident;
    if (v.session != session || !v.contexts) return -1;
    const int32_t depth = v.depth++;
    if (depth >= int32_t(fmt::context_entries_per_ring)) {
        atom(v.header->contexts_untracked).fetch_add(1, std::memory_order_relaxed);
        return depth;
    }
    fmt::context_entry* e = v.contexts + depth;
    const uint32_t seq = atom(e->seq).load(std::memory_order_relaxed);
    atom(e->seq).store(seq | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    store(e->generation, v.generation);
    store(e->ticks, ticks);
    store(e->span_id, span_id);
    store(e->trace_hi, trace_hi);
    store(e->trace_lo, trace_lo);
    store(e->parent_span_id, parent);
    store(e->role_flags, uint32_t(role_flags));
    atom(e->seq).store((seq | 1) + 1, std::memory_order_release);
    return depth;
}

// The scope at `depth` ended: its entry is emptied (generation 0).
void pop_context(uint32_t session, int32_t depth) {
    identity_view& v = t_ident;
    if (v.session != session || !v.contexts || v.depth <= 0) return;
    v.depth = depth;
    // Stopped meanwhile: the file is final (and a scope that outlives the
    // session leaves it as open, which it was when the capture ended).
    if (uint32_t(gate_load(std::memory_order_acquire) >> 8) != session) return;
    if (depth >= int32_t(fmt::context_entries_per_ring)) return;
    fmt::context_entry* e = v.contexts + depth;
    const uint32_t seq = atom(e->seq).load(std::memory_order_relaxed);
    atom(e->seq).store(seq | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    store(e->generation, uint32_t{0});
    atom(e->seq).store((seq | 1) + 1, std::memory_order_release);
}

uint32_t register_site(site_ref& ref, const site_info& info, const char* const* names, uint32_t session) {
    if (uint64_t st = ref.state.load(std::memory_order_acquire); st == uint64_t(session) << 32) {
        count_drop();  // its metadata found no room earlier in this session: no lock, just count
        return 0;
    }
    std::lock_guard lock(g.mu);
    if (failed_child(session)) {  // counted, and from now on without the lock (the test above)
        count_drop();
        ref.state.store(uint64_t(session) << 32, std::memory_order_release);
        return 0;
    }
    if (!g.running || g.session != session) return 0;
    uint64_t st = ref.state.load(std::memory_order_relaxed);
    if (uint32_t(st >> 32) == session) {  // another thread won, or it failed before
        if (uint32_t(st) == 0) count_drop();
        return uint32_t(st);
    }
    if (g.next_site_id >= fmt::v2::max_site) {  // a head's site field holds 1 .. 65535
        atom(g.header->sites_dropped).fetch_add(1, std::memory_order_relaxed);
        count_drop();
        ref.state.store(uint64_t(session) << 32, std::memory_order_release);
        return 0;
    }
    uint32_t id = ++g.next_site_id;
    flatbuffers::FlatBufferBuilder b(8192, &metadata_arena(), false);
    flatbuffers::Offset<fb::Arg> args[fmt::max_args];
    for (unsigned i = 0; i < info.nargs; ++i) {
        auto n = b.CreateString(cut(names[i], 64));
        args[i] = fb::CreateArg(b, n, fb::ArgType(info.types[i]));
    }
    auto argv = b.CreateVector(args, info.nargs);
    auto cat = b.CreateString(cut(info.category, 256));
    auto name = b.CreateString(cut(info.name, 256));
    auto file = b.CreateString(cut(info.file, 512));
    auto func = b.CreateString(cut(info.function, 256));
    auto site = fb::CreateCallSite(b, id, fb::SiteKind(info.kind), info.level, cat, name, file, info.line, func, argv);
    b.Finish(fb::CreateRecord(b, fb::Body::CallSite, site.Union()));
    if (!append_meta(b.GetBufferPointer(), b.GetSize())) {
        atom(g.header->sites_dropped).fetch_add(1, std::memory_order_relaxed);
        count_drop();
        id = 0;
    }
    ref.state.store((uint64_t(session) << 32) | id, std::memory_order_release);
    return id;
}


namespace {
bool same_shape(const site_info& x, const site_info& y) {
    if (x.kind != y.kind || x.level != y.level || x.nargs != y.nargs || x.line != y.line) return false;
    for (unsigned i = 0; i < x.nargs && i < fmt::max_args; ++i)
        if (x.types[i] != y.types[i]) return false;
    auto eq = [](const char* p, const char* q) { return p == q || (p && q && std::strcmp(p, q) == 0); };
    return eq(x.category, y.category) && eq(x.file, y.file) && eq(x.function, y.function);
}
}  // namespace

runtime_site* runtime_site_add(runtime_site_table& t, const void* a, const void* b, const site_info& info,
                               const char* const* parts, uint32_t nparts) {
    std::lock_guard lock(g.mu);
    const uint32_t mask = t.nkeys - 1;
    const uint32_t h = runtime_site_hash(a, b);
    runtime_site_key* free = nullptr;
    for (uint32_t i = 0; i <= mask; ++i) {  // another thread may have added it meanwhile
        runtime_site_key& k = t.keys[(h + i) & mask];
        runtime_site* s = k.site.load(std::memory_order_relaxed);
        if (!s) {
            free = &k;
            break;
        }
        if (k.a.load(std::memory_order_relaxed) == a && k.b.load(std::memory_order_relaxed) == b)
            return s == t.none() ? nullptr : s;
    }
    if (!free) {
        t.keys_full.store(true, std::memory_order_relaxed);
        return nullptr;
    }
    char name[sizeof(runtime_site::name)];
    size_t n = 0;
    for (uint32_t i = 0; i < nparts; ++i)
        for (const char* p = parts[i] ? parts[i] : ""; *p && n + 1 < sizeof(name); ++p) name[n++] = *p;
    name[n] = 0;
    // The same name through other addresses (a literal not merged across
    // translation units or libraries) shares its site.
    runtime_site* site = nullptr;
    for (uint32_t i = 0; i < t.used && !site; ++i)
        if (std::strcmp(t.sites[i].name, name) == 0 && same_shape(t.sites[i].info, info)) site = &t.sites[i];
    if (!site && t.used < t.nsites) {
        site = &t.sites[t.used++];
        std::memcpy(site->name, name, n + 1);
        site->info = info;
        site->info.name = site->name;
    }
    free->a.store(a, std::memory_order_relaxed);
    free->b.store(b, std::memory_order_relaxed);
    free->site.store(site ? site : t.none(), std::memory_order_release);
    return site;
}


// ---- tasks ---------------------------------------------------------------------

constinit thread_local task_thread_state t_task{};

namespace {

std::atomic<uint64_t> g_task_ids{1};
constinit thread_local uint64_t t_next_task = 0, t_end_task = 0;

// Await sites are identified by the (file, function, line) pointers and
// number their location gives; each thread keeps a small direct-mapped cache
// in front of a process-wide table, both fixed-size (no heap).
struct await_key {
    const char* file;
    const char* function;
    uint32_t line;
    uint32_t session;
    uint32_t id;
};
constexpr size_t await_table_size = 4096;  // distinct await sites per session
await_key g_await_table[await_table_size];
constinit thread_local await_key t_await_cache[64] = {};

size_t await_hash(const await_location& l) {
    uint64_t h = reinterpret_cast<uintptr_t>(l.file) * 0x9e3779b97f4a7c15ull;
    h ^= reinterpret_cast<uintptr_t>(l.function) + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
    h ^= uint64_t(l.line) * 0xff51afd7ed558ccdull;
    return size_t(h ^ (h >> 29));
}

bool same(const await_key& k, const await_location& l, uint32_t session) {
    return k.session == session && k.line == l.line && k.file == l.file && k.function == l.function;
}

}  // namespace

uint32_t await_site(const await_location& loc, uint32_t session) {
    size_t h = await_hash(loc);
    await_key& c = t_await_cache[h & 63];
    if (same(c, loc, session)) return c.id;
    std::lock_guard lock(g.mu);
    if (!g.running || g.session != session) return 0;
    uint32_t id = 0;
    for (size_t i = 0; i < await_table_size; ++i) {
        await_key& k = g_await_table[(h + i) % await_table_size];
        if (same(k, loc, session)) {
            id = k.id;
            break;
        }
        if (k.session != session) {  // a free entry (or one of an older session): register here
            if (g.next_site_id >= fmt::v2::max_site) {  // no id left for a head: its events name no site
                atom(g.header->sites_dropped).fetch_add(1, std::memory_order_relaxed);
                k = {loc.file, loc.function, loc.line, session, 0};
                break;
            }
            id = ++g.next_site_id;
                    flatbuffers::FlatBufferBuilder b(2048, &metadata_arena(), false);
            auto cat = b.CreateString("await");
            auto name = b.CreateString(cut(loc.function, 256));
            auto file = b.CreateString(cut(loc.file, 512));
            auto func = b.CreateString(cut(loc.function, 256));
            auto site = fb::CreateCallSite(b, id, fb::SiteKind::Await, BBX_TASK_LEVEL, cat, name, file, loc.line, func);
            b.Finish(fb::CreateRecord(b, fb::Body::CallSite, site.Union()));
            if (!append_meta(b.GetBufferPointer(), b.GetSize())) {
                atom(g.header->sites_dropped).fetch_add(1, std::memory_order_relaxed);
                id = 0;
            }
            k = {loc.file, loc.function, loc.line, session, id};
            break;
        }
    }
    c = {loc.file, loc.function, loc.line, session, id};
    return id;
}

}  // namespace detail

task_id new_task_id() {
    using namespace detail;
    if (t_next_task == t_end_task) {
        t_next_task = g_task_ids.fetch_add(4096, std::memory_order_relaxed);
        t_end_task = t_next_task + 4096;
    }
    return t_next_task++;
}

task_id current_task() { return detail::t_task.current; }

resource_id register_resource(resource_kind kind, const char* name, uint64_t capacity) {
    using namespace detail;
    std::lock_guard lock(g.mu);
    if (!g.running) return 0;
    resource_id id = ++g.next_resource_id;
    flatbuffers::FlatBufferBuilder b(1024, &metadata_arena(), false);
    auto n = b.CreateString(cut(name, 256));
    auto r = fb::CreateResource(b, id, fb::ResourceKind(kind), n, capacity);
    b.Finish(fb::CreateRecord(b, fb::Body::Resource, r.Union()));
    if (!append_meta(b.GetBufferPointer(), b.GetSize())) atom(g.header->sites_dropped).fetch_add(1, std::memory_order_relaxed);
    return id;
}

namespace detail {
}  // namespace detail

using namespace detail;
namespace fmt = ::bbx::format;

const char* start_result::message() const {
    switch (status) {
        case start_status::ok: return "ok";
        case start_status::already_started: return "a recording session is already running";
        case start_status::bad_config:
            return "bad configuration: ring_kb must be a power of two from 4 to 1048576, max_threads 1 to 4096, "
                   "meta_kb 4 to 65536, level 0 to 5, tasks 0 to 1048576; stall sampling: BBX_STALL_MS 0 to 3600000, "
                   "BBX_STALL_SAMPLE_MS 1 to 1000, BBX_STALL_SIGNAL a free signal (a number, RTMIN+n, USR1, USR2, PROF), "
                   "BBX_STALL_UNWIND dwarf or fp";
        case start_status::file_exists: return "the capture path already exists (blackbox never overwrites or follows a symlink)";
        case start_status::open_failed: return "cannot create the capture file";
        case start_status::no_space: return "cannot allocate the capture file's space (disk full?)";
        case start_status::map_failed: return "cannot map the capture file";
        case start_status::not_configured: return "BBX_FILE is not set";
    }
    return "unknown";
}

namespace {

// How a session's file is named.
enum class naming {
    exact,   // cfg.path (or the default name); something already there is an error: start(), start_anonymous()
    fresh,   // BBX_FILE: the path, or if something is there, the first free of path.<pid>, path.<pid>.1, ...
    forked,  // a forked child: the first free of <parent's path>.<pid>, <parent's path>.<pid>.1, ...
};
constexpr int max_numbered_names = 1000;  // path.<pid>.1 .. path.<pid>.999

// Creates the capture file under the first name `rule` allows and leaves
// that name in g.path. Never opens an existing file or follows a symlink
// (O_EXCL | O_NOFOLLOW): a name that exists is skipped, not reused.
int create_capture_file(const char* base_path, naming rule, int flags) {
    // A path it cannot hold is refused: cut short, it would name another file.
    char base[sizeof g.path];
    if (std::strlen(base_path) >= sizeof base) {
        errno = ENAMETOOLONG;
        return -1;
    }
    std::snprintf(base, sizeof base, "%s", base_path);
    const int pid = int(getpid());
    for (int i = rule == naming::forked ? 1 : 0; i <= max_numbered_names; ++i) {
        int n = i == 0   ? std::snprintf(g.path, sizeof g.path, "%s", base)
                : i == 1 ? std::snprintf(g.path, sizeof g.path, "%s.%d", base, pid)
                         : std::snprintf(g.path, sizeof g.path, "%s.%d.%d", base, pid, i - 1);
        if (n < 0 || size_t(n) >= sizeof g.path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(g.path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST || rule == naming::exact) return fd;
    }
    errno = EEXIST;
    return -1;
}

// Creates the file, calibrates the clock and opens the gate. Caller holds g.mu.
//
// A forked child (naming::forked) takes its process name, executable, boot
// id and counter rate from the parent's header, which it still maps: they
// are the same for both, and so its first event does no stdio and no 2 ms
// calibration.
//
// Test hook for merge alignment: BBX_TEST_CLOCK_OFFSET_NS, a signed decimal
// number of nanoseconds, is added to the monotonic, realtime and boottime
// clocks of every anchor this session writes (anchor 0 here, anchor 1 when
// a thread gets a ring and at stop; never to the ticks), as if this
// process's clocks ran that far ahead. tests/test_merge.cpp sets it in one
// of two processes to check that `bbx merge` finds and removes the offset.
// Unset, empty or not a whole number: no offset.
start_result start_session_locked(const config& cfg, bool anonymous, naming rule) {
    if (g.running) return {start_status::already_started};
    const fmt::file_header* parent = rule == naming::forked ? g.header : nullptr;
    g.test_clock_offset_ns = 0;
    if (const char* v = env("BBX_TEST_CLOCK_OFFSET_NS")) {
        char* end = nullptr;
        errno = 0;
        long long off = std::strtoll(v, &end, 10);
        if (*end == 0 && errno == 0) g.test_clock_offset_ns = off;
    }
    uint32_t ring_kb = cfg.ring_kb ? cfg.ring_kb : 64;
    uint32_t threads = cfg.max_threads ? cfg.max_threads : 64;
    uint32_t meta_kb = cfg.meta_kb ? cfg.meta_kb : 256;
    if (ring_kb < 4 || ring_kb > (fmt::max_ring_size >> 10) || (ring_kb & (ring_kb - 1)) || threads > fmt::max_ring_count ||
        meta_kb < 4 || uint64_t(meta_kb) * 1024 > fmt::max_meta_capacity || cfg.level < 0 || cfg.level > 5 ||
        cfg.tasks > fmt::max_task_entries)
        return {start_status::bad_config};
    stall::settings stall_cfg;
    if (!stall::resolve(cfg, stall_cfg)) return {start_status::bad_config};

    char comm[64] = {};
    if (parent) {
        std::memcpy(comm, parent->process_name, sizeof comm - 1);
    } else if (FILE* f = std::fopen("/proc/self/comm", "r")) {
        if (std::fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
        std::fclose(f);
    }
    if (!comm[0]) std::strcpy(comm, "program");
    char default_path[128];
    std::snprintf(default_path, sizeof default_path, "./%s.%d.bbx", comm, int(getpid()));
    const char* base = parent ? g.path : cfg.path ? cfg.path : default_path;

    fmt::layout l = fmt::compute_layout(ring_kb * 1024, threads, uint64_t(meta_kb) * 1024,
                                        fmt::feature_minor(fmt::v2::version_major, fmt::v2::version_minor), cfg.tasks);
    // Stall sampling configured: its area after the identity region (spec/stall-stacks.md).
    const uint64_t stall_offset = stall_cfg.threshold_ms ? l.file_size : 0;
    if (stall_offset)
        l.file_size += fmt::stall_area_size(threads, stall_cfg.samples_per_ring, stall_cfg.mappings);
    // Anonymous mode: the file only receives the image, written at stop() or
    // a crash; it gets its full size now so that the dump finds room.
    int fd = create_capture_file(base, rule, anonymous ? O_WRONLY : O_RDWR);
    if (fd < 0) return {errno == EEXIST ? start_status::file_exists : start_status::open_failed, errno};
    int e = posix_fallocate(fd, 0, off_t(l.file_size));
    if (e == EOPNOTSUPP || e == EINVAL) e = ftruncate(fd, off_t(l.file_size)) ? errno : 0;
    if (e) {
        close(fd);
        unlink(g.path);
        return {start_status::no_space, e};
    }
    void* m = anonymous ? mmap(nullptr, l.file_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
                        : mmap(nullptr, l.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int err = errno;
        close(fd);
        unlink(g.path);
        return {start_status::map_failed, err};
    }
    auto* h = static_cast<fmt::file_header*>(m);
    h->version_major = fmt::v2::version_major;  // 2.0: 16-byte slots; every other part as 1.4
    h->version_minor = fmt::v2::version_minor;
    h->owner_table_offset = l.owner_table_offset;
    h->identity_offset = l.identity_offset;
    h->task_entries = cfg.tasks;
    h->header_size = fmt::header_size;
    h->file_size = l.file_size;
    h->slot_size = fmt::v2::slot_size;
    h->ring_size = ring_kb * 1024;
    h->ring_count = threads;
    h->ring_table_offset = l.ring_table_offset;
    h->meta_offset = l.meta_offset;
    h->meta_capacity = l.meta_capacity;
    h->rings_offset = l.rings_offset;
    h->pid = uint32_t(getpid());
    h->parent_pid = parent ? g.fork_parent_pid : 0;
    h->flags = cfg.discard ? uint32_t(fmt::flag_discard) : 0u;
    h->level = uint32_t(cfg.level);
    if (stall_offset) stall::write_header(h, stall_offset, stall_cfg);
    std::snprintf(h->process_name, sizeof h->process_name, "%s", comm);
    if (parent) {
        std::memcpy(h->exe_path, parent->exe_path, sizeof h->exe_path);
        std::memcpy(h->boot_id, parent->boot_id, sizeof h->boot_id);
    } else {
        ssize_t n = readlink("/proc/self/exe", h->exe_path, sizeof h->exe_path - 1);
        if (n < 0) h->exe_path[0] = 0;
        read_boot_id(h->boot_id);
    }
    metadata_arena();  // constructed now, never first inside a signal handler

    fmt::clock_anchor a = read_anchor();
    if (parent && g.tick_hz > 0) {
        h->tick_hz = g.tick_hz;  // the same counter, measured by the parent
    } else {
        // Calibrate the counter against CLOCK_MONOTONIC over ~2 ms.
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
        fmt::clock_anchor b;
        do b = read_anchor();
        while (b.monotonic_ns - a.monotonic_ns < 2000000);
        h->tick_hz = double(b.ticks - a.ticks) * 1e9 / double(b.monotonic_ns - a.monotonic_ns);
#else
        h->tick_hz = 1e9;
#endif
    }
    write_anchor(h, 0, a);
    prefault(static_cast<unsigned char*>(m) + l.meta_offset, l.meta_capacity);
    prefault(static_cast<unsigned char*>(m) + l.identity_offset, l.identity_size);  // spawns take no page fault
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(h->magic, fmt::ring_magic, sizeof fmt::ring_magic);  // last: a half-made file is not a capture

    // A forked child's copy of its parent's mapping: no longer needed (no
    // thread of this process writes into it: each takes a ring of the new session).
    if (g.inherited_base) munmap(g.inherited_base, g.inherited_size);
    g.inherited_base = nullptr;
    g.inherited_size = 0;
    g.fork_pending = false;
    g.fork_failed_session = 0;

    g.base = static_cast<unsigned char*>(m);
    g.header = h;
    g.file_size = l.file_size;
    g.fd = fd;
    g.ring_size = ring_kb * 1024;
    g.next_site_id = 0;
    g.discard = cfg.discard;
    g.anonymous = anonymous;
    g.ring_kb = ring_kb;
    g.max_threads = threads;
    g.meta_kb = meta_kb;
    g.tasks = cfg.tasks;
    g.tick_hz = h->tick_hz;
    g.stall = stall_cfg;

    static bool hooks = false;
    if (!hooks) {
        hooks = true;
        std::atexit(stop_at_exit);
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    g_crash_target = {g.base, g.file_size, anonymous ? fd : -1};
    g.session += 1;
    g.running = true;
    gate_store((uint64_t(g.session) << 8) | uint64_t(cfg.level), std::memory_order_release);
    return {};
}

// A start asked for by the program (or BBX_FILE) replaces a forked child's
// pending start: the child's gate closes until it succeeds.
start_result start_locked(const config& cfg, bool anonymous, naming rule) {
    std::lock_guard lock(g.mu);
    if (!g.running && (g.fork_pending || g.fork_failed_session)) {
        gate_store(0, std::memory_order_release);
        g.fork_pending = false;
        g.fork_failed_session = 0;
    }
    return start_session_locked(cfg, anonymous, rule);
}

// BBX_CRASH=1 installs the crash handler with the first session. Outside
// g.mu: installing loads libgcc's unwinder (the dynamic loader's lock).
start_result start_with_crash_env(const config& cfg, bool anonymous, naming rule) {
    stall::end();  // a watchdog of an earlier session (stop() was not called)
    start_result r = start_locked(cfg, anonymous, rule);
    // Outside g.mu as well: the sampler warms libgcc's unwinder, and the
    // watchdog walks the loaded objects (the dynamic loader's lock).
    if (r.ok() && g.stall.threshold_ms) stall::begin(g.base, g.stall);
    if (const char* v = env("BBX_CRASH"); r.ok() && v && std::strcmp(v, "0") != 0) install_crash_handler();
    return r;
}

}  // namespace

// The first event of a forked child (acquire_ring_locked, g.mu held): its own
// capture, with the parent's configuration and the level the gate holds. If
// that fails, the child records nothing: its threads and events are counted
// as dropped in the parent's header, which it still maps.
namespace detail {
bool start_forked_child_locked(uint32_t session, int level) {
    config c;
    c.ring_kb = g.ring_kb;
    c.max_threads = g.max_threads;
    c.meta_kb = g.meta_kb;
    c.tasks = g.tasks;
    c.level = level;
    c.discard = g.discard;
    start_result r = start_session_locked(c, g.anonymous, naming::forked);
    if (r.ok()) return true;  // g.session is now `session`: the gate was armed with g.session + 1
    g.fork_pending = false;
    g.fork_failed_session = session;
    g.session = session;
    std::fprintf(stderr, "bbx: forked child %d cannot record to %s: %s%s%s; its events are counted as dropped in the parent's capture\n",
                 int(getpid()), g.path, r.message(), r.sys_errno ? ": " : "", r.sys_errno ? std::strerror(r.sys_errno) : "");
    return false;
}
}  // namespace detail

start_result start(const config& cfg) { return start_with_crash_env(cfg, false, naming::exact); }

start_result start_anonymous(const config& cfg) { return start_with_crash_env(cfg, true, naming::exact); }

start_result start_from_env() {
    const char* path = env("BBX_FILE");
    if (!path) return {start_status::not_configured};
    config c;
    c.path = path;
    if (const char* v = env("BBX_RING_KB"); v && !parse_u32(v, c.ring_kb)) return {start_status::bad_config};
    if (const char* v = env("BBX_THREADS"); v && !parse_u32(v, c.max_threads)) return {start_status::bad_config};
    if (const char* v = env("BBX_TASKS"); v && !parse_u32(v, c.tasks)) return {start_status::bad_config};
    if (const char* v = env("BBX_LEVEL")) {
        c.level = parse_level(v);
        if (c.level < 0) return {start_status::bad_config};
    }
    if (const char* v = env("BBX_DISCARD")) c.discard = std::strcmp(v, "0") != 0;
    const bool anonymous = [] {
        const char* v = env("BBX_ANONYMOUS");
        return v && std::strcmp(v, "0") != 0;
    }();
    return start_with_crash_env(c, anonymous, naming::fresh);
}

void stop() {
    stall::end();  // before g.mu: the watchdog may be waiting for the dynamic loader's lock
    std::lock_guard lock(g.mu);
    if (!g.running && (g.fork_pending || g.fork_failed_session)) {  // a forked child: record nothing after all
        gate_store(0, std::memory_order_release);
        g.fork_pending = false;
        g.fork_failed_session = 0;
    }
    if (!g.running) return;
    gate_store(0, std::memory_order_release);
    g.running = false;
    fmt::file_header* h = g.header;
    write_anchor(h, 1, read_anchor());
    atom(h->flags).fetch_or(fmt::flag_ended_clean, std::memory_order_release);
    if (g.anonymous) {
        // A thread that passed the gate just before may still be writing:
        // the image takes every slot under its sequence lock.
        if (write_image(g.fd, g.base, g.file_size)) fsync(g.fd);
    } else {
        msync(g.base, g.file_size, MS_SYNC);
    }
    g_crash_target.image_fd = -1;
    close(g.fd);
    g.fd = -1;
    // The mapping stays: a thread that passed the gate just before keeps writing into valid memory.
}

void set_level(int level) {
    if (level < 0) level = 0;
    if (level > 5) level = 5;
    uint64_t gate = gate_load();
    if (gate == 0) return;
    gate_store((gate & ~uint64_t{0xff}) | uint64_t(level), std::memory_order_release);
}

int level() { return int(gate_load() & 0xff); }

void set_thread_name(const char* name) {
    std::string_view v = cut(name, fmt::max_thread_name - 1);
    std::memcpy(t_name, v.data(), v.size());
    t_name[v.size()] = 0;
    std::lock_guard lock(g.mu);
    thread_ring& r = t_ring;
    if (!g.running || r.session != g.session || !r.desc) return;
    const uint32_t generation = atom(r.desc->generation).load(std::memory_order_relaxed);
    const fmt::owner_entry* e = owner_at(r.ring_index, generation);
    write_owner_entry(r.ring_index, generation, e->tid, e->start_pos, v);
    write_string_event(fmt::kind::thread_name, v);
}

const char* current_path() {
    std::lock_guard lock(g.mu);
    return g.running ? g.path : nullptr;
}

namespace {
// Programs that cannot change their code are traced by setting BBX_FILE.
__attribute__((constructor)) void start_from_environment() {
    if (!env("BBX_FILE")) return;
    start_result r = start_from_env();
    if (!r.ok())
        std::fprintf(stderr, "bbx: cannot start recording to %s: %s%s%s\n", env("BBX_FILE"), r.message(),
                     r.sys_errno ? ": " : "", r.sys_errno ? std::strerror(r.sys_errno) : "");
    else if (const char* p = current_path(); p && std::strcmp(p, env("BBX_FILE")) != 0)  // the path was taken
        std::fprintf(stderr, "bbx: %s exists; recording to %s\n", env("BBX_FILE"), p);
}
}  // namespace

}  // namespace bbx
