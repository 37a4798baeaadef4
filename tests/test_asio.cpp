// Asio integration (bbx/asio_tracking.hpp), in process: a TCP echo server and
// its clients written as asio::awaitable coroutines, a callback server with
// an accept loop, strands and a per-connection timer, handlers posted from
// main by the thousand, and handlers that re-post themselves; each traced
// through Asio's handler tracking with no change to its code, the capture
// decoded and its task events checked against what the program did.
// (test_asio_examples.cpp runs Asio's own examples and a Beast server.)
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
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "asio_capture.hpp"
#include "bbx/decoder.hpp"
#include "test_util.hpp"

namespace {

using asio::ip::tcp;
using asio_capture::summary;
using asio_capture::task_summary;

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

namespace hooks = bbx::detail::asio_hooks;

// Entries of the handler-count table still held: 0 once every task completed.
size_t live_tasks() {
    size_t n = 0;
    for (unsigned k = 0; k < hooks::g_tasks.segments(); ++k) {
        const hooks::task_entry* seg = hooks::g_tasks.segment(k);
        for (size_t i = 0; i < hooks::task_table::size_of(k); ++i) n += seg[i].task.load() != 0;
    }
    return n;
}

bool from_this_file(const asio_capture::code_line& l) { return l.file == __FILE__; }

void start_recording(const temp_capture& tc, uint32_t ring_kb, int level = BBX_LEVEL_TRACE) {
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = ring_kb;
    cfg.max_threads = 8;
    cfg.level = level;
    REQUIRE(bbx::start(cfg).ok());
}

}  // namespace

TEST_CASE("an Asio echo server and its clients, as awaitable coroutines, are traced as tasks") {
    temp_capture tc("asio");
    start_recording(tc, 1024);
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

    summary s;
    REQUIRE(asio_capture::read(tc.path, s) == "");
    auto& tasks = s.tasks;
    // Every poll_begin was closed by a poll_end of the same task on its thread.
    CHECK(s.unpaired_poll_ends == 0);
    CHECK(s.polls_open_at_end == 0);
    CHECK(s.nested_same_task_polls == 0);
    CHECK(s.task_zero_events == 0);

    // The coroutines' tasks were spawned where expected: server and clients
    // from main (no parent), every session by the server; no file or line is
    // known for a co_spawn, and none is made up.
    for (bbx::task_id id : mine) {
        CAPTURE(id);
        REQUIRE(tasks.count(id) == 1);
        const task_summary& t = tasks[id];
        CHECK(t.spawns == 1);
        CHECK(t.name == "asio.co_spawn");
        CHECK(t.spawned_at.file == "");
        CHECK(t.spawned_at.line == 0);
        CHECK(t.completes == 1);  // each coroutine ran to its end
        CHECK(t.events_after_complete == 0);
        CHECK(t.polls_without_wake == 0);
        CHECK(t.wakes >= t.polls);
        CHECK(t.self_wakes == 0);  // writes that complete at once are woken by the I/O, not by the task
    }
    int polls_without_wake = 0;
    for (auto& entry : tasks) polls_without_wake += entry.second.polls_without_wake;
    CHECK(polls_without_wake == 0);  // every task, the timer's too
    CHECK(s.self_wakes() == 0);
    CHECK(tasks[run.server].parent == 0);
    for (bbx::task_id id : run.client_tasks) CHECK(tasks[id].parent == 0);
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].parent == run.server);
    // Wakers: the server started each session (it runs inline in the server's
    // poll); every other wake of a session or client came from the I/O.
    for (bbx::task_id id : run.sessions) {
        CHECK(tasks[id].wakers.count(run.server) == 1);
        CHECK(tasks[id].wakers.count(0) == size_t(tasks[id].wakes - 1));
    }
    // co_spawn from main posts the coroutine's start: it is woken there, on
    // main's ring, and polled later on its io_context's thread.
    for (bbx::task_id id : mine) {
        CAPTURE(id);
        CHECK(tasks[id].first_wake_ring == tasks[id].spawn_ring);
    }
    for (bbx::task_id id : run.client_tasks) CHECK(s.thread_of_ring[uint32_t(tasks[id].spawn_ring)] != "clients");
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
    // handler chain (started from main, polled once when cancelled).
    std::vector<uint64_t> others;
    for (auto& [id, t] : tasks)
        if (!mine.count(id) && t.polls > 0) others.push_back(id);
    REQUIRE(others.size() == 1);
    const task_summary& timer = tasks[others[0]];
    CHECK(timer.name == "asio.timer");
    CHECK(timer.parent == 0);
    CHECK(timer.polls == 1);
    CHECK(timer.started == 1);
    CHECK(timer.wakes == 1);
    CHECK(timer.completes == 1);
    CHECK(timer.poll_threads == std::set<std::string>{"clients"});

    // Operations: each started operation is an instant naming its task.
    for (bbx::task_id id : run.client_tasks) {
        CAPTURE(id);
        CHECK(tasks[id].ops.count("async_connect") == 1);
        CHECK(tasks[id].ops.count("async_send") >= size_t(round_trips));
        CHECK(tasks[id].ops.count("async_accept") == 0);
    }
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].ops.count("async_receive") >= size_t(round_trips + 1));
    CHECK(tasks[run.server].ops.count("async_accept") == size_t(clients));

    // Await sites: a poll_end names the co_await the coroutine waits at, when
    // the co_await gave a location (use_awaitable_t<>()), and no other line:
    // the inner steps of async_read keep the client's line; the session's
    // async_write with the plain use_awaitable names no site, not Asio's.
    std::set<uint32_t> seen_lines;
    for (bbx::task_id id : mine) {
        for (const auto& site_count : tasks[id].await_sites) {
            const asio_capture::code_line& at = site_count.first;
            CAPTURE(at.file);
            CAPTURE(at.line);
            CHECK_FALSE(asio_capture::library_file(at.file));
#if defined(ASIO_HAS_SOURCE_LOCATION)
            CHECK(from_this_file(at));
            CHECK(run.await_lines.count(at.line) == 1);
            seen_lines.insert(at.line);
#endif
        }
    }
