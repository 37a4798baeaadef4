// The crash handler (bbx/crash.hpp): records a crash as the crashing
// thread's last event, then passes the signal on as if blackbox were not
// there. Everything reachable from on_crash() is async-signal-safe: no
// heap, no lock (one try-lock, in acquire_ring_in_signal), no stdio.
#include "bbx/crash.hpp"
#include "bbx/image.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <threads.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace bbx {
namespace detail {

constinit crash_target g_crash_target;

namespace {

namespace fmt = ::bbx::format;

constexpr int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr int signal_count = sizeof crash_signals / sizeof crash_signals[0];

// A handler that returns (one installed before ours that repairs the fault)
// lets the thread fault again; a loop of faults must not fill its ring with
// crash records, so each thread writes at most this many.
constexpr uint32_t max_records_per_thread = 4;

// Room for our own frames (handler, trampoline) before the interrupted pc.
constexpr int trace_slack = 8;
constexpr int trace_size = int(fmt::max_crash_frames) + trace_slack;

struct handler_state {
    std::mutex install_mu;                    // install_crash_handler() only; never the handler
    std::atomic<bool> installed{false};
    struct sigaction previous[signal_count] = {};  // what each signal did before us
    uint64_t exe_base = 0;                    // load bias of the main executable
    std::atomic_flag image_busy = ATOMIC_FLAG_INIT;  // one image write at a time
};
// constinit: start() may install the handler from a constructor (BBX_FILE
// and BBX_CRASH), before a dynamic initialiser of this file would run.
constinit handler_state hs;

struct alt_stack {
    void* map;         // guard page + stack, or null
    size_t size;       // of the whole mapping
    bool until_exit;   // given at thread start (start_with_alt_stack): freed at thread exit, not with the ring
};
constinit thread_local alt_stack t_alt{};

// The stack walk, guarded: a fault inside it jumps back here.
constinit thread_local sigjmp_buf t_walk_jump{};
constinit thread_local volatile sig_atomic_t t_walking = 0;
constinit thread_local void* t_trace[trace_size] = {};
constinit thread_local uint32_t t_records = 0;

template <class T>
std::atomic_ref<T> atom(T& v) {
    return std::atomic_ref<T>(v);
}

int signal_index(int signo) {
    for (int i = 0; i < signal_count; ++i)
        if (crash_signals[i] == signo) return i;
    return -1;
}

void crash_set(sigset_t* s) {
    sigemptyset(s);
    for (int sig : crash_signals) sigaddset(s, sig);
}

// 64 KiB, or four times what the kernel asks for, whichever is more: the
// handler, libgcc's unwinder, a nested fault's signal frame and the handler
// we pass the signal on to all run on it.
size_t alt_stack_size() {
    size_t size = 64 * 1024;
#ifdef _SC_SIGSTKSZ
    long k = sysconf(_SC_SIGSTKSZ);
    if (k > 0 && size_t(k) * 4 > size) size = (size_t(k) * 4 + 4095) & ~size_t{4095};
#endif
    return size;
}

// The stacks of threads that exited, for new threads to take: an mmap, an
// mprotect and an munmap (with its TLB shootdown) for every thread would
// cost a short-lived thread more than the thread itself. Bounded; never
// waited for (a thread that finds it busy maps or unmaps its own), so that
// a fork while another thread held it cannot leave the child stuck.
struct stack_cache {
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    int count = 0;
    void* maps[64] = {};
};
constinit stack_cache g_stacks;

void* take_cached_stack() {
    if (g_stacks.busy.test_and_set(std::memory_order_acquire)) return nullptr;
    void* m = g_stacks.count > 0 ? g_stacks.maps[--g_stacks.count] : nullptr;
    g_stacks.busy.clear(std::memory_order_release);
    return m;
}

bool cache_stack(void* m) {
    if (g_stacks.busy.test_and_set(std::memory_order_acquire)) return false;
    const bool room = g_stacks.count < int(sizeof g_stacks.maps / sizeof g_stacks.maps[0]);
    if (room) g_stacks.maps[g_stacks.count++] = m;
    g_stacks.busy.clear(std::memory_order_release);
    return room;
}

// Gives the calling thread an alternate signal stack, unless it has one
// (ours, or one of its own that we leave alone).
void give_alt_stack() {
    if (t_alt.map) return;
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
    const size_t page = 4096, size = alt_stack_size();
    void* m = take_cached_stack();
    if (!m) {
        m = mmap(nullptr, page + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m == MAP_FAILED) return;
        mprotect(m, page, PROT_NONE);  // guard page: a handler that overflows faults instead of writing below
    }
    stack_t ss{};
    ss.ss_sp = static_cast<char*>(m) + page;
    ss.ss_size = size;
    if (sigaltstack(&ss, nullptr) != 0) {
        if (!cache_stack(m)) munmap(m, page + size);
        return;
    }
    t_alt = {m, page + size, false};
}

// Frees the stack give_alt_stack() made, first switching it off if it is
// still this thread's (the program may have installed one of its own since).
void free_alt_stack() {
    if (!t_alt.map) return;
    stack_t cur{};
    const char* ours = static_cast<const char*>(t_alt.map) + 4096;
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp == ours) {
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        if (sigaltstack(&off, nullptr) != 0) return;  // on it right now (cannot happen at exit): keep it
    }
    if (!cache_stack(t_alt.map)) munmap(t_alt.map, t_alt.size);
    t_alt = {};
}

int first_object(dl_phdr_info* info, size_t, void* out) {
    *static_cast<uint64_t*>(out) = uint64_t(info->dlpi_addr);
    return 1;  // the first object is the main program
}

uint64_t context_pc(const void* uc) {
    const auto* u = static_cast<const ucontext_t*>(uc);
#if defined(__x86_64__)
    return uint64_t(u->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return uint64_t(u->uc_mcontext.pc);
#else
    (void)u;
    return 0;
#endif
}

// The return address of a call into a bad address (a null function
// pointer), where the unwinder cannot start: on top of the stack (x86-64) or
// in the link register (aarch64). Read inside the guarded walk.
uint64_t context_return_address(const void* uc) {
    const auto* u = static_cast<const ucontext_t*>(uc);
#if defined(__x86_64__)
    const auto* sp = reinterpret_cast<const uint64_t*>(u->uc_mcontext.gregs[REG_RSP]);
    return sp ? *sp : 0;
#elif defined(__aarch64__)
    return uint64_t(u->uc_mcontext.regs[30]);
#else
    (void)u;
    return 0;
#endif
}

// The return addresses of the interrupted code, innermost first, into out
// (at most max_crash_frames). backtrace() walks from here through the signal
// trampoline into the interrupted frames: our frames, the trampoline, the
// faulting pc, then its callers. The crash signals are unblocked while it
// runs so that a fault inside the unwinder (a corrupt stack) comes back to
// on_crash(), which jumps back here: the walk ends with what it had found.
uint32_t walk_stack(uint64_t pc, const void* uc, uint64_t* out) {
    sigset_t crash;
    crash_set(&crash);
    for (void*& f : t_trace) f = nullptr;
    volatile uint64_t fallback = 0;  // volatile: set between sigsetjmp and a jump back
    if (sigsetjmp(t_walk_jump, 1) == 0) {
        t_walking = 1;
        pthread_sigmask(SIG_UNBLOCK, &crash, nullptr);
        backtrace(t_trace, trace_size);
        bool found = false;
        for (int i = 0; i < trace_slack && t_trace[i]; ++i) found = found || uint64_t(t_trace[i]) == pc;
        if (!found) fallback = context_return_address(uc);
        pthread_sigmask(SIG_BLOCK, &crash, nullptr);
        t_walking = 0;
    }
    // (A jump back restored the handler's mask, crash signals blocked.)
    int n = 0;
    while (n < trace_size && t_trace[n]) ++n;
    int first = -1;
    for (int i = 0; i < n && i < trace_slack; ++i)
        if (uint64_t(t_trace[i]) == pc) {
            first = i + 1;
            break;
        }
    uint32_t count = 0;
    if (first >= 0) {
        for (int i = first; i < n && count < fmt::max_crash_frames; ++i) out[count++] = uint64_t(t_trace[i]);
    } else if (fallback) {
        out[count++] = fallback;
    }
    return count;
}

// Writes the crash record as the thread's next event: head (B = signal)
// and continuation slots (one word each) holding si_code, fault address, pc, executable base,
// N and N return addresses. In discard mode a ring with too little room left
// keeps fewer frames; with no room for the fixed words it is counted dropped.
bool write_record(uint64_t gate, int signo, const siginfo_t* si, uint64_t pc, const uint64_t* frames, uint32_t n) {
    thread_ring* r = &t_ring;
    if (r->session != uint32_t(gate >> 8) && !acquire_ring_in_signal(gate)) return false;
    if (r->hard_limit == 0) {
        count_drop();
        return false;
    }
    // Room for the record and a time_base before it (make_room may write one).
    const uint64_t pos = r->pos;
    uint32_t cont = fmt::v2::continuation_slots(fmt::crash_fixed_words + n, 0);
    while (n > 0 && pos + 3 + cont > r->hard_limit) cont = fmt::v2::continuation_slots(fmt::crash_fixed_words + --n, 0);
    if (pos + 3 + cont > r->hard_limit || cont > r->max_cont) {
        count_drop();
        return false;
    }
    uint64_t w[fmt::crash_fixed_words + fmt::max_crash_frames + 1] = {};
    w[0] = uint64_t(int64_t(si ? si->si_code : 0));
    // si_addr means something only for a fault the kernel raised (si_code >
    // 0); for a signal someone sent, that union member holds the sender's pid.
    w[1] = si && si->si_code > 0 ? uint64_t(reinterpret_cast<uintptr_t>(si->si_addr)) : 0;
    w[2] = pc;
    w[3] = hs.exe_base;
    w[4] = n;
    for (uint32_t i = 0; i < n; ++i) w[fmt::crash_fixed_words + i] = frames[i];
    return write_event(r, fmt::kind::crash, 0, now_ticks(), uint64_t(uint32_t(signo)), w, cont);
}

// Marks the capture as ended by a crash and makes it durable: msync of the
// file, or in anonymous mode the image written to its file.
void end_capture() {
    const crash_target& t = g_crash_target;
    if (!t.base) return;
    auto* h = reinterpret_cast<fmt::file_header*>(t.base);
    atom(h->flags).fetch_or(fmt::flag_ended_crash, std::memory_order_release);
    if (t.image_fd < 0) {
        msync(t.base, t.size, MS_SYNC);
        return;
    }
    // Two threads crashing at once: one image write at a time. The second
    // writes again after the first, unless the first thread's signal ends
    // the process before that (its image has the second record only if that
    // was written before the copy passed its ring).
    while (hs.image_busy.test_and_set(std::memory_order_acquire)) {
        timespec ms{0, 1000000};
        nanosleep(&ms, nullptr);
    }
    if (write_image(t.image_fd, t.base, t.size)) fsync(t.image_fd);
    hs.image_busy.clear(std::memory_order_release);
}

// Hands the signal on: to the handler installed before ours, or to what
// SIG_IGN or SIG_DFL would have done.
void pass_on(int signo, siginfo_t* si, void* uc, const struct sigaction& prev) {
    // sa_handler and sa_sigaction share their storage: SIG_DFL and SIG_IGN
    // read the same through either, whatever the flags say.
    const bool siginfo = prev.sa_flags & SA_SIGINFO;
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
        sigset_t old;
        pthread_sigmask(SIG_BLOCK, &prev.sa_mask, &old);
        if (prev.sa_flags & SA_RESETHAND) {  // the kernel would have reset it on delivery
            struct sigaction dfl{};
            dfl.sa_handler = SIG_DFL;
            sigaction(signo, &dfl, nullptr);
        }
        if (siginfo) prev.sa_sigaction(signo, si, uc);
        else prev.sa_handler(signo);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return;
    }
    // SIG_IGN of a signal someone sent (kill, raise): returning ignores it.
    // A fault cannot be ignored (the kernel kills on it), so it falls through.
    if (prev.sa_handler == SIG_IGN && (si->si_code <= 0 || signo == SIGABRT)) return;
    // The default action. The signal is blocked in here, so raise() leaves
    // it pending; it is delivered the moment we return, with SIG_DFL: the
    // process dies of it as it would have, with its core dump, and the core
    // shows the interrupted context.
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(signo, &dfl, nullptr);
    raise(signo);
}

bool ignored_before(int signo, const siginfo_t* si, const struct sigaction& prev) {
    // abort() ends the process even when SIGABRT is ignored: record it.
    return prev.sa_handler == SIG_IGN && si->si_code <= 0 && signo != SIGABRT;
}

void on_crash(int signo, siginfo_t* si, void* uc) {
    if (t_walking) {  // a fault inside our own stack walk: end the walk
        t_walking = 0;
        siglongjmp(t_walk_jump, 1);
    }
    const int saved_errno = errno;
    const int index = signal_index(signo);
    if (index < 0) return;
    const struct sigaction& prev = hs.previous[index];
    if (!ignored_before(signo, si, prev)) {
        uint64_t gate = gate_load(std::memory_order_acquire);
        if (gate != 0 && t_records < max_records_per_thread) {
            ++t_records;
            uint64_t frames[fmt::max_crash_frames];
            const uint64_t pc = context_pc(uc);
            uint32_t n = walk_stack(pc, uc, frames);
            write_record(gate, signo, si, pc, frames, n);
            end_capture();
        }
    }
    pass_on(signo, si, uc, prev);
    errno = saved_errno;
}

bool write_all(int fd, const unsigned char* p, size_t n, uint64_t off) {
    while (n) {
        ssize_t w = pwrite(fd, p, n, off_t(off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
        off += uint64_t(w);
    }
    return true;
}

}  // namespace

void crash_thread_setup() {
    if (hs.installed.load(std::memory_order_acquire)) give_alt_stack();
}

void crash_thread_exit() {
    if (!t_alt.until_exit) free_alt_stack();
}

bool write_image(int fd, const unsigned char* base, uint64_t size) {
    // The image as format/include/bbx/image.hpp takes it (the same copy as
    // bbx::snapshot's), written where it lies in the file: descriptors,
    // rings, metadata, then the header and, last, its magic, so that an
    // image cut short (the process killed while writing it) is bad_magic.
    alignas(8) unsigned char buf[8192];
    return fmt::image::take(base, size, buf, sizeof buf, [fd](uint64_t off, const unsigned char* p, size_t n) {
        return write_all(fd, p, n, off);
    });
}

}  // namespace detail

bool install_crash_handler() {
    using namespace detail;
    std::lock_guard lock(hs.install_mu);
    hs.installed.store(true, std::memory_order_release);
    give_alt_stack();
    static bool done = false;
    if (done) return true;
    // backtrace() loads libgcc's unwinder on first use (dlopen: not
    // signal-safe), so use it once here.
    void* warm[4];
    backtrace(warm, 4);
    uint64_t base = 0;
    dl_iterate_phdr(first_object, &base);
    hs.exe_base = base;
    struct sigaction sa{};
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    crash_set(&sa.sa_mask);  // a crash inside the handler kills at once (the kernel forces SIG_DFL)
    for (int i = 0; i < signal_count; ++i) {
        // Keep what was there before the handler can run; then swap.
        if (sigaction(crash_signals[i], nullptr, &hs.previous[i]) != 0) return false;
        struct sigaction old{};
        if (sigaction(crash_signals[i], &sa, &old) != 0) return false;
        hs.previous[i] = old;
    }
    done = true;
    return true;
}

}  // namespace bbx

