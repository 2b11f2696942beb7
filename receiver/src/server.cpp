#include "gitopsd/receiver/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "gitopsd/accept_loop.hpp"
#include "gitopsd/admin_server.hpp"
#include "gitopsd/crypto.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/receiver/dedupe.hpp"
#include "gitopsd/receiver/webhook.hpp"
#include "gitopsd/receiver/webhook_counters.hpp"

namespace gitopsd::receiver {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

namespace {

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// Body storage kept for a keep-alive connection's next request: a webhook's size, not a
// large body's, so idle connections hold little.
constexpr std::size_t kSpareBodyBytes = 64 * 1024;

// Request bodies held at once, at most, counted in max_body_bytes: the receiver's memory under
// a flood of large bodies (signed or not, a body is kept whole until it is judged) stays near
// this many bodies (400 MiB at the default 25 MiB), whatever max_connections allows.
constexpr std::uint64_t kBodiesInFlight = 16;

// Bytes of request bodies admitted and not yet released, against a budget. Thread-safe.
class BodyBudget {
 public:
  explicit BodyBudget(Gauge& reserved) : reserved_gauge_(reserved) {}

  // Holds `bytes` of the budget until destroyed.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(BodyBudget* budget, std::uint64_t bytes) : budget_(budget), bytes_(bytes) {}
    Reservation(Reservation&& other) noexcept
        : budget_(std::exchange(other.budget_, nullptr)), bytes_(other.bytes_) {}
    Reservation& operator=(Reservation&& other) noexcept {
      std::swap(budget_, other.budget_);
      std::swap(bytes_, other.bytes_);
      return *this;
    }
    ~Reservation() {
      if (budget_ != nullptr) budget_->release(bytes_);
    }

   private:
    BodyBudget* budget_ = nullptr;
    std::uint64_t bytes_ = 0;
  };

  // A reservation of `bytes`, or nullopt when it would take the total past `limit`.
  std::optional<Reservation> reserve(std::uint64_t bytes, std::uint64_t limit) {
    std::uint64_t now = reserved_.load();
    do {
      if (bytes > limit || now > limit - bytes) return std::nullopt;
    } while (!reserved_.compare_exchange_weak(now, now + bytes));
    reserved_gauge_.set(static_cast<double>(now + bytes));
    return Reservation(this, bytes);
  }

 private:
  void release(std::uint64_t bytes) {
    const std::uint64_t before = reserved_.fetch_sub(bytes);
    reserved_gauge_.set(static_cast<double>(before - bytes));
  }

  std::atomic<std::uint64_t> reserved_{0};
  Gauge& reserved_gauge_;
};

Response json_response(int status, std::string body, unsigned version) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::server, "gitopsd-receiver");
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.body() += '\n';
  return res;
}

// {"status":…,"event_id":…}. Both are the receiver's own words (a status, a UUID), never
// a caller's bytes, so nothing needs escaping.
std::string status_body(std::string_view status, std::string_view event_id) {
  std::string body;
  body.reserve(40 + status.size() + event_id.size());
  body.append(R"({"status":")").append(status).append(R"(","event_id":")").append(event_id).append(R"("})");
  return body;
}

long seconds_rounded_up(Duration d) {
  return static_cast<long>((d.count() + 999) / 1000);
}

// HTTPS when `config.receiver.tls` is set, else null. Throws when the files do not load.
std::shared_ptr<ssl::context> make_tls_context(const Config& config) {
  if (!config.receiver.tls) return nullptr;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  tls->use_certificate_chain_file(config.receiver.tls->cert_file);
  tls->use_private_key_file(config.receiver.tls->key_file, ssl::context::pem);
  return tls;
}

