// What a capture of a program traced through bbx/asio_tracking.hpp recorded,
// per task: read with the decoder library, for the Asio tests
// (test_asio.cpp in process, test_asio_examples.cpp on Asio's own examples
// and a Beast server run as child processes).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bbx/decoder.hpp"

namespace asio_capture {

struct code_line {
    std::string file;
    uint32_t line = 0;
    bool operator<(const code_line& o) const { return file != o.file ? file < o.file : line < o.line; }
};

struct task_summary {
    std::string name;          // the Task site's name ("" when the spawn was not seen)
    code_line spawned_at;      // the Task site's file and line
    uint64_t parent = 0;
    int spawns = 0, wakes = 0, polls = 0, completes = 0, started = 0;
    int self_wakes = 0;             // wakes whose waker (w1) is the task itself
    int polls_without_wake = 0;     // poll_begins with no wake since the last one
    int events_after_complete = 0;
    std::multiset<uint64_t> wakers;
    int64_t spawn_ring = -1, first_wake_ring = -1;
    std::set<std::string> poll_threads;    // by name
    std::set<uint32_t> poll_rings;         // by ring: one per thread
    std::map<code_line, int> await_sites;  // poll_end sites (site 0 is not counted)
    int poll_ends_without_site = 0;
    std::multiset<std::string> ops;        // "asio"/"start:<object>.<op>" instants: the operations started for it
    std::multiset<std::string> objects;    // and the object types they were started on
};

struct summary {
    std::map<uint64_t, task_summary> tasks;
    std::map<uint32_t, std::string> thread_of_ring;
    int unpaired_poll_ends = 0;      // a poll_end with no poll_begin of the same task open on its ring
    int polls_open_at_end = 0;
    int nested_same_task_polls = 0;  // a poll_begin of a task already being polled on that ring
    int task_zero_events = 0;        // task events naming task 0
    int untracked_task_instants = 0;
    int unnamed_starts = 0;          // "start" instants with the strings: a full table of names
    uint64_t untracked_tasks = 0;    // the largest "untracked" count reported
    bbx::dec::ring_stats lost;       // summed over the rings

    int tasks_named(const std::string& name) const {
        int n = 0;
        for (const auto& [id, t] : tasks) n += t.name == name;
        return n;
    }
    int self_wakes() const {
        int n = 0;
        for (const auto& [id, t] : tasks) n += t.self_wakes;
        return n;
    }
};

// Reads every event of the capture at `path`; an error message on failure.
inline std::string read(const std::string& path, summary& s) {
    namespace fmt = bbx::format;
    auto r = bbx::dec::capture::open(path);
    if (r.is_error()) return r.err().message();
    bbx::dec::capture& c = *r.value();
    for (const auto& t : c.threads()) s.thread_of_ring[t.ring] = t.name;
    std::map<uint32_t, std::vector<uint64_t>> open_polls;  // ring -> tasks being polled, innermost last
    std::map<uint64_t, int> pending_wakes;
    auto done = c.for_each_event([&](const bbx::dec::event& e) {
        if (e.kind == fmt::kind::instant && e.where && e.where->category == "asio") {
            const std::string& name = e.where->name;
            if (name.rfind("start:", 0) == 0 && e.nargs == 2) {  // "start:<object>.<op>" (task, handle)
                const size_t dot = name.find('.', 6);
                task_summary& t = s.tasks[e.args[0].word];
                ++t.started;
                t.objects.insert(name.substr(6, dot == std::string::npos ? std::string::npos : dot - 6));
                t.ops.insert(dot == std::string::npos ? "" : name.substr(dot + 1));
            } else if (name == "start" && e.nargs == 4) {  // a name its table had no room for
                ++s.unnamed_starts;
                task_summary& t = s.tasks[e.args[0].word];
                ++t.started;
                t.objects.insert(std::string(e.args[1].str));
                t.ops.insert(std::string(e.args[2].str));
            } else if (e.where->name == "untracked_task" && e.nargs == 2) {
                ++s.untracked_task_instants;
                if (e.args[1].word > s.untracked_tasks) s.untracked_tasks = e.args[1].word;
            }
            return;
        }
        if (uint8_t(e.kind) < fmt::kind_first_task || uint8_t(e.kind) > fmt::kind_last_task) return;
        if (e.task == 0) {
            ++s.task_zero_events;
            return;
        }
        task_summary& t = s.tasks[e.task];
        if (t.completes > 0) ++t.events_after_complete;
        switch (e.kind) {
            case fmt::kind::task_spawn:
                ++t.spawns;
                t.parent = e.spawn.parent;
                t.spawn_ring = e.thread;
                if (e.where) {
                    t.name = e.where->name;
                    t.spawned_at = {e.where->file, e.where->line};
                }
                break;
            case fmt::kind::task_wake:
                ++t.wakes;
                t.wakers.insert(e.wake.waker);
                if (e.wake.waker == e.task) ++t.self_wakes;
                if (t.first_wake_ring < 0) t.first_wake_ring = e.thread;
                ++pending_wakes[e.task];
                break;
            case fmt::kind::task_poll_begin: {
                ++t.polls;
                if (pending_wakes[e.task] == 0) ++t.polls_without_wake;
                else --pending_wakes[e.task];
                auto& stack = open_polls[e.thread];
                for (uint64_t open : stack) s.nested_same_task_polls += open == e.task;
                stack.push_back(e.task);
                t.poll_threads.insert(s.thread_of_ring[e.thread]);
                t.poll_rings.insert(e.thread);
                break;
            }
            case fmt::kind::task_poll_end: {
                auto& stack = open_polls[e.thread];
                if (stack.empty() || stack.back() != e.task) ++s.unpaired_poll_ends;
                else stack.pop_back();
                if (e.where) ++t.await_sites[{e.where->file, e.where->line}];
                else ++t.poll_ends_without_site;
                break;
            }
            case fmt::kind::task_complete: ++t.completes; break;
            default: break;
        }
    });
    if (done.is_error()) return done.err().message();
    for (const auto& [ring, stack] : open_polls) s.polls_open_at_end += int(stack.size());
    for (const auto& st : done.value().threads) {
        s.lost.overwritten += st.overwritten;
        s.lost.torn += st.torn;
        s.lost.bad_site += st.bad_site;
        s.lost.malformed += st.malformed;
    }
    return "";
}

inline bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A file of Asio's own headers, or of this integration's.
inline bool library_file(const std::string& f) {
    return f.find("asio/") != std::string::npos || ends_with(f, "asio_tracking.hpp") ||
           f.find("boost/") != std::string::npos;
}

}  // namespace asio_capture
