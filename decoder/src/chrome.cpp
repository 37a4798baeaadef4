// Chrome trace-event JSON: the object form, `traceEvents` first, so that
// readers which sniff the first bytes (Perfetto UI, chrome://tracing,
// Speedscope) recognise it.
//
// Spans are B/E pairs on (pid, tid), balanced per thread: an end whose begin
// was overwritten is dropped, and a begin still open at the end of the
// capture is closed at the thread's last timestamp with args {"unfinished":
// true}. Times are microseconds since the capture's start, to the nanosecond.
//
// Async tasks (format 1.1), in what both chrome://tracing (catapult's
// trace_event_importer) and Perfetto's JSON importer read:
//   - a poll is a B/E pair "poll <task>" on the thread that ran it, balanced
//     together with the spans; the E carries {"await": "file:line"}, which
//     both readers merge into the slice's args;
//   - a wake is an instant "wake <task>" on the waking thread followed by a
//     flow start {"ph":"s","name":"wake","cat":"task","id":N}; the woken
//     task's next poll B is followed by the flow end {"ph":"f","bp":"e"} with
//     the same id, name and cat (Perfetto keys v1 flows by all three). Each
//     binds to the slice enclosing it at that timestamp: the instant, the
//     poll. Flow v1, because catapult reads flow v2 (bind_id) only on X events;
//   - a wait is a nestable async slice b/e "wait <op> <resource>" with cat
//     "task" and id = the task id, so each task gets an async track; one still
//     open at the end is closed at the capture's last timestamp with
//     {"unfinished": true};
//   - spawn and complete are async instants (n) on that same track.
//
// bbx merge writes several captures into one traceEvents array, each with
// its pid, its times shifted onto one timeline. A flow from a client span
// to the server span it caused is {"ph":"s","name":"rpc","cat":"rpc","id":N}
// right after the client slice's B and {"ph":"f","bp":"e",...} right after
// the server slice's B, binding to those slices as the wake flows do. These
// take ids 1..N; wake flows are numbered after them, across all captures.
// Memory grows with call sites, threads and tasks, never with events: one
// output buffer, no allocation per event.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bbx/decoder.hpp"
#include "pairing.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t flush_at = 1 << 20;
using pairing::max_depth;
constexpr uint32_t max_pending_wakes = 4;  // wakes before a poll that each get an arrow to it
constexpr size_t max_waits = 64;           // open waits kept per task; deeper ones are not written
constexpr uint64_t poll_entry = uint64_t(1) << 63;  // a thread's open poll: poll_entry | task index

// Appends JSON text to a large buffer that goes out with one fwrite when full.
struct json_out {
    std::FILE* f;
    std::string b;
    bool failed = false;
    int sys_errno = 0;

