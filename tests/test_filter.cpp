// Filters (decoder/src/filter.cpp): one recorded capture with three threads,
// categories, levels, nested spans, tasks with nested polls and a wait, and
// a span that stays open across a pause; each option alone and in
// combination must pass exactly the events the test names, keep every
// span, poll and wait whole, and keep a filtered Perfetto trace small and
// balanced.
#include <doctest/doctest.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/context.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

// The capture every test here reads. Threads run one after another, so
// alpha is ring 0, beta ring 1 and gamma ring 2.
struct scenario {
    temp_capture tc;
    std::shared_ptr<capture> cap;
    std::map<uint64_t, std::string> task_names;  // id -> "t1" ...

    explicit scenario(const char* name) : tc(name) {
        bbx::config cfg;
        cfg.path = tc.path.c_str();
        cfg.ring_kb = 256;
        cfg.max_threads = 8;
        REQUIRE(bbx::start(cfg).ok());
        std::thread([] {
            BBX_INSTANT(INFO, "mark", "m0");
            bbx::set_thread_name("alpha");  // after the first event: a thread_name event
            {
                BBX_SPAN(INFO, "io", "outer");
                {
                    BBX_SPAN(DEBUG, "io.disk", "inner", bbx::arg("n", 1));
                    BBX_INSTANT(TRACE, "net", "packet", bbx::arg("s", "hello"));
                }
                BBX_COUNTER(WARN, "stats", "depth", 5);
            }
            // As bbx/asio_tracking.hpp names a started operation (at DEBUG there).
            BBX_INSTANT(ERROR, "asio", "start:socket.async_receive", bbx::arg("task", uint64_t(1)), bbx::arg("handle", uint64_t(3)));
        }).join();
        bbx::task_id t1 = 0, t2 = 0, t3 = 0, t4 = 0;
        std::thread([&] {
            BBX_INSTANT(INFO, "mark", "b0");
            bbx::set_thread_name("beta");
            const bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "jobs", 4);
            t1 = bbx::new_task_id();
            t2 = bbx::new_task_id();
            t3 = bbx::new_task_id();  // never spawned: a task with no name
            BBX_TASK_SPAWN("fetch", t1, 0, 64);
            BBX_TASK_SPAWN("store", t2, 0, 32);
            bbx::task_wake(t1);
            {
                bbx::poll_scope p(t1);
                {
                    BBX_SPAN(INFO, "io", "in_poll");
                }
                BBX_INSTANT(INFO, "mark", "in_t1");
                {
                    bbx::wait_scope w(chan, bbx::resource_op::recv);
                }
                {
                    bbx::poll_scope q(t3);
                    BBX_INSTANT(INFO, "mark", "nested");
                }
                bbx::note_await();
            }
            {
                bbx::poll_scope p(t2);
                BBX_INSTANT(INFO, "mark", "in_t2");
            }
            BBX_INSTANT(INFO, "mark", "outside");
            bbx::task_complete(t1);
        }).join();
        std::thread([&] {
            BBX_INSTANT(INFO, "mark", "g0");
            bbx::set_thread_name("gamma");
            for (int i = 0; i < 2000; ++i) BBX_INSTANT(DEBUG, "bulk", "tick", bbx::arg("i", i));
            t4 = bbx::new_task_id();
            {
                bbx::poll_scope p(t4);
                BBX_SPAN(INFO, "long", "hang");
                BBX_INSTANT(INFO, "mark", "early");
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                BBX_INSTANT(INFO, "mark", "tail");
                BBX_INSTANT(INFO, "mark", "late");
            }
            BBX_INSTANT(INFO, "mark", "last");
        }).join();
        bbx::stop();
        task_names = {{t1, "t1"}, {t2, "t2"}, {t3, "t3"}, {t4, "t4"}};
        auto r = capture::open(tc.path);
        REQUIRE(!r.is_error());
        cap = r.value();
        for (const auto& s : stats_of(*cap).threads) REQUIRE(s.overwritten == 0);
        REQUIRE(cap->threads().size() == 3);
    }
};

