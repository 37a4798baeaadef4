// Correlation ids (bbx/context.hpp): traceparent parsing against W3C Trace
// Context's rules, an independent acceptor fed random and mutated values,
// context_scope propagation, the random ids, and the span_context events as
// the decoder reads them back.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bbx/context.hpp"
#include "bbx/decoder.hpp"
#include "support/capture.hpp"

namespace fmt = bbx::format;
using bbx::parse_traceparent;
using bbx::span_role;
using bbx::trace_context;
using bbx::traceparent_error;

namespace {

// W3C Trace Context's example ("Examples of HTTP traceparent Headers").
constexpr const char* w3c_example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string format(const trace_context& c) {
    char b[56];
    std::memset(b, 'x', sizeof b);
    bbx::format_traceparent(c, b);
    REQUIRE(b[55] == '\0');
    return std::string(b);
}

// An acceptor written from the W3C text with std::regex, sharing nothing with
// parse_traceparent: version 2 lowercase hex digits, not ff; trace id 32,
// parent id 16, flags 2; version 00 ends there, a later version may go on
// after a '-'. Ids not all zero.
bool w3c_accepts(const std::string& s) {
    static const std::regex shape("[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[\\s\\S]*)?");
    if (!std::regex_match(s, shape)) return false;
    const std::string version = s.substr(0, 2);
    if (version == "ff") return false;
    if (version == "00" && s.size() != 55) return false;
    if (s.substr(3, 32) == std::string(32, '0')) return false;
    if (s.substr(36, 16) == std::string(16, '0')) return false;
    return true;
}

std::string with(std::string s, size_t at, char c) {
    s[at] = c;
    return s;
}

}  // namespace

TEST_CASE("traceparent: the W3C example parses to its fields and formats back byte for byte") {
    auto r = parse_traceparent(w3c_example);
    REQUIRE(r.ok());
    CHECK(!r.is_error());
    CHECK(r.context.trace_hi == 0x4bf92f3577b34da6u);
    CHECK(r.context.trace_lo == 0xa3ce929d0e0e4736u);
    CHECK(r.context.span_id == 0x00f067aa0ba902b7u);
    CHECK(r.context.flags == 0x01);
    CHECK(r.context.valid());
    CHECK(format(r.context) == w3c_example);
    // Leading zeros are written, flags too.
    trace_context small{0, 1, 2, 0};
    CHECK(format(small) == "00-00000000000000000000000000000001-0000000000000002-00");
    trace_context full{~0ull, ~0ull, ~0ull, 0xff};
    CHECK(format(full) == "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff");
    CHECK(parse_traceparent(format(full)).context == full);
}

TEST_CASE("traceparent: each error class, each from a specific input") {
    const std::string ok = w3c_example;
    struct bad {
        std::string input;
        traceparent_error want;
    };
    const std::vector<bad> cases = {
        {"", traceparent_error::wrong_length},
        {ok.substr(0, 54), traceparent_error::wrong_length},
        {ok + "-", traceparent_error::wrong_length},  // version 00 is exactly 55
        {ok + "00", traceparent_error::wrong_length},
        {"ff" + ok.substr(2), traceparent_error::bad_version},
        {with(ok, 2, '_'), traceparent_error::bad_separator},
        {with(ok, 35, '.'), traceparent_error::bad_separator},
        {with(ok, 52, ' '), traceparent_error::bad_separator},
        {"01" + ok.substr(2) + "x", traceparent_error::bad_separator},  // a later version: end or '-' after the flags
        {with(ok, 3, 'B'), traceparent_error::bad_hex},                  // uppercase trace id
        {with(ok, 40, 'F'), traceparent_error::bad_hex},                 // uppercase parent id
        {with(ok, 54, 'g'), traceparent_error::bad_hex},                 // flags
        {with(ok, 0, 'A'), traceparent_error::bad_hex},                  // version
        {with(ok, 20, '\0'), traceparent_error::bad_hex},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", traceparent_error::zero_trace_id},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", traceparent_error::zero_parent_id},
    };
    std::set<std::string> messages;
    for (const bad& b : cases) {
        INFO("input: " << b.input);
        auto r = parse_traceparent(b.input);
        CHECK(r.is_error());
        CHECK(!r.ok());
        CHECK(r.error == b.want);
        CHECK(r.context == trace_context{});  // an error leaves the zero context: a new root
        CHECK(!r.context.valid());
        CHECK(std::string(r.message()).size() > 10);
        messages.insert(r.message());
    }
    CHECK(messages.size() == 6);  // one distinct message per class
}

