// The webhook HTTP(S) server: Boost.Beast over a shared io_context (run by a thread pool),
// one coroutine per connection on its own strand. It moves bytes and enforces limits
// (timeouts, body size); what to answer is decided by `decide` (webhook.hpp), and
// accepted events are answered 202 only once Kafka has acknowledged them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "gitopsd/config.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/metrics.hpp"

namespace gitopsd::receiver {

// How many threads run the receiver's io_context: `receiver.threads`, or one per core.
unsigned io_threads(const ReceiverConfig& config);

class Server {
 public:
  // Binds `config->receiver.listen` at once (throws std::system_error when it cannot) and
  // loads the TLS certificate when `config->receiver.tls` is set (throws on failure).
  Server(boost::asio::io_context& io, std::shared_ptr<const Config> config,
         KafkaProducer& producer, Metrics& metrics);
  ~Server();

  ListenAddress local_address() const;

  // Graceful stop: closes the listener and idle keep-alive connections; requests in
  // progress finish (their Kafka acknowledgement included) and then close. Thread-safe.
  void shutdown();

  // Live reload: requests and connections that begin from now on use `config` (its
  // repositories, secrets, limits, timeouts and TLS certificate); those in progress finish
  // under the config they began with. The listener, the Kafka producer and the dedupe window
  // stay as they are (see config_reload.hpp). Throws, changing nothing, when the TLS
  // certificate or key does not load. Thread-safe.
  void reload(std::shared_ptr<const Config> config);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gitopsd::receiver
