// Rings are reused (format 1.3): a thread that exits gives its ring back,
// the next thread without one takes the ring released longest ago, and the
// decoder attributes every event to the owner that wrote it.
#include <doctest/doctest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "bbx/decoder/outputs.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

uint64_t tid_now() { return uint64_t(syscall(SYS_gettid)); }

// Every event of these tests carries its thread's tid as argument 0.
void record(const char* name, int n) {
    if (name) bbx::set_thread_name(name);
    for (int i = 0; i < n; ++i) BBX_INSTANT(INFO, "reuse", "ev", bbx::arg("tid", tid_now()), bbx::arg("i", i));
}

std::string info_text(const std::string& path) {
    auto c = capture::open(path);
    REQUIRE(!c.is_error());
    bbx::dec::input in(*c.value());
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    std::string err;
    const bool ok = bbx::dec::write_info(in, f, err);
    std::fclose(f);
    std::string text(buf, len);
    std::free(buf);
    REQUIRE_MESSAGE(ok, err);
    return text;
}

}  // namespace

TEST_CASE("5000 threads one after another, then a pool of 8 and main: the newest are recorded and named, by owner") {
    temp_capture tc("reuse");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 64;
    cfg.meta_kb = 16;  // thread records no longer go to the metadata: it cannot run out
    REQUIRE(bbx::start(cfg).ok());
    constexpr int churn = 5000;
    for (int t = 0; t < churn; ++t)
        std::thread([t] { record(("short-" + std::to_string(t)).c_str(), 3); }).join();
    // The pool: all 8 alive at once, each with a ring of its own.
    std::atomic<int> arrived{0};
    std::vector<std::thread> pool;
    for (int k = 0; k < 8; ++k)
        pool.emplace_back([k, &arrived] {
            record(("pool-" + std::to_string(k)).c_str(), 1);
            arrived.fetch_add(1);
            while (arrived.load() < 8) std::this_thread::yield();
            record(nullptr, 20);
        });
    for (auto& t : pool) t.join();
    record("main-thread", 10);
    bbx::stop();

    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    const capture& c = *r.value();
    CHECK(fmt::feature_minor(c.header().version_major, c.header().version_minor) >= fmt::minor_owners);  // 1.3 (and 2.0): rings reused by owner
    CHECK(c.header().threads_dropped == 0);
    CHECK(c.header().sites_dropped == 0);
    CHECK(c.header().events_dropped == 0);
    CHECK(c.header().rings_used == 64);
    std::map<std::string, uint64_t> by_name;
    uint64_t mismatched = 0, events = 0, unknown = 0;
    auto st = c.for_each_event([&](const event& e) {
        const auto& t = c.threads()[e.thread];
        if (!t.tid_known) {
            // Only a ring's oldest owner in the window can be unknown: its
            // owner event was overwritten and its table entry reused.
            CHECK((e.thread == 0 || c.threads()[e.thread - 1].ring != t.ring));
            ++unknown;
            return;
        }
        if (e.nargs != 2 || e.args[0].word != t.tid) ++mismatched;
        ++by_name[t.name];
        ++events;
    });
    REQUIRE(!st.is_error());
    CHECK(mismatched == 0);
    for (int k = 0; k < 8; ++k) CHECK(by_name["pool-" + std::to_string(k)] == 21);
    CHECK(by_name["main-thread"] == 10);
    // The newest short threads: the last 64 - 9 (the pool and main took the rest) kept every event.
    for (int t = churn - 40; t < churn; ++t) CHECK_MESSAGE(by_name["short-" + std::to_string(t)] == 3, t);
    CHECK(by_name.count("short-0") == 0);  // the oldest were overwritten
    // Every ring changed hands; each lists its owners in increasing generation.
    uint32_t prev_ring = UINT32_MAX, prev_gen = 0;
    for (const auto& t : c.threads()) {
        if (t.ring == prev_ring) CHECK(t.generation > prev_gen);
        prev_ring = t.ring;
        prev_gen = t.generation;
    }
    uint64_t unattributed = 0;
    for (const auto& s : st.value().threads) unattributed += s.unattributed;
    CHECK(unattributed == 0);

    const std::string info = info_text(tc.path);
    CHECK(info.find("owners (rings that changed hands, oldest owner first)") != std::string::npos);
    const size_t pool0 = info.find("pool-0");
    const size_t main_at = info.find("main-thread");
    CHECK(pool0 != std::string::npos);
    CHECK(main_at != std::string::npos);
    MESSAGE(events << " events (" << unknown << " of owners no longer known), " << c.threads().size() << " owners in "
                   << c.header().rings_used << " rings");
}

TEST_CASE("with every ring's owner alive, a new thread records nothing and is counted") {
    temp_capture tc("overflow-alive");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 2;
    REQUIRE(bbx::start(cfg).ok());
    std::atomic<int> stage{0};
    std::thread a([&] {
        record("a", 5);
        stage.fetch_add(1);
        while (stage.load() < 3) std::this_thread::yield();
    });
    std::thread b([&] {
        record("b", 5);
        stage.fetch_add(1);
        while (stage.load() < 3) std::this_thread::yield();
    });
    while (stage.load() < 2) std::this_thread::yield();
    std::thread([] { record("c", 10); }).join();
    stage.store(3);
    a.join();
    b.join();
    bbx::stop();
    auto r = capture::open(tc.path);
    REQUIRE(!r.is_error());
    CHECK(r.value()->threads().size() == 2);
    CHECK(r.value()->header().threads_dropped == 1);
    CHECK(r.value()->header().events_dropped == 10);
}

TEST_CASE("a reader running beside ring takeovers never attributes an event to the wrong owner") {
    temp_capture tc("reuse-live");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;
    cfg.max_threads = 3;
    REQUIRE(bbx::start(cfg).ok());
    std::atomic<bool> done{false};
    std::atomic<uint64_t> spawned{0};
    auto churner = [&](int n) {
        while (!done.load(std::memory_order_relaxed)) {
            std::thread([n] { record(nullptr, 5 + n * 20); }).join();
            spawned.fetch_add(1, std::memory_order_relaxed);
        }
    };
    std::thread c1(churner, 0), c2(churner, 1);
    uint64_t checked = 0, bad = 0, passes = 0, unknown = 0, unattributed = 0;
    std::set<uint32_t> owners_seen;
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until || passes < 20) {
        auto r = capture::open(tc.path);
        REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
        const capture& c = *r.value();
        auto st = c.for_each_event([&](const event& e) {
            const auto& t = c.threads()[e.thread];
            if (!t.tid_known) {
                ++unknown;
                return;
            }
            if (e.nargs != 2 || e.args[0].word != t.tid) ++bad;
            owners_seen.insert(t.tid);
            ++checked;
        });
        REQUIRE(!st.is_error());
        for (const auto& s : st.value().threads) unattributed += s.unattributed;
        ++passes;
    }
    done = true;
    c1.join();
    c2.join();
    bbx::stop();
    MESSAGE(checked << " events checked in " << passes << " passes, " << owners_seen.size() << " owners, "
                    << spawned.load() << " threads; " << unknown << " of unknown owners, " << unattributed
                    << " unattributed");
    CHECK(checked > 1000);
    CHECK(owners_seen.size() > 20);
    CHECK(bad == 0);
}
