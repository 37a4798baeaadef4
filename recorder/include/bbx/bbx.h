/* blackbox recorder, the C API (C11, and C++ through extern "C").
 *
 * Quick start:
 *
 *     #include <bbx/bbx.h>
 *     int main(void) {
 *         bbx_start(NULL);                                   // or run the program with BBX_FILE=service.bbx
 *         BBXC_INSTANT(INFO, "io", "open", BBXC_STR("path", "/etc/hosts"));
 *         BBXC_SPAN_BEGIN(read, INFO, "io", "read_block", BBXC_I64("bytes", 4096));
 *         BBXC_COUNTER_I64(DEBUG, "queue", "depth", 17);
 *         BBXC_SPAN_END(read);
 *         bbx_stop();
 *     }                                                      // then: bbx dump ./<program>.<pid>.bbx
 *
 * Build: cc app.c $(pkg-config --cflags --libs blackbox) (the shared library;
 * a static link needs the C++ runtime: pkg-config --static, or link with c++).
 *
 * The same recorder and the same capture as the C++ API (bbx/bbx.hpp): a
 * program may use both. Levels and their compile-time switches are shared:
 * -DBBX_LEVEL_MAX=BBX_LEVEL_INFO removes every DEBUG and TRACE event from the
 * binary (no code, no strings), -DBBX_DISABLE removes them all; the argument
 * expressions of a removed event are not evaluated. An event disabled at run
 * time costs one load and a branch; an enabled one a call into the library
 * (bench/RESULTS.md has the cost next to the C++ macros').
 *
 * Events: LEVEL is ERROR, WARN, INFO, DEBUG or TRACE; category and name are
 * string literals; then up to 16 typed arguments:
 *
 *     BBXC_I64("name", v)    signed integer          BBXC_F64("name", v)   double
 *     BBXC_U64("name", v)    unsigned integer        BBXC_BOOL("name", v)  0 or 1
 *     BBXC_STR("name", s)    NUL-terminated string, copied (cut at 128 bytes; NULL records "")
 *
 * Every event macro is thread-safe and never locks, allocates or makes a
 * system call once its thread has a ring and its call site an id (both on
 * the first event). Everything named bbx_detail or BBX_DETAIL is internal
 * and not API. GCC or clang (the header uses __atomic builtins). */
#ifndef BBX_BBX_H
#define BBX_BBX_H

#include <stddef.h>
#include <stdint.h>

#include "bbx/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the session -------------------------------------------------------------- */

/* Recording settings; a zero field takes the default. */
typedef struct bbx_config {
    const char* path;     /* the capture file; NULL: ./<program>.<pid>.bbx */
    uint32_t ring_kb;     /* per-thread ring in KiB, a power of two from 4 to 1048576; 0: 64 */
    uint32_t max_threads; /* rings in the file: threads recording at once (exited threads' rings are reused; one more alive records nothing, counted); 0: 64 */
    uint32_t meta_kb;     /* call-site and thread metadata region in KiB; 0: 256 */
    int level;            /* run-time level at start, BBX_LEVEL_ERROR .. BBX_LEVEL_TRACE; 0: TRACE */
    int discard;          /* nonzero: a full ring drops the newest events (default: overwrites the oldest) */
} bbx_config;

/* What bbx_start() returns; the same cases as bbx::start_status. */
typedef enum bbx_status {
    BBX_OK = 0,
    BBX_ALREADY_STARTED = 1, /* a session is running; bbx_stop() first */
    BBX_BAD_CONFIG = 2,      /* a size or level out of range */
    BBX_FILE_EXISTS = 3,     /* something is already at the path (file or symlink): never overwritten */
    BBX_OPEN_FAILED = 4,     /* open(2) failed for another reason (errno says why) */
    BBX_NO_SPACE = 5,        /* the file could not be given its full size (disk full?) */
    BBX_MAP_FAILED = 6,      /* mmap(2) failed */
    BBX_NOT_CONFIGURED = 7   /* bbx_start_from_env(): BBX_FILE is not set */
} bbx_status;

