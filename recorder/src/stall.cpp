// Stall stacks: the watchdog and the sampling signal handler. The layout and
// the safety argument are in spec/stall-stacks.md; in short:
//   - the watchdog only reads the rings (each slot as a decoder reads it:
//     its A word before and after B) and adds nothing to the hot path;
//   - a sample is written by the stalled thread's own handler into that
//     ring's entries of the stall-sample area, never into the ring (the
//     handler may interrupt an event half written), under a sequence word;
//   - the handler allocates nothing and takes no lock: the DWARF walk is
//     libgcc's _Unwind_Backtrace (through glibc's backtrace, warmed first),
//     which finds unwind tables through glibc's lock-free _dl_find_object
//     on glibc >= 2.35 (checked in Debian 12's libgcc_s.so.1, see the spec);
//     the frame-pointer walk reads each frame record with process_vm_readv,
//     so a bad frame pointer is an error return, never a fault (where that
//     call is unavailable, start() chooses the DWARF walk instead).
#include "stall.hpp"

#include <elf.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace bbx::detail::stall {
namespace {

namespace fmt = ::bbx::format;

template <class T>
std::atomic_ref<T> atom(T& v) {
    return std::atomic_ref<T>(v);
}

// What the handler needs, published before the handler is installed.
std::atomic<unsigned char*> g_base{nullptr};
std::atomic<bool> g_frame_pointers{false};

struct watchdog_state {
    std::mutex mu;
    bool running = false;
    pthread_t thread{};
    std::atomic<bool> quit{false};
    unsigned char* base = nullptr;
    settings s;
    int installed_signo = 0;
};
watchdog_state w;

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

bool parse_ms(const char* s, uint32_t& out, uint32_t max) {
    char* end;
    errno = 0;
    unsigned long v = std::strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max) return false;
    out = uint32_t(v);
    return true;
}

