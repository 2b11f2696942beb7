// The receiver's connection handling under hostile clients, end to end: the real binary
// (under a real descriptor limit where it matters), raw sockets, the real Kafka broker.
// Idle sockets, max_connections, accept errors, request framing and the head deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "harness.hpp"
#include "payloads.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

constexpr const char* kGithubSecret = "gh-secret-for-tests";
const std::vector<std::string> kDescriptorLimit1024{"/usr/bin/prlimit", "--nofile=1024:1024", "--"};

// Sockets held open by the test, connected in order; closed by the destructor.
struct HeldSockets {
  HeldSockets(int port, int count) {
    for (int i = 0; i < count; ++i) {
      int fd = connect_loopback(port);
      if (fd < 0) throw std::runtime_error("connect " + std::to_string(i) + " failed");
      fds.push_back(fd);
    }
  }
  ~HeldSockets() { close_all(); }
  void close_all() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
  std::vector<int> fds;
};

// True when the peer has closed `fd` (EOF or reset) by now; nothing is sent on it.
bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char b;
  return ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

// Waits until the peer has closed fds[begin, end).
bool all_closed_by_peer(const std::vector<int>& fds, std::size_t begin, std::size_t end) {
  return wait_until([&] {
    for (std::size_t i = begin; i < end; ++i)
      if (!closed_by_peer(fds[i])) return false;
    return true;
  }, 5s);
}

std::size_t open_descriptors(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator fds("/proc/" + std::to_string(pid) + "/fd", ec);
  return ec ? 0 : static_cast<std::size_t>(std::distance(fds, {}));
}

// Holding 1,100 sockets needs more than the usual soft limit of 1024 in this process.
void raise_own_descriptor_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

class ConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setup_ = fresh_receiver_setup(kafka_bootstrap());
    setup_.extra_receiver_yaml = "  publish_timeout: 10s\n";
    dir_.write("github.secret", kGithubSecret);
    setup_.repositories_yaml = github_infra_yaml(dir_.path() + "/github.secret");
  }

  void start(const std::vector<std::string>& launcher = {}) {
    receiver_ = start_receiver(dir_, setup_, launcher);
  }

  // A genuine signed push on a new connection.
  HttpResponse send_webhook(std::chrono::milliseconds timeout = 30s) {
    auto d = github_delivery("push", github_push("acme/infra", "main", kShaA, kShaB), kGithubSecret,
                             unique_name("delivery"));
    std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
    return http_request(setup_.port, "POST", d.path, headers, d.body, timeout);
  }

  // The raw bytes of that push, with `framing` (e.g. "Content-Length: N\r\n") in the head.
  std::string raw_webhook(const std::string& framing, const std::string& body_bytes,
                          const std::string& body) {
    auto d = github_delivery("push", body, kGithubSecret, unique_name("delivery"));
    std::string request = "POST " + d.path + " HTTP/1.1\r\nHost: x\r\n";
    for (const auto& [name, value] : d.headers) request += name + ": " + value + "\r\n";
    return request + framing + "\r\n" + body_bytes;
  }

  // One series from /metrics, -1 when absent or when the admin endpoint does not answer.
  double metric(const std::string& series) {
    try {
      auto page = http_request(setup_.admin_port, "GET", "/metrics", {}, "", 5s).body;
      return metric_value(page, series);
    } catch (const std::exception&) {
      return -1;
    }
  }

  // The admin endpoint's answer to a GET of `path`, 0 when it does not answer.
  int admin_status(const std::string& path) {
    try {
      return http_request(setup_.admin_port, "GET", path, {}, "", 2s).status;
    } catch (const std::exception&) {
      return 0;
    }
  }

  // Waits until Kafka is reachable and one webhook went through, so the producer holds its
  // broker connections before the descriptors run out (as in a receiver that has been up).
  void warm_up() {
    ASSERT_TRUE(wait_until([&] { return admin_status("/readyz") == 200; }, 20s));
    ASSERT_EQ(send_webhook().status, 202);
  }

  TempDir dir_;
  ReceiverSetup setup_;
  std::unique_ptr<Process> receiver_;
};

