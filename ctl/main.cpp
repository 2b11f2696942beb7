// gitopsctl: the operator's command line. Wiring only; commands live in gitopsd_ctl.
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "gitopsd/cli.hpp"
#include "gitopsd/config.hpp"
#include "gitopsd/ctl/dev.hpp"
#include "gitopsd/ctl/dlq.hpp"
#include "gitopsd/ctl/events.hpp"
#include "gitopsd/ctl/init_topics.hpp"
#include "gitopsd/ctl/sign.hpp"
#include "gitopsd/ctl/status.hpp"
#include "gitopsd/ctl/sync.hpp"
#include "gitopsd/log.hpp"

namespace {

using namespace gitopsd;

constexpr const char* kUsage =
    "usage: gitopsctl COMMAND [options]\n"
    "\n"
    "  check-config [--config PATH]\n"
    "      validate a configuration file (exit 0 valid, 2 invalid)\n"
    "  dev [--config PATH] [--log-level LEVEL]\n"
    "      try gitopsd on this machine: an embedded Kafka broker (in memory), the receiver and\n"
    "      a worker in this one process, on a config whose kafka.brokers is \"embedded\"\n"
    "      (default deploy/examples/dev.yaml, whose repository and secret\n"
    "      scripts/quickstart.sh creates); prints how to push a change and send its webhook,\n"
    "      logs to stderr, runs until SIGINT/SIGTERM (exit 0; 2 for a config it cannot use)\n"
    "  sign --secret-file F --provider github|gitlab|gitea [--event E] [--delivery ID]\n"
    "       [--send URL] FILE\n"
    "      print the headers a Git host would send with the JSON body in FILE, signed with the\n"
    "      secret in F (one trailing newline removed); with --send, POST it to URL and print\n"
    "      the answer (exit 0 on 2xx)\n"
    "\n"
    "Against the Kafka cluster of the config (--config PATH, default /etc/gitopsd/gitopsd.yaml);\n"
    "--timeout D (default 30s) bounds reaching it; exit 1 on failure, 2 for bad arguments:\n"
    "  init-topics --partitions N --replication R [--json]\n"
    "      create the four kafka.topics (state compacted; events kept 7d, results 30d, dlq 90d);\n"
    "      topics that exist are checked: exit 1 if one is unfit (state not compacted, fewer\n"
    "      partitions or replicas than asked)\n"
    "  status [--repo R] [--target T] [--json]\n"
    "      what every target runs (state topic): commit, status, applied at, age, last error\n"
    "  events [--follow] [--repo R] [--target T] [--since 1h] [--all] [--json]\n"
    "      the results as an audit log with who and what; --all also shows the resync's\n"
    "      `unchanged` results; --follow prints new ones until Ctrl-C; --json: JSON lines\n"
    "  dlq list [--json]\n"
    "      dead-lettered events and whether each was replayed\n"
    "  dlq replay (--id PARTITION:OFFSET | --all)\n"
    "      re-publish dead-lettered events to the events topic, each once\n"
    "  sync REPO [--target T]... [--wait [--wait-timeout 15m]] [--json]\n"
    "      ask the workers to reconcile REPO now (apply the branch tip, correct drift); --wait\n"
    "      prints each target's result, exit 1 if one failed\n";

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int usage_error(const std::string& message) {
  std::cerr << "gitopsctl: " << message << "\n\n" << kUsage;
  return 2;
}

int check_config(int argc, char** argv) {
  std::string path = kDefaultConfigPath;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else {
      return usage_error("check-config: unknown argument '" + std::string(arg) + "'");
    }
  }
  auto config = load_config_or_report(path);
  if (!config) return kExitBadConfig;
  return report_valid_config(*config);
}

int dev(int argc, char** argv) {
  ctl::DevOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if ((arg == "--config" || arg == "--log-level") && i + 1 < argc) {
      (arg == "--config" ? options.config_path : options.log_level) = argv[++i];
    } else {
      return usage_error("dev: unknown argument '" + std::string(arg) + "'");
    }
  }
  return ctl::run_dev(options, std::cout);
}

