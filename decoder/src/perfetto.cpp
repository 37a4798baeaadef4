// Perfetto protobuf trace: a stream of `Trace.packet` (field 1) records, each
// a TracePacket, written as the events arrive (protos/perfetto/trace/
// trace_packet.proto, track_event/*.proto in google/perfetto).
//
// Layout of the output:
//   sequence 1:      ClockSnapshot (BOOTTIME, MONOTONIC, REALTIME at the capture's
//                    start), the process track, one counter track per counter site
//   sequence 2 + i:  ring i's thread: its thread track first (incremental state
//                    cleared), then its events, with names, categories and
//                    argument names interned on first use in the sequence
// Timestamps are absolute CLOCK_BOOTTIME nanoseconds, Perfetto's default trace
// clock, so packets carry no timestamp_clock_id.
//
// bbx merge writes several captures so, one after the other: each has its
// own process track (with the pid it is shown with) and its own sequences,
// numbered on from the previous capture's; only the first (the reference)
// writes the ClockSnapshot, and every timestamp is the reference's
// CLOCK_BOOTTIME (a capture's times plus its offset). A flow from a client
// span to the server span it caused is flow_ids on the client slice's
// SLICE_BEGIN and terminating_flow_ids on the server slice's.
//
// Spans become SLICE_BEGIN/SLICE_END on the thread track, balanced as in the
// Chrome output: an end whose begin was overwritten is dropped, and a slice
// still open at the end is closed at the thread's last timestamp with the
// annotation unfinished = true.
//
// Async tasks (format 1.1), as Perfetto's docs/reference/synthetic-track-event.md
// lays out process-scoped tracks and flows:
//   - each task gets a track: uuid derived from the task id, parent = the
//     process track, name "<spawn site name> #<id>" ("task #<id>" for a task
//     first seen without its spawn), described before its first event;
//   - a poll is a slice "poll <task>" on the track of the thread that ran it,
//     balanced together with the spans there. Its SLICE_END carries the await
//     site where the task suspended ("await": "file:line"): trace processor
//     merges the arguments of a BEGIN/END pair into one slice;
//   - a wake is an instant "wake <task>" on the waking thread's track that
//     starts a flow of its own (flow_ids); the woken task's next poll begin
//     ends it (terminating_flow_ids). One flow id is one arrow, wake -> poll;
//   - a wait on a resource is a slice "wait <op> <resource>" on the task's
//     track; one still open at the end is closed at the capture's last
//     timestamp with unfinished = true;
//   - spawn and complete are instants on the task's track.
// Memory grows with call sites, threads and tasks, never with events: one
// output buffer, no allocation per event.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bbx/decoder.hpp"
#include "pairing.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t buffer_size = 1 << 20;
using pairing::max_depth;
constexpr uint32_t max_pending_wakes = 4;  // wakes before a poll that each get an arrow to it
constexpr size_t max_waits = 64;           // open waits kept per task; deeper ones are not written
constexpr uint64_t poll_entry = uint64_t(1) << 63;  // a thread's open poll: poll_entry | task index

// Field numbers, from the .proto files named above.
namespace trace_packet {
constexpr uint32_t clock_snapshot = 6, timestamp = 8, trusted_packet_sequence_id = 10, track_event = 11,
                   interned_data = 12, sequence_flags = 13, track_descriptor = 60,
                   first_packet_on_sequence = 87;
constexpr uint64_t seq_incremental_state_cleared = 1, seq_needs_incremental_state = 2;
}  // namespace trace_packet
namespace clock_snapshot {
constexpr uint32_t clocks = 1, clock_id = 1, timestamp = 2;
constexpr uint64_t realtime = 1, monotonic = 3, boottime = 6;  // BuiltinClock
}  // namespace clock_snapshot
namespace track_descriptor {
constexpr uint32_t uuid = 1, name = 2, process = 3, thread = 4, parent_uuid = 5, counter = 8;
}
namespace process_descriptor {
constexpr uint32_t pid = 1, process_name = 6;
}
namespace thread_descriptor {
constexpr uint32_t pid = 1, tid = 2, thread_name = 5;
}
namespace counter_descriptor {
constexpr uint32_t categories = 2;
}
namespace track_event {
constexpr uint32_t category_iids = 3, debug_annotations = 4, type = 9, name_iid = 10, track_uuid = 11,
                   counter_value = 30, double_counter_value = 44, flow_ids = 47, terminating_flow_ids = 48;
constexpr uint64_t slice_begin = 1, slice_end = 2, instant = 3, counter = 4;
}  // namespace track_event
namespace debug_annotation {
constexpr uint32_t name_iid = 1, bool_value = 2, uint_value = 3, int_value = 4, double_value = 5,
                   string_value = 6, name = 10;
}
namespace interned_data {
constexpr uint32_t event_categories = 1, event_names = 2, debug_annotation_names = 3;
constexpr uint32_t iid = 1, name = 2;  // EventCategory, EventName, DebugAnnotationName
}  // namespace interned_data

