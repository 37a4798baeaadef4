// Checks shared by the fuzz targets fuzz_meta.cpp and fuzz_convert.cpp: the
// promises every decoded event keeps, and cheap validity checks of each
// converter's output written from scratch (a JSON parser, a protobuf wire
// walker, a UTF-8 check), sharing no code with the writers they check.
// A broken promise aborts, so that libFuzzer (and the replay driver)
// report it with the input.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bbx/decoder.hpp"

namespace bbx_fuzz {

namespace fmt = ::bbx::format;

[[noreturn]] inline void check_failed(const char* file, int line, const char* cond, const std::string& detail) {
    std::fprintf(stderr, "fuzz: %s:%d: check failed: %s%s%s\n", file, line, cond, detail.empty() ? "" : ": ",
                 detail.c_str());
    std::abort();
}

#define BBX_FUZZ_CHECK(cond)                                                          \
    do {                                                                              \
        if (!(cond)) ::bbx_fuzz::check_failed(__FILE__, __LINE__, #cond, std::string()); \
    } while (0)
// The same, with a message built only when the check fails.
#define BBX_FUZZ_CHECK_MSG(cond, msg)                                            \
    do {                                                                         \
        if (!(cond)) ::bbx_fuzz::check_failed(__FILE__, __LINE__, #cond, (msg)); \
    } while (0)

// Keeps the sums of touched bytes from being optimised away.
inline volatile uint64_t sink;

// ---- events -----------------------------------------------------------------------

// Reads every byte an event points at (so that AddressSanitizer sees a view
// past its buffer) and checks the limits the format sets.
inline uint64_t touch(const bbx::dec::event& e) {
    uint64_t sum = e.ticks + uint64_t(e.ns) + e.nargs + e.task;
    if (e.kind == fmt::kind::task_spawn) sum += e.spawn.parent + e.spawn.frame_bytes;
    if (e.kind == fmt::kind::task_wake) sum += e.wake.waker;
    if (e.kind == fmt::kind::wait_begin || e.kind == fmt::kind::wait_end || e.kind == fmt::kind::resource_op)
        sum += e.res.id + e.res.op;
    if (e.kind == fmt::kind::span_context)
        sum += e.context.trace_hi + e.context.trace_lo + e.context.span_id + e.context.parent_span_id + e.context.role +
               e.context.flags;
    BBX_FUZZ_CHECK(e.nargs <= fmt::max_args);
    if (e.kind == fmt::kind::thread_name) {
        BBX_FUZZ_CHECK(e.thread_name.size() < fmt::max_thread_name);
        for (char c : e.thread_name) sum += static_cast<unsigned char>(c);
    }
    switch (e.kind) {
        case fmt::kind::span_begin:
        case fmt::kind::span_end:
        case fmt::kind::instant:
        case fmt::kind::counter: BBX_FUZZ_CHECK(e.where != nullptr); break;
        case fmt::kind::thread_name: BBX_FUZZ_CHECK(e.where == nullptr && e.nargs == 0); break;
        case fmt::kind::span_context:
            BBX_FUZZ_CHECK(e.context.span_id != 0 && (e.context.trace_hi | e.context.trace_lo) != 0);
            BBX_FUZZ_CHECK(e.context.role >= 1 && e.context.role <= 5);
            break;
        case fmt::kind::crash: BBX_FUZZ_CHECK(e.crash != nullptr); break;
        default: break;  // task events: `where` is optional
    }
    if (e.kind == fmt::kind::counter) BBX_FUZZ_CHECK(e.nargs == 1);
    if (e.where) {
        BBX_FUZZ_CHECK(e.nargs <= e.where->args.size());
        BBX_FUZZ_CHECK(e.where->id != 0);
        sum += e.where->name.size() + e.where->category.size() + e.where->file.size();
    } else {
        BBX_FUZZ_CHECK(e.nargs == 0);
    }
    for (uint32_t i = 0; i < e.nargs; ++i) {
        const bbx::dec::arg& a = e.args[i];
        BBX_FUZZ_CHECK(a.decl == &e.where->args[i]);
        sum += a.word + a.decl->name.size();
        if (a.decl->type == fmt::arg_type::string) {
            BBX_FUZZ_CHECK(a.str.size() == a.word && a.str.size() <= fmt::max_string_bytes);
            for (char c : a.str) sum += static_cast<unsigned char>(c);
        }
    }
    if (e.kind == fmt::kind::crash) {
        BBX_FUZZ_CHECK(e.crash->nframes <= fmt::max_crash_frames);
        for (uint32_t i = 0; i < e.crash->nframes; ++i) sum += e.crash->frames[i];
    }
    return sum;
}

// Walks every event twice (the bytes were copied: both walks agree) and
// checks that each ring's statistics add up to what was returned.
inline uint64_t walk(const bbx::dec::capture& c, uint64_t& sum) {
    uint64_t events = 0;
    auto walked = c.for_each_event([&](const bbx::dec::event& e) {
        ++events;
        sum += touch(e);
        BBX_FUZZ_CHECK(e.thread < c.threads().size());
    });
    BBX_FUZZ_CHECK(!walked.is_error());
    BBX_FUZZ_CHECK(walked.value().threads.size() == c.threads().size());
    uint64_t counted = 0;
    for (const bbx::dec::ring_stats& s : walked.value().threads) counted += s.events;
    BBX_FUZZ_CHECK(counted == events);
    uint64_t again = 0;
    BBX_FUZZ_CHECK(!c.for_each_event([&](const bbx::dec::event&) { ++again; }).is_error());
    BBX_FUZZ_CHECK(again == events);
    return events;
}

// What one more pass over c finds (the bytes were copied: every pass finds the same).
inline bbx::dec::read_stats stats_of(const bbx::dec::capture& c) {
    auto r = c.for_each_event([](const bbx::dec::event&) {});
    BBX_FUZZ_CHECK(!r.is_error());
    return r.value();
}

// ---- text -------------------------------------------------------------------------

// An independent UTF-8 check: decode each code point, then judge its value.
inline bool utf8_ok(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (!len || i + size_t(len) > s.size()) return false;
        uint32_t cp = len == 1 ? b : b & (0x7Fu >> len);
        for (int k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + size_t(k)]);
            if ((c >> 6) != 2) return false;
            cp = cp << 6 | (c & 0x3Fu);
        }
        static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += size_t(len);
    }
    return true;
}

