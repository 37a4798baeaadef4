// Text helpers shared by the converters: UTF-8 repair and JSON string escaping.
//
// Capture files are hostile: call-site strings and string arguments may hold
// any bytes. Both JSON and protobuf `string` fields must be valid UTF-8, so
// every ill-formed sequence becomes U+FFFD, one per "maximal subpart" as
// Unicode recommends (ch. 3, "U+FFFD Substitution of Maximal Subparts"): a
// truncated sequence is one U+FFFD, a byte that can start nothing is one each.
#include <cstdint>
#include <string>
#include <string_view>

#include "bbx/decoder.hpp"
#include "utf8.hpp"

namespace bbx::dec {

using utf8::replacement;
using utf8::sequence_at;

void json_escape(std::string& out, std::string_view s) { utf8::json_escape_into(out, s); }

std::string valid_utf8(std::string_view s) {
    std::string out;
    size_t i = 0;
    const size_t n = s.size();
    // Copy the longest valid prefix as is; most strings are all of it.
    while (i < n) {
        size_t bad = 0;
        const size_t len = sequence_at(s, i, &bad);
        if (!len) break;
        i += len;
    }
    out.reserve(n + (i == n ? 0 : 8));
    out.append(s.data(), i);
    while (i < n) {
        size_t bad = 0;
        const size_t len = sequence_at(s, i, &bad);
        if (len) {
            out.append(s.data() + i, len);
            i += len;
        } else {
            out.append(replacement);
            i += bad;
        }
    }
    return out;
}

std::string printable(std::string_view s) {
    std::string v = valid_utf8(s), out;
    out.reserve(v.size());
    static const char hex[] = "0123456789abcdef";
    auto esc = [&](unsigned char c) {
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
    };
    for (size_t i = 0; i < v.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(v[i]);
        unsigned char next = i + 1 < v.size() ? static_cast<unsigned char>(v[i + 1]) : 0;
        if (c < 0x20 || c == 0x7f) {
            esc(c);
        } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // C1 controls (U+0080..U+009F): CSI and friends
            esc(c);
            esc(next);
            ++i;
        } else {
            out += char(c);
        }
    }
    return out;
}

}  // namespace bbx::dec
