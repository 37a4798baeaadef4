// make_golden: writes the spec's test vectors, small ring files built byte by
// byte from format.hpp alone (never the recorder, so a recorder bug cannot
// hide in them). ok/NAME.bbx are valid: `bbx dump` must print ok/NAME.dump.
// bad/NAME.bbx are not: `bbx info` must exit 1 and print bad/NAME.err.
//
//   make build/gen/bbx_meta_generated.h
//   g++ -std=c++20 -Iformat/include -Ibuild/gen tests/golden/make_golden.cpp -o build/make_golden
//   build/make_golden tests/golden        # writes tests/golden/ok/*.bbx and tests/golden/bad/*.bbx
//
// Every byte is fixed, so a run writes the same files each time. The counter
// runs at exactly 1 GHz and anchor 0 sits at tick 1,000,000, so an event at
// tick t shows in a dump at (t - 1,000,000) ns: at_us(1500) is 0.001500000.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "bbx/format.hpp"
#include "bbx_meta_generated.h"
#include "ring_file.hpp"

namespace {

using namespace golden;

template <class T>
void poke(std::vector<unsigned char>& b, uint64_t off, T v) {
    std::memcpy(&b.at(off), &v, sizeof v);
}

std::string out_dir;
int written = 0;

void write_file(const char* sub, const char* name, const std::vector<unsigned char>& bytes) {
    std::string path = out_dir + "/" + sub + "/" + name + ".bbx";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) || std::fclose(f) != 0) {
        std::fprintf(stderr, "make_golden: %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
    }
    ++written;
}
void ok(const char* name, const ring_file& r) { write_file("ok", name, r.image()); }
void bad(const char* name, const std::vector<unsigned char>& bytes) { write_file("bad", name, bytes); }
void bad(const char* name, const ring_file& r) { write_file("bad", name, r.image()); }

std::string padded(std::string s, size_t n, char fill) {
    s.resize(n, fill);
    return s;
}

// ---- valid captures ---------------------------------------------------------------

ring_file minimal() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "hello", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(42)});
    return r;
}

ring_file all_kinds() {
    ring_file r(3, 2);  // ring 2 never handed out
    r.thread(0, golden_pid, "main");
    r.thread(1, golden_pid + 1, "worker");
    r.site(1, fb::SiteKind::Span, "io", "request", {{"id", fb::ArgType::U64}, {"path", fb::ArgType::Str}});
    r.site(2, fb::SiteKind::Span, "io", "parse");
    r.site(3, fb::SiteKind::Instant, "app", "values",
           {{"neg", fb::ArgType::I64},
            {"min", fb::ArgType::I64},
            {"max", fb::ArgType::U64},
            {"zero", fb::ArgType::U64},
            {"half", fb::ArgType::F64},
            {"tenth", fb::ArgType::F64},
            {"huge", fb::ArgType::F64},
            {"yes", fb::ArgType::Bool},
            {"no", fb::ArgType::Bool}});
    r.site(4, fb::SiteKind::Instant, "app", "strings",
           {{"empty", fb::ArgType::Str}, {"long", fb::ArgType::Str}, {"text", fb::ArgType::Str}});
    r.site(5, fb::SiteKind::Counter, "mem", "rss", {{"value", fb::ArgType::I64}});
    r.site(6, fb::SiteKind::Counter, "cpu", "load", {{"value", fb::ArgType::F64}});
    r.site(7, fb::SiteKind::Instant, "", "no_category", {}, true, 1);

    std::string long_str;
    for (int i = 0; i < 8; ++i) long_str += "abcdefghijklmnop";  // 128 bytes, the most a string holds
    // ring 1 starts before anchor 0: a negative time.
    r.event(1, fmt::kind::instant, 7, at_us(-500));
    r.event(0, fmt::kind::span_begin, 1, at_us(1000), {u64(7), str("/index.html")});
    r.event(0, fmt::kind::span_begin, 2, at_us(2000));
    r.event(1, fmt::kind::thread_name, 0, at_us(2000), {str("worker-1")});  // ties with ring 0: ring 0 first
    r.thread(1, golden_pid + 1, "worker-1");
    r.event(1, fmt::kind::instant, 3, at_us(3000),
            {i64(-42), i64(std::numeric_limits<int64_t>::min()), u64(std::numeric_limits<uint64_t>::max()), u64(0),
             f64(-2.5), f64(0.1), f64(1e300), boolean(true), boolean(false)});
    r.event(0, fmt::kind::span_end, 2, at_us(4000));
    r.event(1, fmt::kind::instant, 4, at_us(4000),
            {str(""), str(long_str), str("h\xc3\xa9llo\t\"q\"\n\\ end")});
    r.event(0, fmt::kind::counter, 5, at_us(5000), {i64(1048576)});
    r.event(1, fmt::kind::counter, 6, at_us(5500), {f64(0.75)});
    r.event(0, fmt::kind::span_end, 1, at_us(6000));
    r.event(1, fmt::kind::counter, 6, at_us(7000), {f64(1.5)});
    r.event(0, fmt::kind::counter, 5, at_us(8000), {i64(-5)});
    r.event(0, fmt::kind::instant, 7, at_us(9000));
    r.rings[1].state = fmt::ring_released;
    return r;
}

ring_file wrapped() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"i", fb::ArgType::I64}, {"s", fb::ArgType::Str}});
    r.thread(0, golden_pid, "main");
    // 6 slots per event (8 + 60 payload bytes = 5 continuations), 25 events =
    // 150 slots in a 128-slot ring. The oldest position left, 22, is the 4th
    // continuation of event 3 (head at 18, overwritten by position 146).
    for (int i = 0; i < 25; ++i) {
        char b[16];
        std::snprintf(b, sizeof b, "tick %02d ", i);
        r.event(0, fmt::kind::instant, 1, at_us(1000 * (i + 1)), {i64(i), str(padded(b, 60, '.'))});
    }
    return r;
}

ring_file invalid_utf8() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "c\xc3", "na\xffme",
           {{"a", fb::ArgType::Str},
            {"b", fb::ArgType::Str},
            {"c", fb::ArgType::Str},
            {"d", fb::ArgType::Str},
            {"e", fb::ArgType::Str}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000),
            {str("say \"hi\"\nbye\xff"),  // quote, newline, a byte that starts nothing
             str("caf\xc3\xa9 \xff"),     // valid 2-byte character next to an invalid byte
             str("\xc3"),                  // a truncated sequence
             str("\xed\xa0\x80"),          // a surrogate: ill-formed in UTF-8
             str("\xc0\xaf\\")});          // an overlong encoding, then a backslash
    r.event(0, fmt::kind::thread_name, 0, at_us(2000), {str("w\xff\"")});
    return r;
}

ring_file thread_name_64() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::thread_name, 0, at_us(2000), {str(padded("sixty-three ", 63, '3'))});  // the longest name
    r.event(0, fmt::kind::thread_name, 0, at_us(3000), {str(padded("sixty-four ", 64, '4'))});   // one byte over
    r.event(0, fmt::kind::instant, 1, at_us(4000), {i64(2)});
    return r;
}

ring_file torn() {
    ring_file r(1, 1, 0);  // not ended: the writer was killed or still runs
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.site(2, fb::SiteKind::Instant, "app", "note", {{"s", fb::ArgType::Str}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    int64_t p = r.event(0, fmt::kind::instant, 1, at_us(2000), {i64(2)});
    r.set_stamp(0, uint64_t(p), 0);  // writer stored stamp 0 and never committed
    p = r.event(0, fmt::kind::instant, 2, at_us(3000), {str("continuation is torn")});
    r.set_stamp(0, uint64_t(p) + 2, 1);  // the head is committed, its 2nd continuation carries a stale stamp
    r.event(0, fmt::kind::instant, 1, at_us(4000), {i64(3)});
    return r;
}

ring_file unknown_kind() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    // Kinds from the unassigned ranges (7-15, 40-255), which no version has taken.
    r.event(0, 9, 0, at_us(2000), {u64(99), u64(98)});  // one continuation
    r.event(0, fmt::kind::instant, 1, at_us(3000), {i64(2)});
    r.event(0, 40, 1, at_us(4000), {u64(1), str("forty: a kind nobody has assigned")});  // 3 continuations
    r.event(0, 15, 0, at_us(5000), {u64(7), u64(8), u64(9)});                          // 2 continuations
    r.event(0, 255, 0, at_us(6000), {u64(0)});                                         // none
    r.event(0, fmt::kind::instant, 1, at_us(7000), {i64(3)});
    return r;
}

ring_file unknown_record() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    {
        // A Record whose body is union member 9, which no version defines yet: a
        // later minor may append members to Body, so a decoder skips the record.
        flatbuffers::FlatBufferBuilder b;
        auto name = b.CreateString("from the future");
        auto t = fb::CreateThread(b, 0, 1, name);  // any table will do as the unknown body
        fb::RecordBuilder rb(b);
        rb.add_body_type(fb::Body(9));
        rb.add_body(t.Union());
        b.Finish(rb.Finish());
        r.record(b);
    }
    {
        flatbuffers::FlatBufferBuilder b;  // a Record with no body (NONE)
        b.Finish(fb::CreateRecord(b));
        r.record(b);
    }
    r.thread(0, golden_pid, "main");
    r.site(2, fb::SiteKind::Instant, "app", "later", {{"n", fb::ArgType::I64}});  // records after it still count
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 2, at_us(2000), {i64(2)});
    return r;
}

