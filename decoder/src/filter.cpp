// Filters: which events every verb that reads a capture sees (bbx info, dump,
// convert, analyze). The filter stage (read_events) sits between the reader
// and the timeline, so a filtered conversion is small and an analysis sees
// only what passes. It is a pure stage: the capture is not changed, and a
// bound filter is immutable.
//
// THE RULES. An event passes when it passes every option given (they combine
// with AND; a repeated --category, --thread or --task adds alternatives, OR).
//
//   --level L        error|warn|info|debug|trace or 1-5: events of span,
//                    instant and counter sites whose level is at most L.
//                    Events that carry no level of their own pass: task
//                    events (all recorded at the one compile-time
//                    BBX_TASK_LEVEL; --user-only or --category drop them),
//                    thread names and crash records. (A span context
//                    follows its span: see below.)
//   --category C     the site's category is C, or starts with P when C is P*.
//                    A comma list, or repeated. Task events (kinds 16..23)
//                    are in category "task", whatever site they name.
//   --thread T       events of a thread: T3 (or 3, when the capture has a
//                    thread 3) is thread 3 as dump prints it (ring 3 before
//                    format 1.3; since, the 4th owner listed, ring by ring);
//                    another number is a tid; else
//                    an exact thread name (the ring's latest). A comma list
//                    (unless a thread has that whole name), or repeated. A
//                    thread the capture does not have is a usage error
//                    (bbx merge: one no capture has).
//   --task ID        the task events of task ID (word0 = ID: its spawn, wakes,
//                    polls, waits, resource operations, completion), and
//                    every event of a thread while ID is being polled there
//                    (between its poll_begin and poll_end on that ring,
//                    nested polls included). A comma list, or repeated.
//   --since/--until  a time window, both ends included. 1.5s, 250ms, 10us,
//                    100ns or a bare number of seconds: after the capture's
//                    start (anchor 0, where bbx dump counts from). Negative:
//                    before the capture's end, the time of its last event
//                    (found by one extra pass over the capture), so
//                    --since -2s is the last two seconds of a flight
//                    recording. RFC 3339 (2026-11-26T07:40:00.5Z, or with an
//                    offset +01:00): wall-clock time, placed with the
//                    capture's realtime anchor. A window that ends before it
//                    starts is a usage error; one outside the capture keeps
//                    nothing.
//   --name REGEX     ECMAScript regex, searched (not matched whole) in the
//                    event's name: its site's name; for a task event, the
//                    name of the task's spawn site (the empty string when the
//                    spawn is not in the capture before the event). Compiled
//                    once; the first 4096 bytes of a name are searched.
//   --user-only      what the user annotated: spans, instants, counters,
//                    span contexts, crash records and thread names; not task
//                    events (kinds 16..23), nor events of sites in category
//                    "asio" or "await" (executor internals).
// Thread names and crash records are judged by --thread and the time window
// only: no other option drops them.
//
// Pairs stay whole, so every output stays balanced:
//   - a span_end is kept iff its span_begin was; a poll_end iff its
//     poll_begin; a wait_end iff its wait_begin. Ends pair as the converters
//     pair them: a span end with the innermost open begin of its site on its
//     ring (poll ends: of its task; looking at most 64 deep), a wait end with
//     the task's innermost open wait on the same resource and operation. An
//     end whose begin is not in the capture is judged as a lone event.
//   - a begin inside the window keeps its end, even one past --until: a
//     slice keeps its real length.
//   - what is open when the window starts is carried into it: the spans,
//     polls and waits that began before --since, pass every other option
//     and have not ended by then are delivered first, at their own
//     (earlier) times and in their order, just before the first event of
//     the window; their ends follow in the window. A hang that began long
//     before the last two seconds still shows. (At most 16384 are carried;
//     more is a hostile file, and those are dropped with their ends.)
//   - a span_context (a span's W3C identity) follows the span it names, the
//     innermost open span of its ring; with no open span it is judged by
//     --thread, --task and the window.
// Output stays in time order. The analysis (bbx analyze) sees the filtered
// events only, so it concludes from them: --task shows one task's polls but
// not the wakes of others waiting on it; --user-only leaves it no task
// events at all; a window hides the history before it (but carries the
// polls and waits open at its start).
//
// With a filter, the stats of read_events count the events that passed as
// `events`; the other counts (overwritten, torn, ...) stay the reader's.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <regex>
#include <unordered_map>

