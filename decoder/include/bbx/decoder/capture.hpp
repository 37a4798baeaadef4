// A capture and the events in it: what the ring reader yields. Everything
// after the reader (filters, the timeline, the writers, the analysis) sees
// captures through this header only: typed events with named fields per
// kind, and threads as the reader resolved them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bbx/decoder/result.hpp"
#include "bbx/format.hpp"

namespace bbx::dec {

struct arg_decl {
    std::string name;
    format::arg_type type;
};

struct site {
    uint32_t id = 0;
    format::site_kind kind{};
    uint8_t level = 0;
    std::string category, name, file, function;
    uint32_t line = 0;
    std::vector<arg_decl> args;
};

// Something tasks wait on (format 1.1 Resource records).
struct resource {
    uint64_t id = 0;
    uint8_t kind = 0;  // 0 channel, 1 mutex, 2 timer, 3 other
    std::string name;
    uint64_t capacity = 0;
};

// A thread of the capture: one owner of a ring. Before 1.3 each ring had one
// owner, and a thread's index in capture::threads() is its ring's. From 1.3
// a ring changes hands (spec/ring-buffer.md, "Rings change hands"): every
// owner with events in the window (and the ring's latest owner) is a thread
// of its own, listed ring by ring, oldest generation first. Events name their
// thread by that index (event::thread), never by a ring.
struct thread_info {
    uint32_t ring = 0;
    uint32_t tid = 0;            // 0 with tid_known false: "unknown"
    std::string name;            // its name ("" if none known)
    // 1.3: which owner of the ring (1: the first); 0: a capture before 1.3
    // (or, in 1.3, events before a ring's first owner event, which no writer makes).
    uint32_t generation = 0;
    bool tid_known = true;       // false: the owner's owner event and table entry are both gone
    bool latest = true;          // the ring's latest owner: the ring's figures below are its
    // The ring's figures (0 for an owner that is not the ring's latest).
    format::ring_state state{};  // free, owned or released (thread exited); earlier owners: released
    uint64_t write_pos = 0;      // slots written in total (as the capture was opened)
    uint64_t events_written = 0; // events written in total
    uint64_t events_dropped = 0; // discard mode: not written because the ring was full
    // 1.1: when the first and the latest of those drops happened, in ticks
    // (capture::ticks_to_ns); 0: not noted (none, or a 1.0 writer).
    uint64_t first_drop_ticks = 0, last_drop_ticks = 0;
};

// What one pass over a thread's ring found.
struct ring_stats {
    uint64_t events = 0;           // valid events returned (with a filter: those that passed it)
    uint64_t overwritten = 0;      // events_written - what was still in the ring
    uint64_t torn = 0;             // slots a writer had not finished (or tore while we read)
    uint64_t unknown_kind = 0;     // events of a kind this version does not know, skipped
    uint64_t orphan = 0;           // continuation slots whose head was overwritten
    uint64_t bad_site = 0;         // events naming a call site with no metadata, skipped
    uint64_t malformed = 0;        // committed events whose payload breaks the spec, skipped
    uint64_t overwritten_in_read = 0;  // slots the writer overwrote while we read them (live files)
    // 1.3 (counted on the ring's latest owner): owner events read (they are
    // not yielded), and events no owner could be proven for (read while the
    // ring changed hands, or after a damaged owner event), skipped.
    uint64_t owner_events = 0, unattributed = 0;
    // 2.0 (counted on the owner the pass gave the event, else the ring's
    // latest): events of a window stretch without a time base, whose high
    // 32 tick bits are unknown (never shown with a made-up time), and
    // implicit task events (and instant_task events) whose task the poll nesting could not name.
    uint64_t untimed = 0, unresolved = 0;
    // Of `malformed`, the time bases (not events: events_written leaves them out).
    uint64_t malformed_time_bases = 0;
    // The ring's descriptor as the pass ended (a live writer may have gone on
    // since open()); 0 on an owner that is not the ring's latest.
    uint64_t write_pos = 0, events_written = 0, events_dropped = 0;
    uint64_t first_drop_ticks = 0, last_drop_ticks = 0;
};

// What a pass over a capture found: per thread (by index in capture::threads()).
// overwritten, and the descriptor's figures, are the ring's, on its latest owner.
struct read_stats {
    std::vector<ring_stats> threads;
};

// Everything a capture lost, from its header and one pass's stats: what every
// verb states (bbx info, dump, analyze, and each converter as metadata in its
// output; README "What a capture lost"). The counts are bbx info's.
struct losses {
    uint32_t threads_without_ring = 0;    // header threads_dropped: threads that found every ring taken
    uint64_t events_without_ring = 0;     // header events_dropped: their events
    uint32_t sites_without_metadata = 0;  // header sites_dropped: records that did not fit the metadata region
    uint64_t overwritten = 0;             // events overwritten by newer ones (overwrite mode)
    uint64_t dropped = 0;                 // events a ring did not take: full in discard mode, or no call site
    uint64_t torn = 0;                    // slots a writer had not finished (or tore while read)
    uint64_t malformed = 0;               // committed events that break the spec, skipped
    uint64_t skipped = 0;                 // every skipped slot: malformed, unknown kind, no site, orphaned
    uint32_t threads = 0;                 // threads with a ring
    uint32_t rings_wrapped = 0;           // of them, rings that overwrote events
    uint32_t rings_full = 0;              // of them, rings that dropped events in discard mode
    // 1.4 (identities: the capture has an identity region): spawns the task
    // table had no room for, span contexts past a ring's entries, and
    // identity entries ignored as damaged (spec/identities.md).
    bool identities = false;
    uint32_t tasks_untracked = 0, contexts_untracked = 0, identity_entries_bad = 0;
    // 2.0: events skipped for want of their tick's high half (no time base
    // in their stretch of the window) or of their implicit task (stated only
    // when not 0: a 1.x capture has neither).
    uint64_t untimed = 0, unresolved = 0;
    bool any() const {
        return threads_without_ring || events_without_ring || sites_without_metadata || overwritten || dropped || torn ||
               skipped || tasks_untracked || contexts_untracked || identity_entries_bad || untimed || unresolved;
    }
    // One line, "none" or the nonzero counts: "1716 events overwritten, 315 events dropped, ...".
    std::string text() const;
};
class capture;
losses losses_of(const capture& c, const read_stats& s);

struct arg {
    const arg_decl* decl;     // name and type
    uint64_t word;            // raw value (string: its length)
    std::string_view str;     // string arguments: the bytes (valid during the callback)
    int64_t as_i64() const { return int64_t(word); }
    double as_f64() const;
};

// A crash record (kind 32).
struct crash_info {
    int32_t signo = 0, code = 0;
    uint64_t addr = 0;      // fault address (si_addr)
    uint64_t pc = 0;        // faulting instruction
    uint64_t exe_base = 0;  // load address of the main executable (for symbolising PIE code)
    uint32_t nframes = 0;
    uint64_t frames[format::max_crash_frames] = {};
};

// What the task kinds (16..23) add to the task id, by kind.
struct spawn_fields {        // task_spawn
    uint64_t parent;         // the task that spawned it (0: none)
    uint64_t frame_bytes;    // its frame's size (0: not known)
};
struct wake_fields {         // task_wake
    uint64_t waker;          // the task that woke it (0: code outside any task)
};
struct resource_fields {     // wait_begin, wait_end, resource_op
    uint64_t id;             // the resource (capture::find_resource)
    uint64_t op;             // a format::resource_op as recorded (a value past resource_op_last is unknown)
};
// A span's W3C identity (span_context, kind 7): it names the innermost span
// open on its thread (spec/events.md, "Span contexts").
struct span_identity {
    uint64_t trace_hi, trace_lo;  // the trace id (not both 0)
    uint64_t span_id;             // never 0
    uint64_t parent_span_id;      // 0: a root
    uint8_t role;                 // format::span_role, 1 .. 5
    uint8_t flags;                // W3C trace flags
    uint64_t unused;              // payload bytes 26..31 as recorded (a writer writes 0; a decoder ignores them)
};

// One event as the reader yields it. Which fields mean something depends on
// the kind; the others are left as they were.
struct event {
    format::kind kind{};
    uint32_t thread = 0;        // who recorded it: an index into capture::threads()
    uint64_t ticks = 0;
    int64_t ns = 0;             // nanoseconds since the capture's start (anchor 0)
    // span_begin, span_end, instant, counter: the call site. Task events: the
    // task site (spawn) or the await site (poll_end, wait_begin), or null.
    const site* where = nullptr;
    uint32_t nargs = 0;         // span_begin, instant, counter
    arg args[format::max_args];
    uint64_t task = 0;          // task kinds: the task id
    std::string_view thread_name;  // thread_name: the new name (valid during the callback)
    union {
        spawn_fields spawn{};   // task_spawn
        wake_fields wake;       // task_wake
        resource_fields res;    // wait_begin, wait_end, resource_op
        span_identity context;  // span_context
        const crash_info* crash;  // crash: the record (valid during the callback)
    };
};

// A native stack sampled while a poll or span ran too long (1.4, spec/stall-stacks.md).
struct stall_sample {
    uint32_t thread = 0;           // index in capture::threads()
    uint64_t ticks = 0;            // when it was taken
    int64_t ns = 0;                // the same, in nanoseconds since the capture's start
    uint64_t number = 0;           // its ring's sample number
    uint32_t flags = 0;            // format::stall_sample_flag bits
    std::vector<uint64_t> frames;  // [0] the interrupted instruction, then return addresses, innermost first
};

// A loaded object of the recording process (the stall-sample area's mapping table).
struct loaded_object {
    uint64_t base = 0, low = 0, high = 0;  // load bias; [low, high) its addresses
    std::string path;                      // "" in the file: the header's exe_path is put here;
                                           // the vDSO's name (linux-vdso.so.1 ...): "[vdso]"
    std::string build_id;                  // hex; "" unknown
};

// One owner of a ring: its generation and its index in capture::threads().
struct owner_ref {
    uint32_t generation, thread;
};

// Called for each event of a pass.
using event_fn = std::function<void(const event&)>;

struct header_info {
    uint16_t version_major = 0, version_minor = 0;
    uint64_t file_size = 0;
    uint32_t ring_size = 0, ring_count = 0, rings_used = 0;
    uint32_t pid = 0, flags = 0, level = 0;
    uint32_t threads_dropped = 0, sites_dropped = 0;
    uint64_t events_dropped = 0;
    uint64_t meta_used = 0, meta_capacity = 0;
    format::clock_anchor anchors[2]{};
    uint32_t anchor_count = 0;
    double tick_hz = 0;      // as measured at start
    double fit_hz = 0;       // the rate used to convert (two-anchor fit when possible)
    std::string process_name, exe_path;
    unsigned char boot_id[16] = {};  // all zero: unknown (1.0 files)
    // 1.4: the identity region (0 before 1.4): where, its task table's
    // entries, and the header's overflow counts (spec/identities.md).
    uint64_t identity_offset = 0, identity_size = 0;
    uint32_t task_entries = 0, tasks_untracked = 0, contexts_untracked = 0;
    // 1.4: stall stacks, when the recorder had them on (stall_samples_per_ring
    // 0: off, or before 1.4): the threshold and period, the header's
    // stall_flags (bit 0: frame pointers) and the area's sizes (spec/stall-stacks.md).
    uint32_t stall_threshold_us = 0, stall_period_us = 0, stall_flags = 0;
    uint32_t stall_samples_per_ring = 0, stall_mappings = 0;
};

// 1.4: a task as the identity region's task table holds it: what its spawn
// event said, for a task whose spawn event is no longer in the rings.
// (48 bytes: a table of 2^20 entries costs 48 MiB, less than its 64 in the file.)
struct task_identity {
    uint64_t id = 0, parent = 0, frame_bytes = 0;
    uint64_t spawn_ticks = 0;
    const site* where = nullptr;           // its task site (null: none recorded)
    uint32_t spawn_ring = UINT32_MAX;      // the spawning thread's ring (UINT32_MAX: none)
    bool completed = false;
};
static_assert(sizeof(task_identity) == 48);

// 1.4: a span context still open on a thread (a bbx::context_scope not yet
// ended), from the identity region: depth 0 is the outermost.
struct open_context {
    uint64_t ticks = 0;  // its span_context event's
    uint32_t depth = 0;
    span_identity identity{};
};

// 1.4: what the identity region held, as the capture was opened (bbx info).
struct identity_stats {
    bool present = false;
    uint32_t tasks_live = 0, tasks_completed = 0;  // task table entries in use
    uint32_t contexts_open = 0;                    // open span context entries of known owners
    uint32_t torn = 0;                             // entries being written (odd or changing sequence word): ignored
    uint32_t bad = 0;                              // entries that break the spec: ignored (bbx info names the first)
    std::string first_bad;                         // "task entry 3 at offset N: state is 7"
};

// The capture container a capture was read from (spec/container.md), as
// bbx snapshot and bbx::snapshot() write them.
struct container_info {
    bool present = false;         // false: the file was a ring file itself
    uint16_t version_major = 0, version_minor = 0;
    uint64_t file_bytes = 0;      // the container's size
    uint64_t image_bytes = 0;     // the ring-file image it holds
    uint32_t chunk_size = 0, chunks = 0;
};

struct snapshot_options {
    int level = 1;  // 1, 2: LZ4's fast compressor; 3 .. 12: LZ4 HC at that level (as lz4 -1 .. -12)
};

struct snapshot_stats {
    uint64_t image_bytes = 0;      // the ring-file image
    uint64_t container_bytes = 0;  // the container: header, chunk headers and LZ4 blocks
    uint32_t chunks = 0;
};

// An open capture. Reading it does not change it: passes over one capture
// may run one after another (not at the same time: it is not thread-safe).
// Cheap to keep open (the file is mapped).
class capture {
public:
    // Maps and validates a ring file: header, ring table and metadata. A file
    // whose writer still runs is fine: events are validated as they are read.
    // Only a regular file is read: a FIFO, a device or a directory is an
    // error at once (opened without blocking). A capture container (bbx
    // snapshot) is checked whole first (every chunk's sizes and checksums,
    // the ring file's header before any other chunk is inflated), then its
    // image is inflated chunk by chunk as passes read it: it costs the chunks
    // in use, not the image. An error inside its image names the image offset
    // and the file offset of the chunk that holds it.
    static result<std::shared_ptr<capture>> open(const std::string& path);
    // The same from bytes in memory (fuzzing, tests). The bytes are copied.
    static result<std::shared_ptr<capture>> from_bytes(const uint8_t* data, size_t size, std::string name = "<memory>");
    // The same from a stream (standard input): read as far as the magic, then
    // the header, then exactly the size the header declares, so that a
    // stream that is not a capture, or runs on past its capture, is rejected
    // as soon as that shows, never read to its end. name: for messages.
    static result<std::shared_ptr<capture>> from_fd(int fd, std::string name);

    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

