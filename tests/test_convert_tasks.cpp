// Async tasks in the converters: a capture recorded with the task API goes out
// as Perfetto protobuf and as Chrome JSON, and each output is read back by a
// reader that shares no code with its writer (the wire parser of
// proto_reader.hpp with field numbers typed from Perfetto's .proto files;
// python3's json module), then compared with what the test recorded: task
// tracks and their names, polls on the threads that ran them, one arrow per
// wake to the poll it caused, waits on the task's track.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/proto_reader.hpp"
#include "support/capture.hpp"
#include "support/python.hpp"

using bbx::dec::capture;
using bbx_test::field;
using bbx_test::parse;
using bbx_test::this_tid;

namespace {

// What a reader recovered, in a form both formats share.
struct task_view {
    std::map<uint32_t, std::vector<std::string>> threads;  // tid -> slices and instants on its track
    std::map<uint64_t, std::vector<std::string>> tasks;    // task id -> events on the task's track
    std::map<uint64_t, std::string> names;                 // task id -> task name
    std::vector<std::string> flows;  // per wake with an arrow, in wake order: "task: waker tid -> poller tid"
    size_t wakes = 0;                // wake instants, with an arrow or not
};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += l + "\n";
    return s;
}

std::string flow_line(uint64_t task, uint32_t from, const std::string& to) {
    return std::to_string(task) + ": " + std::to_string(from) + " -> " + to;
}

// Splits "name #123" into the id; 0 if the name does not end that way.
uint64_t id_of_name(const std::string& name) {
    const size_t hash = name.rfind(" #");
    if (hash == std::string::npos || hash + 2 >= name.size()) return 0;
    uint64_t id = 0;
    for (size_t i = hash + 2; i < name.size(); ++i) {
        if (name[i] < '0' || name[i] > '9') return 0;
        id = id * 10 + uint64_t(name[i] - '0');
    }
    return id;
}

// ---- Perfetto ------------------------------------------------------------------

// Field numbers and wire types (0 varint, 1 fixed64, 2 length-delimited) from
// google/perfetto protos/perfetto/trace/trace_packet.proto, track_event/
// {track_event,track_descriptor,debug_annotation}.proto: TrackEvent.flow_ids
// = 47 and terminating_flow_ids = 48 are `repeated fixed64`, so wire type 1.
const std::map<uint32_t, uint32_t> trace_schema = {{1, 2}};
const std::map<uint32_t, uint32_t> packet_schema = {{6, 2},  {8, 0},  {10, 0}, {11, 2},
                                                    {12, 2}, {13, 0}, {60, 2}, {87, 0}};
const std::map<uint32_t, uint32_t> descriptor_schema = {{1, 0}, {2, 2}, {3, 2}, {4, 2}, {5, 0}, {8, 2}};
const std::map<uint32_t, uint32_t> thread_schema = {{1, 0}, {2, 0}, {5, 2}};
const std::map<uint32_t, uint32_t> event_schema = {{3, 0},  {4, 2},  {9, 0},  {10, 0}, {11, 0}, {22, 2},
                                                   {23, 2}, {30, 0}, {44, 1}, {47, 1}, {48, 1}};
const std::map<uint32_t, uint32_t> annotation_schema = {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {6, 2}, {10, 2}};
const std::map<uint32_t, uint32_t> interned_schema = {{1, 2}, {2, 2}, {3, 2}};
const std::map<uint32_t, uint32_t> interned_entry_schema = {{1, 0}, {2, 2}};

