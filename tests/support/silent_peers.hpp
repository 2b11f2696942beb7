// TCP peers on 127.0.0.1 that never answer, for proving a client's timeouts.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace gitopsd::test {

// A peer that completes the TCP handshake (kernel backlog) but never reads or answers.
class SilentListener {
 public:
  explicit SilentListener(int backlog = 16) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, backlog) != 0) {
      ::close(fd_);
      throw std::runtime_error("listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A client socket connecting to 127.0.0.1:port without waiting; closed on destruction.
class PendingConnect {
 public:
  explicit PendingConnect(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  ~PendingConnect() { ::close(fd_); }
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;
  bool established_within(std::chrono::milliseconds wait) const {
    pollfd pfd{fd_, POLLOUT, 0};
    return ::poll(&pfd, 1, static_cast<int>(wait.count())) == 1;
  }

 private:
  int fd_ = -1;
};

// A listener that does not even complete the TCP handshake: Linux drops the SYNs sent to a
// listener whose accept queue is full, so a connect to it waits on SYN retries (minutes)
// until the client's own connect timeout ends it. A backlog of 0 holds one connection: the
// first fills it, and a second that stays pending shows that the queue is full.
class ListenerNotAcceptingConnects {
 public:
  ListenerNotAcceptingConnects() : filler_(listener_.port()) {
    using namespace std::chrono_literals;
    if (!filler_.established_within(2s)) throw std::runtime_error("cannot fill the accept queue");
    PendingConnect probe(listener_.port());
    if (probe.established_within(300ms))
      throw std::runtime_error("the listener's accept queue is not full");
  }
  int port() const { return listener_.port(); }

 private:
  SilentListener listener_{0};
  PendingConnect filler_;
};

}  // namespace gitopsd::test
