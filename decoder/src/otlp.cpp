// OpenTelemetry traces as OTLP/JSON Lines: what the OTLP file exporter
// writes and the Collector's otlpjsonfile receiver reads. Each line is one
// TracesData object ({"resourceSpans":[...]}) holding at most 1000 spans;
// the JSON follows proto3's JSON mapping with OTLP's changes
// (opentelemetry-proto docs/specification.md, "JSON Protobuf Encoding"):
// keys lowerCamelCase, traceId/spanId/parentSpanId as lowercase hex (not
// base64), enums (kind, status code) as integers, 64-bit integers
// (fixed64 times, int64 intValue) as decimal strings; flags (fixed32) is a
// number. Empty fields are left out: a root span has no parentSpanId.
//
// What becomes what:
//   - every BBX_SPAN begin/end pair of the timeline (timeline.hpp) is a
//     span. A span still open at the end of the capture ends at its thread's
//     last timestamp with the attribute bbx.unfinished = true;
//   - a span_context event (bbx::context_scope) gives the innermost open span
//     of its thread its identity: trace id, span id, parent span id (0: a
//     root), kind (span_role: 1 internal, 2 server, 3 client, ...) and W3C
//     trace flags. The first one wins; later ones for the same span are
//     ignored. A context that arrives after a child span of it has already
//     ended leaves that child pointing at the span's derived id;
//   - a span without one gets a derived span id (a hash of the pid, boot id,
//     start time, thread and the begin's time and ordinal; never 0), the trace
//     id of what encloses it on its thread, and that as its parent (flags bit
//     8, "parent is local and known"): the innermost open span, or the task
//     whose poll is running there (its task span, below). An outermost span
//     without a context starts a trace of its own, with a trace id derived
//     the same way, so each such tree of spans is one trace. Kind 1
//     (internal);
//   - a task (format 1.1) is a span over its lifetime: from the first event
//     that names it (its spawn) to its completion, or to the end of the
//     capture (bbx.unfinished = true) when it did not complete. Its name is
//     its spawn site's ("task" when the spawn is not in the capture), with
//     that site's code.* attributes and bbx.category; span id and trace
//     derived from the task id; its parent the parent task's span (the spawn
//     names it), else the span or task running where it was spawned, else
//     none (a trace of its own), so that a request's tasks and the spans in
//     their polls make one trace. Its polls and waits are summed up in
//     attributes: bbx.task.id, bbx.task.parent, bbx.task.frame_bytes,
//     bbx.task.state (done, unfinished), bbx.task.polls, bbx.task.busy_ns
//     (its polls' time, each moment of a thread counted to the innermost
//     poll on it and once per task, as analyze counts busy),
//     bbx.task.longest_poll_ns, bbx.task.wakes, bbx.task.waits,
//     bbx.task.wait_ns; and thread.id, thread.name of the
//     thread that spawned it. Each poll that suspended at an await site is an
//     event "await" at the poll's end (code.* of the site, bbx.poll_ns); each
//     wait an event "wait" at its begin (bbx.resource.id, bbx.resource.name,
//     bbx.resource.op, code.* of the site); at most 128, as for spans. Why
//     this mapping: OTLP has spans and events only, and a task is what a
//     request's work is made of in async code; one span per poll would bury
//     a trace viewer in thousands of slivers, while the sums and the await
//     events keep what tokio-console shows per task;
//   - span arguments are attributes (i64 and u64 as intValue, a u64 above
//     INT64_MAX as stringValue since OTLP integers are signed 64-bit; f64 as
//     doubleValue, NaN and infinities as the strings proto3 uses; bool;
//     string), then code.function.name, code.file.path, code.line.number,
//     bbx.category, thread.id and thread.name. A key that appeared before
//     in the span is dropped and counted in droppedAttributesCount
//     (attribute keys must be unique);
//   - an instant inside a span is a span event of the innermost open span
//     (name, time, its arguments as attributes), at most 128 per span (the
//     OpenTelemetry SDKs' default limit) and the rest counted in
//     droppedEventsCount; one outside every span but inside a poll, an event
//     of that task's span; one outside both is not exported;
//   - a crash record is an event "exception" (OpenTelemetry semantic
//     conventions for exceptions) of the innermost open span of the crashing
//     thread, with exception.type = the signal's name, exception.message and
//     exception.stacktrace (the raw addresses); that span gets status ERROR
//     (code 2). With no span open, the task being polled there takes it;
//     with neither, a zero-length span "crash" carries it;
//   - a stall sample (1.4) is an event "bbx.stall_sample" of the innermost
//     open span of its thread, else of the task being polled there, with
//     code.stacktrace (its frames innermost first, "#N 0xADDRESS function
//     at file:line", symbolised as the Perfetto output's) and
//     bbx.stall.sample (its number in its ring); one outside both is not
//     exported;
//   - counters, thread names (other than as thread.name), wakes (other than
//     counted) and resource operations are not exported: OTLP traces have
//     no place for them. A capture with nothing to export gives an output
//     with no lines, and bbx says so on standard error (exit status 0: the
//     conversion did what was asked).
// Resource: service.name = the process name, process.pid,
// process.executable.path, and what the capture lost: bbx.losses (a summary,
// "none" when nothing was lost) and bbx.losses.<count> for each count (zeros
// too; a first pass over the capture counts them); scope: {"name":"blackbox"}. Times are Unix
// nanoseconds: the capture's start (CLOCK_REALTIME at anchor 0) plus the
// event's offset. Every event time lies inside its span, and end >= start.
// bbx merge writes each capture's spans on lines of their own (its resource,
// with the pid it is shown with), times in the reference's Unix time; the
// span ids already join client and server spans across captures.
//
// Streams: memory grows with call sites, threads, open spans (at most 4096
// deep per thread, 128 events each) and the tasks alive at once, never with
// the number of spans.
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bbx/decoder.hpp"
#include "json.hpp"
#include "merge_output.hpp"
#include "timeline.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t spans_per_line = 1000;
constexpr uint32_t max_events = 128;  // span events per span
constexpr uint32_t flag_parent_known_local = 0x100;  // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, IS_REMOTE clear

