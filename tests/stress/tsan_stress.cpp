// The recorder and the decoder under ThreadSanitizer (make test-tsan): 2 to 8
// writer threads record spans, instants with strings, counters, task events,
// thread names and resources into small rings (overwrite and discard mode)
// while a reader thread opens the capture again and again and walks it,
// checking every event it is given; then, with the writers stopped, one last
// walk must find every ring whole. Prints one line per phase and a summary;
// exits 1 on a broken invariant (ThreadSanitizer reports exit 66).
//
//   tsan_stress [SECONDS_PER_PHASE] [--no-alias]      (default 1 s; 6 phases)
//
// The reader reads the writers' own mapping. capture::open maps the file a
// second time, and ThreadSanitizer, which tracks memory by address, would
// see no relation between the two mappings: the reader's loads and the
// writers' stores would never meet. So this program interposes mmap: a
// read-only shared mapping of a file that is already mapped writable is
// given the writable mapping's address (same file, same bytes), and the
// matching munmap is skipped. --no-alias turns that off.
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"

// ---- mmap aliasing ----------------------------------------------------------------

namespace {

using mmap_fn = void* (*)(void*, size_t, int, int, int, off_t);
using munmap_fn = int (*)(void*, size_t);
// The next definitions of mmap and munmap (ThreadSanitizer's interceptors,
// which call libc's), resolved at the start of main. Before that, during
// ThreadSanitizer's own start, the calls go straight to the kernel.
// Plain pointers read with __atomic builtins: the uninstrumented functions
// below must not call std::atomic's (instrumented) members.
mmap_fn g_real_mmap = nullptr;
munmap_fn g_real_munmap = nullptr;
std::atomic<bool> g_alias{true};

struct mapping {
    dev_t dev;
    ino_t ino;
    void* addr;
    size_t len;
    unsigned readers;  // read-only aliases handed out and not yet unmapped
};
std::mutex g_maps_mu;
mapping g_maps[64];
unsigned g_nmaps = 0;
std::atomic<uint64_t> g_aliased{0};

bool file_id(int fd, dev_t& dev, ino_t& ino) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    dev = st.st_dev;
    ino = st.st_ino;
    return true;
}

void* aliasing_mmap(mmap_fn real, void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    dev_t dev = 0;
    ino_t ino = 0;
    const bool shared_file = (flags & MAP_SHARED) && !(flags & MAP_ANONYMOUS) && off == 0 && file_id(fd, dev, ino);
    if (shared_file && prot == PROT_READ && g_alias.load(std::memory_order_relaxed)) {
        std::lock_guard lock(g_maps_mu);
        for (unsigned i = 0; i < g_nmaps; ++i)
            if (g_maps[i].dev == dev && g_maps[i].ino == ino && g_maps[i].len == len) {
                ++g_maps[i].readers;
                g_aliased.fetch_add(1, std::memory_order_relaxed);
                return g_maps[i].addr;
            }
    }
    void* m = real(addr, len, prot, flags, fd, off);
    if (m != MAP_FAILED && shared_file && (prot & PROT_WRITE)) {
        std::lock_guard lock(g_maps_mu);
        if (g_nmaps < std::size(g_maps)) g_maps[g_nmaps++] = {dev, ino, m, len, 0};
    }
    return m;
}

int aliasing_munmap(munmap_fn real, void* addr, size_t len) {
    {
        std::lock_guard lock(g_maps_mu);
        for (unsigned i = 0; i < g_nmaps; ++i)
            if (g_maps[i].addr == addr && g_maps[i].readers > 0) {
                --g_maps[i].readers;  // a reader's alias: the writer's mapping stays
                return 0;
            }
        for (unsigned i = 0; i < g_nmaps; ++i)
            if (g_maps[i].addr == addr) g_maps[i] = g_maps[--g_nmaps];
    }
    return real(addr, len);
}

}  // namespace

