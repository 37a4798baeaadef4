// An asynchronous Beast HTTP server as Beast's own examples write one, in
// two flavours, traced only through the two Boost.Asio definitions given on
// the command line (tests/asio_examples.mk):
//
//   beast_server callback THREADS   listener and sessions with completion
//                                   handlers on strands, THREADS threads
//                                   (as Beast's http_server_async)
//   beast_server coro THREADS       the same with C++20 coroutines
//                                   (boost::asio::awaitable, co_spawn)
//
// It listens on 127.0.0.1 at a port the system picks, prints "port N" on a
// line of its own, answers every GET with a small text body (HTTP/1.0
// requests close their connection after the reply), and exits on SIGTERM or
// SIGINT. tests/test_asio_examples.cpp drives it; recording starts before
// main() when BBX_FILE is set.
#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

http::response<http::string_body> reply_to(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "blackbox-test");
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = "hello from " + std::string(req.target()) + "\n";
    res.prepare_payload();
    return res;
}

// ---- completion handlers -------------------------------------------------------------
class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket&& socket) : stream_(std::move(socket)) {}

    void run() {
        // As Beast's example: start on the session's strand.
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::do_read, shared_from_this()));
    }

private:
    void do_read() {
        req_ = {};
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec) return;
        res_ = reply_to(req_);
        http::async_write(stream_, res_, beast::bind_front_handler(&session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return;
        if (res_.need_eof()) return do_close();
        do_read();
    }

    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
};

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::acceptor& acceptor) : ioc_(ioc), acceptor_(acceptor) {}
    void run() { do_accept(); }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }
    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec) return;  // closed: shutting down
        std::make_shared<session>(std::move(socket))->run();
        do_accept();
    }
    net::io_context& ioc_;
    tcp::acceptor& acceptor_;
};

// ---- coroutines -----------------------------------------------------------------------
net::awaitable<void> serve(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
        stream.expires_after(std::chrono::seconds(30));
        http::request<http::string_body> req;
        try {
            co_await http::async_read(stream, buffer, req, net::use_awaitable_t<>());
        } catch (const boost::system::system_error&) {
            break;  // end of stream, or closed
        }
        http::response<http::string_body> res = reply_to(req);
        co_await http::async_write(stream, res, net::use_awaitable_t<>());
        if (res.need_eof()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(net::use_awaitable_t<>());
        net::co_spawn(acceptor.get_executor(), serve(beast::tcp_stream(std::move(socket))), net::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 || (std::strcmp(argv[1], "callback") != 0 && std::strcmp(argv[1], "coro") != 0)) {
        std::fprintf(stderr, "usage: beast_server callback|coro THREADS\n");
        return 2;
    }
    const bool coro = std::strcmp(argv[1], "coro") == 0;
    const int threads = std::max(1, std::atoi(argv[2]));
    net::io_context ioc(threads);
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    std::printf("port %u\n", unsigned(acceptor.local_endpoint().port()));
    std::fflush(stdout);

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
    if (coro) net::co_spawn(ioc, accept_loop(acceptor), net::detached);
    else std::make_shared<listener>(ioc, acceptor)->run();

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}