// The id as lowercase hex of `digits` digits, into b.
std::string_view hex(char* b, uint64_t v, int digits) {
    static constexpr char d[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i, v >>= 4) b[i] = d[v & 0xf];
    return {b, size_t(digits)};
}

// A KeyValue: {"key":k,"value":{"stringValue":v}} and its kin.
void string_attr(json_writer& w, std::string_view key, std::string_view value) {
    w.begin_object();
    w.key("key");
    w.str(key);
    w.key("value");
    w.begin_object();
    w.key("stringValue");
    w.str(value);
    w.end_object();
    w.end_object();
}
void int_attr(json_writer& w, std::string_view key, int64_t value) {
    w.begin_object();
    w.key("key");
    w.str(key);
    w.key("value");
    w.begin_object();
    w.key("intValue");
    w.quoted_i64(value);
    w.end_object();
    w.end_object();
}

// An AnyValue for one recorded argument.
void any_value(json_writer& w, const arg& a) {
    w.begin_object();
    switch (a.decl->type) {
        case fmt::arg_type::i64:
            w.key("intValue");
            w.quoted_i64(a.as_i64());
            break;
        case fmt::arg_type::u64:
            // OTLP integers are int64: a larger u64 keeps its value as text.
            if (a.word <= uint64_t(INT64_MAX)) w.key("intValue");
            else w.key("stringValue");
            w.quoted_u64(a.word);
            break;
        case fmt::arg_type::f64:
            w.key("doubleValue");
            w.f64(a.as_f64(), false);
            break;
        case fmt::arg_type::boolean:
            w.key("boolValue");
            w.boolean(a.word != 0);
            break;
        case fmt::arg_type::string:
            w.key("stringValue");
            w.str(a.str);
            break;
        default: break;  // an empty AnyValue: no value
    }
    w.end_object();
}

const char* signal_name(int s) {
    switch (s) {
        case 1: return "SIGHUP";
        case 2: return "SIGINT";
        case 3: return "SIGQUIT";
        case 4: return "SIGILL";
        case 5: return "SIGTRAP";
        case 6: return "SIGABRT";
        case 7: return "SIGBUS";
        case 8: return "SIGFPE";
        case 9: return "SIGKILL";
        case 10: return "SIGUSR1";
        case 11: return "SIGSEGV";
        case 12: return "SIGUSR2";
        case 13: return "SIGPIPE";
        case 14: return "SIGALRM";
        case 15: return "SIGTERM";
        case 31: return "SIGSYS";
        default: return nullptr;
    }
}