#if defined(ASIO_HAS_SOURCE_LOCATION)
    CHECK(seen_lines == run.await_lines);
#endif
    for (bbx::task_id id : run.sessions) CHECK(tasks[id].poll_ends_without_site >= round_trips);
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

namespace {

// A callback server as Asio's and Beast's examples write one: an accept loop,
// and per connection a socket on a strand of a 2-thread io_context plus a
// deadline timer, a read of the request, a reply written with async_write,
// then close. What the handlers saw as bbx::current_task() is kept.
struct callback_run {
    std::mutex mu;
    std::set<bbx::task_id> accept_tasks;
    std::map<int, std::set<bbx::task_id>> connection_tasks;  // connection -> tasks its handlers ran as
    std::atomic<int> served{0};
};

class connection : public std::enable_shared_from_this<connection> {
public:
    connection(callback_run& run, int index, tcp::socket sock)
        : run_(run), index_(index), sock_(std::move(sock)), timer_(sock_.get_executor()) {}
    void start() {
        timer_.expires_after(std::chrono::seconds(30));
        timer_.async_wait([self = shared_from_this()](const asio::error_code&) { self->note(); });
        sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](const asio::error_code& ec, size_t n) {
            self->note();
            if (ec) return;
            self->reply_.assign(64 * 1024, 'r');  // more than one write may take
            self->reply_.replace(0, n, self->buf_, n);
            asio::async_write(self->sock_, asio::buffer(self->reply_), [self](const asio::error_code&, size_t) {
                self->note();
                self->timer_.cancel();
                self->sock_.close();
                ++self->run_.served;
            });
        });
    }

