// Snapshots and capture containers: a ring file copied while its writers run
// decodes with no torn event shown as valid; bbx::snapshot() from inside the
// program; every damaged, cut or oversized container is rejected with an
// error that names the chunk and its offset; drops of discard mode come with
// their times.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/capture.hpp"
#include "bbx/decoder.hpp"
#include "bbx/snapshot.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::errc;
using bbx::dec::event;

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The container bytes of capture c, packed in memory.
std::vector<uint8_t> pack(const capture& c, int level = 1) {
    std::vector<uint8_t> out;
    bbx::dec::snapshot_options o;
    o.level = level;
    auto r = c.write_container(
        [&](const void* p, size_t n) {
            out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
            return true;
        },
        o);
    REQUIRE(!r.is_error());
    CHECK(r.value().container_bytes == out.size());
    return out;
}

// Where each chunk starts, read straight from the bytes (not by the decoder).
struct chunk_at {
    uint64_t offset;
    fmt::chunk_header h;
};
std::vector<chunk_at> chunks_of(const std::vector<uint8_t>& b) {
    fmt::container_header h;
    std::memcpy(&h, b.data(), sizeof h);
    std::vector<chunk_at> v;
    uint64_t off = sizeof h;
    for (uint32_t k = 0; k < h.chunk_count; ++k) {
        chunk_at c{off, {}};
        std::memcpy(&c.h, b.data() + off, sizeof c.h);
        v.push_back(c);
        off += sizeof c.h + c.h.packed_size;
    }
    CHECK(off == b.size());
    return v;
}

// Recomputes the container header's CRC after a test changed a field.
void reseal(std::vector<uint8_t>& b) {
    uint32_t crc = fmt::crc32c(b.data(), offsetof(fmt::container_header, header_crc));
    std::memcpy(b.data() + offsetof(fmt::container_header, header_crc), &crc, 4);
}

template <class T>
void put_field(std::vector<uint8_t>& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
}

bbx::dec::error open_error(const std::vector<uint8_t>& b) {
    auto r = capture::from_bytes(b.data(), b.size(), "t");
    REQUIRE(r.is_error());
    return r.err();
}

// Every event as one line of text, in the decoder's order.
std::vector<std::string> lines_of(const capture& c) {
    std::vector<std::string> v;
    REQUIRE(!c.for_each_event([&](const event& e) {
                 std::string l = std::to_string(e.thread) + " " + std::to_string(e.ticks) + " " +
                                 std::to_string(int(e.kind)) + " " + (e.where ? e.where->name : std::string("-"));
                 for (uint32_t i = 0; i < e.nargs; ++i) l += " " + std::to_string(e.args[i].word) + std::string(e.args[i].str);
                 v.push_back(l);
             }).is_error());
    return v;
}

// A finished capture with `events` instants of 3 slots each on the calling
// thread (ring_kb KiB rings), for the corruption tests.
std::vector<uint8_t> finished_capture(temp_capture& tc, uint32_t ring_kb, int events) {
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = ring_kb;
    cfg.max_threads = 4;
    cfg.meta_kb = 4;
    REQUIRE(bbx::start(cfg).ok());
    std::thread([&] {
        for (int i = 0; i < events; ++i)
            BBX_INSTANT(INFO, "snap", "fill", bbx::arg("i", i), bbx::arg("sq", int64_t(i) * i), bbx::arg("s", "abcdefghijkl"));
    }).join();
    bbx::stop();
    return read_bytes(tc.path);
}

}  // namespace

TEST_CASE("CRC-32C gives the spec's test vector, continues, and knows runs of zeros") {
    const char* v = "123456789";
    CHECK(fmt::crc32c(v, 9) == 0xE3069283u);
    CHECK(fmt::crc32c(v + 4, 5, fmt::crc32c(v, 4)) == 0xE3069283u);
    CHECK(fmt::crc32c(v, 0) == 0u);
    std::vector<unsigned char> zeros(70000);
    for (size_t n : {size_t(1), size_t(4096), size_t(65536), size_t(70000)})
        CHECK(fmt::crc32c_zeros(n) == fmt::crc32c(zeros.data(), n));
    // The 8-bytes-a-step loop agrees with the byte-at-a-time tail.
    std::string text(1000, 'x');
    for (size_t i = 0; i < text.size(); ++i) text[i] = char(i * 7 + 3);
    uint32_t bytewise = 0xffffffffu;
    for (unsigned char c : text) bytewise = (bytewise >> 8) ^ fmt::crc32c_table.t[0][(bytewise ^ c) & 0xff];
    CHECK(fmt::crc32c(text.data(), text.size()) == ~bytewise);
}

