// Checks that no bytes make the capture-container reader crash, hang, leak or
// break its promises: each input is opened as it is and again with its
// header and chunk checksums repaired (so that mutations reach the LZ4 blocks
// and the ring-file image inside), and a container that opens must re-pack
// into one that opens to the same events.
#include <lz4.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bbx/capture.hpp"
#include "bbx/decoder.hpp"
#include "check.hpp"

namespace {

namespace fmt = ::bbx::format;


std::FILE* null_output() {
    static std::FILE* f = std::fopen("/dev/null", "w");
    BBX_FUZZ_CHECK(f != nullptr);
    return f;
}

struct walk {
    uint64_t events = 0, sum = 0;
    std::vector<uint64_t> per_ring;
};

walk walk_events(const bbx::dec::capture& c) {
    walk w;
    w.per_ring.assign(c.threads().size(), 0);
    auto r = c.for_each_event([&](const bbx::dec::event& e) {
        ++w.events;
        w.sum += e.ticks ^ (uint64_t(e.kind) << 56) ^ e.nargs;
        BBX_FUZZ_CHECK(e.thread < w.per_ring.size());
        ++w.per_ring[e.thread];
        for (uint32_t i = 0; i < e.nargs; ++i) w.sum += e.args[i].word + e.args[i].str.size();
    });
    BBX_FUZZ_CHECK(!r.is_error());
    return w;
}

void run(const uint8_t* data, size_t size) {
    auto r = bbx::dec::capture::from_bytes(data, size, "fuzz");
    if (r.is_error()) {
        const bbx::dec::error& e = r.err();
        // An error names a place inside the input (or its end) and says what was wrong.
        BBX_FUZZ_CHECK(e.code != bbx::dec::errc::io);
        BBX_FUZZ_CHECK(e.offset <= size);
        BBX_FUZZ_CHECK(!e.what.empty());
        return;
    }
    bbx::dec::capture& c = *r.value();
    const bbx::dec::container_info& box = c.container();
    if (box.present) {
        BBX_FUZZ_CHECK(box.file_bytes == size);
        BBX_FUZZ_CHECK(box.image_bytes == c.header().file_size && box.image_bytes <= fmt::max_image_size);
        BBX_FUZZ_CHECK(box.chunks == fmt::chunk_count_for(box.image_bytes, box.chunk_size));
    }
    walk first = walk_events(c);

    // Re-packed, the image opens again to the same events.
    std::vector<uint8_t> packed;
    auto p = c.write_container([&](const void* b, size_t n) {
        packed.insert(packed.end(), static_cast<const uint8_t*>(b), static_cast<const uint8_t*>(b) + n);
        return true;
    });
    BBX_FUZZ_CHECK(!p.is_error());
    BBX_FUZZ_CHECK(p.value().container_bytes == packed.size());
    auto again = bbx::dec::capture::from_bytes(packed.data(), packed.size(), "repacked");
    BBX_FUZZ_CHECK(!again.is_error());
    walk second = walk_events(*again.value());
    BBX_FUZZ_CHECK(second.events == first.events && second.sum == first.sum && second.per_ring == first.per_ring);

    std::FILE* out = null_output();
    std::string err;
    BBX_FUZZ_CHECK(bbx::dec::write_dump(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_info(c, out, err));
}

// The input with every checksum a writer would have computed: the header's,
// and per chunk (as far as the chunk headers lead) the packed bytes' and,
// when the block decodes to raw_size bytes, the raw bytes'. Returns false if
// nothing could be repaired.
bool repair(std::vector<uint8_t>& b) {
    if (b.size() < fmt::container_header_size || std::memcmp(b.data(), fmt::container_magic, 8) != 0) return false;
    const size_t crc_at = offsetof(fmt::container_header, header_crc);
    uint32_t crc = fmt::crc32c(b.data(), crc_at);
    std::memcpy(b.data() + crc_at, &crc, 4);
    fmt::container_header h;
    std::memcpy(&h, b.data(), sizeof h);
    std::vector<char> raw;
    uint64_t off = fmt::container_header_size;
    for (uint32_t k = 0; k < h.chunk_count && b.size() - off >= fmt::chunk_header_size; ++k) {
        fmt::chunk_header c;
        std::memcpy(&c, b.data() + off, sizeof c);
        if (c.packed_size == 0) {
            c.packed_crc = 0;
            if (c.raw_size <= fmt::max_chunk_size) c.raw_crc = fmt::crc32c_zeros(c.raw_size);
        } else {
            if (b.size() - off - fmt::chunk_header_size < c.packed_size) break;
            const uint8_t* block = b.data() + off + fmt::chunk_header_size;
            c.packed_crc = fmt::crc32c(block, c.packed_size);
            if (c.raw_size <= fmt::max_chunk_size && c.packed_size <= uint32_t(LZ4_COMPRESSBOUND(fmt::max_chunk_size))) {
                raw.resize(c.raw_size);
                int n = LZ4_decompress_safe(reinterpret_cast<const char*>(block), raw.data(), int(c.packed_size),
                                            int(c.raw_size));
                if (n == int(c.raw_size)) c.raw_crc = fmt::crc32c(raw.data(), raw.size());
            }
        }
        std::memcpy(b.data() + off, &c, sizeof c);
        off += fmt::chunk_header_size + c.packed_size;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    run(data, size);
    std::vector<uint8_t> fixed(data, data + size);
    if (repair(fixed) && (size == 0 || std::memcmp(fixed.data(), data, size) != 0)) run(fixed.data(), fixed.size());
    return 0;
}
