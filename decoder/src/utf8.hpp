// UTF-8 checking and JSON escaping (decoder-internal), for any output with
// append() and push_back(): text.cpp's json_escape and the JSON writer's
// buffer share one implementation.
//
// Capture files are hostile: call-site strings and string arguments may hold
// any bytes. JSON strings must be valid UTF-8, so every ill-formed sequence
// becomes U+FFFD, one per "maximal subpart" as Unicode recommends (ch. 3,
// "U+FFFD Substitution of Maximal Subparts"): a truncated sequence is one
// U+FFFD, a byte that can start nothing is one each.
#pragma once

#include <cstddef>
#include <string_view>

namespace bbx::dec::utf8 {

inline constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i] (1..4), or 0 if the bytes
// there are ill-formed; then *bad is the length of the maximal subpart (>= 1).
// Table 3-7 of the Unicode standard: no overlongs, no surrogates, <= U+10FFFF.
inline size_t sequence_at(std::string_view s, size_t i, size_t* bad) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        if (b0 == 0xE0) lo = 0xA0;       // overlong
        else if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        if (b0 == 0xF0) lo = 0x90;       // overlong
        else if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        *bad = 1;  // 80..C1, F5..FF: never a lead byte
        return 0;
    }
    for (size_t k = 1; k <= need; ++k) {
        if (i + k >= s.size()) {
            *bad = k;
            return 0;
        }
        const auto b = static_cast<unsigned char>(s[i + k]);
        if (b < lo || b > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}


// Escapes s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD.
template <class Out>
void json_escape_into(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        // The common case: a run of printable ASCII that needs no escape.
        size_t run = i;
        while (run < n) {
            const auto c = static_cast<unsigned char>(s[run]);
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
            ++run;
        }
        if (run != i) {
            out.append(s.data() + i, run - i);
            i = run;
            if (i == n) break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(char(c));
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(esc, 6);
            ++i;
        } else {
            size_t bad = 0;
            const size_t len = sequence_at(s, i, &bad);
            if (len == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
                // C1 controls (U+0080 .. U+009F: CSI and friends) escaped too,
                // so that no JSON output sent to a terminal can steer it.
                const auto c1 = static_cast<unsigned char>(s[i + 1]);
                const char esc[6] = {'\\', 'u', '0', '0', hex[c1 >> 4], hex[c1 & 15]};
                out.append(esc, 6);
                i += 2;
            } else if (len) {
                out.append(s.data() + i, len);
                i += len;
            } else {
                out.append(replacement);
                i += bad;
            }
        }
    }
}

}  // namespace bbx::dec::utf8
