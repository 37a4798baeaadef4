// The golden vectors' ring file writer (make_golden.cpp, to_v2.cpp): a ring
// file built byte by byte from format.hpp alone, never by the recorder, in
// format 1.x or (major 2) 2.0 as f2-design.md's writer rules give it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bbx/format.hpp"
#include "bbx_meta_generated.h"

namespace golden {

namespace fmt = ::bbx::format;
namespace fb = ::bbx::fb;

constexpr uint32_t golden_pid = 4242;
constexpr uint64_t start_ticks = 1000000;
constexpr uint64_t start_monotonic_ns = 5000000000000;         // 5000 s after boot
constexpr uint64_t start_realtime_ns = 1700000000000000000;    // 2023-11-14T22:13:20Z
constexpr uint64_t start_boottime_ns = 5000250000000;

// The tick of an event `us` microseconds after anchor 0 (1 GHz counter).
inline uint64_t at_us(int64_t us) { return uint64_t(int64_t(start_ticks) + us * 1000); }

// One argument value: its word and, for strings, the bytes.
struct val {
    uint64_t word = 0;
    std::string bytes;
};
inline val i64(int64_t v) { return {uint64_t(v), {}}; }
inline val u64(uint64_t v) { return {v, {}}; }
inline val f64(double d) {
    val v;
    std::memcpy(&v.word, &d, 8);
    return v;
}
inline val boolean(bool b) { return {b ? 1u : 0u, {}}; }
inline val str(std::string s) { return {s.size(), std::move(s)}; }

// An event's payload as spec/events.md lays it out: the argument words from
// args[from] on, then every string argument's bytes.
inline void append_args_payload(std::vector<unsigned char>& payload, const std::vector<val>& args, size_t from) {
    for (size_t i = from; i < args.size(); ++i) {
        unsigned char x[8];
        std::memcpy(x, &args[i].word, 8);
        payload.insert(payload.end(), x, x + 8);
    }
    for (const val& a : args) payload.insert(payload.end(), a.bytes.begin(), a.bytes.end());
}
// A string whose length word says `word` whatever its bytes (malformed events).
inline val raw_str(uint64_t word, std::string s) { return {word, std::move(s)}; }

struct decl {
    const char* name;
    fb::ArgType type;
};

// A ring file under construction: header, descriptors, metadata and rings
// kept apart, joined by image().
class ring_file {
public:
    // minor: 0 (the vectors of 1.0 features, which every 1.x decoder must
    // read), 3 (rings that change hands: owner events, the owner table) or
    // 4 (the identity region of task_entries task entries).
    // major 2: format 2.0 (16-byte slots; f2-design.md), with every part of
    // 1.4 (minor is then the layout's feature minor, 4).
    ring_file(uint32_t ring_count, uint32_t rings_used, uint32_t flags = fmt::flag_ended_clean,
              uint32_t ring_size = 4096, uint32_t meta_kb = 4, uint16_t minor = 0, uint32_t task_entries = 0,
              uint16_t major = 1) {
        std::memset(&h, 0, sizeof h);
        std::memcpy(h.magic, fmt::ring_magic, 8);
        v2 = major == fmt::v2::version_major;
        if (v2) minor = fmt::feature_minor(major, 0);
        h.version_major = major;
        h.version_minor = v2 ? fmt::v2::version_minor : minor;
        h.header_size = fmt::header_size;
        h.slot_size = v2 ? fmt::v2::slot_size : fmt::slot_size;
        h.ring_size = ring_size;
        h.ring_count = ring_count;
        h.rings_used = rings_used;
        fmt::layout l = fmt::compute_layout(ring_size, ring_count, uint64_t(meta_kb) * 1024, minor, task_entries);
        h.owner_table_offset = l.owner_table_offset;
        owners.assign(l.owner_table_size, 0);
        h.identity_offset = l.identity_offset;
        h.task_entries = task_entries;
        identity.assign(l.identity_size, 0);
        h.ring_table_offset = l.ring_table_offset;
        h.meta_offset = l.meta_offset;
        h.meta_capacity = l.meta_capacity;
        h.meta_used = 0;
        h.rings_offset = l.rings_offset;
        h.file_size = l.file_size;
        h.pid = golden_pid;
        h.flags = flags;
        h.calib_seq = 2;
        h.anchor_count = 1;
        h.anchors[0] = {start_ticks, start_monotonic_ns, start_realtime_ns, start_boottime_ns};
        h.tick_hz = 1e9;
        h.level = 5;
        std::snprintf(h.process_name, sizeof h.process_name, "golden");
        std::snprintf(h.exe_path, sizeof h.exe_path, "/opt/golden/bin/golden");
        rings.assign(ring_count, fmt::ring_descriptor{});
        for (uint32_t i = 0; i < rings_used; ++i) {
            rings[i].tid = golden_pid + i;
            rings[i].state = fmt::ring_owned;
        }
        meta.assign(l.meta_capacity, 0);
        ring_bytes.assign(uint64_t(ring_count) * ring_size, 0);
        writer.assign(ring_count, ring_writer{});
    }

