// blackbox decoder library: reads capture files, treating each as hostile.
//
// Model: LZ4's lz4frame.h. Every fallible call returns a result that one
// is_error() tests; errors are a closed enum, each with a message that names
// the field and the byte offset where the file went wrong.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "bbx/format.hpp"

namespace bbx::dec {

enum class errc {
    io,                   // the file could not be opened, read or mapped
    bad_magic,            // not a blackbox file
    unsupported_version,  // a major version this decoder does not know
    truncated,            // the file ends before a structure it promises
    corrupt,              // a field holds a value the spec forbids
};
const char* errc_name(errc e);

struct error {
    errc code;
    uint64_t offset;   // where in the file
    std::string what;  // names the field and what was wrong with it
    // "<what> at offset N"
    std::string message() const;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T v) : v_(std::move(v)) {}
    result(error e) : v_(std::move(e)) {}
    bool is_error() const { return std::holds_alternative<error>(v_); }
    const error& err() const { return std::get<error>(v_); }
    T& value() { return std::get<T>(v_); }
    const T& value() const { return std::get<T>(v_); }

private:
    std::variant<T, error> v_;
};

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

struct thread_info {
    uint32_t ring = 0;
    uint32_t tid = 0;
    std::string name;            // latest Thread record for the ring ("" if none)
    format::ring_state state{};  // free, owned or released (thread exited)
    uint64_t write_pos = 0;      // slots written in total
    uint64_t events_written = 0; // events written in total
    uint64_t events_dropped = 0; // discard mode: not written because the ring was full
    // 1.1: when the first and the latest of those drops happened, in ticks
    // (capture::ticks_to_ns); 0: not noted (none, or a 1.0 writer).
    uint64_t first_drop_ticks = 0, last_drop_ticks = 0;
};

// What a full pass over one ring found (filled by for_each_event).
struct ring_stats {
    uint64_t events = 0;           // valid events returned
    uint64_t overwritten = 0;      // events_written - what was still in the ring
    uint64_t torn = 0;             // slots a writer had not finished (or tore while we read)
    uint64_t unknown_kind = 0;     // events of a kind this version does not know, skipped
    uint64_t orphan = 0;           // continuation slots whose head was overwritten
    uint64_t bad_site = 0;         // events naming a call site with no metadata, skipped
    uint64_t malformed = 0;        // committed events whose payload breaks the spec, skipped
    uint64_t overwritten_in_read = 0;  // slots the writer overwrote while we read them (live files)
};

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

struct event {
    format::kind kind{};
    uint32_t ring = 0;
    uint64_t ticks = 0;
    int64_t ns = 0;             // nanoseconds since the capture's start (anchor 0)
    const site* where = nullptr;  // null for thread_name
    uint32_t nargs = 0;
    arg args[format::max_args];
    std::string_view text;      // thread_name: the new name
    // Task events (kinds 16..23): word0 is the task id; w1 and w2 as the
    // kind defines them (spawn: parent, frame bytes; wake: waker; waits and
    // resource_op: resource id, resource_op). `where` is the task site
    // (spawn) or the await site (poll_end, wait_begin), or null.
    uint64_t task = 0;
    uint64_t w1 = 0, w2 = 0;
    const crash_info* crash = nullptr;  // kind crash: the record (valid during the callback)
    // span_context (kind 7): the identity of this thread's innermost open
    // span: span_id, trace id = w1 (high) w2 (low), parent span id = w3,
    // w4 = span_role | trace flags << 8.
    uint64_t span_id = 0;
    uint64_t w3 = 0, w4 = 0;
};

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
};

class event_filter;  // filters (end of this header)

// The capture container a capture was read from (spec/format.md, "Capture
// container"), as bbx snapshot and bbx::snapshot() write them.
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

