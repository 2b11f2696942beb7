// gitopsd's HTTP client against real sockets on loopback: its one deadline holds against a
// peer that never answers and one that never accepts, and TLS is verified.
#include "gitopsd/http_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "self_signed.hpp"
#include "silent_peers.hpp"

namespace gitopsd {
namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// An HTTP server on 127.0.0.1 (over TLS when given a certificate) answering every request
// with 200 and "hello", one connection at a time, on a thread of its own.
class HelloServer {
 public:
  explicit HelloServer(const std::optional<SelfSigned>& certificate = std::nullopt)
      : tls_(ssl::context::tls_server), acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    if (certificate) {
      tls_.use_certificate_chain(net::buffer(certificate->certificate));
      tls_.use_private_key(net::buffer(certificate->private_key), ssl::context::pem);
    }
    thread_ = std::jthread([this, with_tls = certificate.has_value()] { serve(with_tls); });
  }
  ~HelloServer() {
    stopping_ = true;
    test::PendingConnect wake(port());  // ends the accept the thread waits in
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }

 private:
  void serve(bool with_tls) {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      if (with_tls) {
        beast::ssl_stream<tcp::socket> stream(std::move(socket), tls_);
        stream.handshake(ssl::stream_base::server, ec);
        if (!ec) answer(stream);
      } else {
        answer(socket);
      }
    }
  }

  template <class Stream>
  static void answer(Stream& stream) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    http::response<http::string_body> response{http::status::ok, 11};
    response.set("X-Served-Path", request.target());
    response.body() = "hello";
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, ec);
  }

  net::io_context io_;
  ssl::context tls_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::jthread thread_;
};

std::string url(const std::string& scheme, const std::string& host, int port) {
  return scheme + "://" + host + ":" + std::to_string(port) + "/hooks?x=1";
}

HttpRequest get(const std::string& url, std::chrono::milliseconds timeout,
                const std::string& ca_file = "") {
  return {.method = "GET", .url = url, .headers = {}, .body = "", .timeout = timeout,
          .ca_file = ca_file};
}

// The request's error, and how long it took to say it.
std::pair<std::string, std::chrono::milliseconds> failure_of(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  auto answer = http_request(request);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (auto* response = std::get_if<HttpResponse>(&answer)) {
    ADD_FAILURE() << "answered " << response->status << " " << response->body;
    return {"", took};
  }
  return {std::get<std::string>(answer), took};
}

TEST(HttpClientTest, AnswersStatusHeadersAndBody) {
  HelloServer server;
  auto answer = http_request({.method = "POST", .url = url("http", "127.0.0.1", server.port()),
                              .headers = {}, .body = "ping", .timeout = 5s, .ca_file = ""});
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(answer)) << std::get<std::string>(answer);
  const auto& response = std::get<HttpResponse>(answer);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello");
  EXPECT_EQ(response.headers.at("x-served-path"), "/hooks?x=1");
}

// `request` (timeout 500 ms) fails in `step` ("connect to 127.0.0.1:PORT") because its
// deadline passed: not before, and not much after.
void expect_timed_out(const HttpRequest& request, const std::string& step) {
  const auto [error, took] = failure_of(request);
  EXPECT_NE(error.find(step + ": no answer within the timeout of 500 ms"), std::string::npos)
      << error;
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 10s);  // a loaded sanitizer run can stall a process for seconds
}

TEST(HttpClientTest, PeerThatAcceptsButNeverAnswersTimesOut) {
  test::SilentListener silent;
  auto request = get(url("http", "127.0.0.1", silent.port()), 500ms);
  request.method = "POST";
  request.body = "ping";
  expect_timed_out(request, "read the answer from 127.0.0.1:" + std::to_string(silent.port()));
}

TEST(HttpClientTest, PeerThatNeverAcceptsTimesOutInTheConnect) {
  test::ListenerNotAcceptingConnects full;
  expect_timed_out(get(url("http", "127.0.0.1", full.port()), 500ms),
                   "connect to 127.0.0.1:" + std::to_string(full.port()));
}

TEST(HttpClientTest, TlsPeerThatNeverAnswersTheHandshakeTimesOut) {
  test::SilentListener silent;
  // A CA file of one certificate: loading the system's whole store counts against the 500 ms
  // too, and takes seconds on a loaded sanitizer run.
  const auto ca_file = std::filesystem::temp_directory_path().string() + "/gitopsd-http-client-silent-" +
                       std::to_string(::getpid()) + ".pem";
  std::ofstream(ca_file) << make_self_signed().certificate;
  expect_timed_out(get(url("https", "localhost", silent.port()), 500ms, ca_file),
                   "TLS handshake with localhost:" + std::to_string(silent.port()));
  std::filesystem::remove(ca_file);
}

TEST(HttpClientTest, RefusedConnectionFailsAtOnce) {
  int port = 0;
  {
    test::SilentListener gone;  // its port, once it is closed: nothing listens there
    port = gone.port();
  }
  auto [error, took] = failure_of(get(url("http", "127.0.0.1", port), 10s));
  EXPECT_NE(error.find("connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused"),
            std::string::npos)
      << error;
  EXPECT_LT(took, 3s);
}

TEST(HttpClientTest, SelfSignedCertificateIsRefusedUnlessItIsTheGivenCa) {
  const SelfSigned certificate = make_self_signed();  // CN=localhost
  HelloServer server(certificate);
  const auto dir = std::filesystem::temp_directory_path().string();
  const auto ca_file = dir + "/gitopsd-http-client-ca-" + std::to_string(::getpid()) + ".pem";
  std::ofstream(ca_file) << certificate.certificate;

  // The system's CAs do not know it.
  const auto untrusted = failure_of(get(url("https", "localhost", server.port()), 20s)).first;
  EXPECT_NE(untrusted.find("TLS handshake with localhost:" + std::to_string(server.port()) +
                           ": certificate verify failed"),
            std::string::npos)
      << untrusted;

  // Trusted as the CA, it serves the name it holds…
  auto answer = http_request(get(url("https", "localhost", server.port()), 20s, ca_file));
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(answer)) << std::get<std::string>(answer);
  EXPECT_EQ(std::get<HttpResponse>(answer).body, "hello");

  // …and no other: the host is verified too.
  const auto wrong_name =
      failure_of(get(url("https", "127.0.0.1", server.port()), 20s, ca_file)).first;
  EXPECT_NE(wrong_name.find("certificate verify failed"), std::string::npos) << wrong_name;

  // A CA file that cannot be read is an error of its own.
  const auto no_ca =
      failure_of(get(url("https", "localhost", server.port()), 5s, ca_file + ".missing")).first;
  EXPECT_NE(no_ca.find("CA certificates " + ca_file + ".missing: "), std::string::npos) << no_ca;
  std::filesystem::remove(ca_file);
}

TEST(HttpClientTest, NotAnHttpUrlIsAnError) {
  EXPECT_EQ(failure_of(get("ftp://example.com/x", 1s)).first,
            "only http:// and https:// URLs: ftp://example.com/x");
  EXPECT_EQ(failure_of(get("not a url", 1s)).first,
            "not a URL: not a url");
}

}  // namespace
}  // namespace gitopsd
