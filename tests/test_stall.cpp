// Stall stacks (format 1.4, spec/stall-stacks.md): a poll that runs past the
// threshold gets native stacks sampled into the stall-sample area, and the
// decoder reads, attributes and symbolises them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bbx/decoder.hpp"
#include "bbx/crash.hpp"
#include "bbx/task.hpp"
#include "golden/ring_file.hpp"
#include "support/capture.hpp"
#include "support/command.hpp"
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

namespace {

// The lines of a dump whose kind is `stall`.
std::vector<std::string> stall_lines(const std::string& dump) {
    std::vector<std::string> out;
    for (size_t p = 0; p < dump.size();) {
        size_t nl = dump.find('\n', p);
        if (nl == std::string::npos) nl = dump.size();
        std::string l = dump.substr(p, nl - p);
        if (l.find("  stall  -  -  sample=") != std::string::npos) out.push_back(l);
        p = nl + 1;
    }
    return out;
}

double line_time(const std::string& l) { return std::strtod(l.c_str(), nullptr); }

}  // namespace

TEST_CASE("stall stacks: bbx dump lists each sample among the events at its time, its stack symbolised") {
    temp_capture tc("stall-dump");
    auto c = run_child("stall_child_fp", "fp", tc);
    const auto& samples = c->stall_samples();
    REQUIRE(!samples.empty());
    auto r = run_bbx({"dump", tc.path});
    REQUIRE(r.status == 0);
    const std::vector<std::string> lines = stall_lines(r.out);
    REQUIRE(lines.size() == samples.size());
    // Every line of the dump in time order, the samples included.
    double last = -1;
    size_t out_of_order = 0;
    for (size_t p = 0; p < r.out.size();) {
        size_t nl = r.out.find('\n', p);
        if (r.out[p] != '#') {
            const double t = line_time(r.out.substr(p, nl - p));
            out_of_order += t < last;
            last = t;
        }
        p = nl + 1;
    }
    CHECK(out_of_order == 0);
    // Named as bbx analyze names them: most stacks are inside stall_burn, called from main's chain.
    size_t burning = 0;
    for (const std::string& l : lines) {
        CAPTURE(l);
        CHECK(l.find("  T" + std::to_string(samples[0].thread) + "  stall  ") != std::string::npos);
        // (anonymous namespace)::stall_burn(int) at .../stall_child.cpp:26 < (anonymous namespace)::stall_middle(int) at ...
        const size_t stack = l.find(" stack="), burn = l.find("stall_burn("), middle = l.find(" < (anonymous namespace)::stall_middle(");
        burning += stack != std::string::npos && burn != std::string::npos && middle != std::string::npos &&
                   l.find(" < ", stack) > burn && burn < middle;
    }
    CHECK(burning + 2 >= lines.size() / 2);
}

TEST_CASE("stall stacks: in bbx dump only --thread and the time window drop samples") {
    const std::string v = "tests/golden/ok/stall_stacks.bbx";
    auto all = run_bbx({"dump", v});
    REQUIRE(all.status == 0);
    const auto lines = stall_lines(all.out);
    REQUIRE(lines.size() == 2);
    // The samples of 4 us and 5 us, between the poll's begin (2 us) and end (9 us).
    CHECK(lines[0] == "   0.000004000  T0  stall  -  -  sample=1 stack=?? (/opt/golden/bin/golden+0x401238) < "
                      "?? (/opt/golden/bin/golden+0x405677)");
    CHECK(all.out.find("task=7\n" + lines[0] + "\n" + lines[1] + "\n   0.000009000  T0  poll_end") != std::string::npos);
    auto since = run_bbx({"dump", "--since", "4500ns", v});
    REQUIRE(since.status == 0);
    CHECK(stall_lines(since.out) == std::vector<std::string>{lines[1]});
    auto until = run_bbx({"dump", "--until", "4us", v});
    REQUIRE(until.status == 0);
    CHECK(stall_lines(until.out) == std::vector<std::string>{lines[0]});
    auto task = run_bbx({"dump", "--task", "8", "--level", "error", v});  // no event passes; the samples do
    REQUIRE(task.status == 0);
    CHECK(stall_lines(task.out) == lines);
}

TEST_CASE("stall stacks: a converter keeps the samples bbx dump keeps (the time window drops the others)") {
    const std::string v = "tests/golden/ok/stall_stacks.bbx";
    // The samples of 4 us and 5 us: Chrome JSON gives each a "samples"
    // entry naming its stack frame ("sf").
    auto count_sf = [&](std::vector<std::string> args) {
        std::vector<std::string> cmd = {"convert", v, "--to", "chrome", "-o", "-"};
        cmd.insert(cmd.end(), args.begin(), args.end());
        auto r = run_bbx(cmd);
        REQUIRE(r.status == 0);
        size_t k = 0;
        for (size_t at = r.out.find("\"sf\":"); at != std::string::npos; at = r.out.find("\"sf\":", at + 1)) ++k;
        return k;
    };
    CHECK(count_sf({}) == 2);
    // Before, the timeline handed every thread's samples left at the end to
    // its writer whatever the filter: 2 each.
    CHECK(count_sf({"--until", "4us"}) == 1);
    CHECK(count_sf({"--since", "4500ns"}) == 1);
    CHECK(count_sf({"--since", "6us"}) == 0);
}

