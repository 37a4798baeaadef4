// Capture containers (spec/format.md, "Capture container"): unpacking one
// into the ring-file image it holds, checking every size and checksum before
// it is trusted, and packing a capture's image into one (bbx snapshot).
#include <fcntl.h>
#include <lz4.h>
#include <lz4hc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "bbx/capture.hpp"
#include "bbx/decoder.hpp"
#include "bbx/image.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

namespace {

error fail(errc c, uint64_t off, std::string what) { return error{c, off, std::move(what)}; }

std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08" PRIx32, v);
    return b;
}

// An anonymous private mapping: zero pages until written, so the zero
// chunks of an image (empty rings, unused metadata) cost no memory.
unsigned char* map_anonymous(uint64_t n) {
    if (n == 0 || n > SIZE_MAX) return nullptr;
    void* m = mmap(nullptr, size_t(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return m == MAP_FAILED ? nullptr : static_cast<unsigned char*>(m);
}

struct anonymous_map {
    unsigned char* p = nullptr;
    uint64_t size = 0;
    explicit anonymous_map(uint64_t n) : p(map_anonymous(n)), size(n) {}
    ~anonymous_map() {
        if (p) munmap(p, size_t(size));
    }
    anonymous_map(const anonymous_map&) = delete;
    anonymous_map& operator=(const anonymous_map&) = delete;
    unsigned char* release() {
        unsigned char* r = p;
        p = nullptr;
        return r;
    }
};

// The image a container holds, with where each chunk starts in the file
// (to name the chunk of an error inside the image).
struct unpacked {
    unsigned char* image = nullptr;  // anonymous mapping of info.image_bytes, owned by the caller
    container_info info;
    std::vector<uint64_t> chunk_offsets;
};

std::string chunk_name(uint32_t k, uint32_t n) { return "chunk " + std::to_string(k) + " of " + std::to_string(n); }

// Checks the container's header, bounds the image by the container's size,
// then checks and decodes each chunk in order. p holds size bytes that start
// with the container magic.
result<bool> unpack(const unsigned char* p, uint64_t size, unpacked& u) {
    using H = fmt::container_header;
    if (size < 12) return fail(errc::truncated, size, "file ends inside the container version");
    H h;
    std::memcpy(&h, p, std::min<uint64_t>(size, sizeof h));
    if (h.version_major != fmt::container_version_major)
        return fail(errc::unsupported_version, offsetof(H, version_major),
                    "container version_major is " + std::to_string(h.version_major) + ", this decoder reads 1");
    if (size < fmt::container_header_size)
        return fail(errc::truncated, size, "file ends inside the 64-byte container header");
    const uint32_t crc = fmt::crc32c(p, offsetof(H, header_crc));
    if (crc != h.header_crc)
        return fail(errc::corrupt, offsetof(H, header_crc),
                    "container header fails its CRC-32C (" + hex32(crc) + " computed, " + hex32(h.header_crc) + " stored)");
    if (h.header_size != fmt::container_header_size)
        return fail(errc::corrupt, offsetof(H, header_size),
                    "container header_size is " + std::to_string(h.header_size) + ", must be 64");
    if (h.flags & ~fmt::container_flags_known)
        return fail(errc::corrupt, offsetof(H, flags), "container flags has reserved bits set (" + hex32(h.flags) + ")");
    if (h.chunk_size < fmt::min_chunk_size || h.chunk_size > fmt::max_chunk_size || (h.chunk_size & (h.chunk_size - 1)))
        return fail(errc::corrupt, offsetof(H, chunk_size),
                    "chunk_size is " + std::to_string(h.chunk_size) + ", must be a power of two from 4096 to 4194304");
    if (h.image_size < fmt::min_image_size || h.image_size > fmt::max_image_size || h.image_size % 4096)
        return fail(errc::corrupt, offsetof(H, image_size),
                    "image_size is " + std::to_string(h.image_size) + ", must be a multiple of 4096 from 16384 to 8 GiB");
    const uint32_t count = fmt::chunk_count_for(h.image_size, h.chunk_size);
    if (h.chunk_count != count)
        return fail(errc::corrupt, offsetof(H, chunk_count),
                    "chunk_count is " + std::to_string(h.chunk_count) + ", image_size and chunk_size give " +
                        std::to_string(count));
    for (unsigned char b : h.reserved)
        if (b) return fail(errc::corrupt, offsetof(H, reserved), "reserved container header bytes are not zero");
    // Bounded memory, before anything is allocated: the image is at most
    // 8 GiB of address space (checked above), and its chunk headers must fit
    // in the file. The pages written are those of non-zero chunks, each at
    // most 255 times its packed bytes (checked per chunk below).
    const uint64_t body = size - fmt::container_header_size;
    if (uint64_t(count) * fmt::chunk_header_size > body)
        return fail(errc::truncated, size,
                    "file ends before its " + std::to_string(count) + " chunk headers (" +
                        std::to_string(uint64_t(count) * fmt::chunk_header_size) + " bytes) after the container header");

    anonymous_map image(h.image_size);
    if (!image.p)
        return fail(errc::io, offsetof(H, image_size),
                    "cannot allocate " + std::to_string(h.image_size) + " bytes for the image: " + std::strerror(errno));
    u.chunk_offsets.reserve(count);
    uint32_t zero_crc_size = 0, zero_crc = 0;  // the CRC of the last zero-chunk size seen
    uint64_t off = fmt::container_header_size;
    for (uint32_t k = 0; k < count; ++k) {
        const std::string name = chunk_name(k, count);
        u.chunk_offsets.push_back(off);
        if (size - off < fmt::chunk_header_size)
            return fail(errc::truncated, size, "file ends inside the header of " + name);
        fmt::chunk_header c;
        std::memcpy(&c, p + off, sizeof c);
        const uint64_t at = uint64_t(k) * h.chunk_size;
        const uint32_t want = uint32_t(h.image_size - at < h.chunk_size ? h.image_size - at : h.chunk_size);
        if (c.raw_size != want)
            return fail(errc::corrupt, off + offsetof(fmt::chunk_header, raw_size),
                        name + ": raw_size is " + std::to_string(c.raw_size) + ", must be " + std::to_string(want));
        const uint64_t least = (uint64_t(want) + fmt::max_lz4_expansion - 1) / fmt::max_lz4_expansion;
        const uint64_t most = uint64_t(LZ4_COMPRESSBOUND(want));
        if (c.packed_size != 0 && (c.packed_size < least || c.packed_size > most))
            return fail(errc::corrupt, off + offsetof(fmt::chunk_header, packed_size),
                        name + ": packed_size is " + std::to_string(c.packed_size) + ", must be 0 or from " +
                            std::to_string(least) + " to " + std::to_string(most));
        if (c.packed_size == 0) {  // a zero chunk: the image's pages stay as mapped, zero
            if (c.packed_crc != 0)
                return fail(errc::corrupt, off,
                            name + ": a zero chunk's packed_crc is " + hex32(c.packed_crc) + ", must be 0");
            if (zero_crc_size != want) zero_crc = fmt::crc32c_zeros(want), zero_crc_size = want;
            if (c.raw_crc != zero_crc)
                return fail(errc::corrupt, off,
                            name + ": a zero chunk's raw_crc is " + hex32(c.raw_crc) + ", the CRC-32C of " +
                                std::to_string(want) + " zero bytes is " + hex32(zero_crc));
            off += fmt::chunk_header_size;
            continue;
        }
        const unsigned char* packed = p + off + fmt::chunk_header_size;
        if (size - off - fmt::chunk_header_size < c.packed_size)
            return fail(errc::truncated, size,
                        "file ends inside " + name + " (" + std::to_string(size - off - fmt::chunk_header_size) + " of " +
                            std::to_string(c.packed_size) + " packed bytes)");
        const uint32_t pcrc = fmt::crc32c(packed, c.packed_size);
        if (pcrc != c.packed_crc)
            return fail(errc::corrupt, off,
                        name + ": the packed bytes fail their CRC-32C (" + hex32(pcrc) + " computed, " +
                            hex32(c.packed_crc) + " stored)");
        unsigned char* dst = image.p + at;
        const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(packed), reinterpret_cast<char*>(dst),
                                            int(c.packed_size), int(want));
        if (got != int(want))
            return fail(errc::corrupt, off, name + ": the packed bytes are not an LZ4 block of " + std::to_string(want) + " bytes");
        const uint32_t rcrc = fmt::crc32c(dst, want);
        if (rcrc != c.raw_crc)
            return fail(errc::corrupt, off,
                        name + ": the unpacked bytes fail their CRC-32C (" + hex32(rcrc) + " computed, " +
                            hex32(c.raw_crc) + " stored)");
        off += fmt::chunk_header_size + c.packed_size;
    }
    if (off != size)
        return fail(errc::corrupt, off, std::to_string(size - off) + " bytes after the last chunk");
    mprotect(image.p, size_t(h.image_size), PROT_READ);
    u.info.present = true;
    u.info.version_major = h.version_major;
    u.info.version_minor = h.version_minor;
    u.info.file_bytes = size;
    u.info.image_bytes = h.image_size;
    u.info.chunk_size = h.chunk_size;
    u.info.chunks = count;
    u.image = image.release();
    return true;
}

bool is_prefix(const unsigned char* p, uint64_t n, const unsigned char (&magic)[8]) {
    return n <= 8 && std::memcmp(p, magic, size_t(n)) == 0;
}

}  // namespace