// An open capture. Not thread-safe; cheap to keep open (the file is mapped).
class capture {
public:
    // Maps and validates a ring file: header, ring table and metadata. A file
    // whose writer still runs is fine: events are validated as they are read.
    // A capture container (bbx snapshot) is unpacked into memory first, every
    // chunk's sizes and checksums checked; an error inside its image names
    // the image offset and the file offset of the chunk that holds it.
    static result<std::shared_ptr<capture>> open(const std::string& path);
    // The same from bytes in memory (fuzzing, tests). The bytes are copied.
    static result<std::shared_ptr<capture>> from_bytes(const uint8_t* data, size_t size, std::string name = "<memory>");

    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

    const std::string& name() const { return name_; }
    const header_info& header() const { return hdr_; }
    const std::vector<site>& sites() const { return sites_; }
    const site* find_site(uint32_t id) const;
    const std::vector<thread_info>& threads() const { return threads_; }  // one per used ring
    const std::vector<resource>& resources() const { return resources_; }
    const resource* find_resource(uint64_t id) const;
    const std::vector<ring_stats>& stats() const { return stats_; }      // valid after for_each_event
    // What the file was when it was a capture container (present = false: a ring file).
    const container_info& container() const { return container_; }
    // Takes the capture's image as a snapshot does (from a live ring file
    // each slot under its sequence lock: a slot being written shows as torn,
    // never mixed) and packs it into a capture container, handing its bytes
    // in order to sink (return false to stop: an io error). Allocates one
    // image of the file's size. container.cpp.
    result<snapshot_stats> write_container(const std::function<bool(const void*, size_t)>& sink,
                                           const snapshot_options& opt = {}) const;

    // Counter ticks to nanoseconds since anchor 0 (may be negative).
    int64_t ticks_to_ns(uint64_t ticks) const;
    // Absolute clocks at the capture's start (anchor 0).
    uint64_t start_monotonic_ns() const { return hdr_.anchors[0].monotonic_ns; }
    uint64_t start_realtime_ns() const { return hdr_.anchors[0].realtime_ns; }
    uint64_t start_boottime_ns() const { return hdr_.anchors[0].boottime_ns; }

    // Calls fn for every valid event, oldest first, merged across threads by
    // time (ties: lower ring first, then ring order). Streams: memory use does
    // not grow with the number of events. Fills stats(). Returns an error only
    // if the file can no longer be read; damaged slots are counted, not fatal.
    result<bool> for_each_event(const std::function<void(const event&)>& fn);
    // From now on for_each_event yields only the events f keeps (null: all),
    // and stats() counts those as `events`. f must be made for this capture
    // (event_filter::make).
    void set_filter(std::shared_ptr<const event_filter> f) { filter_ = std::move(f); }
    std::shared_ptr<const event_filter> filter() const { return filter_; }

private:
    capture() = default;
    result<bool> parse();
    result<bool> open_image();  // container.cpp: unpacks a capture container, then parse()
    container_info container_;
    result<bool> for_each_filtered(const std::function<void(const event&)>& fn);  // filter.cpp
    std::shared_ptr<const event_filter> filter_;
    std::string name_;
    const unsigned char* data_ = nullptr;
    uint64_t size_ = 0;
    void* map_ = nullptr;           // when mapped from a file
    std::vector<unsigned char> own_; // when copied from memory
    header_info hdr_;
    std::vector<site> sites_;
    std::vector<uint32_t> site_index_;  // id -> index into sites_ + 1 (0: none), when ids are dense
    std::unordered_map<uint32_t, uint32_t> sparse_sites_;  // id -> index into sites_, when they are not
    std::vector<thread_info> threads_;
    std::vector<resource> resources_;
    std::unordered_map<uint64_t, size_t> resource_index_;
    std::vector<ring_stats> stats_;
    double ns_per_tick_ = 1;
    uint64_t rings_offset_ = 0;
    friend struct ring_cursor;
};

// ---- outputs ----------------------------------------------------------------------
struct write_error {
    std::string what;
};

