// Chrome trace-event JSON: the object form, `traceEvents` first, so that
// readers which sniff the first bytes (Perfetto UI, chrome://tracing,
// Speedscope) recognise it.
//
// Spans are B/E pairs on (pid, tid), balanced per thread: an end whose begin
// was overwritten is dropped, and a begin still open at the end of the
// capture is closed at the thread's last timestamp with args {"unfinished":
// true}. Times are microseconds since the capture's start, to the nanosecond.
// Memory stays flat: per-site and per-thread state only, one output buffer.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bbx/decoder.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

constexpr size_t flush_at = 1 << 20;
constexpr size_t max_depth = 4096;  // open spans kept per thread; deeper ones are not written
constexpr size_t max_unwind = 64;  // how far below the top an end looks for its begin

// Appends JSON text to a large buffer that goes out with one fwrite when full.
struct json_out {
    std::FILE* f;
    std::string b;
    bool failed = false;
    int sys_errno = 0;

    explicit json_out(std::FILE* file) : f(file) { b.reserve(flush_at + 8192); }
    void lit(std::string_view s) { b.append(s); }
    void ch(char c) { b.push_back(c); }
    void u64(uint64_t v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
    }
    void i64(int64_t v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
    }
    // The shortest form that reads back exactly, with ".0" on whole numbers so
    // readers keep them floating-point. JSON has no NaN or infinities: those
    // go out as strings.
    void f64(double v) {
        if (std::isnan(v)) return lit("\"NaN\"");
        if (std::isinf(v)) return lit(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        char t[32];
        auto r = std::to_chars(t, t + sizeof t, v);
        b.append(t, size_t(r.ptr - t));
        if (std::find_if(t, r.ptr, [](char c) { return c == '.' || c == 'e'; }) == r.ptr) lit(".0");
    }
    // Nanoseconds as microseconds with three decimals: 12345 -> 12.345.
    void micros(int64_t ns) {
        uint64_t a = uint64_t(ns);
        if (ns < 0) {
            ch('-');
            a = uint64_t(0) - a;
        }
        u64(a / 1000);
        const unsigned frac = unsigned(a % 1000);
        const char d[4] = {'.', char('0' + frac / 100), char('0' + frac / 10 % 10), char('0' + frac % 10)};
        b.append(d, 4);
    }
    void str(std::string_view s) {
        ch('"');
        json_escape(b, s);
        ch('"');
    }
    void maybe_flush() {
        if (b.size() >= flush_at) flush();
    }
    void flush() {
        if (!b.empty() && !failed && std::fwrite(b.data(), 1, b.size(), f) != b.size()) {
            failed = true;
            sys_errno = errno;
        }
        b.clear();
    }
};

struct thread_state {
    std::string ids;                  // ,"pid":P,"tid":T
    std::vector<uint32_t> open;       // site indexes of the open spans, innermost last
    uint64_t hidden = 0;              // open spans deeper than max_depth (not written)
    int64_t last_ns = 0;
};

struct site_text {
    std::string head;               // {"name":"...","cat":"...","ph":"
    std::vector<std::string> keys;  // "arg name":
};

void write_arg_value(json_out& o, const arg& a) {
    switch (a.decl->type) {
        case fmt::arg_type::i64: o.i64(a.as_i64()); break;
        case fmt::arg_type::u64: o.u64(a.word); break;
        case fmt::arg_type::f64: o.f64(a.as_f64()); break;
        case fmt::arg_type::boolean: o.lit(a.word ? "true" : "false"); break;
        case fmt::arg_type::string: o.str(a.str); break;
        default: o.lit("null"); break;
    }
}

}  // namespace

