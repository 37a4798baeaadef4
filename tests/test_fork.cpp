// fork() and exec with a recording parent: a forked child records into a
// capture of its own, <path>.<child pid>, with its parent's pid in the
// header, and `bbx merge` puts both on one timeline; a child that cannot
// make its capture is counted in its parent's; a child that records nothing
// makes no file; a program started with BBX_FILE that execs itself records
// to a fresh file each time (tests/programs/crash_child.cpp, mode exec).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "support/process.hpp"       // build_dir, exec_built_program
#include "support/proto_reader.hpp"  // read_file
#include "test_util.hpp"

extern char** environ;

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

// Removes a file the test did not name itself (a child's capture) at the end.
struct remove_at_end {
    std::string path;
    ~remove_at_end() { unlink(path.c_str()); }
};

void start_recording(const std::string& path, uint32_t ring_kb, uint32_t threads) {
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.ring_kb = ring_kb;
    cfg.max_threads = threads;
    REQUIRE(bbx::start(cfg).ok());
}

bool exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

// The header as the file holds it (parent_pid is not in the decoder's header_info).
fmt::file_header raw_header(const std::string& path) {
    fmt::file_header h{};
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(pread(fd, &h, sizeof h, 0) == ssize_t(sizeof h));
    close(fd);
    return h;
}

// What a capture holds: per event name the `n` arguments, in ring order, and
// which rings recorded each name.
struct contents {
    std::map<std::string, std::vector<int64_t>> values;
    std::map<std::string, std::vector<uint32_t>> rings;
    std::map<std::string, std::vector<int64_t>> third_args;  // argument 2 of events that have one
    uint32_t pid = 0, flags = 0, threads_dropped = 0;
    uint64_t events_dropped = 0;
};

contents read_capture(const std::string& path) {
    contents c;
    auto r = capture::open(path);
    REQUIRE_MESSAGE(!r.is_error(), path << ": " << (r.is_error() ? r.err().message() : std::string()));
    capture& cap = *r.value();
    c.pid = cap.header().pid;
    c.flags = cap.header().flags;
    c.threads_dropped = cap.header().threads_dropped;
    c.events_dropped = cap.header().events_dropped;
    auto done = cap.for_each_event([&](const event& e) {
        if (!e.where) return;
        c.values[e.where->name].push_back(e.nargs ? int64_t(e.args[0].word) : -1);
        c.rings[e.where->name].push_back(e.thread);
        if (e.nargs > 2) c.third_args[e.where->name].push_back(int64_t(e.args[2].word));
    });
    REQUIRE(!done.is_error());
    return c;
}

void record(const char* what, int n) {
    for (int i = 0; i < n; ++i) {
        if (std::strcmp(what, "before_fork") == 0) BBX_INSTANT(INFO, "fork", "before_fork", bbx::arg("n", i));
        else if (std::strcmp(what, "after_fork") == 0) BBX_INSTANT(INFO, "fork", "after_fork", bbx::arg("n", i));
        else if (std::strcmp(what, "in_child") == 0) BBX_INSTANT(INFO, "fork", "in_child", bbx::arg("n", i));
        else BBX_INSTANT(INFO, "fork", "child_thread", bbx::arg("n", i));
    }
}

bool counts_up(const std::vector<int64_t>& v, size_t n) {
    if (v.size() != n) return false;
    for (size_t i = 0; i < n; ++i)
        if (v[i] != int64_t(i)) return false;
    return true;
}

pid_t wait_for(pid_t pid, int& status) {
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    return r;
}

// Prints "pid name ts_ns" per event of a Chrome JSON file (metadata left out).
constexpr const char* chrome_events = R"PY(
import decimal, json, sys
doc = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"), parse_float=decimal.Decimal)
for e in doc["traceEvents"]:
    if e["ph"] != "M":
        print("%d %s %d" % (e["pid"], e["name"], int(e["ts"] * 1000)))
)PY";

struct chrome_event {
    uint32_t pid;
    std::string name;
    int64_t ts;
};

std::vector<chrome_event> read_chrome(const std::string& json) {
    const std::string script = "/tmp/bbx-test-" + std::to_string(getpid()) + "-fork.py";
    if (std::FILE* f = std::fopen(script.c_str(), "wb")) {
        std::fputs(chrome_events, f);
        std::fclose(f);
    }
    std::FILE* p = popen(("python3 " + script + " " + json + " 2>&1").c_str(), "r");
    REQUIRE(p);
    std::vector<chrome_event> v;
    char line[512];
    std::string all;
    while (std::fgets(line, sizeof line, p)) {
        all += line;
        unsigned pid = 0;
        char name[128] = {};
        long long ts = 0;
        if (std::sscanf(line, "%u %127s %lld", &pid, name, &ts) == 3) v.push_back({pid, name, ts});
    }
    int status = pclose(p);
    unlink(script.c_str());
    INFO("python3 said:\n" << all.substr(0, 2000));
    REQUIRE(status == 0);
    return v;
}

}  // namespace

