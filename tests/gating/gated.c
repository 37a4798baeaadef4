/* The C API's twin of gated.cpp, built by tests/gating.sh with
 * -DBBX_LEVEL_MAX=BBX_LEVEL_INFO (and again with BBX_DISABLE): the DEBUG and
 * TRACE events, their names, categories, argument names and string values
 * must leave nothing in the object file. */
#include <bbx/bbx.h>

int kept(int n) {
    BBXC_INSTANT(INFO, "gating_kept_category", "gating_kept_name", BBXC_I64("gating_kept_arg", n));
    return n + 1;
}

int removed(int n) {
    BBXC_SPAN_BEGIN(span, DEBUG, "gating_secret_category", "gating_secret_span", BBXC_I64("gating_secret_arg", n),
                    BBXC_STR("gating_secret_value", "gating_secret_string"));
    BBXC_INSTANT(TRACE, "gating_secret_category", "gating_secret_instant", BBXC_I64("gating_secret_arg2", n));
    BBXC_COUNTER_I64(DEBUG, "gating_secret_category", "gating_secret_counter", n);
    BBXC_COUNTER_F64(TRACE, "gating_secret_category", "gating_secret_ratio", n * 0.5);
    BBXC_SPAN_END(span);
    return n + 2;
}
