// bbx top's model (decoder/src/top.cpp): incremental refreshes see every event
// once and agree with bbx analyze; slots a writer overwrote before a refresh
// are counted as lost; call sites registered after the view opened are read
// (the file is opened again); the warnings that hold now in a live process:
// a poll running long (with its spans), a task woken and not polled.
// (The terminal, the demo's deadlock and --once / --json: tests/top.sh.)
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "bbx/bbx.hpp"
#include "bbx/task.hpp"
#include "bbx/decoder.hpp"
#include <doctest/doctest.h>
#include "test_util.hpp"

using namespace bbx::dec;
using namespace std::chrono_literals;

namespace {

// The number after `"key":` in a JSON object that starts at `from`.
uint64_t json_u64(const std::string& j, const std::string& key, size_t from = 0) {
    const size_t at = j.find("\"" + key + "\":", from);
    REQUIRE(at != std::string::npos);
    return std::stoull(j.substr(at + key.size() + 3));
}

// Where the JSON object of task `id` starts.
size_t task_at(const std::string& j, uint64_t id) {
    const size_t at = j.find("{\"id\":" + std::to_string(id) + ",");
    REQUIRE(at != std::string::npos);
    return at;
}

void polls(bbx::task_id t, int n) {
    for (int i = 0; i < n; ++i) {
        bbx::task_wake(t);
        bbx::poll_scope p(t);
        bbx::note_await();
    }
}

}  // namespace

TEST_CASE("bbx top: refreshes read only what is new, count what the writer overwrote first, and agree with analyze") {
    temp_capture tc("top-incremental");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;  // 4096 slots of 16 bytes
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("top_task", t, 0, 0);
    polls(t, 10);

    auto v = top_view::open(tc.path, top_options{});
    REQUIRE(!v.is_error());
    top_view& view = *v.value();
    REQUIRE(!view.refresh().is_error());
    std::string j = view.json();
    CHECK(json_u64(j, "polls", task_at(j, t)) == 10);
    CHECK(json_u64(j, "wakes", task_at(j, t)) == 10);
    CHECK(json_u64(j, "lost_slots") == 0);
    const uint64_t events1 = json_u64(j, "events");

    // Nothing new: a refresh reads nothing, counts nothing twice.
    REQUIRE(!view.refresh().is_error());
    CHECK(json_u64(view.json(), "events") == events1);

    polls(t, 10);
    REQUIRE(!view.refresh().is_error());
    j = view.json();
    CHECK(json_u64(j, "polls", task_at(j, t)) == 20);
    CHECK(json_u64(j, "events") > events1);
    CHECK(json_u64(j, "lost_slots") == 0);

    // The same numbers as analyze reads from the whole file.
    {
        auto c = capture::open(tc.path);
        REQUIRE(!c.is_error());
        auto a = analyze(input(*c.value()), analyze_options{});
        REQUIRE(!a.is_error());
        const task_report* r = a.value().find_task(t);
        REQUIRE(r != nullptr);
        CHECK(json_u64(j, "polls", task_at(j, t)) == r->polls);
        CHECK(json_u64(j, "busy_ns", task_at(j, t)) == uint64_t(r->busy_ns));
        CHECK(json_u64(j, "events") == a.value().events);
    }

    // Far more than a ring between two refreshes: what was overwritten before
    // the refresh reached it is lost, counted, and the rest is read.
    // 3 one-slot events a poll (2.0: a wake by no task, poll_begin,
    // poll_end): 9000 slots and a time base of 2 at most every 2048 positions
    // through a 4096-slot ring.
    polls(t, 3000);
    REQUIRE(!view.refresh().is_error());
    j = view.json();
    const uint64_t lost = json_u64(j, "lost_slots");
    CHECK(lost >= 9000 - 4096);
    CHECK(lost <= 9000 + 2 * (9000 / 2048 + 2));
    const uint64_t seen = json_u64(j, "polls", task_at(j, t));
    CHECK(seen > 20);
    CHECK(seen < 3020);
    bbx::stop();
}

TEST_CASE("bbx top: a call site registered after the view opened is read (the file is opened again)") {
    temp_capture tc("top-reopen");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id a = bbx::new_task_id();
    BBX_TASK_SPAWN("first_task", a, 0, 0);
    polls(a, 2);
    auto v = top_view::open(tc.path, top_options{});
    REQUIRE(!v.is_error());
    top_view& view = *v.value();
    REQUIRE(!view.refresh().is_error());
    CHECK(view.text().find("second_task") == std::string::npos);
    const bbx::task_id b = bbx::new_task_id();
    BBX_TASK_SPAWN("second_task", b, a, 0);  // a new task site: the metadata grows
    polls(b, 3);
    REQUIRE(!view.refresh().is_error());
    const std::string j = view.json();
    CHECK(j.find("\"name\":\"second_task\"") != std::string::npos);
    CHECK(json_u64(j, "polls", task_at(j, b)) == 3);
    CHECK(json_u64(j, "polls", task_at(j, a)) == 2);
    bbx::stop();
}

