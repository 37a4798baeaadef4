// What tests/programs/crash_child.cpp and tests/test_crash.cpp share: the
// side file the child reports into, and the text of event n.
#pragma once

#include <cstdint>
#include <string>

// The side file: a shared mapping the parent reads after the child died.
struct crash_side {
    struct alignas(64) counter {
        uint64_t value;  // events 0 .. value-1 of the thread were committed
    };
    counter committed[8];
    uint64_t previous_handler_ran;  // "chain": 1 once the handler installed before blackbox's ran
};

// Event n's string argument: 0..40 bytes, so events take 2 to 5 slots.
inline std::string seq_text(uint64_t n) {
    std::string s(size_t(n * 7 % 41), ' ');
    for (size_t i = 0; i < s.size(); ++i) s[i] = char('a' + (n + i) % 26);
    return s;
}
