// blackbox recorder: a flight recorder for services.
//
// Quick start:
//
//     #include <bbx/bbx.hpp>
//     int main() {
//         bbx::start({.path = "service.bbx"});                  // or set BBX_FILE=service.bbx
//         BBX_SPAN(INFO, "io", "read_block", bbx::arg("bytes", 4096));
//         BBX_COUNTER(DEBUG, "queue", "depth", 17);
//     }                                                        // then: bbx convert service.bbx --to perfetto
//
// Events go into per-thread rings inside one memory-mapped file, so what was
// recorded is still in the file after the process crashes or is killed.
//
// Levels: ERROR, WARN, INFO, DEBUG, TRACE. Compile with
// -DBBX_LEVEL_MAX=BBX_LEVEL_INFO to remove every DEBUG and TRACE event from the
// binary (no code, no strings); with -DBBX_DISABLE to remove all of them.
// Argument expressions of a removed event are not evaluated.
//
// Everything in bbx::detail is internal and not API. The C API is bbx/bbx.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "bbx/common.h"
#include "bbx/format.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#else
#include <time.h>
#endif

namespace bbx {

// Recording session settings. Zero-valued fields take the default.
struct config {
    const char* path = nullptr;  // default: ./<program>.<pid>.bbx
    uint32_t ring_kb = 64;       // per-thread ring in KiB: a power of two, 4 .. 1048576
    uint32_t max_threads = 64;   // rings in the file: threads recording at once (an exited thread's ring is reused); a 65th alive records nothing (counted)
    uint32_t meta_kb = 256;      // call-site and thread metadata region in KiB
    int level = BBX_LEVEL_TRACE; // run-time level at start (bbx::set_level changes it)
    bool discard = false;        // when a ring is full: false = overwrite oldest, true = drop newest
    // Task table entries (64 bytes each, outside the rings): a spawned task's
    // name, spawn site, parent and frame size outlive its spawn event's
    // overwrite. 0: no table. At most 1048576. (spec/identities.md)
    uint32_t tasks = 4096;
    // Stall stacks (spec/stall-stacks.md): when a task poll (or, outside
    // polls, a span) has run longer than stall_ms, a watchdog thread samples
    // that thread's native stack every stall_sample_ms until it ends. 0: off
    // (then BBX_STALL_MS, BBX_STALL_SAMPLE_MS, BBX_STALL_SIGNAL, BBX_STALL_UNWIND apply).
    uint32_t stall_ms = 0;
    uint32_t stall_sample_ms = 0;  // 0: stall_ms / 4 (at least 1, at most 1000)
    int stall_signal = 0;          // 0: SIGRTMIN + 4; must have no handler of the program's
    bool stall_frame_pointers = false;  // walk frame pointers instead of the DWARF unwinder (needs -fno-omit-frame-pointer)
};

enum class start_status {
    ok,
    already_started,  // a session is running; call stop() first
    bad_config,       // a size out of range (see message())
    file_exists,      // O_EXCL: something is already at the path (file or symlink)
    open_failed,      // open(2) failed for another reason; errno in sys_errno
    no_space,         // the file could not be given its full size (disk full?)
    map_failed,       // mmap(2) failed
    not_configured,   // start_from_env(): BBX_FILE is not set
};

struct start_result {
    start_status status = start_status::ok;
    int sys_errno = 0;
    bool ok() const { return status == start_status::ok; }
    BBX_API const char* message() const;  // one line, static storage
};

// Creates the capture file (mode 0600, O_EXCL|O_NOFOLLOW: an existing file or
// symlink at the path is an error), maps it and switches recording on. Not
// signal-safe; costs one file creation plus ~2 ms of clock calibration.
//
// fork(): a child of a recording process records into a capture of its own,
// "<path>.<child pid>" (or "<path>.<child pid>.1", ... if that exists), with
// the same configuration and the parent's pid in its header; `bbx merge
// parent.bbx parent.bbx.<pid>` shows both on one timeline. The file is made
// by the child's first event (so a child that records nothing, e.g. one that
// execs at once, makes none); if it cannot be made, the child's threads and
// events are counted as dropped in the parent's capture. bbx::stop() in the
// child before its first event: it records nothing. A span open across the
// fork is ended only in the parent.
BBX_API start_result start(const config& cfg = {});

// start() configured by BBX_FILE (path), BBX_RING_KB, BBX_THREADS, BBX_TASKS, BBX_LEVEL
// (a number or error|warn|info|debug|trace) and BBX_DISCARD=1. Returns
// not_configured when BBX_FILE is unset. A program linked with the recorder
// runs this before main() when BBX_FILE is set, so tracing needs no code.
// Unlike start(), an existing file or symlink at BBX_FILE is not an error:
// the capture goes to the first free name of "<path>.<pid>", then
// "<path>.<pid>.1" .. "<path>.<pid>.999" (never overwriting, never following
// a link), and the start before main() says so on stderr. So a program that
// execs itself or another recorded program with its environment (exec keeps
// the pid), or one started again, records to a fresh file; the capture of
// the program replaced by exec keeps every event it committed, with neither
// end flag set (exec skips stop()).
BBX_API start_result start_from_env();

// Switches recording off, records a last clock anchor, marks the capture as
// ended cleanly and syncs it to disk. The mapping stays in place until the
// process exits, so a thread still inside an event writes into valid memory.
BBX_API void stop();

// The run-time level: events above it cost one load and a branch.
// Thread-safe, signal-safe.
BBX_API void set_level(int level);
BBX_API int level();

// Names the calling thread in the capture (cut at 63 bytes). Cold path.
BBX_API void set_thread_name(const char* name);

// The path of the running session's file, or nullptr (also in a forked
// child until its first event has made its capture).
BBX_API const char* current_path();

namespace detail {

// ---- clock -------------------------------------------------------------------
inline uint64_t now_ticks() {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#elif defined(__aarch64__)
    uint64_t v;
    asm volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
#endif
}

// ---- global gate: (session << 8) | level, one load decides (bbx/common.h) ----
inline uint64_t gate_load(std::memory_order order = std::memory_order_relaxed) {
    return std::atomic_ref<uint64_t>(bbx_detail_gate.value).load(order);
}
inline void gate_store(uint64_t value, std::memory_order order) {
    std::atomic_ref<uint64_t>(bbx_detail_gate.value).store(value, order);
}

// ---- per-thread ring state (constant-initialised TLS: no guard, no wrapper) --
// Format 2.0 slots (bbx/format.hpp, namespace v2): 16 bytes, words A and B.
// Every event's head carries the low 32 bits of its ticks; a time_base event
// (or the owner event that starts the ring's owner) carries the high half; a
// time_base is written before an event whose high half differs from the
// previous event's (`hi`) or whose slots would pass `tb_limit`.
inline constexpr uint64_t no_hi = ~uint64_t{0};            // hi when nothing in the ring times the next event: forces a time_base
inline constexpr uint64_t implicit_unknown = ~uint64_t{0};  // implicit_task when a reader's nesting may differ from ours
struct thread_ring {
    unsigned char* slots;          // this ring's first slot
    format::ring_descriptor* desc; // this ring's descriptor in the file
    uint64_t pos;                  // slots written (mirror of desc->write_pos)
    uint64_t events;               // events written (mirror of desc->events_written)
    uint64_t mask;                 // slots - 1
    uint64_t limit;                // min(tb_limit, hard_limit): one compare on the hot path
    uint64_t hi;                   // high half of the ticks of this ring's previous event (no_hi: none)
    uint64_t tb_limit;             // an event passing this position is preceded by a time_base
    uint64_t hard_limit;           // last position + 1 we may write: ~0 (overwrite), slots (discard), 0 (no ring)
    // The task a reader takes as current at this ring's write position (the
    // innermost poll whose poll_begin was written into this ring; 0: none;
    // implicit_unknown: a poll event was lost, so only explicit forms).
    uint64_t implicit_task;
    uint64_t* drop_counter;        // where a dropped event is counted: the ring's descriptor, or the header
    uint32_t session;              // the session the ring belongs to
    uint32_t ring_index;
    uint32_t shift;                // log2(slots): the lap of position p is p >> shift
    uint32_t max_cont;             // continuation slots an event may have here: min(255, slots / 4 - 1)
};
extern BBX_API constinit thread_local thread_ring t_ring;

// ---- call sites ----------------------------------------------------------------
struct site_info {
    format::site_kind kind;
    uint8_t level;
    uint8_t nargs;
    format::arg_type types[format::max_args];
    const char* category;
    const char* name;
    const char* file;
    uint32_t line;
    const char* function;
};

// The mutable half of a call site: (session << 32) | id once registered.
struct site_ref {
    std::atomic<uint64_t> state{0};
};

// ---- arguments ------------------------------------------------------------------
template <class T>
struct arg_value {
    const char* name;
    T value;
};

template <class T>
constexpr format::arg_type type_of() {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, bool>) return format::arg_type::boolean;
    else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return format::arg_type::i64;
    else if constexpr (std::is_integral_v<U>) return format::arg_type::u64;
    else if constexpr (std::is_floating_point_v<U>) return format::arg_type::f64;
    else if constexpr (std::is_same_v<U, std::string_view>) return format::arg_type::string;
    else static_assert(sizeof(U) == 0, "bbx::arg: unsupported argument type");
}

template <class T>
auto stored(T&& v) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, bool> || std::is_arithmetic_v<U> || std::is_enum_v<U>) {
        if constexpr (std::is_enum_v<U>) return static_cast<std::underlying_type_t<U>>(v);
        else return v;
    } else if constexpr (std::is_convertible_v<T, std::string_view>) {
        if constexpr (std::is_pointer_v<std::remove_reference_t<T>>)
            return v ? std::string_view(v) : std::string_view();
        else
            return std::string_view(v);
    } else {
        static_assert(sizeof(U) == 0, "bbx::arg: unsupported argument type");
    }
}

