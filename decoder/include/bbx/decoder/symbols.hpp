// Crash records' stacks as functions and source lines (symbols.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
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
    // Stall samples (stall_symbolizer): the loaded object that holds it ("" none known) and the address in it.
    std::string object;
    uint64_t offset = 0;
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

// The frames of a capture's stall samples (1.4), each looked up in the
// loaded object that holds it (capture::loaded_objects: the executable and
// the shared libraries, as the recording process had them mapped), by one
// addr2line run per object. An object that cannot be read (gone, another
// machine) leaves its frames unsymbolised, noted in errors(). The vDSO
// ("[vdso]") has no file: this process's own is read in its place only when
// its build id is the one recorded, else its frames stay unnamed.
class stall_symbolizer {
public:
    explicit stall_symbolizer(const capture& c);
    // A frame as recorded: frame 0 of a sample is the interrupted
    // instruction (return_address false), the others return addresses,
    // looked up one byte back. Null: not a frame of the capture's samples.
    const frame_symbol* find(uint64_t address, bool return_address) const;
    const std::vector<std::string>& errors() const { return errors_; }

private:
    std::unordered_map<uint64_t, frame_symbol> found_;  // by the address looked up
    std::vector<std::string> errors_;
};

// One line per frame, "      #1 0x00005555deadbeef main at src/main.cpp:42",
// with "inlined into" lines below it; for bbx dump and bbx info.
void put_frames(std::string& out, const std::vector<frame_symbol>& frames);

}  // namespace bbx::dec
