// What the converters share to write several captures into one output (bbx
// merge; decoder-internal): times shifted onto the output's timeline, and
// the ends of the flows between spans, found on span begins.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bbx/decoder/merge.hpp"

namespace bbx::dec {

// ns + d, saturated: a damaged clock must not wrap around.
inline int64_t shifted(int64_t ns, int64_t d) {
    int64_t r;
    if (!__builtin_add_overflow(ns, d, &r)) return r;
    return d > 0 ? INT64_MAX : INT64_MIN;
}

// One end of a flow between spans, on a span's begin: the span (thread, its
// begin's ticks and site id) and the flow's id.
struct flow_mark {
    uint32_t thread = 0;
    uint64_t ticks = 0;
    uint32_t site = 0;
    uint64_t id = 0;
    bool start = false;  // the flow starts here; else it ends here
};
inline bool same_span_before(const flow_mark& a, const flow_mark& b) {
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.ticks != b.ticks) return a.ticks < b.ticks;
    return a.site < b.site;
}

// Per source, the flow ends on its spans, sorted by same_span_before; flow k
// (0-based) gets id_of(k).
template <class IdOf>
std::vector<std::vector<flow_mark>> flow_marks(size_t nsources, const std::vector<span_flow>& flows, IdOf&& id_of) {
    std::vector<std::vector<flow_mark>> marks(nsources);
    for (size_t k = 0; k < flows.size(); ++k) {
        const uint64_t id = id_of(k);
        const span_key& f = flows[k].from;
        const span_key& t = flows[k].to;
        if (f.source < nsources) marks[f.source].push_back({f.thread, f.ticks, f.site, id, true});
        if (t.source < nsources) marks[t.source].push_back({t.thread, t.ticks, t.site, id, false});
    }
    for (auto& m : marks) std::stable_sort(m.begin(), m.end(), same_span_before);
    return marks;
}

// The marks on the span that begins with event (thread, ticks, site id).
inline std::pair<std::vector<flow_mark>::const_iterator, std::vector<flow_mark>::const_iterator> marks_on(
    const std::vector<flow_mark>& marks, uint32_t thread, uint64_t ticks, uint32_t site) {
    return std::equal_range(marks.begin(), marks.end(), flow_mark{thread, ticks, site, 0, false}, same_span_before);
}

}  // namespace bbx::dec