// Not instrumented: ThreadSanitizer calls mmap while it starts, before it
// can record anything.
#if defined(__clang__)
#define BBX_NOT_INSTRUMENTED __attribute__((disable_sanitizer_instrumentation))
#else
#define BBX_NOT_INSTRUMENTED __attribute__((no_sanitize("thread")))
#endif

extern "C" BBX_NOT_INSTRUMENTED void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (mmap_fn real = __atomic_load_n(&g_real_mmap, __ATOMIC_ACQUIRE))
        return aliasing_mmap(real, addr, len, prot, flags, fd, off);
    return reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

extern "C" BBX_NOT_INSTRUMENTED int munmap(void* addr, size_t len) {
    if (munmap_fn real = __atomic_load_n(&g_real_munmap, __ATOMIC_ACQUIRE)) return aliasing_munmap(real, addr, len);
    return int(syscall(SYS_munmap, addr, len));
}

// ---- the workload -------------------------------------------------------------------

namespace {

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

// The string argument of event k of a writer: 0 .. 40 bytes.
std::string_view text_of(uint64_t k, char* buf) {
    size_t n = k % 41;
    for (size_t i = 0; i < n; ++i) buf[i] = char('a' + (k + i) % 26);
    return std::string_view(buf, n);
}

void writer(int t, const std::atomic<bool>& stop) {
    bbx::set_thread_name(("w" + std::to_string(t)).c_str());
    const bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "chan", 4);
    char buf[64];
    for (uint64_t k = 1; !stop.load(std::memory_order_relaxed); ++k) {
        {
            BBX_SPAN(INFO, "stress", "iter", bbx::arg("k", k), bbx::arg("t", int64_t(t)));
            BBX_INSTANT(INFO, "stress", "ev", bbx::arg("k", k), bbx::arg("t", int64_t(t)), bbx::arg("inv", ~k),
                        bbx::arg("s", text_of(k, buf)));
            BBX_COUNTER(DEBUG, "stress", "c", int64_t(k) * 3);
        }
        if (k % 4 == 0) {
            bbx::task_id id = bbx::new_task_id();
            BBX_TASK_SPAWN("stress_task", id, 0, 64);
            bbx::task_wake(id);
            {
                bbx::poll_scope poll(id);
                { bbx::wait_scope wait(chan, bbx::resource_op::recv); }
                bbx::resource_used(chan, bbx::resource_op::send);
                bbx::note_await();
            }
            bbx::task_complete(id);
        }
        // Metadata appended while the reader reads it (thread records,
        // resources, a late call site), and once the region is full, the
        // header's count of records that found no room.
        if (k % 61 == 0) bbx::set_thread_name(("w" + std::to_string(t) + "-" + std::to_string(k)).c_str());
        if (k % 127 == 0) bbx::register_resource(bbx::resource_kind::other, "late", 0);
        if (k == 1500) BBX_INSTANT(INFO, "stress", "late_site", bbx::arg("t", int64_t(t)));
    }
}

struct totals {
    uint64_t passes = 0, events = 0, violations = 0;
    uint64_t bad_site = 0, torn = 0, overwritten_in_read = 0;
};

void violation(totals& tot, const std::string& what) {
    if (++tot.violations <= 20) std::fprintf(stderr, "tsan_stress: %s\n", what.c_str());
}

