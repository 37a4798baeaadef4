/* The C twin of app.cpp, on the C API (bbx/bbx.h): the same events, so its
 * capture must dump the same as the C++ program's. tests/install.sh builds it
 * with cc against the shared library (pkg-config) and the static one.
 *
 *   app_c CAPTURE HOW [SNAPSHOT] */
#include <bbx/bbx.h>

#include <stdio.h>

int main(int argc, char** argv) {
    bbx_config cfg = {NULL, 0, 0, 0, 0, 0};
    bbx_status status;
    int i;
    if (argc < 3) {
        fprintf(stderr, "usage: app_c CAPTURE HOW [SNAPSHOT]\n");
        return 2;
    }
    cfg.path = argv[1];
    status = bbx_start(&cfg);
    if (status != BBX_OK) {
        fprintf(stderr, "app_c: %s: %s\n", argv[1], bbx_status_message(status));
        return 1;
    }
    bbx_set_thread_name("consumer");
    for (i = 0; i < 3; ++i) {
        BBXC_SPAN_BEGIN(work, INFO, "install", "work", BBXC_I64("i", i));
        BBXC_INSTANT(INFO, "install", "built_with", BBXC_STR("how", argv[2]), BBXC_F64("ratio", i * 0.5),
                     BBXC_BOOL("odd", i % 2 == 1));
        BBXC_COUNTER_I64(DEBUG, "install", "depth", 10 + i);
        BBXC_SPAN_END(work);
    }
    if (argc > 3 && !bbx_snapshot(argv[3])) {
        fprintf(stderr, "app_c: cannot snapshot to %s\n", argv[3]);
        return 1;
    }
    bbx_stop();
    return 0;
}