ring_file sparse_ids() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "one", {{"n", fb::ArgType::I64}});
    r.site(4000000000u, fb::SiteKind::Instant, "app", "far", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 4000000000u, at_us(2000), {i64(2)});
    r.event(0, fmt::kind::instant, 5000, at_us(3000), {i64(3)});  // no such site: skipped
    return r;
}

ring_file live_meta() {
    ring_file r(1, 1, 0);
    r.thread(0, golden_pid, "main");
    r.site(1, fb::SiteKind::Instant, "app", "seen", {{"n", fb::ArgType::I64}});
    r.site(2, fb::SiteKind::Instant, "app", "pending", {}, false);  // reserved (in meta_used), not committed
    r.site(3, fb::SiteKind::Instant, "app", "after");                // committed, but past the uncommitted one
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 2, at_us(2000));
    r.event(0, fmt::kind::instant, 3, at_us(3000));
    r.event(0, fmt::kind::instant, 1, at_us(4000), {i64(2)});
    return r;
}

ring_file discard() {
    ring_file r(1, 1, fmt::flag_discard | fmt::flag_ended_clean);
    r.h.threads_dropped = 1;
    r.h.events_dropped = 7;
    r.site(1, fb::SiteKind::Instant, "app", "fill", {{"i", fb::ArgType::I64}, {"s", fb::ArgType::Str}});
    r.site(2, fb::SiteKind::Instant, "app", "small", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    // 9 slots per fill event: 14 fill 126 of the 128 slots.
    int64_t us = 0;
    auto fill = [&](int i) {
        char b[16];
        std::snprintf(b, sizeof b, "fill %02d ", i);
        return r.event(0, fmt::kind::instant, 1, at_us(us += 1000), {i64(i), str(padded(b, 120, '.'))});
    };
    for (int i = 0; i < 14; ++i) fill(i);
    fill(14);                                                             // 9 slots do not fit: dropped
    r.event(0, fmt::kind::instant, 2, at_us(us += 1000), {i64(1)});     // 1 slot fits: position 126
    fill(15);                                                             // dropped
    r.event(0, fmt::kind::instant, 2, at_us(us += 1000), {i64(2)});     // position 127: the ring is full
    r.event(0, fmt::kind::instant, 2, at_us(us += 1000), {i64(3)});     // dropped
    return r;
}

ring_file two_anchors() {
    ring_file r(1, 1);
    r.h.tick_hz = 1.002e9;  // measured at start, 0.2% off
    r.h.anchor_count = 2;
    r.h.anchors[1] = {start_ticks + 2000000000, start_monotonic_ns + 2000000000, start_realtime_ns + 2000000000,
                      start_boottime_ns + 2000000000};
    r.site(1, fb::SiteKind::Instant, "app", "hello", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 1, at_us(1500000), {i64(2)});
    r.event(0, fmt::kind::instant, 1, at_us(2000000), {i64(3)});
    return r;
}

// two_anchors, with the writer killed inside its second anchor's update
ring_file anchor_torn() {
    ring_file r = two_anchors();
    r.h.calib_seq = 5;
    return r;
}

// two_anchors, with a second anchor 5% off the measured rate
ring_file anchor_wild() {
    ring_file r = two_anchors();
    r.h.anchors[1].ticks = start_ticks + 2100000000;
    return r;
}

ring_file merge() {
    ring_file r(3, 3);
    r.site(1, fb::SiteKind::Instant, "app", "a", {{"n", fb::ArgType::I64}});
    r.thread(0, golden_pid, "first");
    r.thread(1, golden_pid + 1, "idle");
    r.thread(2, golden_pid + 2, "third");
    r.rings[0].state = fmt::ring_released;
    r.rings[1].state = fmt::ring_released;  // got a ring, wrote nothing, exited
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 1, at_us(2000), {i64(2)});
    r.event(0, fmt::kind::instant, 1, at_us(2000), {i64(3)});
    r.event(0, fmt::kind::instant, 1, at_us(4000), {i64(4)});
    r.event(2, fmt::kind::instant, 1, at_us(0), {i64(10)});
    r.event(2, fmt::kind::instant, 1, at_us(2000), {i64(20)});
    r.event(2, fmt::kind::instant, 1, at_us(3000), {i64(30)});
    r.event(2, fmt::kind::instant, 1, at_us(4000), {i64(40)});
    return r;
}

ring_file malformed() {
    ring_file r(1, 1);
    r.site(1, fb::SiteKind::Instant, "app", "good", {{"n", fb::ArgType::I64}});
    r.site(2, fb::SiteKind::Span, "app", "work");
    r.site(3, fb::SiteKind::Instant, "app", "text", {{"s", fb::ArgType::Str}});
    r.site(4, fb::SiteKind::Instant, "app", "pair", {{"a", fb::ArgType::I64}, {"b", fb::ArgType::I64}});
    r.thread(0, golden_pid, "main");
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    r.event(0, fmt::kind::instant, 9, at_us(2000), {i64(0)});                        // site 9 has no metadata
    r.event(0, fmt::kind::instant, 2, at_us(3000));                                  // instant of a span site
    r.event(0, fmt::kind::span_begin, 1, at_us(4000), {i64(0)});                     // span of an instant site
    r.event(0, fmt::kind::instant, 3, at_us(5000), {str(std::string(129, 'x'))});   // string over 128 bytes
    r.event(0, fmt::kind::instant, 3, at_us(6000), {raw_str(40, "only 16 bytes...")});  // string past the payload
    r.event(0, fmt::kind::instant, 4, at_us(7000), {i64(1)});                        // 2 args, no word 1
    r.event(0, fmt::kind::thread_name, 0, at_us(8000), {str(std::string(65, 'n'))}); // name over 64 bytes
    r.event(0, fmt::kind::thread_name, 0, at_us(9000), {raw_str(20, "")});          // name past the payload
    r.event(0, 0, 1, at_us(10000), {i64(0)});                                         // kind 0 with a valid stamp
    // A head that claims one continuation slot, followed by a committed head:
    // the event is malformed and both slots are skipped, the second event too.
    int64_t p = r.event(0, fmt::kind::instant, 1, at_us(11000), {i64(0)});
    r.event(0, fmt::kind::instant, 1, at_us(12000), {i64(99)});
    r.slot(0, uint64_t(p))[9] = 1;
    r.event(0, fmt::kind::instant, 1, at_us(13000), {i64(2)});
    return r;
}

