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
//   - every BBX_SPAN begin/end pair on a thread is a span; ends pair with
//     the innermost open begin of the same site, as in the Chrome converter.
//     A span still open at the end of the capture ends at its thread's last
//     timestamp with the attribute bbx.unfinished = true;
//   - a span_context event (bbx::context_scope) gives the innermost open span
//     of its thread its identity: trace id, span id, parent span id (0: a
//     root), kind (span_role: 1 internal, 2 server, 3 client, ...) and W3C
//     trace flags. The first one wins; later ones for the same span are
//     ignored. A context that arrives after a child span of it has already
//     ended leaves that child pointing at the span's derived id;
//   - a span without one gets a derived span id (a hash of the pid, boot id,
//     start time, ring and the begin's time and ordinal; never 0), the trace
//     id of the span enclosing it on its thread, and that span as its parent
//     (flags bit 8, "parent is local and known"). An outermost span without a
//     context starts a trace of its own, with a trace id derived the same way,
//     so each such tree of spans is one trace. Kind 1 (internal);
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
//     droppedEventsCount; an instant outside every span is not exported;
//   - a crash record is an event "exception" (OpenTelemetry semantic
//     conventions for exceptions) of the innermost open span of the crashing
//     thread, with exception.type = the signal's name, exception.message and
//     exception.stacktrace (the raw addresses); that span gets status ERROR
//     (code 2). With no span open, a zero-length span "crash" carries it;
//   - counters, thread names (other than as thread.name) and task events
//     are not exported: OTLP traces have no place for them.
// Resource: service.name = the process name, process.pid,
// process.executable.path; scope: {"name":"blackbox"}. Times are Unix
// nanoseconds: the capture's start (CLOCK_REALTIME at anchor 0) plus the
// event's offset. Every event time lies inside its span, and end >= start.
// bbx merge writes each capture's spans on lines of their own (its resource,
// with the pid it is shown with), times in the reference's Unix time; the
// span ids already join client and server spans across captures.
//
// Streams: memory grows with call sites, threads and open spans (at most
// 4096 deep per thread, 128 events each), never with the number of spans.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bbx/decoder.hpp"
#include "pairing.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t flush_at = 1 << 20;
constexpr size_t spans_per_line = 1000;
using pairing::max_depth;
constexpr uint32_t max_events = 128;  // span events per span
constexpr uint32_t flag_parent_known_local = 0x100;  // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, IS_REMOTE clear

// JSON text into a large buffer that goes out with one fwrite when full.
struct json_out {
    std::FILE* f;
    std::string b;
    bool failed = false;
    int sys_errno = 0;

    explicit json_out(std::FILE* file) : f(file) { b.reserve(flush_at + 65536); }
    void maybe_flush() {
        if (b.size() >= flush_at) flush();
    }
    void flush() {
        if (!b.empty() && !failed && std::fwrite(b.data(), 1, b.size(), f) != b.size()) {
            failed = true;
            sys_errno = errno;
        }
        b.clear();
    }
};

void put_u64(std::string& o, uint64_t v) {
    char t[24];
    auto r = std::to_chars(t, t + sizeof t, v);
    o.append(t, size_t(r.ptr - t));
}

void put_i64(std::string& o, int64_t v) {
    char t[24];
    auto r = std::to_chars(t, t + sizeof t, v);
    o.append(t, size_t(r.ptr - t));
}

// A 64-bit integer as proto3 JSON writes it: a quoted decimal.
void put_quoted_u64(std::string& o, uint64_t v) {
    o += '"';
    put_u64(o, v);
    o += '"';
}

void put_hex(std::string& o, uint64_t v, int digits) {
    static constexpr char d[] = "0123456789abcdef";
    char t[16];
    for (int i = digits - 1; i >= 0; --i, v >>= 4) t[i] = d[v & 0xf];
    o.append(t, size_t(digits));
}

void put_str(std::string& o, std::string_view s) {
    o += '"';
    json_escape(o, s);
    o += '"';
}

// {"key":"<key>","value":
void put_key(std::string& o, std::string_view key) {
    o += "{\"key\":";
    put_str(o, key);
    o += ",\"value\":";
}

void put_string_attr(std::string& o, std::string_view key, std::string_view value) {
    put_key(o, key);
    o += "{\"stringValue\":";
    put_str(o, value);
    o += "}}";
}

void put_int_attr(std::string& o, std::string_view key, int64_t value) {
    put_key(o, key);
    o += "{\"intValue\":\"";
    put_i64(o, value);
    o += "\"}}";
}

