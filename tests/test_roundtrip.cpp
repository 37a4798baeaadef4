// Recorder -> file -> decoder: every event comes back exactly, and the rings
// keep what the spec says they keep.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

std::string payload_string(uint64_t t, uint64_t j) {
    // Lengths 0..139: the ones past 128 must come back cut at 128.
    std::string s;
    size_t n = (j * 7 + t) % 140;
    for (size_t i = 0; i < n; ++i) s += char('a' + (i + j + t) % 26);
    return s;
}

void record_thread(uint64_t t, int iterations) {
    bbx::set_thread_name(("writer-" + std::to_string(t)).c_str());
    for (int j = 0; j < iterations; ++j) {
        BBX_SPAN(INFO, "rt", "outer", bbx::arg("j", int64_t(j)), bbx::arg("t", uint64_t(t) << 40), bbx::arg("neg", -j));
        std::string s = payload_string(t, uint64_t(j));
        BBX_INSTANT(DEBUG, "rt", "inst", bbx::arg("d", j * 0.5), bbx::arg("b", j % 3 == 0), bbx::arg("s", s));
        if (j % 2) BBX_COUNTER(INFO, "rt", "ci", int64_t(j) * 3);
        else BBX_COUNTER(INFO, "rt", "cd", j / 4.0);
    }
}

}  // namespace

TEST_CASE("4 threads x 200,000 events of every kind come back exactly, in order per thread") {
    temp_capture tc("roundtrip");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 32 * 1024;  // ~10.5 slots per 4 events: 32 MiB holds all 200,000
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    const int iterations = 50000;  // 4 events each: begin, instant, counter, end
    std::vector<std::thread> threads;
    for (uint64_t t = 0; t < 4; ++t) threads.emplace_back(record_thread, t, iterations);
    for (auto& th : threads) th.join();
    bbx::stop();

    auto r = capture::open(tc.path);
    REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
    capture& c = *r.value();
    REQUIRE(c.threads().size() == 4);
    CHECK(bool(c.header().flags & fmt::flag_ended_clean));
    // Map tid -> thread number via the names the threads gave themselves.
    std::map<uint32_t, uint64_t> ring_to_t;
    for (auto& th : c.threads()) {
        REQUIRE(th.name.rfind("writer-", 0) == 0);
        ring_to_t[th.ring] = std::stoull(th.name.substr(7));
    }
    std::vector<uint64_t> next(4, 0);  // per ring: index of the next expected event
    uint64_t mismatches = 0;
    auto r2 = c.for_each_event([&](const event& e) {
        uint64_t t = ring_to_t[e.thread];
        uint64_t idx = next[e.thread]++;
        uint64_t j = idx / 4, step = idx % 4;
        bool ok = false;
        switch (step) {
            case 0:
                ok = e.kind == fmt::kind::span_begin && e.where->name == "outer" && e.where->category == "rt" &&
                     e.nargs == 3 && e.args[0].as_i64() == int64_t(j) && e.args[0].decl->name == "j" &&
                     e.args[1].word == (t << 40) && e.args[1].decl->type == fmt::arg_type::u64 &&
                     e.args[2].as_i64() == -int64_t(j) && e.args[2].decl->type == fmt::arg_type::i64;
                break;
            case 1: {
                std::string s = payload_string(t, j);
                if (s.size() > 128) s.resize(128);
                ok = e.kind == fmt::kind::instant && e.where->name == "inst" && e.nargs == 3 &&
                     e.args[0].as_f64() == double(j) * 0.5 && e.args[1].word == (j % 3 == 0 ? 1u : 0u) &&
                     e.args[1].decl->type == fmt::arg_type::boolean && e.args[2].str == s;
                break;
            }
            case 2:
                if (j % 2) ok = e.kind == fmt::kind::counter && e.where->name == "ci" && e.args[0].as_i64() == int64_t(j) * 3;
                else ok = e.kind == fmt::kind::counter && e.where->name == "cd" && e.args[0].as_f64() == double(j) / 4.0;
                break;
            case 3: ok = e.kind == fmt::kind::span_end && e.where->name == "outer"; break;
        }
        if (!ok && ++mismatches < 5) FAIL_CHECK("event " << idx << " of thread " << t << " differs");
    });
    REQUIRE(!r2.is_error());
    CHECK(mismatches == 0);
    for (size_t i = 0; i < 4; ++i) {
        CHECK(next[i] == 4u * iterations);
        CHECK(r2.value().threads[i].events == 4u * iterations);
        CHECK(r2.value().threads[i].torn == 0);
        CHECK(r2.value().threads[i].overwritten == 0);
        CHECK(c.threads()[i].events_written == 4u * iterations + 1);  // + the owner event (1.3), not yielded
    }
}

