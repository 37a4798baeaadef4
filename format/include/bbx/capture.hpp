// blackbox capture container, version 1.0 (format 1.1): a ring-file image
// compressed with LZ4 in chunks, each with CRC-32C checksums. What
// `bbx snapshot` and bbx::snapshot() write and every `bbx` verb reads.
//
// The code twin of spec/container.md. Little-endian, plain
// structs with static_asserts, like format.hpp. The writer here is shared by
// the recorder and the decoder; the reader (with its checks) is the
// decoder's (decoder/src/container.cpp).
#pragma once

#include <lz4.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bbx/format.hpp"

namespace bbx::format {

// "\x89BBC\r\n\x1a\n": the ring magic's construction (see format.hpp), with
// C for container. It differs from the ring magic in byte 3, so neither
// file is ever taken for the other.
inline constexpr unsigned char container_magic[8] = {0x89, 'B', 'B', 'C', '\r', '\n', 0x1a, '\n'};

inline constexpr uint16_t container_version_major = 1;  // a decoder rejects another major
inline constexpr uint16_t container_version_minor = 0;

inline constexpr uint32_t container_header_size = 64;
inline constexpr uint32_t chunk_header_size = 16;
// What the writers use: LZ4 finds matches at most 64 KiB back, so larger
// chunks would compress hardly better, while smaller ones make more of a
// sparse image (empty rings, unused metadata) zero chunks, which cost only
// their header, and keep damage local.
inline constexpr uint32_t container_chunk_size = 64u << 10;
inline constexpr uint32_t min_chunk_size = 4096;
inline constexpr uint32_t max_chunk_size = 4u << 20;
inline constexpr uint64_t min_image_size = 4 * 4096ull;  // the smallest ring file
inline constexpr uint64_t max_image_size = 8ull << 30;
// No LZ4 block decodes to more than 255 bytes per byte of its own: a match
// costs at least 3 bytes (token, offset) and each further 255 bytes of match
// length one byte. So the non-zero chunks of an image are at most 255 times
// the container's size, whatever its header claims.
inline constexpr uint64_t max_lz4_expansion = 255;

// container_header.flags: all 32 bits reserved (must be zero).
inline constexpr uint32_t container_flags_known = 0;

struct container_header {
    unsigned char magic[8];        //  0 container_magic
    uint16_t version_major;        //  8 1
    uint16_t version_minor;        // 10 0
    uint32_t header_size;          // 12 64
    uint32_t flags;                // 16 reserved: 0
    uint32_t chunk_size;           // 20 raw bytes per chunk (the last may hold fewer): a power of two, 4 KiB .. 4 MiB
    uint64_t image_size;           // 24 bytes of the ring-file image: a multiple of 4096, 16 KiB .. 8 GiB
    uint32_t chunk_count;          // 32 ceil(image_size / chunk_size)
    unsigned char reserved[24];    // 36 reserved: 0
    uint32_t header_crc;           // 60 CRC-32C of bytes 0 .. 59
};
static_assert(sizeof(container_header) == container_header_size);
static_assert(offsetof(container_header, flags) == 16);
static_assert(offsetof(container_header, chunk_size) == 20);
static_assert(offsetof(container_header, image_size) == 24);
static_assert(offsetof(container_header, chunk_count) == 32);
static_assert(offsetof(container_header, reserved) == 36);
static_assert(offsetof(container_header, header_crc) == 60);

// Each chunk: this header, then packed_size bytes of one LZ4 block that
// decodes to raw_size bytes of the image. packed_size 0 is a zero chunk:
// raw_size zero bytes, no block (packed_crc is then 0, the CRC of nothing).
struct chunk_header {
    uint32_t raw_size;     //  0 chunk_size, or the rest of the image for the last chunk
    uint32_t packed_size;  //  4 bytes of the LZ4 block: ceil(raw_size / 255) .. LZ4_COMPRESSBOUND(raw_size); 0: zero chunk
    uint32_t packed_crc;   //  8 CRC-32C of the packed bytes (checked before decoding them)
    uint32_t raw_crc;      // 12 CRC-32C of the raw bytes (checked after)
};
static_assert(sizeof(chunk_header) == chunk_header_size);

// ---- CRC-32C ------------------------------------------------------------------
// CRC-32C (Castagnoli; iSCSI, ext4, Btrfs): reflected polynomial 0x82F63B78,
// initial value and final XOR 0xFFFFFFFF. crc32c("123456789") = 0xE3069283.
// Chosen over CRC-32 (zlib) for its better error detection at the same cost,
// and over XXH32 because Debian's liblz4 does not export that. Table-driven,
// 8 bytes per step ("slicing-by-8").

struct crc32c_tables {
    uint32_t t[8][256];
};
inline constexpr crc32c_tables make_crc32c_tables() {
    crc32c_tables c{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t v = i;
        for (int k = 0; k < 8; ++k) v = (v >> 1) ^ (0x82F63B78u & (0u - (v & 1u)));
        c.t[0][i] = v;
    }
    for (uint32_t i = 0; i < 256; ++i)
        for (int s = 1; s < 8; ++s) c.t[s][i] = (c.t[s - 1][i] >> 8) ^ c.t[0][c.t[s - 1][i] & 0xff];
    return c;
}
inline constexpr crc32c_tables crc32c_table = make_crc32c_tables();

// The CRC-32C of n bytes; pass an earlier result as `crc` to continue it.
inline uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0) {
    const auto& t = crc32c_table.t;
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        w ^= crc;
        crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
              t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    }
    for (; n; ++p, --n) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
    return ~crc;
}

