// Asio integration (bbx/asio_tracking.hpp): a real TCP echo server and its
// clients, written as asio::awaitable coroutines, traced through Asio's
// handler tracking with no change to their code; the capture is decoded and
// its task events checked against what the program did.
//
// This is the only translation unit of the test binary that includes Asio:
// the two definitions below change the layout of Asio's operations, so every
// TU that includes Asio must agree on them.
#define ASIO_ENABLE_HANDLER_TRACKING
#define ASIO_CUSTOM_HANDLER_TRACKING "bbx/asio_tracking.hpp"
#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT)
// Asio 1.22 looks for clang's coroutines in libc++ only; clang 14 runs
// libstdc++'s <coroutine> fine.
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif

// Asio includes it; named here too so that make's dependency list (which
// leaves out what system headers include) has it.
#include "bbx/asio_tracking.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"
#include "test_util.hpp"

namespace {

namespace fmt = bbx::format;
using asio::ip::tcp;
using bbx::dec::capture;
using bbx::dec::event;

constexpr int clients = 3;
constexpr int round_trips = 5;

// What the coroutines saw from the inside: the task each ran as (per resume)
// and the source lines of their co_awaits that carry a source location.
struct echo_run {
    std::mutex mu;
    bbx::task_id server = 0;
    std::vector<bbx::task_id> sessions, client_tasks;
    int task_changes = 0;       // a coroutine resumed under a task other than its first
    int echoes_ok = 0, echoes_bad = 0;
    std::set<uint32_t> await_lines;  // lines of co_awaits given asio::use_awaitable_t<>()
    std::atomic<int> clients_done{0};
    bool timed_out = false;
};

// Notes the task a coroutine runs as now; `first` keeps the one it started with.
void same_task(echo_run& run, bbx::task_id& first) {
    bbx::task_id now = bbx::current_task();
    std::lock_guard lock(run.mu);
    if (first == 0) first = now;
    else if (now != first) ++run.task_changes;
}

void note_line(echo_run& run, uint32_t line) {
    std::lock_guard lock(run.mu);
    run.await_lines.insert(line);
}

asio::awaitable<void> session(echo_run& run, tcp::socket sock) {
    bbx::task_id me = 0;
    same_task(run, me);
    {
        std::lock_guard lock(run.mu);
        run.sessions.push_back(me);
    }
    char buf[256];
    for (;;) {
        std::size_t n = 0;
        try {
            note_line(run, __LINE__ + 1);
            n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable_t<>());
        } catch (const std::system_error&) {
            break;  // end of file: the client is done
        }
        same_task(run, me);
        co_await asio::async_write(sock, asio::buffer(buf, n), asio::use_awaitable);  // no source location
        same_task(run, me);
    }
}

asio::awaitable<void> server(echo_run& run, tcp::acceptor& acceptor) {
    same_task(run, run.server);
    for (int i = 0; i < clients; ++i) {
        note_line(run, __LINE__ + 1);
        tcp::socket sock = co_await acceptor.async_accept(asio::use_awaitable_t<>());
        same_task(run, run.server);
        asio::co_spawn(acceptor.get_executor(), session(run, std::move(sock)), asio::detached);
    }
}

asio::awaitable<void> client(echo_run& run, tcp::endpoint to, int index, asio::steady_timer& deadline) {
    bbx::task_id me = 0;
    same_task(run, me);
    tcp::socket sock(co_await asio::this_coro::executor);
    note_line(run, __LINE__ + 1);
    co_await sock.async_connect(to, asio::use_awaitable_t<>());
    same_task(run, me);
    for (int r = 0; r < round_trips; ++r) {
        std::string out = "client " + std::to_string(index) + " round " + std::to_string(r);
        note_line(run, __LINE__ + 1);
        co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable_t<>());
        same_task(run, me);
        std::string in(out.size(), '\0');
        note_line(run, __LINE__ + 1);
        co_await asio::async_read(sock, asio::buffer(in), asio::use_awaitable_t<>());
        same_task(run, me);
        std::lock_guard lock(run.mu);
        (in == out ? run.echoes_ok : run.echoes_bad) += 1;
    }
    sock.shutdown(tcp::socket::shutdown_send);
    sock.close();
    {
        std::lock_guard lock(run.mu);
        run.client_tasks.push_back(me);
    }
    if (++run.clients_done == clients) deadline.cancel();
}

