// The admin listener both daemons expose: GET /healthz (liveness), /readyz (200 only while
// `ready()` is true, e.g. Kafka reachable) and /metrics (Prometheus text format).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>

#include "gitopsd/config.hpp"
#include "gitopsd/metrics.hpp"

namespace gitopsd {

class AdminServer {
 public:
  // Binds `address` at once (throws std::system_error when it cannot); serves on `io`.
  AdminServer(boost::asio::io_context& io, const ListenAddress& address, Metrics& metrics,
              std::function<bool()> ready);
  ~AdminServer();
  // The address actually bound (port 0 resolved).
  ListenAddress local_address() const;
  // Stops accepting; connections in progress end on their own (one request each).
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Resolves a ListenAddress into an endpoint (numeric host, "localhost" or a name).
boost::asio::ip::tcp::endpoint resolve_listen_address(const ListenAddress& address);

// Opens, binds and listens `acceptor` on `address`; throws std::runtime_error
// "cannot listen on HOST:PORT: <reason>" (the operator's words, no source locations).
void listen_on(boost::asio::ip::tcp::acceptor& acceptor, const ListenAddress& address,
               int backlog = boost::asio::socket_base::max_listen_connections);

}  // namespace gitopsd
