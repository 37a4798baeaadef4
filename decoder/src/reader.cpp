// Reading a ring file: header and metadata validation, then a streaming,
// time-merged walk over every ring. Every field is checked before it is
// trusted; the file may be hostile, or still being written.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include <lz4.h>

#include "bbx/decoder.hpp"
#include "bbx/capture.hpp"
#include "bbx_meta_generated.h"
#include "container_reader.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

const char* errc_name(errc e) {
    switch (e) {
        case errc::io: return "io";
        case errc::bad_magic: return "bad_magic";
        case errc::unsupported_version: return "unsupported_version";
        case errc::truncated: return "truncated";
        case errc::corrupt: return "corrupt";
    }
    return "unknown";
}

std::string error::message() const { return what + " at offset " + std::to_string(offset); }

double arg::as_f64() const {
    double d;
    std::memcpy(&d, &word, 8);
    return d;
}

namespace {

// Loads from the mapping: another process may be writing it right now.
template <class T>
T load(const void* p) {
    return __atomic_load_n(static_cast<const T*>(p), __ATOMIC_RELAXED);
}
template <class T>
T load_acquire(const void* p) {
    return __atomic_load_n(static_cast<const T*>(p), __ATOMIC_ACQUIRE);
}

// memcpy for bytes a writer may be storing into at the same time (the header
// of a live file): relaxed atomic loads, 8 bytes at a time (src is 8-aligned).
void copy_relaxed(void* dst, const unsigned char* src, size_t n) {
    unsigned char* d = static_cast<unsigned char*>(dst);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint64_t w = __atomic_load_n(reinterpret_cast<const uint64_t*>(src + i), __ATOMIC_RELAXED);
        std::memcpy(d + i, &w, 8);
    }
    for (; i < n; ++i) d[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
}

error fail(errc c, uint64_t off, std::string what) { return error{c, off, std::move(what)}; }

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

bool all_zero(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

std::string cstr(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

// Ticks to ns since anchor 0: llround(double(ticks - anchor) * ns_per_tick),
// saturated at +-9.2e18 (+-292 years) so that a hostile or wild timestamp
// cannot overflow. The rounding is llround's to the bit (half away from
// zero), done inline: every event needs it, and the libm call cost as much
// as the rest of the conversion. trunc(x) is exact for |x| < 2^63, and so is
// x - trunc(x), the fraction (0 once |x| >= 2^52, where every double is an
// integer); both are below 2^53 when the fraction is not 0, so the
// conversions back to double are exact too.
inline int64_t ns_since(uint64_t ticks, uint64_t anchor, double ns_per_tick) {
    const double ns = double(int64_t(ticks - anchor)) * ns_per_tick;
    if (!(ns > -9.2e18)) return -int64_t(9200000000000000000);
    if (!(ns < 9.2e18)) return int64_t(9200000000000000000);
    const int64_t i = int64_t(ns);
    const double frac = ns - double(i);
    return i + int64_t(frac >= 0.5) - int64_t(frac <= -0.5);
}

}  // namespace

capture::~capture() {
    box_.reset();  // (before the bytes it inflates from)
    if (map_) munmap(map_, map_size_);
}

namespace {

// What a file that is not a regular file is, for the error.
const char* file_type(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

}  // namespace

result<std::shared_ptr<capture>> capture::open(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; only a regular
    // file is read, which O_NONBLOCK does not change.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return fail(errc::io, 0, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(errc::io, 0, std::string("cannot stat: ") + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(errc::io, 0, std::string("not a regular file (") + file_type(st.st_mode) + ")");
    }
    std::shared_ptr<capture> c(new capture());
    c->name_ = path;
    c->size_ = uint64_t(st.st_size);
    if (c->size_ > 0) {
        void* m = mmap(nullptr, c->size_, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return fail(errc::io, 0, std::string("cannot map: ") + std::strerror(e));
        }
        c->map_ = m;
        c->map_size_ = c->size_;
        c->data_ = static_cast<const unsigned char*>(m);
    }
    close(fd);
    auto r = c->open_image();  // a capture container is unpacked first
    if (r.is_error()) return r.err();
    return c;
}

namespace {

// Reads until `want` bytes are in buf or the stream ends; false on a read error.
bool read_upto(int fd, std::vector<uint8_t>& buf, uint64_t want) {
    while (buf.size() < want) {
        const size_t step = size_t(std::min<uint64_t>(want - buf.size(), uint64_t(1) << 20));
        const size_t at = buf.size();
        buf.resize(at + step);
        const ssize_t n = ::read(fd, buf.data() + at, step);
        if (n < 0 && errno == EINTR) {
            buf.resize(at);
            continue;
        }
        if (n < 0) {
            buf.resize(at);
            return false;
        }
        buf.resize(at + size_t(n));
        if (n == 0) break;
    }
    return true;
}

}  // namespace

result<std::shared_ptr<capture>> capture::from_fd(int fd, std::string name) {
    // The stream is read in steps, each as far as what was read so far says
    // a capture goes: the magic, the header, then the size it declares (+1
    // byte, to find a stream that runs on). The capture is then read from
    // those bytes as from any others, which names what was wrong.
    std::vector<uint8_t> buf;
    auto failed_read = [&] {
        return error{errc::io, buf.size(), std::string("cannot read: ") + std::strerror(errno)};
    };
    auto bytes = [&] { return from_bytes(buf.data(), buf.size(), name); };
    if (!read_upto(fd, buf, 8)) return failed_read();
    if (buf.size() < 8) return bytes();  // a cut magic, or none
    const bool ring = std::memcmp(buf.data(), fmt::ring_magic, 8) == 0;
    const bool box = std::memcmp(buf.data(), fmt::container_magic, 8) == 0;
    if (!ring && !box) return bytes();  // not a capture: rejected after 8 bytes
    if (ring) {
        if (!read_upto(fd, buf, fmt::header_size)) return failed_read();
        if (buf.size() < fmt::header_size) return bytes();
        // A valid header: read what it declares (parse() checked every field
        // the size comes from, else its error is the answer).
        auto head = bytes();
        if (!head.is_error() || head.err().code != errc::truncated || head.err().offset != buf.size()) return head;
        uint64_t file_size;
        std::memcpy(&file_size, buf.data() + offsetof(fmt::file_header, file_size), 8);
        if (!read_upto(fd, buf, file_size + 1)) return failed_read();
        return bytes();
    }
    // A container: its header, then chunk by chunk, each as large as its
    // header declares (at most LZ4's bound of a chunk, checked before).
    if (!read_upto(fd, buf, fmt::container_header_size)) return failed_read();
    if (buf.size() < fmt::container_header_size) return bytes();
    auto head = bytes();
    if (!head.is_error() || head.err().code != errc::truncated) return head;  // a bad container header
    fmt::container_header h;
    std::memcpy(&h, buf.data(), sizeof h);
    const uint64_t most = uint64_t(LZ4_COMPRESSBOUND(h.chunk_size));
    for (uint32_t k = 0; k < h.chunk_count; ++k) {
        const size_t at = buf.size();
        if (!read_upto(fd, buf, at + fmt::chunk_header_size)) return failed_read();
        if (buf.size() < at + fmt::chunk_header_size) return bytes();
        fmt::chunk_header c;
        std::memcpy(&c, buf.data() + at, sizeof c);
        if (c.packed_size > most) return bytes();  // named by the checks, at this chunk
        if (!read_upto(fd, buf, buf.size() + c.packed_size)) return failed_read();
        if (buf.size() < at + fmt::chunk_header_size + c.packed_size) return bytes();
    }
    if (!read_upto(fd, buf, buf.size() + 1)) return failed_read();
    return bytes();
}

result<std::shared_ptr<capture>> capture::from_bytes(const uint8_t* data, size_t size, std::string name) {
    std::shared_ptr<capture> c(new capture());
    c->name_ = std::move(name);
    c->own_.assign(data, data + size);
    c->data_ = c->own_.data();
    c->size_ = size;
    auto r = c->open_image();  // a capture container is unpacked first
    if (r.is_error()) return r.err();
    return c;
}

const resource* capture::find_resource(uint64_t id) const {
    auto it = resource_index_.find(id);
    return it == resource_index_.end() ? nullptr : &resources_[it->second];
}

const site* capture::find_site(uint32_t id) const {
    if (!site_index_.empty()) return id < site_index_.size() && site_index_[id] ? &sites_[site_index_[id] - 1] : nullptr;
    auto it = sparse_sites_.find(id);
    return it == sparse_sites_.end() ? nullptr : &sites_[it->second];
}

int64_t capture::ticks_to_ns(uint64_t ticks) const { return ns_since(ticks, hdr_.anchors[0].ticks, ns_per_tick_); }

result<bool> capture::parse() {
    const unsigned char* p = data_;
    if (size_ < 8) {
        if (size_ == 0 || std::memcmp(p, fmt::ring_magic, size_) != 0)
            return fail(errc::bad_magic, 0, "not a blackbox file (magic is not \\x89BBX\\r\\n\\x1a\\n)");
        return fail(errc::truncated, size_, "file ends inside the magic");
    }
    if (std::memcmp(p, fmt::ring_magic, 8) != 0)
        return fail(errc::bad_magic, 0, "not a blackbox file (magic is not \\x89BBX\\r\\n\\x1a\\n)");
    if (size_ < 12) return fail(errc::truncated, size_, "file ends inside the version");
    fmt::file_header h;
    copy_relaxed(&h, p, size_t(std::min<uint64_t>(size_, sizeof h)));
    if (h.version_major != fmt::version_major && h.version_major != fmt::v2::version_major)
        return fail(errc::unsupported_version, 8,
                    "version_major is " + std::to_string(h.version_major) + ", this decoder reads 1 and 2");
    // The 1.x minor whose parts the file has (2.0 has every part of 1.4).
    const uint16_t fm = fmt::feature_minor(h.version_major, h.version_minor);
    v2_ = h.version_major == fmt::v2::version_major;
    live_ = map_ && !box_;
    if (size_ < fmt::header_size)
        return fail(errc::truncated, size_, "file ends inside the 4096-byte header");
    // Fields that writers update concurrently.
    h.rings_used = load<uint32_t>(p + offsetof(fmt::file_header, rings_used));
    h.meta_used = load_acquire<uint64_t>(p + offsetof(fmt::file_header, meta_used));
    h.flags = load<uint32_t>(p + offsetof(fmt::file_header, flags));

    auto corrupt = [](size_t off, const std::string& what) { return fail(errc::corrupt, off, what); };
#define BBX_FIELD(f) offsetof(fmt::file_header, f)
    if (h.header_size != fmt::header_size)
        return corrupt(BBX_FIELD(header_size), "header_size is " + std::to_string(h.header_size) + ", must be 4096");
    if (!v2_ && h.slot_size != fmt::slot_size)
        return corrupt(BBX_FIELD(slot_size), "slot_size is " + std::to_string(h.slot_size) + ", must be 32");
    if (v2_ && h.slot_size != fmt::v2::slot_size)
        return corrupt(BBX_FIELD(slot_size), "slot_size is " + std::to_string(h.slot_size) + ", must be 16 in format 2");
    if (h.ring_size < fmt::min_ring_size || h.ring_size > fmt::max_ring_size || (h.ring_size & (h.ring_size - 1)))
        return corrupt(BBX_FIELD(ring_size),
                       "ring_size is " + std::to_string(h.ring_size) + ", must be a power of two from 4096 to 2^30");
    if (h.ring_count == 0 || h.ring_count > fmt::max_ring_count)
        return corrupt(BBX_FIELD(ring_count), "ring_count is " + std::to_string(h.ring_count) + ", must be 1 to 4096");
    if (h.meta_capacity == 0 || h.meta_capacity > fmt::max_meta_capacity || h.meta_capacity % 4096)
        return corrupt(BBX_FIELD(meta_capacity), "meta_capacity is " + std::to_string(h.meta_capacity) +
                                                     ", must be a multiple of 4096 up to 64 MiB");
    if (fm >= fmt::minor_identities && h.task_entries > fmt::max_task_entries)
        return corrupt(BBX_FIELD(task_entries), "task_entries is " + std::to_string(h.task_entries) + ", at most " +
                                                    std::to_string(fmt::max_task_entries));
    fmt::layout l = fmt::compute_layout(h.ring_size, h.ring_count, h.meta_capacity, fm,
                                        fm >= fmt::minor_identities ? h.task_entries : 0);
    // 1.4: the stall-sample area, after the identity region (stall.cpp checks its fields).
    if (auto r = check_stall_header(h, l.file_size); r.is_error()) return r;
    l.file_size += h.stall_size;
    if (h.ring_table_offset != l.ring_table_offset)
        return corrupt(BBX_FIELD(ring_table_offset), "ring_table_offset is " + std::to_string(h.ring_table_offset) +
                                                         ", the layout gives " + std::to_string(l.ring_table_offset));
    if (h.meta_offset != l.meta_offset)
        return corrupt(BBX_FIELD(meta_offset), "meta_offset is " + std::to_string(h.meta_offset) + ", the layout gives " +
                                                   std::to_string(l.meta_offset));
    if (h.rings_offset != l.rings_offset)
        return corrupt(BBX_FIELD(rings_offset), "rings_offset is " + std::to_string(h.rings_offset) +
                                                    ", the layout gives " + std::to_string(l.rings_offset));
    if (h.file_size != l.file_size)
        return corrupt(BBX_FIELD(file_size),
                       "file_size is " + std::to_string(h.file_size) + ", the layout gives " + std::to_string(l.file_size));
    if (size_ < h.file_size)
        return fail(errc::truncated, size_,
                    "file has " + std::to_string(size_) + " bytes but its header promises " + std::to_string(h.file_size));
    if (size_ > h.file_size)
        return corrupt(h.file_size, "file has " + std::to_string(size_ - h.file_size) + " bytes past its declared end");
    if (h.flags & ~fmt::header_flags_known)
        return corrupt(BBX_FIELD(flags), "flags has reserved bits set (0x" + [&] {
            char b[16];
            std::snprintf(b, sizeof b, "%x", h.flags & ~fmt::header_flags_known);
            return std::string(b);
        }() + ")");
    if (h.rings_used > h.ring_count)
        return corrupt(BBX_FIELD(rings_used), "rings_used is " + std::to_string(h.rings_used) + ", above ring_count " +
                                                  std::to_string(h.ring_count));
    if (h.meta_used > h.meta_capacity || h.meta_used % 8)
        return corrupt(BBX_FIELD(meta_used), "meta_used is " + std::to_string(h.meta_used) +
                                                 ", must be a multiple of 8 up to meta_capacity");
    if (h.level > fmt::level_max)
        return corrupt(BBX_FIELD(level), "level is " + std::to_string(h.level) + ", must be 0 to 5");
    if (fm < fmt::minor_owners && h.owner_table_offset)  // reserved bytes before 1.3
        return corrupt(BBX_FIELD(owner_table_offset), "reserved header bytes are not zero");
    if (fm < fmt::minor_identities) {  // reserved bytes before 1.4
        if (h.identity_offset) return corrupt(BBX_FIELD(identity_offset), "reserved header bytes are not zero");
        if (h.task_entries) return corrupt(BBX_FIELD(task_entries), "reserved header bytes are not zero");
        if (h.tasks_untracked) return corrupt(BBX_FIELD(tasks_untracked), "reserved header bytes are not zero");
        if (h.contexts_untracked) return corrupt(BBX_FIELD(contexts_untracked), "reserved header bytes are not zero");
    } else if (h.identity_offset != l.identity_offset) {
        return corrupt(BBX_FIELD(identity_offset), "identity_offset is " + std::to_string(h.identity_offset) +
                                                       ", the layout gives " + std::to_string(l.identity_offset));
    }
    if (fm >= fmt::minor_owners && h.owner_table_offset != l.owner_table_offset)
        return corrupt(BBX_FIELD(owner_table_offset), "owner_table_offset is " + std::to_string(h.owner_table_offset) +
                                                          ", the layout gives " + std::to_string(l.owner_table_offset));
    if (h.reserved0 || !all_zero(h.reserved1, sizeof h.reserved1))
        return corrupt(h.reserved0 ? BBX_FIELD(reserved0) : BBX_FIELD(reserved1), "reserved header bytes are not zero");
    if (!all_zero(h.reserved2, sizeof h.reserved2)) return corrupt(BBX_FIELD(reserved2), "reserved header bytes are not zero");

    // Clock fields, under the writer's seqlock.
    // An odd count that never settles: the writer died while writing anchor 1,
    // so only anchor 0 and tick_hz (complete before the magic) are trusted.
    bool anchor1_torn = true;
    for (int attempt = 0; attempt < 1000 && anchor1_torn; ++attempt) {
        uint32_t s1 = load_acquire<uint32_t>(p + BBX_FIELD(calib_seq));
        copy_relaxed(&h.anchors, p + BBX_FIELD(anchors), sizeof h.anchors);
        h.anchor_count = load<uint32_t>(p + BBX_FIELD(anchor_count));
        std::atomic_thread_fence(std::memory_order_acquire);
        uint32_t s2 = load<uint32_t>(p + BBX_FIELD(calib_seq));
        anchor1_torn = s1 != s2 || (s1 & 1);
    }
    if (h.anchor_count < 1 || h.anchor_count > 2)
        return corrupt(BBX_FIELD(anchor_count), "anchor_count is " + std::to_string(h.anchor_count) + ", must be 1 or 2");
    if (!std::isfinite(h.tick_hz) || h.tick_hz < 1e3 || h.tick_hz > 1e12)
        return corrupt(BBX_FIELD(tick_hz), "tick_hz is not a plausible rate (1 kHz to 1 THz)");
#undef BBX_FIELD

    hdr_.version_major = h.version_major;
    hdr_.version_minor = h.version_minor;
    hdr_.file_size = h.file_size;
    hdr_.ring_size = h.ring_size;
    hdr_.ring_count = h.ring_count;
    hdr_.rings_used = h.rings_used;
    hdr_.pid = h.pid;
    hdr_.flags = h.flags;
    hdr_.level = h.level;
    hdr_.threads_dropped = load<uint32_t>(p + offsetof(fmt::file_header, threads_dropped));
    hdr_.sites_dropped = load<uint32_t>(p + offsetof(fmt::file_header, sites_dropped));
    hdr_.events_dropped = load<uint64_t>(p + offsetof(fmt::file_header, events_dropped));
    hdr_.meta_used = h.meta_used;
    hdr_.meta_capacity = h.meta_capacity;
    if (fm >= fmt::minor_identities) {
        hdr_.identity_offset = h.identity_offset;
        hdr_.identity_size = l.identity_size;
        hdr_.task_entries = h.task_entries;
        hdr_.tasks_untracked = load<uint32_t>(p + offsetof(fmt::file_header, tasks_untracked));
        hdr_.contexts_untracked = load<uint32_t>(p + offsetof(fmt::file_header, contexts_untracked));
    }
    std::memcpy(hdr_.anchors, h.anchors, sizeof h.anchors);
    hdr_.anchor_count = h.anchor_count;
    hdr_.tick_hz = h.tick_hz;
    hdr_.process_name = cstr(h.process_name, sizeof h.process_name);
    std::memcpy(hdr_.boot_id, h.boot_id, sizeof hdr_.boot_id);
    hdr_.exe_path = cstr(h.exe_path, sizeof h.exe_path);
    hdr_.fit_hz = h.tick_hz;
    if (h.anchor_count == 2 && !anchor1_torn) {
        const auto& a = h.anchors[0];
        const auto& b = h.anchors[1];
        if (b.monotonic_ns > a.monotonic_ns + 100000000 && b.ticks > a.ticks) {
            double hz = double(b.ticks - a.ticks) * 1e9 / double(b.monotonic_ns - a.monotonic_ns);
            // Trust the fit only near the measured rate: a wild anchor is ignored.
            if (std::fabs(hz / h.tick_hz - 1) < 0.01) hdr_.fit_hz = hz;
        }
    }
    ns_per_tick_ = 1e9 / hdr_.fit_hz;

    // A container's image: the header (chunk 0) is good; now every other
    // chunk's unpacked bytes are checked, and the ring table and metadata
    // inflated to be read.
    if (box_) {
        if (auto r = box_->check_chunks(); r.is_error()) return r;
        const uint64_t table_end = h.ring_table_offset + uint64_t(h.rings_used) * fmt::ring_descriptor_size;
        if (auto r = box_->keep(0, std::max(table_end, h.meta_offset + h.meta_used)); r.is_error()) return r;
        if (h.stall_offset)
            if (auto r = box_->keep(h.stall_offset, h.stall_offset + h.stall_size); r.is_error()) return r;
        if (fm >= fmt::minor_owners)
            if (auto r = box_->keep(h.owner_table_offset, h.owner_table_offset + uint64_t(h.rings_used) *
                                                                                  fmt::owner_entries_per_ring *
                                                                                  fmt::owner_entry_size);
                r.is_error())
                return r;
        if (fm >= fmt::minor_identities)
            if (auto r = box_->keep(h.identity_offset, h.identity_offset + uint64_t(h.task_entries) * fmt::task_entry_size +
                                                           uint64_t(h.rings_used) * fmt::context_entries_per_ring *
                                                               fmt::context_entry_size);
                r.is_error())
                return r;
    }

    // Metadata records.
    std::unordered_map<uint32_t, size_t> by_id;
    std::vector<std::string> thread_names(h.ring_count);
    uint64_t off = 0;
    const uint64_t base = h.meta_offset;
    while (off + sizeof(fmt::meta_record_header) <= h.meta_used) {
        const unsigned char* rp = p + base + off;
        uint32_t commit = load_acquire<uint32_t>(rp + 4);
        if (commit != fmt::meta_commit) break;  // a record still being written ends the walk
        uint32_t rsize = load<uint32_t>(rp);
        uint64_t rec_off = base + off;
        if (rsize == 0 || off + 8 + fmt::align8(rsize) > h.meta_used)
            return corrupt(rec_off, "metadata record size " + std::to_string(rsize) + " runs past meta_used");
        const uint8_t* fb_data = rp + 8;
        flatbuffers::Verifier::Options opts;
        opts.max_depth = 8;
        opts.max_tables = 1024;
        flatbuffers::Verifier v(fb_data, rsize, opts);
        if (!fb::VerifyRecordBuffer(v)) return corrupt(rec_off + 8, "metadata record fails FlatBuffers verification");
        const fb::Record* rec = fb::GetRecord(fb_data);
        if (auto* cs = rec->body_as_CallSite()) {
            site s;
            s.id = cs->id();
            if (s.id == 0) return corrupt(rec_off + 8, "call site id is 0");
            if (by_id.count(s.id)) return corrupt(rec_off + 8, "call site id " + std::to_string(s.id) + " appears twice");
            if (uint8_t(cs->kind()) > uint8_t(fmt::site_kind::await)) {
                // A kind from a later minor version: skip the site; its events count as bad_site.
                by_id[s.id] = ~size_t{0};
                off += 8 + fmt::align8(rsize);
                continue;
            }
            s.kind = fmt::site_kind(cs->kind());
            s.level = cs->level();
            if (s.level < fmt::level_min || s.level > fmt::level_max)
                return corrupt(rec_off + 8, "call site " + std::to_string(s.id) + " has level " + std::to_string(s.level));
            s.category = str(cs->category());
            s.name = str(cs->name());
            s.file = str(cs->file());
            s.function = str(cs->function());
            s.line = cs->line();
            if (auto* args = cs->args()) {
                if (args->size() > fmt::max_args)
                    return corrupt(rec_off + 8, "call site " + std::to_string(s.id) + " has " +
                                                    std::to_string(args->size()) + " arguments, at most 16");
                for (const fb::Arg* a : *args) {
                    if (!a) return corrupt(rec_off + 8, "call site argument is null");
                    auto t = uint8_t(a->type());
                    if (t < 1 || t > uint8_t(fmt::arg_type::string))
                        return corrupt(rec_off + 8, "call site " + std::to_string(s.id) + " has argument type " +
                                                        std::to_string(t));
                    s.args.push_back({str(a->name()), fmt::arg_type(t)});
                }
            }
            if (s.kind == fmt::site_kind::counter &&
                (s.args.size() != 1 || (s.args[0].type != fmt::arg_type::i64 && s.args[0].type != fmt::arg_type::f64)))
                return corrupt(rec_off + 8, "counter site " + std::to_string(s.id) + " must have one I64 or F64 value");
            by_id[s.id] = sites_.size();
            sites_.push_back(std::move(s));
        } else if (auto* res = rec->body_as_Resource()) {
            if (res->id() == 0) return corrupt(rec_off + 8, "resource id is 0");
            if (resource_index_.count(res->id()))
                return corrupt(rec_off + 8, "resource id " + std::to_string(res->id()) + " appears twice");
            // A kind from a later minor version reads as Other (3).
            uint8_t rk = uint8_t(res->kind()) > 3 ? 3 : uint8_t(res->kind());
            resource_index_[res->id()] = resources_.size();
            resources_.push_back({res->id(), rk, str(res->name()), res->capacity()});
        } else if (auto* t = rec->body_as_Thread(); t && fm < fmt::minor_owners) {
            // (1.3 writers name threads in the owner table; a Thread record there is ignored.)
            if (t->ring() >= h.ring_count)
                return corrupt(rec_off + 8, "thread record names ring " + std::to_string(t->ring()) + " of " +
                                                std::to_string(h.ring_count));
            thread_names[t->ring()] = str(t->name());
        }  // A body this version does not know (a later minor may add one) is skipped.
        off += 8 + fmt::align8(rsize);
    }
    // id -> site: a dense table when ids are dense (the writer hands them out
    // from 1 upward), else a hash map, so a hostile id never sizes a table.
    uint32_t max_id = 0;
    for (auto& s : sites_) max_id = std::max(max_id, s.id);
    if (max_id <= 16 * sites_.size() + 1024) {
        site_index_.assign(size_t(max_id) + 1, 0);
        for (size_t i = 0; i < sites_.size(); ++i) site_index_[sites_[i].id] = uint32_t(i + 1);
    } else {
        for (size_t i = 0; i < sites_.size(); ++i) sparse_sites_[sites_[i].id] = uint32_t(i);
    }

    // Ring descriptors.
    std::vector<thread_info> rings;
    for (uint32_t i = 0; i < h.rings_used; ++i) {
        const unsigned char* d = p + h.ring_table_offset + uint64_t(i) * fmt::ring_descriptor_size;
        thread_info t;
        t.ring = i;
        t.write_pos = load_acquire<uint64_t>(d + offsetof(fmt::ring_descriptor, write_pos));
        t.events_written = load<uint64_t>(d + offsetof(fmt::ring_descriptor, events_written));
        t.events_dropped = load<uint64_t>(d + offsetof(fmt::ring_descriptor, events_dropped));
        t.first_drop_ticks = load<uint64_t>(d + offsetof(fmt::ring_descriptor, first_drop_ticks));
        t.last_drop_ticks = load<uint64_t>(d + offsetof(fmt::ring_descriptor, last_drop_ticks));
        t.tid = load<uint32_t>(d + offsetof(fmt::ring_descriptor, tid));
        uint32_t state = load<uint32_t>(d + offsetof(fmt::ring_descriptor, state));
        if (state > fmt::ring_released)
            return corrupt(h.ring_table_offset + uint64_t(i) * fmt::ring_descriptor_size +
                               offsetof(fmt::ring_descriptor, state),
                           "ring " + std::to_string(i) + " state is " + std::to_string(state) + ", must be 0 to 2");
        t.state = fmt::ring_state(state);
        if (t.write_pos >= (uint64_t{1} << 60))  // 36 years at 10^9 events/s: no writer gets there
            return corrupt(h.ring_table_offset + uint64_t(i) * fmt::ring_descriptor_size,
                           "ring " + std::to_string(i) + " write_pos is " + std::to_string(t.write_pos) + ", beyond 2^60");
        t.name = thread_names[i];
        if (fm >= fmt::minor_owners)
            t.generation = load_acquire<uint32_t>(d + offsetof(fmt::ring_descriptor, generation));
        rings.push_back(std::move(t));
    }
    rings_offset_ = h.rings_offset;
    if (fm < fmt::minor_owners) {
        threads_ = std::move(rings);  // one owner per ring
    } else {
        owner_table_offset_ = h.owner_table_offset;
        if (auto r = find_owners(rings); r.is_error()) return r;
        if (fm >= fmt::minor_identities) read_identities();
    }
    return parse_stall(h);  // stall.cpp
}

const task_identity* capture::find_task_identity(uint64_t id) const {
    auto it = std::lower_bound(task_ids_.begin(), task_ids_.end(), id,
                               [](const task_identity& t, uint64_t v) { return t.id < v; });
    return it != task_ids_.end() && it->id == id ? &*it : nullptr;
}

// 1.4: the identity region (spec/identities.md, "Reader"). Every entry is
// copied under its sequence word; one being written is ignored (torn), one
// that breaks the spec is ignored and counted (bad), never an error: the
// events stay readable without it. Memory: one entry per entry in the file.
void capture::read_identities() {
    ident_.present = true;
    auto bad = [&](const char* what, uint32_t i, uint64_t off, const std::string& why) {
        if (ident_.bad++ == 0)
            ident_.first_bad = std::string(what) + " " + std::to_string(i) + " at offset " + std::to_string(off) + ": " + why;
    };
    // An entry's copy under its sequence word: false if it was being written.
    auto copy_entry = [&](void* to, uint64_t off, size_t n) {
        for (int attempt = 0; attempt < 100; ++attempt) {
            const uint32_t s1 = load_acquire<uint32_t>(data_ + off);
            copy_relaxed(to, data_ + off, n);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (s1 == load<uint32_t>(data_ + off) && !(s1 & 1)) return true;
        }
        return false;
    };
    for (uint32_t i = 0; i < hdr_.task_entries; ++i) {
        const uint64_t off = hdr_.identity_offset + uint64_t(i) * fmt::task_entry_size;
        fmt::task_entry e;
        if (!copy_entry(&e, off, sizeof e)) {
            ++ident_.torn;
            continue;
        }
        if (e.state == fmt::task_empty) continue;
        if (e.state > fmt::task_completed) {
            bad("task entry", i, off + offsetof(fmt::task_entry, state), "state is " + std::to_string(e.state) + ", must be 0 to 2");
            continue;
        }
        if (e.id == 0) {
            bad("task entry", i, off + offsetof(fmt::task_entry, id), "task id is 0");
            continue;
        }
        // A site with no metadata is kept unnamed, not counted as damage: in a
        // live file the spawn may have registered its site after this reader
        // read the metadata (seen under ASan: every entry of a fresh table).
        const site* where = e.site ? find_site(e.site) : nullptr;
        if (where && where->kind != fmt::site_kind::task) {
            bad("task entry", i, off + offsetof(fmt::task_entry, site), "site " + std::to_string(e.site) + " is not a task site");
            continue;
        }
        if (e.spawn_ring != UINT32_MAX && e.spawn_ring >= hdr_.ring_count) {
            bad("task entry", i, off + offsetof(fmt::task_entry, spawn_ring),
                "spawn_ring is " + std::to_string(e.spawn_ring) + " of " + std::to_string(hdr_.ring_count) + " rings");
            continue;
        }
        const bool completed = e.state == fmt::task_completed;
        ++(completed ? ident_.tasks_completed : ident_.tasks_live);
        if (task_ids_.empty()) task_ids_.reserve(hdr_.task_entries - i);
        task_ids_.push_back({e.id, e.parent, e.frame_bytes, e.spawn_ticks, where, e.spawn_ring, completed});
    }
    // By id; an id in two entries (spawned twice): the later spawn.
    std::sort(task_ids_.begin(), task_ids_.end(), [](const task_identity& a, const task_identity& b) {
        return a.id != b.id ? a.id < b.id : a.spawn_ticks > b.spawn_ticks;
    });
    task_ids_.erase(std::unique(task_ids_.begin(), task_ids_.end(),
                                [](const task_identity& a, const task_identity& b) { return a.id == b.id; }),
                    task_ids_.end());
    task_ids_.shrink_to_fit();
    // Open span contexts: the entries of each used ring whose generation is
    // one of its owners the capture knows (others: an owner with nothing left).
    contexts_.assign(threads_.size(), {});
    const uint64_t base = hdr_.identity_offset + uint64_t(hdr_.task_entries) * fmt::task_entry_size;
    for (uint32_t r = 0; r < owners_.size(); ++r) {
        for (uint32_t k = 0; k < fmt::context_entries_per_ring; ++k) {
            const uint64_t off = base + (uint64_t(r) * fmt::context_entries_per_ring + k) * fmt::context_entry_size;
            fmt::context_entry e;
            if (!copy_entry(&e, off, sizeof e)) {
                ++ident_.torn;
                continue;
            }
            if (e.generation == 0) continue;
            const uint8_t role = uint8_t(e.role_flags);
            if ((e.trace_hi | e.trace_lo) == 0 || e.span_id == 0 || role < 1 || role > 5) {
                bad("context entry", r * fmt::context_entries_per_ring + k, off,
                    "not a span identity (trace id 0, span id 0, or role outside 1 to 5)");
                continue;
            }
            const owner_ref* o = nullptr;
            for (const owner_ref& x : owners_[r])
                if (x.generation == e.generation) o = &x;
            if (!o) continue;
            open_context c;
            c.ticks = e.ticks;
            c.depth = k;
            c.identity = span_identity{e.trace_hi, e.trace_lo, e.span_id, e.parent_span_id, role, uint8_t(e.role_flags >> 8), 0};
            contexts_[o->thread].push_back(c);
            ++ident_.contexts_open;
        }
    }
}

// What every cursor of one walk shares: the call sites by id, and the clock.
struct walk_context {
    const capture* cap;
    const site* const* dense = nullptr;  // id -> site, when the ids are dense (else cap->find_site)
    size_t ndense = 0;
    uint64_t anchor_ticks = 0;
    double ns_per_tick = 1;

    const site* find_site(uint32_t id) const {
        if (dense) return id < ndense ? dense[id] : nullptr;
        return cap->find_site(id);
    }
};

// 1.3: who owns the events of a ring that changes hands (spec/ring-buffer.md,
// "Rings change hands"). Attribution is by owner events, never by guess:
// events before the first owner event read belong to the generation before
// it (or, with none, to the descriptor's generation as the walk began);
// after an owner event, to its generation. Where an owner event may have
// been lost (a head slot that could not be read while later owners exist,
// or a damaged owner event), the events up to the next good owner event are
// not attributed: counted as unattributed.
struct owner_track {
    std::vector<owner_ref>* list = nullptr;  // the ring's owners by generation (the scan adds to it)
    bool scan = false;              // find_owners' walk: a generation not in list is added
    uint32_t final_gen = 0;         // the descriptor's generation as the walk began
    uint32_t cur = 0;               // the generation the next events belong to
    uint32_t last_seen = 0;         // the latest owner event's generation (0: none yet)
    bool uncertain = false;         // no owner proven for the next events
    bool pending = false;           // the scan: cur's owner is added with its first event
    uint64_t uncertain_until = 0;   // nor for any event before this position
    ring_stats* by_thread = nullptr;  // the pass's stats, by thread index
    ring_stats* ring_st = nullptr;    // the ring's latest owner's: owner events, unattributed
    // The scan: what each owner event said, by list index (tid, name).
    std::vector<std::pair<uint32_t, std::string>> said;
    std::vector<bool> has_said;

    // The thread of generation g (UINT32_MAX: none known). The scan adds it.
    uint32_t thread_of(uint32_t g) {
        for (size_t i = list->size(); i-- > 0;)
            if ((*list)[i].generation == g) return (*list)[i].thread;
        if (!scan) return UINT32_MAX;
        const uint32_t t = uint32_t(list->size());
        list->push_back({g, t});
        said.emplace_back(0, std::string());
        has_said.push_back(false);
        return t;
    }
};

// What the cursors of both slot formats share: the window of slots they
// read (in place, or a container's chunk), the pass's counts, owner
// tracking, and the decoding of an event into the 1.x `event` from its
// kind, site, full ticks, head word and payload (the continuation bytes).
template <uint32_t SlotSize>
struct cursor_base {
    static constexpr uint32_t slot_bytes = SlotSize;
    const walk_context* ctx;
    const unsigned char* slots;
    uint64_t mask, pos, end;  // mask: slots - 1 (a ring holds a power of two of them)
    ring_stats* st;
    event ev;
    unsigned char payload[fmt::max_event_slots * fmt::continuation_payload];
    crash_info crash;
    // The slots that may be read: [win_lo, win_lo + win_n), slot i at
    // win_base + (i - win_lo) * slot_bytes. A ring file: all of them, in place. A
    // container: those of the chunk the cursor is in, pinned (inflated) while
    // it reads them; a zero chunk's slots, a page at a time, from a page of
    // zeros (an image page read is a page allocated, zero or not).
    capture::container_reader* box = nullptr;
    uint64_t ring_offset = 0;  // of slot 0 in the image
    uint64_t win_lo = 0, win_n = UINT64_MAX;
    const unsigned char* win_base = nullptr;
    uint32_t pinned = UINT32_MAX;
    owner_track* own = nullptr;  // 1.3 rings; null: one owner (before 1.3)
    // The ring's descriptor, and whether a writer may still change the ring
    // (a mapped file): the 2.0 cursor re-reads write_pos (its lap checks).
    const unsigned char* desc = nullptr;
    bool live = false;

    [[gnu::always_inline]] const unsigned char* slot_at(uint64_t at) {
        const uint64_t i = at & mask;
        if (i - win_lo >= win_n) [[unlikely]] return enter_chunk(i);
        return win_base + (i - win_lo) * slot_bytes;
    }

    // The cursor moves into another chunk of a container: it is inflated and
    // pinned before the last one is let go. If it cannot be, the slot reads
    // as zero (torn) and the pass reports the container's error.
    [[gnu::noinline, gnu::cold]] const unsigned char* enter_chunk(uint64_t i) {
        alignas(8) static const unsigned char zero_page[4096] = {};
        const uint64_t off = ring_offset + i * slot_bytes;
        const uint32_t k = box->chunk_of(off);
        const unsigned char* bytes = box->chunks[k].packed ? box->pin(k) : nullptr;
        if (!bytes) {
            // A zero chunk (or one that could not be inflated): zeros, a page of slots at a time.
            leave_chunk();
            win_lo = i & ~uint64_t(4096 / slot_bytes - 1);
            win_n = std::min<uint64_t>(4096 / slot_bytes, mask + 1 - win_lo);
            win_base = zero_page;
            return zero_page + (i - win_lo) * slot_bytes;
        }
        leave_chunk();
        pinned = k;
        const uint64_t ring_end = ring_offset + (mask + 1) * slot_bytes;
        const uint64_t lo = std::max(box->chunk_start(k), ring_offset);
        const uint64_t hi = std::min(box->chunk_start(k) + box->info.chunk_size, ring_end);
        win_lo = (lo - ring_offset) / slot_bytes;
        win_n = (hi - lo) / slot_bytes;
        win_base = bytes + (lo - box->chunk_start(k));
        return win_base + (i - win_lo) * slot_bytes;
    }
    void leave_chunk() {
        if (pinned != UINT32_MAX) box->unpin(pinned);
        pinned = UINT32_MAX;
    }

    // One count per damaged event (or lone slot): torn, or overwritten while read.
    [[gnu::noinline, gnu::cold]] void count_failed(bool newer) { ++(newer ? st->overwritten_in_read : st->torn); }
    [[gnu::noinline, gnu::cold]] void count(uint64_t ring_stats::*field) { ++(st->*field); }
    // A payload shorter than its head needs: malformed, unless (2.0) the
    // slot after the head could not be read, so that the event's length is
    // unknown: that slot is counted (torn) when the walk reaches it.
    bool cut = false;
    [[gnu::noinline, gnu::cold]] void count_short() {
        if (!cut) ++st->malformed;
    }

    // Whether an owner event's generation can follow the owners read so far.
    bool owner_generation_ok(uint64_t g) const {
        return g != 0 && g <= uint64_t(own->final_gen) + 1 && g > own->last_seen && g >= own->cur;
    }
    // A good owner event: the next events are its generation's (the scan
    // keeps the tid and name it said).
    void accept_owner(uint64_t generation, uint32_t tid, const unsigned char* name, size_t len) {
        ++own->ring_st->owner_events;
        own->last_seen = uint32_t(generation);
        own->cur = uint32_t(generation);
        resolve();
        if (own->scan && !own->uncertain) {
            own->said[ev.thread] = {tid, std::string(reinterpret_cast<const char*>(name), len)};
            own->has_said[ev.thread] = true;
        }
    }

    // A slot that could not be read may have held an owner event: only the
    // ring's latest generation can have none after it.
    [[gnu::noinline, gnu::cold]] void may_lose_owner() {
        if (own->cur < own->final_gen) own->uncertain = true;
    }

    // The next events are generation g's: its thread (none known: uncertain).
    // The scan adds a generation known only from an owner event ahead when
    // an event of it is read.
    void bind(uint32_t g) {
        own->cur = g;
        own->uncertain = false;
        own->pending = own->scan;
        if (!own->scan) resolve();
    }
    void resolve() {
        own->pending = false;
        const uint32_t t = own->thread_of(own->cur);
        own->uncertain = t == UINT32_MAX;
        if (own->uncertain) return;
        ev.thread = t;
        if (own->by_thread) st = &own->by_thread[t];
    }

    [[gnu::noinline]] bool decode_crash(uint64_t signo, uint32_t plen) {
        if (signo > 128) {
            st->malformed++;
            return false;
        }
        if (plen < fmt::crash_fixed_words * 8) {
            count_short();
            return false;
        }
        uint64_t w[fmt::crash_fixed_words];
        std::memcpy(w, payload, sizeof w);
        if (w[4] > fmt::max_crash_frames) {
            st->malformed++;
            return false;
        }
        if ((fmt::crash_fixed_words + w[4]) * 8 > plen) {
            count_short();
            return false;
        }
        crash.signo = int32_t(signo);
        crash.code = int32_t(int64_t(w[0]));
        crash.addr = w[1];
        crash.pc = w[2];
        crash.exe_base = w[3];
        crash.nframes = uint32_t(w[4]);
        std::memcpy(crash.frames, payload + fmt::crash_fixed_words * 8, crash.nframes * 8);
        ev.crash = &crash;
        return true;
    }

    [[gnu::noinline]] bool decode_span_context(uint64_t word0, uint32_t plen) {
        if (word0 == 0) {
            st->malformed++;
            return false;
        }
        if (plen < 32) {
            count_short();
            return false;
        }
        uint64_t w[4];
        std::memcpy(w, payload, sizeof w);
        if ((w[0] | w[1]) == 0 || (w[3] & 0xff) < 1 || (w[3] & 0xff) > 5) {
            st->malformed++;
            return false;
        }
        ev.context.trace_hi = w[0];
        ev.context.trace_lo = w[1];
        ev.context.span_id = word0;
        ev.context.parent_span_id = w[2];
        ev.context.role = uint8_t(w[3]);
        ev.context.flags = uint8_t(w[3] >> 8);
        ev.context.unused = w[3] >> 16;
        return true;
    }

    [[gnu::noinline]] bool decode_thread_name(uint64_t word0, uint32_t plen) {
        if (word0 >= fmt::max_thread_name) {
            st->malformed++;
            return false;
        }
        if (word0 > plen) {
            count_short();
            return false;
        }
        ev.thread_name = std::string_view(reinterpret_cast<const char*>(payload), size_t(word0));
        return true;
    }

    // A task event's site (spawn, poll_end, wait_begin may name one).
    [[gnu::noinline]] bool task_site(fmt::kind k, uint32_t site_id) {
        bool may_have_site = k == fmt::kind::task_spawn || k == fmt::kind::task_poll_end || k == fmt::kind::wait_begin;
        if (!may_have_site) {
            st->malformed++;
            return false;
        }
        const site* s = ctx->find_site(site_id);
        if (!s) {
            st->bad_site++;
            return false;
        }
        fmt::site_kind want = k == fmt::kind::task_spawn ? fmt::site_kind::task : fmt::site_kind::await;
        if (s->kind != want) {
            st->malformed++;
            return false;
        }
        ev.where = s;
        return true;
    }

    // The named fields of each task kind are the payload's two words (w1, w2).
    [[gnu::always_inline]] bool decode_task(fmt::kind k, uint32_t site_id, uint64_t word0, uint32_t plen) {
        ev.task = word0;
        uint64_t w[2] = {0, 0};
        if (fmt::task_kind_has_words(k)) {
            if (plen < 16) [[unlikely]] {
                count_short();
                return false;
            }
            std::memcpy(w, payload, 16);
        }
        if (k == fmt::kind::task_spawn) ev.spawn = {w[0], w[1]};
        else if (k == fmt::kind::task_wake) ev.wake = {w[0]};
        else ev.res = {w[0], w[1]};  // waits and resource_op (zero for the kinds without words)
        return site_id == 0 || task_site(k, site_id);
    }

    // The arguments of an instant, span begin or counter of site s.
    [[gnu::always_inline]] bool decode_args(const site* s, uint64_t word0, uint32_t plen) {
        const arg_decl* decl = s->args.data();
        const uint32_t n = uint32_t(s->args.size());
        if (n == 0) return true;
        uint64_t words_bytes = uint64_t(n - 1) * 8;
        if (words_bytes > plen) [[unlikely]] {
            count_short();
            return false;
        }
        uint32_t str_off = uint32_t(words_bytes);
        for (uint32_t i = 0; i < n; ++i) {
            arg& a = ev.args[i];
            a.decl = &decl[i];
            if (i == 0) a.word = word0;
            else std::memcpy(&a.word, payload + (i - 1) * 8, 8);
            a.str = {};
            if (decl[i].type == fmt::arg_type::string) {
                if (a.word > fmt::max_string_bytes) [[unlikely]] {
                    count(&ring_stats::malformed);
                    return false;
                }
                if (str_off + a.word > plen) [[unlikely]] {
                    count_short();
                    return false;
                }
                a.str = std::string_view(reinterpret_cast<const char*>(payload) + str_off, size_t(a.word));
                str_off += uint32_t(a.word);
            }
        }
        ev.nargs = n;
        return true;
    }

    [[gnu::always_inline]] bool decode(fmt::kind k, uint32_t site_id, uint64_t ticks, uint64_t word0, uint32_t plen) {
        ev.kind = k;
        ev.ticks = ticks;
        ev.ns = ns_since(ticks, ctx->anchor_ticks, ctx->ns_per_tick);
        ev.nargs = 0;
        ev.where = nullptr;
        ev.task = 0;
        fmt::site_kind want;
        switch (k) {
            case fmt::kind::span_begin:
            case fmt::kind::span_end: want = fmt::site_kind::span; break;
            case fmt::kind::instant: want = fmt::site_kind::instant; break;
            case fmt::kind::counter: want = fmt::site_kind::counter; break;
            case fmt::kind::task_spawn:
            case fmt::kind::task_poll_begin:
            case fmt::kind::task_poll_end:
            case fmt::kind::task_wake:
            case fmt::kind::task_complete:
            case fmt::kind::wait_begin:
            case fmt::kind::wait_end:
            case fmt::kind::resource_op: return decode_task(k, site_id, word0, plen);
            case fmt::kind::thread_name: return decode_thread_name(word0, plen);
            case fmt::kind::crash: return decode_crash(word0, plen);
            case fmt::kind::span_context: return decode_span_context(word0, plen);
            default: count(&ring_stats::unknown_kind); return false;
        }
        const site* s = ctx->find_site(site_id);
        if (!s) [[unlikely]] {
            count(&ring_stats::bad_site);
            return false;
        }
        if (s->kind != want) [[unlikely]] {
            count(&ring_stats::malformed);
            return false;
        }
        ev.where = s;
        if (k == fmt::kind::span_end) return true;
        return decode_args(s, word0, plen);
    }
};

// Walks one 1.x ring (32-byte slots, each under its commit stamp) from its
// oldest surviving slot to the write position it had when the walk began,
// yielding the events whose every slot is committed.
//
// Every event goes through next(), so its common path is one inlined piece
// of code; what is rare (damage, crash records, span contexts, thread
// names) is out of line.
struct ring_cursor : cursor_base<fmt::slot_size> {
    // Copies slot `at` if its stamp says it holds position `at`: stamp,
    // load-acquire; the other three words; acquire fence; the stamp again.
    // `newer` says a failed slot holds a later lap (the writer overwrote it
    // as we read).
    [[gnu::always_inline]] bool read_slot(uint64_t at, uint64_t out[4], bool& newer) {
        const unsigned char* s = slot_at(at);
        uint64_t s1 = load_acquire<uint64_t>(s);
        out[1] = load<uint64_t>(s + 8);
        out[2] = load<uint64_t>(s + 16);
        out[3] = load<uint64_t>(s + 24);
        std::atomic_thread_fence(std::memory_order_acquire);
        uint64_t s2 = load<uint64_t>(s);
        out[0] = s1;
        if (((s1 ^ (at + 1)) | (s2 ^ (at + 1))) == 0) [[likely]] return true;
        newer = s1 > at + 1 || s2 > at + 1;
        return false;
    }

    [[gnu::always_inline]] bool next() {
        while (pos < end) {
            uint64_t w[4];
            const uint64_t at = pos;
            bool newer;
            if (!read_slot(at, w, newer)) [[unlikely]] {
                count_failed(newer);
                if (own) may_lose_owner();
                ++pos;
                continue;
            }
            const uint8_t k = uint8_t(w[1]);
            const uint32_t cont = uint8_t(w[1] >> 8);
            const uint32_t site_id = uint32_t(w[1] >> 32);
            if (k == uint8_t(fmt::kind::continuation)) [[unlikely]] {
                count(&ring_stats::orphan);
                ++pos;
                continue;
            }
            if (k == uint8_t(fmt::kind::invalid) || cont >= end - at) [[unlikely]] {  // (at < end: no overflow)
                // Committed, yet no writer makes this: kind 0, or an event running past write_pos.
                count(&ring_stats::malformed);
                ++pos;
                continue;
            }
            bool ok = true, wrong_kind = false;
            for (uint32_t i = 0; i < cont; ++i) {
                uint64_t c[4];
                if (!read_slot(at + 1 + i, c, newer)) [[unlikely]] {
                    ok = false;
                    break;
                }
                if (uint8_t(c[1]) != uint8_t(fmt::kind::continuation)) [[unlikely]] {
                    ok = false;
                    wrong_kind = true;
                    break;
                }
                std::memcpy(payload + i * 16, &c[2], 16);
            }
            pos = at + 1 + cont;
            if (!ok) [[unlikely]] {
                if (wrong_kind) count(&ring_stats::malformed);
                else count_failed(newer);
                if (own && k == uint8_t(fmt::kind::owner)) may_lose_owner();
                continue;
            }
            if (own) [[unlikely]] {
                if (k == uint8_t(fmt::kind::owner)) {
                    take_owner(w[3], cont * fmt::continuation_payload);
                    continue;
                }
                if (own->uncertain || at < own->uncertain_until) {
                    ++own->ring_st->unattributed;
                    continue;
                }
                if (own->pending) resolve();
            }
            if (decode(fmt::kind(k), site_id, w[2], w[3], cont * fmt::continuation_payload)) [[likely]] {
                st->events++;
                return true;
            }
        }
        return false;
    }

    // An owner event (1.3): word0 the generation; payload: tid, name length L, name.
    [[gnu::noinline]] void take_owner(uint64_t generation, uint32_t plen) {
        uint64_t w[2] = {0, 0};
        if (plen >= 16) std::memcpy(w, payload, 16);
        if (plen < 16 || !owner_generation_ok(generation) || w[0] > UINT32_MAX || w[1] >= fmt::max_thread_name ||
            16 + w[1] > plen) {
            ++st->malformed;
            may_lose_owner();
            return;
        }
        accept_owner(generation, uint32_t(w[0]), payload + 16, size_t(w[1]));
    }

    // Before the walk of a ring that changed hands: the generation its first
    // events belong to, from the first owner event ahead (its generation - 1)
    // or, with none, the descriptor's. A slot that cannot be read before that
    // owner event may have been another: events before it stay unattributed.
    void find_first_owner() {
        uint32_t g = own->final_gen;
        if (g > 1) {
            for (uint64_t p = pos; p < end;) {
                uint64_t w[4];
                bool newer;
                if (!read_slot(p, w, newer)) {
                    ++p;
                    own->uncertain_until = std::max(own->uncertain_until, p);
                    continue;
                }
                const uint8_t k = uint8_t(w[1]);
                if (k == uint8_t(fmt::kind::owner) && w[3] >= 1 && w[3] <= uint64_t(own->final_gen) + 1) {
                    g = uint32_t(w[3] - 1);
                    break;
                }
                p += k == uint8_t(fmt::kind::continuation) ? 1 : 1 + uint8_t(w[1] >> 8);
            }
        }
        bind(g);
    }

    // Where a walk starts: a ring that changes hands finds its first owner.
    void start() {
        if (own) find_first_owner();
    }
};

// 2.0: what reading a 16-byte slot found (f2-design.md section 1).
enum slot_state : uint8_t { slot_ok = 0, slot_torn = 1, slot_newer = 2 };

// Walks one 2.0 ring (16-byte slots: words A and B, each slot under the lap
// byte of A) from its oldest surviving slot to the write position it had
// when the walk began. An event's length comes from its slots alone (every
// continuation says its index and the event's count n); its full ticks from
// the ring's time bases; the task of an implicit task event from the poll
// nesting of the ring's owner. It hands on the same `event` the 1.x cursor
// does: the `_for` kinds and the implicit kinds become the 1.x kinds with
// their words, so that everything after the reader sees no difference.
struct ring_cursor2 : cursor_base<fmt::v2::slot_size> {
    uint32_t log2_slots = 0;
    // The slot after the last head read, kept: it is the next head when the
    // event had no continuation, so each slot is read once.
    uint64_t la_at = UINT64_MAX, la_a = 0, la_b = 0;
    uint8_t la_s = 0;
    // The high half of the ticks (hi << 32), known once a time base or an
    // owner event (or the prev_hi of the window's first time base) gave it.
    uint64_t hi = 0;
    bool timed = false;
    // The write position the lap checks rest on (P, then each P2 re-read),
    // and how far past it the writer may be before a lap match can be a
    // copy of a write 256 laps later (255 rings).
    uint64_t lap_base = 0, lap_span = 0;
    // The polls open on the owner's thread, innermost last; below them,
    // polls the window no longer shows when base_unknown.
    static constexpr uint32_t max_depth = 64;
    uint64_t polls[max_depth];
    uint32_t depth = 0;
    bool base_unknown = true;
    capture::ring_mark* mark = nullptr;  // an incremental pass: where the last one left hi and the polls
    // A head that could not be read (or a time base that broke) may have
    // been a time base or a poll event: the next good head starts over as a
    // window's first would (prescan from it), so no event after the break
    // takes a high half or a current task that the lost slot changed.
    bool rescan_due = false;

    // Copies slot `at`: A (acquire), B, acquire fence, A again. It holds
    // position `at` iff both A agree, the kind is not 0 and the lap is
    // at's; a lap 1..127 ahead (mod 256) is a later write (overwritten as we
    // read), anything else torn.
    [[gnu::always_inline]] uint8_t read2(uint64_t at, uint64_t& a, uint64_t& b) {
        const unsigned char* s = slot_at(at);
        const uint64_t a1 = load_acquire<uint64_t>(s);
        b = load<uint64_t>(s + 8);
        std::atomic_thread_fence(std::memory_order_acquire);
        const uint64_t a2 = load<uint64_t>(s);
        a = a1;
        const uint32_t want = uint32_t(fmt::v2::lap_at(at, log2_slots)) << 8;
        // kind 1..255 and the lap `want`: the low 16 bits are want + 1 .. want + 255
        if (a1 == a2 && uint32_t(uint16_t(a1)) - want - 1 < 255) [[likely]] return slot_ok;
        return lap_state(a1, a2, want >> 8);
    }
    [[gnu::noinline, gnu::cold]] static uint8_t lap_state(uint64_t a1, uint64_t a2, uint32_t lap) {
        auto ahead = [&](uint64_t a) {
            const uint8_t d = uint8_t(fmt::v2::lap_of(a) - lap);
            return (a & 0xff) != 0 && d >= 1 && d <= 127;
        };
        return ahead(a1) || ahead(a2) ? slot_newer : slot_torn;
    }
    [[gnu::always_inline]] uint8_t take(uint64_t at, uint64_t& a, uint64_t& b) {
        if (at == la_at) {
            a = la_a;
            b = la_b;
            return la_s;
        }
        return read2(at, a, b);
    }

    [[gnu::always_inline]] bool next() {
        while (pos < end) {
            const uint64_t at = pos;
            uint64_t a, b;
            const uint8_t s = take(at, a, b);
            if (s != slot_ok) [[unlikely]] {
                count_failed(s == slot_newer);
                if (own) may_lose_owner();
                rescan_due = true;
                ++pos;
                continue;
            }
            const uint8_t k = fmt::v2::kind_of(a);
            if (k == uint8_t(fmt::kind::continuation)) [[unlikely]] {
                count(&ring_stats::orphan);
                ++pos;
                continue;
            }
            if (rescan_due) [[unlikely]] {
                rescan();
                continue;  // the head at pos again, read afresh
            }
            uint32_t n = 0;
            cut = false;
            // Kinds that never have continuations are not looked past: a
            // continuation after one is an orphan when the walk reaches it.
            const uint8_t kinfo = kind_table[k];
            if ((kinfo & k_continues) && at + 1 < end) {
                uint64_t ca, cb;
                const uint8_t cs = read2(at + 1, ca, cb);
                la_at = at + 1, la_a = ca, la_b = cb, la_s = cs;
                if (cs != slot_ok) [[unlikely]] {
                    cut = true;  // its length is unknown: decoded as if it had no continuation
                } else if (fmt::v2::kind_of(ca) == uint8_t(fmt::kind::continuation)) {
                    if (!read_continuations(at, k, ca, cb, n)) continue;
                }
            }
            pos = at + 1 + n;
            if (live) [[unlikely]] {
                // P2 (design, "no ABA"): every lap matched so far was genuine
                // while the writer is less than 255 rings past P.
                const uint64_t p2 = load_acquire<uint64_t>(desc + offsetof(fmt::ring_descriptor, write_pos));
                if (p2 - lap_base >= lap_span) [[unlikely]] {
                    relap(p2);
                    continue;
                }
            }
            const uint32_t plen = n * 8;
            bool task_word = false;  // a kind whose task or waker is implicit, or in the payload
            if (kinfo & k_special) {
                switch (fmt::kind(k)) {
                    case fmt::kind::owner: take_owner2(b, plen); continue;
                    case fmt::kind::time_base: take_time_base(a, b, plen); continue;
                    case fmt::kind::task_poll_begin: push_poll(b); break;
                    case fmt::kind::task_poll_end: end_poll(b); break;
                    default: task_word = true;
                }
            }
            if (own) {
                if (own->uncertain || at < own->uncertain_until) [[unlikely]] {
                    ++own->ring_st->unattributed;
                    continue;
                }
                if (own->pending) [[unlikely]] resolve();
            }
            if (!timed) [[unlikely]] {
                count((kinfo & k_known) ? &ring_stats::untimed : &ring_stats::unknown_kind);
                continue;
            }
            fmt::kind dk = fmt::kind(k);
            uint64_t word0 = b;
            uint32_t dlen = plen;
            if (task_word) {
                if (k == uint8_t(fmt::kind::instant_task)) {
                    if (!to_instant(fmt::v2::site_of(a), b, plen, word0)) continue;
                    dk = fmt::kind::instant;
                    dlen = plen + 8;
                } else {
                    if (!to_v1_task(k, b, plen, dk, word0)) continue;
                    dlen = 16;
                }
            }
            if (decode(dk, fmt::v2::site_of(a), hi | fmt::v2::ticks_lo_of(a), word0, dlen)) [[likely]] {
                st->events++;
                return true;
            }
        }
        return false;
    }

    // What the walk does with a kind, one table load per event.
    enum : uint8_t {
        k_continues = 1,  // may be followed by continuations (unknown kinds too); the others are one slot
        k_known = 2,      // a kind this version hands on
        k_special = 4,    // owner, time base, polls, the task kinds whose task is implicit, in the payload or none (28), and instant_task
    };
    static constexpr std::array<uint8_t, 256> kind_table = [] {
        std::array<uint8_t, 256> t{};
        for (auto& x : t) x = k_continues;
        for (int k : {1, 3, 6, 7, 16, 32}) t[k] = k_continues | k_known;
        for (int k : {2, 4, 20}) t[k] = k_known;
        for (int k : {17, 18, 19, 21, 22, 23, 28}) t[k] = k_known | k_special;
        for (int k : {10, 24, 25, 26, 27, 29}) t[k] = k_continues | k_known | k_special;
        for (int k : {8, 9}) t[k] = k_continues | k_special;
        return t;
    }();

    // Continuations 1..n of the head at `at` (the first, ca/cb, already
    // read): each must hold its position, be a continuation, and say its
    // index and n. false: the event is skipped, counted, pos moved past it.
    bool read_continuations(uint64_t at, uint8_t k, uint64_t ca, uint64_t cb, uint32_t& n) {
        n = fmt::v2::cont_count_of(ca);
        if (fmt::v2::cont_index_of(ca) != 1 || n == 0 || n >= end - at) [[unlikely]] {
            // Committed, yet no writer makes it: a first continuation that is
            // not the first, or an event running past write_pos.
            count(&ring_stats::malformed);
            if (k == uint8_t(fmt::kind::time_base)) rescan_due = true;
            pos = at + 1;
            return false;
        }
        std::memcpy(payload, &cb, 8);
        for (uint32_t i = 2; i <= n; ++i) {
            // Fast: both A words are exactly the continuation word position at + i must hold.
            const unsigned char* sp = slot_at(at + i);
            const uint64_t fa = load_acquire<uint64_t>(sp);
            const uint64_t fb = load<uint64_t>(sp + 8);
            std::atomic_thread_fence(std::memory_order_acquire);
            const uint64_t expect = fmt::v2::continuation_word(fmt::v2::lap_at(at + i, log2_slots), i, n);
            if (((fa ^ expect) | (load<uint64_t>(sp) ^ expect)) == 0) [[likely]] {
                std::memcpy(payload + (i - 1) * 8, &fb, 8);
                continue;
            }
            uint64_t xa, xb;
            const uint8_t s = read2(at + i, xa, xb);
            if (s != slot_ok) [[unlikely]] {
                count_failed(s == slot_newer);
                if (own && k == uint8_t(fmt::kind::owner)) may_lose_owner();
                if (k == uint8_t(fmt::kind::time_base)) rescan_due = true;
                pos = at + 1 + n;
                return false;
            }
            if (fmt::v2::kind_of(xa) != uint8_t(fmt::kind::continuation)) [[unlikely]] {
                count(&ring_stats::malformed);  // a head where a continuation belongs: read on from it
                pos = at + i;
                return false;
            }
            if (fmt::v2::cont_index_of(xa) != i || fmt::v2::cont_count_of(xa) != n) [[unlikely]] {
                count(&ring_stats::malformed);
                pos = at + 1 + n;
                return false;
            }
            std::memcpy(payload + (i - 1) * 8, &xb, 8);
        }
        return true;
    }

    // A task event of 2.0 as the 1.x kind it stands for: kind, task (word0)
    // and the payload's two words (waker; or resource id and op). false:
    // skipped and counted (no task to name, or a payload too short).
    [[gnu::always_inline]] bool to_v1_task(uint8_t k, uint64_t b, uint32_t plen, fmt::kind& dk, uint64_t& word0) {
        uint64_t w[2] = {0, 0};
        switch (fmt::kind(k)) {
            case fmt::kind::task_wake:  // the waker is the current task (0: none open, code outside any task)
                if (!current(w[0])) return unresolved();
                break;
            case fmt::kind::task_wake_by:
                if (plen < 8) return short_payload();
                std::memcpy(&w[0], payload, 8);
                dk = fmt::kind::task_wake;
                break;
            case fmt::kind::task_wake_external: dk = fmt::kind::task_wake; break;  // waker 0: not a task
            case fmt::kind::task_spawn_here:  // the parent is the current task; the frame bytes, if any, word 1
                if (!current(w[0])) return unresolved();
                if (plen >= 8) std::memcpy(&w[1], payload, 8);
                dk = fmt::kind::task_spawn;
                break;
            case fmt::kind::wait_begin:
            case fmt::kind::wait_end:
            case fmt::kind::resource_op:
                if (!current(word0) || word0 == 0) return unresolved();
                w[0] = b & fmt::v2::max_resource;
                w[1] = b >> 56;
                break;
            case fmt::kind::wait_begin_for:
            case fmt::kind::wait_end_for:
            case fmt::kind::resource_op_for:
                if (plen < 8) return short_payload();
                std::memcpy(&word0, payload, 8);
                w[0] = b & fmt::v2::max_resource;
                w[1] = b >> 56;
                dk = fmt::kind(k - 4);
                break;
            default: return true;  // spawn, polls: their 1.x shape
        }
        std::memcpy(payload, w, 16);
        return true;
    }
    // An instant_task (kind 10) as the instant it stands for: argument 0 is
    // the current task, B and the payload arguments 1 .. n-1. Its site is
    // checked first (bad_site, malformed: an instant site whose argument 0
    // is u64), as for any instant, then its task (unresolved). false:
    // skipped and counted.
    bool to_instant(uint32_t site_id, uint64_t b, uint32_t plen, uint64_t& word0) {
        const site* s = ctx->find_site(site_id);
        if (!s) [[unlikely]] {
            count(&ring_stats::bad_site);
            return false;
        }
        if (s->kind != fmt::site_kind::instant || s->args.empty() || s->args[0].type != fmt::arg_type::u64) [[unlikely]] {
            count(&ring_stats::malformed);
            return false;
        }
        if (!current(word0)) return unresolved();
        std::memmove(payload + 8, payload, plen);  // (plen <= 255 * 8: the buffer holds 256 * 16 bytes)
        std::memcpy(payload, &b, 8);
        return true;
    }
    [[gnu::noinline, gnu::cold]] bool unresolved() {
        ++st->unresolved;
        return false;
    }
    [[gnu::noinline, gnu::cold]] bool short_payload() {
        count_short();
        return false;
    }

    // The current task: the innermost open poll's (0: none open). false:
    // the window does not show it.
    bool current(uint64_t& t) const {
        if (depth) {
            t = polls[depth - 1];
            return true;
        }
        t = 0;
        return !base_unknown;
    }
    void push_poll(uint64_t t) {
        if (depth == max_depth) {  // deeper than any program nests: the outermost is forgotten
            std::memmove(polls, polls + 1, (max_depth - 1) * sizeof polls[0]);
            --depth;
            base_unknown = true;
        }
        polls[depth++] = t;
    }
    // A poll_end closes the innermost open poll of its task (one whose
    // poll_begin is not in the nesting, dropped or before the window, closes
    // none of those that are).
    void end_poll(uint64_t t) {
        for (uint32_t i = depth; i-- > 0;)
            if (polls[i] == t) {
                depth = i;
                return;
            }
    }
    // A time base names the task current where it stands (0: none).
    void current_is(uint64_t t) {
        if (t == fmt::v2::unknown_task) {  // the writer lost a poll event: nothing implicit resolves from here
            depth = 0;
            base_unknown = true;
        } else if (t == 0) {
            depth = 0;
            base_unknown = false;
        } else if (!(depth && polls[depth - 1] == t)) {
            polls[0] = t;
            depth = 1;
            base_unknown = true;
        }
    }

    // A time base (kind 9): B = hi << 32 | prev_hi; its continuation the
    // current task. A prev_hi that disagrees with the hi carried is
    // malformed; its hi is taken anyway.
    [[gnu::noinline]] void take_time_base(uint64_t a, uint64_t b, uint32_t plen) {
        const uint32_t prev = uint32_t(b);
        // (A time base is not in events_written: what is counted malformed
        // here is kept apart too, so that it does not lower `overwritten`.)
        if (fmt::v2::site_of(a) != 0 || (timed && prev != fmt::v2::no_prev_hi && prev != uint32_t(hi >> 32))) {
            ++st->malformed;
            ++st->malformed_time_bases;
        }
        hi = b >> 32 << 32;
        timed = true;
        if (plen < 8) {
            if (!cut) {
                ++st->malformed;
                ++st->malformed_time_bases;
            }
            return;
        }
        uint64_t t;
        std::memcpy(&t, payload, 8);
        current_is(t);
    }

    // An owner event (2.0): B = generation | hi << 32; payload: tid | L << 32,
    // then the L name bytes. A good one times the events after it (its hi,
    // as a time base's); a damaged one may have, so the next good head
    // starts over as a window's first would (prescan from it).
    [[gnu::noinline]] void take_owner2(uint64_t b, uint32_t plen) {
        const uint64_t generation = fmt::v2::owner_generation_of(b);
        uint64_t w0 = 0;
        if (plen >= 8) std::memcpy(&w0, payload, 8);
        const uint64_t len = w0 >> 32;
        if (plen < 8 || (own && !owner_generation_ok(generation)) || generation == 0 || len >= fmt::max_thread_name ||
            8 + len > plen) {
            if (plen < 8 || 8 + len > plen) count_short();
            else ++st->malformed;
            if (own) may_lose_owner();
            timed = false;
            rescan_due = true;
            return;
        }
        hi = uint64_t(fmt::v2::owner_hi_of(b)) << 32;
        timed = true;
        depth = 0;  // a new owner's thread: no poll of it is open in this ring
        base_unknown = false;
        if (own) accept_owner(generation, uint32_t(w0), payload + 8, size_t(len));
    }

    // As the 1.x cursor's: the first owner event ahead names the generation before it.
    void find_first_owner() {
        uint32_t g = own->final_gen;
        if (g > 1) {
            for (uint64_t p = pos; p < end; ++p) {
                uint64_t a, b;
                if (read2(p, a, b) != slot_ok) {
                    own->uncertain_until = std::max(own->uncertain_until, p + 1);
                    continue;
                }
                const uint32_t og = fmt::v2::owner_generation_of(b);
                if (fmt::v2::kind_of(a) == uint8_t(fmt::kind::owner) && og >= 1 && og <= uint64_t(own->final_gen) + 1) {
                    g = og - 1;
                    break;
                }
            }
        }
        bind(g);
    }

    // What the window's first events need from further on: the high half
    // of their ticks (the prev_hi of the first time base, if no owner event
    // comes before it) and the polls open
    // where the window starts (f2-design.md section 3): each poll_end that
    // closes no poll begun in the window names one, innermost first, and
    // the first time base (before any owner event) names the one below them.
    void prescan() {
        hi = 0;
        timed = false;
        depth = 0;
        base_unknown = true;
        la_at = UINT64_MAX;
        if (mark && mark->read_on) {  // an incremental pass goes on where the last one stopped
            hi = mark->hi;
            timed = mark->timed;
            depth = uint32_t(std::min<size_t>(mark->polls.size(), max_depth));
            std::copy(mark->polls.end() - depth, mark->polls.end(), polls);
            base_unknown = mark->polls_unknown;
            return;
        }
        uint64_t local[max_depth], ends[max_depth];
        uint32_t nlocal = 0, nends = 0;
        bool below_known = false;
        uint64_t below = 0;
        bool head_seen = false;
        for (uint64_t p = pos; p < end;) {
            uint64_t a, b;
            if (read2(p, a, b) != slot_ok) {
                // A break (spec/ring-buffer.md: it may have been a time base
                // that changed the high half, or a poll event): nothing past
                // it times or names the events before it, which stay untimed
                // (counted) if nothing before it does. Unreadable slots before
                // the first head are the window's front, being overwritten.
                if (head_seen) break;
                ++p;
                continue;
            }
            if (fmt::v2::kind_of(a) == uint8_t(fmt::kind::continuation)) {  // an orphan: not a break
                ++p;
                continue;
            }
            head_seen = true;
            const uint8_t k = fmt::v2::kind_of(a);
            uint32_t n = 0;
            uint64_t ca = 0, cb = 0;
            bool c1 = false;
            const uint8_t cs = p + 1 < end ? read2(p + 1, ca, cb) : uint8_t(slot_ok);
            if (p + 1 < end && cs == slot_ok && fmt::v2::kind_of(ca) == uint8_t(fmt::kind::continuation) &&
                fmt::v2::cont_index_of(ca) == 1) {
                n = fmt::v2::cont_count_of(ca);
                c1 = true;
            }
            // The slot after a head that may have continuations cannot be
            // read: its length is unknown, so is what follows (a time base's
            // head still gives its prev_hi below; it names no task).
            if (cs != slot_ok && k != uint8_t(fmt::kind::time_base) && (kind_table[k] & k_continues)) break;
            if (k == uint8_t(fmt::kind::time_base)) {
                if (uint32_t(b) != fmt::v2::no_prev_hi) {
                    hi = uint64_t(uint32_t(b)) << 32;
                    timed = true;
                }
                if (nlocal == 0 && c1 && cb != fmt::v2::unknown_task) {
                    below = cb;
                    below_known = true;
                }
                break;
            }
            // An owner event: the events before it are the previous owner's,
            // and a time base after it gives (prev_hi) the owner event's hi,
            // not theirs: they stay untimed (counted), as no time base times them.
            if (k == uint8_t(fmt::kind::owner)) break;
            if (k == uint8_t(fmt::kind::task_poll_begin)) {
                if (nlocal < max_depth) local[nlocal++] = b;
            } else if (k == uint8_t(fmt::kind::task_poll_end)) {
                bool matched = false;
                for (uint32_t i = nlocal; i-- > 0;)
                    if (local[i] == b) {
                        nlocal = i;
                        matched = true;
                        break;
                    }
                if (!matched && nends < max_depth) ends[nends++] = b;
            }
            p += 1 + n;
        }
        if (below_known && below == 0) base_unknown = false;
        if (below_known && below != 0) polls[depth++] = below;
        for (uint32_t i = nends; i-- > 0;) polls[depth++] = ends[i];
        if (depth > max_depth) depth = max_depth;  // (below + max_depth ends: the outermost is lost)
    }

    // The writer went 255 rings past the position the lap checks rest on:
    // a lap match may be a copy from 256 laps later. What was read since
    // the last check is dropped; the walk goes on from the oldest slot the
    // writer has not reached, with a new prescan.
    [[gnu::noinline, gnu::cold]] void rescan() {
        rescan_due = false;
        capture::ring_mark* m = mark;
        mark = nullptr;  // from here, not from where the last pass stopped
        prescan();
        mark = m;
    }

    [[gnu::noinline, gnu::cold]] void relap(uint64_t p2) {
        ++st->overwritten_in_read;
        if (own) may_lose_owner();
        lap_base = p2;
        const uint64_t oldest = p2 > mask + 1 ? p2 - (mask + 1) : 0;
        if (pos < oldest) pos = oldest;
        prescan();
    }

    void start() {
        log2_slots = uint32_t(__builtin_popcountll(mask));
        lap_base = end;
        // A time base (2 slots) is published with the event after it (at
        // most 256 slots): write_pos may lag a written slot by 257 positions
        // (spec/ring-buffer.md, "Why an 8-bit lap cannot be fooled").
        lap_span = 255 * (mask + 1) - 257;
        if (own) find_first_owner();
        prescan();
    }
    // What an incremental pass leaves for the next.
    void keep_state() {
        if (!mark) return;
        mark->hi = hi;
        mark->timed = timed;
        mark->polls.assign(polls, polls + depth);
        mark->polls_unknown = base_unknown;
        mark->kept = true;
    }
};


namespace {

// The merge order of ring heads: by ticks, then by ring, as one 128-bit
// number. A ring with no more events sorts after every event.
using merge_key = unsigned __int128;
constexpr uint32_t exhausted = UINT32_MAX;
constexpr merge_key key_of(uint64_t ticks, uint32_t rank) { return merge_key(ticks) << 32 | rank; }
constexpr merge_key no_more = key_of(UINT64_MAX, exhausted);

// A tournament (loser) tree over n ring heads: the next event is always the
// top ring's, and replacing that ring's head costs one comparison per level
// (log2 n), without moving cursors around as a heap would. It also knows
// the earliest head of the other rings: while the top ring's next event is
// earlier still, which is most of the time (a thread records many events
// in a row), nothing needs to change.
class loser_tree {
public:
    explicit loser_tree(const std::vector<merge_key>& keys) {
        k_ = 1;
        while (k_ < keys.size()) k_ *= 2;
        keys_ = keys;
        keys_.resize(k_, no_more);
        node_.assign(k_, 0);
        // Winners bottom-up (in a scratch array), losers kept in the nodes.
        std::vector<uint32_t> win(2 * k_);
        for (size_t i = 0; i < k_; ++i) win[k_ + i] = uint32_t(i);
        for (size_t i = k_ - 1; i >= 1; --i) {
            uint32_t a = win[2 * i], b = win[2 * i + 1];
            bool a_first = keys_[a] <= keys_[b];
            win[i] = a_first ? a : b;
            node_[i] = a_first ? b : a;
        }
        node_[0] = k_ > 1 ? win[1] : 0;
        find_runner_up();
    }
    uint32_t top() const { return node_[0]; }
    bool done() const { return keys_[node_[0]] == no_more; }
    // The earliest head of the rings other than the top one.
    merge_key runner_up() const { return runner_up_; }
    // The top ring has a new head (no_more: none).
    void replace_top(merge_key k) {
        uint32_t w = node_[0];
        keys_[w] = k;
        for (size_t i = (k_ + w) / 2; i >= 1; i /= 2) {
            const uint32_t l = node_[i];
            if (keys_[l] < keys_[w]) {
                node_[i] = w;
                w = l;
            }
        }
        node_[0] = w;
        find_runner_up();
    }

private:
    // The losers on the winner's path are the winners of every other subtree.
    void find_runner_up() {
        runner_up_ = no_more;
        for (size_t i = (k_ + node_[0]) / 2; i >= 1; i /= 2) runner_up_ = std::min(runner_up_, keys_[node_[i]]);
    }
    std::vector<merge_key> keys_;
    std::vector<uint32_t> node_;
    size_t k_ = 1;
    merge_key runner_up_ = no_more;
};

}  // namespace

namespace {

// A 1.3 ring's generation and write position, read together: generation,
// write_pos, generation again, until the two agree. The writer stores the
// generation after the new owner's owner event, so the one read owns every
// event below write_pos but a last owner event's. false: they never agreed.
bool read_ring_position(const unsigned char* d, uint32_t& generation, uint64_t& end) {
    for (int i = 0; i < 1000; ++i) {
        const uint32_t g1 = load_acquire<uint32_t>(d + offsetof(fmt::ring_descriptor, generation));
        end = load_acquire<uint64_t>(d + offsetof(fmt::ring_descriptor, write_pos));
        std::atomic_thread_fence(std::memory_order_acquire);
        const uint32_t g2 = load<uint32_t>(d + offsetof(fmt::ring_descriptor, generation));
        generation = g2;
        if (g1 == g2) return true;
    }
    return false;
}

// The call sites by id for a walk (dense: storage for the id -> site table).
void init_context(walk_context& ctx, const capture& cap, const std::vector<site>& sites,
                  const std::vector<uint32_t>& site_index, std::vector<const site*>& dense, uint64_t anchor_ticks,
                  double ns_per_tick) {
    ctx.cap = &cap;
    ctx.anchor_ticks = anchor_ticks;
    ctx.ns_per_tick = ns_per_tick;
    if (!site_index.empty()) {
        dense.resize(site_index.size());
        for (size_t id = 0; id < site_index.size(); ++id) dense[id] = site_index[id] ? &sites[site_index[id] - 1] : nullptr;
        ctx.dense = dense.data();
        ctx.ndense = dense.size();
    }
}

}  // namespace

bool capture::read_owner_entry(uint32_t ring, uint32_t generation, uint32_t& tid, std::string& name) const {
    if (!owner_table_offset_ || generation == 0) return false;
    const unsigned char* e = data_ + owner_table_offset_ +
                             (uint64_t(ring) * fmt::owner_entries_per_ring + generation % fmt::owner_entries_per_ring) *
                                 fmt::owner_entry_size;
    for (int i = 0; i < 100; ++i) {
        const uint32_t s1 = load_acquire<uint32_t>(e);
        fmt::owner_entry copy;
        copy_relaxed(&copy, e, sizeof copy);
        std::atomic_thread_fence(std::memory_order_acquire);
        const uint32_t s2 = load<uint32_t>(e);
        if (s1 != s2 || (s1 & 1)) continue;
        if (copy.generation != generation) return false;
        tid = copy.tid;
        name = cstr(copy.name, sizeof copy.name - 1);
        return true;
    }
    return false;
}

result<bool> capture::find_owners(const std::vector<thread_info>& rings) {
    return v2_ ? find_owners_with<ring_cursor2>(rings) : find_owners_with<ring_cursor>(rings);
}

template <class Cursor>
result<bool> capture::find_owners_with(const std::vector<thread_info>& rings) {
    // The owner table of every used ring, checked first: an entry that is
    // complete (even sequence word) must sit where its generation puts it,
    // be no newer than the ring's next owner, and hold a terminated name.
    for (const thread_info& r : rings) {
        for (uint32_t k = 0; k < fmt::owner_entries_per_ring; ++k) {
            const uint64_t off = owner_table_offset_ + (uint64_t(r.ring) * fmt::owner_entries_per_ring + k) * fmt::owner_entry_size;
            fmt::owner_entry e;
            const uint32_t s1 = load_acquire<uint32_t>(data_ + off);
            copy_relaxed(&e, data_ + off, sizeof e);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (s1 != load<uint32_t>(data_ + off) || (s1 & 1) || e.generation == 0) continue;  // being written, or empty
            // (A live ring's generation only grows: read after the entry, it is at least the entry's - 1.)
            const uint32_t ring_gen = load_acquire<uint32_t>(data_ + fmt::header_size + uint64_t(r.ring) * fmt::ring_descriptor_size +
                                                             offsetof(fmt::ring_descriptor, generation));
            const std::string at = "ring " + std::to_string(r.ring) + " owner entry " + std::to_string(k);
            if (e.generation % fmt::owner_entries_per_ring != k)
                return fail(errc::corrupt, off + offsetof(fmt::owner_entry, generation),
                            at + " holds generation " + std::to_string(e.generation) + ", which belongs in entry " +
                                std::to_string(e.generation % fmt::owner_entries_per_ring));
            if (uint64_t(e.generation) > uint64_t(ring_gen) + 1)
                return fail(errc::corrupt, off + offsetof(fmt::owner_entry, generation),
                            at + " holds generation " + std::to_string(e.generation) + ", beyond the ring's " +
                                std::to_string(ring_gen) + " + 1");
            if (std::memchr(e.name, 0, sizeof e.name) == nullptr)
                return fail(errc::corrupt, off + offsetof(fmt::owner_entry, name),
                            at + " name is not NUL-terminated within 64 bytes");
        }
    }
    walk_context ctx;
    std::vector<const site*> dense;
    init_context(ctx, *this, sites_, site_index_, dense, hdr_.anchors[0].ticks, ns_per_tick_);
    const uint64_t nslots = hdr_.ring_size / Cursor::slot_bytes;
    owners_.assign(rings.size(), {});
    ring_last_.assign(rings.size(), 0);
    ring_stats scratch;
    std::unique_ptr<Cursor> c(new Cursor());
    for (const thread_info& r : rings) {
        // The walk a pass makes, adding each owner it meets.
        *c = Cursor{};
        c->ctx = &ctx;
        c->ring_offset = rings_offset_ + uint64_t(r.ring) * hdr_.ring_size;
        c->slots = data_ + c->ring_offset;
        c->win_base = c->slots;
        c->mask = nslots - 1;
        if (box_) {
            c->box = box_.get();
            c->win_n = 0;
        }
        std::vector<owner_ref> list;
        owner_track own;
        own.list = &list;
        own.scan = true;
        own.ring_st = &scratch;
        const unsigned char* d = data_ + fmt::header_size + uint64_t(r.ring) * fmt::ring_descriptor_size;
        if (!read_ring_position(d, own.final_gen, c->end)) own.uncertain_until = UINT64_MAX;
        c->pos = c->end > nslots ? c->end - nslots : 0;
        c->st = &scratch;
        c->own = &own;
        c->desc = d;
        c->live = live_;
        if (own.final_gen != 1) {  // a ring that never changed hands has one owner: no walk
            c->start();
            while (c->next()) {
            }
            c->leave_chunk();
        }
        // The ring's latest owner is listed even with no event in the window.
        own.pending = false;
        own.thread_of(own.final_gen);
        std::vector<uint32_t> order(list.size());
        for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return list[a].generation < list[b].generation; });
        std::vector<owner_ref>& out = owners_[r.ring];
        for (size_t n = 0; n < order.size(); ++n) {
            const uint32_t i = order[n];
            const uint32_t g = list[i].generation;
            thread_info t;
            t.ring = r.ring;
            t.generation = g;
            const bool latest = n + 1 == order.size();
            if (read_owner_entry(r.ring, g, t.tid, t.name)) {
                // the table's name is the latest (set_thread_name rewrites it)
            } else if (own.has_said[i]) {
                t.tid = own.said[i].first;
                t.name = own.said[i].second;
            } else if (g == own.final_gen && g != 0) {
                t.tid = r.tid;
            } else {
                t.tid_known = false;
            }
            t.latest = latest;
            if (latest) {
                t.state = r.state;
                t.write_pos = r.write_pos;
                t.events_written = r.events_written;
                t.events_dropped = r.events_dropped;
                t.first_drop_ticks = r.first_drop_ticks;
                t.last_drop_ticks = r.last_drop_ticks;
                ring_last_[r.ring] = uint32_t(threads_.size());
            } else {
                t.state = fmt::ring_released;
            }
            out.push_back({g, uint32_t(threads_.size())});
            threads_.push_back(std::move(t));
        }
    }
    if (box_ && box_->failed) return box_->first_error;
    return true;
}

