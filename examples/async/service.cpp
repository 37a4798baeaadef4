// A small async service, recorded with blackbox, in three versions: one with
// a blocking call on the executor, one with a deadlock, one with both fixed.
//
//   service --mode blocking|deadlock|fixed --out FILE [--requests N] [--hold]
//
// --hold: when the service stalls, it stays hung (recording on, tasks stuck)
// until SIGINT or SIGTERM, as a real hung service would, for `bbx top` to
// look at while it runs; then it stops as without --hold.
// --out must not exist (the recorder never overwrites). --requests defaults
// to 6; the pipes' batches are 1, 1, 2, 2, ..., so the deadlock needs 4.
//
// Requests flow through tasks and bounded channels (see README.md):
//
//   gateway --requests(2)--> worker x2 --replies(2)--> pipe_a <--a_to_b(1)/b_to_a(1)--> pipe_b
//                            (decompress each body)   (sends replies in batches, reads acks)
//
// Tasks run on a one-thread executor; offload() moves work to its blocking
// pool (one thread per spare core, at most two). The modes differ in two
// places only (look for `mode::`):
//   blocking  the workers decompress on the executor thread: each call runs
//             ~100 ms inside a poll, and every woken task waits behind it.
//   deadlock  decompression is offloaded; but pipe_b sends its acks before it
//             reads the batch. Both pipe ends now send first, so a batch of 2
//             on capacity-1 pipes blocks both: pipe_a waits on a full a_to_b
//             that only pipe_b drains, pipe_b on a full b_to_a that only
//             pipe_a drains. The service sees no progress for 500 ms, stops
//             itself (still recording) and exits 0.
//   fixed     offloaded, and pipe_b reads before it acks: everything finishes.
// Each mode is deterministic: the same polls block, the same tasks deadlock
// at the same lines. With one executor thread the run queue fixes the order
// of all channel operations; the blocking and timer threads only change when
// things happen.
#include <bbx/bbx.hpp>
#include <bbx/coro.hpp>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "channel.hpp"
#include "executor.hpp"
#include "task.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

enum class mode { blocking, deadlock, fixed };

// ---- the work: an LZ77 decoder ------------------------------------------------
//
// The request body is an LZ77 stream in LZ4's block layout: sequences of a
// token byte (high nibble: literal count, low nibble: match length - 4; 15 in
// either means more length bytes follow, 255 meaning "and more"), the
// literals, a 16-bit little-endian match offset, the extra match length
// bytes. The last sequence has literals only. The decoder keeps a 64 KiB
// window and hashes what it produces (FNV-1a), which is how a real service
// would check a body without keeping it.

struct payload {
    std::vector<uint8_t> bytes;
    uint64_t out_bytes = 0;  // what it decodes to
};

struct decoded {
    uint64_t bytes = 0;
    uint64_t hash = 0;
    bool ok = false;
};

struct xorshift {
    uint64_t x;
    uint64_t next() {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return x;
    }
};

void put_length(std::vector<uint8_t>& out, uint64_t n) {
    for (; n >= 255; n -= 255) out.push_back(255);
    out.push_back(uint8_t(n));
}

// A valid stream that decodes to `target` bytes of letter soup with long
// repeats (about 10:1). Same seed, same stream.
payload make_payload(uint64_t target, uint64_t seed) {
    payload p;
    xorshift r{seed};
    uint64_t produced = 0;
    while (produced < target) {
        uint64_t lit = r.next() % 6 + (produced == 0 ? 8 : 0);
        uint64_t a = r.next() % 16, b = r.next() % 16;
        uint64_t match = 4 + a * b;  // 4 .. 229
        uint64_t reach = produced + lit < 65535 ? produced + lit : 65535;
        uint64_t offset = 1 + r.next() % reach;
        if (offset > 4096 && r.next() % 4) offset = 1 + offset % 4096;
        p.bytes.push_back(uint8_t((lit >= 15 ? 15 : lit) << 4 | (match - 4 >= 15 ? 15 : match - 4)));
        if (lit >= 15) put_length(p.bytes, lit - 15);
        for (uint64_t i = 0; i < lit; ++i) p.bytes.push_back(uint8_t('a' + r.next() % 26));
        p.bytes.push_back(uint8_t(offset));
        p.bytes.push_back(uint8_t(offset >> 8));
        if (match - 4 >= 15) put_length(p.bytes, match - 4 - 15);
        produced += lit + match;
    }
    p.bytes.push_back(uint8_t(4 << 4));  // the last sequence: 4 literals
    for (int i = 0; i < 4; ++i) p.bytes.push_back('z');
    p.out_bytes = produced + 4;
    return p;
}