// A capture recorded by the test itself, read like a scenario.
struct scenario_view {
    std::shared_ptr<capture> cap;
    std::map<uint64_t, std::string> task_names;
    scenario_view(const std::string& path, std::map<uint64_t, std::string> names) : task_names(std::move(names)) {
        auto r = capture::open(path);
        REQUIRE(!r.is_error());
        cap = r.value();
    }
};

struct rec {
    std::string label;
    fmt::kind kind{};
    uint32_t ring = 0;
    int64_t ns = 0;
    uint32_t site = 0;
    uint64_t task = 0, w1 = 0, w2 = 0;
};

const char* task_kind(fmt::kind k) {
    switch (k) {
        case fmt::kind::task_spawn: return "spawn";
        case fmt::kind::task_poll_begin: return "poll_begin";
        case fmt::kind::task_poll_end: return "poll_end";
        case fmt::kind::task_wake: return "wake";
        case fmt::kind::task_complete: return "complete";
        case fmt::kind::wait_begin: return "wait_begin";
        case fmt::kind::wait_end: return "wait_end";
        case fmt::kind::resource_op: return "resource_op";
        default: return "?";
    }
}

template <class S>
std::vector<rec> collect(const bbx::dec::input& in, const S& s) {
    std::vector<rec> out;
    REQUIRE(!in.read([&](const event& e) {
                   rec r{"", e.kind, e.thread, e.ns, e.where ? e.where->id : 0, e.task, task_values(e).first,
                         task_values(e).second};
                   switch (e.kind) {
                       case fmt::kind::thread_name: r.label = "thread_name " + std::string(e.thread_name); break;
                       case fmt::kind::span_begin: r.label = "begin " + e.where->name; break;
                       case fmt::kind::span_end: r.label = "end " + e.where->name; break;
                       case fmt::kind::counter: r.label = "counter " + e.where->name; break;
                       case fmt::kind::instant: r.label = e.where->name; break;
                       case fmt::kind::span_context: {
                           static const char* roles[] = {"?", "internal", "server", "client", "producer", "consumer"};
                           r.label = std::string("context ") + roles[e.context.role <= 5 ? e.context.role : 0];
                           break;
                       }
                       default: {
                           auto it = s.task_names.find(e.task);
                           r.label = std::string(task_kind(e.kind)) + " " + (it == s.task_names.end() ? "?" : it->second);
                       }
                   }
                   out.push_back(r);
               }).is_error());
    return out;
}

using opts = std::vector<std::pair<std::string, std::string>>;

bbx::dec::filter_spec spec_of(const opts& o) {
    bbx::dec::filter_spec spec;
    for (const auto& kv : o) {
        const std::string e = spec.add(kv.first, kv.second);
        REQUIRE_MESSAGE(e.empty(), kv.first << " " << kv.second << ": " << e);
    }
    return spec;
}

// The events the options keep, through the library API.
template <class S>
std::vector<rec> filtered(S& s, const opts& o) {
    bbx::dec::filter_error err;
    auto f = bbx::dec::event_filter::make(spec_of(o), *s.cap, err);
    REQUIRE_MESSAGE(f, err.what);
    return collect(bbx::dec::input(*s.cap, f.get()), s);
}

// Event labels in order; doctest prints them when a comparison fails.
struct L {
    std::vector<std::string> v;
    L() = default;
    L(std::initializer_list<std::string> l) : v(l) {}
    bool operator==(const L& o) const { return v == o.v; }
};
std::ostream& operator<<(std::ostream& os, const L& l) {
    os << "[";
    for (size_t i = 0; i < l.v.size(); ++i) os << (i ? ", " : "") << l.v[i];
    return os << "]";
}

L labels(const std::vector<rec>& v, bool with_ticks = false) {
    L l;
    for (const rec& r : v)
        if (with_ticks || r.label != "tick") l.v.push_back(r.label);
    return l;
}

