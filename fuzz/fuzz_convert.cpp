// Checks that every converter turns any capture that opens into valid output
// without crashing, hanging or leaking: the first input byte picks the
// converter (Perfetto, Chrome JSON, OTLP, bbx analyze as text or JSON, dump,
// info) and its options, the rest is opened as a ring file, and the output
// is checked: JSON parses, Chrome's and Perfetto's slices balance, OTLP spans
// hold their events, text for a terminal carries no control characters.
#include <cstdint>

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace bbx_fuzz;
    if (size < 1) return 0;
    // Byte 0: bits 0-2 the output, in the order of bbx_fuzz::output (7 is
    // Perfetto again); bit 3 analyze --all; bit 4 a 1 us long-poll threshold
    // (so that short polls are warnings too).
    const uint8_t pick = data[0];
    auto r = bbx::dec::capture::from_bytes(data + 1, size - 1, "fuzz_convert");
    if (r.is_error()) return 0;  // fuzz_ring checks the errors
    bbx::dec::capture& c = *r.value();
    bbx::dec::analyze_options opt;
    opt.all = pick & 8;
    if (pick & 16) opt.long_poll_ns = 1000;
    convert_and_check(c, output((pick & 7) % output_count), opt);
    return 0;
}