#include "bbx/decoder.hpp"
#include "pairing.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

struct name_pattern {
    std::regex re;
};

namespace {

using pairing::max_depth;
constexpr size_t max_waits = 64;       // open waits tracked per task
constexpr size_t max_carried = 16384;  // begins held back before the window opens
constexpr size_t max_name_search = 4096;

bool is_task_kind(fmt::kind k) {
    return uint8_t(k) >= fmt::kind_first_task && uint8_t(k) <= fmt::kind_last_task;
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o) c = char(std::tolower(static_cast<unsigned char>(c)));
    return o;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + int64_t(doe) - 719468;
}

// N decimal digits at s[i..], exactly; false if not all digits.
bool fixed_digits(std::string_view s, size_t i, size_t n, unsigned& v) {
    if (i + n > s.size()) return false;
    v = 0;
    for (size_t k = i; k < i + n; ++k) {
        if (s[k] < '0' || s[k] > '9') return false;
        v = v * 10 + unsigned(s[k] - '0');
    }
    return true;
}

// RFC 3339 date-time -> ns since the Unix epoch. YYYY-MM-DD, T (or t or a
// space), hh:mm:ss, optional .fraction, then Z or +hh:mm / -hh:mm.
bool parse_rfc3339(std::string_view s, int64_t& out) {
    unsigned y, mo, d, h, mi, se;
    if (!fixed_digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !fixed_digits(s, 5, 2, mo) || s[7] != '-' ||
        !fixed_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !fixed_digits(s, 11, 2, h) ||
        s[13] != ':' || !fixed_digits(s, 14, 2, mi) || s[16] != ':' || !fixed_digits(s, 17, 2, se))
        return false;
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return false;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    size_t i = 19;
    int64_t frac = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        size_t digits = 0;
        int64_t scale = 100000000;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (digits < 9) frac += int64_t(s[i] - '0') * scale, scale /= 10;
            ++digits, ++i;
        }
        if (digits == 0) return false;
    }
    int64_t offset_s = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        unsigned oh, om;
        if (!fixed_digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !fixed_digits(s, i + 4, 2, om) ||
            oh > 23 || om > 59)
            return false;
        offset_s = (s[i] == '+' ? 1 : -1) * int64_t(oh * 3600 + om * 60);
        i += 6;
    } else {
        return false;
    }
    if (i != s.size()) return false;
    const int64_t secs = days_from_civil(y, mo, d) * 86400 + int64_t(h) * 3600 + int64_t(mi) * 60 + se - offset_s;
    if (secs < 0 || secs > INT64_MAX / 1000000000 - 1) return false;
    out = secs * 1000000000 + frac;
    return true;
}

// [-]DECIMAL[s|ms|us|ns] -> ns, exactly (no floating point).
bool parse_duration(std::string_view s, int64_t& out, bool& negative) {
    negative = !s.empty() && s[0] == '-';
    if (negative || (!s.empty() && s[0] == '+')) s.remove_prefix(1);
    int64_t unit = 1000000000;
    auto ends = [&](std::string_view u) { return s.size() >= u.size() && s.substr(s.size() - u.size()) == u; };
    if (ends("ms")) unit = 1000000, s.remove_suffix(2);
    else if (ends("us")) unit = 1000, s.remove_suffix(2);
    else if (ends("\xc2\xb5s")) unit = 1000, s.remove_suffix(3);  // µs
    else if (ends("ns")) unit = 1, s.remove_suffix(2);
    else if (ends("s")) s.remove_suffix(1);
    const size_t dot = s.find('.');
    std::string_view whole = s.substr(0, dot), frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    if (whole.empty() && frac.empty()) return false;
    if ((!whole.empty() && !all_digits(whole)) || (!frac.empty() && !all_digits(frac))) return false;
    if (dot != std::string_view::npos && frac.empty() && whole.empty()) return false;
    constexpr int64_t limit = 1000000000000000000;  // 31 years
    __int128 v = 0;
    for (char c : whole) {
        v = v * 10 + (c - '0');
        if (v * unit > limit) return false;
    }
    v *= unit;
    __int128 f = 0, scale = 1;
    for (size_t k = 0; k < frac.size() && k < 18; ++k) f = f * 10 + (frac[k] - '0'), scale *= 10;
    v += f * unit / scale;
    if (v > limit) return false;
    out = int64_t(v);
    return true;
}

}  // namespace