private:
    void note() {
        std::lock_guard lock(run_.mu);
        run_.connection_tasks[index_].insert(bbx::current_task());
    }
    callback_run& run_;
    int index_;
    tcp::socket sock_;
    asio::steady_timer timer_;
    char buf_[256];
    std::string reply_;
};

void accept_next(callback_run& run, asio::io_context& ctx, tcp::acceptor& acceptor, int index, int total) {
    if (index == total) return;
    acceptor.async_accept(asio::make_strand(ctx), [&run, &ctx, &acceptor, index, total](const asio::error_code& ec,
                                                                                         tcp::socket sock) {
        {
            std::lock_guard lock(run.mu);
            run.accept_tasks.insert(bbx::current_task());
        }
        if (!ec) std::make_shared<connection>(run, index, std::move(sock))->start();
        accept_next(run, ctx, acceptor, index + 1, total);
    });
}

// Clients with plain blocking sockets: `total` connections, two at a time.
void run_callback_server(callback_run& run, int total) {
    asio::io_context ctx(2);
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const tcp::endpoint to = acceptor.local_endpoint();
    accept_next(run, ctx, acceptor, 0, total);
    std::vector<std::thread> pool;
    for (int i = 0; i < 2; ++i) pool.emplace_back([&] { ctx.run(); });
    std::vector<std::thread> clients_;
    for (int c = 0; c < 2; ++c)
        clients_.emplace_back([&, c] {
            for (int i = c; i < total; i += 2) {
                asio::io_context blocking;
                tcp::socket s(blocking);
                s.connect(to);
                asio::write(s, asio::buffer(std::string("request ") + std::to_string(i)));
                std::string in(64 * 1024, '\0');
                asio::error_code ec;
                asio::read(s, asio::buffer(in), ec);
            }
        });
    for (auto& t : clients_) t.join();
    for (auto& t : pool) t.join();  // run() returns when the last connection closed
}

}  // namespace

TEST_CASE("a callback server: the accept loop is one task, each connection a child task with its timer") {
    constexpr int total = 40;
    temp_capture tc("asio-callback");
    start_recording(tc, 4096);
    callback_run run;
    run_callback_server(run, total);
    bbx::stop();
    REQUIRE(run.served == total);
    CHECK(live_tasks() == 0);

    // From the inside: every accept handler ran as one task, every
    // connection's handlers (socket, timer, strand) as one task of its own.
    REQUIRE(run.accept_tasks.size() == 1);
    const bbx::task_id acceptor = *run.accept_tasks.begin();
    CHECK(acceptor != 0);
    std::set<bbx::task_id> conns;
    for (const auto& connection_entry : run.connection_tasks) {
        const int index = connection_entry.first;
        const std::set<bbx::task_id>& ids = connection_entry.second;
        CAPTURE(index);
        CHECK(ids.size() == 1);
        CHECK(ids.count(0) == 0);
        CHECK(ids.count(acceptor) == 0);
        conns.insert(ids.begin(), ids.end());
    }
    CHECK(conns.size() == size_t(total));

    summary s;
    REQUIRE(asio_capture::read(tc.path, s) == "");
    CHECK(s.unpaired_poll_ends == 0);
    CHECK(s.polls_open_at_end == 0);
    CHECK(s.nested_same_task_polls == 0);  // strand dispatches run at once are part of the poll
    CHECK(s.task_zero_events == 0);
    CHECK(s.self_wakes() == 0);  // immediate writes, inner steps of async_write: woken by the I/O
    CHECK(s.tasks.size() == size_t(total + 1));
    const task_summary& a = s.tasks[acceptor];
    CHECK(a.name == "asio.acceptor");
    CHECK(a.parent == 0);
    CHECK(a.ops.count("async_accept") == size_t(total));
    CHECK(a.ops.count("async_receive") == 0);
    for (bbx::task_id id : conns) {
        CAPTURE(id);
        const task_summary& t = s.tasks[id];
        CHECK(t.name == "asio.connection");  // a child of the accept loop, its timer and socket both
        CHECK(t.spawned_at.file == "");
        CHECK(t.parent == acceptor);
        CHECK(t.completes == 1);
        CHECK(t.events_after_complete == 0);
        CHECK(t.polls_without_wake == 0);
        CHECK(t.ops.count("async_wait") == 1);
        CHECK(t.ops.count("async_receive") == 1);
        CHECK(t.ops.count("async_send") >= 1);
        CHECK(t.objects.count("deadline_timer") == 1);
        // The read, the timer and each write step are polls; the strand's
        // dispatches of the same handlers are not polls of their own.
        CHECK(t.polls == t.wakes);
        CHECK(t.polls >= 3);
        CHECK(t.wakers.count(0) == size_t(t.wakes));
        // Callback code gives no location but Asio's own for async_write.
        for (const auto& site_count : t.await_sites) {
            const asio_capture::code_line& at = site_count.first;
            CAPTURE(at.file);
            CHECK(asio_capture::ends_with(at.file, "asio/impl/write.hpp"));
        }
    }
}