// 1.3: ring 0 changed hands five times; its oldest owners are partly overwritten.
// 128 slots per ring; an owner event takes 3 (its name fits 2 continuation
// slots), an instant 1. Ring 0: gen 1 "first" (owner event at 0, 40 events),
// gen 2 "second" (43, 40 events), gen 3 (86, 30), gen 4 (119, 10), gen 5
// (132, 10), gen 6 (145, 10, a rename of 2 slots, 1 more): write_pos 161,
// window 33 .. 160. Gen 1's owner event is overwritten and its table entry
// (index 1) holds gen 5: its 10 events in the window show as an unknown owner. Gen 2's entry holds
// gen 6, but its owner event is in the window: named from it. Ring 1: one owner.
ring_file owners_reused() {
    ring_file r(2, 2, fmt::flag_ended_clean, 4096, 4, 3);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    const char* names[] = {"first", "second", "third", "fourth", "fifth", "sixth"};
    const int counts[] = {40, 40, 30, 10, 10, 10};
    int64_t us = 0;
    for (int g = 0; g < 6; ++g) {
        if (g > 0) {
            r.rings[0].state = fmt::ring_released;
            r.rings[0].released_ticks = at_us(us++);
        }
        r.take(0, golden_pid + 10 + uint32_t(g), names[g], at_us(us++));
        for (int i = 0; i < counts[g]; ++i) r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(g * 100 + i)});
        if (g == 1) {  // ring 1's one owner, between
            r.take(1, golden_pid + 1, "other", at_us(us++));
            r.event(1, fmt::kind::instant, 1, at_us(us++), {i64(-1)});
        }
    }
    // The sixth owner renames itself: a thread_name event, and its table entry's new name.
    r.event(0, fmt::kind::thread_name, 0, at_us(us++), {str("sixth-renamed")});
    r.owner_entry(0, 6, golden_pid + 15, "sixth-renamed", 145);
    r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(999)});
    return r;
}

// 1.3: owner events a decoder counts as malformed. After each, the events up
// to the next good owner event have no proven owner (unattributed), except
// when the current owner is the ring's latest.
ring_file owners_malformed() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 3);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "one", at_us(1));
    r.event(0, fmt::kind::instant, 1, at_us(2), {i64(1)});
    r.event(0, fmt::kind::owner, 0, at_us(3), {u64(2), u64(golden_pid + 1), str(std::string(64, 'n'))});  // L = 64
    r.event(0, fmt::kind::instant, 1, at_us(4), {i64(2)});                                             // unattributed
    r.event(0, fmt::kind::owner, 0, at_us(5), {u64(1), u64(golden_pid + 1), str("again")});  // generation not above 1
    r.event(0, fmt::kind::owner, 0, at_us(6), {u64(9), u64(golden_pid + 1), str("far")});    // above the ring's 3 + 1
    r.event(0, fmt::kind::owner, 0, at_us(7), {u64(2)});                                    // no payload
    r.event(0, fmt::kind::instant, 1, at_us(8), {i64(3)});                                  // unattributed
    r.take(0, golden_pid + 2, "two", at_us(9));  // generation 2: good again
    r.event(0, fmt::kind::instant, 1, at_us(10), {i64(4)});
    r.take(0, golden_pid + 3, "three", at_us(11));
    r.event(0, fmt::kind::instant, 1, at_us(12), {i64(5)});
    r.event(0, fmt::kind::owner, 0, at_us(13), {u64(4), u64(uint64_t(1) << 32), str("")});  // tid above 2^32-1
    r.event(0, fmt::kind::instant, 1, at_us(14), {i64(6)});  // the latest owner's: still attributed
    return r;
}

// 1.4: task 7 ("early", spawned by task 3 with a 256-byte frame) was
// spawned at 2 us; 140 instants after it overwrote its spawn event (128
// slots per ring); it is polled at the end. The task table names it; task 9
// completed (in the table, in no event). A span context of the ring's owner
// is still open, its event overwritten. The header counts 2 spawns the table
// had no room for.
ring_file identities() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 16);
    r.site(1, fb::SiteKind::Task, "task", "early");
    r.site(2, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "main", at_us(1));
    r.event(0, fmt::kind::task_spawn, 1, at_us(2), {u64(7), u64(3), u64(256)});
    r.event(0, fmt::kind::span_context, 0, at_us(3), {u64(0x1111), u64(0x2222), u64(0x3333), u64(0), u64(2 | 1 << 8)});
    for (int i = 0; i < 140; ++i) r.event(0, fmt::kind::instant, 2, at_us(10 + i), {i64(i)});
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(200), {u64(7)});
    r.event(0, fmt::kind::task_poll_end, 0, at_us(201), {u64(7)});
    r.task_entry(5, fmt::task_live, 7, 3, 256, at_us(2), 0, 1, 0, 1);
    r.task_entry(11, fmt::task_completed, 9, 0, 0, at_us(4), at_us(5), 1, 0, 1);
    r.context_entry(0, 0, 1, at_us(3), 0x1111, 0x2222, 0x3333, 0, 2 | 1 << 8);
    r.h.tasks_untracked = 2;
    return r;
}

// 1.4: identity entries a decoder ignores: task 21's entry is being
// written (odd seq), task 22's names an instant site, task 23's has state 7,
// task 24's a spawn ring past ring_count, and a context entry has span id 0.
// The tasks' polls show unnamed; the four damaged entries are counted.
ring_file identities_damaged() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 8);
    r.site(1, fb::SiteKind::Task, "task", "named");
    r.site(2, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "main", at_us(1));
    for (uint64_t t = 21; t <= 24; ++t) {
        r.event(0, fmt::kind::task_poll_begin, 0, at_us(t), {u64(t)});
        r.event(0, fmt::kind::task_poll_end, 0, at_us(t), {u64(t)});
    }
    r.task_entry(0, fmt::task_live, 21, 0, 0, at_us(1), 0, 1, 0, 1, 3);
    r.task_entry(1, fmt::task_live, 22, 0, 0, at_us(1), 0, 2, 0, 1);
    r.task_entry(2, 7, 23, 0, 0, at_us(1), 0, 1, 0, 1);
    r.task_entry(3, fmt::task_live, 24, 0, 0, at_us(1), 0, 1, 9, 1);
    r.context_entry(0, 0, 1, at_us(1), 0, 0x2222, 0x3333, 0, 1);
    return r;
}

// 1.4: one ring with a stall-sample area (K = 2, M = 2): a poll of task 7
// from 2 us to 9 us, two samples inside it (the second with three frames,
// the first with two), an empty entry; the executable (path "") and a library mapped.
ring_file stall_stacks() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4);
    r.take(0, golden_pid, "worker", at_us(1));
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(2), {u64(7)});
    r.event(0, fmt::kind::task_poll_end, 0, at_us(9), {u64(7)});
    r.stall_area(2, 2);
    r.stall_sample(0, 1, at_us(5), 2, {0x401234, 0x405678, 0x7f0000001000});
    r.stall_sample(0, 1, at_us(4), 1, {0x401238, 0x405678});
    r.stall_mapping(0, 0, 0x400000, 0x410000, "");
    r.stall_mapping(1, 0x7f0000000000, 0x7f0000000000, 0x7f0000010000, "/lib/golden/libwork.so");
    return r;
}

ring_file owners_base() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 3);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "one", at_us(1));
    r.event(0, fmt::kind::instant, 1, at_us(2), {i64(1)});
    r.take(0, golden_pid + 1, "two", at_us(3));
    r.event(0, fmt::kind::instant, 1, at_us(4), {i64(2)});
    return r;
}


// ---- 2.0 (f2-design.md): each written by the design's writer above, never by the recorder ----
// A 2.0 vector and its 1.4 twin (the same events, major 1) must dump the same (check.sh).

// Spans, instants with integer and string arguments, counters, a rename, a span context, on two rings.
ring_file v2_plain(uint16_t major) {
    ring_file r(2, 2, fmt::flag_ended_clean, 4096, 4, 4, 0, major);
    r.site(1, fb::SiteKind::Span, "io", "request", {{"id", fb::ArgType::U64}, {"path", fb::ArgType::Str}});
    r.site(2, fb::SiteKind::Span, "io", "parse");
    r.site(3, fb::SiteKind::Instant, "app", "values",
           {{"neg", fb::ArgType::I64}, {"max", fb::ArgType::U64}, {"half", fb::ArgType::F64}, {"yes", fb::ArgType::Bool}});
    r.site(4, fb::SiteKind::Instant, "app", "strings",
           {{"empty", fb::ArgType::Str}, {"seven", fb::ArgType::Str}, {"text", fb::ArgType::Str}});
    r.site(5, fb::SiteKind::Counter, "mem", "rss", {{"value", fb::ArgType::I64}});
    r.site(6, fb::SiteKind::Counter, "cpu", "load", {{"value", fb::ArgType::F64}});
    r.site(7, fb::SiteKind::Instant, "app", "mark");
    r.site(8, fb::SiteKind::Instant, "app", "one", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "main", at_us(1));
    r.take(1, golden_pid + 1, "worker", at_us(2));
    r.event(0, fmt::kind::span_begin, 1, at_us(1000), {u64(7), str("/index.html")});
    r.event(0, fmt::kind::span_context, 0, at_us(1000), {u64(0xabc), u64(0x1111), u64(0x2222), u64(0), u64(2 | 1 << 8)});
    r.event(0, fmt::kind::span_begin, 2, at_us(2000));
    r.event(1, fmt::kind::thread_name, 0, at_us(2000), {str("worker-1")});
    r.event(1, fmt::kind::instant, 3, at_us(3000), {i64(-42), u64(std::numeric_limits<uint64_t>::max()), f64(0.5), boolean(true)});
    r.event(0, fmt::kind::span_end, 2, at_us(4000));
    r.event(1, fmt::kind::instant, 4, at_us(4000), {str(""), str("seven b"), str("h\xc3\xa9llo, a string of 27 b")});
    r.event(0, fmt::kind::counter, 5, at_us(5000), {i64(1048576)});
    r.event(1, fmt::kind::counter, 6, at_us(5500), {f64(0.75)});
    r.event(0, fmt::kind::span_end, 1, at_us(6000));
    r.event(1, fmt::kind::instant, 8, at_us(6500), {i64(-1)});
    r.event(0, fmt::kind::instant, 7, at_us(7000));
    return r;
}

