#include "gitopsd/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <optional>

namespace gitopsd {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

struct Origin {
  bool https = false;
  std::string host;  // a name or an address, without the brackets of an IPv6 literal
  std::string port;
  std::string host_header;
  std::string target;  // path and query
};

std::variant<Origin, std::string> parse_url(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return "not a URL: " + url;
  Origin o;
  o.https = parsed->scheme() == "https";
  if (!o.https && parsed->scheme() != "http") return "only http:// and https:// URLs: " + url;
  o.host = parsed->host_address();
  if (o.host.empty()) return "no host in " + url;
  o.port = parsed->has_port() ? std::string(parsed->port()) : (o.https ? "443" : "80");
  o.host_header = parsed->encoded_host_and_port();
  o.target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) o.target += "?" + std::string(parsed->encoded_query());
  return o;
}

// The completion token that hands an operation's error to `ec` instead of throwing it.
auto as_error(boost::system::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

// Why an operation failed, in words; Beast's timeout says which deadline it was.
std::string failure(const std::string& step, const boost::system::error_code& ec,
                    std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout)
    return step + ": no answer within the timeout of " + std::to_string(timeout.count()) + " ms";
  return step + ": " + ec.message();
}

// One connection and the io_context that drives it, shared by http_request and HttpConnection.
struct Connection {
  Origin origin;
  net::io_context io;
  ssl::context tls{ssl::context::tls_client};
  // Plain http uses the TCP stream under the TLS layer and never touches the TLS layer.
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  bool open = false;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(*stream); }
  std::string where() const { return origin.host_header; }

  // Runs `op` until it finishes; the TCP stream's expiry ends every step but the name lookup
  // by the deadline, and the lookup gets one second more before it is abandoned.
  std::optional<std::string> run(net::awaitable<std::optional<std::string>> op,
                                 Clock::time_point deadline, std::chrono::milliseconds timeout) {
    std::optional<std::string> error = "no answer within the timeout of " +
                                       std::to_string(timeout.count()) + " ms from " + where();
    net::co_spawn(io, std::move(op), [&](std::exception_ptr thrown, std::optional<std::string> e) {
      error = e;
      if (thrown) {
        try {
          std::rethrow_exception(thrown);
        } catch (const std::exception& x) {
          error = std::string(x.what());
        }
      }
    });
    io.restart();
    io.run_until(deadline + std::chrono::seconds(1));
    // A process starved of CPU past that point still has the stream's expired timer to run,
    // which ends the step with its own "no answer" error: run what is ready, then give up.
    io.poll();
    if (error) close();
    return error;
  }

  net::awaitable<std::optional<std::string>> connect(std::chrono::milliseconds timeout) {
    boost::system::error_code ec;
    net::ip::tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(origin.host, origin.port, as_error(ec));
    if (ec) co_return "resolve " + origin.host + ": " + ec.message();
    co_await tcp().async_connect(endpoints, as_error(ec));
    if (ec) co_return failure("connect to " + where(), ec, timeout);
    if (origin.https) {
      co_await stream->async_handshake(ssl::stream_base::client, as_error(ec));
      if (ec) co_return failure("TLS handshake with " + where(), ec, timeout);
    }
    co_return std::nullopt;
  }

  net::awaitable<std::optional<std::string>> exchange(const HttpRequest& request, bool keep_alive,
                                                      HttpResponse& out) {
    // A request on a kept connection may name just the path.
    std::string target = request.url;
    if (!target.starts_with("/")) {
      auto parsed = parse_url(request.url);
      if (auto* error = std::get_if<std::string>(&parsed)) co_return *error;
      target = std::get<Origin>(parsed).target;
    }
    http::request<http::string_body> req{http::string_to_verb(request.method), target, 11};
    req.set(http::field::host, origin.host_header);
    for (const auto& [name, value] : request.headers) req.set(name, value);
    req.body() = request.body;
    req.keep_alive(keep_alive);
    req.prepare_payload();
    boost::system::error_code ec;
    if (origin.https) co_await http::async_write(*stream, req, as_error(ec));
    else co_await http::async_write(tcp(), req, as_error(ec));
    if (ec) co_return failure("send to " + where(), ec, request.timeout);
    // One response per request, so nothing is left over for the next one on this connection.
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (origin.https) co_await http::async_read(*stream, buffer, parser, as_error(ec));
    else co_await http::async_read(tcp(), buffer, parser, as_error(ec));
    if (ec) co_return failure("read the answer from " + where(), ec, request.timeout);
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
    if (!res.keep_alive()) close();
    co_return std::nullopt;
  }

  void close() {
    open = false;
    boost::system::error_code ignored;
    tcp().socket().close(ignored);
  }

  // Sets up verification and connects by `deadline`.
  std::optional<std::string> open_by(Clock::time_point deadline, std::chrono::milliseconds timeout,
                                     const std::string& ca_file) {
    boost::system::error_code ec;
    if (origin.https) {
      if (ca_file.empty()) tls.set_default_verify_paths(ec);
      else tls.load_verify_file(ca_file, ec);
      if (ec)
        return "CA certificates " + (ca_file.empty() ? "of the system" : ca_file) + ": " +
               ec.message();
      tls.set_verify_mode(ssl::verify_peer);
    }
    stream.emplace(io, tls);
    if (origin.https && !verify_names(*stream)) return "cannot set up TLS for " + origin.host;
    tcp().expires_at(deadline);
    auto error = run(connect(timeout), deadline, timeout);
    open = !error;
    return error;
  }

  // SNI, and the name (or address) the certificate must hold.
  bool verify_names(beast::ssl_stream<beast::tcp_stream>& s) const {
    boost::system::error_code not_an_address;
    net::ip::make_address(origin.host, not_an_address);
    if (!not_an_address)
      return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.native_handle()),
                                           origin.host.c_str()) == 1;
    // The macro form of SSL_set_tlsext_host_name casts old-style.
    return SSL_ctrl(s.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                    const_cast<char*>(origin.host.c_str())) == 1 &&
           SSL_set1_host(s.native_handle(), origin.host.c_str()) == 1;
  }

  std::variant<HttpResponse, std::string> request_by(const HttpRequest& request, bool keep_alive,
                                                     Clock::time_point deadline) {
    if (!open) return "the connection to " + where() + " is closed";
    tcp().expires_at(deadline);
    HttpResponse out;
    if (auto error = run(exchange(request, keep_alive, out), deadline, request.timeout))
      return *error;
    return out;
  }
};

}  // namespace