TEST_CASE("20,000 handlers posted from main are 20,000 tasks, all done; a full table is reported with its count") {
    constexpr int posted = 20000;
    SUBCASE("the task table grows") {
        temp_capture tc("asio-posts");
        start_recording(tc, 16384, BBX_LEVEL_INFO);
        asio::io_context ctx(1);
        int ran = 0;
        for (int i = 0; i < posted; ++i) asio::post(ctx, [&] { ++ran; });
        CHECK(live_tasks() == size_t(posted));
        ctx.run();
        bbx::stop();
        CHECK(ran == posted);
        CHECK(live_tasks() == 0);
        summary s;
        REQUIRE(asio_capture::read(tc.path, s) == "");
        CHECK(s.lost.overwritten == 0);
        CHECK(s.tasks_named("asio.post") == posted);
        int done = 0;
        for (const auto& [id, t] : s.tasks) done += t.completes == 1 && t.polls == 1 && t.wakes == 1;
        CHECK(done == posted);
        CHECK(s.untracked_task_instants == 0);
        auto cap = bbx::dec::capture::open(tc.path);
        REQUIRE(!cap.is_error());
        auto a = bbx::dec::analyze(*cap.value(), bbx::dec::analyze_options{});
        REQUIRE(!a.is_error());
        int tasks_done = 0;
        for (const auto& t : a.value().tasks) tasks_done += t.state == bbx::dec::task_end_state::done;
        CHECK(tasks_done == posted);  // bbx analyze: 20,000 tasks done
        CHECK(a.value().warnings.empty());
    }
    SUBCASE("a table that cannot grow says how many tasks it could not count") {
        temp_capture tc("asio-full");
        start_recording(tc, 16384, BBX_LEVEL_INFO);
        const uint64_t before = hooks::g_untracked_tasks.load();
        hooks::g_task_segment_limit.store(1);
        asio::io_context ctx(1);
        int ran = 0;
        for (int i = 0; i < posted; ++i) asio::post(ctx, [&] { ++ran; });
        const uint64_t untracked = hooks::g_untracked_tasks.load() - before;
        ctx.run();
        hooks::g_task_segment_limit.store(hooks::task_table::max_segments);
        bbx::stop();
        CHECK(ran == posted);
        CHECK(live_tasks() == 0);
        CHECK(untracked >= uint64_t(posted - hooks::task_table::size_of(0)));
        CHECK(untracked < uint64_t(posted));
        summary s;
        REQUIRE(asio_capture::read(tc.path, s) == "");
        CHECK(s.untracked_task_instants == int(untracked));
        CHECK(s.untracked_tasks == before + untracked);
        int done = 0, never = 0;
        for (const auto& [id, t] : s.tasks) (t.completes == 1 ? done : never) += 1;
        CHECK(done == posted - int(untracked));
        CHECK(never == int(untracked));  // polled, never completed: the count says why
        // bbx analyze says so, with the count, in its data, text and JSON.
        auto cap = bbx::dec::capture::open(tc.path);
        REQUIRE(!cap.is_error());
        bbx::dec::analyze_options opt;
        auto a = bbx::dec::analyze(*cap.value(), opt);
        REQUIRE(!a.is_error());
        REQUIRE(a.value().warnings.size() == 1);
        const bbx::dec::analysis_warning& w = a.value().warnings[0];
        CHECK(w.kind == bbx::dec::warning_kind::untracked);
        CHECK(w.limit == "asio/untracked_task");
        CHECK(w.count == untracked);
        CHECK(w.count_reported == before + untracked);
        CHECK(w.at.line == 0);  // the instant's line is this integration's, not the program's
        const std::string n = std::to_string(untracked);
        CHECK(w.message.find("could not track " + n + " tasks") != std::string::npos);
        for (bool json : {false, true}) {
            opt.json = json;
            char* buf = nullptr;
            size_t len = 0;
            FILE* out = open_memstream(&buf, &len);
            REQUIRE(out);
            std::string err;
            CHECK(bbx::dec::write_analysis(bbx::dec::input(*cap.value()), opt, out, err));
            std::fclose(out);
            const std::string text(buf, len);
            std::free(buf);
            CAPTURE(text.substr(text.find("warnings")));
            if (json) {
                CHECK(text.find("\"kind\":\"untracked\"") != std::string::npos);
                CHECK(text.find("\"count\":" + n + ",") != std::string::npos);
            } else {
                CHECK(text.find("  untracked  at ") != std::string::npos);
                CHECK(text.find("could not track " + n + " tasks") != std::string::npos);
            }
        }
    }
}