task_view read_perfetto_tasks(const std::string& path, uint32_t pid) {
    task_view v;
    const std::string data = bbx_test::read_file(path);
    REQUIRE(!data.empty());

    struct sequence {
        std::map<uint64_t, std::string> names, categories, annotation_names;
        uint64_t last_ts = 0;
    };
    struct track {
        enum { process, thread, counter, task, losses } kind;
        uint32_t tid = 0;
        uint64_t task_id = 0;
        std::vector<std::string> open;  // labels of open slices
        uint64_t last_ts = 0;           // of its events
    };
    struct wake {
        uint64_t task;
        uint32_t tid;
        uint64_t ts;
        std::vector<uint32_t> ended_on;  // tids of the polls that terminated it
    };
    std::map<uint32_t, sequence> seqs;
    std::map<uint64_t, track> tracks;
    std::map<uint64_t, wake> wakes;  // by flow id
    std::vector<uint64_t> wake_order;
    std::vector<uint64_t> unfinished_task_ends;  // timestamps
    uint64_t process_uuid = 0, max_ts = 0;

    for (const field& top : parse(data, trace_schema, "Trace")) {
        uint64_t ts = 0, flags = 0;
        uint32_t seq_id = 0;
        std::string_view interned, event, descriptor;
        for (const field& f : parse(top.bytes, packet_schema, "TracePacket")) {
            switch (f.num) {
                case 8: ts = f.v; break;
                case 10: seq_id = uint32_t(f.v); break;
                case 13: flags = f.v; break;
                case 12: interned = f.bytes; break;
                case 11: event = f.bytes; break;
                case 60: descriptor = f.bytes; break;
            }
        }
        sequence& sq = seqs[seq_id];
        if (flags & 1) sq = sequence{};
        max_ts = std::max(max_ts, ts);
        if (!interned.empty()) {
            for (const field& f : parse(interned, interned_schema, "InternedData")) {
                uint64_t iid = 0;
                std::string name;
                for (const field& g : parse(f.bytes, interned_entry_schema, "interned entry")) {
                    if (g.num == 1) iid = g.v;
                    else name = std::string(g.bytes);
                }
                auto& table = f.num == 1 ? sq.categories : f.num == 2 ? sq.names : sq.annotation_names;
                auto [it, fresh] = table.emplace(iid, name);
                CHECK_MESSAGE((fresh || it->second == name), "iid " << iid << " redefined on sequence " << seq_id);
            }
        }
        if (!descriptor.empty()) {
            uint64_t uuid = 0, parent = 0;
            std::string name;
            std::string_view proc, thr, ctr;
            bool has_counter = false;
            for (const field& f : parse(descriptor, descriptor_schema, "TrackDescriptor")) {
                switch (f.num) {
                    case 1: uuid = f.v; break;
                    case 2: name = std::string(f.bytes); break;
                    case 3: proc = f.bytes; break;
                    case 4: thr = f.bytes; break;
                    case 5: parent = f.v; break;
                    case 8: ctr = f.bytes, has_counter = true; break;
                }
            }
            REQUIRE(uuid != 0);
            if (!proc.empty()) {
                process_uuid = uuid;
                tracks[uuid] = track{track::process, 0, 0, {}, 0};
            } else if (!thr.empty()) {
                uint32_t tid = 0;
                for (const field& f : parse(thr, thread_schema, "ThreadDescriptor")) {
                    if (f.num == 1) CHECK(f.v == pid);
                    if (f.num == 2) tid = uint32_t(f.v);
                }
                CHECK(parent == process_uuid);
                tracks[uuid].kind = track::thread;
                tracks[uuid].tid = tid;
            } else if (has_counter) {
                tracks[uuid] = track{track::counter, 0, 0, {}, 0};
            } else if (name == "bbx losses") {  // what the capture lost: test_losses.cpp's business
                tracks[uuid] = track{track::losses, 0, 0, {}, 0};
            } else {
                // A task's track: named "<name> #<id>", a child of the process track, described once.
                INFO("task track " << name);
                CHECK(process_uuid != 0);
                CHECK(parent == process_uuid);
                CHECK(tracks.count(uuid) == 0);
                const uint64_t id = id_of_name(name);
                REQUIRE(id != 0);
                CHECK(v.names.count(id) == 0);
                v.names[id] = name;
                tracks[uuid] = track{track::task, 0, id, {}, 0};
            }
            continue;
        }
        if (event.empty()) continue;
        CHECK_MESSAGE((flags & 2) != 0, "event packet without SEQ_NEEDS_INCREMENTAL_STATE");
        CHECK_MESSAGE(ts >= sq.last_ts, "timestamps go back on sequence " << seq_id);
        sq.last_ts = ts;

        uint64_t type = 0, uuid = 0, name_iid = 0;
        std::vector<uint64_t> cats, flow_ids, terminating;
        std::vector<std::string_view> annotations;
        for (const field& f : parse(event, event_schema, "TrackEvent")) {
            switch (f.num) {
                case 9: type = f.v; break;
                case 11: uuid = f.v; break;
                case 10: name_iid = f.v; break;
                case 3: cats.push_back(f.v); break;
                case 4: annotations.push_back(f.bytes); break;
                case 47: flow_ids.push_back(f.v); break;
                case 48: terminating.push_back(f.v); break;
            }
        }
        auto tr = tracks.find(uuid);
        REQUIRE_MESSAGE(tr != tracks.end(), "event on track " << uuid << " before its descriptor");
        track& t = tr->second;
        if (type == 4) continue;  // counters are test_convert.cpp's business
        if (t.kind == track::losses) continue;
        REQUIRE((t.kind == track::thread || t.kind == track::task));
        CHECK_MESSAGE(ts >= t.last_ts, "timestamps go back on a track");
        t.last_ts = ts;

        std::string args;
        bool unfinished = false;
        uint64_t task_arg = 0;
        for (std::string_view a : annotations) {
            std::string name, value;
            for (const field& f : parse(a, annotation_schema, "DebugAnnotation")) {
                switch (f.num) {
                    case 1: name = sq.annotation_names.at(f.v); break;
                    case 10: name = std::string(f.bytes); break;
                    case 2: value = f.v ? "true" : "false"; break;
                    case 3: value = std::to_string(f.v); break;
                    case 4: value = std::to_string(int64_t(f.v)); break;
                    case 6: value = std::string(f.bytes); break;
                    default: FAIL("annotation value field " << f.num);
                }
            }
            if (name == "unfinished" && value == "true") unfinished = true;
            else args += " " + name + "=" + value;
            if (name == "task") task_arg = std::stoull(value);
        }
        std::string label;
        if (type == 1 || type == 3) {
            auto n = sq.names.find(name_iid);
            REQUIRE_MESSAGE(n != sq.names.end(), "name iid " << name_iid << " not interned on sequence " << seq_id);
            REQUIRE(cats.size() == 1);
            auto k = sq.categories.find(cats[0]);
            REQUIRE(k != sq.categories.end());
            label = k->second == "task" ? n->second : k->second + "/" + n->second;
            // Task events carry the "task" category; on a task's track, nothing else goes.
            if (t.kind == track::task) CHECK(k->second == "task");
        }
        std::string line;
        switch (type) {
            case 1:
                t.open.push_back(label);
                line = "B " + label + args;
                break;
            case 2:
                REQUIRE_MESSAGE(!t.open.empty(), "SLICE_END with nothing open");
                line = "E " + t.open.back() + args + (unfinished ? " unfinished" : "");
                t.open.pop_back();
                if (unfinished && t.kind == track::task) unfinished_task_ends.push_back(ts);
                break;
            case 3: line = "I " + label + args; break;
            default: FAIL("TrackEvent type " << type);
        }
        if (t.kind == track::thread) v.threads[t.tid].push_back(line);
        else v.tasks[t.task_id].push_back(line);

        // Flows: a wake instant starts one; a poll begin terminates them.
        if (!flow_ids.empty()) {
            REQUIRE(type == 3);
            REQUIRE(t.kind == track::thread);
            CHECK(label.rfind("wake ", 0) == 0);
            CHECK(flow_ids.size() == 1);
        }
        if (type == 3 && label.rfind("wake ", 0) == 0) ++v.wakes;
        for (uint64_t id : flow_ids) {
            CHECK_MESSAGE(wakes.count(id) == 0, "flow id " << id << " started twice");
            wakes[id] = wake{task_arg, t.tid, ts, {}};
            wake_order.push_back(id);
        }
        if (!terminating.empty()) {
            REQUIRE(type == 1);
            REQUIRE(t.kind == track::thread);
            CHECK(label.rfind("poll ", 0) == 0);
        }
        for (uint64_t id : terminating) {
            auto w = wakes.find(id);
            REQUIRE_MESSAGE(w != wakes.end(), "flow " << id << " ends before it starts");
            CHECK(w->second.task == task_arg);  // the woken task is the polled one
            CHECK(w->second.ts <= ts);
            w->second.ended_on.push_back(t.tid);
        }
    }
    for (const auto& [uuid, t] : tracks) CHECK_MESSAGE(t.open.empty(), "a track ends with open slices");
    for (uint64_t ts : unfinished_task_ends) CHECK(ts == max_ts);  // the capture's last timestamp
    for (uint64_t id : wake_order) {
        const wake& w = wakes[id];
        CHECK_MESSAGE(w.ended_on.size() <= 1, "flow " << id << " terminated " << w.ended_on.size() << " times");
        v.flows.push_back(flow_line(w.task, w.tid, w.ended_on.empty() ? "none" : std::to_string(w.ended_on[0])));
    }
    return v;
}

