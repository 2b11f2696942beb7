// The gitopsd configuration: one struct per YAML section of DESIGN.md, defaults in
// the declarations, one loader. Shared by gitopsd-receiver, gitopsd-worker and gitopsctl.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gitopsd {

using Duration = std::chrono::milliseconds;

// Thrown by load_config; what() is "file:line:column: what is wrong" (1-based).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "host:port"; port 0 asks the OS for a free port.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const ListenAddress&) const = default;
};

enum class Provider { github, gitlab, gitea };
std::string_view provider_name(Provider p);

struct KafkaTopics {
  std::string events = "gitopsd.events";
  std::string results = "gitopsd.results";
  std::string state = "gitopsd.state";
  std::string dlq = "gitopsd.dlq";
  // Compacted, written by gitopsd-notifier: the last commit status per target and whether
  // the Git host took it (gitopsctl status shows it).
  std::string statuses = "gitopsd.statuses";
  bool operator==(const KafkaTopics&) const = default;
};

// kafka.brokers value that makes `gitopsctl dev` start a broker inside its own process.
inline constexpr std::string_view kEmbeddedBrokers = "embedded";

// Which kafka.brokers a program can run on: the daemons need a real cluster, `gitopsctl dev`
// only its embedded broker, and tools that just read the file take either.
enum class BrokerUse { any, cluster, embedded };

struct KafkaConfig {
  std::string brokers = "localhost:9092";  // librdkafka bootstrap list, or kEmbeddedBrokers
  KafkaTopics topics;  // Kafka topic names: 1..249 of [a-zA-Z0-9._-]
  // Passed verbatim to librdkafka. Each is tried on a librdkafka config at load, and all of
  // them together with gitopsd's own settings (kafka_settings.hpp) on a trial client.
  std::map<std::string, std::string> properties;
  bool operator==(const KafkaConfig&) const = default;
};

// Both are loaded with OpenSSL at load time: the chain must parse, the key must parse without a
// passphrase and match the first certificate.
struct TlsConfig {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
  bool operator==(const TlsConfig&) const = default;
};

struct ReceiverConfig {
  ListenAddress listen{"0.0.0.0", 8080};
  ListenAddress admin_listen{"127.0.0.1", 9464};  // /metrics, /healthz, /readyz
  std::optional<TlsConfig> tls;                   // HTTPS on `listen` when set
  std::uint64_t max_body_bytes = 26214400;        // bytes; larger bodies get 413
  // Durations are refused at load above their bound (and below 1 ms): a timer never overflows.
  // whole request head; at most 5m (Git hosts give up after 10 s)
  Duration header_timeout = std::chrono::seconds(10);
  Duration body_timeout = std::chrono::seconds(30);  // whole body, after the head; at most 10m
  // keep-alive wait for the next request; at most 1h
  Duration idle_timeout = std::chrono::seconds(60);
  // A delivery id seen within it is a duplicate; at most 7d: the deduper holds every id seen
  // in the window, and GitHub redelivers by hand only deliveries of the past 3 days.
  Duration dedupe_window = std::chrono::hours(1);
  // No Kafka ack by then -> 503. 100ms..5m: it is the producer's message.timeout.ms, which
  // librdkafka wants above linger.ms and below 2^31 ms; Git hosts wait only about 10 s.
  Duration publish_timeout = std::chrono::seconds(5);
  static constexpr Duration kMaxHeaderTimeout = std::chrono::minutes(5);
  static constexpr Duration kMaxBodyTimeout = std::chrono::minutes(10);
  static constexpr Duration kMaxIdleTimeout = std::chrono::hours(1);
  static constexpr Duration kMaxDedupeWindow = std::chrono::hours(24 * 7);
  static constexpr Duration kMinPublishTimeout = std::chrono::milliseconds(100);
  static constexpr Duration kMaxPublishTimeout = std::chrono::minutes(5);
  unsigned threads = 0;                           // I/O threads; 0 = hardware threads
  // Open webhook connections, 1..1000000. At the cap (and when descriptors run out) the
  // connections that have not sent a full request head are shed first, oldest first.
  unsigned max_connections = 10000;
  bool operator==(const ReceiverConfig&) const = default;
};

