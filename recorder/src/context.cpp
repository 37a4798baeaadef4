// W3C Trace Context: traceparent parsing and formatting, and the per-thread
// random ids of context_scope (bbx/context.hpp).
#include "bbx/context.hpp"

#include <pthread.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace bbx {
namespace detail {

constinit thread_local context_thread_state t_context{};

namespace {

// xoshiro256** (Blackman and Vigna): four words of state, never all zero.
struct id_generator {
    uint64_t s[4];
    bool seeded;
};
constinit thread_local id_generator t_ids{};

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

// In a forked child the one surviving thread (the one that called fork) would
// go on with the parent's sequence; the child handler makes it seed anew.
// Other threads' state does not survive fork.
void reseed_in_child() { t_ids.seeded = false; }

[[gnu::cold, gnu::noinline]] void seed() {
    static const int atfork_registered = pthread_atfork(nullptr, nullptr, reseed_in_child);
    (void)atfork_registered;
    uint64_t w[4] = {};
    size_t got = 0;
    while (got < sizeof w) {
        ssize_t n = getrandom(reinterpret_cast<unsigned char*>(w) + got, sizeof w - got, GRND_NONBLOCK);
        if (n > 0) {
            got += size_t(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;  // no entropy yet (early boot) or no getrandom: mix what the process can see
        }
    }
    if (got < sizeof w) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
        x ^= now_ticks() ^ (uint64_t(getpid()) << 32) ^ uint64_t(syscall(SYS_gettid)) ^
             reinterpret_cast<uintptr_t>(&t_ids);
        for (uint64_t& v : w) v ^= splitmix64(x);
    }
    if ((w[0] | w[1] | w[2] | w[3]) == 0) w[0] = 1;
    for (int i = 0; i < 4; ++i) t_ids.s[i] = w[i];
    t_ids.seeded = true;
}

}  // namespace

uint64_t random_id() {
    if (__builtin_expect(!t_ids.seeded, 0)) seed();
    uint64_t* s = t_ids.s;
    for (;;) {
        const uint64_t result = rotl(s[1] * 5, 7) * 9;
        const uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        if (result != 0) return result;
    }
}

}  // namespace detail

namespace {

// 0-9 a-f to its value; anything else (uppercase too) to -1.
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Reads n (<= 16) lowercase hex digits at p; false on any other character.
bool read_hex(const char* p, size_t n, uint64_t& out) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        int d = hex_value(p[i]);
        if (d < 0) return false;
        v = (v << 4) | uint64_t(d);
    }
    out = v;
    return true;
}

constexpr size_t traceparent_size = 55;  // "00-" 32 "-" 16 "-" 2

}  // namespace

const char* traceparent_message(traceparent_error e) {
    switch (e) {
        case traceparent_error::none: return "ok";
        case traceparent_error::wrong_length:
            return "traceparent has the wrong length (version 00: exactly 55 characters; later versions: at least 55)";
        case traceparent_error::bad_version: return "traceparent version ff is invalid";
        case traceparent_error::bad_separator:
            return "traceparent fields are not separated by '-' (or a later version's flags are followed by "
                   "something else)";
        case traceparent_error::bad_hex:
            return "traceparent has a character that is not a lowercase hex digit in a field";
        case traceparent_error::zero_trace_id: return "traceparent trace id is all zero";
        case traceparent_error::zero_parent_id: return "traceparent parent id is all zero";
    }
    return "unknown traceparent error";
}

traceparent_result parse_traceparent(std::string_view v) {
    traceparent_result r;
    auto fail = [&r](traceparent_error e) {
        r.context = {};
        r.error = e;
        return r;
    };
    if (v.size() < traceparent_size) return fail(traceparent_error::wrong_length);
    const char* p = v.data();
    uint64_t version = 0;
    if (!read_hex(p, 2, version)) return fail(traceparent_error::bad_hex);
    if (version == 0xff) return fail(traceparent_error::bad_version);
    if (version == 0 && v.size() != traceparent_size) return fail(traceparent_error::wrong_length);
    if (p[2] != '-' || p[35] != '-' || p[52] != '-') return fail(traceparent_error::bad_separator);
    if (v.size() > traceparent_size && p[traceparent_size] != '-') return fail(traceparent_error::bad_separator);
    uint64_t flags = 0;
    if (!read_hex(p + 3, 16, r.context.trace_hi) || !read_hex(p + 19, 16, r.context.trace_lo) ||
        !read_hex(p + 36, 16, r.context.span_id) || !read_hex(p + 53, 2, flags))
        return fail(traceparent_error::bad_hex);
    r.context.flags = uint8_t(flags);
    if ((r.context.trace_hi | r.context.trace_lo) == 0) return fail(traceparent_error::zero_trace_id);
    if (r.context.span_id == 0) return fail(traceparent_error::zero_parent_id);
    return r;
}

void format_traceparent(const trace_context& ctx, char out[56]) {
    static constexpr char digits[] = "0123456789abcdef";
    auto put = [&](size_t at, uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i, v >>= 4) out[at + size_t(i)] = digits[v & 0xf];
    };
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    put(3, ctx.trace_hi, 16);
    put(19, ctx.trace_lo, 16);
    out[35] = '-';
    put(36, ctx.span_id, 16);
    out[52] = '-';
    put(53, ctx.flags, 2);
    out[55] = '\0';
}

}  // namespace bbx