// "38", "RTMIN+4", "SIGRTMIN+4", "SIGPROF", "PROF", "USR2"...
int parse_signal(const char* s) {
    if (std::strncmp(s, "SIG", 3) == 0) s += 3;
    char* end;
    if (std::strncmp(s, "RTMIN", 5) == 0) {
        long k = s[5] == 0 ? 0 : s[5] == '+' ? std::strtol(s + 6, &end, 10) : -1;
        if (s[5] == '+' && *end) return -1;
        return k >= 0 && SIGRTMIN + k <= SIGRTMAX ? int(SIGRTMIN + k) : -1;
    }
    static const struct {
        const char* name;
        int signo;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PROF", SIGPROF}, {"URG", SIGURG}};
    for (auto& n : names)
        if (std::strcmp(s, n.name) == 0) return n.signo;
    long v = std::strtol(s, &end, 10);
    if (*end || v < 1 || v > SIGRTMAX) return -1;
    return int(v);
}

// Signals that mean something else to the kernel or the runtime.
bool usable_signal(int signo) {
    switch (signo) {
        case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGABRT: case SIGTRAP:
        case SIGSYS: case SIGCHLD: case SIGCONT: case SIGTSTP: case SIGTTIN: case SIGTTOU:
            return false;
        default: return signo > 0 && signo <= SIGRTMAX && (signo < 32 || signo >= SIGRTMIN);
    }
}

uint32_t current_tid() { return uint32_t(syscall(SYS_gettid)); }

// ---- the handler -------------------------------------------------------------------

// Reads n bytes at `from` of this process without ever faulting.
bool safe_read(void* to, uintptr_t from, size_t n) {
    iovec local{to, n}, remote{reinterpret_cast<void*>(from), n};
    return syscall(SYS_process_vm_readv, getpid(), &local, 1ul, &remote, 1ul, 0ul) == long(n);
}

void pc_fp_of(const void* ucv, uintptr_t& pc, uintptr_t& fp) {
    const auto* uc = static_cast<const ucontext_t*>(ucv);
#if defined(__x86_64__)
    pc = uintptr_t(uc->uc_mcontext.gregs[REG_RIP]);
    fp = uintptr_t(uc->uc_mcontext.gregs[REG_RBP]);
#elif defined(__aarch64__)
    pc = uintptr_t(uc->uc_mcontext.pc);
    fp = uintptr_t(uc->uc_mcontext.regs[29]);
#else
    pc = 0;
    fp = 0;
    (void)uc;
#endif
}

// Frame records {saved frame pointer, return address}, each above the last
// (the stack grows down), at most 1 MiB apart.
uint32_t walk_frame_pointers(uintptr_t pc, uintptr_t fp, uint64_t* out, uint32_t max, bool& truncated) {
    uint32_t n = 0;
    out[n++] = pc;
    while (fp && (fp % sizeof(void*)) == 0) {
        uintptr_t rec[2];
        if (!safe_read(rec, fp, sizeof rec)) break;
        if (rec[1] == 0) break;
        if (n == max) {
            truncated = true;
            break;
        }
        out[n++] = rec[1];
        if (rec[0] <= fp || rec[0] - fp > (1u << 20)) break;
        fp = rec[0];
    }
    return n;
}

uint32_t walk_dwarf(uintptr_t pc, uint64_t* out, uint32_t max, bool& truncated) {
    // The handler's own frames and the signal trampoline come first: the
    // interrupted frame is the one whose address is the context's pc.
    constexpr int room = int(fmt::max_stall_frames) + 16;
    void* raw[room];
    const int got = backtrace(raw, room);
    int from = -1;
    for (int i = 0; i < got && i < 8; ++i)
        if (uintptr_t(raw[i]) == pc) {
            from = i;
            break;
        }
    uint32_t n = 0;
    out[n++] = pc;
    if (from < 0) return n;  // the unwinder did not get through the signal frame: the pc alone
    for (int i = from + 1; i < got; ++i) {
        if (n == max) {
            truncated = true;
            break;
        }
        out[n++] = uint64_t(uintptr_t(raw[i]));
    }
    if (got == room) truncated = true;
    return n;
}

void on_sample(int, siginfo_t* si, void* ucv) {
    const int saved_errno = errno;
    unsigned char* base = g_base.load(std::memory_order_acquire);
    if (base && si && si->si_code == SI_QUEUE && si->si_pid == getpid()) {
        auto* h = reinterpret_cast<fmt::file_header*>(base);
        const uint64_t v = uint64_t(uintptr_t(si->si_value.sival_ptr));
        const uint32_t ring = uint32_t(v & 0xffff);
        const uint64_t number = v >> 16;
        const uint32_t k = h->stall_samples_per_ring;
        if (ring < h->ring_count && number != 0 && k != 0) {
            auto* desc = reinterpret_cast<fmt::ring_descriptor*>(base + h->ring_table_offset) + ring;
            // Only the ring's owner writes its entries: a request meant for
            // another thread (the ring changed hands) is dropped.
            if (atom(desc->tid).load(std::memory_order_relaxed) == current_tid() &&
                atom(desc->state).load(std::memory_order_relaxed) == fmt::ring_owned) {
                const uint64_t ticks = now_ticks();
                uint64_t frames[fmt::max_stall_frames] = {};
                bool truncated = false;
                uintptr_t pc, fp;
                pc_fp_of(ucv, pc, fp);
                const bool by_fp = g_frame_pointers.load(std::memory_order_relaxed);
                const uint32_t n = by_fp ? walk_frame_pointers(pc, fp, frames, fmt::max_stall_frames, truncated)
                                         : walk_dwarf(pc, frames, fmt::max_stall_frames, truncated);
                auto* e = reinterpret_cast<fmt::stall_sample_entry*>(base + h->stall_offset) + uint64_t(ring) * k +
                          (number - 1) % k;
                auto seq = atom(e->seq);
                const uint32_t s0 = seq.load(std::memory_order_relaxed);
                seq.store(s0 | 1, std::memory_order_relaxed);
                std::atomic_thread_fence(std::memory_order_release);
                atom(e->generation).store(atom(desc->generation).load(std::memory_order_relaxed), std::memory_order_relaxed);
                atom(e->ticks).store(ticks, std::memory_order_relaxed);
                atom(e->nframes).store(n, std::memory_order_relaxed);
                atom(e->flags).store((truncated ? uint32_t(fmt::stall_sample_truncated) : 0u) |
                                         (by_fp ? uint32_t(fmt::stall_sample_frame_pointers) : 0u),
                                     std::memory_order_relaxed);
                for (uint32_t i = 0; i < fmt::max_stall_frames; ++i)
                    atom(e->frames[i]).store(frames[i], std::memory_order_relaxed);
                atom(e->number).store(number, std::memory_order_relaxed);
                seq.store((s0 | 1) + 1, std::memory_order_release);
            }
        }
    }
    errno = saved_errno;
}

// ---- mappings (watchdog thread: normal context) --------------------------------

struct known_object {
    uint64_t base;
    std::string path;
};

struct mapping_scan {
    std::vector<fmt::stall_mapping_entry> found;
};

int collect_object(dl_phdr_info* info, size_t, void* out) {
    auto* scan = static_cast<mapping_scan*>(out);
    fmt::stall_mapping_entry m{};
    m.base = info->dlpi_addr;
    uint64_t low = ~uint64_t{0}, high = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            low = std::min<uint64_t>(low, info->dlpi_addr + ph.p_vaddr);
            high = std::max<uint64_t>(high, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        } else if (ph.p_type == PT_NOTE && m.build_id_size == 0) {
            const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
            const unsigned char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                ElfW(Nhdr) nh;
                std::memcpy(&nh, p, sizeof nh);
                const unsigned char* name = p + sizeof nh;
                const unsigned char* desc = name + ((nh.n_namesz + 3) & ~3u);
                const unsigned char* next = desc + ((nh.n_descsz + 3) & ~3u);
                if (next > end) break;
                if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                    m.build_id_size = std::min<uint32_t>(nh.n_descsz, fmt::stall_build_id_size);
                    std::memcpy(m.build_id, desc, m.build_id_size);
                    break;
                }
                p = next;
            }
        }
    }
    if (high <= low) return 0;
    m.low = low;
    m.high = high;
    if (info->dlpi_name) std::snprintf(m.path, sizeof m.path, "%s", info->dlpi_name);
    // The vDSO, which a C library may leave unnamed (dlpi_name ""):
    // "" would say "the main executable" (spec/stall-stacks.md), so it is
    // named "[vdso]" (the kernel's ELF image at AT_SYSINFO_EHDR lies in it).
    const uint64_t vdso = getauxval(AT_SYSINFO_EHDR);
    if (m.path[0] == 0 && vdso >= low && vdso < high) std::snprintf(m.path, sizeof m.path, "[vdso]");
    scan->found.push_back(m);
    return 0;
}

