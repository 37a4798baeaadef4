// The one JSON writer of the decoder (decoder-internal): Chrome trace-event
// JSON, OTLP/JSON Lines and bbx analyze --json are all written through it.
//
// A json_writer appends to a string. The caller opens and closes objects
// and arrays and names keys; the writer escapes every string (invalid UTF-8
// becomes U+FFFD), formats every number, and places the commas, with the
// whitespace a container's layout asks for. For speed, a writer may insert
// a fragment: members or elements that another json_writer rendered once
// (the name and category of a call site, a thread's ids) and that are copied
// as they are wherever they recur.
#pragma once

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <initializer_list>
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
    std::string_view open = "", first = "", between = ",", close = "";
};

class json_writer {
public:
    // inside: the writer starts inside an object or array whose brackets are
    // not its own (a fragment of members or of elements, continued after
    // what `out` already holds); nothing: at the top.
    enum class inside : uint8_t { nothing, object, array };
    explicit json_writer(json_text& out, inside at = inside::nothing) : o_(out) {
        if (at == inside::nothing) return;
        push(at == inside::object ? '}' : ']', nullptr);
        lv_[0].count = out.empty() ? 0 : 1;
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
        after_key_ = true;
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
        after_key_ = true;
    }
    // A key escaped before (json_escape).
    [[gnu::always_inline]] void escaped_key(std::string_view k) {
        separate();
        o_ += '"';
        o_ += k;
        o_.append("\":", 2);
        after_key_ = true;
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
    // A string value made of pieces escaped before (json_escape), or plain
    // ASCII that needs no escape: copied between quotes as they are.
    void escaped_of(std::initializer_list<std::string_view> parts) {
        separate();
        o_ += '"';
        for (std::string_view p : parts) o_ += p;
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
        q = std::to_chars(q, q + 24, a / pow).ptr;
        if (scale) {
            *q = '.';
            uint64_t frac = a % pow;
            for (unsigned i = scale; i > 0; --i, frac /= 10) q[i] = char('0' + frac % 10);
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

    // Escapes s as the inside of a JSON string (json_escape).
    void escape(std::string_view s);

private:
    static constexpr unsigned max_depth = 32;
    struct level {
        const json_layout* layout;  // null: compact
        uint64_t count;             // members or elements so far
        char closer;
    };
    [[gnu::always_inline]] void open(char bracket, char closer, const json_layout* l) {
        separate();
        o_ += bracket;
        if (l) o_ += l->open;
        push(closer, l);
    }
    [[gnu::always_inline]] void push(char closer, const json_layout* l) {
        if (depth_ < max_depth) lv_[depth_] = level{l, 0, closer};
        ++depth_;
        after_key_ = false;
    }
    [[gnu::always_inline]] void close() {
        if (depth_ == 0) return;
        --depth_;
        if (depth_ < max_depth) {
            if (lv_[depth_].layout) o_ += lv_[depth_].layout->close;
            o_ += lv_[depth_].closer;
        }
        after_key_ = false;
    }
    // Before a key, or a value that is not a member's: the comma and layout.
    [[gnu::always_inline]] void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (depth_ == 0 || depth_ > max_depth) [[unlikely]] return;
        level& l = lv_[depth_ - 1];
        if (!l.layout) {
            if (l.count++) o_ += ',';
        } else {
            o_ += l.count++ ? l.layout->between : l.layout->first;
        }
    }
    template <class T>
    [[gnu::always_inline]] void digits(T v) {
        char* p = o_.room(24);
        o_.commit(size_t(std::to_chars(p, p + 24, v).ptr - p));
    }

    json_text& o_;
    unsigned depth_ = 0;
    bool after_key_ = false;
    level lv_[max_depth];
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
