// What one refresh of `bbx top` costs (bench/README.md, "bbx top"): T
// threads (64) record into rings of R KiB (1024) until every ring has
// wrapped; then
//   - full: a view opened and refreshed once, the whole file read (what the
//     first frame costs), against the floor of one read pass alone
//     (capture::open + for_each_event, doing nothing with the events);
//   - incremental: the writers record N requests each, then the view
//     refreshes (reading only that), against the floor of the same new
//     slots read by a second capture's for_each_event_from; N = 0 (an idle
//     process), 10 and 100 (8 events a request: 5.1 k and 51 k events a
//     refresh, a busy service at one refresh a second);
//   - render: one frame of text at 200 x 50 from the view's model.
// Each is the median of --rounds runs; ratios are to the floor of the same
// run. The machine is shared: run it when it is quiet, and more than once.
//
//   top_refresh [--threads T] [--ring-kb R] [--rounds N] [--smoke]
#include <mimalloc-new-delete.h>  // as bbx is linked

#include <bbx/bbx.hpp>
#include <bbx/task.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"

namespace {

using clk = std::chrono::steady_clock;

// "model name" from /proc/cpuinfo, with family and model (as bench/hot_path.cpp prints it).
std::string cpu_model() {
    std::string name = "unknown", family, model;
    if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
        char line[512];
        while (std::fgets(line, sizeof line, f)) {
            const char* p = std::strchr(line, ':');
            if (!p) continue;
            std::string value = p + 1 + (p[1] == ' ');
            value.erase(value.find_last_not_of(" \n") + 1);
            std::string_view key(line, size_t(p - line));
            key = key.substr(0, key.find_last_not_of(" \t") + 1);
            if (key == "model name") name = value;
            else if (key == "cpu family") family = value;
            else if (key == "model") model = value;
            else if (key == "processor" && value != "0") break;
        }
        std::fclose(f);
    }
    if (!family.empty()) name += " (family " + family + ", model " + model + ")";
    return name;
}

std::string load_average() {
    char buf[128] = {};
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
        std::fclose(f);
    }
    std::string s = buf;
    size_t sp = 0;
    for (int i = 0; i < 3 && sp != std::string::npos; ++i) sp = s.find(' ', sp + 1);
    return s.substr(0, sp);
}

// One request: a task spawned, woken, polled once with a span and an
// instant inside, suspended at an await site, completed: 8 events in about 10 slots.
void request(uint64_t i) {
    bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("request", t, 0, 512);
    bbx::task_wake(t);
    {
        bbx::poll_scope poll(t);
        BBX_SPAN(INFO, "bench", "handle", bbx::arg("i", int64_t(i)));
        BBX_INSTANT(INFO, "bench", "step", bbx::arg("i", int64_t(i)));
        bbx::note_await();
    }
    bbx::task_complete(t);
}

// Writer threads that record `quota` requests each when told, then wait.
class writers {
public:
    explicit writers(unsigned n) {
        for (unsigned k = 0; k < n; ++k)
            threads_.emplace_back([this, k] {
                bbx::set_thread_name(("writer-" + std::to_string(k)).c_str());
                uint64_t seen = 0, i = 0;
                for (;;) {
                    uint64_t quota;
                    {
                        std::unique_lock<std::mutex> l(m_);
                        cv_.wait(l, [&] { return round_ != seen; });
                        seen = round_;
                        quota = quota_;
                    }
                    if (quota == UINT64_MAX) return;
                    for (uint64_t q = 0; q < quota; ++q) request(i++);
                    std::lock_guard<std::mutex> l(m_);
                    if (++done_ == threads_.size()) cv_done_.notify_one();
                }
            });
    }
    // Each writer records n requests; returns when all have.
    void write(uint64_t n) {
        std::unique_lock<std::mutex> l(m_);
        quota_ = n;
        done_ = 0;
        ++round_;
        cv_.notify_all();
        if (n != UINT64_MAX) cv_done_.wait(l, [&] { return done_ == threads_.size(); });
    }
    ~writers() {
        write(UINT64_MAX);
        for (std::thread& t : threads_) t.join();
    }

private:
    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable cv_, cv_done_;
    uint64_t round_ = 0, quota_ = 0;
    size_t done_ = 0;
};