// Runs the echo server on one io_context and its clients on another, each on
// a thread of its own, so that the tasks' polls are on two known rings.
// The deadline timer stops both if the exchange takes over 2 s.
void run_echo(echo_run& run) {
    asio::io_context server_ctx(1), client_ctx(1);
    tcp::acceptor acceptor(server_ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const tcp::endpoint to = acceptor.local_endpoint();
    asio::steady_timer deadline(client_ctx, std::chrono::seconds(2));
    deadline.async_wait([&](const asio::error_code& ec) {
        if (!ec) {
            run.timed_out = true;
            server_ctx.stop();
            client_ctx.stop();
        }
    });
    asio::co_spawn(server_ctx, server(run, acceptor), asio::detached);
    for (int i = 0; i < clients; ++i) asio::co_spawn(client_ctx, client(run, to, i, deadline), asio::detached);
    std::thread server_thread([&] {
        bbx::set_thread_name("server");
        server_ctx.run();
    });
    std::thread client_thread([&] {
        bbx::set_thread_name("clients");
        client_ctx.run();
    });
    server_thread.join();
    client_thread.join();
}

// Entries of the handler-count table still held: 0 once every task completed.
size_t live_tasks() {
    size_t n = 0;
    for (const auto& e : bbx::detail::asio_hooks::g_live) n += e.task.load() != 0;
    return n;
}

struct task_events {
    std::string spawn_name;
    uint64_t parent = 0;
    int spawns = 0, wakes = 0, polls = 0, completes = 0, started = 0;
    int polls_without_wake = 0, events_after_complete = 0;
    std::multiset<uint64_t> wakers;  // w1 of its wakes: the task running then, or 0
    int64_t spawn_ring = -1, first_wake_ring = -1;
    std::set<std::string> await_files;
    std::set<uint32_t> await_lines_in_test;  // poll_end sites in this file
    std::set<std::string> poll_threads;
};

}  // namespace