// Encodes protobuf into memory its caller has made room for. The cursor is
// meant to live in a local variable, where the compiler keeps it in a
// register: a cursor in memory would be reloaded after every byte stored,
// since a char store may alias it. A nested message reserves one length byte
// and is fixed up when it ends; only one of 128 bytes or more moves its
// contents to make room for a longer varint.
struct pb {
    char* q;

    void varint(uint64_t v) {
        while (v >= 0x80) {
            *q++ = char(uint8_t(v) | 0x80);
            v >>= 7;
        }
        *q++ = char(v);
    }
    void tag(uint32_t field, uint32_t wire) { varint(uint64_t(field) << 3 | wire); }
    void uint(uint32_t field, uint64_t v) {
        tag(field, 0);
        varint(v);
    }
    void fixed64(uint32_t field, uint64_t v) {
        tag(field, 1);
        std::memcpy(q, &v, 8);
        q += 8;
    }
    void f64(uint32_t field, double v) {
        tag(field, 1);
        std::memcpy(q, &v, 8);  // little-endian hosts only (format.hpp)
        q += 8;
    }
    void bytes(uint32_t field, std::string_view s) {
        tag(field, 2);
        varint(s.size());
        std::memcpy(q, s.data(), s.size());
        q += s.size();
    }
    // A string field that must be UTF-8: repaired if it is not.
    void text(uint32_t field, std::string_view s) {
        if (ascii(s)) bytes(field, s);
        else bytes(field, valid_utf8(s));
    }
    // A string field made of pieces that are valid UTF-8 already.
    void pieces(uint32_t field, std::initializer_list<std::string_view> parts) {
        size_t n = 0;
        for (std::string_view s : parts) n += s.size();
        tag(field, 2);
        varint(n);
        for (std::string_view s : parts) {
            if (s.empty()) continue;
            std::memcpy(q, s.data(), s.size());
            q += s.size();
        }
    }
    char* begin(uint32_t field) {
        tag(field, 2);
        *q++ = 0;
        return q;
    }
    void end(char* start) {
        const size_t len = size_t(q - start);
        if (len < 0x80) {
            start[-1] = char(len);
            return;
        }
        size_t n = 1;
        for (size_t v = len; v >= 0x80; v >>= 7) ++n;
        std::memmove(start + n - 1, start, len);
        q += n - 1;
        char* l = start - 1;
        for (size_t v = len; v >= 0x80; v >>= 7) *l++ = char(uint8_t(v) | 0x80);
        *l = char(len >> (7 * (n - 1)));
    }

    static bool ascii(std::string_view s) {
        for (char c : s)
            if (static_cast<unsigned char>(c) >= 0x80) return false;
        return true;
    }
};

// Room a packet needs beyond its strings: all its fixed-size fields, tags,
// and the growth of its nested lengths. A string s needs s.size() + 16, or
// 3 * s.size() + 16 if it may need repair (each bad byte becomes U+FFFD).
constexpr size_t fixed_room = 4096;
constexpr size_t string_room(std::string_view s) { return 3 * s.size() + 16; }

// The output: one large buffer that goes out with one fwrite when the next
// packet does not fit.
struct out_buffer {
    std::FILE* f;
    std::vector<char> buf;
    size_t used = 0;
    bool failed = false;
    int sys_errno = 0;

    explicit out_buffer(std::FILE* file) : f(file), buf(buffer_size) {}
    // A cursor at the end of the output with room for n bytes.
    pb reserve(size_t n) {
        if (buf.size() - used < n) {
            flush();
            if (buf.size() < n) buf.resize(n);
        }
        return pb{buf.data() + used};
    }
    void commit(const pb& w) { used = size_t(w.q - buf.data()); }
    void flush() {
        if (used && !failed && std::fwrite(buf.data(), 1, used, f) != used) {
            failed = true;
            sys_errno = errno;
        }
        used = 0;
    }
};

// splitmix64's finaliser: spreads track ids so they do not collide with the
// small uuids other producers use when traces are merged.
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x ? x : 1;
}