// Copies a match: n bytes from `offset` back, through the 64 KiB window.
// Where decompression spends its time (matches are 4 .. 229 bytes, literal
// runs at most 13): a function of its own, so that a stall stack names it.
[[gnu::noinline]] void copy_match(std::vector<uint8_t>& window, uint64_t& pos, uint64_t& hash, uint64_t offset, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t c = window[(pos - offset) & 65535];
        window[pos & 65535] = c;
        ++pos;
        hash = (hash ^ c) * 0x100000001b3ull;
    }
}

// CPU-bound: ~100 ms for the service's 64 MiB body (g++ -O2).
decoded decompress(const payload& p, uint32_t request) {
    BBX_SPAN(INFO, "work", "decompress", bbx::arg("request", request), bbx::arg("in_bytes", p.bytes.size()),
             bbx::arg("out_bytes", p.out_bytes));
    std::vector<uint8_t> window(65536);
    const uint8_t* in = p.bytes.data();
    const uint8_t* end = in + p.bytes.size();
    uint64_t pos = 0, hash = 0xcbf29ce484222325ull;
    auto length = [&](uint64_t n) -> uint64_t {
        if (n != 15) return n;
        uint8_t more;
        do {
            if (in == end) return ~uint64_t{0};
            more = *in++;
            n += more;
        } while (more == 255);
        return n;
    };
    auto emit = [&](uint8_t c) {
        window[pos & 65535] = c;
        ++pos;
        hash = (hash ^ c) * 0x100000001b3ull;
    };
    while (in < end) {
        const uint8_t token = *in++;
        const uint64_t lit = length(token >> 4);
        if (lit == ~uint64_t{0} || uint64_t(end - in) < lit) return {pos, hash, false};
        for (uint64_t i = 0; i < lit; ++i) emit(*in++);
        if (in == end) break;  // the last sequence
        if (end - in < 2) return {pos, hash, false};
        const uint64_t offset = uint64_t(in[0]) | uint64_t(in[1]) << 8;
        in += 2;
        const uint64_t match = length(token & 15);
        if (match == ~uint64_t{0} || offset == 0 || offset > pos) return {pos, hash, false};
        copy_match(window, pos, hash, offset, match + 4);
    }
    return {pos, hash, pos == p.out_bytes};
}

// ---- the service ----------------------------------------------------------------

struct request {
    uint32_t id;
    const payload* body;
};

struct reply {
    uint32_t id;
    decoded result;
};

struct frame {
    uint32_t id;
    uint64_t hash;
};

struct service {
    mode m;
    uint32_t requests_total;
    std::vector<uint32_t> rounds;  // pipe batch sizes, known to both ends: 1, 1, 2, 2, ...
    payload body;
    // One executor thread; blocking threads: one per spare core, at most 2.
    demo::executor ex{1, std::thread::hardware_concurrency() > 2 ? 2u : 1u};
    demo::channel<request> requests{ex, "requests", 2};
    demo::channel<reply> replies{ex, "replies", 2};
    demo::channel<frame> a_to_b{ex, "a_to_b", 1};
    demo::channel<frame> b_to_a{ex, "b_to_a", 1};
    int workers_left = 2;          // touched on the executor thread only
    std::atomic<uint32_t> delivered{0}, bad{0};
    std::atomic<uint64_t> hash{0};
    std::atomic<int64_t> heartbeat_late_us{0};
};

