// The OpenTelemetry export (bbx convert --to otlp): a capture with nested
// spans, a client and a server joined by a traceparent, a remote parent,
// arguments of every type, span events and an unfinished span goes out as
// OTLP/JSON Lines; python3's json module reads it back under a checker that
// enforces the OTLP JSON mapping (opentelemetry-proto docs/specification.md
// "JSON Protobuf Encoding", trace.proto, common.proto) and prints what it
// read, which is compared with what the test recorded.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/context.hpp"
#include "bbx/crash.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/proto_reader.hpp"
#include "support/capture.hpp"
#include "support/python.hpp"

using bbx::span_role;
using bbx::trace_context;
using bbx::dec::capture;
using bbx_test::hex;
using bbx_test::this_tid;

namespace {

// Validates every line and prints, per span (spanId first):
//   S <spanId> <traceId> <parentSpanId|-> <kind> <flags> <start> <end> <droppedAttributesCount> <droppedEventsCount> <name>|<attrs>
//   E <spanId> <time> <name>|<attrs>
//   X <spanId> <status code> <status message>
// and once R <resource attrs>, then "OK <lines> <spans>". Attributes are
// key=t:value joined by spaces: i:<int>, s:<hex of the UTF-8>, f:<repr or
// NaN/Infinity/-Infinity>, b:true|false.

struct ev_out {
    uint64_t time = 0;
    std::string name;
    std::map<std::string, std::string> attrs;
};

struct span_out {
    std::string id, trace, parent;  // parent "-": none
    int kind = 0;
    uint64_t flags = 0, start = 0, end = 0, dropped_attrs = 0, dropped_events = 0;
    std::string name;
    std::string attr_text;                    // as printed, in order
    std::map<std::string, std::string> attrs;
    std::vector<ev_out> events;
    int status = -1;                          // -1: no status
    std::string status_message;
};

struct readback {
    std::string resource;
    std::map<std::string, std::vector<span_out>> by_name;
    std::map<std::string, span_out*> by_id;
    std::vector<span_out> all;
    size_t lines = 0, spans = 0;
};

std::map<std::string, std::string> split_attrs(const std::string& s) {
    std::map<std::string, std::string> m;
    size_t at = 0;
    while (at < s.size()) {
        size_t sp = s.find(' ', at);
        if (sp == std::string::npos) sp = s.size();
        std::string kv = s.substr(at, sp - at);
        size_t eq = kv.find('=');
        if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
        at = sp + 1;
    }
    return m;
}

std::vector<std::string> words(const std::string& s, size_t n, std::string& rest) {
    std::vector<std::string> w;
    size_t at = 0;
    while (w.size() < n) {
        size_t sp = s.find(' ', at);
        REQUIRE(sp != std::string::npos);
        w.push_back(s.substr(at, sp - at));
        at = sp + 1;
    }
    rest = s.substr(at);
    return w;
}

uint64_t to_u64(const std::string& s) {
    uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    REQUIRE(r.ec == std::errc());
    return v;
}

// Read back by tests/support/otlp.py, which checks every line.
readback read_otlp(const std::string& jsonl, const std::string& remote_parents, const std::string&) {
    readback rb;
    int status = 0;
    const std::string output = run_python("otlp.py", {jsonl, remote_parents}, status);
    INFO("python3 said:\n" << output.substr(0, 4000));
    REQUIRE(status == 0);
    std::vector<std::string> event_lines, status_lines;
    size_t at = 0;
    bool ok = false;
    while (at < output.size()) {
        size_t nl = output.find('\n', at);
        if (nl == std::string::npos) nl = output.size();
        const std::string line = output.substr(at, nl - at);
        at = nl + 1;
        std::string rest;
        if (line.rfind("R ", 0) == 0) {
            rb.resource = line.substr(2);
        } else if (line.rfind("S ", 0) == 0) {
            auto w = words(line.substr(2), 9, rest);
            span_out s;
            s.id = w[0];
            s.trace = w[1];
            s.parent = w[2];
            s.kind = int(to_u64(w[3]));
            s.flags = to_u64(w[4]);
            s.start = to_u64(w[5]);
            s.end = to_u64(w[6]);
            s.dropped_attrs = to_u64(w[7]);
            s.dropped_events = to_u64(w[8]);
            size_t bar = rest.find('|');
            REQUIRE(bar != std::string::npos);
            s.name = rest.substr(0, bar);
            s.attr_text = rest.substr(bar + 1);
            s.attrs = split_attrs(s.attr_text);
            rb.all.push_back(std::move(s));
        } else if (line.rfind("E ", 0) == 0 || line.rfind("X ", 0) == 0) {
            (line[0] == 'E' ? event_lines : status_lines).push_back(line);
        } else if (line.rfind("OK ", 0) == 0) {
            auto w = words(line.substr(3) + " ", 2, rest);
            rb.lines = to_u64(w[0]);
            rb.spans = to_u64(w[1]);
            ok = true;
        } else {
            FAIL("unexpected checker output: " << line);
        }
    }
    REQUIRE(ok);
    for (span_out& s : rb.all) rb.by_id[s.id] = &s;
    for (const std::string& l : event_lines) {
        std::string rest;
        auto w = words(l.substr(2), 2, rest);
        size_t bar = rest.find('|');
        REQUIRE(bar != std::string::npos);
        REQUIRE(rb.by_id.count(w[0]));
        rb.by_id[w[0]]->events.push_back({to_u64(w[1]), rest.substr(0, bar), split_attrs(rest.substr(bar + 1))});
    }
    for (const std::string& l : status_lines) {
        std::string rest;
        auto w = words(l.substr(2), 2, rest);
        REQUIRE(rb.by_id.count(w[0]));
        rb.by_id[w[0]]->status = int(to_u64(w[1]));
        rb.by_id[w[0]]->status_message = rest;
    }
    for (span_out& s : rb.all) rb.by_name[s.name].push_back(s);
    return rb;
}

std::string id16(uint64_t v) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
}
std::string id32(uint64_t hi, uint64_t lo) { return id16(hi) + id16(lo); }
std::string trace_of(const trace_context& c) { return id32(c.trace_hi, c.trace_lo); }

