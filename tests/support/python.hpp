// Test support: the Python checkers (tests/support/*.py) that read an
// output back with an independent implementation (python3's json module).
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"

// The folder of the checkers (the tests run from the top of the tree).
inline std::string support_dir() {
    const std::string here = __FILE__;  // tests/support/python.hpp
    return here.substr(0, here.rfind('/'));
}

// Runs tests/support/`script` with args under python3; its standard output
// and error together, and its exit status in `status`.
inline std::string run_python(const std::string& script, const std::vector<std::string>& args, int& status) {
    std::string cmd = "python3 '" + support_dir() + "/" + script + "'";
    for (const std::string& a : args) {
        std::string q;
        for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        cmd += " '" + q + "'";
    }
    std::string out = command_output(cmd + " 2>&1", &status);
    REQUIRE(status != -1);
    return out;
}