// Every end has its begin before it and every begin its end: spans and polls
// per ring (innermost first), waits per task.
void check_balanced(const std::vector<rec>& v) {
    std::map<uint32_t, std::vector<std::pair<bool, uint64_t>>> open;  // ring -> (poll, site or task)
    std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> waits;
    for (const rec& r : v) {
        switch (r.kind) {
            case fmt::kind::span_begin: open[r.ring].push_back({false, r.site}); break;
            case fmt::kind::task_poll_begin: open[r.ring].push_back({true, r.task}); break;
            case fmt::kind::span_end:
            case fmt::kind::task_poll_end: {
                auto& st = open[r.ring];
                const bool poll = r.kind == fmt::kind::task_poll_end;
                REQUIRE_MESSAGE(!st.empty(), r.label << " has no begin");
                CHECK_MESSAGE(st.back() == std::make_pair(poll, poll ? r.task : uint64_t(r.site)), r.label << " ends another");
                st.pop_back();
                break;
            }
            case fmt::kind::wait_begin: waits[r.task].push_back({r.w1, r.w2}); break;
            case fmt::kind::wait_end: {
                auto& w = waits[r.task];
                REQUIRE_MESSAGE(!w.empty(), r.label << " has no begin");
                CHECK(w.back() == std::make_pair(r.w1, r.w2));
                w.pop_back();
                break;
            }
            default: break;
        }
    }
    for (const auto& st : open)
        CHECK_MESSAGE(st.second.empty(), "ring " << st.first << ": " << st.second.size() << " never ended");
    for (const auto& w : waits) CHECK_MESSAGE(w.second.empty(), "task " << w.first << ": a wait never ended");
}

const rec& find(const std::vector<rec>& v, const std::string& label) {
    for (const rec& r : v)
        if (r.label == label) return r;
    FAIL("no event " << label);
    return v.front();
}

std::string ns_text(int64_t ns) { return std::to_string(ns) + "ns"; }

// ns since the Unix epoch as RFC 3339, in UTC or (east > 0) at +hh:mm.
std::string rfc3339(int64_t wall_ns, int east_minutes = 0) {
    const int64_t local = wall_ns + int64_t(east_minutes) * 60 * 1000000000;
    time_t secs = time_t(local / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char b[80];
    std::snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, local % 1000000000);
    std::string s = b;
    if (east_minutes == 0) return s + "Z";
    std::snprintf(b, sizeof b, "+%02d:%02d", east_minutes / 60, east_minutes % 60);
    return s + b;
}

}  // namespace