uint64_t mix(uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
uint64_t nonzero(uint64_t v) { return v ? v : 1; }

// Per call site: the name, which argument keys to keep, and the fixed
// attributes that do not collide with an argument's key.
struct site_text {
    std::string name;          // the span's name (escaped)
    std::vector<bool> keep;    // per argument: false for a repeated key
    std::vector<std::string> keys;  // per argument: its name, escaped
    uint32_t repeated = 0;     // arguments dropped for a repeated key
    std::string fixed;         // elements: code.*, bbx.category not named by an argument
    bool thread_id = true, thread_name = true, unfinished = true;  // these keys are free
};

// What a span being written holds until it ends.
struct open_span {
    uint32_t site = 0;         // index into the site texts
    int64_t start_ns = 0;
    int64_t latest_ns = 0;     // the latest time in it so far (start, events)
    uint64_t span_id = 0, trace_hi = 0, trace_lo = 0, parent_id = 0;
    uint32_t kind = 1;
    uint32_t flags = 0;
    bool error = false;        // a crash happened in it
    std::string status_message;
    json_text attrs;           // the arguments: KeyValue elements
    json_text events;          // span events: Event elements
    uint32_t nevents = 0, dropped_events = 0;
};

// What a task's span holds until it is written: an open_span, and the
// summary of its polls and waits.
struct task_span : open_span {
    uint32_t thread = 0;      // the thread that first saw it (its spawn's)
    uint32_t running = 0;     // its polls open now
    bool done = false;        // it completed
    uint64_t id = 0, parent_task = 0, frame_bytes = 0;
    uint64_t polls = 0, wakes = 0, waits = 0;
    int64_t busy_ns = 0, longest_poll_ns = 0, wait_ns = 0;
    // Polls on two threads at once: while its poll is the innermost on k > 1
    // threads, k - 1 of them count twice in busy_ns (taken off when written).
    uint32_t on_top = 0;
    int64_t top_at = 0, overlap_ns = 0;
};

// Writes one capture's spans into the file, on lines of their own (its
// resource). Its times plus offset_ns are ns after base_rt (Unix ns).
class source_writer : public tl::sink {
public:
    source_writer(json_file& o, const capture& c, int64_t offset_ns, uint32_t shown_pid, uint64_t base_rt,
                  const losses& lost)
        : o_(o), w_(o.w()), c_(c), sites_(c.sites()), offset_(offset_ns), base_rt_(base_rt) {
        const header_info& h = c.header();
        text_.resize(sites_.size());
        for (size_t i = 0; i < sites_.size(); ++i) site_texts(sites_[i], text_[i]);
        // Derived ids: unique per capture (pid, boot, start time), stable across runs of the converter.
        seed_ = mix(uint64_t(h.pid) + 0x9e3779b97f4a7c15u);
        seed_ = mix(seed_ ^ h.anchors[0].realtime_ns);
        seed_ = mix(seed_ ^ h.anchors[0].ticks);
        for (int i = 0; i < 16; i += 8) {
            uint64_t w;
            std::memcpy(&w, h.boot_id + i, 8);
            seed_ = mix(seed_ ^ w);
        }
        // Every line opens with the resource: service.name, process.pid, process.executable.path.
        json_writer r(resource_, json_writer::inside::array);
        std::string service = h.process_name;
        if (service.empty()) {
            service = "unknown_service";
            if (!h.exe_path.empty()) service += ":" + h.exe_path.substr(h.exe_path.rfind('/') + 1);
        }
        string_attr(r, "service.name", service);
        int_attr(r, "process.pid", shown_pid);
        if (!h.exe_path.empty()) string_attr(r, "process.executable.path", h.exe_path);
        // What the capture lost: bbx.losses (the summary, "none" when nothing
        // was lost) and every count, zeros too (bbx info's counts).
        string_attr(r, "bbx.losses", lost.text());
        int_attr(r, "bbx.losses.threads_without_ring", lost.threads_without_ring);
        int_attr(r, "bbx.losses.events_without_ring", int64_t(lost.events_without_ring));
        int_attr(r, "bbx.losses.sites_without_metadata", lost.sites_without_metadata);
        int_attr(r, "bbx.losses.events_overwritten", int64_t(lost.overwritten));
        int_attr(r, "bbx.losses.events_dropped", int64_t(lost.dropped));
        int_attr(r, "bbx.losses.torn_slots", int64_t(lost.torn));
        int_attr(r, "bbx.losses.malformed", int64_t(lost.malformed));
        int_attr(r, "bbx.losses.skipped", int64_t(lost.skipped));
        // 2.0's counts, only when not 0 (a 1.x capture has neither).
        if (lost.untimed) int_attr(r, "bbx.losses.events_untimed", int64_t(lost.untimed));
        if (lost.unresolved) int_attr(r, "bbx.losses.task_events_unresolved", int64_t(lost.unresolved));
        crash_site_ = uint32_t(text_.size());
        site_text& cs = text_.emplace_back();  // the stand-in span of a crash outside every span
        json_escape(cs.name, "crash");
        task_site_ = uint32_t(text_.size());
        site_text& ts = text_.emplace_back();  // the name of a task whose spawn is not in the capture
        json_escape(ts.name, "task");
        ts.fixed = fragment_of([](json_writer& w) { string_attr(w, "bbx.category", "task"); });
    }

    void begin(const tl::model& m) {
        model_ = &m;
        stacks_.resize(m.threads.size());
        polls_.resize(m.threads.size());
        crash_spans_.assign(m.threads.size(), 0);
    }
    // The spans written (tasks' too).
    uint64_t spans() const { return spans_; }

    void slice_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t>) {
        if (s.kind == tl::slice_kind::poll) return slice_begin_poll(t, s);
        const size_t d = t.open.size() - 1;
        open_span& o = at(t, d);
        const uint64_t hash = derive(t.index, e.ticks, s.ordinal + crash_spans_[t.index]);
        o.site = uint32_t(index_of(e.where));
        o.start_ns = o.latest_ns = e.ns;
        o.span_id = nonzero(mix(hash ^ 0x5350414eu));
        if (const open_span* pp = holder(t, d)) {
            const open_span& p = *pp;
            o.trace_hi = p.trace_hi;
            o.trace_lo = p.trace_lo;
            o.parent_id = p.span_id;
            o.flags = (p.flags & 0xff) | flag_parent_known_local;
        } else if (const open_context* c = t.inherited) {
            // (1.4) Inside a span whose begin was overwritten but whose
            // identity the capture kept: a child of it, in its trace.
            o.trace_hi = c->identity.trace_hi;
            o.trace_lo = c->identity.trace_lo;
            o.parent_id = c->identity.span_id;
            o.flags = c->identity.flags;
        } else {
            o.trace_hi = mix(hash ^ 0x7472616365u);
            o.trace_lo = nonzero(mix(hash ^ 0x74726163656cu));
            o.parent_id = 0;
            o.flags = 0x01;  // recorded: sampled
        }
        o.kind = 1;
        o.error = false;
        o.status_message.clear();
        o.attrs.clear();
        o.events.clear();
        o.nevents = o.dropped_events = 0;
        json_writer a(o.attrs, json_writer::inside::array);
        args(a, e, text_[o.site]);
    }

    void identified(tl::thread& t, tl::slice& s, const event&) {
        const size_t d = size_t(&s - t.open.data());
        open_span& o = at(t, d);
        o.span_id = s.identity.span_id;
        o.trace_hi = s.identity.trace_hi;
        o.trace_lo = s.identity.trace_lo;
        o.parent_id = s.identity.parent_span_id;
        o.kind = s.identity.role;
        o.flags = s.identity.flags;
        const open_span* p = holder(t, d);
        if (o.parent_id && p && p->span_id == o.parent_id) o.flags |= flag_parent_known_local;
    }

    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        if (s.kind == tl::slice_kind::poll) return poll_end(t, s, ns, how, await);
        write_span(t, at(t, t.open.size() - 1), ns, how == tl::end_how::unfinished);
    }

    void instant(tl::thread& t, const event& e) {
        open_span* h = holder(t, t.open.size());
        if (!h) return;  // outside every span and poll: not exported
        open_span& o = *h;
        if (o.nevents >= max_events) {
            ++o.dropped_events;
            return;
        }
        const site_text& st = text_[index_of(e.where)];
        json_writer w(o.events, json_writer::inside::array);
        begin_event(w, o, e.ns, st.name);
        if (e.nargs) {
            w.key("attributes");
            w.begin_array();
            args(w, e, st);
            w.end_array();
        }
        if (st.repeated) {
            w.key("droppedAttributesCount");
            w.u64(st.repeated);
        }
        w.end_object();
    }

    // A stall sample (format 1.4): an event "bbx.stall_sample" of the
    // innermost open span (or the task being polled) on its thread, with
    // code.stacktrace: its frames, innermost first, symbolised as the
    // Perfetto and Chrome outputs' are. Outside both: not exported.
    void stall_sample(tl::thread& t, const dec::stall_sample& s) {
        open_span* h = holder(t, t.open.size());
        if (!h) return;
        open_span& o = *h;
        if (o.nevents >= max_events) {
            ++o.dropped_events;
            return;
        }
        if (!sym_) sym_ = std::make_unique<stall_symbolizer>(c_);
        std::string trace;
        char b[64];
        for (size_t i = 0; i < s.frames.size(); ++i) {
            const uint64_t at = i > 0 ? s.frames[i] - 1 : s.frames[i];
            const frame_symbol* f = sym_->find(s.frames[i], i > 0);
            std::snprintf(b, sizeof b, "%s#%zu 0x%016" PRIx64 " ", i ? "\n" : "", i, s.frames[i]);
            trace += b;
            if (f && !f->where.empty()) {
                for (size_t k = 0; k < f->where.size(); ++k) {
                    const source_location& l = f->where[k];
                    if (k) trace += "\n    inlined into ";
                    trace += l.function.empty() ? "??" : l.function;
                    if (!l.file.empty()) trace += " at " + l.file + (l.line ? ":" + std::to_string(l.line) : "");
                }
            } else if (const loaded_object* lo = c_.object_of(at)) {
                std::snprintf(b, sizeof b, "+0x%" PRIx64, at - lo->base);
                trace += "?? (" + lo->path.substr(lo->path.rfind('/') + 1) + b + ")";
            } else {
                trace += "??";
            }
        }
        if (s.flags & fmt::stall_sample_truncated) trace += "\n... (more frames, not recorded)";
        json_writer w(o.events, json_writer::inside::array);
        begin_event(w, o, s.ns, "bbx.stall_sample");
        w.key("attributes");
        w.begin_array();
        string_attr(w, "code.stacktrace", trace);
        int_attr(w, "bbx.stall.sample", int64_t(s.number));
        w.end_array();
        w.end_object();
    }

    void crash(tl::thread& t, const event& e) {
        if (open_span* h = holder(t, t.open.size())) return exception(*h, e);
        // No span to hold it: a zero-length span named "crash".
        const uint64_t hash = derive(t.index, e.ticks, t.span_begins + crash_spans_[t.index]++);
        open_span& o = crash_span_;
        o = open_span{};
        o.site = crash_site_;
        o.start_ns = o.latest_ns = e.ns;
        o.span_id = nonzero(mix(hash ^ 0x5350414eu));
        o.trace_hi = mix(hash ^ 0x7472616365u);
        o.trace_lo = nonzero(mix(hash ^ 0x74726163656cu));
        o.flags = 0x01;
        exception(o, e);
        write_span(t, o, e.ns, false);
    }

    // ---- tasks ----------------------------------------------------------------------

    // A task's span begins with the first event naming it. Its parent: the
    // parent task's span (its spawn names it), else the span or task being
    // run on the spawning thread, else none (a trace of its own).
    void task_seen(tl::thread& t, tl::task& k, const event& e) {
        task_span& ts = new_task(k.index);
        ts.id = k.id;
        ts.thread = t.index;
        ts.site = k.named_by ? uint32_t(index_of(k.named_by)) : task_site_;
        ts.start_ns = ts.latest_ns = e.ns;
        const uint64_t hash = mix(seed_ ^ mix(k.id ^ 0x7461736b00000000ull));
        ts.span_id = nonzero(mix(hash ^ 0x5441534bu));
        const open_span* p = nullptr;
        if (k.parent)  // (its spawn event's, or the task table's)
            if (const tl::task* pk = model_->find_task(k.parent)) p = live_task(pk->index);
        if (!p && k.seen_at_spawn) p = holder(t, t.open.size());
        if (p) {
            ts.trace_hi = p->trace_hi;
            ts.trace_lo = p->trace_lo;
            ts.parent_id = p->span_id;
            ts.flags = (p->flags & 0xff) | flag_parent_known_local;
        } else {
            ts.trace_hi = mix(hash ^ 0x7472616365u);
            ts.trace_lo = nonzero(mix(hash ^ 0x74726163656cu));
            ts.flags = 0x01;
        }
        ts.parent_task = k.parent;
        ts.frame_bytes = k.frame_bytes;
    }
    void spawn(tl::thread&, tl::task& k, const event& e) {
        task_span* ts = live_task(k.index);
        if (!ts) return;
        ts->parent_task = e.spawn.parent;
        ts->frame_bytes = e.spawn.frame_bytes;
        if (e.where) ts->site = uint32_t(index_of(e.where));
    }
    void wake(tl::thread&, tl::task& k, const event& e, uint64_t) {
        if (task_span* ts = live_task(k.index)) ++ts->wakes, ts->latest_ns = std::max(ts->latest_ns, e.ns);
    }
    void complete(tl::thread&, tl::task& k, const event& e) {
        task_span* ts = live_task(k.index);
        if (!ts) return;
        ts->done = true;
        ts->latest_ns = std::max(ts->latest_ns, e.ns);
        if (!ts->running) write_task(k.index, ts->latest_ns, false);
    }
    void slice_begin_poll(const tl::thread& t, const tl::slice& s) {
        std::vector<poll_mark>& open = polls_[t.index];
        if (!open.empty()) top_change(open.back().task, -1, s.begin_ns);
        open.push_back({s.task, 0});
        top_change(s.task, +1, s.begin_ns);
        task_span* ts = live_task(s.task);
        if (!ts) return;
        ++ts->polls;
        ++ts->running;
        ts->latest_ns = std::max(ts->latest_ns, s.begin_ns);
    }
    // Its polls: counted and timed; where one suspended, an event "await".
    // busy_ns counts each moment of a thread to the innermost poll on it, as
    // bbx analyze does: a poll nested in another (of the same task or not) is
    // taken off the outer one, and a cut poll (its end lost) counts to the
    // poll around it.
    void poll_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        std::vector<poll_mark>& open = polls_[t.index];
        const int64_t d = ns > s.begin_ns ? ns - s.begin_ns : 0;
        int64_t own = 0;
        if (!open.empty()) {  // (always: each poll delivered to slice_begin ends here once)
            const poll_mark m = open.back();
            open.pop_back();
            if (how != tl::end_how::cut) {
                own = d - std::min(d, m.nested);
                if (!open.empty()) open.back().nested += d;
            }
            top_change(m.task, -1, ns);
            if (!open.empty()) top_change(open.back().task, +1, ns);
        }
        task_span* ts = live_task(s.task);
        if (!ts) return;
        ts->busy_ns += own;
        ts->longest_poll_ns = std::max(ts->longest_poll_ns, d);
        if (ts->running) --ts->running;
        if (await && how == tl::end_how::ended) {
            if (ts->nevents >= max_events) {
                ++ts->dropped_events;
            } else {
                json_writer w(ts->events, json_writer::inside::array);
                begin_event(w, *ts, ns, "await");
                w.key("attributes");
                w.begin_array();
                code_attrs(w, *await);
                int_attr(w, "bbx.poll_ns", d);
                w.end_array();
                w.end_object();
            }
        }
        ts->latest_ns = std::max(ts->latest_ns, ns);
        if (ts->done && !ts->running) write_task(s.task, ts->latest_ns, false);
    }
    // Its waits: counted and timed; each an event "wait" with the resource.
    void wait_begin(tl::thread&, tl::task& k, const tl::wait*, const event& e) {
        task_span* ts = live_task(k.index);
        if (!ts) return;
        ++ts->waits;
        if (ts->nevents >= max_events) {
            ++ts->dropped_events;
            return;
        }
        json_writer w(ts->events, json_writer::inside::array);
        begin_event(w, *ts, e.ns, "wait");
        w.key("attributes");
        w.begin_array();
        int_attr(w, "bbx.resource.id", int64_t(e.res.id));
        if (const resource* r = c_.find_resource(e.res.id)) string_attr(w, "bbx.resource.name", r->name);
        static const char* const ops[] = {"?", "send", "recv", "lock", "timer", "join", "other"};
        string_attr(w, "bbx.resource.op", ops[e.res.op <= fmt::resource_op_last ? e.res.op : 0]);
        if (e.where) code_attrs(w, *e.where);
        w.end_array();
        w.end_object();
    }
    void wait_end(tl::thread&, tl::task& k, const tl::wait& wt, int64_t ns, tl::end_how) {
        if (task_span* ts = live_task(k.index)) {
            ts->wait_ns += ns > wt.begin_ns ? ns - wt.begin_ns : 0;
            ts->latest_ns = std::max(ts->latest_ns, ns);
        }
    }

    // The end of the capture: the tasks not done end at its last time,
    // unfinished; then the line still open ends.
    void end() {
        const int64_t last = model_->threads_last_ns();
        for (uint32_t i = 0; i < slot_of_.size(); ++i)
            if (slot_of_[i]) write_task(i, std::max(last, slots_[slot_of_[i] - 1].latest_ns), true);
        if (in_line_) end_line();
    }

