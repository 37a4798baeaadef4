// The one translation unit of the benchmark built with
// -DBBX_LEVEL_MAX=BBX_LEVEL_WARN (bench/bench.mk): its DEBUG instants are
// compiled out, so their loop must cost what the empty loop beside it costs.
#ifndef BBX_LEVEL_MAX
#error "bench/compiled_out.cpp must be built with -DBBX_LEVEL_MAX=BBX_LEVEL_WARN"
#endif

#include <bbx/bbx.hpp>

#include <cstdint>

#if BBX_LEVEL_MAX != BBX_LEVEL_WARN
#error "bench/compiled_out.cpp must be built with -DBBX_LEVEL_MAX=BBX_LEVEL_WARN"
#endif

// Each loop sits alone in a section of its own, so that hot_path.cpp can
// compare their machine code byte for byte. noipa keeps GCC from folding the
// two identical functions into one.
#if defined(__clang__)
#define BBX_BENCH_LOOP(section_name) __attribute__((noinline, section(section_name)))
#else
#define BBX_BENCH_LOOP(section_name) __attribute__((noinline, noipa, section(section_name)))
#endif

namespace bbx_bench {

BBX_BENCH_LOOP("bbx_bench_compiled_out") void run_compiled_out(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBX_INSTANT(DEBUG, "bench", "compiled_out", bbx::arg("i", int64_t(v + i)));
        asm volatile("" ::: "memory");
    }
}

BBX_BENCH_LOOP("bbx_bench_empty_loop") void run_empty_loop(uint64_t n, uint64_t v) {
    (void)v;
    for (uint64_t i = 0; i < n; ++i) {
        asm volatile("" ::: "memory");
    }
}

}  // namespace bbx_bench