// Adds the objects loaded now that the table does not have yet.
void record_mappings(unsigned char* base, std::vector<known_object>& known) {
    auto* h = reinterpret_cast<fmt::file_header*>(base);
    mapping_scan scan;
    dl_iterate_phdr(collect_object, &scan);
    auto* table = reinterpret_cast<fmt::stall_mapping_entry*>(base + h->stall_offset +
                                                             uint64_t(h->ring_count) * h->stall_samples_per_ring *
                                                                 fmt::stall_sample_entry_size);
    for (const auto& m : scan.found) {
        bool have = false;
        for (const auto& k : known) have |= k.base == m.base && k.path == m.path;
        if (have) continue;
        if (known.size() >= h->stall_mappings) return;  // full: later objects stay unsymbolised
        fmt::stall_mapping_entry* e = table + known.size();
        auto seq = atom(e->seq);
        seq.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        const auto* from = reinterpret_cast<const uint64_t*>(&m);
        auto* to = reinterpret_cast<uint64_t*>(e);
        for (size_t i = 1; i < sizeof m / 8; ++i) atom(to[i]).store(from[i], std::memory_order_relaxed);
        seq.store(2, std::memory_order_release);
        known.push_back({m.base, m.path});
    }
}

// ---- the watchdog --------------------------------------------------------------------

struct ring_watch {
    uint64_t pos = ~uint64_t{0};  // write_pos at the last look
    uint32_t generation = 0;
    uint64_t open_ticks = 0;      // begin of the open poll (else innermost span) found then; 0: none
    uint64_t stalled = 0;         // the open_ticks of the stall being sampled (0: none)
    uint64_t last_request = 0;    // ticks of the latest signal sent
    uint64_t number = 0;          // samples requested from this ring
    uint64_t in_stall = 0;        // of them, for the stall being sampled
};

