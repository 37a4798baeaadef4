// Checks that no sequence of bytes makes the decoder crash, hang, leak or
// break its own promises: the bytes are opened as a ring file with
// capture::from_bytes and, if they open, every event is walked and every
// output (dump, info, Chrome JSON, Perfetto) is written to /dev/null.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "check.hpp"

namespace {

using namespace bbx_fuzz;

std::FILE* null_output() {
    static std::FILE* f = std::fopen("/dev/null", "w");
    BBX_FUZZ_CHECK(f != nullptr);
    return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = bbx::dec::capture::from_bytes(data, size, "fuzz");
    if (r.is_error()) {
        const bbx::dec::error& e = r.err();
        // An error names a place inside the file (or its end) and says what was wrong.
        BBX_FUZZ_CHECK(e.code != bbx::dec::errc::io);
        BBX_FUZZ_CHECK(e.offset <= size);
        BBX_FUZZ_CHECK(!e.what.empty());
        return 0;
    }
    const bbx::dec::capture& c = *r.value();
    // One thread per used ring before 1.3; since, each used ring's owners in
    // order of generation, ring by ring (at least the latest of each).
    if (bbx::format::feature_minor(c.header().version_major, c.header().version_minor) < bbx::format::minor_owners) BBX_FUZZ_CHECK(c.threads().size() == c.header().rings_used);
    BBX_FUZZ_CHECK(c.threads().size() >= c.header().rings_used);
    for (size_t i = 0; i < c.threads().size(); ++i) {
        const auto& t = c.threads()[i];
        BBX_FUZZ_CHECK(t.ring < c.header().rings_used);
        if (i > 0 && c.threads()[i - 1].ring == t.ring) BBX_FUZZ_CHECK(c.threads()[i - 1].generation < t.generation);
        if (i > 0 && c.threads()[i - 1].ring != t.ring) BBX_FUZZ_CHECK(c.threads()[i - 1].ring + 1 == t.ring);
    }

    // Every event read twice (the bytes were copied: both walks agree), its
    // bytes touched and its limits checked; the counts add up.
    uint64_t sum = 0;
    walk(c, sum);

    // Writing to /dev/null cannot fail, so every writer must report success.
    std::FILE* out = null_output();
    std::string err;
    BBX_FUZZ_CHECK(bbx::dec::write_dump(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_info(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_chrome(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_perfetto(c, out, err));
    sink = sum;
    return 0;
}