// ---- writing -------------------------------------------------------------------

// Scratch bytes write_container needs for chunks of chunk_size.
inline constexpr size_t container_scratch_size(uint32_t chunk_size) { return size_t(LZ4_COMPRESSBOUND(chunk_size)); }

inline constexpr uint32_t chunk_count_for(uint64_t image_size, uint32_t chunk_size) {
    return uint32_t((image_size + chunk_size - 1) / chunk_size);
}

inline container_header make_container_header(uint64_t image_size, uint32_t chunk_size) {
    container_header h{};
    std::memcpy(h.magic, container_magic, sizeof h.magic);
    h.version_major = container_version_major;
    h.version_minor = container_version_minor;
    h.header_size = container_header_size;
    h.chunk_size = chunk_size;
    h.image_size = image_size;
    h.chunk_count = chunk_count_for(image_size, chunk_size);
    h.header_crc = crc32c(&h, offsetof(container_header, header_crc));
    return h;
}

// LZ4's fast compressor, the writers' default: (src, dst, n, dst capacity) -> packed bytes, 0 on failure.
inline int lz4_fast(const unsigned char* src, unsigned char* dst, uint32_t n, uint32_t capacity) {
    return LZ4_compress_default(reinterpret_cast<const char*>(src), reinterpret_cast<char*>(dst), int(n), int(capacity));
}

inline bool all_zero(const unsigned char* p, size_t n) {  // n a multiple of 8
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        acc |= w;
        if ((i & 4095) == 4088 && acc) return false;
    }
    return acc == 0;
}

// The CRC-32C of n zero bytes (a zero chunk's raw_crc).
inline uint32_t crc32c_zeros(uint64_t n) {
    static constexpr unsigned char zeros[4096] = {};
    uint32_t crc = 0;
    for (; n; n -= n < sizeof zeros ? n : sizeof zeros) crc = crc32c(zeros, size_t(n < sizeof zeros ? n : sizeof zeros), crc);
    return crc;
}

// Packs a ring-file image of image_size bytes into a container and hands
// its bytes, in order, to sink(bytes, n) -> bool. bytes_at(offset, n) ->
// const unsigned char* gives the image's bytes chunk by chunk, in order (so
// that an image need not be whole in memory), or null to fail. compress(src,
// dst, n, capacity) -> int is lz4_fast or another LZ4 block compressor (LZ4
// HC). A chunk of zeros becomes a zero chunk. scratch:
// container_scratch_size(chunk_size) bytes. Returns false if the sizes are
// out of range, bytes_at failed, a chunk failed to compress, or sink failed.
template <class BytesAt, class Compress, class Sink>
bool write_container_from(BytesAt&& bytes_at, uint64_t image_size, uint32_t chunk_size, unsigned char* scratch,
                          Compress&& compress, Sink&& sink) {
    if (image_size < min_image_size || image_size > max_image_size || image_size % 4096 ||
        chunk_size < min_chunk_size || chunk_size > max_chunk_size || (chunk_size & (chunk_size - 1)))
        return false;
    const container_header h = make_container_header(image_size, chunk_size);
    if (!sink(static_cast<const void*>(&h), sizeof h)) return false;
    const uint32_t zero_crc = crc32c_zeros(chunk_size);
    for (uint64_t off = 0; off < image_size; off += chunk_size) {
        const uint32_t raw = uint32_t(image_size - off < chunk_size ? image_size - off : chunk_size);
        const unsigned char* src = bytes_at(off, raw);
        if (!src) return false;
        if (all_zero(src, raw)) {
            const chunk_header z{raw, 0, 0, raw == chunk_size ? zero_crc : crc32c_zeros(raw)};
            if (!sink(static_cast<const void*>(&z), sizeof z)) return false;
            continue;
        }
        const int packed = compress(src, scratch, raw, uint32_t(container_scratch_size(chunk_size)));
        if (packed <= 0) return false;
        const chunk_header c{raw, uint32_t(packed), crc32c(scratch, size_t(packed)), crc32c(src, raw)};
        if (!sink(static_cast<const void*>(&c), sizeof c) || !sink(static_cast<const void*>(scratch), size_t(packed)))
            return false;
    }
    return true;
}

// The same, of an image whole in memory.
template <class Compress, class Sink>
bool write_container(const unsigned char* image, uint64_t image_size, uint32_t chunk_size, unsigned char* scratch,
                     Compress&& compress, Sink&& sink) {
    return write_container_from([image](uint64_t off, uint32_t) { return image + off; }, image_size, chunk_size, scratch,
                                compress, sink);
}

}  // namespace bbx::format
