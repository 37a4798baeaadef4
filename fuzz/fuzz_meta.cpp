// Checks that no metadata record makes the decoder crash, hang, leak or break
// its promises: the input is the body (the FlatBuffer) of the one metadata
// record of an otherwise valid ring file, whose ring holds an event of every
// kind that names the record's call site or resource; the file is opened, an
// error must point into the record, and otherwise every event is walked and
// every output written and checked.
#include <cstdint>
#include <cstring>
#include <vector>

#include "bbx_meta_generated.h"
#include "check.hpp"

namespace {

using namespace bbx_fuzz;

constexpr uint32_t ring_size = fmt::min_ring_size;
constexpr uint64_t tick0 = 1'000'000;

// Appends events to ring 0 of the image being built.
struct ring_writer {
    unsigned char* slots;
    uint64_t pos = 0, events = 0;

    void head(fmt::kind k, uint32_t cont, uint32_t site, uint64_t word0) {
        fmt::event_slot s{};
        s.stamp = pos + 1;
        s.kind = uint8_t(k);
        s.cont = uint8_t(cont);
        s.site = site;
        s.ticks = tick0 + 1000 * (events + 1);
        s.word0 = word0;
        std::memcpy(slots + pos++ * fmt::slot_size, &s, sizeof s);
        ++events;
    }
    // The continuation slots of the event just started, from `payload`.
    void payload(const unsigned char* p, uint32_t cont) {
        for (uint32_t i = 0; i < cont; ++i) {
            fmt::continuation_slot s{};
            s.stamp = pos + 1;
            s.kind = uint8_t(fmt::kind::continuation);
            std::memcpy(s.data, p + i * fmt::continuation_payload, fmt::continuation_payload);
            std::memcpy(slots + pos++ * fmt::slot_size, &s, sizeof s);
        }
    }
    void words(fmt::kind k, uint32_t site, uint64_t word0, uint64_t w1, uint64_t w2) {
        head(k, 1, site, word0);
        uint64_t w[2] = {w1, w2};
        payload(reinterpret_cast<const unsigned char*>(w), 1);
    }
};

// The ids the record declares, when it is a valid Record (the decoder judges
// it on its own; these only aim the events at it).
void ids_in(const uint8_t* data, size_t size, uint32_t& site, uint64_t& resource) {
    flatbuffers::Verifier v(data, size);
    if (!bbx::fb::VerifyRecordBuffer(v)) return;
    const bbx::fb::Record* r = bbx::fb::GetRecord(data);
    if (auto* cs = r->body_as_CallSite()) site = cs->id();
    if (auto* res = r->body_as_Resource()) resource = res->id();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The region holds one record: 8 bytes, the FlatBuffer, padding to 8.
    if (size > fmt::max_meta_capacity - 8) size = fmt::max_meta_capacity - 8;
    const uint64_t record = 8 + fmt::align8(size);
    // A 1.2 file: its Thread records are read (1.3 decoders ignore them in 1.3 files).
    const fmt::layout l = fmt::compute_layout(ring_size, 1, record, 2);
    std::vector<unsigned char> file(l.file_size, 0);
    unsigned char* p = file.data();

    fmt::file_header h{};
    std::memcpy(h.magic, fmt::ring_magic, sizeof h.magic);
    h.version_major = fmt::version_major;
    h.version_minor = 2;
    h.header_size = fmt::header_size;
    h.file_size = l.file_size;
    h.slot_size = fmt::slot_size;
    h.ring_size = ring_size;
    h.ring_count = 1;
    h.rings_used = 1;
    h.ring_table_offset = l.ring_table_offset;
    h.meta_offset = l.meta_offset;
    h.meta_capacity = l.meta_capacity;
    h.meta_used = record;
    h.rings_offset = l.rings_offset;
    h.pid = 4242;
    h.flags = fmt::flag_ended_clean;
    h.anchor_count = 1;
    h.anchors[0] = {tick0, 5'000'000'000, 1'700'000'000'000'000'000, 6'000'000'000};
    h.tick_hz = 1e9;
    h.level = fmt::level_max;
    std::memcpy(h.process_name, "fuzz_meta", 9);
    std::memcpy(p, &h, sizeof h);

    fmt::meta_record_header rh{uint32_t(size), fmt::meta_commit};
    std::memcpy(p + l.meta_offset, &rh, sizeof rh);
    if (size) std::memcpy(p + l.meta_offset + 8, data, size);

    // One event of each kind that can name a site or a resource, and the
    // site-less ones around them. The argument payload decodes under any
    // argument list of up to 16: every word is 3, and each string is 3 bytes.
    uint32_t site = 1;
    uint64_t resource = 1;
    ids_in(data, size, site, resource);
    ring_writer w{p + l.rings_offset};
    unsigned char args[fmt::max_args * 8 + fmt::max_args * 3 + fmt::continuation_payload] = {};
    for (uint32_t i = 0; i < fmt::max_args - 1; ++i) args[i * 8] = 3;
    std::memset(args + (fmt::max_args - 1) * 8, 'a', fmt::max_args * 3);
    const uint32_t args_cont = fmt::continuation_slots(fmt::max_args - 1, fmt::max_args * 3);
    unsigned char name[16] = {'m', 'e', 't', 'a'};
    w.head(fmt::kind::thread_name, 1, 0, 4);
    w.payload(name, 1);
    w.head(fmt::kind::span_begin, args_cont, site, 3);
    w.payload(args, args_cont);
    w.head(fmt::kind::instant, args_cont, site, 3);
    w.payload(args, args_cont);
    w.head(fmt::kind::counter, 0, site, 3);
    w.words(fmt::kind::task_spawn, site, 7, 0, 64);
    w.head(fmt::kind::task_poll_begin, 0, 0, 7);
    w.words(fmt::kind::wait_begin, site, 7, resource, uint64_t(fmt::resource_op::recv));
    w.words(fmt::kind::wait_end, 0, 7, resource, uint64_t(fmt::resource_op::recv));
    w.words(fmt::kind::resource_op, 0, 7, resource, uint64_t(fmt::resource_op::send));
    w.head(fmt::kind::task_poll_end, 0, site, 7);
    w.head(fmt::kind::task_complete, 0, 0, 7);
    w.head(fmt::kind::span_end, 0, site, 0);
    const uint64_t site_less = 5;  // thread_name, poll_begin, wait_end, resource_op, complete
    fmt::ring_descriptor d{};
    d.write_pos = w.pos;
    d.events_written = w.events;
    d.tid = 4243;
    d.state = fmt::ring_released;
    std::memcpy(p + l.ring_table_offset, &d, sizeof d);

    auto r = bbx::dec::capture::from_bytes(p, file.size(), "fuzz_meta");
    if (r.is_error()) {
        // The header and the ring are valid: only the record can be wrong,
        // and the error says where in it.
        const bbx::dec::error& e = r.err();
        BBX_FUZZ_CHECK_MSG(e.code == bbx::dec::errc::corrupt, e.message());
        BBX_FUZZ_CHECK_MSG(e.offset >= l.meta_offset && e.offset <= l.meta_offset + record, e.message());
        BBX_FUZZ_CHECK(!e.what.empty());
        return 0;
    }
    bbx::dec::capture& c = *r.value();
    BBX_FUZZ_CHECK(c.threads().size() == 1);
    BBX_FUZZ_CHECK(c.sites().size() <= 1 && c.resources().size() <= 1);
    for (const bbx::dec::site& s : c.sites()) {
        BBX_FUZZ_CHECK(s.id != 0 && s.args.size() <= fmt::max_args);
        BBX_FUZZ_CHECK(c.find_site(s.id) == &s);
    }
    for (const bbx::dec::resource& res : c.resources()) BBX_FUZZ_CHECK(c.find_resource(res.id) == &res);

    uint64_t sum = 0;
    const uint64_t events = walk(c, sum);
    // Every event is returned or counted once, and a record cannot spoil the
    // events that do not name it.
    const bbx::dec::ring_stats st = stats_of(c).threads[0];
    BBX_FUZZ_CHECK(st.torn == 0 && st.orphan == 0 && st.overwritten == 0 && st.overwritten_in_read == 0);
    BBX_FUZZ_CHECK(st.events + st.unknown_kind + st.bad_site + st.malformed == w.events);
    BBX_FUZZ_CHECK(events >= site_less);

    for (unsigned o = 0; o < output_count; ++o) convert_and_check(c, output(o));
    sink = sum;
    return 0;
}
