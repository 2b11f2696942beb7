#include "gitopsd/admin_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <stdexcept>

#include "gitopsd/accept_loop.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

tcp::endpoint resolve_listen_address(const ListenAddress& address) {
  boost::system::error_code ec;
  auto ip = net::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  net::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(address.host, std::to_string(address.port));
  if (results.empty()) throw std::runtime_error("cannot resolve " + address.to_string());
  return *results.begin();
}

struct AdminServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io_context, Metrics& m, std::function<bool()> r)
      : io(io_context),
        acceptor(net::make_strand(io_context)),
        accept_retry(acceptor.get_executor()),
        metrics(m),
        ready(std::move(r)),
        log(logger("admin")) {}

  net::io_context& io;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;  // AcceptBackoff's wait; on the acceptor's strand
  Metrics& metrics;
  std::function<bool()> ready;
  std::shared_ptr<spdlog::logger> log;

  http::response<http::string_body> answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    auto path = req.target().substr(0, req.target().find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.body() = "method not allowed\n";
    } else if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      bool is_ready = ready();
      res.result(is_ready ? http::status::ok : http::status::service_unavailable);
      res.body() = is_ready ? "ready\n" : "not ready: kafka unreachable\n";
    } else if (path == "/metrics") {
      // Readiness as a gauge too, so an alert can tell "up but not ready" from "down".
      metrics.gauge("gitopsd_ready", "1 while Kafka is reachable (as /readyz), else 0")
          .set(ready() ? 1 : 0);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics.render();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  net::awaitable<void> serve(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(10));
    co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    auto res = answer(req);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // Runs on the acceptor's strand; `self` lives as long as the loop.
  void start() {
    net::co_spawn(acceptor.get_executor(),
                  accept_loop(acceptor, accept_retry, io, log,
                              [self = shared_from_this()](tcp::socket socket) {
                                auto executor = socket.get_executor();
                                net::co_spawn(executor, self->serve(beast::tcp_stream(std::move(socket))),
                                              LogExceptions{self->log, "admin connection"});
                              }),
                  LogExceptions{log, "admin accept loop"});
  }
};

void listen_on(tcp::acceptor& acceptor, const ListenAddress& address, int backlog) {
  try {
    auto endpoint = resolve_listen_address(address);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(backlog);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + address.to_string() + ": " + e.code().message());
  }
}

AdminServer::AdminServer(net::io_context& io, const ListenAddress& address, Metrics& metrics,
                         std::function<bool()> ready)
    : impl_(std::make_shared<Impl>(io, metrics, std::move(ready))) {
  listen_on(impl_->acceptor, address);
  impl_->start();
}

AdminServer::~AdminServer() = default;

ListenAddress AdminServer::local_address() const {
  auto ep = impl_->acceptor.local_endpoint();
  return {ep.address().to_string(), ep.port()};
}

void AdminServer::stop() {
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
  });
}

}  // namespace gitopsd
