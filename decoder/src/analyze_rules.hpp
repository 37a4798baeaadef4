// bbx analyze (decoder-internal): what the reports (analyze_reports.cpp)
// read of the rules (analyze_rules.cpp), and the text both use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bbx/decoder/analyze.hpp"

namespace bbx::dec::an {

// to - from, or 0 when to is not later; saturates instead of overflowing
// (times in a damaged file may be anything).
int64_t elapsed(int64_t from, int64_t to);
// "1.234567 s"
std::string secs(int64_t ns);
// 3 significant digits with a unit: 950 ns, 12.3 us, 4.56 ms, 1.20 s.
std::string dur(int64_t ns);
// "file:line", or "?" when unknown.
std::string loc_text(const code_location& l);
// "outer > inner (1.20 ms at file:line)": the spans, then the last one's length and line.
std::string span_path(const std::vector<std::string>& spans, int64_t last_ns, const std::string& at = "");

// The rules, run over one input's timeline.
class rules {
public:
    // Reads in's events into the rules (one pass).
    static result<std::unique_ptr<rules>> run(const input& in, const analyze_options& opt);
    ~rules();
    // The analysis, once: its tasks are the first `limit` reports in report
    // order; report_order and fill_report give any of them.
    analysis finish(size_t limit);
    size_t task_count() const;
    // Task indexes, busiest first (then by id); only the first `limit`.
    std::vector<uint32_t> report_order(size_t limit) const;
    // The report of task `task` into r (every field set: r may hold another's).
    void fill_report(uint32_t task, task_report& r) const;
    bool task_index(uint64_t id, uint32_t& task) const;

private:
    rules();
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace bbx::dec::an
