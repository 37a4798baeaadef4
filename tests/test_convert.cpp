// The converters: a real capture goes out as Chrome JSON and as a Perfetto
// protobuf trace, and each output is read back by a reader that shares no
// code with its writer (python3's json module; a small protobuf wire parser
// here, with field numbers typed from Perfetto's .proto files), then compared
// event by event with what the test recorded.
#include <doctest/doctest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "support/proto_reader.hpp"
#include "support/capture.hpp"
#include "support/python.hpp"

using bbx::dec::capture;

namespace {

using bbx_test::field;
using bbx_test::hex;
using bbx_test::parse;
using bbx_test::read_file;
using bbx_test::this_tid;
using bbx_test::utf8_ok;

std::string shortest(double v) {
    char t[32];
    auto r = std::to_chars(t, t + sizeof t, v);
    return std::string(t, r.ptr);
}

// Python's repr of a finite float: the shortest round-trip digits, ".0" on
// whole numbers, exponents from 1e16 up and below 1e-4.
std::string python_repr(double v) {
    char t[40];
    const double m = std::fabs(v);
    auto r = (m != 0 && (m >= 1e16 || m < 1e-4)) ? std::to_chars(t, t + sizeof t, v, std::chars_format::scientific)
                                                 : std::to_chars(t, t + sizeof t, v, std::chars_format::fixed);
    std::string s(t, r.ptr);
    size_t e = s.find('e');
    if (e != std::string::npos) {
        // 5e-324, 1e+16: Python writes at least two exponent digits, as C++ does.
        return s;
    }
    if (s.find('.') == std::string::npos) s += ".0";
    return s;
}

// ---- what the test recorded, rendered as both outputs should read back ------

enum class out_format { chrome, perfetto };

struct exp_arg {
    std::string name;
    char type;  // i u f b s
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    bool b = false;
    std::string s;  // as it must come out: valid UTF-8
};
exp_arg ai(const char* n, int64_t v) { return {n, 'i', v, 0, 0, false, {}}; }
exp_arg au(const char* n, uint64_t v) { return {n, 'u', 0, v, 0, false, {}}; }
exp_arg af(const char* n, double v) { return {n, 'f', 0, 0, v, false, {}}; }
exp_arg ab(const char* n, bool v) { return {n, 'b', 0, 0, 0, v, {}}; }
exp_arg as(const char* n, std::string v) { return {n, 's', 0, 0, 0, false, std::move(v)}; }

// One line per event, the same for both formats except where JSON cannot
// say it: no unsigned type, and NaN/Inf written as strings.
std::string render(const exp_arg& a, out_format f) {
    switch (a.type) {
        case 'i': return "i:" + std::to_string(a.i);
        case 'u': return (f == out_format::chrome ? "i:" : "u:") + std::to_string(a.u);
        case 'b': return a.b ? "b:true" : "b:false";
        case 's': return "s:" + hex(a.s);
        default:
            if (f == out_format::perfetto) return "f:" + shortest(a.f);
            if (!std::isfinite(a.f)) return "s:" + hex(std::isnan(a.f) ? "NaN" : a.f > 0 ? "Infinity" : "-Infinity");
            return "f:" + python_repr(a.f);
    }
}

struct expected {
    std::map<uint32_t, std::vector<std::string>> chrome, perfetto;  // by tid
    void add(uint32_t tid, const std::string& head, const std::vector<exp_arg>& args = {}) {
        std::string c = head, p = head;
        for (const exp_arg& a : args) {
            c += " " + a.name + "=" + render(a, out_format::chrome);
            p += " " + a.name + "=" + render(a, out_format::perfetto);
        }
        chrome[tid].push_back(c);
        perfetto[tid].push_back(p);
    }
    void counter(uint32_t tid, const std::string& name, const exp_arg& v) {
        chrome[tid].push_back("C " + name + " " + render(v, out_format::chrome));
        perfetto[tid].push_back("C " + name + " " + render(v, out_format::perfetto));
    }
    void merge(const expected& o) {
        for (auto& [t, v] : o.chrome) chrome[t].insert(chrome[t].end(), v.begin(), v.end());
        for (auto& [t, v] : o.perfetto) perfetto[t].insert(perfetto[t].end(), v.begin(), v.end());
    }
};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += l + "\n";
    return s;
}

// What a reader recovered: event lines per tid, thread names, process name.
struct readback {
    std::map<uint32_t, std::vector<std::string>> lines;
    std::map<uint32_t, std::vector<std::string>> thread_names;  // every name given, in order
    std::string process_name;
    std::string losses;  // Perfetto: the name of the instant on the "bbx losses" track
    bool ok = false;
};