bool write_chrome(capture& c, std::FILE* out, std::string& err) {
    json_out o(out);
    const header_info& h = c.header();
    const std::vector<site>& sites = c.sites();

    std::vector<site_text> text(sites.size());
    for (size_t i = 0; i < sites.size(); ++i) {
        std::string& s = text[i].head;
        s = "{\"name\":\"";
        json_escape(s, sites[i].name);
        s += "\",\"cat\":\"";
        json_escape(s, sites[i].category);
        s += "\",\"ph\":\"";
        for (const arg_decl& d : sites[i].args) {
            std::string k = "\"";
            json_escape(k, d.name);
            k += "\":";
            text[i].keys.push_back(std::move(k));
        }
    }

    const std::string pid = std::to_string(h.pid);
    std::vector<thread_state> threads(c.threads().size());
    for (size_t i = 0; i < threads.size(); ++i)
        threads[i].ids = ",\"pid\":" + pid + ",\"tid\":" + std::to_string(c.threads()[i].tid);

    bool first = true;
    auto next = [&] {
        if (!first) o.lit(",\n");
        first = false;
    };
    auto thread_name = [&](const thread_state& t, std::string_view name) {
        next();
        o.lit("{\"name\":\"thread_name\",\"ph\":\"M\"");
        o.lit(t.ids);
        o.lit(",\"args\":{\"name\":");
        o.str(name);
        o.lit("}}");
    };
    // An E that closes the span at `site_index` on thread t.
    auto end_event = [&](thread_state& t, uint32_t site_index, int64_t ns, bool unfinished) {
        next();
        o.lit(text[site_index].head);
        o.lit("E\",\"ts\":");
        o.micros(ns);
        o.lit(t.ids);
        if (unfinished) o.lit(",\"args\":{\"unfinished\":true}");
        o.ch('}');
    };

    o.lit("{\"traceEvents\":[\n");
    if (!h.process_name.empty()) {
        next();
        o.lit("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":");
        o.lit(pid);
        o.lit(",\"tid\":0,\"args\":{\"name\":");
        o.str(h.process_name);
        o.lit("}}");
    }
    for (size_t i = 0; i < threads.size(); ++i)
        if (!c.threads()[i].name.empty()) thread_name(threads[i], c.threads()[i].name);

    auto r = c.for_each_event([&](const event& e) {
        if (e.ring >= threads.size()) return;  // the reader only yields rings of the ring table
        thread_state& t = threads[e.ring];
        t.last_ns = e.ns;
        if (e.kind == fmt::kind::thread_name) {
            thread_name(t, e.text);
            o.maybe_flush();
            return;
        }
        if (!e.where) return;
        const auto si = uint32_t(e.where - sites.data());
        if (si >= sites.size()) return;
        const site_text& st = text[si];
        char ph;
        switch (e.kind) {
            case fmt::kind::span_begin:
                if (t.open.size() >= max_depth) {
                    ++t.hidden;
                    return;
                }
                t.open.push_back(si);
                ph = 'B';
                break;
            case fmt::kind::span_end: {
                if (t.hidden) {
                    --t.hidden;
                    return;
                }
                // Ends pair with the innermost open begin of the same site. An
                // end with no such begin lost it to the ring's overwrite; spans
                // opened inside it and never ended (damaged slots) close here.
                size_t k = t.open.size();
                const size_t lowest = k > max_unwind ? k - max_unwind : 0;
                while (k > lowest && t.open[k - 1] != si) --k;
                if (k == lowest) return;
                while (t.open.size() > k) {
                    end_event(t, t.open.back(), e.ns, false);
                    t.open.pop_back();
                }
                t.open.pop_back();
                end_event(t, si, e.ns, false);
                o.maybe_flush();
                return;
            }
            case fmt::kind::instant: ph = 'i'; break;
            case fmt::kind::counter: ph = 'C'; break;
            default: return;
        }
        next();
        o.lit(st.head);
        o.ch(ph);
        o.lit(ph == 'i' ? "\",\"s\":\"t\",\"ts\":" : "\",\"ts\":");
        o.micros(e.ns);
        o.lit(t.ids);
        if (ph == 'C') {
            if (e.nargs) {
                o.lit(",\"args\":{\"value\":");
                write_arg_value(o, e.args[0]);
                o.ch('}');
            }
        } else if (e.nargs) {
            o.lit(",\"args\":{");
            for (uint32_t i = 0; i < e.nargs; ++i) {
                if (i) o.ch(',');
                o.lit(i < st.keys.size() ? std::string_view(st.keys[i]) : std::string_view("\"?\":"));
                write_arg_value(o, e.args[i]);
            }
            o.ch('}');
        }
        o.ch('}');
        o.maybe_flush();
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    for (thread_state& t : threads) {
        while (!t.open.empty()) {
            end_event(t, t.open.back(), t.last_ns, true);
            t.open.pop_back();
            o.maybe_flush();
        }
    }
    o.lit("\n],\"displayTimeUnit\":\"ns\"}\n");
    o.flush();
    if (!o.failed && std::fflush(out) != 0) o.sys_errno = errno;
    if (o.failed || o.sys_errno || std::ferror(out)) {
        err = std::string("write failed: ") + std::strerror(o.sys_errno ? o.sys_errno : EIO);
        return false;
    }
    return true;
}

}  // namespace bbx::dec
