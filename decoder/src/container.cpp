// Capture containers (spec/container.md): reading one
// (container_reader.hpp: every size and checksum checked before its image is
// used, the image inflated chunk by chunk as it is read), and packing a
// capture's image into one (bbx snapshot).
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
#include "container_reader.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

namespace {

error fail(errc c, uint64_t off, std::string what) { return error{c, off, std::move(what)}; }

std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08" PRIx32, v);
    return b;
}

// An anonymous private mapping of n bytes of address space: zero pages
// until written, and no swap reserved for it.
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
};

std::string chunk_name(uint32_t k, uint32_t n) { return "chunk " + std::to_string(k) + " of " + std::to_string(n); }

// What may be resident at once beyond the container itself: with the
// container's own bytes and the reader's own state (16 MiB), that keeps a
// reader within 2x the file + 64 MiB.
constexpr uint64_t inflated_allowance = uint64_t(48) << 20;

}  // namespace

capture::container_reader::~container_reader() {
    if (image) munmap(image, size_t(info.image_bytes));
}

// The container header, then every chunk's header and packed bytes, in file
// order: nothing is inflated and nothing sized by the file is allocated before
// its sizes are known to fit in it.
result<std::unique_ptr<capture::container_reader>> capture::container_reader::open(const unsigned char* p, uint64_t size) {
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
    // The chunk headers must fit in the file before a table of them is made.
    const uint64_t body = size - fmt::container_header_size;
    if (uint64_t(count) * fmt::chunk_header_size > body)
        return fail(errc::truncated, size,
                    "file ends before its " + std::to_string(count) + " chunk headers (" +
                        std::to_string(uint64_t(count) * fmt::chunk_header_size) + " bytes) after the container header");

    std::unique_ptr<container_reader> r(new container_reader());
    r->file = p;
    r->file_size = size;
    r->chunks.reserve(count);
    uint32_t zero_crc_size = 0, zero_crc = 0;  // the CRC of the last zero-chunk size seen
    uint64_t off = fmt::container_header_size;
    for (uint32_t k = 0; k < count; ++k) {
        const std::string name = chunk_name(k, count);
        if (size - off < fmt::chunk_header_size)
            return fail(errc::truncated, size, "file ends inside the header of " + name);
        fmt::chunk_header c;
        std::memcpy(&c, p + off, sizeof c);
        const uint64_t at = uint64_t(k) * h.chunk_size;
        const uint32_t want = uint32_t(h.image_size - at < h.chunk_size ? h.image_size - at : h.chunk_size);
        if (c.raw_size != want)
            return fail(errc::corrupt, off + offsetof(fmt::chunk_header, raw_size),
                        name + ": raw_size is " + std::to_string(c.raw_size) + ", must be " + std::to_string(want));
        // A block inflates to at most 255 times its size (max_lz4_expansion):
        // the declared sizes bound what inflating it can cost.
        const uint64_t least = (uint64_t(want) + fmt::max_lz4_expansion - 1) / fmt::max_lz4_expansion;
        const uint64_t most = uint64_t(LZ4_COMPRESSBOUND(want));
        if (c.packed_size != 0 && (c.packed_size < least || c.packed_size > most))
            return fail(errc::corrupt, off + offsetof(fmt::chunk_header, packed_size),
                        name + ": packed_size is " + std::to_string(c.packed_size) + ", must be 0 or from " +
                            std::to_string(least) + " to " + std::to_string(most));
        if (c.packed_size == 0) {  // a zero chunk: its image pages stay zero
            if (c.packed_crc != 0)
                return fail(errc::corrupt, off,
                            name + ": a zero chunk's packed_crc is " + hex32(c.packed_crc) + ", must be 0");
            if (zero_crc_size != want) zero_crc = fmt::crc32c_zeros(want), zero_crc_size = want;
            if (c.raw_crc != zero_crc)
                return fail(errc::corrupt, off,
                            name + ": a zero chunk's raw_crc is " + hex32(c.raw_crc) + ", the CRC-32C of " +
                                std::to_string(want) + " zero bytes is " + hex32(zero_crc));
        } else {
            if (size - off - fmt::chunk_header_size < c.packed_size)
                return fail(errc::truncated, size,
                            "file ends inside " + name + " (" + std::to_string(size - off - fmt::chunk_header_size) +
                                " of " + std::to_string(c.packed_size) + " packed bytes)");
            const uint32_t pcrc = fmt::crc32c(p + off + fmt::chunk_header_size, c.packed_size);
            if (pcrc != c.packed_crc)
                return fail(errc::corrupt, off,
                            name + ": the packed bytes fail their CRC-32C (" + hex32(pcrc) + " computed, " +
                                hex32(c.packed_crc) + " stored)");
        }
        r->chunks.push_back({off, want, c.packed_size});
        off += fmt::chunk_header_size + c.packed_size;
    }
    if (off != size) return fail(errc::corrupt, off, std::to_string(size - off) + " bytes after the last chunk");
    r->info.present = true;
    r->info.version_major = h.version_major;
    r->info.version_minor = h.version_minor;
    r->info.file_bytes = size;
    r->info.image_bytes = h.image_size;
    r->info.chunk_size = h.chunk_size;
    r->info.chunks = count;
    r->image = map_anonymous(h.image_size);
    if (!r->image)
        return fail(errc::io, offsetof(H, image_size),
                    "cannot map " + std::to_string(h.image_size) + " bytes of address space for the image: " +
                        std::strerror(errno));
    r->pins.assign(count, 0);
    r->bytes_of.assign(count, nullptr);
    r->budget = inflated_allowance + size;
    // Chunk 0 holds the ring file's header: it is checked before any other is inflated.
    if (auto k = r->keep(0, 1); k.is_error()) return k.err();
    return r;
}