// An AnyValue for one recorded argument.
void put_value(std::string& o, const arg& a) {
    switch (a.decl->type) {
        case fmt::arg_type::i64:
            o += "{\"intValue\":\"";
            put_i64(o, a.as_i64());
            o += "\"}";
            break;
        case fmt::arg_type::u64:
            // OTLP integers are int64: a larger u64 keeps its value as text.
            o += a.word <= uint64_t(INT64_MAX) ? "{\"intValue\":\"" : "{\"stringValue\":\"";
            put_u64(o, a.word);
            o += "\"}";
            break;
        case fmt::arg_type::f64: {
            const double v = a.as_f64();
            o += "{\"doubleValue\":";
            if (std::isnan(v)) o += "\"NaN\"";
            else if (std::isinf(v)) o += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
            else {
                char t[32];
                auto r = std::to_chars(t, t + sizeof t, v);
                o.append(t, size_t(r.ptr - t));
            }
            o += '}';
            break;
        }
        case fmt::arg_type::boolean: o += a.word ? "{\"boolValue\":true}" : "{\"boolValue\":false}"; break;
        case fmt::arg_type::string:
            o += "{\"stringValue\":";
            put_str(o, a.str);
            o += '}';
            break;
        default: o += "{}"; break;  // an empty AnyValue: no value
    }
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

// Per call site: the escaped name, which argument keys to keep, and the
// fixed attributes that do not collide with an argument's key.
struct site_text {
    std::string name;          // escaped, quoted
    std::vector<bool> keep;    // per argument: false for a repeated key
    uint32_t repeated = 0;     // arguments dropped for a repeated key
    std::string fixed;         // ,{code.*},{bbx.category} not named by an argument
    bool thread_id = true, thread_name = true, unfinished = true;  // these keys are free
};

struct open_span {
    uint32_t site = 0;
    int64_t start_ns = 0;
    int64_t latest_ns = 0;     // the latest time in it so far (start, events)
    uint64_t span_id = 0, trace_hi = 0, trace_lo = 0, parent_id = 0;
    uint32_t kind = 1;
    uint32_t flags = 0;
    bool has_context = false;
    bool error = false;        // a crash happened in it
    std::string status_message;
    std::string attrs;         // the arguments, rendered (comma-separated KeyValues)
    std::string events;        // rendered span events, comma-separated
    uint32_t nevents = 0, dropped_events = 0;
};

struct thread_state {
    std::vector<open_span> stack;  // entries up to depth are live; the rest keep their buffers
    size_t depth = 0;
    uint64_t hidden = 0;           // open spans deeper than max_depth
    uint64_t begins = 0;           // span begins seen: the ordinal in derived ids
    int64_t last_ns = 0;
    uint32_t tid = 0;
    std::string name;
};

// ns + d, saturated: a damaged clock must not wrap around.
int64_t shifted(int64_t ns, int64_t d) {
    int64_t r;
    if (!__builtin_add_overflow(ns, d, &r)) return r;
    return d > 0 ? INT64_MAX : INT64_MIN;
}

// Writes one capture's spans into o, on lines of their own (its resource).
// Its times plus offset_ns are ns after base_rt (Unix ns). Returns false
// when reading failed (err says why); write errors stay in o.
bool write_source(json_out& o, const input& in, int64_t offset_ns, uint32_t shown_pid, uint64_t base_rt, std::string& err) {
    const capture& c = *in.cap;
    const header_info& h = c.header();
    const std::vector<site>& sites = c.sites();

    std::vector<site_text> text(sites.size());
    for (size_t i = 0; i < sites.size(); ++i) {
        const site& s = sites[i];
        site_text& t = text[i];
        t.name = '"';
        json_escape(t.name, s.name.empty() ? std::string_view("(unnamed)") : std::string_view(s.name));
        t.name += '"';
        std::set<std::string> keys;
        for (const arg_decl& d : s.args) {
            bool fresh = keys.insert(d.name).second;
            t.keep.push_back(fresh);
            if (!fresh) ++t.repeated;
        }
        auto free_key = [&](const char* k) { return keys.insert(k).second; };
        if (!s.function.empty() && free_key("code.function.name")) {
            t.fixed += ',';
            put_string_attr(t.fixed, "code.function.name", s.function);
        }
        if (!s.file.empty() && free_key("code.file.path")) {
            t.fixed += ',';
            put_string_attr(t.fixed, "code.file.path", s.file);
        }
        if (s.line && free_key("code.line.number")) {
            t.fixed += ',';
            put_int_attr(t.fixed, "code.line.number", s.line);
        }
        if (!s.category.empty() && free_key("bbx.category")) {
            t.fixed += ',';
            put_string_attr(t.fixed, "bbx.category", s.category);
        }
        t.thread_id = free_key("thread.id");
        t.thread_name = free_key("thread.name");
        t.unfinished = free_key("bbx.unfinished");
    }

    // Derived ids: unique per capture (pid, boot, start time), stable across runs of the converter.
    uint64_t seed = mix(uint64_t(h.pid) + 0x9e3779b97f4a7c15u);
    seed = mix(seed ^ h.anchors[0].realtime_ns);
    seed = mix(seed ^ h.anchors[0].ticks);
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        std::memcpy(&w, h.boot_id + i, 8);
        seed = mix(seed ^ w);
    }

    // Every line opens with the resource and the scope.
    std::string line_head = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
    {
        std::string service = h.process_name;
        if (service.empty()) {
            service = "unknown_service";
            if (!h.exe_path.empty()) service += ":" + h.exe_path.substr(h.exe_path.rfind('/') + 1);
        }
        put_string_attr(line_head, "service.name", service);
        line_head += ',';
        put_int_attr(line_head, "process.pid", shown_pid);
        if (!h.exe_path.empty()) {
            line_head += ',';
            put_string_attr(line_head, "process.executable.path", h.exe_path);
        }
    }
    line_head += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"blackbox\"},\"spans\":[";
    const std::string_view line_tail = "]}]}]}\n";
    size_t in_line = 0;  // spans written to the current line

    const uint64_t start_rt = base_rt;
    auto unix_ns = [&](int64_t ns) -> uint64_t {
        ns = shifted(ns, offset_ns);
        if (ns >= 0) return start_rt + uint64_t(ns);
        const uint64_t before = uint64_t(-(ns + 1)) + 1;  // |ns|, also for INT64_MIN
        return before > start_rt ? 0 : start_rt - before;
    };

    std::vector<thread_state> threads(c.threads().size());
    for (size_t i = 0; i < threads.size(); ++i) {
        threads[i].tid = c.threads()[i].tid;
        threads[i].name = c.threads()[i].name;
    }

    auto derive = [&](uint32_t ring, uint64_t ticks, uint64_t ordinal) {
        return mix(mix(mix(seed ^ (uint64_t(ring) + 1)) ^ ticks) ^ ordinal);
    };
    auto nonzero = [](uint64_t v) { return v ? v : 1; };
    auto derive_span_id = [&](uint64_t hash) { return nonzero(mix(hash ^ 0x5350414eu)); };

    // Writes one finished span into the current line.
    auto write_span = [&](thread_state& t, open_span& s, int64_t end_ns, bool unfinished) {
        std::string& b = o.b;
        if (in_line == 0) b += line_head;
        else b += ',';
        b += "{\"traceId\":\"";
        put_hex(b, s.trace_hi, 16);
        put_hex(b, s.trace_lo, 16);
        b += "\",\"spanId\":\"";
        put_hex(b, s.span_id, 16);
        b += '"';
        if (s.parent_id) {
            b += ",\"parentSpanId\":\"";
            put_hex(b, s.parent_id, 16);
            b += '"';
        }
        if (s.flags) {
            b += ",\"flags\":";
            put_u64(b, s.flags);
        }
        const site_text& st = text[s.site];
        b += ",\"name\":";
        b += st.name;
        b += ",\"kind\":";
        put_u64(b, s.kind);
        b += ",\"startTimeUnixNano\":";
        put_quoted_u64(b, unix_ns(s.start_ns));
        b += ",\"endTimeUnixNano\":";
        put_quoted_u64(b, unix_ns(std::max(end_ns, s.latest_ns)));
        b += ",\"attributes\":[";
        size_t mark = b.size();
        b += s.attrs;
        auto sep = [&] {
            if (b.size() > mark) b += ',';
        };
        if (!st.fixed.empty()) {
            if (b.size() > mark) b += st.fixed;
            else b.append(st.fixed, 1, std::string::npos);  // without its leading comma
        }
        if (st.thread_id) {
            sep();
            put_int_attr(b, "thread.id", t.tid);
        }
        if (st.thread_name && !t.name.empty()) {
            sep();
            put_string_attr(b, "thread.name", t.name);
        }
        if (unfinished && st.unfinished) {
            sep();
            put_key(b, "bbx.unfinished");
            b += "{\"boolValue\":true}}";
        }
        b += ']';
        if (st.repeated) {
            b += ",\"droppedAttributesCount\":";
            put_u64(b, st.repeated);
        }
        if (s.nevents) {
            b += ",\"events\":[";
            b += s.events;
            b += ']';
        }
        if (s.dropped_events) {
            b += ",\"droppedEventsCount\":";
            put_u64(b, s.dropped_events);
        }
        if (s.error) {
            b += ",\"status\":{\"message\":";
            put_str(b, s.status_message);
            b += ",\"code\":2}";
        }
        b += '}';
        if (++in_line == spans_per_line) {
            b += line_tail;
            in_line = 0;
        }
        o.maybe_flush();
    };

    // A span event's head: {"timeUnixNano":"T","name":N
    auto event_head = [&](open_span& s, int64_t ns, std::string_view escaped_quoted_name) {
        if (ns < s.start_ns) ns = s.start_ns;
        if (ns > s.latest_ns) s.latest_ns = ns;
        if (s.nevents++) s.events += ',';
        s.events += "{\"timeUnixNano\":";
        put_quoted_u64(s.events, unix_ns(ns));
        s.events += ",\"name\":";
        s.events += escaped_quoted_name;
    };

    auto put_args = [&](std::string& b, const event& e, const site_text& st) {
        size_t mark = b.size();
        for (uint32_t i = 0; i < e.nargs; ++i) {
            if (i < st.keep.size() && !st.keep[i]) continue;
            if (b.size() > mark) b += ',';
            put_key(b, e.args[i].decl->name);
            put_value(b, e.args[i]);
            b += '}';
        }
    };

    auto put_crash = [&](open_span& s, const event& e) {
        const crash_info& k = *e.crash;
        const char* sn = signal_name(k.signo);
        std::string type = sn ? sn : "signal " + std::to_string(k.signo);
        event_head(s, e.ns, "\"exception\"");
        s.events += ",\"attributes\":[";
        put_string_attr(s.events, "exception.type", type);
        char b[160];
        std::snprintf(b, sizeof b, "signal %d (%s), si_code %d, fault address 0x%llx, pc 0x%llx", k.signo,
                      type.c_str(), k.code, static_cast<unsigned long long>(k.addr),
                      static_cast<unsigned long long>(k.pc));
        s.events += ',';
        put_string_attr(s.events, "exception.message", b);
        std::string trace;
        std::snprintf(b, sizeof b, "executable loaded at 0x%llx\n#0 0x%016llx (pc)",
                      static_cast<unsigned long long>(k.exe_base), static_cast<unsigned long long>(k.pc));
        trace += b;
        for (uint32_t i = 0; i < k.nframes && i < fmt::max_crash_frames; ++i) {
            std::snprintf(b, sizeof b, "\n#%u 0x%016llx", i + 1, static_cast<unsigned long long>(k.frames[i]));
            trace += b;
        }
        s.events += ',';
        put_string_attr(s.events, "exception.stacktrace", trace);
        s.events += "]}";
        s.error = true;
        s.status_message = type;
    };

    open_span crash_span;  // the stand-in for a crash outside every span
    uint32_t crash_site = UINT32_MAX;

    auto r = in.read([&](const event& e) {
        if (e.thread >= threads.size()) return;
        thread_state& t = threads[e.thread];
        t.last_ns = e.ns;
        switch (e.kind) {
            case fmt::kind::span_begin: {
                if (!e.where) return;
                const uint64_t ordinal = t.begins++;
                if (t.depth >= max_depth) {
                    ++t.hidden;
                    return;
                }
                if (t.stack.size() == t.depth) t.stack.emplace_back();
                open_span& s = t.stack[t.depth];
                const uint64_t hash = derive(e.thread, e.ticks, ordinal);
                s.site = uint32_t(e.where - sites.data());
                s.start_ns = s.latest_ns = e.ns;
                s.span_id = derive_span_id(hash);
                if (t.depth > 0) {
                    const open_span& p = t.stack[t.depth - 1];
                    s.trace_hi = p.trace_hi;
                    s.trace_lo = p.trace_lo;
                    s.parent_id = p.span_id;
                    s.flags = (p.flags & 0xff) | flag_parent_known_local;
                } else {
                    s.trace_hi = mix(hash ^ 0x7472616365u);
                    s.trace_lo = nonzero(mix(hash ^ 0x74726163656cu));
                    s.parent_id = 0;
                    s.flags = 0x01;  // recorded: sampled
                }
                s.kind = 1;
                s.has_context = false;
                s.error = false;
                s.status_message.clear();
                s.attrs.clear();
                s.events.clear();
                s.nevents = s.dropped_events = 0;
                put_args(s.attrs, e, text[s.site]);
                ++t.depth;
                return;
            }
            case fmt::kind::span_context: {
                if (t.depth == 0 || t.hidden) return;  // no span, or the innermost one is not kept
                open_span& s = t.stack[t.depth - 1];
                if (s.has_context) return;
                s.has_context = true;
                s.span_id = e.context.span_id;
                s.trace_hi = e.context.trace_hi;
                s.trace_lo = e.context.trace_lo;
                s.parent_id = e.context.parent_span_id;
                s.kind = e.context.role;
                s.flags = e.context.flags;
                if (s.parent_id && t.depth > 1 && t.stack[t.depth - 2].span_id == s.parent_id)
                    s.flags |= flag_parent_known_local;
                return;
            }
            case fmt::kind::span_end: {
                if (!e.where) return;
                if (t.hidden) {
                    --t.hidden;
                    return;
                }
                const auto si = uint32_t(e.where - sites.data());
                const size_t k = pairing::find_begin(t.stack, t.depth, [&](const auto& s) { return s.site == si; });
                if (k == pairing::none) return;  // its begin was overwritten
                // Spans opened inside it and never ended (damaged slots) end here too.
                while (t.depth >= k) {
                    write_span(t, t.stack[t.depth - 1], e.ns, false);
                    --t.depth;
                }
                return;
            }
            case fmt::kind::instant: {
                if (!e.where || t.depth == 0) return;
                open_span& s = t.stack[t.depth - 1];
                if (s.nevents >= max_events) {
                    ++s.dropped_events;
                    return;
                }
                const site_text& st = text[size_t(e.where - sites.data())];
                event_head(s, e.ns, st.name);
                if (e.nargs) {
                    s.events += ",\"attributes\":[";
                    put_args(s.events, e, st);
                    s.events += ']';
                }
                if (st.repeated) {
                    s.events += ",\"droppedAttributesCount\":";
                    put_u64(s.events, st.repeated);
                }
                s.events += '}';
                return;
            }
            case fmt::kind::crash: {
                if (!e.crash) return;
                if (t.depth > 0) {
                    put_crash(t.stack[t.depth - 1], e);
                    return;
                }
                // No span to hold it: a zero-length span named "crash".
                if (crash_site == UINT32_MAX) {
                    crash_site = uint32_t(text.size());
                    site_text& st = text.emplace_back();
                    st.name = "\"crash\"";
                }
                const uint64_t hash = derive(e.thread, e.ticks, t.begins++);
                open_span& s = crash_span;
                s = open_span{};
                s.site = crash_site;
                s.start_ns = s.latest_ns = e.ns;
                s.span_id = derive_span_id(hash);
                s.trace_hi = mix(hash ^ 0x7472616365u);
                s.trace_lo = nonzero(mix(hash ^ 0x74726163656cu));
                s.flags = 0x01;
                put_crash(s, e);
                write_span(t, s, e.ns, false);
                return;
            }
            case fmt::kind::thread_name: t.name = std::string(e.thread_name); return;
            default: return;  // counters, task events
        }
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    // Spans still open: they end at their thread's last timestamp, innermost first.
    for (thread_state& t : threads) {
        while (t.depth > 0) {
            write_span(t, t.stack[t.depth - 1], t.last_ns, true);
            --t.depth;
        }
    }
    if (in_line) o.b += line_tail;
    return true;
}

}  // namespace

bool write_otlp(const std::vector<merge_source>& sources, std::FILE* out, std::string& err) {
    json_out o(out);
    const uint64_t base_rt = sources.empty() ? 0 : sources[0].c->start_realtime_ns();
    for (const merge_source& src : sources) {
        if (!write_source(o, input(*src.c, src.filter), src.offset_ns, src.pid, base_rt, err)) {
            if (sources.size() > 1) err = src.c->name() + ": " + err;
            return false;
        }
    }
    o.flush();
    if (!o.failed && std::fflush(out) != 0) o.sys_errno = errno;
    if (o.failed || o.sys_errno || std::ferror(out)) {
        err = std::string("write failed: ") + std::strerror(o.sys_errno ? o.sys_errno : EIO);
        return false;
    }
    return true;
}

bool write_otlp(const input& in, std::FILE* out, std::string& err) {
    return write_otlp({merge_source{in.cap, 0, in.cap->header().pid, in.filter}}, out, err);
}

}  // namespace bbx::dec
