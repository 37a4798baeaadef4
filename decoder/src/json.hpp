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
#include <string>
#include <string_view>

namespace bbx::dec {

// Where a container puts whitespace: `open` right after its bracket,
// `first` before its first member, `between` before each later one (with the
// comma), `close` before its closing bracket. The default is compact.
struct json_layout {
    std::string_view open = "", first = "", between = ",", close = "";
};

class json_writer {
public:
    // inside: the writer starts inside an object or array whose brackets are
    // not its own (a fragment of members or of elements); 0: at the top.
    enum class inside : uint8_t { nothing, object, array };
    explicit json_writer(std::string& out, inside at = inside::nothing) : o_(out) {
        if (at != inside::nothing) push(at == inside::object ? '}' : ']', json_layout{});
    }

    std::string& text() { return o_; }

    void begin_object(const json_layout& l = {}) { open('{', '}', l); }
    void end_object() { close(); }
    void begin_array(const json_layout& l = {}) { open('[', ']', l); }
    void end_array() { close(); }

    // A member's key (escaped); its value comes next.
    void key(std::string_view k) {
        separate();
        o_ += '"';
        escape(k);
        o_ += "\":";
        after_key_ = true;
    }

    // Values: in an array each is an element, after key() the member's value.
    void str(std::string_view s) {
        separate();
        o_ += '"';
        escape(s);
        o_ += '"';
    }
    // A string escaped before (by json_escape): quoted, copied as it is.
    void escaped(std::string_view s) {
        separate();
        o_ += '"';
        o_ += s;
        o_ += '"';
    }
    void u64(uint64_t v) {
        separate();
        digits(v);
    }
    void i64(int64_t v) {
        separate();
        digits(v);
    }
    // 64-bit integers as proto3's JSON mapping writes them: decimal strings.
    void quoted_u64(uint64_t v) {
        separate();
        o_ += '"';
        digits(v);
        o_ += '"';
    }
    void quoted_i64(int64_t v) {
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
    // units / 10^scale with `scale` decimals, exactly (no floating point):
    // decimal(12345, 3) is 12.345.
    void decimal(int64_t units, unsigned scale);
    void boolean(bool v) {
        separate();
        o_ += v ? "true" : "false";
    }
    void null() {
        separate();
        o_ += "null";
    }
    // A value whose text is made of the given pieces, each escaped: for
    // string values built from parts ("poll " + name + " #" + id).
    template <class... Parts>
    void str_of(const Parts&... parts) {
        separate();
        o_ += '"';
        (escape(std::string_view(parts)), ...);
        o_ += '"';
    }
    // Members (in an object) or elements (in an array) that a json_writer
    // made inside::object or inside::array; nothing when empty.
    void fragment(std::string_view f) {
        if (f.empty()) return;
        separate();
        o_ += f;
    }
    // Escapes s as the inside of a JSON string (json_escape).
    void escape(std::string_view s);

private:
    static constexpr unsigned max_depth = 32;
    void open(char bracket, char closer, const json_layout& l) {
        separate();
        o_ += bracket;
        o_ += l.open;
        push(closer, l);
    }
    void push(char closer, const json_layout& l) {
        if (depth_ < max_depth) {
            closer_[depth_] = closer;
            layout_[depth_] = l;
            count_[depth_] = 0;
        }
        ++depth_;
        after_key_ = false;
    }
    void close() {
        if (depth_ == 0) return;
        --depth_;
        if (depth_ < max_depth) {
            o_ += layout_[depth_].close;
            o_ += closer_[depth_];
        }
        after_key_ = false;
    }
    // Before a key, or a value that is not a member's: the comma and layout.
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (depth_ == 0 || depth_ > max_depth) return;
        const json_layout& l = layout_[depth_ - 1];
        o_ += count_[depth_ - 1]++ ? l.between : l.first;
    }
    template <class T>
    void digits(T v) {
        char t[24];
        auto r = std::to_chars(t, t + sizeof t, v);
        o_.append(t, size_t(r.ptr - t));
    }

    std::string& o_;
    unsigned depth_ = 0;
    bool after_key_ = false;
    char closer_[max_depth];
    json_layout layout_[max_depth];
    uint64_t count_[max_depth];
};

// A json_writer whose text goes out to a file in large writes: flush() when
// it has grown past `flush_at`, and at the end.
class json_file {
public:
    explicit json_file(std::FILE* f, size_t flush_at = size_t(1) << 20) : f_(f), flush_at_(flush_at), w_(buf_) {
        buf_.reserve(flush_at + 65536);
    }
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
    std::string buf_;
    json_writer w_;
    bool failed_ = false;
    int errno_ = 0;
};

}  // namespace bbx::dec
