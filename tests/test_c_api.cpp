// The C API (bbx/bbx.h): events recorded by C code (tests/c_api_events.c,
// compiled as C11) come back from the decoder as the C++ macros' do, with
// their call sites, levels and span pairing.
#include <doctest/doctest.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bbx/bbx.h"
#include "bbx/bbx.hpp"
#include "bbx/decoder.hpp"
#include "test_util.hpp"

extern "C" {
void c_typed(int64_t i, uint64_t u, double f, int b, const char* s);
void c_counters(int64_t i, double f);
void c_levels(void);
void c_span(int64_t n, int level_inside);
void c_sixteen(void);
bbx_span c_span_begin(void);
void c_span_end(bbx_span s);
}

namespace fmt = bbx::format;
using bbx::dec::capture;
using bbx::dec::event;

namespace {

struct seen {
    fmt::kind kind;
    std::string name;
    std::vector<std::string> args;  // name=value, as the test spells them
    const bbx::dec::site* where;
};

std::string value_of(const bbx::dec::arg& a) {
    switch (a.decl->type) {
        case fmt::arg_type::i64: return std::to_string(a.as_i64());
        case fmt::arg_type::u64: return std::to_string(a.word);
        case fmt::arg_type::f64: {
            char b[64];
            std::snprintf(b, sizeof b, "%.17g", a.as_f64());
            return b;
        }
        case fmt::arg_type::boolean: return a.word ? "true" : "false";
        case fmt::arg_type::string: return "\"" + std::string(a.str) + "\"";
        default: return "?";
    }
}

// Runs `record` on a thread of its own in a fresh session; returns its events.
template <class F>
std::vector<seen> record_and_read(const char* name, F record, std::shared_ptr<capture>* keep = nullptr) {
    temp_capture tc(name);
    bbx_config cfg = {};
    cfg.path = tc.path.c_str();
    cfg.max_threads = 4;
    REQUIRE(bbx_start(&cfg) == BBX_OK);
    std::thread(record).join();
    bbx_stop();
    auto r = capture::open(tc.path);
    REQUIRE_MESSAGE(!r.is_error(), (r.is_error() ? r.err().message() : std::string()));
    std::vector<seen> out;
    REQUIRE(!r.value()->for_each_event([&](const event& e) {
                 if (e.kind == fmt::kind::thread_name) return;
                 seen s{e.kind, e.where ? e.where->name : std::string(), {}, e.where};
                 for (uint32_t i = 0; i < e.nargs; ++i) s.args.push_back(e.args[i].decl->name + "=" + value_of(e.args[i]));
                 out.push_back(std::move(s));
             }).is_error());
    if (keep) *keep = r.value();
    else for (auto& s : out) s.where = nullptr;  // the capture goes away with r
    return out;
}

int line_of(const char* marker) {
    std::ifstream f("tests/c_api_events.c");
    std::string line;
    for (int n = 1; std::getline(f, line); ++n)
        if (line.find(marker) != std::string::npos) return n;
    return -1;
}

}  // namespace

TEST_CASE("C API: typed arguments come back exactly, strings cut at 128 bytes, NULL as empty") {
    std::string long_text(200, 'x');
    for (size_t i = 0; i < long_text.size(); ++i) long_text[i] = char('a' + i % 26);
    std::shared_ptr<capture> c;
    auto ev = record_and_read("capi-typed", [&] {
        c_typed(-42, std::numeric_limits<uint64_t>::max(), 0.1, 7, "hello");
        c_typed(std::numeric_limits<int64_t>::min(), 0, -1e300, 0, long_text.c_str());
        c_typed(0, 1, 0.0, 1, nullptr);
    }, &c);
    REQUIRE(ev.size() == 3);
    CHECK(ev[0].kind == fmt::kind::instant);
    CHECK(ev[0].name == "typed");
    CHECK(ev[0].args == std::vector<std::string>{"i=-42", "u=18446744073709551615", "f=0.10000000000000001", "b=true",
                                                 "s=\"hello\""});
    CHECK(ev[1].args == std::vector<std::string>{"i=-9223372036854775808", "u=0", "f=-1.0000000000000001e+300",
                                                 "b=false", "s=\"" + long_text.substr(0, 128) + "\""});
    CHECK(ev[2].args == std::vector<std::string>{"i=0", "u=1", "f=0", "b=true", "s=\"\""});
    // The call site: one per macro use, with the C file, line and function.
    const bbx::dec::site* s = ev[0].where;
    REQUIRE(s != nullptr);
    CHECK(ev[1].where == s);
    CHECK(s->kind == fmt::site_kind::instant);
    CHECK(s->level == BBX_LEVEL_INFO);
    CHECK(s->category == "capi");
    CHECK(s->file.ends_with("tests/c_api_events.c"));
    CHECK(int(s->line) == line_of("LINE_TYPED"));
    CHECK(s->function == "c_typed");
    REQUIRE(s->args.size() == 5);
    CHECK(s->args[4].name == "s");
    CHECK(s->args[4].type == fmt::arg_type::string);
}

