#include "gitopsd/accept_loop.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gitopsd/accept_backoff.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {

namespace net = boost::asio;
using tcp = net::ip::tcp;

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, net::steady_timer& retry,
                                 net::io_context& io, std::shared_ptr<spdlog::logger> log,
                                 std::function<void(tcp::socket)> on_accept,
                                 std::function<void(const boost::system::error_code&)> on_failure) {
  AcceptBackoff backoff;
  for (;;) {
    boost::system::error_code ec;
    auto socket = co_await acceptor.async_accept(net::make_strand(io),
                                                 net::redirect_error(net::use_awaitable, ec));
    if (!acceptor.is_open() || ec == net::error::operation_aborted) co_return;
    if (ec) {
      if (on_failure) on_failure(ec);
      auto step = backoff.failed(AcceptBackoff::Clock::now());
      if (step.log) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(step.delay).count();
        log->warn("accept failed error=\"{}\" unlogged_failures={} retry_in_ms={}", ec.message(),
                  *step.log, ms);
      }
      retry.expires_after(step.delay);
      co_await retry.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    backoff.succeeded();
    on_accept(std::move(socket));
  }
}

void LogExceptions::operator()(const std::exception_ptr& error) const {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log->error("{} ended by an exception: {}", what, e.what());
  } catch (...) {
    log->error("{} ended by an exception of unknown type", what);
  }
}

}  // namespace gitopsd
