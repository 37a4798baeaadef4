// Checks that no metadata record makes the decoder crash, hang, leak or break
// its promises: the input is the body (the FlatBuffer) of the one metadata
// record of an otherwise valid ring file, whose ring holds an event of every
// kind that names the record's call site or resource; the file is opened, an
// error must point into the record, and otherwise every event is walked and
// every output written and checked. Each input goes into a 2.0 file (what the
// recorder writes) and into a 1.2 file (whose Thread records are read: 1.3
// and later ignore them), both written by the golden vectors' writer.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/golden/ring_file.hpp"
#include "bbx_meta_generated.h"
#include "check.hpp"

namespace {

using namespace bbx_fuzz;
using golden::u64;
using golden::val;

constexpr uint64_t tick0 = golden::start_ticks;
constexpr uint32_t tid = 4243;

// The ids the record declares, when it is a valid Record (the decoder judges
// it on its own; these only aim the events at it).
void ids_in(const uint8_t* data, size_t size, uint32_t& site, uint64_t& resource) {
    flatbuffers::Verifier v(data, size);
    if (!bbx::fb::VerifyRecordBuffer(v)) return;
    const bbx::fb::Record* r = bbx::fb::GetRecord(data);
    if (auto* cs = r->body_as_CallSite()) site = cs->id();
    if (auto* res = r->body_as_Resource()) resource = res->id();
}

// One file around the record, of format `major` (2: 2.0; 1: 1.2), and its check.
void check_file(const uint8_t* data, size_t size, uint16_t major) {
    // The region holds one record: 8 bytes, the FlatBuffer, padding to 8.
    const uint64_t record = 8 + fmt::align8(size);
    const uint32_t meta_kb = uint32_t((record + 1023) / 1024);
    golden::ring_file f(1, 1, fmt::flag_ended_clean, fmt::min_ring_size, meta_kb, major == 2 ? 4 : 2, 0, major);
    std::memset(f.h.process_name, 0, sizeof f.h.process_name);
    std::memcpy(f.h.process_name, "fuzz_meta", 9);
    static const uint8_t none = 0;
    f.record(size ? data : &none, uint32_t(size));

    // One event of each kind that can name a site or a resource, and the
    // site-less ones around them. The argument payload decodes under any
    // argument list of up to 16: every word is 3, and each string is 3 bytes.
    uint32_t site = 1;
    uint64_t resource = 1;
    ids_in(data, size, site, resource);
    std::vector<val> args(fmt::max_args, u64(3));
    args.back() = golden::raw_str(3, std::string(fmt::max_args * 3, 'a'));
    uint64_t t = tick0, events = 0, site_less = 0;
    auto ev = [&](fmt::kind k, uint32_t s, const std::vector<val>& a) {
        f.event(0, k, s, t += 1000, a);
        ++events;
        site_less += s == 0;
    };
    if (major == 2) f.take(0, tid, "meta", t);  // 2.0: the ring's owner event (not counted among the events)
    else f.rings[0].tid = tid;
    ev(fmt::kind::thread_name, 0, {golden::str("meta")});
    ev(fmt::kind::span_begin, site, args);
    ev(fmt::kind::instant, site, args);
    ev(fmt::kind::counter, site, {u64(3)});
    ev(fmt::kind::task_spawn, site, {u64(7), u64(0), u64(64)});
    ev(fmt::kind::task_poll_begin, 0, {u64(7)});
    // In 2.0 the waits and operations of task 7 (being polled) take their
    // implicit forms, those of task 9 (not polled here) their _for forms.
    ev(fmt::kind::wait_begin, site, {u64(7), u64(resource), u64(uint64_t(fmt::resource_op::recv))});
    ev(fmt::kind::wait_end, 0, {u64(7), u64(resource), u64(uint64_t(fmt::resource_op::recv))});
    ev(fmt::kind::resource_op, 0, {u64(7), u64(resource), u64(uint64_t(fmt::resource_op::send))});
    ev(fmt::kind::task_wake, 0, {u64(9), u64(7), u64(0)});
    ev(fmt::kind::wait_begin, site, {u64(9), u64(resource), u64(uint64_t(fmt::resource_op::lock))});
    ev(fmt::kind::wait_end, 0, {u64(9), u64(resource), u64(uint64_t(fmt::resource_op::lock))});
    ev(fmt::kind::resource_op, 0, {u64(9), u64(resource), u64(uint64_t(fmt::resource_op::send))});
    ev(fmt::kind::task_poll_end, site, {u64(7)});
    ev(fmt::kind::task_wake, 0, {u64(7), u64(9), u64(0)});
    ev(fmt::kind::task_complete, 0, {u64(7)});
    ev(fmt::kind::span_end, site, {});
    f.rings[0].state = fmt::ring_released;
    const std::vector<unsigned char> file = f.image();
    const uint64_t meta_offset = f.h.meta_offset;

    auto r = bbx::dec::capture::from_bytes(file.data(), file.size(), "fuzz_meta");
    if (r.is_error()) {
        // The header and the ring are valid: only the record can be wrong,
        // and the error says where in it.
        const bbx::dec::error& e = r.err();
        BBX_FUZZ_CHECK_MSG(e.code == bbx::dec::errc::corrupt, e.message());
        BBX_FUZZ_CHECK_MSG(e.offset >= meta_offset && e.offset <= meta_offset + record, e.message());
        BBX_FUZZ_CHECK(!e.what.empty());
        return;
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
    const uint64_t walked = walk(c, sum);
    // Every event is returned or counted once, and a record cannot spoil the
    // events that do not name it.
    const bbx::dec::ring_stats st = stats_of(c).threads[0];
    BBX_FUZZ_CHECK(st.torn == 0 && st.orphan == 0 && st.overwritten == 0 && st.overwritten_in_read == 0);
    BBX_FUZZ_CHECK(st.untimed == 0 && st.unresolved == 0);
    BBX_FUZZ_CHECK_MSG(st.events + st.unknown_kind + st.bad_site + st.malformed == events,
                       std::to_string(st.events) + " events, " + std::to_string(st.unknown_kind) + " unknown, " +
                           std::to_string(st.bad_site) + " bad site, " + std::to_string(st.malformed) + " malformed of " +
                           std::to_string(events));
    BBX_FUZZ_CHECK(walked >= site_less);

    for (unsigned o = 0; o < output_count; ++o) convert_and_check(c, output(o));
    sink = sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > fmt::max_meta_capacity - 8) size = fmt::max_meta_capacity - 8;
    check_file(data, size, 2);
    check_file(data, size, 1);
    return 0;
}