template <class T>
inline uint64_t word_of(const T& v) {
    if constexpr (std::is_same_v<T, std::string_view>) {
        return v.size() < format::max_string_bytes ? v.size() : format::max_string_bytes;
    } else if constexpr (std::is_floating_point_v<T>) {
        double d = double(v);
        uint64_t w;
        std::memcpy(&w, &d, 8);
        return w;
    } else {
        return uint64_t(v);  // two's complement for signed values
    }
}

template <class... A>
struct arg_pack {
    static constexpr uint8_t count = sizeof...(A);
    static constexpr bool has_strings = (std::is_same_v<A, std::string_view> || ...);
};

template <class... A>
constexpr site_info make_site(format::site_kind kind, int level, const char* category, const char* name,
                              const char* file, uint32_t line, const char* function) {
    static_assert(sizeof...(A) <= format::max_args, "bbx: at most 16 arguments per event");
    site_info s{kind, uint8_t(level), uint8_t(sizeof...(A)), {}, category, name, file, line, function};
    format::arg_type t[] = {type_of<A>()..., format::arg_type::none};
    for (unsigned i = 0; i < sizeof...(A); ++i) s.types[i] = t[i];
    return s;
}

// Cold paths (recorder.cpp).
BBX_API bool acquire_ring(uint64_t gate);  // false: no ring for this thread (the event is counted as dropped)
// Registers the site for this session; 0 if its metadata found no room, or its
// id would pass 65535 (a head's 16-bit site field): counted in the header's
// sites_dropped, and the event as dropped.
BBX_API uint32_t register_site(site_ref& ref, const site_info& info, const char* const* names, uint32_t session);