// ---- filter_spec --------------------------------------------------------------------

int filter_spec::arity(std::string_view option) {
    if (option == "--user-only") return 0;
    if (option == "--level" || option == "--category" || option == "--thread" || option == "--task" ||
        option == "--since" || option == "--until" || option == "--name")
        return 1;
    return -1;
}

std::string parse_filter_level(std::string_view v, int& level) {
    static const char* names[] = {"error", "warn", "info", "debug", "trace"};
    const std::string l = lower(v);
    for (int i = 0; i < 5; ++i)
        if (l == names[i]) return level = i + 1, "";
    if (l.size() == 1 && l[0] >= '1' && l[0] <= '5') return level = l[0] - '0', "";
    return "'" + printable(v) + "' is not a level (error, warn, info, debug, trace, or 1 to 5)";
}

std::string parse_filter_time(std::string_view v, filter_time& t) {
    int64_t ns = 0;
    if (v.size() >= 10 && all_digits(v.substr(0, 4)) && v[4] == '-') {
        if (!parse_rfc3339(v, ns))
            return "'" + printable(v) + "' is not an RFC 3339 time (like 2026-11-26T07:40:00.5Z or ...+01:00)";
        t.from = filter_time::base::wall;
        t.ns = ns;
        return "";
    }
    bool negative = false;
    if (!parse_duration(v, ns, negative))
        return "'" + printable(v) +
               "' is not a time (1.5s, 250ms, 10us, 100ns or seconds after the start; negative: before the end; "
               "or RFC 3339 like 2026-11-26T07:40:00.5Z)";
    t.from = negative ? filter_time::base::end : filter_time::base::start;
    t.ns = ns;
    return "";
}

std::string filter_spec::add(std::string_view option, std::string_view value) {
    const std::string opt(option);
    auto bad = [&](const std::string& what) { return opt + ": " + what; };
    auto note = [&] { given.push_back(arity(option) ? opt + " " + std::string(value) : opt); };
    if (option == "--user-only") {
        user_only = true;
        note();
        return "";
    }
    if (option == "--level") {
        if (auto e = parse_filter_level(value, level); !e.empty()) return bad(e);
    } else if (option == "--category") {
        size_t from = 0;
        while (true) {
            const size_t comma = value.find(',', from);
            std::string_view c = value.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from);
            if (c.empty()) return bad("an empty category in '" + printable(value) + "'");
            const size_t star = c.find('*');
            if (star != std::string_view::npos && star != c.size() - 1)
                return bad("'" + printable(c) + "': '*' may only end a category (a prefix)");
            categories.emplace_back(c);
            if (comma == std::string_view::npos) break;
            from = comma + 1;
        }
    } else if (option == "--thread") {
        if (value.empty()) return bad("needs a thread: T<ring>, a ring number, a tid or a thread name");
        threads.emplace_back(value);
    } else if (option == "--task") {
        size_t from = 0;
        while (true) {
            const size_t comma = value.find(',', from);
            std::string_view t = value.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from);
            uint64_t id = 0;
            const bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
            std::string_view digits = hex ? t.substr(2) : t;
            auto r = std::from_chars(digits.data(), digits.data() + digits.size(), id, hex ? 16 : 10);
            if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() || id == 0)
                return bad("'" + printable(t) + "' is not a task id (a number above 0, decimal or 0x hex)");
            tasks.push_back(id);
            if (comma == std::string_view::npos) break;
            from = comma + 1;
        }
    } else if (option == "--since" || option == "--until") {
        filter_time& t = option == "--since" ? since : until;
        if (auto e = parse_filter_time(value, t); !e.empty()) return bad(e);
    } else if (option == "--name") {
        try {
            auto p = std::make_shared<name_pattern>();
            p->re = std::regex(std::string(value), std::regex::ECMAScript | std::regex::optimize);
            name_re = std::move(p);
        } catch (const std::regex_error& e) {
            return bad("'" + printable(value) + "' is not a valid regular expression (ECMAScript): " + e.what());
        }
        name = std::string(value);
    } else {
        return "unknown filter option '" + printable(option) + "'";
    }
    note();
    return "";
}

std::string filter_spec::describe() const {
    std::string o;
    for (const std::string& g : given) {
        if (!o.empty()) o += ' ';
        o += printable(g);
    }
    return o;
}

