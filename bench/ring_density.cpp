// Bytes per event in the rings of ring files, from their ring descriptors
// alone (no decoder): write_pos x slot_size / events_written, per ring and
// over all rings of each file. Reads any 1.x or 2.x ring file (the header's
// slot_size: 32 in 1.x, 16 in 2.0). bench/RESULTS.md says how it is used.
//
// --kinds (2.0 files): also where the slots of the rings' windows (the last
// ring's worth of each ring) go, by kind, from the slots' A words alone: each
// head with its continuation slots; time bases and owner events included.
//
//   ring_density [--kinds] FILE...
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bbx/format.hpp"

namespace fmt = bbx::format;

namespace {

const char* kind_name(unsigned k) {
    static const char* const names[] = {
        "invalid", "span_begin", "span_end", "instant", "counter", "continuation", "thread_name", "span_context",
        "owner", "time_base", "instant_task", "11", "12", "13", "14", "15", "task_spawn", "task_poll_begin", "task_poll_end",
        "task_wake", "task_complete", "wait_begin", "wait_end", "resource_op", "task_wake_by", "wait_begin_for",
        "wait_end_for", "resource_op_for", "task_wake_external", "task_spawn_here"};
    if (k < sizeof names / sizeof names[0]) return names[k];
    return k == 32 ? "crash" : "other";
}

struct census {
    uint64_t heads[256] = {}, slots[256] = {}, orphans = 0, unreadable = 0;
};

// The window of each 2.0 ring (positions max(0, write_pos - slots) ..
// write_pos - 1), by the kind of each slot's head. A file being written can
// change under it: this is a count, not a reader.
void count_kinds(int fd, const fmt::file_header& h, const std::vector<fmt::ring_descriptor>& d, census& c) {
    const uint64_t nslots = h.ring_size / fmt::v2::slot_size;
    uint32_t log2 = 0;
    while ((uint64_t{1} << log2) < nslots) ++log2;
    std::vector<uint64_t> words(nslots * 2);
    for (size_t r = 0; r < d.size(); ++r) {
        const ssize_t want = ssize_t(h.ring_size);
        if (pread(fd, words.data(), size_t(want), off_t(h.rings_offset + r * h.ring_size)) != want) {
            ++c.unreadable;
            continue;
        }
        const uint64_t end = d[r].write_pos, start = end > nslots ? end - nslots : 0;
        int head = -1;  // the kind of the head whose continuations follow (-1: none in the window)
        for (uint64_t p = start; p < end; ++p) {
            const uint64_t a = words[(p & (nslots - 1)) * 2];
            const uint8_t k = fmt::v2::kind_of(a);
            if (k == 0 || fmt::v2::lap_of(a) != fmt::v2::lap_at(p, log2)) {
                ++c.unreadable;
                head = -1;
            } else if (k == uint8_t(fmt::kind::continuation)) {
                if (head < 0)
                    ++c.orphans;
                else
                    ++c.slots[head];
            } else {
                head = k;
                ++c.heads[k];
                ++c.slots[k];
            }
        }
    }
}

void print_census(const census& c) {
    uint64_t slots = c.orphans + c.unreadable, events = 0;
    for (unsigned k = 0; k < 256; ++k) {
        slots += c.slots[k];
        if (k != unsigned(fmt::kind::time_base)) events += c.heads[k];
    }
    std::printf("  window by kind: %" PRIu64 " slots, %" PRIu64 " events (owner events included, time bases not), "
                "%.2f bytes/event\n",
                slots, events, events ? double(slots * fmt::v2::slot_size) / double(events) : 0.0);
    std::printf("    %-20s %8s %8s %9s %7s\n", "kind", "events", "slots", "slots/ev", "share");
    for (unsigned k = 0; k < 256; ++k)
        if (c.heads[k])
            std::printf("    %-20s %8" PRIu64 " %8" PRIu64 " %9.2f %6.1f%%\n", kind_name(k), c.heads[k], c.slots[k],
                        double(c.slots[k]) / double(c.heads[k]), 100.0 * double(c.slots[k]) / double(slots));
    if (c.orphans) std::printf("    %-20s %8s %8" PRIu64 "\n", "(orphan continuations)", "", c.orphans);
    if (c.unreadable) std::printf("    %-20s %8s %8" PRIu64 "\n", "(unreadable slots)", "", c.unreadable);
}

}  // namespace

int main(int argc, char** argv) {
    bool kinds = argc > 1 && std::strcmp(argv[1], "--kinds") == 0;
    if (kinds) --argc, ++argv;
    if (argc < 2) {
        std::fprintf(stderr, "usage: ring_density [--kinds] FILE...\n");
        return 2;
    }
    int rc = 0;
    uint64_t all_slots_bytes = 0, all_events = 0;
    census all_kinds;
    for (int i = 1; i < argc; ++i) {
        const int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        fmt::file_header h;
        if (fd < 0 || pread(fd, &h, sizeof h, 0) != ssize_t(sizeof h) ||
            std::memcmp(h.magic, fmt::ring_magic, sizeof h.magic) != 0 || h.ring_count > fmt::max_ring_count ||
            (h.slot_size != 16 && h.slot_size != 32)) {
            std::fprintf(stderr, "ring_density: %s: not a ring file\n", argv[i]);
            if (fd >= 0) close(fd);
            rc = 1;
            continue;
        }
        std::vector<fmt::ring_descriptor> d(h.rings_used < h.ring_count ? h.rings_used : h.ring_count);
        const ssize_t want = ssize_t(d.size() * sizeof(fmt::ring_descriptor));
        if (pread(fd, d.data(), size_t(want), off_t(h.ring_table_offset)) != want) {
            std::fprintf(stderr, "ring_density: %s: cannot read the ring table\n", argv[i]);
            close(fd);
            rc = 1;
            continue;
        }
        census c;
        if (kinds && h.slot_size == fmt::v2::slot_size) count_kinds(fd, h, d, c);
        close(fd);
        uint64_t bytes = 0, events = 0;
        std::printf("%s: format %u.%u, %u-byte slots, %zu rings\n", argv[i], h.version_major, h.version_minor,
                    h.slot_size, d.size());
        for (size_t r = 0; r < d.size(); ++r) {
            const uint64_t b = d[r].write_pos * h.slot_size;
            std::printf("  ring %zu: %" PRIu64 " events, %" PRIu64 " slots, %.2f bytes/event\n", r, d[r].events_written,
                        d[r].write_pos, d[r].events_written ? double(b) / double(d[r].events_written) : 0.0);
            bytes += b;
            events += d[r].events_written;
        }
        std::printf("  all rings: %" PRIu64 " events, %.2f bytes/event\n", events,
                    events ? double(bytes) / double(events) : 0.0);
        all_slots_bytes += bytes;
        all_events += events;
        if (kinds && h.slot_size == fmt::v2::slot_size) {
            print_census(c);
            for (unsigned k = 0; k < 256; ++k) all_kinds.heads[k] += c.heads[k], all_kinds.slots[k] += c.slots[k];
            all_kinds.orphans += c.orphans, all_kinds.unreadable += c.unreadable;
        }
    }
    if (argc > 2)
        std::printf("all files: %" PRIu64 " events, %.2f bytes/event\n", all_events,
                    all_events ? double(all_slots_bytes) / double(all_events) : 0.0);
    if (argc > 2 && kinds) print_census(all_kinds);
    return rc;
}