// One request: decoded on the executor thread (blocking mode) or on the
// blocking pool. A task of its own, co_awaited by the worker: it runs as part
// of the worker's task, and its co_await shows as an await site in `handle`.
demo::task<reply> handle(service& s, request r) {
    if (s.m == mode::blocking) co_return reply{r.id, decompress(*r.body, r.id)};  // blocks the executor thread
    decoded d = co_await s.ex.offload([r] { return decompress(*r.body, r.id); });
    co_return reply{r.id, d};
}

demo::task<> worker(service& s) {
    while (std::optional<request> r = co_await s.requests.recv()) {
        reply out = co_await handle(s, *r);
        co_await s.replies.send(out);
    }
    if (--s.workers_left == 0) s.replies.close();
}

demo::task<> gateway(service& s) {
    s.ex.spawn(BBX_TASK_SITE("worker"), worker(s));
    s.ex.spawn(BBX_TASK_SITE("worker"), worker(s));
    for (uint32_t id = 0; id < s.requests_total; ++id) {
        BBX_INSTANT(INFO, "service", "request", bbx::arg("id", id));
        co_await s.requests.send(request{id, &s.body});
    }
    s.requests.close();
}

// Sends the replies on to pipe_b in batches and reads one ack per reply.
demo::task<> pipe_a(service& s) {
    for (uint32_t n : s.rounds) {
        std::vector<reply> batch;
        while (batch.size() < n) {
            std::optional<reply> r = co_await s.replies.recv();
            if (!r) break;
            batch.push_back(*r);
        }
        for (const reply& r : batch) co_await s.a_to_b.send(frame{r.id, r.result.hash});
        for (size_t i = 0; i < batch.size(); ++i) co_await s.b_to_a.recv();
        for (const reply& r : batch) {
            if (s.delivered == 0) s.hash = r.result.hash;
            if (!r.result.ok || r.result.hash != s.hash) s.bad += 1;  // every body is the same
            s.delivered += 1;
        }
    }
}

// The other end: one ack per frame of each batch.
demo::task<> pipe_b(service& s) {
    for (uint32_t n : s.rounds) {
        if (s.m == mode::deadlock) {
            // "Ack ahead of reading, to save a round trip": fine for a batch
            // of 1, a deadlock for a batch of 2 on a capacity-1 pipe.
            for (uint32_t i = 0; i < n; ++i) co_await s.b_to_a.send(frame{i, 0});
            for (uint32_t i = 0; i < n; ++i) co_await s.a_to_b.recv();
        } else {
            std::vector<frame> got;
            for (uint32_t i = 0; i < n; ++i)
                if (std::optional<frame> f = co_await s.a_to_b.recv()) got.push_back(*f);
            for (const frame& f : got) co_await s.b_to_a.send(frame{f.id, 0});
        }
    }
}

// Ticks every 10 ms, 25 times, and measures how late each tick runs.
demo::task<> heartbeat(service& s) {
    for (int i = 0; i < 25; ++i) {
        const auto due = clock_type::now() + 10ms;
        co_await s.ex.sleep(10ms);
        const int64_t late = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - due).count();
        BBX_COUNTER(INFO, "service", "heartbeat_late_us", late);
        if (late > s.heartbeat_late_us) s.heartbeat_late_us = late;
    }
}

// Starts the service's tasks. They are spawned from one task, in one poll,
// so the run queue's order does not depend on how fast main() is.
demo::task<> serve(service& s) {
    s.ex.spawn(BBX_TASK_SITE("gateway"), gateway(s));
    s.ex.spawn(BBX_TASK_SITE("pipe_a"), pipe_a(s));
    s.ex.spawn(BBX_TASK_SITE("pipe_b"), pipe_b(s));
    s.ex.spawn(BBX_TASK_SITE("heartbeat"), heartbeat(s));
    co_return;
}

