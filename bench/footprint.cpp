// What recording costs in memory and disk: resident memory (from
// /proc/self/status) before bbx::start, after it, and after every thread has
// recorded, and the capture's size, for 1, 8 and 64 threads with the default
// configuration and for the smallest one (a small device). Each measurement
// runs in a fresh child process, so that one does not inherit another's pages.
// Then what the crash handler adds to starting a thread (each new thread gets
// an alternate signal stack before it runs, bbx/crash.hpp).
//
//   footprint [--smoke]
#include <bbx/bbx.hpp>
#include <bbx/crash.hpp>
#include <bbx/task.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fmt = bbx::format;

namespace {

// Resident memory in KiB, as /proc/self/status gives it.
struct rss {
    long vm = 0, anon = 0, file = 0, shmem = 0;
};

rss read_rss() {
    rss r;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f)) {
            long v;
            if (std::sscanf(line, "VmRSS: %ld", &v) == 1) r.vm = v;
            else if (std::sscanf(line, "RssAnon: %ld", &v) == 1) r.anon = v;
            else if (std::sscanf(line, "RssFile: %ld", &v) == 1) r.file = v;
            else if (std::sscanf(line, "RssShmem: %ld", &v) == 1) r.shmem = v;
        }
        std::fclose(f);
    }
    return r;
}

// Resident KiB of the mappings of `path` (/proc/self/smaps): the capture's own pages.
long mapping_rss(const std::string& path) {
    long total = 0;
    bool in = false;
    if (FILE* f = std::fopen("/proc/self/smaps", "r")) {
        char line[4352];
        while (std::fgets(line, sizeof line, f)) {
            unsigned long lo, hi;
            long v;
            if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {  // a mapping's first line
                std::string_view l(line);
                while (!l.empty() && (l.back() == '\n' || l.back() == ' ')) l.remove_suffix(1);
                in = l.size() >= path.size() && l.substr(l.size() - path.size()) == path;
            } else if (in && std::sscanf(line, "Rss: %ld", &v) == 1) {
                total += v;
            }
        }
        std::fclose(f);
    }
    return total;
}

struct setup {
    const char* name;
    uint32_t ring_kb, max_threads, meta_kb;
    uint32_t threads;
    uint32_t tasks = bbx::config{}.tasks;  // task table entries (the smallest setup: 0, no table)
};

// What a child sends back through its pipe.
struct result {
    bool ok;
    rss before, started, recorded;
    long capture_rss;  // KiB of the capture's mapping that are resident, all threads recorded
    uint64_t file_size, disk_bytes, meta_used, meta_capacity, events_written;
    uint32_t rings_used, sites_dropped, threads_dropped;
    char error[160];
};

// Every thread records each kind of event once (so every call site and the
// thread's metadata exist), then fills its ring twice over with instants.
void record(bbx::resource_id chan, uint64_t fill) {
    bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("task", t, 0, 64);
    bbx::task_wake(t);
    {
        bbx::poll_scope poll(t);
        BBX_SPAN(INFO, "fp", "span", bbx::arg("i", 1));
        BBX_INSTANT(INFO, "fp", "three", bbx::arg("i", 1), bbx::arg("x", 2.0), bbx::arg("b", true));
        BBX_INSTANT(INFO, "fp", "text", bbx::arg("s", "a string of 32 bytes, more or le"));
        BBX_COUNTER(INFO, "fp", "depth", 3);
        bbx::resource_used(chan, bbx::resource_op::send);
        bbx::note_await();
    }
    {
        bbx::wait_scope wait(chan, bbx::resource_op::recv);
    }
    bbx::task_complete(t);
    for (uint64_t i = 0; i < fill; ++i) BBX_INSTANT(INFO, "fp", "fill", bbx::arg("i", int64_t(i)));
}

// A first session just like the measured one (same sizes, same threads, one
// event each), so that every page of code and library data the measured
// session touches is already resident: the deltas below are then the
// capture's pages, not code faulted in on first use. (Its mapping stays, as
// bbx::stop leaves it: it is part of the baseline.)
bool warm_up(const setup& s, const std::string& dir) {
    std::string path = dir + "/warm-up.bbx";
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.ring_kb = s.ring_kb;
    cfg.max_threads = s.max_threads;
    cfg.meta_kb = s.meta_kb;
    cfg.tasks = s.tasks;
    if (!bbx::start(cfg).ok()) return false;
    bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "queue", 16);
    std::vector<std::thread> pool;
    for (uint32_t i = 0; i < s.threads; ++i) pool.emplace_back([chan] { record(chan, 1); });
    for (auto& t : pool) t.join();
    bbx::stop();
    unlink(path.c_str());
    (void)read_rss();
    return true;
}