// Tasks: a spawn, a poll in which the task wakes another, waits on a channel
// and sends (implicit forms: the poll's task), a wake from outside any task
// (implicit: no waker), a poll whose poll_begin was not written (gated out):
// its wake and wait name their task (the _for forms), and a completion.
ring_file v2_tasks(uint16_t major) {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 16, major);
    r.site(1, fb::SiteKind::Task, "task", "handler");
    r.site(2, fb::SiteKind::Await, "task", "handler_body");
    {
        flatbuffers::FlatBufferBuilder b;
        b.Finish(fb::CreateRecord(b, fb::Body::Resource, fb::CreateResourceDirect(b, 1, fb::ResourceKind::Channel, "jobs", 4).Union()));
        r.record(b);
    }
    r.take(0, golden_pid, "exec", at_us(1));
    r.event(0, fmt::kind::task_spawn, 1, at_us(10), {u64(7), u64(0), u64(512)});
    r.event(0, fmt::kind::task_spawn, 1, at_us(11), {u64(8), u64(7), u64(0)});
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(20), {u64(7)});
    r.event(0, fmt::kind::task_wake, 0, at_us(21), {u64(8), u64(7), u64(0)});
    r.event(0, fmt::kind::wait_begin, 2, at_us(22), {u64(7), u64(1), u64(uint8_t(fmt::resource_op::recv))});
    r.event(0, fmt::kind::task_poll_end, 2, at_us(23), {u64(7)});
    r.event(0, fmt::kind::task_wake, 0, at_us(30), {u64(7), u64(0), u64(0)});  // from outside any task
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(31), {u64(7)});
    r.event(0, fmt::kind::wait_end, 0, at_us(32), {u64(7), u64(1), u64(uint8_t(fmt::resource_op::recv))});
    r.event(0, fmt::kind::resource_op, 0, at_us(33), {u64(7), u64(1), u64(uint8_t(fmt::resource_op::send))});
    r.event(0, fmt::kind::task_poll_end, 0, at_us(34), {u64(7)});
    r.event(0, fmt::kind::task_complete, 0, at_us(35), {u64(7)});
    r.poll_unwritten(0, 8);  // task 8's poll_begin gated out: its events name it
    r.event(0, fmt::kind::task_wake, 0, at_us(40), {u64(7), u64(8), u64(0)});
    r.event(0, fmt::kind::wait_begin, 2, at_us(41), {u64(8), u64(1), u64(uint8_t(fmt::resource_op::send))});
    r.event(0, fmt::kind::wait_end, 0, at_us(42), {u64(8), u64(1), u64(uint8_t(fmt::resource_op::send))});
    r.event(0, fmt::kind::task_poll_end, 0, at_us(43), {u64(8)});
    r.poll_unwritten_end(0);
    r.event(0, fmt::kind::task_complete, 0, at_us(44), {u64(8)});
    return r;
}

// Wakes by no task (waker 0): task_wake_external (kind 28, 1 slot) outside
// any poll, inside the woken task's own poll (an I/O that completed inside
// the call that started it) and inside a poll whose poll_begin was not
// written; between them wakes by the current task (task_wake) and by
// another task (task_wake_by). The 2.0 file also holds a task_wake with no
// poll open, which no writer of ours writes but which means the same (a
// wake by no task): all read as the 1.4 twin's wakes.
ring_file v2_wake_external(uint16_t major) {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, major);
    r.site(1, fb::SiteKind::Task, "task", "conn");
    r.site(2, fb::SiteKind::Await, "task", "conn_body");
    r.take(0, golden_pid, "io", at_us(1));
    r.event(0, fmt::kind::task_spawn, 1, at_us(10), {u64(7), u64(0), u64(256)});
    r.event(0, fmt::kind::task_wake, 0, at_us(11), {u64(7), u64(0), u64(0)});  // outside any poll: 28
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(20), {u64(7)});
    r.event(0, fmt::kind::task_wake, 0, at_us(21), {u64(7), u64(0), u64(0)});  // the I/O woke 7 inside 7's poll: 28
    r.event(0, fmt::kind::task_spawn, 1, at_us(22), {u64(8), u64(7), u64(0)});
    r.event(0, fmt::kind::task_wake, 0, at_us(23), {u64(8), u64(7), u64(0)});  // by the current task: 19
    r.event(0, fmt::kind::task_wake, 0, at_us(24), {u64(8), u64(8), u64(0)});  // by another task: 24
    r.event(0, fmt::kind::task_wake, 0, at_us(25), {u64(8), u64(0), u64(0)});  // by no task while 7 runs: 28
    r.event(0, fmt::kind::task_poll_end, 2, at_us(26), {u64(7)});
    if (major == 2)
        r.put_event2(0, uint8_t(fmt::kind::task_wake), 0, at_us(30), 8, {});  // a 19 with no poll open: waker 0
    else
        r.event(0, fmt::kind::task_wake, 0, at_us(30), {u64(8), u64(0), u64(0)});
    r.poll_unwritten(0, 8);  // task 8's poll_begin gated out
    r.event(0, fmt::kind::task_wake, 0, at_us(40), {u64(7), u64(0), u64(0)});  // by no task: 28 all the same
    r.event(0, fmt::kind::task_poll_end, 0, at_us(41), {u64(8)});
    r.poll_unwritten_end(0);
    r.event(0, fmt::kind::task_complete, 0, at_us(42), {u64(8)});
    return r;
}

// Instants whose argument 0 is a task id (the Asio integration's
// diagnostics): inside that task's own poll an instant_task (kind 10, 1 slot
// with one more argument, 2 with a string), outside any poll, for another
// task, for task 0 and inside a poll whose poll_begin was not written an
// instant with every word; and a spawn by the polled task with a frame size
// (task_spawn_here with its word). The 1.4 twin holds them all as instants
// and task_spawn and dumps the same. The 2.0 file also holds what no writer
// of ours writes: an instant_task with no poll open (argument 0 is 0).
ring_file v2_instant_task(uint16_t major) {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, major);
    r.site(1, fb::SiteKind::Task, "task", "conn");
    r.site(2, fb::SiteKind::Await, "task", "conn_body");
    r.site(3, fb::SiteKind::Instant, "asio", "io:non_blocking_recv", {{"task", fb::ArgType::U64}, {"result", fb::ArgType::I64}});
    r.site(4, fb::SiteKind::Instant, "asio", "note", {{"task", fb::ArgType::U64}, {"n", fb::ArgType::U64}, {"why", fb::ArgType::Str}});
    r.site(5, fb::SiteKind::Instant, "asio", "one", {{"task", fb::ArgType::U64}});
    r.take(0, golden_pid, "io", at_us(1));
    r.event(0, fmt::kind::task_spawn, 1, at_us(10), {u64(7), u64(0), u64(256)});
    r.instant_task(0, 3, at_us(11), {u64(7), i64(-11)});  // no poll open: 3
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(20), {u64(7)});
    r.instant_task(0, 3, at_us(21), {u64(7), i64(64)});                         // 10, 1 slot
    r.instant_task(0, 3, at_us(22), {u64(9), i64(-2)});                         // another task: 3
    r.instant_task(0, 4, at_us(23), {u64(7), u64(5), str("a short read")});     // 10 with a payload
    r.instant_task(0, 5, at_us(24), {u64(7)});                                  // 10, no argument 1: B 0
    r.instant_task(0, 3, at_us(25), {u64(0), i64(1)});                          // task 0: 3
    r.event(0, fmt::kind::task_spawn, 1, at_us(25), {u64(10), u64(7), u64(512)});  // by 7 with a frame: 29, 2 slots
    r.event(0, fmt::kind::task_poll_end, 2, at_us(26), {u64(7)});
    if (major == 2) {
        r.put_event2(0, uint8_t(fmt::kind::instant_task), 3, at_us(30), uint64_t(-5), {});  // no poll open: task 0
    } else {
        r.event(0, fmt::kind::instant, 3, at_us(30), {u64(0), i64(-5)});
    }
    r.poll_unwritten(0, 8);  // task 8's poll_begin gated out: its instants name it
    r.instant_task(0, 3, at_us(40), {u64(8), i64(3)});  // 3
    r.event(0, fmt::kind::task_poll_end, 0, at_us(41), {u64(8)});
    r.poll_unwritten_end(0);
    r.event(0, fmt::kind::task_complete, 0, at_us(42), {u64(7)});
    return r;
}