    const std::string& name() const { return name_; }
    const header_info& header() const { return hdr_; }
    const std::vector<site>& sites() const { return sites_; }
    const site* find_site(uint32_t id) const;
    const std::vector<thread_info>& threads() const { return threads_; }  // ring by ring, owners in order
    // 1.4: the task table's entry for a task id (null: none, or before 1.4).
    const task_identity* find_task_identity(uint64_t id) const;  // reader.cpp
    // 1.4: the span contexts still open on thread `thread` (an index into
    // threads()), outermost first; empty before 1.4.
    const std::vector<open_context>& open_contexts(uint32_t thread) const {
        static const std::vector<open_context> none;
        return thread < contexts_.size() ? contexts_[thread] : none;
    }
    const std::vector<task_identity>& task_identities() const { return task_ids_; }  // by id, ascending
    const identity_stats& identities() const { return ident_; }
    const std::vector<resource>& resources() const { return resources_; }
    // 1.4: stall samples, by thread then time, and the loaded objects (both empty: none recorded).
    const std::vector<stall_sample>& stall_samples() const { return stall_samples_; }
    // Reads the stall-sample area again (a live file: samples taken since it
    // was opened), as open() read it; an error leaves no samples.
    result<bool> reread_stall_samples();
    const std::vector<loaded_object>& loaded_objects() const { return objects_; }
    // The object holding a sampled address, or null.
    const loaded_object* object_of(uint64_t address) const;
    const resource* find_resource(uint64_t id) const;
    // What the file was when it was a capture container (present = false: a ring file).
    const container_info& container() const { return container_; }
    // Takes the capture's image as a snapshot does (from a live ring file
    // each slot under its sequence lock: a slot being written shows as torn,
    // never mixed) and packs it into a capture container, handing its bytes
    // in order to sink (return false to stop: an io error). A ring file costs
    // one image of its size; a container is packed again chunk by chunk.
    // container.cpp.
    result<snapshot_stats> write_container(const std::function<bool(const void*, size_t)>& sink,
                                           const snapshot_options& opt = {}) const;