private:
    template <class Fn>
    static std::string fragment_of(Fn&& fn) {
        json_text t;
        json_writer w(t, json_writer::inside::array);
        fn(w);
        return t.str();
    }
    static void code_attrs(json_writer& w, const site& s) {
        if (!s.function.empty()) string_attr(w, "code.function.name", s.function);
        if (!s.file.empty()) string_attr(w, "code.file.path", s.file);
        if (s.line) int_attr(w, "code.line.number", s.line);
    }

    // The span that an event at depth `below` of t's open slices belongs
    // to: the innermost open span under it, or the span of the task whose
    // poll is innermost; null when neither.
    open_span* holder(const tl::thread& t, size_t below) {
        for (size_t k = below; k > 0; --k) {
            const tl::slice& s = t.open[k - 1];
            if (s.kind == tl::slice_kind::span) return &at(t, k - 1);
            if (task_span* ts = live_task(s.task)) return ts;
        }
        return nullptr;
    }

    // Task spans live in slots, reused once written: memory grows with the
    // tasks alive at once, not with all the capture's tasks.
    task_span& new_task(uint32_t index) {
        if (slot_of_.size() <= index) slot_of_.resize(size_t(index) + 1, 0);
        uint32_t slot;
        if (!free_slots_.empty()) {
            slot = free_slots_.back();
            free_slots_.pop_back();
        } else {
            slot = uint32_t(slots_.size());
            slots_.emplace_back();
        }
        slot_of_[index] = slot + 1;
        task_span& ts = slots_[slot];
        json_text attrs = std::move(ts.attrs), events = std::move(ts.events);  // (their buffers, kept)
        ts = task_span{};
        ts.attrs = std::move(attrs);
        ts.events = std::move(events);
        ts.attrs.clear();
        ts.events.clear();
        return ts;
    }
    // Task `index`'s poll became (+1) or stopped being (-1) the innermost on a thread at ns.
    void top_change(uint32_t index, int delta, int64_t ns) {
        task_span* ts = live_task(index);
        if (!ts || (delta < 0 && ts->on_top == 0)) return;  // (its span began after its poll did)
        if (ts->on_top > 1 && ns > ts->top_at) ts->overlap_ns += int64_t(ts->on_top - 1) * (ns - ts->top_at);
        ts->on_top = uint32_t(int64_t(ts->on_top) + delta);
        ts->top_at = ns;
    }
    task_span* live_task(uint32_t index) {
        return index < slot_of_.size() && slot_of_[index] ? &slots_[slot_of_[index] - 1] : nullptr;
    }
    // Writes task `index`'s span, its polls and waits summed up in attributes.
    void write_task(uint32_t index, int64_t end_ns, bool unfinished) {
        task_span& ts = *live_task(index);
        ts.attrs.clear();
        json_writer a(ts.attrs, json_writer::inside::array);
        int_attr(a, "bbx.task.id", int64_t(ts.id));
        if (ts.parent_task) int_attr(a, "bbx.task.parent", int64_t(ts.parent_task));
        if (ts.frame_bytes) int_attr(a, "bbx.task.frame_bytes", int64_t(ts.frame_bytes));
        string_attr(a, "bbx.task.state", ts.done ? "done" : "unfinished");
        int_attr(a, "bbx.task.polls", int64_t(ts.polls));
        int_attr(a, "bbx.task.busy_ns", ts.busy_ns - std::min(ts.busy_ns, ts.overlap_ns));
        int_attr(a, "bbx.task.longest_poll_ns", ts.longest_poll_ns);
        int_attr(a, "bbx.task.wakes", int64_t(ts.wakes));
        int_attr(a, "bbx.task.waits", int64_t(ts.waits));
        int_attr(a, "bbx.task.wait_ns", ts.wait_ns);
        write_span(model_->threads[ts.thread], ts, end_ns, unfinished);
        free_slots_.push_back(slot_of_[index] - 1);
        slot_of_[index] = 0;
    }

    size_t index_of(const site* s) const { return size_t(s - sites_.data()); }
    open_span& at(const tl::thread& t, size_t depth) {
        std::vector<open_span>& v = stacks_[t.index];
        if (v.size() <= depth) v.resize(depth + 1);  // entries keep their buffers for the next span there
        return v[depth];
    }
    uint64_t derive(uint32_t thread, uint64_t ticks, uint64_t ordinal) const {
        return mix(mix(mix(seed_ ^ (uint64_t(thread) + 1)) ^ ticks) ^ ordinal);
    }
    uint64_t unix_ns(int64_t ns) const {
        ns = shifted(ns, offset_);
        if (ns >= 0) return base_rt_ + uint64_t(ns);
        const uint64_t before = uint64_t(-(ns + 1)) + 1;  // |ns|, also for INT64_MIN
        return before > base_rt_ ? 0 : base_rt_ - before;
    }

    void site_texts(const site& s, site_text& t) {
        json_escape(t.name, s.name.empty() ? std::string_view("(unnamed)") : std::string_view(s.name));
        std::set<std::string> keys;
        for (const arg_decl& d : s.args) {
            bool fresh = keys.insert(d.name).second;
            t.keep.push_back(fresh);
            if (!fresh) ++t.repeated;
            json_escape(t.keys.emplace_back(), d.name);
        }
        auto free_key = [&](const char* k) { return keys.insert(k).second; };
        json_text fixed;
        json_writer w(fixed, json_writer::inside::array);
        if (!s.function.empty() && free_key("code.function.name")) string_attr(w, "code.function.name", s.function);
        if (!s.file.empty() && free_key("code.file.path")) string_attr(w, "code.file.path", s.file);
        if (s.line && free_key("code.line.number")) int_attr(w, "code.line.number", s.line);
        if (!s.category.empty() && free_key("bbx.category")) string_attr(w, "bbx.category", s.category);
        t.fixed = fixed.str();
        t.thread_id = free_key("thread.id");
        t.thread_name = free_key("thread.name");
        t.unfinished = free_key("bbx.unfinished");
    }

    // An event's arguments as KeyValues, those with a repeated key left out.
    static void args(json_writer& w, const event& e, const site_text& st) {
        for (uint32_t i = 0; i < e.nargs; ++i) {
            if (i < st.keep.size() && !st.keep[i]) continue;
            w.begin_object();
            w.key("key");
            if (i < st.keys.size()) w.escaped(st.keys[i]);
            else w.str(e.args[i].decl->name);
            w.key("value");
            any_value(w, e.args[i]);
            w.end_object();
        }
    }

    // Opens a span event: {"timeUnixNano":"T","name":N  (the caller closes it).
    void begin_event(json_writer& w, open_span& s, int64_t ns, std::string_view escaped_name) {
        if (ns < s.start_ns) ns = s.start_ns;
        if (ns > s.latest_ns) s.latest_ns = ns;
        ++s.nevents;
        w.begin_object();
        w.key("timeUnixNano");
        w.quoted_u64(unix_ns(ns));
        w.key("name");
        w.escaped(escaped_name);
    }

    // A crash record as the span's "exception" event; the span's status becomes ERROR.
    void exception(open_span& s, const event& e) {
        const crash_info& k = *e.crash;
        const char* sn = signal_name(k.signo);
        std::string type = sn ? sn : "signal " + std::to_string(k.signo);
        json_writer w(s.events, json_writer::inside::array);
        begin_event(w, s, e.ns, "exception");
        w.key("attributes");
        w.begin_array();
        string_attr(w, "exception.type", type);
        char b[160];
        std::snprintf(b, sizeof b, "signal %d (%s), si_code %d, fault address 0x%llx, pc 0x%llx", k.signo, type.c_str(),
                      k.code, static_cast<unsigned long long>(k.addr), static_cast<unsigned long long>(k.pc));
        string_attr(w, "exception.message", b);
        std::string trace;
        std::snprintf(b, sizeof b, "executable loaded at 0x%llx\n#0 0x%016llx (pc)",
                      static_cast<unsigned long long>(k.exe_base), static_cast<unsigned long long>(k.pc));
        trace += b;
        for (uint32_t i = 0; i < k.nframes && i < fmt::max_crash_frames; ++i) {
            std::snprintf(b, sizeof b, "\n#%u 0x%016llx", i + 1, static_cast<unsigned long long>(k.frames[i]));
            trace += b;
        }
        string_attr(w, "exception.stacktrace", trace);
        w.end_array();
        w.end_object();
        s.error = true;
        s.status_message = type;
    }

    void begin_line() {
        w_.begin_object();
        w_.key("resourceSpans");
        w_.begin_array();
        w_.begin_object();
        w_.key("resource");
        w_.begin_object();
        w_.key("attributes");
        w_.begin_array();
        w_.fragment(resource_.view());
        w_.end_array();
        w_.end_object();
        w_.key("scopeSpans");
        w_.begin_array();
        w_.begin_object();
        w_.key("scope");
        w_.begin_object();
        w_.key("name");
        w_.str("blackbox");
        w_.end_object();
        w_.key("spans");
        w_.begin_array();
    }
    void end_line() {
        w_.end_array();   // spans
        w_.end_object();  // the ScopeSpans
        w_.end_array();
        w_.end_object();  // the ResourceSpans
        w_.end_array();
        w_.end_object();
        w_.text() += '\n';  // JSON Lines: one TracesData per line
        in_line_ = 0;
    }

    // Writes one finished span into the current line.
    void write_span(const tl::thread& t, open_span& s, int64_t end_ns, bool unfinished) {
        if (in_line_ == 0) begin_line();
        char b[32];
        w_.begin_object();
        w_.key("traceId");
        hex(b, s.trace_hi, 16);
        hex(b + 16, s.trace_lo, 16);
        w_.escaped(std::string_view(b, 32));
        w_.key("spanId");
        w_.escaped(hex(b, s.span_id, 16));
        if (s.parent_id) {
            w_.key("parentSpanId");
            w_.escaped(hex(b, s.parent_id, 16));
        }
        if (s.flags) {
            w_.key("flags");
            w_.u64(s.flags);
        }
        const site_text& st = text_[s.site];
        w_.key("name");
        w_.escaped(st.name);
        w_.key("kind");
        w_.u64(s.kind);
        w_.key("startTimeUnixNano");
        w_.quoted_u64(unix_ns(s.start_ns));
        w_.key("endTimeUnixNano");
        w_.quoted_u64(unix_ns(std::max(end_ns, s.latest_ns)));
        w_.key("attributes");
        w_.begin_array();
        w_.fragment(s.attrs.view());
        w_.fragment(st.fixed);
        if (st.thread_id) int_attr(w_, "thread.id", t.info->tid);
        if (st.thread_name && !t.name.empty()) string_attr(w_, "thread.name", t.name);
        if (unfinished && st.unfinished) {
            w_.begin_object();
            w_.key("key");
            w_.str("bbx.unfinished");
            w_.key("value");
            w_.begin_object();
            w_.key("boolValue");
            w_.boolean(true);
            w_.end_object();
            w_.end_object();
        }
        w_.end_array();
        if (st.repeated) {
            w_.key("droppedAttributesCount");
            w_.u64(st.repeated);
        }
        if (s.nevents) {
            w_.key("events");
            w_.begin_array();
            w_.fragment(s.events.view());
            w_.end_array();
        }
        if (s.dropped_events) {
            w_.key("droppedEventsCount");
            w_.u64(s.dropped_events);
        }
        if (s.error) {
            w_.key("status");
            w_.begin_object();
            w_.key("message");
            w_.str(s.status_message);
            w_.key("code");
            w_.u64(2);
            w_.end_object();
        }
        w_.end_object();
        ++spans_;
        if (++in_line_ == spans_per_line) end_line();
        o_.maybe_flush();
    }

    json_file& o_;
    json_writer& w_;
    const capture& c_;
    std::unique_ptr<stall_symbolizer> sym_;  // made at the first stall sample
    const std::vector<site>& sites_;
    const int64_t offset_;
    const uint64_t base_rt_;
    uint64_t seed_ = 0;
    std::vector<site_text> text_;  // by site index, then the stand-in "crash"
    uint32_t crash_site_ = 0;
    json_text resource_;           // the resource's attributes
    size_t in_line_ = 0;           // spans written to the current line
    std::vector<std::vector<open_span>> stacks_;  // per thread, by depth in the timeline's open slices
    struct poll_mark {
        uint32_t task;   // its index
        int64_t nested;  // the time of the polls that ended inside it
    };
    std::vector<std::vector<poll_mark>> polls_;  // per thread, its open polls, innermost last
    std::vector<uint64_t> crash_spans_;            // per thread: "crash" spans so far (they take ordinals)
    open_span crash_span_;
    uint32_t task_site_ = 0;                       // the site text of a task whose spawn is not seen
    std::vector<uint32_t> slot_of_;                // per task index: its slot + 1 (0: none, or written)
    std::vector<task_span> slots_;
    std::vector<uint32_t> free_slots_;
    uint64_t spans_ = 0;
    const tl::model* model_ = nullptr;
};

}  // namespace

