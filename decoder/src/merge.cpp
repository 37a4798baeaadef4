// bbx merge: the captures of several processes on one timeline, with an
// arrow from each client span to the server span it caused.
//
// The timeline is the first capture's, the reference: a time on it is ns
// since the reference's anchor 0, in the reference's clocks. Each capture
// gets one offset, added to its own times (ns since its anchor 0).
//
// 1. Base alignment, from the captures' clock anchors (spec/file.md,
//    "Clock anchors" and "Boot id"). A capture whose boot id equals the
//    reference's, both non-zero, ran on the same kernel in the same boot:
//    CLOCK_MONOTONIC is one clock there, and the offset is the difference
//    of the anchors' monotonic_ns. Any other capture (another host, another
//    boot, or a boot id unknown) is aligned by CLOCK_REALTIME, which is only
//    as close as the hosts' clocks are kept (NTP: milliseconds, or worse).
//
// 2. Pairs. A client span is one whose span_context has role client (3); a
//    server span has role server (2). A server span and a client span pair
//    when the server span's parent span id is the client span's span id and
//    their trace ids are equal. Spans and their identities are the
//    timeline's (timeline.hpp), as every converter writes them, so the flow
//    ends land on the slices the converters write. A pair of which a span
//    never ended is drawn, but gives no sample.
//
// 3. Correction, as NTP estimates a peer's offset. A pair gives t1, t4 (the
//    client span's begin and end) and t2, t3 (the server span's), each on
//    its own capture's base-aligned timeline. If the server's clock runs
//    ahead by theta, the server span lies inside the client span exactly when
//        t3 - t4 <= theta <= t2 - t1,
//    an interval of width delay = (t4 - t1) - (t3 - t2) around NTP's
//    estimate ((t2 - t1) + (t3 - t4)) / 2. Every pair must hold, so the
//    estimate is the middle of the intersection of all the pairs'
//    intervals, and its uncertainty is half the intersection's width: with
//    one pair that is NTP's offset and delay / 2, and each further pair can
//    only narrow it (the correctness intervals of NTP's clock selection).
//    Putting every server span inside its client span is then guaranteed
//    whenever some offset does (the intervals meet). When they do not meet
//    (the clocks drift apart during the captures, or a span context is
//    wrong), no offset can; the estimate is then NTP's clock filter: the
//    pair with the smallest delay, uncertainty that delay / 2.
//
//    The correction is applied only when the base alignment puts some server
//    span outside its client span. Every offset inside the intersection fits
//    what the pairs show, and a base alignment that fits is kept: on one
//    host it is exact to a microsecond, better than any estimate from
//    spans, and between hosts it is the best the clocks know. Applied, it
//    moves the capture by minus the estimate. bbx merge --no-correct
//    (merge_options::correct = false) measures and reports, and moves nothing.
//
// 4. More than two captures: the reference is placed first. Then, again and
//    again, the unplaced capture with the most complete pairs with placed
//    captures is placed, its estimate taken from all those pairs against the
//    placed captures' final timelines. So offsets propagate along the graph
//    of pairs from the reference. When no unplaced capture has pairs with a
//    placed one, the first unplaced capture is placed by its base alignment
//    alone, and the captures joined to it by pairs follow it.
//
// 5. Output. Perfetto: the reference's CLOCK_BOOTTIME; Chrome: microseconds
//    after the earliest event of all captures; OTLP: the reference's Unix
//    time (CLOCK_REALTIME). One process per capture with its pid; a capture
//    with the pid of an earlier one is shown with pid + 10 000 000 (above
//    Linux's pid_max, so no real process), or the next free multiple above.
#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bbx/decoder.hpp"
#include "timeline.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr uint32_t pid_stand_in = 10'000'000;

struct ctx_span {
    span_key key;
    int64_t begin_ns = 0, end_ns = 0;
    bool ended = false;
    uint64_t trace_hi = 0, trace_lo = 0, span_id = 0, parent = 0;
    uint8_t role = 0;
};

struct scan_result {
    std::vector<ctx_span> spans;  // client and server spans
    int64_t first_ns = INT64_MAX, last_ns = INT64_MIN;
};

// The spans of the timeline with a client or server identity, as they end.
struct scanner : tl::sink {
    uint32_t source;
    scan_result& out;
    scanner(uint32_t src, scan_result& o) : source(src), out(o) {}

    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site*) {
        if (s.kind != tl::slice_kind::span || !s.identified) return;
        const uint8_t role = s.identity.role;
        if (role != uint8_t(fmt::span_role::client) && role != uint8_t(fmt::span_role::server)) return;
        ctx_span& k = out.spans.emplace_back();
        k.key = {source, t.index, s.ticks, s.where->id};
        k.begin_ns = s.begin_ns;
        k.end_ns = std::max(ns, s.begin_ns);
        k.ended = how != tl::end_how::unfinished;
        k.trace_hi = s.identity.trace_hi;
        k.trace_lo = s.identity.trace_lo;
        k.span_id = s.identity.span_id;
        k.parent = s.identity.parent_span_id;
        k.role = role;
    }
};

