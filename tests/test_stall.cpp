// Stall stacks (format 1.4, spec/stall-stacks.md): a poll that runs past the
// threshold gets native stacks sampled into the stall-sample area, and the
// decoder reads, attributes and symbolises them.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bbx/decoder.hpp"
#include "bbx/crash.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"
#include "support/python.hpp"
#include "support/trace_processor.hpp"

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

// Runs stall_child and opens what it recorded. A run without a single
// sample is run once more, and says so: seen twice in full `make test` runs
// on the loaded 2-core machine (the frame-pointer case), never alone in 40
// runs; not understood yet (see the report of issue 13).
std::shared_ptr<capture> run_child(const std::string& program, const std::string& unwind, const temp_capture& tc) {
    for (int attempt = 0;; ++attempt) {
        unlink(tc.path.c_str());
        pid_t pid = spawn({build_dir() + "/tests/" + program, tc.path, unwind, "120"});
        REQUIRE(reap(pid, std::chrono::steady_clock::now() + std::chrono::seconds(60)) == 0);
        auto r = capture::open(tc.path);
        REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
        if (!r.value()->stall_samples().empty() || attempt == 1) return r.value();
        MESSAGE(program << " " << unwind << ": no stall sample in the first run; running it again");
    }
}

void check_chain(const capture& c, bool whole_chain) {
    REQUIRE(fmt::feature_minor(c.header().version_major, c.header().version_minor) >= fmt::minor_stall);
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

// Whether process_vm_readv reads this process's memory here (qemu-user does
// not implement it): the frame-pointer walk reads through it.
bool process_vm_readv_works() {
    const uint64_t want = 0x1234567890abcdefull;
    uint64_t got = 0;
    iovec local{&got, sizeof got}, remote{const_cast<uint64_t*>(&want), sizeof want};
    return syscall(SYS_process_vm_readv, getpid(), &local, 1ul, &remote, 1ul, 0ul) == long(sizeof got) && got == want;
}

TEST_CASE("stall stacks: the frame-pointer walk on a build with frame pointers gives the whole chain") {
    temp_capture tc("stall-fp");
    auto c = run_child("stall_child_fp", "fp", tc);
    check_chain(*c, true);
    // Where process_vm_readv is missing, the recorder walks by DWARF
    // instead and every flag says so (the chain above is whole either way).
    const bool fp = process_vm_readv_works();
    if (!fp) MESSAGE("process_vm_readv is not available here: the recorder must have walked by DWARF");
    for (const auto& s : c->stall_samples()) CHECK(((s.flags & fmt::stall_sample_frame_pointers) != 0) == fp);
}

TEST_CASE("stall stacks: bbx info states the settings, the unwinder and the samples it holds") {
    temp_capture tc("stall-info");
    auto c = run_child("stall_child_fp", "fp", tc);
    const size_t n = c->stall_samples().size();
    auto r = run_bbx({"info", tc.path});
    REQUIRE(r.status == 0);
    const std::string walk = process_vm_readv_works() ? "frame pointers" : "the DWARF unwinder";
    CHECK_MESSAGE(r.out.find("stalls      a poll or span past 10 ms sampled every 2 ms, by " + walk + "; " + std::to_string(n) +
                             " samples on 1 thread (room for 64 per ring); ") != std::string::npos,
                  r.out);
    // A capture recorded without them says they were off.
    temp_capture off("stall-info-off");
    bbx::config cfg;
    cfg.path = off.path.c_str();
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    bbx::stop();
    r = run_bbx({"info", off.path});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("\nstalls      off (") != std::string::npos);
}