TEST_CASE("an Asio echo server and its clients, as awaitable coroutines, are traced as tasks") {
    temp_capture tc("asio");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 1024;
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    echo_run run;
    run_echo(run);
    bbx::stop();
    CHECK(live_tasks() == 0);

    REQUIRE_FALSE(run.timed_out);
    CHECK(run.echoes_ok == clients * round_trips);
    CHECK(run.echoes_bad == 0);
    // Inside: every coroutine resumed as the task it started as, and the
    // tasks are distinct and known.
    CHECK(run.task_changes == 0);
    REQUIRE(run.server != 0);
    REQUIRE(run.sessions.size() == size_t(clients));
    REQUIRE(run.client_tasks.size() == size_t(clients));
    std::set<bbx::task_id> mine{run.server};
    mine.insert(run.sessions.begin(), run.sessions.end());
    mine.insert(run.client_tasks.begin(), run.client_tasks.end());
    CHECK(mine.size() == size_t(1 + 2 * clients));
    CHECK(mine.count(0) == 0);

    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();

    std::map<uint64_t, task_events> tasks;
    std::map<uint32_t, std::vector<uint64_t>> open_polls;  // ring -> tasks being polled, innermost last
    std::map<uint64_t, int> pending_wakes;
    int unpaired_poll_ends = 0, start_instants = 0;
    std::multiset<std::string> started_ops;
    std::map<uint64_t, std::multiset<std::string>> ops_of_task;
    std::map<uint32_t, std::string> thread_of_ring;
    for (const auto& t : c.threads()) thread_of_ring[t.ring] = t.name;
    REQUIRE(!c.for_each_event([&](const event& e) {
                   if (e.kind == fmt::kind::instant && e.where && e.where->category == "asio" &&
                       e.where->name == "start" && e.nargs == 4) {
                       ++start_instants;
                       std::string op(e.args[2].str);
                       started_ops.insert(op);
                       ops_of_task[e.args[0].word].insert(op);
                       ++tasks[e.args[0].word].started;
                       return;
                   }
                   if (uint8_t(e.kind) < fmt::kind_first_task || uint8_t(e.kind) > fmt::kind_last_task) return;
                   task_events& t = tasks[e.task];
                   if (t.completes > 0) ++t.events_after_complete;
                   switch (e.kind) {
                       case fmt::kind::task_spawn:
                           ++t.spawns;
                           t.parent = e.spawn.parent;
                           t.spawn_name = e.where ? e.where->name : "";
                           t.spawn_ring = e.thread;
                           break;
                       case fmt::kind::task_wake:
                           ++t.wakes;
                           t.wakers.insert(e.wake.waker);
                           if (t.first_wake_ring < 0) t.first_wake_ring = e.thread;
                           ++pending_wakes[e.task];
                           break;
                       case fmt::kind::task_poll_begin:
                           ++t.polls;
                           if (pending_wakes[e.task] == 0) ++t.polls_without_wake;
                           else --pending_wakes[e.task];
                           open_polls[e.thread].push_back(e.task);
                           t.poll_threads.insert(thread_of_ring[e.thread]);
                           break;
                       case fmt::kind::task_poll_end: {
                           auto& stack = open_polls[e.thread];
                           if (stack.empty() || stack.back() != e.task) ++unpaired_poll_ends;
                           else stack.pop_back();
                           if (e.where) {
                               t.await_files.insert(e.where->file);
                               if (e.where->file == __FILE__) t.await_lines_in_test.insert(e.where->line);
                           }
                           break;
                       }
                       case fmt::kind::task_complete: ++t.completes; break;
                       default: break;
                   }
               }).is_error());

    // Every poll_begin was closed by a poll_end of the same task on its thread.
    CHECK(unpaired_poll_ends == 0);
    for (const auto& open : open_polls) CHECK_MESSAGE(open.second.empty(), "ring ", open.first, " ends inside a poll");

    // The coroutines' tasks were spawned where expected: server and clients
    // from main (no parent), every session by the server.
    for (bbx::task_id id : mine) {
        CAPTURE(id);
        REQUIRE(tasks.count(id) == 1);
        const task_events& t = tasks[id];
        CHECK(t.spawns == 1);
        CHECK(t.spawn_name == "asio.co_spawn");
        CHECK(t.completes == 1);  // each coroutine ran to its end
        CHECK(t.events_after_complete == 0);
        CHECK(t.polls_without_wake == 0);
        CHECK(t.wakes >= t.polls);
    }
    int polls_without_wake = 0;
    for (auto& entry : tasks) polls_without_wake += entry.second.polls_without_wake;
    CHECK(polls_without_wake == 0);  // every task, the timer's too
    CHECK(tasks[run.server].parent == 0);
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].parent == 0);
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].parent == run.server);
    // Wakers: the server started each session (it runs inline in the server's
    // poll); a client's sends finish in the poll that starts them, so it wakes
    // itself once per round trip at least.
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].wakers.count(run.server) == 1);
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].wakers.count(id) >= size_t(round_trips));
    // co_spawn from main posts the coroutine's start: it is woken there, on
    // main's ring, and polled later on its io_context's thread.
    for (bbx::task_id id : mine) {
        CAPTURE(id);
        CHECK(tasks[id].first_wake_ring == tasks[id].spawn_ring);
    }
    for (bbx::task_id id : run.client_tasks) CHECK(thread_of_ring[uint32_t(tasks[id].spawn_ring)] != "clients");
    // Each round trip resumes the client after its write and after its read,
    // and the session after each read and each write.
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].polls >= 2 * round_trips);
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].polls >= 2 * round_trips);
    CHECK(tasks[run.server].polls == 1 + clients);  // its start, then each accept
    // Every handler was invoked once, as one poll of its own task; a session
    // also ran once inline from the server's co_spawn, before its first handler.
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].polls == tasks[id].started);
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].polls == tasks[id].started + 1);
    CHECK(tasks[run.server].polls == tasks[run.server].started);
    // Polls ran where the tasks' io_context runs.
    CHECK(tasks[run.server].poll_threads == std::set<std::string>{"server"});
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].poll_threads == std::set<std::string>{"server"});
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].poll_threads == std::set<std::string>{"clients"});

    // Nothing else was polled: the only other task is the deadline timer's
    // handler tree (spawned from main, polled once when cancelled).
    std::vector<uint64_t> others;
    for (auto& [id, t] : tasks)
        if (!mine.count(id) && t.polls > 0) others.push_back(id);
    REQUIRE(others.size() == 1);
    const task_events& timer = tasks[others[0]];
    CHECK(timer.spawn_name == "asio.handler");
    CHECK(timer.parent == 0);
    CHECK(timer.polls == 1);
    CHECK(timer.started == 1);
    CHECK(timer.wakes == 1);
    CHECK(timer.completes == 1);
    CHECK(timer.poll_threads == std::set<std::string>{"clients"});
    CHECK(tasks.count(0) == 0);  // no event names task 0

    // Operations: each started operation is an instant naming its task.
    CHECK(start_instants > 0);
    CHECK(started_ops.count("async_accept") >= size_t(clients));
    CHECK(started_ops.count("async_connect") == size_t(clients));
    for (bbx::task_id id : run.client_tasks) {
        CAPTURE(id);
        CHECK(ops_of_task[id].count("async_connect") == 1);
        CHECK(ops_of_task[id].count("async_send") >= size_t(round_trips));
        CHECK(ops_of_task[id].count("async_accept") == 0);
    }
    for (bbx::task_id id : run.sessions) CHECK(ops_of_task[id].count("async_receive") >= size_t(round_trips + 1));
    CHECK(ops_of_task[run.server].count("async_accept") == size_t(clients));