namespace {

// A handler that re-posts itself `left` times: a task yielding in a loop.
struct yielder {
    asio::io_context& ctx;
    int left;
    bbx::task_id* task;
    void operator()() {
        *task = bbx::current_task();
        if (left-- > 0) asio::post(ctx, *this);
    }
};

// The same through a strand: each post goes to the strand's queue, and the
// strand's invoker re-posts itself to run it.
struct strand_yielder {
    asio::strand<asio::io_context::executor_type>& strand;
    int left;
    bbx::task_id* task;
    void operator()() {
        *task = bbx::current_task();
        if (left-- > 0) asio::post(strand, *this);
    }
};

// A handler that re-posts itself and, every fifth time (the last
// included), starts an async_write after the post: a composed operation
// with a location of Asio's own, which must not become the yield's line.
struct writing_yielder {
    asio::io_context& ctx;
    asio::local::stream_protocol::socket& sock;
    int left;
    bbx::task_id* task;
    void operator()() {
        *task = bbx::current_task();
        if (left-- > 0) asio::post(ctx, *this);
        if (left % 5 == 0) asio::async_write(sock, asio::buffer("x", 1), [](const asio::error_code&, size_t) {});
    }
};

asio::awaitable<void> yielding(int times, uint32_t* line) {
    for (int i = 0; i < times; ++i) {
        *line = __LINE__ + 1;
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable_t<>());
    }
}

}  // namespace

