/* Instantiates the probes of bench/lttng_tp.h (and defines the tracepoint),
 * linked into the benchmark with -llttng-ust. */
#define TRACEPOINT_CREATE_PROBES
#define TRACEPOINT_DEFINE
#include "lttng_tp.h"