// ---- Chrome JSON ----------------------------------------------------------------

// Validated and read by tests/support/chrome_tasks.py (strict JSON, B/E
// balance per thread, b/e balance per async id, flow events bound where both
// readers look for their slice), in task_view's terms.
task_view read_chrome_tasks(const std::string& json_path, uint32_t pid, const std::string&) {
    task_view v;
    int status = 0;
    const std::string output = run_python("chrome_tasks.py", {json_path, std::to_string(pid)}, status);
    INFO("python3 said:\n" << output.substr(0, 4000));
    REQUIRE(status == 0);
    bool ok = false;
    size_t at = 0;
    while (at < output.size()) {
        size_t nl = output.find('\n', at);
        if (nl == std::string::npos) nl = output.size();
        const std::string line = output.substr(at, nl - at);
        at = nl + 1;
        if (line == "OK") {
            ok = true;
            continue;
        }
        REQUIRE(line.size() > 2);
        const std::string rest = line.substr(2);
        const size_t sp = rest.find(' ');
        switch (line[0]) {
            case 'T': v.threads[uint32_t(std::stoul(rest.substr(0, sp)))].push_back(rest.substr(sp + 1)); break;
            case 'K': v.tasks[std::stoull(rest.substr(0, sp))].push_back(rest.substr(sp + 1)); break;
            case 'N': {
                const uint64_t id = std::stoull(rest.substr(0, sp));
                const std::string name = rest.substr(sp + 1);
                auto [it, fresh] = v.names.emplace(id, name);
                CHECK(it->second == name);  // one name per task throughout
                break;
            }
            case 'F': v.flows.push_back(rest); break;
            default: FAIL("unexpected checker output: " << line);
        }
        if (line[0] == 'T' && rest.find(" I wake ") != std::string::npos) ++v.wakes;
    }
    CHECK(ok);
    return v;
}

