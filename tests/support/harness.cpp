#include "harness.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <map>
#include <random>
#include <sstream>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <variant>

#include "gitopsd/c_handle.hpp"

extern char** environ;

namespace gitopsd::test {

using namespace std::chrono_literals;

namespace fs = std::filesystem;

namespace {
// A word broker.sh recorded in the fixture broker's directory ("port", "version").
std::string fixture_broker_file(const std::string& name) {
  std::ifstream in(std::string(GITOPSD_TEST_KAFKA_DIR) + "/" + name);
  std::string word;
  if (!(in >> word))
    throw std::runtime_error("no Kafka broker: run through ctest (fixture kafka_broker)");
  return word;
}
}  // namespace

std::string kafka_bootstrap() { return "127.0.0.1:" + fixture_broker_file("port"); }

std::string kafka_version() { return fixture_broker_file("version"); }

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(salt % 100000);
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {
// True if a TCP socket can bind 127.0.0.1:port right now.
bool port_is_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}
}  // namespace

int free_port_range(int count) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int base = free_port();
    bool all = base + count - 1 <= 65535;
    for (int p = base + 1; all && p < base + count; ++p) all = port_is_free(p);
    if (all) return base;
  }
  throw std::runtime_error("no " + std::to_string(count) + " consecutive free ports");
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "gitopsd-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  auto p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

namespace {
void set(RdKafka::Conf& conf, const std::string& k, const std::string& v) {
  std::string err;
  if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(k + ": " + err);
}
}  // namespace

struct TopicReader::Impl {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::string topic;
  bool assigned = false;
  std::vector<std::int32_t> partitions;
  std::vector<KafkaRecord> records;

  // Assigns all partitions once the topic exists (it is auto-created on first produce).
  void try_assign() {
    RdKafka::Metadata* md = nullptr;
    if (consumer->metadata(true, nullptr, &md, 1000) != RdKafka::ERR_NO_ERROR) return;
    std::unique_ptr<RdKafka::Metadata> owned(md);
    std::vector<RdKafka::TopicPartition*> parts;
    for (const auto* tm : *md->topics()) {
      if (tm->topic() != topic || tm->err() != RdKafka::ERR_NO_ERROR) continue;
      for (const auto* pm : *tm->partitions()) {
        parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), RdKafka::Topic::OFFSET_BEGINNING));
        partitions.push_back(pm->id());
      }
    }
    if (parts.empty()) return;
    consumer->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    assigned = true;
  }

  // Waits for the assignment until `deadline`.
  bool assign_by(std::chrono::steady_clock::time_point deadline) {
    while (!assigned && std::chrono::steady_clock::now() < deadline) {
      try_assign();
      if (!assigned) std::this_thread::sleep_for(50ms);
    }
    return assigned;
  }

  // One record, or none within `wait`.
  void consume_one(std::chrono::milliseconds wait) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(static_cast<int>(wait.count())));
    if (m->err() != RdKafka::ERR_NO_ERROR) return;
    records.push_back({m->key() ? *m->key() : std::string(),
                       std::string(static_cast<const char*>(m->payload()), m->len()), m->partition(),
                       m->offset()});
  }

  // True once the next record this reader would fetch lies at or past `end` on every partition.
  bool reached(const std::map<std::int32_t, std::int64_t>& end) {
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto p : partitions) parts.push_back(RdKafka::TopicPartition::create(topic, p));
    consumer->position(parts);
    bool all = true;
    for (const auto* tp : parts) {
      const auto target = end.at(tp->partition());
      // Before the first fetch the position is unset (negative); an empty partition is done.
      if (target > 0 && tp->offset() < target) all = false;
    }
    RdKafka::TopicPartition::destroy(parts);
    return all;
  }
};

TopicReader::TopicReader(const std::string& bootstrap, const std::string& topic) : impl_(new Impl) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set(*conf, "bootstrap.servers", bootstrap);
  set(*conf, "group.id", unique_name("reader"));
  set(*conf, "enable.auto.commit", "false");
  set(*conf, "allow.auto.create.topics", "false");
  set(*conf, "isolation.level", "read_committed");
  std::string err;
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl_->consumer) throw std::runtime_error(err);
  impl_->topic = topic;
}

TopicReader::~TopicReader() {
  impl_->consumer->close();
  delete impl_;
}

std::vector<KafkaRecord> TopicReader::read(std::size_t count, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!impl_->assign_by(deadline)) return impl_->records;
  while (impl_->records.size() < count && std::chrono::steady_clock::now() < deadline)
    impl_->consume_one(100ms);
  return impl_->records;
}

