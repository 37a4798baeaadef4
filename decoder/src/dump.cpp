// `bbx dump` (one event per line, stable and greppable) and `bbx info`.
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <ctime>

#include "bbx/decoder.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

namespace {

const char* kind_name(fmt::kind k) {
    switch (k) {
        case fmt::kind::span_begin: return "begin";
        case fmt::kind::span_end: return "end";
        case fmt::kind::instant: return "instant";
        case fmt::kind::counter: return "counter";
        case fmt::kind::thread_name: return "thread_name";
        default: return "?";
    }
}

// Seconds since the capture's start with 9 decimals, right-aligned.
void put_time(std::string& o, int64_t ns) {
    char b[48];
    uint64_t a = ns < 0 ? uint64_t(-(ns + 1)) + 1 : uint64_t(ns);
    std::snprintf(b, sizeof b, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "", a / 1000000000u, a % 1000000000u);
    char pad[24];
    int w = std::snprintf(pad, sizeof pad, "%*s", 14, b);
    o.append(pad, size_t(w));
}

// Strings are quoted; bytes that are not printable ASCII or valid UTF-8 show as \xNN.
void put_quoted(std::string& o, std::string_view s) {
    o += '"';
    std::string v = valid_utf8(s);
    if (v == s) {
        for (char ch : s) {
            unsigned char c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                o += '\\';
                o += ch;
            } else if (c < 0x20 || c == 0x7f) {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02x", c);
                o += b;
            } else {
                o += ch;
            }
        }
    } else {
        for (char ch : s) {
            unsigned char c = static_cast<unsigned char>(ch);
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                o += ch;
            } else {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02x", c);
                o += b;
            }
        }
    }
    o += '"';
}

void put_value(std::string& o, const arg& a) {
    char b[64];
    switch (a.decl->type) {
        case fmt::arg_type::i64: {
            auto r = std::to_chars(b, b + sizeof b, a.as_i64());
            o.append(b, r.ptr);
            break;
        }
        case fmt::arg_type::u64: {
            auto r = std::to_chars(b, b + sizeof b, a.word);
            o.append(b, r.ptr);
            break;
        }
        case fmt::arg_type::f64: {
            auto r = std::to_chars(b, b + sizeof b, a.as_f64());
            o.append(b, r.ptr);
            break;
        }
        case fmt::arg_type::boolean: o += a.word ? "true" : "false"; break;
        case fmt::arg_type::string: put_quoted(o, a.str); break;
        default: o += '?';
    }
}

std::string human_bytes(uint64_t n) {
    char b[32];
    if (n >= (1u << 20)) std::snprintf(b, sizeof b, "%.1f MiB", double(n) / (1 << 20));
    else if (n >= 1024) std::snprintf(b, sizeof b, "%.1f KiB", double(n) / 1024);
    else std::snprintf(b, sizeof b, "%" PRIu64 " B", n);
    return b;
}

std::string utc(uint64_t realtime_ns) {
    time_t s = time_t(realtime_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[64];
    std::snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, realtime_ns % 1000000000u);
    return b;
}

const char* level_name(unsigned l) {
    static const char* n[] = {"off", "error", "warn", "info", "debug", "trace"};
    return l <= 5 ? n[l] : "?";
}

const char* type_name(fmt::arg_type t) {
    switch (t) {
        case fmt::arg_type::i64: return "i64";
        case fmt::arg_type::u64: return "u64";
        case fmt::arg_type::f64: return "f64";
        case fmt::arg_type::boolean: return "bool";
        case fmt::arg_type::string: return "str";
        default: return "?";
    }
}

const char* site_kind_name(fmt::site_kind k) {
    switch (k) {
        case fmt::site_kind::span: return "span";
        case fmt::site_kind::instant: return "instant";
        case fmt::site_kind::counter: return "counter";
    }
    return "?";
}

}  // namespace

