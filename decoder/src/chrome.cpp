// Chrome trace-event JSON: the object form, `traceEvents` first, so that
// readers which sniff the first bytes (Perfetto UI, chrome://tracing,
// Speedscope) recognise it. It writes out the timeline (timeline.hpp).
//
// Spans are B/E pairs on (pid, tid), balanced per thread as the timeline
// pairs them: an end whose begin was overwritten is not written, and a begin
// still open at the end of the capture is closed at the thread's last
// timestamp with args {"unfinished": true}. Times are microseconds since the
// capture's start, to the nanosecond; since its first event when that is
// earlier (Perfetto's importer drops events with a negative time).
//
// Async tasks (format 1.1), in what both chrome://tracing (catapult's
// trace_event_importer) and Perfetto's JSON importer read:
//   - a poll is a B/E pair "poll <task>" on the thread that ran it, balanced
//     together with the spans; the E carries {"await": "file:line"}, which
//     both readers merge into the slice's args;
//   - a wake is an instant "wake <task>" on the waking thread followed by a
//     flow start {"ph":"s","name":"wake","cat":"task","id":N}; the woken
//     task's next poll B is followed by the flow end {"ph":"f","bp":"e"} with
//     the same id, name and cat (Perfetto keys v1 flows by all three). Each
//     binds to the slice enclosing it at that timestamp: the instant, the
//     poll. Flow v1, because catapult reads flow v2 (bind_id) only on X events;
//   - a wait is a nestable async slice b/e "wait <op> <resource>" with cat
//     "task" and id = the task id, so each task gets an async track; one still
//     open at the end is closed at the capture's last timestamp with
//     {"unfinished": true}. Its e carries the tid of the thread its b was on;
//   - spawn and complete are async instants (n) on that same track.
//
// bbx merge writes several captures into one traceEvents array, each with
// its pid, its times shifted onto one timeline. A flow from a client span
// to the server span it caused is {"ph":"s","name":"rpc","cat":"rpc","id":N}
// right after the client slice's B and {"ph":"f","bp":"e",...} right after
// the server slice's B, binding to those slices as the wake flows do. These
// take ids 1..N; wake flows are numbered after them, across all captures.
// Memory grows with call sites, threads and tasks, never with events: one
// output buffer, and what recurs (a site's name and category, a thread's
// ids) rendered once as a JSON fragment.
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <map>
#include <memory>
#include <climits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bbx/decoder.hpp"
#include "json.hpp"
#include "merge_output.hpp"
#include "timeline.hpp"

namespace bbx::dec {
namespace {

namespace fmt = bbx::format;

// Chrome's traceEvents array: one event per line.
constexpr json_layout event_lines{"\n", "", ",\n", "\n"};  // (static: containers keep a pointer)

struct site_text {
    std::string head;               // members "name":"...","cat":"..."
    std::vector<std::string> keys;  // the arguments' names, escaped
    std::string name;               // task sites: the name, escaped
    std::string at;                 // await sites: file:line, escaped
};

// The members of flow events from "name" to "ph": wake arrows, and bbx merge's rpc arrows.
constexpr std::string_view wake_flow_start = R"("name":"wake","cat":"task","ph":"s")";
constexpr std::string_view wake_flow_end = R"("name":"wake","cat":"task","ph":"f","bp":"e")";
constexpr std::string_view rpc_flow_start = R"("name":"rpc","cat":"rpc","ph":"s")";
constexpr std::string_view rpc_flow_end = R"("name":"rpc","cat":"rpc","ph":"f","bp":"e")";

const char* const op_names[fmt::resource_op_last + 1] = {"?", "send", "recv", "lock", "timer", "join", "other"};

// Members (or elements) rendered once by a json_writer.
template <class Fn>
std::string fragment_of(json_writer::inside at, Fn&& fn) {
    json_text s;
    json_writer w(s, at);
    fn(w);
    return s.str();
}

void write_arg_value(json_writer& w, const arg& a) {
    switch (a.decl->type) {
        case fmt::arg_type::i64: w.i64(a.as_i64()); break;
        case fmt::arg_type::u64: w.u64(a.word); break;
        case fmt::arg_type::f64: w.f64(a.as_f64()); break;
        case fmt::arg_type::boolean: w.boolean(a.word != 0); break;
        case fmt::arg_type::string: w.str(a.str); break;
        default: w.null(); break;
    }
}

// What the captures of one output share: the file, and the flow ids given out.
struct shared_out {
    json_file f;
    uint64_t flows = 0;  // flows numbered so far in the output
    explicit shared_out(std::FILE* out) : f(out) {}
};

// Stall samples (format 1.4), for the Trace Event Format's "stackFrames"
// (a tree: each frame names its parent, the caller) and "samples" (each
// names its innermost frame by "sf"), written after traceEvents.
struct sampled_stacks {
    struct frame {
        uint64_t parent;  // 0: a root
        std::string name, category;
    };
    std::vector<frame> frames;  // id = index + 1
    std::map<std::pair<uint64_t, std::string>, uint64_t> ids;
    struct sample {
        uint32_t pid, tid;
        int64_t ns;
        uint64_t sf;
    };
    std::vector<sample> samples;
    uint64_t id_of(uint64_t parent, const std::string& name, const std::string& category) {
        auto [it, added] = ids.try_emplace({parent, name}, frames.size() + 1);
        if (added) frames.push_back({parent, name, category});
        return it->second;
    }
};

// Writes one capture's timeline into the traceEvents array.
class source_writer : public tl::sink {
public:
    static constexpr bool wants_flows = true;  // wake arrows

