// bbx::snapshot (bbx/snapshot.hpp): the running capture's image, taken as a
// reader takes it, packed into a capture container. A cold path: it
// allocates, and it is the only part of the recorder that uses LZ4.
#include "bbx/snapshot.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "bbx/bbx.h"
#include "bbx/capture.hpp"
#include "bbx/crash.hpp"
#include "bbx/image.hpp"

namespace bbx {

namespace {

namespace fmt = ::bbx::format;

bool write_all(int fd, const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
    }
    return true;
}

// An anonymous private mapping: zero pages until written, so the rings no
// thread took cost no memory.
struct image_map {
    unsigned char* p = nullptr;
    uint64_t size = 0;
    explicit image_map(uint64_t n) : size(n) {
        void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) p = static_cast<unsigned char*>(m);
    }
    ~image_map() {
        if (p) munmap(p, size);
    }
    image_map(const image_map&) = delete;
    image_map& operator=(const image_map&) = delete;
};

bool pack(const unsigned char* base, uint64_t size, int fd) {
    image_map img(size);
    if (!img.p) return false;
    alignas(8) unsigned char buf[8192];
    unsigned char* dst = img.p;
    bool taken = fmt::image::take(base, size, buf, sizeof buf, [dst](uint64_t off, const unsigned char* p, size_t n) {
        std::memcpy(dst + off, p, n);
        return true;
    });
    if (!taken) return false;
    std::unique_ptr<unsigned char[]> scratch(new (std::nothrow) unsigned char[fmt::container_scratch_size(fmt::container_chunk_size)]);
    if (!scratch) return false;
    return fmt::write_container(img.p, size, fmt::container_chunk_size, scratch.get(), fmt::lz4_fast,
                                [fd](const void* p, size_t n) { return write_all(fd, p, n); });
}

}  // namespace

bool snapshot(const char* path) {
    if (!path || !*path) return false;
    // The session's mapping, as the crash handler sees it; it stays mapped
    // after stop(), so the last session can be copied too.
    const detail::crash_target t = detail::g_crash_target;
    if (!t.base || t.size == 0) return false;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool ok = pack(t.base, t.size, fd);
    if (close(fd) != 0) ok = false;
    if (!ok) unlink(path);  // ours: O_EXCL made it
    return ok;
}

}  // namespace bbx

// The C API's snapshot (bbx/bbx.h), here so that only a program that takes
// snapshots links LZ4.
extern "C" BBX_API int bbx_snapshot(const char* path) { return bbx::snapshot(path) ? 1 : 0; }