TEST_CASE("fork: the child records into <path>.<pid> with its parent's pid, and bbx merge puts both on one timeline") {
    temp_capture tc("fork");
    start_recording(tc.path, 64, 4);
    record("before_fork", 10);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid;
    {
        BBX_SPAN(INFO, "fork", "around_fork");  // opened here, closed in both: the child writes no end of it
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            record("in_child", 100);  // the first event makes the child's capture
            std::thread t([] { record("child_thread", 50); });
            t.join();
            const char* path = bbx::current_path();
            std::string mine = path ? path : "";
            bbx::stop();
            ssize_t n = write(fds[1], mine.data(), mine.size());
            _exit(n == ssize_t(mine.size()) ? 0 : 1);
        }
    }
    close(fds[1]);
    record("after_fork", 10);
    std::string child_said;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) child_said.append(buf, size_t(n));
    close(fds[0]);
    int status = 0;
    REQUIRE(wait_for(pid, status) == pid);
    bbx::stop();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    const std::string child_path = tc.path + "." + std::to_string(pid);
    remove_at_end cleanup{child_path};
    CHECK(child_said == child_path);       // bbx::current_path() in the child
    REQUIRE(exists(child_path));

    // The parent's capture: its own events only.
    contents parent = read_capture(tc.path);
    CHECK(parent.pid == uint32_t(getpid()));
    CHECK(raw_header(tc.path).parent_pid == 0);
    CHECK(counts_up(parent.values["before_fork"], 10));
    CHECK(counts_up(parent.values["after_fork"], 10));
    CHECK(parent.values["around_fork"].size() == 2);  // the span's begin and end
    CHECK(parent.values.count("in_child") == 0);
    CHECK(parent.values.count("child_thread") == 0);

    // The child's: its pid, its parent's, the parent's configuration, both its threads, ended cleanly.
    contents child = read_capture(child_path);
    const fmt::file_header ch = raw_header(child_path);
    CHECK(child.pid == uint32_t(pid));
    CHECK(ch.parent_pid == uint32_t(getpid()));
    CHECK(ch.version_major == fmt::v2::version_major);
    CHECK(ch.version_minor == fmt::v2::version_minor);
    CHECK(ch.ring_size == 64 * 1024);
    CHECK(ch.ring_count == 4);
    CHECK((child.flags & fmt::flag_ended_clean) != 0);
    CHECK(counts_up(child.values["in_child"], 100));
    CHECK(counts_up(child.values["child_thread"], 50));
    REQUIRE(!child.rings["in_child"].empty());
    REQUIRE(!child.rings["child_thread"].empty());
    CHECK(child.rings["in_child"].front() != child.rings["child_thread"].front());
    CHECK(child.values.count("before_fork") == 0);
    CHECK(child.values.count("around_fork") == 0);  // no end of the parent's span
    CHECK(child.events_dropped == 0);
    CHECK(child.threads_dropped == 0);

    // Same host, same boot: the merge aligns the child by CLOCK_MONOTONIC.
    {
        auto p = capture::open(tc.path), c = capture::open(child_path);
        REQUIRE(!p.is_error());
        REQUIRE(!c.is_error());
        std::vector<const capture*> caps = {p.value().get(), c.value().get()};
        bbx::dec::merge_plan plan;
        std::string err;
        REQUIRE(bbx::dec::plan_merge(caps, {}, plan, err));
        CHECK(plan.captures[1].base == bbx::dec::merge_base::monotonic);
        CHECK(plan.captures[1].shown_pid == uint32_t(pid));
    }

    // bbx merge parent parent.<pid>: one timeline, the child's events after the
    // parent's last event before the fork.
    const std::string json = "/tmp/bbx-test-" + std::to_string(getpid()) + "-fork-merged.json";
    const std::string cmd =
        built_program_command(build_dir() + "/bbx merge " + tc.path + " " + child_path + " --to chrome -o " + json);
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::vector<chrome_event> merged = read_chrome(json);
    unlink(json.c_str());
    std::map<std::string, int> per_name;
    int64_t last_before = INT64_MIN, first_child = INT64_MAX;
    for (const chrome_event& e : merged) {
        const bool from_child = e.name == "in_child" || e.name == "child_thread";
        CHECK(e.pid == (from_child ? uint32_t(pid) : uint32_t(getpid())));
        ++per_name[e.name];
        if (e.name == "before_fork") last_before = std::max(last_before, e.ts);
        if (from_child) first_child = std::min(first_child, e.ts);
    }
    CHECK(per_name["before_fork"] == 10);
    CHECK(per_name["after_fork"] == 10);
    CHECK(per_name["in_child"] == 100);
    CHECK(per_name["child_thread"] == 50);
    CHECK(last_before < first_child);
}