double ms_of(const std::function<void()>& f) {
    const auto t0 = clk::now();
    f();
    return std::chrono::duration<double, std::milli>(clk::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "top_refresh: %s\n", what.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    unsigned threads = 64, ring_kb = 1024, rounds = 15;
    bool smoke = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) threads = unsigned(std::atoi(argv[++i]));
        else if (a == "--ring-kb" && i + 1 < argc) ring_kb = unsigned(std::atoi(argv[++i]));
        else if (a == "--rounds" && i + 1 < argc) rounds = unsigned(std::atoi(argv[++i]));
        else if (a == "--smoke") smoke = true;
        else {
            std::fprintf(stderr, "usage: top_refresh [--threads T] [--ring-kb R] [--rounds N] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) threads = 4, ring_kb = 64, rounds = 3;
    if (threads < 1 || ring_kb < 4 || rounds < 1) die("bad arguments");
    char path[] = "/tmp/bbx-top-bench-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) die("cannot make a temporary file");
    close(fd);
    unlink(path);  // the recorder makes it (and never overwrites one)
    bbx::config cfg;
    cfg.path = path;
    cfg.ring_kb = ring_kb;
    cfg.max_threads = threads + 1;
    if (auto r = bbx::start(cfg); !r.ok()) die(std::string("cannot record: ") + r.message());

    int rc = 0;
    {
        writers w(threads);
        // Every ring wraps: 10 slots or more a request.
        const uint64_t fill = uint64_t(ring_kb) * 1024 / 32 / 10 * 3 / 2;
        w.write(fill);

        std::printf("bbx top: one refresh over %u threads, rings of %u KiB (%.0f MiB of rings), median of %u\n", threads,
                    ring_kb, double(threads) * ring_kb / 1024, rounds);
        std::printf("cpu: %s; load average before: %s\n\n", cpu_model().c_str(), load_average().c_str());
        std::printf("%-34s %12s %11s %11s %7s\n", "case", "events read", "refresh ms", "floor ms", "ratio");

        // Full: the first refresh of a view, the whole file.
        std::vector<double> full, floor_full;
        uint64_t full_events = 0;
        for (unsigned r = 0; r < rounds; ++r) {
            floor_full.push_back(ms_of([&] {
                auto c = bbx::dec::capture::open(path);
                if (c.is_error()) die(c.err().message());
                uint64_t n = 0;
                if (c.value()->for_each_event([&](const bbx::dec::event&) { ++n; }).is_error()) die("read failed");
                full_events = n;
            }));
            full.push_back(ms_of([&] {
                auto v = bbx::dec::top_view::open(path, bbx::dec::top_options{});
                if (v.is_error() || v.value()->refresh().is_error()) die("refresh failed");
            }));
        }
        std::printf("%-34s %12" PRIu64 " %11.2f %11.2f %6.2fx\n", "full (the first frame)", full_events, median(full),
                    median(floor_full), median(full) / median(floor_full));

        // Incremental: one view, refreshed after each batch.
        auto vr = bbx::dec::top_view::open(path, bbx::dec::top_options{});
        if (vr.is_error() || vr.value()->refresh().is_error()) die("refresh failed");
        bbx::dec::top_view& view = *vr.value();
        auto fr = bbx::dec::capture::open(path);
        if (fr.is_error()) die(fr.err().message());
        std::vector<bbx::dec::capture::ring_mark> marks;
        if (fr.value()->for_each_event_from(marks, [](const bbx::dec::event&) {}).is_error()) die("read failed");
        double worst = 0;
        std::vector<double> render;
        for (uint64_t n : {uint64_t(0), uint64_t(10), uint64_t(100)}) {
            std::vector<double> inc, floor_inc;
            uint64_t read = 0;
            for (unsigned r = 0; r < rounds; ++r) {
                if (n) w.write(n);
                uint64_t got = 0;
                floor_inc.push_back(ms_of([&] {
                    if (fr.value()->for_each_event_from(marks, [&](const bbx::dec::event&) { ++got; }).is_error())
                        die("read failed");
                }));
                read = got;
                inc.push_back(ms_of([&] {
                    if (view.refresh().is_error()) die("refresh failed");
                }));
                render.push_back(ms_of([&] {
                    if (view.text(200, 50).empty()) die("empty frame");
                }));
            }
            char name[64];
            std::snprintf(name, sizeof name, "incremental, %" PRIu64 " requests/thread", n);
            const double fl = median(floor_inc);
            std::printf("%-34s %12" PRIu64 " %11.3f %11.3f %6.2fx\n", name, read, median(inc), fl,
                        fl > 0 ? median(inc) / fl : 0.0);
            worst = std::max(worst, median(inc) + median(render));
        }
        std::printf("%-34s %12s %11.3f\n", "render one 200x50 frame", "-", median(render));
        std::printf("\nthe slowest incremental refresh + frame: %.2f ms (target: under 10 ms)\n", worst);
        std::printf("load average after: %s\n", load_average().c_str());
        if (smoke && worst <= 0) rc = 1;
    }
    bbx::stop();
    unlink(path);
    return rc;
}
