// `bbx dump` (one event per line, stable and greppable, then a trailer line
// `# losses: ...`) and `bbx info`.
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <ctime>
#include <memory>
#include <unordered_set>

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
        case fmt::kind::task_spawn: return "spawn";
        case fmt::kind::task_poll_begin: return "poll_begin";
        case fmt::kind::task_poll_end: return "poll_end";
        case fmt::kind::task_wake: return "wake";
        case fmt::kind::task_complete: return "complete";
        case fmt::kind::wait_begin: return "wait_begin";
        case fmt::kind::wait_end: return "wait_end";
        case fmt::kind::resource_op: return "resource_op";
        case fmt::kind::crash: return "crash";
        case fmt::kind::span_context: return "context";
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

// Length of the valid UTF-8 sequence of two or more bytes at p, or 0
// (overlong forms, surrogates and values above U+10FFFF are not valid).
size_t utf8_seq(const unsigned char* p, size_t n) {
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned v = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; ++i) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    return len;
}

// Strings are quoted, with \" and \\ escaped; valid UTF-8 shows as it is,
// control characters (C0, DEL, C1) and bytes that are not valid UTF-8 as \xNN.
void put_quoted(std::string& o, std::string_view s) {
    o += '"';
    auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            o += '\\';
            o += char(c);
            ++i;
        } else if (c >= 0x20 && c < 0x7f) {
            o += char(c);
            ++i;
        } else if (size_t n = c >= 0x80 ? utf8_seq(p + i, s.size() - i) : 0; n && !(c == 0xc2 && p[i + 1] < 0xa0)) {
            o.append(s.data() + i, n);  // (a C1 control, U+0080 .. U+009F, is \xNN as the bytes of no character)
            i += n;
        } else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            o += b;
            ++i;
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

// A duration given in microseconds, as "10 ms", "2.5 ms" or "500 us".
std::string ms_text(uint32_t us) {
    char b[32];
    if (us < 1000) std::snprintf(b, sizeof b, "%u us", us);
    else if (us % 1000 == 0) std::snprintf(b, sizeof b, "%u ms", us / 1000);
    else std::snprintf(b, sizeof b, "%.3g ms", us / 1000.0);
    return b;
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
        case fmt::site_kind::task: return "task";
        case fmt::site_kind::await: return "await";
    }
    return "?";
}

const char* op_name(uint64_t op) {
    static const char* n[] = {"?", "send", "recv", "lock", "timer", "join", "other"};
    return op <= fmt::resource_op_last ? n[op] : "?";
}

// Task events: `task=ID` and what the kind adds, then `at=file:line` for an await site.
void put_task(std::string& line, const capture& c, const event& e) {
    line += "  ";
    if (e.where) {
        line += printable(e.where->category);
        line += "  ";
        line += printable(e.where->name);
    } else {
        line += "-  -";
    }
    line += "  task=";
    line += std::to_string(e.task);
    switch (e.kind) {
        case fmt::kind::task_spawn:
            line += " parent=" + std::to_string(e.spawn.parent) + " frame=" + std::to_string(e.spawn.frame_bytes);
            break;
        case fmt::kind::task_wake: line += " by=" + std::to_string(e.wake.waker); break;
        case fmt::kind::wait_begin:
        case fmt::kind::wait_end:
        case fmt::kind::resource_op: {
            line += " resource=";
            const resource* r = c.find_resource(e.res.id);
            if (r) put_quoted(line, r->name);
            line += "#" + std::to_string(e.res.id);
            line += " op=";
            line += op_name(e.res.op);
            break;
        }
        default: break;
    }
    if (e.where && e.where->kind == fmt::site_kind::await) {
        line += " at=";
        line += printable(e.where->file);
        line += ':';
        line += std::to_string(e.where->line);
    }
}

const char* signal_name(int s) {
    switch (s) {
        case 4: return "SIGILL";
        case 5: return "SIGTRAP";
        case 6: return "SIGABRT";
        case 7: return "SIGBUS";
        case 8: return "SIGFPE";
        case 11: return "SIGSEGV";
        default: return nullptr;
    }
}

void put_hex(std::string& line, uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    line += b;
}

