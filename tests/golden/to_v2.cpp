// to_v2: writes the events of a capture again, as format 2.0 (or, with
// --major 1, as 1.4), with the golden vectors' writer (transcode.hpp), so
// that the two readers can be compared on the same events: their dumps must
// be the same (tests/test_v2.cpp checks it for the recorded captures), and
// bench figures (callgrind instructions of bench/read_pass) compare like
// with like.
//
//   make build/bbx
//   g++ -std=c++20 -O2 -Iformat/include -Idecoder/include -Ibuild/gen tests/golden/to_v2.cpp
//       build/libbbx_decoder.a -lmimalloc -llz4 -o build/to_v2      (one line)
//   build/to_v2 IN.bbx OUT.bbx [--major 1]
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "transcode.hpp"

int main(int argc, char** argv) {
    if (argc != 3 && !(argc == 5 && std::strcmp(argv[3], "--major") == 0)) {
        std::fprintf(stderr, "usage: to_v2 IN.bbx OUT.bbx [--major 1|2]\n");
        return 2;
    }
    const uint16_t major = argc == 5 ? uint16_t(std::atoi(argv[4])) : 2;
    std::string err;
    const std::vector<unsigned char> out = golden::transcode(argv[1], major, err);
    if (out.empty()) {
        std::fprintf(stderr, "to_v2: %s: %s\n", argv[1], err.c_str());
        return 1;
    }
    std::FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(out.data(), 1, out.size(), f) != out.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "to_v2: %s: %s\n", argv[2], std::strerror(errno));
        return 1;
    }
    return 0;
}