    explicit json_out(std::FILE* file) : f(file) { b.reserve(flush_at + 8192); }
    void lit(std::string_view s) { b.append(s); }
    void ch(char c) { b.push_back(c); }
    void u64(uint64_t v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
    }
    void hex(uint64_t v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v, 16);
        b.append(t, size_t(r.ptr - t));
    }
    void i64(int64_t v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
    }
    // The shortest form that reads back exactly, with ".0" on whole numbers so
    // readers keep them floating-point. JSON has no NaN or infinities: those
    // go out as strings.
    void f64(double v) {
        if (std::isnan(v)) return lit("\"NaN\"");
        if (std::isinf(v)) return lit(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        char t[32];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
        if (std::find_if(t, r.ptr, [](char c) { return c == '.' || c == 'e'; }) == r.ptr) lit(".0");
    }
    // Nanoseconds as microseconds with three decimals: 12345 -> 12.345.
    // Every event writes one: kept inline, where the many task call sites
    // would otherwise make the compiler outline it.
    [[gnu::always_inline]] void micros(int64_t ns) {
        uint64_t a = uint64_t(ns);
        if (ns < 0) {
            ch('-');
            a = uint64_t(0) - a;
        }
        u64(a / 1000);
        const unsigned frac = unsigned(a % 1000);
        const char d[4] = {'.', char('0' + frac / 100), char('0' + frac / 10 % 10), char('0' + frac % 10)};
        b.append(d, 4);
    }
    void str(std::string_view s) {
        ch('"');
        json_escape(b, s);
        ch('"');
    }
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

struct thread_state {
    std::string ids;                  // ,"pid":P,"tid":T
    std::vector<uint64_t> open;       // open slices, innermost last: a site index, or poll_entry | task index
    uint64_t hidden = 0;              // open spans deeper than max_depth (not written)
    int64_t last_ns = INT64_MIN;  // of its latest event
};

struct site_text {
    std::string head;               // {"name":"...","cat":"...","ph":"
    std::vector<std::string> keys;  // "arg name":
    std::string name;               // task sites: the name, escaped
    std::string at;                 // await sites: file:line, escaped
};

struct open_wait {
    uint64_t resource, op;
    uint32_t thread;  // whose tid the end carries if the capture ends first
};

struct task_state {
    uint64_t id = 0;
    uint32_t site = 0;     // index + 1 of the spawn site that names it (known at first sight), or 0
    uint32_t pending = 0;  // wakes since its last poll that started a flow
    uint64_t flows[max_pending_wakes] = {};
    std::vector<open_wait> waits;  // innermost last
};

const char* const op_names[fmt::resource_op_last + 1] = {"?", "send", "recv", "lock", "timer", "join", "other"};

void write_arg_value(json_out& o, const arg& a) {
    switch (a.decl->type) {
        case fmt::arg_type::i64: o.i64(a.as_i64()); break;
        case fmt::arg_type::u64: o.u64(a.word); break;
        case fmt::arg_type::f64: o.f64(a.as_f64()); break;
        case fmt::arg_type::boolean: o.lit(a.word ? "true" : "false"); break;
        case fmt::arg_type::string: o.str(a.str); break;
        default: o.lit("null"); break;
    }
}

// One end of a flow between spans (bbx merge), on a span's begin: the span
// (thread, its begin's ticks and site id) and the flow's id.
struct flow_mark {
    uint32_t thread = 0;
    uint64_t ticks = 0;
    uint32_t site = 0;
    uint64_t id = 0;
    bool start = false;  // "s"; else "f"
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

// What the captures of one output share: the stream, whether an event was
// written (the comma before the next), and the flow ids given out.
struct shared_out {
    json_out o;
    bool first = true;
    uint64_t flows = 0;
    explicit shared_out(std::FILE* f) : o(f) {}
};

// Writes one capture's events into so.o. Returns false when reading failed
// (err says why); write errors stay in so.o.
bool write_source(shared_out& so, const input& in, int64_t offset_ns, uint32_t shown_pid, const std::vector<flow_mark>& marks,
                  std::string& err) {
    const capture& c = *in.cap;
    json_out& o = so.o;
    const header_info& h = c.header();
    const std::vector<site>& sites = c.sites();

    std::vector<site_text> text(sites.size());
    for (size_t i = 0; i < sites.size(); ++i) {
        std::string& s = text[i].head;
        s = "{\"name\":\"";
        json_escape(s, sites[i].name);
        s += "\",\"cat\":\"";
        json_escape(s, sites[i].category);
        s += "\",\"ph\":\"";
        for (const arg_decl& d : sites[i].args) {
            std::string k = "\"";
            json_escape(k, d.name);
            k += "\":";
            text[i].keys.push_back(std::move(k));
        }
        if (sites[i].kind == fmt::site_kind::task) json_escape(text[i].name, sites[i].name);
        if (sites[i].kind == fmt::site_kind::await) {
            json_escape(text[i].at, sites[i].file);
            text[i].at += ':' + std::to_string(sites[i].line);
        }
    }
    const std::vector<resource>& resources = c.resources();
    std::vector<std::string> resource_names(resources.size());  // escaped
    std::unordered_map<uint64_t, uint32_t> resource_index;
    for (size_t i = 0; i < resources.size(); ++i) {
        json_escape(resource_names[i], resources[i].name);
        resource_index.try_emplace(resources[i].id, uint32_t(i));
    }
    std::vector<task_state> tasks;
    std::unordered_map<uint64_t, uint32_t> task_index;  // task id -> index in tasks
    uint64_t& flows = so.flows;  // flows started so far (in the output)

    const std::string pid = std::to_string(shown_pid);
    std::vector<thread_state> threads(c.threads().size());
    for (size_t i = 0; i < threads.size(); ++i)
        threads[i].ids = ",\"pid\":" + pid + ",\"tid\":" + std::to_string(c.threads()[i].tid);

    bool& first = so.first;
    auto next = [&] {
        if (!first) o.lit(",\n");
        first = false;
    };
    auto thread_name = [&](const thread_state& t, std::string_view name) {
        next();
        o.lit("{\"name\":\"thread_name\",\"ph\":\"M\"");
        o.lit(t.ids);
        o.lit(",\"args\":{\"name\":");
        o.str(name);
        o.lit("}}");
    };
    auto task_name = [&](const task_state& k) {
        if (k.site) o.lit(text[k.site - 1].name);
        else o.lit("task");
        o.lit(" #");
        o.u64(k.id);
    };
    auto wait_name = [&](uint64_t res, uint64_t op) {
        o.lit("wait ");
        o.lit(op_names[op <= fmt::resource_op_last ? op : 0]);
        auto r = resource_index.find(res);
        if (r != resource_index.end()) {
            o.ch(' ');
            o.lit(resource_names[r->second]);
        }
    };
    // The E that closes the open slice `entry` on thread t; `at` (escaped):
    // the await site a poll suspended at.
    auto end_event = [&](thread_state& t, uint64_t entry, int64_t ns, bool unfinished, std::string_view at = {}) {
        next();
        if (entry & poll_entry) {
            o.lit("{\"name\":\"poll ");
            task_name(tasks[size_t(entry & ~poll_entry)]);
            o.lit("\",\"cat\":\"task\",\"ph\":\"");
        } else {
            o.lit(text[size_t(entry)].head);
        }
        o.lit("E\",\"ts\":");
        o.micros(ns);
        o.lit(t.ids);
        if (unfinished) o.lit(",\"args\":{\"unfinished\":true}");
        else if (!at.empty()) {
            o.lit(",\"args\":{\"await\":\"");
            o.lit(at);
            o.lit("\"}");
        }
        o.ch('}');
    };
    // A nestable async event of task k ("n", "b" or "e"), up to its args.
    auto async_head = [&](const task_state& k, const char* ph, int64_t ns, const thread_state& t) {
        o.lit("\",\"cat\":\"task\",\"ph\":\"");
        o.lit(ph);
        o.lit("\",\"id\":\"0x");
        o.hex(k.id);
        o.lit("\",\"ts\":");
        o.micros(ns);
        o.lit(t.ids);
    };
    auto wait_end = [&](const task_state& k, const open_wait& w, int64_t ns, bool unfinished) {
        next();
        o.lit("{\"name\":\"");
        wait_name(w.resource, w.op);
        async_head(k, "e", ns, threads[w.thread]);
        if (unfinished) o.lit(",\"args\":{\"unfinished\":true}");
        o.ch('}');
    };

    auto on_task = [&](thread_state& t, const event& e, int64_t ns) {
        if (!e.task) return;  // 0 is "no task"
        auto [it, fresh] = task_index.try_emplace(e.task, uint32_t(tasks.size()));
        if (fresh) {
            task_state& n = tasks.emplace_back();
            n.id = e.task;
            if (e.kind == fmt::kind::task_spawn && e.where) n.site = uint32_t(e.where - sites.data()) + 1;
        }
        const uint32_t ki = it->second;
        task_state& k = tasks[ki];
        const std::string_view at = e.where ? std::string_view(text[size_t(e.where - sites.data())].at) : std::string_view();
        switch (e.kind) {
            case fmt::kind::task_spawn:
            case fmt::kind::task_complete: {
                const bool spawn = e.kind == fmt::kind::task_spawn;
                next();
                o.lit(spawn ? "{\"name\":\"spawn " : "{\"name\":\"complete ");
                task_name(k);
                async_head(k, "n", ns, t);
                if (spawn && (e.spawn.parent || e.spawn.frame_bytes)) {
                    o.lit(",\"args\":{");
                    if (e.spawn.parent) {
                        o.lit("\"parent\":");
                        o.u64(e.spawn.parent);
                    }
                    if (e.spawn.frame_bytes) {
                        if (e.spawn.parent) o.ch(',');
                        o.lit("\"frame_bytes\":");
                        o.u64(e.spawn.frame_bytes);
                    }
                    o.ch('}');
                }
                o.ch('}');
                break;
            }
            case fmt::kind::task_wake: {
                uint64_t flow = 0;
                if (k.pending < max_pending_wakes) k.flows[k.pending++] = flow = ++flows;
                next();
                o.lit("{\"name\":\"wake ");
                task_name(k);
                o.lit("\",\"cat\":\"task\",\"ph\":\"i\",\"s\":\"t\",\"ts\":");
                o.micros(ns);
                o.lit(t.ids);
                o.lit(",\"args\":{\"task\":");
                o.u64(k.id);
                if (e.wake.waker) {
                    o.lit(",\"waker\":");
                    o.u64(e.wake.waker);
                }
                o.lit("}}");
                if (flow) {
                    next();
                    o.lit("{\"name\":\"wake\",\"cat\":\"task\",\"ph\":\"s\",\"id\":");
                    o.u64(flow);
                    o.lit(",\"ts\":");
                    o.micros(ns);
                    o.lit(t.ids);
                    o.ch('}');
                }
                break;
            }
            case fmt::kind::task_poll_begin: {
                if (t.open.size() >= max_depth) {
                    ++t.hidden;
                    k.pending = 0;
                    return;
                }
                t.open.push_back(poll_entry | ki);
                next();
                o.lit("{\"name\":\"poll ");
                task_name(k);
                o.lit("\",\"cat\":\"task\",\"ph\":\"B\",\"ts\":");
                o.micros(ns);
                o.lit(t.ids);
                o.lit(",\"args\":{\"task\":");
                o.u64(k.id);
                o.lit("}}");
                for (uint32_t i = 0; i < k.pending; ++i) {
                    next();
                    o.lit("{\"name\":\"wake\",\"cat\":\"task\",\"ph\":\"f\",\"bp\":\"e\",\"id\":");
                    o.u64(k.flows[i]);
                    o.lit(",\"ts\":");
                    o.micros(ns);
                    o.lit(t.ids);
                    o.ch('}');
                }
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
                    end_event(t, t.open.back(), ns, false);
                    t.open.pop_back();
                }
                t.open.pop_back();
                end_event(t, poll_entry | ki, ns, false, at);
                break;
            }
            case fmt::kind::wait_begin: {
                if (k.waits.size() >= max_waits) return;
                k.waits.push_back({e.res.id, e.res.op, e.thread});
                next();
                o.lit("{\"name\":\"");
                wait_name(e.res.id, e.res.op);
                async_head(k, "b", ns, t);
                o.lit(",\"args\":{\"resource\":");
                o.u64(e.res.id);
                if (!at.empty()) {
                    o.lit(",\"await\":\"");
                    o.lit(at);
                    o.ch('"');
                }
                o.lit("}}");
                break;
            }
            case fmt::kind::wait_end: {
                size_t n = k.waits.size();
                while (n > 0 && (k.waits[n - 1].resource != e.res.id || k.waits[n - 1].op != e.res.op)) --n;
                if (n == 0) return;  // its begin was overwritten
                while (k.waits.size() >= n) {
                    wait_end(k, k.waits.back(), ns, false);
                    k.waits.pop_back();
                }
                break;
            }
            default: return;  // resource_op: not drawn
        }
        o.maybe_flush();
    };

    if (!h.process_name.empty()) {
        next();
        o.lit("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":");
        o.lit(pid);
        o.lit(",\"tid\":0,\"args\":{\"name\":");
        o.str(h.process_name);
        o.lit("}}");
    }
    for (size_t i = 0; i < threads.size(); ++i)
        if (!c.threads()[i].name.empty()) thread_name(threads[i], c.threads()[i].name);

    auto r = in.read([&](const event& e) {
        if (e.thread >= threads.size()) return;  // the reader only yields threads of the capture
        thread_state& t = threads[e.thread];
        const int64_t ns = shifted(e.ns, offset_ns);
        t.last_ns = ns;
        if (e.kind == fmt::kind::thread_name) {
            thread_name(t, e.thread_name);
            o.maybe_flush();
            return;
        }
        if (uint8_t(e.kind) >= fmt::kind_first_task && uint8_t(e.kind) <= fmt::kind_last_task) {
            on_task(t, e, ns);
            return;
        }
        if (!e.where) return;
        const auto si = uint32_t(e.where - sites.data());
        if (si >= sites.size()) return;
        const site_text& st = text[si];
        char ph;
        switch (e.kind) {
            case fmt::kind::span_begin:
                if (t.open.size() >= max_depth) {
                    ++t.hidden;
                    return;
                }
                t.open.push_back(si);
                ph = 'B';
                break;
            case fmt::kind::span_end: {
                if (t.hidden) {
                    --t.hidden;
                    return;
                }
                // Ends pair with the innermost open begin of the same site. An
                // end with no such begin lost it to the ring's overwrite; spans
                // opened inside it and never ended (damaged slots) close here.
                const size_t k = pairing::find_begin(t.open, t.open.size(), [&](auto v) { return v == si; });
                if (k == pairing::none) return;
                while (t.open.size() > k) {
                    end_event(t, t.open.back(), ns, false);
                    t.open.pop_back();
                }
                t.open.pop_back();
                end_event(t, si, ns, false);
                o.maybe_flush();
                return;
            }
            case fmt::kind::instant: ph = 'i'; break;
            case fmt::kind::counter: ph = 'C'; break;
            default: return;
        }
        next();
        o.lit(st.head);
        o.ch(ph);
        o.lit(ph == 'i' ? "\",\"s\":\"t\",\"ts\":" : "\",\"ts\":");
        o.micros(ns);
        o.lit(t.ids);
        if (ph == 'C') {
            if (e.nargs) {
                o.lit(",\"args\":{\"value\":");
                write_arg_value(o, e.args[0]);
                o.ch('}');
            }
        } else if (e.nargs) {
            o.lit(",\"args\":{");
            for (uint32_t i = 0; i < e.nargs; ++i) {
                if (i) o.ch(',');
                o.lit(i < st.keys.size() ? std::string_view(st.keys[i]) : std::string_view("\"?\":"));
                write_arg_value(o, e.args[i]);
            }
            o.ch('}');
        }
        o.ch('}');
        if (ph == 'B' && !marks.empty()) {
            // Flows of bbx merge that start or end on this span.
            auto m = std::equal_range(marks.begin(), marks.end(), flow_mark{e.thread, e.ticks, e.where->id, 0, false},
                                      same_span_before);
            for (auto i = m.first; i != m.second; ++i) {
                next();
                o.lit(i->start ? "{\"name\":\"rpc\",\"cat\":\"rpc\",\"ph\":\"s\",\"id\":"
                               : "{\"name\":\"rpc\",\"cat\":\"rpc\",\"ph\":\"f\",\"bp\":\"e\",\"id\":");
                o.u64(i->id);
                o.lit(",\"ts\":");
                o.micros(ns);
                o.lit(t.ids);
                o.ch('}');
            }
        }
        o.maybe_flush();
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    for (thread_state& t : threads) {
        while (!t.open.empty()) {
            end_event(t, t.open.back(), t.last_ns, true);
            t.open.pop_back();
            o.maybe_flush();
        }
    }
    // Waits still open: closed at the capture's last timestamp.
    int64_t last_ns = INT64_MIN;
    for (const thread_state& t : threads) last_ns = std::max(last_ns, t.last_ns);
    for (task_state& k : tasks) {
        while (!k.waits.empty()) {
            wait_end(k, k.waits.back(), last_ns, true);
            k.waits.pop_back();
            o.maybe_flush();
        }
    }
    return true;
}

}  // namespace

bool write_chrome(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                  std::string& err) {
    shared_out so(out);
    json_out& o = so.o;
    // Span flows take ids 1 .. flows.size(); wake flows follow.
    std::vector<std::vector<flow_mark>> marks(sources.size());
    for (size_t k = 0; k < flows.size(); ++k) {
        const span_key& f = flows[k].from;
        const span_key& t = flows[k].to;
        if (f.source < sources.size()) marks[f.source].push_back({f.thread, f.ticks, f.site, k + 1, true});
        if (t.source < sources.size()) marks[t.source].push_back({t.thread, t.ticks, t.site, k + 1, false});
    }
    for (auto& m : marks) std::stable_sort(m.begin(), m.end(), same_span_before);
    so.flows = flows.size();
    o.lit("{\"traceEvents\":[\n");
    for (size_t i = 0; i < sources.size(); ++i) {
        const capture& c = *sources[i].c;
        if (!write_source(so, input(c, sources[i].filter), sources[i].offset_ns, sources[i].pid, marks[i], err)) {
            if (sources.size() > 1) err = c.name() + ": " + err;
            return false;
        }
    }
    o.lit("\n],\"displayTimeUnit\":\"ns\"}\n");
    o.flush();
    if (!o.failed && std::fflush(out) != 0) o.sys_errno = errno;
    if (o.failed || o.sys_errno || std::ferror(out)) {
        err = std::string("write failed: ") + std::strerror(o.sys_errno ? o.sys_errno : EIO);
        return false;
    }
    return true;
}

bool write_chrome(const input& in, std::FILE* out, std::string& err) {
    return write_chrome({merge_source{in.cap, 0, in.cap->header().pid, in.filter}}, {}, out, err);
}

}  // namespace bbx::dec
