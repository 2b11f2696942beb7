// The accept loop both HTTP listeners (the receiver's webhook port and the admin port) run,
// and the co_spawn completion handler every spawned coroutine gets.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace gitopsd {

// Accepts connections on `acceptor` until it is closed (or the accept is cancelled), each
// socket on a new strand of `io`, and hands each to `on_accept`. A failed accept (EMFILE,
// ENFILE, ...) first calls `on_failure` (may be empty; the receiver sheds a connection there
// to free a descriptor), then waits as AcceptBackoff says on `retry`, a timer on the
// acceptor's strand that stop code cancels along with closing the acceptor. Failures are
// logged on `log` at most once a second.
boost::asio::awaitable<void> accept_loop(
    boost::asio::ip::tcp::acceptor& acceptor, boost::asio::steady_timer& retry,
    boost::asio::io_context& io, std::shared_ptr<spdlog::logger> log,
    std::function<void(boost::asio::ip::tcp::socket)> on_accept,
    std::function<void(const boost::system::error_code&)> on_failure = {});

// A co_spawn completion handler that logs an exception the coroutine let out (as an error
// on `log`, naming `what`), where `detached` would drop it without a word.
struct LogExceptions {
  std::shared_ptr<spdlog::logger> log;
  std::string what;
  void operator()(const std::exception_ptr& error) const;
};

}  // namespace gitopsd