    source_writer(shared_out& so, const capture& c, int64_t offset_ns, uint32_t shown_pid,
                  const std::vector<flow_mark>& marks, sampled_stacks& stacks)
        : o_(so.f), w_(so.f.w()), c_(c), sites_(c.sites()), offset_(offset_ns), marks_(marks),
          flow_base_(so.flows), stacks_(stacks) {
        text_.resize(sites_.size());
        for (size_t i = 0; i < sites_.size(); ++i) {
            const site& s = sites_[i];
            site_text& t = text_[i];
            t.head = fragment_of(json_writer::inside::object, [&](json_writer& w) {
                w.key("name");
                w.str(s.name);
                w.key("cat");
                w.str(s.category);
            });
            for (const arg_decl& d : s.args) {
                std::string k;
                json_escape(k, d.name);
                t.keys.push_back(std::move(k));
            }
            if (s.kind == fmt::site_kind::task) json_escape(t.name, s.name);
            if (s.kind == fmt::site_kind::await) {
                json_escape(t.at, s.file);
                t.at += ':' + std::to_string(s.line);
            }
        }
        const std::vector<resource>& resources = c.resources();
        resource_names_.resize(resources.size());
        for (size_t i = 0; i < resources.size(); ++i) {
            json_escape(resource_names_[i], resources[i].name);
            resource_index_.try_emplace(resources[i].id, uint32_t(i));
        }
        pid_ = shown_pid;
        ids_.resize(c.threads().size());
        for (size_t i = 0; i < ids_.size(); ++i)
            ids_[i] = fragment_of(json_writer::inside::object, [&](json_writer& w) {
                w.key("pid");
                w.u64(shown_pid);
                w.key("tid");
                w.u64(c.threads()[i].tid);
            });
    }

    // The process and thread names, before any event.
    void begin(const tl::model& m) {
        model_ = &m;
        const header_info& h = c_.header();
        if (!h.process_name.empty()) {
            w_.begin_object();
            w_.key("name");
            w_.str("process_name");
            w_.key("ph");
            w_.str("M");
            w_.key("pid");
            w_.u64(pid_);
            w_.key("tid");
            w_.u64(0);
            w_.key("args");
            w_.begin_object();
            w_.key("name");
            w_.str(h.process_name);
            w_.end_object();
            w_.end_object();
        }
        for (const tl::thread& t : m.threads)
            if (!t.name.empty()) thread_name(t);
    }
    void shift_negative_times() { shift_negative_ = true; }
    // The flows this capture numbered, for the next capture's.
    uint64_t flows_after(const tl::model& m) const { return flow_base_ + m.flows; }

    void renamed(tl::thread& t, const event&) {
        thread_name(t);
        o_.maybe_flush();
    }

    // A stall sample: its frames into the stackFrames tree, root first.
    void stall_sample(tl::thread& t, const dec::stall_sample& s) {
        if (!sym_) sym_ = std::make_unique<stall_symbolizer>(c_);
        std::vector<std::pair<std::string, std::string>> frames;  // innermost first: name, category
        for (size_t i = 0; i < s.frames.size(); ++i) {
            const uint64_t at = i > 0 ? s.frames[i] - 1 : s.frames[i];
            const frame_symbol* f = sym_->find(s.frames[i], i > 0);
            const loaded_object* o = c_.object_of(at);
            std::string object = o ? o->path.substr(o->path.rfind('/') + 1) : std::string("?");
            if (f && !f->where.empty()) {
                for (const source_location& l : f->where)
                    frames.emplace_back((l.function.empty() ? std::string("??") : l.function) +
                                            (l.file.empty() ? std::string() : " " + l.file + ":" + std::to_string(l.line)),
                                        object);
            } else {
                char b[32];
                std::snprintf(b, sizeof b, "0x%" PRIx64, o ? at - o->base : at);
                frames.emplace_back(object + "+" + b, object);
            }
        }
        uint64_t id = 0;
        for (size_t i = frames.size(); i-- > 0;) id = stacks_.id_of(id, frames[i].first, frames[i].second);
        if (id) stacks_.samples.push_back({pid_, t.info->tid, time(s.ns), id});
    }

