// bbx top: a live view of a running process (bbx/decoder/top.hpp).
//
// THE MODEL. One timeline (timeline.hpp) lives as long as the view; each
// refresh feeds it the events written since the last one, read ring by ring
// from where the last refresh stopped (capture::for_each_event_from), so a
// refresh costs what was written, not the ring. Slots the writer overwrote
// before a refresh reached them are counted as lost and shown. When the
// file's metadata grew (call sites registered since, more rings in use, a
// ring that changed hands), the capture is opened again and read whole:
// the events of the new sites or owners cannot be read otherwise. So is a
// new file at the path (a process started again, recording to the same name).
//
// Numbers follow bbx analyze's rules (analyze_rules.cpp) where they share
// a name, kept here as the events arrive:
//   - state: running (in a poll), scheduled (woken, not polled since), idle,
//     done. A wake while polled makes the task scheduled from the poll's end.
//   - busy: its polls, less the polls nested in them on the same thread (a
//     poll cut short counts none); a poll running now counts up to now.
//     A thread's busy time is its outermost polls'. busy % of a thread is
//     over the time since the last refresh (the first: the capture's span).
//   - sched p99: over the task's last 256 woken -> polled intervals.
//   - await: the await site its last poll ended at (where it is suspended
//     now, when idle), and since when.
// "Now" is the wall clock (CLOCK_MONOTONIC on the capture's time base)
// while the process that writes the file runs (same boot, its pid alive,
// the file not ended); otherwise the capture's last event.
//
// Warnings are those that hold now:
//   - long poll: a poll running for at least T (--long-poll) now, with the
//     spans open on its thread;
//   - woken never polled: a task scheduled for at least T now;
//   - deadlock: analyze's rule, on the tasks as they are now: a task is
//     blocked when idle with an open wait to send or receive on a resource
//     that is not a timer; its counterparts are the live tasks other than it
//     that ever did the opposite operation on that resource (as far as the
//     view has read). Keep the blocked tasks whose counterparts are all kept
//     (and not none) until nothing changes; each cycle among them (following
//     the lowest-id counterpart) is one warning. (analyze also leaves out a
//     task whose wake looks lost; top does not look for lost wakes.)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyze_rules.hpp"
#include "bbx/decoder.hpp"
#include "bbx/decoder/top.hpp"
#include "json.hpp"
#include "timeline.hpp"

namespace bbx::dec {

namespace fmt = ::bbx::format;

namespace {

using an::dur;

constexpr size_t sched_kept = 256;   // woken -> polled intervals kept per task, for p99
constexpr size_t history_kept = 8;   // awaits and ended waits kept per task
constexpr size_t default_rows = 50;

struct await_mark {
    const site* at = nullptr;
    int64_t ns = 0;
};

struct ended_wait {
    uint64_t resource = 0, op = 0;
    const site* at = nullptr;
    int64_t begin_ns = 0, end_ns = 0;
};

// What top keeps of a task, by timeline task index.
struct live_task {
    const site* spawned_by = nullptr;
    uint64_t parent = 0;
    int64_t first_ns = 0, done_ns = 0;
    bool done = false, scheduled = false, woken_in_poll = false;
    uint32_t polling = 0;              // polls open now (nested on one thread, or on several)
    int64_t poll_since = 0;            // the outermost open poll's begin
    int64_t woken_ns = 0;              // scheduled since
    uint64_t polls = 0, wakes = 0;
    int64_t busy_ns = 0;
    std::vector<int64_t> sched;        // the last sched_kept intervals, a ring
    size_t sched_next = 0;
    uint64_t sched_count = 0;
    await_mark await;                  // its last poll's end
    std::vector<await_mark> awaits;    // the last history_kept, a ring (awaits_next: the oldest)
    size_t awaits_next = 0;
    std::vector<ended_wait> waits_done;
    size_t waits_next = 0;
};

// A slice open on a thread, as top counts it (parallel to thread::open).
struct open_mark {
    bool poll = false;
    int64_t child_ns = 0;  // polls nested in it (a poll: taken off its busy time)
};

struct live_thread {
    std::vector<open_mark> open;
    uint64_t polls = 0;
    int64_t busy_ns = 0;  // outermost polls that ended
};

template <class T>
void push_ring(std::vector<T>& v, size_t& next, size_t cap, const T& x) {
    if (v.size() < cap) {
        v.push_back(x);
        return;
    }
    v[next] = x;
    next = (next + 1) % cap;
}

// The sink: top's state, kept as the events come.
struct live_sink : tl::sink {
    // Tasks never move once added (a growing vector would move every one,
    // hundreds of thousands, inside one refresh).
    struct task_table {
        std::unique_ptr<stable_vec<live_task>> v = std::make_unique<stable_vec<live_task>>();
        size_t size() const { return v->size(); }
        live_task& operator[](size_t i) { return (*v)[i]; }
        const live_task& operator[](size_t i) const { return (*v)[i]; }
    } tasks;
    std::vector<live_thread> threads;
    uint64_t done_count = 0;
    // Per resource: the tasks that ever sent (0) and received (1) on it.
    std::unordered_map<uint64_t, std::array<std::set<uint32_t>, 2>> doers;

    live_task& of(const tl::task& k) {
        while (k.index >= tasks.size()) tasks.v->emplace_back();
        return tasks[k.index];
    }
    live_thread& of(const tl::thread& t) {
        if (t.index >= threads.size()) threads.resize(size_t(t.index) + 1);
        return threads[t.index];
    }

