// bbx merge: several captures on one timeline (merge.cpp). How clocks are
// aligned, spans matched and offsets corrected is the comment block atop
// merge.cpp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bbx/decoder/filter.hpp"

namespace bbx::dec {


// One capture among several written into one output. An event's time in
// the output is its time in its capture (ns since that capture's anchor 0)
// plus offset_ns; pid is the process id the output shows for it.
struct merge_source {
    const capture* c = nullptr;
    int64_t offset_ns = 0;
    uint32_t pid = 0;
    const event_filter* filter = nullptr;  // the events written (null: all)
    losses* lost = nullptr;                // if set: what the capture lost (also stated in the output), once written
};

// A span as the converters pair begins and ends: its source (an index into
// the sources), its thread, and its span_begin's ticks and call-site id.
struct span_key {
    uint32_t source = 0, thread = 0;
    uint64_t ticks = 0;
    uint32_t site = 0;
    friend bool operator==(const span_key&, const span_key&) = default;
};

// An arrow from one span's begin to another's (a client span to the server
// span it caused).
struct span_flow {
    span_key from, to;
};

// The converters over several captures, written one after another into one
// trace; sources[0] is the reference:
// - Perfetto: timestamps are the reference's CLOCK_BOOTTIME at its anchor 0
//   plus the output time; only the reference's ClockSnapshot is written;
//   each source has its own process track (its pid) and sequences; a
//   span_flow is flow_ids on the from slice's begin and terminating_flow_ids
//   on the to slice's begin, a unique id per flow.
// - Chrome: ts is the output time in microseconds; pid per source; a
//   span_flow is a flow v1 pair {"ph":"s"} after the from slice's B and
//   {"ph":"f","bp":"e"} after the to slice's B, name and cat "rpc", ids 1 ..
//   flows.size() (wake flows are numbered after them).
// - OTLP: Unix ns = the reference's CLOCK_REALTIME at its anchor 0 plus the
//   output time; one resource (service.name, process.pid) per source.
// With one source (offset 0, its own pid) and no flows they write the same
// bytes as the one-capture forms. A read error names the capture that failed
// when there are several ("<name>: <message>").
bool write_perfetto(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                    std::string& err);
bool write_chrome(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                  std::string& err);
bool write_otlp(const std::vector<merge_source>& sources, std::FILE* out, std::string& err, uint64_t* spans = nullptr);

// How a capture's clock is first put on the reference's timeline.
enum class merge_base : uint8_t {
    reference,  // it is the reference (capture 0)
    monotonic,  // the same non-zero boot id as the reference: CLOCK_MONOTONIC
    realtime,   // another boot id, or one unknown: CLOCK_REALTIME
};

struct merge_options {
    bool correct = true;  // apply the correction the request/response pairs give (bbx merge --no-correct: false)
};

// A client span and the server span it caused: the server span's parent
// span id is the client span's id, in the same trace.
struct merge_pair {
    uint32_t client = 0, server = 0;  // capture indexes
    span_key client_span, server_span;
    // t1, t4: the client span's begin and end; t2, t3: the server span's.
    // Each in ns since its own capture's anchor 0.
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    bool complete = false;  // both spans ended in their captures (else: no sample, only the flow)
};

struct merge_capture {
    std::string name;           // capture::name()
    std::string process_name;
    uint32_t pid = 0;           // in its header
    uint32_t shown_pid = 0;     // in the output: pid, or a stand-in if an earlier capture has the same
    merge_base base = merge_base::reference;
    int64_t base_offset_ns = 0;  // the base alignment: its times plus this are the reference's (its start there)
    int64_t first_ns = 0, last_ns = 0;  // its earliest and latest event, own time (first > last: none)
    uint64_t context_spans = 0;  // spans with a client or server span_context
    // The correction, from its complete pairs with captures placed before it:
    uint32_t aligned_to = 0;    // the placed capture it shares the most pairs with (itself: none)
    uint64_t pairs = 0;         // complete pairs used
    uint64_t outside_base = 0;  // of them, server spans outside their client span under the base alignment
    bool has_estimate = false;  // pairs > 0
    bool consistent = false;    // one offset puts the server span inside the client span in every pair
    int64_t estimate_ns = 0;    // how far its base-aligned clock runs ahead of the placed captures'
    int64_t uncertainty_ns = 0; // the estimate is good to +-this
    bool applied = false;
    int64_t correction_ns = 0;  // added to its base-aligned times: -estimate_ns if applied, else 0
    int64_t offset_ns = 0;      // the result: base_offset_ns + correction_ns
    // After the merge, complete pairs with any capture placed before it (or
    // within it), and of them those whose server span is outside:
    uint64_t checked = 0, outside_final = 0;
};

struct merge_plan {
    std::vector<merge_capture> captures;  // in input order; [0] is the reference
    std::vector<merge_pair> pairs;
    int64_t earliest_ns = 0;  // the earliest event of all captures on the reference's timeline
    bool corrected = true;    // merge_options::correct
};

// One pass over each capture: spans with contexts, pairs, alignments. On a
// read error returns false with err = "<capture name>: <message>".
bool plan_merge(const std::vector<const capture*>& caps, const merge_options& opt, merge_plan& plan, std::string& err);

enum class merge_format : uint8_t { perfetto, chrome, otlp };

// The sources and flows for the inputs (the captures plan_merge planned, in
// its order, each with the filter of what is written) under plan (Chrome's
// times start at the earliest event of all), then the converter.
std::vector<merge_source> merge_sources(const std::vector<input>& ins, const merge_plan& plan, merge_format f);
std::vector<span_flow> merge_flows(const merge_plan& plan);
// spans: if given and the format is OTLP, the spans written (0: nothing to export).
bool write_merge(const std::vector<input>& ins, const merge_plan& plan, merge_format f, std::FILE* out,
                 std::string& err, uint64_t* spans = nullptr);

// bbx merge --verbose: per capture its pid, process, base alignment, pairs,
// the offset estimated, its uncertainty, and the correction applied.
std::string merge_report(const merge_plan& plan);

}  // namespace bbx::dec
