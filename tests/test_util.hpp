// Helpers shared by the test files.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

// A unique capture path under /tmp, removed before and after the test.
struct temp_capture {
    std::string path;
    explicit temp_capture(const std::string& name)
        : path("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + name + ".bbx") {
        unlink(path.c_str());
    }
    ~temp_capture() { unlink(path.c_str()); }
    temp_capture(const temp_capture&) = delete;
    temp_capture& operator=(const temp_capture&) = delete;
};

// Programs the tests start (the crash child, the demo service, bbx) are built
// for the machine the tests run on. Under an emulator, BBX_TEST_EXEC names it
// ("qemu-aarch64": make test-aarch64 sets it), because qemu-user cannot start
// a foreign binary by itself where binfmt_misc does not register it. These
// run them through it; unset, directly.
inline std::vector<std::string> test_exec_prefix() {
    std::vector<std::string> words;
    const char* v = std::getenv("BBX_TEST_EXEC");
    std::string w;
    for (const char* p = v ? v : ""; ; ++p) {
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