#if defined(ASIO_HAS_SOURCE_LOCATION)
    // Await sites: the poll_ends of coroutines suspended at a co_await given
    // use_awaitable_t<>() name that line of this file, and no other line.
    std::set<uint32_t> seen_lines;
    for (bbx::task_id id : mine) {
        for (uint32_t line : tasks[id].await_lines_in_test) {
            CAPTURE(line);
            CHECK(run.await_lines.count(line) == 1);
            seen_lines.insert(line);
        }
    }
    CHECK(seen_lines == run.await_lines);
    // The session's async_write with plain use_awaitable has Asio's own site.
    bool write_site = false;
    for (bbx::task_id id : run.sessions)
        for (const std::string& f : tasks[id].await_files) write_site |= f.find("asio/impl/write.hpp") != std::string::npos;
    CHECK(write_site);
#endif
}

TEST_CASE("with no recording running, a tracked Asio program works the same and its tasks are still counted out") {
    REQUIRE(bbx::current_path() == nullptr);
    echo_run run;
    run_echo(run);
    REQUIRE_FALSE(run.timed_out);
    CHECK(run.echoes_ok == clients * round_trips);
    CHECK(run.echoes_bad == 0);
    CHECK(run.task_changes == 0);  // task identity does not depend on the recording
    std::set<bbx::task_id> ids(run.sessions.begin(), run.sessions.end());
    ids.insert(run.client_tasks.begin(), run.client_tasks.end());
    ids.insert(run.server);
    CHECK(ids.size() == size_t(1 + 2 * clients));
    CHECK(ids.count(0) == 0);
    CHECK(live_tasks() == 0);
}
