// The client side of bench/asio.sh: drives an HTTP or echo server over
// 127.0.0.1 with plain blocking sockets, from CONCURRENCY threads at once.
//
//   asio_load http PORT REQUESTS CONCURRENCY       GET /index.html over HTTP/1.0, a connection each
//   asio_load echo PORT CONNECTIONS ROUNDS CONCURRENCY
//                                                  ROUNDS round trips of 64 bytes per connection
//   asio_load port PID                             the TCP port process PID listens on (from /proc)
//
// Prints "ok N of M, X s" (N requests or round trips that got the right
// answer); exit status 1 unless all did.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../tests/loopback.hpp"

namespace {

using loopback::connect_to;
using loopback::send_all;

bool http_once(uint16_t port) {
    int s = connect_to(port);
    if (s < 0) return false;
    static const char req[] = "GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n";
    bool ok = send_all(s, req, sizeof req - 1);
    std::string reply;
    char buf[16384];
    ssize_t n;
    while (ok && (n = recv(s, buf, sizeof buf, 0)) > 0) reply.append(buf, size_t(n));
    close(s);
    return ok && reply.compare(0, 15, "HTTP/1.0 200 OK") == 0;
}

int echo_connection(uint16_t port, int rounds) {
    int s = connect_to(port);
    if (s < 0) return 0;
    char msg[64], back[64];
    std::memset(msg, 'e', sizeof msg);
    int ok = 0;
    for (int r = 0; r < rounds; ++r) {
        msg[0] = char('a' + r % 26);
        if (!send_all(s, msg, sizeof msg)) break;
        size_t got = 0;
        ssize_t n = 0;
        while (got < sizeof back && (n = recv(s, back + got, sizeof back - got, 0)) > 0) got += size_t(n);
        if (got != sizeof back) break;
        ok += std::memcmp(msg, back, sizeof msg) == 0;
    }
    close(s);
    return ok;
}

int usage() {
    std::fprintf(stderr,
                 "usage: asio_load http PORT REQUESTS CONCURRENCY\n"
                 "       asio_load echo PORT CONNECTIONS ROUNDS CONCURRENCY\n"
                 "       asio_load port PID\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "port") == 0) {
        uint16_t p = loopback::listening_port(std::atol(argv[2]));
        if (!p) return 1;
        std::printf("%u\n", unsigned(p));
        return 0;
    }
    const bool http = argc == 5 && std::strcmp(argv[1], "http") == 0;
    const bool echo = argc == 6 && std::strcmp(argv[1], "echo") == 0;
    if (!http && !echo) return usage();
    const uint16_t port = uint16_t(std::atoi(argv[2]));
    const int items = std::atoi(argv[3]);
    const int rounds = echo ? std::atoi(argv[4]) : 1;
    const int concurrency = std::atoi(argv[http ? 4 : 5]);
    if (port == 0 || items <= 0 || rounds <= 0 || concurrency <= 0) return usage();
    std::atomic<int> ok{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < concurrency; ++c)
        threads.emplace_back([&, c] {
            for (int i = c; i < items; i += concurrency) ok += http ? int(http_once(port)) : echo_connection(port, rounds);
        });
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int total = items * rounds;
    std::printf("ok %d of %d, %.3f s\n", ok.load(), total, secs);
    return ok == total ? 0 : 1;
}
