// Coroutine integration (bbx/coro.hpp) through the example task type,
// executor and channel (examples/async/): what a traced task records is
// decoded back and checked against the lines of its co_awaits.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../examples/async/channel.hpp"
#include "../examples/async/executor.hpp"
#include "../examples/async/task.hpp"
#include "bbx/decoder.hpp"
#include "support/capture.hpp"

namespace {

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;
using K = fmt::kind;

struct seen {
    K kind;
    uint32_t ring;
    uint64_t task, w1, w2;
    std::string site, file, function;
    uint32_t line;
    fmt::site_kind site_kind;
};

std::vector<seen> read_events(const std::string& path) {
    std::vector<seen> out;
    auto r = capture::open(path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    REQUIRE(!c.for_each_event([&](const event& e) {
                   if (uint8_t(e.kind) < fmt::kind_first_task || uint8_t(e.kind) > fmt::kind_last_task) return;
                   seen s{e.kind, e.thread, e.task, task_values(e).first, task_values(e).second, "", "", "", 0, fmt::site_kind::span};
                   if (e.where) {
                       s.site = e.where->name;
                       s.file = e.where->file;
                       s.function = e.where->function;
                       s.line = e.where->line;
                       s.site_kind = e.where->kind;
                   }
                   out.push_back(s);
               }).is_error());
    return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<seen> of_task(const std::vector<seen>& all, uint64_t task) {
    std::vector<seen> out;
    for (const seen& s : all)
        if (s.task == task) out.push_back(s);
    return out;
}

// An awaiter that never suspends: await_suspend says "no" (the bool form).
struct not_suspending {};
struct not_suspending_awaiter {
    bool await_ready() noexcept { return false; }
    bool await_suspend(std::coroutine_handle<>) noexcept { return false; }
    int await_resume() noexcept { return 7; }
};
not_suspending_awaiter operator co_await(not_suspending) { return {}; }  // free operator co_await

// A type with a member operator co_await that suspends and reschedules.
struct reschedule {
    demo::executor& ex;
    auto operator co_await() {
        struct awaiter {
            demo::executor& ex;
            bool await_ready() noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) { ex.schedule(h, bbx::current_task()); }
            void await_resume() noexcept {}
        };
        return awaiter{ex};
    }
};

struct lines {
    uint32_t yield = 0, nested = 0, offload = 0, not_suspending = 0, member = 0;
};

demo::task<> coro_child() { co_return; }

demo::task<int> nested_offload(demo::executor& ex, lines& l) {
    l.offload = __LINE__ + 1;
    int v = co_await ex.offload([] { return 35; });
    co_return v;
}

demo::task<> coro_root(demo::executor& ex, lines& l, int& result) {
    ex.spawn(BBX_TASK_SITE("coro_child"), coro_child());
    l.yield = __LINE__ + 1;
    co_await ex.yield();
    l.nested = __LINE__ + 1;
    int v = co_await nested_offload(ex, l);  // suspends into the nested task (symmetric transfer)
    l.not_suspending = __LINE__ + 1;
    v += co_await not_suspending{};
    l.member = __LINE__ + 1;
    co_await reschedule{ex};
    result = v;
}

}  // namespace

TEST_CASE("a traced coroutine task: spawn with name and parent, a wake before each poll, each poll_end at its co_await") {
    temp_capture tc("coro");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    lines l;
    int result = 0;
    {
        demo::executor ex(1, 1);
        ex.spawn(BBX_TASK_SITE("coro_root"), coro_root(ex, l, result));
        CHECK(ex.wait_done(std::chrono::seconds(5)));
    }
    bbx::stop();
    CHECK(result == 42);

    std::vector<seen> all = read_events(tc.path);
    uint64_t root = 0, child = 0;
    for (const seen& s : all) {
        if (s.kind != K::task_spawn) continue;
        if (s.site == "coro_root") root = s.task;
        if (s.site == "coro_child") child = s.task;
    }
    REQUIRE(root != 0);
    REQUIRE(child != 0);
    CHECK(root != child);

    std::vector<seen> ev = of_task(all, root);
    // Wakes apart: a wake can come while the poll that suspended is still
    // ending (a self-wake, or the blocking thread being quick), so it may
    // precede that poll's poll_end; it always precedes the next poll_begin.
    std::vector<seen> steps, wakes;
    std::vector<size_t> wake_at, poll_at;  // indices into ev
    for (size_t i = 0; i < ev.size(); ++i) {
        if (ev[i].kind == K::task_wake) {
            wakes.push_back(ev[i]);
            wake_at.push_back(i);
        } else {
            steps.push_back(ev[i]);
            if (ev[i].kind == K::task_poll_begin) poll_at.push_back(i);
        }
    }
    std::vector<K> kinds;
    for (const seen& s : steps) kinds.push_back(s.kind);
    // Three suspensions (yield, the nested task's offload, the member
    // operator co_await), so four polls; the co_await that did not suspend
    // does not split a poll.
    CHECK(kinds == std::vector<K>{K::task_spawn, K::task_poll_begin, K::task_poll_end, K::task_poll_begin,
                                  K::task_poll_end, K::task_poll_begin, K::task_poll_end, K::task_poll_begin,
                                  K::task_complete, K::task_poll_end});
    REQUIRE(steps.size() == 10);
    REQUIRE(wakes.size() == 4);
    REQUIRE(poll_at.size() == 4);
    for (size_t k = 0; k < 4; ++k) {  // one wake before each poll, after the previous poll began
        CHECK(wake_at[k] < poll_at[k]);
        if (k > 0) CHECK(wake_at[k] > poll_at[k - 1]);
    }

    CHECK(steps[0].site_kind == fmt::site_kind::task);
    CHECK(ends_with(steps[0].file, "test_coro.cpp"));
    CHECK(steps[0].w1 == 0);  // spawned from main(), outside any task
    CHECK(steps[0].w2 > 0);   // the frame size operator new was asked for

    // Each poll_end names the co_await where the task suspended; the last
    // (the task finished) names none.
    CHECK(steps[2].line == l.yield);
    CHECK(steps[2].function == "coro_root");
    CHECK(steps[4].line == l.offload);
    CHECK(steps[4].function == "nested_offload");  // a nested task's await, recorded as the root task's
    CHECK(steps[6].line == l.member);
    // Await sites are registered when first noted: the four co_awaits that
    // suspended (the one into the nested task too), not the one that did not.
    {
        auto r = capture::open(tc.path);
        REQUIRE(!r.is_error());
        std::vector<uint32_t> await_lines;
        for (const bbx::dec::site& s : r.value()->sites())
            if (s.kind == fmt::site_kind::await) await_lines.push_back(s.line);
        std::sort(await_lines.begin(), await_lines.end());
        std::vector<uint32_t> want{l.yield, l.nested, l.offload, l.member};
        std::sort(want.begin(), want.end());
        CHECK(await_lines == want);
        CHECK(std::find(await_lines.begin(), await_lines.end(), l.not_suspending) == await_lines.end());
    }
    // Who woke it: main (0), itself (yield), the blocking thread (0), itself.
    CHECK(wakes[0].w1 == 0);
    CHECK(wakes[1].w1 == root);
    CHECK(wakes[2].w1 == 0);
    CHECK(wakes[3].w1 == root);
    CHECK(wakes[2].ring != steps[1].ring);
    // Every poll begins and ends on the executor's thread.
    for (size_t i = 1; i < steps.size(); ++i) CHECK(steps[i].ring == steps[1].ring);

    // The child: spawned by the running root task, woken by it, one poll.
    std::vector<seen> ch = of_task(all, child);
    REQUIRE(ch.size() == 5);
    CHECK(ch[0].kind == K::task_spawn);
    CHECK(ch[0].w1 == root);
    CHECK(ch[1].kind == K::task_wake);
    CHECK(ch[1].w1 == root);
    CHECK(ch[2].kind == K::task_poll_begin);
    CHECK(ch[3].kind == K::task_complete);
    CHECK(ch[4].kind == K::task_poll_end);
    CHECK(ch[4].line == 0);
}

namespace {

struct chan_lines {
    uint32_t recv = 0, send = 0;
};

demo::task<> consumer(demo::channel<int>& ch, chan_lines& l, std::vector<int>& got) {
    for (int i = 0; i < 3; ++i) {
        l.recv = __LINE__ + 1;
        std::optional<int> v = co_await ch.recv();
        if (v) got.push_back(*v);
    }
}

demo::task<> producer(demo::channel<int>& ch, chan_lines& l) {
    for (int i = 0; i < 3; ++i) {
        l.send = __LINE__ + 1;
        co_await ch.send(i);
    }
    ch.close();
}

}  // namespace

TEST_CASE("channel operations: a wait on an empty or full channel names its co_await, the others are resource_op") {
    temp_capture tc("coro-chan");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    chan_lines l;
    std::vector<int> got;
    bbx::resource_id chan_id = 0;
    {
        // One executor thread: the run queue fixes the order. The consumer
        // runs first and finds the channel empty; the producer then hands
        // item 0 to it, buffers item 1, and waits with item 2.
        demo::executor ex(1, 1);
        demo::channel<int> ch(ex, "test_chan", 1);
        chan_id = ch.id();
        ex.spawn(BBX_TASK_SITE("consumer"), consumer(ch, l, got));
        ex.spawn(BBX_TASK_SITE("producer"), producer(ch, l));
        CHECK(ex.wait_done(std::chrono::seconds(5)));
    }
    bbx::stop();
    CHECK(got == std::vector<int>{0, 1, 2});
    REQUIRE(chan_id != 0);

    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    const bbx::dec::resource* res = r.value()->find_resource(chan_id);
    REQUIRE(res != nullptr);
    CHECK(res->name == "test_chan");
    CHECK(res->capacity == 1);
    CHECK(res->kind == uint8_t(bbx::resource_kind::channel));

    std::vector<seen> all = read_events(tc.path);
    uint64_t cons = 0, prod = 0;
    for (const seen& s : all) {
        if (s.kind == K::task_spawn && s.site == "consumer") cons = s.task;
        if (s.kind == K::task_spawn && s.site == "producer") prod = s.task;
    }
    REQUIRE(cons != 0);
    REQUIRE(prod != 0);

    // The channel's events, in order: who did what.
    struct op {
        K kind;
        uint64_t task;
        uint64_t op;
        uint32_t line;
    };
    std::vector<op> ops;
    for (const seen& s : all)
        if ((s.kind == K::wait_begin || s.kind == K::wait_end || s.kind == K::resource_op) && s.w1 == chan_id)
            ops.push_back({s.kind, s.task, s.w2, s.line});
    const uint64_t send = uint64_t(bbx::resource_op::send), recv = uint64_t(bbx::resource_op::recv);
    REQUIRE(ops.size() == 8);
    CHECK((ops[0].kind == K::wait_begin && ops[0].task == cons && ops[0].op == recv));
    CHECK(ops[0].line == l.recv);
    CHECK((ops[1].kind == K::wait_end && ops[1].task == cons && ops[1].op == recv));  // item 0, handed over
    CHECK((ops[2].kind == K::resource_op && ops[2].task == prod && ops[2].op == send));
    CHECK((ops[3].kind == K::resource_op && ops[3].task == prod && ops[3].op == send));  // item 1, buffered
    CHECK((ops[4].kind == K::wait_begin && ops[4].task == prod && ops[4].op == send));   // item 2: full
    CHECK(ops[4].line == l.send);
    CHECK((ops[5].kind == K::resource_op && ops[5].task == cons && ops[5].op == recv));  // takes item 1...
    CHECK((ops[6].kind == K::wait_end && ops[6].task == prod && ops[6].op == send));     // ...which lets item 2 in
    CHECK((ops[7].kind == K::resource_op && ops[7].task == cons && ops[7].op == recv));
    for (const op& o : ops)
        if (o.kind != K::wait_begin) CHECK(o.line == 0);

    // Each wait ends before its task is woken, and the poll that suspended
    // there names the same line.
    for (uint64_t t : {cons, prod}) {
        std::vector<seen> ev = of_task(all, t);
        for (size_t i = 0; i < ev.size(); ++i) {
            if (ev[i].kind != K::wait_begin) continue;
            REQUIRE(i + 1 < ev.size());
            CHECK(ev[i + 1].kind == K::task_poll_end);
            CHECK(ev[i + 1].line == ev[i].line);
            size_t end = i + 2;
            while (end < ev.size() && ev[end].kind != K::wait_end) ++end;
            REQUIRE(end + 2 < ev.size());
            CHECK(ev[end + 1].kind == K::task_wake);
            CHECK(ev[end + 2].kind == K::task_poll_begin);
        }
    }
}

namespace {

// A task type of one's own, driven by hand: the quick start of bbx/coro.hpp,
// with an await_transform of its own that forwards to the mixin's.
struct manual_task {
    struct promise_type : bbx::promise_tracing {
        int transformed = 0;
        manual_task get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept {
            on_final_suspend();
            return {};
        }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
        template <class A>
        auto await_transform(A&& a, bbx::await_here loc = bbx::await_here::current()) {
            ++transformed;
            return promise_tracing::await_transform(std::forward<A>(a), loc);
        }
    };
    std::coroutine_handle<promise_type> h;
};

manual_task suspend_once(uint32_t& line) {
    line = __LINE__ + 1;
    co_await std::suspend_always{};
}

}  // namespace

TEST_CASE("a task type of one's own: the promise_tracing hooks, driven by hand, and a forwarding await_transform") {
    temp_capture tc("coro-manual");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    uint32_t line = 0;
    manual_task t = suspend_once(line);
    auto& p = t.h.promise();
    p.on_spawn(BBX_TASK_SITE("manual"));
    const bbx::task_id id = p.id();
    for (int i = 0; i < 2 && !t.h.done(); ++i) {
        p.on_wake();
        auto poll = p.on_resume();
        t.h.resume();
    }
    CHECK(t.h.done());
    CHECK(p.transformed == 1);
    CHECK(p.is_top_level());
    const uint64_t frame = p.frame_bytes();
    t.h.destroy();
    bbx::stop();
    REQUIRE(id != 0);
    // frame may be 0 here: clang -O2 elides this frame's allocation (the
    // coroutine does not outlive this scope), and then nothing was measured.

    std::vector<seen> ev = of_task(read_events(tc.path), id);
    std::vector<K> kinds;
    for (const seen& s : ev) kinds.push_back(s.kind);
    CHECK(kinds == std::vector<K>{K::task_spawn, K::task_wake, K::task_poll_begin, K::task_poll_end, K::task_wake,
                                  K::task_poll_begin, K::task_complete, K::task_poll_end});
    REQUIRE(ev.size() == 8);
    CHECK(ev[0].site == "manual");
    CHECK(ev[0].w1 == 0);
    CHECK(ev[0].w2 == frame);
    CHECK(ev[3].line == line);
    CHECK(ev[3].function == "suspend_once");
    CHECK(ev[7].line == 0);
}