TEST_CASE("string arguments of every length from 0 to 140 bytes come back exactly: alone, after words, two in one event") {
    // Each string lives in a heap block of exactly its length, so that under
    // ASan (make test-asan) a read past its end, or before it, is an error.
    temp_capture tc("strings");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 1024;
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    auto text = [](size_t len, size_t salt) {
        std::string s(len, ' ');
        for (size_t i = 0; i < len; ++i) s[i] = char(33 + (salt * 31 + i * 7) % 90);
        return s;
    };
    const size_t longest = 140;
    for (size_t len = 0; len <= longest; ++len) {
        const std::string a = text(len, len), b = text(len / 3, len + 1000);
        auto ha = std::make_unique<char[]>(a.size()), hb = std::make_unique<char[]>(b.size());
        std::memcpy(ha.get(), a.data(), a.size());
        std::memcpy(hb.get(), b.data(), b.size());
        const std::string_view sa(ha.get(), a.size()), sb(hb.get(), b.size());
        BBX_INSTANT(INFO, "str", "alone", bbx::arg("s", sa));
        BBX_INSTANT(INFO, "str", "after_words", bbx::arg("n", int64_t(len)), bbx::arg("s", sa), bbx::arg("x", double(len) / 2));
        BBX_INSTANT(INFO, "str", "two", bbx::arg("a", sa), bbx::arg("n", int64_t(len)), bbx::arg("b", sb));
    }
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    size_t seen = 0, wrong = 0;
    REQUIRE(!r.value()->for_each_event([&](const event& e) {
        const size_t len = seen / 3, which = seen % 3;
        ++seen;
        std::string a = text(len, len), b = text(len / 3, len + 1000);
        if (a.size() > 128) a.resize(128);
        bool ok = false;
        if (which == 0) ok = e.where->name == "alone" && e.nargs == 1 && e.args[0].str == a;
        else if (which == 1)
            ok = e.where->name == "after_words" && e.nargs == 3 && e.args[0].as_i64() == int64_t(len) && e.args[1].str == a &&
                 e.args[2].as_f64() == double(len) / 2;
        else ok = e.where->name == "two" && e.nargs == 3 && e.args[0].str == a && e.args[1].as_i64() == int64_t(len) && e.args[2].str == b;
        if (!ok && ++wrong < 5) FAIL_CHECK("event " << which << " with a string of " << len << " bytes differs");
    }).is_error());
    CHECK(seen == 3 * (longest + 1));
    CHECK(wrong == 0);
}