    void slice_begin(tl::thread& t, tl::slice& s, const event& e, std::span<const uint64_t> flows_in) {
        const int64_t ns = time(e.ns);
        if (s.kind == tl::slice_kind::poll) {
            const tl::task& k = *s.owner;
            w_.begin_object();
            w_.key("name");
            task_name(k, "poll ");
            w_.fragment(R"("cat":"task","ph":"B")");
            head_rest(t, ns);
            w_.key("args");
            w_.begin_object();
            w_.key("task");
            w_.u64(k.id);
            w_.end_object();
            w_.end_object();
            for (uint64_t f : flows_in) flow_event(wake_flow_end, flow_base_ + f, ns, t);
            o_.maybe_flush();
            return;
        }
        site_event<'B'>(t, e, ns);
        if (!marks_.empty()) {
            // Flows of bbx merge that start or end on this span.
            auto m = marks_on(marks_, t.index, e.ticks, e.where->id);
            for (auto i = m.first; i != m.second; ++i) flow_event(i->start ? rpc_flow_start : rpc_flow_end, i->id, ns, t);
        }
        o_.maybe_flush();
    }

    void slice_end(tl::thread& t, const tl::slice& s, int64_t ns, tl::end_how how, const site* await) {
        w_.begin_object();
        if (s.kind == tl::slice_kind::poll) {
            w_.key("name");
            task_name(*s.owner, "poll ");
            w_.fragment(R"("cat":"task","ph":"E")");
        } else {
            w_.fragment(text_[index_of(s.where)].head);
            w_.fragment(R"("ph":"E")");
        }
        head_rest(t, time(ns));
        if (how == tl::end_how::unfinished) {
            unfinished_args();
        } else if (s.kind == tl::slice_kind::poll && await && !text_[index_of(await)].at.empty()) {
            w_.key("args");
            w_.begin_object();
            w_.key("await");
            w_.escaped(text_[index_of(await)].at);
            w_.end_object();
        }
        w_.end_object();
        o_.maybe_flush();
    }

    void instant(tl::thread& t, const event& e) {
        site_event<'i'>(t, e, time(e.ns));
        o_.maybe_flush();
    }
    void counter(tl::thread& t, const event& e) {
        site_event<'C'>(t, e, time(e.ns));
        o_.maybe_flush();
    }

    void spawn(tl::thread& t, tl::task& k, const event& e) {
        w_.begin_object();
        w_.key("name");
        task_name(k, "spawn ");
        async_head(k, R"("cat":"task","ph":"n")", time(e.ns), t);
        if (e.spawn.parent || e.spawn.frame_bytes) {
            w_.key("args");
            w_.begin_object();
            if (e.spawn.parent) {
                w_.key("parent");
                w_.u64(e.spawn.parent);
            }
            if (e.spawn.frame_bytes) {
                w_.key("frame_bytes");
                w_.u64(e.spawn.frame_bytes);
            }
            w_.end_object();
        }
        w_.end_object();
        o_.maybe_flush();
    }

    void complete(tl::thread& t, tl::task& k, const event& e) {
        w_.begin_object();
        w_.key("name");
        task_name(k, "complete ");
        async_head(k, R"("cat":"task","ph":"n")", time(e.ns), t);
        w_.end_object();
        o_.maybe_flush();
    }

    void wake(tl::thread& t, tl::task& k, const event& e, uint64_t flow) {
        const int64_t ns = time(e.ns);
        w_.begin_object();
        w_.key("name");
        task_name(k, "wake ");
        w_.fragment(R"("cat":"task","ph":"i","s":"t")");
        head_rest(t, ns);
        w_.key("args");
        w_.begin_object();
        w_.key("task");
        w_.u64(k.id);
        if (e.wake.waker) {
            w_.key("waker");
            w_.u64(e.wake.waker);
        }
        w_.end_object();
        w_.end_object();
        if (flow) flow_event(wake_flow_start, flow_base_ + flow, ns, t);
        o_.maybe_flush();
    }

