/* Events recorded through the C API, compiled as C11 (not C++) into the unit
 * tests; tests/test_c_api.cpp calls these and decodes what they wrote. The
 * line numbers of the call sites are checked there: keep the LINE_* markers
 * on the lines of their events. */
#include <bbx/bbx.h>

void c_typed(int64_t i, uint64_t u, double f, int b, const char* s) {
    BBXC_INSTANT(INFO, "capi", "typed", BBXC_I64("i", i), BBXC_U64("u", u), BBXC_F64("f", f), BBXC_BOOL("b", b), BBXC_STR("s", s)); /* LINE_TYPED */
}

void c_counters(int64_t i, double f) {
    BBXC_COUNTER_I64(INFO, "capi", "count", i);
    BBXC_COUNTER_F64(INFO, "capi", "ratio", f);
}

void c_levels(void) {
    BBXC_INSTANT(ERROR, "capi", "at_error");
    BBXC_INSTANT(WARN, "capi", "at_warn");
    BBXC_INSTANT(INFO, "capi", "at_info");
    BBXC_INSTANT(DEBUG, "capi", "at_debug");
    BBXC_INSTANT(TRACE, "capi", "at_trace");
}

/* A span whose level is changed to `level_inside` while it is open. */
void c_span(int64_t n, int level_inside) {
    BBXC_SPAN_BEGIN(work, INFO, "capi", "work", BBXC_I64("n", n));
    bbx_set_level(level_inside);
    BBXC_INSTANT(INFO, "capi", "inside");
    BBXC_SPAN_END(work);
}

void c_sixteen(void) {
    BBXC_INSTANT(INFO, "capi", "sixteen", BBXC_I64("a1", 1), BBXC_U64("a2", 2), BBXC_F64("a3", 3.5), BBXC_BOOL("a4", 1),
                 BBXC_STR("a5", "five"), BBXC_I64("a6", -6), BBXC_I64("a7", 7), BBXC_I64("a8", 8), BBXC_STR("a9", "nine"),
                 BBXC_I64("a10", 10), BBXC_I64("a11", 11), BBXC_I64("a12", 12), BBXC_I64("a13", 13),
                 BBXC_I64("a14", 14), BBXC_I64("a15", 15), BBXC_STR("a16", "sixteen"));
}

/* The two halves of a span, so that a test can stop and start between them. */
bbx_span c_span_begin(void) {
    BBXC_SPAN_BEGIN(s, INFO, "capi", "across");
    return s;
}
void c_span_end(bbx_span s) { BBXC_SPAN_END(s); }