// ---- event_filter --------------------------------------------------------------------

namespace {

std::string thread_list(const std::vector<thread_info>& th) {
    std::string o;
    size_t shown = 0;
    for (size_t i = 0; i < th.size(); ++i) {
        const thread_info& t = th[i];
        if (shown == 8) {
            o += ", ...";
            break;
        }
        o += shown++ ? ", " : "";
        // T<index>, as --thread takes it and dump prints it (the ring's index before 1.3)
        o += "T" + std::to_string(i) + " tid " + std::to_string(t.tid);
        if (!t.name.empty()) o += " \"" + printable(t.name) + "\"";
    }
    return o.empty() ? "none" : o;
}

// Marks the threads `v` names (by index in th); returns "" or the usage error.
std::string resolve_thread(const std::string& v, const std::vector<thread_info>& th, std::vector<uint8_t>& rings) {
    bool found = false;
    const bool ring_form = v.size() > 1 && (v[0] == 'T' || v[0] == 't') && all_digits(std::string_view(v).substr(1));
    if (ring_form || all_digits(v)) {
        std::string_view digits = std::string_view(v).substr(ring_form ? 1 : 0);
        uint64_t n = 0;
        auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        const bool ok = r.ec == std::errc() && r.ptr == digits.data() + digits.size();
        if (ok && n < th.size()) {
            rings[size_t(n)] = 1;  // T<n>: the thread of ring n (its index)
            return "";
        }
        if (ring_form)
            return "--thread: the capture has no ring " + std::string(digits) + " (threads: " + thread_list(th) + ")";
        for (size_t i = 0; i < th.size(); ++i)
            if (ok && th[i].tid == n) rings[i] = 1, found = true;
    }
    if (!found)
        for (size_t i = 0; i < th.size(); ++i)
            if (th[i].name == v) rings[i] = 1, found = true;
    if (!found) return "--thread: no thread '" + printable(v) + "' in the capture (threads: " + thread_list(th) + ")";
    return "";
}

bool category_matches(const std::vector<std::string>& pats, const std::string& cat) {
    for (const std::string& p : pats) {
        if (!p.empty() && p.back() == '*') {
            const size_t n = p.size() - 1;
            if (cat.size() >= n && cat.compare(0, n, p, 0, n) == 0) return true;
        } else if (cat == p) {
            return true;
        }
    }
    return false;
}

bool name_matches(const name_pattern& p, std::string_view name) {
    if (name.size() > max_name_search) name = name.substr(0, max_name_search);
    return std::regex_search(name.begin(), name.end(), p.re);
}

}  // namespace