/* Creates the capture file (mode 0600, O_EXCL|O_NOFOLLOW), maps it and
 * switches recording on. cfg NULL: every default. On failure sets errno to
 * the system error (0 if none). Not signal-safe; costs a file creation and
 * ~2 ms of clock calibration. */
BBX_API bbx_status bbx_start(const bbx_config* cfg);

/* bbx_start() configured by BBX_FILE, BBX_RING_KB, BBX_THREADS, BBX_TASKS,
 * BBX_LEVEL and BBX_DISCARD, as the C++ bbx::start_from_env(). (bbx_start()
 * keeps the default task table, 4096 entries: the C API records no tasks.) A program linked with the
 * recorder already does this before main() when BBX_FILE is set. */
BBX_API bbx_status bbx_start_from_env(void);

/* One line naming the status, static storage. */
BBX_API const char* bbx_status_message(bbx_status status);

/* Switches recording off, marks the capture as ended cleanly and syncs it. */
BBX_API void bbx_stop(void);

/* The run-time level (BBX_LEVEL_OFF .. BBX_LEVEL_TRACE): events above it cost
 * one load and a branch. Thread-safe, signal-safe. */
BBX_API void bbx_set_level(int level);
BBX_API int bbx_level(void);

/* Names the calling thread in the capture (cut at 63 bytes). Cold path. */
BBX_API void bbx_set_thread_name(const char* name);

/* The running session's capture path, or NULL. */
BBX_API const char* bbx_current_path(void);

/* bbx::install_crash_handler() (bbx/crash.hpp): records SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE and SIGABRT into the capture, then passes the signal on.
 * Returns 1, or 0 if sigaction failed. */
BBX_API int bbx_install_crash_handler(void);

/* bbx::snapshot() (bbx/snapshot.hpp): writes an LZ4-compressed copy of the
 * capture to a new file at path. Returns 1, or 0 (and no file) on failure.
 * A static link then needs -llz4. */
BBX_API int bbx_snapshot(const char* path);

/* ---- events ------------------------------------------------------------------- */

/* BBXC_INSTANT(LEVEL, "category", "name", args...): a point in time. */
#define BBXC_INSTANT(level, ...)                                                                          \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_C_EVENT(1, BBX_LEVEL_##level, __VA_ARGS__), BBX_DETAIL_C_OFF(__VA_ARGS__))

/* BBXC_SPAN_BEGIN(var, LEVEL, "category", "name", args...) declares `var`
 * and records the beginning of a span; BBXC_SPAN_END(var) its end, on the
 * same thread. The end is recorded only if the beginning passed the level,
 * in the same session, so a span never ends without having begun. */
#define BBXC_SPAN_BEGIN(var, level, ...)                                                                  \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_C_SPAN_BEGIN(var, BBX_LEVEL_##level, __VA_ARGS__),                 \
                            BBX_DETAIL_C_SPAN_OFF(var, __VA_ARGS__))
#define BBXC_SPAN_END(var) bbx_detail_span_end_if(&(var))

/* BBXC_COUNTER_I64 / BBXC_COUNTER_F64(LEVEL, "category", "name", value): a
 * sample of a numeric series, as int64 or double. */
#define BBXC_COUNTER_I64(level, category, name, value)                                                    \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_C_EVENT(2, BBX_LEVEL_##level, category, name, (1, "value", value)), \
                            BBX_DETAIL_C_OFF(category, name, (1, "value", value)))
#define BBXC_COUNTER_F64(level, category, name, value)                                                    \
    BBX_DETAIL_GATE_##level(BBX_DETAIL_C_EVENT(2, BBX_LEVEL_##level, category, name, (3, "value", value)), \
                            BBX_DETAIL_C_OFF(category, name, (3, "value", value)))

/* Typed arguments: (type, name, value), the type as format.hpp's arg_type numbers it. */
#define BBXC_I64(name, ...) (1, name, __VA_ARGS__)
#define BBXC_U64(name, ...) (2, name, __VA_ARGS__)
#define BBXC_F64(name, ...) (3, name, __VA_ARGS__)
#define BBXC_BOOL(name, ...) (4, name, __VA_ARGS__)
#define BBXC_STR(name, ...) (5, name, __VA_ARGS__)

