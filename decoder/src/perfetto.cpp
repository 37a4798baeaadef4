// Perfetto protobuf trace: a stream of `Trace.packet` (field 1) records, each
// a TracePacket, written as the events arrive (protos/perfetto/trace/
// trace_packet.proto, track_event/*.proto in google/perfetto).
//
// Layout of the output:
//   sequence 1:      ClockSnapshot (BOOTTIME, MONOTONIC, REALTIME at the capture's
//                    start), the process track, one counter track per counter site;
//                    after the events, the "bbx losses" track and its instant
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
// It writes out the timeline (timeline.hpp), which pairs every begin and end:
// spans become SLICE_BEGIN/SLICE_END on the thread track; an end whose begin
// was overwritten is not written, and a slice still open at the end is
// closed at the thread's last timestamp with the annotation unfinished = true.
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
// output buffer, no allocation per event. Nothing here looks at an event's
// kind: the timeline calls the method for what happened.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <span>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bbx/decoder.hpp"
#include "merge_output.hpp"
#include "timeline.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t buffer_size = 1 << 20;

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
                   categories = 22, name = 23, counter_value = 30, double_counter_value = 44, flow_ids = 47,
                   terminating_flow_ids = 48;
constexpr uint64_t slice_begin = 1, slice_end = 2, instant = 3, counter = 4;
}  // namespace track_event
namespace debug_annotation {
constexpr uint32_t name_iid = 1, bool_value = 2, uint_value = 3, int_value = 4, double_value = 5,
                   string_value = 6, name = 10;
}
namespace interned_data {
constexpr uint32_t event_categories = 1, event_names = 2, debug_annotation_names = 3;
constexpr uint32_t iid = 1, name = 2;  // EventCategory, EventName, DebugAnnotationName
// Stall stacks (profile_common.proto): InternedString {iid 1, str 2}.
constexpr uint32_t function_names = 5, frames = 6, callstacks = 7, mapping_paths = 17,
                   mappings = 19, str = 2;
}  // namespace interned_data
namespace profile {  // Frame, Callstack, Mapping (profile_common.proto); PerfSample (profiling/profile_packet.proto)
constexpr uint32_t frame_function_name_id = 2, frame_mapping_id = 3, frame_rel_pc = 4;
constexpr uint32_t callstack_frame_ids = 2;  // root first
constexpr uint32_t mapping_start = 4, mapping_end = 5, mapping_load_bias = 6,
                   mapping_path_string_ids = 7;
constexpr uint32_t perf_sample = 66;  // TracePacket
constexpr uint32_t sample_pid = 2, sample_tid = 3, sample_callstack_iid = 4, sample_cpu_mode = 5;
constexpr uint64_t cpu_mode_user = 2;
}  // namespace profile

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
    // Inline: with the field a constant at the call, a one-byte tag is one store.
    [[gnu::always_inline]] void tag(uint32_t field, uint32_t wire) {
        const uint64_t t = uint64_t(field) << 3 | wire;
        if (t < 0x80) *q++ = char(t);
        else varint(t);
    }
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
    // True the first time index i is set. Asked two or three times an event
    // (the interned names a packet uses): inline, the growth out of line.
    [[gnu::always_inline]] bool first_set(size_t i) {
        if (i / 64 >= w.size()) [[unlikely]] grow(i);
        const uint64_t m = uint64_t(1) << (i % 64);
        uint64_t& x = w[i / 64];
        if (x & m) return false;
        x |= m;
        return true;
    }
    [[gnu::noinline]] void grow(size_t i) { w.resize(i / 64 + 1); }
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

struct thread_state {
    uint64_t uuid = 0;
    uint32_t seq = 0;
    bitset stall_iids;         // stall-stack iids (strings, mappings, frames, callstacks) emitted on this sequence
    bitset names, categories;  // iids interned on this sequence already
    bitset arg_names;          // sites whose argument names are interned on this sequence
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

// One capture's part of the output.
struct source_args {
    const input in;
    int64_t offset_ns;    // added to its times
    uint32_t pid;         // shown for it
    uint64_t base_boot;   // the CLOCK_BOOTTIME of output time 0
    bool clock_snapshot;  // the reference writes the output's ClockSnapshot
    uint32_t seq;         // its process sequence; thread i gets seq + 1 + i
    const std::vector<flow_mark>& marks;  // sorted by same_span_before
    losses* lost;         // if set: gets what the capture lost
};

// Writes one capture's timeline as packets into o.
class source_writer : public tl::sink {
public:
    static constexpr bool wants_flows = true;  // wake arrows

