// Errors and results of the decoder library.
//
// Model: LZ4's lz4frame.h. Every fallible call returns a result that one
// is_error() tests; errors are a closed enum, each with a message that names
// the field and the byte offset where the file went wrong.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace bbx::dec {

enum class errc {
    io,                   // the file could not be opened, read or mapped
    bad_magic,            // not a blackbox file
    unsupported_version,  // a major version this decoder does not know
    truncated,            // the file ends before a structure it promises
    corrupt,              // a field holds a value the spec forbids
};
const char* errc_name(errc e);

struct error {
    errc code;
    uint64_t offset;   // where in the file
    std::string what;  // names the field and what was wrong with it
    // "<what> at offset N"
    std::string message() const;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T v) : v_(std::move(v)) {}
    result(error e) : v_(std::move(e)) {}
    bool is_error() const { return std::holds_alternative<error>(v_); }
    const error& err() const { return std::get<error>(v_); }
    T& value() { return std::get<T>(v_); }
    const T& value() const { return std::get<T>(v_); }

private:
    std::variant<T, error> v_;
};

}  // namespace bbx::dec