// One pass over every event: the spans with a client or server context, and
// the first and last event times.
bool scan(const capture& c, uint32_t source, scan_result& out, std::string& err) {
    scanner sc(source, out);
    tl::timeline<scanner> t(c, sc);
    auto r = tl::run(input(c), t);
    if (r.is_error()) {
        err = c.name() + ": " + r.err().message();
        return false;
    }
    out.first_ns = t.first_ns;
    out.last_ns = t.last_ns;
    return true;
}

int64_t clamp64(__int128 v) {
    if (v > INT64_MAX) return INT64_MAX;
    if (v < INT64_MIN) return INT64_MIN;
    return int64_t(v);
}

bool nonzero(const unsigned char id[16]) {
    for (int i = 0; i < 16; ++i)
        if (id[i]) return true;
    return false;
}

// "+250.012345 ms"
std::string ms(int64_t ns, bool sign = true) {
    char b[48];
    const uint64_t a = ns < 0 ? uint64_t(0) - uint64_t(ns) : uint64_t(ns);
    std::snprintf(b, sizeof b, "%s%llu.%06llu ms", ns < 0 ? "-" : sign ? "+" : "", static_cast<unsigned long long>(a / 1000000),
                  static_cast<unsigned long long>(a % 1000000));
    return b;
}

struct id_key {
    uint64_t hi, lo, span;
    bool operator==(const id_key&) const = default;
};
struct id_hash {
    size_t operator()(const id_key& k) const {
        uint64_t h = k.hi * 0x9e3779b97f4a7c15ull ^ k.lo;
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull ^ k.span;
        return size_t(h ^ (h >> 32));
    }
};

// The interval of offsets (how far capture b's clock runs ahead) that puts
// pair p's server span inside its client span, given the other capture's
// offset and b's base offset.
struct sample {
    __int128 lo, hi;
};
sample sample_of(const merge_pair& p, uint32_t b, int64_t b_offset, int64_t other_offset) {
    const bool b_client = p.client == b;
    const __int128 oc = b_client ? b_offset : other_offset;
    const __int128 os = b_client ? other_offset : b_offset;
    const __int128 t1 = p.t1 + oc, t4 = p.t4 + oc, t2 = p.t2 + os, t3 = p.t3 + os;
    // b is the server: theta in [t3 - t4, t2 - t1]; b is the client: the same interval, negated.
    if (b_client) return {t1 - t2, t4 - t3};
    return {t3 - t4, t2 - t1};
}

bool inside(const merge_pair& p, const std::vector<merge_capture>& caps) {
    const __int128 oc = caps[p.client].offset_ns, os = caps[p.server].offset_ns;
    return p.t2 + os >= p.t1 + oc && p.t3 + os <= p.t4 + oc;
}

}  // namespace