    void wait_begin(tl::thread& t, tl::task& k, const tl::wait* wt, const event& e) {
        if (!wt) return;
        w_.begin_object();
        w_.key("name");
        wait_name(*wt);
        async_head(k, R"("cat":"task","ph":"b")", time(e.ns), t);
        w_.key("args");
        w_.begin_object();
        w_.key("resource");
        w_.u64(wt->resource);
        if (e.where && !text_[index_of(e.where)].at.empty()) {
            w_.key("await");
            w_.escaped(text_[index_of(e.where)].at);
        }
        w_.end_object();
        w_.end_object();
        o_.maybe_flush();
    }

    void wait_end(tl::thread&, tl::task& k, const tl::wait& wt, int64_t ns, tl::end_how how) {
        w_.begin_object();
        w_.key("name");
        wait_name(wt);
        async_head(k, R"("cat":"task","ph":"e")", time(ns), model_->threads[wt.thread]);
        if (how == tl::end_how::unfinished) unfinished_args();
        w_.end_object();
        o_.maybe_flush();
    }

private:
    int64_t time(int64_t ns) {
        if (!shift_known_) {  // at the first event written: the earliest of the capture (in order)
            shift_known_ = true;
            if (shift_negative_ && model_->first_ns < 0) shift_ = model_->first_ns == INT64_MIN ? INT64_MAX : -model_->first_ns;
        }
        return shifted(shifted(ns, offset_), shift_);
    }
    size_t index_of(const site* s) const { return size_t(s - sites_.data()); }

    // "ts":T,"pid":P,"tid":T
    void head_rest(const tl::thread& t, int64_t ns) {
        w_.key("ts");
        w_.decimal(ns, 3);
        w_.fragment(ids_[t.index]);
    }

    void thread_name(const tl::thread& t) {
        w_.begin_object();
        w_.key("name");
        w_.str("thread_name");
        w_.key("ph");
        w_.str("M");
        w_.fragment(ids_[t.index]);
        w_.key("args");
        w_.begin_object();
        w_.key("name");
        w_.str(t.name);
        w_.end_object();
        w_.end_object();
    }

    // "<what><spawn site name, or task> #<id>"
    template <size_t N>
    void task_name(const tl::task& k, const char (&what)[N]) {
        if (k.named_by) w_.escaped_of(what, std::string_view(text_[index_of(k.named_by)].name), " #", json_writer::number{k.id});
        else w_.escaped_of(what, "task #", json_writer::number{k.id});
    }

    void wait_name(const tl::wait& wt) {
        auto r = resource_index_.find(wt.resource);
        const std::string_view op = op_names[wt.op <= fmt::resource_op_last ? wt.op : 0];
        if (r != resource_index_.end()) w_.escaped_of("wait ", op, " ", std::string_view(resource_names_[r->second]));
        else w_.escaped_of("wait ", op);
    }

    // A nestable async event of task k after its name, up to its args;
    // cat_ph: its members "cat":"task","ph":"n" (or "b" or "e").
    template <size_t N>
    void async_head(const tl::task& k, const char (&cat_ph)[N], int64_t ns, const tl::thread& t) {
        w_.fragment(cat_ph);
        w_.key("id");
        char hex[24] = {'0', 'x'};
        auto r = std::to_chars(hex + 2, hex + sizeof hex, k.id, 16);
        w_.escaped(std::string_view(hex, size_t(r.ptr - hex)));
        head_rest(t, ns);
    }

    // head: the flow's members from "name" to "ph" (and "bp"), one of the *_flow_* below.
    void flow_event(std::string_view head, uint64_t id, int64_t ns, const tl::thread& t) {
        w_.begin_object();
        w_.fragment(head);
        w_.key("id");
        w_.u64(id);
        head_rest(t, ns);
        w_.end_object();
    }

    void unfinished_args() {
        w_.key("args");
        w_.begin_object();
        w_.key("unfinished");
        w_.boolean(true);
        w_.end_object();
    }

    // A B, i or C of a call site, with its arguments.
    template <char Ph>
    void site_event(const tl::thread& t, const event& e, int64_t ns) {
        const site_text& st = text_[index_of(e.where)];
        w_.begin_object();
        w_.fragment(st.head);
        if constexpr (Ph == 'B') w_.fragment(R"("ph":"B")");
        else if constexpr (Ph == 'i') w_.fragment(R"("ph":"i","s":"t")");
        else w_.fragment(R"("ph":"C")");
        head_rest(t, ns);
        if constexpr (Ph == 'C') {
            if (e.nargs) {
                w_.key("args");
                w_.begin_object();
                w_.key("value");
                write_arg_value(w_, e.args[0]);
                w_.end_object();
            }
        } else if (e.nargs) {
            w_.key("args");
            w_.begin_object();
            for (uint32_t i = 0; i < e.nargs; ++i) {
                w_.escaped_key(i < st.keys.size() ? std::string_view(st.keys[i]) : std::string_view("?"));
                write_arg_value(w_, e.args[i]);
            }
            w_.end_object();
        }
        w_.end_object();
    }