// Walks the ring back from its newest event, counting ends and begins, to
// the innermost open task poll (or, with none within reach, the innermost
// open span) of the ring's owner (the walk stops at an owner event). Each
// 16-byte slot is read as a reader reads it (A, B, fence, A again: the same
// A, a kind and the lap of its position); a continuation slot names its
// head (index i: i slots back), so the walk steps from head to head. A torn
// or overwritten slot ends the walk. Heads hold the low half of their ticks:
// the high half is the prev_hi of the nearest time_base after the head, or
// else the hi of the nearest time_base or owner event before it (the walk
// goes on to find it);
// with neither in reach, the high half of `now` (one 2^32-tick period back
// if the low half is ahead of now's). Returns the begin's ticks, 0 if none
// is found.
uint64_t find_open(const unsigned char* slots, uint64_t slots_n, uint64_t pos, uint64_t now) {
    constexpr uint64_t max_walk = 16384;
    const uint32_t shift = uint32_t(__builtin_ctzll(slots_n));
    const uint64_t lowest = pos > slots_n ? pos - slots_n : 0;
    uint64_t depth = 0;
    bool hi_known = false;  // hi: the high half of the heads walked now
    uint32_t hi = 0;
    bool span_found = false, span_pending = false, poll_pending = false;
    uint32_t span_lo = 0, poll_lo = 0;
    uint64_t span = 0;
    auto full = [](uint32_t h, uint32_t lo) { return (uint64_t(h) << 32) | lo; };
    for (uint64_t i = pos, steps = 0; i > lowest && steps < max_walk; ++steps) {
        const uint64_t at = i - 1;
        auto* sw = reinterpret_cast<uint64_t*>(const_cast<unsigned char*>(slots + (at & (slots_n - 1)) * fmt::v2::slot_size));
        const uint64_t a = atom(sw[0]).load(std::memory_order_acquire);
        const uint64_t b = atom(sw[1]).load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (atom(sw[0]).load(std::memory_order_relaxed) != a || fmt::v2::kind_of(a) == 0 ||
            fmt::v2::lap_of(a) != fmt::v2::lap_at(at, shift))
            break;
        const auto k = fmt::kind(fmt::v2::kind_of(a));
        if (k == fmt::kind::continuation) {
            const uint32_t index = fmt::v2::cont_index_of(a);
            if (index == 0 || index > at - lowest) break;
            i = at - index + 1;  // its head next
            continue;
        }
        i = at;
        const uint32_t lo = fmt::v2::ticks_lo_of(a);
        if (k == fmt::kind::owner) {  // its hi times the heads after it; those before are the previous owner's
            const uint32_t owner_hi = fmt::v2::owner_hi_of(b);
            if (poll_pending) return full(owner_hi, poll_lo);
            if (span_pending) span = full(owner_hi, span_lo), span_pending = false;
            break;
        }
        if (k == fmt::kind::time_base) {
            const uint32_t tb_hi = uint32_t(b >> 32), tb_prev = uint32_t(b);
            if (poll_pending) return full(tb_hi, poll_lo);
            if (span_pending) span = full(tb_hi, span_lo), span_pending = false;
            hi_known = tb_prev != fmt::v2::no_prev_hi;
            hi = tb_prev;
            continue;
        }
        if (poll_pending) continue;  // only looking for the time_base that times it
        switch (k) {
            case fmt::kind::span_end:
            case fmt::kind::task_poll_end: ++depth; break;
            case fmt::kind::span_begin:
                if (depth) --depth;
                else if (!span_found) {
                    span_found = true;
                    if (hi_known) span = full(hi, lo);
                    else span_pending = true, span_lo = lo;
                }
                break;
            case fmt::kind::task_poll_begin:
                if (depth) --depth;
                else if (hi_known) return full(hi, lo);
                else poll_pending = true, poll_lo = lo;
                break;
            default: break;
        }
    }
    auto from_now = [now](uint32_t lo) {
        const uint32_t h = uint32_t(now >> 32) - (lo > uint32_t(now) ? 1 : 0);
        return (uint64_t(h) << 32) | lo;
    };
    if (poll_pending) return from_now(poll_lo);
    if (span_pending) return from_now(span_lo);
    return span;
}