TEST_CASE("filter values: levels, times and RFC 3339 parse exactly; bad ones are errors naming the option") {
    int level = 0;
    CHECK(bbx::dec::parse_filter_level("warn", level).empty());
    CHECK(level == 2);
    CHECK(bbx::dec::parse_filter_level("TRACE", level).empty());
    CHECK(level == 5);
    CHECK(bbx::dec::parse_filter_level("1", level).empty());
    CHECK(level == 1);
    CHECK(!bbx::dec::parse_filter_level("0", level).empty());
    CHECK(!bbx::dec::parse_filter_level("verbose", level).empty());

    using base = bbx::dec::filter_time::base;
    struct good {
        const char* text;
        base from;
        int64_t ns;
    };
    for (const good& g : {good{"250ms", base::start, 250000000}, good{"1.5s", base::start, 1500000000},
                          good{"1.5", base::start, 1500000000}, good{"10us", base::start, 10000},
                          good{"100ns", base::start, 100}, good{"-2s", base::end, 2000000000},
                          good{"-0.000000001", base::end, 1}, good{".25s", base::start, 250000000},
                          good{"2026-11-26T07:40:00.5Z", base::wall, 1795678800500000000},
                          good{"2000-02-29T23:59:59.123456789+05:30", base::wall, 951848999123456789},
                          good{"2024-12-31 23:59:59z", base::wall, 1735689599000000000}}) {
        bbx::dec::filter_time t;
        CHECK_MESSAGE(bbx::dec::parse_filter_time(g.text, t).empty(), g.text);
        CHECK_MESSAGE(t.from == g.from, g.text);
        CHECK_MESSAGE(t.ns == g.ns, g.text);
    }
    for (const char* bad : {"", "-", "2x", "1.2.3", "1e3", "s", "ms5", "2026-02-30T00:00:00Z", "2026-11-26T07:40:00",
                            "2026-11-26T25:00:00Z", "2026-11-26", "99999999999999999999s"}) {
        bbx::dec::filter_time t;
        CHECK_MESSAGE(!bbx::dec::parse_filter_time(bad, t).empty(), "accepted '" << bad << "'");
    }

    bbx::dec::filter_spec spec;
    std::string e = spec.add("--name", "(unclosed");
    CHECK(e.rfind("--name: '(unclosed' is not a valid regular expression", 0) == 0);
    CHECK(spec.add("--since", "soon").rfind("--since: 'soon' is not a time", 0) == 0);
    CHECK(spec.add("--level", "loud").rfind("--level: 'loud' is not a level", 0) == 0);
    CHECK(spec.add("--category", "a*b").rfind("--category:", 0) == 0);
    CHECK(spec.add("--category", "a,,b").rfind("--category:", 0) == 0);
    CHECK(spec.add("--task", "0").rfind("--task:", 0) == 0);
    CHECK(spec.add("--task", "12x").rfind("--task:", 0) == 0);
    CHECK(spec.empty());
    CHECK(spec.add("--task", "7,0x10").empty());
    CHECK(spec.tasks == std::vector<uint64_t>{7, 16});
    CHECK(spec.add("--user-only").empty());
    CHECK(spec.describe() == "--task 7,0x10 --user-only");
    CHECK(bbx::dec::filter_spec::arity("--since") == 1);
    CHECK(bbx::dec::filter_spec::arity("--user-only") == 0);
    CHECK(bbx::dec::filter_spec::arity("--symbols") == -1);
}