    source_writer(out_buffer& o, const source_args& src)
        : o_(o), src_(src), c_(*src.in.cap), sites_(c_.sites()),
          process_uuid_(mix(uint64_t(src.pid) | uint64_t(0x62627870) << 32)), start_boot_(boottime(0)) {
        intern_sites();
        write_process();
    }

    // The thread tracks (each opening its sequence), once the timeline exists.
    void begin(const tl::model& m) {
        model_ = &m;
        threads_.resize(m.threads.size());
        for (size_t i = 0; i < threads_.size(); ++i) {
            threads_[i].uuid = mix(process_uuid_ + 1 + i);
            threads_[i].seq = src_.seq + 1 + uint32_t(i);
            thread_track(threads_[i], m.threads[i], m.threads[i].name, start_boot_, true);
        }
    }

    void renamed(tl::thread& t, const event& e) { thread_track(threads_[t.index], t, t.name, boottime(e.ns), false); }

    // A stall sample (format 1.4): a PerfSample on the thread's sequence,
    // its callstack, frames, function names and mappings interned there on
    // first use (one iid space for all four; the UI draws a flame graph).
    void stall_sample(tl::thread& t, const dec::stall_sample& s) {
        if (!sym_) sym_ = std::make_unique<stall_symbolizer>(c_);
        thread_state& ts = threads_[t.index];
        std::vector<uint64_t> frames;  // innermost first
        for (size_t i = 0; i < s.frames.size(); ++i) {
            const frame_symbol* f = sym_->find(s.frames[i], i > 0);
            const size_t n = f && !f->where.empty() ? f->where.size() : 1;
            for (size_t k = 0; k < n; ++k) frames.push_back(frame_iid(s.frames[i], i > 0, k, f));
        }
        const uint64_t stack = callstack_iid(frames);
        size_t room = fixed_room + 32 * frames.size();
        for (uint64_t id : frames) room += stall_interned_[id].room();
        pb w = o_.reserve(room);
        char* p = event_packet(w, ts, boottime(s.ns));
        std::vector<uint64_t> strings, maps, new_frames;
        for (uint64_t id : frames) {
            if (!ts.stall_iids.first_set(id)) continue;
            new_frames.push_back(id);
            const stall_entry& e = stall_interned_[id];
            if (e.name && ts.stall_iids.first_set(e.name)) strings.push_back(e.name);
            if (e.mapping && ts.stall_iids.first_set(e.mapping)) {
                maps.push_back(e.mapping);
                const stall_entry& m = stall_interned_[e.mapping];
                if (ts.stall_iids.first_set(m.name)) strings.push_back(m.name);
            }
        }
        const bool new_stack = ts.stall_iids.first_set(stack);
        if (!new_frames.empty() || new_stack) {
            char* id = w.begin(trace_packet::interned_data);
            for (uint64_t sid : strings) {
                const stall_entry& e = stall_interned_[sid];
                char* k = w.begin(e.is_path ? interned_data::mapping_paths : interned_data::function_names);
                w.uint(interned_data::iid, sid);
                w.text(interned_data::str, e.text);
                w.end(k);
            }
            for (uint64_t mid : maps) {
                const stall_entry& m = stall_interned_[mid];
                char* k = w.begin(interned_data::mappings);
                w.uint(interned_data::iid, mid);
                w.uint(profile::mapping_start, m.low);
                w.uint(profile::mapping_end, m.high);
                w.uint(profile::mapping_load_bias, m.base);
                w.uint(profile::mapping_path_string_ids, m.name);
                w.end(k);
            }
            for (uint64_t fid : new_frames) {
                const stall_entry& f = stall_interned_[fid];
                char* k = w.begin(interned_data::frames);
                w.uint(interned_data::iid, fid);
                if (f.name) w.uint(profile::frame_function_name_id, f.name);
                if (f.mapping) w.uint(profile::frame_mapping_id, f.mapping);
                w.uint(profile::frame_rel_pc, f.low);
                w.end(k);
            }
            if (new_stack) {
                char* k = w.begin(interned_data::callstacks);
                w.uint(interned_data::iid, stack);
                for (size_t i = frames.size(); i-- > 0;) w.uint(profile::callstack_frame_ids, frames[i]);
                w.end(k);
            }
            w.end(id);
        }
        char* ps = w.begin(profile::perf_sample);
        w.uint(profile::sample_pid, src_.pid);
        w.uint(profile::sample_tid, t.info->tid);
        w.uint(profile::sample_callstack_iid, stack);
        w.uint(profile::sample_cpu_mode, profile::cpu_mode_user);
        w.end(ps);
        w.end(p);
        o_.commit(w);
    }