result<bool> capture::open_image() {
    if (size_ > 0 && size_ < 8 && is_prefix(data_, size_, fmt::container_magic))
        return fail(errc::truncated, size_, "file ends inside the magic");
    if (size_ < 8 || std::memcmp(data_, fmt::container_magic, 8) != 0) return parse();
    unpacked u;
    auto r = unpack(data_, size_, u);
    // The packed bytes are not needed any more, whatever happened.
    if (map_) munmap(map_, size_t(size_));
    map_ = nullptr;
    std::vector<unsigned char>().swap(own_);
    data_ = nullptr;
    size_ = 0;
    if (r.is_error()) return r.err();
    map_ = u.image;
    data_ = u.image;
    size_ = u.info.image_bytes;
    container_ = u.info;
    auto p = parse();
    if (!p.is_error()) return true;
    // An error inside the image: its offset is the image's, and the file
    // offset is where the chunk that holds it starts.
    const error& e = p.err();
    uint64_t k = e.offset / container_.chunk_size;
    if (k >= u.chunk_offsets.size()) k = u.chunk_offsets.size() - 1;
    return fail(e.code, u.chunk_offsets[k],
                "image offset " + std::to_string(e.offset) + " (" + chunk_name(uint32_t(k), container_.chunks) + "): " + e.what);
}

