// Built only into hot_path_shared (bench/bench.mk): events recorded by a
// position-independent shared object (a plugin, a library of the program)
// linked to libbbx_recorder.so. Code in a shared object reaches the
// recorder's thread-locals through the general-dynamic TLS model (a call to
// __tls_get_addr), where an executable's code uses initial-exec (a load of
// the offset); these cases show what that costs.
#include <bbx/bbx.hpp>

#include <cstdint>

namespace bbx_bench {

void run_plugin_instant_int(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBX_INSTANT(INFO, "bench", "plugin_instant_int", bbx::arg("i", int64_t(v + i)));
        asm volatile("" ::: "memory");
    }
}

void run_plugin_span(uint64_t n, uint64_t) {
    for (uint64_t i = 0; i < n; ++i) {
        {
            BBX_SPAN(INFO, "bench", "plugin_span");
            asm volatile("" ::: "memory");
        }
        asm volatile("" ::: "memory");
    }
}

}  // namespace bbx_bench
