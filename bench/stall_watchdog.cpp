// The stall-stack watchdog's own CPU use (spec/stall-stacks.md), at a 1 ms
// check period (BBX_STALL_SAMPLE_MS=1), while nothing stalls:
//
//   idle   8 threads hold a ring and record nothing (each check: two loads per ring)
//   busy   2 threads record short polls (a poll with a span inside, ~20 us)
//          without pause, so every check walks each ring back to its open poll
//   churn  as busy, plus 30 threads that record one event each 10 ms
//
// The watchdog thread's CPU time is read from /proc/self/task/TID/schedstat
// (ns on a CPU) over each run; printed: the median over the runs of its CPU
// as a share of one core, and per check. A load of its own (busy threads)
// shares the 2 cores with it, as a real service would.
//
//   stall_watchdog [--seconds S] [--runs R] [--smoke]
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/task.hpp"

namespace {

std::string cpu_model() {
    std::string name = "unknown";
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return name;
}

// The watchdog's thread id, by its name.
int watchdog_tid() {
    DIR* d = opendir("/proc/self/task");
    if (!d) return -1;
    int found = -1;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream c(std::string("/proc/self/task/") + e->d_name + "/comm");
        std::string comm;
        std::getline(c, comm);
        if (comm == "bbx-watchdog") found = std::atoi(e->d_name);
    }
    closedir(d);
    return found;
}

uint64_t cpu_ns(int tid) {
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
    uint64_t ns = 0;
    f >> ns;
    return ns;
}

struct result {
    double share;        // of one core
    double ns_per_check;
};

result run(const char* scenario, double seconds) {
    const std::string path = "/tmp/bbx-bench-stall-" + std::to_string(getpid()) + ".bbx";
    unlink(path.c_str());
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.max_threads = 64;
    cfg.stall_ms = 50;
    cfg.stall_sample_ms = 1;
    if (!bbx::start(cfg).ok()) {
        std::fprintf(stderr, "stall_watchdog: cannot start\n");
        std::exit(1);
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const bool busy = std::strcmp(scenario, "idle") != 0;
    const int idle_threads = std::strcmp(scenario, "idle") == 0 ? 8 : std::strcmp(scenario, "churn") == 0 ? 30 : 0;
    for (int i = 0; i < idle_threads; ++i)
        threads.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                BBX_INSTANT(INFO, "bench", "tick");
                std::this_thread::sleep_for(std::chrono::milliseconds(std::strcmp(scenario, "idle") == 0 ? 200 : 10));
            }
        });
    if (busy)
        for (int i = 0; i < 2; ++i)
            threads.emplace_back([&] {
                const bbx::task_id t = bbx::new_task_id();
                volatile uint64_t x = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    bbx::poll_scope poll(t);
                    BBX_SPAN(INFO, "bench", "work");
                    for (int k = 0; k < 20000; ++k) x = x + 1;
                }
            });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int tid = watchdog_tid();
    const uint64_t c0 = tid > 0 ? cpu_ns(tid) : 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const uint64_t c1 = tid > 0 ? cpu_ns(tid) : 0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    for (auto& t : threads) t.join();
    bbx::stop();
    unlink(path.c_str());
    if (tid <= 0) {
        std::fprintf(stderr, "stall_watchdog: no bbx-watchdog thread\n");
        std::exit(1);
    }
    const double cpu = double(c1 - c0) * 1e-9;
    return {cpu / wall, double(c1 - c0) / (wall * 1000.0)};
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 3;
    int runs = 5;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--smoke")) seconds = 0.2, runs = 1;
        else {
            std::fprintf(stderr, "usage: stall_watchdog [--seconds S] [--runs R] [--smoke]\n");
            return 2;
        }
    }
    std::printf("stall-stack watchdog CPU, check period 1 ms, nothing stalling (threshold 50 ms)\n");
    std::printf("cpu: %s; %u cpus; %d runs of %.1f s each, medians\n", cpu_model().c_str(), std::thread::hardware_concurrency(),
                runs, seconds);
    std::printf("%-8s %14s %16s\n", "case", "CPU (1 core)", "per check (ns)");
    for (const char* scenario : {"idle", "busy", "churn"}) {
        std::vector<result> rs;
        for (int r = 0; r < runs; ++r) rs.push_back(run(scenario, seconds));
        std::sort(rs.begin(), rs.end(), [](const result& a, const result& b) { return a.share < b.share; });
        const result& m = rs[rs.size() / 2];
        std::printf("%-8s %13.3f%% %16.0f\n", scenario, m.share * 100.0, m.ns_per_check);
    }
    return 0;
}
