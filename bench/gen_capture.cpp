// Writes the capture the decoder benchmark reads (bench/decoder.sh): the real
// recorder, T threads, each running a loop of "requests" that record a mix
// of every event kind, into rings large enough that nothing is overwritten.
// Then it checks the file with format.hpp: every event there, none dropped.
//
//   gen_capture --out PATH [--events N] [--threads T]
//
// One request records 18 events in 26 slots of 16 bytes (format 2.0; the
// comments give each event's slots): a task spawned and woken, a poll
// holding a span with instants (1 int; int + double + bool; a 32-byte string),
// a counter and a channel send, a poll_end at an await site, a second poll
// waiting on the channel, completion.
#include <bbx/bbx.hpp>
#include <bbx/task.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

constexpr uint64_t events_per_request = 18;
constexpr uint64_t slots_per_request = 26;

void request(uint64_t i, bbx::resource_id chan, char (&text)[32]) {
    bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("request", t, bbx::current_task(), 512);  // 3 slots
    bbx::task_wake(t);                                         // 1 (no task wakes it: no poll open, the implicit form)
    {
        bbx::poll_scope poll(t);  // 1
        {
            BBX_SPAN(INFO, "gen", "handle", bbx::arg("i", int64_t(i)));  // 1
            BBX_INSTANT(INFO, "gen", "step", bbx::arg("i", int64_t(i)));  // 1
            BBX_INSTANT(INFO, "gen", "detail", bbx::arg("i", int64_t(i)), bbx::arg("x", double(i) * 0.25),
                        bbx::arg("ok", (i & 1) != 0));  // 3
            text[i % sizeof text] = char('a' + i % 26);
            BBX_INSTANT(INFO, "gen", "note", bbx::arg("s", std::string_view(text, sizeof text)));  // 5
            BBX_COUNTER(INFO, "gen", "depth", int64_t(i & 63));                                   // 1
            bbx::resource_used(chan, bbx::resource_op::send);                                      // 1 (t's, in t's poll)
        }  // span end: 1
        bbx::note_await();
    }  // poll end: 1
    bbx::task_wake(t);  // 1
    {
        bbx::poll_scope poll(t);  // 1
        {
            bbx::wait_scope wait(chan, bbx::resource_op::recv);  // 1 + 1
        }
        BBX_INSTANT(INFO, "gen", "step", bbx::arg("i", int64_t(i)));  // 1
    }  // 1
    bbx::task_complete(t);  // 1
}

double now_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

