// The decoder's one JSON writer (decoder/src/json.hpp, decoder-internal): its
// own number formatting and comma placement, which every JSON output relies on.
#include <doctest/doctest.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../decoder/src/json.hpp"

namespace {

using bbx::dec::json_layout;
using bbx::dec::json_text;
using bbx::dec::json_writer;

template <class T>
std::string reference(T v) {
    char b[32];
    return std::string(b, size_t(std::to_chars(b, b + sizeof b, v).ptr - b));
}

// Around every power of ten and of two, and the extremes.
std::vector<uint64_t> edge_values() {
    std::vector<uint64_t> v{0, 1, 9, 10, 99, 100, 101, UINT32_MAX - 1ull, UINT32_MAX, UINT32_MAX + 1ull, UINT64_MAX - 1, UINT64_MAX};
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10) v.insert(v.end(), {p - 1, p, p + 1, p * 9 + p - 1});
    for (int b = 0; b < 64; ++b) v.insert(v.end(), {(uint64_t(1) << b) - 1, uint64_t(1) << b, (uint64_t(1) << b) + 1});
    return v;
}

}  // namespace

TEST_CASE("the JSON writer's integers read as std::to_chars writes them") {
    for (uint64_t v : edge_values()) {
        json_text t;
        json_writer w(t);
        w.begin_array();
        w.u64(v);
        w.i64(int64_t(v));
        w.i64(-int64_t(v >> 1));
        w.quoted_u64(v);
        w.end_array();
        CHECK(t.str() == "[" + reference(v) + "," + reference(int64_t(v)) + "," + reference(-int64_t(v >> 1)) + ",\"" +
                             reference(v) + "\"]");
    }
    json_text t;
    json_writer w(t);
    w.i64(std::numeric_limits<int64_t>::min());
    CHECK(t.str() == "-9223372036854775808");
}

TEST_CASE("the JSON writer's decimal() is units / 10^scale, exactly, with scale decimals") {
    for (uint64_t v : edge_values()) {
        const int64_t units = int64_t(v);
        for (unsigned scale : {0u, 1u, 3u, 9u, 18u}) {
            uint64_t pow = 1;
            for (unsigned i = 0; i < scale; ++i) pow *= 10;
            const uint64_t a = units < 0 ? uint64_t(0) - uint64_t(units) : uint64_t(units);
            std::string want = (units < 0 ? "-" : "") + reference(a / pow);
            if (scale) {
                std::string frac = reference(a % pow);
                want += "." + std::string(scale - frac.size(), '0') + frac;
            }
            json_text t;
            json_writer w(t);
            w.decimal(units, scale);
            CHECK_MESSAGE(t.str() == want, units, " scale ", scale);
        }
    }
    json_text t;
    json_writer w(t);
    w.begin_array();
    w.decimal(12345, 3);
    w.decimal(-5, 3);
    w.decimal(std::numeric_limits<int64_t>::min(), 3);
    w.end_array();
    CHECK(t.str() == "[12.345,-0.005,-9223372036854775.808]");
}

TEST_CASE("the JSON writer places commas and a layout's whitespace, also around fragments") {
    static constexpr json_layout lines{"\n", "", ",\n", "\n"};
    json_text t;
    json_writer w(t);
    w.begin_object();
    w.key("a");
    w.begin_array(lines);
    w.begin_object();
    w.fragment(R"("x":1,"y":2)");
    w.key("z");
    w.begin_object();
    w.end_object();
    w.end_object();
    w.begin_array();
    w.end_array();
    w.str("s");
    w.end_array();
    w.key("b");
    w.boolean(true);
    w.fragment(std::string_view());
    w.end_object();
    CHECK(t.str() == "{\"a\":[\n{\"x\":1,\"y\":2,\"z\":{}},\n[],\n\"s\"\n],\"b\":true}");

    // A fragment writer continues what its text already holds.
    json_text f;
    {
        json_writer a(f, json_writer::inside::object);
        a.key("k");
        a.u64(1);
    }
    {
        json_writer b(f, json_writer::inside::object);
        b.key("l");
        b.null();
    }
    CHECK(f.str() == "\"k\":1,\"l\":null");
}