TEST_CASE("C API: counters as int64 and double, sixteen arguments in one event") {
    auto ev = record_and_read("capi-counters", [] {
        c_counters(-7, 2.25);
        c_sixteen();
    });
    REQUIRE(ev.size() == 3);
    CHECK(ev[0].kind == fmt::kind::counter);
    CHECK(ev[0].args == std::vector<std::string>{"value=-7"});
    CHECK(ev[1].kind == fmt::kind::counter);
    CHECK(ev[1].args == std::vector<std::string>{"value=2.25"});
    CHECK(ev[2].args == std::vector<std::string>{"a1=1", "a2=2", "a3=3.5", "a4=true", "a5=\"five\"", "a6=-6", "a7=7",
                                                 "a8=8", "a9=\"nine\"", "a10=10", "a11=11", "a12=12", "a13=13", "a14=14",
                                                 "a15=15", "a16=\"sixteen\""});
}

TEST_CASE("C API: the run-time level gates events, and a span begun below it still ends") {
    auto ev = record_and_read("capi-levels", [] {
        bbx_set_level(BBX_LEVEL_WARN);
        CHECK(bbx_level() == BBX_LEVEL_WARN);
        c_levels();
        bbx_set_level(BBX_LEVEL_TRACE);
        c_span(5, BBX_LEVEL_ERROR);  // the level drops while the span is open: its end is still recorded
        bbx_set_level(BBX_LEVEL_ERROR);
        c_span(6, BBX_LEVEL_TRACE);  // begun while INFO was off: neither the begin nor the end
        bbx_set_level(BBX_LEVEL_TRACE);
    });
    std::vector<std::string> names;
    for (auto& e : ev) names.push_back(std::string(e.kind == fmt::kind::span_end ? "end " : "") + e.name);
    CHECK(names == std::vector<std::string>{"at_error", "at_warn", "work", "end work", "inside"});
    REQUIRE(ev.size() == 5);
    CHECK(ev[2].kind == fmt::kind::span_begin);
    CHECK(ev[2].args == std::vector<std::string>{"n=5"});
}

TEST_CASE("C API: a span begun in one session is not ended in the next") {
    temp_capture first("capi-across-1"), second("capi-across-2");
    bbx_config cfg = {};
    cfg.path = first.path.c_str();
    REQUIRE(bbx_start(&cfg) == BBX_OK);
    bbx_span s = c_span_begin();
    CHECK(s.gate != 0);
    bbx_stop();
    cfg.path = second.path.c_str();
    REQUIRE(bbx_start(&cfg) == BBX_OK);
    c_span_end(s);
    c_counters(1, 1.0);
    bbx_stop();
    auto r = capture::open(second.path);
    REQUIRE(!r.is_error());
    std::vector<fmt::kind> kinds;
    REQUIRE(!r.value()->for_each_event([&](const event& e) {
                 if (e.kind != fmt::kind::thread_name) kinds.push_back(e.kind);
             }).is_error());
    CHECK(kinds == std::vector<fmt::kind>{fmt::kind::counter, fmt::kind::counter});
}

TEST_CASE("C API: bbx_start reports its failures as statuses with errno") {
    temp_capture tc("capi-start");
    bbx_config cfg = {};
    cfg.path = tc.path.c_str();
    REQUIRE(bbx_start(&cfg) == BBX_OK);
    CHECK(std::string(bbx_current_path()) == tc.path);
    CHECK(bbx_start(&cfg) == BBX_ALREADY_STARTED);
    bbx_stop();
    CHECK(bbx_current_path() == nullptr);
    errno = 0;
    CHECK(bbx_start(&cfg) == BBX_FILE_EXISTS);  // O_EXCL: the capture just written is never overwritten
    CHECK(errno == EEXIST);
    CHECK(std::string(bbx_status_message(BBX_FILE_EXISTS)).find("exists") != std::string::npos);
    unlink(tc.path.c_str());
    cfg.ring_kb = 5;  // not a power of two
    CHECK(bbx_start(&cfg) == BBX_BAD_CONFIG);
    CHECK(std::string(bbx_status_message(BBX_BAD_CONFIG)).find("power of two") != std::string::npos);
    CHECK(std::string(bbx_status_message(bbx_status(99))) == "unknown status");
}