    // Counter ticks to nanoseconds since anchor 0 (may be negative).
    int64_t ticks_to_ns(uint64_t ticks) const;
    // Absolute clocks at the capture's start (anchor 0).
    uint64_t start_monotonic_ns() const { return hdr_.anchors[0].monotonic_ns; }
    uint64_t start_realtime_ns() const { return hdr_.anchors[0].realtime_ns; }
    uint64_t start_boottime_ns() const { return hdr_.anchors[0].boottime_ns; }

    // Calls fn for every valid event, oldest first, merged across threads by
    // time (ties: lower thread first, then ring order). Streams: memory use
    // does not grow with the number of events. Returns what the pass found,
    // or an error only if the file can no longer be read; damaged slots are
    // counted, not fatal. (Filtered passes: read_events in filter.hpp.)
    result<read_stats> for_each_event(const event_fn& fn) const;

    // Incremental passes (bbx top): per used ring, the position read up to
    // (ring_mark::read, 0 at first) and the slots the writer overwrote before
    // a pass reached them (ring_mark::lost, added up). A pass reads each ring
    // from its mark (or its oldest surviving slot, when the writer has gone a
    // whole ring past the mark) to its write position now, in time order
    // across rings, and moves the marks there. It reads as for_each_event
    // does, and so never disturbs a writer. Threads and call sites are those
    // of open(): a ring that changed hands since, or sites added since, show
    // as unattributed and bad_site events (reopen to see them).
    struct ring_mark {
        uint64_t read = 0, lost = 0;
        // 2.0: what the pass that read up to `read` knew there, for the
        // next to go on from: the high half of the ticks, and the polls
        // open (innermost last; polls_unknown: more below them).
        bool kept = false, read_on = false, timed = false, polls_unknown = true;
        uint64_t hi = 0;
        std::vector<uint64_t> polls;
    };
    result<read_stats> for_each_event_from(std::vector<ring_mark>& marks, const event_fn& fn) const;