namespace {

// Inflates chunk c of the container at p into dst (c.raw bytes); "" or what went wrong.
std::string inflate(const unsigned char* p, const capture::container_reader::chunk_ref& c, unsigned char* dst,
                    bool check_crc) {
    fmt::chunk_header h;
    std::memcpy(&h, p + c.file_offset, sizeof h);
    const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(p + c.file_offset + fmt::chunk_header_size),
                                        reinterpret_cast<char*>(dst), int(c.packed), int(c.raw));
    if (got != int(c.raw)) return "the packed bytes are not an LZ4 block of " + std::to_string(c.raw) + " bytes";
    if (check_crc) {
        const uint32_t rcrc = fmt::crc32c(dst, c.raw);
        if (rcrc != h.raw_crc)
            return "the unpacked bytes fail their CRC-32C (" + hex32(rcrc) + " computed, " + hex32(h.raw_crc) + " stored)";
    }
    return "";
}

}  // namespace

const unsigned char* capture::container_reader::pin(uint32_t k) {
    if (k >= pins.size()) return nullptr;
    if (pins[k] == forever) return bytes_of[k];
    const chunk_ref& c = chunks[k];
    if (pins[k] == 0) {
        if (resident + c.raw > budget) {
            if (!failed)
                first_error = fail(errc::corrupt, c.file_offset,
                                   chunk_name(k, info.chunks) + ": reading it needs more than " + std::to_string(budget) +
                                       " bytes of inflated chunks at once (48 MiB + the file's size)");
            failed = true;
            return nullptr;
        }
        if (pool.empty()) pool.push_back(buffers.emplace_back(new unsigned char[info.chunk_size]).get());
        unsigned char* b = pool.back();
        pool.pop_back();
        // Checked before (its CRC again only for chunk 0, checked first of all).
        std::string why = c.packed ? inflate(file, c, b, k == 0) : "";
        if (!c.packed) std::memset(b, 0, c.raw);
        if (!why.empty()) {
            pool.push_back(b);
            if (!failed) first_error = fail(errc::corrupt, c.file_offset, chunk_name(k, info.chunks) + ": " + why);
            failed = true;
            return nullptr;
        }
        bytes_of[k] = b;
        resident += c.raw;
    }
    ++pins[k];
    return bytes_of[k];
}

void capture::container_reader::unpin(uint32_t k) {
    if (k >= pins.size() || pins[k] == forever || pins[k] == 0) return;
    if (--pins[k]) return;
    pool.push_back(bytes_of[k]);  // back to the pool, for the next chunk
    bytes_of[k] = nullptr;
    resident -= chunks[k].raw;
}

result<bool> capture::container_reader::check_chunks() const {
    std::unique_ptr<unsigned char[]> scratch(new unsigned char[info.chunk_size]);
    for (uint32_t k = 1; k < chunks.size(); ++k) {
        if (!chunks[k].packed) continue;
        std::string why = inflate(file, chunks[k], scratch.get(), true);
        if (!why.empty()) return fail(errc::corrupt, chunks[k].file_offset, chunk_name(k, info.chunks) + ": " + why);
    }
    return true;
}

result<bool> capture::container_reader::keep(uint64_t from, uint64_t to) {
    if (to > info.image_bytes) to = info.image_bytes;
    for (uint64_t k = from / info.chunk_size; k * info.chunk_size < to; ++k) {
        if (pins[k] == forever) continue;
        const chunk_ref& c = chunks[k];
        unsigned char* at = image + chunk_start(uint32_t(k));
        if (c.packed) {
            if (resident + c.raw > budget)
                return fail(errc::corrupt, c.file_offset,
                            chunk_name(uint32_t(k), info.chunks) + ": the ring file's header, ring table and metadata need more than " +
                                std::to_string(budget) + " bytes inflated");
            std::string why = inflate(file, c, at, k == 0);
            if (!why.empty()) return fail(errc::corrupt, c.file_offset, chunk_name(uint32_t(k), info.chunks) + ": " + why);
            resident += c.raw;
        }
        if (pins[k]) unpin(uint32_t(k));  // (chunk 0, pinned by open(): now in the image for good)
        pins[k] = forever;
        bytes_of[k] = at;
    }
    return true;
}

