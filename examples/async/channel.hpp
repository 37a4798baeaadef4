// A bounded multi-producer multi-consumer channel for demo::task, recorded
// as a bbx resource.
//
//   demo::channel<int> ch(ex, "requests", 4);
//   bool sent = co_await ch.send(7);              // false: the channel was closed
//   std::optional<int> v = co_await ch.recv();    // nullopt: closed and drained
//   ch.close();
//
// What it records: the channel is registered once (bbx::register_resource:
// name, capacity). A send into a full channel, or a receive from an empty
// one, records wait_begin -- at the co_await in the caller's code, which the
// default location argument of send()/recv() captures -- and the task that
// later satisfies it records that waiter's wait_end before waking it. An
// operation that completes without waiting records resource_op (send or
// recv): that is how the analysis learns which tasks fill and drain which
// channel. Waiters are served first come, first served.
#pragma once

#include <bbx/coro.hpp>

#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "executor.hpp"

namespace demo {

template <class T>
class channel {
public:
    // capacity >= 1 items. Register after bbx::start() so the name is recorded.
    channel(executor& ex, const char* name, size_t capacity)
        : ex_(ex),
          cap_(capacity ? capacity : 1),
          id_(bbx::register_resource(bbx::resource_kind::channel, name, cap_)) {}
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    class send_op {
    public:
        bool await_ready() noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) { return ch_.start_send(*this, h); }
        bool await_resume() noexcept { return ok_; }

    private:
        friend class channel;
        send_op(channel& ch, T value, bbx::await_here loc) : ch_(ch), value_(std::move(value)), loc_(loc) {}
        channel& ch_;
        T value_;
        bbx::await_here loc_;
        std::coroutine_handle<> h_;
        bbx::task_id task_ = 0;
        bool ok_ = false;
    };

    class recv_op {
    public:
        bool await_ready() noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) { return ch_.start_recv(*this, h); }
        std::optional<T> await_resume() noexcept { return std::move(value_); }

    private:
        friend class channel;
        recv_op(channel& ch, bbx::await_here loc) : ch_(ch), loc_(loc) {}
        channel& ch_;
        bbx::await_here loc_;
        std::coroutine_handle<> h_;
        bbx::task_id task_ = 0;
        std::optional<T> value_;
    };

    // co_await ch.send(v): true once v is in the channel (or handed to a
    // receiver), false if the channel is closed. Suspends while it is full.
    send_op send(T value, bbx::await_here loc = bbx::await_here::current()) {
        return send_op(*this, std::move(value), loc);
    }

    // co_await ch.recv(): the next item, or nullopt once the channel is
    // closed and empty. Suspends while it is empty.
    recv_op recv(bbx::await_here loc = bbx::await_here::current()) { return recv_op(*this, loc); }

    // No more sends: waiting receivers get nullopt, waiting senders false.
    void close() {
        std::deque<send_op*> senders;
        std::deque<recv_op*> receivers;
        {
            std::lock_guard lock(mu_);
            closed_ = true;
            senders.swap(senders_);
            receivers.swap(receivers_);
            for (send_op* s : senders) bbx::wait_end(s->task_, id_, bbx::resource_op::send);
            for (recv_op* r : receivers) bbx::wait_end(r->task_, id_, bbx::resource_op::recv);
        }
        for (send_op* s : senders) wake(s->h_, s->task_);
        for (recv_op* r : receivers) wake(r->h_, r->task_);
    }

    bbx::resource_id id() const { return id_; }

private:
    // Each returns true when the caller suspends. A waiter found here is
    // taken off its list, given its result and its wait_end under the lock;
    // it is woken after the lock is released, and not touched after that
    // (it may run, and its op be freed, on another thread at once).
    bool start_send(send_op& op, std::coroutine_handle<> h) {
        std::unique_lock lock(mu_);
        if (closed_) return false;
        if (!receivers_.empty()) {  // only when the buffer is empty
            recv_op* r = receivers_.front();
            receivers_.pop_front();
            r->value_.emplace(std::move(op.value_));
            bbx::wait_end(r->task_, id_, bbx::resource_op::recv);
            bbx::resource_used(id_, bbx::resource_op::send);
            op.ok_ = true;
            auto rh = r->h_;
            auto rt = r->task_;
            lock.unlock();
            wake(rh, rt);
            return false;
        }
        if (buf_.size() < cap_) {
            buf_.push_back(std::move(op.value_));
            bbx::resource_used(id_, bbx::resource_op::send);
            op.ok_ = true;
            return false;
        }
        op.h_ = h;
        op.task_ = bbx::current_task();
        bbx::wait_begin(op.task_, id_, bbx::resource_op::send, op.loc_);
        senders_.push_back(&op);
        return true;
    }

    bool start_recv(recv_op& op, std::coroutine_handle<> h) {
        std::unique_lock lock(mu_);
        if (!buf_.empty()) {
            op.value_.emplace(std::move(buf_.front()));
            buf_.pop_front();
            bbx::resource_used(id_, bbx::resource_op::recv);
            if (!senders_.empty()) {  // room now: the first waiting sender's item goes in
                send_op* s = senders_.front();
                senders_.pop_front();
                buf_.push_back(std::move(s->value_));
                s->ok_ = true;
                bbx::wait_end(s->task_, id_, bbx::resource_op::send);
                auto sh = s->h_;
                auto st = s->task_;
                lock.unlock();
                wake(sh, st);
            }
            return false;
        }
        if (closed_) {
            bbx::resource_used(id_, bbx::resource_op::recv);
            return false;  // value_ stays empty
        }
        op.h_ = h;
        op.task_ = bbx::current_task();
        bbx::wait_begin(op.task_, id_, bbx::resource_op::recv, op.loc_);
        receivers_.push_back(&op);
        return true;
    }

    void wake(std::coroutine_handle<> h, bbx::task_id task) { ex_.schedule(h, task); }

    executor& ex_;
    size_t cap_;
    bbx::resource_id id_;
    std::mutex mu_;
    std::deque<T> buf_;
    std::deque<send_op*> senders_;
    std::deque<recv_op*> receivers_;
    bool closed_ = false;
};

}  // namespace demo