// Counts one event that could not be written. Lock-free; the counter is this
// thread's ring descriptor, or the header's shared one for a ring-less thread.
// In the descriptor it also notes when: the ticks of the first and of the
// latest drop (only this thread writes them). Signal-safe.
inline void count_drop() {
    thread_ring* r = &t_ring;
    uint64_t* c = r->drop_counter;
    if (!c) return;
    std::atomic_ref<uint64_t>(*c).fetch_add(1, std::memory_order_relaxed);
    if (format::ring_descriptor* d = r->desc; d && c == &d->events_dropped) {
        const uint64_t now = now_ticks();
        if (std::atomic_ref<uint64_t>(d->first_drop_ticks).load(std::memory_order_relaxed) == 0)
            std::atomic_ref<uint64_t>(d->first_drop_ticks).store(now, std::memory_order_relaxed);
        std::atomic_ref<uint64_t>(d->last_drop_ticks).store(now, std::memory_order_relaxed);
    }
}

// Stores into the shared mapping, as relaxed atomics: a reader may run at the same time.
inline void put(void* p, uint64_t v) {
    std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(p)).store(v, std::memory_order_relaxed);
}

// Writes one 16-byte slot: A = 0, release fence, B, then A (release). A reader
// that sees the same A before and after its copy of B, with a kind and the
// lap of its position, holds a whole slot (format.hpp, namespace v2).
inline void put_slot(unsigned char* s, uint64_t a, uint64_t b) {
    put(s, 0);
    std::atomic_thread_fence(std::memory_order_release);
    put(s + 8, b);
    std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(s)).store(a, std::memory_order_release);
}