const std::string kOpenConnections = "gitopsd_receiver_connections";
const std::string kShedAtMax =
    "gitopsd_receiver_connections_shed_total{reason=\"max_connections\"}";
const std::string kShedNoFd = "gitopsd_receiver_connections_shed_total{reason=\"fd_exhausted\"}";

// ---- item 1: descriptors and connections ----------------------------------------------------

TEST_F(ConnectionsTest, OutOfDescriptorsShedsIdleConnectionsSoAWebhookGetsThrough) {
  raise_own_descriptor_limit();
  setup_.extra_receiver_yaml += "  header_timeout: 60s\n";  // idle sockets are shed, not timed out
  start(kDescriptorLimit1024);
  warm_up();
  auto log_before = receiver_->log().size();
  double cpu_before = receiver_->cpu_seconds();

  HeldSockets attacker(setup_.port, 1100);  // more than the receiver's 1024 descriptors
  auto started = Clock::now();
  auto answer = send_webhook(20s);
  auto took = Clock::now() - started;
  EXPECT_EQ(answer.status, 202) << answer.body;
  EXPECT_LT(took, 5s);
  // An observation window, not a wait for a condition: a receiver spinning on accept
  // would burn a core and write its log all along.
  std::this_thread::sleep_for(3s);
  double cpu = receiver_->cpu_seconds() - cpu_before;
  auto log_growth = receiver_->log().size() - log_before;
  EXPECT_LT(cpu, 1.0) << "CPU seconds while holding 1,100 idle connections";
  EXPECT_LT(log_growth, 100u * 1024) << receiver_->log().substr(log_before, 2000);

  // The idle sockets that were shed to make room are counted (read once the attacker
  // leaves, as the admin endpoint has no descriptor to spare before).
  attacker.close_all();
  EXPECT_TRUE(wait_until([&] { return metric(kShedNoFd) > 0; }, 20s)) << metric(kShedNoFd);
  EXPECT_TRUE(wait_until([&] { return metric(kOpenConnections) == 0; }, 20s));
  receiver_->signal(SIGTERM);  // and it stops cleanly (under ASan: no leak, no error)
  EXPECT_EQ(receiver_->wait(15s), std::optional<int>(0)) << receiver_->log();
}

TEST_F(ConnectionsTest, AdminEndpointOutOfDescriptorsBacksOff) {
  raise_own_descriptor_limit();
  start(kDescriptorLimit1024);
  warm_up();
  auto log_before = receiver_->log().size();
  HeldSockets attacker(setup_.admin_port, 1100);
  // Once the accepts have used up the descriptors, watch the steady state: nothing may spin.
  ASSERT_TRUE(wait_until([&] { return open_descriptors(receiver_->pid()) >= 1020; }, 10s))
      << open_descriptors(receiver_->pid());
  double cpu_before = receiver_->cpu_seconds();
  std::this_thread::sleep_for(3s);  // observation window
  double cpu = receiver_->cpu_seconds() - cpu_before;
  EXPECT_LT(cpu, 0.3) << "CPU seconds in 3 s while the admin endpoint is out of descriptors";
  EXPECT_LT(receiver_->log().size() - log_before, 100u * 1024);
  attacker.close_all();
  EXPECT_TRUE(wait_until([&] { return admin_status("/healthz") == 200; }, 30s));
}

TEST_F(ConnectionsTest, AtMaxConnectionsTheOldestIdleConnectionsAreShed) {
  setup_.extra_receiver_yaml += "  max_connections: 50\n  header_timeout: 60s\n";
  start();
  HeldSockets attacker(setup_.port, 60);
  ASSERT_TRUE(wait_until(
      [&] { return metric(kShedAtMax) == 10 && metric(kOpenConnections) == 50; }, 20s))
      << metric(kShedAtMax) << " shed, " << metric(kOpenConnections) << " open";
  // Oldest first: the first ten are closed, the other fifty still open.
  EXPECT_TRUE(all_closed_by_peer(attacker.fds, 0, 10));
  for (int i = 10; i < 60; ++i) EXPECT_FALSE(closed_by_peer(attacker.fds[i])) << i;

  EXPECT_EQ(send_webhook().status, 202);  // it sheds the next oldest idle one
  EXPECT_TRUE(all_closed_by_peer(attacker.fds, 10, 11));
  EXPECT_EQ(metric(kShedAtMax), 11);
  EXPECT_FALSE(closed_by_peer(attacker.fds[11]));
  receiver_->signal(SIGTERM);  // the idle connections still open are closed, and it exits
  EXPECT_EQ(receiver_->wait(15s), std::optional<int>(0)) << receiver_->log();
}