// The times (ns since the start) of the events the reader yields, per tid:
// every event a converter writes must carry one of its thread's.
using event_times = std::map<uint32_t, std::set<int64_t>>;
event_times times_of(const capture& c) {
    event_times t;
    auto r = c.for_each_event([&](const bbx::dec::event& e) {
        if (e.thread < c.threads().size()) t[c.threads()[e.thread].tid].insert(e.ns);
    });
    REQUIRE(!r.is_error());
    return t;
}

bool has_time(const event_times& t, uint32_t tid, int64_t ns) {
    auto it = t.find(tid);
    return it != t.end() && it->second.count(ns);
}

// ---- Chrome JSON, read by python3 --------------------------------------------

// Validates the file (prefix, UTF-8, strict JSON, B/E balance per thread, the
// unfinished mark at the thread's last timestamp) and prints what it read.

readback read_chrome(const std::string& json_path, uint32_t pid, const event_times& times, const std::string&) {
    readback rb;
    int status = 0;
    const std::string output = run_python("chrome_convert.py", {json_path, std::to_string(pid)}, status);
    INFO("python3 said:\n" << output.substr(0, 4000));
    REQUIRE(status == 0);
    size_t at = 0;
    while (at < output.size()) {
        size_t nl = output.find('\n', at);
        if (nl == std::string::npos) nl = output.size();
        std::string line = output.substr(at, nl - at);
        at = nl + 1;
        if (line == "OK") {
            rb.ok = true;
        } else if (line.rfind("L ", 0) == 0 || line.rfind("N ", 0) == 0) {
            size_t sp = line.find(' ', 2);
            REQUIRE(sp != std::string::npos);
            uint32_t tid = uint32_t(std::stoul(line.substr(2, sp - 2)));
            if (line[0] == 'L') {
                size_t sp2 = line.find(' ', sp + 1);
                REQUIRE(sp2 != std::string::npos);
                const int64_t ns = std::stoll(line.substr(sp + 1, sp2 - sp - 1));
                CHECK_MESSAGE(has_time(times, tid, ns), "chrome: no event of thread " << tid << " at " << ns << " ns: " << line);
                rb.lines[tid].push_back(line.substr(sp2 + 1));
            } else {
                rb.thread_names[tid].push_back(line.substr(sp + 1));
            }
        } else if (line.rfind("P ", 0) == 0) {
            rb.process_name = line.substr(2);
        } else {
            FAIL("unexpected checker output: " << line);
        }
    }
    CHECK(rb.ok);
    return rb;
}

// ---- Perfetto protobuf, read by a small wire parser ----------------------------

// Field numbers and wire types (0 varint, 1 fixed64, 2 length-delimited), from
// google/perfetto protos/perfetto/trace/{trace_packet,clock_snapshot}.proto,
// track_event/{track_event,track_descriptor,process_descriptor,
// thread_descriptor,counter_descriptor,debug_annotation}.proto and
// interned_data/interned_data.proto.
const std::map<uint32_t, uint32_t> trace_schema = {{1, 2}};
const std::map<uint32_t, uint32_t> packet_schema = {{6, 2},  {8, 0},  {10, 0}, {11, 2},
                                                    {12, 2}, {13, 0}, {60, 2}, {87, 0}};
const std::map<uint32_t, uint32_t> clock_snapshot_schema = {{1, 2}};
const std::map<uint32_t, uint32_t> clock_schema = {{1, 0}, {2, 0}};
const std::map<uint32_t, uint32_t> track_descriptor_schema = {{1, 0}, {2, 2}, {3, 2}, {4, 2}, {5, 0}, {8, 2}};
const std::map<uint32_t, uint32_t> process_schema = {{1, 0}, {6, 2}};
const std::map<uint32_t, uint32_t> thread_schema = {{1, 0}, {2, 0}, {5, 2}};
const std::map<uint32_t, uint32_t> counter_schema = {{2, 2}, {3, 0}};
const std::map<uint32_t, uint32_t> track_event_schema = {{3, 0}, {4, 2}, {9, 0}, {10, 0}, {11, 0}, {22, 2}, {23, 2}, {30, 0}, {44, 1}};
const std::map<uint32_t, uint32_t> annotation_schema = {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {6, 2}, {10, 2}};
const std::map<uint32_t, uint32_t> interned_schema = {{1, 2}, {2, 2}, {3, 2}};
const std::map<uint32_t, uint32_t> interned_entry_schema = {{1, 0}, {2, 2}};

