// A program built only against an installed blackbox (tests/install.sh builds
// it with CMake's find_package and with pkg-config): records three rounds of
// a span, an instant with typed arguments and a counter into CAPTURE, and
// with a third argument also takes a snapshot (which links LZ4).
//
//   app CAPTURE HOW [SNAPSHOT]
#include <bbx/bbx.hpp>
#include <bbx/snapshot.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: app CAPTURE HOW [SNAPSHOT]\n");
        return 2;
    }
    bbx::start_result r = bbx::start({.path = argv[1]});
    if (!r.ok()) {
        std::fprintf(stderr, "app: %s: %s\n", argv[1], r.message());
        return 1;
    }
    bbx::set_thread_name("consumer");
    for (int i = 0; i < 3; ++i) {
        BBX_SPAN(INFO, "install", "work", bbx::arg("i", i));
        BBX_INSTANT(INFO, "install", "built_with", bbx::arg("how", argv[2]), bbx::arg("ratio", i * 0.5),
                    bbx::arg("odd", i % 2 == 1));
        BBX_COUNTER(DEBUG, "install", "depth", 10 + i);
    }
    if (argc > 3 && !bbx::snapshot(argv[3])) {
        std::fprintf(stderr, "app: cannot snapshot to %s\n", argv[3]);
        return 1;
    }
    bbx::stop();
    return 0;
}
