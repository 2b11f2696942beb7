// An HTTP/1.1 client whose timeout holds: one deadline covers the connect, the TLS handshake,
// sending the request and reading the answer. Beast's blocking calls ignore `expires_after`,
// so this runs Beast's asynchronous operations until the answer or the deadline, whichever
// comes first. For gitopsctl, the tests, and the outbound clients (notifier, registries).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gitopsd {

struct HttpRequest {
  std::string method = "GET";
  // http://host[:port][/path][?query] or https://…; the host may be a name or an IP address.
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Host and Content-Length are set
  std::string body;
  // For the whole exchange, from the connect to the last byte of the answer.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // https: the PEM file of the CAs to trust; empty trusts the system's CAs. The certificate
  // must name the URL's host either way.
  std::string ca_file;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// One request on a new connection (Connection: close). The answer, or what went wrong in
// words ("connect to 127.0.0.1:8080: Connection refused", "no answer within 2000 ms").
std::variant<HttpResponse, std::string> http_request(const HttpRequest& request);

// One connection kept open across requests, as a Git host's webhook sender keeps it. Each
// request has its own deadline (HttpRequest::timeout); its URL is a path ("/metrics") or a
// URL of the connection's origin (only its path and query are used).
class HttpConnection {
 public:
  // Connects (and for https, shakes hands) within `timeout`.
  static std::variant<std::unique_ptr<HttpConnection>, std::string> open(
      const std::string& url, std::chrono::milliseconds timeout, const std::string& ca_file = "");
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Once a request fails, or the server answered `Connection: close`, the connection is
  // closed and every later request fails.
  std::variant<HttpResponse, std::string> request(const HttpRequest& request);

 private:
  struct Impl;
  explicit HttpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd
