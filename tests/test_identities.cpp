// Identities outlive the window (format 1.4, spec/identities.md): a task
// whose spawn event the ring overwrote long ago keeps its name, spawn site,
// parent and frame size in every verb, from the task table; a span context
// still open keeps its identity from the ring's open span contexts; both
// tables overflow with a count every verb states.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/context.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"
#include "support/trace_processor.hpp"

using bbx::dec::capture;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string hex16(uint64_t v) {
    char b[17];
    std::snprintf(b, sizeof b, "%016" PRIx64, v);
    return b;
}

int spawn_line = 0;  // the line of the early task's BBX_TASK_SPAWN

struct early_run {
    uint64_t early = 0, late = 0;
    bbx::trace_context ctx;  // the context_scope still open at the end
};

// On one thread: a server span with its context_scope, an early task
// spawned inside it, then enough instants to overwrite both spawn and
// span_context many times over, then a late task, a child span, and a poll
// of the early task. The scope is still open when the capture stops.
early_run record_early(const std::string& path, uint32_t tasks) {
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.ring_kb = 4;  // 128 slots
    cfg.max_threads = 4;
    cfg.tasks = tasks;
    REQUIRE(bbx::start(cfg).ok());
    early_run run;
    {
        BBX_SPAN(INFO, "rpc", "serve");
        bbx::context_scope server(bbx::span_role::server);
        run.ctx = server.context();
        run.early = bbx::new_task_id();
        spawn_line = __LINE__ + 1;
        BBX_TASK_SPAWN("early_task", run.early, 0, 4096);
        for (int i = 0; i < 2000; ++i) BBX_INSTANT(INFO, "fill", "tick", bbx::arg("i", i));
        run.late = bbx::new_task_id();
        BBX_TASK_SPAWN("late_task", run.late, run.early, 64);
        {
            BBX_SPAN(INFO, "rpc", "late_child");
            { bbx::poll_scope poll(run.early); }
            { bbx::poll_scope poll(run.late); }
        }
        bbx::task_complete(run.late);
        bbx::stop();
    }
    return run;
}

// Whether a task's spawn event is among the capture's events.
bool spawn_in_rings(const capture& c, uint64_t task) {
    bool seen = false;
    auto r = c.for_each_event([&](const bbx::dec::event& e) {
        if (e.kind == bbx::format::kind::task_spawn && e.task == task) seen = true;
    });
    REQUIRE(!r.is_error());
    return seen;
}

// The row of task `id` in bbx analyze's task table ("" if none).
std::string task_row(const std::string& text, const std::string& id) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        const size_t b = l.find_first_not_of(' ');
        if (b != std::string::npos && l.compare(b, id.size() + 1, id + " ") == 0) return l;
    }
    return "";
}

}  // namespace