TEST_CASE("traceparent: a later version is read by its first 55 characters when the end or '-' follows") {
    const std::string body = std::string(w3c_example).substr(2);
    for (std::string v : {"01", "cc", "fe"}) {
        for (std::string tail : {"", "-", "-what-ever", "-0123456789abcdef"}) {
            INFO("input: " << v + body + tail);
            auto r = parse_traceparent(v + body + tail);
            REQUIRE(r.ok());
            CHECK(r.context == parse_traceparent(w3c_example).context);
            CHECK(format(r.context) == w3c_example);  // written back as version 00
        }
    }
    CHECK(parse_traceparent("cc" + body.substr(0, body.size() - 1)).error == traceparent_error::wrong_length);
    CHECK(parse_traceparent("cc" + body + "0").error == traceparent_error::bad_separator);
}

TEST_CASE("traceparent: random and mutated values never crash, parse exactly as W3C's rules say, and round-trip") {
    std::mt19937_64 rng(20240611);
    const std::string alphabet = "0123456789abcdefABCDEF-xg \t\xff\x80";
    const std::string base = w3c_example;
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    uint64_t accepted = 0, rejected = 0;
    for (int i = 0; i < 30000; ++i) {
        std::string s;
        switch (pick(5)) {
            case 0: {  // random bytes, any length up to 70
                s.resize(pick(71));
                for (char& c : s) c = char(rng());
                break;
            }
            case 1: {  // random characters of the alphabet in the traceparent's shape
                s = base;
                for (char& c : s)
                    if (c != '-' || pick(10) == 0) c = alphabet[pick(alphabet.size())];
                break;
            }
            default: {  // a valid value with a few edits
                s = base;
                for (size_t k = 0; k < 8; ++k) {
                    s[3 + k] = "0123456789abcdef"[pick(16)];
                    s[36 + k] = "0123456789abcdef"[pick(16)];
                }
                if (pick(3) == 0) s[0] = "0123456789abcdef"[pick(16)], s[1] = "0123456789abcdef"[pick(16)];
                const size_t edits = pick(3);
                for (size_t e = 0; e < edits; ++e) {
                    switch (pick(6)) {
                        case 0:
                            if (!s.empty()) s[pick(s.size())] = alphabet[pick(alphabet.size())];
                            break;
                        case 1: s.insert(s.begin() + long(pick(s.size() + 1)), alphabet[pick(alphabet.size())]); break;
                        case 2:
                            if (!s.empty()) s.erase(s.begin() + long(pick(s.size())));
                            break;
                        case 3: s.resize(pick(s.size() + 1)); break;
                        case 4: s += pick(2) ? "-" : "-tail"; break;
                        default:  // an all-zero id
                            if (s.size() >= 52) {
                                if (pick(2)) std::fill(s.begin() + 3, s.begin() + 35, '0');
                                else std::fill(s.begin() + 36, s.begin() + 52, '0');
                            }
                            break;
                    }
                }
            }
        }
        // Parse from a buffer of exactly that size, so a read past the end is an ASan error.
        std::vector<char> exact(s.begin(), s.end());
        auto r = parse_traceparent(std::string_view(exact.data(), exact.size()));
        const bool want = w3c_accepts(s);
        if (r.ok() != want) FAIL_CHECK("parse_traceparent " << (r.ok() ? "accepted" : "refused") << " '" << s << "'");
        if (!r.ok()) {
            ++rejected;
            CHECK_FALSE(r.context.valid());
            continue;
        }
        ++accepted;
        REQUIRE(r.context.valid());
        const std::string out = format(r.context);
        const auto again = parse_traceparent(out);
        REQUIRE(again.ok());
        CHECK(again.context == r.context);
        CHECK(out == "00" + s.substr(2, 53));
    }
    // Both sides of the rule were exercised.
    CHECK(accepted > 3000);
    CHECK(rejected > 3000);
}