struct bitset {
    std::vector<uint64_t> w;
    // True the first time index i is set.
    bool first_set(size_t i) {
        if (i / 64 >= w.size()) w.resize(i / 64 + 1);
        const uint64_t m = uint64_t(1) << (i % 64);
        if (w[i / 64] & m) return false;
        w[i / 64] |= m;
        return true;
    }
};

// Debug annotations with a literal name (not interned: task events use few).
void annotate_uint(pb& w, std::string_view name, uint64_t v) {
    char* da = w.begin(track_event::debug_annotations);
    w.bytes(debug_annotation::name, name);
    w.uint(debug_annotation::uint_value, v);
    w.end(da);
}
void annotate_text(pb& w, std::string_view name, std::string_view v) {  // v: valid UTF-8
    char* da = w.begin(track_event::debug_annotations);
    w.bytes(debug_annotation::name, name);
    w.bytes(debug_annotation::string_value, v);
    w.end(da);
}

// A number as decimal text, on the stack.
struct decimal {
    char b[24];
    size_t n;
    explicit decimal(uint64_t v) : n(size_t(std::to_chars(b, b + sizeof b, v).ptr - b)) {}
    std::string_view sv() const { return {b, n}; }
};

struct open_wait {
    uint64_t resource, op;
    uint32_t thread;  // whose sequence closes it if the capture ends first
};

struct task_state {
    uint64_t id = 0, uuid = 0;
    uint32_t site = 0;     // index + 1 of the spawn site that names it (known at first sight), or 0
    uint32_t pending = 0;  // wakes since its last poll that started a flow
    uint64_t flows[max_pending_wakes] = {};
    std::vector<open_wait> waits;  // innermost last
};

struct thread_state {
    uint64_t uuid = 0;
    uint32_t seq = 0;
    uint32_t tid = 0;
    std::vector<uint64_t> open;  // open slices, innermost last: a site index, or poll_entry | task index
    uint64_t hidden = 0;         // open slices deeper than max_depth (not written)
    int64_t last_ns = INT64_MIN;  // of its latest event
    bitset names, categories;    // iids interned on this sequence already
    bitset arg_names;            // sites whose argument names are interned on this sequence
};

struct site_state {
    uint64_t name_iid = 0;      // index in sites() + 1
    uint64_t category_iid = 0;  // 0: no category
    uint64_t arg_iid = 0;       // debug annotation name iid of argument 0; arguments follow
    uint64_t counter_uuid = 0;  // counter sites
    size_t interned_bytes = 0;  // its name, category and argument names: room for interning them
    std::string name;           // valid UTF-8
    std::string at;             // await sites: "file:line", valid UTF-8
};

const char* const op_names[fmt::resource_op_last + 1] = {"?", "send", "recv", "lock", "timer", "join", "other"};

// One end of a flow between spans (bbx merge), on a span's begin: the span
// (thread, its begin's ticks and site id) and the flow's id.
struct flow_mark {
    uint32_t thread = 0;
    uint64_t ticks = 0;
    uint32_t site = 0;
    uint64_t id = 0;
    bool start = false;  // flow_ids; else terminating_flow_ids
};
bool same_span_before(const flow_mark& a, const flow_mark& b) {
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.ticks != b.ticks) return a.ticks < b.ticks;
    return a.site < b.site;
}

// ns + d, saturated: a damaged clock must not wrap around.
int64_t shifted(int64_t ns, int64_t d) {
    int64_t r;
    if (!__builtin_add_overflow(ns, d, &r)) return r;
    return d > 0 ? INT64_MAX : INT64_MIN;
}

// One capture's part of the output.
struct source_args {
    const input in;
    int64_t offset_ns;    // added to its times
    uint32_t pid;         // shown for it
    uint64_t base_boot;   // the CLOCK_BOOTTIME of output time 0
    bool clock_snapshot;  // the reference writes the output's ClockSnapshot
    uint32_t seq;         // its process sequence; ring i gets seq + 1 + i
    const std::vector<flow_mark>& marks;  // sorted by same_span_before
};