// ---- an alternate stack for every thread, before it runs ----------------------------
//
// A stack overflow can be caught only on an alternate signal stack made
// before it, and a thread got one only when it first recorded. So, while the
// crash handler is installed, every thread created with pthread_create
// (std::thread, std::async and thread pools all come here) gets one before
// its start routine runs, freed at its exit: pthread_create is interposed
// below, and calls on to the real one.
//
// How the definition here takes precedence: in a dynamically linked program
// the executable (the static library is part of it) and libraries loaded
// before libc (libbbx_recorder.so linked in) come first in symbol lookup,
// for every caller in the process. It is weak so that it never collides at
// link time with another interposer (sanitizer runtimes define a weak one
// too; whichever the linker meets first is kept). Not covered, documented in
// crash.hpp: a recorder loaded with dlopen (it is not searched first),
// threads made before install_crash_handler(), and glibc's own internal
// threads.
namespace bbx::detail {
namespace {

using create_fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

extern "C" {
// A sanitizer runtime linked into the program intercepts pthread_create too:
// call its interceptor, which calls libc's. LLVM 17 renamed it.
int __interceptor_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) __attribute__((weak));
int ___interceptor_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) __attribute__((weak));
// glibc's implementation, by the name it has in libc.a: a statically linked
// program has no dynamic symbol table for dlsym to search.
int __pthread_create_2_1(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) __attribute__((weak));
}
// The reference that makes a static link (-static) take libc.a's pthread_create
// object (thrd_create calls it), which the definition below would otherwise
// stand in for, leaving __pthread_create_2_1 undefined. Harmless when linked
// dynamically: thrd_create is an exported libc function, never called here.
[[maybe_unused]] int (*volatile keep_libc_pthread_create)(thrd_t*, thrd_start_t, void*) = thrd_create;