// instant_task events that are not decoded: a site that is no instant, an
// instant site whose argument 0 is a string or an i64, one with no
// arguments, a site with no record; between them good ones. Then a
// task_spawn_here at an Instant site (malformed) and one with a word more
// than it reads (decoded).
ring_file v2_instant_task_bad() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Task, "task", "conn");
    r.site(2, fb::SiteKind::Instant, "asio", "io:non_blocking_send", {{"task", fb::ArgType::U64}, {"result", fb::ArgType::I64}});
    r.site(3, fb::SiteKind::Instant, "app", "str_first", {{"s", fb::ArgType::Str}, {"n", fb::ArgType::U64}});
    r.site(4, fb::SiteKind::Instant, "app", "i64_first", {{"t", fb::ArgType::I64}, {"n", fb::ArgType::U64}});
    r.site(5, fb::SiteKind::Instant, "app", "none");
    r.take(0, golden_pid, "io", at_us(1));
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(10), {u64(7)});
    const uint8_t k = uint8_t(fmt::kind::instant_task);
    r.put_event2(0, k, 2, at_us(11), 64, {});           // decoded: task 7
    r.put_event2(0, k, 1, at_us(12), 1, {});            // a Task site: malformed
    r.put_event2(0, k, 3, at_us(13), 1, {});            // argument 0 a string: malformed
    r.put_event2(0, k, 4, at_us(14), 1, {});            // argument 0 an i64: malformed
    r.put_event2(0, k, 5, at_us(15), 0, {});            // no arguments: malformed
    r.put_event2(0, k, 99, at_us(16), 1, {});           // no such site: bad_site
    r.put_event2(0, k, 2, at_us(17), uint64_t(-11), {});  // decoded: task 7
    r.put_event2(0, uint8_t(fmt::kind::task_spawn_here), 2, at_us(17), 12, {});  // a spawn at an Instant site: malformed
    r.put_event2(0, uint8_t(fmt::kind::task_spawn_here), 1, at_us(17), 13, {64, 99});  // decoded: a word past the frame ignored
    r.event(0, fmt::kind::task_poll_end, 0, at_us(18), {u64(7)});
    return r;
}

// A window (256-slot ring, overwritten) whose base is unknown until its
// first time base (a poll begun in the window is open there): before it, a
// task_wake_external is decoded (it names no task) where a task_wake with
// no poll open is `unresolved`, and so are an instant_task and a
// task_spawn_here.
ring_file v2_wake_external_window() {
    // write_pos ends at 536: the window is 280 .. 535; time bases at 128, 256, 384, 512 (the owner event at 0).
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.site(2, fb::SiteKind::Instant, "asio", "io:non_blocking_recv", {{"task", fb::ArgType::U64}, {"result", fb::ArgType::I64}});
    int64_t us = 10;
    int n = 0;
    auto ticks_until = [&](uint64_t pos) {
        while (r.rings[0].write_pos < pos) r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(n++)});
    };
    r.take(0, golden_pid, "io", at_us(1));
    ticks_until(300);
    r.event(0, fmt::kind::task_wake, 0, at_us(us++), {u64(5), u64(0), u64(0)});   // 28: decoded
    r.put_event2(0, uint8_t(fmt::kind::task_wake), 0, at_us(us++), 6, {});       // 19, no poll open: unresolved
    r.put_event2(0, uint8_t(fmt::kind::instant_task), 2, at_us(us++), 64, {});   // 10, no poll open: unresolved
    r.put_event2(0, uint8_t(fmt::kind::task_spawn_here), 0, at_us(us++), 9, {});  // 29, no poll open: unresolved
    ticks_until(380);
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(5)});  // open across the time base at 384
    ticks_until(400);
    r.event(0, fmt::kind::task_wake, 0, at_us(us++), {u64(5), u64(0), u64(0)});   // 28 inside 5's poll
    r.event(0, fmt::kind::task_poll_end, 0, at_us(us++), {u64(5)});
    ticks_until(536);
    return r;
}

// Polls open where the window starts (256-slot rings, overwritten), their
// poll_begin gone. Ring 0: task 5's poll spans the window's start; its
// implicit events before the first time base are named by that time base's
// continuation. Ring 1: task 6's poll ends in the window before the first
// time base (a poll of task 9 begins and ends inside it): that unmatched
// poll_end names task 6 for the implicit events before it. Ring 2: task 4's
// poll is open at the start, then task 11 is polled inside it across the
// first time base, which names 11: task 4's implicit events are unresolved.
ring_file v2_tasks_window() {
    // Every ring ends at write_pos 536: the window is positions 280 .. 535;
    // time bases stand at 128, 256, 384 and 512 (every 128 positions from the owner event at 0).
    ring_file r(3, 3, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    {
        flatbuffers::FlatBufferBuilder b;
        b.Finish(fb::CreateRecord(b, fb::Body::Resource, fb::CreateResourceDirect(b, 2, fb::ResourceKind::Mutex, "state", 0).Union()));
        r.record(b);
    }
    const uint8_t lock = uint8_t(fmt::resource_op::lock);
    int64_t us = 10;
    int n = 0;
    auto ticks_until = [&](uint32_t ring, uint64_t pos, int every = 0, uint64_t task = 0) {
        while (r.rings[ring].write_pos < pos) {
            r.event(ring, fmt::kind::instant, 1, at_us(us++), {i64(n++)});
            if (every && n % every == 0) r.event(ring, fmt::kind::resource_op, 0, at_us(us++), {u64(task), u64(2), u64(lock)});
        }
    };
    // ring 0: task 5's poll from position 5 to 450; its lock events before
    // 384 are named by the time base there
    r.take(0, golden_pid, "zero", at_us(1));
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(5)});
    ticks_until(0, 450, 40, 5);
    r.event(0, fmt::kind::task_poll_end, 0, at_us(us++), {u64(5)});
    ticks_until(0, 536);
    // ring 1: task 6's poll from 5 to 305, a poll of task 9 inside it; its
    // poll_end, before the first time base of the window (384), names it
    us = 10, n = 1000;
    r.take(1, golden_pid + 1, "one", at_us(2));
    r.event(1, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(6)});
    ticks_until(1, 300);
    r.event(1, fmt::kind::resource_op, 0, at_us(us++), {u64(6), u64(2), u64(lock)});
    r.event(1, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(9)});
    r.event(1, fmt::kind::resource_op, 0, at_us(us++), {u64(9), u64(2), u64(lock)});
    r.event(1, fmt::kind::task_poll_end, 0, at_us(us++), {u64(9)});
    r.event(1, fmt::kind::task_wake, 0, at_us(us++), {u64(9), u64(6), u64(0)});
    r.event(1, fmt::kind::task_poll_end, 0, at_us(us++), {u64(6)});
    ticks_until(1, 536);
    // ring 2: task 4's poll from 5 to 406; task 11 polled inside it from
    // 301 to 404, across the time base at 384, which names 11: task 4's
    // wake (300) and lock (405) cannot be named
    us = 10, n = 2000;
    r.take(2, golden_pid + 2, "two", at_us(3));
    r.event(2, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(4)});
    ticks_until(2, 300);
    r.event(2, fmt::kind::task_wake, 0, at_us(us++), {u64(11), u64(4), u64(0)});
    r.event(2, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(11)});
    ticks_until(2, 404);
    r.event(2, fmt::kind::task_poll_end, 0, at_us(us++), {u64(11)});
    r.event(2, fmt::kind::resource_op, 0, at_us(us++), {u64(4), u64(2), u64(lock)});
    r.event(2, fmt::kind::task_poll_end, 0, at_us(us++), {u64(4)});
    ticks_until(2, 536);
    return r;
}

