// blackbox crash recording: what a capture keeps when the process dies.
//
//     bbx::start({.path = "service.bbx"});
//     bbx::install_crash_handler();        // or run the program with BBX_CRASH=1
//
// On SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT the handler writes a crash
// record (format kind 32: signal, si_code, fault address, faulting pc, the
// executable's load address and up to 32 return addresses) as the crashing
// thread's last event, marks the capture as ended by a crash, syncs it, and
// then hands the signal on exactly as it would have gone without blackbox:
// to the handler installed before, or to the default action (so core dumps
// and exit statuses stay as they were). `bbx dump --symbols` turns the
// addresses into function names and source lines.
//
// Without a writable file system for the rings, start_anonymous() keeps them
// in memory and writes them to the file only at stop() or a crash.
#pragma once

#include <cstdint>

#include "bbx/bbx.hpp"

namespace bbx {

// The most return addresses a crash record holds (innermost first).
inline constexpr uint32_t crash_stack_depth = format::max_crash_frames;

// Installs the crash handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT,
// keeping the handlers installed before to pass the signal on to.
//
// A stack overflow can be recorded only on an alternate signal stack made
// before it. This call gives the calling thread one (64 KiB and a guard
// page, mmap), and from then on so does every thread: one created with
// pthread_create (std::thread, std::async, thread pools) gets it before its
// start routine runs and frees it at its exit, whether or not it ever
// records; the recorder interposes pthread_create for this (crash.cpp). That
// costs a thread a malloc and four sigaltstack calls (and an mmap when none
// of the up to 64 stacks left by exited threads is free): about 4 us more
// to start and join a thread (`footprint` in bench/, bench/RESULTS.md), and
// 64 KiB of address space while it runs. Other threads get theirs when they
// first record. So a stack overflow goes unrecorded only in a thread that
// existed before this call and never recorded after it, a thread the
// interposition does not reach (the recorder loaded with dlopen, glibc's own
// helper threads), or one whose program replaced the alternate stack with a
// smaller one of its own. Other crashes of those threads are recorded. A
// program that defines pthread_create itself keeps its own (the recorder's
// is weak); with a sanitizer runtime, the recorder's calls the sanitizer's.
// Works in programs linked dynamically or fully statically. Idempotent;
// independent of start()/stop() (a crash outside a session records nothing
// and only passes the signal on). start() calls it when BBX_CRASH is set to
// anything but 0. Returns false if sigaction failed. Not signal-safe;
// thread-safe; costs a few system calls and the one-time load of libgcc's
// unwinder.
//
// What the handler does is async-signal-safe in practice: no heap, no lock,
// no stdio. The stack walk is glibc's backtrace() (libgcc's DWARF unwinder,
// so it works without frame pointers), loaded here so the handler never
// loads it; with glibc >= 2.35 and gcc >= 12 it finds unwind tables without
// a lock. A fault while walking a corrupt stack ends the walk, not the record.
// A thread that never recorded gets its ring in the handler if no other
// thread holds the recorder's lock at that moment; otherwise its crash is
// not recorded (the header flag is still set).
BBX_API bool install_crash_handler();

// Starts a session whose rings live in ordinary memory (MAP_SHARED |
// MAP_ANONYMOUS) rather than in a mapped file, for devices without a
// writable file system for them. cfg.path names the file the capture is
// written to: created now (mode 0600, O_EXCL | O_NOFOLLOW, given its full
// size so that a dump never finds the disk full) and written with write(2)
// by stop() or by the crash handler; until then it holds zeros. The written
// file is an ordinary ring file. A process killed by SIGKILL leaves nothing.
// Also chosen by BBX_ANONYMOUS=1 for start_from_env(). Otherwise as start().
BBX_API start_result start_anonymous(const config& cfg = {});

namespace detail {

// The running session as the crash handler sees it. Set under the
// recorder's lock before the gate opens (recorder.cpp); read without a lock
// by the handler once the gate names the session.
struct crash_target {
    unsigned char* base = nullptr;   // the mapping: file or anonymous memory
    uint64_t size = 0;               // its length, the file size
    int image_fd = -1;               // anonymous mode: where the image goes; -1: the mapping is the file
};
extern crash_target g_crash_target;

// A thread got its ring: gives it an alternate signal stack if the crash
// handler is installed and it has none (crash.cpp). Cold path.
void crash_thread_setup();
// The thread's ring is released at its exit: frees the stack set up above
// (one given at thread start is freed later, after the thread's own
// thread_local destructors).
void crash_thread_exit();

// Writes the capture's image to fd (anonymous mode) as a reader takes it
// (format/include/bbx/image.hpp): each slot under its sequence lock (a slot
// a writer is changing is written torn, stamp 0), the clock anchors under
// calib_seq, the magic last. Rings not yet handed out and metadata past
// meta_used are skipped (the file holds zeros there). Async-signal-safe.
// Returns false if a write failed.
bool write_image(int fd, const unsigned char* base, uint64_t size);

// The recorder's lock-taking acquire_ring for a thread inside the crash
// handler: fails instead of waiting when the lock is held (recorder.cpp).
bool acquire_ring_in_signal(uint64_t gate);

}  // namespace detail
}  // namespace bbx