std::vector<KafkaRecord> TopicReader::read_to_end(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!impl_->assign_by(deadline))
    throw std::runtime_error("read_to_end: topic " + impl_->topic + " does not exist");
  std::map<std::int32_t, std::int64_t> end;
  for (auto p : impl_->partitions) {
    std::int64_t low = 0, high = 0;
    auto rc = impl_->consumer->query_watermark_offsets(impl_->topic, p, &low, &high, 10000);
    if (rc != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("read_to_end: watermarks of " + impl_->topic + ": " + RdKafka::err2str(rc));
    end[p] = high;
  }
  while (!impl_->reached(end)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("read_to_end: " + impl_->topic + " not read to its end in time");
    impl_->consume_one(100ms);
  }
  return impl_->records;
}

std::vector<int> group_assignments(const std::string& bootstrap, const std::string& group) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
  CHandle<rd_kafka_t, rd_kafka_destroy> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error));
  if (!rk) throw std::runtime_error(error);
  CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy> queue(rd_kafka_queue_new(rk.get()));
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(rk.get(), groups, 1, nullptr, queue.get());
  CHandle<rd_kafka_event_t, rd_kafka_event_destroy> event(rd_kafka_queue_poll(queue.get(), 30000));
  std::vector<int> members;
  if (!event || rd_kafka_event_error(event.get())) return members;
  const auto* result = rd_kafka_event_DescribeConsumerGroups_result(event.get());
  size_t count = 0;
  const auto** descriptions = rd_kafka_DescribeConsumerGroups_result_groups(result, &count);
  for (size_t g = 0; g < count; ++g) {
    if (rd_kafka_ConsumerGroupDescription_error(descriptions[g])) continue;
    for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(descriptions[g]); ++m) {
      const auto* member = rd_kafka_ConsumerGroupDescription_member(descriptions[g], m);
      members.push_back(
          rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(member))->cnt);
    }
  }
  return members;
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), &rd_kafka_destroy);
  if (!rk) throw std::runtime_error(err);
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(rk.get()),
                                                                             &rd_kafka_queue_destroy);
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_CreateTopics(rk.get(), &new_topic, 1, nullptr, queue.get());
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), 30000);
  std::string error;
  if (event == nullptr) {
    error = "CreateTopics timed out";
  } else {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    if (rd_kafka_event_error(event)) error = rd_kafka_event_error_string(event);
    else if (count == 1 && rd_kafka_topic_result_error(topics[0]))
      error = rd_kafka_topic_result_error_string(topics[0]);
    rd_kafka_event_destroy(event);
  }
  rd_kafka_NewTopic_destroy(new_topic);
  if (!error.empty()) throw std::runtime_error("create topic " + topic + ": " + error);
}

void produce_record(const std::string& bootstrap, const std::string& topic, const std::string& key,
                    const std::string& value) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set(*conf, "bootstrap.servers", bootstrap);
  set(*conf, "enable.idempotence", "true");
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error(err);
  auto rc = p->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                       const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0,
                       nullptr, nullptr);
  if (rc != RdKafka::ERR_NO_ERROR) throw std::runtime_error(RdKafka::err2str(rc));
  if (p->flush(30000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("flush timed out");
}

namespace {
// The answer, or the client's error as an exception.
HttpResponse answer_or_throw(std::variant<HttpResponse, std::string> answer) {
  if (auto* error = std::get_if<std::string>(&answer)) throw std::runtime_error(*error);
  return std::get<HttpResponse>(std::move(answer));
}

HttpRequest request_of(const std::string& url, const std::string& method,
                       const std::map<std::string, std::string>& headers, const std::string& body,
                       std::chrono::milliseconds timeout, const std::string& ca_file = "") {
  return {.method = method, .url = url, .headers = {headers.begin(), headers.end()},
          .body = body, .timeout = timeout, .ca_file = ca_file};
}
}  // namespace

HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::map<std::string, std::string>& headers, const std::string& body,
                          std::chrono::milliseconds timeout) {
  const auto url = "http://127.0.0.1:" + std::to_string(port) + target;
  return answer_or_throw(gitopsd::http_request(request_of(url, method, headers, body, timeout)));
}

HttpResponse https_request(int port, const std::string& ca_file, const std::string& method,
                           const std::string& target,
                           const std::map<std::string, std::string>& headers,
                           const std::string& body, std::chrono::milliseconds timeout) {
  const auto url = "https://localhost:" + std::to_string(port) + target;
  return answer_or_throw(
      gitopsd::http_request(request_of(url, method, headers, body, timeout, ca_file)));
}