// signal=SIGSEGV code=1 addr=0x0 pc=0x... base=0x... frames=0x..,0x..
void put_crash_fields(std::string& line, const crash_info& c) {
    line += "signal=";
    const char* n = signal_name(c.signo);
    line += n ? n : std::to_string(c.signo);
    line += " code=" + std::to_string(c.code) + " addr=";
    put_hex(line, c.addr);
    line += " pc=";
    put_hex(line, c.pc);
    line += " base=";
    put_hex(line, c.exe_base);
    line += " frames=";
    for (uint32_t i = 0; i < c.nframes; ++i) {
        if (i) line += ',';
        put_hex(line, c.frames[i]);
    }
}

void put_crash(std::string& line, const crash_info& c) {
    line += "  -  -  ";
    put_crash_fields(line, c);
}

// --symbols: opens the executable before anything is written.
bool open_symbols(const crash_options& opt, std::unique_ptr<symbolizer>& sym, std::string& err) {
    if (opt.symbols.empty()) return true;
    auto s = symbolizer::open(opt.symbols);
    if (s.is_error()) {
        err = s.err().what;
        return false;
    }
    sym = std::make_unique<symbolizer>(std::move(s.value()));
    return true;
}

// The crash record's frames, one line each, after a newline.
void put_symbolised(std::string& o, const symbolizer& sym, const crash_info& c) {
    auto frames = sym.crash_frames(c);
    if (frames.is_error()) {
        o += "\n      (no symbols: " + frames.err().what + ")";
        return;
    }
    std::string text;
    put_frames(text, frames.value());
    if (!text.empty() && text.back() == '\n') text.pop_back();
    o += '\n';
    o += text;
}

// 1.4: a stall sample (spec/stall-stacks.md) after "time  thread  stall":
// `-  -  sample=N stack=F0 < F1 < ...`, innermost frame first, each as bbx
// analyze names it ("function at file:line", each function inlined there
// its own frame; "?? (object+0xoffset)" without a symbol), or the address
// when no loaded object holds it. "(outer frames cut)" ends a stack that had
// more frames than a sample keeps.
void put_stall(std::string& line, const stall_symbolizer& sym, const stall_sample& s) {
    line += "  -  -  sample=" + std::to_string(s.number) + " stack=";
    char b[64];
    for (size_t i = 0; i < s.frames.size(); ++i) {
        if (i) line += " < ";
        const frame_symbol* f = sym.find(s.frames[i], i > 0);
        if (f && !f->where.empty()) {
            for (size_t k = 0; k < f->where.size(); ++k) {
                const source_location& l = f->where[k];
                if (k) line += " < ";
                line += l.function.empty() ? "??" : printable(l.function);
                if (!l.file.empty()) line += " at " + printable(l.file) + (l.line ? ":" + std::to_string(l.line) : "");
            }
        } else if (f && !f->object.empty()) {
            std::snprintf(b, sizeof b, "+0x%" PRIx64 ")", f->offset);
            line += "?? (" + printable(f->object) + b;
        } else {
            put_hex(line, s.frames[i]);
        }
    }
    if (s.flags & fmt::stall_sample_truncated) line += " < (outer frames cut)";
}

}  // namespace