/* A span begun by BBXC_SPAN_BEGIN. */
typedef struct bbx_span {
    struct bbx_detail_site* site;
    uint64_t gate; /* the session's gate if the beginning was recorded; 0: no end to record */
} bbx_span;

/* ---- internals: not API, but part of the ABI ---------------------------------- */

/* One call site's static data, one per macro use: registered on its first
 * event of a session, like the C++ sites. `state` is bbx::detail::site_ref
 * and `info` bbx::detail::site_info, field for field (checked by the
 * library's static_asserts, recorder/src/c_api.cpp). */
typedef struct bbx_detail_site {
    uint64_t state; /* (session << 32) | id once registered */
    struct {
        uint8_t kind; /* format::site_kind: 0 span, 1 instant, 2 counter */
        uint8_t level;
        uint8_t nargs;
        uint8_t types[16]; /* format::arg_type */
        const char* category;
        const char* name;
        const char* file;
        uint32_t line;
        const char* function;
    } info;
    uint8_t nstrings; /* string arguments among them */
    const char* arg_names[16];
} bbx_detail_site;

typedef union bbx_detail_value {
    int64_t i;
    uint64_t u;
    double f;
    const char* s;
} bbx_detail_value;

/* Writes one event of `site` with its argument values, the gate passed.
 * `values` holds one value per argument, then a zero: an integer, a bool (0
 * or 1) or a double is the argument's word as it stands. Returns `gate` if
 * this thread recorded it in that session (a span then has an end to
 * record), else 0. */
BBX_API uint64_t bbx_detail_event(bbx_detail_site* site, uint64_t gate, const bbx_detail_value* values);
/* The end of a span whose beginning returned `gate`: recorded if the session is still the same. */
BBX_API void bbx_detail_span_end(bbx_detail_site* site, uint64_t gate);

static inline uint64_t bbx_detail_gate_open(int level) {
    uint64_t g = __atomic_load_n(&bbx_detail_gate.value, __ATOMIC_RELAXED);
    return (int)(g & 0xff) >= level ? g : 0;
}

static inline void bbx_detail_span_end_if(const bbx_span* span) {
    if (span->gate) bbx_detail_span_end(span->site, span->gate);
}

static inline bbx_detail_value bbx_detail_value_1(int64_t v) {
    bbx_detail_value r;
    r.i = v;
    return r;
}
static inline bbx_detail_value bbx_detail_value_2(uint64_t v) {
    bbx_detail_value r;
    r.u = v;
    return r;
}
static inline bbx_detail_value bbx_detail_value_3(double v) {
    bbx_detail_value r;
    r.f = v;
    return r;
}
static inline bbx_detail_value bbx_detail_value_4(int v) {
    bbx_detail_value r;
    r.u = v != 0;
    return r;
}
static inline bbx_detail_value bbx_detail_value_5(const char* v) {
    bbx_detail_value r;
    r.s = v;
    return r;
}

/* The parts of an argument (type, name, value). */
#define BBX_DETAIL_C_TYPE(t, n, ...) t,
#define BBX_DETAIL_C_NAME(t, n, ...) n,
#define BBX_DETAIL_C_VALUE(t, n, ...) BBX_DETAIL_CAT(bbx_detail_value_, t)(__VA_ARGS__),
#define BBX_DETAIL_C_UNUSED(t, n, ...) (void)sizeof(__VA_ARGS__);
#define BBX_DETAIL_C_IS_STRING(t, n, ...) +(t == 5)

/* BBX_DETAIL_C_MAP(m, z, category, name, a1, ..., aN): m a1 m a2 ... m aN, or z when N is 0. */
#define BBX_DETAIL_C_COUNT_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, \
                            _20, n, ...)                                                                          \
    n
#define BBX_DETAIL_C_MAP(m, z, ...)                                                                                \
    BBX_DETAIL_CAT(BBX_DETAIL_C_MAP_, BBX_DETAIL_C_COUNT_(__VA_ARGS__, MORE_THAN_16_ARGUMENTS,                     \
                                                          MORE_THAN_16_ARGUMENTS, 18, 17, 16, 15, 14, 13, 12, 11, \
                                                          10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0))(m, z, __VA_ARGS__)