struct HttpConnection::Impl : Connection {};

HttpConnection::HttpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpConnection::~HttpConnection() = default;

std::variant<std::unique_ptr<HttpConnection>, std::string> HttpConnection::open(
    const std::string& url, std::chrono::milliseconds timeout, const std::string& ca_file) {
  auto origin = parse_url(url);
  if (auto* error = std::get_if<std::string>(&origin)) return *error;
  auto impl = std::make_unique<Impl>();
  impl->origin = std::get<Origin>(std::move(origin));
  if (auto error = impl->open_by(Clock::now() + timeout, timeout, ca_file)) return *error;
  return std::unique_ptr<HttpConnection>(new HttpConnection(std::move(impl)));
}

std::variant<HttpResponse, std::string> HttpConnection::request(const HttpRequest& request) {
  return impl_->request_by(request, /*keep_alive=*/true, Clock::now() + request.timeout);
}

std::variant<HttpResponse, std::string> http_request(const HttpRequest& request) {
  const auto deadline = Clock::now() + request.timeout;
  auto origin = parse_url(request.url);
  if (auto* error = std::get_if<std::string>(&origin)) return *error;
  Connection connection;
  connection.origin = std::get<Origin>(std::move(origin));
  if (auto error = connection.open_by(deadline, request.timeout, request.ca_file)) return *error;
  return connection.request_by(request, /*keep_alive=*/false, deadline);
}

}  // namespace gitopsd