TEST_CASE("fork: a child that records nothing makes no file, and one that calls stop() first records nothing") {
    temp_capture tc("fork-quiet");
    start_recording(tc.path, 4, 2);
    record("before_fork", 3);
    pid_t quiet = fork();
    REQUIRE(quiet >= 0);
    if (quiet == 0) _exit(0);
    pid_t stopped = fork();
    REQUIRE(stopped >= 0);
    if (stopped == 0) {
        bbx::stop();
        record("in_child", 10);
        _exit(bbx::current_path() ? 1 : 0);
    }
    int s1 = 0, s2 = 0;
    REQUIRE(wait_for(quiet, s1) == quiet);
    REQUIRE(wait_for(stopped, s2) == stopped);
    bbx::stop();
    CHECK(WIFEXITED(s2));
    CHECK(WEXITSTATUS(s2) == 0);
    CHECK(!exists(tc.path + "." + std::to_string(quiet)));
    CHECK(!exists(tc.path + "." + std::to_string(stopped)));
    contents parent = read_capture(tc.path);
    CHECK(counts_up(parent.values["before_fork"], 3));
    CHECK(parent.events_dropped == 0);
}

TEST_CASE("fork: a child that cannot make its capture counts its threads and events as dropped in its parent's") {
    // The parent's file and directory are gone before the fork (the capture
    // stays mapped): the child's <path>.<pid> cannot be created.
    char dir_template[] = "/tmp/bbx-test-fork-lost.XXXXXX";
    REQUIRE(mkdtemp(dir_template));
    const std::string dir = dir_template, path = dir + "/parent.bbx";
    start_recording(path, 4, 2);
    const int keep = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(keep >= 0);
    REQUIRE(unlink(path.c_str()) == 0);
    REQUIRE(rmdir(dir.c_str()) == 0);
    record("before_fork", 5);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);  // "bbx: forked child ... cannot record to ..."
        record("in_child", 100);
        std::thread t([] { record("child_thread", 20); });
        t.join();
        _exit(bbx::current_path() ? 1 : 0);
    }
    int status = 0;
    REQUIRE(wait_for(pid, status) == pid);
    bbx::stop();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    contents parent = read_capture("/proc/self/fd/" + std::to_string(keep));
    close(keep);
    CHECK(counts_up(parent.values["before_fork"], 5));
    CHECK(parent.values.count("in_child") == 0);
    CHECK(parent.threads_dropped == 2);   // the child's two threads
    CHECK(parent.events_dropped == 120);  // and every event they recorded
}

TEST_CASE("exec with BBX_FILE inherited: each program records to a fresh file, <path>.<pid>, then <path>.<pid>.1") {
    // crash_child exec N: records 100 events "seq" with t = N, then execs
    // itself as exec N-1 with the same environment (BBX_FILE included), until 0.
    // Under qemu-user (BBX_TEST_EXEC) that exec of an aarch64 program only
    // works where binfmt_misc registers qemu for it.
    if (std::getenv("BBX_TEST_EXEC") && !exists("/proc/sys/fs/binfmt_misc/qemu-aarch64")) {
        MESSAGE("skipped: under " << std::getenv("BBX_TEST_EXEC")
                                  << " without binfmt_misc, a program cannot exec an aarch64 program");
        return;
    }
    temp_capture tc("exec");
    const std::string exe = build_dir() + "/tests/crash_child";
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "BBX_", 4) != 0) env.emplace_back(*e);
    env.push_back("BBX_FILE=" + tc.path);
    env.push_back("BBX_THREADS=2");
    env.push_back("BBX_RING_KB=64");
    std::vector<std::string> args = {exe, "exec", tc.path, "2"};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string err_path = "/tmp/bbx-test-" + std::to_string(getpid()) + "-exec.err";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (err >= 0) dup2(err, 2);
        exec_built_program(argv.data(), envp.data());
        _exit(127);
    }
    int status = 0;
    REQUIRE(wait_for(pid, status) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const std::string err = bbx_test::read_file(err_path);
    unlink(err_path.c_str());
    INFO("stderr of the exec chain:\n" << err);

    // exec keeps the pid: the second program finds the path taken, the third path.<pid> too.
    const std::string second = tc.path + "." + std::to_string(pid), third = second + ".1";
    remove_at_end cleanup2{second}, cleanup3{third};
    CHECK(err.find("bbx: " + tc.path + " exists; recording to " + second) != std::string::npos);
    CHECK(err.find("bbx: " + tc.path + " exists; recording to " + third) != std::string::npos);
    CHECK(!exists(third + ".1"));
    CHECK(!exists(tc.path + "." + std::to_string(pid) + ".2"));
    const std::string files[] = {tc.path, second, third};
    for (int i = 0; i < 3; ++i) {
        CAPTURE(files[i]);
        REQUIRE(exists(files[i]));
        contents c = read_capture(files[i]);
        CHECK(c.pid == uint32_t(pid));
        CHECK(raw_header(files[i]).parent_pid == 0);
        // Program i ran as "exec 2-i": 100 events with t = 2 - i, and nothing else.
        const auto& seq = c.values["seq"];
        CHECK(seq.size() == 100);
        CHECK(c.values.size() == 1);
        CHECK(counts_up(seq, 100));
        CHECK(c.third_args["seq"] == std::vector<int64_t>(100, 2 - i));
        // The first two were replaced by exec (no stop(): neither end flag); the last exited.
        CHECK(((c.flags & fmt::flag_ended_clean) != 0) == (i == 2));
    }
}
