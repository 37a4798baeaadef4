// Helpers shared by the test files.
#pragma once

#include <unistd.h>

#include <string>

// A unique capture path under /tmp, removed before and after the test.
struct temp_capture {
    std::string path;
    explicit temp_capture(const std::string& name)
        : path("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + name + ".bbx") {
        unlink(path.c_str());
    }
    ~temp_capture() { unlink(path.c_str()); }
    temp_capture(const temp_capture&) = delete;
    temp_capture& operator=(const temp_capture&) = delete;
};