// Damage the 2.0 reader must count and skip: a head being written (A = 0),
// an event whose second continuation holds an older lap (torn), a
// continuation saying the wrong index and one saying another n
// (malformed), unknown kinds with continuations (skipped with them), a time
// base whose prev_hi disagrees (malformed; its hi is taken), and a second
// ring whose owner event is torn and whose writer wrote no time base (its
// events are untimed).
ring_file v2_torn() {
    ring_file r(2, 2, 0, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.site(2, fb::SiteKind::Instant, "app", "note", {{"s", fb::ArgType::Str}});
    r.take(0, golden_pid, "main", at_us(1));
    r.event(0, fmt::kind::instant, 1, at_us(1000), {i64(1)});
    int64_t p = r.event(0, fmt::kind::instant, 1, at_us(2000), {i64(2)});
    r.set_a(0, uint64_t(p), 0);  // the writer stored A = 0 and never finished
    p = r.event(0, fmt::kind::instant, 2, at_us(3000), {str("the second continuation is torn")});
    r.set_a(0, uint64_t(p) + 2, fmt::v2::continuation_word((uint64_t(p) + 2) / r.nslots() - 1, 2, 4));  // the lap before
    r.event(0, fmt::kind::instant, 1, at_us(4000), {i64(3)});
    p = r.event(0, fmt::kind::instant, 2, at_us(5000), {str("a continuation says index 3")});
    r.set_a(0, uint64_t(p) + 2, fmt::v2::continuation_word(uint64_t(p + 2) / r.nslots(), 3, 4));
    p = r.event(0, fmt::kind::instant, 2, at_us(6000), {str("a continuation says n = 5")});
    r.set_a(0, uint64_t(p) + 3, fmt::v2::continuation_word(uint64_t(p + 3) / r.nslots(), 3, 5));
    r.event(0, fmt::kind::instant, 1, at_us(7000), {i64(4)});
    r.put_event2(0, 11, 0, at_us(8000), 99, {98, 97});  // kind 11: unassigned, 2 continuations
    r.put_event2(0, 40, 1, at_us(9000), 1, {});          // kind 40: unassigned, none
    r.event(0, fmt::kind::instant, 1, at_us(10000), {i64(5)});
    // a time base whose prev_hi (7) is not the hi carried (0)
    r.slots2(0, uint8_t(fmt::kind::time_base), 0, at_us(11000), fmt::v2::time_base_word(0, 7), {0});
    r.event(0, fmt::kind::instant, 1, at_us(11000), {i64(6)});
    const uint64_t owner_at = r.rings[1].write_pos;
    r.take(1, golden_pid + 1, "no-time-base", at_us(2));
    r.set_a(1, owner_at, 0);  // its owner event, which would time them, never finished
    r.writer[1].no_time_bases = true;
    r.event(1, fmt::kind::instant, 1, at_us(1500), {i64(100)});
    r.event(1, fmt::kind::instant, 1, at_us(2500), {i64(101)});
    return r;
}

// An overwritten ring whose ticks cross 2^32 (4.294967296 s at 1 GHz): the
// window holds events of both high halves, with strings of 1 to 40 bytes.
ring_file v2_wrapped() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"i", fb::ArgType::I64}, {"s", fb::ArgType::Str}});
    r.take(0, golden_pid, "main", at_us(1));
    // Tick 2^32 is 4.293967296 s after anchor 0 (tick 10^6): between events 94 and 95.
    const int64_t start_us = ((int64_t(1) << 32) - int64_t(start_ticks)) / 1000 - 1890;
    for (int i = 0; i < 120; ++i) {
        char b[48];
        std::snprintf(b, sizeof b, "tick %03d ", i);
        r.event(0, fmt::kind::instant, 1, at_us(start_us + 20 * i), {i64(i), str(padded(b, size_t(1 + i % 40), '.'))});
    }
    return r;
}

// The time base that changed the high half (at tick 2^32) is torn: the
// events after it take the next time base's prev_hi (the new high half), not
// the one carried from before the tear; the first of them come before that
// time base, which a ring writes at least every half ring (128 slots here).
ring_file v2_lost_time_base() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "main", at_us(1));
    const int64_t start_us = ((int64_t(1) << 32) - int64_t(start_ticks)) / 1000 - 30;
    for (int i = 0; i < 200; ++i) {
        const int64_t p = r.event(0, fmt::kind::instant, 1, at_us(start_us + i), {i64(i)});
        if (i == 31) r.set_a(0, uint64_t(p) - 2, 0);  // the time base before event 31 (the first past 2^32): never finished
    }
    return r;
}

// A window (256-slot ring, overwritten: positions 280 .. 535) whose first
// time base, at 300, changed the high half of the ticks and is torn (A = 0,
// never finished). The events before it (280 .. 299) are untimed: a break
// lies between them and the next time base, whose prev_hi is the new high
// half (spec/ring-buffer.md, "How a reader rebuilds ticks"). A reader that
// read ahead past the tear would show them 2^32 ticks late. After the tear,
// that time base's prev_hi times the events (302 .. 427).
ring_file v2_torn_prescan() {
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    r.take(0, golden_pid, "main", at_us(1));
    const int64_t cross_us = ((int64_t(1) << 32) - int64_t(start_ticks)) / 1000 + 1;  // past 2^32 ticks
    int64_t us = cross_us - 400;
    int n = 0;
    while (r.rings[0].write_pos < 300) r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(n++)});
    us = cross_us;
    const int64_t p = r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(n++)});  // after the time base at 300
    r.set_a(0, uint64_t(p) - 2, 0);
    while (r.rings[0].write_pos < 536) r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(n++)});
    return r;
}