TEST_CASE("a handler or coroutine that re-posts itself is recorded as waking itself, the coroutine with its line") {
    constexpr int times = 50;
    temp_capture tc("asio-yield");
    start_recording(tc, 1024);
    asio::io_context ctx(1);
    bbx::task_id callback_task = 0;
    asio::post(ctx, yielder{ctx, times, &callback_task});
    uint32_t line = 0;
    asio::co_spawn(ctx, yielding(times, &line), asio::detached);
    auto strand = asio::make_strand(ctx);
    bbx::task_id strand_task = 0, strand_poster = 0;
    asio::post(ctx, [&] {
        strand_poster = bbx::current_task();
        asio::post(strand, strand_yielder{strand, times, &strand_task});
    });
    ctx.run();
    bbx::stop();
    CHECK(live_tasks() == 0);
    REQUIRE(callback_task != 0);

    summary s;
    REQUIRE(asio_capture::read(tc.path, s) == "");
    const task_summary& cb = s.tasks[callback_task];
    CHECK(cb.name == "asio.post");
    CHECK(cb.self_wakes == times);
    CHECK(cb.wakes == times + 1);  // and once by main
    CHECK(cb.polls == times + 1);
    CHECK(cb.completes == 1);
    // Through the strand: one task, the one that first posted to it; every
    // post is a self-wake (the first, then one per re-post), and the
    // strand's handlers run inside the invoker's polls, not as polls of their own.
    CHECK(strand_task == strand_poster);
    const task_summary& st = s.tasks[strand_task];
    CHECK(st.name == "asio.post");
    CHECK(st.self_wakes == times + 1);
    CHECK(st.wakes == times + 2);
    CHECK(st.polls == times + 2);
    CHECK(st.completes == 1);
    int coroutines = 0;
    for (const auto& [id, t] : s.tasks) {
        if (t.name != "asio.co_spawn") continue;
        ++coroutines;
        CHECK(t.self_wakes == times);
        CHECK(t.completes == 1);
#if defined(ASIO_HAS_SOURCE_LOCATION)
        // Where it yields: this file's co_await line, every time.
        REQUIRE(t.await_sites.size() == 1);
        CHECK(t.await_sites.begin()->first.file == __FILE__);
        CHECK(t.await_sites.begin()->first.line == line);
        CHECK(t.await_sites.begin()->second == times);
#endif
    }
    CHECK(coroutines == 1);
}

TEST_CASE("bbx analyze finds a handler or coroutine that re-posts itself: the coroutine at its line, a callback's "
          "line unknown, never one in Asio's headers") {
    constexpr int times = 50;
    temp_capture tc("asio-yield-analyze");
    start_recording(tc, 1024);
    asio::io_context ctx(1);
    bbx::task_id callback_task = 0, writer_task = 0, strand_task = 0;
    asio::post(ctx, yielder{ctx, times, &callback_task});
    asio::local::stream_protocol::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    asio::post(ctx, writing_yielder{ctx, a, times, &writer_task});
    uint32_t line = 0;
    asio::co_spawn(ctx, yielding(times, &line), asio::detached);
    auto strand = asio::make_strand(ctx);
    asio::post(ctx, [&] { asio::post(strand, strand_yielder{strand, times, &strand_task}); });
    ctx.run();
    bbx::stop();
    REQUIRE(callback_task != 0);
    REQUIRE(writer_task != 0);

    auto cap = bbx::dec::capture::open(tc.path);
    REQUIRE(!cap.is_error());
    auto r = bbx::dec::analyze(*cap.value(), bbx::dec::analyze_options{});
    REQUIRE(!r.is_error());
    const bbx::dec::analysis& an = r.value();
    std::map<uint64_t, const bbx::dec::analysis_warning*> self;
    std::string all;
    for (const auto& w : an.warnings) {
        all += "\n  " + w.message;
        if (w.kind == bbx::dec::warning_kind::self_wake) self[w.task] = &w;
    }
    INFO(all);
    CHECK(self.size() == 4);  // the three callback loops and the coroutine
    for (bbx::task_id t : {callback_task, writer_task, strand_task}) {
        CAPTURE(t);
        REQUIRE(self.count(t) == 1);
        const auto& w = *self[t];
        // Asio gives a post no location: unknown, and said so.
        CHECK(w.at.file == "");
        CHECK(w.at.line == 0);
        CHECK(w.message.find("where it yields is unknown") != std::string::npos);
        CHECK(w.self_wakes >= uint64_t(times));
    }
    CHECK(self[writer_task]->wakes == uint64_t(times + 1 + times / 5));  // main's post, the writes' I/O
    for (const auto& [task, w] : self) {
        CAPTURE(w->at.file);
        CHECK_FALSE(asio_capture::library_file(w->at.file));
        if (task == callback_task || task == writer_task || task == strand_task) continue;
#if defined(ASIO_HAS_SOURCE_LOCATION)
        CHECK(w->at.file == __FILE__);  // the coroutine's co_await post line
        CHECK(w->at.line == line);
#endif
        CHECK(w->self_wakes == uint64_t(times));
    }
}