TEST_CASE("stall stacks: OTLP carries each sample as an event of the task's span, with its stack in code.stacktrace") {
    temp_capture tc("stall-otlp");
    auto c = run_child("stall_child", "dwarf", tc);
    const size_t n = c->stall_samples().size();
    REQUIRE(n >= 3);
    auto r = run_bbx({"convert", tc.path, "--to", "otlp", "-o", "-"});
    REQUIRE(r.status == 0);
    auto count = [&](const std::string& what) {
        size_t k = 0;
        for (size_t at = r.out.find(what); at != std::string::npos; at = r.out.find(what, at + 1)) ++k;
        return k;
    };
    // Every sample is taken in the stalling poll, but the last may be
    // served just after it ended, outside every span and poll: not exported.
    const size_t events = count("\"name\":\"bbx.stall_sample\"");
    CHECK(events <= n);
    CHECK(events + 1 >= n);
    CHECK(count("\"key\":\"code.stacktrace\"") == events);
    // Most name the burning function under its caller (as check_chain).
    CHECK(count("stall_middle(int) at ") * 2 + 4 >= events);
    CHECK(r.out.find("#0 0x") != std::string::npos);
    // Every line valid OTLP/JSON (the checker of tests/test_otlp.cpp).
    const std::string jsonl = tc.path + ".jsonl";
    REQUIRE(run_bbx({"convert", tc.path, "--to", "otlp", "-o", jsonl}).status == 0);
    int status = -1;
    const std::string checked = run_python("otlp.py", {jsonl, ""}, status);
    CHECK_MESSAGE(status == 0, checked);
    unlink(jsonl.c_str());
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

TEST_CASE("stall stacks: the golden vector's area reads as spec/stall-stacks.md says") {
    auto r = capture::open("tests/golden/ok/stall_stacks.bbx");
    REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
    const capture& c = *r.value();
    const auto& s = c.stall_samples();
    REQUIRE(s.size() == 2);  // the third entry is empty
    // By time: sample number 1 (entry 0, 4 us), then number 2 (entry 1, 5 us).
    CHECK(s[0].number == 1);
    CHECK(s[0].ns == 4000);
    CHECK(s[0].frames == std::vector<uint64_t>{0x401238, 0x405678});
    CHECK(s[1].number == 2);
    CHECK(s[1].ns == 5000);
    CHECK(s[1].frames == std::vector<uint64_t>{0x401234, 0x405678, 0x7f0000001000});
    CHECK(c.threads()[s[0].thread].name == "worker");
    REQUIRE(c.loaded_objects().size() == 2);
    CHECK(c.loaded_objects()[0].path == "/opt/golden/bin/golden");  // "": the header's exe_path
    CHECK(c.loaded_objects()[0].build_id == "deadbeef");
    CHECK(c.object_of(0x401234) == &c.loaded_objects()[0]);
    CHECK(c.object_of(0x7f0000000fff) == &c.loaded_objects()[1]);
    CHECK(c.object_of(0x500000) == nullptr);
    // analyze attributes both to the poll of task 7 (7 us long: over a 1 us threshold).
    bbx::dec::analyze_options o;
    o.long_poll_ns = 1000;
    auto a = bbx::dec::analyze(c, o);
    REQUIRE(!a.is_error());
    REQUIRE(a.value().warnings.size() == 1);
    CHECK(a.value().warnings[0].stall_samples == 2);
    CHECK(a.value().warnings[0].stacks.size() == 2);  // the objects are not on this machine: by address
}

TEST_CASE("stall stacks: Perfetto's reader finds the samples as a flame graph's callstacks, and loads the Chrome JSON") {
    temp_capture tc("stall-convert");
    auto c = run_child("stall_child", "dwarf", tc);
    const size_t n = c->stall_samples().size();
    REQUIRE(n >= 3);
    std::string why;
    const std::string reader = tp::find(build_dir(), why);
    if (reader.empty()) {
        MESSAGE("skipped the trace_processor checks: " << why);
        return;
    }
    auto query = [&](const std::string& trace, const std::string& sql) { return tp::query(reader, trace, sql); };
    const std::string pf = tc.path + ".pftrace", js = tc.path + ".json";
    REQUIRE(run_bbx({"convert", tc.path, "--to", "perfetto", "-o", pf}).status == 0);
    REQUIRE(run_bbx({"convert", tc.path, "--to", "chrome", "-o", js}).status == 0);
    CHECK(query(pf, tp::errors_sql) == "\"count(*)\"\n0\n");
    CHECK(query(js, tp::errors_sql) == "\"count(*)\"\n0\n");
    // The thread's name as the capture has it ('stall_child'; under qemu-user
    // the process is named after the emulator).
    const std::string name = c->threads()[c->stall_samples()[0].thread].name;
    CHECK(!name.empty());
    CHECK(query(pf, "select count(*) from perf_sample p join thread t using(utid) where t.name = '" + name + "'") ==
          "\"count(*)\"\n" + std::to_string(n) + "\n");
    // Most samples' leaf is stall_burn, its parent stall_middle (as
    // check_chain asks of the capture: some interrupt the clock read inside
    // it instead; which one the latest sample caught varies, under ASan
    // most of all).
    const std::string burning = query(pf,
        "select count(*) from perf_sample p join stack_profile_callsite c on c.id = p.callsite_id "
        "join stack_profile_frame f on f.id = c.frame_id "
        "join stack_profile_callsite pc on pc.id = c.parent_id join stack_profile_frame g on g.id = pc.frame_id "
        "where f.name like '%stall_burn%' and g.name like '%stall_middle%'");
    const size_t nl = burning.find('\n');
    REQUIRE(nl != std::string::npos);
    const size_t in_burn = std::strtoull(burning.c_str() + nl + 1, nullptr, 10);
    CAPTURE(burning);
    CHECK(in_burn >= 1);
    CHECK(in_burn + 2 >= n / 2);
    // Chrome JSON: stackFrames and samples.
    const std::string text = read_text(js);
    CHECK(text.find("\"stackFrames\":{") != std::string::npos);
    CHECK(text.find("\"samples\":[") != std::string::npos);
    CHECK(text.find("stall_burn") != std::string::npos);
    unlink(pf.c_str());
    unlink(js.c_str());
}

namespace {
[[gnu::noinline]] void burn_in_unit(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < end) x = x + 1;
}
}  // namespace

TEST_CASE("stall stacks: the anonymous mode's image and a snapshot keep the samples") {
    temp_capture tc("stall-anon");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 2;
    cfg.stall_ms = 10;
    cfg.stall_sample_ms = 2;
    REQUIRE(bbx::start_anonymous(cfg).ok());
    std::thread([] {
        const bbx::task_id t = bbx::new_task_id();
        bbx::poll_scope poll(t);
        burn_in_unit(80);
    }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
    const auto& samples = r.value()->stall_samples();
    CHECK(samples.size() >= 3);
    // Packed into a capture container and read back: the same samples.
    std::vector<unsigned char> packed;
    auto w = r.value()->write_container([&](const void* p, size_t n) {
        packed.insert(packed.end(), static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
        return true;
    });
    REQUIRE(!w.is_error());
    auto again = capture::from_bytes(packed.data(), packed.size());
    REQUIRE_MESSAGE(!again.is_error(), (again.is_error() ? again.err().message() : std::string()));
    REQUIRE(again.value()->stall_samples().size() == samples.size());
    for (size_t i = 0; i < samples.size(); ++i) CHECK(again.value()->stall_samples()[i].frames == samples[i].frames);
    CHECK(again.value()->loaded_objects().size() == r.value()->loaded_objects().size());
}
