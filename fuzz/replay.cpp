// Replays files through the fuzz entry point without libFuzzer, so that the
// corpus is a regression suite on any compiler: every file named on the
// command line (directories are walked) goes through LLVMFuzzerTestOneInput
// once. A crash, or an input that runs longer than the time limit, ends the
// run with the file's name on stderr and a non-zero status.
//
//   replay [--timeout SECONDS] FILE|DIR...      (default timeout: 20 s per file)
#include <signal.h>
#include <unistd.h>

#include <algorithm>
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

// The file being run, for the signal handlers (written before each run).
char g_current[4096];

void write_err(const char* s) {
    ssize_t r = write(2, s, std::strlen(s));
    (void)r;
}

// Names the input that crashed or hung, then dies of the same signal.
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

}  // namespace

int main(int argc, char** argv) {
    unsigned timeout = 20;
    std::vector<std::string> files;
    unsigned failed = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--timeout" && i + 1 < argc) {
            timeout = unsigned(std::strtoul(argv[++i], nullptr, 10));
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
        std::fprintf(stderr, "usage: replay [--timeout SECONDS] FILE|DIR...\n");
        return 2;
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) signal(sig, on_fatal);

    unsigned passed = 0;
    std::vector<uint8_t> data;
    for (const std::string& f : files) {
        if (!read_file(f, data)) {
            std::fprintf(stderr, "fuzz-replay: %s: cannot read\n", f.c_str());
            ++failed;
            continue;
        }
        std::snprintf(g_current, sizeof g_current, "%s", f.c_str());
        alarm(timeout);
        // A heap buffer of exactly the input's size, never null, as libFuzzer gives.
        std::unique_ptr<uint8_t[]> copy(new uint8_t[data.size()]);
        if (!data.empty()) std::memcpy(copy.get(), data.data(), data.size());
        LLVMFuzzerTestOneInput(copy.get(), data.size());
        alarm(0);
        ++passed;
    }
    std::printf("fuzz-replay: %u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