    // Appends a metadata record; returns its offset in the metadata region.
    uint64_t record(const uint8_t* data, uint32_t size, bool commit = true) {
        uint64_t off = h.meta_used;
        fmt::meta_record_header rh{size, commit ? fmt::meta_commit : 0};
        std::memcpy(&meta.at(off), &rh, sizeof rh);
        std::memcpy(&meta.at(off + 8), data, size);
        h.meta_used = off + 8 + fmt::align8(size);
        return off;
    }
    uint64_t record(const flatbuffers::FlatBufferBuilder& b, bool commit = true) {
        return record(b.GetBufferPointer(), b.GetSize(), commit);
    }

    uint64_t site(uint32_t id, fb::SiteKind kind, const char* category, const char* name,
                  const std::vector<decl>& args = {}, bool commit = true, uint8_t level = 3) {
        flatbuffers::FlatBufferBuilder b;
        std::vector<flatbuffers::Offset<fb::Arg>> a;
        for (const decl& d : args) a.push_back(fb::CreateArgDirect(b, d.name, d.type));
        std::string fn = std::string("golden_") + name;
        auto cs = fb::CreateCallSiteDirect(b, id, kind, level, category, name, "golden.cpp", 100 + id, fn.c_str(),
                                           args.empty() ? nullptr : &a);
        b.Finish(fb::CreateRecord(b, fb::Body::CallSite, cs.Union()));
        return record(b, commit);
    }

    uint64_t thread(uint32_t ring, uint32_t tid, const char* name) {
        flatbuffers::FlatBufferBuilder b;
        auto t = fb::CreateThreadDirect(b, ring, tid, name);
        b.Finish(fb::CreateRecord(b, fb::Body::Thread, t.Union()));
        return record(b);
    }

    unsigned char* slot(uint32_t ring, uint64_t pos) {
        uint64_t nslots = h.ring_size / h.slot_size;
        return &ring_bytes.at(uint64_t(ring) * h.ring_size + (pos % nslots) * h.slot_size);
    }
    void set_stamp(uint32_t ring, uint64_t pos, uint64_t stamp) { std::memcpy(slot(ring, pos), &stamp, 8); }

    // Writes one event as the recorder does: the head slot, then continuation
    // slots with argument words 1..n-1 and the string bytes. Returns the head's
    // position, or -1 when discard mode drops it.
    int64_t event(uint32_t ring, uint8_t kind, uint32_t site_id, uint64_t ticks, const std::vector<val>& args = {}) {
        if (v2) return event2(ring, kind, site_id, ticks, args);
        std::vector<unsigned char> payload;
        append_args_payload(payload, args, 1);
        uint32_t cont = uint32_t((payload.size() + fmt::continuation_payload - 1) / fmt::continuation_payload);
        payload.resize(size_t(cont) * fmt::continuation_payload, 0);
        fmt::ring_descriptor& d = rings.at(ring);
        uint64_t pos = d.write_pos;
        if ((h.flags & fmt::flag_discard) && pos + 1 + cont > h.ring_size / fmt::slot_size) {
            d.events_dropped++;
            return -1;
        }
        fmt::event_slot head{pos + 1, kind, uint8_t(cont), 0, site_id, ticks, args.empty() ? 0 : args[0].word};
        std::memcpy(slot(ring, pos), &head, sizeof head);
        for (uint32_t i = 0; i < cont; ++i) {
            fmt::continuation_slot c{};
            c.stamp = pos + 2 + i;
            c.kind = uint8_t(fmt::kind::continuation);
            std::memcpy(c.data, payload.data() + size_t(i) * fmt::continuation_payload, fmt::continuation_payload);
            std::memcpy(slot(ring, pos + 1 + i), &c, sizeof c);
        }
        d.write_pos = pos + 1 + cont;
        d.events_written++;
        return int64_t(pos);
    }
    int64_t event(uint32_t ring, fmt::kind k, uint32_t site_id, uint64_t ticks, const std::vector<val>& args = {}) {
        return event(ring, uint8_t(k), site_id, ticks, args);
    }

