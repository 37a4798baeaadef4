// Built by tests/gating.sh: Asio's DEBUG and TRACE diagnostics (bbx/asio_tracking.hpp's
// "start:", "op:" and "io:" instants, whose call sites are made at run time)
// must leave no code, no table of names and no string with BBX_LEVEL_MAX=INFO,
// and be there at the default level (so that the check can fail). The hooks
// are called as Asio's handler tracking macros call them.
#include <bbx/asio_tracking.hpp>

namespace {
struct context {};
struct error_code {
    int value() const { return 11; }
};
}  // namespace

void hooks(bbx::detail::asio_hooks::tracked_handler& h, int fd) {
    namespace a = bbx::detail::asio_hooks;
    context ctx;
    a::creation(ctx, h, "socket", &h, fd, "async_receive");
    a::operation(ctx, "socket", &h, fd, "close");
    a::reactor_operation(h, "non_blocking_recv", error_code{}, 5);
}