TEST_F(ConnectionsTest, AtMaxConnectionsRequestsInProgressAreKeptAndTheNewcomerIsClosed) {
  setup_.extra_receiver_yaml += "  max_connections: 5\n  body_timeout: 60s\n";
  start();
  // Five clients have sent a full head and are still sending the body: none may be shed.
  // (Expect: 100-continue makes the receiver say when it has read each head.)
  HeldSockets busy(setup_.port, 5);
  for (int fd : busy.fds) {
    std::string head = raw_webhook("Content-Length: 100\r\nExpect: 100-continue\r\n", "", "");
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    char buf[64] = {};
    ASSERT_GT(::recv(fd, buf, sizeof buf - 1, 0), 0);
    ASSERT_EQ(std::string(buf).rfind("HTTP/1.1 100", 0), 0u) << buf;
  }
  EXPECT_EQ(metric(kOpenConnections), 5);
  EXPECT_THROW(send_webhook(10s), std::exception);  // closed at once, unanswered
  EXPECT_EQ(metric(kShedAtMax), 1);
  for (int fd : busy.fds) EXPECT_FALSE(closed_by_peer(fd));
  ::close(busy.fds.back());
  busy.fds.pop_back();
  EXPECT_TRUE(wait_until([&] { return metric(kOpenConnections) == 4; }, 20s));
  EXPECT_EQ(send_webhook().status, 202);
}

TEST_F(ConnectionsTest, ReloadAppliesANewMaxConnections) {
  setup_.extra_receiver_yaml += "  header_timeout: 60s\n";
  start();
  HeldSockets attacker(setup_.port, 10);
  ASSERT_TRUE(wait_until([&] { return metric(kOpenConnections) == 10; }, 20s));
  setup_.extra_receiver_yaml += "  max_connections: 5\n";
  dir_.write("gitopsd.yaml", receiver_config_yaml(setup_));
  receiver_->signal(SIGHUP);
  ASSERT_TRUE(
      wait_until([&] { return metric("gitopsd_config_reloads_total{outcome=\"ok\"}") == 1; }, 20s));
  // The next connection brings the count under the new cap: six idle ones go.
  EXPECT_EQ(send_webhook().status, 202);
  EXPECT_EQ(metric(kShedAtMax), 6);
  EXPECT_TRUE(wait_until([&] { return metric(kOpenConnections) == 4; }, 20s));
  EXPECT_TRUE(all_closed_by_peer(attacker.fds, 0, 6));
  for (int i = 6; i < 10; ++i) EXPECT_FALSE(closed_by_peer(attacker.fds[i])) << i;
}

// ---- item 4: Transfer-Encoding ---------------------------------------------------------------

class TransferEncodingTest : public ConnectionsTest,
                             public ::testing::WithParamInterface<std::string> {};