TEST_CASE("level, category, thread, name and user-only filters pass exactly the events they name") {
    scenario s("filter-content");
    const std::vector<rec> all = collect(*s.cap, s);

    SUBCASE("--level") {
        CHECK(labels(filtered(s, {{"--level", "warn"}, {"--thread", "alpha"}})) ==
              L{"thread_name alpha", "counter depth", "start:socket.async_receive"});
        CHECK(labels(filtered(s, {{"--level", "debug"}, {"--thread", "alpha"}})) ==
              L{"m0", "thread_name alpha", "begin outer", "begin inner", "end inner", "counter depth", "end outer", "start:socket.async_receive"});
        // Task events have no level of their own: they pass.
        const auto beta = labels(filtered(s, {{"--level", "error"}, {"--thread", "beta"}}));
        CHECK(beta == L{"thread_name beta", "spawn t1", "spawn t2", "wake t1", "poll_begin t1", "wait_begin t1",
                        "wait_end t1", "poll_begin t3", "poll_end t3", "poll_end t1", "poll_begin t2", "poll_end t2",
                        "complete t1"});
    }
    SUBCASE("--category, exact and prefix, comma list and repeated") {
        const L io{"thread_name alpha", "begin outer", "end outer", "thread_name beta", "begin in_poll", "end in_poll",
                   "thread_name gamma"};
        CHECK(labels(filtered(s, {{"--category", "io"}})) == io);
        CHECK(labels(filtered(s, {{"--category", "io*"}, {"--thread", "alpha"}})) ==
              L{"thread_name alpha", "begin outer", "begin inner", "end inner", "end outer"});
        CHECK(labels(filtered(s, {{"--category", "stats,asio"}, {"--category", "net"}, {"--thread", "T0"}})) ==
              L{"thread_name alpha", "packet", "counter depth", "start:socket.async_receive"});
        // Task events are in category "task".
        const auto tasks = filtered(s, {{"--category", "task"}, {"--thread", "beta"}});
        CHECK(tasks.size() == 13);  // the thread name and 12 task events
        for (const rec& r : tasks) CHECK((uint8_t(r.kind) >= 16 || r.kind == fmt::kind::thread_name));
    }
    SUBCASE("--thread by ring, number, tid, name and comma list") {
        const auto by_ring = filtered(s, {{"--thread", "T1"}});
        CHECK(!by_ring.empty());
        for (const rec& r : by_ring) CHECK(r.ring == 1);
        CHECK(labels(filtered(s, {{"--thread", "1"}})) == labels(by_ring));
        CHECK(labels(filtered(s, {{"--thread", std::to_string(s.cap->threads()[1].tid)}})) == labels(by_ring));
        CHECK(labels(filtered(s, {{"--thread", "beta"}})) == labels(by_ring));
        size_t n02 = 0;
        for (const rec& r : all) n02 += r.ring != 1;
        const auto two = filtered(s, {{"--thread", "alpha,T2"}});
        CHECK(two.size() == n02);
        for (const rec& r : two) CHECK(r.ring != 1);
    }
    SUBCASE("--name searches site names, and task events by their task's spawn name") {
        CHECK(labels(filtered(s, {{"--name", "^in_"}})) == L{"thread_name alpha", "thread_name beta", "begin in_poll",
                                                             "end in_poll", "in_t1", "in_t2", "thread_name gamma"});
        CHECK(labels(filtered(s, {{"--name", "etc"}, {"--thread", "beta"}})) ==
              L{"thread_name beta", "spawn t1", "wake t1", "poll_begin t1", "wait_begin t1", "wait_end t1",
                "poll_end t1", "complete t1"});
        // t3 was never spawned: its name is empty, which "^$" finds.
        CHECK(labels(filtered(s, {{"--name", "^$"}, {"--thread", "beta"}})) ==
              L{"thread_name beta", "poll_begin t3", "poll_end t3"});
    }
    SUBCASE("--user-only drops task events and asio/await sites, nothing else") {
        L want;
        for (const rec& r : all)
            if (!(uint8_t(r.kind) >= 16 && uint8_t(r.kind) <= 23) && r.label != "start:socket.async_receive") want.v.push_back(r.label);
        CHECK(want.v.size() + 1 + 14 == all.size());  // the asio instant, 12 task events on beta and t4's poll on gamma
        CHECK(labels(filtered(s, {{"--user-only", ""}}), true) == want);
    }
    SUBCASE("options combine with AND") {
        CHECK(labels(filtered(s, {{"--category", "io*"}, {"--level", "info"}, {"--thread", "beta"}})) ==
              L{"thread_name beta", "begin in_poll", "end in_poll"});
        CHECK(labels(filtered(s, {{"--category", "mark"}, {"--name", "^[bg]0$"}})) ==
              L{"thread_name alpha", "b0", "thread_name beta", "g0", "thread_name gamma"});
    }
    SUBCASE("stats count the events that pass") {
        const auto v = filtered(s, {{"--thread", "gamma"}, {"--category", "bulk"}});
        CHECK(v.size() == 2001);  // 2000 ticks and the thread name
        bbx::dec::filter_error err;
        auto f = bbx::dec::event_filter::make(spec_of({{"--thread", "gamma"}, {"--category", "bulk"}}), *s.cap, err);
        REQUIRE(f);
        auto some = bbx::dec::read_events(*s.cap, f.get(), [](const event&) {});
        REQUIRE(!some.is_error());
        CHECK(some.value().threads[0].events == 0);
        CHECK(some.value().threads[1].events == 0);
        CHECK(some.value().threads[2].events == 2001);
        auto every = bbx::dec::read_events(*s.cap, nullptr, [](const event&) {});
        REQUIRE(!every.is_error());
        CHECK(every.value().threads[2].events > 2001);
    }
}