    // ---- 2.0 (f2-design.md): the writer as the design gives it ----------------

    // What a 2.0 writer keeps per thread: the high half of the last event's
    // (or owner event's) ticks (none: a time base comes first), the position that forces the
    // next time base, and its polls (task, and whether the poll_begin went
    // into this ring: only then are implicit forms written for it).
    struct ring_writer {
        uint32_t last_hi = fmt::v2::no_prev_hi;
        uint64_t tb_limit = 0;
        std::vector<std::pair<uint64_t, bool>> polls;
        bool no_time_bases = false;  // a broken writer (damage vectors): never writes one
        // A poll event was lost (events.md, "The current task"): only explicit
        // forms, and time bases naming unknown_task, until a new owner.
        bool unknown = false;
        // The next owner takes the ring inside a poll (its poll_begin is in
        // no ring of its own): as after a lost poll event, from its owner event on.
        bool taken_in_poll = false;
    };
    std::vector<ring_writer> writer;
    bool v2 = false;

    uint64_t nslots() const { return h.ring_size / h.slot_size; }
    uint32_t log2_slots() const { return uint32_t(__builtin_ctzll(nslots())); }
    // Slot `pos` of a 2.0 ring: words A and B.
    void put2(uint32_t ring, uint64_t pos, uint64_t a, uint64_t b) {
        unsigned char* p = slot(ring, pos);
        std::memcpy(p, &a, 8);
        std::memcpy(p + 8, &b, 8);
    }
    uint64_t a_of(uint32_t ring, uint64_t pos) {
        uint64_t a;
        std::memcpy(&a, slot(ring, pos), 8);
        return a;
    }
    void set_a(uint32_t ring, uint64_t pos, uint64_t a) { std::memcpy(slot(ring, pos), &a, 8); }
    // The head and continuations of one event at write_pos (no commit).
    void slots2(uint32_t ring, uint8_t kind, uint32_t site_id, uint64_t ticks, uint64_t b, const std::vector<uint64_t>& words) {
        fmt::ring_descriptor& d = rings.at(ring);
        const uint64_t pos = d.write_pos;
        const uint32_t n = uint32_t(words.size());
        put2(ring, pos, fmt::v2::head_word(fmt::kind(kind), pos >> log2_slots(), site_id, ticks), b);
        for (uint32_t i = 1; i <= n; ++i)
            put2(ring, pos + i, fmt::v2::continuation_word((pos + i) >> log2_slots(), i, n), words[i - 1]);
        d.write_pos = pos + 1 + n;
    }
    // An event of 2.0: a time base first when its tick's high half differs
    // from the last event's or its slots pass tb_limit (discard mode: both
    // fit, or the event is dropped), then its slots, then the commit.
    int64_t put_event2(uint32_t ring, uint8_t kind, uint32_t site_id, uint64_t ticks, uint64_t b,
                       const std::vector<uint64_t>& words) {
        fmt::ring_descriptor& d = rings.at(ring);
        ring_writer& w = writer.at(ring);
        const uint32_t n = uint32_t(words.size());
        const uint32_t hi = uint32_t(ticks >> 32);
        const bool owner = kind == uint8_t(fmt::kind::owner);
        const bool tb = !owner && !w.no_time_bases && (hi != w.last_hi || d.write_pos + 1 + n > w.tb_limit);
        if ((h.flags & fmt::flag_discard) && d.write_pos + (tb ? 2 : 0) + 1 + n > nslots()) {
            d.events_dropped++;
            if (owner) w.last_hi = fmt::v2::no_prev_hi;  // nothing times the next event: a time base first
            return -1;
        }
        if (tb) {
            w.tb_limit = d.write_pos + nslots() / 2;
            slots2(ring, uint8_t(fmt::kind::time_base), 0, ticks, fmt::v2::time_base_word(hi, w.last_hi),
                   {w.unknown ? fmt::v2::unknown_task : w.polls.empty() ? 0 : w.polls.back().first});
        }
        const uint64_t pos = d.write_pos;
        // An owner event's B carries its hi (bits 32..63): it times the next
        // events as a time base would, and the next time base is due half a
        // ring on; taken inside a poll (unknown), one comes before the first event.
        if (owner) b = fmt::v2::owner_word(uint32_t(b), hi);
        slots2(ring, kind, site_id, ticks, b, words);
        d.events_written++;
        w.last_hi = hi;
        if (owner) w.tb_limit = w.unknown ? 0 : pos + nslots() / 2;
        return int64_t(pos);
    }
    // The 1.x event (kind, word0 = args[0], payload words and string bytes
    // from args[1..]) as 2.0 writes it: the same head word and payload, but
    // an owner event's tid and name length in one word, and the task events
    // that name a task or waker in their implicit form when it is the
    // current task, else their _for form; a wake by no task (waker 0) as
    // task_wake_external; a spawn by the current task as task_spawn_here.
    int64_t event2(uint32_t ring, uint8_t kind, uint32_t site_id, uint64_t ticks, const std::vector<val>& args) {
        ring_writer& w = writer.at(ring);
        std::vector<unsigned char> payload;
        auto word = [&](size_t i) { return i < args.size() ? args[i].word : 0; };
        const uint64_t b = word(0);
        const bool cur_written = !w.unknown && (w.polls.empty() || w.polls.back().second);
        const uint64_t cur = w.polls.empty() ? 0 : w.polls.back().first;
        auto words_of = [&](size_t from) { append_args_payload(payload, args, from); };
        switch (fmt::kind(kind)) {
            case fmt::kind::owner: {  // args: generation, tid, str(name)
                const uint64_t w0 = word(1) | uint64_t(args.size() > 2 ? args[2].word : 0) << 32;
                unsigned char x[8];
                std::memcpy(x, &w0, 8);
                payload.insert(payload.end(), x, x + 8);
                if (args.size() > 2) payload.insert(payload.end(), args[2].bytes.begin(), args[2].bytes.end());
                w.polls.clear();
                w.unknown = w.taken_in_poll;
                w.taken_in_poll = false;
                break;
            }
            case fmt::kind::task_wake:  // args: task, waker
                if (word(1) == 0) {  // by no task: task_wake_external, wherever it is written
                    kind = uint8_t(fmt::kind::task_wake_external);
                } else if (!(word(1) == cur && cur_written)) {
                    kind = uint8_t(fmt::kind::task_wake_by);
                    payload.resize(8);
                    const uint64_t waker = word(1);
                    std::memcpy(payload.data(), &waker, 8);
                }
                return put_event2(ring, kind, site_id, ticks, b, pad_words(payload));
            case fmt::kind::wait_begin:
            case fmt::kind::wait_end:
            case fmt::kind::resource_op: {  // args: task, resource, op
                const uint64_t rw = fmt::v2::resource_word(word(1), uint8_t(word(2)));
                if (!(b == cur && cur != 0 && cur_written)) {
                    kind = uint8_t(kind + 4);
                    return put_event2(ring, kind, site_id, ticks, rw, {b});
                }
                return put_event2(ring, kind, site_id, ticks, rw, {});
            }
            case fmt::kind::task_spawn:  // args: task, parent, frame bytes
                if (word(1) == cur && cur != 0 && cur_written) {  // by the current task: task_spawn_here
                    kind = uint8_t(fmt::kind::task_spawn_here);
                    if (word(2) == 0) return put_event2(ring, kind, site_id, ticks, b, {});
                    return put_event2(ring, kind, site_id, ticks, b, {word(2)});
                }
                words_of(1);
                break;
            case fmt::kind::task_poll_begin: w.polls.push_back({b, true}); break;
            case fmt::kind::task_poll_end:
                for (size_t i = w.polls.size(); i-- > 0;)
                    if (w.polls[i].first == b) {
                        w.polls.resize(i);
                        break;
                    }
                break;
            default: words_of(1);
        }
        return put_event2(ring, kind, site_id, ticks, b, pad_words(payload));
    }
    static std::vector<uint64_t> pad_words(std::vector<unsigned char> bytes) {
        bytes.resize((bytes.size() + 7) / 8 * 8, 0);
        std::vector<uint64_t> w(bytes.size() / 8);
        if (!w.empty()) std::memcpy(w.data(), bytes.data(), bytes.size());
        return w;
    }
    // A poll whose poll_begin did not go into the ring (dropped, or gated
    // out): the writer knows it is open, but names its task explicitly.
    // A poll_begin not written is a lost poll event: the writer acts on it
    // at once (poll_lost).
    void poll_unwritten(uint32_t ring, uint64_t task) {
        writer.at(ring).polls.push_back({task, false});
        poll_lost(ring);
    }
    void poll_unwritten_end(uint32_t ring) { writer.at(ring).polls.pop_back(); }
    // A poll_end not written (the poll's task still open for a reader): the
    // poll is over for the writer, and the loss is acted on.
    void poll_end_unwritten(uint32_t ring) {
        writer.at(ring).polls.pop_back();
        poll_lost(ring);
    }
    // A lost poll event (spec/events.md, "The current task"): only explicit
    // forms from here, time bases naming unknown_task, and one before the
    // next event.
    void poll_lost(uint32_t ring) {
        ring_writer& w = writer.at(ring);
        if (w.unknown) return;
        w.unknown = true;
        w.tb_limit = 0;
    }