std::shared_ptr<const event_filter> event_filter::make(const filter_spec& spec, const capture& c, filter_error& err,
                                                      bool threads_required) {
    std::shared_ptr<event_filter> f(new event_filter());
    f->spec_ = spec;
    f->cap_ = &c;
    const auto& th = c.threads();
    f->threads_.assign(th.size(), spec.threads.empty() ? 1 : 0);
    std::string first_error;
    auto resolve_one = [&](const std::string& t) {
        std::string e = resolve_thread(t, th, f->threads_);
        if (e.empty()) return;
        if (first_error.empty()) first_error = std::move(e);
        f->unmatched_.push_back(t);
    };
    for (const std::string& t : spec.threads) {
        std::string whole = resolve_thread(t, th, f->threads_);
        if (whole.empty()) continue;
        if (t.find(',') == std::string::npos) {
            resolve_one(t);
            continue;
        }
        size_t from = 0;  // not one name: a comma list
        while (true) {
            const size_t comma = t.find(',', from);
            resolve_one(t.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
            if (comma == std::string::npos) break;
            from = comma + 1;
        }
    }
    if (!first_error.empty() && threads_required) {
        err = {true, std::move(first_error)};
        return nullptr;
    }

    // The time window, in ns since the capture's start.
    using base = filter_time::base;
    if ((spec.since.from == base::wall || spec.until.from == base::wall) && c.start_realtime_ns() == 0) {
        err = {true, "the capture has no wall-clock anchor: give --since/--until relative to its start"};
        return nullptr;
    }
    int64_t end = 0;
    if (spec.since.from == base::end || spec.until.from == base::end) {
        // Its last event: one unfiltered pass (the merge yields them in time order).
        bool any = false;
        auto r = c.for_each_event([&](const event& e) {
            end = any ? std::max(end, e.ns) : e.ns;
            any = true;
        });
        if (r.is_error()) {
            err = {false, r.err().message()};
            return nullptr;
        }
    }
    auto resolve = [&](const filter_time& t, int64_t open) -> int64_t {
        switch (t.from) {
            case base::none: return open;
            case base::start: return t.ns;
            case base::end: return end - t.ns;
            case base::wall: {
                const __int128 d = __int128(t.ns) - __int128(c.start_realtime_ns());
                return d < INT64_MIN / 2 ? INT64_MIN / 2 : d > INT64_MAX / 2 ? INT64_MAX / 2 : int64_t(d);
            }
        }
        return open;
    };
    f->since_ = resolve(spec.since, INT64_MIN);
    f->until_ = resolve(spec.until, INT64_MAX);
    if (f->since_ > f->until_) {
        auto secs = [](int64_t ns) {
            char b[48];
            std::snprintf(b, sizeof b, "%.9f s", double(ns) / 1e9);
            return std::string(b);
        };
        err = {true, "the time window is empty: --until (" + secs(f->until_) + ") is before --since (" + secs(f->since_) +
                         "), counted from the capture's start"};
        return nullptr;
    }

    // What each site's events pass, decided once per site.
    const name_pattern* re = spec.name_re.get();
    f->site_bits_.resize(c.sites().size());
    for (size_t i = 0; i < c.sites().size(); ++i) {
        const site& s = c.sites()[i];
        bool ok = !spec.level || s.level <= spec.level;
        if (ok && !spec.categories.empty()) ok = category_matches(spec.categories, s.category);
        if (ok && spec.user_only) ok = s.category != "asio" && s.category != "await";
        const bool name_ok = !re || name_matches(*re, s.name);
        f->site_bits_[i] = uint8_t((ok && name_ok ? site_event_ok : 0) | (name_ok ? site_task_name_ok : 0));
    }
    f->task_category_ok_ = spec.categories.empty() || category_matches(spec.categories, "task");
    f->no_name_ok_ = !re || name_matches(*re, "");
    f->tasks_ = spec.tasks;
    std::sort(f->tasks_.begin(), f->tasks_.end());
    f->tasks_.erase(std::unique(f->tasks_.begin(), f->tasks_.end()), f->tasks_.end());
    return f;
}

bool event_filter::keeps_thread(uint32_t thread) const { return thread < threads_.size() && threads_[thread]; }

bool event_filter::selects_task(uint64_t task) const {
    return std::binary_search(tasks_.begin(), tasks_.end(), task);
}

uint8_t event_filter::site_bits(const site* s) const {
    const auto& sites = cap_->sites();
    if (!s || sites.empty() || s < sites.data() || s >= sites.data() + sites.size()) return 0;
    return site_bits_[size_t(s - sites.data())];
}

// ---- one filtered pass ---------------------------------------------------------------

struct filter_pass {
    enum class fate : uint8_t { dropped, kept, carried };

    // A begin held back until the window opens, with its strings.
    struct held {
        uint64_t seq = 0;
        event ev;
        std::string strings;
    };
    struct open_entry {
        bool poll = false;
        bool selected = false;  // a poll of a --task task
        uint64_t key = 0;       // span: site id; poll: task id
        fate f = fate::dropped;
        std::unique_ptr<held> begin, context;
    };
    struct thread_state {
        std::vector<open_entry> open;  // innermost last
        uint64_t hidden = 0;           // begins past max_depth
        uint32_t selected = 0;         // open polls of --task tasks
    };
    struct open_wait {
        uint64_t resource = 0, op = 0;
        fate f = fate::dropped;
        std::unique_ptr<held> begin;
    };

    const event_filter& f;
    const std::function<void(const event&)>& fn;
    std::vector<thread_state> threads;
    std::unordered_map<uint64_t, std::vector<open_wait>> waits;  // by task; only tasks with open waits
    std::unordered_map<uint64_t, const site*> spawn_site;         // by task, for --name
    std::vector<uint64_t> kept;                                   // per thread
    uint64_t seq = 0;
    size_t carried = 0;
    bool window_open;
    event out;  // a held begin, rebuilt

    filter_pass(const event_filter& filter, const std::function<void(const event&)>& consumer, size_t nthreads)
        : f(filter), fn(consumer), threads(nthreads), kept(nthreads, 0), window_open(filter.since_ == INT64_MIN) {}

    void emit(const event& e) {
        if (e.thread < kept.size()) ++kept[e.thread];
        fn(e);
    }

    thread_state& thread(uint32_t r) {
        if (r >= threads.size()) threads.resize(size_t(r) + 1), kept.resize(size_t(r) + 1, 0);
        return threads[r];
    }

    bool in_window(const event& e) const { return window_open && e.ns <= f.until_; }

    // Every option but the window and pairing.
    bool passes(const event& e, const thread_state& rs) const {
        if (!f.keeps_thread(e.thread)) return false;
        if (e.kind == fmt::kind::thread_name || e.kind == fmt::kind::crash) return true;
        const filter_spec& s = f.spec_;
        if (is_task_kind(e.kind)) {
            if (s.user_only || !f.task_category_ok_) return false;
            if (!f.tasks_.empty() && !f.selects_task(e.task) && rs.selected == 0) return false;
            if (s.name_re) {
                const site* sp = e.kind == fmt::kind::task_spawn ? e.where : nullptr;
                if (!sp) {
                    auto it = spawn_site.find(e.task);
                    if (it != spawn_site.end()) sp = it->second;
                }
                if (sp ? !(f.site_bits(sp) & event_filter::site_task_name_ok) : !f.no_name_ok_) return false;
            }
            return true;
        }
        if (!f.tasks_.empty() && rs.selected == 0) return false;
        if (!e.where) return true;
        return f.site_bits(e.where) & event_filter::site_event_ok;
    }

    fate begin_fate(const event& e, const thread_state& rs) const {
        if (!passes(e, rs)) return fate::dropped;
        if (!window_open) return carried < max_carried ? fate::carried : fate::dropped;
        return e.ns <= f.until_ ? fate::kept : fate::dropped;
    }

    std::unique_ptr<held> hold(const event& e) {
        auto h = std::make_unique<held>();
        h->seq = seq;
        h->ev = e;  // a begin or a span_context: its fields are plain values, its strings copied below
        for (uint32_t i = 0; i < e.nargs; ++i)
            if (e.args[i].decl->type == fmt::arg_type::string) h->strings.append(e.args[i].str);
        ++carried;
        return h;
    }

    void release(std::unique_ptr<held>& h) {
        if (h) --carried, h.reset();
    }

    const event& rebuilt(const held& h) {
        out = h.ev;
        size_t at = 0;
        for (uint32_t i = 0; i < out.nargs; ++i)
            if (out.args[i].decl->type == fmt::arg_type::string) {
                const size_t n = out.args[i].str.size();
                out.args[i].str = std::string_view(h.strings).substr(at, n);
                at += n;
            }
        return out;
    }

    void pop(thread_state& rs) {
        open_entry& o = rs.open.back();
        if (o.selected) --rs.selected;
        release(o.begin);
        release(o.context);
        rs.open.pop_back();
    }

    // The window opens: what is open and passes goes out first, in its order.
    void open_window() {
        window_open = true;
        if (!carried) return;
        std::vector<std::pair<uint64_t, held*>> list;
        std::vector<fate*> fates;
        for (thread_state& rs : threads)
            for (open_entry& o : rs.open)
                if (o.f == fate::carried) {
                    fates.push_back(&o.f);
                    if (o.begin) list.push_back({o.begin->seq, o.begin.get()});
                    if (o.context) list.push_back({o.context->seq, o.context.get()});
                }
        for (auto& [task, ws] : waits)
            for (open_wait& w : ws)
                if (w.f == fate::carried) {
                    fates.push_back(&w.f);
                    if (w.begin) list.push_back({w.begin->seq, w.begin.get()});
                }
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& [s, h] : list) emit(rebuilt(*h));
        for (fate* p : fates) *p = fate::kept;
        for (thread_state& rs : threads)
            for (open_entry& o : rs.open) release(o.begin), release(o.context);
        for (auto& [task, ws] : waits)
            for (open_wait& w : ws) release(w.begin);
    }

    void on_begin(const event& e, thread_state& rs, bool poll) {
        const fate fa = begin_fate(e, rs);
        if (rs.open.size() >= max_depth) {
            ++rs.hidden;
            if (fa == fate::kept) emit(e);
            return;
        }
        open_entry& o = rs.open.emplace_back();
        o.poll = poll;
        o.key = poll ? e.task : e.where->id;
        o.selected = poll && !f.tasks_.empty() && f.selects_task(e.task);
        if (o.selected) ++rs.selected;
        o.f = fa;
        if (o.f == fate::carried) o.begin = hold(e);
        else if (o.f == fate::kept) emit(e);
    }

    void on_end(const event& e, thread_state& rs, bool poll) {
        if (rs.hidden) {
            --rs.hidden;
            if (passes(e, rs) && in_window(e)) emit(e);
            return;
        }
        const uint64_t key = poll ? e.task : e.where->id;
        const size_t k =
            pairing::find_begin(rs.open, rs.open.size(), [&](const auto& o) { return o.poll == poll && o.key == key; });
        if (k == pairing::none) {  // its begin is not in the capture
            if (passes(e, rs) && in_window(e)) emit(e);
            return;
        }
        while (rs.open.size() > k) pop(rs);  // opened inside it and never ended: the converters close them here
        const fate fa = rs.open.back().f;
        pop(rs);
        if (fa == fate::kept) emit(e);
    }

    void on_wait_begin(const event& e, const thread_state& rs) {
        const fate fa = begin_fate(e, rs);
        std::vector<open_wait>& ws = waits[e.task];
        if (ws.size() >= max_waits) {
            if (fa == fate::kept) emit(e);
            return;
        }
        open_wait& w = ws.emplace_back();
        w.resource = e.res.id;
        w.op = e.res.op;
        w.f = fa;
        if (fa == fate::carried) w.begin = hold(e);
        else if (fa == fate::kept) emit(e);
    }

    void on_wait_end(const event& e, const thread_state& rs) {
        auto it = waits.find(e.task);
        size_t n = it == waits.end() ? 0 : it->second.size();
        while (n > 0 && (it->second[n - 1].resource != e.res.id || it->second[n - 1].op != e.res.op)) --n;
        if (n == 0) {
            if (passes(e, rs) && in_window(e)) emit(e);
            return;
        }
        std::vector<open_wait>& ws = it->second;
        const fate fa = ws[n - 1].f;
        while (ws.size() >= n) {
            release(ws.back().begin);
            ws.pop_back();
        }
        if (ws.empty()) waits.erase(it);
        if (fa == fate::kept) emit(e);
    }

    void on_context(const event& e, thread_state& rs) {
        if (!rs.hidden)
            for (size_t k = rs.open.size(); k > 0; --k) {
                open_entry& o = rs.open[k - 1];
                if (o.poll) continue;
                if (o.f == fate::kept) emit(e);
                else if (o.f == fate::carried && !o.context) o.context = hold(e);
                return;
            }
        if (f.keeps_thread(e.thread) && (f.tasks_.empty() || rs.selected) && in_window(e)) emit(e);
    }

    void on(const event& e) {
        ++seq;
        if (!window_open && e.ns >= f.since_) open_window();
        thread_state& rs = thread(e.thread);
        if (f.spec_.name_re && e.kind == fmt::kind::task_spawn && e.where) spawn_site[e.task] = e.where;
        switch (e.kind) {
            case fmt::kind::span_begin: return e.where ? on_begin(e, rs, false) : void();
            case fmt::kind::span_end: return e.where ? on_end(e, rs, false) : void();
            case fmt::kind::task_poll_begin: return on_begin(e, rs, true);
            case fmt::kind::task_poll_end: return on_end(e, rs, true);
            case fmt::kind::wait_begin: return on_wait_begin(e, rs);
            case fmt::kind::wait_end: return on_wait_end(e, rs);
            case fmt::kind::span_context: return on_context(e, rs);
            default:
                if (passes(e, rs) && in_window(e)) emit(e);
        }
    }
};

result<read_stats> read_events(const capture& c, const event_filter* f, const event_fn& fn) {
    if (!f) return c.for_each_event(fn);
    if (f->bound_to() != &c) return error{errc::io, 0, "the filter was made for another capture"};
    filter_pass p(*f, fn, c.threads().size());
    auto r = c.for_each_event([&](const event& e) { p.on(e); });
    if (r.is_error()) return r;
    read_stats& st = r.value();
    for (size_t i = 0; i < st.threads.size() && i < p.kept.size(); ++i) st.threads[i].events = p.kept[i];
    return r;
}

}  // namespace bbx::dec