    void task_seen(tl::thread&, tl::task& k, const event& e) { of(k).first_ns = e.ns; }
    void spawn(tl::thread&, tl::task& k, const event& e) {
        live_task& x = of(k);
        x.spawned_by = e.where;
        x.parent = e.spawn.parent;
    }
    void complete(tl::thread&, tl::task& k, const event& e) {
        live_task& x = of(k);
        done_count += !x.done;
        x.done = true;
        x.done_ns = e.ns;
        x.scheduled = false;
    }
    void wake(tl::thread&, tl::task& k, const event& e, uint64_t) {
        live_task& x = of(k);
        ++x.wakes;
        if (x.done) return;
        if (x.polling) x.woken_in_poll = true;
        else if (!x.scheduled) {
            x.scheduled = true;
            x.woken_ns = e.ns;
        }
    }
    void slice_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t>) {
        live_thread& th = of(t);
        th.open.push_back({s.kind == tl::slice_kind::poll, 0});
        if (s.kind != tl::slice_kind::poll) return;
        live_task& x = of(*find(s.task));
        ++x.polls;
        ++th.polls;
        if (x.polling++ == 0) x.poll_since = e.ns;
        x.woken_in_poll = false;
        if (x.scheduled) {
            x.scheduled = false;
            push_ring(x.sched, x.sched_next, sched_kept, an::elapsed(x.woken_ns, e.ns));
            ++x.sched_count;
        }
    }
    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        live_thread& th = of(t);
        if (th.open.empty()) return;
        const open_mark m = th.open.back();
        th.open.pop_back();
        if (!m.poll) return;
        const int64_t d = an::elapsed(s.begin_ns, ns);
        live_task& x = of(*find(s.task));
        if (how == tl::end_how::ended) x.busy_ns += d > m.child_ns ? d - m.child_ns : 0;
        size_t k = th.open.size();
        while (k > 0 && !th.open[k - 1].poll) --k;
        if (k > 0) th.open[k - 1].child_ns += d;
        else th.busy_ns += d;
        if (x.polling) --x.polling;
        if (await) note_await(x, await, ns);
        if (x.woken_in_poll && x.polling == 0 && !x.done) {
            x.woken_in_poll = false;
            if (!x.scheduled) {
                x.scheduled = true;
                x.woken_ns = ns;
            }
        }
    }
    void lone_end(tl::thread&, tl::slice_kind k, const event& e) {
        if (k != tl::slice_kind::poll || !e.where || !model) return;
        const tl::task* t = model->find_task(e.task);
        if (t) note_await(of(*t), e.where, e.ns);
    }
    static void note_await(live_task& x, const site* at, int64_t ns) {
        x.await = {at, ns};
        push_ring(x.awaits, x.awaits_next, history_kept, x.await);
    }
    void did(uint64_t resource, uint64_t op, uint32_t task) {
        if (op == uint64_t(fmt::resource_op::send)) doers[resource][0].insert(task);
        else if (op == uint64_t(fmt::resource_op::recv)) doers[resource][1].insert(task);
    }
    void wait_begin(tl::thread&, tl::task& k, const tl::wait*, const event& e) { did(e.res.id, e.res.op, k.index); }
    void wait_end(tl::thread&, tl::task& k, const tl::wait& w, int64_t ns, tl::end_how) {
        did(w.resource, w.op, k.index);
        live_task& x = of(k);
        push_ring(x.waits_done, x.waits_next, history_kept, ended_wait{w.resource, w.op, w.at, w.begin_ns, ns});
    }
    void lone_wait_end(tl::thread&, tl::task& k, const event& e) { did(e.res.id, e.res.op, k.index); }
    void resource_op(tl::thread&, tl::task* k, const event& e) {
        if (k) did(e.res.id, e.res.op, k->index);
    }

    const tl::model* model = nullptr;
    tl::task* find(uint32_t index) { return &const_cast<tl::model*>(model)->tasks[index]; }
};

std::string loc(const site* s) {
    if (!s) return "-";
    return printable(s->file) + ":" + std::to_string(s->line);
}

std::string op_name(uint64_t op) {
    switch (op) {
        case 1: return "send";
        case 2: return "recv";
        case 3: return "lock";
        case 4: return "timer";
        case 5: return "join";
        case 6: return "other";
        default: return "op " + std::to_string(op);
    }
}

bool boot_id_matches(const unsigned char id[16]) {
    bool zero = true;
    for (int i = 0; i < 16; ++i) zero = zero && id[i] == 0;
    if (zero) return true;  // not recorded: cannot tell
    char text[64] = {};
    int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return true;
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) return true;
    unsigned char mine[16] = {};
    int k = 0;
    for (const char* p = text; *p && *p != '\n' && k < 32; ++p) {
        if (*p == '-') continue;
        const int v = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (v < 0) return true;
        mine[k / 2] = (k % 2) ? uint8_t(mine[k / 2] | v) : uint8_t(v << 4);
        ++k;
    }
    return k != 32 || std::memcmp(mine, id, 16) == 0;
}

int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Cuts s (printable text) to at most w columns, one per code point.
void cut_to(std::string& s, unsigned w) {
    if (w == 0) return;
    unsigned cols = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
        if (cols == w) {
            s.resize(i);
            return;
        }
        ++cols;
    }
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string pad(std::string s, size_t w, bool right = false) {
    size_t cols = 0;
    for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
    if (cols >= w) return s;
    return right ? std::string(w - cols, ' ') + s : s + std::string(w - cols, ' ');
}

}  // namespace

// A deadlock step, a long poll, a woken task: the warnings as they hold now.
struct top_warning {
    enum kind_t { deadlock, long_poll, woken_never_polled } kind;
    std::vector<uint32_t> cycle;  // deadlock: task indexes, from the lowest id
    uint32_t task = 0;            // long_poll, woken_never_polled
    uint32_t thread = 0;          // long_poll
    int64_t since_ns = 0, for_ns = 0;
    std::vector<std::string> spans;  // long_poll: open on its thread, outermost first
    // long_poll, with stall stacks recorded (spec/stall-stacks.md): the
    // samples taken in this poll, and the newest one's frames symbolised,
    // innermost first ("function (file:line)", or the address).
    uint64_t samples = 0;
    std::vector<std::string> stack;
};

struct top_view::impl {
    std::string path;
    top_options opt;
    std::shared_ptr<capture> cap;
    std::unordered_map<uint64_t, std::string> frame_names;  // stall sample frames symbolised: (address << 1 | return address) -> text
    live_sink sink;
    std::unique_ptr<tl::timeline<live_sink>> tl;
    std::vector<capture::ring_mark> marks;
    uint64_t lost_before = 0;   // slots lost to earlier captures of the view (before a reopen)
    std::pair<uint64_t, uint64_t> file_id{0, 0};  // the file open() read (device, inode): a new file at the path is read anew
    uint64_t reopened = 0;
    bool live = false;
    int64_t now = 0;            // ns since the capture's start
    int64_t prev_now = INT64_MIN;
    std::vector<int64_t> prev_busy;  // per thread, at the last refresh
    std::vector<double> busy_pct;    // per thread, since the last refresh
    uint64_t events = 0, prev_events = 0, refreshes = 0;
    double events_per_s = 0;
    int64_t prev_wall = 0;
    std::vector<top_warning> warnings;
    // The tasks not done, by index: what a refresh looks at (done tasks stay
    // in the model, and are listed with show_done, but cost a refresh nothing).
    std::vector<uint32_t> live_tasks;
    size_t tasks_seen = 0;
    // The interactive state.
    bool reverse = false;
    uint64_t selected = 0;      // task id (0: the first row)
    bool detail = false;
    std::string status;         // a message on the last line

    result<bool> open_capture() {
        struct stat st{};
        const bool known = ::stat(path.c_str(), &st) == 0;
        auto c = capture::open(path);
        if (c.is_error()) return c.err();
        cap = c.value();
        file_id = known ? std::make_pair(uint64_t(st.st_dev), uint64_t(st.st_ino)) : std::make_pair(uint64_t(0), uint64_t(0));
        sink = live_sink{};
        tl = std::make_unique<tl::timeline<live_sink>>(*cap, sink);
        sink.model = tl.get();
        for (const capture::ring_mark& m : marks) lost_before += m.lost;
        marks.clear();
        prev_busy.clear();
        live_tasks.clear();
        tasks_seen = 0;
        prev_now = INT64_MIN;
        events = prev_events = 0;
        return true;
    }