struct WorkerConfig {
  std::string group_id = "gitopsd-workers";
  // Bare mirrors and releases; no files dest may be it, inside it or around it.
  std::string state_dir = "/var/lib/gitopsd";
  ListenAddress admin_listen{"127.0.0.1", 9465};
  Duration apply_timeout = std::chrono::minutes(10);  // at most 1d: a longer apply is a hung one
  unsigned max_attempts = 5;  // 1..100
  // at most 7d: resync is what catches a lost webhook
  Duration resync_interval = std::chrono::minutes(3);
  static constexpr Duration kMaxApplyTimeout = std::chrono::hours(24);
  static constexpr Duration kMaxResyncInterval = std::chrono::hours(24 * 7);
  // bytes; a blob larger than this fails the apply, so memory never follows file size.
  std::uint64_t max_file_bytes = 100ULL << 20;
  // Fetches (each one connection to a Git host) running at once in this worker, 1..256:
  // what the hosts see of it, whatever the number of partitions and repositories.
  unsigned max_parallel_fetches = 8;
  bool operator==(const WorkerConfig&) const = default;
};

// A webhook secret, resolved at load time. `origin` ("file /etc/x" or "env NAME") is
// safe to log; `value` never is. Shorter than kMinSecretBytes, or from a file others can
// read, it loads with a warning (Config::warnings).
inline constexpr std::size_t kMinSecretBytes = 16;
struct Secret {
  std::string value;
  std::string origin;
  bool operator==(const Secret&) const = default;
};

struct Credentials {
  std::optional<std::string> token_file;    // HTTPS token, read by the worker
  std::optional<std::string> ssh_key_file;  // private key for ssh:// URLs
  std::optional<std::string> known_hosts;   // required with ssh_key_file
  bool operator==(const Credentials&) const = default;
};

// How a `files` apply switches the new tree in. Both are failure-atomic (every new file is
// staged before anything is switched); they differ in what a reader sees meanwhile.
enum class FilesSwitch {
  per_file,  // each staged file is renamed over its old one: a reader may see old and new
             // files side by side for a moment; cost follows the change
  exchange,  // a staged copy of the whole tree (unchanged files hard-linked) is swapped
             // with dest by renameat2(RENAME_EXCHANGE): readers see all old or all new
};

struct FilesApply {
  // Absolute directory that ends up holding the subtree, normalized ("/srv//www/./" is
  // "/srv/www"). Never "/", a system directory, anything under /proc, /sys or /dev, the
  // worker's state_dir (or inside or around it), nor the same as, inside or around another
  // target's dest.
  std::string dest;
  std::vector<std::string> after;  // argv run after a change; empty = none
  FilesSwitch switch_mode = FilesSwitch::per_file;  // YAML `switch: per_file | exchange`
  bool operator==(const FilesApply&) const = default;
};

struct ExecApply {
  std::vector<std::string> command;         // argv, run in a checkout of the subtree
  std::vector<std::string> diff;            // argv for drift checks; empty = none
  std::vector<int> drift_exit_codes = {1};  // exit codes of `diff` that mean drift
  bool operator==(const ExecApply&) const = default;
};

// repositories[].api: where gitopsd-notifier sets commit statuses. The token is read at load
// (and on reload); `token.origin` is safe to log, `token.value` never is.
struct ApiConfig {
  // https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1.
  // http:// only for a loopback host: the token would cross the network in the clear.
  std::string url;
  Secret token;
  std::string ca_file;  // PEM CAs to trust for `url`; empty = the system's
  bool operator==(const ApiConfig&) const = default;
};

struct Target {
  std::string name;
  std::string path;  // subtree of the repository, "" or "." = root
  std::variant<FilesApply, ExecApply> apply;
  bool self_heal = true;
  bool operator==(const Target&) const = default;
};

struct Repository {
  std::string name;  // stable id: Kafka key, topic fields
  Provider provider = Provider::github;
  // GitHub/Gitea full_name, GitLab path_with_namespace. The receiver compares it ignoring
  // case, so provider + match (ignoring case) + branch is unique.
  std::string match;
  // Clone URL used by the worker. Carries no credentials: http(s) URLs no user info at all,
  // ssh URLs (ssh://git@host/..., git@host:o/r.git) a user but never a password.
  std::string url;
  std::string branch = "main";
  std::vector<Secret> secrets;  // any may verify a webhook (rotation)
  Credentials credentials;
  std::optional<ApiConfig> api;  // commit statuses (gitopsd-notifier); none without it
  std::vector<Target> targets;
  bool operator==(const Repository&) const = default;
};

enum class SinkType { slack, webhook };