// Writes one event per line: `time  thread  kind  category  name  args`.
// Returns false when the stream failed.
bool write_dump(capture& c, std::FILE* out, std::string& err);
// bbx info: a human summary.
bool write_info(capture& c, std::FILE* out, std::string& err);
// Chrome trace-event JSON (object form, traceEvents first).
bool write_chrome(capture& c, std::FILE* out, std::string& err);
// Perfetto protobuf TrackEvent trace.
bool write_perfetto(capture& c, std::FILE* out, std::string& err);
// bbx snapshot: c's image, packed as by capture::write_container, into a new
// file at path, created with mode 0600 and O_EXCL | O_NOFOLLOW (an existing
// file or symlink is an error: nothing is overwritten); removed again if
// writing fails.
result<snapshot_stats> write_snapshot(const capture& c, const std::string& path, const snapshot_options& opt = {});

// Escapes s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD.
void json_escape(std::string& out, std::string_view s);
// Replaces invalid UTF-8 with U+FFFD (protobuf strings must be UTF-8).
std::string valid_utf8(std::string_view s);
// valid_utf8, then control characters (C0, DEL) as \xNN: for names printed to
// a terminal, where a hostile capture could otherwise send escape sequences.
std::string printable(std::string_view s);

}  // namespace bbx::dec

