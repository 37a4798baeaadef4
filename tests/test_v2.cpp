// Format 2.0's reader against the 1.x one on the same events, and what a
// 2.0 reader keeps from one incremental pass to the next. The captures are
// written by the golden writer (tests/golden/ring_file.hpp: f2-design.md's
// writer rules), not the recorder.
#include <dirent.h>

#include <cstdio>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include "golden/transcode.hpp"
#include "support/capture.hpp"

namespace {

namespace fmt = ::bbx::format;

// One event as text: every field the reader hands on for its kind, and its
// thread by ring and tid (its index may differ between the two files).
std::string fingerprint(const bbx::dec::capture& c, const bbx::dec::event& e) {
    const bbx::dec::thread_info& t = c.threads()[e.thread];
    std::string s = std::to_string(int(e.kind)) + " r" + std::to_string(t.ring) + " " + std::to_string(t.tid) + " " +
                    std::to_string(e.ticks) + " " + std::to_string(e.ns) + " s" +
                    std::to_string(e.where ? e.where->id : 0);
    for (uint32_t i = 0; i < e.nargs; ++i) s += " " + std::to_string(e.args[i].word) + ":" + std::string(e.args[i].str);
    switch (e.kind) {
        case fmt::kind::thread_name: s += " " + std::string(e.thread_name); break;
        case fmt::kind::span_context:
            s += " " + std::to_string(e.context.span_id) + " " + std::to_string(e.context.trace_hi) + " " +
                 std::to_string(e.context.trace_lo) + " " + std::to_string(e.context.parent_span_id) + " " +
                 std::to_string(e.context.role) + " " + std::to_string(e.context.flags);
            break;
        case fmt::kind::crash: {
            s += " " + std::to_string(e.crash->signo) + " " + std::to_string(e.crash->pc);
            for (uint32_t i = 0; i < e.crash->nframes; ++i) s += " " + std::to_string(e.crash->frames[i]);
            break;
        }
        default:
            if (uint8_t(e.kind) >= fmt::kind_first_task && uint8_t(e.kind) <= fmt::kind_last_task) {
                const auto v = task_values(e);
                s += " t" + std::to_string(e.task) + " " + std::to_string(v.first) + " " + std::to_string(v.second);
            }
    }
    return s;
}

std::vector<std::string> events_of(const bbx::dec::capture& c, bbx::dec::read_stats* st = nullptr) {
    std::vector<std::string> out;
    auto r = c.for_each_event([&](const bbx::dec::event& e) { out.push_back(fingerprint(c, e)); });
    REQUIRE(!r.is_error());
    if (st) *st = r.value();
    return out;
}

std::vector<std::string> files_in(const std::string& dir, const std::string& prefix) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.rfind(prefix, 0) == 0 && n.size() > 4 && n.substr(n.size() - 4) == ".bbx") out.push_back(dir + "/" + n);
        }
        closedir(d);
    }
    return out;
}

}  // namespace

TEST_CASE("every recorded capture gives the same events from its 2.0 rewrite as from its 1.x file") {
    std::vector<std::string> files = files_in("tests/outputs/inputs", "");
    for (const std::string& f : files_in("fuzz/corpus/ring", "real-")) files.push_back(f);
    REQUIRE(files.size() >= 12);
    for (const std::string& f : files) {
        CAPTURE(f);
        auto one = bbx::dec::capture::open(f);
        REQUIRE(!one.is_error());
        std::string err;
        const std::vector<unsigned char> image = golden::transcode(f, 2, err);
        REQUIRE_MESSAGE(!image.empty(), err);
        auto two = bbx::dec::capture::from_bytes(image.data(), image.size(), f + " as 2.0");
        REQUIRE(!two.is_error());
        CHECK(two.value()->header().version_major == 2);
        bbx::dec::read_stats st;
        const std::vector<std::string> a = events_of(*one.value()), b = events_of(*two.value(), &st);
        CHECK(a.size() == b.size());
        CHECK(a == b);
        for (const bbx::dec::ring_stats& s : st.threads) {
            CHECK(s.untimed == 0);
            CHECK(s.unresolved == 0);
            CHECK(s.torn + s.malformed + s.unknown_kind + s.orphan == 0);
        }
    }
}