TEST_CASE("--task keeps the task's events and everything on a thread while it is polled there") {
    scenario s("filter-task");
    auto id = [&](const char* n) {
        for (auto& [k, v] : s.task_names)
            if (v == n) return std::to_string(k);
        return std::string("?");
    };
    // Thread names pass every option but --thread and the window.
    const auto t1 = filtered(s, {{"--task", id("t1")}});
    CHECK(labels(t1) == L{"thread_name alpha", "thread_name beta", "spawn t1", "wake t1", "poll_begin t1", "begin in_poll", "end in_poll", "in_t1",
                          "wait_begin t1", "wait_end t1", "poll_begin t3", "nested", "poll_end t3", "poll_end t1",
                          "complete t1", "thread_name gamma"});
    check_balanced(t1);
    CHECK(labels(filtered(s, {{"--task", id("t3")}, {"--thread", "beta"}})) ==
          L{"thread_name beta", "poll_begin t3", "nested", "poll_end t3"});
    CHECK(labels(filtered(s, {{"--task", id("t2") + "," + id("t3")}, {"--thread", "beta"}})) ==
          L{"thread_name beta", "spawn t2", "poll_begin t3", "nested", "poll_end t3", "poll_begin t2", "in_t2", "poll_end t2"});
    CHECK(labels(filtered(s, {{"--task", id("t1")}, {"--user-only", ""}, {"--thread", "beta"}})) ==
          L{"thread_name beta", "begin in_poll", "end in_poll", "in_t1", "nested"});
    // t4 is polled on gamma: the span and instants inside its poll, not the ticks before it.
    CHECK(labels(filtered(s, {{"--task", id("t4")}}), true) ==
          L{"thread_name alpha", "thread_name beta", "thread_name gamma", "poll_begin t4", "begin hang", "early", "tail",
            "late", "end hang", "poll_end t4"});
    // A task with no events keeps only the thread names.
    CHECK(labels(filtered(s, {{"--task", "999999"}})) == L{"thread_name alpha", "thread_name beta", "thread_name gamma"});
}

TEST_CASE("--since and --until: relative, from the end and wall-clock; open spans and polls carried in, pairs whole") {
    scenario s("filter-time");
    const std::vector<rec> all = collect(*s.cap, s);
    check_balanced(all);
    const rec& early = find(all, "early");
    const rec& tail = find(all, "tail");
    const rec& last = find(all, "last");
    REQUIRE(last.ns == all.back().ns);
    REQUIRE(tail.ns - early.ns >= 15000000);  // the 20 ms pause

    // The tail: what began before it and is still open comes first, at its own time.
    const L tail_labels{"poll_begin t4", "begin hang", "tail", "late", "end hang", "poll_end t4", "last"};
    const auto from_end = filtered(s, {{"--since", "-" + ns_text(last.ns - tail.ns)}});
    CHECK(labels(from_end) == tail_labels);
    REQUIRE(from_end.size() == tail_labels.v.size());
    CHECK(from_end[1].ns == find(all, "begin hang").ns);
    for (size_t i = 1; i < from_end.size(); ++i) CHECK(from_end[i - 1].ns <= from_end[i].ns);
    check_balanced(from_end);
    // The same window given from the start, and as wall-clock time (UTC and +05:30).
    CHECK(labels(filtered(s, {{"--since", ns_text(tail.ns)}})) == tail_labels);
    const int64_t wall = int64_t(s.cap->start_realtime_ns()) + tail.ns;
    CHECK(labels(filtered(s, {{"--since", rfc3339(wall)}})) == tail_labels);
    CHECK(labels(filtered(s, {{"--since", rfc3339(wall, 330)}})) == tail_labels);
    // One ns later, "tail" is outside.
    CHECK(labels(filtered(s, {{"--since", rfc3339(wall + 1)}})).v[2] == "late");

    // --until cuts hang: its begin is inside, so its end is kept past --until.
    const auto until = filtered(s, {{"--until", ns_text(early.ns)}, {"--thread", "gamma"}});
    CHECK(labels(until) == L{"g0", "thread_name gamma", "poll_begin t4", "begin hang", "early", "end hang", "poll_end t4"});
    check_balanced(until);
    // A window inside the pause's neighbourhood, with other options.
    CHECK(labels(filtered(s, {{"--since", ns_text(early.ns)}, {"--until", ns_text(tail.ns)}, {"--category", "long,mark"}})) ==
          L{"begin hang", "early", "tail", "end hang"});
    // An end inside the window whose begin is before it and already closed
    // cannot occur; one whose begin was dropped by another option is dropped.
    CHECK(labels(filtered(s, {{"--since", ns_text(tail.ns)}, {"--category", "mark"}})) == L{"tail", "late", "last"});
    // A window after the last event keeps nothing; one before the first, nothing either.
    CHECK(filtered(s, {{"--since", ns_text(last.ns + 1)}}).empty());
    CHECK(filtered(s, {{"--until", ns_text(all.front().ns - 1)}}).empty());
    // Every option combination above stays balanced.
    check_balanced(filtered(s, {{"--since", ns_text(early.ns + 1)}, {"--thread", "gamma"}}));
}