// The head's framing lines, then a second request that must never be answered: a framing
// the receiver and a proxy in front of it might read differently is a smuggling vector.
TEST_P(TransferEncodingTest, AnythingButChunkedAloneIs400AndTheConnectionClosed) {
  start();
  std::string head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "X-GitHub-Event: push\r\n" + GetParam() + "\r\n";
  std::string smuggled = "GET /hooks/github HTTP/1.1\r\nHost: x\r\n\r\n";
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  std::string bytes = head + smuggled;
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  auto started = Clock::now();
  std::string answer = read_until_closed(fd);
  EXPECT_LT(Clock::now() - started, 9s) << "connection left open";
  EXPECT_EQ(answer.rfind("HTTP/1.", 0), 0u) << answer;
  EXPECT_EQ(answer.substr(9, 3), "400") << answer;
  EXPECT_NE(answer.find("{\"error\":"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("HTTP/1.", 1), std::string::npos) << "second request answered:\n" << answer;
}

INSTANTIATE_TEST_SUITE_P(
    Framings, TransferEncodingTest,
    ::testing::Values("Transfer-Encoding: xchunked\r\n",             // final coding not chunked
                      "Transfer-Encoding: chunked, chunked\r\n",     // chunked twice
                      "Transfer-Encoding: gzip, chunked\r\n",        // a coding we do not undo
                      "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                      "Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n",
                      "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"));

TEST_F(ConnectionsTest, ChunkedWebhookIsAccepted) {
  start();
  std::string body = github_push("acme/infra", "main", kShaA, kShaB);
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  std::string bytes = raw_webhook("Transfer-Encoding: chunked\r\nConnection: close\r\n",
                                  std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n", body);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer = read_until_closed(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 202", 0), 0u) << answer;
}

TEST_F(ConnectionsTest, TransferEncodingInHttp10Is400) {
  start();
  // A genuine chunked webhook, but HTTP/1.0 has no chunked framing (RFC 9112 §6.1).
  std::string body = github_push("acme/infra", "main", kShaA, kShaB);
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  std::string bytes = raw_webhook("Transfer-Encoding: chunked\r\n",
                                  std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n", body);
  const std::string v11 = " HTTP/1.1\r\n";
  bytes.replace(bytes.find(v11), v11.size(), " HTTP/1.0\r\n");
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer = read_until_closed(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.0 400", 0), 0u) << answer;
}

// ---- item 6: the head deadline ---------------------------------------------------------------

// Sends `head` a byte every 200 ms until the peer closes; returns when that was seen
// (measured from `since`), or nullopt if the whole head went out.
std::optional<Clock::duration> trickle_until_closed(int fd, const std::string& head,
                                                    Clock::time_point since) {
  for (char c : head) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) < 0) return Clock::now() - since;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) {
      char b;
      if (::recv(fd, &b, 1, MSG_DONTWAIT) <= 0) return Clock::now() - since;
    }
  }
  return std::nullopt;
}

const std::string kSlowHead =
    "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";

TEST_F(ConnectionsTest, HeaderTimeoutRunsFromTheConnectionNotFromTheFirstByte) {
  setup_.extra_receiver_yaml += "  header_timeout: 2s\n";
  start();
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  auto connected = Clock::now();
  // Silent for 1.5 s, then a byte every 200 ms: the deadline is still connect + 2 s
  // (a deadline restarted at the first byte would close it at 3.5 s).
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1500), 0) << "closed before header_timeout";
  auto closed = trickle_until_closed(fd, kSlowHead, connected);
  ::close(fd);
  ASSERT_TRUE(closed.has_value()) << "never closed";
  EXPECT_GE(*closed, 1900ms);
  EXPECT_LT(*closed, 3s);
}

TEST_F(ConnectionsTest, KeepAliveWaitsIdleTimeoutThenHeaderTimeoutFromTheFirstByte) {
  setup_.extra_receiver_yaml += "  header_timeout: 1s\n  idle_timeout: 10s\n";
  start();
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  std::string body = github_push("acme/infra", "main", kShaA, kShaB);
  std::string first =
      raw_webhook("Content-Length: " + std::to_string(body.size()) + "\r\n", body, body);
  ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
  std::string answer;
  ASSERT_TRUE(wait_until([&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
    return answer.ends_with("}\n");
  }, 30s)) << answer;
  ASSERT_EQ(answer.rfind("HTTP/1.1 202", 0), 0u) << answer;
  // Idle for twice header_timeout: idle_timeout governs the wait for the next first byte.
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 0) << "keep-alive connection closed before idle_timeout";
  // From the first byte on, the next head has header_timeout, once.
  auto closed = trickle_until_closed(fd, kSlowHead, Clock::now());
  ::close(fd);
  ASSERT_TRUE(closed.has_value()) << "never closed";
  EXPECT_GE(*closed, 900ms);
  EXPECT_LT(*closed, 1800ms);
}

}  // namespace
}  // namespace gitopsd::test