// Converts the capture at `path` into `path`.jsonl with write_otlp.
std::string convert(const std::string& path) {
    auto r = capture::open(path);
    REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
    const std::string out = path + ".jsonl";
    std::FILE* f = std::fopen(out.c_str(), "wb");
    REQUIRE(f);
    std::string err;
    const bool ok = bbx::dec::write_otlp(*r.value(), f, err);
    std::fclose(f);
    INFO(err);
    REQUIRE(ok);
    return out;
}

// Unix ns of every event the reader yields, per tid: each span and event time
// the converter writes must be one of its thread's.
std::map<uint32_t, std::set<uint64_t>> unix_times(const std::string& path, std::map<uint32_t, uint64_t>* last = nullptr) {
    auto r = capture::open(path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    std::map<uint32_t, std::set<uint64_t>> t;
    REQUIRE(!c.for_each_event([&](const bbx::dec::event& e) {
                   const uint32_t tid = c.threads()[e.thread].tid;
                   const uint64_t u = c.start_realtime_ns() + uint64_t(e.ns);
                   t[tid].insert(u);
                   if (last) (*last)[tid] = u;
               }).is_error());
    return t;
}

int* volatile g_null = nullptr;  // a write through it is a SIGSEGV the compiler cannot see coming

const span_out& only(readback& rb, const std::string& name) {
    INFO("span " << name);
    REQUIRE(rb.by_name.count(name));
    REQUIRE(rb.by_name[name].size() == 1);
    return rb.by_name[name][0];
}

}  // namespace

