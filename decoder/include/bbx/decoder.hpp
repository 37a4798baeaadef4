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

struct thread_info {
    uint32_t ring = 0;
    uint32_t tid = 0;
    std::string name;            // latest Thread record for the ring ("" if none)
    format::ring_state state{};  // free, owned or released (thread exited)
    uint64_t write_pos = 0;      // slots written in total
    uint64_t events_written = 0; // events written in total
    uint64_t events_dropped = 0; // discard mode: not written because the ring was full
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

struct event {
    format::kind kind{};
    uint32_t ring = 0;
    uint64_t ticks = 0;
    int64_t ns = 0;             // nanoseconds since the capture's start (anchor 0)
    const site* where = nullptr;  // null for thread_name
    uint32_t nargs = 0;
    arg args[format::max_args];
    std::string_view text;      // thread_name: the new name
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
};

// An open capture. Not thread-safe; cheap to keep open (the file is mapped).
class capture {
public:
    // Maps and validates a ring file: header, ring table and metadata. A file
    // whose writer still runs is fine: events are validated as they are read.
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
    const std::vector<ring_stats>& stats() const { return stats_; }      // valid after for_each_event

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

private:
    capture() = default;
    result<bool> parse();
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

// Escapes s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD.
void json_escape(std::string& out, std::string_view s);
// Replaces invalid UTF-8 with U+FFFD (protobuf strings must be UTF-8).
std::string valid_utf8(std::string_view s);

}  // namespace bbx::dec
