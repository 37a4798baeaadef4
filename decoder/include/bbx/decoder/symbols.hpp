// Crash records' stacks as functions and source lines (symbols.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bbx/decoder/capture.hpp"

namespace bbx::dec {


// Where a code address is in the source: the function that holds it, then
// (code inlined there) each function it was inlined into.
struct source_location {
    std::string function;  // demangled; "" if unknown
    std::string file;      // "" if unknown
    uint32_t line = 0;     // 0 if unknown
};

struct frame_symbol {
    uint64_t address = 0;                // as recorded: the pc, or a return address
    bool in_executable = false;          // inside the executable's loaded segments
    std::vector<source_location> where;  // innermost first; empty: not symbolised
};

// Symbolises crash records against an executable (ELF), by running
// addr2line from binutils (BBX_ADDR2LINE names another, e.g. a cross one).
// A PIE executable (ET_DYN) is looked up at address - exe_base. Addresses
// outside the executable (shared libraries) are not symbolised. Nothing
// checks that the file is the build that ran: give the same binary.
class symbolizer {
public:
    // Reads the ELF header and program headers of exe.
    static result<symbolizer> open(const std::string& exe);
    // The record's pc (element 0) and its return addresses (1..nframes). A
    // return address is looked up one byte back: the call, not the
    // instruction after it.
    result<std::vector<frame_symbol>> crash_frames(const crash_info& crash) const;
    const std::string& exe() const { return exe_; }
    bool pie() const { return pie_; }

private:
    std::string exe_;
    bool pie_ = false;
    std::vector<std::pair<uint64_t, uint64_t>> segments_;  // PT_LOAD [vaddr, vaddr + memsz)
};

// One line per frame, "      #1 0x00005555deadbeef main at src/main.cpp:42",
// with "inlined into" lines below it; for bbx dump and bbx info.
void put_frames(std::string& out, const std::vector<frame_symbol>& frames);

}  // namespace bbx::dec