TEST_CASE("bbx top: in a live process, a poll running long now and a task woken and not polled are warnings") {
    temp_capture tc("top-live");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id busy = bbx::new_task_id(), waiting = bbx::new_task_id();
    BBX_TASK_SPAWN("stuck_poll", busy, 0, 0);
    BBX_TASK_SPAWN("never_polled", waiting, 0, 0);
    std::atomic<int> stage{0};
    std::thread worker([&] {
        bbx::set_thread_name("worker");
        bbx::task_wake(busy);
        bbx::poll_scope p(busy);
        BBX_SPAN(INFO, "test", "inflate_everything");
        bbx::task_wake(waiting);  // woken from inside the poll: by a task that never lets go
        stage = 1;
        while (stage.load() != 2) std::this_thread::sleep_for(1ms);
    });
    while (stage.load() != 1) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(30ms);  // both over the 5 ms threshold, however loaded the machine
    top_options o;
    o.long_poll_ns = 5'000'000;
    auto v = top_view::open(tc.path, o);
    REQUIRE(!v.is_error());
    REQUIRE(!v.value()->refresh().is_error());
    const std::string text = v.value()->text();
    stage = 2;
    worker.join();
    bbx::stop();
    INFO(text);
    CHECK(text.find("running") != std::string::npos);  // the process: alive, "now" is the clock
    CHECK(text.find("long poll now: task " + std::to_string(busy) + " stuck_poll has held T") != std::string::npos);
    CHECK(text.find("worker for ") != std::string::npos);
    CHECK(text.find("inside inflate_everything") != std::string::npos);
    CHECK(text.find("woken, not polled: task " + std::to_string(waiting) + " never_polled") != std::string::npos);
}

// Where the stalled worker below waits: a function of its own, so the stall
// stack names it.
[[gnu::noinline]] void top_stuck_here(std::atomic<int>& stage) {
    while (stage.load() != 2) std::this_thread::sleep_for(1ms);
    asm volatile("");  // (not a tail call: this frame stays on the stack)
}

TEST_CASE("bbx top: with stall stacks recorded, a poll running long now shows the newest sampled stack") {
    temp_capture tc("top-stall");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    cfg.stall_ms = 5;
    cfg.stall_sample_ms = 2;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id busy = bbx::new_task_id();
    BBX_TASK_SPAWN("stuck_poll", busy, 0, 0);
    std::atomic<int> stage{0};
    std::thread worker([&] {
        bbx::set_thread_name("worker");
        bbx::task_wake(busy);
        bbx::poll_scope p(busy);
        stage = 1;
        top_stuck_here(stage);
    });
    while (stage.load() != 1) std::this_thread::sleep_for(1ms);
    top_options o;
    o.long_poll_ns = 5'000'000;
    auto v = top_view::open(tc.path, o);
    REQUIRE(!v.is_error());
    std::string text, json;
    // Until a sample is in (the watchdog checks every 1.25 ms and samples every 2 ms; 5 s on a loaded machine).
    for (int i = 0; i < 500 && text.find("stall stack") == std::string::npos; ++i) {
        std::this_thread::sleep_for(10ms);
        REQUIRE(!v.value()->refresh().is_error());
        text = v.value()->text();
    }
    json = v.value()->json();
    stage = 2;
    worker.join();
    bbx::stop();
    INFO(text);
    CHECK(text.find("long poll now: task " + std::to_string(busy) + " stuck_poll has held T") != std::string::npos);
    const size_t at = text.find("stall stack (newest of ");
    REQUIRE(at != std::string::npos);
    CHECK(text.find("top_stuck_here", at) != std::string::npos);  // symbolised, with the function it waits in
    CHECK(json.find("\"stall_stack\":[") != std::string::npos);
    CHECK(json.find("top_stuck_here") != std::string::npos);
}

TEST_CASE("bbx top: a new file at the path (the process started again) is read anew") {
    temp_capture tc("top-restart");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id a = bbx::new_task_id();
    BBX_TASK_SPAWN("first_run_task", a, 0, 0);
    polls(a, 2);
    auto v = top_view::open(tc.path, top_options{});
    REQUIRE(!v.is_error());
    top_view& view = *v.value();
    REQUIRE(!view.refresh().is_error());
    CHECK(view.text().find("first_run_task") != std::string::npos);
    bbx::stop();
    unlink(tc.path.c_str());
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id b = bbx::new_task_id();
    BBX_TASK_SPAWN("again_run_task", b, 0, 0);
    polls(b, 1);
    REQUIRE(!view.refresh().is_error());
    const std::string text = view.text();
    INFO(text);
    CHECK(text.find("again_run_task") != std::string::npos);
    CHECK(text.find("first_run_task") == std::string::npos);
    bbx::stop();
}