result measure(const setup& s, const std::string& dir) {
    result r{};
    std::string path = dir + "/footprint.bbx";
    if (!warm_up(s, dir)) {
        std::snprintf(r.error, sizeof r.error, "the warm-up session did not start");
        return r;
    }
    r.before = read_rss();
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.ring_kb = s.ring_kb;
    cfg.max_threads = s.max_threads;
    cfg.meta_kb = s.meta_kb;
    cfg.tasks = s.tasks;
    bbx::start_result st = bbx::start(cfg);
    if (!st.ok()) {
        std::snprintf(r.error, sizeof r.error, "start: %s", st.message());
        return r;
    }
    r.started = read_rss();
    bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "queue", 16);
    uint64_t fill = 2 * uint64_t(s.ring_kb) * 1024 / fmt::v2::slot_size;  // twice the ring's slots: it wraps
    std::atomic<uint32_t> done{0};
    std::atomic<bool> release{false};
    std::vector<std::thread> pool;
    for (uint32_t i = 0; i < s.threads; ++i)
        pool.emplace_back([&] {
            record(chan, fill);
            done.fetch_add(1);
            while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
    while (done.load() < s.threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    r.recorded = read_rss();  // every thread alive, each having recorded
    r.capture_rss = mapping_rss(path);
    release = true;
    for (auto& t : pool) t.join();
    bbx::stop();

    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        std::snprintf(r.error, sizeof r.error, "cannot reopen the capture");
        return r;
    }
    r.file_size = uint64_t(sb.st_size);
    r.disk_bytes = uint64_t(sb.st_blocks) * 512;
    fmt::file_header h;
    if (pread(fd, &h, sizeof h, 0) != ssize_t(sizeof h)) {
        close(fd);
        std::snprintf(r.error, sizeof r.error, "cannot read the header");
        return r;
    }
    std::vector<fmt::ring_descriptor> rings(h.ring_count);
    if (pread(fd, rings.data(), rings.size() * sizeof(fmt::ring_descriptor), off_t(h.ring_table_offset)) !=
        ssize_t(rings.size() * sizeof(fmt::ring_descriptor))) {
        close(fd);
        std::snprintf(r.error, sizeof r.error, "cannot read the ring table");
        return r;
    }
    close(fd);
    unlink(path.c_str());
    r.meta_used = h.meta_used;
    r.meta_capacity = h.meta_capacity;
    r.rings_used = h.rings_used;
    r.sites_dropped = h.sites_dropped;
    r.threads_dropped = h.threads_dropped;
    // Each owner of a ring wrote one owner event first (format 1.3): not counted here.
    for (uint32_t i = 0; i < h.rings_used; ++i) r.events_written += rings[i].events_written - rings[i].generation;
    uint32_t with_ring = s.threads < s.max_threads ? s.threads : s.max_threads;
    // 13 events of each kind, then the fill.
    bool events_ok = r.events_written == uint64_t(with_ring) * (13 + fill);
    r.ok = r.rings_used == with_ring && r.threads_dropped == s.threads - with_ring && events_ok;
    if (!r.ok)
        std::snprintf(r.error, sizeof r.error, "rings used %u, threads dropped %u, events %" PRIu64 " (expected %" PRIu64 ")",
                      r.rings_used, r.threads_dropped, r.events_written, uint64_t(with_ring) * (13 + fill));
    return r;
}

// Runs f() in a fresh child process and reads back the plain struct it
// returns; false (with the wait status) if the child failed.
template <class T, class F>
bool in_child(F f, T& out, int& status) {
    status = 0;
    int fds[2];
    if (pipe(fds) != 0) return false;
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        T c = f();
        ssize_t n = write(fds[1], &c, sizeof c);
        _exit(n == ssize_t(sizeof c) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = pid > 0 ? read(fds[0], &out, sizeof out) : -1;
    close(fds[0]);
    if (pid > 0) waitpid(pid, &status, 0);
    return n == ssize_t(sizeof out) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Runs measure() in a child process and reads its result.
result measure_in_child(const setup& s, const std::string& dir) {
    result r{};
    int status = 0;
    if (!in_child([&] { return measure(s, dir); }, r, status)) {
        r = result{};
        std::snprintf(r.error, sizeof r.error, "the child process failed (status %d)", status);
    }
    return r;
}

double mib(uint64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

// ---- thread start with the crash handler -------------------------------------------

struct thread_cost {
    double median_us = 0;  // one pthread_create + join of a thread that does nothing
    bool alt_stack = false;  // a new thread found an alternate signal stack set up
    bool ok = false;
};

double now_us() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) * 1e6 + double(t.tv_nsec) / 1e3;
}

// In a child process: starts and joins `threads` empty threads one after
// another, with or without the crash handler installed first.
thread_cost time_thread_starts(bool handler, int threads) {
    thread_cost c;
    if (handler && !bbx::install_crash_handler()) return c;
    std::thread([&] {
        stack_t ss{};
        c.alt_stack = sigaltstack(nullptr, &ss) == 0 && !(ss.ss_flags & SS_DISABLE);
    }).join();
    std::vector<double> us;
    for (int i = 0; i < threads; ++i) {
        const double t0 = now_us();
        std::thread([] {}).join();
        us.push_back(now_us() - t0);
    }
    std::sort(us.begin(), us.end());
    c.median_us = us[us.size() / 2];
    c.ok = true;
    return c;
}

thread_cost thread_cost_in_child(bool handler, int threads) {
    thread_cost r;
    int status = 0;
    if (!in_child([&] { return time_thread_starts(handler, threads); }, r, status)) r = thread_cost{};
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--smoke") == 0) smoke = true;
        else {
            std::fprintf(stderr, "usage: footprint [--smoke]\n");
            return 2;
        }
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/bbx-footprint.XXXXXX";
    if (!mkdtemp(dir.data())) {
        std::fprintf(stderr, "footprint: cannot make a directory %s: %s\n", dir.c_str(), std::strerror(errno));
        return 1;
    }
    bbx::config defaults;
    std::vector<setup> setups = {
        {"default", defaults.ring_kb, defaults.max_threads, defaults.meta_kb, 1},
        {"default", defaults.ring_kb, defaults.max_threads, defaults.meta_kb, 8},
        {"default", defaults.ring_kb, defaults.max_threads, defaults.meta_kb, 64},
        {"smallest", 4, 4, 4, 1, 0},
        {"smallest", 4, 4, 4, 4, 0},
    };
    if (smoke) setups = {{"default", defaults.ring_kb, defaults.max_threads, defaults.meta_kb, 2}, {"smallest", 4, 4, 4, 1, 0}};

    std::printf("blackbox footprint: resident memory (KiB, /proc/self/status) and capture size%s\n",
                smoke ? "   [--smoke: a tiny run]" : "");
    std::printf("each row in a fresh process; every thread records each kind of event once, fills its ring twice\n"
                "over, and stays alive while the 'recorded' numbers are read. Capture folder: %s\n\n",
                tmp && *tmp ? tmp : "/tmp");
    std::printf("%-9s %5s %5s %6s %7s | %11s %11s | %8s %8s %8s %8s | %8s %8s %8s | %11s\n", "config", "ring", "rings",
                "meta", "threads", "file bytes", "disk bytes", "VmRSS", "+start", "+record", "capture", "anon", "file",
                "shmem", "meta used");
    std::printf("%-9s %5s %5s %6s %7s | %11s %11s | %8s %8s %8s %8s | %8s %8s %8s | %11s\n", "", "KiB", "", "KiB", "", "", "",
                "before", "", "", "resident", "+both", "+both", "+both", "");
    std::printf("%s\n", std::string(148, '-').c_str());
    bool all_ok = true;
    for (const setup& s : setups) {
        result r = measure_in_child(s, dir);
        if (!r.ok) {
            std::printf("%-9s %5u %5u %6u %7u | FAILED: %s\n", s.name, s.ring_kb, s.max_threads, s.meta_kb, s.threads,
                        r.error);
            all_ok = false;
            continue;
        }
        std::printf("%-9s %5u %5u %6u %7u | %11" PRIu64 " %11" PRIu64 " | %8ld %8ld %8ld %8ld | %8ld %8ld %8ld | %5" PRIu64
                    "/%-6" PRIu64 "\n",
                    s.name, s.ring_kb, s.max_threads, s.meta_kb, s.threads, r.file_size, r.disk_bytes, r.before.vm,
                    r.started.vm - r.before.vm, r.recorded.vm - r.started.vm, r.capture_rss, r.recorded.anon - r.before.anon,
                    r.recorded.file - r.before.file, r.recorded.shmem - r.before.shmem, r.meta_used, r.meta_capacity);
    }
    rmdir(dir.c_str());
    fmt::layout d = fmt::compute_layout(defaults.ring_kb * 1024, defaults.max_threads, uint64_t(defaults.meta_kb) * 1024,
                                        fmt::feature_minor(fmt::v2::version_major, fmt::v2::version_minor), defaults.tasks);
    fmt::layout m = fmt::compute_layout(4 * 1024, 4, 4 * 1024, fmt::feature_minor(fmt::v2::version_major, fmt::v2::version_minor), 0);
    std::printf("\nfile size = 4 KiB header + ring table (64 B a ring, page-aligned) + metadata + rings x ring size\n"
                "            + owner table (512 B a ring, page-aligned) + identity region (64 B a task entry\n"
                "            + 256 B a ring, page-aligned):\n"
                "  default  (ring_kb=%u, max_threads=%u, meta_kb=%u, tasks=%u): %" PRIu64 " bytes (%.2f MiB)\n"
                "  smallest (ring_kb=4, max_threads=4, meta_kb=4, tasks=0):     %" PRIu64 " bytes (%.0f KiB)\n",
                defaults.ring_kb, defaults.max_threads, defaults.meta_kb, defaults.tasks, d.file_size, mib(d.file_size),
                m.file_size, double(m.file_size) / 1024);
    std::printf("All memory in KiB. Each process first runs a warm-up session of the same shape, so that the code\n"
                "is resident before 'VmRSS before' (which includes the warm-up's mapping). '+start' is what bbx::start\n"
                "adds (header, ring table, metadata region faulted in); '+record' what the threads add (each ring\n"
                "faulted in when its thread gets it; the threads' stacks and TLS). 'capture resident' is the capture\n"
                "mapping's own resident pages (/proc/self/smaps); anon/file/shmem split the whole increase: the\n"
                "capture's pages count as file (a disk file) or shmem (tmpfs).\n");

    // Thread start: without and with the crash handler, alternating, each run in a fresh process.
    const int threads = smoke ? 50 : 2000, rounds = smoke ? 2 : 7;
    std::vector<double> without, with;
    bool alt_without = false, alt_with = true, costs_ok = true;
    for (int r = 0; r < rounds; ++r)
        for (int handler = 0; handler < 2; ++handler) {
            const bool h = (handler + r) % 2 == 1;
            thread_cost c = thread_cost_in_child(h, threads);
            costs_ok = costs_ok && c.ok;
            (h ? with : without).push_back(c.median_us);
            if (h) alt_with = alt_with && c.alt_stack;
            else alt_without = alt_without || c.alt_stack;
        }
    std::sort(without.begin(), without.end());
    std::sort(with.begin(), with.end());
    const double a = without[without.size() / 2], b = with[with.size() / 2];
    std::printf("\nthread start: pthread_create + join of a thread that does nothing, %d threads one after another per\n"
                "process, %d processes each way, alternating; the median process's median, in microseconds\n",
                threads, rounds);
    std::printf("  without the crash handler   %7.2f us   (a new thread has an alternate signal stack: %s)\n", a,
                alt_without ? "yes" : "no");
    std::printf("  with bbx::install_crash_handler() %7.2f us   (a new thread has an alternate signal stack: %s): +%.2f us a thread\n",
                b, alt_with ? "yes" : "no", b - a);
    const bool threads_ok = costs_ok && alt_with && !alt_without;
    if (!threads_ok) std::printf("  FAILED: %s\n", costs_ok ? "the alternate stacks are not as expected" : "a child process failed");
    return all_ok && threads_ok ? 0 : 1;
}