// RFC 9112 §6.1 and §6.3: any Transfer-Encoding but one `chunked` (a final coding that is not
// chunked, chunked twice, a coding we would not undo, several header lines), or one in
// HTTP/1.0, leaves the body's length open to two readings: how requests are smuggled past
// a proxy that reads it the other way. Beast refuses Transfer-Encoding with Content-Length
// itself, but reads `xchunked` or `chunked, chunked` as no body and the bytes after as the
// next request. Git hosts send Content-Length or plain chunked, so nothing else is served,
// and the body we verify is always the bytes that were signed.
bool framing_is_unambiguous(const Request& head) {
  auto [first, last] = head.equal_range(http::field::transfer_encoding);
  if (first == last) return true;
  return head.version() >= 11 && std::next(first) == last &&
         beast::iequals(first->value(), "chunked");
}

// What a connection or request runs with: the config in force when it began, and its TLS
// context. A reload installs a new one; those begun before keep theirs to the end.
struct Generation {
  std::shared_ptr<const Config> config;
  std::shared_ptr<ssl::context> tls;  // null: plain HTTP
};

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io_context, std::shared_ptr<const Config> cfg, KafkaProducer& kafka,
       Metrics& m)
      : io(io_context),
        acceptor(net::make_strand(io_context)),
        accept_retry(acceptor.get_executor()),
        generation(std::make_shared<const Generation>(Generation{cfg, make_tls_context(*cfg)})),
        producer(kafka),
        metrics(m),
        deduper(cfg->receiver.dedupe_window),
        log(logger("receiver")),
        webhooks(m),
        request_seconds(m.histogram("gitopsd_webhook_request_duration_seconds",
                                    "Time from a request's head to its answer")),
        produce_seconds(m.histogram("gitopsd_kafka_produce_duration_seconds",
                                    "Time from produce to Kafka's acknowledgement")),
        open_connections(m.gauge("gitopsd_receiver_connections", "Open webhook connections")),
        shed_at_max(m.counter("gitopsd_receiver_connections_shed_total", kShedHelp,
                              {{"reason", "max_connections"}})),
        shed_fd_exhausted(m.counter("gitopsd_receiver_connections_shed_total", kShedHelp,
                                    {{"reason", "fd_exhausted"}})),
        body_budget(m.gauge("gitopsd_receiver_body_bytes_reserved",
                            "Bytes of request bodies being received or judged (at most 16 x "
                            "max_body_bytes; beyond, requests are answered 503)")) {}

  static constexpr const char* kShedHelp =
      "Connections closed to stay within max_connections or the descriptor limit: the oldest "
      "that had not sent a full request head (at max_connections with none, the new one)";

  net::io_context& io;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;  // AcceptBackoff's wait; on the acceptor's strand
  std::atomic<std::shared_ptr<const Generation>> generation;
  KafkaProducer& producer;
  Metrics& metrics;
  DeliveryDeduper deduper;
  std::shared_ptr<spdlog::logger> log;
  WebhookCounters webhooks;
  Histogram& request_seconds;
  Histogram& produce_seconds;
  Gauge& open_connections;
  Counter& shed_at_max;
  Counter& shed_fd_exhausted;
  BodyBudget body_budget;

  // Connections, oldest first, so shutdown() can close the idle ones and the accept loop can
  // shed those that have not sent a full request head.
  struct Connection {
    // A connection may be shed only while it waits for (or reads) a request head; the
    // compare-exchange from awaiting_head settles a shed racing with the head's end.
    enum class Phase { awaiting_head, in_request, shed };
    net::any_io_executor executor;
    std::function<void()> close;  // closes the socket at once; set and called on `executor`
    bool idle = true;             // waiting for a request's first byte; only on `executor`
    std::atomic<Phase> phase{Phase::awaiting_head};

    // The head is complete: false when the connection was shed meanwhile.
    bool begin_request() {
      auto expected = Phase::awaiting_head;
      return phase.compare_exchange_strong(expected, Phase::in_request);
    }
    void end_request() { phase.store(Phase::awaiting_head); }
  };
  using Connections = std::list<std::shared_ptr<Connection>>;
  std::mutex connections_mutex;
  Connections connections;   // under connections_mutex
  std::size_t shedding = 0;  // those of `connections` shed and not closed yet; same mutex
  std::atomic<bool> stopping{false};

  // Counts, times and logs one answered request. Every value from the request is quoted with
  // log_quote, so none can forge another field or line.
  void record(const Decision& d, Outcome outcome, int status,
              std::string_view event_id, std::chrono::steady_clock::time_point started) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    request_seconds.observe(seconds);
    webhooks.count(d.provider, d.event_type, outcome);
    log->info("request provider={} event={} delivery={} repository={} status={} outcome={}{}{}{}{} latency_ms={:.2f}",
              d.provider ? provider_name(*d.provider) : "-", log_quote(d.event_type),
              log_quote(d.delivery_id), d.repository.empty() ? "-" : d.repository, status,
              outcome_name(outcome),
              event_id.empty() ? "" : " event_id=", event_id, d.reason.empty() ? "" : " reason=",
              d.reason.empty() ? "" : log_quote(d.reason), seconds * 1000);
  }

  // The answer to a Reply decision.
  static Response reply_response(const Reply& reply, unsigned version) {
    Response res = json_response(reply.status, reply.body, version);
    if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
    return res;
  }

  // What decide() sees of a request; the body may not have been read yet.
  static WebhookRequest webhook_request(const Request& req,
                                        std::chrono::system_clock::time_point received) {
    return WebhookRequest{
        .method = req.method_string(),
        .target = req.target(),
        .header = [&req](std::string_view name) -> std::string_view {
          auto it = req.find(name);
          return it == req.end() ? std::string_view{} : std::string_view(it->value());
        },
        .body = req.body(),
        .now = received,
    };
  }

  // Answers a request refused from its head alone. Its body was not read, so the connection
  // cannot carry another request: the answer says Connection: close and the caller ends it.
  template <class Stream>
  net::awaitable<void> refuse_head(Stream& stream, const Decision& d, unsigned version) {
    const Reply& reply = std::get<Reply>(d.action);
    record(d, d.outcome, reply.status, {}, std::chrono::steady_clock::now());
    Response res = reply_response(reply, version);
    // Before a body is read, 503 means too many bodies in progress: soon there is room.
    if (reply.status == 503) res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
  }

  // Publishes one event and waits, without blocking a thread, for Kafka's delivery report
  // or `publish_timeout`, whichever comes first; nullopt means the time ran out.
  // The deduper learns the outcome from the report itself, also when it arrives after the
  // timeout: a late success makes the host's retry a duplicate, a failure that certainly
  // wrote nothing lets it through as a new event, and after an unknown outcome the retry is
  // published again under the same event id.
  net::awaitable<std::optional<DeliveryReport>> publish(const std::string& value,
                                                        const std::string& key,
                                                        const std::string& dedupe_key,
                                                        const Config& config) {
    struct Wait {
      explicit Wait(net::any_io_executor executor) : timer(std::move(executor)) {}
      net::steady_timer timer;
      std::optional<DeliveryReport> report;
    };
    auto wait = std::make_shared<Wait>(co_await net::this_coro::executor);
    wait->timer.expires_after(config.receiver.publish_timeout);
    auto produced = std::chrono::steady_clock::now();
    producer.produce(config.kafka.topics.events, key, value,
                     [self = shared_from_this(), wait, dedupe_key, produced](const DeliveryReport& r) {
                       if (r.ok) {
                         self->deduper.confirm(dedupe_key);
                       } else if (r.retryable()) {
                         self->deduper.release(dedupe_key);
                       } else {
                         self->deduper.unsure(dedupe_key);
                       }
                       self->produce_seconds.observe(std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - produced).count());
                       net::post(wait->timer.get_executor(), [wait, r] {
                         wait->report = r;
                         wait->timer.cancel();
                       });
                     });
    boost::system::error_code ec;
    co_await wait->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    co_return wait->report;
  }

  net::awaitable<Response> handle(const Request& req, std::chrono::system_clock::time_point received,
                                  const Config& config) {
    auto started = std::chrono::steady_clock::now();
    Decision d = decide(webhook_request(req, received), config.repositories);
    Response res;
    Outcome outcome = d.outcome;
    std::string event_id;
    if (auto* reply = std::get_if<Reply>(&d.action)) {
      res = reply_response(*reply, req.version());
    } else {
      auto& publish_action = std::get<Publish>(d.action);
      Event& event = publish_action.event;
      std::string dedupe_key =
          std::string(provider_name(publish_action.provider)) + "\n" + d.repository + "\n" + d.delivery_id;
      auto claim = deduper.claim(dedupe_key, random_uuid(), DeliveryDeduper::Clock::now());
      event_id = claim.event_id;
      if (claim.state == DeliveryDeduper::State::done) {
        outcome = Outcome::duplicate;
        res = json_response(200, status_body("duplicate", event_id), req.version());
      } else if (claim.state == DeliveryDeduper::State::pending) {
        outcome = Outcome::in_progress;
        res = json_response(503, error_body("a delivery with this id is being published; retry"),
                            req.version());
        res.set(http::field::retry_after, "1");
      } else {
        event.event_id = event_id;
        event.received_at = format_timestamp(received);
        auto report = co_await publish(to_json(event), event.repository, dedupe_key, config);
        if (report && report->ok) {
          res = json_response(202, status_body("queued", event_id), req.version());
        } else {
          outcome = Outcome::publish_failed;
          metrics
              .counter("gitopsd_kafka_produce_errors_total", "Events Kafka did not acknowledge",
                       {{"topic", config.kafka.topics.events}})
              .inc();
          log->error("publish failed delivery={} event_id={} repository={} error={}",
                     log_quote(d.delivery_id), event_id, d.repository,
                     log_quote(report ? report->error : "no acknowledgement within publish_timeout"));
          res = json_response(503, error_body("Kafka did not acknowledge the event in time"),
                              req.version());
          res.set(http::field::retry_after,
                  std::to_string(seconds_rounded_up(config.receiver.publish_timeout)));
        }
      }
    }
    record(d, outcome, res.result_int(), event_id, started);
    co_return res;
  }

  // One connection: read a request under the header and body deadlines, answer, repeat
  // while keep-alive holds. Works for plain TCP and TLS streams alike.
  // header_timeout bounds a whole head and is set once per head, never restarted, so bytes
  // trickling in cannot stretch it: the first head's deadline runs from the connection
  // (`head_deadline`, TLS handshake included); a later head's from its first byte, for
  // which a keep-alive connection waits at most idle_timeout (for a pipelined request
  // already read, from the end of the previous one).
  template <class Stream>
  net::awaitable<void> serve(Stream& stream, std::shared_ptr<Connection> conn,
                             std::chrono::steady_clock::time_point head_deadline) {
    auto& transport = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    // The last request's body storage, reused by the next on this connection: a body is a
    // large allocation, which costs malloc far more than a small one.
    std::string spare_body;
    // The last request's size: the next one's first read makes room for as much, so a
    // keep-alive webhook of the same size arrives in one read (4 KiB for a new connection).
    std::size_t last_request_bytes = 0;
    boost::system::error_code ec;
    for (bool first = true;; first = false) {
      // Idle wait for the next request's first bytes.
      if (buffer.size() == 0) {
        conn->idle = true;
        if (stopping.load()) break;
        if (first) {
          transport.expires_at(head_deadline);
        } else {
          transport.expires_after(generation.load()->config->receiver.idle_timeout);
        }
        const std::size_t room = std::clamp<std::size_t>(last_request_bytes, 4096, 64 * 1024);
        std::size_t n = co_await stream.async_read_some(buffer.prepare(room),
                                                        net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        buffer.commit(n);
      }
      conn->idle = false;
      // The request runs under the config in force when its first bytes came (secrets
      // removed by a reload no longer verify it), even on a connection opened before.
      const auto current = generation.load();
      const Config& config = *current->config;
      auto received = std::chrono::system_clock::now();
      http::request_parser<http::string_body> parser;
      spare_body.clear();
      parser.get().body() = std::move(spare_body);
      parser.header_limit(kHeaderLimit);
      parser.body_limit(config.receiver.max_body_bytes);
      if (!first) head_deadline = std::chrono::steady_clock::now() + config.receiver.header_timeout;
      transport.expires_at(head_deadline);
      last_request_bytes = co_await http::async_read_header(
          stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await reject(stream, 413, "body exceeds max_body_bytes", 11);
        break;
      }
      if (ec == http::error::header_limit) {
        co_await reject(stream, 431, "request head too large", 11);
        break;
      }
      if (ec) {
        if (ec != beast::error::timeout && ec != http::error::end_of_stream &&
            ec != net::error::eof && ec != net::error::operation_aborted)
          co_await reject(stream, 400, "malformed HTTP request", 11);
        break;
      }
      if (!conn->begin_request()) break;  // shed for a newer connection meanwhile
      auto& head = parser.get();
      if (!framing_is_unambiguous(head)) {
        co_await reject(stream, 400, "Transfer-Encoding other than chunked", head.version());
        break;
      }
      // Path, method and content type are checked before any body is read.
      if (auto refused = decide_head(webhook_request(head, received))) {
        co_await refuse_head(stream, *refused, head.version());
        break;
      }
      // The body's room is taken before it is read (its announced length; a chunked one may
      // grow to max_body_bytes) and kept until the request is answered.
      const std::uint64_t body_bytes = parser.content_length().value_or(
          parser.chunked() ? config.receiver.max_body_bytes : 0);
      auto reservation = body_budget.reserve(
          body_bytes, kBodiesInFlight * config.receiver.max_body_bytes);
      if (!reservation) {
        co_await reject(stream, 503, "too many request bodies in progress; retry", head.version());
        break;
      }
      if (beast::iequals(head[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, head.version()};
        co_await http::async_write(stream, cont, net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      transport.expires_after(config.receiver.body_timeout);
      last_request_bytes +=
          co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await reject(stream, 413, "body exceeds max_body_bytes", head.version());
        break;
      }
      if (ec) break;  // timed out or reset mid-body: nothing to answer
      Request req = parser.release();
      transport.expires_never();  // publishing is bounded by publish_timeout
      Response res = co_await handle(req, received, config);
      bool keep_alive = req.keep_alive() && !stopping.load();
      res.keep_alive(keep_alive);
      res.prepare_payload();
      transport.expires_after(config.receiver.body_timeout);
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !keep_alive) break;
      if (req.body().capacity() <= kSpareBodyBytes) spare_body = std::move(req.body());
      conn->end_request();
    }
    transport.expires_after(std::chrono::seconds(2));
  }

  // Refuses a request the HTTP layer already judged (malformed, too large, over the body
  // budget), counted and logged like every other answer; the connection ends.
  template <class Stream>
  net::awaitable<void> reject(Stream& stream, int status, std::string_view message, unsigned version) {
    Decision d;
    d.action = Reply{status, error_body(message), {}};
    d.outcome = status == 413   ? Outcome::too_large
                : status == 503 ? Outcome::overloaded
                                : Outcome::bad_request;
    d.reason = message;
    co_await refuse_head(stream, d, version);
  }

  net::awaitable<void> connection(tcp::socket socket, std::shared_ptr<Connection> conn,
                                  Connections::iterator tracked) {
    beast::tcp_stream tcp_stream(std::move(socket));
    boost::system::error_code ec;
    const auto current = generation.load();
    const auto head_deadline =
        std::chrono::steady_clock::now() + current->config->receiver.header_timeout;
    if (current->tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *current->tls);
      conn->close = [&stream] { beast::get_lowest_layer(stream).close(); };
      beast::get_lowest_layer(stream).expires_at(head_deadline);
      co_await stream.async_handshake(ssl::stream_base::server,
                                      net::redirect_error(net::use_awaitable, ec));
      if (!ec) {
        co_await serve(stream, conn, head_deadline);
        co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
      }
      untrack(tracked);
    } else {
      conn->close = [&tcp_stream] { tcp_stream.close(); };
      co_await serve(tcp_stream, conn, head_deadline);
      tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      untrack(tracked);
    }
  }

  // Tracks a new connection within max_connections (read from the config in force, so a
  // reload changes it), shedding to make room; nullopt when nothing could be shed and the
  // new connection must be closed instead.
  std::optional<Connections::iterator> admit(std::shared_ptr<Connection> conn) {
    const std::size_t max = generation.load()->config->receiver.max_connections;
    std::lock_guard lock(connections_mutex);
    while (connections.size() - shedding >= max) {
      shed_at_max.inc();
      if (!shed_oldest()) return std::nullopt;
    }
    connections.push_back(std::move(conn));
    open_connections.set(static_cast<double>(connections.size()));
    return std::prev(connections.end());
  }

  // Closes the oldest connection that has not sent a full request head: an idle socket
  // held by an attacker goes before a webhook in progress. False when there is none.
  // Call with connections_mutex held.
  bool shed_oldest() {
    for (auto& conn : connections) {
      auto expected = Connection::Phase::awaiting_head;
      if (!conn->phase.compare_exchange_strong(expected, Connection::Phase::shed)) continue;
      ++shedding;
      // Queued on the connection's strand after its start, which sets `close`.
      net::post(conn->executor, [conn] {
        if (conn->close) conn->close();  // null: it has ended already
      });
      return true;
    }
    return false;
  }

  void untrack(Connections::iterator it) {
    std::lock_guard lock(connections_mutex);
    (*it)->close = nullptr;
    if ((*it)->phase.load() == Connection::Phase::shed) --shedding;
    connections.erase(it);
    open_connections.set(static_cast<double>(connections.size()));
  }

  // Accepts until shutdown; `self` lives as long as the loop.
  void start() {
    net::co_spawn(
        acceptor.get_executor(),
        accept_loop(
            acceptor, accept_retry, io, log,
            [self = shared_from_this()](tcp::socket socket) { self->start_connection(std::move(socket)); },
            [this](const boost::system::error_code& ec) {
              // Out of descriptors: shedding a connection frees one for the next try.
              if (ec == boost::system::errc::too_many_files_open ||
                  ec == boost::system::errc::too_many_files_open_in_system) {
                std::lock_guard lock(connections_mutex);
                if (shed_oldest()) shed_fd_exhausted.inc();
              }
            }),
        LogExceptions{log, "webhook accept loop"});
  }

  void start_connection(tcp::socket socket) {
    boost::system::error_code ec;
    auto conn = std::make_shared<Connection>();
    conn->executor = socket.get_executor();
    auto tracked = admit(conn);
    if (!tracked) {
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    net::co_spawn(conn->executor, connection(std::move(socket), conn, *tracked),
                  LogExceptions{log, "webhook connection"});
  }

  void shutdown() {
    if (stopping.exchange(true)) return;
    net::post(acceptor.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor.close(ec);
      self->accept_retry.cancel();
    });
    std::lock_guard lock(connections_mutex);
    for (auto& conn : connections) {
      net::post(conn->executor, [conn] {
        if (conn->idle && conn->close) conn->close();
      });
    }
  }
};

unsigned io_threads(const ReceiverConfig& config) {
  return config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
}

Server::Server(net::io_context& io, std::shared_ptr<const Config> config, KafkaProducer& producer,
               Metrics& metrics)
    : impl_(std::make_shared<Impl>(io, config, producer, metrics)) {
  listen_on(impl_->acceptor, config->receiver.listen);
  impl_->start();
}

Server::~Server() = default;

ListenAddress Server::local_address() const {
  auto ep = impl_->acceptor.local_endpoint();
  return {ep.address().to_string(), ep.port()};
}

void Server::shutdown() { impl_->shutdown(); }

void Server::reload(std::shared_ptr<const Config> config) {
  auto tls = make_tls_context(*config);
  impl_->generation.store(std::make_shared<const Generation>(Generation{std::move(config), std::move(tls)}));
}

}  // namespace gitopsd::receiver
