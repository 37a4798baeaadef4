// Writes the events of a capture again as format 2.0 (or 1.4) with the
// golden writer (ring_file.hpp): to_v2.cpp and tests/test_v2.cpp compare the
// readers on the same events. Each ring becomes a ring of the same size
// owned by one owner (its owner event first); the metadata region and the
// clock fields are copied; events are written in the order the reader
// yields them (merged by time; each ring's in its order).
#pragma once

#include <lz4.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bbx/capture.hpp"
#include "bbx/decoder.hpp"
#include "ring_file.hpp"

namespace golden {

// The image of the capture file at `path` written again as `major`.0 (2) or 1.4 (1); empty with err set on failure.
inline std::vector<unsigned char> transcode(const std::string& path, uint16_t major, std::string& err) {
    namespace fmt = ::bbx::format;
    auto c = bbx::dec::capture::open(path);
    if (c.is_error()) {
        err = c.err().message();
        return {};
    }
    const bbx::dec::capture& cap = *c.value();
    const bbx::dec::header_info& hi = cap.header();
    std::vector<unsigned char> in;
    {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) {
            err = "cannot open";
            return {};
        }
        unsigned char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) in.insert(in.end(), buf, buf + n);
        std::fclose(f);
    }
    if (in.size() >= fmt::container_header_size && std::memcmp(in.data(), fmt::container_magic, 8) == 0) {
        // A capture container (opened above, so well formed): its image.
        fmt::container_header ch;
        std::memcpy(&ch, in.data(), sizeof ch);
        std::vector<unsigned char> image(ch.image_size, 0);
        size_t at = fmt::container_header_size;
        for (uint32_t k = 0; k < ch.chunk_count; ++k) {
            fmt::chunk_header h;
            std::memcpy(&h, in.data() + at, sizeof h);
            at += sizeof h;
            if (h.packed_size)
                LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + at),
                                    reinterpret_cast<char*>(image.data() + uint64_t(k) * ch.chunk_size), int(h.packed_size),
                                    int(h.raw_size));
            at += h.packed_size;
        }
        in.swap(image);
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
        err = res.err().message();
        return {};
    }
    return r.image();
}

}  // namespace golden
