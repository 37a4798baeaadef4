// The floor of the decoder benchmark (bench/decoder.sh): open a capture and
// read every event, doing nothing with it but counting. Every bbx verb does
// at least this much, so decoder.sh prints each verb's time as a ratio to it.
// Linked with mimalloc, as bbx is.
//
//   read_pass FILE     prints "events: N" (a sum of times too, so nothing is optimised away)
#include <mimalloc-new-delete.h>

#include <cinttypes>
#include <cstdio>

#include "bbx/decoder.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: read_pass FILE\n");
        return 2;
    }
    auto c = bbx::dec::capture::open(argv[1]);
    if (c.is_error()) {
        std::fprintf(stderr, "read_pass: %s: %s\n", argv[1], c.err().message().c_str());
        return 1;
    }
    uint64_t n = 0;
    int64_t sum = 0;
    auto r = c.value()->for_each_event([&](const bbx::dec::event& e) {
        ++n;
        sum += e.ns;
    });
    if (r.is_error()) {
        std::fprintf(stderr, "read_pass: %s: %s\n", argv[1], r.err().message().c_str());
        return 1;
    }
    std::printf("events: %" PRIu64 " (sum of times %" PRId64 ")\n", n, sum);
    return 0;
}
