#include "loopback_http_server.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "self_signed.hpp"

namespace gitopsd::test {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
}  // namespace

std::string RecordedRequest::header(std::string_view name) const {
  const auto it = headers.find(std::string(name));
  return it == headers.end() ? "" : it->second;
}

// Coroutines hold a plain pointer to it: the destructor stops the thread before the io_context
// (declared first, so destroyed last) destroys the frames still suspended.
struct LoopbackHttpServer::Impl {
  struct Forced {
    CannedAnswer answer;
    std::string method;
  };

  net::io_context io;
  // Keeps io.run() going while down (no accept pending), until the destructor stops it.
  net::executor_work_guard<net::io_context::executor_type> keep_running{io.get_executor()};
  ssl::context tls{ssl::context::tls_server};
  bool use_tls = false;
  tcp::acceptor acceptor{io};
  std::uint16_t port = 0;
  Handler handler;
  std::string ca_file;

  mutable std::mutex mutex;
  mutable std::condition_variable recorded;
  std::vector<RecordedRequest> requests;
  std::deque<Forced> forced;
  bool down = false;

  std::jthread thread;

  void listen(std::uint16_t on_port) {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), on_port);
    acceptor.open(endpoint.protocol());
    // Asio opens sockets without close-on-exec: a process the test spawns would inherit the
    // listener, keep the port open while the server is "down", and hold it against set_down.
    ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    net::co_spawn(io, accept_loop(), net::detached);
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) co_return;  // closed: down, or the server ends
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      net::co_spawn(io, session(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> session(tcp::socket socket) {
    if (!use_tls) {
      co_await serve(socket);
      co_return;
    }
    beast::ssl_stream<tcp::socket> stream(std::move(socket), tls);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (!ec) co_await serve(stream);
  }

  // The forced answer for `request`, else the handler's.
  CannedAnswer answer_for(const RecordedRequest& request) {
    {
      std::lock_guard lock(mutex);
      const auto it = std::find_if(forced.begin(), forced.end(), [&](const Forced& f) {
        return f.method.empty() || f.method == request.method;
      });
      if (it != forced.end()) {
        CannedAnswer answer = it->answer;
        forced.erase(it);
        return answer;
      }
    }
    if (handler) return handler(request);
    return CannedAnswer{200, {{"Content-Type", "text/plain"}}, "ok", false, {}};
  }

  template <class Stream>
  net::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(16 << 20);
      auto [read_error, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (read_error) co_return;
      const auto& req = parser.get();
      RecordedRequest record;
      record.method = std::string(req.method_string());
      record.target = std::string(req.target());
      record.body = req.body();
      record.at = std::chrono::system_clock::now();
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto [it, fresh] = record.headers.emplace(name, std::string(field.value()));
        if (!fresh) it->second += ", " + std::string(field.value());
      }
      const CannedAnswer answer = answer_for(record);
      record.answered = answer.drop ? 0 : answer.status;
      {
        std::lock_guard lock(mutex);
        requests.push_back(record);
        recorded.notify_all();
      }
      if (answer.delay.count() > 0) {
        net::steady_timer timer(co_await net::this_coro::executor, answer.delay);
        co_await timer.async_wait(kTuple);
      }
      {
        std::lock_guard lock(mutex);
        if (answer.drop || down) co_return;
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      for (const auto& [name, value] : answer.headers) res.set(name, value);
      res.body() = answer.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [write_error, written] = co_await http::async_write(stream, res, kTuple);
      if (write_error || !res.keep_alive()) co_return;
    }
  }

  // Runs `work` on the server's thread and waits for it.
  template <class Work>
  void run_on_server(Work work) {
    std::promise<void> done;
    net::post(io, [&] {
      work();
      done.set_value();
    });
    done.get_future().wait();
  }
};

LoopbackHttpServer::LoopbackHttpServer(bool tls, Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->use_tls = tls;
  impl_->handler = std::move(handler);
  if (tls) {
    const SelfSigned certificate = make_self_signed();
    impl_->tls.use_certificate_chain(net::buffer(certificate.certificate));
    impl_->tls.use_private_key(net::buffer(certificate.private_key), ssl::context::pem);
    std::string path = "/tmp/gitopsd-test-ca-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) throw std::runtime_error("cannot create a CA file under /tmp");
    const bool written = ::write(fd, certificate.certificate.data(), certificate.certificate.size()) ==
                         static_cast<ssize_t>(certificate.certificate.size());
    ::close(fd);
    if (!written) throw std::runtime_error("cannot write the CA file " + path);
    impl_->ca_file = path;
  }
  impl_->listen(0);
  impl_->thread = std::jthread([impl = impl_.get()] { impl->io.run(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  impl_->run_on_server([impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  impl_->thread.join();
  if (!impl_->ca_file.empty()) ::unlink(impl_->ca_file.c_str());
}

int LoopbackHttpServer::port() const { return impl_->port; }

std::string LoopbackHttpServer::url(std::string_view path) const {
  return (impl_->use_tls ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port()) +
         std::string(path);
}

const std::string& LoopbackHttpServer::ca_file() const { return impl_->ca_file; }

void LoopbackHttpServer::force(CannedAnswer answer, int times, std::string method) {
  std::lock_guard lock(impl_->mutex);
  for (int i = 0; i < times; ++i) impl_->forced.push_back({answer, method});
}

std::size_t LoopbackHttpServer::forced_left() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->forced.size();
}

void LoopbackHttpServer::set_down(bool down) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->down == down) return;
    impl_->down = down;
  }
  impl_->run_on_server([impl = impl_.get(), down] {
    if (down) {
      boost::system::error_code ignored;
      impl->acceptor.close(ignored);
    } else {
      impl->listen(impl->port);
    }
  });
}

std::vector<RecordedRequest> LoopbackHttpServer::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

std::size_t LoopbackHttpServer::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests.size();
}

bool LoopbackHttpServer::wait_for_requests(std::size_t count,
                                           std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->recorded.wait_for(lock, timeout, [&] { return impl_->requests.size() >= count; });
}

void LoopbackHttpServer::clear_requests() {
  std::lock_guard lock(impl_->mutex);
  impl_->requests.clear();
}

}  // namespace gitopsd::test
