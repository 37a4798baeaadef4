// Test support: running the programs the tests drive (bbx, the examples, the
// test programs next to the unit binary) as children.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// The build directory (the unit binary is BUILD/tests/unit): where bbx,
// the examples and the test programs are.
inline std::string build_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    REQUIRE(n > 0);
    std::string p(buf, size_t(n));
    p = p.substr(0, p.rfind('/'));     // BUILD/tests
    return p.substr(0, p.rfind('/'));  // BUILD
}

inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Programs the tests start (the crash child, the demo service, bbx) are built
// for the machine the tests run on. Under an emulator, BBX_TEST_EXEC names it
// ("qemu-aarch64": make test-aarch64 sets it), because qemu-user cannot start
// a foreign binary by itself where binfmt_misc does not register it. These
// run them through it; unset, directly.
inline std::vector<std::string> test_exec_prefix() {
    std::vector<std::string> words;
    const char* v = std::getenv("BBX_TEST_EXEC");
    std::string w;
    for (const char* p = v ? v : "";; ++p) {
        if (*p == ' ' || *p == 0) {
            if (!w.empty()) words.push_back(w);
            w.clear();
            if (*p == 0) break;
        } else {
            w += *p;
        }
    }
    return words;
}

// execve(argv[0], argv, envp), through BBX_TEST_EXEC when it is set (found on
// PATH). Returns only if the exec failed.
inline void exec_built_program(char* const* argv, char* const* envp) {
    std::vector<std::string> prefix = test_exec_prefix();
    if (prefix.empty()) {
        execve(argv[0], argv, envp);
        return;
    }
    std::vector<char*> all;
    for (std::string& p : prefix) all.push_back(p.data());
    for (char* const* a = argv; *a; ++a) all.push_back(*a);
    all.push_back(nullptr);
    execvpe(all[0], all.data(), envp);
}

// A shell command line that runs a program the tests built, with BBX_TEST_EXEC.
inline std::string built_program_command(const std::string& command) {
    const char* v = std::getenv("BBX_TEST_EXEC");
    return v && *v ? std::string(v) + " " + command : command;
}

struct child_options {
    std::vector<std::string> env;  // added to this process's environment, less its BBX_* variables
    bool quiet_stdout = true;      // standard output to /dev/null
    bool quiet_stderr = false;     // standard error to /dev/null
    bool no_core = false;          // RLIMIT_CORE 0 (children that crash on purpose)
};

// Starts argv[0] (a path) as a child; returns its pid.
inline pid_t spawn(const std::vector<std::string>& args, const child_options& o = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "BBX_", 4) != 0) env.emplace_back(*e);
    for (const std::string& e : o.env) env.push_back(e);
    std::vector<std::string> a = args;
    std::vector<char*> argv, envp;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (std::string& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (o.no_core) {
            rlimit no_core{0, 0};
            setrlimit(RLIMIT_CORE, &no_core);
        }
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            if (o.quiet_stdout) dup2(devnull, 1);
            if (o.quiet_stderr) dup2(devnull, 2);
        }
        exec_built_program(argv.data(), envp.data());
        _exit(127);
    }
    return pid;
}

// Waits for pid until `deadline`, then kills it. Its exit status, or -1 if
// it was killed (by the deadline or a signal).
inline int reap(pid_t pid, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0) return -1;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

struct tool_result {
    int status = -1;  // exit status, -1: killed by a signal
    std::string out, err;
};

// Runs BUILD/bbx with args; its standard output and error as text.
inline tool_result run_bbx(const std::vector<std::string>& args) {
    const std::string base = "/tmp/bbx-test-" + std::to_string(getpid()) + "-tool";
    std::vector<std::string> a = {build_dir() + "/bbx"};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int out = open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open((base + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0) _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        exec_built_program(argv.data(), environ);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    tool_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_text(base + ".out");
    r.err = read_text(base + ".err");
    unlink((base + ".out").c_str());
    unlink((base + ".err").c_str());
    return r;
}
