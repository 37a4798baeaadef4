// Test support: a shell command's standard output, read whole (the tests that
// run bbx, binutils, python3 or Perfetto's trace reader and read what it says).
#pragma once

#include <cstdio>
#include <string>

// What `cmd` (run by /bin/sh) writes to its standard output. Its wait status
// goes to *status, -1 if it could not be started.
inline std::string command_output(const std::string& cmd, int* status = nullptr) {
    std::string out;
    std::FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        if (status) *status = -1;
        return out;
    }
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int st = pclose(p);
    if (status) *status = st;
    return out;
}