// What a sink's `on` can name: a result status, `rollback` (a result with rollback: true) or
// `dead_lettered` (a DLQ entry).
inline constexpr std::string_view kSinkEvents[] = {
    "applied", "unchanged", "superseded", "failed", "drift_corrected", "drift_detected",
    "rollback", "dead_lettered"};

struct Sink {
  std::string name;  // identifier; a metric label
  SinkType type = SinkType::webhook;
  // From `url` or `url_file` (a Slack URL is itself a secret: only `url_origin` is logged).
  std::string url;
  std::string url_origin;  // "url" or "file /etc/..."
  // webhook: the Standard Webhooks signing key ("whsec_" + base64 of 24..64 bytes).
  std::optional<Secret> secret;
  std::vector<std::string> on;  // of kSinkEvents, no duplicates, at least one
  std::string ca_file;          // PEM CAs to trust for `url`; empty = the system's
  bool operator==(const Sink&) const = default;
};

struct NotifyConfig {
  std::string group_id = "gitopsd-notifiers";
  ListenAddress admin_listen{"127.0.0.1", 9466};
  bool commit_status = true;  // for every repository that has `api`
  // The commit status's link; {repository}, {target}, {commit} and {event_id} are replaced.
  // Empty: none.
  std::string target_url;
  // Tries per commit status or notification before it is dropped (logged and counted), 1..50;
  // 12 with the default backoff rides out a host down for about 18 minutes.
  unsigned max_attempts = 12;
  // Backoff between tries doubles from 1 s up to this, and a host's Retry-After or
  // x-ratelimit-reset is honoured up to it; 1s..1h.
  Duration max_backoff = std::chrono::minutes(5);
  static constexpr Duration kMaxBackoffBound = std::chrono::hours(1);
  // Per request, connect to last byte; 100ms..2m.
  Duration request_timeout = std::chrono::seconds(10);
  static constexpr Duration kMaxRequestTimeout = std::chrono::minutes(2);
  // A record older than this (a notifier started on an existing cluster, or back after a long
  // outage) notifies no sink: chat is not flooded with old news. Commit statuses are still
  // set: they stay true. 1m..30d.
  Duration max_age = std::chrono::hours(1);
  static constexpr Duration kMaxMaxAge = std::chrono::hours(24 * 30);
  std::vector<Sink> sinks;
  bool operator==(const NotifyConfig&) const = default;
};

struct Config {
  std::string path;  // the file it came from
  // What the file allows but should not: "file:line:column: what" each, never a secret's
  // value. Today: a secret (or key/token file) readable by others, a secret under 16 bytes.
  // The daemons log them at start and reload; check-config prints them.
  std::vector<std::string> warnings;
  // trace, debug, info, warn, error, critical, off; taken again on reload. A daemon's
  // --log-level overrides it.
  std::string log_level = "info";
  KafkaConfig kafka;
  ReceiverConfig receiver;
  WorkerConfig worker;
  NotifyConfig notify;
  std::vector<Repository> repositories;
};

// The repository called `name` in `config`, or null.
const Repository* find_repository(const Config& config, std::string_view name);

// Whether spdlog knows `level` as written in `log_level` and --log-level; when not, the
// error says "expected " + kLogLevelChoices.
bool is_log_level(std::string_view level);
inline constexpr const char* kLogLevelChoices = "trace, debug, info, warn, error, critical or off";

// Reads and validates the whole file: unknown keys, wrong types, missing required keys,
// duplicate names, unreadable secrets, out-of-bounds durations, kafka.properties librdkafka
// refuses, TLS files OpenSSL cannot use, credentials in a url, and unsafe or overlapping
// files dests throw ConfigError. Secrets from `file` are read
// whole with one trailing newline removed; from `env` the variable must be set and non-empty.
// kafka.brokers is checked against `use` (a mismatch is a ConfigError at the brokers key).
Config load_config(const std::string& path, BrokerUse use = BrokerUse::any);
// Same, from YAML text; `name` stands for the file name in error messages.
Config parse_config(const std::string& yaml_text, const std::string& name,
                    BrokerUse use = BrokerUse::any);

// "90s", "10m", "1h", "250ms", "1h30m"; throws std::invalid_argument.
Duration parse_duration(std::string_view text);
// "26214400", "25MiB", "512KiB", "1GiB", "10MB"; throws std::invalid_argument.
std::uint64_t parse_size(std::string_view text);

}  // namespace gitopsd
