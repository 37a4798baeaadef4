// Bytes per event in the rings of ring files, from their ring descriptors
// alone (no decoder): write_pos x slot_size / events_written, per ring and
// over all rings of each file. Reads any 1.x or 2.x ring file (the header's
// slot_size: 32 in 1.x, 16 in 2.0). bench/RESULTS.md says how it is used.
//
//   ring_density FILE...
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bbx/format.hpp"

namespace fmt = bbx::format;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: ring_density FILE...\n");
        return 2;
    }
    int rc = 0;
    uint64_t all_slots_bytes = 0, all_events = 0;
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
    }
    if (argc > 2)
        std::printf("all files: %" PRIu64 " events, %.2f bytes/event\n", all_events,
                    all_events ? double(all_slots_bytes) / double(all_events) : 0.0);
    return rc;
}
