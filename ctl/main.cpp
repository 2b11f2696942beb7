// gitopsctl: the operator's command line. Wiring only; commands live in gitopsd_ctl.
#include <fstream>
#include <iostream>
#include <sstream>

#include "gitopsd/cli.hpp"
#include "gitopsd/config.hpp"
#include "gitopsd/ctl/dev.hpp"
#include "gitopsd/ctl/sign.hpp"

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
    "      the answer (exit 0 on 2xx)\n";

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
  std::cout << path << ": ok (" << config->repositories.size() << " repositories)\n";
  return 0;
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
  return usage_error("unknown command '" + std::string(command) + "'");
}