TEST_CASE("snapshots of a ring file while 2 writers run decode, and no torn event shows as valid") {
    temp_capture tc("snap-live");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // small: the writers lap the copy constantly
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    std::atomic<bool> done{false};
    auto writer = [&](int t) {
        uint64_t k = 0;
        std::string s(40, 'x');
        while (!done.load(std::memory_order_relaxed)) {
            ++k;
            for (size_t i = 0; i < s.size(); ++i) s[i] = char('a' + (k + i) % 26);
            BBX_INSTANT(INFO, "snap", "ev", bbx::arg("k", k), bbx::arg("t", t), bbx::arg("inv", ~k), bbx::arg("s", s));
        }
    };
    std::thread w1(writer, 1), w2(writer, 2);
    // Both writers under way first.
    for (bool both = false; !both;) {
        auto live = capture::open(tc.path);
        REQUIRE(!live.is_error());
        both = live.value()->threads().size() == 2 && live.value()->threads()[0].write_pos > 0 &&
               live.value()->threads()[1].write_pos > 0;
    }
    uint64_t checked = 0, bad = 0, snapshots = 0, damaged = 0, empty = 0;
    const std::string snap = tc.path + ".snap";
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until || snapshots < 40) {
        unlink(snap.c_str());
        // Alternately from inside the program and as bbx snapshot takes it from the file.
        if (snapshots % 2 == 0) {
            REQUIRE(bbx::snapshot(snap.c_str()));
        } else {
            auto live = capture::open(tc.path);
            REQUIRE(!live.is_error());
            auto w = bbx::dec::write_snapshot(*live.value(), snap);
            REQUIRE(!w.is_error());
        }
        auto r = capture::open(snap);
        REQUIRE(!r.is_error());
        capture& c = *r.value();
        REQUIRE(c.container().present);
        CHECK((c.header().flags & fmt::flag_ended_clean) == 0);
        std::map<uint32_t, uint64_t> last;
        uint64_t here = 0;
        auto pass = c.for_each_event([&](const event& e) {
            uint64_t k = e.args[0].word;
            bool ok = e.nargs == 4 && e.args[2].word == ~k && e.args[3].str.size() == 40;
            for (size_t i = 0; ok && i < 40; ++i) ok = e.args[3].str[i] == char('a' + (k + i) % 26);
            if (last.count(e.thread) && k <= last[e.thread]) ok = false;  // order per thread
            last[e.thread] = k;
            ++here;
            if (!ok) ++bad;
        });
        REQUIRE(!pass.is_error());
        for (const auto& s : pass.value().threads) damaged += s.torn + s.overwritten_in_read + s.malformed;
        // The writers lap a 4 KiB ring in about a microsecond, so a copy can
        // find every slot of its window overwritten: counted, never shown.
        if (here == 0) ++empty;
        checked += here;
        ++snapshots;
    }
    done = true;
    w1.join();
    w2.join();
    bbx::stop();
    unlink(snap.c_str());
    MESSAGE(checked << " events checked in " << snapshots << " snapshots (" << empty << " with none left); " << damaged
                    << " torn or overwritten slots skipped");
    CHECK(checked > 1000);
    CHECK(empty < snapshots / 4);
    CHECK(bad == 0);
}