bool plan_merge(const std::vector<const capture*>& caps, const merge_options& opt, merge_plan& plan, std::string& err) {
    plan = merge_plan{};
    plan.corrected = opt.correct;
    const size_t n = caps.size();
    if (n == 0) return true;
    std::vector<scan_result> scans(n);
    for (size_t i = 0; i < n; ++i)
        if (!scan(*caps[i], uint32_t(i), scans[i], err)) return false;

    // Base alignment, pids.
    const header_info& ref = caps[0]->header();
    std::vector<uint32_t> shown;
    for (size_t i = 0; i < n; ++i) {
        const header_info& h = caps[i]->header();
        merge_capture& m = plan.captures.emplace_back();
        m.name = caps[i]->name();
        m.process_name = h.process_name;
        m.pid = h.pid;
        m.aligned_to = uint32_t(i);
        if (i == 0) {
            m.base = merge_base::reference;
        } else if (nonzero(h.boot_id) && std::memcmp(h.boot_id, ref.boot_id, 16) == 0) {
            m.base = merge_base::monotonic;
            m.base_offset_ns = int64_t(h.anchors[0].monotonic_ns - ref.anchors[0].monotonic_ns);
        } else {
            m.base = merge_base::realtime;
            m.base_offset_ns = int64_t(h.anchors[0].realtime_ns - ref.anchors[0].realtime_ns);
        }
        m.offset_ns = m.base_offset_ns;
        m.first_ns = scans[i].first_ns;
        m.last_ns = scans[i].last_ns;
        m.context_spans = scans[i].spans.size();
        uint32_t pid = h.pid;
        for (uint64_t k = 1; std::find(shown.begin(), shown.end(), pid) != shown.end(); ++k)
            pid = uint32_t(h.pid + k * pid_stand_in);
        shown.push_back(pid);
        m.shown_pid = pid;
    }

    // Pairs: each server span with the client span its parent id names.
    std::unordered_map<id_key, const ctx_span*, id_hash> clients;
    for (const scan_result& s : scans)
        for (const ctx_span& k : s.spans)
            if (k.role == uint8_t(fmt::span_role::client)) clients.try_emplace(id_key{k.trace_hi, k.trace_lo, k.span_id}, &k);
    for (const scan_result& s : scans)
        for (const ctx_span& k : s.spans) {
            if (k.role != uint8_t(fmt::span_role::server) || !k.parent) continue;
            auto it = clients.find(id_key{k.trace_hi, k.trace_lo, k.parent});
            if (it == clients.end()) continue;
            const ctx_span& c = *it->second;
            merge_pair& p = plan.pairs.emplace_back();
            p.client = c.key.source;
            p.server = k.key.source;
            p.client_span = c.key;
            p.server_span = k.key;
            p.t1 = c.begin_ns;
            p.t4 = c.end_ns;
            p.t2 = k.begin_ns;
            p.t3 = k.end_ns;
            p.complete = c.ended && k.ended;
        }

    // Placement: the reference, then the capture with the most pairs to placed ones.
    std::vector<bool> placed(n, false);
    std::vector<uint32_t> order = {0};
    placed[0] = true;
    for (;;) {
        size_t best = n;
        uint64_t best_count = 0;
        for (size_t b = 1; b < n; ++b) {
            if (placed[b]) continue;
            uint64_t count = 0;
            for (const merge_pair& p : plan.pairs) {
                if (!p.complete || p.client == p.server) continue;
                if ((p.client == b && placed[p.server]) || (p.server == b && placed[p.client])) ++count;
            }
            if (count > best_count) best = b, best_count = count;
        }
        if (best == n) {
            // None is joined to a placed capture: the first unplaced one keeps
            // its base alignment, and the captures joined to it follow it.
            best = size_t(std::find(placed.begin(), placed.end(), false) - placed.begin());
            if (best == n) break;
            placed[best] = true;
            order.push_back(uint32_t(best));
            continue;
        }
        const auto b = uint32_t(best);
        merge_capture& m = plan.captures[b];
        __int128 lo = INT64_MIN, hi = INT64_MAX;
        sample fastest{0, 0};
        __int128 fastest_delay = -1;
        std::vector<uint64_t> with(n, 0);
        for (const merge_pair& p : plan.pairs) {
            if (!p.complete || p.client == p.server) continue;
            const uint32_t other = p.client == b ? p.server : p.server == b ? p.client : UINT32_MAX;
            if (other == UINT32_MAX || !placed[other]) continue;
            const sample s = sample_of(p, b, m.base_offset_ns, plan.captures[other].offset_ns);
            ++m.pairs;
            ++with[other];
            if (!(s.lo <= 0 && 0 <= s.hi)) ++m.outside_base;
            lo = std::max(lo, s.lo);
            hi = std::min(hi, s.hi);
            const __int128 delay = s.hi > s.lo ? s.hi - s.lo : 0;
            if (fastest_delay < 0 || delay < fastest_delay) fastest = s, fastest_delay = delay;
        }
        m.aligned_to = uint32_t(std::max_element(with.begin(), with.end()) - with.begin());
        m.has_estimate = true;
        m.consistent = lo <= hi;
        if (m.consistent) {
            m.estimate_ns = clamp64(lo + (hi - lo) / 2);
            m.uncertainty_ns = clamp64((hi - lo + 1) / 2);
        } else {
            m.estimate_ns = clamp64(fastest.lo + (fastest.hi - fastest.lo) / 2);
            m.uncertainty_ns = clamp64((fastest_delay + 1) / 2);
        }
        m.applied = opt.correct && m.outside_base > 0;
        if (m.applied) {
            m.correction_ns = clamp64(-__int128(m.estimate_ns));
            m.offset_ns = clamp64(__int128(m.base_offset_ns) + m.correction_ns);
        }
        placed[b] = true;
        order.push_back(b);
    }

    // Pairs still outside after the merge, counted for the later placed of the two.
    std::vector<size_t> rank(n, n);
    for (size_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
    for (const merge_pair& p : plan.pairs) {
        if (!p.complete) continue;
        const uint32_t later = rank[p.client] >= rank[p.server] ? p.client : p.server;
        ++plan.captures[later].checked;
        if (!inside(p, plan.captures)) ++plan.captures[later].outside_final;
    }

    bool any = false;
    int64_t earliest = 0;
    for (const merge_capture& m : plan.captures) {
        if (m.first_ns > m.last_ns) continue;
        const int64_t t = clamp64(__int128(m.first_ns) + m.offset_ns);
        if (!any || t < earliest) earliest = t;
        any = true;
    }
    plan.earliest_ns = earliest;
    return true;
}

std::vector<merge_source> merge_sources(const std::vector<input>& ins, const merge_plan& plan, merge_format f) {
    std::vector<merge_source> s;
    for (size_t i = 0; i < ins.size() && i < plan.captures.size(); ++i) {
        const merge_capture& m = plan.captures[i];
        int64_t off = m.offset_ns;
        if (f == merge_format::chrome) off = clamp64(__int128(off) - plan.earliest_ns);
        s.push_back({ins[i].cap, off, m.shown_pid, ins[i].filter});
    }
    return s;
}

std::vector<span_flow> merge_flows(const merge_plan& plan) {
    std::vector<span_flow> f;
    f.reserve(plan.pairs.size());
    for (const merge_pair& p : plan.pairs) f.push_back({p.client_span, p.server_span});
    return f;
}

bool write_merge(const std::vector<input>& ins, const merge_plan& plan, merge_format f, std::FILE* out,
                 std::string& err, uint64_t* spans) {
    const std::vector<merge_source> sources = merge_sources(ins, plan, f);
    switch (f) {
        case merge_format::perfetto: return write_perfetto(sources, merge_flows(plan), out, err);
        case merge_format::chrome: return write_chrome(sources, merge_flows(plan), out, err);
        case merge_format::otlp: return write_otlp(sources, out, err, spans);
    }
    return false;
}

std::string merge_report(const merge_plan& plan) {
    std::string o;
    auto line = [&](const char* label, const std::string& text) {
        o += "  ";
        o += label;
        o.append(12 - std::strlen(label), ' ');
        o += text;
        o += '\n';
    };
    for (size_t i = 0; i < plan.captures.size(); ++i) {
        const merge_capture& m = plan.captures[i];
        o += "capture " + std::to_string(i) + ": " + printable(m.name) + "\n";
        std::string proc = (m.process_name.empty() ? std::string("(no name)") : printable(m.process_name)) + ", pid " +
                           std::to_string(m.pid);
        if (m.shown_pid != m.pid) {
            size_t same = 0;
            while (same < i && plan.captures[same].pid != m.pid) ++same;
            proc += ", shown as pid " + std::to_string(m.shown_pid) + " (capture " + std::to_string(same) +
                    " has the same pid)";
        }
        line("process", proc);
        switch (m.base) {
            case merge_base::reference: line("base", "the reference: the timeline is its clocks"); break;
            case merge_base::monotonic:
                line("base", "CLOCK_MONOTONIC (same boot id as capture 0: same host), starts at " +
                                 ms(m.base_offset_ns));
                break;
            case merge_base::realtime:
                line("base", "CLOCK_REALTIME (boot id differs from capture 0's, or unknown), starts at " +
                                 ms(m.base_offset_ns));
                break;
        }
        uint64_t total = 0;
        for (const merge_pair& p : plan.pairs)
            if (p.client != p.server && (p.client == i || p.server == i)) ++total;
        if (i == 0) {
            line("pairs", std::to_string(total) + " with other captures");
            line("correction", "none: the reference");
            continue;
        }
        if (!m.has_estimate) {
            line("pairs", std::to_string(total) + " with other captures, none (complete) with one aligned before it");
            line("correction", "none: the base alignment stands");
            continue;
        }
        line("pairs", std::to_string(m.pairs) + " with aligned captures (most with capture " + std::to_string(m.aligned_to) +
                          "); the base alignment puts " + std::to_string(m.outside_base) +
                          " server spans outside their client spans");
        line("estimate", "its clock is " + ms(m.estimate_ns) + " +- " + ms(m.uncertainty_ns, false) + " ahead (" +
                             (m.consistent ? "the middle of what all " + std::to_string(m.pairs) + " pairs allow"
                                           : std::string("no offset fits every pair: NTP's estimate from the fastest")) +
                             ")");
        if (m.applied)
            line("correction", ms(m.correction_ns) + " +- " + ms(m.uncertainty_ns, false) + " applied");
        else if (!plan.corrected && m.outside_base)
            line("correction", "not applied (--no-correct)");
        else
            line("correction", "none: the base alignment puts every server span inside its client span");
        line("result", "starts at " + ms(m.offset_ns) + "; " + std::to_string(m.outside_final) + " of " +
                           std::to_string(m.checked) + " server spans outside their client spans");
    }
    return o;
}

}  // namespace bbx::dec