    // An instant whose argument 0 is a task id (args[0]), as the recorder
    // writes its Asio diagnostics: in 2.0 an instant_task (kind 10; the task
    // left out, B = argument 1's word, then words 2.. and the string bytes)
    // when the task is the ring's current task (events.md, "The current
    // task": its poll_begin written, no poll event lost, not 0), else an
    // instant with every word; in 1.x always an instant.
    int64_t instant_task(uint32_t ring, uint32_t site_id, uint64_t ticks, const std::vector<val>& args) {
        if (v2 && !args.empty()) {
            const ring_writer& w = writer.at(ring);
            const bool cur_written = !w.unknown && !w.polls.empty() && w.polls.back().second;
            if (cur_written && args[0].word != 0 && args[0].word == w.polls.back().first) {
                std::vector<unsigned char> payload;
                append_args_payload(payload, args, 2);
                return put_event2(ring, uint8_t(fmt::kind::instant_task), site_id, ticks,
                                  args.size() > 1 ? args[1].word : 0, pad_words(payload));
            }
        }
        return event(ring, fmt::kind::instant, site_id, ticks, args);
    }

    // 1.3: the owner table entry of generation g of a ring (seq 2: complete).
    void owner_entry(uint32_t ring, uint32_t g, uint32_t tid, const std::string& name, uint64_t start_pos) {
        fmt::owner_entry e{};
        e.seq = 2;
        e.generation = g;
        e.tid = tid;
        e.start_pos = start_pos;
        std::memcpy(e.name, name.data(), std::min<size_t>(name.size(), sizeof e.name));
        std::memcpy(&owners.at((uint64_t(ring) * fmt::owner_entries_per_ring + g % fmt::owner_entries_per_ring) *
                               fmt::owner_entry_size),
                    &e, sizeof e);
    }
    // 1.3: a new owner takes the ring as the recorder does: its table entry,
    // its owner event (generation; tid, name length, name), the generation.
    void take(uint32_t ring, uint32_t tid, const std::string& name, uint64_t ticks, bool in_poll = false) {
        if (v2) writer.at(ring).taken_in_poll = in_poll;
        fmt::ring_descriptor& d = rings.at(ring);
        const uint32_t g = d.generation + 1;
        owner_entry(ring, g, tid, name, d.write_pos);
        event(ring, fmt::kind::owner, 0, ticks, {u64(g), u64(tid), str(name)});
        d.generation = g;
        d.tid = tid;
        d.state = fmt::ring_owned;
    }

