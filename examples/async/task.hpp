// A minimal lazy coroutine task, instrumented with bbx::promise_tracing.
//
//   demo::task<int> answer() { co_return 42; }
//   demo::task<> caller() { int v = co_await answer(); ... }
//
// A task does nothing until it is co_awaited (it then runs as part of the
// awaiting task, which it resumes by symmetric transfer when it finishes) or
// handed to an executor (executor.hpp), which makes it a top-level task that
// frees its own frame when it ends. Every co_await in a task's body is
// recorded with its source line when the task suspends there.
#pragma once

#include <bbx/coro.hpp>

#include <coroutine>
#include <cstdio>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace demo {

template <class T = void>
class task;

namespace detail {

struct promise_base : bbx::promise_tracing {
    std::coroutine_handle<> continuation;  // the coroutine that co_awaits this one
    std::exception_ptr error;
    // A top-level task: called after the frame is freed at the end (the executor counts live tasks).
    void (*on_done)(void* ctx) = nullptr;
    void* done_ctx = nullptr;

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            promise_base& p = h.promise();
            p.on_final_suspend();  // task_complete, for a top-level task
            if (p.continuation) return p.continuation;
            if (p.on_done) {
                if (p.error) {
                    std::fputs("demo::task: a spawned task ended with an exception\n", stderr);
                    std::terminate();
                }
                auto done = p.on_done;
                void* ctx = p.done_ctx;
                h.destroy();
                done(ctx);
            }
            return std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct promise : promise_base {
    std::optional<T> value;
    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
};

template <>
struct promise<void> : promise_base {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
public:
    using promise_type = detail::promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~task() {
        if (h_) h_.destroy();
    }

    // co_await a task: it runs now, as part of the awaiting task (same task id).
    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type h;
            bool await_ready() noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
                h.promise().continuation = parent;
                h.promise().adopt_task(bbx::current_task());
                return h;  // symmetric transfer: no stack growth
            }
            T await_resume() {
                promise_type& p = h.promise();
                if (p.error) std::rethrow_exception(p.error);
                if constexpr (!std::is_void_v<T>) return std::move(*p.value);
            }
        };
        return awaiter{h_};
    }

    // Gives up ownership of the coroutine (for an executor).
    handle_type release() noexcept { return std::exchange(h_, {}); }

private:
    friend struct detail::promise<T>;
    explicit task(handle_type h) noexcept : h_(h) {}
    handle_type h_;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
    return task<T>(task<T>::handle_type::from_promise(*this));
}
inline task<void> promise<void>::get_return_object() noexcept {
    return task<void>(task<void>::handle_type::from_promise(*this));
}
}  // namespace detail

}  // namespace demo