// Bytes 8k .. 8k+7 of the n bytes at p, zero past the end, as one little-endian
// word, without reading outside the n bytes: whole words with one 8-byte load,
// the tail with one load that overlaps the word before (or, in a string
// shorter than 8 bytes, two overlapping smaller ones). No variable-length
// copy: g++ 12 turns one into `rep movsq`, a microcoded string instruction
// that cost the 32-byte string instant 0.15-0.5x of the floor more
// (bench/RESULTS.md, "The 32-byte string").
inline uint64_t string_chunk(const char* p, uint32_t n, uint32_t k) {
    const uint32_t at = k * 8;
    uint64_t w = 0;
    if (at + 8 <= n) {
        std::memcpy(&w, p + at, 8);
        return w;
    }
    if (at >= n) return 0;
    const uint32_t left = n - at;  // 1 .. 7
    if (n >= 8) {
        std::memcpy(&w, p + n - 8, 8);
        return w >> (8 * (8 - left));
    }
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    if (left >= 4) {
        uint32_t lo, hi;
        std::memcpy(&lo, b, 4);
        std::memcpy(&hi, b + left - 4, 4);
        return uint64_t(lo) | (uint64_t(hi) << (8 * (left - 4)));
    }
    return uint64_t(b[0]) | (uint64_t(b[left >> 1]) << (8 * (left >> 1))) | (uint64_t(b[left - 1]) << (8 * (left - 1)));
}

// Makes every slot before `next` visible to readers as one more event.
inline void publish(thread_ring* r, uint64_t next) {
    const uint64_t events = r->events + 1;
    format::ring_descriptor* desc = r->desc;
    r->pos = next;
    r->events = events;
    std::atomic_ref<uint64_t>(desc->events_written).store(events, std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(desc->write_pos).store(next, std::memory_order_release);
}

// The slow path of an event of `slots` slots whose ticks are `ticks`, taken
// when it would pass r->limit or its high half differs from the previous
// event's (recorder.cpp, out of line): writes a time_base first when one is
// due, or counts the event as dropped (no ring; discard mode and no room for
// it, or for its time_base). True: write the event at r->pos now. Signal-safe.
BBX_API bool make_room(thread_ring* r, uint32_t slots, uint64_t ticks);

// Writes one event at the thread's write position: its head slot (kind, lap,
// site, ticks_lo; B), then `cont` continuation slots, the i-th (0-based)
// carrying unit(i), each self-delimiting (index, count), then publishes it.
// One clock read before, two compares (limit, high half), 3 stores and a
// fence a slot, 2 stores to commit. False: counted as dropped.
template <class Unit>
[[gnu::always_inline]] inline bool write_event_units(thread_ring* r, format::kind k, uint32_t site, uint64_t ticks,
                                                     uint64_t b, uint32_t cont, Unit unit) {
    if (__builtin_expect(r->pos + 1 + cont > r->limit || (ticks >> 32) != r->hi, 0)) {
        if (!make_room(r, 1 + cont, ticks)) return false;
    }
    // The ring's geometry in registers: a store into the ring may alias any
    // uint64_t, the thread_ring's fields too, which would be loaded again
    // after every store.
    const uint64_t pos = r->pos, mask = r->mask;
    const uint32_t shift = r->shift;
    unsigned char* const slots = r->slots;
    put_slot(slots + (pos & mask) * format::v2::slot_size, format::v2::head_word(k, pos >> shift, site, ticks), b);
    for (uint32_t i = 1; i <= cont; ++i)
        put_slot(slots + ((pos + i) & mask) * format::v2::slot_size,
                 format::v2::continuation_word((pos + i) >> shift, i, cont), unit(i - 1));
    publish(r, pos + 1 + cont);
    return true;
}

// write_event_units with the continuation words in an array. Every event the
// recorder writes goes through one of the two: the C++ macros, the C API,
// task and context events, thread names, owner events, crash records.
[[gnu::always_inline]] inline bool write_event(thread_ring* r, format::kind k, uint32_t site, uint64_t ticks,
                                               uint64_t b, const uint64_t* payload, uint32_t cont) {
    return write_event_units(r, k, site, ticks, b, cont, [payload](uint32_t u) { return payload[u]; });
}

// The most 8-byte units pack_payload writes: 15 words, 16 strings, the pad.
inline constexpr uint32_t max_payload_units = (format::max_args - 1) + format::max_args * (format::max_string_bytes / 8) + 2;

// Lays out an event's continuation payload as format.hpp defines it:
// argument words 1..n-1, then the bytes of the string arguments in argument
// order (each cut at max_string_bytes, as its word says), zero-padded to the
// word. `units` has room for (n - 1) + nstrings * 16 + 2 units; a string is
// anything with data() and size(). Returns the continuation slots the event
// needs (one a word). Events with more strings than one, and the C API's,
// lay out their payload here.
template <class S>
inline uint32_t pack_payload(uint64_t* units, const uint64_t* words, uint32_t n, const S* strings, uint32_t nstrings) {
    const uint32_t extra = n > 0 ? n - 1 : 0;
    unsigned char* at = reinterpret_cast<unsigned char*>(units);
    // Word by word, not one variable-length memcpy: g++ 12 makes that a
    // `rep movsq`, slow to start for a few words (the C API's string path).
    for (uint32_t i = 0; i < extra; ++i) std::memcpy(at + 8 * i, &words[1 + i], 8);
    at += extra * 8;
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < nstrings; ++i) {
        const size_t size = strings[i].size();
        const uint32_t len = uint32_t(size < format::max_string_bytes ? size : format::max_string_bytes);
        // Whole words (the last may write zeros past the string, which the
        // next string or the pad overwrites): no variable-length copy.
        for (uint32_t k = 0; k * 8 < len; ++k) {
            const uint64_t w = string_chunk(strings[i].data(), len, k);
            std::memcpy(at + k * 8, &w, 8);
        }
        at += len;
        bytes += len;
    }
    std::memset(at, 0, 16);  // pad to the word
    return format::v2::continuation_slots(extra, bytes);
}

