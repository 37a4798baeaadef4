/* What the C++ header (bbx/bbx.hpp) and the C header (bbx/bbx.h) share: the
 * levels, the compile-time switches and the export macro. C and C++.
 *
 * Levels: ERROR, WARN, INFO, DEBUG, TRACE. Compile with
 * -DBBX_LEVEL_MAX=BBX_LEVEL_INFO to remove every DEBUG and TRACE event from the
 * binary (no code, no strings); with -DBBX_DISABLE to remove all of them.
 * The BBX_DETAIL_* macros are internal and not API. */
#ifndef BBX_COMMON_H
#define BBX_COMMON_H

#define BBX_LEVEL_OFF 0
#define BBX_LEVEL_ERROR 1
#define BBX_LEVEL_WARN 2
#define BBX_LEVEL_INFO 3
#define BBX_LEVEL_DEBUG 4
#define BBX_LEVEL_TRACE 5

#ifndef BBX_LEVEL_MAX
#define BBX_LEVEL_MAX BBX_LEVEL_TRACE
#endif
#ifdef BBX_DISABLE
#undef BBX_LEVEL_MAX
#define BBX_LEVEL_MAX BBX_LEVEL_OFF
#endif

/* Per-level switches: BBX_DETAIL_GATE_INFO(on, off) is `on` when INFO events
 * are compiled in, else `off`. */
#if BBX_LEVEL_MAX >= BBX_LEVEL_ERROR
#define BBX_DETAIL_GATE_ERROR(on, off) on
#else
#define BBX_DETAIL_GATE_ERROR(on, off) off
#endif
#if BBX_LEVEL_MAX >= BBX_LEVEL_WARN
#define BBX_DETAIL_GATE_WARN(on, off) on
#else
#define BBX_DETAIL_GATE_WARN(on, off) off
#endif
#if BBX_LEVEL_MAX >= BBX_LEVEL_INFO
#define BBX_DETAIL_GATE_INFO(on, off) on
#else
#define BBX_DETAIL_GATE_INFO(on, off) off
#endif
#if BBX_LEVEL_MAX >= BBX_LEVEL_DEBUG
#define BBX_DETAIL_GATE_DEBUG(on, off) on
#else
#define BBX_DETAIL_GATE_DEBUG(on, off) off
#endif
#if BBX_LEVEL_MAX >= BBX_LEVEL_TRACE
#define BBX_DETAIL_GATE_TRACE(on, off) on
#else
#define BBX_DETAIL_GATE_TRACE(on, off) off
#endif

#define BBX_DETAIL_CAT2(a, b) a##b
#define BBX_DETAIL_CAT(a, b) BBX_DETAIL_CAT2(a, b)

/* What libbbx_recorder.so exports. The library is built with
 * -fvisibility=hidden; everything marked BBX_API is its ABI, including the
 * bbx::detail symbols the inline hot path reaches (the gate, the thread's
 * ring, the cold registration paths): internal, not API, but part of the ABI,
 * so changing them means a new SONAME. So does a change of the slot layout
 * (bbx/format.hpp), which the inline hot path writes. */
#if defined(__GNUC__) || defined(__clang__)
#define BBX_API __attribute__((visibility("default")))
#else
#define BBX_API
#endif

#include <stdint.h>

/* The recording gate: (session << 8) | run-time level, 0 while no session
 * runs; one relaxed load decides whether an event is recorded. Written by
 * start(), stop() and set_level(); read inline by every event, from C++ and
 * from C. Internal (C++: bbx::detail::g_gate), part of the ABI. */
struct bbx_detail_gate_word {
    uint64_t value;
} __attribute__((aligned(64)));

#ifdef __cplusplus
extern "C" {
#endif
extern BBX_API struct bbx_detail_gate_word bbx_detail_gate;
#ifdef __cplusplus
}
#endif

#endif /* BBX_COMMON_H */