HttpConnection::HttpConnection(int port) {
  auto opened = gitopsd::HttpConnection::open("http://127.0.0.1:" + std::to_string(port), 10s);
  if (auto* error = std::get_if<std::string>(&opened)) throw std::runtime_error(*error);
  connection_ = std::move(std::get<std::unique_ptr<gitopsd::HttpConnection>>(opened));
}

HttpResponse HttpConnection::request(const std::string& method, const std::string& target,
                                     const std::map<std::string, std::string>& headers,
                                     const std::string& body, std::chrono::milliseconds timeout) {
  auto response =
      answer_or_throw(connection_->request(request_of(target, method, headers, body, timeout)));
  auto connection = response.headers.find("connection");
  if (connection != response.headers.end() && connection->second == "close")
    throw std::runtime_error("the server closed the keep-alive connection");
  return response;
}

double metric_value(const std::string& page, const std::string& series) {
  for (auto at = page.find(series + " "); at != std::string::npos; at = page.find(series + " ", at + 1))
    if (at == 0 || page[at - 1] == '\n') return std::stod(page.substr(at + series.size() + 1));
  return -1;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path,
                 const std::map<std::string, std::string>& extra_env)
    : log_path_(log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (!extra_env.contains(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : extra_env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(rc));
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(10s);
  }
}

bool Process::running() {
  if (exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void Process::signal(int sig) { ::kill(pid_, sig); }

void Process::terminate(std::chrono::milliseconds grace) {
  if (!running()) return;
  signal(SIGTERM);
  if (!wait(grace)) {
    signal(SIGKILL);
    wait(grace);
  }
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  wait_until([this] { return !running(); }, timeout, 10ms);
  return exit_code_;
}

std::string Process::log() const { return file_contents(log_path_); }

std::string file_contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
long proc_status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  return 0;
}
}  // namespace

long Process::rss_kib() const { return proc_status_kib(pid_, "VmRSS:"); }
long Process::peak_rss_kib() const { return proc_status_kib(pid_, "VmHWM:"); }

double Process::cpu_seconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after "(comm)", which may itself hold spaces: state is field 3, utime 14, stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_until_closed(int fd) {
  std::string answer;
  char buf[4096];
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return answer;
}

ReceiverSetup fresh_receiver_setup(const std::string& bootstrap) {
  ReceiverSetup setup;
  setup.bootstrap = bootstrap;
  setup.events_topic = unique_name("events");
  // Created up front, as `gitopsctl init-topics` does before a receiver starts: left to the
  // broker's auto-creation, the first publish waits about 2 s for the new topic's leader.
  create_topic(bootstrap, setup.events_topic, 1);
  setup.port = free_port();
  setup.admin_port = free_port();
  return setup;
}

std::string github_infra_yaml(const std::string& secret_file) {
  return "  - {name: infra, provider: github, match: acme/infra, "
         "url: https://github.com/acme/infra.git,\n"
         "     secrets: [{file: " + secret_file + "}], targets: []}\n";
}

std::string receiver_config_yaml(const ReceiverSetup& s) {
  std::ostringstream y;
  y << "kafka:\n  brokers: \"" << s.bootstrap << "\"\n  topics: {events: " << s.events_topic
    << "}\n"
    << "receiver:\n  listen: \"127.0.0.1:" << s.port << "\"\n  admin_listen: \"127.0.0.1:"
    << s.admin_port << "\"\n  threads: 2\n"
    << s.extra_receiver_yaml << "repositories:\n"
    << s.repositories_yaml;
  return y.str();
}

std::unique_ptr<Process> start_receiver(const TempDir& dir, const ReceiverSetup& setup,
                                        const std::vector<std::string>& launcher) {
  auto config = dir.write("gitopsd.yaml", receiver_config_yaml(setup));
  std::vector<std::string> argv = launcher;
  argv.insert(argv.end(), {GITOPSD_RECEIVER_BIN, "--config", config});
  auto process = std::make_unique<Process>(argv, dir.path() + "/receiver.log");
  bool up = wait_until(
      [&] {
        if (!process->running()) return true;
        try {
          return http_request(setup.admin_port, "GET", "/healthz", {}, "", 1s).status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      20s, 50ms);
  if (!up || !process->running())
    throw std::runtime_error("receiver did not start:\n" + process->log());
  return process;
}

}  // namespace gitopsd::test