TEST_CASE("a filter that does not fit the capture is a usage error") {
    scenario s("filter-usage");
    auto fails = [&](const opts& o) {
        bbx::dec::filter_error err;
        auto f = bbx::dec::event_filter::make(spec_of(o), *s.cap, err);
        CHECK(!f);
        CHECK(err.usage);
        return err.what;
    };
    CHECK(fails({{"--thread", "nobody"}}).rfind("--thread: no thread 'nobody' in the capture (threads: T0 tid ", 0) == 0);
    CHECK(fails({{"--thread", "T3"}}).rfind("--thread: the capture has no ring 3", 0) == 0);
    CHECK(fails({{"--thread", "alpha,nobody"}}).find("'nobody'") != std::string::npos);
    CHECK(fails({{"--since", "2s"}, {"--until", "1s"}}).rfind("the time window is empty", 0) == 0);

    // bbx merge: a thread another capture has selects nothing here, and is listed.
    bbx::dec::filter_error err;
    auto f = bbx::dec::event_filter::make(spec_of({{"--thread", "beta,nobody"}, {"--thread", "T7"}}), *s.cap, err, false);
    REQUIRE(f);
    CHECK(f->unmatched_threads() == std::vector<std::string>{"nobody", "T7"});
    CHECK(!f->keeps_thread(0));
    CHECK(f->keeps_thread(1));
    CHECK(!f->keeps_thread(2));
}

