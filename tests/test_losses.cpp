// Loss is never silent: a capture with each kind of loss (overwritten events,
// dropped events in discard mode, threads without a ring, call sites without
// metadata) goes through every verb, and each states the counts bbx info
// gives. And the figures that size a ring: bbx info's per-ring history, and
// bbx analyze's window note.
#include <doctest/doctest.h>

#include <bbx/bbx.hpp>
#include <bbx/task.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <latch>
#include <thread>
#include <utility>
#include <vector>

#include "support/capture.hpp"
#include "support/process.hpp"

namespace {

// The counts as bbx info prints them ("dropped" and "events" lines).
struct info_counts {
    uint64_t threads = 0, sites = 0, lost_to_them = 0;
    uint64_t readable = 0, overwritten = 0, dropped = 0, torn = 0, skipped = 0;
};

std::string line_of(const std::string& text, const std::string& key) {
    size_t p = text.find("\n" + key);
    if (p == std::string::npos) return "";
    p += 1;
    return text.substr(p, text.find('\n', p) - p);
}

info_counts info_of(const std::string& path) {
    tool_result r = run_bbx({"info", path});
    REQUIRE(r.status == 0);
    info_counts c;
    const std::string d = line_of(r.out, "dropped     "), e = line_of(r.out, "events      ");
    REQUIRE(std::sscanf(d.c_str(), "dropped %lu threads without a ring, %lu call sites without metadata, %lu events",
                        &c.threads, &c.sites, &c.lost_to_them) == 3);
    REQUIRE(std::sscanf(e.c_str(), "events %lu readable, %lu overwritten, %lu dropped, %lu torn slots, %lu skipped",
                        &c.readable, &c.overwritten, &c.dropped, &c.torn, &c.skipped) == 5);
    return c;
}

// What every verb must say, from bbx info's counts: the summary's phrases
// (text outputs) and the counts by key (JSON and OTLP).
struct expected_loss {
    std::vector<std::string> phrases;
    std::vector<std::pair<std::string, uint64_t>> counts;
};

expected_loss expect(const info_counts& c) {
    expected_loss x;
    auto phrase = [&](uint64_t n, const char* one, const char* many) {
        if (n) x.phrases.push_back(std::to_string(n) + (n == 1 ? one : many));
    };
    if (c.threads)
        x.phrases.push_back(std::to_string(c.threads) + (c.threads == 1 ? " thread" : " threads") + " without a ring (" +
                            std::to_string(c.lost_to_them) + " events)");
    phrase(c.overwritten, " event overwritten", " events overwritten");
    phrase(c.dropped, " event dropped", " events dropped");
    phrase(c.sites, " call site without metadata", " call sites without metadata");
    phrase(c.torn, " torn slot", " torn slots");
    if (x.phrases.empty()) x.phrases.push_back("none");
    x.counts = {{"threads_without_ring", c.threads}, {"events_without_ring", c.lost_to_them},
                {"sites_without_metadata", c.sites}, {"events_overwritten", c.overwritten},
                {"events_dropped", c.dropped}, {"torn_slots", c.torn}};
    return x;
}

// Runs every verb on path and checks that each states the losses.
void every_verb_states(const std::string& path, const info_counts& c) {
    const expected_loss x = expect(c);
    const std::string out = path + ".out";
    auto has_phrases = [&](const std::string& text, const char* what) {
        for (const std::string& p : x.phrases) {
            INFO(what, ": ", p);
            CHECK(text.find(p) != std::string::npos);
        }
    };

    tool_result dump = run_bbx({"dump", path});
    REQUIRE(dump.status == 0);
    const size_t last = dump.out.rfind("\n# losses: ", dump.out.size() - 2);
    REQUIRE(last != std::string::npos);
    has_phrases(dump.out.substr(last), "dump trailer");

    tool_result an = run_bbx({"analyze", path});
    REQUIRE(an.status == 0);
    has_phrases(line_of(an.out, "losses    "), "analyze");

    tool_result aj = run_bbx({"analyze", "--json", path});
    REQUIRE(aj.status == 0);
    const size_t lo = aj.out.find("\"losses\":{");
    REQUIRE(lo != std::string::npos);
    const std::string losses_json = aj.out.substr(lo, aj.out.find('}', lo) - lo);
    for (auto& [k, v] : x.counts) {
        INFO("analyze --json: ", k);
        CHECK(losses_json.find("\"" + k + "\":" + std::to_string(v) + ",") != std::string::npos);
    }

    for (const std::string to : {"chrome", "perfetto", "otlp"}) {
        unlink(out.c_str());
        tool_result cv = run_bbx({"convert", path, "--to", to, "-o", out});
        REQUIRE(cv.status == 0);
        const std::string text = read_text(out);
        INFO("convert --to ", to);
        // Standard error says it too; nothing when nothing was lost.
        if (x.phrases.front() == "none") CHECK(cv.err.empty());
        else has_phrases(cv.err, "stderr");
        if (to == "chrome") {
            const size_t od = text.find("\"otherData\":{\"bbx_losses\":[{");
            REQUIRE(od != std::string::npos);
            for (auto& [k, v] : x.counts) CHECK(text.find("\"" + k + "\":" + std::to_string(v), od) != std::string::npos);
        } else if (to == "otlp") {
            for (auto& [k, v] : x.counts)
                CHECK(text.find("{\"key\":\"bbx.losses." + k + "\",\"value\":{\"intValue\":\"" + std::to_string(v) +
                                "\"}}") != std::string::npos);
        } else {
            // The instant on the "bbx losses" track: its name is the summary.
            CHECK(text.find("bbx losses") != std::string::npos);
            const size_t n = text.find("losses: ");
            REQUIRE(n != std::string::npos);
            has_phrases(text.substr(n, 300), "perfetto instant");
        }
    }
    unlink(out.c_str());
}

template <int N>
void site_n() {
    BBX_INSTANT(INFO, "loss", "site", bbx::arg("n", N));
}
template <int... N>
void many_sites(std::integer_sequence<int, N...>) {
    (site_n<N>(), ...);
}

}  // namespace

