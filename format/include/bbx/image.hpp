// Taking the image of a ring file that writers may still be changing: the
// copy spec/ring-buffer.md ("Images of a live capture") defines, shared by
// the recorder (anonymous mode and the crash handler write one into the
// file, bbx::snapshot compresses one) and the decoder (bbx snapshot).
//
// It is a reader's copy: every slot is copied under its sequence lock, and a
// slot that changed while it was copied gets stamp 0 (torn) rather than a
// mix of two events. No allocation, no lock, no system call: the crash
// handler runs it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "bbx/format.hpp"

namespace bbx::format::image {

// Copies n bytes (a multiple of 8, 8-aligned) as 8-byte acquire loads: a
// writer may be storing into them.
inline void copy_words(unsigned char* to, const unsigned char* from, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = __atomic_load_n(reinterpret_cast<const uint64_t*>(from + i), __ATOMIC_ACQUIRE);
        __builtin_memcpy(to + i, &v, 8);
    }
}

// Copies n bytes of 1.x ring slots (a multiple of 32), each under its
// sequence lock: stamp (acquire), the other three words, acquire fence,
// stamp again. A slot whose stamp changed meanwhile is copied with stamp 0.
inline void copy_slots(unsigned char* to, const unsigned char* from, size_t n) {
    for (size_t i = 0; i < n; i += slot_size) {
        const auto* s = reinterpret_cast<const uint64_t*>(from + i);
        uint64_t w[4];
        w[0] = __atomic_load_n(s, __ATOMIC_ACQUIRE);
        w[1] = __atomic_load_n(s + 1, __ATOMIC_RELAXED);
        w[2] = __atomic_load_n(s + 2, __ATOMIC_RELAXED);
        w[3] = __atomic_load_n(s + 3, __ATOMIC_RELAXED);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (__atomic_load_n(s, __ATOMIC_RELAXED) != w[0]) w[0] = 0;
        __builtin_memcpy(to + i, w, sizeof w);
    }
}

// The same for 2.0 slots (n a multiple of 16): A (acquire), B, acquire
// fence, A again; a slot whose A changed meanwhile is copied with A = 0
// (kind 0: torn), never as a mix of two writes.
inline void copy_slots_v2(unsigned char* to, const unsigned char* from, size_t n) {
    for (size_t i = 0; i < n; i += v2::slot_size) {
        const auto* s = reinterpret_cast<const uint64_t*>(from + i);
        uint64_t w[2];
        w[0] = __atomic_load_n(s, __ATOMIC_ACQUIRE);
        w[1] = __atomic_load_n(s + 1, __ATOMIC_RELAXED);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (__atomic_load_n(s, __ATOMIC_RELAXED) != w[0]) w[0] = 0;
        __builtin_memcpy(to + i, w, sizeof w);
    }
}

// Whether a header copy describes the layout compute_layout gives, of a file
// of `size` bytes. (The decoder validated the file before, but a live file
// can change under it; the recorder's headers always pass.)
inline bool layout_ok(const file_header& h, uint64_t size) {
    // 1.x: 32-byte slots; 2.0: 16 (and every part of 1.4).
    if (!(h.version_major == version_major && h.slot_size == slot_size) &&
        !(h.version_major == v2::version_major && h.slot_size == v2::slot_size))
        return false;
    const uint16_t fm = feature_minor(h.version_major, h.version_minor);
    if (h.ring_size < min_ring_size || h.ring_size > max_ring_size || (h.ring_size & (h.ring_size - 1))) return false;
    if (h.ring_count == 0 || h.ring_count > max_ring_count) return false;
    if (h.meta_capacity == 0 || h.meta_capacity > max_meta_capacity || h.meta_capacity % 4096) return false;
    if (fm >= minor_identities && h.task_entries > max_task_entries) return false;
    const layout l = compute_layout(h.ring_size, h.ring_count, h.meta_capacity, fm,
                                    fm >= minor_identities ? h.task_entries : 0);
    // 1.4: the stall-sample area after the layout's end, the identity region (spec/stall-stacks.md).
    uint64_t end = l.file_size;
    if (h.stall_offset) {
        if (fm < minor_stall || h.stall_offset != l.file_size || h.stall_samples_per_ring == 0 ||
            h.stall_samples_per_ring > max_stall_samples_per_ring || h.stall_mappings == 0 ||
            h.stall_mappings > max_stall_mappings ||
            h.stall_size != stall_area_size(h.ring_count, h.stall_samples_per_ring, h.stall_mappings))
            return false;
        end += h.stall_size;
    }
    return h.header_size == header_size && h.ring_table_offset == l.ring_table_offset &&
           (fm < minor_owners || h.owner_table_offset == l.owner_table_offset) &&
           (fm < minor_identities || h.identity_offset == l.identity_offset) &&
           h.meta_offset == l.meta_offset && h.rings_offset == l.rings_offset && h.file_size == end && end == size;
}