namespace {

// Protobuf varint walking, lenient: only what the balance check needs.
bool varint(std::string_view s, size_t& i, uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 70 && i < s.size(); shift += 7) {
        const auto b = static_cast<unsigned char>(s[i++]);
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

// Calls fn(field, varint value, bytes) for each field of msg; false if malformed.
template <class F>
bool fields(std::string_view msg, F&& fn) {
    size_t i = 0;
    while (i < msg.size()) {
        uint64_t key, v = 0;
        if (!varint(msg, i, key)) return false;
        std::string_view bytes;
        switch (key & 7) {
            case 0:
                if (!varint(msg, i, v)) return false;
                break;
            case 1:
                if (i + 8 > msg.size()) return false;
                i += 8;
                break;
            case 5:
                if (i + 4 > msg.size()) return false;
                i += 4;
                break;
            case 2:
                if (!varint(msg, i, v) || v > msg.size() - i) return false;
                bytes = msg.substr(i, size_t(v));
                i += size_t(v);
                break;
            default: return false;
        }
        fn(uint32_t(key >> 3), v, bytes);
    }
    return true;
}

struct slice_count {
    uint64_t begins = 0, ends = 0;
    bool negative = false;
};

// SLICE_BEGIN and SLICE_END per track; fails the test on malformed bytes.
std::map<uint64_t, slice_count> slices(const std::string& trace) {
    std::map<uint64_t, slice_count> per_track;
    REQUIRE(fields(trace, [&](uint32_t f, uint64_t, std::string_view packet) {
        if (f != 1) return;
        REQUIRE(fields(packet, [&](uint32_t pf, uint64_t, std::string_view te) {
            if (pf != 11) return;  // TracePacket.track_event
            uint64_t type = 0, track = 0;
            REQUIRE(fields(te, [&](uint32_t tf, uint64_t v, std::string_view) {
                if (tf == 9) type = v;    // TrackEvent.type
                if (tf == 11) track = v;  // TrackEvent.track_uuid
            }));
            slice_count& c = per_track[track];
            if (type == 1) ++c.begins;
            if (type == 2 && ++c.ends > c.begins) c.negative = true;
        }));
    }));
    return per_track;
}

std::string perfetto_of(const bbx::dec::input& c) {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    REQUIRE(f);
    std::string err;
    const bool ok = bbx::dec::write_perfetto(c, f, err);
    std::fclose(f);
    std::string out(buf, len);
    std::free(buf);
    REQUIRE_MESSAGE(ok, err);
    return out;
}

}  // namespace

TEST_CASE("a filtered Perfetto trace is smaller and still balanced, with no slice left unfinished") {
    scenario s("filter-perfetto");
    const std::vector<rec> all = collect(*s.cap, s);
    const std::string whole = perfetto_of(*s.cap);
    uint64_t whole_begins = 0;
    for (auto& [track, c] : slices(whole)) whole_begins += c.begins;

    struct variant {
        opts o;
        uint64_t min_begins;  // slices the filtered trace must still hold
    };
    const rec& early = find(all, "early");
    CHECK(whole.find("unfinished") == std::string::npos);  // every slice ended: so must the filtered ones
    for (const variant& v : {variant{{{"--thread", "alpha"}}, 2},
                             variant{{{"--until", ns_text(early.ns)}, {"--category", "long"}}, 1},
                             variant{{{"--since", "-" + ns_text(all.back().ns - find(all, "tail").ns)}}, 2},
                             variant{{{"--user-only", ""}, {"--level", "info"}}, 3}}) {
        CAPTURE(v.o.front().first);
        bbx::dec::filter_error err;
        auto f = bbx::dec::event_filter::make(spec_of(v.o), *s.cap, err);
        REQUIRE(f);
        const std::string small = perfetto_of(bbx::dec::input(*s.cap, f.get()));
        CHECK(small.size() < whole.size() / 4);  // the 2000 ticks are gone
        uint64_t begins = 0;
        for (const auto& tc : slices(small)) {
            CHECK_MESSAGE(tc.second.begins == tc.second.ends, "track " << tc.first);
            CHECK(!tc.second.negative);
            begins += tc.second.begins;
        }
        CHECK(begins >= v.min_begins);
        CHECK(begins < whole_begins);
        // The converter closes a begin with no end as "unfinished": none may appear.
        CHECK(small.find("unfinished") == std::string::npos);
    }
}

TEST_CASE("a span context follows the span it names: kept, dropped or carried into the window with it") {
    temp_capture tc("filter-context");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id t = bbx::new_task_id();
    std::thread([&] {
        BBX_INSTANT(INFO, "mark", "c0");
        {
            BBX_SPAN(INFO, "rpc", "served");
            bbx::context_scope server(bbx::span_role::server);
            {
                BBX_SPAN(DEBUG, "rpc", "detail");
                bbx::context_scope client(bbx::span_role::client);
            }
            {
                bbx::poll_scope p(t);
                bbx::context_scope inside(bbx::span_role::internal);  // names "served": a poll is not a span
            }
            BBX_INSTANT(INFO, "mark", "after");
        }
    }).join();
    bbx::stop();
    scenario_view s{tc.path, {{t, "t"}}};
    const auto all = collect(*s.cap, s);
    REQUIRE(labels(all) == L{"c0", "begin served", "context server", "begin detail", "context client", "end detail",
                             "poll_begin t", "context internal", "poll_end t", "after", "end served"});
    CHECK(labels(filtered(s, {{"--level", "info"}, {"--user-only", ""}})) ==
          L{"c0", "begin served", "context server", "context internal", "after", "end served"});
    CHECK(labels(filtered(s, {{"--name", "detail"}})) == L{"begin detail", "context client", "end detail"});
    // Carried in with its span: the first context of a span (as the OTLP output reads it).
    CHECK(labels(filtered(s, {{"--since", ns_text(find(all, "after").ns)}})) ==
          L{"begin served", "context server", "after", "end served"});
}
