// Replays files through a fuzz target's entry point without libFuzzer, so
// that the corpus is a regression suite on any compiler: every file named on
// the command line (directories are walked) goes through
// LLVMFuzzerTestOneInput once, in a child process of its own, so that a
// crash or hang names its file and the other files still run. Built once per
// target (fuzz/fuzz.mk links it with fuzz_NAME.cpp).
//
//   replay [--name NAME] [--timeout SECONDS] [--rss-limit-mb MB] [--no-fork] FILE|DIR...
//
// --name NAME    the summary reads "fuzz-replay NAME: N passed, M failed"
//                (default: "fuzz-replay: N passed, M failed")
// --timeout S    an input running longer fails as a hang (default 20 s)
// --rss-limit-mb an input whose child process peaked above MB megabytes of
//                resident memory fails (default 2048, as `make fuzz`)
// --no-fork      run every input in this process (for a debugger); the first
//                crash or hang ends the run with the file's name on stderr
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The file being run in-process, for the signal handlers (written before each run).
char g_current[4096];

void write_err(const char* s) {
    ssize_t r = write(2, s, std::strlen(s));
    (void)r;
}

// --no-fork: names the input that crashed or hung, then dies of the same signal.
void on_fatal(int sig) {
    write_err(sig == SIGALRM ? "fuzz-replay: time limit exceeded (hang) on " : "fuzz-replay: crash on ");
    write_err(g_current);
    write_err("\n");
    signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
    raise(sig == SIGALRM ? SIGABRT : sig);
}

bool read_file(const std::string& path, std::vector<uint8_t>& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return !f.bad();
}

// One run of the entry point on a heap buffer of exactly the input's size,
// never null, as libFuzzer gives.
void run_one(const std::vector<uint8_t>& data) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[data.size() + (data.empty() ? 1 : 0)]);
    if (!data.empty()) std::memcpy(copy.get(), data.data(), data.size());
    LLVMFuzzerTestOneInput(copy.get(), data.size());
}

// Runs one input in a child; "" if it passed, else why not.
std::string run_forked(const std::vector<uint8_t>& data, unsigned timeout, unsigned long rss_limit_mb) {
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return std::string("fork failed: ") + std::strerror(errno);
    if (pid == 0) {
        alarm(timeout);
        run_one(data);
        std::exit(0);  // exit, not _exit: LeakSanitizer checks at exit
    }
    int status = 0;
    struct rusage ru {};
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) return std::string("wait4 failed: ") + std::strerror(errno);
    }
    const unsigned long rss_mb = static_cast<unsigned long>(ru.ru_maxrss) / 1024;  // ru_maxrss is in KiB
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return rss_mb > rss_limit_mb ? "peaked at " + std::to_string(rss_mb) + " MB of memory, above the limit of " +
                                           std::to_string(rss_limit_mb) + " MB"
                                     : "";
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WTERMSIG(status) == SIGALRM) return "ran over " + std::to_string(timeout) + " s (a hang?)";
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
}

}  // namespace

int main(int argc, char** argv) {
    unsigned timeout = 20;
    unsigned long rss_limit_mb = 2048;
    bool fork_each = true;
    std::string name;
    std::vector<std::string> files;
    unsigned failed = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--timeout" && i + 1 < argc) {
            timeout = unsigned(std::strtoul(argv[++i], nullptr, 10));
            continue;
        }
        if (a == "--rss-limit-mb" && i + 1 < argc) {
            rss_limit_mb = std::strtoul(argv[++i], nullptr, 10);
            continue;
        }
        if (a == "--name" && i + 1 < argc) {
            name = argv[++i];
            continue;
        }
        if (a == "--no-fork") {
            fork_each = false;
            continue;
        }
        std::error_code ec;
        if (std::filesystem::is_directory(a, ec)) {
            std::vector<std::string> found;
            for (auto it = std::filesystem::recursive_directory_iterator(a, ec);
                 !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
                if (it->is_regular_file(ec)) found.push_back(it->path().string());
            if (ec) {
                std::fprintf(stderr, "fuzz-replay: %s: %s\n", a.c_str(), ec.message().c_str());
                ++failed;
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(a);
        }
    }
    if (files.empty() && !failed) {
        std::fprintf(stderr, "usage: replay [--name NAME] [--timeout SECONDS] [--rss-limit-mb MB] [--no-fork] FILE|DIR...\n");
        return 2;
    }
    if (!fork_each)
        for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) signal(sig, on_fatal);

    unsigned passed = 0;
    std::vector<uint8_t> data;
    for (const std::string& f : files) {
        if (!read_file(f, data)) {
            std::fprintf(stderr, "fuzz-replay: %s: cannot read\n", f.c_str());
            ++failed;
            continue;
        }
        if (fork_each) {
            std::string why = run_forked(data, timeout, rss_limit_mb);
            if (!why.empty()) {
                std::printf("FAIL fuzz-replay%s%s: %s: %s\n", name.empty() ? "" : " ", name.c_str(), f.c_str(),
                            why.c_str());
                ++failed;
                continue;
            }
        } else {
            std::snprintf(g_current, sizeof g_current, "%s", f.c_str());
            alarm(timeout);
            run_one(data);
            alarm(0);
        }
        ++passed;
    }
    std::printf("fuzz-replay%s%s: %u passed, %u failed\n", name.empty() ? "" : " ", name.c_str(), passed, failed);
    return failed ? 1 : 0;
}