namespace {

// This machine's vDSO, read by binutils from a copy of its mapping: its
// build id (raw bytes) and the address in it of a function whose name holds
// "clock_gettime", with that name. Empty when there is none (qemu-user).
struct vdso_facts {
    std::string build_id, function;
    uint64_t offset = 0;
};

vdso_facts this_vdso(const std::string& copy) {
    vdso_facts f;
    uint64_t lo = 0, hi = 0;
    {
        FILE* m = std::fopen("/proc/self/maps", "r");
        if (!m) return f;
        char line[512];
        while (std::fgets(line, sizeof line, m))
            if (std::strstr(line, "[vdso]")) std::sscanf(line, "%lx-%lx", &lo, &hi);
        std::fclose(m);
    }
    if (!lo) return f;
    FILE* out = std::fopen(copy.c_str(), "wb");
    if (!out) return f;
    std::fwrite(reinterpret_cast<const void*>(lo), 1, hi - lo, out);
    std::fclose(out);
    const std::string notes = command_output("readelf -n " + copy);
    const size_t at = notes.find("Build ID: ");
    if (at == std::string::npos) return f;
    for (size_t i = at + 10; i + 1 < notes.size() && std::isxdigit(static_cast<unsigned char>(notes[i])); i += 2)
        f.build_id += char(std::stoi(notes.substr(i, 2), nullptr, 16));
    const std::string syms = command_output("nm -D --defined-only " + copy);
    for (size_t p = 0; p < syms.size();) {
        size_t nl = syms.find('\n', p);
        if (nl == std::string::npos) nl = syms.size();
        const std::string l = syms.substr(p, nl - p);
        if (l.find("clock_gettime") != std::string::npos && l.find(" T ") != std::string::npos) {
            f.offset = std::strtoull(l.c_str(), nullptr, 16);
            f.function = l.substr(l.find(" T ") + 3);
            break;
        }
        p = nl + 1;
    }
    return f;
}

}  // namespace

TEST_CASE("stall stacks: a frame in the vDSO is [vdso]+offset, named from this machine's vDSO only when it is the build recorded") {
    temp_capture copy("vdso-copy");
    const vdso_facts here = this_vdso(copy.path);
    if (here.build_id.empty() || here.function.empty()) {
        MESSAGE("skipped: no vDSO with a build id and a clock_gettime here");
        return;
    }
    const uint64_t base = 0x7ffff7fc1000;
    auto capture_with = [&](const std::string& build_id) {
        golden::ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
        r.take(0, golden::golden_pid, "worker", golden::at_us(1));
        r.event(0, fmt::kind::task_poll_begin, 0, golden::at_us(2), {golden::u64(7)});
        r.event(0, fmt::kind::task_poll_end, 0, golden::at_us(9), {golden::u64(7)});
        r.stall_area(1, 2);
        r.stall_sample(0, 1, golden::at_us(4), 1, {base + here.offset + 4, 0x401000});
        r.stall_mapping(0, 0, 0x400000, 0x410000, "");
        r.stall_mapping(1, base, base, base + 0x2000, "linux-vdso.so.1", build_id);
        return r.image();
    };
    temp_capture tc("stall-vdso");
    auto dump = [&](const std::vector<unsigned char>& image) {
        FILE* f = std::fopen(tc.path.c_str(), "wb");
        REQUIRE(f);
        REQUIRE(std::fwrite(image.data(), 1, image.size(), f) == image.size());
        std::fclose(f);
        auto r = run_bbx({"dump", tc.path});
        REQUIRE(r.status == 0);
        const auto lines = stall_lines(r.out);
        REQUIRE(lines.size() == 1);
        return lines[0];
    };
    char off[32];
    std::snprintf(off, sizeof off, "+0x%" PRIx64 ")", here.offset + 4);
    // Another build (the recording machine's kernel was another): the honest [vdso]+offset.
    std::string other = here.build_id;
    other[0] = char(other[0] ^ 0xff);
    CHECK(dump(capture_with(other)) == "   0.000004000  T0  stall  -  -  sample=1 stack=?? ([vdso]" + std::string(off) +
                                           " < ?? (/opt/golden/bin/golden+0x400fff)");
    CHECK(dump(capture_with("")) == dump(capture_with(other)));  // no build id recorded: the same
    // The same build: named from this machine's copy.
    const std::string named = dump(capture_with(here.build_id));
    CAPTURE(named);
    // (its aliases share the address: clock_gettime, __vdso_clock_gettime, __kernel_clock_gettime ...)
    CHECK(named.find("stack=") != std::string::npos);
    CHECK(named.find("clock_gettime < ?? (/opt/golden/bin/golden+0x400fff)") != std::string::npos);
    CHECK(named.find("[vdso]") == std::string::npos);
}
