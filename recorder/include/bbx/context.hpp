// blackbox correlation ids: W3C Trace Context identities for spans, so that a
// request can be followed from one service's capture into the next one's and
// exported to OpenTelemetry (`bbx convert --to otlp`).
//
// Quick start, a server handling a request and calling another service:
//
//     #include <bbx/context.hpp>
//     void handle(const request& req) {
//         BBX_SPAN(INFO, "http", "handle", bbx::arg("path", req.path));
//         bbx::context_scope server(bbx::span_role::server,
//                                   bbx::parse_traceparent(req.header("traceparent")).context);
//         {
//             BBX_SPAN(INFO, "rpc", "fetch_user");
//             bbx::context_scope client(bbx::span_role::client);  // parent: current_context()
//             char tp[56];
//             bbx::format_traceparent(client.context(), tp);
//             send_request("users", {{"traceparent", tp}});
//             BBX_INSTANT(INFO, "net", "sent", bbx::arg("bytes_sent", n));
//         }
//     }
//
// A context_scope gives the innermost open BBX_SPAN of its thread an identity
// (trace id, span id, parent span id, role), so write it on the line right
// after the BBX_SPAN and before any span nested in it. A missing or invalid
// traceparent (parse_traceparent's context is then all zero) starts a new
// trace. Spans with no context_scope of their own are exported as children of
// the span that encloses them on their thread, in its trace.
//
// Adding facts such as "bytes sent" to a span: a span's arguments are fixed
// when BBX_SPAN runs (bbx::arg("bytes_sent", n) there, when the value is
// known up front); a value learnt later is recorded with a BBX_INSTANT inside
// the span carrying bbx::arg("bytes_sent", n). The converters attach it to
// the span: an OpenTelemetry span event with that attribute, an instant on
// the span's thread in Perfetto and Chrome JSON. There is no call that adds
// an argument to a span after it began.
//
// The context is per thread. Work handed to another thread (or a task resumed
// elsewhere) takes it along explicitly: capture context() and pass it as the
// parent of a context_scope there.
//
// The span_context event is recorded at level BBX_CONTEXT_LEVEL (default
// INFO): removed from the binary when BBX_LEVEL_MAX is below it, skipped at
// run time when the level is below it or no session runs. The ids are made
// and the current context kept whatever the level, so that a service always
// forwards traceparent.
#pragma once

#include <cstdint>
#include <string_view>

#include "bbx/bbx.hpp"

#ifndef BBX_CONTEXT_LEVEL
#define BBX_CONTEXT_LEVEL BBX_LEVEL_INFO
#endif

#if BBX_LEVEL_MAX >= BBX_CONTEXT_LEVEL
#define BBX_DETAIL_CONTEXT_ON 1
#else
#define BBX_DETAIL_CONTEXT_ON 0
#endif

