// The two processes tests/test_merge.cpp records and merges: a client and a
// server talking plain TCP on 127.0.0.1, each recording its own capture.
//
//     rpc_peer server PORTFILE OUT.bbx
//     rpc_peer client PORT OUT.bbx N
//
// The server listens on 127.0.0.1 port 0, writes the port it got into
// PORTFILE (written to PORTFILE.tmp and renamed, so the file appears
// complete), accepts one connection and serves requests on it until the
// client closes it. The client connects and sends N requests, one at a time.
//
// The protocol is one line each way:
//     request:  "<seq> <traceparent>\n"   (seq = 0 .. N-1)
//     response: "ok <seq>\n"
// Each request is a span "rpc"/"call" (argument seq) in the client with a
// client context (bbx::context_scope, role client) whose traceparent it
// sends, and a span "rpc"/"handle" (argument seq) in the server with a
// server context whose parent is the received traceparent. The server
// works ~2 ms inside its span, ~15 ms for every seq = 3 (mod 8): the slow
// path. The server span begins after the request was read and ends before
// the response is written, so it lies inside its client span in real time.
//
// Everything is bounded: accept waits 5 s, each read and write 5 s; a
// peer that fails exits with status 1 (the test kills stragglers too).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "bbx/bbx.hpp"
#include "bbx/context.hpp"

namespace {

int fail(const char* what) {
    std::fprintf(stderr, "rpc_peer: %s: %s\n", what, std::strerror(errno));
    return 1;
}

void timeouts(int fd) {
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        s.remove_prefix(size_t(n));
    }
    return true;
}

// Reads one line (without its '\n') into `line`; false at EOF or on an error.
// `buf` keeps what was read past the line.
bool read_line(int fd, std::string& buf, std::string& line) {
    for (;;) {
        size_t nl = buf.find('\n');
        if (nl != std::string::npos) {
            line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            return true;
        }
        if (buf.size() > 4096) return false;
        char b[512];
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n <= 0) return false;
        buf.append(b, size_t(n));
    }
}

void work(uint64_t seq) {
    if (seq % 8 == 3) {
        // The slow path `make demo` points at on the merged timeline.
        BBX_SPAN(INFO, "backend", "slow_path", bbx::arg("request", seq));
        std::this_thread::sleep_for(std::chrono::microseconds(15000));
        return;
    }
    BBX_SPAN(INFO, "backend", "fast_path", bbx::arg("request", seq));
    std::this_thread::sleep_for(std::chrono::microseconds(2000));
}

int server(const char* portfile, const char* out) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) return fail("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("bind");
    if (listen(ls, 4) != 0) return fail("listen");
    socklen_t len = sizeof a;
    if (getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) return fail("getsockname");

    bbx::start_result r = bbx::start({.path = out});
    if (!r.ok()) {
        std::fprintf(stderr, "rpc_peer: start: %s\n", r.message());
        return 1;
    }
    const std::string tmp = std::string(portfile) + ".tmp";
    if (std::FILE* f = std::fopen(tmp.c_str(), "w")) {
        std::fprintf(f, "%u\n", unsigned(ntohs(a.sin_port)));
        std::fclose(f);
    }
    if (std::rename(tmp.c_str(), portfile) != 0) return fail("rename");

    pollfd p{ls, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return fail("accept timed out");
    int fd = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return fail("accept");
    timeouts(fd);
    std::string buf, line;
    int served = 0;
    while (read_line(fd, buf, line)) {
        const size_t sp = line.find(' ');
        if (sp == std::string::npos) return fail("bad request");
        const uint64_t seq = std::strtoull(line.c_str(), nullptr, 10);
        const bbx::traceparent_result tp = bbx::parse_traceparent(std::string_view(line).substr(sp + 1));
        {
            BBX_SPAN(INFO, "rpc", "handle", bbx::arg("seq", seq));
            bbx::context_scope ctx(bbx::span_role::server, tp.context);
            work(seq);
        }
        if (!send_all(fd, "ok " + std::to_string(seq) + "\n")) return fail("send");
        ++served;
    }
    close(fd);
    close(ls);
    bbx::stop();
    std::printf("served %d\n", served);
    return 0;
}

int client(const char* port, const char* out, int n) {
    bbx::start_result r = bbx::start({.path = out});
    if (!r.ok()) {
        std::fprintf(stderr, "rpc_peer: start: %s\n", r.message());
        return 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("socket");
    timeouts(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(std::atoi(port)));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("connect");
    std::string buf, line;
    for (int i = 0; i < n; ++i) {
        const uint64_t seq = uint64_t(i);
        BBX_SPAN(INFO, "rpc", "call", bbx::arg("seq", seq));
        bbx::context_scope ctx(bbx::span_role::client);
        char tp[56];
        bbx::format_traceparent(ctx.context(), tp);
        if (!send_all(fd, std::to_string(seq) + " " + tp + "\n")) return fail("send");
        if (!read_line(fd, buf, line)) return fail("no response");
        if (line != "ok " + std::to_string(seq)) {
            std::fprintf(stderr, "rpc_peer: response '%s' to request %d\n", line.c_str(), i);
            return 1;
        }
    }
    close(fd);
    bbx::stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "server") == 0) return server(argv[2], argv[3]);
    if (argc == 5 && std::strcmp(argv[1], "client") == 0) {
        const int n = std::atoi(argv[4]);
        if (n > 0 && n <= 10000) return client(argv[2], argv[3], n);
    }
    std::fprintf(stderr, "usage: rpc_peer server PORTFILE OUT.bbx | rpc_peer client PORT OUT.bbx N\n");
    return 2;
}
