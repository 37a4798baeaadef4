// The spdlog peer: an async logger (spdlog's own thread pool, one worker
// thread, queue of 8192, block when full: every event is kept) writing to a
// file with the default pattern, one integer per message. Checked afterwards
// by counting the lines of the file.
#include "peers.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

namespace bbx_bench {
namespace {

std::shared_ptr<spdlog::details::thread_pool> g_pool;
std::shared_ptr<spdlog::async_logger> g_logger;
std::string g_path;
int64_t g_last = 0;  // the last value logged: the file's last line must carry it

std::string setup(const peer_env& env) {
    g_path = env.dir + "/spdlog.log";
    int cpu = env.helper_cpu;
    try {
        // The worker would inherit the benchmark thread's CPU; it gets the other one.
        g_pool = std::make_shared<spdlog::details::thread_pool>(8192, 1, [cpu] {
            if (cpu < 0) return;
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        });
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(g_path, true);
        g_logger = std::make_shared<spdlog::async_logger>("bench", std::move(sink), g_pool,
                                                          spdlog::async_overflow_policy::block);
    } catch (const std::exception& e) {
        g_logger.reset();
        g_pool.reset();
        return std::string("cannot create the logger: ") + e.what();
    }
    return "";
}

__attribute__((noinline)) void run(uint64_t n, uint64_t v) {
    spdlog::async_logger& log = *g_logger;
    for (uint64_t i = 0; i < n; ++i) {
        log.info("instant_int i={}", int64_t(v + i));
        asm volatile("" ::: "memory");
    }
    g_last = int64_t(v + n - 1);
}

void drain() {
    while (g_pool && g_pool->queue_size() > 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

bool finish(uint64_t emitted, std::string& line) {
    if (!g_logger) {
        line = "not set up";
        return false;
    }
    size_t overruns = g_pool->overrun_counter();
    g_logger->flush();
    g_logger.reset();
    g_pool.reset();  // the worker writes what is queued, then is joined; the sink closes with the last reference
    uint64_t lines = 0;
    std::string last, cur;
    if (FILE* f = std::fopen(g_path.c_str(), "r")) {
        char buf[1 << 16];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
            for (size_t i = 0; i < n; ++i) {
                if (buf[i] == '\n') {
                    ++lines;
                    last.swap(cur);
                    cur.clear();
                } else {
                    cur += buf[i];
                }
            }
        std::fclose(f);
    }
    std::remove(g_path.c_str());
    std::string tail = "i=" + std::to_string(g_last);
    bool last_ok = last.size() >= tail.size() && last.compare(last.size() - tail.size(), tail.size(), tail) == 0;
    bool ok = emitted > 0 && lines == emitted && overruns == 0 && last_ok;
    char b[256];
    std::snprintf(b, sizeof b, "%llu lines in the log file (expected %llu), %zu overruns, last line %s: %s",
                  (unsigned long long)lines, (unsigned long long)emitted, overruns,
                  last_ok ? "carries the last value" : "does NOT carry the last value", ok ? "OK" : "FAILED");
    line = b;
    return ok;
}

}  // namespace

const peer& spdlog_peer() {
    static const peer p{"spdlog", "spdlog async logger, 1 int", "libspdlog-dev", setup, run, drain, finish};
    return p;
}

}  // namespace bbx_bench
