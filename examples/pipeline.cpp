// A small pipeline of worker threads, recorded with blackbox: a reader thread
// makes blocks of data, three workers compress them (run-length encoding) and
// checksum the result, and a writer thread collects them in order. Queues are
// bounded, so a slow stage shows up as waiting time upstream.
//
//   pipeline [--out FILE] [--blocks N]
#include <bbx/bbx.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

struct block {
    uint64_t seq;
    std::vector<uint8_t> data;
    uint32_t checksum = 0;
};

// A bounded multi-producer multi-consumer queue.
class bounded_queue {
public:
    explicit bounded_queue(size_t cap, const char* name) : cap_(cap), name_(name) {}
    void push(block b) {
        std::unique_lock lock(mu_);
        if (q_.size() >= cap_) {
            BBX_SPAN(DEBUG, "queue", "wait_not_full", bbx::arg("queue", name_));
            not_full_.wait(lock, [&] { return q_.size() < cap_; });
        }
        q_.push_back(std::move(b));
        if (name_[0] == 'r') BBX_COUNTER(INFO, "queue", "raw_depth", int64_t(q_.size()));
        else BBX_COUNTER(INFO, "queue", "done_depth", int64_t(q_.size()));
        not_empty_.notify_one();
    }
    void close() {
        std::lock_guard lock(mu_);
        closed_ = true;
        not_empty_.notify_all();
    }
    std::optional<block> pop() {
        std::unique_lock lock(mu_);
        if (q_.empty() && !closed_) {
            BBX_SPAN(DEBUG, "queue", "wait_not_empty", bbx::arg("queue", name_));
            not_empty_.wait(lock, [&] { return !q_.empty() || closed_; });
        }
        if (q_.empty()) return std::nullopt;
        block b = std::move(q_.front());
        q_.pop_front();
        not_full_.notify_one();
        return b;
    }

private:
    std::mutex mu_;
    std::condition_variable not_full_, not_empty_;
    std::deque<block> q_;
    size_t cap_;
    const char* name_;
    bool closed_ = false;
};

// Data with long runs, so the encoding has work to do; every 16th block is
// noisy and compresses badly (the slow path worth finding in the trace).
std::vector<uint8_t> make_data(uint64_t seq) {
    std::vector<uint8_t> d(64 * 1024);
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
    bool noisy = seq % 16 == 15;
    for (size_t i = 0; i < d.size();) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t run = noisy ? 1 : 1 + (x % 64);
        for (size_t k = 0; k < run && i < d.size(); ++k) d[i++] = uint8_t(x >> 24);
    }
    return d;
}

std::vector<uint8_t> rle(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out;
    out.reserve(in.size() / 4);
    for (size_t i = 0; i < in.size();) {
        size_t j = i;
        while (j < in.size() && in[j] == in[i] && j - i < 255) ++j;
        out.push_back(uint8_t(j - i));
        out.push_back(in[i]);
        i = j;
    }
    return out;
}

uint32_t adler32(const std::vector<uint8_t>& d) {
    uint32_t a = 1, b = 0;
    for (uint8_t c : d) a = (a + c) % 65521, b = (b + a) % 65521;
    return (b << 16) | a;
}

}  // namespace

int main(int argc, char** argv) {
    const char* out = "pipeline.bbx";
    uint64_t blocks = 2000;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!std::strcmp(argv[i], "--blocks") && i + 1 < argc) blocks = std::strtoull(argv[++i], nullptr, 10);
        else {
            std::fprintf(stderr, "usage: pipeline [--out FILE] [--blocks N]\n");
            return 2;
        }
    }
    bbx::config cfg;
    cfg.path = out;
    cfg.ring_kb = 1024;  // 32,768 slots per thread: the last ~seconds of this workload
    cfg.max_threads = 16;
    if (auto r = bbx::start(cfg); !r.ok()) {
        std::fprintf(stderr, "pipeline: cannot record to %s: %s\n", out, r.message());
        return 1;
    }
    bbx::set_thread_name("main");
    BBX_SPAN(INFO, "pipeline", "run", bbx::arg("blocks", blocks));

    bounded_queue raw(8, "raw"), done(8, "done");
    std::thread reader([&] {
        bbx::set_thread_name("reader");
        for (uint64_t s = 0; s < blocks; ++s) {
            block b{s, {}};
            {
                BBX_SPAN(INFO, "io", "read_block", bbx::arg("seq", s));
                b.data = make_data(s);
            }
            raw.push(std::move(b));
        }
        raw.close();
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < 3; ++w)
        workers.emplace_back([&, w] {
            bbx::set_thread_name(("worker-" + std::to_string(w)).c_str());
            while (auto b = raw.pop()) {
                BBX_SPAN(INFO, "work", "compress", bbx::arg("seq", b->seq), bbx::arg("in_bytes", b->data.size()));
                std::vector<uint8_t> c = rle(b->data);
                {
                    BBX_SPAN(DEBUG, "work", "checksum");
                    b->checksum = adler32(c);
                }
                double ratio = double(c.size()) / double(b->data.size());
                if (ratio > 1.0) BBX_INSTANT(WARN, "work", "expanded", bbx::arg("seq", b->seq), bbx::arg("ratio", ratio));
                b->data = std::move(c);
                done.push(std::move(*b));
            }
        });
    uint64_t total = 0, count = 0;
    uint32_t combined = 0;
    std::thread writer([&] {
        bbx::set_thread_name("writer");
        while (auto b = done.pop()) {
            BBX_SPAN(INFO, "io", "write_block", bbx::arg("seq", b->seq), bbx::arg("out_bytes", b->data.size()));
            total += b->data.size();
            combined ^= b->checksum;
            ++count;
            BBX_COUNTER(INFO, "io", "bytes_out", int64_t(total));
        }
    });
    reader.join();
    for (auto& w : workers) w.join();
    done.close();
    writer.join();
    BBX_INSTANT(INFO, "pipeline", "finished", bbx::arg("blocks", count), bbx::arg("bytes", total),
                bbx::arg("checksum", uint64_t(combined)), bbx::arg("status", "ok"));
    std::printf("pipeline: %llu blocks, %llu bytes after encoding, checksum %08x, recorded to %s\n",
                (unsigned long long)count, (unsigned long long)total, combined, out);
    return 0;
}