// ---- bbx analyze: async task analysis (decoder/src/analyze.cpp) -------------------
// One streaming pass over a capture's task events (format 1.1): per task,
// per executor thread, and warnings. The rules each number and warning
// follow are the comment block atop analyze.cpp.
namespace bbx::dec {

struct analyze_options {
    // A poll longer than this is a warning. It is also how long a task must
    // have been woken-but-not-polled, or missing its wake, at the end of the
    // capture before that is a warning.
    int64_t long_poll_ns = 10'000'000;
    bool json = false;  // write_analysis: one JSON object instead of text
    bool all = false;   // text: every task, not only the 50 busiest
};

// Where a task was at the end of the capture.
enum class task_end_state : uint8_t {
    running,    // inside a poll
    idle,       // suspended, not woken since
    scheduled,  // woken, not polled since
    done,       // completed
};
const char* task_end_state_name(task_end_state s);

struct code_location {
    std::string file, function;
    uint32_t line = 0;  // 0: unknown
};

struct task_report {
    uint64_t id = 0;
    std::string name;             // the spawn site's name; "" when the spawn is not in the capture
    code_location spawned_at;     // the BBX_TASK_SPAWN line
    uint64_t parent = 0;          // the task that spawned it (0: none, or not known)
    uint64_t frame_bytes = 0;     // 0: not known
    bool spawn_seen = false;
    int64_t first_ns = 0;         // spawn, or the first event that names the task
    int64_t last_ns = 0;          // completion, or the end of the capture
    uint64_t polls = 0, wakes = 0, self_wakes = 0;
    int64_t busy_ns = 0;          // sum of its polls
    int64_t scheduled_ns = 0;     // sum of woken -> polled intervals (an open one counts up to the end)
    int64_t idle_ns = 0;          // lifetime - busy - scheduled
    uint64_t scheduled_count = 0; // woken -> polled intervals that ended in a poll
    int64_t sched_p50_ns = 0, sched_p99_ns = 0, sched_max_ns = 0;
    bool sched_exact = true;      // percentiles exact (few intervals) or from the log histogram
    int64_t longest_poll_ns = 0;
    int64_t longest_poll_at_ns = 0;      // when it began
    uint32_t longest_poll_ring = 0;      // on which thread
    bool longest_poll_unfinished = false;  // still running at the end of the capture
    code_location longest_poll_await;    // where the task suspended when it ended (line 0: unknown)
    std::vector<std::string> longest_poll_spans;  // spans open on the thread during it, outermost first
    int64_t longest_poll_span_ns = 0;    // the last listed span's length, when it began and ended inside the poll
    code_location longest_poll_span_at;  // the last listed span's BBX_SPAN line
    task_end_state state = task_end_state::idle;
};

struct thread_report {
    uint32_t ring = 0, tid = 0;
    std::string name;
    uint64_t polls = 0;
    int64_t busy_ns = 0;          // time inside (outermost) polls
    double busy_fraction = 0;     // busy_ns over the capture's span
    int64_t longest_poll_ns = 0, longest_poll_at_ns = 0;
    uint64_t longest_poll_task = 0;
};

enum class warning_kind : uint8_t { deadlock, lost_wake, long_poll, woken_never_polled, self_wake };
const char* warning_kind_name(warning_kind k);  // "deadlock", "lost_wake", ...

// A task that a long poll kept waiting: woken before or during the poll, and
// not polled until after (or before) it ended; waited_ns is the overlap.
struct waiting_task {
    uint64_t task = 0;
    std::string name;
    int64_t waited_ns = 0;
};

// One task of a deadlock cycle: its open wait, and who alone could end it.
struct deadlock_step {
    uint64_t task = 0;
    std::string task_name;
    format::resource_op op{};     // send or recv
    uint64_t resource = 0;
    std::string resource_name;
    uint64_t capacity = 0;
    code_location at;             // the wait's await site
    int64_t since_ns = 0;         // when the wait began
    std::vector<uint64_t> counterparts;  // every live task that ever did the opposite operation on it
};

struct analysis_warning {
    warning_kind kind{};
    uint64_t task = 0;
    std::string task_name;
    int64_t time_ns = 0;          // when: see analyze.cpp for each kind
    code_location at;             // the most specific source line known
    int64_t duration_ns = 0;      // long_poll: the poll; woken_never_polled, lost_wake: how long until the end
    std::string message;          // one line for people
    // long_poll
    uint32_t ring = 0;
    std::vector<std::string> spans;
    int64_t span_ns = 0;
    code_location span_at;        // the last span's BBX_SPAN line
    uint64_t polls_over = 0;      // polls of the task over the threshold
    std::vector<waiting_task> waiting;  // the longest waits first (at most 16)
    uint64_t waiting_total = 0;
    // woken_never_polled
    uint64_t waker = 0;
    // self_wake
    uint64_t wakes = 0, self_wakes = 0;
    // lost_wake: the resource whose state says the task should have been woken
    uint64_t resource = 0;
    std::string resource_name;
    // deadlock
    std::vector<deadlock_step> cycle;
    std::vector<deadlock_step> blocked_behind;  // blocked tasks not in the cycle that wait on it (maybe through others)
};

struct analysis {
    std::string file;
    int64_t start_ns = 0, end_ns = 0;   // first event .. last event (or the clean stop)
    uint64_t events = 0, task_events = 0;
    uint64_t events_overwritten = 0;    // lost before the capture ended: early history may be missing
    int64_t long_poll_ns = 0;           // the threshold used
    std::vector<task_report> tasks;     // busiest first
    std::vector<thread_report> threads; // threads that polled a task, by ring
    std::vector<analysis_warning> warnings;  // deadlocks, lost wakes, long polls, woken never polled, self-wakes
    const task_report* find_task(uint64_t id) const;
};

// Runs the analysis (one for_each_event pass).
result<analysis> analyze(capture& c, const analyze_options& opt);
// bbx analyze: the analysis as text (or JSON with opt.json). Returns false
// when reading the capture or writing failed.
bool write_analysis(capture& c, const analyze_options& opt, std::FILE* out, std::string& err);

}  // namespace bbx::dec

