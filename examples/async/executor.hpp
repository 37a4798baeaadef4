// A small instrumented executor for demo::task: N threads over one run
// queue, a pool of blocking threads for work that must not run on them, and
// a timer thread.
//
//   demo::executor ex(1, 2);                        // 1 executor thread, 2 blocking threads
//   ex.spawn(BBX_TASK_SITE("gateway"), gateway());  // task_spawn + task_wake
//   ... co_await ex.offload([] { return decompress(); });  // inside a task
//   ex.wait_done(std::chrono::milliseconds(500));   // all done, or stalled
//
// What it records: every schedule is a task_wake (by the task running then,
// or 0 from the blocking and timer threads), every resume a poll_scope on
// the executor thread, and the await site where the task suspended comes
// from the task's promise (bbx::promise_tracing). Waits on the timer are
// wait_begin/wait_end on a "timer" resource. Nothing here is fast or fair:
// one mutex guards all of it.
#pragma once

#include <bbx/coro.hpp>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "task.hpp"

namespace demo {

class executor {
public:
    using clock = std::chrono::steady_clock;

    // threads: executor threads that poll tasks; blocking: threads for offload().
    explicit executor(unsigned threads, unsigned blocking = 1) {
        timer_res_ = bbx::register_resource(bbx::resource_kind::timer, "timer");
        for (unsigned i = 0; i < threads; ++i)
            threads_.emplace_back([this, i] { run_executor(("exec-" + std::to_string(i)).c_str()); });
        for (unsigned i = 0; i < blocking; ++i)
            threads_.emplace_back([this, i] { run_blocking(("blocking-" + std::to_string(i)).c_str()); });
        threads_.emplace_back([this] { run_timer(); });
    }
    ~executor() { shutdown(); }
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    // Starts `t` as a top-level task named by `site` (records task_spawn with
    // the running task as parent, then wakes it). Its frame frees itself at
    // the end.
    void spawn(bbx::task_site site, task<> t) {
        auto h = t.release();
        auto& p = h.promise();
        p.on_spawn(site);
        p.on_done = [](void* self) { static_cast<executor*>(self)->task_done(); };
        p.done_ctx = this;
        {
            std::lock_guard lock(mu_);
            ++live_;
        }
        schedule(h, p.id());
    }

    // Makes a suspended coroutine runnable: task_wake, then the run queue.
    // `h` may be a nested coroutine of task `id` (0: not a task; then no
    // poll ordering is kept for it). Thread-safe.
    void schedule(std::coroutine_handle<> h, bbx::task_id id) {
        bbx::task_wake(id);
        {
            std::lock_guard lock(mu_);
            if (auto p = polling_.find(id); id != 0 && p != polling_.end()) {
                // Woken while its poll is still unwinding on some thread (it
                // suspended, and a channel or the blocking pool was quick):
                // queued when that poll ends, so two polls never overlap.
                p->second = h;
                return;
            }
            run_.push_back({h, id});
        }
        run_cv_.notify_one();
    }

    // co_await ex.offload(fn): runs fn() on a blocking thread and resumes the
    // task with its result (an exception is rethrown in the task).
    template <class F>
    auto offload(F fn) {
        using R = std::invoke_result_t<F&>;
        struct op {
            executor& ex;
            F fn;
            std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
            std::exception_ptr error;
            bool await_ready() noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) {
                const bbx::task_id id = bbx::current_task();
                ex.push_blocking([this, h, id] {
                    {
                        BBX_SPAN(INFO, "executor", "offload", bbx::arg("task", id));
                        try {
                            if constexpr (std::is_void_v<R>) fn(), result.emplace(true);
                            else result.emplace(fn());
                        } catch (...) {
                            error = std::current_exception();
                        }
                    }
                    ex.schedule(h, id);  // the task may run (and free this op) from here on
                });
            }
            R await_resume() {
                if (error) std::rethrow_exception(error);
                if constexpr (!std::is_void_v<R>) return std::move(*result);
            }
        };
        return op{*this, std::move(fn), std::nullopt, nullptr};
    }