// Writes a site-resolved event of a head and `cont` (0, 1 or 2) continuation
// words w1, w2: the task events' shape. The caller passed the gate. False:
// not written (no ring, or counted as dropped).
[[gnu::always_inline]] inline bool emit_words(format::kind k, uint32_t site, uint64_t gate, uint64_t b, uint32_t cont,
                                             uint64_t w1 = 0, uint64_t w2 = 0) {
    thread_ring* r = &t_ring;
    if (__builtin_expect(r->session != uint32_t(gate >> 8), 0)) {
        if (!acquire_ring(gate)) return false;
    }
    const uint64_t ticks = now_ticks();
    const uint64_t payload[2] = {w1, w2};
    return write_event(r, k, site, ticks, b, payload, cont);
}

template <class T>
inline void collect_string(std::string_view*& out, const T& v) {
    if constexpr (std::is_same_v<T, std::string_view>) *out++ = v;
}

// The thread's ring (taken on its first event of the session) and the site's
// state word, its id in the low half (registered on the site's first use in
// the session). false: either could not be had, and the event is not
// written (counted where it was lost). On the fast path: two loads, two
// compares.
template <class... V>
[[gnu::always_inline]] inline bool ring_and_site(thread_ring* r, site_ref& ref, const site_info& info, uint64_t gate,
                                                 uint64_t& st, const arg_value<V>&... args) {
    const uint32_t session = uint32_t(gate >> 8);
    if (__builtin_expect(r->session != session, 0)) {
        if (!acquire_ring(gate)) return false;
    }
    st = ref.state.load(std::memory_order_acquire);
    if (__builtin_expect(uint32_t(st >> 32) != session || uint32_t(st) == 0, 0)) {
        const char* names[] = {args.name..., nullptr};
        st = register_site(ref, info, names, session);
        if (st == 0) return false;
    }
    return true;
}

// Writes one event: the head slot, then its continuation slots. The caller has
// checked the level. Never locks, allocates or makes a system call once the
// thread has its ring and the site its id. Always inline: g++ 12 stopped
// inlining it with the 2.0 write path, and the call cost the 1-int instant
// 40 instructions more (bench/RESULTS.md, 2026-12-03).
template <class... V>
[[gnu::always_inline]] inline void emit(format::kind k, site_ref& ref, const site_info& info, uint64_t gate, const arg_value<V>&... args) {
    thread_ring* r = &t_ring;
    uint64_t st;
    if (!ring_and_site(r, ref, info, gate, st, args...)) return;
    const uint64_t ticks = now_ticks();
    constexpr uint32_t n = sizeof...(V);
    uint64_t words[n + 1] = {word_of(args.value)..., 0};
    if constexpr (!arg_pack<V...>::has_strings) {
        // Without strings, words 1..n-1 are the payload as they stand (at
        // most 15 continuation slots: every ring takes them, see max_cont).
        write_event(r, k, uint32_t(st), ticks, words[0], words + 1, format::v2::continuation_slots(n > 0 ? n - 1 : 0, 0));
    } else {
        constexpr uint32_t nstr = (0u + ... + (std::is_same_v<V, std::string_view> ? 1u : 0u));
        std::string_view strings[nstr];
        std::string_view* out = strings;
        (collect_string(out, args.value), ...);
        if constexpr (nstr == 1) {
            // Words 1..n-1, then the string's bytes, 8 a slot: each word comes
            // straight from its argument, with no stack buffer and no
            // variable-length copy (g++ 12 makes one `rep movsq`, which cost
            // the 32-byte string instant 0.15-0.5x of the floor more:
            // bench/RESULTS.md, "The 32-byte string"). The same layout as
            // pack_payload's.
            const std::string_view str = strings[0];
            const uint32_t bytes = uint32_t(word_of(str)), whole = bytes / 8;
            const uint32_t cont = format::v2::continuation_slots(n - 1, bytes);
            if (__builtin_expect(cont > r->max_cont, 0)) {  // larger than this ring takes (max_cont)
                count_drop();
                return;
            }
            const uint64_t tail = string_chunk(str.data(), bytes, whole);  // the partial last word, or 0
            write_event_units(r, k, uint32_t(st), ticks, words[0], cont, [&](uint32_t u) {
                if (u < n - 1) return words[1 + u];
                const uint32_t chunk = u - (n - 1);
                if (__builtin_expect(chunk < whole, 1)) {
                    uint64_t w;
                    std::memcpy(&w, str.data() + 8 * chunk, 8);
                    return w;
                }
                return tail;
            });
        } else {
            uint64_t units[(n - 1) + nstr * (format::max_string_bytes / 8) + 2];
            const uint32_t cont = pack_payload(units, words, n, strings, nstr);
            if (__builtin_expect(cont > r->max_cont, 0)) {  // larger than this ring takes (max_cont)
                count_drop();
                return;
            }
            write_event(r, k, uint32_t(st), ticks, words[0], units, cont);
        }
    }
    (void)info;
}