// ---- crash symbols (symbols.cpp) ---------------------------------------------------
namespace bbx::dec {

// Where a code address is in the source: the function that holds it, then
// (code inlined there) each function it was inlined into.
struct source_location {
    std::string function;  // demangled; "" if unknown
    std::string file;      // "" if unknown
    uint32_t line = 0;     // 0 if unknown
};

struct frame_symbol {
    uint64_t address = 0;                // as recorded: the pc, or a return address
    bool in_executable = false;          // inside the executable's loaded segments
    std::vector<source_location> where;  // innermost first; empty: not symbolised
};

// Symbolises crash records against an executable (ELF), by running
// addr2line from binutils (BBX_ADDR2LINE names another, e.g. a cross one).
// A PIE executable (ET_DYN) is looked up at address - exe_base. Addresses
// outside the executable (shared libraries) are not symbolised. Nothing
// checks that the file is the build that ran: give the same binary.
class symbolizer {
public:
    // Reads the ELF header and program headers of exe.
    static result<symbolizer> open(const std::string& exe);
    // The record's pc (element 0) and its return addresses (1..nframes). A
    // return address is looked up one byte back: the call, not the
    // instruction after it.
    result<std::vector<frame_symbol>> crash_frames(const crash_info& crash) const;
    const std::string& exe() const { return exe_; }
    bool pie() const { return pie_; }

private:
    std::string exe_;
    bool pie_ = false;
    std::vector<std::pair<uint64_t, uint64_t>> segments_;  // PT_LOAD [vaddr, vaddr + memsz)
};

// One line per frame, "      #1 0x00005555deadbeef main at src/main.cpp:42",
// with "inlined into" lines below it; for bbx dump and bbx info.
void put_frames(std::string& out, const std::vector<frame_symbol>& frames);

// write_dump and write_info, with crash records' frames symbolised against
// `symbols` (an executable; "" = addresses only, like the 3-argument forms).
struct crash_options {
    std::string symbols;
};
bool write_dump(capture& c, std::FILE* out, std::string& err, const crash_options& opt);
bool write_info(capture& c, std::FILE* out, std::string& err, const crash_options& opt);

}  // namespace bbx::dec

// ---- OpenTelemetry export (otlp.cpp) -----------------------------------------------
namespace bbx::dec {

// OTLP/JSON Lines, as the OpenTelemetry file exporter writes it: one
// TracesData object per line, at most 1000 spans each. Spans are the
// BBX_SPAN pairs, with the W3C identities that bbx::context_scope recorded
// (others get derived ids inside their thread's enclosing trace); instants
// and crash records become span events. The mapping is the comment block
// atop otlp.cpp. Streams. Returns false when reading or writing failed.
bool write_otlp(capture& c, std::FILE* out, std::string& err);

}  // namespace bbx::dec

