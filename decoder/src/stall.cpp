// The stall-sample area (format 1.4, spec/stall-stacks.md): its header
// fields checked, its sample entries and loaded objects read. Every entry
// is read under its sequence word (the writer may be running); a stable
// entry that breaks the spec is an error naming its offset and field.
#include <algorithm>
#include <cinttypes>
#include <cstring>

#include "bbx/decoder/capture.hpp"

namespace bbx::dec {
namespace {

namespace fmt = ::bbx::format;

template <class T>
T load(const unsigned char* p) {
    return __atomic_load_n(reinterpret_cast<const T*>(p), __ATOMIC_RELAXED);
}

error corrupt(uint64_t off, std::string what) { return error{errc::corrupt, off, std::move(what)}; }

std::string hex(const unsigned char* p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += digits[p[i] >> 4], s += digits[p[i] & 15];
    return s;
}

// The names glibc and musl give the kernel's vDSO in dl_iterate_phdr (its
// soname: linux-vdso.so.1, linux-gate.so.1 on i386, linux-vdso32.so.1 and
// linux-vdso64.so.1 on some others). It has no file: it is named "[vdso]",
// as /proc/PID/maps and perf name it.
bool is_vdso_name(const std::string& path) {
    return path.find('/') == std::string::npos && (path.rfind("linux-vdso", 0) == 0 || path.rfind("linux-gate", 0) == 0);
}

}  // namespace

#define BBX_FIELD(f) offsetof(fmt::file_header, f)

result<bool> capture::check_stall_header(const fmt::file_header& h, uint64_t end_without) const {
    const uint32_t words[] = {h.stall_samples_per_ring, h.stall_sample_size, h.stall_max_frames, h.stall_mappings,
                              h.stall_mapping_size,     h.stall_threshold_us, h.stall_period_us,  h.stall_flags};
    const bool any = h.stall_offset || h.stall_size || std::any_of(std::begin(words), std::end(words), [](uint32_t v) { return v != 0; });
    if (!any) return true;
    if (fmt::feature_minor(h.version_major, h.version_minor) < fmt::minor_stall) return corrupt(BBX_FIELD(stall_offset), "reserved header bytes are not zero");
    if (!h.stall_offset) {
        for (size_t i = 0; i < std::size(words); ++i)
            if (words[i]) return corrupt(BBX_FIELD(stall_samples_per_ring) + 4 * i, "stall_offset is 0 (no stall-sample area) but the stall fields after it are not zero");
        return corrupt(BBX_FIELD(stall_size), "stall_offset is 0 (no stall-sample area) but stall_size is " + std::to_string(h.stall_size));
    }
    if (h.stall_offset != end_without)
        return corrupt(BBX_FIELD(stall_offset), "stall_offset is " + std::to_string(h.stall_offset) + ", the layout gives " + std::to_string(end_without));
    if (h.stall_samples_per_ring == 0 || h.stall_samples_per_ring > fmt::max_stall_samples_per_ring)
        return corrupt(BBX_FIELD(stall_samples_per_ring), "stall_samples_per_ring is " + std::to_string(h.stall_samples_per_ring) + ", must be 1 to 256");
    if (h.stall_sample_size != fmt::stall_sample_entry_size)
        return corrupt(BBX_FIELD(stall_sample_size), "stall_sample_size is " + std::to_string(h.stall_sample_size) + ", must be 288");
    if (h.stall_max_frames != fmt::max_stall_frames)
        return corrupt(BBX_FIELD(stall_max_frames), "stall_max_frames is " + std::to_string(h.stall_max_frames) + ", must be 32");
    if (h.stall_mappings == 0 || h.stall_mappings > fmt::max_stall_mappings)
        return corrupt(BBX_FIELD(stall_mappings), "stall_mappings is " + std::to_string(h.stall_mappings) + ", must be 1 to 4096");
    if (h.stall_mapping_size != fmt::stall_mapping_entry_size)
        return corrupt(BBX_FIELD(stall_mapping_size), "stall_mapping_size is " + std::to_string(h.stall_mapping_size) + ", must be 256");
    if (h.stall_flags & ~fmt::stall_flags_known)
        return corrupt(BBX_FIELD(stall_flags), "stall_flags has reserved bits set");
    const uint64_t want = fmt::stall_area_size(h.ring_count, h.stall_samples_per_ring, h.stall_mappings);
    if (h.stall_size != want)
        return corrupt(BBX_FIELD(stall_size), "stall_size is " + std::to_string(h.stall_size) + ", the layout gives " + std::to_string(want));
    return true;
}

result<bool> capture::reread_stall_samples() {
    stall_samples_.clear();
    objects_.clear();
    if (!stall_header_.stall_offset) return true;
    const fmt::file_header h = stall_header_;
    auto r = parse_stall(h);
    if (r.is_error()) stall_samples_.clear(), objects_.clear();
    return r;
}

result<bool> capture::parse_stall(const fmt::file_header& h) {
    if (!h.stall_offset) return true;
    stall_header_ = h;
    hdr_.stall_threshold_us = h.stall_threshold_us;
    hdr_.stall_period_us = h.stall_period_us;
    hdr_.stall_flags = h.stall_flags;
    hdr_.stall_samples_per_ring = h.stall_samples_per_ring;
    hdr_.stall_mappings = h.stall_mappings;
    const uint32_t k = h.stall_samples_per_ring;
    // Sample entries of the rings in use: bounded by the file (the header's sizes were checked against it).
    for (uint32_t r = 0; r < h.rings_used && r < owners_.size(); ++r) {
        for (uint32_t i = 0; i < k; ++i) {
            const uint64_t off = h.stall_offset + (uint64_t(r) * k + i) * fmt::stall_sample_entry_size;
            const unsigned char* e = data_ + off;
            const uint32_t seq = __atomic_load_n(reinterpret_cast<const uint32_t*>(e), __ATOMIC_ACQUIRE);
            if (seq == 0 || (seq & 1)) continue;  // never written, or being written
            fmt::stall_sample_entry x;
            for (size_t w = 0; w < sizeof x / 8; ++w) {
                const uint64_t v = load<uint64_t>(e + 8 * w);
                std::memcpy(reinterpret_cast<unsigned char*>(&x) + 8 * w, &v, 8);
            }
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (load<uint32_t>(e) != seq) continue;  // rewritten while read: torn
            const std::string which = "stall sample entry " + std::to_string(i) + " of ring " + std::to_string(r);
            if (x.nframes > fmt::max_stall_frames)
                return corrupt(off + offsetof(fmt::stall_sample_entry, nframes), which + ": nframes is " + std::to_string(x.nframes) + ", at most 32");
            if (x.flags & ~fmt::stall_sample_flags_known)
                return corrupt(off + offsetof(fmt::stall_sample_entry, flags), which + ": flags has reserved bits set");
            if (x.generation == 0 || x.number == 0 || x.nframes == 0) continue;  // empty
            // Its owner among the ring's owners with events in the window (else it is not shown).
            const auto& list = owners_[r];
            auto it = std::find_if(list.begin(), list.end(), [&](const owner_ref& o) { return o.generation == x.generation; });
            if (it == list.end()) continue;
            stall_sample s;
            s.thread = it->thread;
            s.ticks = x.ticks;
            s.ns = ticks_to_ns(x.ticks);
            s.number = x.number;
            s.flags = x.flags;
            s.frames.assign(x.frames, x.frames + x.nframes);
            stall_samples_.push_back(std::move(s));
        }
    }
    std::sort(stall_samples_.begin(), stall_samples_.end(), [](const stall_sample& a, const stall_sample& b) {
        return a.thread != b.thread ? a.thread < b.thread : a.ticks != b.ticks ? a.ticks < b.ticks : a.number < b.number;
    });
    const uint64_t table = h.stall_offset + uint64_t(h.ring_count) * k * fmt::stall_sample_entry_size;
    for (uint32_t i = 0; i < h.stall_mappings; ++i) {
        const uint64_t off = table + uint64_t(i) * fmt::stall_mapping_entry_size;
        const unsigned char* e = data_ + off;
        const uint32_t seq = __atomic_load_n(reinterpret_cast<const uint32_t*>(e), __ATOMIC_ACQUIRE);
        if (seq == 0) break;  // the table fills in order
        if (seq & 1) continue;
        fmt::stall_mapping_entry m;
        for (size_t w = 0; w < sizeof m / 8; ++w) {
            const uint64_t v = load<uint64_t>(e + 8 * w);
            std::memcpy(reinterpret_cast<unsigned char*>(&m) + 8 * w, &v, 8);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (load<uint32_t>(e) != seq) continue;
        const std::string which = "stall mapping entry " + std::to_string(i);
        if (m.build_id_size > fmt::stall_build_id_size)
            return corrupt(off + offsetof(fmt::stall_mapping_entry, build_id_size), which + ": build_id_size is " + std::to_string(m.build_id_size) + ", at most 32");
        if (m.low >= m.high)
            return corrupt(off + offsetof(fmt::stall_mapping_entry, low), which + ": low is not below high");
        if (std::memchr(m.path, 0, sizeof m.path) == nullptr)
            return corrupt(off + offsetof(fmt::stall_mapping_entry, path), which + ": path is not NUL-terminated within its 192 bytes");
        loaded_object o;
        o.base = m.base;
        o.low = m.low;
        o.high = m.high;
        o.path = m.path;
        if (o.path.empty()) o.path = hdr_.exe_path;
        else if (is_vdso_name(o.path)) o.path = "[vdso]";
        o.build_id = hex(m.build_id, m.build_id_size);
        objects_.push_back(std::move(o));
    }
    return true;
}

const loaded_object* capture::object_of(uint64_t address) const {
    for (const loaded_object& o : objects_)
        if (address >= o.low && address < o.high) return &o;
    return nullptr;
}

}  // namespace bbx::dec