result<snapshot_stats> capture::write_container(const std::function<bool(const void*, size_t)>& sink,
                                                const snapshot_options& opt) const {
    if (size_ > fmt::max_image_size)
        return fail(errc::io, 0,
                    "the ring file has " + std::to_string(size_) + " bytes; a capture container holds at most 8 GiB");
    if (opt.level < 1 || opt.level > LZ4HC_CLEVEL_MAX)
        return fail(errc::io, 0, "compression level " + std::to_string(opt.level) + " is not 1 to 12");
    anonymous_map image(size_);
    if (!image.p) return fail(errc::io, 0, "cannot allocate " + std::to_string(size_) + " bytes for the image");
    alignas(8) unsigned char buf[65536];
    unsigned char* dst = image.p;
    bool taken = fmt::image::take(data_, size_, buf, sizeof buf, [dst](uint64_t off, const unsigned char* p, size_t n) {
        std::memcpy(dst + off, p, n);
        return true;
    });
    if (!taken) return fail(errc::corrupt, 0, "the ring file's header changed while its image was taken");

    std::vector<unsigned char> scratch(fmt::container_scratch_size(fmt::container_chunk_size));
    std::vector<unsigned char> hc_state;
    if (opt.level >= LZ4HC_CLEVEL_MIN) hc_state.resize(size_t(LZ4_sizeofStateHC()));
    auto compress = [&](const unsigned char* src, unsigned char* out, uint32_t n, uint32_t capacity) {
        if (hc_state.empty()) return fmt::lz4_fast(src, out, n, capacity);
        return LZ4_compress_HC_extStateHC(hc_state.data(), reinterpret_cast<const char*>(src), reinterpret_cast<char*>(out),
                                          int(n), int(capacity), opt.level);
    };
    snapshot_stats st;
    st.image_bytes = size_;
    st.chunks = fmt::chunk_count_for(size_, fmt::container_chunk_size);
    bool sink_failed = false;
    bool ok = fmt::write_container(image.p, size_, fmt::container_chunk_size, scratch.data(), compress,
                                   [&](const void* p, size_t n) {
                                       if (!sink(p, n)) {
                                           sink_failed = true;
                                           return false;
                                       }
                                       st.container_bytes += n;
                                       return true;
                                   });
    if (!ok) return fail(errc::io, 0, sink_failed ? "write failed" : "LZ4 could not compress a chunk");
    return st;
}

result<snapshot_stats> write_snapshot(const capture& c, const std::string& path, const snapshot_options& opt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return fail(errc::io, 0, std::string("cannot create: ") + std::strerror(errno));
    int werr = 0;
    auto r = c.write_container(
        [&](const void* data, size_t n) {
            const auto* p = static_cast<const unsigned char*>(data);
            while (n) {
                ssize_t w = ::write(fd, p, n);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    werr = w < 0 ? errno : EIO;
                    return false;
                }
                p += w;
                n -= size_t(w);
            }
            return true;
        },
        opt);
    if (::close(fd) != 0 && !r.is_error() && !werr) werr = errno;
    if (r.is_error() || werr) {
        ::unlink(path.c_str());  // ours: O_EXCL made it
        if (werr) return fail(errc::io, 0, std::string("cannot write: ") + std::strerror(werr));
        return r.err();
    }
    return r;
}

}  // namespace bbx::dec
