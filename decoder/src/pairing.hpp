// How every converter and the filter pair an end event with its begin
// (decoder-internal). One rule, so that dump filters, Perfetto, Chrome, OTLP
// and merge agree on which begin an end closes.
#pragma once

#include <cstddef>

namespace bbx::dec::pairing {

// Open begins kept per thread; deeper ones are not written (a hostile file
// cannot make the stacks grow without bound).
inline constexpr size_t max_depth = 4096;
// How far below the top of the stack an end looks for its begin: bounds the
// work a crafted file can cause per event.
inline constexpr size_t max_unwind = 64;
inline constexpr size_t none = size_t(-1);

// The 1-based depth of the innermost of open[0 .. depth) that is_begin
// accepts, looking at most max_unwind deep; `none` when there is none (the
// begin was overwritten). Entries above the one found were opened inside it
// and never ended (damaged slots): the caller closes them first.
template <class Stack, class Pred>
size_t find_begin(const Stack& open, size_t depth, Pred is_begin) {
    const size_t lowest = depth > max_unwind ? depth - max_unwind : 0;
    for (size_t k = depth; k > lowest; --k)
        if (is_begin(open[k - 1])) return k;
    return none;
}

}  // namespace bbx::dec::pairing