result<read_stats> capture::for_each_event(const event_fn& fn) const { return walk(nullptr, fn); }

result<read_stats> capture::for_each_event_from(std::vector<ring_mark>& marks, const event_fn& fn) const {
    marks.resize(owner_table_offset_ ? owners_.size() : threads_.size());  // one per used ring, as walk's cursors
    return walk(marks.data(), fn);
}

// Where a pass starts on a ring whose write position is `end`: its oldest
// surviving slot, or (incremental) where the last pass stopped, unless the
// writer has overwritten past that since (those slots are lost to the reader).
static uint64_t start_of(uint64_t end, uint64_t nslots, capture::ring_mark* m) {
    const uint64_t oldest = end > nslots ? end - nslots : 0;
    if (!m) return oldest;
    uint64_t from = m->read;
    if (from > end) from = end;  // (never, from one writer: write_pos only grows)
    if (from < oldest) {
        m->lost += oldest - from;
        from = oldest;
    }
    m->read_on = m->kept && from == m->read;
    m->read = end;
    return from;
}

result<read_stats> capture::walk(ring_mark* marks, const event_fn& fn) const {
    return v2_ ? walk_rings<ring_cursor2>(marks, fn) : walk_rings<ring_cursor>(marks, fn);
}

template <class Cursor>
result<read_stats> capture::walk_rings(ring_mark* marks, const event_fn& fn) const {
    read_stats stats;
    stats.threads.assign(threads_.size(), ring_stats{});
    walk_context ctx;
    std::vector<const site*> dense;
    init_context(ctx, *this, sites_, site_index_, dense, hdr_.anchors[0].ticks, ns_per_tick_);
    const uint64_t nslots = hdr_.ring_size / Cursor::slot_bytes;  // a power of two (parse checks ring_size)
    const bool by_owner = owner_table_offset_ != 0;
    const size_t n = by_owner ? owners_.size() : threads_.size();  // one cursor per used ring
    // Cursors in place (an event's crash record points into its cursor): never moved.
    std::unique_ptr<Cursor[]> cursors(new Cursor[n]);
    std::vector<owner_track> tracks(by_owner ? n : 0);
    std::vector<std::vector<owner_ref>> lists(by_owner ? n : 0);
    std::vector<merge_key> heads(n);
    for (size_t i = 0; i < n; ++i) {
        Cursor& c = cursors[i];
        c.ctx = &ctx;
        c.ring_offset = rings_offset_ + uint64_t(i) * hdr_.ring_size;
        c.slots = data_ + c.ring_offset;
        c.win_base = c.slots;
        c.mask = nslots - 1;
        if (box_) {  // a container: nothing of the ring is inflated yet
            c.box = box_.get();
            c.win_n = 0;
        }
        const unsigned char* d = data_ + fmt::header_size + uint64_t(i) * fmt::ring_descriptor_size;
        c.desc = d;
        c.live = live_;
        if constexpr (requires { c.mark; }) c.mark = marks ? &marks[i] : nullptr;
        if (by_owner) {
            owner_track& own = tracks[i];
            lists[i] = owners_[i];
            own.list = &lists[i];
            own.by_thread = stats.threads.data();
            own.ring_st = &stats.threads[ring_last_[i]];
            c.st = own.ring_st;
            c.ev.thread = ring_last_[i];
            // Re-read the live write position: the writer may have gone on since open().
            if (!read_ring_position(d, own.final_gen, c.end)) own.uncertain_until = UINT64_MAX;
            c.pos = start_of(c.end, nslots, marks ? &marks[i] : nullptr);
            c.own = &own;
        } else {
            // Re-read the live write position: the writer may have gone on since open().
            c.end = load_acquire<uint64_t>(d + offsetof(fmt::ring_descriptor, write_pos));
            c.pos = start_of(c.end, nslots, marks ? &marks[i] : nullptr);
            c.st = &stats.threads[i];
            c.ev.thread = uint32_t(i);
        }
        c.start();
        const bool any = c.next();
        if (!any) c.leave_chunk();  // an exhausted cursor holds no chunk of a container
        heads[i] = any ? key_of(c.ev.ticks, uint32_t(i)) : no_more;
    }
    // k-way merge on (ticks, thread).
    if (n > 0) {
        loser_tree t(heads);
        while (!t.done()) {
            const uint32_t r = t.top();
            // Ring r's events come next while they are before the bound.
            const merge_key bound = t.runner_up();
            const uint64_t bound_ticks = uint64_t(bound >> 32);
            const bool r_first = r < uint32_t(bound);  // at equal ticks
            Cursor& c = cursors[r];
            bool more;
            do {
                fn(c.ev);
                more = c.next();
            } while (more && (c.ev.ticks < bound_ticks || (c.ev.ticks == bound_ticks && r_first)));
            if (!more) c.leave_chunk();
            t.replace_top(more ? key_of(c.ev.ticks, r) : no_more);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        cursors[i].leave_chunk();
        if constexpr (requires { cursors[i].keep_state(); }) cursors[i].keep_state();
    }
    for (size_t i = 0; i < n; ++i) {
        // The ring's figures, on its latest owner; what was seen, over all its owners.
        const unsigned char* d = data_ + fmt::header_size + uint64_t(i) * fmt::ring_descriptor_size;
        ring_stats& s = stats.threads[by_owner ? ring_last_[i] : i];
        s.events_written = load<uint64_t>(d + offsetof(fmt::ring_descriptor, events_written));
        s.write_pos = load<uint64_t>(d + offsetof(fmt::ring_descriptor, write_pos));
        s.events_dropped = load<uint64_t>(d + offsetof(fmt::ring_descriptor, events_dropped));
        s.first_drop_ticks = load<uint64_t>(d + offsetof(fmt::ring_descriptor, first_drop_ticks));
        s.last_drop_ticks = load<uint64_t>(d + offsetof(fmt::ring_descriptor, last_drop_ticks));
        uint64_t seen = 0;
        auto add = [&](const ring_stats& o) {
            seen += o.events + o.unknown_kind + o.bad_site + o.malformed - o.malformed_time_bases + o.torn +
                    o.overwritten_in_read + o.owner_events + o.unattributed + o.untimed + o.unresolved;
        };
        if (by_owner)
            for (const owner_ref& o : owners_[i]) add(stats.threads[o.thread]);
        else
            add(s);
        s.overwritten = s.events_written > seen ? s.events_written - seen : 0;
    }
    if (box_ && box_->failed) return box_->first_error;  // a chunk that could not be read
    return stats;
}

}  // namespace bbx::dec
