// Reading a capture container (decoder-internal; container.cpp): its image
// is never whole in memory. Everything in the container is checked before
// its image is used: the container header, every chunk's header and packed
// bytes (sizes against the chunk, CRC-32C), then chunk 0 (the ring file's
// header is checked before any other chunk is inflated), then every other
// chunk's unpacked bytes, inflated one at a time into scratch. The ring
// file's header, ring table and metadata are then inflated into their place
// in an image-sized anonymous mapping (address space) for parse() to read.
// The rings' chunks are inflated as readers reach them (pin), each into a
// buffer of its own, which goes back to a pool when no reader is in the chunk
// any more (unpin). So the memory a container costs is the chunks in use at
// once, at most 48 MiB + the container's own size (an error past that),
// however far its image would inflate. Zero chunks are never inflated nor
// read in the image: readers take zeros for them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bbx/decoder/capture.hpp"

namespace bbx::dec {

struct capture::container_reader {
    struct chunk_ref {
        uint64_t file_offset = 0;  // of its chunk header
        uint32_t raw = 0, packed = 0;
    };
    const unsigned char* file = nullptr;  // the container's bytes (owned by the capture)
    uint64_t file_size = 0;
    container_info info;
    std::vector<chunk_ref> chunks;
    unsigned char* image = nullptr;  // info.image_bytes of address space: the chunks kept for good are in it
    std::vector<uint32_t> pins;      // per chunk: readers in it; `forever` for the ring file's header, table, metadata
    std::vector<unsigned char*> bytes_of;  // per chunk: where its bytes are while pinned (null: nowhere)
    std::vector<std::unique_ptr<unsigned char[]>> buffers;  // every chunk buffer made
    std::vector<unsigned char*> pool;                        // those free
    uint64_t resident = 0, budget = 0;
    bool failed = false;
    error first_error{errc::io, 0, ""};

    static constexpr uint32_t forever = UINT32_MAX;

    container_reader() = default;
    container_reader(const container_reader&) = delete;
    container_reader& operator=(const container_reader&) = delete;
    ~container_reader();

    // Checks the container header and every chunk's header and packed bytes;
    // maps the image's address space and inflates chunk 0.
    static result<std::unique_ptr<container_reader>> open(const unsigned char* p, uint64_t size);
    // Inflates every other non-zero chunk once, into scratch, checking its CRC.
    result<bool> check_chunks() const;
    // Inflates (if needed) and pins the chunks under image bytes [from, to) for good.
    result<bool> keep(uint64_t from, uint64_t to);

    uint32_t chunk_of(uint64_t image_offset) const { return uint32_t(image_offset / info.chunk_size); }
    uint64_t chunk_start(uint32_t k) const { return uint64_t(k) * info.chunk_size; }
    // Inflates chunk k (not a zero chunk) if it is not pinned, counts a
    // reader in it, and returns its bytes; null if it could not be (the
    // error is first_error).
    const unsigned char* pin(uint32_t k);
    void unpin(uint32_t k);
    // An error inside the image, at image offset `offset`, as the file's: the
    // offset of the chunk that holds it, and the image offset in the text.
    error in_image(const error& e) const;
};

}  // namespace bbx::dec