// An instant of two integer arguments whose argument 0 is a task id (the
// diagnostics of asio_tracking.hpp: the task an operation is for). When that
// task is the one a reader takes as current at the ring's write position
// (implicit_task, the same rule as the implicit task forms: task.hpp,
// emit_task), the event is an `instant_task` (kind 10, 1 slot) that leaves
// the task out; otherwise an `instant` with both words (2 slots). A reader
// gives both the same arguments (spec/events.md, "Kinds"). The caller has
// checked the level.
template <class V>
[[gnu::always_inline]] inline void emit_instant_task(site_ref& ref, const site_info& info, uint64_t gate,
                                                     const arg_value<uint64_t>& task, const arg_value<V>& arg1) {
    static_assert(!std::is_same_v<V, std::string_view>, "argument 1 is an integer word");
    thread_ring* r = &t_ring;
    uint64_t st;
    if (!ring_and_site(r, ref, info, gate, st, task, arg1)) return;
    const uint64_t ticks = now_ticks();
    const uint64_t w1 = word_of(arg1.value);
    if (task.value == r->implicit_task && task.value != 0 && task.value != implicit_unknown)
        write_event(r, format::kind::instant_task, uint32_t(st), ticks, w1, nullptr, 0);
    else
        write_event(r, format::kind::instant, uint32_t(st), ticks, task.value, &w1, 1);
}

inline uint64_t gate_open(int level) {
    uint64_t g = gate_load();
    return int(g & 0xff) >= level ? g : 0;
}

// ---- call sites named at run time ------------------------------------------------
// For an integration that learns its event names at run time from strings
// that repeat (Asio's handler tracking passes literals: "socket",
// "async_receive"): the first use of a pair of keys (two addresses, say of
// those literals) makes a call site whose name is built from the strings,
// so that every event after carries only its integers, not the strings.
//
// A table holds up to `Sites` sites and `Keys` pairs of keys (pairs of
// different addresses whose names are the same share a site). Finding a pair
// is lock-free and allocates nothing (a hash, a probe or two); adding one
// takes the recorder's lock (runtime_site_add). A site's id is per session,
// as a static site's is (site_ref): after bbx::stop() and start() each site
// is registered again, in the new session, at its first event. When the table
// is full, a new pair gets no site (null, found without a lock from then on):
// the caller records its event another way, e.g. with the strings as arguments.
struct runtime_site {
    site_ref ref;
    site_info info{};  // info.name is `name`; everything else the caller's (literals)
    char name[96]{};
};
struct runtime_site_key {
    std::atomic<const void*> a{nullptr}, b{nullptr};
    std::atomic<runtime_site*> site{nullptr};  // stored last (release); `none` of the table: no site (full)
};
struct runtime_site_table {
    runtime_site_key* keys;
    uint32_t nkeys;  // a power of two
    runtime_site* sites;
    uint32_t nsites;
    uint32_t used = 0;                  // sites taken (under the recorder's lock)
    std::atomic<bool> keys_full{false};  // no key left: every pair not found has no site
    runtime_site* none() const { return sites + nsites; }  // never a site of the table
};
template <uint32_t Keys, uint32_t Sites>
struct runtime_sites {
    static_assert(Keys >= 2 && (Keys & (Keys - 1)) == 0, "runtime_sites: Keys must be a power of two");
    runtime_site_key keys[Keys];
    runtime_site sites[Sites];
    runtime_site_table table{keys, Keys, sites, Sites};
    constexpr runtime_sites() = default;
    runtime_sites(const runtime_sites&) = delete;
    runtime_sites& operator=(const runtime_sites&) = delete;
};

