// Plain-socket helpers for driving a server over 127.0.0.1, shared by
// tests/test_asio_examples.cpp and the benchmark's client (bench/asio_load.cpp).
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace loopback {

// A TCP connection to 127.0.0.1:port (TCP_NODELAY, receives time out after
// 10 s), or -1.
inline int connect_to(uint16_t port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

inline bool send_all(int s, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
    }
    return true;
}

// The TCP (IPv4) port process `pid` listens on, from /proc: its socket
// inodes, then /proc/net/tcp's LISTEN rows; 0 if none (yet).
inline uint16_t listening_port(long pid) {
    std::set<std::string> inodes;
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    if (DIR* d = opendir(fd_dir.c_str())) {
        while (dirent* e = readdir(d)) {
            char target[256];
            ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
            if (n > 0 && std::strncmp(target, "socket:[", 8) == 0) inodes.insert(std::string(target + 8, size_t(n) - 9));
        }
        closedir(d);
    }
    std::ifstream tcp("/proc/net/tcp");
    std::string row;
    std::getline(tcp, row);  // the header
    while (std::getline(tcp, row)) {
        std::istringstream in(row);
        std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
        in >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
        if (state == "0A" && inodes.count(inode)) return uint16_t(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
    }
    return 0;
}

}  // namespace loopback
