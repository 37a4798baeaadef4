// bbx merge: two real processes (tests/programs/rpc_peer.cpp) talk over TCP
// on 127.0.0.1, each recording its own capture; the server's clocks are put
// 250 ms ahead at recording (BBX_TEST_CLOCK_OFFSET_NS). The merge must find
// that offset from the request/response pairs and, in every output format,
// put each server span inside the client span that caused it, with one flow
// per pair. Each output is read back by a reader that shares no code with
// its writer (the protobuf wire parser of proto_reader.hpp; python3's json).
// Without the correction the server spans must come out outside, which shows
// the checks can fail.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bbx/decoder.hpp"
#include "support/proto_reader.hpp"
#include "support/capture.hpp"
#include "support/process.hpp"
#include "support/python.hpp"

using bbx::dec::capture;
using bbx::dec::merge_format;
using bbx::dec::merge_plan;
using bbx_test::field;
using bbx_test::parse;
using bbx_test::read_file;

namespace {

constexpr int requests = 8;
constexpr int64_t injected_ns = 250'000'000;

// The two captures, recorded once per test run.
struct peers {
    temp_capture client{"merge-client"}, server{"merge-server"};
    std::string portfile;
    bool ok = false;
    std::shared_ptr<capture> c, s;

    peers() : portfile("/tmp/bbx-test-" + std::to_string(getpid()) + "-merge.port") {
        unlink(portfile.c_str());
        const std::string peer = build_dir() + "/tests/rpc_peer";
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        pid_t sp = spawn({peer, "server", portfile, server.path},
                         {{"BBX_TEST_CLOCK_OFFSET_NS=" + std::to_string(injected_ns)}, true, true});
        std::string port;
        while (std::chrono::steady_clock::now() < deadline - std::chrono::seconds(5)) {
            port = read_file(portfile);
            if (!port.empty() && port.back() == '\n') break;
            port.clear();
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        if (port.empty()) {
            reap(sp, std::chrono::steady_clock::now());
            FAIL("the server wrote no port");
        }
        port.pop_back();
        pid_t cp = spawn({peer, "client", port, client.path, std::to_string(requests)}, {{}, true, true});
        const int client_status = reap(cp, deadline);
        const int server_status = reap(sp, deadline);
        unlink(portfile.c_str());
        REQUIRE_MESSAGE(client_status == 0, "rpc_peer client exited with " << client_status);
        REQUIRE_MESSAGE(server_status == 0, "rpc_peer server exited with " << server_status);
        auto rc = capture::open(client.path);
        auto rs = capture::open(server.path);
        REQUIRE(!rc.is_error());
        REQUIRE(!rs.is_error());
        c = rc.value();
        s = rs.value();
        ok = true;
    }
};

peers& recorded() {
    static peers p;
    REQUIRE(p.ok);
    return p;
}

// ---- what a reader recovered -------------------------------------------------

struct slice {
    uint32_t pid = 0, tid = 0;
    std::string name;  // "call" (client) or "handle" (server)
    int64_t begin = 0, end = 0;
    int64_t seq = -1;
    std::vector<uint64_t> flows_out, flows_in;  // Perfetto flow ids; Chrome "s" / "f" ids
    uint64_t span_id = 0, parent = 0;           // OTLP
    int kind = 0;                               // OTLP
};

struct readback {
    std::vector<slice> slices;
    std::set<uint32_t> pids;  // processes (Perfetto: process tracks; Chrome and OTLP: pids seen)
    int64_t min_ts = INT64_MAX;
};

// For each seq, the client and server slice; checks there is exactly one of each.
struct by_seq {
    std::map<int64_t, const slice*> client, server;
};
by_seq index(const readback& rb, const char* what) {
    by_seq b;
    for (const slice& s : rb.slices) {
        if (s.name != "call" && s.name != "handle") continue;  // the server's fast_path / slow_path inside
        auto& m = s.name == "call" ? b.client : b.server;
        CHECK_MESSAGE(!m.count(s.seq), what << ": two " << s.name << " spans with seq " << s.seq);
        m[s.seq] = &s;
    }
    CHECK_MESSAGE(b.client.size() == size_t(requests), what << ": " << b.client.size() << " client spans");
    CHECK_MESSAGE(b.server.size() == size_t(requests), what << ": " << b.server.size() << " server spans");
    return b;
}

// Server spans that lie inside the client span of their request.
int contained(const by_seq& b) {
    int n = 0;
    for (auto& [seq, sv] : b.server) {
        auto it = b.client.find(seq);
        if (it == b.client.end()) continue;
        if (it->second->begin <= sv->begin && sv->end <= it->second->end) ++n;
    }
    return n;
}

// ---- Perfetto ---------------------------------------------------------------

// Field numbers and wire types from google/perfetto protos (trace_packet,
// clock_snapshot, track_event, track_descriptor, process_descriptor,
// thread_descriptor, counter_descriptor, debug_annotation, interned_data).
const std::map<uint32_t, uint32_t> trace_schema = {{1, 2}};
const std::map<uint32_t, uint32_t> packet_schema = {{6, 2}, {8, 0}, {10, 0}, {11, 2}, {12, 2}, {13, 0}, {60, 2}, {87, 0}};
const std::map<uint32_t, uint32_t> track_descriptor_schema = {{1, 0}, {2, 2}, {3, 2}, {4, 2}, {5, 0}, {8, 2}};
const std::map<uint32_t, uint32_t> process_schema = {{1, 0}, {6, 2}};
const std::map<uint32_t, uint32_t> thread_schema = {{1, 0}, {2, 0}, {5, 2}};
const std::map<uint32_t, uint32_t> track_event_schema = {{3, 0},  {4, 2},  {9, 0},  {10, 0}, {11, 0}, {22, 2},
                                                         {23, 2}, {30, 0}, {44, 1}, {47, 1}, {48, 1}};
const std::map<uint32_t, uint32_t> annotation_schema = {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {6, 2}, {10, 2}};
const std::map<uint32_t, uint32_t> interned_schema = {{1, 2}, {2, 2}, {3, 2}};
const std::map<uint32_t, uint32_t> interned_entry_schema = {{1, 0}, {2, 2}};

readback read_perfetto(const std::string& path) {
    readback rb;
    const std::string data = read_file(path);
    REQUIRE(!data.empty());
    struct sequence {
        std::map<uint64_t, std::string> names, annotation_names;
    };
    struct track {
        uint32_t pid = 0, tid = 0;
        std::vector<slice> open;
    };
    std::map<uint32_t, sequence> seqs;
    std::map<uint64_t, track> tracks;
    std::map<uint64_t, uint32_t> process_tracks;  // uuid -> pid
    std::set<uint64_t> loss_tracks;
    int snapshots = 0;
    for (const field& top : parse(data, trace_schema, "Trace")) {
        uint64_t ts = 0;
        uint32_t seq_id = 0;
        std::string_view interned, event, descriptor;
        for (const field& f : parse(top.bytes, packet_schema, "TracePacket")) {
            if (f.num == 8) ts = f.v;
            if (f.num == 10) seq_id = uint32_t(f.v);
            if (f.num == 12) interned = f.bytes;
            if (f.num == 11) event = f.bytes;
            if (f.num == 60) descriptor = f.bytes;
            if (f.num == 6) ++snapshots;
        }
        sequence& sq = seqs[seq_id];
        for (const field& f : parse(interned, interned_schema, "InternedData")) {
            uint64_t iid = 0;
            std::string name;
            for (const field& g : parse(f.bytes, interned_entry_schema, "interned entry")) {
                if (g.num == 1) iid = g.v;
                else name = std::string(g.bytes);
            }
            if (f.num == 2) sq.names[iid] = name;
            if (f.num == 3) sq.annotation_names[iid] = name;
        }
        if (!descriptor.empty()) {
            uint64_t uuid = 0;
            bool is_losses = false;  // the track stating what a capture lost (test_losses.cpp checks it)
            std::string_view proc, thr;
            for (const field& f : parse(descriptor, track_descriptor_schema, "TrackDescriptor")) {
                if (f.num == 2 && f.bytes == "bbx losses") is_losses = true;
                if (f.num == 1) uuid = f.v;
                if (f.num == 3) proc = f.bytes;
                if (f.num == 4) thr = f.bytes;
            }
            if (is_losses) loss_tracks.insert(uuid);
            if (!proc.empty()) {
                for (const field& f : parse(proc, process_schema, "ProcessDescriptor"))
                    if (f.num == 1) process_tracks[uuid] = uint32_t(f.v);
            }
            if (!thr.empty()) {
                track& t = tracks[uuid];
                for (const field& f : parse(thr, thread_schema, "ThreadDescriptor")) {
                    if (f.num == 1) t.pid = uint32_t(f.v);
                    if (f.num == 2) t.tid = uint32_t(f.v);
                }
            }
        }
        if (event.empty()) continue;
        uint64_t type = 0, track_uuid = 0, name_iid = 0;
        slice s;
        for (const field& f : parse(event, track_event_schema, "TrackEvent")) {
            switch (f.num) {
                case 9: type = f.v; break;
                case 10: name_iid = f.v; break;
                case 11: track_uuid = f.v; break;
                case 47: s.flows_out.push_back(f.v); break;
                case 48: s.flows_in.push_back(f.v); break;
                case 4: {
                    uint64_t an = 0, value = 0;
                    bool has = false;
                    for (const field& g : parse(f.bytes, annotation_schema, "DebugAnnotation")) {
                        if (g.num == 1) an = g.v;
                        if (g.num == 3 || g.num == 4) value = g.v, has = true;
                    }
                    if (has && sq.annotation_names[an] == "seq") s.seq = int64_t(value);
                    break;
                }
                default: break;
            }
        }
        if (loss_tracks.count(track_uuid)) continue;
        REQUIRE_MESSAGE(tracks.count(track_uuid), "an event on an undescribed track");
        track& t = tracks[track_uuid];
        if (type == 1) {  // SLICE_BEGIN
            s.pid = t.pid;
            s.tid = t.tid;
            s.name = sq.names[name_iid];
            s.begin = int64_t(ts);
            t.open.push_back(s);
        } else if (type == 2) {  // SLICE_END
            REQUIRE(!t.open.empty());
            slice done = t.open.back();
            t.open.pop_back();
            done.end = int64_t(ts);
            rb.slices.push_back(done);
        }
        rb.min_ts = std::min(rb.min_ts, int64_t(ts));
    }
    CHECK_MESSAGE(snapshots == 1, "ClockSnapshots: " << snapshots);
    for (const auto& pt : process_tracks) {
        const uint32_t pid = pt.second;
        CHECK_MESSAGE(!rb.pids.count(pid), "two process tracks with pid " << pid);
        rb.pids.insert(pid);
    }
    for (const auto& tt : tracks) {
        const track& t = tt.second;
        CHECK(t.open.empty());
        CHECK_MESSAGE(rb.pids.count(t.pid), "thread track of pid " << t.pid << " without its process track");
    }
    return rb;
}

// ---- Chrome and OTLP, read by python3 -----------------------------------------

// tests/support/`script` on `file`: what it printed (it must succeed).
std::string read_with(const std::string& script, const std::string& file) {
    int status = 0;
    const std::string out = run_python(script, {file}, status);
    INFO("python3 said:\n" << out.substr(0, 3000));
    REQUIRE(status == 0);
    return out;
}

std::vector<std::vector<std::string>> lines_of(const std::string& out) {
    std::vector<std::vector<std::string>> v;
    size_t at = 0;
    while (at < out.size()) {
        size_t nl = out.find('\n', at);
        if (nl == std::string::npos) nl = out.size();
        std::vector<std::string> w;
        size_t i = at;
        while (i < nl) {
            size_t sp = out.find(' ', i);
            if (sp == std::string::npos || sp > nl) sp = nl;
            w.push_back(out.substr(i, sp - i));
            i = sp + 1;
        }
        v.push_back(w);
        at = nl + 1;
    }
    return v;
}

// Prints "S pid tid name begin end seq" per B/E slice (times in ns) and
// "F s|f id pid tid ts" per flow event, then "OK <min ts>".

readback read_chrome(const std::string& path) {
    readback rb;
    struct flow_event {
        uint32_t pid, tid;
        int64_t ts;
    };
    std::map<uint64_t, std::vector<flow_event>> starts, ends;
    bool ok = false;
    for (const auto& w : lines_of(read_with("merge_chrome.py", path))) {
        if (w.size() == 7 && w[0] == "S") {
            slice s;
            s.pid = uint32_t(std::stoul(w[1]));
            s.tid = uint32_t(std::stoul(w[2]));
            s.name = w[3];
            s.begin = std::stoll(w[4]);
            s.end = std::stoll(w[5]);
            s.seq = std::stoll(w[6]);
            rb.pids.insert(s.pid);
            rb.slices.push_back(s);
        } else if (w.size() == 6 && w[0] == "F") {
            (w[1] == "s" ? starts : ends)[std::stoull(w[2])].push_back(
                {uint32_t(std::stoul(w[3])), uint32_t(std::stoul(w[4])), std::stoll(w[5])});
        } else if (w.size() == 2 && w[0] == "OK") {
            rb.min_ts = std::stoll(w[1]);
            ok = true;
        } else {
            FAIL("chrome reader: unexpected line");
        }
    }
    REQUIRE(ok);
    // A flow event binds to the slice enclosing it on its thread: here the one
    // beginning at its timestamp.
    auto bind = [&](const flow_event& f, std::vector<uint64_t> slice::*list, uint64_t id) {
        int found = 0;
        for (slice& s : rb.slices)
            if (s.pid == f.pid && s.tid == f.tid && s.begin == f.ts) {
                (s.*list).push_back(id);
                ++found;
            }
        CHECK_MESSAGE(found == 1, "flow " << id << " binds to " << found << " slices");
    };
    for (auto& [id, v] : starts) {
        CHECK(v.size() == 1);
        bind(v[0], &slice::flows_out, id);
    }
    for (auto& [id, v] : ends) {
        CHECK(v.size() == 1);
        bind(v[0], &slice::flows_in, id);
    }
    return rb;
}

// Prints "S pid kind spanId parentSpanId|- start end seq name" per span.

readback read_otlp(const std::string& path) {
    readback rb;
    bool ok = false;
    for (const auto& w : lines_of(read_with("merge_otlp.py", path))) {
        if (w.size() == 9 && w[0] == "S") {
            slice s;
            s.pid = uint32_t(std::stoul(w[1]));
            s.kind = std::stoi(w[2]);
            s.span_id = std::stoull(w[3], nullptr, 16);
            s.parent = w[4] == "-" ? 0 : std::stoull(w[4], nullptr, 16);
            s.begin = std::stoll(w[5]);
            s.end = std::stoll(w[6]);
            s.seq = std::stoll(w[7]);
            s.name = w[8];
            rb.pids.insert(s.pid);
            rb.min_ts = std::min(rb.min_ts, s.begin);
            rb.slices.push_back(s);
        } else if (w.size() == 1 && w[0] == "OK") {
            ok = true;
        } else {
            FAIL("otlp reader: unexpected line");
        }
    }
    REQUIRE(ok);
    return rb;
}

readback read_back(merge_format f, const std::string& path) {
    switch (f) {
        case merge_format::perfetto: return read_perfetto(path);
        case merge_format::chrome: return read_chrome(path);
        case merge_format::otlp: return read_otlp(path);
    }
    return {};
}

const char* name_of(merge_format f) {
    return f == merge_format::perfetto ? "perfetto" : f == merge_format::chrome ? "chrome" : "otlp";
}

// Merges client + server (client first: the reference) into `f` and reads it back.
readback merged(merge_format f, bool correct, merge_plan* plan_out = nullptr) {
    peers& p = recorded();
    std::vector<const capture*> caps = {p.c.get(), p.s.get()};
    merge_plan plan;
    std::string err;
    REQUIRE_MESSAGE(bbx::dec::plan_merge(caps, {.correct = correct}, plan, err), err);
    const std::string out = "/tmp/bbx-test-" + std::to_string(getpid()) + "-merged." + name_of(f);
    std::FILE* fp = std::fopen(out.c_str(), "wb");
    REQUIRE(fp);
    const bool ok = bbx::dec::write_merge({*p.c, *p.s}, plan, f, fp, err);
    std::fclose(fp);
    REQUIRE_MESSAGE(ok, err);
    readback rb = read_back(f, out);
    unlink(out.c_str());
    if (plan_out) *plan_out = plan;
    return rb;
}

// bbx with the words of `args` (paths here hold no spaces): tests/support/process.hpp.
tool_result bbx_args(const std::string& args) {
    std::vector<std::string> w;
    for (size_t at = 0; at < args.size();) {
        size_t sp = args.find(' ', at);
        if (sp == std::string::npos) sp = args.size();
        if (sp > at) w.push_back(args.substr(at, sp - at));
        at = sp + 1;
    }
    return run_bbx(w);
}

// The client's first span begin, ns since its anchor 0 (from the decoder).
int64_t first_client_span_ns(const capture& c) {
    int64_t first = INT64_MAX;
    auto r = c.for_each_event([&](const bbx::dec::event& e) {
        if (e.kind == bbx::format::kind::span_begin && first == INT64_MAX) first = e.ns;
    });
    REQUIRE(!r.is_error());
    return first;
}



}  // namespace

TEST_CASE("merge: the clock offset injected into the server is estimated from the request/response pairs") {
    peers& p = recorded();
    std::vector<const capture*> caps = {p.c.get(), p.s.get()};
    merge_plan plan;
    std::string err;
    REQUIRE(bbx::dec::plan_merge(caps, {}, plan, err));
    REQUIRE(plan.captures.size() == 2);
    REQUIRE(plan.pairs.size() == size_t(requests));
    for (const auto& pr : plan.pairs) {
        CHECK(pr.client == 0);
        CHECK(pr.server == 1);
        CHECK(pr.complete);
    }
    const auto& ref = plan.captures[0];
    const auto& srv = plan.captures[1];
    CHECK(ref.base == bbx::dec::merge_base::reference);
    CHECK(ref.offset_ns == 0);
    // One host: the boot ids are equal (unless the kernel hides them).
    const bool same_boot = std::memcmp(p.c->header().boot_id, p.s->header().boot_id, 16) == 0;
    CHECK(srv.base == (same_boot ? bbx::dec::merge_base::monotonic : bbx::dec::merge_base::realtime));
    CHECK(srv.pairs == uint64_t(requests));
    CHECK(srv.outside_base == uint64_t(requests));  // 250 ms off: every server span outside
    REQUIRE(srv.has_estimate);
    CHECK(srv.consistent);
    INFO("estimate " << srv.estimate_ns << " ns +- " << srv.uncertainty_ns);
    CHECK(srv.estimate_ns > injected_ns - 3'000'000);
    CHECK(srv.estimate_ns < injected_ns + 3'000'000);
    CHECK(srv.uncertainty_ns < 3'000'000);
    CHECK(srv.applied);
    CHECK(srv.correction_ns == -srv.estimate_ns);
    CHECK(srv.offset_ns == srv.base_offset_ns + srv.correction_ns);
    CHECK(srv.checked == uint64_t(requests));
    CHECK(srv.outside_final == 0);

    // The other way round: the client's clock runs 250 ms behind the server's.
    std::vector<const capture*> rev = {p.s.get(), p.c.get()};
    merge_plan back;
    REQUIRE(bbx::dec::plan_merge(rev, {}, back, err));
    REQUIRE(back.captures[1].has_estimate);
    CHECK(back.captures[1].estimate_ns < -injected_ns + 3'000'000);
    CHECK(back.captures[1].estimate_ns > -injected_ns - 3'000'000);
    CHECK(back.captures[1].outside_final == 0);
}

TEST_CASE("merge: every server span lies inside its client span, with one flow per pair, in every format") {
    peers& p = recorded();
    for (merge_format f : {merge_format::perfetto, merge_format::chrome, merge_format::otlp}) {
        CAPTURE(name_of(f));
        merge_plan plan;
        const readback rb = merged(f, true, &plan);
        CHECK(rb.pids == std::set<uint32_t>{p.c->header().pid, p.s->header().pid});  // two processes
        const by_seq b = index(rb, name_of(f));
        CHECK(contained(b) == requests);
        for (auto& [seq, s] : b.server) CHECK(s->pid == p.s->header().pid);
        for (auto& [seq, c] : b.client) CHECK(c->pid == p.c->header().pid);

        // Times in the reference's (the client's) clock domain.
        const int64_t t1 = first_client_span_ns(*p.c);
        REQUIRE(b.client.count(0));
        if (f == merge_format::perfetto)
            CHECK(b.client.at(0)->begin == int64_t(p.c->start_boottime_ns()) + t1);
        if (f == merge_format::otlp) CHECK(b.client.at(0)->begin == int64_t(p.c->start_realtime_ns()) + t1);
        if (f == merge_format::chrome) CHECK(rb.min_ts == 0);  // relative to the earliest event of all

        if (f == merge_format::otlp) {
            // The ids link client and server: parent span id, kinds client (3) and server (2).
            for (auto& [seq, s] : b.server) {
                REQUIRE(b.client.count(seq));
                CHECK(s->kind == 2);
                CHECK(b.client.at(seq)->kind == 3);
                CHECK(s->parent == b.client.at(seq)->span_id);
            }
            continue;
        }
        // One flow per pair, from the client slice's begin to its server slice's begin.
        std::map<uint64_t, int64_t> out_seq, in_seq;
        for (const slice& s : rb.slices) {
            for (uint64_t id : s.flows_out) {
                CHECK(s.name == "call");
                CHECK(out_seq.emplace(id, s.seq).second);
            }
            for (uint64_t id : s.flows_in) {
                CHECK(s.name == "handle");
                CHECK(in_seq.emplace(id, s.seq).second);
            }
        }
        CHECK(out_seq.size() == size_t(requests));
        CHECK(in_seq == out_seq);
    }
}

TEST_CASE("merge: without the correction the server spans come out outside their client spans") {
    for (merge_format f : {merge_format::perfetto, merge_format::chrome, merge_format::otlp}) {
        CAPTURE(name_of(f));
        merge_plan plan;
        const readback rb = merged(f, false, &plan);
        CHECK(contained(index(rb, name_of(f))) == 0);
        CHECK(!plan.captures[1].applied);
        CHECK(plan.captures[1].outside_final == uint64_t(requests));
        CHECK(plan.captures[1].offset_ns == plan.captures[1].base_offset_ns);
    }
}

TEST_CASE("merge: a capture merged with itself is shown under a stand-in pid") {
    peers& p = recorded();
    std::vector<const capture*> caps = {p.c.get(), p.c.get()};
    merge_plan plan;
    std::string err;
    REQUIRE(bbx::dec::plan_merge(caps, {}, plan, err));
    const uint32_t pid = p.c->header().pid;
    CHECK(plan.captures[0].shown_pid == pid);
    CHECK(plan.captures[1].shown_pid == pid + 10'000'000u);
    CHECK(plan.pairs.empty());  // client spans only
    CHECK(!plan.captures[1].has_estimate);
    CHECK(plan.captures[1].offset_ns == 0);  // the same anchors
    const std::string out = "/tmp/bbx-test-" + std::to_string(getpid()) + "-self.pftrace";
    std::FILE* fp = std::fopen(out.c_str(), "wb");
    REQUIRE(fp);
    CHECK(bbx::dec::write_merge({*p.c, *p.c}, plan, merge_format::perfetto, fp, err));
    std::fclose(fp);
    const readback rb = read_perfetto(out);
    unlink(out.c_str());
    CHECK(rb.pids == std::set<uint32_t>{pid, pid + 10'000'000u});
    CHECK(rb.slices.size() == 2 * size_t(requests));
    CHECK(bbx::dec::merge_report(plan).find("shown as pid " + std::to_string(pid + 10'000'000u)) != std::string::npos);
}

TEST_CASE("merge: bbx merge --verbose reports the correction; bad input and bad usage exit 1 and 2") {
    peers& p = recorded();
    const std::string out = "/tmp/bbx-test-" + std::to_string(getpid()) + "-cli.json";
    tool_result r = bbx_args("merge " + p.client.path + " " + p.server.path + " --to chrome -o " + out + " --verbose");
    INFO("stderr:\n" << r.err);
    CHECK(r.status == 0);
    struct stat st {};
    CHECK(stat(out.c_str(), &st) == 0);
    CHECK(st.st_size > 0);
    unlink(out.c_str());
    CHECK(r.err.find("capture 0: " + p.client.path) != std::string::npos);
    CHECK(r.err.find("capture 1: " + p.server.path) != std::string::npos);
    CHECK(r.err.find("pid " + std::to_string(p.s->header().pid)) != std::string::npos);
    // "  estimate    its clock is +250.012345 ms +- 0.034567 ms ahead (...)"
    const size_t at = r.err.find("its clock is ");
    REQUIRE(at != std::string::npos);
    const double ms = std::strtod(r.err.c_str() + at + 13, nullptr);
    CHECK(ms > 247.0);
    CHECK(ms < 253.0);
    const size_t corr = r.err.find("  correction  -");
    REQUIRE(corr != std::string::npos);
    CHECK(r.err.find(" applied", corr) != std::string::npos);
    CHECK(r.err.find("0 of " + std::to_string(requests) + " server spans outside") != std::string::npos);

    r = bbx_args("merge " + p.client.path + " --to chrome -o " + out);
    CHECK(r.status == 2);
    r = bbx_args("merge " + p.client.path + " " + p.server.path + " --to chrome");
    CHECK(r.status == 2);
    r = bbx_args("merge " + p.client.path + " " + p.server.path + " -o " + out);
    CHECK(r.status == 2);
    temp_capture text("merge-text");
    if (std::FILE* f = std::fopen(text.path.c_str(), "wb")) {
        std::fputs("not a capture\n", f);
        std::fclose(f);
    }
    r = bbx_args("merge " + p.client.path + " " + text.path + " --to otlp -o " + out);
    CHECK(r.status == 1);
    CHECK(r.err.rfind("bbx: " + text.path + ": ", 0) == 0);
    CHECK(r.err.find(" at offset 0") != std::string::npos);
    CHECK(stat(out.c_str(), &st) != 0);  // nothing written
}