inline uint32_t runtime_site_hash(const void* a, const void* b) {
    uint64_t h = reinterpret_cast<uintptr_t>(a) * 0x9e3779b97f4a7c15ull;
    h ^= (reinterpret_cast<uintptr_t>(b) + 0x632be59bd9b4e019ull) * 0xff51afd7ed558ccdull;
    return uint32_t(h >> 32);
}

// Cold path (recorder.cpp), under the recorder's lock: the site of keys (a, b),
// added if it is not there yet, with `info` (kind, level, argument types,
// category, file, line, function: kept by pointer, so literals) and the name
// `parts[0] + ... + parts[nparts - 1]` (cut at 95 bytes). Null: the table is
// full (the pair is noted as having no site). Thread-safe; not signal-safe.
BBX_API runtime_site* runtime_site_add(runtime_site_table& t, const void* a, const void* b, const site_info& info,
                                       const char* const* parts, uint32_t nparts);

// The site of keys (a, b), or null when the table is full. Lock-free once the
// pair has been seen; never allocates. Thread-safe.
inline runtime_site* runtime_site_of(runtime_site_table& t, const void* a, const void* b, const site_info& info,
                                     const char* const* parts, uint32_t nparts) {
    const uint32_t mask = t.nkeys - 1;
    const uint32_t h = runtime_site_hash(a, b);
    for (uint32_t i = 0; i <= mask; ++i) {
        runtime_site_key& k = t.keys[(h + i) & mask];
        runtime_site* s = k.site.load(std::memory_order_acquire);
        if (!s) break;  // not there (yet)
        if (k.a.load(std::memory_order_relaxed) == a && k.b.load(std::memory_order_relaxed) == b)
            return s == t.none() ? nullptr : s;
    }
    if (t.keys_full.load(std::memory_order_relaxed)) return nullptr;
    return runtime_site_add(t, a, b, info, parts, nparts);
}

// The macros' entry points are always inline too (as emit): a call per event
// is what the 1-int instant's budget cannot afford.
template <class... V>
[[gnu::always_inline]] inline void instant(site_ref& ref, const site_info& info, const arg_value<V>&... args) {
    if (uint64_t g = gate_open(info.level)) emit(format::kind::instant, ref, info, g, args...);
}

template <class T>
[[gnu::always_inline]] inline void counter(site_ref& ref, const site_info& info, T value) {
    if (uint64_t g = gate_open(info.level)) {
        if constexpr (std::is_floating_point_v<T>) emit(format::kind::counter, ref, info, g, arg_value<double>{"value", double(value)});
        else emit(format::kind::counter, ref, info, g, arg_value<int64_t>{"value", int64_t(value)});
    }
}

// A span: begin at construction, end at scope exit. The end is attempted only
// if the begin passed the gate in the same session; either can still be lost
// (overwritten, or dropped in discard mode), so a decoder tolerates unpaired ones.
class span_guard {
public:
    template <class... V>
    [[gnu::always_inline]] span_guard(site_ref& ref, const site_info& info, const arg_value<V>&... args) {
        if (uint64_t g = gate_open(info.level)) {
            emit(format::kind::span_begin, ref, info, g, args...);
            if (t_ring.session == uint32_t(g >> 8)) {
                ref_ = &ref;
                info_ = &info;
                gate_ = g;
            }
        }
    }
    [[gnu::always_inline]] ~span_guard() {
        if (ref_ && gate_load() >> 8 == gate_ >> 8)
            emit(format::kind::span_end, *ref_, *info_, gate_);
    }
    span_guard(const span_guard&) = delete;
    span_guard& operator=(const span_guard&) = delete;

private:
    site_ref* ref_ = nullptr;
    const site_info* info_ = nullptr;
    uint64_t gate_ = 0;
};

template <class... T>
int discard(const T&...);  // declared only: names a removed event's arguments in an unevaluated operand

}  // namespace detail

// An event argument: bbx::arg("bytes", n). The name must be a string literal;
// the value an integer, floating-point number, bool, or string (copied, cut
// at 128 bytes). Names are stored once per call site, not per event.
template <std::size_t N, class T>
inline auto arg(const char (&name)[N], T&& value) {
    auto v = detail::stored(std::forward<T>(value));
    return detail::arg_value<decltype(v)>{name, v};
}

}  // namespace bbx