    // co_await ex.sleep(d): resumes the task after d, from the timer thread.
    auto sleep(clock::duration d, bbx::await_here loc = bbx::await_here::current()) {
        struct op {
            executor& ex;
            clock::time_point at;
            bbx::await_here loc;
            bool await_ready() noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) {
                const bbx::task_id id = bbx::current_task();
                bbx::wait_begin(id, ex.timer_res_, bbx::resource_op::timer, loc);
                {
                    std::lock_guard lock(ex.mu_);
                    ex.timers_.emplace(at, item{h, id});
                }
                ex.timer_cv_.notify_one();
            }
            void await_resume() noexcept {}
        };
        return op{*this, clock::now() + d, loc};
    }

    // co_await ex.yield(): back to the end of the run queue (a self-wake).
    auto yield() {
        struct op {
            executor& ex;
            bool await_ready() noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) { ex.schedule(h, bbx::current_task()); }
            void await_resume() noexcept {}
        };
        return op{*this};
    }

    // Waits until every spawned task has finished (true), or until nothing
    // has happened for `stall` while tasks are left and none can run: nothing
    // queued or running, no blocking job, no timer (false: they are stuck).
    bool wait_done(clock::duration stall) {
        std::unique_lock lock(mu_);
        for (;;) {
            if (live_ == 0) return true;
            const bool idle = run_.empty() && running_ == 0 && jobs_.empty() && jobs_running_ == 0 && timers_.empty();
            if (idle && clock::now() - last_progress_ >= stall) return false;
            done_cv_.wait_for(lock, std::chrono::milliseconds(10));
        }
    }

    // Tasks spawned and not finished.
    size_t live() {
        std::lock_guard lock(mu_);
        return live_;
    }

    // Stops and joins every thread. Queued work is dropped; tasks still
    // suspended stay so (their frames are not freed: nothing may resume them).
    void shutdown() {
        {
            std::lock_guard lock(mu_);
            if (stopping_) return;
            stopping_ = true;
        }
        run_cv_.notify_all();
        job_cv_.notify_all();
        timer_cv_.notify_all();
        for (auto& t : threads_) t.join();
        threads_.clear();
    }

private:
    struct item {
        std::coroutine_handle<> h;
        bbx::task_id id;
    };

    void task_done() {
        {
            std::lock_guard lock(mu_);
            --live_;
            last_progress_ = clock::now();
        }
        done_cv_.notify_all();
    }

    void push_blocking(std::function<void()> job) {
        {
            std::lock_guard lock(mu_);
            jobs_.push_back(std::move(job));
        }
        job_cv_.notify_one();
    }

    void run_executor(const char* name) {
        bbx::set_thread_name(name);
        std::unique_lock lock(mu_);
        for (;;) {
            run_cv_.wait(lock, [&] { return stopping_ || !run_.empty(); });
            if (stopping_) return;
            item it = run_.front();
            run_.pop_front();
            ++running_;
            if (it.id != 0) polling_.emplace(it.id, nullptr);
            lock.unlock();
            {
                bbx::poll_scope poll(it.id);
                it.h.resume();
            }
            lock.lock();
            --running_;
            if (auto p = polling_.find(it.id); it.id != 0 && p != polling_.end()) {
                if (p->second) {
                    run_.push_back({p->second, it.id});
                    run_cv_.notify_one();
                }
                polling_.erase(p);
            }
            last_progress_ = clock::now();
            done_cv_.notify_all();
        }
    }

    void run_blocking(const char* name) {
        bbx::set_thread_name(name);
        std::unique_lock lock(mu_);
        for (;;) {
            job_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            std::function<void()> job = std::move(jobs_.front());
            jobs_.pop_front();
            ++jobs_running_;
            lock.unlock();
            job();
            lock.lock();
            --jobs_running_;
            last_progress_ = clock::now();
            done_cv_.notify_all();
        }
    }

    void run_timer() {
        bbx::set_thread_name("timer");
        std::unique_lock lock(mu_);
        for (;;) {
            if (stopping_) return;
            if (timers_.empty()) {
                timer_cv_.wait(lock);
                continue;
            }
            auto first = timers_.begin();
            if (first->first > clock::now()) {
                timer_cv_.wait_until(lock, first->first);
                continue;
            }
            item it = first->second;
            timers_.erase(first);
            last_progress_ = clock::now();
            lock.unlock();
            bbx::wait_end(it.id, timer_res_, bbx::resource_op::timer);
            schedule(it.h, it.id);
            lock.lock();
        }
    }

    std::mutex mu_;
    std::condition_variable run_cv_, job_cv_, timer_cv_, done_cv_;
    std::deque<item> run_;
    std::deque<std::function<void()>> jobs_;
    std::multimap<clock::time_point, item> timers_;
    // Tasks in a poll now -> the handle of a wake deferred to the poll's end.
    std::unordered_map<bbx::task_id, std::coroutine_handle<>> polling_;
    size_t live_ = 0, running_ = 0, jobs_running_ = 0;
    clock::time_point last_progress_ = clock::now();
    bool stopping_ = false;
    bbx::resource_id timer_res_ = 0;
    std::vector<std::thread> threads_;
};

}  // namespace demo