int usage() {
    std::fprintf(stderr, "usage: service --mode blocking|deadlock|fixed --out FILE [--requests N] [--hold]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    const char* out = nullptr;
    const char* mode_name = nullptr;
    uint32_t requests = 6;
    bool hold = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--hold")) {
            hold = true;
            continue;
        }
        if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!std::strcmp(argv[i], "--mode") && i + 1 < argc) mode_name = argv[++i];
        else if (!std::strcmp(argv[i], "--requests") && i + 1 < argc)
            requests = uint32_t(std::strtoul(argv[++i], nullptr, 10));
        else return usage();
    }
    mode m;
    if (!out || !mode_name || requests < 1 || requests > 1000) return usage();
    if (!std::strcmp(mode_name, "blocking")) m = mode::blocking;
    else if (!std::strcmp(mode_name, "deadlock")) m = mode::deadlock;
    else if (!std::strcmp(mode_name, "fixed")) m = mode::fixed;
    else return usage();

    // --hold: SIGINT and SIGTERM blocked in every thread (the recorder's and
    // the executor's inherit the mask), taken by sigwait below.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (hold) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    bbx::config cfg;
    cfg.path = out;
    cfg.max_threads = 16;
    if (auto r = bbx::start(cfg); !r.ok()) {
        std::fprintf(stderr, "service: cannot record to %s: %s\n", out, r.message());
        return 1;
    }
    bbx::set_thread_name("main");
    const auto t0 = clock_type::now();

    // Channels register themselves as resources: made after bbx::start().
    auto s = std::make_unique<service>();
    s->m = m;
    s->requests_total = requests;
    for (uint32_t left = requests, k = 0; left > 0; ++k) {
        uint32_t n = k < 2 ? 1 : 2;
        if (n > left) n = left;
        s->rounds.push_back(n);
        left -= n;
    }
    {
        BBX_SPAN(INFO, "service", "make_payload");
        s->body = make_payload(64u << 20, 42);
    }

    s->ex.spawn(BBX_TASK_SITE("service"), serve(*s));

    const bool finished = s->ex.wait_done(500ms);
    const size_t stuck = s->ex.live();
    if (!finished) BBX_INSTANT(WARN, "service", "stalled", bbx::arg("unfinished_tasks", uint64_t(stuck)));
    if (!finished && hold) {
        std::printf("service --mode %s: no progress for 500 ms with %zu tasks unfinished; holding (recording to %s) "
                    "until SIGINT or SIGTERM\n",
                    mode_name, stuck, out);
        std::fflush(stdout);
        int sig = 0;
        sigwait(&stop_signals, &sig);
    }
    s->ex.shutdown();
    bbx::stop();
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();

    const uint32_t delivered = s->delivered, bad = s->bad;
    if (!finished) {
        std::printf("service --mode %s: no progress for 500 ms with %zu tasks unfinished; stopped after %u of %u "
                    "replies, %.2f s; recorded to %s\n",
                    mode_name, stuck, delivered, requests, secs, out);
        // The stuck tasks stay suspended and their frames are not freed: nothing may resume them.
        return m == mode::deadlock ? 0 : 1;
    }
    std::printf("service --mode %s: %u requests, %u replies delivered (%s, hash %016llx), heartbeat late by up to "
                "%.1f ms, %.2f s; recorded to %s\n",
                mode_name, requests, delivered, bad ? "BAD BODIES" : "bodies ok", (unsigned long long)s->hash.load(),
                double(s->heartbeat_late_us.load()) / 1000, secs, out);
    if (m == mode::deadlock) std::printf("service: expected a deadlock in this mode, and none came\n");
    return delivered == requests && bad == 0 && m != mode::deadlock ? 0 : 1;
}