TEST_CASE("overwritten events are stated by every verb, and analyze says how much larger a ring would hold them") {
    temp_capture tc("loss-overwrite");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // 128 slots
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    { BBX_SPAN(INFO, "loss", "a_span"); }  // OTLP writes lines only when there are spans
    const uint64_t task = bbx::new_task_id();
    BBX_TASK_SPAWN("early", task, 0, 0);
    for (int i = 0; i < 2000; ++i) BBX_INSTANT(INFO, "loss", "fill", bbx::arg("i", i));
    {
        bbx::task_wake(task);
        bbx::poll_scope p(task);  // its spawn is long overwritten
    }
    bbx::stop();
    const info_counts c = info_of(tc.path);
    REQUIRE(c.overwritten > 1000);
    every_verb_states(tc.path, c);

    tool_result an = run_bbx({"analyze", "--json", tc.path});
    REQUIRE(an.status == 0);
    CHECK(an.out.find("\"rings_wrapped\":1,") != std::string::npos);
    CHECK(an.out.find("\"tasks_spawn_unseen\":1,") != std::string::npos);
    // ring_kb 4 times written / held, rounded up to a power of two.
    const uint64_t written = c.readable + c.overwritten;
    uint64_t want = 4;
    while (double(want) < 4.0 * double(written) / double(c.readable)) want *= 2;
    CHECK(an.out.find("\"suggested_ring_kb\":" + std::to_string(want) + "}") != std::string::npos);
    tool_result text = run_bbx({"analyze", tc.path});
    CHECK(text.out.find("1 task polled or woken but never seen spawned") != std::string::npos);
    CHECK(text.out.find("ring_kb 4 -> " + std::to_string(want) + " (BBX_RING_KB=" + std::to_string(want) + ")") !=
          std::string::npos);
}

TEST_CASE("events dropped by a full ring in discard mode are stated by every verb") {
    temp_capture tc("loss-discard");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 4;
    cfg.discard = true;
    REQUIRE(bbx::start(cfg).ok());
    { BBX_SPAN(INFO, "loss", "a_span"); }  // OTLP writes lines only when there are spans
    for (int i = 0; i < 1000; ++i) BBX_INSTANT(INFO, "loss", "fill", bbx::arg("i", i));
    bbx::stop();
    const info_counts c = info_of(tc.path);
    REQUIRE(c.dropped > 500);
    CHECK(c.overwritten == 0);
    every_verb_states(tc.path, c);
    tool_result an = run_bbx({"analyze", tc.path});
    CHECK(an.out.find("1 of 1 ring filled (its newest events dropped)") != std::string::npos);
}