int sign(int argc, char** argv) {
  std::string secret_file, provider_name_arg, event, delivery, send_url, body_file;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--secret-file") ok = value(secret_file);
    else if (arg == "--provider") ok = value(provider_name_arg);
    else if (arg == "--event") ok = value(event);
    else if (arg == "--delivery") ok = value(delivery);
    else if (arg == "--send") ok = value(send_url);
    else if (!arg.starts_with("--") && body_file.empty()) body_file = arg;
    else return usage_error("sign: unknown argument '" + std::string(arg) + "'");
    if (!ok) return usage_error("sign: " + std::string(arg) + " needs a value");
  }
  if (secret_file.empty() || provider_name_arg.empty() || body_file.empty())
    return usage_error("sign: --secret-file, --provider and FILE are required");
  Provider provider;
  if (provider_name_arg == "github") provider = Provider::github;
  else if (provider_name_arg == "gitlab") provider = Provider::gitlab;
  else if (provider_name_arg == "gitea") provider = Provider::gitea;
  else return usage_error("sign: --provider must be github, gitlab or gitea");
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

// The options every cluster command takes, plus its own flags and positional arguments.
struct ClusterArgs {
  std::string config_path = kDefaultConfigPath;
  bool json = false;
  Duration timeout = std::chrono::seconds(30);
  std::vector<std::string> positional;
};

// Parses argv: `flags` take no value, `values` one. Returns an error message or "".
std::string parse_cluster_args(int argc, char** argv, ClusterArgs& args,
                               const std::map<std::string, bool*>& flags,
                               const std::map<std::string, std::function<void(const std::string&)>>& values) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    try {
      if (arg == "--json") {
        args.json = true;
      } else if (auto f = flags.find(arg); f != flags.end()) {
        *f->second = true;
      } else if (arg == "--config" || arg == "--timeout" || values.contains(arg)) {
        if (i + 1 >= argc) return arg + " needs a value";
        std::string value = argv[++i];
        if (arg == "--config") args.config_path = value;
        else if (arg == "--timeout") args.timeout = parse_duration(value);
        else values.at(arg)(value);
      } else if (!arg.starts_with("-")) {
        args.positional.push_back(arg);
      } else {
        return "unknown argument '" + arg + "'";
      }
    } catch (const std::exception& e) {
      return arg + ": " + e.what();
    }
  }
  return {};
}

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

int positive(const std::string& text) {
  std::size_t used = 0;
  int n = std::stoi(text, &used);
  if (used != text.size() || n < 1) throw std::invalid_argument("not a positive integer");
  return n;
}

int init_topics(int argc, char** argv) {
  ClusterArgs args;
  ctl::InitTopicsOptions options;
  auto error = parse_cluster_args(argc, argv, args, {},
                                  {{"--partitions", [&](auto& v) { options.partitions = positive(v); }},
                                   {"--replication", [&](auto& v) { options.replication = positive(v); }}});
  if (error.empty() && !args.positional.empty()) error = "unexpected '" + args.positional[0] + "'";
  if (error.empty() && (options.partitions == 0 || options.replication == 0))
    error = "--partitions and --replication are required";
  if (!error.empty()) return usage_error("init-topics: " + error);
  auto config = load_cluster_config(args.config_path);
  if (!config) return kExitBadConfig;
  options.json = args.json;
  options.timeout = args.timeout;
  return ctl::run_init_topics(*config, options, std::cout, std::cerr);
}

int status(int argc, char** argv) {
  ClusterArgs args;
  ctl::StatusOptions options;
  auto error = parse_cluster_args(argc, argv, args, {},
                                  {{"--repo", [&](auto& v) { options.repository = v; }},
                                   {"--target", [&](auto& v) { options.target = v; }}});
  if (error.empty() && !args.positional.empty()) error = "unexpected '" + args.positional[0] + "'";
  if (!error.empty()) return usage_error("status: " + error);
  auto config = load_cluster_config(args.config_path);
  if (!config) return kExitBadConfig;
  options.json = args.json;
  options.timeout = args.timeout;
  return ctl::run_status(*config, options, std::cout, std::cerr);
}