// Text for a terminal (dump, info, analyze): valid UTF-8, and no control
// character but newline and tab, so that a hostile capture cannot send
// escape sequences. Returns "" or what is wrong.
inline std::string terminal_text_problem(std::string_view s) {
    size_t line = 0;  // start of the current line
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        const char* what = nullptr;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) what = "a control byte";
        else if (c >= 0x80) {
            size_t end = s.find('\n', i);
            if (!utf8_ok(s.substr(line, end == std::string_view::npos ? std::string_view::npos : end - line)))
                what = "invalid UTF-8";
        }
        if (what) {
            size_t end = s.find('\n', i);
            std::string l(s.substr(line, end == std::string_view::npos ? 80 : std::min<size_t>(end - line, 200)));
            for (char& ch : l)
                if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
            return std::string(what) + " in the line at byte " + std::to_string(line) + ": " + l;
        }
        if (c == '\n') line = i + 1;
    }
    if (!s.empty() && s.back() != '\n') return "does not end with a newline";
    return "";
}

// ---- JSON -------------------------------------------------------------------------

struct json_member;

// A JSON value (RFC 8259). Numbers keep their text; strings are decoded.
struct json {
    enum class type : uint8_t { null, boolean, number, string, array, object } t = type::null;
    bool b = false;
    std::string s;  // string: the decoded value; number: the text
    std::vector<json> a;
    std::vector<json_member> o;  // in document order

    inline const json* get(std::string_view key) const;
    // The value's text, for use as a key (a string's value, a number's text).
    std::string key() const { return t == type::string || t == type::number ? s : std::string(); }
};

struct json_member {
    std::string first;
    json second;
};

inline const json* json::get(std::string_view key) const {
    for (const json_member& m : o)
        if (m.first == key) return &m.second;
    return nullptr;
}

// A strict parser: the whole input must be one value (with optional
// surrounding whitespace), nesting at most 64 deep. Sets `error`.
class json_parser {
public:
    explicit json_parser(std::string_view text) : p_(text) {}
    bool parse(json& out) {
        ws();
        if (!value(out, 0)) return false;
        ws();
        if (i_ != p_.size()) return fail("text after the value");
        return true;
    }
    std::string error;
    size_t where() const { return i_; }

private:
    std::string_view p_;
    size_t i_ = 0;

