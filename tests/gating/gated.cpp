// Built by tests/gating.sh with -DBBX_LEVEL_MAX=BBX_LEVEL_INFO (and again with
// BBX_DISABLE): the DEBUG and TRACE events, their names, categories, argument
// names and string values must leave nothing in the object file.
#include <bbx/bbx.hpp>

int kept(int n) {
    BBX_INSTANT(INFO, "gating_kept_category", "gating_kept_name", bbx::arg("gating_kept_arg", n));
    return n + 1;
}

int removed(int n) {
    BBX_SPAN(DEBUG, "gating_secret_category", "gating_secret_span", bbx::arg("gating_secret_arg", n),
             bbx::arg("gating_secret_value", "gating_secret_string"));
    BBX_INSTANT(TRACE, "gating_secret_category", "gating_secret_instant", bbx::arg("gating_secret_arg2", n));
    BBX_COUNTER(DEBUG, "gating_secret_category", "gating_secret_counter", n);
    return n + 2;
}
