// blackbox capture format, version 1.4: the byte layout shared by the
// recorder (which writes it) and the decoder (which reads it).
//
// This header is the code twin of spec/file.md, spec/events.md,
// spec/metadata.md and spec/ring-buffer.md (spec/README.md lists them); a
// change here is a change of the spec, made in the same commit. Everything is
// little-endian; structs here are plain data with static_asserts on size and
// offsets, never packed bit-fields. Nothing in this header allocates or
// throws, so the recorder's hot path may use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "blackbox writes its capture format in native order; big-endian hosts are not supported yet"
#endif

namespace bbx::format {

// ---- file header ----------------------------------------------------------

// "\x89BBX\r\n\x1a\n": PNG's trick. The high first byte catches 7-bit
// transfers, CR LF and the lone LF catch newline conversion, ^Z stops `type`
// on DOS, and "BBX" names the file to a person reading a hex dump.
inline constexpr unsigned char ring_magic[8] = {0x89, 'B', 'B', 'X', '\r', '\n', 0x1a, '\n'};

inline constexpr uint16_t version_major = 1;  // a decoder rejects another major
inline constexpr uint16_t version_minor = 4;  // a decoder reads any minor of its major
// (Branch f2: format 2.0 is being built; see namespace v2 below. These two
// and slot_size still name 1.4 until the recorder writes 2.0.)

inline constexpr uint32_t header_size = 4096;
inline constexpr uint32_t slot_size = 32;
inline constexpr uint32_t ring_descriptor_size = 64;
inline constexpr uint32_t min_ring_size = 4096;
inline constexpr uint32_t max_ring_size = 1u << 30;
inline constexpr uint32_t max_ring_count = 4096;
inline constexpr uint64_t max_meta_capacity = 64ull << 20;
inline constexpr uint32_t process_name_size = 64;
inline constexpr uint32_t exe_path_size = 256;
// 1.3: the owner table (after the rings): owner_entries_per_ring entries of
// owner_entry_size bytes per ring; the owner of generation g of ring r is
// at index r * owner_entries_per_ring + g % owner_entries_per_ring.
inline constexpr uint32_t owner_entries_per_ring = 4;
inline constexpr uint32_t owner_entry_size = 128;
inline constexpr uint16_t minor_owners = 3;  // the first minor with rings reused by owner
// 1.4: the identity region (after the owner table; spec/identities.md): a
// task table of task_entries entries, then per ring context_entries_per_ring
// open span contexts, each entry 64 bytes.
inline constexpr uint16_t minor_identities = 4;  // the first minor with the identity region
inline constexpr uint32_t task_entry_size = 64;
inline constexpr uint32_t context_entry_size = 64;
inline constexpr uint32_t context_entries_per_ring = 4;
inline constexpr uint32_t max_task_entries = 1u << 20;  // 64 MiB of task table at most
inline constexpr uint32_t default_task_entries = 4096;
inline constexpr uint32_t task_probe = 8;  // entries a spawn looks at, from the hash of its id

// 2.0 keeps every part of the file that 1.4 has (only the slots changed):
// the 1.x minor whose parts a file of version major.minor has. Layout and
// feature checks compare this, never version_minor alone.
inline constexpr uint16_t feature_minor(uint16_t major, uint16_t minor) { return major >= 2 ? 4 : minor; }

// header.flags. Bits 0-2 have meanings; bits 3-31 are reserved (a writer
// writes 0, a decoder of this version rejects a file with any of them set).
enum header_flag : uint32_t {
    flag_discard = 1u << 0,       // rings drop new events when full (default: overwrite oldest)
    flag_ended_clean = 1u << 1,   // bbx::stop() ran: no writer was active at the end
    flag_ended_crash = 1u << 2,   // a crash handler ended the capture
};
inline constexpr uint32_t header_flags_known = 0x7;

// One point where the event counter and both system clocks were read together.
struct clock_anchor {
    uint64_t ticks;         // the event counter (rdtsc, cntvct_el0, or CLOCK_MONOTONIC ns)
    uint64_t monotonic_ns;  // CLOCK_MONOTONIC
    uint64_t realtime_ns;   // CLOCK_REALTIME, ns since the Unix epoch
    uint64_t boottime_ns;   // CLOCK_BOOTTIME (Perfetto's default trace clock)
};
static_assert(sizeof(clock_anchor) == 32);

struct file_header {
    unsigned char magic[8];       //   0
    uint16_t version_major;       //   8
    uint16_t version_minor;       //  10
    uint32_t header_size;         //  12 always 4096
    uint64_t file_size;           //  16 bytes; the file is exactly this long
    uint32_t slot_size;           //  24 always 32
    uint32_t ring_size;           //  28 bytes per ring: power of two, 4 KiB .. 1 GiB
    uint32_t ring_count;          //  32 rings (the most threads recording at once; 1.3 reuses a released ring)
    uint32_t rings_used;          //  36 rings handed out so far (atomic)
    uint64_t ring_table_offset;   //  40 ring descriptors, 64 bytes each
    uint64_t meta_offset;         //  48 metadata region
    uint64_t meta_capacity;       //  56 its size in bytes
    uint64_t meta_used;           //  64 bytes reserved in it so far (atomic)
    uint64_t rings_offset;        //  72 ring i starts at rings_offset + i * ring_size
    uint32_t pid;                 //  80
    uint32_t flags;               //  84 header_flag bits
    uint32_t threads_dropped;     //  88 threads that found no free ring (atomic)
    uint32_t sites_dropped;       //  92 call sites that found the metadata region full (atomic)
    uint64_t events_dropped;      //  96 events of ring-less threads or metadata-less sites (atomic)
    uint32_t calib_seq;           // 104 seqlock over the clock fields: odd while being written
    uint32_t anchor_count;        // 108 1 or 2
    clock_anchor anchors[2];      // 112 [0] at start, [1] the latest (stop, or a thread's start)
    double tick_hz;               // 176 counter ticks per second, measured at start
    uint32_t level;               // 184 the run-time level at start (1 error .. 5 trace)
    uint32_t reserved0;           // 188 reserved: 0
    unsigned char boot_id[16];    // 192 1.1: the kernel's boot id (/proc/sys/kernel/random/boot_id); all 0: unknown
    uint64_t owner_table_offset;  // 208 1.3: the owner table (see owner_entry); 0 before 1.3
    uint64_t identity_offset;     // 216 1.4: the identity region (spec/identities.md); 0 before 1.4
    uint32_t task_entries;        // 224 1.4: entries of its task table (0: no task table)
    uint32_t tasks_untracked;     // 228 1.4: spawns that found no entry to take (atomic)
    uint32_t contexts_untracked;  // 232 1.4: span contexts past a ring's context_entries_per_ring (atomic)
    unsigned char reserved1[16];  // 236 reserved: 0
    uint32_t parent_pid;          // 252 1.2: a forked child's capture: the pid of the process it was forked from; else 0
    char process_name[64];        // 256 NUL-padded UTF-8 (comm of the process)
    char exe_path[256];           // 320 NUL-padded, from /proc/self/exe; for symbolising
    // 1.4: the stall-sample area (spec/stall-stacks.md); all 0 when stall
    // sampling was not configured, and in files before 1.4.
    uint64_t stall_offset;        // 576 the area's offset: the layout's end without it
    uint64_t stall_size;          // 584 its bytes (stall_area_size)
    uint32_t stall_samples_per_ring;  // 592 K: sample entries per ring, 1 .. 256
    uint32_t stall_sample_size;   // 596 always stall_sample_entry_size (288)
    uint32_t stall_max_frames;    // 600 always max_stall_frames (32)
    uint32_t stall_mappings;      // 604 M: mapping entries, 1 .. 4096
    uint32_t stall_mapping_size;  // 608 always stall_mapping_entry_size (256)
    uint32_t stall_threshold_us;  // 612 the configured threshold (informative)
    uint32_t stall_period_us;     // 616 the configured sample period (informative)
    uint32_t stall_flags;         // 620 stall_flag bits
    unsigned char reserved2[3472];  // 624 .. 4095 reserved: 0
};
static_assert(sizeof(file_header) == header_size);
static_assert(offsetof(file_header, version_major) == 8);
static_assert(offsetof(file_header, file_size) == 16);
static_assert(offsetof(file_header, ring_size) == 28);
static_assert(offsetof(file_header, ring_table_offset) == 40);
static_assert(offsetof(file_header, meta_used) == 64);
static_assert(offsetof(file_header, rings_offset) == 72);
static_assert(offsetof(file_header, pid) == 80);
static_assert(offsetof(file_header, events_dropped) == 96);
static_assert(offsetof(file_header, calib_seq) == 104);
static_assert(offsetof(file_header, anchors) == 112);
static_assert(offsetof(file_header, tick_hz) == 176);
static_assert(offsetof(file_header, owner_table_offset) == 208);
static_assert(offsetof(file_header, identity_offset) == 216);
static_assert(offsetof(file_header, task_entries) == 224);
static_assert(offsetof(file_header, tasks_untracked) == 228);
static_assert(offsetof(file_header, contexts_untracked) == 232);
static_assert(offsetof(file_header, reserved1) == 236);
static_assert(offsetof(file_header, parent_pid) == 252);
static_assert(offsetof(file_header, process_name) == 256);
static_assert(offsetof(file_header, exe_path) == 320);
static_assert(offsetof(file_header, stall_offset) == 576);
static_assert(offsetof(file_header, stall_flags) == 620);
static_assert(offsetof(file_header, reserved2) == 624);

// ---- ring descriptors -----------------------------------------------------

enum ring_state : uint32_t { ring_free = 0, ring_owned = 1, ring_released = 2 };

// One cache line per ring, written only by the ring's owner (after the claim,
// under the session lock when the ring changes hands).
struct ring_descriptor {
    uint64_t write_pos;       //  0 slots written in total; ring slot = pos % slots
    uint64_t events_written;  //  8 events (not slots) written in total
    uint64_t events_dropped;  // 16 events not written: discard mode full, or too large
    uint32_t tid;             // 24 kernel thread id
    uint32_t state;           // 28 ring_state
    uint64_t first_drop_ticks;  // 32 1.1: ticks of the first event counted in events_dropped (0: none)
    uint64_t last_drop_ticks;   // 40 1.1: ticks of the latest one (0: none)
    // 1.3: the ring's current owner (1 for the first; 0: never owned, or a
    // 1.0-1.2 writer), incremented after the new owner's owner event.
    uint32_t generation;      // 48
    uint32_t unused;          // 52 unused: a decoder ignores it
    uint64_t released_ticks;  // 56 1.3: ticks when the owner released it (state released); else unused
};
static_assert(sizeof(ring_descriptor) == ring_descriptor_size);
static_assert(offsetof(ring_descriptor, generation) == 48);
static_assert(offsetof(ring_descriptor, released_ticks) == 56);

// ---- owner table (1.3) --------------------------------------------------------

// Who owned generation `generation` of a ring, from which write position.
// Written by the new owner under the session lock, under `seq` (odd while
// being written), before its owner event; set_thread_name rewrites `name`.
struct owner_entry {
    uint32_t seq;         //  0 sequence word: odd while the entry is written
    uint32_t generation;  //  4 0: empty
    uint32_t tid;         //  8 kernel thread id
    uint32_t unused0;     // 12 unused: a decoder ignores it
    uint64_t start_pos;   // 16 the write position of the owner's owner event
    uint64_t unused1;     // 24 unused: a decoder ignores it
    char name[64];        // 32 NUL-padded UTF-8, at most 63 bytes
    unsigned char unused2[32];  // 96 unused: a decoder ignores them
};
static_assert(sizeof(owner_entry) == owner_entry_size);
static_assert(offsetof(owner_entry, start_pos) == 16);
static_assert(offsetof(owner_entry, name) == 32);
static_assert(offsetof(ring_descriptor, first_drop_ticks) == 32);
static_assert(offsetof(ring_descriptor, last_drop_ticks) == 40);

// ---- identity region (1.4) ------------------------------------------------------

// What a task table entry holds (task_entry::state).
enum task_state : uint32_t { task_empty = 0, task_live = 1, task_completed = 2 };

// One spawned task, claimed at its spawn (spec/identities.md, "Writer"):
// written under `seq` (odd while written; a reader takes an entry only with
// the same even seq before and after its copy).
struct task_entry {
    uint32_t seq;             //  0 sequence word: odd while the entry is written
    uint32_t state;           //  4 task_state
    uint64_t id;              //  8 the task id (never 0 in a used entry)
    uint64_t parent;          // 16 the parent task (0: none)
    uint64_t frame_bytes;     // 24 0: unknown
    uint64_t spawn_ticks;     // 32 when it was spawned
    uint64_t complete_ticks;  // 40 when it completed (state completed); else 0
    uint32_t site;            // 48 its task site (0: none)
    uint32_t spawn_ring;      // 52 the ring of the thread that spawned it (UINT32_MAX: that thread had none)
    uint32_t spawn_generation;  // 56 that ring's owner then (0: unknown)
    uint32_t unused;          // 60 unused: a decoder ignores it
};
static_assert(sizeof(task_entry) == task_entry_size);
static_assert(offsetof(task_entry, spawn_ticks) == 32);
static_assert(offsetof(task_entry, site) == 48);

// One open bbx::context_scope of a ring's owner, innermost at the highest
// index in use (spec/identities.md, "Open span contexts").
struct context_entry {
    uint32_t seq;             //  0 sequence word: odd while the entry is written
    uint32_t generation;      //  4 the ring's owner that opened it (0: empty)
    uint64_t ticks;           //  8 the ticks of its span_context event
    uint64_t span_id;         // 16 as the span_context event's word0
    uint64_t trace_hi;        // 24
    uint64_t trace_lo;        // 32
    uint64_t parent_span_id;  // 40
    uint32_t role_flags;      // 48 span_role | trace flags << 8
    uint32_t unused0;         // 52 unused: a decoder ignores it
    uint64_t unused1;         // 56 unused: a decoder ignores it
};
static_assert(sizeof(context_entry) == context_entry_size);
static_assert(offsetof(context_entry, role_flags) == 48);

// ---- stall-sample area (1.4, spec/stall-stacks.md) ----------------------------

inline constexpr uint16_t minor_stall = 4;  // the first minor with a stall-sample area
inline constexpr uint32_t max_stall_frames = 32;
inline constexpr uint32_t max_stall_samples_per_ring = 256;
inline constexpr uint32_t max_stall_mappings = 4096;
inline constexpr uint32_t stall_sample_entry_size = 288;
inline constexpr uint32_t stall_mapping_entry_size = 256;
inline constexpr uint32_t stall_path_size = 192;
inline constexpr uint32_t stall_build_id_size = 32;

// file_header.stall_flags
enum stall_flag : uint32_t {
    stall_flag_frame_pointers = 1u << 0,  // stacks were walked by frame pointers (else by the DWARF unwinder)
};
inline constexpr uint32_t stall_flags_known = 0x1;

// stall_sample_entry.flags
enum stall_sample_flag : uint32_t {
    stall_sample_truncated = 1u << 0,  // the stack had more than max_stall_frames frames: the outermost are cut
    stall_sample_frame_pointers = 1u << 1,  // walked by frame pointers
};
inline constexpr uint32_t stall_sample_flags_known = 0x3;

// One native stack of a stalled thread, written by that thread's own signal
// handler under `seq` (odd while being written). Ring r's entries are
// r * K .. r * K + K - 1 (K = stall_samples_per_ring), used in turn.
struct stall_sample_entry {
    uint32_t seq;         //  0 sequence word: odd while the entry is written; 0: never written
    uint32_t generation;  //  4 the ring's owner that was sampled (its generation; 0: empty)
    uint64_t ticks;       //  8 when the handler ran, in counter ticks
    uint32_t nframes;     // 16 frames used, 0 .. max_stall_frames
    uint32_t flags;       // 20 stall_sample_flag bits
    uint64_t number;      // 24 the ring's sample number (1, 2, ...): orders the entries of a ring
    uint64_t frames[max_stall_frames];  // 32 [0] the interrupted instruction, then return addresses, innermost first
};
static_assert(sizeof(stall_sample_entry) == stall_sample_entry_size);
static_assert(offsetof(stall_sample_entry, frames) == 32);

// One loaded object (the executable, a shared library, the vDSO), written by
// the watchdog thread under `seq`. An address a of the process lies in the
// object when low <= a < high; its address in the object's file is a - base.
struct stall_mapping_entry {
    uint32_t seq;            //  0 sequence word: odd while written; 0: never written
    uint32_t build_id_size;  //  4 bytes of build_id used, 0 .. 32
    uint64_t base;           //  8 load bias (dl_phdr_info.dlpi_addr)
    uint64_t low;            // 16 lowest address of its PT_LOAD segments
    uint64_t high;           // 24 end of its highest PT_LOAD segment
    unsigned char build_id[stall_build_id_size];  // 32 its NT_GNU_BUILD_ID note
    char path[stall_path_size];  // 64 NUL-padded; "" : the main executable (header exe_path)
};
static_assert(sizeof(stall_mapping_entry) == stall_mapping_entry_size);
static_assert(offsetof(stall_mapping_entry, path) == 64);

// ---- event slots ------------------------------------------------------------

// The kind byte of a slot.
enum class kind : uint8_t {
    invalid = 0,       // never written
    span_begin = 1,    // site = a span site; values = its arguments
    span_end = 2,      // site = the same span site; no values
    instant = 3,       // site = an instant site; values = its arguments
    counter = 4,       // site = a counter site; word0 = the value (i64 or f64 bits)
    continuation = 5,  // more payload of the event in the slot(s) before it
    thread_name = 6,   // site 0; the new name is the string in the continuation slots
    // 1.3: the first event of a ring's new owner. site 0; word0 = the
    // generation (1 .. 2^32-1); payload words: tid, name length L (0 .. 63),
    // then the L bytes of the thread's name.
    owner = 8,
    // 1.1: gives the innermost open span of this thread a W3C identity. site 0;
    // word0 = span id; two continuation slots, words: trace id (high 64 bits),
    // trace id (low 64 bits), parent span id (0: a root), span_role | trace flags << 8.
    span_context = 7,
    // 2.0 only: the high half of the ticks from here on (namespace v2).
    time_base = 9,
    // 2.0 only: an instant whose argument 0 is a task id equal to the ring's
    // current task (namespace v2, as for the implicit task forms), which is
    // not written: site = an instant site whose argument 0 is u64; B =
    // argument 1's word (0 if none); payload words: arguments 2 .. n-1, then
    // the string bytes. A reader hands it on as an `instant`. 1 slot for an
    // instant of (task, integer): Asio's diagnostics.
    instant_task = 10,
    // 11..15 unassigned.
    // Async task events (1.1). Each has word0 = the task id; those marked (+1)
    // carry exactly one continuation slot holding two words, w1 and w2.
    task_spawn = 16,       // site = a task site or 0; (+1) w1 = parent task id (0: none), w2 = frame bytes (0: unknown)
    task_poll_begin = 17,  // site 0: the thread starts running the task (a resume)
    task_poll_end = 18,    // site = the await site where the task suspended, or 0 (it finished, or no site known)
    task_wake = 19,        // site 0; word0 = the woken task; (+1) w1 = the waking task (0: not a task), w2 = 0
    task_complete = 20,    // site 0: the task finished; it will not be polled again
    wait_begin = 21,       // site = await site or 0; (+1) w1 = resource id, w2 = resource_op
    wait_end = 22,         // site 0; (+1) w1 = resource id, w2 = resource_op
    resource_op = 23,      // site 0; (+1) w1 = resource id, w2 = resource_op: an operation that completed without waiting
    // 24..31 kept for task events of 2.0 (a 1.x file never holds them;
    // namespace v2). 24..27: the explicit forms of 19, 21, 22, 23, whose
    // implicit 2.0 forms name no task.
    task_wake_by = 24,
    wait_begin_for = 25,
    wait_end_for = 26,
    resource_op_for = 27,
    // 2.0 only: a wake by no task (an I/O, a timer, a thread outside any
    // task). site 0; B = the woken task; 1 slot. Written for every wake
    // with waker 0, inside a poll or not: it needs no current task.
    task_wake_external = 28,
    // 2.0 only: a spawn by the ring's current task (namespace v2, as for the
    // implicit task forms). site = a task site or 0; B = the new task; no
    // payload word (frame bytes 0: unknown) or one (the frame bytes). A
    // reader hands it on as a task_spawn whose parent is the current task.
    task_spawn_here = 29,
    // 30..31 kept for more task events.
    // A crash record (1.1), written by the crash handler into the crashing
    // thread's ring as its last event. site 0; word0 = signal number; the
    // payload words: si_code, fault address, the faulting instruction's
    // address, the load address of the main executable, the number of return
    // addresses N (at most max_crash_frames), then the N addresses, innermost
    // first.
    crash = 32,
    // 33..39 kept for more crash records. A decoder of this version skips any
    // other kind, with its continuation slots, and counts it.
};
inline constexpr uint32_t max_crash_frames = 32;
inline constexpr uint32_t crash_fixed_words = 5;  // payload words before the return addresses
inline constexpr uint8_t kind_first_task = 16, kind_last_task = 23;

// What a task did to a resource (w2 of wait_begin, wait_end, resource_op).
enum class resource_op : uint8_t { send = 1, recv = 2, lock = 3, timer = 4, join = 5, other = 6 };
inline constexpr uint8_t resource_op_last = 6;

// The role of a span with an identity, as OpenTelemetry's SpanKind numbers them.
enum class span_role : uint8_t { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };

// Task events with one continuation slot of two words.
inline constexpr bool task_kind_has_words(kind k) {
    return k == kind::task_spawn || k == kind::task_wake || k == kind::wait_begin || k == kind::wait_end ||
           k == kind::resource_op;
}


// Every event starts with a head slot and owns `cont` continuation slots
// directly after it in the same ring.
struct event_slot {
    uint64_t stamp;  //  0 commit stamp: write position + 1; 0 while being written
    uint8_t kind;    //  8 kind
    uint8_t cont;    //  9 continuation slots that follow (head), 0 (continuation)
    uint16_t aux;    // 10 unused: written 0, a decoder ignores it
    uint32_t site;   // 12 call-site id (0: none)
    uint64_t ticks;  // 16 timestamp in counter ticks
    uint64_t word0;  // 24 first argument word
};
static_assert(sizeof(event_slot) == slot_size);
static_assert(offsetof(event_slot, kind) == 8);
static_assert(offsetof(event_slot, site) == 12);
static_assert(offsetof(event_slot, ticks) == 16);
static_assert(offsetof(event_slot, word0) == 24);

// A continuation slot: same stamp and kind bytes, then 16 bytes of payload.
// The payload of an event is the concatenation of its continuation slots'
// payload bytes: argument words 1..n-1 (8 bytes each), then the bytes of
// its string arguments in argument order, then zero padding.
struct continuation_slot {
    uint64_t stamp;          //  0
    uint8_t kind;            //  8 kind::continuation
    uint8_t unused[7];       //  9 unused: written 0, a decoder ignores them
    unsigned char data[16];  // 16 payload
};
static_assert(sizeof(continuation_slot) == slot_size);
inline constexpr uint32_t continuation_payload = 16;

// Argument types, as the call-site metadata (format/bbx_meta.fbs) names them.
// An argument's word holds the value (integers two's complement; f64 as its
// IEEE-754 bits; bool 0/1) or, for a string, its length in bytes.
enum class arg_type : uint8_t { none = 0, i64 = 1, u64 = 2, f64 = 3, boolean = 4, string = 5 };

inline constexpr uint32_t max_args = 16;          // per event
inline constexpr uint32_t max_string_bytes = 128; // per string argument; longer ones are cut
inline constexpr uint32_t max_thread_name = 64;
// A whole event (head + continuations) is at most this many slots.
inline constexpr uint32_t max_event_slots = 1 + 255;

// Call-site kinds (CallSite.kind in the metadata).
enum class site_kind : uint8_t {
    span = 0,
    instant = 1,
    counter = 2,
    task = 3,   // 1.1: where tasks are spawned; name = the task's name
    await = 4,  // 1.1: a co_await (or other suspension point); name = the enclosing function
};

// Levels: 1 error, 2 warn, 3 info, 4 debug, 5 trace. 0 switches everything off.
inline constexpr uint8_t level_min = 1, level_max = 5;

// ---- metadata region --------------------------------------------------------

// "META": the commit word of a finished metadata record.
inline constexpr uint32_t meta_commit = 0x4154454d;

// Each record: this 8-byte prefix, then `size` bytes of a FlatBuffer whose
// root is bbx.fb.Record, then zero padding to a multiple of 8.
struct meta_record_header {
    uint32_t size;    // 0 FlatBuffer bytes
    uint32_t commit;  // 4 meta_commit once the record is complete; 0 before
};
static_assert(sizeof(meta_record_header) == 8);

inline constexpr uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
inline constexpr uint64_t align_page(uint64_t n) { return (n + 4095) & ~uint64_t{4095}; }

// The geometry both sides derive from the three sizes chosen at start.
// `minor`: the file's minor version; from 1.3 the owner table follows the
// rings (before: owner_table_offset and owner_table_size are 0); from 1.4
// the identity region follows it (task_entries: its task table's entries).
struct layout {
    uint64_t ring_table_offset, meta_offset, meta_capacity, rings_offset, owner_table_offset, owner_table_size,
        identity_offset, identity_size, file_size;
};
inline constexpr layout compute_layout(uint32_t ring_size, uint32_t ring_count, uint64_t meta_capacity,
                                       uint16_t minor = version_minor, uint32_t task_entries = 0) {
    layout l{};
    l.ring_table_offset = header_size;
    l.meta_offset = l.ring_table_offset + align_page(uint64_t{ring_count} * ring_descriptor_size);
    l.meta_capacity = align_page(meta_capacity);
    l.rings_offset = l.meta_offset + l.meta_capacity;
    l.file_size = l.rings_offset + uint64_t{ring_count} * ring_size;
    if (minor >= minor_owners) {
        l.owner_table_offset = l.file_size;
        l.owner_table_size = align_page(uint64_t{ring_count} * owner_entries_per_ring * owner_entry_size);
        l.file_size += l.owner_table_size;
    }
    if (minor >= minor_identities) {
        l.identity_offset = l.file_size;
        l.identity_size = align_page(uint64_t{task_entries} * task_entry_size +
                                     uint64_t{ring_count} * context_entries_per_ring * context_entry_size);
        l.file_size += l.identity_size;
    }
    return l;
}

// Slots of continuation needed for `words` argument words (beyond word0) and
// `string_bytes` bytes of strings.
inline constexpr uint32_t continuation_slots(uint32_t extra_words, uint32_t string_bytes) {
    uint32_t bytes = extra_words * 8 + string_bytes;
    return (bytes + continuation_payload - 1) / continuation_payload;
}

// The stall-sample area (1.4): ring_count * K sample entries, then M mapping entries, padded to 4 KiB.
inline constexpr uint64_t stall_area_size(uint32_t ring_count, uint32_t samples_per_ring, uint32_t mappings) {
    return align_page(uint64_t{ring_count} * samples_per_ring * stall_sample_entry_size +
                      uint64_t{mappings} * stall_mapping_entry_size);
}

// ---- 2.0 slots (spec: ring-buffer.md and events.md; /work/wt/f2-design.md while in progress) ----
//
// A slot is two little-endian words, A (kind, lap, site or continuation
// index, ticks_lo) and B (the value, or 8 payload bytes).
namespace v2 {
inline constexpr uint16_t version_major = 2;
inline constexpr uint16_t version_minor = 0;
inline constexpr uint32_t slot_size = 16;
inline constexpr uint32_t max_continuations = 255;          // an event is 1 + 0..255 slots
inline constexpr uint32_t max_event_slots = 1 + max_continuations;
inline constexpr uint32_t max_site = 0xffff;                // site ids 1..65535 fit a head
inline constexpr uint64_t max_resource = (uint64_t{1} << 56) - 1;  // resource ids fit 56 bits
inline constexpr uint32_t no_prev_hi = 0xffffffffu;         // time_base.prev_hi: no previous event
// A time_base's task word when the writer cannot say which task a reader's
// poll nesting has as current there (a poll event of this ring was lost):
// a reader resolves no implicit task from it. (The writer then writes only
// the explicit forms.)
inline constexpr uint64_t unknown_task = ~uint64_t{0};

// A: bits 0-7 kind, 8-15 lap, 16-31 site (head) or index | n << 8
// (continuation), 32-63 ticks_lo (head) or 0 (continuation).
inline constexpr uint64_t head_word(kind k, uint64_t lap, uint32_t site, uint64_t ticks) {
    return uint64_t(uint8_t(k)) | ((lap & 0xff) << 8) | (uint64_t(site & 0xffff) << 16) | (ticks << 32);
}
inline constexpr uint64_t continuation_word(uint64_t lap, uint32_t index, uint32_t n) {
    return uint64_t(uint8_t(kind::continuation)) | ((lap & 0xff) << 8) | (uint64_t(index & 0xff) << 16) |
           (uint64_t(n & 0xff) << 24);
}
inline constexpr uint8_t kind_of(uint64_t a) { return uint8_t(a); }
inline constexpr uint8_t lap_of(uint64_t a) { return uint8_t(a >> 8); }
inline constexpr uint32_t site_of(uint64_t a) { return uint32_t(a >> 16) & 0xffff; }
inline constexpr uint32_t ticks_lo_of(uint64_t a) { return uint32_t(a >> 32); }
inline constexpr uint32_t cont_index_of(uint64_t a) { return uint32_t(a >> 16) & 0xff; }
inline constexpr uint32_t cont_count_of(uint64_t a) { return uint32_t(a >> 24) & 0xff; }
// The lap byte of position p in a ring of 2^log2_slots slots.
inline constexpr uint8_t lap_at(uint64_t p, uint32_t log2_slots) { return uint8_t(p >> log2_slots); }

// Continuation slots for `extra_words` argument words (beyond B) and
// `string_bytes` bytes of strings: one word a slot.
inline constexpr uint32_t continuation_slots(uint32_t extra_words, uint32_t string_bytes) {
    return extra_words + (string_bytes + 7) / 8;
}
// A time_base's B word.
inline constexpr uint64_t time_base_word(uint32_t hi, uint32_t prev_hi) { return (uint64_t(hi) << 32) | prev_hi; }
// An owner event's B word: the generation (1..2^32-1) in bits 0..31, the
// high half of the owner event's own ticks in bits 32..63 (the ring's hi
// from there on, as a time base's).
inline constexpr uint64_t owner_word(uint32_t generation, uint32_t hi) { return (uint64_t(hi) << 32) | generation; }
inline constexpr uint32_t owner_generation_of(uint64_t b) { return uint32_t(b); }
inline constexpr uint32_t owner_hi_of(uint64_t b) { return uint32_t(b >> 32); }
// resource id | op << 56: the B word of waits and resource_op.
inline constexpr uint64_t resource_word(uint64_t res, uint8_t op) { return (res & max_resource) | (uint64_t(op) << 56); }
}  // namespace v2

}  // namespace bbx::format