bool write_dump(capture& c, std::FILE* out, std::string& err) {
    std::string line;
    line.reserve(512);
    bool ok = true;
    auto r = c.for_each_event([&](const event& e) {
        line.clear();
        put_time(line, e.ns);
        line += "  T";
        line += std::to_string(e.ring);
        line += "  ";
        line += kind_name(e.kind);
        if (e.kind == fmt::kind::thread_name) {
            line += "  -  -  name=";
            put_quoted(line, e.text);
        } else {
            line += "  ";
            line += e.where->category.empty() ? "-" : valid_utf8(e.where->category);
            line += "  ";
            line += valid_utf8(e.where->name);
            for (uint32_t i = 0; i < e.nargs; ++i) {
                line += i ? " " : "  ";
                line += valid_utf8(e.args[i].decl->name);
                line += '=';
                put_value(line, e.args[i]);
            }
        }
        line += '\n';
        if (ok && std::fwrite(line.data(), 1, line.size(), out) != line.size()) ok = false;
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    if (!ok || std::fflush(out) != 0) {
        err = "write failed";
        return false;
    }
    return true;
}

bool write_info(capture& c, std::FILE* out, std::string& err) {
    // One pass for counts and the time range.
    int64_t first = 0, last = 0;
    bool any = false;
    auto r = c.for_each_event([&](const event& e) {
        if (!any) first = e.ns;
        last = e.ns;
        any = true;
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    const header_info& h = c.header();
    std::string o;
    char b[512];
    auto line = [&](const char* key, const std::string& v) {
        std::snprintf(b, sizeof b, "%-12s%s\n", key, v.c_str());
        o += b;
    };
    line("file", c.name());
    line("format", std::to_string(h.version_major) + "." + std::to_string(h.version_minor) + ", ring file");
    line("process", valid_utf8(h.process_name) + " (pid " + std::to_string(h.pid) + ")");
    if (!h.exe_path.empty()) line("exe", valid_utf8(h.exe_path));
    line("started", utc(h.anchors[0].realtime_ns));
    std::snprintf(b, sizeof b, "%.6f GHz counter (measured at start %.6f GHz)", h.fit_hz / 1e9, h.tick_hz / 1e9);
    line("clock", b);
    std::string ended = (h.flags & fmt::flag_ended_crash)   ? "by a crash"
                        : (h.flags & fmt::flag_ended_clean) ? "cleanly (bbx::stop)"
                                                            : "not ended: writer still running, or killed";
    line("ended", ended);
    line("mode", (h.flags & fmt::flag_discard) ? "discard newest when a ring is full" : "overwrite oldest when a ring is full");
    std::snprintf(b, sizeof b, "%u of %u used, %s each (%u slots); file %s", h.rings_used, h.ring_count,
                  human_bytes(h.ring_size).c_str(), h.ring_size / fmt::slot_size, human_bytes(h.file_size).c_str());
    line("rings", b);
    std::snprintf(b, sizeof b, "%s of %s used, %zu call sites", human_bytes(h.meta_used).c_str(),
                  human_bytes(h.meta_capacity).c_str(), c.sites().size());
    line("metadata", b);
    std::snprintf(b, sizeof b, "%u threads without a ring, %u call sites without metadata, %" PRIu64 " events lost to them",
                  h.threads_dropped, h.sites_dropped, h.events_dropped);
    line("dropped", b);
    uint64_t total = 0, over = 0, torn = 0, dropped = 0, skipped = 0;
    for (size_t i = 0; i < c.threads().size(); ++i) {
        const ring_stats& s = c.stats()[i];
        total += s.events;
        over += s.overwritten;
        torn += s.torn + s.overwritten_in_read;
        dropped += c.threads()[i].events_dropped;
        skipped += s.unknown_kind + s.bad_site + s.malformed + s.orphan;
    }
    if (any) std::snprintf(b, sizeof b, "%.6f s, first to last event", double(last - first) / 1e9);
    else std::snprintf(b, sizeof b, "no events");
    line("span", b);
    std::snprintf(b, sizeof b, "%" PRIu64 " readable, %" PRIu64 " overwritten, %" PRIu64 " dropped, %" PRIu64
                               " torn slots, %" PRIu64 " skipped",
                  total, over, dropped, torn, skipped);
    line("events", b);
    if (total) {
        // Slots still holding data, over the events they hold: the real cost on disk.
        uint64_t nslots = h.ring_size / fmt::slot_size, used = 0;
        for (const thread_info& t : c.threads()) used += t.write_pos < nslots ? t.write_pos : nslots;
        std::snprintf(b, sizeof b, "%.1f bytes per readable event in the rings (%.2f slots of 32 bytes)",
                      double(used) * fmt::slot_size / double(total), double(used) / double(total));
        line("size", b);
    }
    o += "\nthreads\n";
    std::snprintf(b, sizeof b, "  %-5s %-8s %-20s %10s %12s %12s %10s %6s  %s\n", "ring", "tid", "name", "events",
                  "written", "overwritten", "dropped", "torn", "state");
    o += b;
    for (size_t i = 0; i < c.threads().size(); ++i) {
        const thread_info& t = c.threads()[i];
        const ring_stats& s = c.stats()[i];
        const char* st = t.state == fmt::ring_released ? "exited" : t.state == fmt::ring_owned ? "live" : "free";
        std::snprintf(b, sizeof b, "  %-5u %-8u %-20s %10" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %6" PRIu64
                                   "  %s\n",
                      t.ring, t.tid, t.name.empty() ? "-" : valid_utf8(t.name).c_str(), s.events, t.events_written,
                      s.overwritten, t.events_dropped, s.torn + s.overwritten_in_read, st);
        o += b;
    }
    o += "\ncall sites\n";
    std::snprintf(b, sizeof b, "  %-5s %-8s %-6s %-16s %-24s %s\n", "id", "kind", "level", "category", "name", "where / args");
    o += b;
    for (const site& s : c.sites()) {
        std::string args;
        for (auto& a : s.args) {
            args += args.empty() ? "" : ", ";
            args += valid_utf8(a.name) + ":" + type_name(a.type);
        }
        std::snprintf(b, sizeof b, "  %-5u %-8s %-6s %-16s %-24s %s:%u%s%s%s\n", s.id, site_kind_name(s.kind),
                      level_name(s.level), valid_utf8(s.category).c_str(), valid_utf8(s.name).c_str(),
                      valid_utf8(s.file).c_str(), s.line, args.empty() ? "" : " (", args.c_str(), args.empty() ? "" : ")");
        o += b;
    }
    if (std::fwrite(o.data(), 1, o.size(), out) != o.size() || std::fflush(out) != 0) {
        err = "write failed";
        return false;
    }
    return true;
}

}  // namespace bbx::dec
