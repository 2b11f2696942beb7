// Running the real gitopsctl binary against the suite's broker, with a config naming fresh
// topics, a served git repository and (optionally) the real gitopsd-worker.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <sstream>

#include "git_servers.hpp"
#include "harness.hpp"

extern char** environ;

namespace gitopsd::test {

struct CtlRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  std::chrono::milliseconds took{0};
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// gitopsctl started with `args`, stdout and stderr to files; finish() collects it. Commands
// that each wait out a timeout run side by side this way.
class CtlProcess {
 public:
  CtlProcess(const TempDir& dir, const std::vector<std::string>& args) {
    static int counter = 0;
    base_ = dir.path() + "/ctl-" + std::to_string(++counter);
    std::vector<std::string> argv{GITOPSCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, (base_ + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (base_ + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    started_ = std::chrono::steady_clock::now();
    int rc = posix_spawn(&pid_, raw[0], &actions, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error(std::string("spawn gitopsctl: ") + std::strerror(rc));
  }
  CtlProcess(const CtlProcess&) = delete;
  CtlProcess& operator=(const CtlProcess&) = delete;

  // Waits for the exit; kills it once `timeout` has passed since the start.
  CtlRun finish(std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    CtlRun run;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() - started_ > timeout) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        run.err = "killed after the test's timeout\n";
        break;
      }
      usleep(10'000);
    }
    run.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    run.out = slurp(base_ + ".out");
    run.err += slurp(base_ + ".err");
    return run;
  }

 private:
  std::string base_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_;
};

// Runs gitopsctl with `args` to completion (killed after `timeout`), stdout and stderr apart.
inline CtlRun run_ctl(const TempDir& dir, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  return CtlProcess(dir, args).finish(timeout);
}

// True when a line of a printed table holds `cells` as consecutive whitespace-separated words.
inline bool has_row(const std::string& table, const std::vector<std::string>& cells) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    for (std::size_t i = 0; i + cells.size() <= words.size(); ++i)
      if (std::equal(cells.begin(), cells.end(), words.begin() + static_cast<std::ptrdiff_t>(i)))
        return true;
  }
  return false;
}

inline std::ostream& operator<<(std::ostream& os, const CtlRun& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

// A repository `infra` (served by git daemon) with targets given as YAML, fresh topics, and
// the worker on demand.
class CtlFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("web/index.html", "<h1>v1</h1>\n");
    repo_.write("api/app.conf", "port=1\n");
    repo_.commit("first");
    repo_.push();
    daemon_ = std::make_unique<GitDaemon>(repo_.served_root());
    dir_.write("secret", "ctl-secret");
    web_dest_ = dir_.path() + "/web";
    api_dest_ = dir_.path() + "/api";
    targets_yaml_ = "      - {name: web, path: web, apply: {type: files, dest: " + web_dest_ +
                    "}}\n      - {name: api, path: api, apply: {type: files, dest: " + api_dest_ +
                    "}}\n";
  }

  void write_config() {
    const std::string yaml =
        "kafka:\n  brokers: \"" + kafka_bootstrap() + "\"\n  topics: {events: " + events_ +
        ", results: " + results_ + ", state: " + state_ + ", dlq: " + dlq_ +
        ", statuses: " + statuses_ + "}\n  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}\n"
        "worker:\n  group_id: " + unique_name("group") + "\n  state_dir: " + dir_.path() +
        "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(worker_admin_port_) +
        "\"\n  resync_interval: " + resync_ + "\n  max_attempts: 1\n  apply_timeout: 30s\n"
        "repositories:\n  - name: infra\n    provider: github\n    match: acme/infra\n    url: " +
        daemon_->url(repo_.name()) + "\n    branch: main\n    secrets: [{file: " + dir_.path() +
        "/secret}]\n    targets:\n" + targets_yaml_;
    config_ = dir_.write("gitopsd.yaml", yaml);
  }

  // Writes the config, creates the topics with gitopsctl itself and starts a worker.
  void start_worker() {
    write_config();
    auto init = ctl({"init-topics", "--partitions", "1", "--replication", "1"});
    ASSERT_EQ(init.exit_code, 0) << init;
    worker_ = std::make_unique<Process>(std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", config_},
                                        dir_.path() + "/worker.log");
  }

  // gitopsctl with this test's config appended.
  CtlRun ctl(std::vector<std::string> args,
             std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    return start_ctl(std::move(args))->finish(timeout);
  }
  std::unique_ptr<CtlProcess> start_ctl(std::vector<std::string> args) {
    args.push_back("--config");
    args.push_back(config_);
    return std::make_unique<CtlProcess>(dir_, args);
  }

  static boost::json::value json_of(const std::string& text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    EXPECT_FALSE(ec) << "not one JSON document: " << text;
    return v;
  }

  // JSON lines.
  static std::vector<boost::json::object> json_lines(const std::string& text) {
    std::vector<boost::json::object> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
    return out;
  }

  std::string worker_log() const { return worker_ ? worker_->log() : std::string(); }

  TempDir dir_;
  GitRepoFixture repo_{"infra"};
  std::unique_ptr<GitDaemon> daemon_;
  std::string events_ = unique_name("events"), results_ = unique_name("results"),
              state_ = unique_name("state"), dlq_ = unique_name("dlq"),
              statuses_ = unique_name("statuses");
  std::string web_dest_, api_dest_, targets_yaml_, config_;
  std::string resync_ = "7d";  // no re-check within a test (its slot may come any time)
  int worker_admin_port_ = free_port();
  std::unique_ptr<Process> worker_;
};

}  // namespace gitopsd::test