    // The file's header and ring table as they are now: does what open() read still describe it?
    bool shape_changed() const {
        if (cap->container().present) return false;  // a snapshot never changes
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) return false;
        fmt::file_header h;
        struct stat st{};
        bool changed = ::fstat(fd, &st) == 0 && file_id.second != 0 &&
                       std::make_pair(uint64_t(st.st_dev), uint64_t(st.st_ino)) != file_id;  // (a restarted process's)
        if (!changed && ::pread(fd, &h, sizeof h, 0) == ssize_t(sizeof h)) {
            const header_info& was = cap->header();
            changed = h.meta_used != was.meta_used || h.rings_used != was.rings_used;
            if (!changed && fmt::feature_minor(was.version_major, was.version_minor) >= fmt::minor_owners && h.rings_used <= h.ring_count) {
                // A ring that changed hands since: its new owner is no thread of the capture.
                std::vector<uint32_t> latest(h.rings_used, 0);
                for (const thread_info& t : cap->threads())
                    if (t.latest && t.ring < latest.size()) latest[t.ring] = t.generation;
                for (uint32_t r = 0; r < h.rings_used && !changed; ++r) {
                    uint32_t g = 0;
                    const off_t at = off_t(h.ring_table_offset + uint64_t(r) * fmt::ring_descriptor_size +
                                           offsetof(fmt::ring_descriptor, generation));
                    if (::pread(fd, &g, sizeof g, at) == ssize_t(sizeof g)) changed = g != latest[r];
                }
            }
        }
        ::close(fd);
        return changed;
    }

    bool process_alive() const {
        const header_info& h = cap->header();
        if (cap->container().present || (h.flags & (fmt::flag_ended_clean | fmt::flag_ended_crash))) return false;
        if (h.pid == 0 || (::kill(pid_t(h.pid), 0) != 0 && errno != EPERM)) return false;
        return boot_id_matches(h.boot_id);
    }

    result<bool> refresh() {
        if (!cap || shape_changed()) {
            if (cap) ++reopened;
            if (auto r = open_capture(); r.is_error()) return r.err();
        }
        auto r = cap->for_each_event_from(marks, [&](const event& e) { tl->on(e); });
        if (r.is_error()) return r.err();
        ++refreshes;
        events = tl->events;
        live = process_alive();
        const int64_t last = tl->last_ns == INT64_MIN ? 0 : tl->last_ns;
        now = last;
        if (live) {
            const int64_t wall = monotonic_ns() - int64_t(cap->start_monotonic_ns());
            if (wall > now) now = wall;
        }
        const int64_t wall = monotonic_ns();
        events_per_s = prev_wall && wall > prev_wall ? double(events - prev_events) * 1e9 / double(wall - prev_wall) : 0;
        prev_wall = wall;
        prev_events = events;
        // Threads' busy % since the last refresh.
        const size_t nt = tl->threads.size();
        sink.threads.resize(std::max(sink.threads.size(), nt));
        busy_pct.assign(nt, 0);
        std::vector<int64_t> busy(nt, 0);
        for (size_t i = 0; i < nt; ++i) busy[i] = thread_busy(uint32_t(i));
        const int64_t from = prev_now == INT64_MIN ? (tl->first_ns <= tl->last_ns ? tl->first_ns : now) : prev_now;
        const int64_t span = now - from;
        for (size_t i = 0; i < nt; ++i) {
            const int64_t was = i < prev_busy.size() ? prev_busy[i] : 0;
            if (span > 0) busy_pct[i] = std::min(100.0, 100.0 * double(busy[i] - was) / double(span));
        }
        prev_busy = std::move(busy);
        prev_now = now;
        const size_t n = std::min(sink.tasks.size(), tl->tasks.size());
        std::vector<uint32_t> still;
        still.reserve(live_tasks.size() + (n - tasks_seen));
        for (uint32_t k : live_tasks)
            if (!sink.tasks[k].done) still.push_back(k);
        for (size_t k = tasks_seen; k < n; ++k)
            if (!sink.tasks[k].done) still.push_back(uint32_t(k));
        tasks_seen = n;
        live_tasks.swap(still);
        if (cap->reread_stall_samples().is_error()) {}  // (an error: no samples shown; the events are what top is about)
        find_warnings();
        return true;
    }

    // A thread's busy time up to now: outermost polls ended, and the one open.
    int64_t thread_busy(uint32_t i) const {
        int64_t b = sink.threads[i].busy_ns;
        for (const tl::slice& s : tl->threads[i].open)
            if (s.kind == tl::slice_kind::poll) return b + an::elapsed(s.begin_ns, now);
        return b;
    }
    int64_t task_busy(uint32_t k) const {
        const live_task& x = sink.tasks[k];
        return x.busy_ns + (x.polling ? an::elapsed(x.poll_since, now) : 0);
    }
    int64_t sched_p99(uint32_t k) const {
        const live_task& x = sink.tasks[k];
        if (x.sched.empty()) return -1;
        std::vector<int64_t> v = x.sched;
        const size_t rank = (v.size() * 99 + 99) / 100;  // nearest rank
        std::nth_element(v.begin(), v.begin() + (rank - 1), v.end());
        return v[rank - 1];
    }
    const char* state(uint32_t k) const {
        const live_task& x = sink.tasks[k];
        return x.done ? "done" : x.polling ? "running" : x.scheduled ? "scheduled" : "idle";
    }
    std::string name(uint32_t k) const {
        const live_task& x = sink.tasks[k];
        return x.spawned_by ? printable(x.spawned_by->name) : std::string("?");
    }
    std::string thread_name(uint32_t i) const { return printable(tl->threads[i].name); }

    bool blocked(uint32_t k, const tl::wait*& w) const {
        const live_task& x = sink.tasks[k];
        if (x.done || x.polling || x.scheduled) return false;
        for (const tl::wait& o : tl->tasks[k].waits) {
            if (o.op != uint64_t(fmt::resource_op::send) && o.op != uint64_t(fmt::resource_op::recv)) continue;
            const resource* r = cap->find_resource(o.resource);
            if (r && r->kind == 2) continue;  // a timer
            w = &o;
            return true;
        }
        return false;
    }
    std::vector<uint32_t> counterparts(uint32_t k, const tl::wait& w) const {
        std::vector<uint32_t> out;
        auto it = sink.doers.find(w.resource);
        if (it == sink.doers.end()) return out;
        const auto& other = it->second[w.op == uint64_t(fmt::resource_op::send) ? 1 : 0];
        for (uint32_t u : other)
            if (u != k && u < sink.tasks.size() && !sink.tasks[u].done) out.push_back(u);
        std::sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) { return tl->tasks[a].id < tl->tasks[b].id; });
        return out;
    }

    // A long poll's stall samples (those of its thread since it began): how
    // many, and the newest one's frames, symbolised once per address (addr2line
    // runs only when a sample brings an address not seen before).
    void stall_stack(top_warning& wn, uint32_t thread, int64_t since_ns) {
        const stall_sample* newest = nullptr;
        for (const stall_sample& x : cap->stall_samples())
            if (x.thread == thread && x.ns >= since_ns) {
                ++wn.samples;
                if (!newest || x.ns >= newest->ns) newest = &x;
            }
        if (!newest) return;
        auto key = [](uint64_t a, size_t i) { return a << 1 | uint64_t(i > 0); };
        bool unknown = false;
        for (size_t i = 0; i < newest->frames.size(); ++i) unknown = unknown || !frame_names.count(key(newest->frames[i], i));
        if (unknown) {
            const stall_symbolizer sym(*cap);
            for (const stall_sample& x : cap->stall_samples())
                for (size_t i = 0; i < x.frames.size(); ++i) {
                    std::string& t = frame_names[key(x.frames[i], i)];
                    if (!t.empty()) continue;
                    const frame_symbol* f = sym.find(x.frames[i], i > 0);
                    if (f && !f->where.empty() && !f->where.front().function.empty()) {
                        // The function and the ones inlined into it here, innermost first.
                        for (const source_location& l : f->where) {
                            if (!t.empty()) t += " < ";
                            t += printable(l.function.empty() ? std::string("?") : l.function);
                            if (!l.file.empty()) t += " (" + printable(l.file) + ":" + std::to_string(l.line) + ")";
                        }
                    } else {
                        char hex[32];
                        std::snprintf(hex, sizeof hex, "0x%" PRIx64, x.frames[i]);
                        t = hex;
                    }
                }
        }
        for (size_t i = 0; i < newest->frames.size(); ++i) wn.stack.push_back(frame_names[key(newest->frames[i], i)]);
    }

    void find_warnings() {
        warnings.clear();
        // Deadlocks: the blocked tasks whose counterparts are all blocked and kept.
        std::map<uint32_t, std::vector<uint32_t>> edges;  // kept task -> counterparts
        for (uint32_t k : live_tasks) {
            const tl::wait* w = nullptr;
            if (blocked(k, w)) edges[k] = counterparts(k, *w);
        }
        for (bool again = true; again;) {
            again = false;
            for (auto it = edges.begin(); it != edges.end();) {
                bool keep = !it->second.empty();
                for (uint32_t u : it->second) keep = keep && edges.count(u);
                if (keep) ++it;
                else {
                    it = edges.erase(it);
                    again = true;
                }
            }
        }
        std::set<uint32_t> on_cycle;
        for (const auto& [start, _] : edges) {
            std::vector<uint32_t> walk;
            std::map<uint32_t, size_t> at;
            uint32_t k = start;
            while (!at.count(k) && !on_cycle.count(k)) {
                at[k] = walk.size();
                walk.push_back(k);
                k = edges.at(k).front();
            }
            if (on_cycle.count(k)) continue;  // leads into a cycle already found
            std::vector<uint32_t> cyc(walk.begin() + ptrdiff_t(at[k]), walk.end());
            auto lowest = std::min_element(cyc.begin(), cyc.end(),
                                           [&](uint32_t a, uint32_t b) { return tl->tasks[a].id < tl->tasks[b].id; });
            std::rotate(cyc.begin(), lowest, cyc.end());
            for (uint32_t c : cyc) on_cycle.insert(c);
            top_warning wn{};
            wn.kind = top_warning::deadlock;
            wn.cycle = cyc;
            for (uint32_t c : cyc) {
                const tl::wait* w = nullptr;
                if (blocked(c, w) && w->begin_ns > wn.since_ns) wn.since_ns = w->begin_ns;
            }
            wn.for_ns = an::elapsed(wn.since_ns, now);
            warnings.push_back(std::move(wn));
        }
        // Polls running long now: each thread's outermost poll.
        for (const tl::thread& t : tl->threads) {
            for (size_t d = 0; d < t.open.size(); ++d) {
                const tl::slice& s = t.open[d];
                if (s.kind != tl::slice_kind::poll) continue;
                if (an::elapsed(s.begin_ns, now) >= opt.long_poll_ns) {
                    top_warning wn{};
                    wn.kind = top_warning::long_poll;
                    wn.task = s.task;
                    wn.thread = t.index;
                    wn.since_ns = s.begin_ns;
                    wn.for_ns = an::elapsed(s.begin_ns, now);
                    for (const tl::slice& o : t.open)
                        if (o.kind == tl::slice_kind::span && o.where) wn.spans.push_back(printable(o.where->name));
                    stall_stack(wn, t.index, s.begin_ns);
                    warnings.push_back(std::move(wn));
                }
                break;
            }
        }
        for (uint32_t k : live_tasks) {
            const live_task& x = sink.tasks[k];
            if (!x.scheduled || x.done || an::elapsed(x.woken_ns, now) < opt.long_poll_ns) continue;
            top_warning wn{};
            wn.kind = top_warning::woken_never_polled;
            wn.task = k;
            wn.since_ns = x.woken_ns;
            wn.for_ns = an::elapsed(x.woken_ns, now);
            warnings.push_back(std::move(wn));
        }
    }

    // The tasks to list, in sort order, the name filter applied.
    // The tasks to list: those not done (with show_done: all), the name
    // filter applied, in sort order; only the first `need` are sorted.
    std::vector<uint32_t> rows(size_t need = SIZE_MAX) const { return rows_of(need, show_done); }
    std::vector<uint32_t> rows_of(size_t need, bool with_done) const {
        std::vector<uint32_t> v;
        const std::string f = lower(opt.name);
        const size_t n = std::min(sink.tasks.size(), tl->tasks.size());
        auto take = [&](uint32_t k) {
            if (f.empty() || lower(name(k)).find(f) != std::string::npos) v.push_back(k);
        };
        if (with_done)
            for (uint32_t k = 0; k < n; ++k) take(k);
        else
            for (uint32_t k : live_tasks) take(k);
        std::vector<int64_t> key(n, 0);
        for (uint32_t k : v) {
            const live_task& x = sink.tasks[k];
            switch (opt.sort) {
                case top_sort::busy: key[k] = task_busy(k); break;
                case top_sort::polls: key[k] = int64_t(x.polls); break;
                case top_sort::wakes: key[k] = int64_t(x.wakes); break;
                case top_sort::sched: key[k] = sched_p99(k); break;
                case top_sort::since: key[k] = x.await.at && !x.done && !x.polling ? an::elapsed(x.await.ns, now) : -1; break;
                default: break;
            }
        }
        auto id = [&](uint32_t k) { return tl->tasks[k].id; };
        auto order = [&](uint32_t a, uint32_t b) {
            bool less;
            if (opt.sort == top_sort::name) {
                const std::string na = name(a), nb = name(b);
                less = na != nb ? na < nb : id(a) < id(b);
            } else if (opt.sort == top_sort::id) {
                less = id(a) < id(b);
            } else {
                less = key[a] != key[b] ? key[a] > key[b] : id(a) < id(b);  // largest first
            }
            return reverse ? !less && a != b : less;
        };
        if (need < v.size()) {
            std::partial_sort(v.begin(), v.begin() + ptrdiff_t(need), v.end(), order);
            v.resize(need);
        } else {
            std::sort(v.begin(), v.end(), order);
        }
        return v;
    }
    size_t row_count() const {
        if (opt.name.empty()) return show_done ? std::min(sink.tasks.size(), tl->tasks.size()) : live_tasks.size();
        return rows().size();
    }

    void warning_lines(const top_warning& w, std::vector<std::string>& out) const {
        switch (w.kind) {
            case top_warning::deadlock: {
                out.push_back("deadlock: " + std::to_string(w.cycle.size()) +
                              " tasks wait on each other's channels, none of them can run again (for " + dur(w.for_ns) +
                              ")");
                for (uint32_t k : w.cycle) {
                    const tl::wait* wt = nullptr;
                    if (!blocked(k, wt)) continue;
                    const resource* r = cap->find_resource(wt->resource);
                    std::string res = r ? "\"" + printable(r->name) + "\"" : "resource " + std::to_string(wt->resource);
                    if (r && r->capacity) res += " (capacity " + std::to_string(r->capacity) + ")";
                    out.push_back("  task " + std::to_string(tl->tasks[k].id) + " " + name(k) + " waits to " +
                                  op_name(wt->op) + " on " + res + " at " + loc(wt->at) + " for " +
                                  dur(an::elapsed(wt->begin_ns, now)));
                }
                break;
            }
            case top_warning::long_poll: {
                std::string s = "long poll now: task " + std::to_string(tl->tasks[w.task].id) + " " + name(w.task) +
                                " has held T" + std::to_string(tl->threads[w.thread].index) + " " +
                                thread_name(w.thread) + " for " + dur(w.for_ns);
                if (!w.spans.empty()) {
                    s += ", inside ";
                    for (size_t i = 0; i < w.spans.size(); ++i) s += (i ? " > " : "") + w.spans[i];
                }
                out.push_back(s);
                if (!w.stack.empty()) {  // the newest stall sample, innermost first
                    out.push_back("  stall stack (newest of " + std::to_string(w.samples) + " sample" +
                                  (w.samples == 1 ? "" : "s") + "):");
                    for (size_t i = 0; i < w.stack.size() && i < 12; ++i) out.push_back("    " + w.stack[i]);
                    if (w.stack.size() > 12) out.push_back("    ... " + std::to_string(w.stack.size() - 12) + " more frames");
                }
                break;
            }
            case top_warning::woken_never_polled: {
                const live_task& x = sink.tasks[w.task];
                out.push_back("woken, not polled: task " + std::to_string(tl->tasks[w.task].id) + " " + name(w.task) +
                              " for " + dur(w.for_ns) + " (suspended at " + loc(x.await.at) + ")");
                break;
            }
        }
    }

    void header_lines(std::vector<std::string>& out) const {
        const header_info& h = cap->header();
        uint64_t lost = lost_before;
        for (const capture::ring_mark& m : marks) lost += m.lost;
        size_t running = 0, scheduled = 0, idle = 0;
        const size_t n = std::min(sink.tasks.size(), tl->tasks.size());
        const uint64_t done = sink.done_count;
        for (uint32_t k : live_tasks) {
            const live_task& x = sink.tasks[k];
            (x.polling ? running : x.scheduled ? scheduled : idle) += 1;
        }
        char rate[48] = "";
        if (refreshes > 1) std::snprintf(rate, sizeof rate, " (%.0f/s)", events_per_s);  // (the first has no "since")
        char b[256];
        std::snprintf(b, sizeof b, "pid %u  %s  t=%.3f s  events %" PRIu64 "%s  lost %" PRIu64 " slots%s", h.pid,
                      live ? "running" : "not running (the capture's end)", double(now) / 1e9, events, rate, lost,
                      paused_text());
        out.push_back("bbx top " + printable(cap->name()) + "  " + printable(h.process_name));
        out.push_back(b);
        out.push_back("tasks " + std::to_string(n) + ": " + std::to_string(running) + " running, " +
                      std::to_string(scheduled) + " scheduled, " + std::to_string(idle) + " idle, " +
                      std::to_string(done) + " done;  long poll: " + dur(opt.long_poll_ns) + ";  sort: " + sort_name() +
                      (reverse ? " (reversed)" : "") + (opt.name.empty() ? "" : ";  name: " + printable(opt.name)));
    }
    bool paused = false;
    bool show_done = false;  // list done tasks too
    const char* paused_text() const { return paused ? "  PAUSED" : ""; }
    const char* sort_name() const {
        switch (opt.sort) {
            case top_sort::busy: return "busy";
            case top_sort::polls: return "polls";
            case top_sort::wakes: return "wakes";
            case top_sort::sched: return "sched p99";
            case top_sort::since: return "await since";
            case top_sort::name: return "name";
            case top_sort::id: return "id";
        }
        return "?";
    }

    std::string text(unsigned width, unsigned height) const {
        std::vector<std::string> out;
        header_lines(out);
        out.push_back("");
        if (detail) detail_lines(out);
        else list_lines(out, height);
        if (!status.empty()) out.push_back(status);
        if (height && out.size() > height) out.resize(height);
        std::string s;
        for (std::string& l : out) {
            cut_to(l, width);
            s += l;
            s += '\n';
        }
        return s;
    }

    void list_lines(std::vector<std::string>& out, unsigned height) const {
        out.push_back(warnings.empty() ? "warnings now: none" : "warnings now (" + std::to_string(warnings.size()) + ")");
        for (const top_warning& w : warnings) {
            std::vector<std::string> l;
            warning_lines(w, l);
            for (std::string& x : l) out.push_back("  " + x);
        }
        out.push_back("");
        // Threads that polled, busiest first.
        std::vector<uint32_t> th;
        for (uint32_t i = 0; i < tl->threads.size(); ++i)
            if (sink.threads[i].polls || !tl->threads[i].open.empty()) th.push_back(i);
        std::stable_sort(th.begin(), th.end(), [&](uint32_t a, uint32_t b) { return busy_pct[a] > busy_pct[b]; });
        size_t max_th = height ? std::max<size_t>(2, height / 5) : th.size();
        out.push_back("threads polling: " + std::to_string(th.size()) + "  (busy %: since the last refresh)");
        out.push_back("  " + pad("thread", 8) + pad("tid", 8, true) + "  " + pad("name", 16) + pad("busy %", 7, true) +
                      pad("polls", 9, true) + "  now");
        for (size_t i = 0; i < th.size() && i < max_th; ++i) {
            const uint32_t t = th[i];
            const tl::thread& x = tl->threads[t];
            char pct[16];
            std::snprintf(pct, sizeof pct, "%.1f%%", busy_pct[t]);
            std::string now_text = "-";
            for (const tl::slice& s : x.open)
                if (s.kind == tl::slice_kind::poll) {
                    now_text = "polling task " + std::to_string(tl->tasks[s.task].id) + " " + name(s.task) + " for " +
                               dur(an::elapsed(s.begin_ns, now));
                    break;
                }
            out.push_back("  " + pad("T" + std::to_string(x.info ? x.info->ring : t), 8) +
                          pad(x.info && x.info->tid_known ? std::to_string(x.info->tid) : "?", 8, true) + "  " +
                          pad(thread_name(t), 16) + pad(pct, 7, true) + pad(std::to_string(sink.threads[t].polls), 9, true) +
                          "  " + now_text);
        }
        if (th.size() > max_th) out.push_back("  ... " + std::to_string(th.size() - max_th) + " more");
        out.push_back("");
        size_t limit = opt.all ? SIZE_MAX : default_rows;
        if (height) limit = out.size() + 3 < height ? height - out.size() - 3 : 1;
        // Interactive: every row in order, to keep the selected one in view;
        // once: only the rows printed are sorted.
        const size_t total = row_count();
        const std::vector<uint32_t> v = rows(height ? SIZE_MAX : limit);
        size_t first = 0, sel = v.size();
        for (size_t i = 0; i < v.size(); ++i)
            if (tl->tasks[v[i]].id == selected) sel = i;
        if (height && sel != v.size() && sel >= limit) first = sel - limit + 1;
        out.push_back(std::string(show_done ? "tasks" : "tasks not done") + " (" + std::to_string(total) +
                      (opt.name.empty() ? "" : " matching") + ")");
        out.push_back("  " + pad("id", 8, true) + "  " + pad("name", 16) + pad("state", 10) + pad("polls", 8, true) +
                      pad("busy", 10, true) + pad("sched p99", 11, true) + pad("wakes", 8, true) + "  await site (since)");
        for (size_t i = first; i < v.size() && i < first + limit; ++i) {
            const uint32_t k = v[i];
            const live_task& x = sink.tasks[k];
            const int64_t p99 = sched_p99(k);
            std::string aw = "-";
            if (x.polling) aw = "running for " + dur(an::elapsed(x.poll_since, now));
            else if (x.await.at && !x.done) aw = loc(x.await.at) + " (" + dur(an::elapsed(x.await.ns, now)) + ")";
            else if (x.done) aw = "done at " + secs_text(x.done_ns);
            const bool is_sel = height && i == sel;
            out.push_back(std::string(is_sel ? "> " : "  ") + pad(std::to_string(tl->tasks[k].id), 8, true) + "  " +
                          pad(name(k), 16) + pad(state(k), 10) + pad(std::to_string(x.polls), 8, true) +
                          pad(dur(task_busy(k)), 10, true) + pad(p99 < 0 ? "-" : dur(p99), 11, true) +
                          pad(std::to_string(x.wakes), 8, true) + "  " + aw);
        }
        if (total > first + limit) out.push_back("  ... " + std::to_string(total - first - limit) + " more");
    }

    static std::string secs_text(int64_t ns) {
        char b[32];
        std::snprintf(b, sizeof b, "%.3f s", double(ns) / 1e9);
        return b;
    }

    uint32_t selected_index() const {
        const std::vector<uint32_t> v = rows();
        for (uint32_t k : v)
            if (tl->tasks[k].id == selected) return k;
        return v.empty() ? UINT32_MAX : v.front();
    }

    void detail_lines(std::vector<std::string>& out) const {
        const uint32_t k = selected_index();
        if (k == UINT32_MAX) {
            out.push_back("no task selected (Esc: back)");
            return;
        }
        const live_task& x = sink.tasks[k];
        const tl::task& t = tl->tasks[k];
        out.push_back("task " + std::to_string(t.id) + " " + name(k) + "  (Esc or Enter: back to the list)");
        out.push_back("  state       " + std::string(state(k)) +
                      (x.polling ? " for " + dur(an::elapsed(x.poll_since, now)) : "") +
                      (x.scheduled ? " since " + secs_text(x.woken_ns) + " (" + dur(an::elapsed(x.woken_ns, now)) + ")" : ""));
        out.push_back("  spawned at  " + (x.spawned_by ? loc(x.spawned_by) + " in " + printable(x.spawned_by->function)
                                                       : std::string("? (its spawn is not in what was read)")) +
                      (x.parent ? ", by task " + std::to_string(x.parent) : ""));
        out.push_back("  first seen  " + secs_text(x.first_ns));
        const int64_t p99 = sched_p99(k);
        out.push_back("  polls " + std::to_string(x.polls) + ", busy " + dur(task_busy(k)) + ", wakes " +
                      std::to_string(x.wakes) + ", sched p99 " + (p99 < 0 ? std::string("-") : dur(p99)) + " (of " +
                      std::to_string(std::min<uint64_t>(x.sched_count, sched_kept)) + " intervals)");
        out.push_back("");
        out.push_back("  awaits, newest first:");
        if (x.awaits.empty()) out.push_back("    none seen");
        for (size_t i = 0; i < x.awaits.size(); ++i) {
            const await_mark& a = x.awaits[(x.awaits_next + x.awaits.size() - 1 - i) % x.awaits.size()];
            out.push_back("    " + secs_text(a.ns) + "  " + loc(a.at) + (a.at ? "  " + printable(a.at->function) : ""));
        }
        out.push_back("");
        out.push_back("  open waits:");
        if (t.waits.empty()) out.push_back("    none");
        for (const tl::wait& w : t.waits) out.push_back("    " + wait_text(w.resource, w.op, w.at) + " since " +
                                                         secs_text(w.begin_ns) + " (" + dur(an::elapsed(w.begin_ns, now)) + ")");
        out.push_back("  ended waits, newest first:");
        if (x.waits_done.empty()) out.push_back("    none seen");
        for (size_t i = 0; i < x.waits_done.size(); ++i) {
            const ended_wait& w = x.waits_done[(x.waits_next + x.waits_done.size() - 1 - i) % x.waits_done.size()];
            out.push_back("    " + wait_text(w.resource, w.op, w.at) + " " + secs_text(w.begin_ns) + " .. " +
                          secs_text(w.end_ns) + " (" + dur(an::elapsed(w.begin_ns, w.end_ns)) + ")");
        }
    }

    std::string wait_text(uint64_t res, uint64_t op, const site* at) const {
        const resource* r = cap->find_resource(res);
        return op_name(op) + " on " + (r ? "\"" + printable(r->name) + "\"" : "resource " + std::to_string(res)) +
               " at " + loc(at);
    }

    static void json_loc(json_writer& w, const site* s) {
        if (!s) return w.null();
        w.begin_object();
        w.key("file");
        w.str(s->file);
        w.key("line");
        w.u64(s->line);
        w.key("function");
        w.str(s->function);
        w.end_object();
    }

    std::string json() const {
        static constexpr json_layout lines{"", "\n", ",\n", "\n"};
        json_text o;
        json_writer w(o);
        uint64_t lost = lost_before;
        for (const capture::ring_mark& m : marks) lost += m.lost;
        w.begin_object(lines);
        w.key("file");
        w.str(cap->name());
        w.key("pid");
        w.u64(cap->header().pid);
        w.key("process");
        w.str(cap->header().process_name);
        w.key("running");
        w.boolean(live);
        w.key("now_ns");
        w.i64(now);
        w.key("events");
        w.u64(events);
        w.key("lost_slots");
        w.u64(lost);
        w.key("long_poll_ns");
        w.i64(opt.long_poll_ns);
        w.key("warnings");
        w.begin_array(lines);
        for (const top_warning& wn : warnings) {
            w.begin_object();
            w.key("kind");
            w.str(wn.kind == top_warning::deadlock ? "deadlock" : wn.kind == top_warning::long_poll ? "long_poll"
                                                                                                    : "woken_never_polled");
            w.key("since_ns");
            w.i64(wn.since_ns);
            w.key("for_ns");
            w.i64(wn.for_ns);
            if (wn.kind == top_warning::deadlock) {
                w.key("cycle");
                w.begin_array();
                for (uint32_t k : wn.cycle) {
                    const tl::wait* wt = nullptr;
                    if (!blocked(k, wt)) continue;
                    const resource* r = cap->find_resource(wt->resource);
                    w.begin_object();
                    w.key("task");
                    w.u64(tl->tasks[k].id);
                    w.key("name");
                    w.str(sink.tasks[k].spawned_by ? sink.tasks[k].spawned_by->name : "");
                    w.key("op");
                    w.str(op_name(wt->op));
                    w.key("resource");
                    w.u64(wt->resource);
                    w.key("resource_name");
                    w.str(r ? r->name : "");
                    w.key("capacity");
                    w.u64(r ? r->capacity : 0);
                    w.key("at");
                    json_loc(w, wt->at);
                    w.key("since_ns");
                    w.i64(wt->begin_ns);
                    w.end_object();
                }
                w.end_array();
            } else {
                w.key("task");
                w.u64(tl->tasks[wn.task].id);
                w.key("name");
                w.str(sink.tasks[wn.task].spawned_by ? sink.tasks[wn.task].spawned_by->name : "");
                if (wn.kind == top_warning::long_poll) {
                    w.key("thread");
                    w.u64(tl->threads[wn.thread].info ? tl->threads[wn.thread].info->ring : wn.thread);
                    w.key("spans");
                    w.begin_array();
                    for (const std::string& s : wn.spans) w.str(s);
                    w.end_array();
                    w.key("stall_samples");
                    w.u64(wn.samples);
                    w.key("stall_stack");
                    w.begin_array();
                    for (const std::string& s : wn.stack) w.str(s);
                    w.end_array();
                }
            }
            w.end_object();
        }
        w.end_array();
        w.key("threads");
        w.begin_array(lines);
        for (uint32_t i = 0; i < tl->threads.size(); ++i) {
            const tl::thread& t = tl->threads[i];
            if (t.last_ns == INT64_MIN) continue;
            w.begin_object();
            w.key("ring");
            w.u64(t.info ? t.info->ring : i);
            w.key("tid");
            w.u64(t.info ? t.info->tid : 0);
            w.key("name");
            w.str(t.name);
            w.key("polls");
            w.u64(sink.threads[i].polls);
            w.key("busy_ns");
            w.i64(thread_busy(i));
            w.key("busy_percent");
            w.f64(busy_pct[i]);
            w.end_object();
        }
        w.end_array();
        w.key("tasks");
        w.begin_array(lines);
        for (uint32_t k : rows_of(SIZE_MAX, true)) {
            const live_task& x = sink.tasks[k];
            w.begin_object();
            w.key("id");
            w.u64(tl->tasks[k].id);
            w.key("name");
            w.str(x.spawned_by ? x.spawned_by->name : "");
            w.key("spawned_at");
            json_loc(w, x.spawned_by);
            w.key("parent");
            w.u64(x.parent);
            w.key("state");
            w.str(state(k));
            w.key("polls");
            w.u64(x.polls);
            w.key("busy_ns");
            w.i64(task_busy(k));
            w.key("wakes");
            w.u64(x.wakes);
            w.key("sched_p99_ns");
            const int64_t p = sched_p99(k);
            if (p < 0) w.null();
            else w.i64(p);
            w.key("await");
            json_loc(w, x.await.at);
            w.key("await_since_ns");
            if (x.await.at) w.i64(x.await.ns);
            else w.null();
            w.key("waits");
            w.begin_array();
            for (const tl::wait& wt : tl->tasks[k].waits) {
                w.begin_object();
                w.key("op");
                w.str(op_name(wt.op));
                w.key("resource");
                w.u64(wt.resource);
                w.key("at");
                json_loc(w, wt.at);
                w.key("since_ns");
                w.i64(wt.begin_ns);
                w.end_object();
            }
            w.end_array();
            w.end_object();
        }
        w.end_array();
        w.end_object();
        o.push_back('\n');
        return o.str();
    }
};