    bool fail(const char* what) {
        if (error.empty()) error = std::string(what) + " at byte " + std::to_string(i_);
        return false;
    }
    void ws() {
        while (i_ < p_.size() && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
    }
    bool lit(std::string_view w) {
        if (p_.substr(i_, w.size()) != w) return fail("bad literal");
        i_ += w.size();
        return true;
    }
    bool value(json& v, int depth) {
        if (depth > 64) return fail("nesting deeper than 64");
        if (i_ >= p_.size()) return fail("end of text where a value was expected");
        char c = p_[i_];
        if (c == '{') return object(v, depth);
        if (c == '[') return array(v, depth);
        if (c == '"') {
            v.t = json::type::string;
            return string(v.s);
        }
        if (c == 't' || c == 'f') {
            v.t = json::type::boolean;
            v.b = c == 't';
            return lit(c == 't' ? "true" : "false");
        }
        if (c == 'n') {
            v.t = json::type::null;
            return lit("null");
        }
        v.t = json::type::number;
        return number(v.s);
    }
    bool digits() {
        size_t s = i_;
        while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
        return i_ > s;
    }
    bool number(std::string& out) {
        size_t s = i_;
        if (i_ < p_.size() && p_[i_] == '-') ++i_;
        if (i_ < p_.size() && p_[i_] == '0') ++i_;
        else if (!digits()) return fail("bad number");
        if (i_ < p_.size() && p_[i_] == '.') {
            ++i_;
            if (!digits()) return fail("bad number fraction");
        }
        if (i_ < p_.size() && (p_[i_] == 'e' || p_[i_] == 'E')) {
            ++i_;
            if (i_ < p_.size() && (p_[i_] == '+' || p_[i_] == '-')) ++i_;
            if (!digits()) return fail("bad number exponent");
        }
        out.assign(p_.substr(s, i_ - s));
        return true;
    }
    bool hex4(uint32_t& v) {
        if (i_ + 4 > p_.size()) return fail("short \\u escape");
        v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = p_[i_++];
            uint32_t d = c >= '0' && c <= '9' ? uint32_t(c - '0') : c >= 'a' && c <= 'f' ? uint32_t(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? uint32_t(c - 'A' + 10) : 16u;
            if (d > 15) return fail("bad \\u escape");
            v = v << 4 | d;
        }
        return true;
    }
    static void put_utf8(std::string& o, uint32_t cp) {
        if (cp < 0x80) {
            o += char(cp);
        } else if (cp < 0x800) {
            o += char(0xC0 | cp >> 6);
            o += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            o += char(0xE0 | cp >> 12);
            o += char(0x80 | (cp >> 6 & 0x3F));
            o += char(0x80 | (cp & 0x3F));
        } else {
            o += char(0xF0 | cp >> 18);
            o += char(0x80 | (cp >> 12 & 0x3F));
            o += char(0x80 | (cp >> 6 & 0x3F));
            o += char(0x80 | (cp & 0x3F));
        }
    }
    bool string(std::string& out) {
        ++i_;  // the opening quote
        size_t raw_start = i_;
        while (true) {
            if (i_ >= p_.size()) return fail("unterminated string");
            unsigned char c = static_cast<unsigned char>(p_[i_]);
            if (c == '"') break;
            if (c < 0x20) return fail("unescaped control character in a string");
            if (c != '\\') {
                out += char(c);
                ++i_;
                continue;
            }
            ++i_;
            if (i_ >= p_.size()) return fail("unterminated escape");
            char e = p_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        uint32_t lo = 0;
                        if (p_.substr(i_, 2) != "\\u") return fail("high surrogate without its low half");
                        i_ += 2;
                        if (!hex4(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail("high surrogate without its low half");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: return fail("bad escape");
            }
        }
        if (!utf8_ok(p_.substr(raw_start, i_ - raw_start))) return fail("string is not valid UTF-8");
        ++i_;  // the closing quote
        return true;
    }
    bool array(json& v, int depth) {
        v.t = json::type::array;
        ++i_;
        ws();
        if (i_ < p_.size() && p_[i_] == ']') {
            ++i_;
            return true;
        }
        while (true) {
            v.a.emplace_back();
            if (!value(v.a.back(), depth + 1)) return false;
            ws();
            if (i_ < p_.size() && p_[i_] == ',') {
                ++i_;
                ws();
                continue;
            }
            if (i_ < p_.size() && p_[i_] == ']') {
                ++i_;
                return true;
            }
            return fail("expected , or ] in an array");
        }
    }
    bool object(json& v, int depth) {
        v.t = json::type::object;
        ++i_;
        ws();
        if (i_ < p_.size() && p_[i_] == '}') {
            ++i_;
            return true;
        }
        while (true) {
            if (i_ >= p_.size() || p_[i_] != '"') return fail("expected a key");
            std::string k;
            if (!string(k)) return false;
            ws();
            if (i_ >= p_.size() || p_[i_] != ':') return fail("expected : after a key");
            ++i_;
            ws();
            v.o.push_back(json_member{std::move(k), json{}});
            if (!value(v.o.back().second, depth + 1)) return false;
            ws();
            if (i_ < p_.size() && p_[i_] == ',') {
                ++i_;
                ws();
                continue;
            }
            if (i_ < p_.size() && p_[i_] == '}') {
                ++i_;
                return true;
            }
            return fail("expected , or } in an object");
        }
    }
};

inline json parse_json_or_die(std::string_view text, const char* what) {
    json v;
    json_parser p(text);
    BBX_FUZZ_CHECK_MSG(p.parse(v), std::string(what) + " is not valid JSON: " + p.error + " near \"" +
                                       std::string(text.substr(p.where() > 40 ? p.where() - 40 : 0, 80)) + "\"");
    return v;
}

// Chrome trace-event JSON (chrome.cpp's promises): an object with
// traceEvents first; B/E balanced per (pid, tid); nestable async b/e
// balanced per (pid, cat, id); every flow end f after a flow start s of the
// same (cat, name, id).
inline void check_chrome(std::string_view text) {
    BBX_FUZZ_CHECK(text.substr(0, 16) == "{\"traceEvents\":[");
    BBX_FUZZ_CHECK(text.size() >= 2 && text.substr(text.size() - 2) == "}\n");
    json root = parse_json_or_die(text, "Chrome output");
    BBX_FUZZ_CHECK(root.t == json::type::object && !root.o.empty() && root.o[0].first == "traceEvents");
    const json& evs = root.o[0].second;
    BBX_FUZZ_CHECK(evs.t == json::type::array);
    std::map<std::string, int64_t> depth, async_depth;
    std::set<std::string> flows;
    for (const json& e : evs.a) {
        BBX_FUZZ_CHECK(e.t == json::type::object);
        const json* ph = e.get("ph");
        BBX_FUZZ_CHECK(ph && ph->t == json::type::string);
        const json* pid = e.get("pid");
        const json* tid = e.get("tid");
        std::string track = (pid ? pid->key() : "-") + "/" + (tid ? tid->key() : "-");
        if (ph->s == "B" || ph->s == "E") {
            BBX_FUZZ_CHECK(pid && tid);
            int64_t& d = depth[track];
            d += ph->s == "B" ? 1 : -1;
            BBX_FUZZ_CHECK_MSG(d >= 0, "an E without its B on " + track);
        } else if (ph->s == "b" || ph->s == "e") {
            const json* cat = e.get("cat");
            const json* id = e.get("id");
            BBX_FUZZ_CHECK(cat && id);
            int64_t& d = async_depth[(pid ? pid->key() : "-") + "/" + cat->key() + "/" + id->key()];
            d += ph->s == "b" ? 1 : -1;
            BBX_FUZZ_CHECK_MSG(d >= 0, "an async e without its b");
        } else if (ph->s == "s" || ph->s == "f") {
            const json* cat = e.get("cat");
            const json* name = e.get("name");
            const json* id = e.get("id");
            BBX_FUZZ_CHECK(cat && name && id);
            std::string k = cat->key() + "/" + name->key() + "/" + id->key();
            if (ph->s == "s") flows.insert(k);
            else BBX_FUZZ_CHECK_MSG(flows.count(k), "a flow end without its start: " + k);
        }
    }
    for (const auto& [track, d] : depth) BBX_FUZZ_CHECK_MSG(d == 0, "B left open on " + track);
    for (const auto& [id, d] : async_depth) BBX_FUZZ_CHECK_MSG(d == 0, "async b left open: " + id);
}

inline bool all_hex(const std::string& s, size_t n) {
    if (s.size() != n) return false;
    bool nonzero = false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        nonzero |= c != '0';
    }
    return nonzero;
}

inline uint64_t decimal_u64(const json* v) {
    BBX_FUZZ_CHECK(v && v->t == json::type::string && !v->s.empty() && v->s.size() <= 20);
    uint64_t x = 0;
    for (char c : v->s) {
        BBX_FUZZ_CHECK(c >= '0' && c <= '9');
        BBX_FUZZ_CHECK(x <= (UINT64_MAX - uint64_t(c - '0')) / 10);
        x = x * 10 + uint64_t(c - '0');
    }
    return x;
}

// OTLP/JSON Lines (otlp.cpp's promises): each line one TracesData object;
// ids lowercase hex and never zero; end >= start; every span event inside
// its span.
inline void check_otlp(std::string_view text) {
    BBX_FUZZ_CHECK(text.empty() || text.back() == '\n');
    size_t at = 0;
    while (at < text.size()) {
        size_t nl = text.find('\n', at);
        std::string_view line = text.substr(at, nl - at);
        at = nl + 1;
        json root = parse_json_or_die(line, "an OTLP line");
        BBX_FUZZ_CHECK(root.t == json::type::object);
        const json* rs = root.get("resourceSpans");
        BBX_FUZZ_CHECK(rs && rs->t == json::type::array);
        for (const json& r : rs->a) {
            const json* ss = r.get("scopeSpans");
            BBX_FUZZ_CHECK(ss && ss->t == json::type::array);
            for (const json& s : ss->a) {
                const json* spans = s.get("spans");
                BBX_FUZZ_CHECK(spans && spans->t == json::type::array);
                for (const json& sp : spans->a) {
                    const json* trace = sp.get("traceId");
                    const json* span = sp.get("spanId");
                    BBX_FUZZ_CHECK(trace && all_hex(trace->s, 32));
                    BBX_FUZZ_CHECK(span && all_hex(span->s, 16));
                    if (const json* parent = sp.get("parentSpanId")) BBX_FUZZ_CHECK(all_hex(parent->s, 16));
                    uint64_t start = decimal_u64(sp.get("startTimeUnixNano"));
                    uint64_t end = decimal_u64(sp.get("endTimeUnixNano"));
                    BBX_FUZZ_CHECK(end >= start);
                    if (const json* events = sp.get("events")) {
                        BBX_FUZZ_CHECK(events->t == json::type::array);
                        for (const json& ev : events->a) {
                            uint64_t t = decimal_u64(ev.get("timeUnixNano"));
                            BBX_FUZZ_CHECK(t >= start && t <= end);
                        }
                    }
                }
            }
        }
    }
}

// ---- protobuf ---------------------------------------------------------------------

// One field of a protobuf message.
struct pb_field {
    uint32_t number = 0, wire = 0;
    uint64_t value = 0;     // varint, fixed64, fixed32
    std::string_view bytes; // length-delimited
};

// Walks one message's fields; false if the wire format is broken.
template <class F>
bool pb_walk(std::string_view m, F&& fn) {
    size_t i = 0;
    auto varint = [&](uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (i >= m.size()) return false;
            uint8_t b = uint8_t(m[i++]);
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    };
    while (i < m.size()) {
        uint64_t tag;
        if (!varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
        pb_field f;
        f.number = uint32_t(tag >> 3);
        f.wire = uint32_t(tag & 7);
        switch (f.wire) {
            case 0:
                if (!varint(f.value)) return false;
                break;
            case 1:
                if (m.size() - i < 8) return false;
                std::memcpy(&f.value, m.data() + i, 8);
                i += 8;
                break;
            case 2: {
                uint64_t n;
                if (!varint(n) || n > m.size() - i) return false;
                f.bytes = m.substr(i, size_t(n));
                i += size_t(n);
                break;
            }
            case 5: {
                if (m.size() - i < 4) return false;
                uint32_t v;
                std::memcpy(&v, m.data() + i, 4);
                f.value = v;
                i += 4;
                break;
            }
            default: return false;  // groups are not used
        }
        fn(f);
    }
    return true;
}

// Perfetto (perfetto.cpp's promises): a Trace, i.e. only packets (field 1),
// each a well-formed TracePacket; its TrackEvents well-formed, their slices
// balanced per track (SLICE_END never without a SLICE_BEGIN, none left
// open); debug annotation strings and interned names valid UTF-8.
inline void check_perfetto(std::string_view bytes) {
    std::map<uint64_t, int64_t> depth;  // track uuid -> open slices
    uint64_t packets = 0;
    bool ok = pb_walk(bytes, [&](const pb_field& packet) {
        BBX_FUZZ_CHECK(packet.number == 1 && packet.wire == 2);
        ++packets;
        bool pok = pb_walk(packet.bytes, [&](const pb_field& f) {
            if (f.number == 11 && f.wire == 2) {  // track_event
                uint64_t type = 0, track = 0;
                bool eok = pb_walk(f.bytes, [&](const pb_field& t) {
                    if (t.number == 9 && t.wire == 0) type = t.value;
                    if (t.number == 11 && t.wire == 0) track = t.value;
                    if (t.number == 4 && t.wire == 2) {  // debug_annotations
                        BBX_FUZZ_CHECK(pb_walk(t.bytes, [&](const pb_field& d) {
                            if ((d.number == 6 || d.number == 10) && d.wire == 2) BBX_FUZZ_CHECK(utf8_ok(d.bytes));
                        }));
                    }
                });
                BBX_FUZZ_CHECK(eok);
                if (type == 1) ++depth[track];
                if (type == 2) BBX_FUZZ_CHECK_MSG(--depth[track] >= 0, "SLICE_END without its begin");
            } else if (f.number == 12 && f.wire == 2) {  // interned_data: {iid, name} entries
                BBX_FUZZ_CHECK(pb_walk(f.bytes, [&](const pb_field& list) {
                    if (list.wire != 2) return;
                    BBX_FUZZ_CHECK(pb_walk(list.bytes, [&](const pb_field& entry) {
                        if (entry.number == 2 && entry.wire == 2) BBX_FUZZ_CHECK(utf8_ok(entry.bytes));
                    }));
                }));
            } else if (f.number == 60 && f.wire == 2) {  // track_descriptor: name
                BBX_FUZZ_CHECK(pb_walk(f.bytes, [&](const pb_field& d) {
                    if (d.number == 2 && d.wire == 2) BBX_FUZZ_CHECK(utf8_ok(d.bytes));
                }));
            }
        });
        BBX_FUZZ_CHECK(pok);
    });
    BBX_FUZZ_CHECK_MSG(ok, "the Perfetto output is not a well-formed sequence of packets");
    BBX_FUZZ_CHECK(packets > 0);
    for (const auto& [track, d] : depth) BBX_FUZZ_CHECK_MSG(d == 0, "slice left open on track " + std::to_string(track));
}

// ---- running the converters ---------------------------------------------------------

// The outputs a capture can be turned into.
enum class output : uint8_t { perfetto, chrome, otlp, analyze_text, analyze_json, dump, info };
inline constexpr unsigned output_count = 7;

// Writes c as `o` into memory and checks the result.
inline void convert_and_check(const bbx::dec::capture& c, output o, const bbx::dec::analyze_options& aopt = {}) {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    BBX_FUZZ_CHECK(f != nullptr);
    std::string err;
    bool ok = false;
    bbx::dec::analyze_options a = aopt;
    switch (o) {
        case output::perfetto: ok = bbx::dec::write_perfetto(c, f, err); break;
        case output::chrome: ok = bbx::dec::write_chrome(c, f, err); break;
        case output::otlp: ok = bbx::dec::write_otlp(c, f, err); break;
        case output::analyze_text: a.json = false; ok = bbx::dec::write_analysis(c, a, f, err); break;
        case output::analyze_json: a.json = true; ok = bbx::dec::write_analysis(c, a, f, err); break;
        case output::dump: ok = bbx::dec::write_dump(c, f, err); break;
        case output::info: ok = bbx::dec::write_info(c, f, err); break;
    }
    BBX_FUZZ_CHECK(std::fclose(f) == 0);
    std::string text(buf ? buf : "", len);
    std::free(buf);
    // Writing to memory cannot fail, and the capture was readable.
    BBX_FUZZ_CHECK_MSG(ok, err);
    switch (o) {
        case output::perfetto: check_perfetto(text); break;
        case output::chrome: check_chrome(text); break;
        case output::otlp: check_otlp(text); break;
        case output::analyze_json: {
            json v = parse_json_or_die(text, "bbx analyze --json output");
            BBX_FUZZ_CHECK(v.t == json::type::object);
            break;
        }
        case output::analyze_text:
        case output::dump:
        case output::info: {
            std::string problem = terminal_text_problem(text);
            static const char* names[] = {"", "", "", "bbx analyze", "", "bbx dump", "bbx info"};
            BBX_FUZZ_CHECK_MSG(problem.empty(), std::string(names[unsigned(o)]) + ": " + problem);
            break;
        }
    }
}

}  // namespace bbx_fuzz