void send_request(int signo, pid_t pid, uint32_t tid, uint32_t ring, uint64_t number) {
    siginfo_t si{};
    si.si_signo = signo;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr = reinterpret_cast<void*>(uintptr_t((number << 16) | ring));
    syscall(SYS_rt_tgsigqueueinfo, pid, pid_t(tid), signo, &si);
}

void* watchdog_main(void*) {
    pthread_setname_np(pthread_self(), "bbx-watchdog");
    unsigned char* base = w.base;
    const settings s = w.s;
    auto* h = reinterpret_cast<fmt::file_header*>(base);
    const double hz = h->tick_hz > 0 ? h->tick_hz : 1e9;
    const uint64_t threshold = uint64_t(double(s.threshold_ms) * hz / 1000.0);
    const uint64_t period = uint64_t(double(s.period_ms) * hz / 1000.0);
    const uint64_t slots_n = h->ring_size / fmt::v2::slot_size;
    const pid_t pid = getpid();
    std::vector<ring_watch> rings(h->ring_count);
    std::vector<known_object> known;
    record_mappings(base, known);
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!w.quit.load(std::memory_order_acquire)) {
        next.tv_nsec += long(s.period_ms) * 1000000;
        while (next.tv_nsec >= 1000000000) next.tv_nsec -= 1000000000, ++next.tv_sec;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
        }
        const uint64_t now = now_ticks();
        const uint32_t used = atom(h->rings_used).load(std::memory_order_acquire);
        for (uint32_t r = 0; r < used && r < h->ring_count; ++r) {
            auto* desc = reinterpret_cast<fmt::ring_descriptor*>(base + h->ring_table_offset) + r;
            ring_watch& rw = rings[r];
            if (atom(desc->state).load(std::memory_order_acquire) != fmt::ring_owned) {
                rw = ring_watch{.number = rw.number};
                continue;
            }
            const uint32_t generation = atom(desc->generation).load(std::memory_order_acquire);
            const uint64_t pos = atom(desc->write_pos).load(std::memory_order_acquire);
            if (pos != rw.pos || generation != rw.generation) {
                rw.open_ticks = find_open(base + h->rings_offset + uint64_t(r) * h->ring_size, slots_n, pos, now);
                rw.pos = pos;
                rw.generation = generation;
            }
            if (!rw.open_ticks || now < rw.open_ticks || now - rw.open_ticks < threshold) {
                rw.stalled = 0;
                continue;
            }
            if (rw.stalled != rw.open_ticks) {  // a new stall: objects loaded since are recorded first
                rw.stalled = rw.open_ticks;
                record_mappings(base, known);
                rw.last_request = 0;
                rw.in_stall = 0;
            }
            // One stall's samples are bounded: the period doubles after every
            // 16 (a 1 s stall at 5 ms takes about 60, spread over all of it).
            const uint64_t gap = period << std::min<uint64_t>(rw.in_stall / 16, 20);
            if (rw.last_request && now - rw.last_request < gap - period / 4) continue;  // (a wake-up a little early still counts)
            // The previous request not yet served (the thread has the signal
            // blocked, or is not scheduled): no second one for 4 periods.
            if (rw.number) {
                auto* prev = reinterpret_cast<fmt::stall_sample_entry*>(base + h->stall_offset) +
                             uint64_t(r) * h->stall_samples_per_ring + (rw.number - 1) % h->stall_samples_per_ring;
                const uint64_t served = atom(prev->number).load(std::memory_order_relaxed);
                if (served != rw.number && rw.last_request && now - rw.last_request < 4 * period) continue;
            }
            const uint32_t tid = atom(desc->tid).load(std::memory_order_relaxed);
            send_request(w.installed_signo, pid, tid, r, ++rw.number);
            ++rw.in_stall;
            rw.last_request = now;
        }
    }
    return nullptr;
}

}  // namespace

