// The one JSON writer of the decoder (decoder-internal): Chrome trace-event
// JSON, OTLP/JSON Lines and bbx analyze --json are all written through it.
//
// A json_writer appends to a string. The caller opens and closes objects
// and arrays and names keys; the writer escapes every string (invalid UTF-8
// becomes U+FFFD), formats every number, and places the commas, with the
// whitespace a container's layout asks for. For speed, a writer may insert
// a fragment: members or elements that another json_writer rendered once
// (the name and category of a call site, a thread's ids) and that are copied
// as they are wherever they recur, or constant members written as JSON text
// in the source (R"("cat":"task","ph":"B")"). Numbers are formatted here,
// not by std::to_chars (tests/test_json_writer.cpp holds them to it): the
// writer runs dozens of times per event of a Chrome or OTLP conversion.
#pragma once

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace bbx::dec {

// The text a json_writer appends to: a growing byte buffer whose appends are
// inline (a writer makes dozens per event; std::string's are calls).
class json_text {
public:
    json_text() = default;
    json_text(json_text&&) noexcept = default;
    json_text& operator=(json_text&&) noexcept = default;
    json_text(const json_text& o) { append(o.data(), o.size()); }
    json_text& operator=(const json_text& o) {
        if (this != &o) {
            clear();
            append(o.data(), o.size());
        }
        return *this;
    }
    void append(const char* s, size_t n) {
        if (cap_ - n_ < n) [[unlikely]] grow(n);
        if (n) std::memcpy(p_.get() + n_, s, n);
        n_ += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    // At most 8 bytes held in an 8-byte array: one word copied, n kept.
    [[gnu::always_inline]] void append_word(const char (&s)[8], size_t n) {
        std::memcpy(room(8), s, 8);
        n_ += n;
    }
    void push_back(char c) {
        if (n_ == cap_) [[unlikely]] grow(1);
        p_[n_++] = c;
    }
    json_text& operator+=(std::string_view s) {
        append(s);
        return *this;
    }
    json_text& operator+=(char c) {
        push_back(c);
        return *this;
    }
    void reserve(size_t n) {
        if (n > cap_) grow(n - n_);
    }
    // Room for n more bytes at the end: write them there, then commit(n).
    char* room(size_t n) {
        if (cap_ - n_ < n) [[unlikely]] grow(n);
        return p_.get() + n_;
    }
    void commit(size_t n) { n_ += n; }
    void clear() { n_ = 0; }
    bool empty() const { return n_ == 0; }
    size_t size() const { return n_; }
    const char* data() const { return p_.get(); }
    std::string_view view() const { return {p_.get(), n_}; }
    std::string str() const { return std::string(view()); }

private:
    void grow(size_t more);
    std::unique_ptr<char[]> p_;
    size_t n_ = 0, cap_ = 0;
};

// Where a container puts whitespace: `open` right after its bracket,
// `first` before its first member, `between` before each later one (with the
// comma), `close` before its closing bracket. The default is compact.
struct json_layout {
    // Up to 8 bytes of whitespace (and comma), held whole: a copy is one word.
    struct piece {
        char s[8] = {};
        uint8_t n = 0;
        template <size_t N>
        constexpr piece(const char (&v)[N]) : n(uint8_t(N - 1)) {
            static_assert(N <= 9, "a layout piece holds 8 bytes");
            for (size_t i = 0; i + 1 < N; ++i) s[i] = v[i];
        }
    };
    piece open = "", first = "", between = ",", close = "";
};

namespace json_digits {
inline constexpr char pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
// 10^t, but 0 for t = 0 (so that 0 has one digit too)
inline constexpr uint64_t powers[20] = {0ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
                                        10000000000000ull, 100000000000000ull, 1000000000000000ull,
                                        10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
                                        10000000000000000000ull};
// How many decimal digits v has (1 for 0): from its bit length (x 1233 / 4096
// is a little under log10 2), corrected by one comparison.
[[gnu::always_inline]] inline unsigned width(uint64_t v) {
    const unsigned t = unsigned(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    return t + 1 - (v < powers[t]);
}
// The lowest `width` decimal digits of v, zero-padded, at p .. p + width:
// two at a time from the end (std::to_chars's method, without its calls),
// in 32-bit arithmetic (cheaper division) once what is left fits.
[[gnu::always_inline]] inline void put(char* p, unsigned width, uint64_t v) {
    char* q = p + width;
    for (; v > UINT32_MAX && width >= 2; width -= 2) {
        const unsigned r = unsigned(v % 100);
        v /= 100;
        q -= 2;
        q[0] = pairs[2 * r];
        q[1] = pairs[2 * r + 1];
    }
    uint32_t u = uint32_t(v);
    for (; width >= 2; width -= 2) {
        const uint32_t r = u % 100;
        u /= 100;
        q -= 2;
        q[0] = pairs[2 * r];
        q[1] = pairs[2 * r + 1];
    }
    if (width) q[-1] = char('0' + u % 10);
}
}  // namespace json_digits

class json_writer {
public:
    // inside: the writer starts inside an object or array whose brackets are
    // not its own (a fragment of members or of elements, continued after
    // what `out` already holds); nothing: at the top.
    enum class inside : uint8_t { nothing, object, array };
    explicit json_writer(json_text& out, inside at = inside::nothing) : o_(out) {
        if (at == inside::nothing) return;
        push(at == inside::object ? '}' : ']', nullptr);
        cur_.next = out.empty() ? next_is::first : next_is::later;
    }

    json_text& text() { return o_; }

    // Containers; a layout must outlive the container (a static one).
    [[gnu::always_inline]] void begin_object() { open('{', '}', nullptr); }
    void begin_object(const json_layout& l) { open('{', '}', &l); }
    [[gnu::always_inline]] void end_object() { close(); }
    [[gnu::always_inline]] void begin_array() { open('[', ']', nullptr); }
    void begin_array(const json_layout& l) { open('[', ']', &l); }
    [[gnu::always_inline]] void end_array() { close(); }

    // A member's key (escaped); its value comes next.
    void key(std::string_view k) {
        separate();
        o_ += '"';
        escape(k);
        o_.append("\":", 2);
        cur_.next = next_is::value;
    }
    // A literal key, plain ASCII that needs no escape: copied as it is.
    template <size_t N>
    [[gnu::always_inline]] void key(const char (&k)[N]) {
        separate();
        char* p = o_.room(N + 2);
        p[0] = '"';
        std::memcpy(p + 1, k, N - 1);
        p[N] = '"';
        p[N + 1] = ':';
        o_.commit(N + 2);
        cur_.next = next_is::value;
    }
    // A key escaped before (json_escape).
    [[gnu::always_inline]] void escaped_key(std::string_view k) {
        separate();
        o_ += '"';
        o_ += k;
        o_.append("\":", 2);
        cur_.next = next_is::value;
    }

    // Values: in an array each is an element, after key() the member's value.
    void str(std::string_view s) {
        separate();
        o_ += '"';
        escape(s);
        o_ += '"';
    }
    // A literal, plain ASCII that needs no escape.
    template <size_t N>
    [[gnu::always_inline]] void str(const char (&s)[N]) {
        separate();
        char* p = o_.room(N + 1);
        p[0] = '"';
        std::memcpy(p + 1, s, N - 1);
        p[N] = '"';
        o_.commit(N + 1);
    }
    // A string escaped before (by json_escape), or plain ASCII: quoted, copied as it is.
    [[gnu::always_inline]] void escaped(std::string_view s) {
        separate();
        o_ += '"';
        o_ += s;
        o_ += '"';
    }
    // A string value made of pieces: strings escaped before (json_escape) or
    // plain ASCII that needs no escape, copied as they are; literals (copied
    // in one go); numbers (json_writer::number, in decimal).
    struct number {
        uint64_t v;
    };
    template <class... Pieces>
    [[gnu::always_inline]] void escaped_of(const Pieces&... pieces) {
        separate();
        o_ += '"';
        (piece(pieces), ...);
        o_ += '"';
    }
    [[gnu::always_inline]] void u64(uint64_t v) {
        separate();
        digits(v);
    }
    [[gnu::always_inline]] void i64(int64_t v) {
        separate();
        digits(v);
    }
    // 64-bit integers as proto3's JSON mapping writes them: decimal strings.
    [[gnu::always_inline]] void quoted_u64(uint64_t v) {
        separate();
        o_ += '"';
        digits(v);
        o_ += '"';
    }
    [[gnu::always_inline]] void quoted_i64(int64_t v) {
        separate();
        o_ += '"';
        digits(v);
        o_ += '"';
    }
    // The shortest form that reads back exactly; with mark_whole, ".0" on
    // whole numbers (readers then keep them floating-point). JSON has no NaN
    // or infinities: those are the strings "NaN", "Infinity", "-Infinity"
    // (as proto3's JSON mapping writes them).
    void f64(double v, bool mark_whole = true);
    // printf's %.<decimals>f.
    void f64_fixed(double v, int decimals);
    // units / 10^scale with `scale` (at most 18) decimals, exactly (no
    // floating point): decimal(12345, 3) is 12.345.
    [[gnu::always_inline]] void decimal(int64_t units, unsigned scale) {
        separate();
        char* p = o_.room(48);
        char* q = p;
        uint64_t a = uint64_t(units);
        if (units < 0) {
            *q++ = '-';
            a = uint64_t(0) - a;
        }
        uint64_t pow = 1;
        for (unsigned i = 0; i < scale; ++i) pow *= 10;
        const unsigned n = json_digits::width(a / pow);
        json_digits::put(q, n, a / pow);
        q += n;
        if (scale) {
            *q = '.';
            json_digits::put(q + 1, scale, a % pow);
            q += scale + 1;
        }
        o_.commit(size_t(q - p));
    }
    [[gnu::always_inline]] void boolean(bool v) {
        separate();
        if (v) o_.append("true", 4);
        else o_.append("false", 5);
    }
    void null() {
        separate();
        o_.append("null", 4);
    }
    // Members (in an object) or elements (in an array) that a json_writer
    // made inside::object or inside::array; nothing when empty.
    [[gnu::always_inline]] void fragment(std::string_view f) {
        if (f.empty()) return;
        separate();
        o_ += f;
    }
    // The same, written as JSON text in the source (R"("cat":"task","ph":"B")"):
    // a run of constant members copied in one go, as rendered once by hand.
    template <size_t N>
    [[gnu::always_inline]] void fragment(const char (&f)[N]) {
        static_assert(N > 1, "an empty fragment");
        separate();
        std::memcpy(o_.room(N - 1), f, N - 1);
        o_.commit(N - 1);
    }

    // Escapes s as the inside of a JSON string (json_escape).
    void escape(std::string_view s);

private:
    static constexpr unsigned max_depth = 32;  // writers nest a few levels; deeper is not valid JSON
    // What comes next in a container: its first member or element, a
    // member's value (after its key), or a later member or element.
    enum class next_is : uint8_t { first, value, later };
    struct level {
        const json_layout* layout;  // null: compact
        char closer;
        next_is next;
    };
    static constexpr json_layout top_level{"", "", "", ""};  // values at the top: no separator
    [[gnu::always_inline]] void open(char bracket, char closer, const json_layout* l) {
        separate();
        o_ += bracket;
        if (l) o_.append_word(l->open.s, l->open.n);
        push(closer, l);
    }
    [[gnu::always_inline]] void push(char closer, const json_layout* l) {
        if (depth_ < max_depth) outer_[depth_] = cur_;
        ++depth_;
        cur_ = level{depth_ <= max_depth ? l : &top_level, closer, next_is::first};
    }
    [[gnu::always_inline]] void close() {
        if (depth_ == 0) return;
        --depth_;
        if (cur_.layout) o_.append_word(cur_.layout->close.s, cur_.layout->close.n);
        o_ += cur_.closer;
        if (depth_ < max_depth) cur_ = outer_[depth_];
    }
    // Before a key, or a value that is not a member's: the comma and layout.
    // The writer keeps the innermost container's state at hand (cur_), so
    // this is a test or two and at most a byte or a layout's few.
    [[gnu::always_inline]] void separate() {
        const next_is n = cur_.next;
        cur_.next = next_is::later;
        if (n == next_is::later) {
            if (!cur_.layout) o_.push_back(',');
            else o_.append_word(cur_.layout->between.s, cur_.layout->between.n);
        } else if (n == next_is::first && cur_.layout) {
            o_.append_word(cur_.layout->first.s, cur_.layout->first.n);
        }
    }
    template <size_t N>
    [[gnu::always_inline]] void piece(const char (&s)[N]) {
        std::memcpy(o_.room(N - 1), s, N - 1);
        o_.commit(N - 1);
    }
    [[gnu::always_inline]] void piece(std::string_view s) { o_ += s; }
    [[gnu::always_inline]] void piece(number n) { digits(n.v); }
    [[gnu::always_inline]] void digits(uint64_t v) {
        const unsigned n = json_digits::width(v);
        json_digits::put(o_.room(20), n, v);
        o_.commit(n);
    }
    [[gnu::always_inline]] void digits(int64_t v) {
        if (v < 0) {
            o_.push_back('-');
            digits(uint64_t(0) - uint64_t(v));
        } else {
            digits(uint64_t(v));
        }
    }

    json_text& o_;
    unsigned depth_ = 0;
    level cur_{&top_level, 0, next_is::first};
    level outer_[max_depth];
};

// A json_writer whose text goes out to a file in large writes: flush() when
// it has grown past `flush_at`, and at the end.
class json_file {
public:
    explicit json_file(std::FILE* f, size_t flush_at = size_t(1) << 20) : f_(f), flush_at_(flush_at), w_(buf_) {
        buf_.reserve(flush_at + 65536);
    }
    json_file(const json_file&) = delete;
    json_file& operator=(const json_file&) = delete;
    json_writer& w() { return w_; }
    void maybe_flush() {
        if (buf_.size() >= flush_at_) flush();
    }
    void flush() {
        if (!buf_.empty() && !failed_ && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
            failed_ = true;
            errno_ = errno;
        }
        buf_.clear();
    }
    // Flushes the rest and the stream; "" or "write failed: <why>".
    std::string finish();

private:
    std::FILE* f_;
    size_t flush_at_;
    json_text buf_;
    json_writer w_;
    bool failed_ = false;
    int errno_ = 0;
};

struct losses;
// A capture's losses (capture.hpp) as members of an open object: "summary"
// (losses::text(), "none" when nothing was lost), then every count, zeros
// too, so that a reader tells "nothing lost" from "not said". losses.cpp.
void json_loss_members(json_writer& w, const losses& l);

}  // namespace bbx::dec
