// to_v2: writes the events of a capture again, as format 2.0 (or, with
// --major 1, as 1.4), with the golden vectors' writer (ring_file.hpp, the
// design's writer rules), so that the two readers can be compared on the
// same events: their dumps must be the same, and bench figures (callgrind
// instructions per event of bench/read_pass) compare like with like.
//
//   make build/bbx build/gen/bbx_meta_generated.h
//   g++ -std=c++20 -O2 -Iformat/include -Idecoder/include -Ibuild/gen tests/golden/to_v2.cpp
//       build/libbbx_decoder.a -lmimalloc -llz4 -o build/to_v2      (one line)
//   build/to_v2 IN.bbx OUT.bbx [--major 1]
//
// Each ring of IN becomes a ring of OUT of the same size (a 2.0 ring holds
// twice the slots), owned by one owner (its owner event first); the
// metadata region is copied as it is; the clock fields too. Events are
// written in the order the reader yields them (merged by time; each ring's
// in its order).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bbx/decoder.hpp"
#include "ring_file.hpp"

using namespace golden;
namespace fmt = ::bbx::format;

int main(int argc, char** argv) {
    if (argc != 3 && !(argc == 5 && std::strcmp(argv[3], "--major") == 0)) {
        std::fprintf(stderr, "usage: to_v2 IN.bbx OUT.bbx [--major 1|2]\n");
        return 2;
    }
    const uint16_t major = argc == 5 ? uint16_t(std::atoi(argv[4])) : 2;
    auto c = bbx::dec::capture::open(argv[1]);
    if (c.is_error()) {
        std::fprintf(stderr, "to_v2: %s: %s\n", argv[1], c.err().message().c_str());
        return 1;
    }
    const bbx::dec::capture& cap = *c.value();
    const bbx::dec::header_info& hi = cap.header();
    std::vector<unsigned char> in;
    {
        std::FILE* f = std::fopen(argv[1], "rb");
        if (!f) return 1;
        unsigned char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) in.insert(in.end(), buf, buf + n);
        std::fclose(f);
    }
    fmt::file_header src;
    std::memcpy(&src, in.data(), sizeof src);
    ring_file r(hi.ring_count, hi.rings_used, hi.flags, hi.ring_size, uint32_t(hi.meta_capacity / 1024), 4, 0, major);
    std::memcpy(r.meta.data(), in.data() + src.meta_offset, hi.meta_used);
    r.h.meta_used = hi.meta_used;
    r.h.pid = hi.pid;
    r.h.anchor_count = hi.anchor_count;
    std::memcpy(r.h.anchors, hi.anchors, sizeof r.h.anchors);
    r.h.tick_hz = hi.tick_hz;
    r.h.level = hi.level;
    std::memcpy(r.h.process_name, src.process_name, sizeof r.h.process_name);
    std::memcpy(r.h.exe_path, src.exe_path, sizeof r.h.exe_path);
    std::vector<bool> taken(hi.ring_count, false);
    const auto& threads = cap.threads();
    auto res = cap.for_each_event([&](const bbx::dec::event& e) {
        const uint32_t ring = threads[e.thread].ring;
        if (!taken[ring]) {
            r.take(ring, threads[e.thread].tid, threads[e.thread].name, e.ticks);
            taken[ring] = true;
        }
        const uint32_t site = e.where ? e.where->id : 0;
        std::vector<val> args;
        switch (e.kind) {
            case fmt::kind::span_begin:
            case fmt::kind::instant:
            case fmt::kind::counter:
                for (uint32_t i = 0; i < e.nargs; ++i) args.push_back({e.args[i].word, std::string(e.args[i].str)});
                break;
            case fmt::kind::thread_name: args.push_back(str(std::string(e.thread_name))); break;
            case fmt::kind::span_context:
                args = {u64(e.context.span_id), u64(e.context.trace_hi), u64(e.context.trace_lo),
                        u64(e.context.parent_span_id), u64(e.context.role | uint64_t(e.context.flags) << 8)};
                break;
            case fmt::kind::task_spawn: args = {u64(e.task), u64(e.spawn.parent), u64(e.spawn.frame_bytes)}; break;
            case fmt::kind::task_wake: args = {u64(e.task), u64(e.wake.waker), u64(0)}; break;
            case fmt::kind::wait_begin:
            case fmt::kind::wait_end:
            case fmt::kind::resource_op: args = {u64(e.task), u64(e.res.id), u64(e.res.op)}; break;
            case fmt::kind::crash: {
                const bbx::dec::crash_info& k = *e.crash;
                args = {u64(uint64_t(k.signo)), u64(uint64_t(int64_t(k.code))), u64(k.addr), u64(k.pc), u64(k.exe_base), u64(k.nframes)};
                for (uint32_t i = 0; i < k.nframes; ++i) args.push_back(u64(k.frames[i]));
                break;
            }
            default: args = {u64(e.task)};  // polls, complete
        }
        r.event(ring, e.kind, site, e.ticks, args);
    });
    if (res.is_error()) {
        std::fprintf(stderr, "to_v2: %s: %s\n", argv[1], res.err().message().c_str());
        return 1;
    }
    const std::vector<unsigned char> out = r.image();
    std::FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(out.data(), 1, out.size(), f) != out.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "to_v2: %s: %s\n", argv[2], std::strerror(errno));
        return 1;
    }
    return 0;
}
