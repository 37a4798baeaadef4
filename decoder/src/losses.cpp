// What a capture lost (capture.hpp, struct losses): one summary that every
// verb states, so that no output hides a loss the capture knows about.
#include <string>

#include "bbx/decoder/capture.hpp"
#include "json.hpp"

namespace bbx::dec {

losses losses_of(const capture& c, const read_stats& st) {
    const header_info& h = c.header();
    losses l;
    l.threads_without_ring = h.threads_dropped;
    l.events_without_ring = h.events_dropped;
    l.sites_without_metadata = h.sites_dropped;
    l.threads = uint32_t(st.threads.size());
    l.identities = c.identities().present;
    l.tasks_untracked = h.tasks_untracked;
    l.contexts_untracked = h.contexts_untracked;
    l.identity_entries_bad = c.identities().bad;
    for (const ring_stats& s : st.threads) {
        l.overwritten += s.overwritten;
        l.dropped += s.events_dropped;
        l.torn += s.torn + s.overwritten_in_read;
        l.malformed += s.malformed;
        l.skipped += s.unknown_kind + s.bad_site + s.malformed + s.orphan;
        l.rings_wrapped += s.overwritten > 0;
        l.rings_full += (h.flags & format::flag_discard) && s.events_dropped > 0;
        l.untimed += s.untimed;
        l.unresolved += s.unresolved;
    }
    return l;
}

std::string losses::text() const {
    std::string o;
    auto add = [&](uint64_t n, const char* one, const char* many) {
        if (!n) return;
        if (!o.empty()) o += ", ";
        o += std::to_string(n) + (n == 1 ? one : many);
    };
    if (threads_without_ring || events_without_ring)
        o += std::to_string(threads_without_ring) +
             (threads_without_ring == 1 ? " thread without a ring (" : " threads without a ring (") +
             std::to_string(events_without_ring) + (events_without_ring == 1 ? " event)" : " events)");
    add(overwritten, " event overwritten", " events overwritten");
    add(dropped, " event dropped", " events dropped");
    add(sites_without_metadata, " call site without metadata", " call sites without metadata");
    add(torn, " torn slot", " torn slots");
    add(skipped, " skipped", " skipped");
    add(tasks_untracked, " task untracked (task table full)", " tasks untracked (task table full)");
    add(contexts_untracked, " span context untracked (too deep)", " span contexts untracked (too deep)");
    add(identity_entries_bad, " identity entry damaged", " identity entries damaged");
    add(untimed, " event untimed (no time base)", " events untimed (no time base)");
    add(unresolved, " event unresolved (current task unknown)", " events unresolved (current task unknown)");
    if (malformed) o += " (" + std::to_string(malformed) + " malformed)";
    return o.empty() ? "none" : o;
}

void json_loss_members(json_writer& w, const losses& l) {
    w.key("summary");
    w.str(l.text());
    w.key("threads_without_ring");
    w.u64(l.threads_without_ring);
    w.key("events_without_ring");
    w.u64(l.events_without_ring);
    w.key("sites_without_metadata");
    w.u64(l.sites_without_metadata);
    w.key("events_overwritten");
    w.u64(l.overwritten);
    w.key("events_dropped");
    w.u64(l.dropped);
    w.key("torn_slots");
    w.u64(l.torn);
    w.key("malformed");
    w.u64(l.malformed);
    w.key("skipped");
    w.u64(l.skipped);
    if (l.identities) {  // 1.4 (members a 1.3 capture's outputs do not have)
        w.key("tasks_untracked");
        w.u64(l.tasks_untracked);
        w.key("span_contexts_untracked");
        w.u64(l.contexts_untracked);
        w.key("identity_entries_damaged");
        w.u64(l.identity_entries_bad);
    }
    if (l.untimed) {  // 2.0, only when not 0 (outputs of 1.x captures do not move)
        w.key("events_untimed");
        w.u64(l.untimed);
    }
    if (l.unresolved) {
        w.key("task_events_unresolved");
        w.u64(l.unresolved);
    }
}

}  // namespace bbx::dec
