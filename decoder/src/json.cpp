// The JSON writer's number formats and the end of a JSON file (json.hpp).
#include "json.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "utf8.hpp"

namespace bbx::dec {

void json_text::grow(size_t more) {
    size_t cap = cap_ ? cap_ * 2 : 256;
    while (cap - n_ < more) cap *= 2;
    std::unique_ptr<char[]> p(new char[cap]);
    if (n_) std::memcpy(p.get(), p_.get(), n_);
    p_ = std::move(p);
    cap_ = cap;
}

void json_writer::escape(std::string_view s) { utf8::json_escape_into(o_, s); }

void json_writer::f64(double v, bool mark_whole) {
    separate();
    if (std::isnan(v)) {
        o_ += "\"NaN\"";
        return;
    }
    if (std::isinf(v)) {
        o_ += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        return;
    }
    char t[32];
    auto r = std::to_chars(t, t + sizeof t, v);
    o_.append(t, size_t(r.ptr - t));
    if (mark_whole && std::find_if(t, r.ptr, [](char c) { return c == '.' || c == 'e'; }) == r.ptr) o_ += ".0";
}

void json_writer::f64_fixed(double v, int decimals) {
    separate();
    char t[64];
    const int n = std::snprintf(t, sizeof t, "%.*f", decimals, v);
    o_.append(t, n > 0 ? std::min(size_t(n), sizeof t - 1) : 0);
}

std::string json_file::finish() {
    flush();
    if (!failed_ && std::fflush(f_) != 0) failed_ = true, errno_ = errno;
    if (failed_ || std::ferror(f_)) return std::string("write failed: ") + std::strerror(errno_ ? errno_ : EIO);
    return "";
}

}  // namespace bbx::dec