// Writes one capture's packets into o. Returns false when reading failed
// (err says why); write errors stay in o.
bool write_source(out_buffer& o, const source_args& src, std::string& err) {
    const capture& c = *src.in.cap;
    const header_info& h = c.header();
    const std::vector<site>& sites = c.sites();
    const uint64_t base_boot = src.base_boot;
    const uint64_t process_uuid = mix(uint64_t(src.pid) | uint64_t(0x62627870) << 32);
    // Saturates: a damaged clock must not wrap around.
    auto boottime = [&](int64_t ns) -> uint64_t {
        ns = shifted(ns, src.offset_ns);
        if (ns >= 0) return base_boot + uint64_t(ns) < base_boot ? UINT64_MAX : base_boot + uint64_t(ns);
        const uint64_t back = uint64_t(0) - uint64_t(ns);
        return back > base_boot ? 0 : base_boot - back;
    };
    const uint64_t start_boot = boottime(0);

    // Interning tables for the whole trace; each sequence emits an entry the
    // first time it refers to it.
    std::vector<site_state> ss(sites.size());
    std::vector<std::string> category_names{""};  // by iid
    std::vector<std::string> arg_names{""};       // by iid
    std::unordered_map<std::string, uint64_t> category_iid;
    for (size_t i = 0; i < sites.size(); ++i) {
        const site& s = sites[i];
        site_state& st = ss[i];
        st.name_iid = i + 1;
        st.name = valid_utf8(s.name);
        st.interned_bytes = st.name.size() + 32;
        if (!s.category.empty()) {
            auto [it, fresh] = category_iid.try_emplace(s.category, category_names.size());
            if (fresh) category_names.push_back(valid_utf8(s.category));
            st.category_iid = it->second;
            st.interned_bytes += category_names[it->second].size() + 32;
        }
        st.arg_iid = arg_names.size();
        for (const arg_decl& a : s.args) {
            arg_names.push_back(valid_utf8(a.name));
            st.interned_bytes += arg_names.back().size() + 32;
        }
        if (s.kind == fmt::site_kind::counter) st.counter_uuid = mix(process_uuid ^ (uint64_t(1) << 63 | s.id));
        if (s.kind == fmt::site_kind::await) st.at = valid_utf8(s.file) + ":" + std::to_string(s.line);
    }

    // Task events. Event name iids after the sites': spawn, complete, then
    // "wait <op> <resource>" for each resource (and an unknown one) and op,
    // then "poll <task>" and "wake <task>" for each task.
    auto [task_cat_it, task_cat_fresh] = category_iid.try_emplace("task", category_names.size());
    if (task_cat_fresh) category_names.push_back("task");
    const uint64_t task_cat = task_cat_it->second;
    const std::vector<resource>& resources = c.resources();
    std::vector<std::string> resource_names(resources.size());
    std::unordered_map<uint64_t, uint32_t> resource_index;
    for (size_t i = 0; i < resources.size(); ++i) {
        resource_names[i] = valid_utf8(resources[i].name);
        resource_index.try_emplace(resources[i].id, uint32_t(i));
    }
    const uint64_t spawn_iid = sites.size() + 1, complete_iid = sites.size() + 2, wait_iid0 = sites.size() + 3;
    const uint64_t task_iid0 = wait_iid0 + (resources.size() + 1) * (fmt::resource_op_last + 1);
    std::vector<task_state> tasks;
    std::unordered_map<uint64_t, uint32_t> task_index;  // task id -> index in tasks
    const uint64_t flow_salt = mix(process_uuid ^ 0x666c6f7700000000ull);
    uint64_t flows = 0;  // wakes that started a flow so far

    // Its first sequence (1 for a single capture): clocks (the reference
    // only), the process track and the counter tracks.
    {
        pb w{nullptr};
        char* p;
        if (src.clock_snapshot) {
            w = o.reserve(fixed_room);
            p = w.begin(1);
            w.uint(trace_packet::timestamp, start_boot);
            w.uint(trace_packet::trusted_packet_sequence_id, src.seq);
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
            char* cs = w.begin(trace_packet::clock_snapshot);
            const std::pair<uint64_t, uint64_t> clocks[] = {{clock_snapshot::boottime, start_boot},
                                                            {clock_snapshot::monotonic, c.start_monotonic_ns()},
                                                            {clock_snapshot::realtime, c.start_realtime_ns()}};
            for (auto [id, ts] : clocks) {
                char* k = w.begin(clock_snapshot::clocks);
                w.uint(clock_snapshot::clock_id, id);
                w.uint(clock_snapshot::timestamp, ts);
                w.end(k);
            }
            w.end(cs);
            w.end(p);
            o.commit(w);
        }

        w = o.reserve(fixed_room + string_room(h.process_name));
        p = w.begin(1);
        w.uint(trace_packet::timestamp, start_boot);
        w.uint(trace_packet::trusted_packet_sequence_id, src.seq);
        if (!src.clock_snapshot) {
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
        }
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, process_uuid);
        char* pd = w.begin(track_descriptor::process);
        w.uint(process_descriptor::pid, src.pid);
        if (!h.process_name.empty()) w.text(process_descriptor::process_name, h.process_name);
        w.end(pd);
        w.end(td);
        w.end(p);
        o.commit(w);

        for (size_t i = 0; i < sites.size(); ++i) {
            if (!ss[i].counter_uuid) continue;
            w = o.reserve(fixed_room + ss[i].interned_bytes);
            p = w.begin(1);
            w.uint(trace_packet::timestamp, start_boot);
            w.uint(trace_packet::trusted_packet_sequence_id, src.seq);
            td = w.begin(trace_packet::track_descriptor);
            w.uint(track_descriptor::uuid, ss[i].counter_uuid);
            w.uint(track_descriptor::parent_uuid, process_uuid);
            w.bytes(track_descriptor::name, ss[i].name);
            char* cd = w.begin(track_descriptor::counter);
            if (ss[i].category_iid) w.bytes(counter_descriptor::categories, category_names[ss[i].category_iid]);
            w.end(cd);
            w.end(td);
            w.end(p);
            o.commit(w);
        }
    }

    // One sequence per thread, opened by its thread track.
    std::vector<thread_state> threads(c.threads().size());
    auto thread_track = [&](thread_state& t, std::string_view name, uint64_t ts, bool first) {
        pb w = o.reserve(fixed_room + string_room(name));
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, t.seq);
        if (first) {
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
        }
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, t.uuid);
        w.uint(track_descriptor::parent_uuid, process_uuid);
        char* th = w.begin(track_descriptor::thread);
        w.uint(thread_descriptor::pid, src.pid);
        w.uint(thread_descriptor::tid, t.tid);
        if (!name.empty()) w.text(thread_descriptor::thread_name, name);
        w.end(th);
        w.end(td);
        w.end(p);
        o.commit(w);
    };
    for (size_t i = 0; i < threads.size(); ++i) {
        threads[i].uuid = mix(process_uuid + 1 + i);
        threads[i].seq = src.seq + 1 + uint32_t(i);
        threads[i].tid = c.threads()[i].tid;
        thread_track(threads[i], c.threads()[i].name, start_boot, true);
    }

    // Starts an event packet on t's sequence; returns the packet's start.
    auto event_packet = [&](pb& w, const thread_state& t, uint64_t ts) {
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, t.seq);
        w.uint(trace_packet::sequence_flags, trace_packet::seq_needs_incremental_state);
        return p;
    };
    // An end on `track`, written on t's sequence. `at`: the await site a poll
    // suspended at, merged into the slice by the reader.
    auto slice_end = [&](const thread_state& t, uint64_t track, uint64_t ts, bool unfinished,
                         std::string_view at = {}) {
        pb w = o.reserve(fixed_room + at.size());
        char* p = event_packet(w, t, ts);
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, track_event::slice_end);
        w.uint(track_event::track_uuid, track);
        if (unfinished) {
            char* da = w.begin(track_event::debug_annotations);
            w.bytes(debug_annotation::name, "unfinished");
            w.uint(debug_annotation::bool_value, 1);
            w.end(da);
        }
        if (!at.empty()) annotate_text(w, "await", at);
        w.end(te);
        w.end(p);
        o.commit(w);
    };

    // The task with id e.task, described on first sight by a track descriptor
    // on t's sequence. Returns its index in `tasks`.
    auto task_for = [&](const event& e, const thread_state& t, uint64_t ts) -> uint32_t {
        auto [it, fresh] = task_index.try_emplace(e.task, uint32_t(tasks.size()));
        if (!fresh) return it->second;
        task_state& k = tasks.emplace_back();
        k.id = e.task;
        k.uuid = mix(process_uuid ^ mix(e.task ^ 0x7461736b00000000ull));
        if (e.kind == fmt::kind::task_spawn && e.where) k.site = uint32_t(e.where - sites.data()) + 1;
        const std::string_view base = k.site ? std::string_view(ss[k.site - 1].name) : std::string_view("task");
        const decimal id(k.id);
        pb w = o.reserve(fixed_room + base.size());
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, t.seq);
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, k.uuid);
        w.uint(track_descriptor::parent_uuid, process_uuid);
        w.pieces(track_descriptor::name, {base, " #", id.sv()});
        w.end(td);
        w.end(p);
        o.commit(w);
        return it->second;
    };
    // Starts a task event's packet on t's sequence, interning its name (made
    // of `name` pieces) and the task category on first use there.
    auto task_packet = [&](pb& w, thread_state& t, uint64_t ts, uint64_t name_iid,
                           std::initializer_list<std::string_view> name) {
        char* p = event_packet(w, t, ts);
        const bool new_name = t.names.first_set(name_iid);
        const bool new_category = t.categories.first_set(task_cat);
        if (new_name || new_category) {
            char* id = w.begin(trace_packet::interned_data);
            if (new_category) {
                char* k = w.begin(interned_data::event_categories);
                w.uint(interned_data::iid, task_cat);
                w.bytes(interned_data::name, category_names[task_cat]);
                w.end(k);
            }
            if (new_name) {
                char* k = w.begin(interned_data::event_names);
                w.uint(interned_data::iid, name_iid);
                w.pieces(interned_data::name, name);
                w.end(k);
            }
            w.end(id);
        }
        return p;
    };
    auto task_event_begin = [&](pb& w, uint64_t type, uint64_t track, uint64_t name_iid) {
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, type);
        w.uint(track_event::track_uuid, track);
        w.uint(track_event::name_iid, name_iid);
        w.uint(track_event::category_iids, task_cat);
        return te;
    };

    auto on_task = [&](thread_state& t, const event& e, uint64_t ts) {
        if (!e.task) return;  // 0 is "no task"
        const uint32_t ki = task_for(e, t, ts);
        task_state& k = tasks[ki];
        const std::string_view base = k.site ? std::string_view(ss[k.site - 1].name) : std::string_view("task");
        const std::string_view at = e.where ? std::string_view(ss[size_t(e.where - sites.data())].at) : std::string_view();
        const size_t room = fixed_room + base.size() + at.size();
        pb w{nullptr};
        char* p;
        char* te;
        switch (e.kind) {
            case fmt::kind::task_spawn:
            case fmt::kind::task_complete: {
                const bool spawn = e.kind == fmt::kind::task_spawn;
                const uint64_t iid = spawn ? spawn_iid : complete_iid;
                w = o.reserve(room);
                p = task_packet(w, t, ts, iid, {spawn ? "spawn" : "complete"});
                te = task_event_begin(w, track_event::instant, k.uuid, iid);
                if (spawn && e.spawn.parent) annotate_uint(w, "parent", e.spawn.parent);
                if (spawn && e.spawn.frame_bytes) annotate_uint(w, "frame_bytes", e.spawn.frame_bytes);
                break;
            }
            case fmt::kind::task_wake: {
                uint64_t flow = 0;
                if (k.pending < max_pending_wakes) k.flows[k.pending++] = flow = ++flows;
                const uint64_t iid = task_iid0 + 2 * uint64_t(ki) + 1;
                const decimal id(k.id);
                w = o.reserve(room);
                p = task_packet(w, t, ts, iid, {"wake ", base, " #", id.sv()});
                te = task_event_begin(w, track_event::instant, t.uuid, iid);
                annotate_uint(w, "task", k.id);
                if (e.wake.waker) annotate_uint(w, "waker", e.wake.waker);
                if (flow) w.fixed64(track_event::flow_ids, mix(flow_salt + flow));
                break;
            }
            case fmt::kind::task_poll_begin: {
                if (t.open.size() >= max_depth) {
                    ++t.hidden;
                    k.pending = 0;
                    return;
                }
                t.open.push_back(poll_entry | ki);
                const uint64_t iid = task_iid0 + 2 * uint64_t(ki);
                const decimal id(k.id);
                w = o.reserve(room);
                p = task_packet(w, t, ts, iid, {"poll ", base, " #", id.sv()});
                te = task_event_begin(w, track_event::slice_begin, t.uuid, iid);
                annotate_uint(w, "task", k.id);
                for (uint32_t i = 0; i < k.pending; ++i)
                    w.fixed64(track_event::terminating_flow_ids, mix(flow_salt + k.flows[i]));
                k.pending = 0;
                break;
            }
            case fmt::kind::task_poll_end: {
                if (t.hidden) {
                    --t.hidden;
                    return;
                }
                // As span ends: the innermost open poll of the task; what
                // opened inside it and is still open closes first.
                const size_t n = pairing::find_begin(t.open, t.open.size(), [&](auto v) { return v == (poll_entry | ki); });
                if (n == pairing::none) return;
                while (t.open.size() > n) {
                    slice_end(t, t.uuid, ts, false);
                    t.open.pop_back();
                }
                t.open.pop_back();
                slice_end(t, t.uuid, ts, false, at);
                return;
            }
            case fmt::kind::wait_begin: {
                if (k.waits.size() >= max_waits) return;
                k.waits.push_back({e.res.id, e.res.op, e.thread});
                auto r = resource_index.find(e.res.id);
                const uint64_t ri = r == resource_index.end() ? resources.size() : r->second;
                const uint64_t op = e.res.op <= fmt::resource_op_last ? e.res.op : 0;
                const uint64_t iid = wait_iid0 + ri * (fmt::resource_op_last + 1) + op;
                const std::string_view rname = ri < resources.size() ? std::string_view(resource_names[ri]) : std::string_view();
                w = o.reserve(room + rname.size());
                p = task_packet(w, t, ts, iid, {"wait ", op_names[op], rname.empty() ? "" : " ", rname});
                te = task_event_begin(w, track_event::slice_begin, k.uuid, iid);
                annotate_uint(w, "resource", e.res.id);
                if (!at.empty()) annotate_text(w, "await", at);
                break;
            }
            case fmt::kind::wait_end: {
                size_t n = k.waits.size();
                while (n > 0 && (k.waits[n - 1].resource != e.res.id || k.waits[n - 1].op != e.res.op)) --n;
                if (n == 0) return;  // its begin was overwritten
                while (k.waits.size() >= n) {
                    slice_end(t, k.uuid, ts, false);
                    k.waits.pop_back();
                }
                return;
            }
            default: return;  // resource_op: not drawn
        }
        w.end(te);
        w.end(p);
        o.commit(w);
    };

    auto r = src.in.read([&](const event& e) {
        if (e.thread >= threads.size()) return;  // the reader only yields threads of the capture
        thread_state& t = threads[e.thread];
        t.last_ns = e.ns;
        const uint64_t ts = boottime(e.ns);
        if (e.kind == fmt::kind::thread_name) {
            thread_track(t, e.thread_name, ts, false);
            return;
        }
        if (uint8_t(e.kind) >= fmt::kind_first_task && uint8_t(e.kind) <= fmt::kind_last_task) {
            on_task(t, e, ts);
            return;
        }
        if (!e.where) return;
        const auto si = uint32_t(e.where - sites.data());
        if (si >= sites.size()) return;
        const site_state& s = ss[si];
        uint64_t type;
        switch (e.kind) {
            case fmt::kind::span_begin:
                if (t.open.size() >= max_depth) {
                    ++t.hidden;
                    return;
                }
                t.open.push_back(si);
                type = track_event::slice_begin;
                break;
            case fmt::kind::span_end: {
                if (t.hidden) {
                    --t.hidden;
                    return;
                }
                // As in chrome.cpp: pair with the innermost open slice of the site.
                const size_t k = pairing::find_begin(t.open, t.open.size(), [&](auto v) { return v == si; });
                if (k == pairing::none) return;
                while (t.open.size() >= k) {
                    slice_end(t, t.uuid, ts, false);
                    t.open.pop_back();
                }
                return;
            }
            case fmt::kind::instant: type = track_event::instant; break;
            case fmt::kind::counter: {
                if (!e.nargs) return;
                pb w = o.reserve(fixed_room);
                char* p = event_packet(w, t, ts);
                char* te = w.begin(trace_packet::track_event);
                w.uint(track_event::type, track_event::counter);
                w.uint(track_event::track_uuid, s.counter_uuid);
                if (e.args[0].decl->type == fmt::arg_type::f64) w.f64(track_event::double_counter_value, e.args[0].as_f64());
                else w.uint(track_event::counter_value, e.args[0].word);
                w.end(te);
                w.end(p);
                o.commit(w);
                return;
            }
            default: return;
        }
        size_t room = fixed_room + s.interned_bytes;
        for (uint32_t i = 0; i < e.nargs; ++i)
            if (e.args[i].decl->type == fmt::arg_type::string) room += string_room(e.args[i].str);
        // Flows of bbx merge that start or end on this span.
        auto marks = std::make_pair(src.marks.end(), src.marks.end());
        if (type == track_event::slice_begin && !src.marks.empty()) {
            marks = std::equal_range(src.marks.begin(), src.marks.end(), flow_mark{e.thread, e.ticks, e.where->id, 0, false},
                                     same_span_before);
            room += 16 * size_t(marks.second - marks.first);
        }
        pb w = o.reserve(room);
        char* p = event_packet(w, t, ts);
        // Interned entries this packet is the first on its sequence to use.
        const bool new_name = t.names.first_set(s.name_iid);
        const bool new_category = s.category_iid && t.categories.first_set(s.category_iid);
        const bool new_args = e.nargs && t.arg_names.first_set(si);
        if (new_name || new_category || new_args) {
            char* id = w.begin(trace_packet::interned_data);
            if (new_category) {
                char* k = w.begin(interned_data::event_categories);
                w.uint(interned_data::iid, s.category_iid);
                w.bytes(interned_data::name, category_names[s.category_iid]);
                w.end(k);
            }
            if (new_name) {
                char* k = w.begin(interned_data::event_names);
                w.uint(interned_data::iid, s.name_iid);
                w.bytes(interned_data::name, s.name);
                w.end(k);
            }
            if (new_args) {
                for (uint32_t i = 0; i < e.nargs; ++i) {
                    char* k = w.begin(interned_data::debug_annotation_names);
                    w.uint(interned_data::iid, s.arg_iid + i);
                    w.bytes(interned_data::name, arg_names[s.arg_iid + i]);
                    w.end(k);
                }
            }
            w.end(id);
        }
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, type);
        w.uint(track_event::track_uuid, t.uuid);
        w.uint(track_event::name_iid, s.name_iid);
        if (s.category_iid) w.uint(track_event::category_iids, s.category_iid);
        for (uint32_t i = 0; i < e.nargs; ++i) {
            const arg& a = e.args[i];
            char* da = w.begin(track_event::debug_annotations);
            w.uint(debug_annotation::name_iid, s.arg_iid + i);
            switch (a.decl->type) {
                case fmt::arg_type::i64: w.uint(debug_annotation::int_value, a.word); break;
                case fmt::arg_type::u64: w.uint(debug_annotation::uint_value, a.word); break;
                case fmt::arg_type::f64: w.f64(debug_annotation::double_value, a.as_f64()); break;
                case fmt::arg_type::boolean: w.uint(debug_annotation::bool_value, a.word ? 1 : 0); break;
                case fmt::arg_type::string: w.text(debug_annotation::string_value, a.str); break;
                default: break;
            }
            w.end(da);
        }
        for (auto m = marks.first; m != marks.second; ++m)
            w.fixed64(m->start ? track_event::flow_ids : track_event::terminating_flow_ids, m->id);
        w.end(te);
        w.end(p);
        o.commit(w);
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    for (thread_state& t : threads) {
        while (!t.open.empty()) {
            slice_end(t, t.uuid, boottime(t.last_ns), true);
            t.open.pop_back();
        }
    }
    // Waits still open: closed at the capture's last timestamp, which is no
    // earlier than anything on the sequence that writes the end.
    int64_t last_ns = INT64_MIN;
    for (const thread_state& t : threads) last_ns = std::max(last_ns, t.last_ns);
    for (task_state& k : tasks) {
        while (!k.waits.empty()) {
            slice_end(threads[k.waits.back().thread], k.uuid, boottime(last_ns), true);
            k.waits.pop_back();
        }
    }
    return true;
}

}  // namespace