    // 1.4: task table entry j, as a spawn writes it (seq 2: complete).
    void task_entry(uint32_t j, uint32_t state, uint64_t id, uint64_t parent, uint64_t frame, uint64_t spawn,
                    uint64_t complete, uint32_t site_id, uint32_t ring, uint32_t generation, uint32_t seq = 2) {
        fmt::task_entry e{seq, state, id, parent, frame, spawn, complete, site_id, ring, generation, 0};
        std::memcpy(&identity.at(uint64_t(j) * fmt::task_entry_size), &e, sizeof e);
    }
    // 1.4: open span context entry k of a ring (seq 2: complete).
    void context_entry(uint32_t ring, uint32_t k, uint32_t generation, uint64_t ticks, uint64_t span, uint64_t trace_hi,
                       uint64_t trace_lo, uint64_t parent, uint32_t role_flags) {
        fmt::context_entry e{2, generation, ticks, span, trace_hi, trace_lo, parent, role_flags, 0, 0};
        std::memcpy(&identity.at(uint64_t(h.task_entries) * fmt::task_entry_size +
                                 (uint64_t(ring) * fmt::context_entries_per_ring + k) * fmt::context_entry_size),
                    &e, sizeof e);
    }

    std::vector<unsigned char> image() const {
        std::vector<unsigned char> out(h.file_size, 0);
        std::memcpy(out.data(), &h, sizeof h);
        for (size_t i = 0; i < rings.size(); ++i)
            std::memcpy(out.data() + h.ring_table_offset + i * fmt::ring_descriptor_size, &rings[i], sizeof rings[i]);
        std::memcpy(out.data() + h.meta_offset, meta.data(), meta.size());
        std::memcpy(out.data() + h.rings_offset, ring_bytes.data(), ring_bytes.size());
        if (!owners.empty()) std::memcpy(out.data() + h.owner_table_offset, owners.data(), owners.size());
        if (!identity.empty()) std::memcpy(out.data() + h.identity_offset, identity.data(), identity.size());
        if (!stall.empty()) std::memcpy(out.data() + h.stall_offset, stall.data(), stall.size());
        return out;
    }