// ---- running both ----------------------------------------------------------------

struct converted {
    std::string chrome, perfetto;
    explicit converted(const std::string& tag)
        : chrome("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + tag + ".json"),
          perfetto("/tmp/bbx-test-" + std::to_string(getpid()) + "-" + tag + ".pftrace") {}
    ~converted() {
        unlink(chrome.c_str());
        unlink(perfetto.c_str());
    }
};

std::shared_ptr<capture> convert_both(const std::string& capture_path, const converted& out) {
    auto r = capture::open(capture_path);
    INFO((r.is_error() ? r.err().message() : std::string()));
    REQUIRE(!r.is_error());
    capture& c = *r.value();
    std::string err;
    std::FILE* f = std::fopen(out.chrome.c_str(), "wb");
    REQUIRE(f);
    bool ok = bbx::dec::write_chrome(c, f, err);
    std::fclose(f);
    INFO(err);
    REQUIRE(ok);
    f = std::fopen(out.perfetto.c_str(), "wb");
    REQUIRE(f);
    ok = bbx::dec::write_perfetto(c, f, err);
    std::fclose(f);
    REQUIRE(ok);
    return r.value();
}

// Lets two threads take turns: turn(n) waits for turn n, done() passes on.
struct turns {
    std::mutex mu;
    std::condition_variable cv;
    int now = 0;
    void wait(int n) {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return now == n; });
    }
    void done() {
        {
            std::lock_guard lock(mu);
            ++now;
        }
        cv.notify_all();
    }
};

void compare(const task_view& want, const task_view& got, const char* what) {
    INFO(what);
    // (No structured bindings here: clang 14 cannot capture them in INFO's lambda.)
    for (const auto& kv : want.threads) {
        INFO("thread " << kv.first);
        auto it = got.threads.find(kv.first);
        REQUIRE(it != got.threads.end());
        CHECK(join(it->second) == join(kv.second));
    }
    CHECK(got.threads.size() == want.threads.size());
    for (const auto& kv : want.tasks) {
        INFO("task " << kv.first);
        auto it = got.tasks.find(kv.first);
        REQUIRE(it != got.tasks.end());
        CHECK(join(it->second) == join(kv.second));
    }
    CHECK(got.tasks.size() == want.tasks.size());
    CHECK(got.flows == want.flows);
    CHECK(got.wakes == want.wakes);
}

}  // namespace