namespace {

// The "asio" instants of a capture: name -> (events, their argument words).
struct asio_instants {
    std::map<std::string, int> count;
    std::map<std::string, std::vector<std::vector<uint64_t>>> words;  // integers; strings as 0
    std::map<std::string, std::vector<std::vector<std::string>>> strings;
    std::map<std::string, int> sites;  // call sites of each name
    std::map<std::string, bbx::dec::site> site;  // a copy: the capture is closed after
    uint64_t bad_site = 0;
    int unnamed = 0;  // events without a call site
};

std::string read_instants(const std::string& path, asio_instants& out) {
    auto r = bbx::dec::capture::open(path);
    if (r.is_error()) return r.err().message();
    bbx::dec::capture& c = *r.value();
    for (const auto& s : c.sites())
        if (s.category == "asio") ++out.sites[s.name];
    auto done = c.for_each_event([&](const bbx::dec::event& e) {
        if (e.kind != bbx::format::kind::instant) return;
        if (!e.where) {
            ++out.unnamed;
            return;
        }
        if (e.where->category != "asio") return;
        const std::string& n = e.where->name;
        ++out.count[n];
        out.site[n] = *e.where;
        std::vector<uint64_t> w;
        std::vector<std::string> str;
        for (uint32_t i = 0; i < e.nargs; ++i) {
            const bool is_string = e.where->args[i].type == bbx::format::arg_type::string;
            w.push_back(is_string ? 0 : e.args[i].word);
            str.push_back(is_string ? std::string(e.args[i].str) : "");
        }
        out.words[n].push_back(w);
        out.strings[n].push_back(str);
    });
    if (done.is_error()) return done.err().message();
    for (const auto& st : done.value().threads) out.bad_site += st.bad_site;
    return "";
}

std::vector<std::string> arg_names(const bbx::dec::site& s) {
    std::vector<std::string> v;
    for (const auto& a : s.args) v.push_back(a.name);
    return v;
}

}  // namespace