// Takes the image of the ring file at src (`size` bytes, its whole length)
// and hands it to out(offset, bytes, n) -> bool, region by region, in the
// order that makes it consistent:
//
//   1. the header is copied (8-byte loads; the clock fields under calib_seq:
//      if an anchor was being written the image's calib_seq is odd). Its
//      rings_used R is the image's. Nothing is handed out yet.
//   2, 3. ring by ring, 0 .. R-1: its descriptor, then its slots, each
//      under its sequence lock; then (2.0) write_pos again (P2): a ring
//      whose writer went 255 rings on meanwhile is copied again (descriptor
//      and slots: out() gets those offsets again, and the later bytes win),
//      at most three times, then handed out with every slot zero. Then
//      (1.3) their owner table entries, each under its sequence word (an
//      entry being written is copied with an odd one); (1.4) the task
//      table and the rings' open span contexts, each entry the same way;
//      then (1.4) their stall-sample entries and the mapping entries, the
//      same way;
//   4. meta_used is loaded again (acquire) and becomes the image's M: every
//      call site or thread an event of steps 2-3 names was below it. The
//      metadata records below M are handed out: they never change.
//   5. the header (meta_used = M), magic zeroed; then the 8-byte magic at
//      offset 0, last, so that an image cut short is not a ring file.
//
// Bytes it never hands out are zero in the image: descriptors and rings of
// index R or more, metadata past M. buf is scratch of buf_size bytes, a
// multiple of 4096. Returns false if src is not a ring file of `size` bytes
// (magic, layout) or out returned false.
template <class Out>
bool take(const unsigned char* src, uint64_t size, unsigned char* buf, size_t buf_size, Out&& out) {
    if (size < header_size || buf_size < 4096 || buf_size % 4096) return false;
    file_header h;
    auto* hb = reinterpret_cast<unsigned char*>(&h);
    const auto* live = reinterpret_cast<const file_header*>(src);
    const uint32_t s1 = __atomic_load_n(&live->calib_seq, __ATOMIC_ACQUIRE);
    copy_words(hb, src, header_size);
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t s2 = __atomic_load_n(&live->calib_seq, __ATOMIC_RELAXED);
    if (s1 != s2 || (s1 & 1)) h.calib_seq = s1 | 1;
    for (unsigned i = 0; i < sizeof ring_magic; ++i)
        if (h.magic[i] != ring_magic[i]) return false;
    if (!layout_ok(h, size)) return false;
    if (h.rings_used > h.ring_count) h.rings_used = h.ring_count;
    const uint64_t rings = h.rings_used;
    const uint16_t fm = feature_minor(h.version_major, h.version_minor);
    const bool v2_slots = h.version_major == v2::version_major;

    auto copy_range = [&](uint64_t off, uint64_t n, bool slots) {
        while (n) {
            const size_t k = size_t(n < buf_size ? n : buf_size);
            if (slots && v2_slots) copy_slots_v2(buf, src + off, k);
            else if (slots) copy_slots(buf, src + off, k);
            else copy_words(buf, src + off, k);
            if (!out(off, static_cast<const unsigned char*>(buf), k)) return false;
            off += k;
            n -= k;
        }
        return true;
    };
    // Steps 2 and 3, ring by ring: its descriptor, then its slots, then (2.0)
    // the reader's P2 check. An 8-bit lap matches again 256 laps on, so a
    // writer that went about 255 rings past the descriptor's write_pos while
    // the slots were copied may have left copies that hold a later lap's
    // write: the ring is copied again, at most three times, then its slots
    // all get A = 0 (torn). (1.x slots carry a stamp that never repeats.)
    const uint64_t nslots = h.ring_size / v2::slot_size;
    const uint64_t lap_span = 255 * nslots - 257;
    for (uint64_t i = 0; i < rings; ++i) {
        const uint64_t desc_off = h.ring_table_offset + i * ring_descriptor_size;
        const uint64_t ring_off = h.rings_offset + i * h.ring_size;
        const auto* live_pos = reinterpret_cast<const uint64_t*>(src + desc_off + offsetof(ring_descriptor, write_pos));
        for (int copies = 1;; ++copies) {
            copy_words(buf, src + desc_off, ring_descriptor_size);  // write_pos (acquire) before the slots
            uint64_t p;
            __builtin_memcpy(&p, buf + offsetof(ring_descriptor, write_pos), 8);
            if (!out(desc_off, static_cast<const unsigned char*>(buf), size_t{ring_descriptor_size})) return false;
            if (!copy_range(ring_off, h.ring_size, true)) return false;
            if (!v2_slots) break;
            std::atomic_thread_fence(std::memory_order_acquire);
            const uint64_t p2 = __atomic_load_n(live_pos, __ATOMIC_ACQUIRE);
            if (p2 - p < lap_span) break;
            if (copies == 4) {  // the first copy and three more: the ring reads as torn
                __builtin_memset(buf, 0, buf_size);
                for (uint64_t off = 0; off < h.ring_size; off += buf_size) {
                    const uint64_t left = h.ring_size - off;
                    if (!out(ring_off + off, static_cast<const unsigned char*>(buf), size_t(left < buf_size ? left : buf_size)))
                        return false;
                }
                break;
            }
        }
    }
    // Entries that start with a 4-byte sequence word, a whole number of them
    // per buffer, each copied under its word (a changed or odd one: copied odd).
    auto copy_entries = [&](uint64_t off, uint64_t count, size_t entry_size) {
        const uint64_t per_buf = buf_size / entry_size;
        while (count) {
            const uint64_t m = count < per_buf ? count : per_buf;
            const size_t k = size_t(m) * entry_size;
            for (size_t e = 0; e < k; e += entry_size) {
                const auto* seq = reinterpret_cast<const uint32_t*>(src + off + e);
                const uint32_t q1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
                copy_words(buf + e, src + off + e, entry_size);
                std::atomic_thread_fence(std::memory_order_acquire);
                const uint32_t q2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
                const uint32_t q = (q1 != q2 || (q1 & 1)) ? (q1 | 1) : q1;
                __builtin_memcpy(buf + e, &q, 4);
            }
            if (!out(off, static_cast<const unsigned char*>(buf), k)) return false;
            off += k;
            count -= m;
        }
        return true;
    };
    if (fm >= minor_owners && !copy_entries(h.owner_table_offset, rings * owner_entries_per_ring, owner_entry_size))
        return false;
    // 1.4: the identity region: the task table, then the open span contexts of rings 0 .. R-1.
    if (fm >= minor_identities) {
        if (!copy_entries(h.identity_offset, h.task_entries, task_entry_size)) return false;
        if (!copy_entries(h.identity_offset + uint64_t(h.task_entries) * task_entry_size,
                          rings * context_entries_per_ring, context_entry_size))
            return false;
    }
    if (h.stall_offset) {
        if (!copy_entries(h.stall_offset, rings * h.stall_samples_per_ring, stall_sample_entry_size)) return false;
        if (!copy_entries(h.stall_offset + uint64_t(h.ring_count) * h.stall_samples_per_ring * stall_sample_entry_size,
                          h.stall_mappings, stall_mapping_entry_size))
            return false;
    }
    uint64_t meta = __atomic_load_n(&live->meta_used, __ATOMIC_ACQUIRE);
    if (meta > h.meta_capacity || meta % 8 || meta < h.meta_used) meta = h.meta_used > h.meta_capacity ? 0 : h.meta_used;
    h.meta_used = meta & ~uint64_t{7};
    if (!copy_range(h.meta_offset, h.meta_used, false)) return false;
    unsigned char magic[sizeof h.magic];
    __builtin_memcpy(magic, h.magic, sizeof magic);
    __builtin_memset(h.magic, 0, sizeof h.magic);
    if (!out(uint64_t{0}, static_cast<const unsigned char*>(hb), size_t{header_size})) return false;
    return out(uint64_t{0}, static_cast<const unsigned char*>(magic), sizeof magic);
}

}  // namespace bbx::format::image