TEST_CASE("tasks convert to Perfetto task tracks, polls on their threads, wake arrows and waits, and to Chrome JSON") {
    temp_capture tc("conv-tasks");
    converted out("conv-tasks");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());

    const std::string file = __FILE__;
    auto at = [&](uint32_t line) { return file + ":" + std::to_string(line); };
    task_view want;
    turns turn;
    const bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "jobs", 2);
    REQUIRE(chan != 0);
    const bbx::task_id t1 = bbx::new_task_id(), t2 = bbx::new_task_id(), t3 = bbx::new_task_id();
    const std::string n1 = "producer #" + std::to_string(t1), n2 = "consumer #" + std::to_string(t2),
                      n3 = "task #" + std::to_string(t3);  // never spawned: named by its id alone
    const std::string s1 = std::to_string(t1), s2 = std::to_string(t2), s3 = std::to_string(t3);
    const std::string res = std::to_string(chan);
    uint32_t tid_a = 0, tid_b = 0;
    std::vector<std::string> lines_a, lines_b;  // want.threads of each, filled in turns

    std::thread a([&] {
        tid_a = this_tid();
        auto& lines = lines_a;
        turn.wait(0);
        BBX_TASK_SPAWN("producer", t1, 0, 128);
        want.tasks[t1].push_back("I spawn frame_bytes=128");
        bbx::task_wake(t1);  // from outside any task
        lines.push_back("I wake " + n1 + " task=" + s1);
        {
            bbx::poll_scope poll(t1);
            lines.push_back("B poll " + n1 + " task=" + s1);
            BBX_TASK_SPAWN("consumer", t2, bbx::current_task(), 0);
            want.tasks[t2].push_back("I spawn parent=" + s1);
            bbx::task_wake(t2);  // to thread b
            lines.push_back("I wake " + n2 + " task=" + s2 + " waker=" + s1);
            const uint32_t line = __LINE__ + 1;
            bbx::note_await();
            lines.push_back("E poll " + n1 + " await=" + at(line));
        }
        turn.done();

        turn.wait(2);
        std::optional<bbx::poll_scope> poll;
        poll.emplace(t1);  // woken from thread b
        lines.push_back("B poll " + n1 + " task=" + s1);
        const uint32_t wait_line = __LINE__ + 1;
        bbx::wait_begin(t1, chan, bbx::resource_op::send);  // never ends: unfinished at the end
        want.tasks[t1].push_back("B wait send jobs resource=" + res + " await=" + at(wait_line));
        {
            // A span that outlives the poll: the poll's end closes it, and
            // the span's own end, finding nothing open, is dropped.
            BBX_SPAN(INFO, "conv", "crossing");
            lines.push_back("B conv/crossing");
            const uint32_t line = __LINE__ + 1;
            bbx::note_await();
            poll.reset();
            lines.push_back("E conv/crossing");
            lines.push_back("E poll " + n1 + " await=" + at(line));
        }
        bbx::task_wake(t2);  // twice before its next poll: two arrows into one poll
        bbx::task_wake(t2);
        lines.push_back("I wake " + n2 + " task=" + s2);
        lines.push_back("I wake " + n2 + " task=" + s2);
        turn.done();
    });
    std::thread b([&] {
        tid_b = this_tid();
        auto& lines = lines_b;
        turn.wait(1);
        {
            bbx::poll_scope poll(t2);
            lines.push_back("B poll " + n2 + " task=" + s2);
            {
                const uint32_t line = __LINE__ + 1;
                bbx::wait_scope wait(chan, bbx::resource_op::recv);
                want.tasks[t2].push_back("B wait recv jobs resource=" + res + " await=" + at(line));
            }
            want.tasks[t2].push_back("E wait recv jobs");
            bbx::task_wake(t1);  // back to thread a
            lines.push_back("I wake " + n1 + " task=" + s1 + " waker=" + s2);
            const uint32_t line = __LINE__ + 1;
            bbx::note_await();
            lines.push_back("E poll " + n2 + " await=" + at(line));
        }
        turn.done();

        turn.wait(3);
        {
            bbx::poll_scope poll(t2);
            lines.push_back("B poll " + n2 + " task=" + s2);
        }
        lines.push_back("E poll " + n2);  // finished: no await site
        bbx::task_complete(t2);
        want.tasks[t2].push_back("I complete");
        bbx::task_wake(t3);  // a task first seen here, to the main thread
        lines.push_back("I wake " + n3 + " task=" + s3);
        turn.done();
    });
    a.join();
    b.join();
    want.threads[tid_a] = lines_a;
    want.threads[tid_b] = lines_b;
    const uint32_t tid_m = this_tid();
    {
        auto& lines = want.threads[tid_m];
        bbx::poll_scope poll(t3);
        lines.push_back("B poll " + n3 + " task=" + s3);
        BBX_INSTANT(INFO, "conv", "last");
        lines.push_back("I conv/last");
        bbx::stop();  // the poll is still running
        lines.push_back("E poll " + n3 + " unfinished");
    }
    want.tasks[t1].push_back("E wait send jobs unfinished");
    want.names = {{t1, n1}, {t2, n2}, {t3, n3}};
    want.flows = {flow_line(t1, tid_a, std::to_string(tid_a)), flow_line(t2, tid_a, std::to_string(tid_b)),
                  flow_line(t1, tid_b, std::to_string(tid_a)), flow_line(t2, tid_a, std::to_string(tid_b)),
                  flow_line(t2, tid_a, std::to_string(tid_b)), flow_line(t3, tid_b, std::to_string(tid_m))};
    want.wakes = 6;
    REQUIRE(tid_a != tid_b);

    auto cap = convert_both(tc.path, out);
    for (const auto& s : stats_of(*cap).threads) REQUIRE(s.overwritten == 0);  // else the expectations would not hold

    const task_view perfetto = read_perfetto_tasks(out.perfetto, cap->header().pid);
    compare(want, perfetto, "perfetto");
    CHECK(perfetto.names == want.names);  // task tracks, named

    task_view chrome = read_chrome_tasks(out.chrome, cap->header().pid, "conv-tasks");
    compare(want, chrome, "chrome");
    // JSON has no track descriptors: names come from the spawn and complete
    // instants, and t3 has neither.
    want.names.erase(t3);
    CHECK(chrome.names == want.names);
}