// ---- macros ---------------------------------------------------------------------
#define BBX_DETAIL_OFF(...) \
    do {                    \
        (void)sizeof(::bbx::detail::discard(__VA_ARGS__)); \
    } while (0)

// The pack of argument value types, computed without evaluating the arguments.
#define BBX_DETAIL_TYPES(...) decltype(::bbx::detail::types_of(__VA_ARGS__))

namespace bbx::detail {
template <class... V>
struct type_list {};
template <class... V>
type_list<V...> types_of(const arg_value<V>&...);
template <class... V>
constexpr site_info make_site_from(type_list<V...>, format::site_kind kind, int level, const char* category,
                                   const char* name, const char* file, uint32_t line, const char* function) {
    return make_site<V...>(kind, level, category, name, file, line, function);
}
}  // namespace bbx::detail

#define BBX_DETAIL_STATIC_SITE(id, kind, lvl, cat, name, ...)                                                  \
    static constexpr ::bbx::detail::site_info BBX_DETAIL_CAT(bbx_site_, id) = ::bbx::detail::make_site_from(    \
        BBX_DETAIL_TYPES(__VA_ARGS__){}, kind, lvl, cat, name, __FILE__, __LINE__, __func__);                  \
    static ::bbx::detail::site_ref BBX_DETAIL_CAT(bbx_ref_, id)

#define BBX_DETAIL_INSTANT(id, lvl, cat, name, ...)                                                 \
    do {                                                                                            \
        BBX_DETAIL_STATIC_SITE(id, ::bbx::format::site_kind::instant, lvl, cat, name, __VA_ARGS__); \
        ::bbx::detail::instant(BBX_DETAIL_CAT(bbx_ref_, id),                                        \
                               BBX_DETAIL_CAT(bbx_site_, id) __VA_OPT__(, ) __VA_ARGS__);           \
    } while (0)

#define BBX_DETAIL_COUNTER(id, lvl, cat, name, value)                                                            \
    do {                                                                                                         \
        static constexpr ::bbx::detail::site_info BBX_DETAIL_CAT(bbx_site_, id) = ::bbx::detail::make_site<      \
            std::conditional_t<std::is_floating_point_v<std::remove_cvref_t<decltype(value)>>, double,           \
                               int64_t>>(::bbx::format::site_kind::counter, lvl, cat, name, __FILE__, __LINE__, \
                                         __func__);                                                              \
        static ::bbx::detail::site_ref BBX_DETAIL_CAT(bbx_ref_, id);                                             \
        ::bbx::detail::counter(BBX_DETAIL_CAT(bbx_ref_, id), BBX_DETAIL_CAT(bbx_site_, id), (value));           \
    } while (0)

#define BBX_DETAIL_SPAN(id, lvl, cat, name, ...)                                                              \
    BBX_DETAIL_STATIC_SITE(id, ::bbx::format::site_kind::span, lvl, cat, name, __VA_ARGS__);                  \
    ::bbx::detail::span_guard BBX_DETAIL_CAT(bbx_span_, id)(BBX_DETAIL_CAT(bbx_ref_, id),                     \
                                                            BBX_DETAIL_CAT(bbx_site_, id) __VA_OPT__(, ) __VA_ARGS__)

// BBX_SPAN(LEVEL, "category", "name", bbx::arg(...)...): records a span from
// here to the end of the enclosing scope. LEVEL is ERROR, WARN, INFO, DEBUG or
// TRACE. Enabled: a few ns for begin and end each. Thread-safe.
#define BBX_SPAN(level, category, name, ...)                                                                  \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_SPAN(__COUNTER__, BBX_LEVEL_##level, category, name __VA_OPT__(, ) __VA_ARGS__), \
                            BBX_DETAIL_OFF(category, name __VA_OPT__(, ) __VA_ARGS__))

// BBX_INSTANT(LEVEL, "category", "name", bbx::arg(...)...): a point in time.
#define BBX_INSTANT(level, category, name, ...)                                                                   \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_INSTANT(__COUNTER__, BBX_LEVEL_##level, category, name __VA_OPT__(, ) __VA_ARGS__), \
                            BBX_DETAIL_OFF(category, name __VA_OPT__(, ) __VA_ARGS__))

// BBX_COUNTER(LEVEL, "category", "name", value): a sample of a numeric series.
// Integers are recorded as int64, floating-point values as double.
#define BBX_COUNTER(level, category, name, value)                                                                \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_COUNTER(__COUNTER__, BBX_LEVEL_##level, category, name, value),           \
                            BBX_DETAIL_OFF(category, name, value))