TEST_CASE("context_scope: roots get fresh traces, children inherit the trace, the previous context comes back") {
    CHECK(!bbx::current_context().valid());
    trace_context root_ctx, child_ctx;
    {
        bbx::context_scope root(span_role::server);
        root_ctx = root.context();
        CHECK(root_ctx.valid());
        CHECK(root.parent_span_id() == 0);
        CHECK(root_ctx.flags == 0x01);
        CHECK(bbx::current_context() == root_ctx);
        {
            bbx::context_scope child(span_role::client);
            child_ctx = child.context();
            CHECK(child.parent_span_id() == root_ctx.span_id);
            CHECK(child_ctx.trace_hi == root_ctx.trace_hi);
            CHECK(child_ctx.trace_lo == root_ctx.trace_lo);
            CHECK(child_ctx.flags == root_ctx.flags);
            CHECK(child_ctx.span_id != root_ctx.span_id);
            CHECK(bbx::current_context() == child_ctx);
        }
        CHECK(bbx::current_context() == root_ctx);
        // An explicit parent from elsewhere (a traceparent) wins over the current one.
        auto remote = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").context;
        {
            bbx::context_scope server(span_role::server, remote);
            CHECK(server.parent_span_id() == 0xb7ad6b7169203331u);
            CHECK(server.context().trace_hi == 0x0af7651916cd43ddu);
            CHECK(server.context().trace_lo == 0x8448eb211c80319cu);
            CHECK(server.context().flags == 0x00);  // the caller's flags go on
        }
        CHECK(bbx::current_context() == root_ctx);
        // An invalid parent starts a new root.
        {
            bbx::context_scope fresh(span_role::internal, trace_context{});
            CHECK(fresh.parent_span_id() == 0);
            CHECK(fresh.context().valid());
            CHECK((fresh.context().trace_hi != root_ctx.trace_hi || fresh.context().trace_lo != root_ctx.trace_lo));
        }
    }
    CHECK(!bbx::current_context().valid());
    CHECK(bbx::current_context() == trace_context{});
}

TEST_CASE("context_scope: 100000 roots have nonzero, distinct span and trace ids") {
    std::unordered_set<uint64_t> spans, traces_hi, traces_lo;
    for (int i = 0; i < 100000; ++i) {
        bbx::context_scope s(span_role::internal);
        const trace_context& c = s.context();
        CHECK(c.span_id != 0);
        CHECK((c.trace_hi | c.trace_lo) != 0);
        spans.insert(c.span_id);
        traces_hi.insert(c.trace_hi);
        traces_lo.insert(c.trace_lo);
    }
    CHECK(spans.size() == 100000);
    CHECK(traces_hi.size() == 100000);
    CHECK(traces_lo.size() == 100000);
}

TEST_CASE("context_scope: each thread has its own current context and its own id sequence") {
    std::vector<uint64_t> ids[2];
    trace_context seen_in_thread[2];
    bbx::context_scope outer(span_role::internal);
    std::vector<std::thread> ts;
    for (int k = 0; k < 2; ++k)
        ts.emplace_back([&, k] {
            seen_in_thread[k] = bbx::current_context();  // not the spawning thread's
            for (int i = 0; i < 1000; ++i) {
                bbx::context_scope s(span_role::internal);
                ids[k].push_back(s.context().span_id);
            }
        });
    for (auto& t : ts) t.join();
    CHECK(!seen_in_thread[0].valid());
    CHECK(!seen_in_thread[1].valid());
    std::set<uint64_t> all(ids[0].begin(), ids[0].end());
    all.insert(ids[1].begin(), ids[1].end());
    CHECK(all.size() == 2000);
    CHECK(bbx::current_context() == outer.context());
}

