// bbx analyze, its reports: the analysis as text (a table of tasks, busiest
// first, at most 50 unless --all; threads; warnings, or "warnings: none"),
// durations with 3 significant digits and a unit; or as one JSON object
// {capture, tasks (all), threads, warnings} with every time in ns, written
// with json_writer. Reports are made as they are written, the JSON task
// reports one at a time: a capture's tasks may be many. The rules they
// report are analyze_rules.cpp's.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "analyze_rules.hpp"
#include "bbx/decoder.hpp"
#include "json.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

namespace {

using an::dur;
using an::elapsed;
using an::loc_text;
using an::secs;
using an::span_path;

constexpr size_t default_rows = 50;

std::string base_name(const std::string& f) {
    size_t k = f.find_last_of('/');
    return k == std::string::npos ? f : f.substr(k + 1);
}

std::string short_loc(const code_location& l) {
    if (l.line == 0 && l.file.empty()) return "-";
    return base_name(l.file) + ":" + std::to_string(l.line);
}

std::string human_bytes(uint64_t n) {
    char b[32];
    if (n == 0) return "-";
    if (n >= (1u << 20)) std::snprintf(b, sizeof b, "%.1f MiB", double(n) / (1 << 20));
    else if (n >= 1024) std::snprintf(b, sizeof b, "%.1f KiB", double(n) / 1024);
    else std::snprintf(b, sizeof b, "%" PRIu64 " B", n);
    return b;
}

// A table whose columns are as wide as their widest cell; numbers right-aligned.
struct table {
    std::vector<std::vector<std::string>> rows;
    std::vector<bool> right;
    void render(std::string& o) const {
        std::vector<size_t> w(right.size(), 0);
        for (const auto& r : rows)
            for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
        for (const auto& r : rows) {
            std::string line = " ";
            for (size_t i = 0; i < r.size() && i < w.size(); ++i) {
                line += ' ';
                size_t pad = w[i] - r[i].size();
                if (right[i]) line.append(pad, ' ');
                line += r[i];
                if (!right[i] && i + 1 < r.size()) line.append(pad, ' ');
            }
            while (!line.empty() && line.back() == ' ') line.pop_back();
            o += line;
            o += '\n';
        }
    }
};

std::string name_cell(const std::string& n, bool seen) { return n.empty() ? (seen ? "-" : "?") : n; }

// When what the rings held cut the analysis short: which rings wrapped or
// filled, the tasks seen without their spawn, and the ring size that would
// have held the whole run.
void window_text(const analysis& a, std::string& o) {
    const losses& l = a.loss;
    if (!l.rings_wrapped && !l.rings_full && !a.tasks_spawn_unseen) return;
    std::string w;
    auto rings = [&](uint32_t n, const char* what) {
        if (!w.empty()) w += ", ";
        w += std::to_string(n) + " of " + std::to_string(l.threads) + (l.threads == 1 ? " ring " : " rings ") + what;
    };
    if (l.rings_wrapped)
        rings(l.rings_wrapped, l.rings_wrapped == 1 ? "wrapped (its oldest events overwritten)"
                                                    : "wrapped (their oldest events overwritten)");
    if (l.rings_full)
        rings(l.rings_full, l.rings_full == 1 ? "filled (its newest events dropped)" : "filled (their newest events dropped)");
    if (a.tasks_spawn_unseen) {
        if (!w.empty()) w += "; ";
        w += std::to_string(a.tasks_spawn_unseen) + (a.tasks_spawn_unseen == 1 ? " task" : " tasks") +
             " polled or woken but never seen spawned";
        if (!l.rings_wrapped && !l.rings_full) w += " (spawned before recording began, unrecorded, or outside the filter)";
    }
    o += "window    " + w + "\n";
    if (a.suggested_ring_kb) {
        char b[200];
        std::snprintf(b, sizeof b,
                      "          to hold the whole run, grow the rings %.1fx: ring_kb %u -> %u (BBX_RING_KB=%u)%s\n",
                      a.ring_growth, a.ring_kb, a.suggested_ring_kb, a.suggested_ring_kb,
                      double(a.suggested_ring_kb) < double(a.ring_kb) * a.ring_growth ? ", the largest, still too small"
                                                                                      : "");
        o += b;
    }
}

// a.tasks: the first rows of the ntasks (all of them with --all);
// find_task(id): the report of any task, or null.
void put_stacks(std::string& o, const analysis_warning& w);  // below

template <class FindTask>
void text_report(const analysis& a, size_t ntasks, const FindTask& find_task, const analyze_options& opt, std::string& o) {
    char b[256];
    o += "bbx analyze: " + printable(a.file) + "\n";
    std::snprintf(b, sizeof b, "capture   %s, from %s to %s; %zu task%s, %zu thread%s polling, %" PRIu64 " task events\n",
                  dur(elapsed(a.start_ns, a.end_ns)).c_str(), secs(a.start_ns).c_str(), secs(a.end_ns).c_str(),
                  ntasks, ntasks == 1 ? "" : "s", a.threads.size(), a.threads.size() == 1 ? "" : "s",
                  a.task_events);
    o += b;
    o += "losses    " + a.loss.text() + "\n";
    window_text(a, o);

    o += "\ntasks, busiest first (sched: woken until polled; idle: lifetime - busy - sched; state at the end)\n";
    if (ntasks == 0) {
        o += "  none: the capture has no task events\n";
    } else {
        table t;
        t.right = {true, false, false, true, false, true, true, true, true, true, true, true, true, true, true, false};
        t.rows.push_back({"task", "name", "spawned at", "by", "state", "polls", "busy", "sched", "idle", "sched p50",
                          "p99", "max", "wakes", "self", "frame", "longest poll"});
        size_t n = opt.all ? ntasks : std::min(ntasks, default_rows);
        for (size_t i = 0; i < n; ++i) {
            const task_report& r = a.tasks[i];
            std::string longest = "-";
            if (r.polls) {
                longest = dur(r.longest_poll_ns);
                if (r.longest_poll_unfinished) longest += " still running";
                else if (r.longest_poll_await.line) longest += " at " + short_loc(r.longest_poll_await);
                if (!r.longest_poll_spans.empty()) longest += " in " + span_path(r.longest_poll_spans, 0);
            }
            bool s = r.scheduled_count > 0;
            t.rows.push_back({std::to_string(r.id), name_cell(r.name, r.spawn_seen), short_loc(r.spawned_at),
                              r.parent ? std::to_string(r.parent) : "-", task_end_state_name(r.state),
                              std::to_string(r.polls), dur(r.busy_ns), dur(r.scheduled_ns), dur(r.idle_ns),
                              s ? dur(r.sched_p50_ns) : "-", s ? dur(r.sched_p99_ns) : "-",
                              s ? dur(r.sched_max_ns) : "-", std::to_string(r.wakes), std::to_string(r.self_wakes),
                              human_bytes(r.frame_bytes), longest});
        }
        t.render(o);
        if (n < ntasks)
            o += "  ... " + std::to_string(ntasks - n) + " more tasks (--all lists them)\n";
    }

    o += "\nthreads that polled tasks (busy: time inside polls, over the capture's span)\n";
    if (a.threads.empty()) {
        o += "  none\n";
    } else {
        table t;
        t.right = {false, true, false, true, true, true, false};
        t.rows.push_back({"thread", "tid", "name", "polls", "busy", "busy %", "longest poll"});
        for (const thread_report& r : a.threads) {
            std::snprintf(b, sizeof b, "%.1f%%", 100.0 * r.busy_fraction);
            std::string longest = dur(r.longest_poll_ns);
            if (const task_report* tr = find_task(r.longest_poll_task)) {
                longest += " (task " + std::to_string(tr->id);
                if (!tr->name.empty()) longest += " " + tr->name;
                longest += ")";
            }
            t.rows.push_back({"T" + std::to_string(r.ring), std::to_string(r.tid), r.name.empty() ? "-" : r.name,
                              std::to_string(r.polls), dur(r.busy_ns), b, longest});
        }
        t.render(o);
    }

    if (a.warnings.empty()) {
        o += "\nwarnings: none (long-poll threshold " + dur(a.long_poll_ns) + ")\n";
        return;
    }
    o += "\nwarnings (" + std::to_string(a.warnings.size()) + "; long-poll threshold " + dur(a.long_poll_ns) + ")\n";
    for (const analysis_warning& w : a.warnings) {
        std::string kind = warning_kind_name(w.kind);
        std::replace(kind.begin(), kind.end(), '_', ' ');
        o += "  " + kind + "  at " + secs(w.time_ns) + "  task " + std::to_string(w.task);
        if (!w.task_name.empty()) o += " \"" + w.task_name + "\"";
        o += "  " + loc_text(w.at) + "\n";
        // The message, one clause per line.
        std::string m = w.kind == warning_kind::deadlock ? w.message.substr(10) : w.message;
        size_t from = 0;
        while (from < m.size()) {
            size_t k = m.find("; ", from);
            std::string part = m.substr(from, k == std::string::npos ? std::string::npos : k - from);
            o += "      " + part + (k == std::string::npos ? "" : ";") + "\n";
            if (k == std::string::npos) break;
            from = k + 2;
        }
        put_stacks(o, w);
    }
}

// The function of a sampled frame, or where it is when no symbol is known.
std::string frame_text(const stack_frame& f) {
    char b[64];
    if (f.function.empty() && f.file.empty()) {
        std::snprintf(b, sizeof b, "0x%" PRIx64, f.offset ? f.offset : f.address);
        return "?? (" + (f.object.empty() ? std::string("no object known") : printable(f.object) + "+" + b) + ")";
    }
    std::string t = f.function.empty() ? "??" : printable(f.function);
    if (!f.file.empty()) t += " at " + printable(f.file) + (f.line ? ":" + std::to_string(f.line) : "");
    return t;
}

// A long poll's stall stacks: each distinct stack with its share of the samples.
void put_stacks(std::string& o, const analysis_warning& w) {
    if (!w.stall_samples) return;
    o += "      stall stacks: " + std::to_string(w.stall_samples) + " native stack" + (w.stall_samples == 1 ? "" : "s") +
         " sampled while it ran, innermost frame first\n";
    for (const sampled_stack& st : w.stacks) {
        o += "        " + std::to_string(st.samples) + " of " + std::to_string(w.stall_samples) + ":\n";
        size_t n = 0;
        for (const stack_frame& f : st.frames) {
            if (n == 24) {
                o += "          ... " + std::to_string(st.frames.size() - n) + " more\n";
                break;
            }
            o += "          " + std::string(n && st.frames[n - 1].inlined ? "  inlined into " : "") + frame_text(f) + "\n";
            ++n;
        }
    }
    if (w.stacks.size() < w.stall_samples) {
        uint32_t shown = 0;
        for (const sampled_stack& st : w.stacks) shown += st.samples;
        if (shown < w.stall_samples) o += "        (" + std::to_string(w.stall_samples - shown) + " more in other stacks)\n";
    }
}

// JSON: the top object and its lists one item per line; items compact.
constexpr json_layout top_lines{"", "", ",\n", ""};
constexpr json_layout item_lines{"", "\n", ",\n", ""};

void json_loc(json_writer& w, const code_location& l) {
    if (l.line == 0 && l.file.empty()) return w.null();
    w.begin_object();
    w.key("file");
    w.str(l.file);
    w.key("line");
    w.u64(l.line);
    w.key("function");
    w.str(l.function);
    w.end_object();
}
void json_strs(json_writer& w, const std::vector<std::string>& v) {
    w.begin_array();
    for (const std::string& s : v) w.str(s);
    w.end_array();
}
const char* op_word(fmt::resource_op op) { return op == fmt::resource_op::send ? "send" : "recv"; }

void json_steps(json_writer& w, const std::vector<deadlock_step>& steps) {
    w.begin_array();
    for (const deadlock_step& s : steps) {
        w.begin_object();
        w.key("task");
        w.u64(s.task);
        w.key("task_name");
        w.str(s.task_name);
        w.key("op");
        w.str(op_word(s.op));
        w.key("resource");
        w.u64(s.resource);
        w.key("resource_name");
        w.str(s.resource_name);
        w.key("capacity");
        w.u64(s.capacity);
        w.key("at");
        json_loc(w, s.at);
        w.key("since_ns");
        w.i64(s.since_ns);
        w.key("counterparts");
        w.begin_array();
        for (uint64_t c : s.counterparts) w.u64(c);
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

void json_task(json_writer& w, const task_report& t) {
    w.begin_object();
    w.key("id");
    w.u64(t.id);
    w.key("name");
    w.str(t.name);
    w.key("spawned_at");
    json_loc(w, t.spawned_at);
    w.key("parent");
    w.u64(t.parent);
    w.key("frame_bytes");
    w.u64(t.frame_bytes);
    w.key("state");
    w.str(task_end_state_name(t.state));
    w.key("first_ns");
    w.i64(t.first_ns);
    w.key("last_ns");
    w.i64(t.last_ns);
    w.key("polls");
    w.u64(t.polls);
    w.key("busy_ns");
    w.i64(t.busy_ns);
    w.key("scheduled_ns");
    w.i64(t.scheduled_ns);
    w.key("idle_ns");
    w.i64(t.idle_ns);
    w.key("scheduled");
    w.begin_object();
    w.key("count");
    w.u64(t.scheduled_count);
    w.key("p50_ns");
    w.i64(t.sched_p50_ns);
    w.key("p99_ns");
    w.i64(t.sched_p99_ns);
    w.key("max_ns");
    w.i64(t.sched_max_ns);
    w.key("exact");
    w.boolean(t.sched_exact);
    w.end_object();
    w.key("wakes");
    w.u64(t.wakes);
    w.key("self_wakes");
    w.u64(t.self_wakes);
    w.key("longest_poll");
    if (!t.polls) {
        w.null();
    } else {
        w.begin_object();
        w.key("ns");
        w.i64(t.longest_poll_ns);
        w.key("at_ns");
        w.i64(t.longest_poll_at_ns);
        w.key("thread");
        w.u64(t.longest_poll_ring);
        w.key("unfinished");
        w.boolean(t.longest_poll_unfinished);
        w.key("await");
        json_loc(w, t.longest_poll_await);
        w.key("spans");
        json_strs(w, t.longest_poll_spans);
        w.key("span_ns");
        w.i64(t.longest_poll_span_ns);
        w.key("span_at");
        json_loc(w, t.longest_poll_span_at);
        w.end_object();
    }
    w.end_object();
}

void json_thread(json_writer& w, const thread_report& t) {
    w.begin_object();
    w.key("thread");
    w.u64(t.ring);
    w.key("tid");
    w.u64(t.tid);
    w.key("name");
    w.str(t.name);
    w.key("polls");
    w.u64(t.polls);
    w.key("busy_ns");
    w.i64(t.busy_ns);
    w.key("busy_fraction");
    w.f64_fixed(t.busy_fraction, 6);
    w.key("longest_poll_ns");
    w.i64(t.longest_poll_ns);
    w.key("longest_poll_at_ns");
    w.i64(t.longest_poll_at_ns);
    w.key("longest_poll_task");
    w.u64(t.longest_poll_task);
    w.end_object();
}

void json_warning(json_writer& w, const analysis_warning& x) {
    w.begin_object();
    w.key("kind");
    w.str(warning_kind_name(x.kind));
    w.key("task");
    w.u64(x.task);
    w.key("task_name");
    w.str(x.task_name);
    w.key("time_ns");
    w.i64(x.time_ns);
    w.key("file");
    w.str(x.at.file);
    w.key("line");
    w.u64(x.at.line);
    w.key("function");
    w.str(x.at.function);
    w.key("message");
    w.str(x.message);
    switch (x.kind) {
        case warning_kind::long_poll:
            w.key("duration_ns");
            w.i64(x.duration_ns);
            w.key("thread");
            w.u64(x.ring);
            w.key("polls_over");
            w.u64(x.polls_over);
            if (x.stall_samples) {  // (only then: captures without stall sampling keep their output)
                w.key("stall_samples");
                w.u64(x.stall_samples);
                w.key("stall_stacks");
                w.begin_array();
                for (const sampled_stack& st : x.stacks) {
                    w.begin_object();
                    w.key("samples");
                    w.u64(st.samples);
                    w.key("frames");
                    w.begin_array();
                    for (const stack_frame& f : st.frames) {
                        w.begin_object();
                        w.key("address");
                        w.u64(f.address);
                        w.key("object");
                        w.str(f.object);
                        w.key("offset");
                        w.u64(f.offset);
                        w.key("function");
                        w.str(f.function);
                        w.key("file");
                        w.str(f.file);
                        w.key("line");
                        w.u64(f.line);
                        w.key("inlined");
                        w.boolean(f.inlined);
                        w.end_object();
                    }
                    w.end_array();
                    w.end_object();
                }
                w.end_array();
            }
            w.key("spans");
            json_strs(w, x.spans);
            w.key("span_ns");
            w.i64(x.span_ns);
            w.key("span_at");
            json_loc(w, x.span_at);
            w.key("waiting_total");
            w.u64(x.waiting_total);
            w.key("waiting");
            w.begin_array();
            for (const waiting_task& k : x.waiting) {
                w.begin_object();
                w.key("task");
                w.u64(k.task);
                w.key("name");
                w.str(k.name);
                w.key("waited_ns");
                w.i64(k.waited_ns);
                w.end_object();
            }
            w.end_array();
            break;
        case warning_kind::woken_never_polled:
            w.key("duration_ns");
            w.i64(x.duration_ns);
            w.key("waker");
            w.u64(x.waker);
            break;
        case warning_kind::lost_wake:
            w.key("duration_ns");
            w.i64(x.duration_ns);
            w.key("resource");
            w.u64(x.resource);
            w.key("resource_name");
            w.str(x.resource_name);
            break;
        case warning_kind::self_wake:
            w.key("wakes");
            w.u64(x.wakes);
            w.key("self_wakes");
            w.u64(x.self_wakes);
            break;
        case warning_kind::untracked:
            w.key("limit");
            w.str(x.limit);
            w.key("count");
            w.u64(x.count);
            w.key("count_reported");
            w.u64(x.count_reported);
            break;
        case warning_kind::deadlock:
            w.key("cycle");
            json_steps(w, x.cycle);
            w.key("blocked_behind");
            json_steps(w, x.blocked_behind);
            break;
    }
    w.end_object();
}

// The JSON report: every task, in report order, made and written one at a time.
void json_report(const analysis& a, const an::rules& z, json_file& o) {
    json_writer& w = o.w();
    w.begin_object(top_lines);
    w.key("capture");
    w.begin_object();
    w.key("file");
    w.str(a.file);
    w.key("start_ns");
    w.i64(a.start_ns);
    w.key("end_ns");
    w.i64(a.end_ns);
    w.key("events");
    w.u64(a.events);
    w.key("task_events");
    w.u64(a.task_events);
    w.key("events_overwritten");
    w.u64(a.events_overwritten);
    w.key("losses");
    w.begin_object();
    json_loss_members(w, a.loss);
    w.end_object();
    w.key("window");
    w.begin_object();
    w.key("rings");
    w.u64(a.loss.threads);
    w.key("rings_wrapped");
    w.u64(a.loss.rings_wrapped);
    w.key("rings_full");
    w.u64(a.loss.rings_full);
    w.key("tasks_spawn_unseen");
    w.u64(a.tasks_spawn_unseen);
    w.key("ring_kb");
    w.u64(a.ring_kb);
    w.key("ring_growth");
    w.f64(a.ring_growth);
    w.key("suggested_ring_kb");
    w.u64(a.suggested_ring_kb);
    w.end_object();
    w.key("long_poll_ns");
    w.i64(a.long_poll_ns);
    w.end_object();
    w.key("tasks");
    w.begin_array(item_lines);
    task_report t;
    for (uint32_t ti : z.report_order(SIZE_MAX)) {
        z.fill_report(ti, t);
        json_task(w, t);
        o.maybe_flush();
    }
    w.end_array();
    w.key("threads");
    w.begin_array(item_lines);
    for (const thread_report& th : a.threads) json_thread(w, th);
    w.end_array();
    w.key("warnings");
    w.begin_array(item_lines);
    for (const analysis_warning& x : a.warnings) json_warning(w, x);
    w.end_array();
    w.end_object();
    w.text() += '\n';
}

}  // namespace

bool write_analysis(const input& in, const analyze_options& opt, std::FILE* out, std::string& err) {
    auto run = an::rules::run(in, opt);
    if (run.is_error()) {
        err = run.err().message();
        return false;
    }
    an::rules& z = *run.value();
    if (opt.json) {
        json_file o(out);
        json_report(z.finish(0), z, o);
        err = o.finish();
        if (!err.empty()) err = "write failed";
        return err.empty();
    }
    analysis a = z.finish(opt.all ? SIZE_MAX : default_rows);
    std::vector<task_report> more;  // threads' longest-polling tasks not among a.tasks
    for (const thread_report& th : a.threads)
        if (uint32_t ti; !a.find_task(th.longest_poll_task) && z.task_index(th.longest_poll_task, ti))
            z.fill_report(ti, more.emplace_back());
    auto find_task = [&](uint64_t id) -> const task_report* {
        if (const task_report* t = a.find_task(id)) return t;
        for (const task_report& t : more)
            if (t.id == id) return &t;
        return nullptr;
    };
    std::string o;
    text_report(a, z.task_count(), find_task, opt, o);
    if (std::fwrite(o.data(), 1, o.size(), out) != o.size() || std::fflush(out) != 0) {
        err = "write failed";
        return false;
    }
    return true;
}

}  // namespace bbx::dec