// A ring that changed hands three times (256 slots, overwritten): the
// first owner's owner event is gone; each new owner's owner event times its
// first events (no time base after it: the ticks keep their high half).
ring_file v2_owners() {
    ring_file r(2, 2, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    const char* names[] = {"first", "second", "third", "fourth"};
    const int counts[] = {150, 60, 40, 30};
    int64_t us = 0;
    for (int g = 0; g < 4; ++g) {
        if (g > 0) {
            r.rings[0].state = fmt::ring_released;
            r.rings[0].released_ticks = at_us(us++);
        }
        r.take(0, golden_pid + 10 + uint32_t(g), names[g], at_us(us++));
        for (int i = 0; i < counts[g]; ++i) r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(g * 1000 + i)});
        if (g == 1) {
            r.take(1, golden_pid + 1, "other", at_us(us++));
            r.event(1, fmt::kind::instant, 1, at_us(us++), {i64(-1)});
        }
    }
    r.event(0, fmt::kind::thread_name, 0, at_us(us++), {str("fourth-renamed")});
    r.owner_entry(0, 4, golden_pid + 13, "fourth-renamed", 0);
    r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(9999)});
    return r;
}
// Owner events carry the high half of their ticks. Ring 0: the owner event
// (high half 1) alone times the next two events; the high half then turns
// 2 (tick 2^33), and the time base before that event gives prev_hi 1, the
// owner event's. Ring 1 is taken inside a poll (of task 7, begun on no ring
// of this owner): a time base naming no known task precedes its first
// event, so that a task_wake in the implicit form (no waker named) is
// unresolved, while the explicit forms decode.
ring_file v2_owner_hi() {
    ring_file r(2, 2, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "step", {{"n", fb::ArgType::I64}});
    const int64_t base = ((int64_t(1) << 33) - int64_t(start_ticks)) / 1000;  // at_us(base) <= 2^33 < at_us(base + 1)
    r.take(0, golden_pid, "main", at_us(base - 3));
    r.event(0, fmt::kind::instant, 1, at_us(base - 2), {i64(1)});
    r.event(0, fmt::kind::instant, 1, at_us(base - 1), {i64(2)});
    r.event(0, fmt::kind::instant, 1, at_us(base + 1), {i64(3)});
    r.event(0, fmt::kind::instant, 1, at_us(base + 2), {i64(4)});
    r.take(1, golden_pid + 1, "in-poll", at_us(base - 4), true);
    r.event(1, fmt::kind::instant, 1, at_us(base - 3), {i64(10)});
    r.event(1, fmt::kind::task_wake, 0, at_us(base - 2), {u64(8), u64(7), u64(0)});  // by task 7: task_wake_by
    r.put_event2(1, uint8_t(fmt::kind::task_wake), 0, at_us(base - 1), 8, {});       // implicit: unresolved
    r.event(1, fmt::kind::task_poll_end, 0, at_us(base), {u64(7)});
    r.event(1, fmt::kind::instant, 1, at_us(base + 1), {i64(11)});
    return r;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_golden DIR  (writes DIR/ok/*.bbx and DIR/bad/*.bbx)\n");
        return 2;
    }
    out_dir = argv[1];
    std::error_code ec;
    std::filesystem::create_directories(out_dir + "/ok", ec);
    std::filesystem::create_directories(out_dir + "/bad", ec);

    // ---- ok/: each must open, and dump exactly as NAME.dump ----
    // one instant with one i64 argument: the smallest useful capture
    ok("minimal", minimal());
    // every kind and argument type: nested spans, i64/u64/f64/bool/string extremes, quoting, counters, a rename, ties
    ok("all_kinds", all_kinds());
    // invalid UTF-8: \xNN in strings and thread names (other bytes as in valid strings), U+FFFD in site names
    ok("invalid_utf8", invalid_utf8());
    // a 63-byte thread name is shown, a 64-byte one is malformed (spec: L > 63) and skipped
    ok("thread_name_64", thread_name_64());
    // an overwritten ring: the two oldest slots are orphan continuations, skipped; 21 of 25 events remain
    ok("wrapped", wrapped());
    // a slot with stamp 0 and a head whose continuation has a stale stamp are skipped; the rest shows
    ok("torn", torn());
    // kinds 9, 40, 15 and 255 (unassigned) are skipped together with their continuation slots
    ok("unknown_kind", unknown_kind());
    // metadata records with a Body member this version does not know, or none, are skipped; the walk goes on
    ok("unknown_record", unknown_record());
    // call-site ids need not be dense: ids 1 and 4,000,000,000 both resolve
    ok("sparse_ids", sparse_ids());
    // a metadata record without its commit word ends the walk: events of sites 2 and 3 are skipped
    ok("live_meta", live_meta());
    // discard mode: the ring filled up; the events dropped later are absent, the small ones that fit are there
    ok("discard", discard());
    // two anchors 2 s apart fix the rate at 1 GHz exactly although tick_hz says 1.002 GHz
    ok("two_anchors", two_anchors());
    // an odd calib_seq (writer died updating anchor 1): anchor 1 is ignored, tick_hz converts
    ok("anchor_torn", anchor_torn());
    // an anchor 1 whose rate is 5% off tick_hz is ignored
    ok("anchor_wild", anchor_wild());
    // three rings merged by time; equal times go lower ring first; ring 1 is empty
    ok("merge", merge());
    // events that break the spec (unknown site, kind/site mismatch, bad lengths, kind 0, a head where a
    // continuation belongs) are skipped
    ok("malformed", malformed());
    // 1.3: a ring that changed hands 5 times: owners in order, the oldest unknown, a rename
    ok("owners", owners_reused());
    // 1.3: malformed owner events are counted, and the events they leave without a proven owner skipped
    ok("owners_malformed", owners_malformed());
    // 1.4: a task whose spawn event was overwritten is named by the task table; the untracked count
    ok("identities", identities());
    // 1.4: torn and damaged identity entries are ignored (and counted), never an error
    ok("identities_damaged", identities_damaged());
    // 1.4: a stall-sample area: two samples of ring 0's owner and two mappings (spec/stall-stacks.md)
    ok("stall_stacks", stall_stacks());

    // ---- 2.0 (f2-design.md) ----
    // spans, typed and string arguments, counters, a rename, a span context (twin: v14_plain, the same events as 1.4)
    ok("v2_plain", v2_plain(2));
    ok("v14_plain", v2_plain(1));
    // implicit and _for task forms: the same events as its 1.4 twin v14_tasks
    ok("v2_tasks", v2_tasks(2));
    ok("v14_tasks", v2_tasks(1));
    // wakes by no task (task_wake_external, kind 28) in and outside polls, a task_wake with no poll open: the same
    // events as its 1.4 twin v14_wake_external
    ok("v2_wake_external", v2_wake_external(2));
    ok("v14_wake_external", v2_wake_external(1));
    // task_wake_external before a window's first time base, where the base is unknown: decoded; a task_wake: unresolved
    ok("v2_wake_external_window", v2_wake_external_window());
    // instants whose argument 0 is the current task (instant_task, kind 10) beside instants with every word: the
    // same events as its 1.4 twin v14_instant_task; and an instant_task with no poll open, and three bad ones
    ok("v2_instant_task", v2_instant_task(2));
    ok("v14_instant_task", v2_instant_task(1));
    // instant_task events whose site is wrong (malformed, bad_site) between two decoded ones
    ok("v2_instant_task_bad", v2_instant_task_bad());
    // polls open at the window's start: named by a time base's continuation, by an unmatched poll_end, or unresolved
    ok("v2_tasks_window", v2_tasks_window());
    // torn and malformed slots, unknown kinds, a time base that disagrees, a ring without time bases (untimed)
    ok("v2_torn", v2_torn());
    // overwritten, ticks crossing 2^32: two high halves in one window
    ok("v2_wrapped", v2_wrapped());
    // a ring that changed hands: owner events, each timing its owner's first events
    ok("v2_owners", v2_owners());
    // a torn time base that changed the high half
    ok("v2_lost_time_base", v2_lost_time_base());
    // the window's first time base changed the high half and is torn: the events before it are untimed
    ok("v2_torn_prescan", v2_torn_prescan());
    // owner events carry their high half: the first events after one need no time base; a ring taken inside a poll
    ok("v2_owner_hi", v2_owner_hi());

    // ---- bad/: `bbx info` must exit 1 and print NAME.err ----
    const std::vector<unsigned char> good = minimal().image();
    const ring_file base = minimal();
    auto mutate = [&](auto&& change) {
        std::vector<unsigned char> b = good;
        change(b);
        return b;
    };
#define AT(field) offsetof(fmt::file_header, field)
    // an empty file is not a blackbox file
    bad("empty", std::vector<unsigned char>{});
    // the magic's high bit stripped (a 7-bit transfer): bad_magic
    bad("bad_magic", mutate([](auto& b) { b[0] = 0x09; }));
    // a text file: bad_magic
    {
        std::string t = "this is a text file, not a capture\n";
        bad("text", std::vector<unsigned char>(t.begin(), t.end()));
    }
    // 5 bytes of the right magic: truncated, not bad_magic
    bad("truncated_magic", std::vector<unsigned char>(good.begin(), good.begin() + 5));
    // version_major 3 (a 3.0 header): unsupported_version (this decoder reads 1 and 2)
    bad("version_3", mutate([](auto& b) {
            poke<uint16_t>(b, AT(version_major), 3);
            poke<uint16_t>(b, AT(version_minor), 0);
        }));
    // version_major 3 in a 64-byte file: the version is named before the size is checked
    {
        std::vector<unsigned char> b(good.begin(), good.begin() + 64);
        poke<uint16_t>(b, AT(version_major), 3);
        bad("version_3_short", b);
    }
    // 2.0 with 1.x's 32-byte slots
    bad("v2_slot_size_32", mutate([](auto& b) { poke<uint16_t>(b, AT(version_major), 2); }));
    // a 1.x file with 2.0's 16-byte slots
    bad("slot_size_16", mutate([](auto& b) { poke<uint32_t>(b, AT(slot_size), 16); }));
    // the first 100 bytes of a good file: truncated inside the header
    bad("truncated_header", std::vector<unsigned char>(good.begin(), good.begin() + 100));
    // header intact, the last ring missing: truncated at the file's end
    bad("truncated_file", std::vector<unsigned char>(good.begin(), good.end() - 4096));
    // one byte past file_size: corrupt
    bad("long_file", mutate([](auto& b) { b.push_back(0); }));
    // header_size 8192
    bad("header_size", mutate([](auto& b) { poke<uint32_t>(b, AT(header_size), 8192); }));
    // ring_size 6144 is not a power of two
    bad("ring_size_not_pow2", mutate([](auto& b) { poke<uint32_t>(b, AT(ring_size), 6144); }));
    // slot_size 64
    bad("slot_size_64", mutate([](auto& b) { poke<uint32_t>(b, AT(slot_size), 64); }));
    // ring_count 0
    bad("ring_count_0", mutate([](auto& b) { poke<uint32_t>(b, AT(ring_count), 0); }));
    // meta_offset not where the layout puts it
    bad("meta_offset", mutate([](auto& b) { poke<uint64_t>(b, AT(meta_offset), 4096 * 3); }));
    // flag bit 3 is reserved
    bad("reserved_flag", mutate([](auto& b) { poke<uint32_t>(b, AT(flags), fmt::flag_ended_clean | 8u); }));
    // the first byte of reserved1 set
    bad("reserved_byte", mutate([](auto& b) { b[AT(owner_table_offset)] = 1; }));  // 1.0: reserved
    // the first byte of the reserved tail (reserved2) set
    bad("reserved_tail", mutate([](auto& b) { b[AT(stall_offset)] = 0x80; }));  // (offset 576: reserved2 before 1.4)
    // 1.4: the stall-sample area's header fields and entries
    {
        const std::vector<unsigned char> st = stall_stacks().image();
        auto stall_mutate = [&](auto&& change) {
            std::vector<unsigned char> b = st;
            change(b);
            return b;
        };
        const uint64_t area = stall_stacks().h.stall_offset;
        // stall fields in a 1.3 file, where they were reserved
        bad("stall_in_1_3", stall_mutate([](auto& b) { poke<uint16_t>(b, AT(version_minor), 3); }));
        // stall_offset is not where the layout puts the area
        bad("stall_offset", stall_mutate([&](auto& b) { poke<uint64_t>(b, AT(stall_offset), area - 4096); }));
        // stall_size does not match K and M
        bad("stall_size", stall_mutate([](auto& b) { poke<uint64_t>(b, AT(stall_size), 8192); }));
        // K above 256
        bad("stall_samples_per_ring", stall_mutate([](auto& b) { poke<uint32_t>(b, AT(stall_samples_per_ring), 257); }));
        // no area, yet a stall field set
        bad("stall_fields_without_area", mutate([](auto& b) {
            poke<uint16_t>(b, AT(version_minor), 4);
            poke<uint32_t>(b, AT(stall_mappings), 1);
        }));
        // a stable sample entry with nframes 33
        bad("stall_nframes", stall_mutate([&](auto& b) {
            poke<uint32_t>(b, area + offsetof(fmt::stall_sample_entry, nframes), 33);
        }));
        // a mapping entry whose path has no NUL in its 192 bytes
        bad("stall_mapping_path", stall_mutate([&](auto& b) {
            const uint64_t m = area + 2 * fmt::stall_sample_entry_size;
            for (size_t i = 0; i < fmt::stall_path_size; ++i) b.at(m + offsetof(fmt::stall_mapping_entry, path) + i) = 'x';
        }));
    }
    // rings_used 2 of ring_count 1
    bad("rings_used", mutate([](auto& b) { poke<uint32_t>(b, AT(rings_used), 2); }));
    // meta_used 4104 of meta_capacity 4096
    bad("meta_used", mutate([](auto& b) { poke<uint64_t>(b, AT(meta_used), 4104); }));
    // meta_used not a multiple of 8
    bad("meta_used_unaligned", mutate([&](auto& b) { poke<uint64_t>(b, AT(meta_used), base.h.meta_used - 4); }));
    // run-time level 6
    bad("level_6", mutate([](auto& b) { poke<uint32_t>(b, AT(level), 6); }));
    // anchor_count 0
    bad("anchor_count_0", mutate([](auto& b) { poke<uint32_t>(b, AT(anchor_count), 0); }));
    // tick_hz NaN
    bad("tick_hz_nan", mutate([](auto& b) { poke<double>(b, AT(tick_hz), std::nan("")); }));
    // a ring descriptor with state 3
    bad("ring_state", mutate([&](auto& b) {
            poke<uint32_t>(b, base.h.ring_table_offset + offsetof(fmt::ring_descriptor, state), 3);
        }));
    // the last metadata record's size runs 8 bytes past meta_used
    {
        ring_file r = minimal();
        uint64_t off = r.h.meta_used;
        r.thread(0, golden_pid, "main again");
        uint32_t size;
        std::memcpy(&size, &r.meta[off], 4);
        size += 8;
        std::memcpy(&r.meta[off], &size, 4);
        bad("meta_record_overrun", r);
    }
    // a committed record of 16 garbage bytes: fails FlatBuffers verification
    {
        ring_file r = minimal();
        unsigned char junk[16];
        std::memset(junk, 0xab, sizeof junk);
        r.record(junk, sizeof junk);
        bad("meta_not_flatbuffer", r);
    }
    // call site id 0
    {
        ring_file r = minimal();
        r.site(0, fb::SiteKind::Instant, "app", "zero");
        bad("site_id_0", r);
    }
    // call site id 1 twice
    {
        ring_file r = minimal();
        r.site(1, fb::SiteKind::Span, "app", "again");
        bad("site_id_twice", r);
    }
    // a counter site with two values
    {
        ring_file r = minimal();
        r.site(2, fb::SiteKind::Counter, "app", "pair", {{"a", fb::ArgType::I64}, {"b", fb::ArgType::I64}});
        bad("counter_two_values", r);
    }
    // a thread record naming ring 1 of ring_count 1
    {
        ring_file r = minimal();
        r.thread(1, golden_pid + 1, "nowhere");
        bad("thread_ring", r);
    }
    // ---- 1.3: the owner table ----
    {
        const std::vector<unsigned char> o = owners_base().image();
        const uint64_t table = owners_base().h.owner_table_offset;
        auto mutated = [&](auto f) {
            std::vector<unsigned char> b = o;
            f(b);
            return b;
        };
        // owner_table_offset not where the layout puts the table
        bad("owner_table_offset", mutated([](auto& b) { poke<uint64_t>(b, AT(owner_table_offset), 4096 * 2); }));
        // entry 3 holds a copy of generation 2's entry (whose place is entry 2)
        bad("owner_entry_index", mutated([&](auto& b) {
                std::memcpy(&b.at(table + 3 * fmt::owner_entry_size), &b.at(table + 2 * fmt::owner_entry_size),
                            fmt::owner_entry_size);
            }));
        // an entry of generation 7 in a ring whose generation is 2
        bad("owner_entry_generation", mutated([&](auto& b) {
                poke<uint32_t>(b, table + 3 * fmt::owner_entry_size + 0, 2);
                poke<uint32_t>(b, table + 3 * fmt::owner_entry_size + offsetof(fmt::owner_entry, generation), 7);
            }));
        // a name of 64 bytes with no NUL
        bad("owner_name_unterminated", mutated([&](auto& b) {
                std::memset(&b.at(table + 2 * fmt::owner_entry_size + offsetof(fmt::owner_entry, name)), 'x', 64);
            }));
    }
    // ---- 1.4: the identity region ----
    {
        const std::vector<unsigned char> o = identities().image();
        auto mutated = [&](auto f) {
            std::vector<unsigned char> b = o;
            f(b);
            return b;
        };
        // identity_offset not where the layout puts the region
        bad("identity_offset", mutated([](auto& b) { poke<uint64_t>(b, AT(identity_offset), 4096); }));
        // task_entries past the largest table (2^20 entries)
        bad("task_entries_huge", mutated([](auto& b) { poke<uint32_t>(b, AT(task_entries), (1u << 20) + 1); }));
        // task_entries 1000: the layout's file is larger than this one
        bad("task_entries_size", mutated([](auto& b) { poke<uint32_t>(b, AT(task_entries), 1000); }));
        // a 1.3 file with task_entries set: reserved bytes then
        bad("task_entries_reserved",
            [] {
                std::vector<unsigned char> b = owners_base().image();
                poke<uint32_t>(b, AT(task_entries), 16);
                return b;
            }());
    }
#undef AT
    std::printf("make_golden: wrote %d files under %s\n", written, out_dir.c_str());
    return 0;
}