bool resolve(const config& cfg, settings& out) {
    settings s;
    s.threshold_ms = cfg.stall_ms;
    s.period_ms = cfg.stall_sample_ms;
    s.signo = cfg.stall_signal;
    s.frame_pointers = cfg.stall_frame_pointers;
    if (!s.threshold_ms)
        if (const char* v = env("BBX_STALL_MS"); v && !parse_ms(v, s.threshold_ms, 3600000)) return false;
    if (!s.period_ms)
        if (const char* v = env("BBX_STALL_SAMPLE_MS"); v && !parse_ms(v, s.period_ms, 1000)) return false;
    if (!s.signo)
        if (const char* v = env("BBX_STALL_SIGNAL")) {
            s.signo = parse_signal(v);
            if (s.signo < 0) return false;
        }
    if (!s.frame_pointers)
        if (const char* v = env("BBX_STALL_UNWIND")) {
            if (std::strcmp(v, "fp") == 0) s.frame_pointers = true;
            else if (std::strcmp(v, "dwarf") != 0) return false;
        }
    if (!s.threshold_ms) {
        out = settings{};
        return true;
    }
    // The frame-pointer walk reads through process_vm_readv. Where that call
    // is missing (qemu-user does not implement it) or refused (a seccomp
    // policy), the walk would stop at the pc: the DWARF unwinder walks
    // instead, and the header's flag says which one did.
    if (s.frame_pointers) {
        const uintptr_t probe = 0x6262785f66700a;
        uintptr_t got = 0;
        if (!safe_read(&got, uintptr_t(&probe), sizeof got) || got != probe) {
            std::fprintf(stderr, "bbx: process_vm_readv is not available here (%s): stall stacks are walked by the DWARF unwinder, not frame pointers\n",
                         std::strerror(errno));
            s.frame_pointers = false;
        }
    }
    if (!s.period_ms) s.period_ms = s.threshold_ms / 4 ? std::min<uint32_t>(s.threshold_ms / 4, 1000) : 1;
    if (s.period_ms > 1000) return false;
    if (!s.signo) s.signo = SIGRTMIN + 4;
    if (!usable_signal(s.signo)) return false;
    out = s;
    return true;
}

void write_header(fmt::file_header* h, uint64_t offset, const settings& s) {
    h->stall_offset = offset;
    h->stall_size = fmt::stall_area_size(h->ring_count, s.samples_per_ring, s.mappings);
    h->stall_samples_per_ring = s.samples_per_ring;
    h->stall_sample_size = fmt::stall_sample_entry_size;
    h->stall_max_frames = fmt::max_stall_frames;
    h->stall_mappings = s.mappings;
    h->stall_mapping_size = fmt::stall_mapping_entry_size;
    h->stall_threshold_us = s.threshold_ms * 1000;
    h->stall_period_us = s.period_ms * 1000;
    h->stall_flags = s.frame_pointers ? uint32_t(fmt::stall_flag_frame_pointers) : 0u;
}

void begin(unsigned char* base, const settings& s) {
    end();
    std::lock_guard lock(w.mu);
    if (!s.threshold_ms) return;
    if (w.installed_signo != s.signo) {
        struct sigaction old{};
        if (sigaction(s.signo, nullptr, &old) != 0) return;
        const bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_sample;
        if (!ours && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
            std::fprintf(stderr, "bbx: signal %d already has a handler: stall stacks are off (choose another with BBX_STALL_SIGNAL)\n",
                         s.signo);
            return;
        }
        // Warm the unwinder here: backtrace's first call loads libgcc (dlopen).
        void* warm[4];
        backtrace(warm, 4);
        struct sigaction sa{};
        sa.sa_sigaction = on_sample;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);  // the signal itself stays blocked while its handler runs
        if (sigaction(s.signo, &sa, nullptr) != 0) return;
        w.installed_signo = s.signo;
    }
    g_frame_pointers.store(s.frame_pointers, std::memory_order_relaxed);
    g_base.store(base, std::memory_order_release);
    w.base = base;
    w.s = s;
    w.quit.store(false, std::memory_order_relaxed);
    // The watchdog takes no signal meant for the process.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w.running = pthread_create(&w.thread, nullptr, watchdog_main, nullptr) == 0;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void end() {
    std::lock_guard lock(w.mu);
    if (!w.running) return;
    w.quit.store(true, std::memory_order_release);
    pthread_join(w.thread, nullptr);
    w.running = false;
    g_base.store(nullptr, std::memory_order_release);  // a request still pending finds nothing to write
}

void forget_after_fork() {
    // Only the forking thread exists in the child; the mutex may be held by none of it.
    new (&w.mu) std::mutex();
    w.running = false;
    g_base.store(nullptr, std::memory_order_relaxed);
}

}  // namespace bbx::detail::stall