bool write_perfetto(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                    std::string& err) {
    out_buffer o(out);
    std::vector<std::vector<flow_mark>> marks(sources.size());
    for (size_t k = 0; k < flows.size(); ++k) {
        const uint64_t id = mix(0x7270632d666c6f77ull ^ mix(k + 1));  // "rpc-flow"
        const span_key& f = flows[k].from;
        const span_key& t = flows[k].to;
        if (f.source < sources.size()) marks[f.source].push_back({f.thread, f.ticks, f.site, id, true});
        if (t.source < sources.size()) marks[t.source].push_back({t.thread, t.ticks, t.site, id, false});
    }
    for (auto& m : marks) std::stable_sort(m.begin(), m.end(), same_span_before);
    const uint64_t base_boot = sources.empty() ? 0 : sources[0].c->start_boottime_ns();
    uint32_t seq = 1;
    for (size_t i = 0; i < sources.size(); ++i) {
        const capture& c = *sources[i].c;
        const source_args a{input(c, sources[i].filter), sources[i].offset_ns, sources[i].pid, base_boot, i == 0, seq, marks[i]};
        if (!write_source(o, a, err)) {
            if (sources.size() > 1) err = c.name() + ": " + err;
            return false;
        }
        seq += 1 + uint32_t(c.threads().size());
    }
    o.flush();
    if (!o.failed && std::fflush(out) != 0) o.sys_errno = errno;
    if (o.failed || o.sys_errno || std::ferror(out)) {
        err = std::string("write failed: ") + std::strerror(o.sys_errno ? o.sys_errno : EIO);
        return false;
    }
    return true;
}

bool write_perfetto(const input& in, std::FILE* out, std::string& err) {
    return write_perfetto({merge_source{in.cap, 0, in.cap->header().pid, in.filter}}, {}, out, err);
}

}  // namespace bbx::dec