    json_file& o_;
    json_writer& w_;
    const capture& c_;
    const std::vector<site>& sites_;
    const int64_t offset_;
    bool shift_negative_ = false;  // one capture: times before its start shift it all (bbx merge: its offsets do)
    bool shift_known_ = false;
    int64_t shift_ = 0;
    const std::vector<flow_mark>& marks_;
    const uint64_t flow_base_;  // wake flow n of this capture has id flow_base_ + n
    uint32_t pid_ = 0;
    std::vector<site_text> text_;
    std::vector<std::string> resource_names_;  // escaped
    std::unordered_map<uint64_t, uint32_t> resource_index_;
    std::vector<std::string> ids_;  // per thread: members "pid":P,"tid":T
    const tl::model* model_ = nullptr;
    sampled_stacks& stacks_;
    std::unique_ptr<stall_symbolizer> sym_;
};

}  // namespace

bool write_chrome(const std::vector<merge_source>& sources, const std::vector<span_flow>& flows, std::FILE* out,
                  std::string& err) {
    shared_out so(out);
    json_writer& w = so.f.w();
    // Span flows take ids 1 .. flows.size(); wake flows follow.
    const auto marks = flow_marks(sources.size(), flows, [](size_t k) { return uint64_t(k + 1); });
    so.flows = flows.size();
    w.begin_object();
    w.key("traceEvents");
    w.begin_array(event_lines);
    std::vector<losses> lost;
    sampled_stacks stacks;
    for (size_t i = 0; i < sources.size(); ++i) {
        const capture& c = *sources[i].c;
        source_writer sw(so, c, sources[i].offset_ns, sources[i].pid, marks[i], stacks);
        if (sources.size() == 1) sw.shift_negative_times();
        tl::timeline<source_writer> t(c, sw);
        sw.begin(t);
        auto r = tl::run(input(c, sources[i].filter), t);
        if (r.is_error()) {
            err = r.err().message();
            if (sources.size() > 1) err = c.name() + ": " + err;
            return false;
        }
        so.flows = sw.flows_after(t);
        lost.push_back(losses_of(c, r.value()));
        if (sources[i].lost) *sources[i].lost = lost.back();
    }
    w.end_array();
    w.key("displayTimeUnit");
    w.str("ns");
    if (!stacks.samples.empty()) {  // stall stacks (only then: other captures' output stays as it was)
        w.key("stackFrames");
        w.begin_object();
        for (size_t i = 0; i < stacks.frames.size(); ++i) {
            w.key(std::to_string(i + 1));
            w.begin_object();
            w.key("name");
            w.str(stacks.frames[i].name);
            w.key("category");
            w.str(stacks.frames[i].category);
            if (stacks.frames[i].parent) {
                w.key("parent");
                w.str(std::to_string(stacks.frames[i].parent));
            }
            w.end_object();
        }
        w.end_object();
        w.key("samples");
        w.begin_array();
        for (const auto& x : stacks.samples) {
            w.begin_object();
            w.key("cat");
            w.str("stall");
            w.key("name");
            w.str("stall sample");
            w.key("pid");
            w.u64(x.pid);
            w.key("tid");
            w.u64(x.tid);
            w.key("ts");
            w.decimal(x.ns, 3);
            w.key("sf");
            w.str(std::to_string(x.sf));
            w.key("weight");
            w.u64(1);
            w.end_object();
        }
        w.end_array();
    }
    // What each capture lost, where the Trace Event Format puts a trace's
    // metadata ("otherData", shown by chrome://tracing's metadata view;
    // Perfetto's JSON reader skips it): one entry per capture, in order,
    // named by the pid its events show.
    w.key("otherData");
    w.begin_object();
    w.key("bbx_losses");
    w.begin_array();
    for (size_t i = 0; i < sources.size(); ++i) {
        w.begin_object();  // (no file name: a snapshot converts as its ring file does)
        w.key("pid");
        w.u64(sources[i].pid);
        json_loss_members(w, lost[i]);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    w.end_object();
    w.text() += '\n';  // JSON Lines style: the file ends with a newline
    err = so.f.finish();
    return err.empty();
}

bool write_chrome(const input& in, std::FILE* out, std::string& err, losses* lost) {
    return write_chrome({merge_source{in.cap, 0, in.cap->header().pid, in.filter, lost}}, {}, out, err);
}

}  // namespace bbx::dec
