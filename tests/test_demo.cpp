// The demo's story, asserted: examples/async/service in its three modes, run
// as real processes, and what `bbx analyze` must find in each capture -- the
// blocking poll with its line, the deadlock cycle with both lines, and nothing
// in the fixed run. Source lines are looked up in service.cpp, not hard-coded.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "bbx/decoder.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"

using namespace bbx::dec;

namespace {

const char* const service_source = "examples/async/service.cpp";


// The line of service.cpp that holds `text` (the first one), or 0.
uint32_t line_of(const std::string& text) {
    std::ifstream in(service_source);
    std::string l;
    for (uint32_t n = 1; std::getline(in, l); ++n)
        if (l.find(text) != std::string::npos) return n;
    return 0;
}

// Runs the service in `mode` into `out`; returns its exit status (128 + a signal).
int run_service(const std::string& mode, const std::string& out, const std::vector<std::string>& env = {}) {
    pid_t pid = spawn({build_dir() + "/examples/async/service", "--mode", mode, "--out", out}, {env});
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

analysis analyse(const std::string& path, int64_t long_poll_ms) {
    auto c = capture::open(path);
    REQUIRE_MESSAGE(!c.is_error(), (c.is_error() ? c.err().message() : std::string()));
    analyze_options o;
    o.long_poll_ns = long_poll_ms * 1'000'000;
    auto a = analyze(*c.value(), o);
    REQUIRE(!a.is_error());
    return a.value();
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST_CASE("demo: the blocking service shows a long poll inside decompress, with the span's and the await's lines") {
    // handle() runs the decompression without suspending, so the blocking poll
    // ends at the worker's next real suspension: its recv or its reply send.
    const uint32_t recv_line = line_of("co_await s.requests.recv()");
    const uint32_t send_line = line_of("co_await s.replies.send(out);");
    const uint32_t decompress_span_line = line_of("BBX_SPAN(INFO, \"work\", \"decompress\"");
    REQUIRE(recv_line != 0);
    REQUIRE(send_line != 0);
    REQUIRE(decompress_span_line != 0);
    temp_capture tc("demo-blocking");
    REQUIRE(run_service("blocking", tc.path, {"BBX_STALL_MS=20"}) == 0);  // with stall stacks, as make demo runs it
    // 50 ms: far above any scheduling hiccup, far below a decompression (>= 90 ms).
    analysis a = analyse(tc.path, 50);
    std::vector<const analysis_warning*> long_polls;
    for (auto& w : a.warnings) {
        CHECK_MESSAGE(w.kind == warning_kind::long_poll, "unexpected warning: " << w.message);
        if (w.kind == warning_kind::long_poll) long_polls.push_back(&w);
    }
    REQUIRE(!long_polls.empty());
    for (const analysis_warning* w : long_polls) {
        CHECK(w->task_name == "worker");
        CHECK(ends_with(w->at.file, service_source));
        CHECK((w->at.line == recv_line || w->at.line == send_line));
        REQUIRE(!w->spans.empty());
        CHECK(w->spans.back() == "decompress");
        CHECK(w->span_at.line == decompress_span_line);
        CHECK(w->duration_ns >= 50'000'000);
    }
    // Stall stacks: the long polls were sampled, and the stack on most
    // samples is copy_match inside decompress, called by the worker's
    // request coroutine (handle), resumed by the executor.
    const uint32_t copy_line = line_of("copy_match(window, pos, hash, offset, match + 4);");
    REQUIRE(copy_line != 0);
    size_t sampled = 0;
    for (const analysis_warning* w : long_polls) {
        if (w->stall_samples == 0) continue;
        ++sampled;
        REQUIRE(!w->stacks.empty());
        const sampled_stack& top = w->stacks[0];
        CHECK(top.samples * 2 >= w->stall_samples / 2);
        std::vector<std::string> fns;
        for (const stack_frame& f : top.frames) fns.push_back(f.function);
        INFO("top stack: " << [&] {
            std::string t;
            for (auto& f : fns) t += f + " <- ";
            return t;
        }());
        REQUIRE(fns.size() >= 3);
        // The leaf is copy_match, or a library function it called that was
        // not inlined (ASan's -O1 build keeps std::vector::operator[] a call):
        // the first frame outside namespace std.
        size_t leaf = 0;
        while (leaf + 1 < fns.size() && fns[leaf].rfind("std::", 0) == 0) ++leaf;
        CHECK(fns[leaf].find("copy_match") != std::string::npos);
        auto at = [&](const char* name) {
            return size_t(std::find_if(fns.begin(), fns.end(), [&](const std::string& f) { return f.find(name) != std::string::npos; }) - fns.begin());
        };
        CHECK(at("decompress") < fns.size());
        CHECK(at("handle") < fns.size());
        CHECK(at("run_executor") < fns.size());
        CHECK(at("copy_match") < at("decompress"));
        CHECK(at("decompress") < at("handle"));
        CHECK(at("handle") < at("run_executor"));
        // The call's line in decompress.
        for (const stack_frame& f : top.frames)
            if (f.function.find("decompress") != std::string::npos) {
                CHECK(ends_with(f.file, service_source));
                CHECK(f.line == copy_line);
                break;
            }
    }
    CHECK(sampled >= 1);
    // The first long poll kept other woken tasks (the gateway, the heartbeat...) waiting.
    CHECK(!long_polls[0]->waiting.empty());
    CHECK(long_polls[0]->waiting[0].waited_ns >= 25'000'000);
}

TEST_CASE("demo: the deadlocking service shows the AB-BA cycle with both send lines") {
    const uint32_t a_send = line_of("for (const reply& r : batch) co_await s.a_to_b.send(");
    const uint32_t b_send = line_of("for (uint32_t i = 0; i < n; ++i) co_await s.b_to_a.send(");
    REQUIRE(a_send != 0);
    REQUIRE(b_send != 0);
    temp_capture tc("demo-deadlock");
    REQUIRE(run_service("deadlock", tc.path) == 0);
    analysis a = analyse(tc.path, 50);
    std::vector<const analysis_warning*> deadlocks;
    for (auto& w : a.warnings) {
        CHECK_MESSAGE(w.kind == warning_kind::deadlock, "unexpected warning: " << w.message);
        if (w.kind == warning_kind::deadlock) deadlocks.push_back(&w);
    }
    REQUIRE(deadlocks.size() == 1);
    const analysis_warning& d = *deadlocks[0];
    REQUIRE(d.cycle.size() == 2);
    std::vector<std::string> names{d.cycle[0].task_name, d.cycle[1].task_name};
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"pipe_a", "pipe_b"});
    for (const deadlock_step& s : d.cycle) {
        CHECK(s.op == bbx::format::resource_op::send);
        CHECK(s.capacity == 1);
        CHECK(ends_with(s.at.file, service_source));
        if (s.task_name == "pipe_a") {
            CHECK(s.resource_name == "a_to_b");
            CHECK(s.at.line == a_send);
        } else {
            CHECK(s.resource_name == "b_to_a");
            CHECK(s.at.line == b_send);
        }
    }
}

TEST_CASE("demo: the fixed service gives a clean bill") {
    temp_capture tc("demo-fixed");
    REQUIRE(run_service("fixed", tc.path) == 0);
    analysis a = analyse(tc.path, 50);
    for (auto& w : a.warnings) FAIL_CHECK("unexpected warning: " << w.message);
    CHECK(a.warnings.empty());
    // It did the work: every task finished.
    CHECK(a.tasks.size() >= 6);
    for (auto& t : a.tasks) CHECK_MESSAGE(t.state == task_end_state::done, "task " << t.id << " " << t.name);
}