TEST_CASE("otlp: spans, identities across a traceparent, arguments, events and unfinished spans, checked by python3") {
    temp_capture tc("otlp");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 1024;
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());

    trace_context root, client, server, ext;
    uint64_t client_parent = 0, server_parent = 0, ext_parent = 0;
    uint32_t tid_a = 0, tid_b = 0, tid_c = 0;
    uint32_t request_line = 0;
    constexpr int ticks = 2500;  // more spans than one line holds
    const std::string ext_tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    std::mutex mu;
    std::condition_variable cv;
    bool stuck_ready = false, release = false;
    std::thread c_thread([&] {
        tid_c = this_tid();
        BBX_SPAN(INFO, "loop", "outer_loop");
        {
            BBX_SPAN(INFO, "loop", "stuck", bbx::arg("attempt", 3));
            BBX_INSTANT(INFO, "loop", "waiting");
            std::unique_lock lock(mu);
            stuck_ready = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
        }
    });
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stuck_ready; });
    }

    std::thread([&] {
        tid_a = this_tid();
        bbx::set_thread_name("client");
        BBX_INSTANT(INFO, "app", "outside_any_span");
        {
            request_line = __LINE__ + 1;
            BBX_SPAN(INFO, "app", "request", bbx::arg("count", int64_t(-5)), bbx::arg("big", (uint64_t(1) << 63) | 7),
                     bbx::arg("small", uint64_t(42)), bbx::arg("ratio", 2.5), bbx::arg("nan", std::nan("")),
                     bbx::arg("ok", true), bbx::arg("who", std::string_view("h\xc3\xa9")),
                     bbx::arg("bad", std::string_view("bad\xff", 4)));
            bbx::context_scope r(span_role::server);
            root = r.context();
            {
                BBX_SPAN(INFO, "app", "inner_work");
                BBX_INSTANT(INFO, "net", "sent", bbx::arg("bytes_sent", 1234), bbx::arg("peer", "db"));
            }
            {
                BBX_SPAN(INFO, "app", "dups", bbx::arg("k", 1), bbx::arg("k", 2));
            }
            {
                BBX_SPAN(INFO, "rpc", "call_backend");
                bbx::context_scope call(span_role::client);
                client = call.context();
                client_parent = call.parent_span_id();
                char tp[56];
                bbx::format_traceparent(call.context(), tp);
                const std::string header(tp);
                std::thread([&] {  // the "other service"
                    tid_b = this_tid();
                    bbx::set_thread_name("server");
                    {
                        BBX_SPAN(INFO, "rpc", "serve");
                        bbx::context_scope srv(span_role::server, bbx::parse_traceparent(header).context);
                        server = srv.context();
                        server_parent = srv.parent_span_id();
                        BBX_SPAN(INFO, "db", "db_query", bbx::arg("rows", 3));
                    }
                    {
                        BBX_SPAN(INFO, "rpc", "ext_serve");
                        bbx::context_scope srv(span_role::server, bbx::parse_traceparent(ext_tp).context);
                        ext = srv.context();
                        ext_parent = srv.parent_span_id();
                    }
                }).join();
            }
        }
        for (int i = 0; i < ticks; ++i) {
            BBX_SPAN(DEBUG, "app", "tick", bbx::arg("i", i));
        }
    }).join();
    bbx::stop();
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    c_thread.join();

    std::map<uint32_t, uint64_t> last;
    const auto times = unix_times(tc.path, &last);
    const std::string jsonl = convert(tc.path);
    readback rb = read_otlp(jsonl, id16(0xb7ad6b7169203331u), "main");
    unlink(jsonl.c_str());

    // Lines: 1000 spans at most each; every span there.
    const size_t want_spans = 9 + ticks;
    CHECK(rb.spans == want_spans);
    CHECK(rb.lines == (want_spans + 999) / 1000);
    // Resource.
    auto res = split_attrs(rb.resource);
    CHECK(res["process.pid"] == "i:" + std::to_string(getpid()));
    {
        auto r = capture::open(tc.path);
        REQUIRE(!r.is_error());
        CHECK(res["service.name"] == "s:" + hex(r.value()->header().process_name));
        CHECK(!r.value()->header().process_name.empty());
    }
    // Every time is a time of its thread's events.
    for (const span_out& s : rb.all) {
        INFO("span " << s.name << " " << s.attr_text);
        REQUIRE(s.attrs.count("thread.id"));
        const uint32_t tid = uint32_t(std::stoul(s.attrs.at("thread.id").substr(2)));
        REQUIRE(times.count(tid));
        CHECK(times.at(tid).count(s.start));
        CHECK(times.at(tid).count(s.end));
        for (const ev_out& e : s.events) CHECK(times.at(tid).count(e.time));
        CHECK((s.kind >= 1 && s.kind <= 5));
    }

    const span_out& request = only(rb, "request");
    CHECK(request.trace == trace_of(root));
    CHECK(request.id == id16(root.span_id));
    CHECK(request.parent == "-");
    CHECK(request.kind == 2);
    CHECK(request.flags == 0x01);  // a root: sampled, and no parent to call local
    CHECK(request.attr_text.rfind("count=i:-5 big=s:" + hex("9223372036854775815") +
                                      " small=i:42 ratio=f:2.5 nan=f:NaN ok=b:true who=s:" + hex("h\xc3\xa9") +
                                      " bad=s:" + hex("bad\xef\xbf\xbd") + " ",
                                  0) == 0);
    CHECK(request.attrs.at("code.line.number") == "i:" + std::to_string(request_line));
    CHECK(request.attrs.at("code.file.path") == "s:" + hex(__FILE__));
    CHECK(request.attrs.at("bbx.category") == "s:" + hex("app"));
    CHECK(request.attrs.at("thread.id") == "i:" + std::to_string(tid_a));
    CHECK(request.attrs.at("thread.name") == "s:" + hex("client"));
    CHECK(request.attrs.count("bbx.unfinished") == 0);
    CHECK(request.status == -1);
    CHECK(request.events.empty());  // the instant before it is outside every span: not exported
    for (const span_out& s : rb.all)
        for (const ev_out& e : s.events) CHECK(e.name != "outside_any_span");

    const span_out& inner = only(rb, "inner_work");
    CHECK(inner.trace == trace_of(root));
    CHECK(inner.parent == id16(root.span_id));
    CHECK(inner.kind == 1);
    CHECK(inner.flags == 0x101);  // the trace's flags, parent local and known
    CHECK(inner.id != id16(root.span_id));
    REQUIRE(inner.events.size() == 1);
    CHECK(inner.events[0].name == "sent");
    CHECK(inner.events[0].attrs == std::map<std::string, std::string>{{"bytes_sent", "i:1234"}, {"peer", "s:" + hex("db")}});
    CHECK(inner.start >= request.start);
    CHECK(inner.end <= request.end);

    const span_out& dups = only(rb, "dups");
    CHECK(dups.attr_text.rfind("k=i:1 ", 0) == 0);  // the first of a repeated key is kept
    CHECK(dups.dropped_attrs == 1);

    const span_out& call = only(rb, "call_backend");
    CHECK(call.trace == trace_of(root));
    CHECK(call.id == id16(client.span_id));
    CHECK(client_parent == root.span_id);
    CHECK(call.parent == id16(root.span_id));
    CHECK(call.kind == 3);
    CHECK(call.flags == 0x101);

    const span_out& serve = only(rb, "serve");
    CHECK(serve.trace == trace_of(root));  // one trace across the traceparent
    CHECK(serve.id == id16(server.span_id));
    CHECK(server_parent == client.span_id);
    CHECK(serve.parent == id16(client.span_id));
    CHECK(serve.kind == 2);
    CHECK(serve.flags == 0x01);  // its parent is not its thread's enclosing span: locality not claimed
    CHECK(serve.attrs.at("thread.id") == "i:" + std::to_string(tid_b));
    CHECK(serve.attrs.at("thread.name") == "s:" + hex("server"));
    CHECK(serve.start >= call.start);
    CHECK(serve.end <= call.end);

    const span_out& db = only(rb, "db_query");
    CHECK(db.trace == trace_of(root));
    CHECK(db.parent == id16(server.span_id));
    CHECK(db.kind == 1);
    CHECK(db.attr_text.rfind("rows=i:3 ", 0) == 0);

    const span_out& es = only(rb, "ext_serve");
    CHECK(es.trace == "0af7651916cd43dd8448eb211c80319c");
    CHECK(es.trace == trace_of(ext));
    CHECK(es.id == id16(ext.span_id));
    CHECK(ext_parent == 0xb7ad6b7169203331u);
    CHECK(es.parent == "b7ad6b7169203331");  // a remote parent (the checker was told)

    // A span with no context and no enclosing span starts its own trace.
    const span_out& outer = only(rb, "outer_loop");
    const span_out& stuck = only(rb, "stuck");
    CHECK(outer.parent == "-");
    CHECK(outer.trace != trace_of(root));
    CHECK(stuck.trace == outer.trace);
    CHECK(stuck.parent == outer.id);
    CHECK(outer.attrs.at("bbx.unfinished") == "b:true");
    CHECK(stuck.attrs.at("bbx.unfinished") == "b:true");
    CHECK(stuck.attr_text.rfind("attempt=i:3 ", 0) == 0);
    CHECK(outer.end == last.at(tid_c));  // the thread's last timestamp
    CHECK(stuck.end == last.at(tid_c));
    REQUIRE(stuck.events.size() == 1);
    CHECK(stuck.events[0].name == "waiting");
    CHECK(stuck.events[0].attrs.empty());

    // The ticks: each its own trace, distinct ids, argument kept.
    REQUIRE(rb.by_name["tick"].size() == size_t(ticks));
    std::set<std::string> tick_traces, ids;
    std::set<std::string> tick_args;
    for (const span_out& s : rb.by_name["tick"]) {
        tick_traces.insert(s.trace);
        tick_args.insert(s.attrs.at("i"));
        CHECK(s.parent == "-");
        CHECK(s.attrs.count("bbx.unfinished") == 0);
    }
    for (const span_out& s : rb.all) ids.insert(s.id);
    CHECK(tick_traces.size() == size_t(ticks));
    CHECK(tick_args.size() == size_t(ticks));
    CHECK(ids.size() == rb.all.size());
}