TEST_CASE("overwrite mode keeps exactly the newest events") {
    temp_capture tc("overwrite");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // 256 slots of 16 bytes
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    std::thread([] {
        for (int i = 0; i < 10000; ++i) BBX_INSTANT(INFO, "ow", "one_slot", bbx::arg("i", i));
    }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    std::vector<int64_t> got;
    auto pass = r.value()->for_each_event([&](const event& e) { got.push_back(e.args[0].as_i64()); });
    REQUIRE(!pass.is_error());
    // The window is the last 256 slots: one-slot instants and the time bases
    // among them (2 slots each, at most 128 positions apart: 2 or 3 of them,
    // the oldest perhaps only its continuation, an orphan).
    REQUIRE(got.size() >= 256 - 3 * 2);
    REQUIRE(got.size() <= 256 - 2 * 2);
    CHECK(pass.value().threads[0].orphan <= 1);
    for (size_t k = 0; k < got.size(); ++k) CHECK(got[k] == int64_t(10000 - got.size() + k));
    CHECK(pass.value().threads[0].overwritten == 10000 + 1 - got.size());  // the owner event (1.3) too
}

TEST_CASE("overwrite mode with multi-slot events keeps a gap-free newest suffix and skips orphaned continuations") {
    temp_capture tc("overwrite3");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 1;
    REQUIRE(bbx::start(cfg).ok());
    std::thread([] {
        // 4 slots each (2.0): the head (i in B), then the string's length word and its 9 bytes in 3 continuations
        for (int i = 0; i < 1001; ++i) BBX_INSTANT(INFO, "ow", "three_slots", bbx::arg("i", i), bbx::arg("s", "123456789"));
    }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    std::vector<int64_t> got;
    auto pass = r.value()->for_each_event([&](const event& e) {
        got.push_back(e.args[0].as_i64());
        CHECK(e.args[1].str == "123456789");
    });
    REQUIRE(!pass.is_error());
    // 1001 * 4 = 4004 slots and a time base (2 slots) at most every 128
    // positions; the ring holds the last 256 slots: 4 slots an event leaves
    // whole events after up to 3 orphaned continuations at the window's start.
    const uint64_t orphans = pass.value().threads[0].orphan;
    REQUIRE(got.size() >= (256 - 3 * 2 - 3) / 4);
    REQUIRE(got.size() <= (256 - 2 * 2) / 4);
    CHECK(orphans <= 3 + 1);
    CHECK(got.size() * 4 + orphans <= 256 - 2 * 2);
    for (size_t k = 0; k < got.size(); ++k) CHECK(got[k] == int64_t(1001 - got.size() + k));
}

TEST_CASE("discard mode keeps the oldest events and counts the dropped ones") {
    temp_capture tc("discard");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 1;
    cfg.discard = true;
    REQUIRE(bbx::start(cfg).ok());
    std::thread([] {
        // Its owner event (1.3) comes first: 2 + ceil(7 / 8) = 3 slots (2.0),
        // which carries the high half of the ticks and sets tb_limit 0 + 128;
        // then 125 instants (3 .. 127), a time base at 128 and 126 instants
        // (130 .. 255): 251. A change of the counter's high half during the
        // loop (every 2^32 ticks, seconds apart) adds one time base: 249.
        bbx::set_thread_name("discard");
        for (int i = 0; i < 1000; ++i) BBX_INSTANT(INFO, "dc", "one_slot", bbx::arg("i", i));
    }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    std::vector<int64_t> got;
    REQUIRE(!r.value()->for_each_event([&](const event& e) { got.push_back(e.args[0].as_i64()); }).is_error());
    REQUIRE((got.size() == 251 || got.size() == 249));
    for (size_t k = 0; k < got.size(); ++k) CHECK(got[k] == int64_t(k));
    CHECK(r.value()->threads()[0].events_dropped == 1000 - got.size());
    CHECK(bool(r.value()->header().flags & fmt::flag_discard));
}

TEST_CASE("threads one after another share the rings: each exited thread's ring goes to the next") {
    temp_capture tc("overflow");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    for (int t = 0; t < 3; ++t)
        std::thread([t] {
            for (int i = 0; i < 10; ++i) BBX_INSTANT(INFO, "of", "ev", bbx::arg("t", t));
        }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    const capture& c = *r.value();
    REQUIRE(c.threads().size() == 3);  // ring 0: threads 0 and 2 (generations 1, 2); ring 1: thread 1
    CHECK(c.threads()[0].ring == 0);
    CHECK(c.threads()[0].generation == 1);
    CHECK(c.threads()[1].ring == 0);
    CHECK(c.threads()[1].generation == 2);
    CHECK(c.threads()[2].ring == 1);
    CHECK(c.header().threads_dropped == 0);
    CHECK(c.header().events_dropped == 0);
    std::map<uint32_t, std::set<int64_t>> by_thread;
    size_t n = 0;
    REQUIRE(!c.for_each_event([&](const event& e) {
                   by_thread[e.thread].insert(e.args[0].as_i64());
                   ++n;
               }).is_error());
    CHECK(n == 30);
    CHECK(by_thread[0] == std::set<int64_t>{0});
    CHECK(by_thread[1] == std::set<int64_t>{2});
    CHECK(by_thread[2] == std::set<int64_t>{1});
}

TEST_CASE("the run-time level filters events and set_level changes it") {
    temp_capture tc("level");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 2;
    cfg.level = BBX_LEVEL_INFO;
    REQUIRE(bbx::start(cfg).ok());
    std::thread([] {
        BBX_INSTANT(DEBUG, "lv", "hidden", bbx::arg("n", 1));
        BBX_INSTANT(INFO, "lv", "shown", bbx::arg("n", 2));
        bbx::set_level(BBX_LEVEL_DEBUG);
        BBX_INSTANT(DEBUG, "lv", "now_shown", bbx::arg("n", 3));
        bbx::set_level(BBX_LEVEL_ERROR);
        BBX_INSTANT(WARN, "lv", "hidden_again", bbx::arg("n", 4));
    }).join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    std::vector<std::string> names;
    REQUIRE(!r.value()->for_each_event([&](const event& e) { names.push_back(e.where->name); }).is_error());
    CHECK(names == std::vector<std::string>{"shown", "now_shown"});
}

TEST_CASE("start refuses an existing file and a symlink, and creates the file 0600") {
    temp_capture tc("exists");
    FILE* f = std::fopen(tc.path.c_str(), "w");
    REQUIRE(f);
    std::fputs("precious", f);
    std::fclose(f);
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    auto r = bbx::start(cfg);
    CHECK(r.status == bbx::start_status::file_exists);
    // The existing file is untouched.
    f = std::fopen(tc.path.c_str(), "r");
    char buf[16] = {};
    REQUIRE(std::fgets(buf, sizeof buf, f));
    std::fclose(f);
    CHECK(std::string(buf) == "precious");

    temp_capture link("symlink");
    temp_capture target("symlink-target");
    REQUIRE(symlink(target.path.c_str(), link.path.c_str()) == 0);
    cfg.path = link.path.c_str();
    CHECK(bbx::start(cfg).status == bbx::start_status::file_exists);
    CHECK(access(target.path.c_str(), F_OK) != 0);  // nothing created through the link

    temp_capture fresh("mode");
    cfg.path = fresh.path.c_str();
    cfg.ring_kb = 4;
    REQUIRE(bbx::start(cfg).ok());
    CHECK(bbx::start(cfg).status == bbx::start_status::already_started);
    bbx::stop();
    struct stat st;
    REQUIRE(stat(fresh.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("start rejects sizes out of range") {
    bbx::config cfg;
    cfg.path = "/nonexistent-dir/never.bbx";
    cfg.ring_kb = 3;
    CHECK(bbx::start(cfg).status == bbx::start_status::bad_config);
    cfg.ring_kb = 64;
    cfg.max_threads = 5000;
    CHECK(bbx::start(cfg).status == bbx::start_status::bad_config);
    cfg.max_threads = 4;
    CHECK(bbx::start(cfg).status == bbx::start_status::open_failed);
}

TEST_CASE("start refuses a path longer than it can hold, rather than create the file its prefix names") {
    // dir/././.../aaaa...: cut at 4095 bytes it would still name a file in dir.
    const std::string dir = "/tmp/bbx-test-" + std::to_string(getpid()) + "-longpath";
    REQUIRE(mkdir(dir.c_str(), 0700) == 0);
    std::string path = dir + "/";
    while (path.size() < 4095 - 10) path += "./";
    const std::string prefix_name = std::string(4095 - path.size(), 'a');
    path += std::string(100, 'a');
    REQUIRE(path.size() > 4096);
    bbx::config cfg;
    cfg.path = path.c_str();
    const bbx::start_result r = bbx::start(cfg);
    CHECK(!r.ok());
    CHECK(r.status == bbx::start_status::open_failed);
    CHECK(r.sys_errno == ENAMETOOLONG);
    if (r.ok()) bbx::stop();
    const std::string prefix_file = dir + "/" + prefix_name;
    CHECK(access(prefix_file.c_str(), F_OK) != 0);  // nothing was made at the 4095-byte prefix
    unlink(prefix_file.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("a reader running beside 2 writers never returns a torn event as valid") {
    temp_capture tc("concurrent");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // small: the writers lap the reader constantly
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    std::atomic<bool> done{false};
    auto writer = [&](int t) {
        uint64_t k = 0;
        std::string s(40, 'x');
        while (!done.load(std::memory_order_relaxed)) {
            ++k;
            for (size_t i = 0; i < s.size(); ++i) s[i] = char('a' + (k + i) % 26);
            BBX_INSTANT(INFO, "cc", "ev", bbx::arg("k", k), bbx::arg("t", t), bbx::arg("inv", ~k), bbx::arg("s", s));
        }
    };
    std::thread w1(writer, 1), w2(writer, 2);
    uint64_t checked = 0, bad = 0, passes = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until || passes < 20) {
        auto r = capture::open(tc.path);
        REQUIRE(!r.is_error());
        std::map<uint32_t, uint64_t> last;
        REQUIRE(!r.value()->for_each_event([&](const event& e) {
                       uint64_t k = e.args[0].word;
                       bool ok = e.nargs == 4 && e.args[2].word == ~k && e.args[3].str.size() == 40;
                       for (size_t i = 0; ok && i < 40; ++i) ok = e.args[3].str[i] == char('a' + (k + i) % 26);
                       if (last.count(e.thread) && k <= last[e.thread]) ok = false;  // order per thread
                       last[e.thread] = k;
                       ++checked;
                       if (!ok) ++bad;
                   }).is_error());
        ++passes;
    }
    done = true;
    w1.join();
    w2.join();
    bbx::stop();
    MESSAGE(checked << " events checked in " << passes << " passes");
    CHECK(checked > 1000);
    CHECK(bad == 0);
}