error capture::container_reader::in_image(const error& e) const {
    uint64_t k = e.offset / info.chunk_size;
    if (k >= chunks.size()) k = chunks.size() - 1;
    return fail(e.code, chunks[k].file_offset,
                "image offset " + std::to_string(e.offset) + " (" + chunk_name(uint32_t(k), info.chunks) + "): " + e.what);
}

namespace {

bool is_prefix(const unsigned char* p, uint64_t n, const unsigned char (&magic)[8]) {
    return n <= 8 && std::memcmp(p, magic, size_t(n)) == 0;
}

}  // namespace

result<bool> capture::open_image() {
    if (size_ > 0 && size_ < 8 && is_prefix(data_, size_, fmt::container_magic))
        return fail(errc::truncated, size_, "file ends inside the magic");
    if (size_ < 8 || std::memcmp(data_, fmt::container_magic, 8) != 0) return parse();
    auto r = container_reader::open(data_, size_);
    if (r.is_error()) return r.err();
    box_ = std::move(r.value());
    container_ = box_->info;
    // From here data_ is the image (chunk 0 in it so far); the container's
    // bytes stay mapped (or owned) for the chunks still to inflate.
    data_ = box_->image;
    size_ = box_->info.image_bytes;
    auto p = parse();  // checks the header, has box_ keep the table and metadata, then reads them
    if (!p.is_error()) return true;
    const error& e = p.err();
    // An error of the image (not of a chunk): its image offset, and the chunk's in the file.
    if (e.what.rfind("chunk ", 0) == 0) return e;
    return box_->in_image(e);
}

result<snapshot_stats> capture::write_container(const std::function<bool(const void*, size_t)>& sink,
                                                const snapshot_options& opt) const {
    if (size_ > fmt::max_image_size)
        return fail(errc::io, 0,
                    "the ring file has " + std::to_string(size_) + " bytes; a capture container holds at most 8 GiB");
    if (opt.level < 1 || opt.level > LZ4HC_CLEVEL_MAX)
        return fail(errc::io, 0, "compression level " + std::to_string(opt.level) + " is not 1 to 12");
    // A ring file: its image taken as a snapshot does (it may be live). A
    // container: its image as it is (nothing changes it), chunk by chunk.
    std::unique_ptr<anonymous_map> image;
    if (!box_) {
        image = std::make_unique<anonymous_map>(size_);
        if (!image->p) return fail(errc::io, 0, "cannot allocate " + std::to_string(size_) + " bytes for the image");
        alignas(8) unsigned char buf[65536];
        unsigned char* dst = image->p;
        bool taken = fmt::image::take(data_, size_, buf, sizeof buf, [dst](uint64_t off, const unsigned char* p, size_t n) {
            std::memcpy(dst + off, p, n);
            return true;
        });
        if (!taken) return fail(errc::corrupt, 0, "the ring file's header changed while its image was taken");
    }
    // A container's output chunk: the input chunk's pinned bytes when it
    // lies in one that is not a zero chunk, else assembled in `bytes`
    // (zero chunks are never read in the image: a page read is a page
    // allocated, zero or not).
    uint32_t pinned = UINT32_MAX;
    std::vector<unsigned char> bytes;
    auto bytes_at = [&](uint64_t off, uint32_t n) -> const unsigned char* {
        if (image) return image->p + off;
        if (pinned != UINT32_MAX) box_->unpin(pinned);
        pinned = UINT32_MAX;
        const uint32_t first = box_->chunk_of(off), last = box_->chunk_of(off + n - 1);
        if (first == last && box_->chunks[first].packed) {
            const unsigned char* b = box_->pin(first);
            if (!b) return nullptr;
            pinned = first;
            return b + (off - box_->chunk_start(first));
        }
        bytes.assign(n, 0);
        for (uint32_t k = first; k <= last; ++k) {
            if (!box_->chunks[k].packed) continue;
            const unsigned char* b = box_->pin(k);
            if (!b) return nullptr;
            const uint64_t from = std::max(off, box_->chunk_start(k));
            const uint64_t to = std::min<uint64_t>(off + n, box_->chunk_start(k) + box_->chunks[k].raw);
            std::memcpy(bytes.data() + (from - off), b + (from - box_->chunk_start(k)), size_t(to - from));
            box_->unpin(k);
        }
        return bytes.data();
    };

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
    bool ok = fmt::write_container_from(bytes_at, size_, fmt::container_chunk_size, scratch.data(), compress,
                                        [&](const void* p, size_t n) {
                                            if (!sink(p, n)) {
                                                sink_failed = true;
                                                return false;
                                            }
                                            st.container_bytes += n;
                                            return true;
                                        });
    if (box_) {
        if (pinned != UINT32_MAX) box_->unpin(pinned);
        if (box_->failed) return box_->first_error;
    }
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