namespace bbx {

using format::span_role;

// A W3C trace context: the 128-bit trace id (high word first when written
// out), the 64-bit id of a span, and the trace flags (bit 0: sampled).
struct trace_context {
    uint64_t trace_hi = 0, trace_lo = 0;
    uint64_t span_id = 0;
    uint8_t flags = 0;
    // Both ids nonzero: W3C's rule for a usable context.
    bool valid() const { return (trace_hi | trace_lo) != 0 && span_id != 0; }
    friend bool operator==(const trace_context&, const trace_context&) = default;
};

// Why a traceparent value was refused (W3C Trace Context, "traceparent Header").
enum class traceparent_error : uint8_t {
    none = 0,
    wrong_length,    // shorter than 55 characters, or version 00 and not exactly 55
    bad_version,     // version ff, which W3C declares invalid
    bad_separator,   // no '-' after the version, trace id or parent id; or a later
                     // version whose flags are followed by neither the end nor '-'
    bad_hex,         // a character of version, trace id, parent id or flags that is
                     // not 0-9 or a-f (uppercase is refused: W3C says lowercase)
    zero_trace_id,   // trace id all zero
    zero_parent_id,  // parent id all zero
};

// One line naming the error, static storage.
BBX_API const char* traceparent_message(traceparent_error e);

struct traceparent_result {
    trace_context context;  // the parsed context; all zero (not valid()) on an error
    traceparent_error error = traceparent_error::none;
    bool ok() const { return error == traceparent_error::none; }
    bool is_error() const { return error != traceparent_error::none; }
    const char* message() const { return traceparent_message(error); }
};

// Parses a traceparent header value, strictly: `vv-<32 hex>-<16 hex>-<2 hex>`,
// lowercase. Version 00 must be exactly 55 characters; a later version (01 ..
// fe) may be longer: its first 55 characters are read as version 00 and must
// be followed by the end or '-' (W3C's rule for versions it does not know).
// context.span_id is the caller's span: the parent of the span this process
// makes for the request. Never reads outside `value`; no allocation;
// thread-safe and signal-safe.
BBX_API traceparent_result parse_traceparent(std::string_view value);

// Writes `ctx` as a version 00 traceparent: 55 lowercase characters and a NUL.
// Signal-safe.
BBX_API void format_traceparent(const trace_context& ctx, char out[56]);

namespace detail {

struct context_thread_state {
    trace_context current;
};
extern BBX_API constinit thread_local context_thread_state t_context;

// A random 64-bit value, never 0: a per-thread xoshiro256** generator seeded
// from getrandom() at the thread's first use (and again in a forked child).
// A few ns; not signal-safe on a thread's first call.
BBX_API uint64_t random_id();

// Writes a span_context event: a head (B = span id) and four continuation
// slots (trace hi, trace lo, parent span id, role | flags << 8), the shape
// format 2.0 gives kind 7. The caller passed the gate. Returns its ticks
// (0: this thread has no ring, the event was counted as dropped).
inline uint64_t emit_context(uint64_t gate, uint64_t span_id, uint64_t trace_hi, uint64_t trace_lo, uint64_t parent,
                             uint64_t role_flags) {
    thread_ring* r = &t_ring;
    if (__builtin_expect(r->session != uint32_t(gate >> 8), 0)) {
        if (!acquire_ring(gate)) return 0;
    }
    const uint64_t ticks = now_ticks();
    const uint64_t payload[4] = {trace_hi, trace_lo, parent, role_flags};
    write_event(r, format::kind::span_context, 0, ticks, span_id, payload, 4);
    return r->hard_limit ? ticks : 0;
}

// The ring's open span contexts (spec/identities.md): a recorded
// context_scope pushes its identity (returning the entry's depth, past
// context_entries_per_ring: counted in the header, not kept), and pops it
// when it ends. Cold: a context_scope calls them, no event does.
BBX_API int32_t push_context(uint32_t session, uint64_t ticks, uint64_t span_id, uint64_t trace_hi, uint64_t trace_lo,
                             uint64_t parent, uint64_t role_flags);
BBX_API void pop_context(uint32_t session, int32_t depth);

}  // namespace detail

// The calling thread's current context: that of the innermost live
// context_scope, or an invalid (all zero) one. A thread-local read.
inline trace_context current_context() { return detail::t_context.current; }

// The identity of one span, from construction to the end of the scope:
// - a new random span id; the trace id and flags of `parent` when it is
//   valid(), else a new random trace id (a new root, flags 01: sampled);
// - a span_context event that binds that identity, the parent's span id and
//   `role` to the innermost open BBX_SPAN of this thread;
// - it is the thread's current context until the scope ends, when the one
//   before it is restored.
// Construct and destroy it on the same thread; scopes nest. Costs three
// random numbers and, when recorded, one event of five slots and an entry
// in the ring's open span contexts (spec/identities.md), so that the span's
// identity outlives the event's overwrite while the scope is open.
class context_scope {
public:
    explicit context_scope(span_role role, const trace_context& parent = current_context())
        : prev_(detail::t_context.current) {
        uint64_t parent_span = 0;
        if (parent.valid()) {
            ctx_.trace_hi = parent.trace_hi;
            ctx_.trace_lo = parent.trace_lo;
            ctx_.flags = parent.flags;
            parent_span = parent.span_id;
        } else {
            ctx_.trace_hi = detail::random_id();
            ctx_.trace_lo = detail::random_id();
            ctx_.flags = 0x01;
        }
        ctx_.span_id = detail::random_id();
        parent_span_ = parent_span;
        detail::t_context.current = ctx_;
#if BBX_DETAIL_CONTEXT_ON
        if (uint64_t g = detail::gate_open(BBX_CONTEXT_LEVEL)) {
            const uint64_t role_flags = uint64_t(uint8_t(role)) | uint64_t(ctx_.flags) << 8;
            if (uint64_t t = detail::emit_context(g, ctx_.span_id, ctx_.trace_hi, ctx_.trace_lo, parent_span, role_flags)) {
                session_ = uint32_t(g >> 8);
                depth_ = detail::push_context(session_, t, ctx_.span_id, ctx_.trace_hi, ctx_.trace_lo, parent_span,
                                              role_flags);
            }
        }
#else
        (void)role;
#endif
    }
    ~context_scope() {
        detail::t_context.current = prev_;
        if (depth_ >= 0) detail::pop_context(session_, depth_);
    }
    context_scope(const context_scope&) = delete;
    context_scope& operator=(const context_scope&) = delete;

    // This span's context: format_traceparent() it into an outgoing request.
    const trace_context& context() const { return ctx_; }
    // The parent's span id, 0 for a root.
    uint64_t parent_span_id() const { return parent_span_; }

private:
    trace_context ctx_;
    trace_context prev_;
    uint64_t parent_span_ = 0;
    uint32_t session_ = 0;
    int32_t depth_ = -1;  // its entry in the ring's open span contexts (-1: not recorded)
};

}  // namespace bbx