bool write_otlp(const std::vector<merge_source>& sources, std::FILE* out, std::string& err, uint64_t* spans) {
    json_file o(out);
    if (spans) *spans = 0;
    const uint64_t base_rt = sources.empty() ? 0 : sources[0].c->start_realtime_ns();
    for (const merge_source& src : sources) {
        // Every line opens with the resource, and the resource states the
        // losses: a pass that only counts comes first (the losses do not
        // depend on the filter).
        auto counted = src.c->for_each_event([](const event&) {});
        if (counted.is_error()) {
            err = counted.err().message();
            if (sources.size() > 1) err = src.c->name() + ": " + err;
            return false;
        }
        const losses l = losses_of(*src.c, counted.value());
        if (src.lost) *src.lost = l;
        source_writer sw(o, *src.c, src.offset_ns, src.pid, base_rt, l);
        tl::timeline<source_writer> t(*src.c, sw);
        sw.begin(t);
        auto r = tl::run(input(*src.c, src.filter), t);
        if (r.is_error()) {
            err = r.err().message();
            if (sources.size() > 1) err = src.c->name() + ": " + err;
            return false;
        }
        sw.end();
        if (spans) *spans += sw.spans();
    }
    err = o.finish();
    return err.empty();
}

bool write_otlp(const input& in, std::FILE* out, std::string& err, uint64_t* spans, losses* lost) {
    return write_otlp({merge_source{in.cap, 0, in.cap->header().pid, in.filter, lost}}, out, err, spans);
}

}  // namespace bbx::dec
