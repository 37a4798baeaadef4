/* The hot path through the C API (bbx/bbx.h), compiled as C11: the same
 * events as hot_path.cpp's C++ cases, so the table puts each C case next to
 * its C++ twin, in the same rounds, against the same floor. */
#include <bbx/bbx.h>

#include <string.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

void bbx_bench_c_instant_int(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBXC_INSTANT(INFO, "bench", "c_instant_int", BBXC_I64("i", (int64_t)(v + i)));
        BARRIER();
    }
}

void bbx_bench_c_instant_3args(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBXC_INSTANT(INFO, "bench", "c_instant_3args", BBXC_I64("i", (int64_t)(v + i)),
                     BBXC_F64("x", (double)(v + i) * 0.5), BBXC_BOOL("odd", ((v + i) & 1) != 0));
        BARRIER();
    }
}

void bbx_bench_c_instant_str32(uint64_t n, uint64_t v) {
    char text[33];
    memset(text, 'a' + (int)(v % 26), 32);
    text[32] = 0;
    for (uint64_t i = 0; i < n; ++i) {
        text[i % 32] = (char)('a' + (v + i) % 26); /* a string that changes from event to event */
        BBXC_INSTANT(INFO, "bench", "c_instant_str32", BBXC_STR("s", text));
        BARRIER();
    }
}

void bbx_bench_c_span(uint64_t n, uint64_t v) {
    (void)v;
    for (uint64_t i = 0; i < n; ++i) {
        BBXC_SPAN_BEGIN(span, INFO, "bench", "c_span");
        BARRIER();
        BBXC_SPAN_END(span);
        BARRIER();
    }
}

void bbx_bench_c_counter(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBXC_COUNTER_I64(INFO, "bench", "c_counter", (int64_t)(v + i));
        BARRIER();
    }
}

/* Run with the level set to WARN: the event stops at the gate. */
void bbx_bench_c_disabled(uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) {
        BBXC_INSTANT(DEBUG, "bench", "c_disabled", BBXC_I64("i", (int64_t)(v + i)));
        BARRIER();
    }
}