TEST_CASE("task output stays balanced, and every arrow has a wake, when the ring overwrote their beginnings") {
    temp_capture tc("conv-tasks-wrap");
    converted out("conv-tasks-wrap");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 4;  // 128 slots: most of what follows is overwritten
    REQUIRE(bbx::start(cfg).ok());
    const bbx::resource_id lock = bbx::register_resource(bbx::resource_kind::mutex, "state", 0);
    std::vector<bbx::task_id> ids;
    for (int i = 0; i < 8; ++i) ids.push_back(bbx::new_task_id());
    // Odd tasks wait on the lock from one poll to the next; the last round
    // leaves their waits open.
    for (int round = 0; round <= 60; ++round) {
        for (size_t i = 0; i < ids.size(); ++i) {
            bbx::task_wake(ids[i]);
            if ((round + int(i)) % 3 == 0) bbx::task_wake(ids[i]);
        }
        for (size_t i = 0; i < ids.size(); ++i) {
            bbx::poll_scope poll(ids[i]);
            if (i % 2 && round % 2 == 0) bbx::wait_begin(ids[i], lock, bbx::resource_op::lock);
            if (i % 2 && round % 2 == 1) bbx::wait_end(ids[i], lock, bbx::resource_op::lock);
            bbx::note_await();
        }
    }
    bbx::stop();

    auto cap = convert_both(tc.path, out);
    uint64_t overwritten = 0;
    for (const auto& s : stats_of(*cap).threads) overwritten += s.overwritten;
    REQUIRE(overwritten > 0);
    // The readers fail on an end without a begin, a slice left open, a flow
    // that ends before it starts, ends twice, or ends at another task's poll.
    const task_view perfetto = read_perfetto_tasks(out.perfetto, cap->header().pid);
    const task_view chrome = read_chrome_tasks(out.chrome, cap->header().pid, "conv-tasks-wrap");
    CHECK(perfetto.flows == chrome.flows);
    CHECK(perfetto.threads == chrome.threads);
    CHECK(perfetto.tasks == chrome.tasks);
    size_t unfinished = 0;
    for (const auto& [task, lines] : perfetto.tasks)
        for (const std::string& l : lines) unfinished += l.find(" unfinished") != std::string::npos;
    CHECK(unfinished == 4);  // the odd tasks' last waits
    CHECK(perfetto.wakes > 0);
    CHECK(!perfetto.flows.empty());
    size_t ended = 0;
    for (const std::string& f : perfetto.flows) ended += f.find("-> none") == std::string::npos;
    CHECK(ended > 0);
}