TEST_CASE("Asio's diagnostics are integers under a call site per name, registered again in each session") {
    using V = std::vector<std::string>;
    for (int session = 0; session < 2; ++session) {  // bbx::stop() and start() between: no stale site ids
        CAPTURE(session);
        temp_capture tc("asio-names");
        start_recording(tc, 1024);
        echo_run run;
        run_echo(run);
        bbx::stop();
        REQUIRE_FALSE(run.timed_out);
        asio_instants in;
        REQUIRE(read_instants(tc.path, in) == "");
        CHECK(in.bad_site == 0);
        CHECK(in.unnamed == 0);
        // The old forms with strings appear only when a table is full: never here.
        CHECK(in.count.count("start") == 0);
        CHECK(in.count.count("op") == 0);
        CHECK(in.count.count("io") == 0);
        for (const char* name : {"start:socket.async_accept", "start:socket.async_connect", "start:socket.async_receive",
                                 "start:socket.async_send", "start:deadline_timer.async_wait", "io:non_blocking_recv",
                                 "io:non_blocking_send", "io:non_blocking_accept"}) {
            CAPTURE(name);
            REQUIRE(in.count[name] > 0);
            CHECK(in.sites[name] == 1);  // one site per name, whatever the addresses of Asio's literals
        }
        for (const auto& [name, site] : in.site) {
            CAPTURE(name);
            if (name.rfind("start:", 0) == 0 || name.rfind("op:", 0) == 0) {
                CHECK(site.level == BBX_LEVEL_DEBUG);
                CHECK(arg_names(site) == V{"task", "handle"});
            } else if (name.rfind("io:", 0) == 0) {
                CHECK(site.level == BBX_LEVEL_TRACE);
                CHECK(arg_names(site) == V{"task", "result"});
                CHECK(site.args[1].type == bbx::format::arg_type::i64);
            }
        }
        // Every operation the sessions started names their task; every
        // receive moved bytes (each message once), or would have blocked (-EAGAIN),
        // or found the stream's end (Asio's eof, -2).
        std::set<uint64_t> sessions(run.sessions.begin(), run.sessions.end());
        int receives_by_sessions = 0;
        for (const auto& w : in.words["start:socket.async_receive"]) receives_by_sessions += sessions.count(w[0]) != 0;
        CHECK(receives_by_sessions >= clients * (round_trips + 1));
        int64_t received = 0;
        for (const auto& w : in.words["io:non_blocking_recv"]) {
            const int64_t result = int64_t(w[1]);
            CHECK((result >= 0 || result == -EAGAIN || result == -2));
            if (result > 0) received += result;
        }
        CHECK(received > 0);
    }
}

TEST_CASE("Asio's diagnostics when the table of names is full: the events keep their strings, none is lost") {
    namespace h = bbx::detail::asio_hooks;
    static bbx::detail::runtime_sites<4, 2> small;  // 2 names, 4 pairs of addresses
    // Distinct addresses, as literals of different libraries would have.
    static const char socket1[] = "socket", socket2[] = "socket", timer[] = "timer", pipe[] = "pipe";
    static const char receive1[] = "async_receive", receive2[] = "async_receive", wait[] = "async_wait";
    for (int session = 0; session < 2; ++session) {
        CAPTURE(session);
        temp_capture tc("asio-full");
        start_recording(tc, 256);
        h::record_operation(small.table, true, socket1, receive1, 7, 70);
        h::record_operation(small.table, true, socket2, receive2, 8, 80);  // the same name: shares the first site
        h::record_operation(small.table, true, timer, wait, 9, 90);        // the second and last site
        h::record_operation(small.table, true, pipe, wait, 10, 100);       // no site left: strings
        h::record_operation(small.table, true, pipe, wait, 11, 110);       // again, found without the lock
        h::record_operation(small.table, true, socket1, wait, 12, 120);    // no key left either
        bbx::set_level(BBX_LEVEL_INFO);  // the run-time level still gates both forms
        h::record_operation(small.table, true, socket1, receive1, 13, 130);
        h::record_operation(small.table, true, pipe, wait, 14, 140);
        bbx::stop();
        asio_instants in;
        REQUIRE(read_instants(tc.path, in) == "");
        CHECK(in.bad_site == 0);
        CHECK(in.sites["start:socket.async_receive"] == 1);
        CHECK(in.sites["start:timer.async_wait"] == 1);
        using W = std::vector<std::vector<uint64_t>>;
        using S = std::vector<std::vector<std::string>>;
        CHECK(in.words["start:socket.async_receive"] == W{{7, 70}, {8, 80}});
        CHECK(in.words["start:timer.async_wait"] == W{{9, 90}});
        CHECK(in.words["start"] == W{{10, 0, 0, 100}, {11, 0, 0, 110}, {12, 0, 0, 120}});
        CHECK(in.strings["start"] == S{{"", "pipe", "async_wait", ""}, {"", "pipe", "async_wait", ""},
                                       {"", "socket", "async_wait", ""}});
        CHECK(small.table.keys_full.load());
        CHECK(small.table.used == 2);
    }
}