    // 1.4: a stall-sample area of K entries per ring and M mapping entries, after the owner table.
    void stall_area(uint32_t k, uint32_t m) {
        h.stall_offset = h.file_size;
        h.stall_size = fmt::stall_area_size(h.ring_count, k, m);
        h.stall_samples_per_ring = k;
        h.stall_sample_size = fmt::stall_sample_entry_size;
        h.stall_max_frames = fmt::max_stall_frames;
        h.stall_mappings = m;
        h.stall_mapping_size = fmt::stall_mapping_entry_size;
        h.stall_threshold_us = 10000;
        h.stall_period_us = 2000;
        h.file_size += h.stall_size;
        stall.assign(h.stall_size, 0);
    }
    // Sample `number` of a ring (entry (number - 1) % K), complete (seq 2).
    void stall_sample(uint32_t ring, uint32_t generation, uint64_t ticks, uint64_t number, std::vector<uint64_t> frames,
                      uint32_t flags = 0) {
        fmt::stall_sample_entry e{};
        e.seq = 2;
        e.generation = generation;
        e.ticks = ticks;
        e.nframes = uint32_t(frames.size());
        e.flags = flags;
        e.number = number;
        for (size_t i = 0; i < frames.size() && i < fmt::max_stall_frames; ++i) e.frames[i] = frames[i];
        const uint64_t k = h.stall_samples_per_ring;
        std::memcpy(&stall.at((ring * k + (number - 1) % k) * fmt::stall_sample_entry_size), &e, sizeof e);
    }
    // Mapping entry i, complete (seq 2); build_id: its bytes (at most 32).
    void stall_mapping(uint32_t i, uint64_t base, uint64_t low, uint64_t high, const std::string& path,
                       const std::string& build_id = "\xde\xad\xbe\xef") {
        fmt::stall_mapping_entry m{};
        m.seq = 2;
        m.base = base;
        m.low = low;
        m.high = high;
        m.build_id_size = uint32_t(std::min<size_t>(build_id.size(), sizeof m.build_id));
        std::memcpy(m.build_id, build_id.data(), m.build_id_size);
        std::snprintf(m.path, sizeof m.path, "%s", path.c_str());
        const uint64_t at = uint64_t(h.ring_count) * h.stall_samples_per_ring * fmt::stall_sample_entry_size +
                            i * fmt::stall_mapping_entry_size;
        std::memcpy(&stall.at(at), &m, sizeof m);
    }

    fmt::file_header h;
    std::vector<unsigned char> owners;  // 1.3: the owner table
    std::vector<unsigned char> identity;  // 1.4: the identity region
    std::vector<unsigned char> stall;   // 1.4: the stall-sample area
    std::vector<fmt::ring_descriptor> rings;
    std::vector<unsigned char> meta;
    std::vector<unsigned char> ring_bytes;
};

}  // namespace golden
