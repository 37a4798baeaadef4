// Task lifecycle events (format 1.1): what the recorder writes is what the
// decoder returns, field by field.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

TEST_CASE("task events round-trip: spawn, wake, polls with await sites, waits on a named resource, completion") {
    temp_capture tc("tasks");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    bbx::task_id parent = 0, child = 0;
    bbx::resource_id chan = 0;
    uint32_t await_line = 0, wait_line = 0;
    std::thread([&] {
        chan = bbx::register_resource(bbx::resource_kind::channel, "jobs", 8);
        parent = bbx::new_task_id();
        child = bbx::new_task_id();
        BBX_TASK_SPAWN("parent_task", parent, 0, 0);
        bbx::task_wake(parent);
        {
            bbx::poll_scope poll(parent);
            BBX_TASK_SPAWN("child_task", child, bbx::current_task(), 256);
            bbx::task_wake(child);
            bbx::resource_used(chan, bbx::resource_op::send);
            await_line = __LINE__ + 1;
            bbx::note_await();
        }
        {
            bbx::poll_scope poll(child);
            wait_line = __LINE__ + 1;
            bbx::wait_scope wait(chan, bbx::resource_op::recv);
        }
        bbx::task_complete(child);
    }).join();
    bbx::stop();
    REQUIRE(chan != 0);
    REQUIRE(parent != 0);
    CHECK(child != parent);

    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    REQUIRE(c.resources().size() == 1);
    CHECK(c.resources()[0].name == "jobs");
    CHECK(c.resources()[0].capacity == 8);
    CHECK(c.resources()[0].id == chan);

    struct seen {
        fmt::kind k;
        uint64_t task, w1, w2;
        std::string site;
        uint32_t line;
    };
    std::vector<seen> got;
    REQUIRE(!c.for_each_event([&](const event& e) {
                   got.push_back({e.kind, e.task, task_values(e).first, task_values(e).second, e.where ? e.where->name : "", e.where ? e.where->line : 0});
               }).is_error());
    using K = fmt::kind;
    std::vector<K> kinds;
    for (auto& g : got) kinds.push_back(g.k);
    CHECK(kinds == std::vector<K>{K::task_spawn, K::task_wake, K::task_poll_begin, K::task_spawn, K::task_wake,
                                  K::resource_op, K::task_poll_end, K::task_poll_begin, K::wait_begin, K::wait_end,
                                  K::task_poll_end, K::task_complete});
    REQUIRE(got.size() == 12);
    CHECK(got[0].task == parent);
    CHECK(got[0].site == "parent_task");
    CHECK(got[0].w1 == 0);
    CHECK(got[1].w1 == 0);  // woken from outside any task
    CHECK(got[3].task == child);
    CHECK(got[3].w1 == parent);  // spawned by the running task
    CHECK(got[3].w2 == 256);
    CHECK(got[4].w1 == parent);  // woken by the parent
    CHECK(got[5].w1 == chan);
    CHECK(got[5].w2 == uint64_t(bbx::resource_op::send));
    CHECK(got[5].task == parent);
    CHECK(got[6].line == await_line);  // poll_end names the await site
    CHECK(got[8].line == wait_line);
    CHECK(got[8].w2 == uint64_t(bbx::resource_op::recv));
    CHECK(got[8].task == child);
    CHECK(got[10].line == 0);  // no await noted in the child's poll
    CHECK(got[11].task == child);
}

TEST_CASE("task ids are unique across threads") {
    std::vector<std::vector<bbx::task_id>> ids(4);
    std::vector<std::thread> th;
    for (int t = 0; t < 4; ++t)
        th.emplace_back([&, t] {
            for (int i = 0; i < 10000; ++i) ids[size_t(t)].push_back(bbx::new_task_id());
        });
    for (auto& x : th) x.join();
    std::vector<bbx::task_id> all;
    for (auto& v : ids) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(all.front() != 0);
}
