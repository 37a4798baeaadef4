// Stall stacks (format 1.4, spec/stall-stacks.md): a poll that runs past the
// threshold gets native stacks sampled into the stall-sample area, and the
// decoder reads, attributes and symbolises them.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;

namespace {

// The functions of a sample's frames (inlined ones too), innermost first.
std::vector<std::string> functions_of(const bbx::dec::stall_symbolizer& sym, const bbx::dec::stall_sample& s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.frames.size(); ++i) {
        const bbx::dec::frame_symbol* f = sym.find(s.frames[i], i > 0);
        if (!f) continue;
        for (const auto& l : f->where) out.push_back(l.function);
    }
    return out;
}

bool has_in_order(const std::vector<std::string>& fns, const std::vector<std::string>& want) {
    size_t k = 0;
    for (const std::string& f : fns)
        if (k < want.size() && f.find(want[k]) != std::string::npos) ++k;
    return k == want.size();
}

// Runs stall_child and opens what it recorded.
std::shared_ptr<capture> run_child(const std::string& program, const std::string& unwind, const temp_capture& tc) {
    pid_t pid = spawn({build_dir() + "/tests/" + program, tc.path, unwind, "120"});
    REQUIRE(reap(pid, std::chrono::steady_clock::now() + std::chrono::seconds(60)) == 0);
    auto r = capture::open(tc.path);
    REQUIRE_MESSAGE(!r.is_error(), r.err().message());
    return r.value();
}

void check_chain(const capture& c, bool whole_chain) {
    REQUIRE(c.header().version_minor >= fmt::minor_stall);
    const auto& samples = c.stall_samples();
    // 120 ms over a 10 ms threshold, a sample every 2 ms: up to 55; a loaded
    // machine may run the watchdog late, so only "several" is asked.
    CHECK(samples.size() >= 3);
    CHECK(samples.size() <= 64);  // K entries per ring
    REQUIRE(!c.loaded_objects().empty());
    bbx::dec::stall_symbolizer sym(c);
    size_t burning = 0, chained = 0;
    for (const auto& s : samples) {
        auto fns = functions_of(sym, s);
        CAPTURE(fns.size());
        if (!fns.empty() && fns[0].find("stall_burn") != std::string::npos) ++burning;
        if (has_in_order(fns, {"stall_burn", "stall_middle", "stall_outer", "main"})) ++chained;
    }
    // Most samples interrupt the spin loop in stall_burn (a few its clock read, in the vDSO).
    CHECK(burning + 2 >= samples.size() / 2);
    if (whole_chain) CHECK(chained * 2 >= samples.size());
}

}  // namespace

TEST_CASE("stall stacks: a poll stalled past the threshold is sampled, by the DWARF unwinder (no frame pointers)") {
    temp_capture tc("stall-dwarf");
    auto c = run_child("stall_child", "dwarf", tc);
    check_chain(*c, true);
}

TEST_CASE("stall stacks: the DWARF unwinder on a build with frame pointers") {
    temp_capture tc("stall-dwarf-fp");
    auto c = run_child("stall_child_fp", "dwarf", tc);
    check_chain(*c, true);
}

TEST_CASE("stall stacks: the frame-pointer walk on a build with frame pointers gives the whole chain") {
    temp_capture tc("stall-fp");
    auto c = run_child("stall_child_fp", "fp", tc);
    check_chain(*c, true);
    for (const auto& s : c->stall_samples()) CHECK((s.flags & fmt::stall_sample_frame_pointers) != 0);
}

TEST_CASE("stall stacks: the frame-pointer walk on a build without frame pointers stays safe (never faults)") {
    temp_capture tc("stall-fp-none");
    auto c = run_child("stall_child", "fp", tc);
    check_chain(*c, false);  // the chain may be cut or skip callers; frame 0 is still right
}

TEST_CASE("stall stacks: off unless configured; nothing stalling, nothing sampled") {
    {
        temp_capture tc("stall-off");
        bbx::config cfg;
        cfg.path = tc.path.c_str();
        cfg.max_threads = 2;
        REQUIRE(bbx::start(cfg).ok());
        bbx::stop();
        auto r = capture::open(tc.path);
        REQUIRE(!r.is_error());
        CHECK(r.value()->stall_samples().empty());
        CHECK(r.value()->loaded_objects().empty());
    }
    temp_capture tc("stall-quiet");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    cfg.stall_ms = 50;
    cfg.stall_sample_ms = 1;
    REQUIRE(bbx::start(cfg).ok());
    const bbx::task_id t = bbx::new_task_id();
    for (int i = 0; i < 200; ++i) {
        bbx::poll_scope poll(t);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    CHECK(r.value()->stall_samples().empty());
    CHECK(!r.value()->loaded_objects().empty());  // recorded at start
}

TEST_CASE("stall stacks: a bad BBX_STALL_* value is a bad configuration") {
    temp_capture tc("stall-bad");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.stall_ms = 10;
    cfg.stall_sample_ms = 5000;
    CHECK(bbx::start(cfg).status == bbx::start_status::bad_config);
    cfg.stall_sample_ms = 1;
    cfg.stall_signal = SIGSEGV;
    CHECK(bbx::start(cfg).status == bbx::start_status::bad_config);
}