    struct container_reader;  // container_reader.hpp

private:
    capture() = default;
    result<bool> parse();
    result<read_stats> walk(ring_mark* marks, const event_fn& fn) const;  // reader.cpp: marks null: the whole window
    result<bool> open_image();  // container.cpp: reads a capture container's index, then parse()
    container_info container_;
    std::unique_ptr<container_reader> box_;  // a capture container: its chunks, inflated as read
    std::string name_;
    const unsigned char* data_ = nullptr;
    uint64_t size_ = 0;
    void* map_ = nullptr;           // when mapped from a file
    uint64_t map_size_ = 0;
    std::vector<unsigned char> own_; // when copied from memory
    header_info hdr_;
    std::vector<site> sites_;
    std::vector<uint32_t> site_index_;  // id -> index into sites_ + 1 (0: none), when ids are dense
    std::unordered_map<uint32_t, uint32_t> sparse_sites_;  // id -> index into sites_, when they are not
    std::vector<thread_info> threads_;
    // 1.3: per used ring, its owners' (generation, index in threads_), by generation.
    std::vector<std::vector<owner_ref>> owners_;
    std::vector<uint32_t> ring_last_;  // per used ring: its latest owner's index in threads_
    uint64_t owner_table_offset_ = 0;  // 0: a capture before 1.3
    result<bool> find_owners(const std::vector<thread_info>& rings);  // reader.cpp
    bool read_owner_entry(uint32_t ring, uint32_t generation, uint32_t& tid, std::string& name) const;
    std::vector<resource> resources_;
    std::vector<stall_sample> stall_samples_;  // stall.cpp
    format::file_header stall_header_{};         // the header parse_stall read them by
    std::vector<loaded_object> objects_;
    result<bool> check_stall_header(const format::file_header& h, uint64_t end_without) const;
    result<bool> parse_stall(const format::file_header& h);
    std::unordered_map<uint64_t, size_t> resource_index_;
    // 1.4: the identity region, read at open (reader.cpp, read_identities).
    std::vector<task_identity> task_ids_;  // sorted by id, one per id (64 bytes each: no more than the file's)
    std::vector<std::vector<open_context>> contexts_;  // by thread
    identity_stats ident_;
    void read_identities();
    double ns_per_tick_ = 1;
    uint64_t rings_offset_ = 0;
    bool v2_ = false;    // format 2.x: 16-byte slots (reader.cpp, ring_cursor2); else 1.x, 32-byte slots
    bool live_ = false;  // a mapped file a writer may still change (not a copy, not a container)
    // The walk and the owner scan over either slot format (reader.cpp).
    template <class Cursor>
    result<read_stats> walk_rings(ring_mark* marks, const event_fn& fn) const;
    template <class Cursor>
    result<bool> find_owners_with(const std::vector<thread_info>& rings);
    friend struct ring_cursor;
    friend struct ring_cursor2;
};

}  // namespace bbx::dec
