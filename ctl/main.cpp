// gitopsctl: the operator's command line. Argument parsing (CLI11) and wiring only; commands
// live in gitopsd_ctl. `gitopsctl dev` is a separate program (ctl/dev/), so that gitopsctl
// itself links no git or receiver code.
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "gitopsd/cli.hpp"
#include "gitopsd/config.hpp"
#include "gitopsd/ctl/dlq.hpp"
#include "gitopsd/ctl/events.hpp"
#include "gitopsd/ctl/init_topics.hpp"
#include "gitopsd/ctl/sign.hpp"
#include "gitopsd/ctl/status.hpp"
#include "gitopsd/ctl/sync.hpp"
#include "gitopsd/log.hpp"

#ifndef GITOPSD_DEV_PROGRAM
#error "ctl/CMakeLists.txt sets GITOPSD_DEV_PROGRAM (gitopsctl-dev, relative to gitopsctl)"
#endif

namespace {

using namespace gitopsd;
namespace fs = std::filesystem;

constexpr int kExitUsage = 2;

constexpr const char* kClusterNote =
    "init-topics, status, events, dlq and sync work against the Kafka cluster of the config\n"
    "(--config, default /etc/gitopsd/gitopsd.yaml); --timeout bounds reaching it. Exit codes:\n"
    "0 done, 1 failed, 2 bad arguments or an invalid config.";

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int usage_error(const std::string& message) {
  std::cerr << "gitopsctl: " << message << "\nRun 'gitopsctl --help' for the commands and options.\n";
  return kExitUsage;
}

// Our own words: CLI11's range message differs between 2.1 (Debian 12) and 2.4 (Debian 13).
const CLI::Validator kPositive(
    [](const std::string& text) {
      const bool ok = !text.empty() && text.size() <= 7 &&
                      text.find_first_not_of("0123456789") == std::string::npos &&
                      std::stoul(text) >= 1 && std::stoul(text) <= 1'000'000;
      return ok ? std::string() : std::string("needs a number from 1 to 1000000");
    },
    "N");

// What an argument that failed our own checks (after CLI11's) means to the caller.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The options every command against the cluster takes.
struct ClusterArgs {
  std::string config_path = kDefaultConfigPath;
  bool json = false;
  std::string timeout = "30s";

  void add_to(CLI::App& command, bool with_json = true) {
    command.add_option("--config", config_path, "configuration file")->capture_default_str();
    command.add_option("--timeout", timeout, "how long to try reaching the cluster")
        ->capture_default_str();
    if (with_json) command.add_flag("--json", json, "JSON output");
  }
  Duration parsed_timeout() const { return duration("--timeout", timeout); }

  static Duration duration(const std::string& option, const std::string& text) {
    try {
      return parse_duration(text);
    } catch (const std::exception& e) {
      throw UsageError(option + ": " + e.what());
    }
  }
};

// The config for a command that talks to the cluster. Its errors are reported once, by the
// command: librdkafka's and the producer's own logging (retries, "brokers are down") is off
// unless kafka.properties sets log_level.
std::optional<Config> load_cluster_config(const std::string& path) {
  auto config = load_config_or_report(path, BrokerUse::cluster);
  if (!config) return config;
  config->kafka.properties.try_emplace("log_level", "0");
  init_logging("off");
  return config;
}

template <class Options>
void set_cluster_options(const ClusterArgs& args, Options& options) {
  options.json = args.json;
  options.timeout = args.parsed_timeout();
}

int sign(const std::string& secret_file, const std::string& provider_name,
         const std::string& event, const std::string& delivery, const std::string& send_url,
         const std::string& body_file) {
  const Provider provider = provider_name == "github"   ? Provider::github
                            : provider_name == "gitlab" ? Provider::gitlab
                                                        : Provider::gitea;
  auto secret = read_file(secret_file);
  if (!secret) return usage_error("sign: cannot read " + secret_file);
  if (secret->ends_with("\r\n")) secret->resize(secret->size() - 2);
  else if (secret->ends_with('\n')) secret->pop_back();
  auto body = read_file(body_file);
  if (!body) return usage_error("sign: cannot read " + body_file);

  ctl::Headers headers;
  try {
    headers = ctl::signed_headers(provider, *secret, *body, event, delivery,
                                  std::chrono::system_clock::now());
  } catch (const std::exception& e) {
    return usage_error(std::string("sign: ") + e.what());
  }
  if (send_url.empty()) {
    for (const auto& [name, value] : headers) std::cout << name << ": " << value << "\n";
    return 0;
  }
  auto result = ctl::send_webhook(send_url, headers, *body, std::chrono::seconds(30));
  if (result.status == 0) {
    std::cerr << "gitopsctl: sending to " << send_url << " failed: " << result.body << "\n";
    return 1;
  }
  std::cout << result.status << " " << result.body;
  if (!result.body.ends_with('\n')) std::cout << "\n";
  return result.status >= 200 && result.status < 300 ? 0 : 1;
}

// Who runs gitopsctl, for the audit log.
std::string login_name() {
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr)
    return pw->pw_name;
  const char* user = std::getenv("USER");
  return user ? user : "";
}