std::atomic<create_fn> g_real_create{nullptr};

create_fn real_pthread_create() {
    create_fn f = g_real_create.load(std::memory_order_acquire);
    if (f) return f;
    if (__interceptor_pthread_create) f = __interceptor_pthread_create;
    else if (___interceptor_pthread_create) f = ___interceptor_pthread_create;
    else {
        f = reinterpret_cast<create_fn>(dlsym(RTLD_NEXT, "pthread_create"));
        if (!f) f = __pthread_create_2_1;
    }
    g_real_create.store(f, std::memory_order_release);
    return f;
}

// Found at load time, so that the first pthread_create (perhaps inside an
// allocator's initialisation) does not call dlsym.
__attribute__((constructor)) void find_real_pthread_create() { real_pthread_create(); }

struct thread_start {
    void* (*routine)(void*);
    void* arg;
};

// Frees the stack at thread exit. Registered before the start routine runs,
// so it runs after every thread_local destructor the thread's own code
// registered (they run in reverse order): a destructor that overflows is
// still caught.
struct alt_stack_release {
    bool armed = false;
    ~alt_stack_release() {
        if (armed) free_alt_stack();
    }
};
constinit thread_local alt_stack_release t_alt_release;

void* start_with_alt_stack(void* p) {
    const thread_start start = *static_cast<thread_start*>(p);
    std::free(p);
    give_alt_stack();
    if (t_alt.map) {
        t_alt.until_exit = true;
        t_alt_release.armed = true;
    }
    return start.routine(start.arg);
}

}  // namespace
}  // namespace bbx::detail

extern "C" __attribute__((weak, visibility("default"))) int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                                                         void* (*routine)(void*), void* arg) noexcept {
    using namespace bbx::detail;
    const create_fn real = real_pthread_create();
    if (!real) return EAGAIN;  // no pthread_create in this process: cannot happen with glibc
    if (!hs.installed.load(std::memory_order_acquire)) return real(thread, attr, routine, arg);
    auto* start = static_cast<thread_start*>(std::malloc(sizeof(thread_start)));
    if (!start) return real(thread, attr, routine, arg);  // no stack before it runs, as without the hook
    *start = {routine, arg};
    const int e = real(thread, attr, start_with_alt_stack, start);
    if (e != 0) std::free(start);
    return e;
}
