// Text helpers: UTF-8 repair, JSON string escaping, and what may be shown on
// a terminal. Capture files are hostile: any string from one may hold any bytes.
#pragma once

#include <string>
#include <string_view>

namespace bbx::dec {

// Escapes s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD.
void json_escape(std::string& out, std::string_view s);
// Replaces invalid UTF-8 with U+FFFD (protobuf strings must be UTF-8).
std::string valid_utf8(std::string_view s);
// valid_utf8, then control characters (C0, DEL, C1) as \xNN: for names
// printed to a terminal, where a hostile capture could otherwise send escape
// sequences.
std::string printable(std::string_view s);

}  // namespace bbx::dec