std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // set from a signal handler

int events(int argc, char** argv) {
  ClusterArgs args;
  ctl::EventsOptions options;
  auto error = parse_cluster_args(
      argc, argv, args, {{"--follow", &options.follow}, {"--all", &options.all}},
      {{"--repo", [&](auto& v) { options.repository = v; }},
       {"--target", [&](auto& v) { options.target = v; }},
       {"--since", [&](auto& v) { options.since = parse_duration(v); }}});
  if (error.empty() && !args.positional.empty()) error = "unexpected '" + args.positional[0] + "'";
  if (!error.empty()) return usage_error("events: " + error);
  auto config = load_cluster_config(args.config_path);
  if (!config) return kExitBadConfig;
  options.json = args.json;
  options.timeout = args.timeout;
  std::signal(SIGINT, [](int) { interrupted.store(true); });
  std::signal(SIGTERM, [](int) { interrupted.store(true); });
  return ctl::run_events(*config, options, interrupted, std::cout, std::cerr);
}

int dlq(int argc, char** argv) {
  if (argc < 1) return usage_error("dlq: list or replay?");
  std::string_view action = argv[0];
  if (action != "list" && action != "replay") return usage_error("dlq: list or replay?");
  ClusterArgs args;
  ctl::DlqOptions options;
  std::map<std::string, bool*> flags;
  std::map<std::string, std::function<void(const std::string&)>> values;
  if (action == "replay") {
    flags["--all"] = &options.all;
    values["--id"] = [&](const std::string& v) { options.id = v; };
  }
  auto error = parse_cluster_args(argc - 1, argv + 1, args, flags, values);
  if (error.empty() && !args.positional.empty()) error = "unexpected '" + args.positional[0] + "'";
  if (error.empty() && action == "replay" && options.all == !options.id.empty())
    error = "give either --id ID or --all";
  if (!error.empty()) return usage_error("dlq " + std::string(action) + ": " + error);
  auto config = load_cluster_config(args.config_path);
  if (!config) return kExitBadConfig;
  options.json = args.json;
  options.timeout = args.timeout;
  return action == "list" ? ctl::run_dlq_list(*config, options, std::cout, std::cerr)
                          : ctl::run_dlq_replay(*config, options, std::cout, std::cerr);
}

// Who runs gitopsctl, for the audit log.
std::string login_name() {
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr)
    return pw->pw_name;
  const char* user = std::getenv("USER");
  return user ? user : "";
}

int sync(int argc, char** argv) {
  ClusterArgs args;
  ctl::SyncOptions options;
  auto error = parse_cluster_args(
      argc, argv, args, {{"--wait", &options.wait}},
      {{"--target", [&](auto& v) { options.targets.push_back(v); }},
       {"--wait-timeout", [&](auto& v) { options.wait_timeout = parse_duration(v); }}});
  if (error.empty() && args.positional.size() != 1) error = "give one REPO";
  if (!error.empty()) return usage_error("sync: " + error);
  auto config = load_cluster_config(args.config_path);
  if (!config) return kExitBadConfig;
  options.repository = args.positional[0];
  options.json = args.json;
  options.timeout = args.timeout;
  options.sender = login_name();
  return ctl::run_sync(*config, options, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("no command");
  std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "check-config") return check_config(argc - 2, argv + 2);
  if (command == "sign") return sign(argc - 2, argv + 2);
  if (command == "dev") return dev(argc - 2, argv + 2);
  if (command == "init-topics") return init_topics(argc - 2, argv + 2);
  if (command == "status") return status(argc - 2, argv + 2);
  if (command == "events") return events(argc - 2, argv + 2);
  if (command == "dlq") return dlq(argc - 2, argv + 2);
  if (command == "sync") return sync(argc - 2, argv + 2);
  return usage_error("unknown command '" + std::string(command) + "'");
}