TEST_CASE("bbx::snapshot from inside: the events so far, mode 0600, never overwriting a file") {
    temp_capture tc("snap-inside");
    const std::string snap = tc.path + ".snap";
    unlink(snap.c_str());
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    for (int i = 0; i < 300; ++i) BBX_INSTANT(INFO, "snap", "inside", bbx::arg("i", i), bbx::arg("name", "req"));
    std::thread([] {
        for (int i = 0; i < 200; ++i) BBX_COUNTER(INFO, "snap", "depth", i);
    }).join();
    REQUIRE(bbx::snapshot(snap.c_str()));
    struct stat st;
    REQUIRE(stat(snap.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    auto s = capture::open(snap);
    REQUIRE(!s.is_error());
    auto f = capture::open(tc.path);  // the live file: nothing writes now
    REQUIRE(!f.is_error());
    CHECK(s.value()->container().present);
    CHECK(!f.value()->container().present);
    CHECK(s.value()->container().file_bytes == uint64_t(st.st_size));
    CHECK(s.value()->container().image_bytes == f.value()->header().file_size);
    CHECK(s.value()->container().chunk_size == fmt::container_chunk_size);
    auto from_snap = lines_of(*s.value());
    CHECK(from_snap.size() == 500);
    CHECK(from_snap == lines_of(*f.value()));

    // An existing file is never replaced: the second snapshot fails and the
    // first is left as it was.
    BBX_INSTANT(INFO, "snap", "later", bbx::arg("i", 1));
    std::vector<uint8_t> before = read_bytes(snap);
    CHECK(!bbx::snapshot(snap.c_str()));
    CHECK(read_bytes(snap) == before);
    // A symlink in the path's last component is refused too (O_NOFOLLOW).
    const std::string link = tc.path + ".link";
    unlink(link.c_str());
    REQUIRE(symlink((tc.path + ".nowhere").c_str(), link.c_str()) == 0);
    CHECK(!bbx::snapshot(link.c_str()));
    CHECK(access((tc.path + ".nowhere").c_str(), F_OK) != 0);
    unlink(link.c_str());

    // After stop() the last session can still be copied, now ended cleanly.
    bbx::stop();
    unlink(snap.c_str());
    REQUIRE(bbx::snapshot(snap.c_str()));
    auto after = capture::open(snap);
    REQUIRE(!after.is_error());
    CHECK((after.value()->header().flags & fmt::flag_ended_clean) != 0);
    CHECK(lines_of(*after.value()).size() == 501);
    unlink(snap.c_str());
}

TEST_CASE("a typical capture is smaller as an LZ4 container than its rings' raw slots") {
    temp_capture tc("snap-size");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 1024;
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    std::vector<std::thread> th;
    for (int t = 0; t < 3; ++t)
        th.emplace_back([t] {
            for (int i = 0; i < 5000; ++i) {
                BBX_SPAN(INFO, "work", "block", bbx::arg("block", i), bbx::arg("bytes", 65536));
                BBX_COUNTER(DEBUG, "work", "queue", (i * 7 + t) % 32);
            }
        });
    for (auto& x : th) x.join();
    bbx::stop();
    auto f = capture::open(tc.path);
    REQUIRE(!f.is_error());
    capture& c = *f.value();
    uint64_t events = lines_of(c).size(), slots = 0;
    for (const auto& t : c.threads()) slots += t.write_pos;
    REQUIRE(events == 3 * 5000 * 3);
    std::vector<uint8_t> fast = pack(c), hc = pack(c, 9);
    const uint32_t slot_bytes = c.header().version_major == fmt::v2::version_major ? fmt::v2::slot_size : fmt::slot_size;
    MESSAGE("raw ring " << double(slots) * slot_bytes / double(events) << " bytes/event, LZ4 " << double(fast.size()) / double(events)
                        << ", LZ4 HC " << double(hc.size()) / double(events) << " (file " << c.header().file_size << " bytes)");
    // The whole container (header, metadata, 8 mostly empty rings) is smaller
    // than the used slots alone.
    CHECK(fast.size() < slots * slot_bytes);
    CHECK(hc.size() <= fast.size());
    // Both decode to the same events as the file.
    for (auto* b : {&fast, &hc}) {
        auto r = capture::from_bytes(b->data(), b->size());
        REQUIRE(!r.is_error());
        CHECK(lines_of(*r.value()) == lines_of(c));
    }
}

TEST_CASE("a flipped byte in chunk k is an error naming chunk k and its offset") {
    temp_capture tc("snap-flip");
    auto ring = finished_capture(tc, 256, 2500);  // 3 slots each: 240 KiB of ring 0
    auto f = capture::from_bytes(ring.data(), ring.size());
    REQUIRE(!f.is_error());
    const std::vector<uint8_t> good = pack(*f.value());
    const auto chunks = chunks_of(good);
    REQUIRE(chunks.size() == fmt::chunk_count_for(f.value()->header().file_size, fmt::container_chunk_size));
    int data_chunks = 0;
    for (size_t k = 0; k < chunks.size(); ++k) {
        CAPTURE(k);
        const std::string name = "chunk " + std::to_string(k) + " of " + std::to_string(chunks.size());
        if (chunks[k].h.packed_size == 0) {  // a zero chunk: damage its raw_crc
            std::vector<uint8_t> b = good;
            b[chunks[k].offset + offsetof(fmt::chunk_header, raw_crc)] ^= 0x10;
            auto e = open_error(b);
            CHECK(e.code == errc::corrupt);
            CHECK(e.offset == chunks[k].offset);
            CHECK(e.what.find(name + ": a zero chunk's raw_crc") == 0);
            continue;
        }
        ++data_chunks;
        std::vector<uint8_t> b = good;
        b[chunks[k].offset + fmt::chunk_header_size + chunks[k].h.packed_size / 2] ^= 0x01;
        auto e = open_error(b);
        CHECK(e.code == errc::corrupt);
        CHECK(e.offset == chunks[k].offset);
        CHECK(e.what.find(name + ": the packed bytes fail their CRC-32C") == 0);
        CHECK(e.message().find("at offset " + std::to_string(chunks[k].offset)) != std::string::npos);
        // The stored checksum damaged instead of the data: the same chunk.
        b = good;
        b[chunks[k].offset + offsetof(fmt::chunk_header, raw_crc)] ^= 0x80;
        e = open_error(b);
        CHECK(e.offset == chunks[k].offset);
        CHECK(e.what.find(name + ": the unpacked bytes fail their CRC-32C") == 0);
    }
    CHECK(data_chunks >= 4);
    // A byte of the container header: its own checksum.
    std::vector<uint8_t> b = good;
    b[offsetof(fmt::container_header, chunk_size) + 1] ^= 0x04;
    auto e = open_error(b);
    CHECK(e.code == errc::corrupt);
    CHECK(e.offset == offsetof(fmt::container_header, header_crc));
    // The good bytes open.
    CHECK(!capture::from_bytes(good.data(), good.size()).is_error());
}

TEST_CASE("a container cut anywhere is truncated at its length") {
    temp_capture tc("snap-cut");
    auto ring = finished_capture(tc, 64, 1000);
    auto f = capture::from_bytes(ring.data(), ring.size());
    REQUIRE(!f.is_error());
    const std::vector<uint8_t> good = pack(*f.value());
    const auto chunks = chunks_of(good);
    std::vector<size_t> cuts = {1, 5, 8, 11, 40, 63, 64, 70, size_t(chunks[0].offset) + 20, size_t(chunks[1].offset) + 3,
                                good.size() - 1};
    for (size_t cut : cuts) {
        CAPTURE(cut);
        std::vector<uint8_t> b(good.begin(), good.begin() + long(cut));
        auto e = open_error(b);
        CHECK(e.code == errc::truncated);
        CHECK(e.offset == cut);
    }
    // Bytes after the last chunk are not part of it.
    std::vector<uint8_t> b = good;
    b.push_back(0);
    auto e = open_error(b);
    CHECK(e.code == errc::corrupt);
    CHECK(e.offset == good.size());
}

TEST_CASE("declared sizes past the bounds are rejected before anything is allocated") {
    temp_capture tc("snap-bounds");
    auto ring = finished_capture(tc, 64, 200);
    auto f = capture::from_bytes(ring.data(), ring.size());
    REQUIRE(!f.is_error());
    const std::vector<uint8_t> good = pack(*f.value());
    const size_t image_at = offsetof(fmt::container_header, image_size), count_at = offsetof(fmt::container_header, chunk_count);
    {  // 16 GiB: over the 8 GiB limit
        std::vector<uint8_t> b = good;
        put_field<uint64_t>(b, image_at, 16ull << 30);
        put_field<uint32_t>(b, count_at, uint32_t((16ull << 30) / fmt::container_chunk_size));
        reseal(b);
        auto e = open_error(b);
        CHECK(e.code == errc::corrupt);
        CHECK(e.offset == image_at);
    }
    {  // 8 GiB, consistent chunk count: the file cannot hold 131072 chunk headers
        std::vector<uint8_t> b = good;
        put_field<uint64_t>(b, image_at, 8ull << 30);
        put_field<uint32_t>(b, count_at, uint32_t((8ull << 30) / fmt::container_chunk_size));
        reseal(b);
        auto e = open_error(b);
        CHECK(e.code == errc::truncated);
        CHECK(e.offset == b.size());
        CHECK(e.what.find("131072 chunk headers") != std::string::npos);
    }
    {  // a chunk count that does not match the sizes
        std::vector<uint8_t> b = good;
        put_field<uint32_t>(b, count_at, chunks_of(good).size() + 1);
        reseal(b);
        CHECK(open_error(b).offset == count_at);
    }
    const auto chunks = chunks_of(good);
    size_t k = 0;
    while (chunks[k].h.packed_size == 0) ++k;
    {  // a packed block that would expand more than LZ4 can
        std::vector<uint8_t> b = good;
        put_field<uint32_t>(b, chunks[k].offset + offsetof(fmt::chunk_header, packed_size), 3);
        auto e = open_error(b);
        CHECK(e.code == errc::corrupt);
        CHECK(e.offset == chunks[k].offset + offsetof(fmt::chunk_header, packed_size));
    }
    {  // a raw size other than the chunk size
        std::vector<uint8_t> b = good;
        put_field<uint32_t>(b, chunks[k].offset, fmt::container_chunk_size * 2);
        auto e = open_error(b);
        CHECK(e.code == errc::corrupt);
        CHECK(e.offset == chunks[k].offset);
    }
    {  // reserved flag bits and bytes
        std::vector<uint8_t> b = good;
        b[offsetof(fmt::container_header, flags)] = 1;
        reseal(b);
        CHECK(open_error(b).offset == offsetof(fmt::container_header, flags));
        b = good;
        b[offsetof(fmt::container_header, reserved) + 5] = 1;
        reseal(b);
        CHECK(open_error(b).offset == offsetof(fmt::container_header, reserved));
        b = good;
        b[offsetof(fmt::container_header, version_major)] = 2;
        CHECK(open_error(b).code == errc::unsupported_version);
    }
}

TEST_CASE("an error inside a container's image names the image offset and the chunk's file offset") {
    temp_capture tc("snap-image");
    auto ring = finished_capture(tc, 64, 100);
    ring[offsetof(fmt::file_header, ring_size)] ^= 0x01;  // not a power of two any more
    std::vector<uint8_t> box;
    std::vector<unsigned char> scratch(fmt::container_scratch_size(fmt::container_chunk_size));
    REQUIRE(fmt::write_container(ring.data(), ring.size(), fmt::container_chunk_size, scratch.data(), fmt::lz4_fast,
                                 [&](const void* p, size_t n) {
                                     box.insert(box.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
                                     return true;
                                 }));
    auto e = open_error(box);
    CHECK(e.code == errc::corrupt);
    CHECK(e.offset == fmt::container_header_size);  // chunk 0 starts right after the header
    CHECK(e.what.find("image offset 28 (chunk 0 of ") == 0);
    CHECK(e.what.find("ring_size is") != std::string::npos);
    // A prefix of the container magic is a cut file, not another kind of file.
    CHECK(open_error(std::vector<uint8_t>(fmt::container_magic, fmt::container_magic + 5)).code == errc::truncated);
}

TEST_CASE("discard mode: each thread's drops are counted with the time of the first and the latest") {
    temp_capture tc("snap-discard");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // 256 slots of 16 bytes
    cfg.max_threads = 4;
    cfg.discard = true;
    REQUIRE(bbx::start(cfg).ok());
    uint64_t before_first_drop = 0, after_last_drop = 0;
    std::thread([&] {
        // Its owner event (1.3) first: 2 + ceil(4 / 8) = 3 slots, carrying
        // the high half of the ticks (tb_limit 0 + 128); then 125 instants, a
        // time base at 128 and 126 instants fill the 256 slots (2.0). (A
        // change of the counter's high half in these microseconds, once every
        // 2^32 ticks, would add a time base and drop the last "fits".)
        bbx::set_thread_name("full");
        for (int i = 0; i < 251; ++i) BBX_INSTANT(INFO, "snap", "fits", bbx::arg("i", i));  // 1 slot each: fills the ring
        before_first_drop = bbx::detail::now_ticks();
        for (int i = 0; i < 372; ++i) BBX_INSTANT(INFO, "snap", "dropped", bbx::arg("i", i));
        after_last_drop = bbx::detail::now_ticks();
    }).join();
    std::thread([] { BBX_INSTANT(INFO, "snap", "fits", bbx::arg("i", 0)); }).join();  // no drops
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    REQUIRE(c.threads().size() == 2);
    const auto& full = c.threads()[0];
    CHECK(full.events_written == 251 + 1);  // + the owner event (time bases are not events)
    CHECK(full.events_dropped == 372);
    CHECK(full.first_drop_ticks > before_first_drop);
    CHECK(full.last_drop_ticks > full.first_drop_ticks);
    CHECK(full.last_drop_ticks < after_last_drop);
    CHECK(c.threads()[1].events_dropped == 0);
    CHECK(c.threads()[1].first_drop_ticks == 0);
    CHECK(c.threads()[1].last_drop_ticks == 0);

    char* text = nullptr;
    size_t len = 0;
    std::FILE* out = open_memstream(&text, &len);
    REQUIRE(out);
    std::string err;
    CHECK(bbx::dec::write_info(c, out, err));
    std::fclose(out);
    std::string info(text, len);
    std::free(text);
    CHECK(info.find("\ndrops (discard mode") != std::string::npos);
    CHECK(info.find("  T0 (tid " + std::to_string(full.tid)) != std::string::npos);
    CHECK(info.find("372 events dropped, the first at ") != std::string::npos);
    CHECK(info.find("  T1 (tid") == std::string::npos);  // only threads that dropped
    CHECK(info.find("LZ4 capture") != std::string::npos);
}
