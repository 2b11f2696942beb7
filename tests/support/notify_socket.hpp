// The service manager's end of sd_notify for tests: a unix datagram socket the test owns,
// whose path goes into a daemon's NOTIFY_SOCKET; each received datagram is one message
// ("READY=1", "WATCHDOG=1", ...), stamped with when it arrived.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace gitopsd::test {

class NotifySocket {
 public:
  using Clock = std::chrono::steady_clock;
  struct Message {
    std::string text;
    Clock::time_point at;
  };

  // Binds `path` (a file path, or "@name" for an abstract socket).
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() >= sizeof address.sun_path) throw std::runtime_error("socket path too long");
    std::memcpy(address.sun_path, path_.data(), path_.size());
    if (path_[0] == '@') address.sun_path[0] = '\0';
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() +
                                         (path_[0] == '@' ? 0 : 1));
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0)
      throw std::runtime_error("bind " + path_ + ": " + std::strerror(errno));
    // The kernel stamps each datagram on arrival, so a test that drains the socket late (a busy
    // machine, a slow Kafka call in between) still sees when the daemon actually sent it.
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  }
  ~NotifySocket() {
    ::close(fd_);
    if (path_[0] != '@') ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }

  // The next message, or nullopt when none arrives within `timeout`.
  std::optional<Message> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    iovec io{buffer, sizeof buffer};
    msghdr header{};
    header.msg_iov = &io;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof control;
    auto n = ::recvmsg(fd_, &header, 0);
    if (n < 0) return std::nullopt;
    auto at = Clock::now();
    for (auto* c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      timespec sent{};
      std::memcpy(&sent, CMSG_DATA(c), sizeof sent);
      // Arrival time on the realtime clock, moved onto the steady clock by the current offset.
      auto arrived = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(sent.tv_sec) + std::chrono::nanoseconds(sent.tv_nsec)));
      auto waited = std::chrono::system_clock::now() - arrived;
      if (waited > waited.zero()) at -= std::chrono::duration_cast<Clock::duration>(waited);
    }
    return Message{std::string(buffer, static_cast<std::size_t>(n)), at};
  }

  // The next message that is not a WATCHDOG=1 ping (nullopt after `timeout`).
  std::optional<Message> receive_skipping_pings(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto m = receive(left);
      if (!m) return std::nullopt;
      if (m->text != "WATCHDOG=1") return m;
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace gitopsd::test