TEST_CASE("otlp: a crash becomes an exception event and status ERROR on the open span, or a span of its own") {
    for (bool in_span : {true, false}) {
        INFO("crash inside a span: " << in_span);
        temp_capture tc(in_span ? "otlp-crash-span" : "otlp-crash-bare");
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            rlimit no_core{0, 0};
            setrlimit(RLIMIT_CORE, &no_core);
            signal(SIGSEGV, SIG_DFL);  // not doctest's handler, which would report a crash of this test
            bbx::config cfg;
            cfg.path = tc.path.c_str();
            cfg.max_threads = 2;
            if (!bbx::start(cfg).ok() || !bbx::install_crash_handler()) _exit(3);
            BBX_SPAN(INFO, "app", "doomed");
            bbx::context_scope s(span_role::server);
            const uint64_t id = s.context().span_id;
            if (write(fds[1], &id, sizeof id) != ssize_t(sizeof id)) _exit(4);
            if (!in_span) {
                bbx::stop();  // record the crash in a new session, where no span is open
                unlink(tc.path.c_str());
                if (!bbx::start(cfg).ok()) _exit(5);
            }
            *g_null = 1;
            _exit(6);
        }
        close(fds[1]);
        uint64_t span_id = 0;
        ssize_t got = read(fds[0], &span_id, sizeof span_id);
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        REQUIRE(got == ssize_t(sizeof span_id));
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGSEGV);

        const std::string jsonl = convert(tc.path);
        readback rb = read_otlp(jsonl, "", in_span ? "crash1" : "crash2");
        unlink(jsonl.c_str());
        const span_out& s = only(rb, in_span ? "doomed" : "crash");
        if (in_span) {
            CHECK(s.id == id16(span_id));
            CHECK(s.kind == 2);
            CHECK(s.attrs.at("bbx.unfinished") == "b:true");
        } else {
            CHECK(rb.spans == 1);
            CHECK(s.start == s.end);
        }
        CHECK(s.status == 2);
        CHECK(s.status_message == "SIGSEGV");
        REQUIRE(s.events.size() == 1);
        const ev_out& e = s.events[0];
        CHECK(e.name == "exception");
        CHECK(e.attrs.at("exception.type") == "s:" + hex("SIGSEGV"));
        REQUIRE(e.attrs.count("exception.message"));
        REQUIRE(e.attrs.count("exception.stacktrace"));
        CHECK(e.time == s.end);  // the thread's last event
    }
}