bool write_dump(const input& in, std::FILE* out, std::string& err, const crash_options& opt) {
    const capture& c = *in.cap;
    std::unique_ptr<symbolizer> sym;
    if (!open_symbols(opt, sym, err)) return false;
    std::string line;
    line.reserve(512);
    bool ok = true;
    std::unordered_set<uint64_t> named;  // 1.4: tasks the task table names, at their first event here
    // 1.4: the stall samples, each before the first event later than it (as
    // the timeline hands them to the other writers); like thread names and
    // crash records, only --thread and the time window drop them.
    std::vector<const stall_sample*> samples;
    for (const stall_sample& s : c.stall_samples())
        if (!in.filter || (in.filter->keeps_thread(s.thread) && s.ns >= in.filter->since_ns() && s.ns <= in.filter->until_ns()))
            samples.push_back(&s);
    std::stable_sort(samples.begin(), samples.end(), [](const stall_sample* a, const stall_sample* b) { return a->ns < b->ns; });
    std::unique_ptr<stall_symbolizer> stall_sym;
    if (!samples.empty()) stall_sym = std::make_unique<stall_symbolizer>(c);
    size_t next_sample = 0;
    auto samples_until = [&](int64_t ns) {
        for (; next_sample < samples.size() && (samples[next_sample]->ns < ns || ns == INT64_MAX); ++next_sample) {
            const stall_sample& s = *samples[next_sample];
            line.clear();
            put_time(line, s.ns);
            line += "  T" + std::to_string(s.thread) + "  stall";
            put_stall(line, *stall_sym, s);
            line += '\n';
            if (ok && std::fwrite(line.data(), 1, line.size(), out) != line.size()) ok = false;
        }
    };
    auto r = in.read([&](const event& e) {
        samples_until(e.ns);
        line.clear();
        put_time(line, e.ns);
        line += "  T";
        line += std::to_string(e.thread);
        line += "  ";
        line += kind_name(e.kind);
        if (e.kind == fmt::kind::thread_name) {
            line += "  -  -  name=";
            put_quoted(line, e.thread_name);
        } else if (e.kind == fmt::kind::crash) {
            put_crash(line, *e.crash);
            if (sym) put_symbolised(line, *sym, *e.crash);
        } else if (e.kind == fmt::kind::span_context) {
            char b[128];
            static const char* roles[] = {"?", "internal", "server", "client", "producer", "consumer"};
            std::snprintf(b, sizeof b, "  -  -  trace=%016" PRIx64 "%016" PRIx64 " span=%016" PRIx64 " parent=%016" PRIx64
                                       " role=%s flags=%02x",
                          e.context.trace_hi, e.context.trace_lo, e.context.span_id, e.context.parent_span_id,
                          roles[e.context.role <= 5 ? e.context.role : 0], unsigned(e.context.flags));
            line += b;
        } else if (uint8_t(e.kind) >= fmt::kind_first_task && uint8_t(e.kind) <= fmt::kind_last_task) {
            put_task(line, c, e);
            // 1.4: a task whose spawn event is not here, named once from the task table (spec/identities.md).
            if (const task_identity* ti = e.task ? c.find_task_identity(e.task) : nullptr;
                ti && named.insert(e.task).second && e.kind != fmt::kind::task_spawn) {
                line += "  (task table: ";
                if (ti->where) {
                    put_quoted(line, ti->where->name);
                    line += " spawned at " + printable(ti->where->file) + ":" + std::to_string(ti->where->line);
                } else {
                    line += "no spawn site";
                }
                line += " parent=" + std::to_string(ti->parent) + " frame=" + std::to_string(ti->frame_bytes) + ")";
            }
        } else {
            line += "  ";
            line += e.where->category.empty() ? "-" : printable(e.where->category);
            line += "  ";
            line += printable(e.where->name);
            for (uint32_t i = 0; i < e.nargs; ++i) {
                line += i ? " " : "  ";
                line += printable(e.args[i].decl->name);
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
    samples_until(INT64_MAX);
    // The trailer: what the capture lost, so a dump never hides it. '#'
    // starts no event line (those start with the time).
    line = "# losses: " + losses_of(c, r.value()).text() + "\n";
    if (ok && std::fwrite(line.data(), 1, line.size(), out) != line.size()) ok = false;
    if (!ok || std::fflush(out) != 0) {
        err = "write failed";
        return false;
    }
    return true;
}

bool write_info(const input& in, std::FILE* out, std::string& err, const crash_options& opt) {
    const capture& c = *in.cap;
    std::unique_ptr<symbolizer> sym;
    if (!open_symbols(opt, sym, err)) return false;
    // One pass for counts, the time range and the crash records.
    int64_t first = 0, last = 0;
    bool any = false;
    struct crash_seen {
        uint32_t thread;
        int64_t ns;
        crash_info info;
    };
    std::vector<crash_seen> crashes;
    // Per thread: its first and last event (what its ring holds), for the history block.
    std::vector<std::pair<int64_t, int64_t>> held(c.threads().size(), {INT64_MAX, INT64_MIN});
    auto r = in.read([&](const event& e) {
        if (!any) first = e.ns;
        last = e.ns;
        any = true;
        if (e.thread < held.size()) {
            auto& [f, l] = held[e.thread];
            if (e.ns < f) f = e.ns;
            if (e.ns > l) l = e.ns;
        }
        if (e.kind == fmt::kind::crash) crashes.push_back({e.thread, e.ns, *e.crash});
    });
    if (r.is_error()) {
        err = r.err().message();
        return false;
    }
    const std::vector<ring_stats>& stats = r.value().threads;
    const header_info& h = c.header();
    std::string o;
    char b[512];
    auto line = [&](const char* key, const std::string& v) {
        std::snprintf(b, sizeof b, "%-12s%s\n", key, v.c_str());
        o += b;
    };
    line("file", c.name());
    const container_info& box = c.container();
    std::string format_text = std::to_string(h.version_major) + "." + std::to_string(h.version_minor) + ", ring file";
    if (box.present)
        format_text += " in a capture container " + std::to_string(box.version_major) + "." +
                       std::to_string(box.version_minor) + " (" + std::to_string(box.chunks) +
                       (box.chunks == 1 ? " LZ4 chunk of " : " LZ4 chunks of ") + human_bytes(box.chunk_size) + ")";
    line("format", format_text);
    line("process", printable(h.process_name) + " (pid " + std::to_string(h.pid) + ")");
    if (!h.exe_path.empty()) line("exe", printable(h.exe_path));
    line("started", utc(h.anchors[0].realtime_ns));
    std::snprintf(b, sizeof b, "%.6f GHz counter (measured at start %.6f GHz)", h.fit_hz / 1e9, h.tick_hz / 1e9);
    line("clock", b);
    std::string ended = (h.flags & fmt::flag_ended_crash)   ? "by a crash"
                        : (h.flags & fmt::flag_ended_clean) ? "cleanly (bbx::stop)"
                                                            : "not ended: writer still running, or killed";
    line("ended", ended);
    line("mode", (h.flags & fmt::flag_discard) ? "discard newest when a ring is full" : "overwrite oldest when a ring is full");
    // 2.0 slots are 16 bytes, 1.x slots 32.
    const uint32_t slot_bytes = h.version_major >= fmt::v2::version_major ? fmt::v2::slot_size : fmt::slot_size;
    std::snprintf(b, sizeof b, "%u of %u used, %s each (%u slots); file %s", h.rings_used, h.ring_count,
                  human_bytes(h.ring_size).c_str(), h.ring_size / slot_bytes, human_bytes(h.file_size).c_str());
    line("rings", b);
    std::snprintf(b, sizeof b, "%s of %s used, %zu call sites", human_bytes(h.meta_used).c_str(),
                  human_bytes(h.meta_capacity).c_str(), c.sites().size());
    line("metadata", b);
    if (const identity_stats& id = c.identities(); id.present) {
        // 1.4: the identity region (spec/identities.md).
        std::string v = std::to_string(id.tasks_live + id.tasks_completed) + " of " + std::to_string(h.task_entries) +
                        " task entries used (" + std::to_string(id.tasks_live) + " live, " +
                        std::to_string(id.tasks_completed) + " completed), " + std::to_string(h.tasks_untracked) +
                        (h.tasks_untracked == 1 ? " spawn untracked (table full); " : " spawns untracked (table full); ") +
                        std::to_string(id.contexts_open) + " open span contexts, " + std::to_string(h.contexts_untracked) +
                        " past " + std::to_string(fmt::context_entries_per_ring) + " deep untracked; " +
                        human_bytes(h.identity_size);
        if (id.torn) v += "; " + std::to_string(id.torn) + " entries being written, ignored";
        if (id.bad) v += "; " + std::to_string(id.bad) + " bad entries ignored (first: " + id.first_bad + ")";
        line("identities", v);
    }
    if (fmt::feature_minor(h.version_major, h.version_minor) >= fmt::minor_stall) {
        // 1.4: stall stacks (spec/stall-stacks.md), when configured.
        std::string v = "off (neither bbx::config::stall_ms nor BBX_STALL_MS set)";
        if (h.stall_samples_per_ring) {
            std::unordered_set<uint32_t> threads;
            for (const stall_sample& s : c.stall_samples()) threads.insert(s.thread);
            v = "a poll or span past " + ms_text(h.stall_threshold_us) + " sampled every " + ms_text(h.stall_period_us) +
                ", by " + ((h.stall_flags & fmt::stall_flag_frame_pointers) ? "frame pointers" : "the DWARF unwinder") + "; " +
                std::to_string(c.stall_samples().size()) + (c.stall_samples().size() == 1 ? " sample" : " samples") +
                " on " + std::to_string(threads.size()) + (threads.size() == 1 ? " thread" : " threads") + " (room for " +
                std::to_string(h.stall_samples_per_ring) + " per ring); " + std::to_string(c.loaded_objects().size()) +
                " loaded objects recorded (room for " + std::to_string(h.stall_mappings) + ")";
        }
        line("stalls", v);
    }
    std::snprintf(b, sizeof b, "%u threads without a ring, %u call sites without metadata, %" PRIu64 " events lost to them",
                  h.threads_dropped, h.sites_dropped, h.events_dropped);
    line("dropped", b);
    uint64_t total = 0, over = 0, torn = 0, dropped = 0, skipped = 0, untimed = 0, unresolved = 0;
    for (const ring_stats& s : stats) {
        untimed += s.untimed;
        unresolved += s.unresolved;
        total += s.events;
        over += s.overwritten;
        torn += s.torn + s.overwritten_in_read;
        dropped += s.events_dropped;
        skipped += s.unknown_kind + s.bad_site + s.malformed + s.orphan;
    }
    if (any) std::snprintf(b, sizeof b, "%.6f s, first to last event", double(last - first) / 1e9);
    else std::snprintf(b, sizeof b, "no events");
    line("span", b);
    std::snprintf(b, sizeof b, "%" PRIu64 " readable, %" PRIu64 " overwritten, %" PRIu64 " dropped, %" PRIu64
                               " torn slots, %" PRIu64 " skipped",
                  total, over, dropped, torn, skipped);
    {
        // 2.0: events without a time base or without their implicit task (only when there are).
        std::string v = b;
        if (untimed) v += ", " + std::to_string(untimed) + " untimed (no time base)";
        if (unresolved) v += ", " + std::to_string(unresolved) + " unresolved (current task unknown)";
        line("events", v);
    }
    {
        // Raw: the slots still holding data, over the events they hold. LZ4:
        // the whole capture as a container (header, metadata and empty rings
        // included), as read, or as bbx snapshot would write it.
        std::string packed_text;
        uint64_t packed = 0;
        if (box.present) {
            packed = box.file_bytes;
            packed_text = human_bytes(packed) + " for the " + human_bytes(box.image_bytes) + " image: this container";
        } else {
            auto est = c.write_container([](const void*, size_t) { return true; });
            if (!est.is_error()) {
                packed = est.value().container_bytes;
                packed_text = human_bytes(packed) + " for the " + human_bytes(h.file_size) +
                              " file, estimated by compressing its image";
            } else {
                packed_text = "not estimated: " + est.err().what;
            }
        }
        uint64_t nslots = h.ring_size / slot_bytes, used = 0;
        for (const ring_stats& s : stats) used += s.write_pos < nslots ? s.write_pos : nslots;
        if (total && packed)
            std::snprintf(b, sizeof b, "raw ring %.1f bytes/event (%.2f slots of %u bytes), LZ4 capture %.1f bytes/event (%s)",
                          double(used) * slot_bytes / double(total), double(used) / double(total), slot_bytes,
                          double(packed) / double(total), packed_text.c_str());
        else if (total)
            std::snprintf(b, sizeof b, "raw ring %.1f bytes/event (%.2f slots of %u bytes), LZ4 capture (%s)",
                          double(used) * slot_bytes / double(total), double(used) / double(total), slot_bytes,
                          packed_text.c_str());
        else
            std::snprintf(b, sizeof b, "no readable events; LZ4 capture %s", packed_text.c_str());
        line("size", b);
    }
    o += "\nthreads\n";
    std::snprintf(b, sizeof b, "  %-5s %-8s %-20s %10s %12s %12s %10s %6s  %s\n", "ring", "tid", "name", "events",
                  "written", "overwritten", "dropped", "torn", "state");
    o += b;
    for (size_t i = 0; i < c.threads().size(); ++i) {
        const thread_info& t = c.threads()[i];
        const ring_stats& s = stats[i];
        const char* st = t.state == fmt::ring_released ? "exited" : t.state == fmt::ring_owned ? "live" : "free";
        std::snprintf(b, sizeof b, "  %-5u %-8u %-20s %10" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %6" PRIu64
                                   "  %s\n",
                      t.ring, t.tid,
                      // a longer (hostile) name is cut here, not by snprintf: mid-character, with the line end
                      t.name.empty() ? "-" : printable(std::string_view(t.name).substr(0, fmt::max_thread_name)).c_str(),
                      s.events, s.events_written,
                      s.overwritten, s.events_dropped, s.torn + s.overwritten_in_read, st);
        o += b;
    }
    // What each ring holds: the time from its first to its last event, the
    // rate of events over that time, and the ring bytes per second those
    // events fill (ring bytes per surviving event, counted before any filter,
    // times the rate): the figures that size a ring (README "How far back a
    // capture reaches").
    // 2.0: and the ring bytes per event it holds (its slots in the window
    // over the events read from them, all its owners'), on its latest owner.
    const bool per_event = h.version_major >= fmt::v2::version_major;
    o += "\nhistory (per ring: first to last event held, the event rate over that time, the ring bytes it fills per"
         " second,\n         and how long a ring of this size holds at that rate)\n";
    std::snprintf(b, sizeof b, "  %-5s %-8s %-20s %12s %10s %12s %12s %10s", "ring", "tid", "name", "held s", "events",
                  "events/s", "ring/s", "holds s");
    o += b;
    o += per_event ? "  bytes/event\n" : "\n";
    for (size_t i = 0; i < c.threads().size(); ++i) {
        const thread_info& t = c.threads()[i];
        const ring_stats& s = stats[i];
        const uint64_t nslots = h.ring_size / slot_bytes;
        const uint64_t used = s.write_pos < nslots ? s.write_pos : nslots;
        const uint64_t in_ring = s.events_written > s.overwritten ? s.events_written - s.overwritten : 0;
        const int64_t span = held[i].second >= held[i].first ? held[i].second - held[i].first : -1;
        std::string span_s = "-", rate_s = "-", bytes_s = "-", holds_s = "-";
        if (span >= 0) {
            std::snprintf(b, sizeof b, "%.6f", double(span) / 1e9);
            span_s = b;
        }
        if (span > 0 && s.events > 1) {
            // n events over their span: n - 1 intervals.
            const double rate = double(s.events - 1) * 1e9 / double(span);
            std::snprintf(b, sizeof b, "%.0f", rate);
            rate_s = b;
            if (in_ring && used) {  // (a hostile descriptor may claim events in an unwritten ring)
                const double bps = rate * double(used) * slot_bytes / double(in_ring);
                bytes_s = human_bytes(uint64_t(bps + 0.5)) + "/s";
                const double hold = double(h.ring_size) / bps;
                std::snprintf(b, sizeof b, hold >= 10 ? "%.1f" : "%.6f", hold);
                holds_s = b;
            }
        }
        std::snprintf(b, sizeof b, "  %-5u %-8u %-20s %12s %10" PRIu64 " %12s %12s %10s", t.ring, t.tid,
                      t.name.empty() ? "-" : printable(std::string_view(t.name).substr(0, fmt::max_thread_name)).c_str(),
                      span_s.c_str(), s.events, rate_s.c_str(), bytes_s.c_str(), holds_s.c_str());
        o += b;
        if (per_event) {
            uint64_t ring_events = 0;
            for (size_t k = 0; k < c.threads().size(); ++k)
                if (c.threads()[k].ring == t.ring) ring_events += stats[k].events;
            if (t.latest && ring_events) {
                std::snprintf(b, sizeof b, "  %11.1f", double(used) * slot_bytes / double(ring_events));
                o += b;
            } else {
                o += "  " + std::string(10, ' ') + "-";
            }
        }
        o += "\n";
    }
    // 1.3: the rings that changed hands, each with its owners in order.
    {
        std::string block;
        for (size_t i = 0; i < c.threads().size();) {
            size_t j = i;
            while (j < c.threads().size() && c.threads()[j].ring == c.threads()[i].ring) ++j;
            const thread_info& newest = c.threads()[j - 1];
            if (j - i > 1 || newest.generation > 1) {
                block += "  ring " + std::to_string(newest.ring) + ": " + std::to_string(j - i) +
                         (j - i == 1 ? " owner" : " owners") + " in the window of " + std::to_string(newest.generation) +
                         " so far";
                const ring_stats& rs = stats[j - 1];
                if (rs.unattributed) block += ", " + std::to_string(rs.unattributed) + " events unattributed";
                block += "\n";
                for (size_t k = i; k < j; ++k) {
                    const thread_info& t = c.threads()[k];
                    std::snprintf(b, sizeof b, "    gen %-6u tid %-8s %-20s %8" PRIu64 " events\n", t.generation,
                                  t.tid_known ? std::to_string(t.tid).c_str() : "unknown",
                                  t.name.empty() ? (t.tid_known ? "-" : "unknown")
                                                 : printable(std::string_view(t.name).substr(0, fmt::max_thread_name)).c_str(),
                                  stats[k].events);
                    block += b;
                }
            }
            i = j;
        }
        if (!block.empty()) o += "\nowners (rings that changed hands, oldest owner first)\n" + block;
    }
    // When each thread's drops happened (1.1 writers note the first and the latest).
    bool any_drops = false;
    for (const ring_stats& s : stats) any_drops = any_drops || s.events_dropped > 0;
    if (any_drops) {
        o += (h.flags & fmt::flag_discard) ? "\ndrops (discard mode: a full ring drops its thread's newer events)\n"
                                           : "\ndrops\n";
        auto secs = [&](uint64_t ticks) {
            std::string t;
            put_time(t, c.ticks_to_ns(ticks));
            return t.substr(t.find_first_not_of(' ')) + " s";
        };
        for (size_t i = 0; i < c.threads().size(); ++i) {
            const thread_info& t = c.threads()[i];
            const ring_stats& s = stats[i];
            if (!s.events_dropped) continue;
            std::string l = "  T" + std::to_string(t.ring) + " (tid " + std::to_string(t.tid) +
                            (t.name.empty() ? "" : ", " + printable(t.name)) + "): " + std::to_string(s.events_dropped) +
                            (s.events_dropped == 1 ? " event" : " events") + " dropped, ";
            if (s.first_drop_ticks && s.last_drop_ticks)
                l += "the first at " + secs(s.first_drop_ticks) + ", the latest at " + secs(s.last_drop_ticks);
            else
                l += "when is not recorded";
            o += l + "\n";
        }
    }
    if (!crashes.empty()) {
        o += "\ncrashes\n";
        for (const crash_seen& k : crashes) {
            std::snprintf(b, sizeof b, "  T%u", k.thread);
            std::string l = b;
            if (k.thread < c.threads().size()) l += " (tid " + std::to_string(c.threads()[k.thread].tid) + ")";
            l += " at";
            put_time(l, k.ns);
            l += " s: ";
            put_crash_fields(l, k.info);
            if (sym) put_symbolised(l, *sym, k.info);
            o += l + '\n';
        }
    }
    o += "\ncall sites\n";
    std::snprintf(b, sizeof b, "  %-5s %-8s %-6s %-16s %-24s %s\n", "id", "kind", "level", "category", "name", "where / args");
    o += b;
    for (const site& s : c.sites()) {
        std::string args;
        for (auto& a : s.args) {
            args += args.empty() ? "" : ", ";
            args += printable(a.name) + ":" + type_name(a.type);
        }
        // Built as a string: names may be long (up to 512 bytes each), and a fixed buffer would cut the line.
        auto pad = [](std::string v, size_t w) { return v.size() < w ? v + std::string(w - v.size(), ' ') : v; };
        o += "  " + pad(std::to_string(s.id), 5) + " " + pad(site_kind_name(s.kind), 8) + " " + pad(level_name(s.level), 6) +
             " " + pad(printable(s.category), 16) + " " + pad(printable(s.name), 24) + " " + printable(s.file) + ":" +
             std::to_string(s.line) + (args.empty() ? "" : " (" + args + ")") + "\n";
    }
    if (std::fwrite(o.data(), 1, o.size(), out) != o.size() || std::fflush(out) != 0) {
        err = "write failed";
        return false;
    }
    return true;
}

}  // namespace bbx::dec