TEST_CASE("threads that found no ring, and their events, are stated by every verb") {
    temp_capture tc("loss-threads");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    { BBX_SPAN(INFO, "loss", "a_span"); }  // OTLP writes lines only when there are spans
    // Four threads alive at once (an exited thread's ring is reused, format
    // 1.3): the first to record takes the last ring, the others find none.
    std::latch started(4), recorded(4);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            started.arrive_and_wait();
            for (int i = 0; i < 10; ++i) BBX_INSTANT(INFO, "loss", "worker", bbx::arg("i", i));
            recorded.arrive_and_wait();
        });
    for (std::thread& t : ts) t.join();
    bbx::stop();
    const info_counts c = info_of(tc.path);
    REQUIRE(c.threads >= 2);
    REQUIRE(c.lost_to_them >= 20);
    every_verb_states(tc.path, c);
}

TEST_CASE("call sites that found no room for their metadata are stated by every verb") {
    temp_capture tc("loss-sites");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    cfg.meta_kb = 4;  // the smallest: room for a few dozen call sites
    REQUIRE(bbx::start(cfg).ok());
    { BBX_SPAN(INFO, "loss", "a_span"); }  // OTLP writes lines only when there are spans
    many_sites(std::make_integer_sequence<int, 200>());
    bbx::stop();
    const info_counts c = info_of(tc.path);
    REQUIRE(c.sites > 50);
    REQUIRE(c.dropped > 50);  // their events, counted in their ring's drops
    every_verb_states(tc.path, c);
}

TEST_CASE("a capture that lost nothing says so: 'none' in text, zeros in every converter's counts") {
    temp_capture tc("loss-none");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    { BBX_SPAN(INFO, "loss", "a_span"); }
    bbx::stop();
    const info_counts c = info_of(tc.path);
    REQUIRE(c.overwritten + c.dropped + c.threads + c.sites + c.torn + c.skipped == 0);
    every_verb_states(tc.path, c);
}

TEST_CASE("bbx info gives each ring's history: the time it holds, the event rate, and the ring bytes per second") {
    temp_capture tc("history");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    cfg.ring_kb = 64;
    REQUIRE(bbx::start(cfg).ok());
    // 50 events at least 2 ms apart: at most 500 events/s over at least 98 ms.
    for (int i = 0; i < 50; ++i) {
        BBX_INSTANT(INFO, "hist", "tick", bbx::arg("i", i));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    bbx::stop();
    tool_result r = run_bbx({"info", tc.path});
    REQUIRE(r.status == 0);
    const size_t h = r.out.find("\nhistory (");
    REQUIRE(h != std::string::npos);
    const size_t row = r.out.find("\n  0 ", h);
    REQUIRE(row != std::string::npos);
    const std::string line = r.out.substr(row + 1, r.out.find('\n', row + 1) - row - 1);
    unsigned ring = 9, tid = 0;
    char name[64];
    double held = 0, rate = 0, bytes = 0, holds = 0;
    uint64_t events = 0;
    char unit[16];
    INFO(line);
    REQUIRE(std::sscanf(line.c_str(), " %u %u %63s %lf %lu %lf %lf %15s %lf", &ring, &tid, name, &held, &events, &rate,
                        &bytes, unit, &holds) == 9);
    CHECK(events == 50);
    CHECK(held >= 0.098);
    CHECK(rate > 0);
    CHECK(rate <= 49 / 0.098 + 1);
    CHECK(rate == doctest::Approx(49 / held).epsilon(0.01));
    // The ring bytes per event bbx info's size line gives (one ring, nothing overwritten).
    double per_event = 0;
    REQUIRE(std::sscanf(line_of(r.out, "size        ").c_str(), "size raw ring %lf bytes/event", &per_event) == 1);
    CHECK(per_event >= 16);  // a slot of 16 bytes (2.0) at least
    const double bps = std::string(unit) == "KiB/s" ? bytes * 1024 : bytes;
    // Within 3 %: since format 1.3 the ring also holds the thread's owner
    // event, which the size line averages over the decoded events and the
    // history over the events written.
    CHECK(bps == doctest::Approx(rate * per_event).epsilon(0.03));
    CHECK(holds == doctest::Approx(65536 / (rate * per_event)).epsilon(0.03));
}