TEST_CASE("a 2.0 pass that goes on from the last one keeps the high tick half and the open polls") {
    using namespace golden;
    temp_capture tmp("v2-passes");
    ring_file r(1, 1, 0, 4096, 4, 4, 0, 2);
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    {
        flatbuffers::FlatBufferBuilder b;
        b.Finish(fb::CreateRecord(b, fb::Body::Resource, fb::CreateResourceDirect(b, 3, fb::ResourceKind::Mutex, "m", 0).Union()));
        r.record(b);
    }
    const uint64_t base = (uint64_t(5) << 32) + 1000;  // a high half of 5: wrong by 5 * 2^32 ticks if it were lost
    r.take(0, 77, "main", base);
    r.event(0, fmt::kind::task_poll_begin, 0, base + 10, {u64(9)});
    r.event(0, fmt::kind::instant, 1, base + 20, {i64(1)});
    auto save = [&] {
        const std::vector<unsigned char> img = r.image();
        std::FILE* f = std::fopen(tmp.path.c_str(), "r+b");
        if (!f) f = std::fopen(tmp.path.c_str(), "wb");
        REQUIRE(f);
        REQUIRE(std::fwrite(img.data(), 1, img.size(), f) == img.size());
        std::fclose(f);
    };
    save();
    auto c = bbx::dec::capture::open(tmp.path);
    REQUIRE(!c.is_error());
    std::vector<bbx::dec::capture::ring_mark> marks;
    std::vector<bbx::dec::event> seen;
    auto pass = [&] {
        seen.clear();
        auto res = c.value()->for_each_event_from(marks, [&](const bbx::dec::event& e) { seen.push_back(e); });
        REQUIRE(!res.is_error());
        return res.value();
    };
    pass();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].ticks == base + 20);
    // The writer goes on in the same mapping: no time base (same high half,
    // far from tb_limit), an implicit lock of the open poll's task.
    const uint64_t before = r.rings[0].write_pos;
    r.event(0, fmt::kind::resource_op, 0, base + 30, {u64(9), u64(3), u64(uint8_t(fmt::resource_op::lock))});
    r.event(0, fmt::kind::task_poll_end, 0, base + 40, {u64(9)});
    CHECK(r.rings[0].write_pos == before + 2);  // two one-slot events, no time base between
    save();
    const bbx::dec::read_stats st = pass();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].kind == fmt::kind::resource_op);
    CHECK(seen[0].task == 9);
    CHECK(seen[0].res.id == 3);
    CHECK(seen[0].ticks == base + 30);
    CHECK(seen[1].kind == fmt::kind::task_poll_end);
    CHECK(seen[1].ticks == base + 40);
    CHECK(st.threads[0].untimed == 0);
    CHECK(st.threads[0].unresolved == 0);
}

TEST_CASE("a 2.0 pass whose writer went 255 rings past the window's write position stops trusting the laps it read") {
    using namespace golden;
    temp_capture tmp("v2-relap");
    ring_file r(1, 1, 0, 4096, 4, 4, 0, 2);  // 256 slots
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    r.take(0, 77, "main", 1000);
    for (int i = 0; i < 10; ++i) r.event(0, fmt::kind::instant, 1, 2000 + uint64_t(i), {i64(i)});
    const std::vector<unsigned char> img = r.image();
    {
        std::FILE* f = std::fopen(tmp.path.c_str(), "wb");
        REQUIRE(f);
        REQUIRE(std::fwrite(img.data(), 1, img.size(), f) == img.size());
        std::fclose(f);
    }
    auto c = bbx::dec::capture::open(tmp.path);
    REQUIRE(!c.is_error());
    // After the first event, the "writer" is 255 rings on: every lap still
    // matching may be a copy of a write 256 laps later, so none is trusted.
    const uint64_t far = r.rings[0].write_pos + 255 * 256;
    std::vector<int64_t> seen;
    auto res = c.value()->for_each_event([&](const bbx::dec::event& e) {
        if (seen.empty()) {
            std::FILE* f = std::fopen(tmp.path.c_str(), "r+b");
            REQUIRE(f);
            std::fseek(f, long(r.h.ring_table_offset + offsetof(fmt::ring_descriptor, write_pos)), SEEK_SET);
            std::fwrite(&far, 8, 1, f);
            std::fclose(f);
        }
        seen.push_back(e.args[0].as_i64());
    });
    REQUIRE(!res.is_error());
    CHECK(seen == std::vector<int64_t>{0});
    CHECK(res.value().threads[0].overwritten_in_read == 1);
}

