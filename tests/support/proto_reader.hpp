// Helpers shared by the converter tests: a protobuf wire parser that shares
// no code with the writers (tests/test_convert.cpp, test_convert_tasks.cpp),
// an independent UTF-8 check, and small file and text utilities.
#pragma once

#include <doctest/doctest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bbx_test {

inline uint32_t this_tid() { return uint32_t(syscall(SYS_gettid)); }

inline std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string h;
    for (unsigned char c : s) {
        h += digits[c >> 4];
        h += digits[c & 15];
    }
    return h;
}

inline std::string read_file(const std::string& path) {
    std::string s;
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
        std::fclose(f);
    }
    return s;
}

// An independent UTF-8 check: decode code points, then judge their values.
inline bool utf8_ok(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (!len || i + size_t(len) > s.size()) return false;
        uint32_t cp = len == 1 ? b : b & (0x7F >> len);
        for (int k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + size_t(k)]);
            if ((c >> 6) != 2) return false;
            cp = cp << 6 | (c & 0x3F);
        }
        static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += size_t(len);
    }
    return true;
}

struct field {
    uint32_t num = 0, wire = 0;
    uint64_t v = 0;          // varint, fixed64 (bits), fixed32
    std::string_view bytes;  // length-delimited
};

// Parses one message; fails the test on malformed bytes or on a field the
// schema (field -> wire type) does not name.
inline std::vector<field> parse(std::string_view msg, const std::map<uint32_t, uint32_t>& schema, const char* what) {
    std::vector<field> out;
    size_t i = 0;
    auto varint = [&](uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (i >= msg.size()) return false;
            const auto b = static_cast<unsigned char>(msg[i++]);
            v |= uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    };
    while (i < msg.size()) {
        uint64_t key = 0;
        REQUIRE_MESSAGE(varint(key), what << ": bad tag");
        field f;
        f.num = uint32_t(key >> 3);
        f.wire = uint32_t(key & 7);
        auto it = schema.find(f.num);
        REQUIRE_MESSAGE(it != schema.end(), what << ": unexpected field " << f.num);
        REQUIRE_MESSAGE(it->second == f.wire, what << ": field " << f.num << " has wire type " << f.wire);
        switch (f.wire) {
            case 0: REQUIRE_MESSAGE(varint(f.v), what << ": bad varint"); break;
            case 1:
                REQUIRE_MESSAGE(i + 8 <= msg.size(), what << ": truncated fixed64");
                std::memcpy(&f.v, msg.data() + i, 8);
                i += 8;
                break;
            case 2: {
                uint64_t len = 0;
                REQUIRE_MESSAGE(varint(len), what << ": bad length");
                REQUIRE_MESSAGE(len <= msg.size() - i, what << ": length past the end");
                f.bytes = msg.substr(i, size_t(len));
                i += size_t(len);
                break;
            }
            default: FAIL(what << ": wire type " << f.wire);
        }
        out.push_back(f);
    }
    return out;
}

}  // namespace bbx_test
