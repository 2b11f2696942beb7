// An HTTP/1.1 server on 127.0.0.1 (over TLS with a fresh self-signed certificate for
// "localhost", or plain) that records every request and answers through a handler, or with
// answers forced on the next requests: a Git host API's stand-in (status_api_server.hpp) or a
// sink's receiver (a Slack incoming webhook, a webhook endpoint). Linked into the unit and the
// Kafka test binaries. Thread-safe: it serves on a thread of its own, tests call in from theirs.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gitopsd::test {

struct RecordedRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names in lower case (repeats joined by ", ")
  std::string body;
  int answered = 0;  // the status answered, 0 when the connection was dropped unanswered
  std::chrono::system_clock::time_point at;  // when it was read
  // The header's value, "" when absent; `name` in lower case.
  std::string header(std::string_view name) const;
};

struct CannedAnswer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Close the connection once the request is read, without a word (a host that fails mid-way).
  bool drop = false;
  // Wait this long before answering (or dropping): longer than the client's timeout is a host
  // that does not answer in time.
  std::chrono::milliseconds delay{0};
};

class LoopbackHttpServer {
 public:
  // Answers a request that no forced answer takes; called on the server's thread.
  using Handler = std::function<CannedAnswer(const RecordedRequest&)>;

  // Listens on 127.0.0.1, port 0. Without a handler every request gets 200 "ok" (text/plain),
  // as a Slack incoming webhook answers. Throws std::runtime_error when it cannot listen.
  explicit LoopbackHttpServer(bool tls, Handler handler = {});
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const;
  // "https://localhost:PORT" + path (the certificate names localhost) or
  // "http://127.0.0.1:PORT" + path.
  std::string url(std::string_view path = "") const;
  // The PEM file of the certificate, the client's ca_file ("" without TLS). Removed with the
  // server.
  const std::string& ca_file() const;

  // The next `times` requests whose method is `method` ("" = any) get `answer` instead of the
  // handler's, in the order forced: force(429 Retry-After: 1, 2) then force(201…) is "two
  // rate-limited tries, then the third goes through".
  void force(CannedAnswer answer, int times = 1, std::string method = "POST");
  // Forced answers not yet used.
  std::size_t forced_left() const;

  // Down: the port stops listening (connects are refused) and connections in progress are
  // cut. Up again: listens on the same port. Returns once done.
  void set_down(bool down);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  // Waits until at least `count` requests were recorded; false on timeout.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  void clear_requests();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gitopsd::test