TEST_CASE("a 2.0 window that starts inside a poll whose begin is gone, its first time base naming unknown_task, attributes nothing it cannot know") {
    using namespace golden;
    temp_capture tmp("v2-unknown-task");
    ring_file r(1, 1, fmt::flag_ended_clean, 4096, 4, 4, 0, 2);  // 256 slots, overwritten
    r.site(1, fb::SiteKind::Instant, "app", "tick", {{"n", fb::ArgType::I64}});
    {
        flatbuffers::FlatBufferBuilder b;
        b.Finish(fb::CreateRecord(b, fb::Body::Resource, fb::CreateResourceDirect(b, 2, fb::ResourceKind::Mutex, "m", 0).Union()));
        r.record(b);
    }
    const uint8_t lock = uint8_t(fmt::resource_op::lock);
    const uint64_t lock_word = fmt::v2::resource_word(2, lock);
    int64_t us = 10;
    int n = 0;
    auto tick = [&] { r.event(0, fmt::kind::instant, 1, at_us(us++), {i64(n++)}); };
    auto lock_by = [&](uint64_t task) { r.event(0, fmt::kind::resource_op, 0, at_us(us++), {u64(task), u64(2), u64(lock)}); };
    r.take(0, 77, "main", at_us(1));
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(5)});
    // Task 5's poll: implicit locks (its poll_begin is in the ring), until
    // the last time base is 20 .. 100 slots back.
    auto since_tb = [&] { return r.rings[0].write_pos - (r.writer[0].tb_limit - 128); };
    while (r.rings[0].write_pos < 300 || since_tb() < 20 || since_tb() > 100) {
        tick();
        if (n % 3 == 0) lock_by(5);
    }
    // A poll of task 6 whose poll_begin was not written: the writer writes a
    // time base naming unknown_task before its next event, then explicit forms.
    r.poll_unwritten(0, 6);
    const uint64_t tb_at = r.rings[0].write_pos;
    lock_by(6);
    CHECK(r.a_of(0, tb_at) == fmt::v2::head_word(fmt::kind::time_base, tb_at >> 8, 0, at_us(us - 1)));
    r.event(0, fmt::kind::task_poll_end, 0, at_us(us++), {u64(6)});
    lock_by(5);  // explicit now
    r.event(0, fmt::kind::task_poll_end, 0, at_us(us++), {u64(5)});
    // No poll open, the base unknown: an implicit event here (no writer of
    // this spec makes one after the loss) names no task a reader can know.
    r.put_event2(0, uint8_t(fmt::kind::resource_op), 0, at_us(us++), lock_word, {});
    r.event(0, fmt::kind::task_poll_begin, 0, at_us(us++), {u64(7)});
    r.put_event2(0, uint8_t(fmt::kind::resource_op), 0, at_us(us++), lock_word, {});  // the next poll's: task 7
    r.event(0, fmt::kind::task_poll_end, 0, at_us(us++), {u64(7)});
    while (r.rings[0].write_pos < tb_at + 256 - 12) tick();  // the window starts 12 slots before the time base
    const uint64_t start = r.rings[0].write_pos - 256;
    REQUIRE(start < tb_at);
    // The implicit locks of task 5 in the window's prefix, before the time base.
    uint64_t prefix_locks = 0;
    for (uint64_t p = start; p < tb_at; ++p)
        if (fmt::v2::kind_of(r.a_of(0, p)) == uint8_t(fmt::kind::resource_op)) ++prefix_locks;
    REQUIRE(prefix_locks >= 2);
    {
        const std::vector<unsigned char> img = r.image();
        std::FILE* f = std::fopen(tmp.path.c_str(), "wb");
        REQUIRE(f);
        REQUIRE(std::fwrite(img.data(), 1, img.size(), f) == img.size());
        std::fclose(f);
    }
    auto c = bbx::dec::capture::open(tmp.path);
    REQUIRE(!c.is_error());
    std::vector<uint64_t> lockers;
    auto res = c.value()->for_each_event([&](const bbx::dec::event& e) {
        if (e.kind == fmt::kind::resource_op) lockers.push_back(e.task);
    });
    REQUIRE(!res.is_error());
    // Named: 6 and 5 (explicit), 7 (the implicit one inside 7's poll); the
    // prefix's and the one between the polls: unresolved, none guessed.
    CHECK(lockers == std::vector<uint64_t>{6, 5, 7});
    CHECK(res.value().threads[0].unresolved == prefix_locks + 1);
}