// ---- bbx merge: several captures on one timeline (merge.cpp) ------------------------
// How clocks are aligned, spans matched and offsets corrected is the comment
// block atop merge.cpp.
namespace bbx::dec {

// One capture among several written into one output. An event's time in
// the output is its time in its capture (ns since that capture's anchor 0)
// plus offset_ns; pid is the process id the output shows for it.
struct merge_source {
    capture* c = nullptr;
    int64_t offset_ns = 0;
    uint32_t pid = 0;
};

// A span as the converters pair begins and ends: its source (an index into
// the sources), its ring, and its span_begin's ticks and call-site id.
struct span_key {
    uint32_t source = 0, ring = 0;
    uint64_t ticks = 0;
    uint32_t site = 0;
    friend bool operator==(const span_key&, const span_key&) = default;
};

// An arrow from one span's begin to another's (a client span to the server
// span it caused).
struct span_flow {
    span_key from, to;
};

// The converters over several captures, written one after another into one
// trace; sources[0] is the reference:
// - Perfetto: timestamps are the reference's CLOCK_BOOTTIME at its anchor 0
//   plus the output time; only the reference's ClockSnapshot is written;
//   each source has its own process track (its pid) and sequences; a
//   span_flow is flow_ids on the from slice's begin and terminating_flow_ids
//   on the to slice's begin, a unique id per flow.
// - Chrome: ts is the output time in microseconds; pid per source; a
//   span_flow is a flow v1 pair {"ph":"s"} after the from slice's B and
//   {"ph":"f","bp":"e"} after the to slice's B, name and cat "rpc", ids 1 ..
//   flows.size() (wake flows are numbered after them).
// - OTLP: Unix ns = the reference's CLOCK_REALTIME at its anchor 0 plus the
//   output time; one resource (service.name, process.pid) per source.
// With one source (offset 0, its own pid) and no flows they write the same
// bytes as the one-capture forms. A read error names the capture that failed
// when there are several ("<name>: <message>").
bool write_perfetto(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                    std::string& err);
bool write_chrome(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                  std::string& err);
bool write_otlp(const std::vector<merge_source>& sources, std::FILE* out, std::string& err);

// How a capture's clock is first put on the reference's timeline.
enum class merge_base : uint8_t {
    reference,  // it is the reference (capture 0)
    monotonic,  // the same non-zero boot id as the reference: CLOCK_MONOTONIC
    realtime,   // another boot id, or one unknown: CLOCK_REALTIME
};

struct merge_options {
    bool correct = true;  // apply the correction the request/response pairs give (bbx merge --no-correct: false)
};

// A client span and the server span it caused: the server span's parent
// span id is the client span's id, in the same trace.
struct merge_pair {
    uint32_t client = 0, server = 0;  // capture indexes
    span_key client_span, server_span;
    // t1, t4: the client span's begin and end; t2, t3: the server span's.
    // Each in ns since its own capture's anchor 0.
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    bool complete = false;  // both spans ended in their captures (else: no sample, only the flow)
};

struct merge_capture {
    std::string name;           // capture::name()
    std::string process_name;
    uint32_t pid = 0;           // in its header
    uint32_t shown_pid = 0;     // in the output: pid, or a stand-in if an earlier capture has the same
    merge_base base = merge_base::reference;
    int64_t base_offset_ns = 0;  // the base alignment: its times plus this are the reference's (its start there)
    int64_t first_ns = 0, last_ns = 0;  // its earliest and latest event, own time (first > last: none)
    uint64_t context_spans = 0;  // spans with a client or server span_context
    // The correction, from its complete pairs with captures placed before it:
    uint32_t aligned_to = 0;    // the placed capture it shares the most pairs with (itself: none)
    uint64_t pairs = 0;         // complete pairs used
    uint64_t outside_base = 0;  // of them, server spans outside their client span under the base alignment
    bool has_estimate = false;  // pairs > 0
    bool consistent = false;    // one offset puts the server span inside the client span in every pair
    int64_t estimate_ns = 0;    // how far its base-aligned clock runs ahead of the placed captures'
    int64_t uncertainty_ns = 0; // the estimate is good to +-this
    bool applied = false;
    int64_t correction_ns = 0;  // added to its base-aligned times: -estimate_ns if applied, else 0
    int64_t offset_ns = 0;      // the result: base_offset_ns + correction_ns
    // After the merge, complete pairs with any capture placed before it (or
    // within it), and of them those whose server span is outside:
    uint64_t checked = 0, outside_final = 0;
};

struct merge_plan {
    std::vector<merge_capture> captures;  // in input order; [0] is the reference
    std::vector<merge_pair> pairs;
    int64_t earliest_ns = 0;  // the earliest event of all captures on the reference's timeline
    bool corrected = true;    // merge_options::correct
};

// One pass over each capture: spans with contexts, pairs, alignments. On a
// read error returns false with err = "<capture name>: <message>".
bool plan_merge(const std::vector<capture*>& caps, const merge_options& opt, merge_plan& plan, std::string& err);

enum class merge_format : uint8_t { perfetto, chrome, otlp };

// The sources and flows for caps under plan (Chrome's times start at the
// earliest event of all), then the converter.
std::vector<merge_source> merge_sources(const std::vector<capture*>& caps, const merge_plan& plan, merge_format f);
std::vector<span_flow> merge_flows(const merge_plan& plan);
bool write_merge(const std::vector<capture*>& caps, const merge_plan& plan, merge_format f, std::FILE* out,
                 std::string& err);

// bbx merge --verbose: per capture its pid, process, base alignment, pairs,
// the offset estimated, its uncertainty, and the correction applied.
std::string merge_report(const merge_plan& plan);

}  // namespace bbx::dec

// ---- filters (filter.cpp) ------------------------------------------------------------
// --level, --category, --thread, --task, --since/--until, --name and
// --user-only: which events every verb that reads a capture sees. What each
// keeps, how span pairs stay whole and what a time window carries in is the
// comment block atop filter.cpp.
namespace bbx::dec {

// A --since or --until as given.
struct filter_time {
    enum class base : uint8_t {
        none,   // not given: the window is open on that side
        start,  // ns after the capture's start (anchor 0)
        end,    // ns before the capture's last event (given negative)
        wall,   // ns is CLOCK_REALTIME, ns since the Unix epoch (RFC 3339)
    };
    base from = base::none;
    int64_t ns = 0;
};

struct name_pattern;  // a compiled --name regex (filter.cpp)

// The filter options, each checked as it is added; no capture needed yet.
struct filter_spec {
    int level = 0;                          // 1 error .. 5 trace; 0: any
    std::vector<std::string> categories;    // exact, or a prefix ending in '*'
    std::vector<std::string> threads;       // "T3", "3", a tid or a thread name, resolved by event_filter::make
    std::vector<uint64_t> tasks;
    filter_time since, until;
    std::string name;                       // the --name regex as given ("" none)
    std::shared_ptr<const name_pattern> name_re;  // compiled once, here
    bool user_only = false;
    std::vector<std::string> given;         // the options added, "--opt value", in order

    // 1: `option` ("--level", ...) is a filter option that takes a value;
    // 0: one that takes none (--user-only); -1: not a filter option.
    static int arity(std::string_view option);
    // Adds one option and its value. A repeated --category, --thread or
    // --task adds to the list; a repeated --level, --since, --until or
    // --name replaces. Returns "" or a usage error naming the option
    // ("--name: '(' is not a valid regular expression ...").
    std::string add(std::string_view option, std::string_view value = {});
    bool empty() const { return given.empty(); }
    // The options as given, space-separated (for bbx info).
    std::string describe() const;
};

// The value parsers add() uses: "" or what is wrong with v.
std::string parse_filter_level(std::string_view v, int& level);  // error|warn|info|debug|trace or 1-5
std::string parse_filter_time(std::string_view v, filter_time& t);

// Why event_filter::make failed.
struct filter_error {
    bool usage = false;  // true: the spec does not fit the capture (bbx exits 2); false: reading it failed (exit 1)
    std::string what;
};

// A filter_spec bound to one capture: its threads resolved to rings, its
// times to ns since the capture's start, each call site judged once. Give it
// to that capture's set_filter; it is immutable, so several passes (and
// several verbs) may share it.
class event_filter {
public:
    // Binds spec to c. A --since or --until counted from the end costs one
    // pass over c to find its last event. Returns null with err set when a
    // --thread names no thread of c (unless threads_required is false: then
    // it selects nothing in c, and unmatched_threads() lists it), the window
    // is empty, a wall-clock time meets a capture without a realtime anchor
    // (usage), or c could not be read.
    static std::shared_ptr<const event_filter> make(const filter_spec& spec, capture& c, filter_error& err,
                                                    bool threads_required = true);

    const filter_spec& spec() const { return spec_; }
    const capture* bound_to() const { return cap_; }
    // The window in ns since the capture's start, both ends included
    // (INT64_MIN, INT64_MAX: open).
    int64_t since_ns() const { return since_; }
    int64_t until_ns() const { return until_; }
    bool keeps_ring(uint32_t ring) const;
    // The --thread values (comma lists split) that name no thread of the capture.
    const std::vector<std::string>& unmatched_threads() const { return unmatched_; }

private:
    event_filter() = default;
    friend struct filter_pass;
    enum : uint8_t { site_event_ok = 1, site_task_name_ok = 2 };
    bool selects_task(uint64_t task) const;
    uint8_t site_bits(const site* s) const;

    filter_spec spec_;
    const capture* cap_ = nullptr;
    std::vector<uint8_t> rings_;      // by ring: its events may pass
    std::vector<uint8_t> site_bits_;  // by index into cap_->sites()
    std::vector<uint64_t> tasks_;     // sorted
    std::vector<std::string> unmatched_;
    int64_t since_ = 0, until_ = 0;
    bool task_category_ok_ = true;    // --category admits "task"
    bool no_name_ok_ = true;          // --name matches the empty name (tasks whose spawn is not seen)
};

}  // namespace bbx::dec