#define BBX_DETAIL_C_NARGS(...)                                                                                    \
    BBX_DETAIL_C_COUNT_(__VA_ARGS__, 255, 255, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 255)
#define BBX_DETAIL_C_MAP_2(m, z, c, n) z
#define BBX_DETAIL_C_MAP_3(m, z, c, n, a) m a
#define BBX_DETAIL_C_MAP_4(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_3(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_5(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_4(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_6(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_5(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_7(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_6(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_8(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_7(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_9(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_8(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_10(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_9(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_11(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_10(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_12(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_11(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_13(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_12(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_14(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_13(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_15(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_14(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_16(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_15(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_17(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_16(m, z, c, n, __VA_ARGS__)
#define BBX_DETAIL_C_MAP_18(m, z, c, n, a, ...) m a BBX_DETAIL_C_MAP_17(m, z, c, n, __VA_ARGS__)

#define BBX_DETAIL_C_CATEGORY(c, ...) c
#define BBX_DETAIL_C_NAME_OF(c, n, ...) n

/* The static data of one call site of kind `kind` (0 span, 1 instant, 2 counter). */
#define BBX_DETAIL_C_SITE(kind, lvl, ...)                                                                  \
    {0,                                                                                                    \
     {kind, lvl, BBX_DETAIL_C_NARGS(__VA_ARGS__), {BBX_DETAIL_C_MAP(BBX_DETAIL_C_TYPE, 0, __VA_ARGS__)},    \
      BBX_DETAIL_C_CATEGORY(__VA_ARGS__, ~), BBX_DETAIL_C_NAME_OF(__VA_ARGS__, ~), __FILE__, __LINE__, __func__}, \
     0 BBX_DETAIL_C_MAP(BBX_DETAIL_C_IS_STRING, , __VA_ARGS__),                                             \
     {BBX_DETAIL_C_MAP(BBX_DETAIL_C_NAME, 0, __VA_ARGS__)}}

#define BBX_DETAIL_C_EVENT(kind, lvl, ...)                                                                 \
    do {                                                                                                   \
        static bbx_detail_site bbx_detail_site_ = BBX_DETAIL_C_SITE(kind, lvl, __VA_ARGS__);               \
        const uint64_t bbx_detail_gate_ = bbx_detail_gate_open(lvl);                                       \
        if (bbx_detail_gate_) {                                                                            \
            const bbx_detail_value bbx_detail_values_[] = {                                                \
                BBX_DETAIL_C_MAP(BBX_DETAIL_C_VALUE, , __VA_ARGS__){0}};                                   \
            bbx_detail_event(&bbx_detail_site_, bbx_detail_gate_, bbx_detail_values_);                     \
        }                                                                                                  \
    } while (0)

#define BBX_DETAIL_C_SPAN_BEGIN(var, lvl, ...)                                                             \
    bbx_span var;                                                                                          \
    do {                                                                                                   \
        static bbx_detail_site bbx_detail_site_ = BBX_DETAIL_C_SITE(0, lvl, __VA_ARGS__);                  \
        var.site = &bbx_detail_site_;                                                                      \
        var.gate = bbx_detail_gate_open(lvl);                                                              \
        if (var.gate) {                                                                                    \
            const bbx_detail_value bbx_detail_values_[] = {                                                \
                BBX_DETAIL_C_MAP(BBX_DETAIL_C_VALUE, , __VA_ARGS__){0}};                                   \
            var.gate = bbx_detail_event(&bbx_detail_site_, var.gate, bbx_detail_values_);                  \
        }                                                                                                  \
    } while (0)

#define BBX_DETAIL_C_SPAN_OFF(var, ...)                                                                    \
    bbx_span var = {0, 0};                                                                                 \
    BBX_DETAIL_C_OFF(__VA_ARGS__)

/* A removed event: its arguments named in unevaluated operands, so that no
 * variable becomes unused, and nothing of it reaches the binary. */
#define BBX_DETAIL_C_OFF(...)                                                                              \
    do {                                                                                                   \
        BBX_DETAIL_C_MAP(BBX_DETAIL_C_UNUSED, , __VA_ARGS__)                                               \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* BBX_BBX_H */