    void slice_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t> flows_in) {
        if (s.kind == tl::slice_kind::poll) return poll_begin(t, s, e, flows_in);
        site_event(t, e, track_event::slice_begin);
    }

    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        const std::string_view at = await ? std::string_view(ss_[index_of(await)].at) : std::string_view();
        end_packet(threads_[t.index], threads_[t.index].uuid, boottime(ns), how == tl::end_how::unfinished,
                   s.kind == tl::slice_kind::poll ? at : std::string_view());
    }

    void instant(tl::thread& t, const event& e) { site_event(t, e, track_event::instant); }

    void counter(tl::thread& t, const event& e) {
        if (!e.nargs) return;
        thread_state& ts = threads_[t.index];
        pb w = o_.reserve(fixed_room);
        char* p = event_packet(w, ts, boottime(e.ns));
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, track_event::counter);
        w.uint(track_event::track_uuid, ss_[index_of(e.where)].counter_uuid);
        if (e.args[0].decl->type == fmt::arg_type::f64) w.f64(track_event::double_counter_value, e.args[0].as_f64());
        else w.uint(track_event::counter_value, e.args[0].word);
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

    // A task's track, described on first sight on the sequence of the thread that saw it.
    void task_seen(tl::thread& t, tl::task& k, const event& e) {
        const uint64_t uuid = mix(process_uuid_ ^ mix(k.id ^ 0x7461736b00000000ull));
        if (task_uuid_.size() <= k.index) task_uuid_.resize(size_t(k.index) + 1);
        task_uuid_[k.index] = uuid;
        const std::string_view base = task_base(k);
        const decimal id(k.id);
        pb w = o_.reserve(fixed_room + base.size());
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, boottime(e.ns));
        w.uint(trace_packet::trusted_packet_sequence_id, threads_[t.index].seq);
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, uuid);
        w.uint(track_descriptor::parent_uuid, process_uuid_);
        w.pieces(track_descriptor::name, {base, " #", id.sv()});
        w.end(td);
        w.end(p);
        o_.commit(w);
    }

    void spawn(tl::thread& t, tl::task& k, const event& e) { spawn_or_complete(t, k, e, true); }
    void complete(tl::thread& t, tl::task& k, const event& e) { spawn_or_complete(t, k, e, false); }

    void wake(tl::thread& t, tl::task& k, const event& e, uint64_t flow) {
        thread_state& ts = threads_[t.index];
        const uint64_t iid = task_iid0_ + 2 * uint64_t(k.index) + 1;
        const std::string_view base = task_base(k);
        const decimal id(k.id);
        pb w = o_.reserve(fixed_room + base.size());
        char* p = task_packet(w, ts, boottime(e.ns), iid, {"wake ", base, " #", id.sv()});
        char* te = task_event_begin(w, track_event::instant, ts.uuid, iid);
        annotate_uint(w, "task", k.id);
        if (e.wake.waker) annotate_uint(w, "waker", e.wake.waker);
        if (flow) w.fixed64(track_event::flow_ids, mix(flow_salt_ + flow));
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

    void wait_begin(tl::thread& t, tl::task& k, const tl::wait* wt, const event& e) {
        if (!wt) return;
        thread_state& ts = threads_[t.index];
        auto r = resource_index_.find(wt->resource);
        const uint64_t ri = r == resource_index_.end() ? resource_names_.size() : r->second;
        const uint64_t op = wt->op <= fmt::resource_op_last ? wt->op : 0;
        const uint64_t iid = wait_iid0_ + ri * (fmt::resource_op_last + 1) + op;
        const std::string_view rname = ri < resource_names_.size() ? std::string_view(resource_names_[ri]) : std::string_view();
        const std::string_view at = e.where ? std::string_view(ss_[index_of(e.where)].at) : std::string_view();
        pb w = o_.reserve(fixed_room + task_base(k).size() + at.size() + rname.size());
        char* p = task_packet(w, ts, boottime(e.ns), iid, {"wait ", op_names[op], rname.empty() ? "" : " ", rname});
        char* te = task_event_begin(w, track_event::slice_begin, task_uuid_[k.index], iid);
        annotate_uint(w, "resource", wt->resource);
        if (!at.empty()) annotate_text(w, "await", at);
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

    // On the sequence of the thread that ended it (at the end of the capture:
    // the thread it began on), which has no later timestamp.
    void wait_end(tl::thread& t, tl::task& k, const tl::wait&, int64_t ns, tl::end_how how) {
        end_packet(threads_[t.index], task_uuid_[k.index], boottime(ns), how == tl::end_how::unfinished);
    }

private:
    // Saturates: a damaged clock must not wrap around.
    uint64_t boottime(int64_t ns) const {
        const uint64_t base_boot = src_.base_boot;
        ns = shifted(ns, src_.offset_ns);
        if (ns >= 0) return base_boot + uint64_t(ns) < base_boot ? UINT64_MAX : base_boot + uint64_t(ns);
        const uint64_t back = uint64_t(0) - uint64_t(ns);
        return back > base_boot ? 0 : base_boot - back;
    }
    size_t index_of(const site* s) const { return size_t(s - sites_.data()); }
    std::string_view task_base(const tl::task& k) const {
        return k.named_by ? std::string_view(ss_[index_of(k.named_by)].name) : std::string_view("task");
    }

    // Interning tables for the whole trace; each sequence emits an entry the
    // first time it refers to it. Task events: event name iids after the
    // sites': spawn, complete, then "wait <op> <resource>" for each resource
    // (and an unknown one) and op, then "poll <task>" and "wake <task>" for
    // each task.
    void intern_sites() {
        ss_.resize(sites_.size());
        for (size_t i = 0; i < sites_.size(); ++i) {
            const site& s = sites_[i];
            site_state& st = ss_[i];
            st.name_iid = i + 1;
            st.name = valid_utf8(s.name);
            st.interned_bytes = st.name.size() + 32;
            if (!s.category.empty()) {
                auto [it, fresh] = category_iid_.try_emplace(s.category, category_names_.size());
                if (fresh) category_names_.push_back(valid_utf8(s.category));
                st.category_iid = it->second;
                st.interned_bytes += category_names_[it->second].size() + 32;
            }
            st.arg_iid = arg_names_.size();
            for (const arg_decl& a : s.args) {
                arg_names_.push_back(valid_utf8(a.name));
                st.interned_bytes += arg_names_.back().size() + 32;
            }
            if (s.kind == fmt::site_kind::counter) st.counter_uuid = mix(process_uuid_ ^ (uint64_t(1) << 63 | s.id));
            if (s.kind == fmt::site_kind::await) st.at = valid_utf8(s.file) + ":" + std::to_string(s.line);
        }
        auto [task_cat_it, task_cat_fresh] = category_iid_.try_emplace("task", category_names_.size());
        if (task_cat_fresh) category_names_.push_back("task");
        task_cat_ = task_cat_it->second;
        const std::vector<resource>& resources = c_.resources();
        resource_names_.resize(resources.size());
        for (size_t i = 0; i < resources.size(); ++i) {
            resource_names_[i] = valid_utf8(resources[i].name);
            resource_index_.try_emplace(resources[i].id, uint32_t(i));
        }
        spawn_iid_ = sites_.size() + 1;
        complete_iid_ = sites_.size() + 2;
        wait_iid0_ = sites_.size() + 3;
        task_iid0_ = wait_iid0_ + (resources.size() + 1) * (fmt::resource_op_last + 1);
        flow_salt_ = mix(process_uuid_ ^ 0x666c6f7700000000ull);
    }

public:
    // What the capture lost (README "What a capture lost"), once the pass
    // is over: a track "bbx losses" under the process track, with one
    // instant at the first event (where the history the capture holds
    // begins) named "losses: <summary>" ("losses: none" when nothing was
    // lost) whose debug annotations are every count, zeros too. The UI shows
    // the track with the process and the counts in the instant's arguments;
    // trace processor has it as a slice on that track with its args. Not a
    // trace_stats packet: those are the tracing service's own buffer losses,
    // and the UI would report bbx's as its own.
    void write_losses(const losses& l, const tl::model& m) {
        const uint64_t ts = m.first_ns <= m.last_ns ? boottime(m.first_ns) : start_boot_;
        const uint64_t uuid = mix(process_uuid_ ^ 0x6c6f737365730000ull);  // "losses"
        pb w = o_.reserve(fixed_room);
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, src_.seq);
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, uuid);
        w.uint(track_descriptor::parent_uuid, process_uuid_);
        w.bytes(track_descriptor::name, "bbx losses");
        w.end(td);
        w.end(p);
        o_.commit(w);

        const std::string name = "losses: " + l.text();
        w = o_.reserve(fixed_room + name.size());
        p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, src_.seq);
        w.uint(trace_packet::sequence_flags, trace_packet::seq_needs_incremental_state);  // as every event packet
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, track_event::instant);
        w.uint(track_event::track_uuid, uuid);
        w.bytes(track_event::categories, "bbx");
        w.bytes(track_event::name, name);
        annotate_uint(w, "threads_without_ring", l.threads_without_ring);
        annotate_uint(w, "events_without_ring", l.events_without_ring);
        annotate_uint(w, "sites_without_metadata", l.sites_without_metadata);
        annotate_uint(w, "events_overwritten", l.overwritten);
        annotate_uint(w, "events_dropped", l.dropped);
        annotate_uint(w, "torn_slots", l.torn);
        annotate_uint(w, "malformed", l.malformed);
        annotate_uint(w, "skipped", l.skipped);
        if (l.untimed) annotate_uint(w, "events_untimed", l.untimed);  // 2.0: only when not 0
        if (l.unresolved) annotate_uint(w, "task_events_unresolved", l.unresolved);
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