// One walk with every invariant checked. `final`: no writer is running, so
// each ring is whole: nothing torn, and the "ev" events without a gap
// (overwrite mode: the newest suffix) or from the first one (discard mode).
void check_pass(const std::string& path, bool discard, bool final, totals& tot) {
    auto r = capture::open(path);
    if (r.is_error()) return violation(tot, "open: " + r.err().message());
    capture& c = *r.value();
    std::map<uint32_t, int64_t> writer_of;   // ring -> t
    std::map<uint32_t, uint64_t> last_k;     // ring -> k of its last "ev"
    std::map<uint32_t, uint64_t> first_k;
    std::map<uint32_t, bool> gap;
    char buf[64];
    uint64_t events = 0;
    auto same_writer = [&](const event& e, int64_t t) {
        auto [it, fresh] = writer_of.emplace(e.thread, t);
        return fresh || it->second == t;
    };
    auto walked = c.for_each_event([&](const event& e) {
        ++events;
        const std::string_view name = e.where ? std::string_view(e.where->name) : std::string_view();
        bool ok = true;
        switch (e.kind) {
            case fmt::kind::instant:
                if (name == "ev") {
                    const uint64_t k = e.args[0].word;
                    ok = e.nargs == 4 && e.args[2].word == ~k && e.args[3].str == text_of(k, buf) &&
                         same_writer(e, e.args[1].as_i64());
                    auto it = last_k.find(e.thread);
                    if (it != last_k.end()) {
                        ok = ok && k > it->second;  // in order per thread
                        if (k != it->second + 1) gap[e.thread] = true;
                    } else {
                        first_k[e.thread] = k;
                    }
                    last_k[e.thread] = k;
                } else {
                    ok = name == "late_site" && e.nargs == 1 && same_writer(e, e.args[0].as_i64());
                }
                break;
            case fmt::kind::span_begin: ok = name == "iter" && e.nargs == 2 && same_writer(e, e.args[1].as_i64()); break;
            case fmt::kind::span_end: ok = name == "iter" && e.nargs == 0; break;
            case fmt::kind::counter:
                ok = name == "c" && e.nargs == 1 && e.args[0].as_i64() > 0 && e.args[0].as_i64() % 3 == 0;
                break;
            case fmt::kind::thread_name: ok = !e.thread_name.empty() && e.thread_name[0] == 'w'; break;
            case fmt::kind::task_spawn:
                ok = e.task != 0 && name == "stress_task" && e.spawn.parent == 0 && e.spawn.frame_bytes == 64;
                break;
            case fmt::kind::task_wake: ok = e.task != 0 && e.wake.waker == 0; break;
            case fmt::kind::task_poll_begin:
            case fmt::kind::task_complete: ok = e.task != 0; break;
            case fmt::kind::task_poll_end: ok = e.task != 0 && e.where && e.where->kind == fmt::site_kind::await; break;
            case fmt::kind::wait_begin:
            case fmt::kind::wait_end:
                ok = e.task != 0 && e.res.id != 0 && e.res.op == uint64_t(fmt::resource_op::recv);
                break;
            case fmt::kind::resource_op:
                ok = e.task != 0 && e.res.id != 0 && e.res.op == uint64_t(fmt::resource_op::send);
                break;
            default: ok = false;
        }
        if (!ok)
            violation(tot, "ring " + std::to_string(e.thread) + ": an event of kind " + std::to_string(int(e.kind)) +
                               " (" + std::string(name) + ") is not what a writer wrote");
    });
    if (walked.is_error()) return violation(tot, "walk: " + walked.err().message());
    for (size_t i = 0; i < walked.value().threads.size(); ++i) {
        const bbx::dec::ring_stats& s = walked.value().threads[i];
        // No writer makes these, whatever a reader overlaps with.
        if (s.malformed || s.unknown_kind)
            violation(tot, "ring " + std::to_string(i) + ": " + std::to_string(s.malformed) + " malformed, " +
                               std::to_string(s.unknown_kind) + " of unknown kind");
        tot.bad_site += s.bad_site;  // live: a site registered after open() read the metadata
        tot.torn += s.torn;
        tot.overwritten_in_read += s.overwritten_in_read;
        if (final) {
            if (s.torn || s.overwritten_in_read || s.bad_site)
                violation(tot, "final walk, ring " + std::to_string(i) + ": torn " + std::to_string(s.torn) +
                                   ", overwritten while read " + std::to_string(s.overwritten_in_read) + ", bad site " +
                                   std::to_string(s.bad_site));
            if (!last_k.count(uint32_t(i))) violation(tot, "final walk, ring " + std::to_string(i) + ": no event");
            if (gap[uint32_t(i)] && !discard) violation(tot, "final walk, ring " + std::to_string(i) + ": a gap");
            if (discard && first_k[uint32_t(i)] != 1)
                violation(tot, "final walk, discard ring " + std::to_string(i) + " starts at event " +
                                   std::to_string(first_k[uint32_t(i)]));
            if (discard ? s.events_dropped == 0 : s.overwritten == 0)
                violation(tot, "final walk, ring " + std::to_string(i) + ": the ring never filled");
        }
    }
    if (final && !(c.header().flags & fmt::flag_ended_clean)) violation(tot, "final walk: not ended cleanly");
    tot.events += events;
    ++tot.passes;
}