TEST_CASE("context_scope: a forked child does not repeat its parent's ids") {
    { bbx::context_scope warm(span_role::internal); }  // this thread's generator is seeded
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        bbx::context_scope s(span_role::internal);
        uint64_t v[3] = {s.context().span_id, s.context().trace_hi, s.context().trace_lo};
        ssize_t n = write(fds[1], v, sizeof v);
        _exit(n == ssize_t(sizeof v) ? 0 : 1);
    }
    close(fds[1]);
    bbx::context_scope mine(span_role::internal);
    uint64_t theirs[3] = {};
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t n = read(fds[0], reinterpret_cast<char*>(theirs) + got, sizeof theirs - got);
        if (n <= 0) break;
        got += size_t(n);
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(got == sizeof theirs);
    CHECK(WIFEXITED(status));
    CHECK(theirs[0] != mine.context().span_id);
    CHECK(theirs[1] != mine.context().trace_hi);
    CHECK(theirs[2] != mine.context().trace_lo);
}

TEST_CASE("context_scope: the recorded span_context events decode to exactly the scopes' identities") {
    temp_capture tc("context");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.ring_kb = 64;
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    struct want {
        trace_context ctx;
        uint64_t parent;
        span_role role;
    };
    std::vector<want> wants;
    trace_context quiet_ctx;
    std::thread([&] {
        BBX_SPAN(INFO, "ctx", "handle");
        bbx::context_scope root(span_role::server);
        wants.push_back({root.context(), 0, span_role::server});
        {
            BBX_SPAN(INFO, "ctx", "call");
            bbx::context_scope call(span_role::client);
            wants.push_back({call.context(), call.parent_span_id(), span_role::client});
        }
        {
            BBX_SPAN(INFO, "ctx", "consume");
            auto remote = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03").context;
            bbx::context_scope consume(span_role::consumer, remote);
            wants.push_back({consume.context(), consume.parent_span_id(), span_role::consumer});
        }
        // Below the context level: no event, but the ids are still made and kept.
        bbx::set_level(BBX_LEVEL_WARN);
        {
            bbx::context_scope quiet(span_role::producer);
            quiet_ctx = quiet.context();
            CHECK(quiet.parent_span_id() == wants[0].ctx.span_id);
            CHECK(bbx::current_context() == quiet_ctx);
        }
        bbx::set_level(BBX_LEVEL_TRACE);
    }).join();
    bbx::stop();
    REQUIRE(wants.size() == 3);
    CHECK(quiet_ctx.valid());
    CHECK(quiet_ctx.trace_lo == wants[0].ctx.trace_lo);

    auto r = bbx::dec::capture::open(tc.path);
    REQUIRE(!r.is_error());
    bbx::dec::capture& c = *r.value();
    std::vector<bbx::dec::event> got;
    std::vector<std::string> sequence;  // kind and span name, in ring order
    auto pass = c.for_each_event([&](const bbx::dec::event& e) {
                   if (e.kind == fmt::kind::span_context) {
                       got.push_back(e);
                       sequence.push_back("context");
                   } else if (e.kind == fmt::kind::span_begin) {
                       sequence.push_back("begin " + e.where->name);
                   } else if (e.kind == fmt::kind::span_end) {
                       sequence.push_back("end " + e.where->name);
                   }
               });
    REQUIRE(!pass.is_error());
    for (const auto& s : pass.value().threads) CHECK(s.malformed == 0);
    REQUIRE(got.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
        const want& w = wants[i];
        const bbx::dec::event& e = got[i];
        CHECK(e.where == nullptr);
        CHECK(e.context.span_id == w.ctx.span_id);
        CHECK(e.context.trace_hi == w.ctx.trace_hi);
        CHECK(e.context.trace_lo == w.ctx.trace_lo);
        CHECK(e.context.parent_span_id == w.parent);
        CHECK(e.context.role == uint64_t(w.role));
        CHECK(e.context.flags == w.ctx.flags);
        CHECK(e.context.unused == 0);
    }
    CHECK(got[1].context.parent_span_id == got[0].context.span_id);
    CHECK(got[2].context.parent_span_id == 0xb7ad6b7169203331u);
    CHECK(got[2].context.flags == 0x03);
    CHECK(got[2].context.unused == 0);
    // Each context follows the begin of the span it names.
    CHECK(sequence == std::vector<std::string>{"begin handle", "context", "begin call", "context", "end call",
                                               "begin consume", "context", "end consume", "end handle"});
}
