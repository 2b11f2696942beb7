// Integration-test support: the real Kafka broker started by the ctest fixture, topic
// readers, the real gitopsd-receiver binary as a child process, and HTTP requests to it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gitopsd/http_client.hpp"

namespace gitopsd::test {

// Bootstrap address of the suite's broker (deploy/kafka/broker.sh, ctest fixture).
std::string kafka_bootstrap();
// Its Kafka release (GITOPSD_TEST_KAFKA_VERSION), for a test that starts a broker of its own.
std::string kafka_version();
// A name no other test uses: "<prefix>-<pid>-<counter>-<random>".
std::string unique_name(const std::string& prefix);
// A TCP port that was free a moment ago on 127.0.0.1.
int free_port();
// The first of `count` consecutive loopback ports that are all free right now: for the
// admin ports of gitopsd-worker --instance 1..count (admin_listen's port + N - 1).
int free_port_range(int count);
// Fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// The whole of a file ("" when it cannot be read).
std::string file_contents(const std::string& path);

// Polls `condition` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

struct KafkaRecord {
  std::string key;
  std::string value;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

// Reads every partition of a topic from the beginning, outside any consumer group.
class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::string& topic);
  ~TopicReader();
  // Reads until `count` records have arrived in total or `timeout` passes; returns all so far.
  std::vector<KafkaRecord> read(std::size_t count, std::chrono::milliseconds timeout);
  // Reads every record published before the call (each partition up to its end offset as of
  // the call) and returns all records so far: the way to prove "and nothing else" without
  // waiting out a timeout. Throws when that end is not reached within `timeout`.
  std::vector<KafkaRecord> read_to_end(
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  struct Impl;
  Impl* impl_;
};

// Per member of the consumer group `group`: how many partitions it is assigned, as the
// group coordinator describes it. Empty when the group does not exist or has no members.
std::vector<int> group_assignments(const std::string& bootstrap, const std::string& group);

// Creates a topic with `partitions` partitions (replication 1) through the admin API.
void create_topic(const std::string& bootstrap, const std::string& topic, int partitions);

// Publishes one record synchronously (acks=all); for sentinels and fixtures.
void produce_record(const std::string& bootstrap, const std::string& topic, const std::string& key,
                    const std::string& value);

// An answer of gitopsd's own HTTP client (common/include/gitopsd/http_client.hpp): status,
// headers by lower-case name, body.
using HttpResponse = gitopsd::HttpResponse;

// One HTTP/1.1 request to 127.0.0.1:port on a new connection (Connection: close); `timeout`
// bounds the whole exchange. Throws std::runtime_error saying what failed.
HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::map<std::string, std::string>& headers,
                          const std::string& body,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The same over TLS to localhost:port, trusting only the PEM certificate `ca_file`
// (verification on: it must name localhost).
HttpResponse https_request(int port, const std::string& ca_file, const std::string& method,
                           const std::string& target,
                           const std::map<std::string, std::string>& headers,
                           const std::string& body,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

// One HTTP/1.1 connection kept open across requests, as a Git host's sender keeps it.
// request() throws when the connection fails or the server answers `Connection: close`.
class HttpConnection {
 public:
  explicit HttpConnection(int port);
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers, const std::string& body,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  std::unique_ptr<gitopsd::HttpConnection> connection_;
};

// The value of one series ("name{labels}") on a Prometheus text page, or -1 when absent.
double metric_value(const std::string& page, const std::string& series);

// A raw TCP connection to 127.0.0.1:port, for what a well-behaved HTTP client would not do;
// -1 when it cannot connect.
int connect_loopback(int port);
// Everything the server sends until it closes (or 10 s pass); closes `fd`.
std::string read_until_closed(int fd);

// A child process (posix_spawn, no shell) with stdout+stderr captured to a log file.
class Process {
 public:
  // `extra_env` is added to (or replaces in) this process's environment.
  Process(const std::vector<std::string>& argv, const std::string& log_path,
          const std::map<std::string, std::string>& extra_env = {});
  ~Process();  // SIGKILLs it if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // SIGTERM, then SIGKILL if it has not exited within `grace`; waits for it.
  void terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Waits for exit; the exit code, 128+signal if killed, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string log() const;
  // Resident set size in KiB (VmRSS), 0 if unknown.
  long rss_kib() const;
  // Peak resident set size in KiB (VmHWM), 0 if unknown.
  long peak_rss_kib() const;
  // CPU time used so far, user + system (utime + stime of /proc/PID/stat), in seconds.
  double cpu_seconds() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Config text for a receiver on free ports; `repositories_yaml` is the `repositories:` list body.
struct ReceiverSetup {
  std::string bootstrap;
  std::string events_topic;
  int port = 0;
  int admin_port = 0;
  std::string extra_receiver_yaml;  // more lines under `receiver:`, indented by 2
  std::string repositories_yaml;
};
std::string receiver_config_yaml(const ReceiverSetup& setup);
// A receiver on fresh free ports that publishes to a fresh events topic on `bootstrap`,
// created here (one partition).
ReceiverSetup fresh_receiver_setup(const std::string& bootstrap);
// The `repositories:` entry of GitHub repository `infra` (match acme/infra, no targets) whose
// secret is in `secret_file`.
std::string github_infra_yaml(const std::string& secret_file);

// Starts gitopsd-receiver with the config and waits until /healthz answers. `launcher` runs
// it, e.g. {"/usr/bin/prlimit", "--nofile=1024:1024", "--"} (which execs it: same pid).
std::unique_ptr<Process> start_receiver(const TempDir& dir, const ReceiverSetup& setup,
                                        const std::vector<std::string>& launcher = {});

}  // namespace gitopsd::test