bool run_phase(int index, int writers, bool discard, double seconds, totals& all) {
    std::string path = "/tmp/bbx-tsan-stress-" + std::to_string(getpid()) + "-" + std::to_string(index) + ".bbx";
    unlink(path.c_str());
    bbx::config cfg;
    cfg.path = path.c_str();
    cfg.ring_kb = 4;  // 128 slots: the writers lap the reader constantly
    cfg.max_threads = uint32_t(writers);
    cfg.meta_kb = 16;
    cfg.discard = discard;
    if (auto r = bbx::start(cfg); !r.ok()) {
        std::fprintf(stderr, "tsan_stress: start: %s\n", r.message());
        return false;
    }
    std::atomic<bool> stop{false}, reader_stop{false};
    totals tot;
    std::thread reader([&] {
        while (!reader_stop.load(std::memory_order_relaxed)) check_pass(path, discard, false, tot);
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) threads.emplace_back(writer, t, std::cref(stop));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    reader_stop = true;
    reader.join();
    bbx::stop();
    const uint64_t live_passes = tot.passes;
    check_pass(path, discard, true, tot);
    unlink(path.c_str());
    std::printf("phase %d: %d writers, %s: %llu reader passes, %llu events checked, %llu torn and %llu overwritten "
                "while read, %llu of sites not yet read, %llu violations\n",
                index, writers, discard ? "discard" : "overwrite", (unsigned long long)live_passes,
                (unsigned long long)tot.events, (unsigned long long)tot.torn,
                (unsigned long long)tot.overwritten_in_read, (unsigned long long)tot.bad_site,
                (unsigned long long)tot.violations);
    if (live_passes < 2) {
        std::fprintf(stderr, "tsan_stress: phase %d: the reader finished only %llu passes\n", index,
                     (unsigned long long)live_passes);
        ++tot.violations;
    }
    all.passes += tot.passes;
    all.events += tot.events;
    all.violations += tot.violations;
    return tot.violations == 0;
}

}  // namespace

int main(int argc, char** argv) {
    __atomic_store_n(&g_real_munmap, reinterpret_cast<munmap_fn>(dlsym(RTLD_NEXT, "munmap")), __ATOMIC_RELEASE);
    __atomic_store_n(&g_real_mmap, reinterpret_cast<mmap_fn>(dlsym(RTLD_NEXT, "mmap")), __ATOMIC_RELEASE);
    double seconds = 1.0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--no-alias")) g_alias = false;
        else seconds = std::atof(argv[i]);
    }
    if (!(seconds > 0)) {
        std::fprintf(stderr, "usage: tsan_stress [SECONDS_PER_PHASE] [--no-alias]\n");
        return 2;
    }
    struct {
        int writers;
        bool discard;
    } phases[] = {{2, false}, {2, true}, {5, false}, {5, true}, {8, false}, {8, true}};
    totals all;
    int index = 0;
    for (auto& p : phases) run_phase(index++, p.writers, p.discard, seconds, all);
    const uint64_t aliased = g_aliased.load();
    std::printf("tsan-stress: %d phases, %llu reader passes (%llu on the writers' own mapping), %llu events checked, "
                "%llu violations\n",
                index, (unsigned long long)all.passes, (unsigned long long)aliased, (unsigned long long)all.events,
                (unsigned long long)all.violations);
    if (g_alias && aliased < all.passes) {
        std::fprintf(stderr, "tsan_stress: capture::open did not get the writers' mapping: the reader was not checked\n");
        return 1;
    }
    return all.violations ? 1 : 0;
}