top_view::top_view() : p_(new impl) {}
top_view::~top_view() = default;

result<std::unique_ptr<top_view>> top_view::open(const std::string& path, const top_options& opt) {
    std::unique_ptr<top_view> v(new top_view());
    v->p_->path = path;
    v->p_->opt = opt;
    v->p_->show_done = opt.done;
    if (auto r = v->p_->open_capture(); r.is_error()) return r.err();
    return v;
}

result<bool> top_view::refresh() { return p_->refresh(); }
std::string top_view::text(unsigned width, unsigned rows) const { return p_->text(width, rows); }
std::string top_view::json() const { return p_->json(); }

// ---- the terminal ---------------------------------------------------------------------

namespace {

volatile sig_atomic_t g_stop = 0, g_resized = 0;
void on_stop(int) { g_stop = 1; }
void on_winch(int) { g_resized = 1; }

const char* const keys_help =
    "keys: q quit  space pause  / filter by name  b p w s a n i sort by busy, polls, wakes, sched p99,\n"
    "      await since, name, id  r reverse  d done tasks too  up/down (k/j) select  Enter details  Esc back";

// The terminal in raw mode on the alternate screen, restored whatever way the view ends.
class terminal {
public:
    bool enter(std::string& err) {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
            err = "bbx top needs a terminal (use --once or --json for a file or a pipe)";
            return false;
        }
        if (tcgetattr(STDIN_FILENO, &saved_) != 0) {
            err = std::string("cannot read the terminal's mode: ") + std::strerror(errno);
            return false;
        }
        termios raw = saved_;
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO);
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) {
            err = std::string("cannot set the terminal's mode: ") + std::strerror(errno);
            return false;
        }
        on_ = true;
        put("\x1b[?1049h\x1b[?25l");
        return true;
    }
    void leave() {
        if (!on_) return;
        put("\x1b[?25h\x1b[?1049l");
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
        on_ = false;
    }
    ~terminal() { leave(); }
    static void put(const std::string& s) {
        size_t done = 0;
        while (done < s.size()) {
            const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            done += size_t(n);
        }
    }
    static void size(unsigned& w, unsigned& h) {
        winsize ws{};
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
            w = ws.ws_col;
            h = ws.ws_row;
        } else {
            w = 80;
            h = 24;
        }
    }