private:
    // Its first sequence (1 for a single capture): clocks (the reference
    // only), the process track and the counter tracks.
    void write_process() {
        const header_info& h = c_.header();
        pb w{nullptr};
        char* p;
        if (src_.clock_snapshot) {
            w = o_.reserve(fixed_room);
            p = w.begin(1);
            w.uint(trace_packet::timestamp, start_boot_);
            w.uint(trace_packet::trusted_packet_sequence_id, src_.seq);
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
            char* cs = w.begin(trace_packet::clock_snapshot);
            const std::pair<uint64_t, uint64_t> clocks[] = {{clock_snapshot::boottime, start_boot_},
                                                            {clock_snapshot::monotonic, c_.start_monotonic_ns()},
                                                            {clock_snapshot::realtime, c_.start_realtime_ns()}};
            for (auto [id, ts] : clocks) {
                char* k = w.begin(clock_snapshot::clocks);
                w.uint(clock_snapshot::clock_id, id);
                w.uint(clock_snapshot::timestamp, ts);
                w.end(k);
            }
            w.end(cs);
            w.end(p);
            o_.commit(w);
        }

        w = o_.reserve(fixed_room + string_room(h.process_name));
        p = w.begin(1);
        w.uint(trace_packet::timestamp, start_boot_);
        w.uint(trace_packet::trusted_packet_sequence_id, src_.seq);
        if (!src_.clock_snapshot) {
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
        }
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, process_uuid_);
        char* pd = w.begin(track_descriptor::process);
        w.uint(process_descriptor::pid, src_.pid);
        if (!h.process_name.empty()) w.text(process_descriptor::process_name, h.process_name);
        w.end(pd);
        w.end(td);
        w.end(p);
        o_.commit(w);

        for (size_t i = 0; i < sites_.size(); ++i) {
            if (!ss_[i].counter_uuid) continue;
            w = o_.reserve(fixed_room + ss_[i].interned_bytes);
            p = w.begin(1);
            w.uint(trace_packet::timestamp, start_boot_);
            w.uint(trace_packet::trusted_packet_sequence_id, src_.seq);
            td = w.begin(trace_packet::track_descriptor);
            w.uint(track_descriptor::uuid, ss_[i].counter_uuid);
            w.uint(track_descriptor::parent_uuid, process_uuid_);
            w.bytes(track_descriptor::name, ss_[i].name);
            char* cd = w.begin(track_descriptor::counter);
            if (ss_[i].category_iid) w.bytes(counter_descriptor::categories, category_names_[ss_[i].category_iid]);
            w.end(cd);
            w.end(td);
            w.end(p);
            o_.commit(w);
        }
    }

    // A thread track (first: the one that opens the thread's sequence).
    void thread_track(thread_state& t, const tl::thread& th, std::string_view name, uint64_t ts, bool first) {
        pb w = o_.reserve(fixed_room + string_room(name));
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, t.seq);
        if (first) {
            w.uint(trace_packet::sequence_flags, trace_packet::seq_incremental_state_cleared);
            w.uint(trace_packet::first_packet_on_sequence, 1);
        }
        char* td = w.begin(trace_packet::track_descriptor);
        w.uint(track_descriptor::uuid, t.uuid);
        w.uint(track_descriptor::parent_uuid, process_uuid_);
        char* thd = w.begin(track_descriptor::thread);
        w.uint(thread_descriptor::pid, src_.pid);
        w.uint(thread_descriptor::tid, th.info->tid);
        if (!name.empty()) w.text(thread_descriptor::thread_name, name);
        w.end(thd);
        w.end(td);
        w.end(p);
        o_.commit(w);
    }

    // Starts an event packet on t's sequence; returns the packet's start.
    static char* event_packet(pb& w, const thread_state& t, uint64_t ts) {
        char* p = w.begin(1);
        w.uint(trace_packet::timestamp, ts);
        w.uint(trace_packet::trusted_packet_sequence_id, t.seq);
        w.uint(trace_packet::sequence_flags, trace_packet::seq_needs_incremental_state);
        return p;
    }

    // An end on `track`, written on t's sequence. `at`: the await site a poll
    // suspended at, merged into the slice by the reader.
    void end_packet(const thread_state& t, uint64_t track, uint64_t ts, bool unfinished, std::string_view at = {}) {
        pb w = o_.reserve(fixed_room + at.size());
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
        o_.commit(w);
    }

    // Starts a task event's packet on t's sequence, interning its name (made
    // of `name` pieces) and the task category on first use there.
    char* task_packet(pb& w, thread_state& t, uint64_t ts, uint64_t name_iid, std::initializer_list<std::string_view> name) {
        char* p = event_packet(w, t, ts);
        const bool new_name = t.names.first_set(name_iid);
        const bool new_category = t.categories.first_set(task_cat_);
        if (new_name || new_category) {
            char* id = w.begin(trace_packet::interned_data);
            if (new_category) {
                char* k = w.begin(interned_data::event_categories);
                w.uint(interned_data::iid, task_cat_);
                w.bytes(interned_data::name, category_names_[task_cat_]);
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
    }
    char* task_event_begin(pb& w, uint64_t type, uint64_t track, uint64_t name_iid) const {
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, type);
        w.uint(track_event::track_uuid, track);
        w.uint(track_event::name_iid, name_iid);
        w.uint(track_event::category_iids, task_cat_);
        return te;
    }

    void spawn_or_complete(tl::thread& t, tl::task& k, const event& e, bool spawn) {
        thread_state& ts = threads_[t.index];
        const uint64_t iid = spawn ? spawn_iid_ : complete_iid_;
        pb w = o_.reserve(fixed_room + task_base(k).size());
        char* p = task_packet(w, ts, boottime(e.ns), iid, {spawn ? "spawn" : "complete"});
        char* te = task_event_begin(w, track_event::instant, task_uuid_[k.index], iid);
        if (spawn && e.spawn.parent) annotate_uint(w, "parent", e.spawn.parent);
        if (spawn && e.spawn.frame_bytes) annotate_uint(w, "frame_bytes", e.spawn.frame_bytes);
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

    void poll_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t> flows_in) {
        thread_state& ts = threads_[t.index];
        const tl::task& k = *s.owner;
        const uint64_t iid = task_iid0_ + 2 * uint64_t(k.index);
        const std::string_view base = task_base(k);
        const decimal id(k.id);
        pb w = o_.reserve(fixed_room + base.size());
        char* p = task_packet(w, ts, boottime(e.ns), iid, {"poll ", base, " #", id.sv()});
        char* te = task_event_begin(w, track_event::slice_begin, ts.uuid, iid);
        annotate_uint(w, "task", k.id);
        for (uint64_t f : flows_in) w.fixed64(track_event::terminating_flow_ids, mix(flow_salt_ + f));
        w.end(te);
        w.end(p);
        o_.commit(w);
    }

    // A span begin or an instant: the site's interned name, category and
    // argument names, its arguments, and (bbx merge) the flows on the span.
    void site_event(tl::thread& t, const event& e, uint64_t type) {
        thread_state& ts = threads_[t.index];
        const uint32_t si = uint32_t(index_of(e.where));
        const site_state& s = ss_[si];
        size_t room = fixed_room + s.interned_bytes;
        for (uint32_t i = 0; i < e.nargs; ++i)
            if (e.args[i].decl->type == fmt::arg_type::string) room += string_room(e.args[i].str);
        // Flows of bbx merge that start or end on this span.
        auto marks = std::make_pair(src_.marks.end(), src_.marks.end());
        if (type == track_event::slice_begin && !src_.marks.empty()) {
            marks = marks_on(src_.marks, t.index, e.ticks, e.where->id);
            room += 16 * size_t(marks.second - marks.first);
        }
        pb w = o_.reserve(room);
        char* p = event_packet(w, ts, boottime(e.ns));
        // Interned entries this packet is the first on its sequence to use.
        const bool new_name = ts.names.first_set(s.name_iid);
        const bool new_category = s.category_iid && ts.categories.first_set(s.category_iid);
        const bool new_args = e.nargs && ts.arg_names.first_set(si);
        if (new_name || new_category || new_args) {
            char* id = w.begin(trace_packet::interned_data);
            if (new_category) {
                char* k = w.begin(interned_data::event_categories);
                w.uint(interned_data::iid, s.category_iid);
                w.bytes(interned_data::name, category_names_[s.category_iid]);
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
                    w.bytes(interned_data::name, arg_names_[s.arg_iid + i]);
                    w.end(k);
                }
            }
            w.end(id);
        }
        char* te = w.begin(trace_packet::track_event);
        w.uint(track_event::type, type);
        w.uint(track_event::track_uuid, ts.uuid);
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
        o_.commit(w);
    }

    out_buffer& o_;
    const source_args& src_;
    const capture& c_;
    const std::vector<site>& sites_;
    const uint64_t process_uuid_;
    const uint64_t start_boot_;
    std::vector<site_state> ss_;
    std::vector<std::string> category_names_{""};  // by iid
    std::vector<std::string> arg_names_{""};       // by iid
    std::unordered_map<std::string, uint64_t> category_iid_;
    uint64_t task_cat_ = 0;
    std::vector<std::string> resource_names_;
    std::unordered_map<uint64_t, uint32_t> resource_index_;
    uint64_t spawn_iid_ = 0, complete_iid_ = 0, wait_iid0_ = 0, task_iid0_ = 0;
    uint64_t flow_salt_ = 0;
    std::vector<thread_state> threads_;
    // Stall stacks: one iid space (index + 1) for function names, mapping
    // paths, mappings, frames and callstacks, interned per sequence on first use.
    struct stall_entry {
        std::string text;           // a function name or a mapping path
        bool is_path = false;
        uint64_t name = 0;          // frame: its function name's iid; mapping: its path's
        uint64_t mapping = 0;       // frame: its mapping's iid
        uint64_t low = 0, high = 0, base = 0;  // mapping: its range and load bias; frame: low = rel_pc
        size_t room() const { return 3 * text.size() + 64; }
    };
    std::vector<stall_entry> stall_entries_;
    struct stall_table {
        std::vector<stall_entry>& v;
        stall_entry& operator[](uint64_t iid) { return v[iid - 1]; }
    } stall_interned_{stall_entries_};
    std::unordered_map<std::string, uint64_t> stall_strings_;       // function names / paths ("\1" prefix) -> iid
    std::unordered_map<const loaded_object*, uint64_t> stall_maps_;
    std::unordered_map<std::string, uint64_t> stall_frames_;        // "address/return/inline" -> iid
    std::unordered_map<std::string, uint64_t> stall_stacks_;        // frame iids -> iid
    std::unique_ptr<stall_symbolizer> sym_;

    uint64_t stall_add(stall_entry e) {
        stall_entries_.push_back(std::move(e));
        return stall_entries_.size();
    }
    uint64_t stall_string(const std::string& text, bool path) {
        const std::string key = std::string(1, path ? '\1' : '\0') + text;
        auto it = stall_strings_.find(key);
        if (it != stall_strings_.end()) return it->second;
        stall_entry e;
        e.text = text;
        e.is_path = path;
        return stall_strings_[key] = stall_add(std::move(e));
    }
    uint64_t mapping_iid(const loaded_object* o) {
        auto it = stall_maps_.find(o);
        if (it != stall_maps_.end()) return it->second;
        stall_entry e;
        e.name = stall_string(o->path, true);
        e.low = o->low;
        e.high = o->high;
        e.base = o->base;
        return stall_maps_[o] = stall_add(std::move(e));
    }
    // Frame k of the address's inlined functions (0: the innermost).
    uint64_t frame_iid(uint64_t address, bool return_address, size_t k, const frame_symbol* f) {
        const std::string key = std::to_string(address) + (return_address ? "r" : "p") + std::to_string(k);
        auto it = stall_frames_.find(key);
        if (it != stall_frames_.end()) return it->second;
        stall_entry e;
        const uint64_t at = return_address ? address - 1 : address;
        if (const loaded_object* o = c_.object_of(at)) {
            e.mapping = mapping_iid(o);
            e.low = at - o->base;
        } else {
            e.low = at;
        }
        if (f && k < f->where.size() && !f->where[k].function.empty()) e.name = stall_string(f->where[k].function, false);
        return stall_frames_[key] = stall_add(std::move(e));
    }
    uint64_t callstack_iid(const std::vector<uint64_t>& frames) {
        std::string key(reinterpret_cast<const char*>(frames.data()), frames.size() * sizeof(uint64_t));
        auto it = stall_stacks_.find(key);
        if (it != stall_stacks_.end()) return it->second;
        return stall_stacks_[key] = stall_add(stall_entry{});
    }
    std::vector<uint64_t> task_uuid_;  // by task index
    const tl::model* model_ = nullptr;
};

