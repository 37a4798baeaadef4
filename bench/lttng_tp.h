/* The LTTng-UST tracepoint provider of the benchmark: one event carrying one
 * 64-bit integer, as blackbox's instant event does. Written by hand (the
 * TRACEPOINT_EVENT form lttng-gen-tp would produce); bench/lttng_tp.c
 * instantiates the probes. */
#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER bbx_bench

#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./lttng_tp.h"

#if !defined(BBX_BENCH_LTTNG_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define BBX_BENCH_LTTNG_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

TRACEPOINT_EVENT(bbx_bench, instant_int,
                 TP_ARGS(int64_t, i),
                 TP_FIELDS(ctf_integer(int64_t, i, i)))

#endif

#include <lttng/tracepoint-event.h>