bool parse_u64(const char* s, uint64_t& out) {
    char* end;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || *end || end == s) return false;
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t events = 10000000, threads = 4;
    const char* out = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--out" && i + 1 < argc) out = argv[++i];
        else if (a == "--events" && i + 1 < argc && parse_u64(argv[i + 1], events) && events > 0) ++i;
        else if (a == "--threads" && i + 1 < argc && parse_u64(argv[i + 1], threads) && threads > 0 && threads <= 64) ++i;
        else {
            std::fprintf(stderr, "usage: gen_capture --out PATH [--events N] [--threads T (1..64)]\n");
            return 2;
        }
    }
    if (!out) {
        std::fprintf(stderr, "gen_capture: --out PATH is needed\n");
        return 2;
    }
    uint64_t per_thread = (events + threads * events_per_request - 1) / (threads * events_per_request);
    // The smallest power-of-two ring that holds a thread's slots with room to spare.
    uint64_t need = per_thread * slots_per_request * fmt::v2::slot_size + 64 * 1024;
    uint32_t ring_kb = 64;
    while (uint64_t(ring_kb) * 1024 < need) ring_kb *= 2;
    if (uint64_t(ring_kb) * 1024 > fmt::max_ring_size) {
        std::fprintf(stderr, "gen_capture: %" PRIu64 " events per thread need a ring over 1 GiB; use more threads\n",
                     per_thread * events_per_request);
        return 2;
    }

    bbx::config cfg;
    cfg.path = out;
    cfg.ring_kb = ring_kb;
    cfg.max_threads = uint32_t(threads);
    bbx::start_result r = bbx::start(cfg);
    if (!r.ok()) {
        std::fprintf(stderr, "gen_capture: cannot record to %s: %s%s%s\n", out, r.message(), r.sys_errno ? ": " : "",
                     r.sys_errno ? std::strerror(r.sys_errno) : "");
        return 1;
    }
    bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "requests", 64);
    double t0 = now_s();
    std::vector<std::thread> pool;
    std::vector<double> first(threads), rest(threads);  // seconds: the first request (the ring is faulted in), the others
    for (uint64_t t = 0; t < threads; ++t)
        pool.emplace_back([t, per_thread, chan, &first, &rest] {
            char name[16];
            std::snprintf(name, sizeof name, "gen-%u", unsigned(t));
            bbx::set_thread_name(name);
            char text[32];
            std::memset(text, 'a', sizeof text);
            double a = now_s();
            request(t * per_thread, chan, text);
            double b = now_s();
            for (uint64_t i = 1; i < per_thread; ++i) request(t * per_thread + i, chan, text);
            first[t] = b - a;
            rest[t] = now_s() - b;
        });
    for (auto& th : pool) th.join();
    double t1 = now_s();
    double first_max = 0, rest_sum = 0;
    for (uint64_t t = 0; t < threads; ++t) {
        first_max = std::max(first_max, first[t]);
        rest_sum += rest[t];
    }
    bbx::stop();

    // Check the file: every ring holds all its events (nothing overwritten or dropped).
    int fd = open(out, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        std::fprintf(stderr, "gen_capture: cannot reopen %s\n", out);
        return 1;
    }
    void* m = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        std::fprintf(stderr, "gen_capture: cannot map %s\n", out);
        return 1;
    }
    const auto* base = static_cast<const unsigned char*>(m);
    const auto* h = reinterpret_cast<const fmt::file_header*>(base);
    const auto* rings = reinterpret_cast<const fmt::ring_descriptor*>(base + h->ring_table_offset);
    uint64_t slots = 0, written = 0, dropped = h->events_dropped, wrapped = 0, time_base_slots = 0, all_slots = 0;
    bool slots_ok = true;
    for (uint32_t i = 0; i < h->rings_used; ++i) {
        // Each ring's one owner wrote an owner event first (format 1.3): its
        // slots (2 + ceil(name length / 8)) and the event are not the requests'.
        const auto* owner = reinterpret_cast<const fmt::owner_entry*>(base + h->owner_table_offset) +
                            uint64_t(i) * fmt::owner_entries_per_ring + rings[i].generation % fmt::owner_entries_per_ring;
        const uint64_t owner_slots = rings[i].generation == 1 ? 1 + fmt::v2::continuation_slots(1, uint32_t(strnlen(owner->name, sizeof owner->name))) : 0;
        const uint64_t n = h->ring_size / fmt::v2::slot_size;
        if (rings[i].write_pos > n) ++wrapped;
        // Time bases (2 slots each: format 2.0) are the format's, not the
        // requests': counted from the ring, which holds every slot (nothing wrapped).
        uint64_t tb = 0;
        const auto* w = reinterpret_cast<const uint64_t*>(base + h->rings_offset + uint64_t(i) * h->ring_size);
        for (uint64_t p = 0; p < rings[i].write_pos && p < n; ++p) {
            const uint64_t a = w[2 * p];
            if (fmt::v2::kind_of(a) == 0 || fmt::v2::lap_of(a) != 0) slots_ok = false;
            if (fmt::v2::kind_of(a) == uint8_t(fmt::kind::time_base)) tb += 2;
        }
        time_base_slots += tb;
        all_slots += rings[i].write_pos;
        slots += rings[i].write_pos - owner_slots - tb;
        written += rings[i].events_written - rings[i].generation;
        dropped += rings[i].events_dropped;
    }
    uint64_t expected = threads * per_thread * events_per_request;
    // The names are set before a thread's first event: they go into its
    // owner event and owner table entry, not into a thread_name event.
    bool ok = h->rings_used == threads && written == expected && slots == threads * per_thread * slots_per_request && slots_ok &&
              dropped == 0 && wrapped == 0 &&
              (h->flags & fmt::flag_ended_clean) && h->sites_dropped == 0;
    std::printf("capture: %s\n", out);
    std::printf("events: %" PRIu64 ", slots: %" PRIu64 ", threads: %" PRIu64 ", ring_kb: %u\n", written, slots, threads,
                ring_kb);
    std::printf("raw bytes/event: %.2f (the requests' slots x 16 / events); %.2f with the owner events and %" PRIu64
                " time base slots (write_pos x 16 / events_written)\n",
                double(slots) * fmt::v2::slot_size / double(written ? written : 1), double(all_slots) * fmt::v2::slot_size /
                double(written + h->rings_used ? written + h->rings_used : 1), time_base_slots);
    std::printf("file bytes: %" PRIu64 "\n", uint64_t(st.st_size));
    std::printf("generated in %.2f s: %.1f M events/s over %" PRIu64 " threads; a thread's first request took up to %.0f ms\n"
                "  (its %u MiB ring is faulted in), the others %.1f ns/event per thread (%u cpus)\n",
                t1 - t0, double(expected) / (t1 - t0) / 1e6, threads, first_max * 1e3, ring_kb / 1024,
                rest_sum / double(expected - threads * events_per_request) * 1e9, std::thread::hardware_concurrency());
    std::printf("check: %" PRIu64 " events written (expected %" PRIu64 "), %" PRIu64 " dropped, %" PRIu64
                " rings wrapped, %s: %s\n",
                written, expected, dropped, wrapped, (h->flags & fmt::flag_ended_clean) ? "ended cleanly" : "NOT ended cleanly",
                ok ? "OK" : "FAILED");
    munmap(m, size_t(st.st_size));
    return ok ? 0 : 1;
}