// Writes one capture's packets into o. Returns false when reading failed
// (err says why); write errors stay in o.
bool write_source(out_buffer& o, const source_args& src, std::string& err) {
    source_writer w(o, src);
    tl::timeline<source_writer> t(*src.in.cap, w);
    w.begin(t);
    auto r = tl::run(src.in, t);
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    const losses l = losses_of(*src.in.cap, r.value());
    w.write_losses(l, t);
    if (src.lost) *src.lost = l;
    return true;
}

}  // namespace

bool write_perfetto(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                    std::string& err) {
    out_buffer o(out);
    // A span flow's id: "rpc-flow" and its number, mixed.
    const auto marks = flow_marks(sources.size(), flows, [](size_t k) { return mix(0x7270632d666c6f77ull ^ mix(k + 1)); });
    const uint64_t base_boot = sources.empty() ? 0 : sources[0].c->start_boottime_ns();
    uint32_t seq = 1;
    for (size_t i = 0; i < sources.size(); ++i) {
        const capture& c = *sources[i].c;
        const source_args a{input(c, sources[i].filter), sources[i].offset_ns, sources[i].pid, base_boot, i == 0, seq, marks[i],
                             sources[i].lost};
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

bool write_perfetto(const input& in, std::FILE* out, std::string& err, losses* lost) {
    return write_perfetto({merge_source{in.cap, 0, in.cap->header().pid, in.filter, lost}}, {}, out, err);
}

}  // namespace bbx::dec