std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // set from a signal handler

// `gitopsctl dev ARGS` runs gitopsctl-dev ARGS: next to this program in a build tree, else
// where the package installs it, found from this program's directory: the install prefix (a
// package's /usr, `cmake --install --prefix`) need not be the one the build was configured
// with. Only returns when it cannot be started.
int exec_dev(const std::vector<std::string>& args) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::cerr << "gitopsctl: cannot find gitopsctl-dev: /proc/self/exe: " << ec.message() << "\n";
    return 1;
  }
  const fs::path candidates[] = {self.parent_path() / "gitopsctl-dev",
                                 (self.parent_path() / GITOPSD_DEV_PROGRAM).lexically_normal()};
  for (const fs::path& program : candidates) {
    if (access(program.c_str(), X_OK) != 0) continue;
    // gitopsctl-dev prints commands that run gitopsctl: this one, by its full path.
    std::vector<std::string> words = {program.string(), "--gitopsctl", self.string()};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    std::cerr << "gitopsctl: cannot run " << program << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cerr << "gitopsctl: dev is not installed (looked for " << candidates[0] << " and "
            << candidates[1] << "); build it with `cmake --build build --target gitopsctl-dev`\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gitopsctl: the gitopsd operator's command line", "gitopsctl"};
  app.require_subcommand(1);
  app.footer(kClusterNote);

  std::string check_path = kDefaultConfigPath;
  CLI::App& check = *app.add_subcommand(
      "check-config", "validate a configuration file as the daemons would (exit 0 valid, 2 invalid)");
  check.add_option("--config", check_path, "configuration file")->capture_default_str();

  CLI::App& dev = *app.add_subcommand(
      "dev", "try gitopsd on this machine: an embedded Kafka broker, the receiver and a worker "
             "in one process (gitopsctl dev --help for its options)");
  dev.prefix_command();  // everything after `dev`, --help too, goes to gitopsctl-dev
  dev.set_help_flag();

  std::string secret_file, provider, event, delivery, send_url, body_file;
  CLI::App& sign_command = *app.add_subcommand(
      "sign", "print the headers a Git host would send with the JSON body in FILE, signed with "
              "the secret in --secret-file (one trailing newline removed); with --send, POST it "
              "and print the answer (exit 0 on 2xx)");
  sign_command.add_option("--secret-file", secret_file, "file holding the webhook secret")->required();
  sign_command.add_option("--provider", provider, "the Git host")
      ->required()
      ->check(CLI::IsMember({"github", "gitlab", "gitea"}));
  sign_command.add_option("--event", event, "the host's event name (default: push)");
  sign_command.add_option("--delivery", delivery, "the delivery id (default: a new UUID)");
  sign_command.add_option("--send", send_url, "URL to POST the signed webhook to");
  sign_command.add_option("FILE", body_file, "the JSON body")->required();

  ClusterArgs init_args;
  ctl::InitTopicsOptions init_options;
  CLI::App& init = *app.add_subcommand(
      "init-topics", "create the five kafka.topics (state and statuses compacted; events kept "
                     "7d, results 30d, dlq 90d); topics that exist are checked: exit 1 if one is "
                     "unfit");
  init_args.add_to(init);
  init.add_option("--partitions", init_options.partitions, "partitions per topic")
      ->check(kPositive);
  init.add_option("--replication", init_options.replication, "replicas per partition")
      ->check(kPositive);

  ClusterArgs status_args;
  ctl::StatusOptions status_options;
  CLI::App& status = *app.add_subcommand(
      "status", "what every target runs (state topic): commit, status, applied at, age, last "
                "error, and its last commit status on the Git host (statuses topic)");
  status_args.add_to(status);
  status.add_option("--repo", status_options.repository, "only this repository");
  status.add_option("--target", status_options.target, "only this target");

  ClusterArgs events_args;
  ctl::EventsOptions events_options;
  std::string since;
  CLI::App& events = *app.add_subcommand(
      "events", "the results as an audit log with who and what; --all also shows the resync's "
                "`unchanged` results; --follow prints new ones until Ctrl-C");
  events_args.add_to(events);
  events.add_flag("--follow", events_options.follow, "print new results until Ctrl-C");
  events.add_flag("--all", events_options.all, "include the resync's unchanged results");
  events.add_option("--repo", events_options.repository, "only this repository");
  events.add_option("--target", events_options.target, "only this target");
  events.add_option("--since", since, "only results newer than this (e.g. 1h)");

  ClusterArgs dlq_args;
  ctl::DlqOptions dlq_options;
  CLI::App& dlq = *app.add_subcommand("dlq", "the dead-letter queue");
  dlq.require_subcommand(1);
  CLI::App& dlq_list = *dlq.add_subcommand("list", "dead-lettered events and whether each was replayed");
  dlq_args.add_to(dlq_list);
  CLI::App& dlq_replay = *dlq.add_subcommand(
      "replay", "re-publish dead-lettered events to the events topic, each once");
  dlq_args.add_to(dlq_replay);
  auto* replay_id = dlq_replay.add_option("--id", dlq_options.id, "PARTITION:OFFSET of one");
  auto* replay_all = dlq_replay.add_flag("--all", dlq_options.all, "every one not replayed yet");
  replay_id->excludes(replay_all);

  ClusterArgs sync_args;
  ctl::SyncOptions sync_options;
  std::string wait_timeout;
  CLI::App& sync = *app.add_subcommand(
      "sync", "ask the workers to reconcile REPO now (apply the branch tip, correct drift); "
              "--wait prints each target's result, exit 1 if one failed");
  sync_args.add_to(sync);
  sync.add_option("REPO", sync_options.repository, "a configured repository")->required();
  sync.add_option("--target", sync_options.targets, "only this target (repeatable)");
  sync.add_flag("--wait", sync_options.wait, "wait for every target's result");
  sync.add_option("--wait-timeout", wait_timeout, "how long --wait waits (default 15m)");

  // CLI11 would call a misspelt command only "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    const auto commands = app.get_subcommands([&](CLI::App* c) { return c->get_name() == argv[1]; });
    if (commands.empty()) return usage_error("unknown command '" + std::string(argv[1]) + "'");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return usage_error(e.what());
  }

  try {
    if (check.parsed()) {
      auto config = load_config_or_report(check_path, BrokerUse::cluster);
      if (!config) return kExitBadConfig;
      return report_valid_config(*config);
    }
    if (dev.parsed()) return exec_dev(dev.remaining());
    if (sign_command.parsed()) return sign(secret_file, provider, event, delivery, send_url, body_file);
    if (init.parsed()) {
      if (init_options.partitions == 0 || init_options.replication == 0)
        throw UsageError("init-topics: --partitions and --replication are required");
      set_cluster_options(init_args, init_options);
      auto config = load_cluster_config(init_args.config_path);
      if (!config) return kExitBadConfig;
      return ctl::run_init_topics(*config, init_options, std::cout, std::cerr);
    }
    if (status.parsed()) {
      set_cluster_options(status_args, status_options);
      auto config = load_cluster_config(status_args.config_path);
      if (!config) return kExitBadConfig;
      return ctl::run_status(*config, status_options, std::cout, std::cerr);
    }
    if (events.parsed()) {
      set_cluster_options(events_args, events_options);
      if (!since.empty()) events_options.since = ClusterArgs::duration("--since", since);
      auto config = load_cluster_config(events_args.config_path);
      if (!config) return kExitBadConfig;
      std::signal(SIGINT, [](int) { interrupted.store(true); });
      std::signal(SIGTERM, [](int) { interrupted.store(true); });
      return ctl::run_events(*config, events_options, interrupted, std::cout, std::cerr);
    }
    if (dlq_list.parsed() || dlq_replay.parsed()) {
      if (dlq_replay.parsed() && dlq_options.all == !dlq_options.id.empty())
        throw UsageError("dlq replay: give either --id ID or --all");
      set_cluster_options(dlq_args, dlq_options);
      auto config = load_cluster_config(dlq_args.config_path);
      if (!config) return kExitBadConfig;
      return dlq_list.parsed() ? ctl::run_dlq_list(*config, dlq_options, std::cout, std::cerr)
                               : ctl::run_dlq_replay(*config, dlq_options, std::cout, std::cerr);
    }
    if (sync.parsed()) {
      set_cluster_options(sync_args, sync_options);
      if (!wait_timeout.empty())
        sync_options.wait_timeout = ClusterArgs::duration("--wait-timeout", wait_timeout);
      auto config = load_cluster_config(sync_args.config_path);
      if (!config) return kExitBadConfig;
      sync_options.sender = login_name();
      return ctl::run_sync(*config, sync_options, std::cout, std::cerr);
    }
  } catch (const UsageError& e) {
    return usage_error(e.what());
  }
  return usage_error("no command");  // require_subcommand(1) makes this unreachable
}