TEST_CASE("a task whose spawn was overwritten long ago keeps its name and spawn site in every verb") {
    temp_capture tc("ident"), other("ident-other");
    const early_run run = record_early(tc.path, 4096);
    const std::string site = "test_identities.cpp:" + std::to_string(spawn_line);
    const std::string id = std::to_string(run.early);

    auto c = capture::open(tc.path);
    REQUIRE(!c.is_error());
    const capture& cap = *c.value();
    CHECK(bbx::format::feature_minor(cap.header().version_major, cap.header().version_minor) >= bbx::format::minor_identities);
    REQUIRE(!spawn_in_rings(cap, run.early));  // overwritten: the test is about this
    CHECK(spawn_in_rings(cap, run.late));
    const bbx::dec::task_identity* ti = cap.find_task_identity(run.early);
    REQUIRE(ti != nullptr);
    REQUIRE(ti->where != nullptr);
    CHECK(ti->where->name == "early_task");
    CHECK(ti->where->line == uint32_t(spawn_line));
    CHECK(ti->frame_bytes == 4096);
    CHECK(!ti->completed);
    const bbx::dec::task_identity* tl = cap.find_task_identity(run.late);
    REQUIRE(tl != nullptr);
    CHECK(tl->completed);
    CHECK(tl->parent == run.early);

    SUBCASE("info shows the region") {
        tool_result r = run_bbx({"info", tc.path});
        REQUIRE(r.status == 0);
        CHECK(r.out.find("identities  2 of 4096 task entries used (1 live, 1 completed), 0 spawns untracked") !=
              std::string::npos);
        CHECK_MESSAGE(r.out.find("1 open span contexts, 0 past 4 deep untracked") != std::string::npos, r.out);
    }
    SUBCASE("dump names it at its first event") {
        tool_result r = run_bbx({"dump", tc.path});
        REQUIRE(r.status == 0);
        CHECK(r.out.find("task=" + id + "  (task table: \"early_task\" spawned at ") != std::string::npos);
        CHECK(r.out.find(site + " parent=0 frame=4096)") != std::string::npos);
    }
    SUBCASE("analyze, text and JSON") {
        tool_result t = run_bbx({"analyze", tc.path});
        REQUIRE(t.status == 0);
        // The task row: its id, name and spawn site.
        const std::string line = task_row(t.out, id);
        REQUIRE_MESSAGE(!line.empty(), t.out);
        CHECK(line.find("early_task") != std::string::npos);
        CHECK(line.find(site) != std::string::npos);
        tool_result j = run_bbx({"analyze", "--json", tc.path});
        REQUIRE(j.status == 0);
        const size_t at = j.out.find("\"id\":" + id + ",");
        REQUIRE(at != std::string::npos);
        const std::string obj = j.out.substr(at, j.out.find('}', j.out.find("\"spawned_at\"", at)) - at);
        CHECK(obj.find("\"name\":\"early_task\"") != std::string::npos);
        CHECK(obj.find("test_identities.cpp") != std::string::npos);
        CHECK(obj.find("\"line\":" + std::to_string(spawn_line)) != std::string::npos);
        CHECK(j.out.find("\"tasks_untracked\":0") != std::string::npos);
    }
    SUBCASE("Chrome JSON, Perfetto, OTLP") {
        const std::string out = tc.path + ".out";
        REQUIRE(run_bbx({"convert", tc.path, "--to", "chrome", "-o", out}).status == 0);
        CHECK(slurp(out).find("early_task #" + id) != std::string::npos);
        REQUIRE(run_bbx({"convert", tc.path, "--to", "perfetto", "-o", out}).status == 0);
        CHECK(slurp(out).find("early_task #" + id) != std::string::npos);
        std::string why;
        if (const std::string reader = tp::find(build_dir(), why); !reader.empty()) {
            const std::string got = tp::query(reader, out, "select name from slice where name like '%early_task%'");
            CHECK_MESSAGE(got.find("\"poll early_task #" + id + "\"") != std::string::npos, got);
        } else {
            MESSAGE("skipped the Perfetto reader check: " << why);
        }
        REQUIRE(run_bbx({"convert", tc.path, "--to", "otlp", "-o", out}).status == 0);
        const std::string otlp = slurp(out);
        CHECK(otlp.find("\"early_task\"") != std::string::npos);
        // The late task's span is a child of the early task's (its parent, from the task table).
        CHECK(otlp.find("{\"key\":\"bbx.task.parent\",\"value\":{\"intValue\":\"" + id + "\"}}") != std::string::npos);
        // The child span begun after the server span's begin and span_context
        // were overwritten: in the server span's trace, its child.
        const size_t child = otlp.find("\"name\":\"late_child\"");
        REQUIRE(child != std::string::npos);
        const size_t open = otlp.rfind("{\"traceId\"", child);
        REQUIRE(open != std::string::npos);
        const std::string span = otlp.substr(open, child - open);
        CHECK(span.find("\"traceId\":\"" + hex16(run.ctx.trace_hi) + hex16(run.ctx.trace_lo) + "\"") != std::string::npos);
        CHECK(span.find("\"parentSpanId\":\"" + hex16(run.ctx.span_id) + "\"") != std::string::npos);
        unlink(out.c_str());
    }
    SUBCASE("merge") {
        bbx::config cfg;
        cfg.path = other.path.c_str();
        REQUIRE(bbx::start(cfg).ok());
        BBX_INSTANT(INFO, "other", "hello");
        bbx::stop();
        const std::string out = tc.path + ".merged";
        tool_result m = run_bbx({"merge", tc.path, other.path, "--to", "chrome", "-o", out});
        REQUIRE_MESSAGE(m.status == 0, m.err);
        CHECK(slurp(out).find("early_task #" + id) != std::string::npos);
        unlink(out.c_str());
    }
}

TEST_CASE("without a task table (tasks = 0) the overwritten spawn leaves the task unnamed") {
    temp_capture tc("ident-off");
    const early_run run = record_early(tc.path, 0);
    auto c = capture::open(tc.path);
    REQUIRE(!c.is_error());
    CHECK(c.value()->find_task_identity(run.early) == nullptr);
    tool_result t = run_bbx({"analyze", tc.path});
    REQUIRE(t.status == 0);
    const std::string line = task_row(t.out, std::to_string(run.early));
    REQUIRE_MESSAGE(!line.empty(), t.out);
    CHECK(line.find("early_task") == std::string::npos);
    CHECK_MESSAGE(line.find(" ? ") != std::string::npos, line);
}

TEST_CASE("the task table overflows with a count every verb states; completed entries are reused") {
    temp_capture tc("ident-full");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.tasks = 8;  // one probe window
    REQUIRE(bbx::start(cfg).ok());
    std::vector<uint64_t> ids;
    for (int i = 0; i < 8; ++i) {  // fill it, complete them all: their entries are free to take again
        ids.push_back(bbx::new_task_id());
        BBX_TASK_SPAWN("done", ids.back(), 0, 0);
        bbx::task_complete(ids.back());
    }
    for (int i = 0; i < 20; ++i) {  // 8 live ones fit, 12 do not
        ids.push_back(bbx::new_task_id());
        BBX_TASK_SPAWN("live", ids.back(), 0, 0);
    }
    // Nested context scopes past the 4 entries of a ring: 2 untracked.
    {
        BBX_SPAN(INFO, "s", "a");
        bbx::context_scope s1(bbx::span_role::internal);
        bbx::context_scope s2(bbx::span_role::internal);
        bbx::context_scope s3(bbx::span_role::internal);
        bbx::context_scope s4(bbx::span_role::internal);
        bbx::context_scope s5(bbx::span_role::internal);
        bbx::context_scope s6(bbx::span_role::internal);
    }
    bbx::stop();
    auto c = capture::open(tc.path);
    REQUIRE(!c.is_error());
    CHECK(c.value()->header().tasks_untracked == 12);
    CHECK(c.value()->header().contexts_untracked == 2);
    CHECK(c.value()->identities().tasks_live == 8);
    CHECK(c.value()->identities().tasks_completed == 0);
    CHECK(c.value()->identities().contexts_open == 0);  // every scope ended
    const std::string phrase = "12 tasks untracked (task table full), 2 span contexts untracked (too deep)";
    tool_result info = run_bbx({"info", tc.path});
    CHECK(info.out.find("8 of 8 task entries used (8 live, 0 completed), 12 spawns untracked") != std::string::npos);
    tool_result dump = run_bbx({"dump", tc.path});
    CHECK(dump.out.find(phrase) != std::string::npos);
    tool_result an = run_bbx({"analyze", tc.path});
    CHECK(an.out.find(phrase) != std::string::npos);
    tool_result aj = run_bbx({"analyze", "--json", tc.path});
    CHECK(aj.out.find("\"tasks_untracked\":12,\"span_contexts_untracked\":2") != std::string::npos);
    const std::string out = tc.path + ".out";
    for (const char* to : {"chrome", "perfetto", "otlp"}) {
        CAPTURE(to);
        REQUIRE(run_bbx({"convert", tc.path, "--to", to, "-o", out}).status == 0);
        CHECK(slurp(out).find(phrase) != std::string::npos);
    }
    unlink(out.c_str());
}

TEST_CASE("spawns and completions on 4 threads while a reader opens the live capture: never a torn entry") {
    temp_capture tc("ident-race");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.tasks = 256;
    REQUIRE(bbx::start(cfg).ok());
    std::atomic<bool> stop{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                const uint64_t id = bbx::new_task_id();
                // parent and frame derive from the id: a torn entry would mix two tasks'.
                BBX_TASK_SPAWN("racer", id, id ^ 0x5555, id * 2);
                bbx::task_complete(id);
            }
        });
    uint64_t checked = 0;
    for (int i = 0; i < 40; ++i) {
        auto c = capture::open(tc.path);
        REQUIRE(!c.is_error());
        const capture& cap = *c.value();
        CHECK(cap.identities().bad == 0);
        for (const bbx::dec::task_identity& ti : cap.task_identities()) {
            ++checked;
            if (ti.parent != (ti.id ^ 0x5555) || ti.frame_bytes != ti.id * 2) FAIL("torn task entry for task " << ti.id);
        }
    }
    stop = true;
    for (auto& t : ts) t.join();
    bbx::stop();
    CHECK(checked > 0);
}