TEST_CASE("otlp: a task is a span over its lifetime: parent task, spans in its polls, polls and waits summed, awaits as events") {
    temp_capture tc("otlp-tasks");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    uint32_t await_line = 0;
    const bbx::task_id parent = bbx::new_task_id(), child = bbx::new_task_id();
    std::thread([&] {
        const bbx::resource_id queue = bbx::register_resource(bbx::resource_kind::channel, "queue", 1);
        BBX_TASK_SPAWN("parent_task", parent, 0, 256);
        bbx::task_wake(parent);
        {
            bbx::poll_scope p(parent);
            BBX_SPAN(INFO, "work", "inside_poll");
            BBX_TASK_SPAWN("child_task", child, bbx::current_task(), 64);
            bbx::task_wake(child);
            await_line = __LINE__ + 1;
            bbx::note_await();
        }
        {
            bbx::poll_scope p(child);
            bbx::wait_begin(child, queue, bbx::resource_op::recv);
        }
        bbx::wait_end(child, queue, bbx::resource_op::recv);
        bbx::task_wake(child);
        {
            bbx::poll_scope p(child);
            BBX_INSTANT(INFO, "work", "in_child_poll");  // no span open: an event of the task's span
            bbx::task_complete(child);
        }
    }).join();
    bbx::stop();

    const std::string jsonl = convert(tc.path);
    readback rb = read_otlp(jsonl, "", "otlp-tasks");
    unlink(jsonl.c_str());
    const span_out& p = only(rb, "parent_task");
    const span_out& c = only(rb, "child_task");
    const span_out& in = only(rb, "inside_poll");
    // The tree: the parent task a root; its poll's span and its child task under it, one trace.
    CHECK(p.parent == "-");
    CHECK(in.parent == p.id);
    CHECK(c.parent == p.id);
    CHECK(in.trace == p.trace);
    CHECK(c.trace == p.trace);
    CHECK(p.attrs.at("bbx.task.id") == "i:" + std::to_string(parent));
    CHECK(c.attrs.at("bbx.task.parent") == "i:" + std::to_string(parent));
    CHECK(c.attrs.at("bbx.task.frame_bytes") == "i:64");
    // The parent never completed: it ends with the capture, unfinished.
    CHECK(p.attrs.at("bbx.task.state") == "s:" + hex("unfinished"));
    CHECK(p.attrs.at("bbx.unfinished") == "b:true");
    CHECK(p.attrs.at("bbx.task.polls") == "i:1");
    CHECK(c.attrs.at("bbx.task.state") == "s:" + hex("done"));
    CHECK(c.attrs.count("bbx.unfinished") == 0);
    CHECK(c.attrs.at("bbx.task.polls") == "i:2");
    CHECK(c.attrs.at("bbx.task.wakes") == "i:2");
    CHECK(c.attrs.at("bbx.task.waits") == "i:1");
    CHECK(std::stoull(c.attrs.at("bbx.task.busy_ns").substr(2)) >= std::stoull(c.attrs.at("bbx.task.longest_poll_ns").substr(2)));
    CHECK(std::stoull(c.attrs.at("bbx.task.wait_ns").substr(2)) > 0);
    CHECK(p.attrs.at("bbx.category") == "s:" + hex("task"));
    // Where the parent suspended: an "await" event at that line.
    REQUIRE(p.events.size() == 1);
    CHECK(p.events[0].name == "await");
    CHECK(p.events[0].attrs.at("code.line.number") == "i:" + std::to_string(await_line));
    CHECK(p.events[0].attrs.count("bbx.poll_ns") == 1);
    // The child's wait, with its resource, and the instant of its poll.
    std::set<std::string> names;
    for (const ev_out& e : c.events) names.insert(e.name);
    CHECK(names == std::set<std::string>{"wait", "in_child_poll"});
    for (const ev_out& e : c.events)
        if (e.name == "wait") {
            CHECK(e.attrs.at("bbx.resource.name") == "s:" + hex("queue"));
            CHECK(e.attrs.at("bbx.resource.op") == "s:" + hex("recv"));
        }
}