private:
    termios saved_{};
    bool on_ = false;
};

void draw(const top_view::impl& v, const std::string& footer) {
    unsigned w, h;
    terminal::size(w, h);
    std::string body = v.text(w, h > 2 ? h - 2 : h);
    std::string frame = "\x1b[H";
    size_t at = 0;
    unsigned lines = 0;
    while (at < body.size()) {
        size_t nl = body.find('\n', at);
        if (nl == std::string::npos) nl = body.size();
        frame.append(body, at, nl - at);
        frame += "\x1b[K\r\n";
        at = nl + 1;
        ++lines;
    }
    frame += "\x1b[J";
    // The footer on the last line.
    std::string f = footer;
    cut_to(f, w);
    frame += "\x1b[" + std::to_string(h) + ";1H\x1b[7m" + f + "\x1b[K\x1b[0m";
    terminal::put(frame);
}

}  // namespace

int run_top_ui(const std::string& path, const top_options& opt, std::string& err) {
    auto vr = top_view::open(path, opt);
    if (vr.is_error()) {
        err = vr.err().message();
        return 1;
    }
    std::unique_ptr<top_view> view = std::move(vr.value());
    top_view::impl& v = view->state();
    if (auto r = v.refresh(); r.is_error()) {
        err = r.err().message();
        return 1;
    }
    // The handlers first: a signal from now on ends the loop, never the
    // process with the terminal in raw mode.
    struct sigaction sa{}, old_int{}, old_term{}, old_hup{}, old_winch{};
    sa.sa_handler = on_stop;  // no SA_RESTART: poll() returns at once
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, &old_winch);
    auto restore = [&] {
        sigaction(SIGINT, &old_int, nullptr);
        sigaction(SIGTERM, &old_term, nullptr);
        sigaction(SIGHUP, &old_hup, nullptr);
        sigaction(SIGWINCH, &old_winch, nullptr);
        g_stop = 0;
    };
    terminal term;
    if (!term.enter(err)) {
        restore();
        return 2;
    }
    bool filtering = false, help = false;
    std::string typed;
    int64_t next_refresh = monotonic_ns() + opt.interval_ns;
    int rc = 0;
    auto footer = [&]() -> std::string {
        if (filtering) return "filter by name: " + printable(typed) + "_   (Enter: apply, Esc: cancel)";
        if (help) return keys_help;
        return "q quit  space pause  / filter  b/p/w/s/a/n/i sort  r reverse  d done  j/k select  Enter details  ? keys";
    };
    auto move_sel = [&](int by) {
        const std::vector<uint32_t> rows = v.rows();
        if (rows.empty()) return;
        size_t i = 0;
        for (size_t k = 0; k < rows.size(); ++k)
            if (v.tl->tasks[rows[k]].id == v.selected) i = k;
        if (v.selected == 0) i = 0;
        else if (by < 0) i = i > 0 ? i - 1 : 0;
        else i = std::min(rows.size() - 1, i + 1);
        v.selected = v.tl->tasks[rows[i]].id;
    };
    draw(v, footer());
    while (!g_stop) {
        const int64_t left = next_refresh - monotonic_ns();
        pollfd p{STDIN_FILENO, POLLIN, 0};
        const int n = ::poll(&p, 1, left > 0 ? int(left / 1'000'000) + 1 : 0);
        if (g_stop) break;
        bool redraw = g_resized;
        g_resized = 0;
        if (n > 0 && (p.revents & (POLLHUP | POLLERR))) break;  // the terminal went away
        if (n > 0) {
            char buf[64];
            const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
            if (got == 0) break;
            for (ssize_t i = 0; i < got; ++i) {
                const char c = buf[i];
                redraw = true;
                if (filtering) {
                    if (c == '\r' || c == '\n') {
                        v.opt.name = typed;
                        filtering = false;
                    } else if (c == 27) {
                        filtering = false;
                        i = got;  // an escape sequence's rest is not text
                    } else if (c == 127 || c == 8) {
                        if (!typed.empty()) typed.pop_back();
                    } else if (static_cast<unsigned char>(c) >= 32) {
                        typed += c;
                    }
                    continue;
                }
                if (c == 27 && i + 2 < got && buf[i + 1] == '[') {
                    if (buf[i + 2] == 'A') move_sel(-1);
                    else if (buf[i + 2] == 'B') move_sel(1);
                    i += 2;
                    continue;
                }
                switch (c) {
                    case 'q': g_stop = 1; break;
                    case ' ': v.paused = !v.paused; break;
                    case '/': filtering = true; typed = v.opt.name; break;
                    case 'b': v.opt.sort = top_sort::busy; break;
                    case 'p': v.opt.sort = top_sort::polls; break;
                    case 'w': v.opt.sort = top_sort::wakes; break;
                    case 's': v.opt.sort = top_sort::sched; break;
                    case 'a': v.opt.sort = top_sort::since; break;
                    case 'n': v.opt.sort = top_sort::name; break;
                    case 'i': v.opt.sort = top_sort::id; break;
                    case 'r': v.reverse = !v.reverse; break;
                    case 'd': v.show_done = !v.show_done; break;
                    case 'k': move_sel(-1); break;
                    case 'j': move_sel(1); break;
                    case '\r':
                    case '\n':
                        if (!v.detail && v.selected == 0) move_sel(0);
                        v.detail = !v.detail;
                        break;
                    case 27: v.detail = false; help = false; break;
                    case '?':
                    case 'h': help = !help; break;
                    default: break;
                }
            }
        }
        if (g_stop) break;
        if (monotonic_ns() >= next_refresh) {
            next_refresh = monotonic_ns() + opt.interval_ns;
            if (!v.paused) {
                if (auto r = v.refresh(); r.is_error()) {
                    err = r.err().message();
                    rc = 1;
                    break;
                }
                redraw = true;
            }
        }
        if (redraw) draw(v, footer());
    }
    term.leave();
    restore();
    return rc;
}

}  // namespace bbx::dec