double as_double(uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

std::string utf8_field(std::string_view s, const char* what) {
    CHECK_MESSAGE(utf8_ok(s), what << " is not valid UTF-8: " << hex(s));
    return std::string(s);
}

readback read_perfetto(const std::string& path, capture& c, const event_times& times) {
    readback rb;
    const std::string data = read_file(path);
    REQUIRE(!data.empty());

    struct sequence {
        bool valid = false;  // incremental state cleared at least once
        std::map<uint64_t, std::string> names, categories, annotation_names;
        uint32_t tid = 0;
        bool has_tid = false;
        uint64_t last_ts = 0;
    };
    struct track {
        enum { process, thread, counter, losses } kind;
        uint32_t tid = 0;
        std::string name;
        std::vector<std::string> open;  // labels of open slices
    };
    std::map<uint32_t, sequence> seqs;
    std::map<uint64_t, track> tracks;
    std::map<uint32_t, uint64_t> clocks;
    uint64_t process_uuid = 0;
    size_t packets = 0, events = 0;

    for (const field& top : parse(data, trace_schema, "Trace")) {
        ++packets;
        uint64_t ts = 0, flags = 0;
        uint32_t seq_id = 0;
        bool has_ts = false, first = false;
        std::string_view interned, event, descriptor, snapshot;
        for (const field& f : parse(top.bytes, packet_schema, "TracePacket")) {
            switch (f.num) {
                case 8: ts = f.v, has_ts = true; break;
                case 10: seq_id = uint32_t(f.v); break;
                case 13: flags = f.v; break;
                case 87: first = f.v != 0; break;
                case 12: interned = f.bytes; break;
                case 11: event = f.bytes; break;
                case 60: descriptor = f.bytes; break;
                case 6: snapshot = f.bytes; break;
            }
        }
        REQUIRE_MESSAGE(seq_id != 0, "packet " << packets << " has no trusted_packet_sequence_id");
        CHECK_MESSAGE(int(!event.empty()) + int(!descriptor.empty()) + int(!snapshot.empty()) == 1,
                      "packet " << packets << " carries not exactly one payload");
        sequence& sq = seqs[seq_id];
        if (first) CHECK_MESSAGE(!sq.valid, "first_packet_on_sequence twice on " << seq_id);
        if (flags & 1) {
            sq.valid = true;
            sq.names.clear();
            sq.categories.clear();
            sq.annotation_names.clear();
        }
        if (flags & 2) CHECK_MESSAGE(sq.valid, "sequence " << seq_id << " needs incremental state it never cleared");
        if (!interned.empty()) {
            CHECK((flags & 2) != 0);
            for (const field& f : parse(interned, interned_schema, "InternedData")) {
                uint64_t iid = 0;
                std::string name;
                for (const field& g : parse(f.bytes, interned_entry_schema, "interned entry")) {
                    if (g.num == 1) iid = g.v;
                    else name = utf8_field(g.bytes, "interned name");
                }
                CHECK(iid != 0);
                auto& table = f.num == 1 ? sq.categories : f.num == 2 ? sq.names : sq.annotation_names;
                auto [it, fresh] = table.emplace(iid, name);
                CHECK_MESSAGE((fresh || it->second == name), "iid " << iid << " redefined");
            }
        }
        if (!snapshot.empty()) {
            for (const field& f : parse(snapshot, clock_snapshot_schema, "ClockSnapshot")) {
                uint32_t id = 0;
                uint64_t t = 0;
                for (const field& g : parse(f.bytes, clock_schema, "Clock")) {
                    if (g.num == 1) id = uint32_t(g.v);
                    else t = g.v;
                }
                clocks[id] = t;
            }
            continue;
        }
        if (!descriptor.empty()) {
            uint64_t uuid = 0, parent = 0;
            std::string name;
            std::string_view proc, thr, ctr;
            bool is_counter = false;
            for (const field& f : parse(descriptor, track_descriptor_schema, "TrackDescriptor")) {
                switch (f.num) {
                    case 1: uuid = f.v; break;
                    case 2: name = utf8_field(f.bytes, "track name"); break;
                    case 3: proc = f.bytes; break;
                    case 4: thr = f.bytes; break;
                    case 5: parent = f.v; break;
                    case 8: ctr = f.bytes, is_counter = true; break;
                }
            }
            REQUIRE(uuid != 0);
            if (parent) CHECK_MESSAGE(tracks.count(parent), "parent track " << parent << " not described before");
            if (!proc.empty()) {
                for (const field& f : parse(proc, process_schema, "ProcessDescriptor")) {
                    if (f.num == 1) CHECK(f.v == c.header().pid);
                    else rb.process_name = utf8_field(f.bytes, "process name");
                }
                tracks[uuid] = track{track::process, 0, name, {}};
                process_uuid = uuid;
            } else if (!thr.empty()) {
                CHECK(parent == process_uuid);
                uint32_t tid = 0;
                std::string tname;
                for (const field& f : parse(thr, thread_schema, "ThreadDescriptor")) {
                    if (f.num == 1) CHECK(f.v == c.header().pid);
                    else if (f.num == 2) tid = uint32_t(f.v);
                    else tname = utf8_field(f.bytes, "thread name");
                }
                auto it = tracks.find(uuid);
                if (it != tracks.end()) CHECK(it->second.tid == tid);
                else tracks[uuid] = track{track::thread, tid, {}, {}};
                rb.thread_names[tid].push_back(tname);
                // The writer's layout: each thread's events ride on its own sequence.
                CHECK((!sq.has_tid || sq.tid == tid));
                sq.tid = tid;
                sq.has_tid = true;
            } else if (!is_counter && name == "bbx losses") {
                CHECK(parent == process_uuid);
                tracks[uuid] = track{track::losses, 0, name, {}};
            } else {
                REQUIRE(is_counter);
                parse(ctr, counter_schema, "CounterDescriptor");
                CHECK(parent == process_uuid);
                CHECK(!name.empty());
                tracks[uuid] = track{track::counter, 0, name, {}};
            }
            continue;
        }
        // A TrackEvent.
        ++events;
        REQUIRE(has_ts);
        CHECK_MESSAGE((flags & 2) != 0, "event packet without SEQ_NEEDS_INCREMENTAL_STATE");
        CHECK_MESSAGE(ts >= sq.last_ts, "timestamps go back on sequence " << seq_id);
        uint64_t type = 0, uuid = 0, name_iid = 0;
        std::vector<uint64_t> cats;
        std::vector<std::string_view> annotations;
        bool has_int = false, has_double = false;
        uint64_t counter_bits = 0;
        std::string inline_name;
        for (const field& f : parse(event, track_event_schema, "TrackEvent")) {
            switch (f.num) {
                case 23: inline_name = utf8_field(f.bytes, "event name"); break;
                case 9: type = f.v; break;
                case 11: uuid = f.v; break;
                case 10: name_iid = f.v; break;
                case 3: cats.push_back(f.v); break;
                case 4: annotations.push_back(f.bytes); break;
                case 30: counter_bits = f.v, has_int = true; break;
                case 44: counter_bits = f.v, has_double = true; break;
            }
        }
        auto tr = tracks.find(uuid);
        REQUIRE_MESSAGE(tr != tracks.end(), "event on track " << uuid << " before its descriptor");
        if (tr->second.kind == track::losses) {  // the one instant naming the losses
            CHECK(type == 3);
            CHECK(rb.losses.empty());
            rb.losses = inline_name;
            continue;
        }
        CHECK(inline_name.empty());
        std::string args;
        bool unfinished = false;
        for (std::string_view a : annotations) {
            std::string name, value;
            int values = 0;
            for (const field& f : parse(a, annotation_schema, "DebugAnnotation")) {
                switch (f.num) {
                    case 1: {
                        auto it = sq.annotation_names.find(f.v);
                        REQUIRE_MESSAGE(it != sq.annotation_names.end(), "annotation name iid " << f.v << " not interned");
                        name = it->second;
                        break;
                    }
                    case 10: name = utf8_field(f.bytes, "annotation name"); break;
                    case 2: value = f.v ? "b:true" : "b:false", ++values; break;
                    case 3: value = "u:" + std::to_string(f.v), ++values; break;
                    case 4: value = "i:" + std::to_string(int64_t(f.v)), ++values; break;
                    case 5: value = "f:" + shortest(as_double(f.v)), ++values; break;
                    case 6: value = "s:" + hex(utf8_field(f.bytes, "string value")), ++values; break;
                }
            }
            CHECK(values == 1);
            if (type == 2 && name == "unfinished" && value == "b:true") unfinished = true;
            else args += " " + name + "=" + value;
        }
        std::string label;
        if (type == 1 || type == 3) {
            auto n = sq.names.find(name_iid);
            REQUIRE_MESSAGE(n != sq.names.end(), "name iid " << name_iid << " not interned on sequence " << seq_id);
            std::string cat;
            for (uint64_t iid : cats) {
                auto k = sq.categories.find(iid);
                REQUIRE_MESSAGE(k != sq.categories.end(), "category iid " << iid << " not interned");
                cat += k->second;
            }
            label = cat + "/" + n->second;
        }
        track& t = tr->second;
        std::string line;
        switch (type) {
            case 1:
                REQUIRE(t.kind == track::thread);
                t.open.push_back(label);
                line = "B " + label + args;
                break;
            case 2:
                REQUIRE(t.kind == track::thread);
                REQUIRE_MESSAGE(!t.open.empty(), "SLICE_END with no open slice on thread " << t.tid);
                CHECK(args.empty());
                line = "E " + t.open.back();
                t.open.pop_back();
                if (unfinished) {
                    CHECK_MESSAGE(ts == sq.last_ts, "unfinished end not at the thread's last timestamp");
                    line += " unfinished";
                }
                break;
            case 3:
                REQUIRE(t.kind == track::thread);
                line = "I " + label + args;
                break;
            case 4:
                REQUIRE(t.kind == track::counter);
                REQUIRE(has_int != has_double);
                line = "C " + t.name + " " +
                       (has_int ? "i:" + std::to_string(int64_t(counter_bits)) : "f:" + shortest(as_double(counter_bits)));
                break;
            default: FAIL("TrackEvent type " << type);
        }
        if (t.kind == track::thread) CHECK_MESSAGE(sq.tid == t.tid, "event of thread " << t.tid << " on another thread's sequence");
        REQUIRE(sq.has_tid);
        // BOOTTIME: the capture's start on that clock plus the event's offset.
        CHECK_MESSAGE(has_time(times, sq.tid, int64_t(ts - c.start_boottime_ns())),
                      "perfetto: no event of thread " << sq.tid << " at BOOTTIME " << ts << ": " << line);
        sq.last_ts = ts;
        rb.lines[sq.tid].push_back(line);
    }
    for (const auto& kv : tracks) {
        const track& t = kv.second;
        CHECK_MESSAGE(t.open.empty(), "thread " << t.tid << " ends with open slices");
    }
    CHECK(clocks.size() == 3);
    CHECK(clocks[6] == c.start_boottime_ns());
    CHECK(clocks[3] == c.start_monotonic_ns());
    CHECK(clocks[1] == c.start_realtime_ns());
    CHECK(process_uuid != 0);
    CHECK(rb.losses.rfind("losses: ", 0) == 0);  // every trace states what the capture lost
    rb.ok = events > 0;
    return rb;
}

// ---- running both ----------------------------------------------------------------

struct outputs {
    std::string chrome, perfetto;
    explicit outputs(const std::string& tag)
        : chrome("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + tag + ".json"),
          perfetto("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + tag + ".pftrace") {
        unlink(chrome.c_str());
        unlink(perfetto.c_str());
    }
    ~outputs() {
        unlink(chrome.c_str());
        unlink(perfetto.c_str());
    }
};

std::shared_ptr<capture> open_capture(const std::string& path) {
    auto r = capture::open(path);
    INFO((r.is_error() ? r.err().message() : std::string()));
    REQUIRE(!r.is_error());
    return r.value();
}

void convert(capture& c, const outputs& o) {
    std::string err;
    std::FILE* f = std::fopen(o.chrome.c_str(), "wb");
    REQUIRE(f);
    bool ok = bbx::dec::write_chrome(c, f, err);
    std::fclose(f);
    INFO(err);
    REQUIRE(ok);
    f = std::fopen(o.perfetto.c_str(), "wb");
    REQUIRE(f);
    ok = bbx::dec::write_perfetto(c, f, err);
    std::fclose(f);
    REQUIRE(ok);
}

// The recorded program: a few threads, nested spans, every argument type.
expected record_worker(int n) {
    expected ex;
    const uint32_t tid = this_tid();
    bbx::set_thread_name(("worker-" + std::to_string(n)).c_str());
    // Bytes a capture may hold in a string: quote, backslash, control
    // characters, NUL, and ill-formed UTF-8 (an overlong C0 AF, a lone 80).
    const std::string_view raw("q\"b\\\n\x01\0x\xC0\xAF\x80!", 12);
    const std::string repaired = std::string("q\"b\\\n\x01", 6) + std::string(1, '\0') + "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!";
    for (int i = 0; i < 6; ++i) {
        {
            BBX_SPAN(INFO, "conv", "outer", bbx::arg("i", i), bbx::arg("worker", uint32_t(n)));
            ex.add(tid, "B conv/outer", {ai("i", i), au("worker", uint32_t(n))});
            BBX_COUNTER(INFO, "conv", "depth", int64_t(i) * 1000 - 2500);
            ex.counter(tid, "depth", ai("", int64_t(i) * 1000 - 2500));
            {
                BBX_SPAN(DEBUG, "conv.inner", "inner");
                ex.add(tid, "B conv.inner/inner");
                const uint64_t big = std::numeric_limits<uint64_t>::max() - uint64_t(i);
                const std::string text = "t\xC3\xA9xt-" + std::to_string(i);  // "téxt-i"
                BBX_INSTANT(INFO, "conv", "mark", bbx::arg("i64", int64_t(-42) - i), bbx::arg("u64", big),
                            bbx::arg("f64", 0.25 + i), bbx::arg("flag", i % 2 == 0), bbx::arg("text", text),
                            bbx::arg("raw", raw));
                ex.add(tid, "I conv/mark",
                       {ai("i64", int64_t(-42) - i), au("u64", big), af("f64", 0.25 + i), ab("flag", i % 2 == 0),
                        as("text", text), as("raw", repaired)});
                BBX_COUNTER(INFO, "conv", "load", 1.5 * i);  // whole numbers too: 0.0, 3.0
                ex.counter(tid, "load", af("", 1.5 * i));
            }
            ex.add(tid, "E conv.inner/inner");
        }
        ex.add(tid, "E conv/outer");
    }
    // Two renames: the thread's metadata keeps the last, the events both.
    bbx::set_thread_name(("renamed-" + std::to_string(n)).c_str());
    BBX_INSTANT(INFO, "conv", "quote\"back\\slash \xC3\xA9");
    ex.add(tid, "I conv/quote\"back\\slash \xC3\xA9");
    bbx::set_thread_name(("final-" + std::to_string(n)).c_str());
    return ex;
}

void compare(const std::map<uint32_t, std::vector<std::string>>& want, const readback& got, const char* what) {
    for (const auto& kv : want) {
        const uint32_t tid = kv.first;
        const std::vector<std::string>& lines = kv.second;
        auto it = got.lines.find(tid);
        REQUIRE_MESSAGE(it != got.lines.end(), what << ": no events for thread " << tid);
        INFO(what << ", thread " << tid);
        CHECK(join(it->second) == join(lines));
    }
}

}  // namespace

TEST_CASE("json_escape escapes quotes, backslashes and control characters") {
    std::string s;
    bbx::dec::json_escape(s, "plain");
    CHECK(s == "plain");
    s.clear();
    bbx::dec::json_escape(s, "a\"b\\c/d");
    CHECK(s == "a\\\"b\\\\c/d");
    s.clear();
    bbx::dec::json_escape(s, std::string_view("\x01\n\t\x1f\0\x7f", 6));
    CHECK(s == "\\u0001\\u000a\\u0009\\u001f\\u0000\\u007f");  // DEL too (it was passed through before)
    s.clear();
    bbx::dec::json_escape(s, "\xc2\x9b\xc2\x80\xc2\x9f\xc2\xa0");  // C1 controls; U+00A0 is not one
    CHECK(s == "\\u009b\\u0080\\u009f\xc2\xa0");
    s = "keep:";
    bbx::dec::json_escape(s, "x");
    CHECK(s == "keep:x");  // appends
}

TEST_CASE("json_escape and valid_utf8 turn ill-formed UTF-8 into U+FFFD and keep the rest") {
    const std::string r = "\xEF\xBF\xBD";
    struct {
        std::string in, out;
    } cases[] = {
        {"\x80", r},                                // lone continuation byte
        {"a\x80z", "a" + r + "z"},
        {"\xE2\x82", r},                            // truncated 3-byte sequence: one U+FFFD
        {"\xE2\x82z", r + "z"},
        {"\xF0\x9F\x98", r},                        // truncated 4-byte sequence
        {"\xC0\xAF", r + r},                        // overlong '/'
        {"\xE0\x80\xAF", r + r + r},                // overlong, 3 bytes
        {"\xED\xA0\x80", r + r + r},                // surrogate U+D800
        {"\xF4\x90\x80\x80", r + r + r + r},        // above U+10FFFF
        {"\xF5\xFF\xFE", r + r + r},                // never lead bytes
        {"\xC3", r},                                // truncated at the end
        {"\xC3\xA9", "\xC3\xA9"},                   // valid multi-byte passes through
        {"\xE2\x82\xAC", "\xE2\x82\xAC"},
        {"\xE0\xA0\x80", "\xE0\xA0\x80"},           // U+0800, the smallest 3-byte
        {"\xED\x9F\xBF", "\xED\x9F\xBF"},           // U+D7FF, just below the surrogates
        {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},   // U+1F600
        {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},   // U+10FFFF
        {"\xEF\xBF\xBD", "\xEF\xBF\xBD"},
    };
    for (const auto& c : cases) {
        INFO("input " << hex(c.in));
        CHECK(hex(bbx::dec::valid_utf8(c.in)) == hex(c.out));
        std::string j;
        bbx::dec::json_escape(j, c.in);
        CHECK(hex(j) == hex(c.out));
        CHECK(utf8_ok(bbx::dec::valid_utf8(c.in)));
    }
    // NUL and control characters are valid UTF-8: valid_utf8 keeps them.
    CHECK(bbx::dec::valid_utf8(std::string_view("a\0\x01", 3)) == std::string_view("a\0\x01", 3));
    CHECK(bbx::dec::valid_utf8("") == "");
}

TEST_CASE("a capture converts to Chrome JSON and Perfetto protobuf that read back as recorded") {
    temp_capture tc("convert");
    outputs out("convert");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 8;
    REQUIRE(bbx::start(cfg).ok());
    expected want;
    std::map<uint32_t, int> worker_tids;
    std::mutex mu;
    {
        std::vector<std::thread> threads;
        for (int n = 0; n < 3; ++n)
            threads.emplace_back([&, n] {
                expected e = record_worker(n);
                std::lock_guard lock(mu);
                want.merge(e);
                worker_tids[this_tid()] = n;
            });
        for (auto& t : threads) t.join();
    }
    {
        const uint32_t tid = this_tid();
        BBX_SPAN(WARN, "conv", "main");
        want.add(tid, "B conv/main");
        const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        BBX_INSTANT(WARN, "conv", "specials", bbx::arg("nan", nan), bbx::arg("inf", inf), bbx::arg("ninf", -inf),
                    bbx::arg("tiny", 5e-324), bbx::arg("whole", 3.0), bbx::arg("huge", 1e300),
                    bbx::arg("min", std::numeric_limits<int64_t>::min()));
        want.add(tid, "I conv/specials",
                 {af("nan", nan), af("inf", inf), af("ninf", -inf), af("tiny", 5e-324), af("whole", 3.0),
                  af("huge", 1e300), ai("min", std::numeric_limits<int64_t>::min())});
    }
    want.add(this_tid(), "E conv/main");
    bbx::stop();

    auto cap = open_capture(tc.path);
    convert(*cap, out);
    for (const auto& s : stats_of(*cap).threads) CHECK(s.overwritten == 0);  // else the expectations would not hold
    const event_times times = times_of(*cap);

    const readback chrome = read_chrome(out.chrome, cap->header().pid, times, "convert");
    compare(want.chrome, chrome, "chrome");
    const readback perfetto = read_perfetto(out.perfetto, *cap, times);
    compare(want.perfetto, perfetto, "perfetto");

    for (const readback* rb : {&chrome, &perfetto}) {
        CHECK(rb->process_name == cap->header().process_name);
        for (const auto& [tid, n] : worker_tids) {
            auto it = rb->thread_names.find(tid);
            REQUIRE(it != rb->thread_names.end());
            const std::vector<std::string>& names = it->second;
            CHECK(names.back() == "final-" + std::to_string(n));
            CHECK(std::find(names.begin(), names.end(), "renamed-" + std::to_string(n)) != names.end());
        }
    }
}

TEST_CASE("a span still open at stop() comes out closed and marked unfinished in both formats") {
    temp_capture tc("unfinished");
    outputs out("unfinished");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    REQUIRE(bbx::start(cfg).ok());
    const uint32_t tid = this_tid();
    expected want;
    {
        BBX_SPAN(INFO, "conv", "done");
    }
    want.add(tid, "B conv/done");
    want.add(tid, "E conv/done");
    {
        BBX_SPAN(INFO, "conv", "open_outer", bbx::arg("k", 7));
        want.add(tid, "B conv/open_outer", {ai("k", 7)});
        {
            BBX_SPAN(INFO, "conv", "open_inner");
            want.add(tid, "B conv/open_inner");
            BBX_INSTANT(INFO, "conv", "last");
            want.add(tid, "I conv/last");
            bbx::stop();  // the two spans never end
        }
    }
    want.add(tid, "E conv/open_inner unfinished");
    want.add(tid, "E conv/open_outer unfinished");

    auto cap = open_capture(tc.path);
    convert(*cap, out);
    const event_times times = times_of(*cap);
    compare(want.chrome, read_chrome(out.chrome, cap->header().pid, times, "unfinished"), "chrome");
    compare(want.perfetto, read_perfetto(out.perfetto, *cap, times), "perfetto");
}

TEST_CASE("an end whose begin was overwritten is dropped, so both outputs stay balanced") {
    temp_capture tc("overwritten");
    outputs out("overwritten");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // 128 slots
    REQUIRE(bbx::start(cfg).ok());
    const uint32_t tid = this_tid();
    {
        BBX_SPAN(INFO, "conv", "long");
        for (int i = 0; i < 400; ++i) BBX_INSTANT(INFO, "conv", "tick", bbx::arg("i", i));
    }
    {
        BBX_SPAN(INFO, "conv", "after");
    }
    bbx::stop();

    auto cap = open_capture(tc.path);
    convert(*cap, out);
    uint64_t overwritten = 0;
    for (const auto& s : stats_of(*cap).threads) overwritten += s.overwritten;
    REQUIRE(overwritten > 0);
    const event_times times = times_of(*cap);
    const readback chrome = read_chrome(out.chrome, cap->header().pid, times, "overwritten");
    const readback perfetto = read_perfetto(out.perfetto, *cap, times);
    for (const readback* rb : {&chrome, &perfetto}) {
        auto it = rb->lines.find(tid);
        REQUIRE(it != rb->lines.end());
        const std::vector<std::string>& l = it->second;
        REQUIRE(l.size() >= 3);
        CHECK(l.front().rfind("I conv/tick i=i:", 0) == 0);
        CHECK(l[l.size() - 3] == "I conv/tick i=i:399");
        CHECK(l[l.size() - 2] == "B conv/after");
        CHECK(l.back() == "E conv/after");
        for (const std::string& line : l) CHECK(line.find("long") == std::string::npos);
    }
}

TEST_CASE("an end arriving while spans opened inside it are still open closes them too") {
    temp_capture tc("damaged");
    outputs out("damaged");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    REQUIRE(bbx::start(cfg).ok());
    const uint32_t tid = this_tid();
    {
        BBX_SPAN(INFO, "conv", "outer");
        {
            BBX_SPAN(INFO, "conv", "inner");
        }
    }
    bbx::stop();

    // Damage the capture: inner's end slot gets a kind this version does not
    // know, so the reader skips it, as it would a torn slot. (1.x: 32-byte
    // slots under a stamp, kind 9 unassigned; 2.0: 16-byte slots, kind and
    // site in word A, kind 11 unassigned.)
    uint32_t inner_id = 0;
    for (auto cap = open_capture(tc.path); const auto& s : cap->sites())  // cap outlives the loop
        if (s.name == "inner") inner_id = s.id;
    REQUIRE(inner_id != 0);
    std::string bytes = read_file(tc.path);
    REQUIRE(bytes.size() >= sizeof(bbx::format::file_header));
    bbx::format::file_header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    int patched = 0;
    const uint64_t rings_end = h.rings_offset + uint64_t(h.ring_count) * h.ring_size;
    if (h.version_major == bbx::format::v2::version_major) {
        for (uint64_t at = h.rings_offset; at + 16 <= rings_end; at += 16) {
            uint64_t a;
            std::memcpy(&a, bytes.data() + at, 8);
            if (bbx::format::v2::kind_of(a) == uint8_t(bbx::format::kind::span_end) && bbx::format::v2::site_of(a) == inner_id) {
                bytes[at] = char(11) /* an unassigned kind */;
                ++patched;
            }
        }
    } else {
        for (uint64_t at = h.rings_offset; at + 32 <= rings_end; at += 32) {
            bbx::format::event_slot slot;
            std::memcpy(&slot, bytes.data() + at, sizeof slot);
            if (slot.stamp && slot.kind == uint8_t(bbx::format::kind::span_end) && slot.site == inner_id) {
                bytes[at + offsetof(bbx::format::event_slot, kind)] = char(9) /* an unassigned kind */;
                ++patched;
            }
        }
    }
    REQUIRE(patched == 1);
    auto r = capture::from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    REQUIRE(!r.is_error());
    capture& cap = *r.value();

    convert(cap, out);
    uint64_t skipped = 0;
    for (const auto& st : stats_of(cap).threads) skipped += st.unknown_kind;
    CHECK(skipped == 1);
    expected want;
    want.add(tid, "B conv/outer");
    want.add(tid, "B conv/inner");
    want.add(tid, "E conv/inner");  // closed when outer ends
    want.add(tid, "E conv/outer");
    const event_times times = times_of(cap);
    compare(want.chrome, read_chrome(out.chrome, cap.header().pid, times, "damaged"), "chrome");
    compare(want.perfetto, read_perfetto(out.perfetto, cap, times), "perfetto");
}

TEST_CASE("a write error is reported, not ignored") {
    temp_capture tc("writeerr");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    REQUIRE(bbx::start(cfg).ok());
    for (int i = 0; i < 100; ++i) BBX_INSTANT(INFO, "conv", "fill", bbx::arg("i", i));
    bbx::stop();
    auto cap = open_capture(tc.path);
    std::FILE* f = std::fopen("/dev/full", "wb");
    if (!f) return;  // no /dev/full here: nothing to test
    std::string err;
    CHECK_FALSE(bbx::dec::write_chrome(*cap, f, err));
    CHECK(!err.empty());
    std::fclose(f);
    f = std::fopen("/dev/full", "wb");
    REQUIRE(f);
    err.clear();
    CHECK_FALSE(bbx::dec::write_perfetto(*cap, f, err));
    CHECK(!err.empty());
    std::fclose(f);
}
