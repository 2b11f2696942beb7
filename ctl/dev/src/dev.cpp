#include "gitopsd/ctl/dev.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <sstream>
#include <thread>

#include "gitopsd/cli.hpp"
#include "gitopsd/config_reload.hpp"
#include "gitopsd/ctl/embedded_broker.hpp"
#include "gitopsd/daemon_main.hpp"
#include "gitopsd/crypto.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/notifier/daemon.hpp"
#include "gitopsd/receiver/daemon.hpp"
#include "gitopsd/worker/daemon.hpp"

namespace gitopsd::ctl {
namespace {

namespace fs = std::filesystem;

// Start-up normally reaches the broker in well under a second; the next steps are printed
// once it has (so they are not buried under start-up logs), or after this long regardless.
constexpr Duration kReadyWait = std::chrono::seconds(10);

// `word` as one shell word: as it is when the shell would read it unchanged, else quoted.
std::string shell_quote(const std::string& word) {
  constexpr std::string_view kPlain =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=@%+,";
  if (!word.empty() && word.find_first_not_of(kPlain) == std::string::npos) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// `text` as a printf(1) format that prints it literally.
std::string printf_literal(const std::string& text) {
  std::string format;
  for (char c : text) {
    if (c == '%' || c == '\\') format += c;
    format += c;
  }
  return format;
}

// `s` as a JSON string inside a printf(1) format.
std::string json_string(const std::string& s) {
  return printf_literal(boost::json::serialize(boost::json::value(s)));
}

// Where a client on this machine reaches a listener (a wildcard address is not one).
std::string reachable(const ListenAddress& a) {
  if (a.host == "0.0.0.0") return ListenAddress{"127.0.0.1", a.port}.to_string();
  if (a.host == "::") return ListenAddress{"::1", a.port}.to_string();
  return a.to_string();
}

std::string human(Duration d) {
  const auto ms = d.count();
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& arg : argv) {
    // Appended piece by piece: `" " + shell_quote(arg)` (an insert at the front of a
    // temporary) makes GCC 12 at -O3 raise a false -Wrestrict.
    if (!s.empty()) s += ' ';
    s += shell_quote(arg);
  }
  return s;
}

std::string_view host_name(Provider p) {
  switch (p) {
    case Provider::github:
      return "GitHub";
    case Provider::gitlab:
      return "GitLab";
    case Provider::gitea:
      return "Gitea";
  }
  return "the Git host";
}

// The directory of a local repository URL, or "" for a remote one.
std::string local_path(const std::string& url) {
  if (url.starts_with("file://")) return url.substr(7);
  if (url.starts_with("/")) return url;
  return {};
}

// Where a person edits the repository: next to a local bare repository `X/name.git` the work
// tree `X/name` (scripts/quickstart.sh makes both), else a clone in the working directory.
std::string work_tree_of(const Repository& r) {
  const std::string path = local_path(r.url);
  std::error_code ec;
  if (path.empty()) return fs::absolute(r.name, ec).string();
  fs::path bare(path);
  if (!bare.has_filename()) bare = bare.parent_path();
  if (bare.extension() == ".git") return (bare.parent_path() / bare.stem()).string();
  return bare.string() + "-work";
}

// The shell expression for a secret as a file gitopsctl sign can read.
std::string secret_file_of(const Secret& secret) {
  if (secret.origin.starts_with("file ")) return shell_quote(secret.origin.substr(5));
  // "env NAME": a process substitution hands the variable's value over as a file.
  return "<(printf %s \"$" + secret.origin.substr(4) + "\")";
}

// A printf(1) format for a push body with the fields the receiver reads; `before` and `after`
// are its two %s.
std::string push_template(const Repository& r) {
  const std::string ref = json_string("refs/heads/" + r.branch);
  if (r.provider == Provider::gitlab) {
    return R"({"object_kind":"push","ref":)" + ref + R"(,"before":"%s","after":"%s","project":)" +
           R"({"path_with_namespace":)" + json_string(r.match) + R"(,"git_http_url":)" +
           json_string(r.url) + "}}";
  }
  return R"({"ref":)" + ref + R"(,"before":"%s","after":"%s","repository":{"full_name":)" +
         json_string(r.match) + R"(,"clone_url":)" + json_string(r.url) + "}}";
}

void describe_target(std::ostream& s, const Target& t) {
  const std::string path = t.path.empty() || t.path == "." ? "(whole repository)" : t.path + "/";
  s << "  target " << t.name << ": " << path;
  if (const auto* files = std::get_if<FilesApply>(&t.apply)) {
    s << " -> files in " << files->dest;
    if (!files->after.empty()) s << ", then " << joined(files->after);
  } else {
    s << " -> runs " << joined(std::get<ExecApply>(t.apply).command) << " in a checkout";
  }
  s << "\n";
}

void try_it(std::ostream& s, const Config& config, const Repository& r,
            const DevAddresses& addresses, const std::string& gitopsctl) {
  const Target* target = nullptr;
  for (const Target& t : r.targets) {
    if (target == nullptr || (std::holds_alternative<FilesApply>(t.apply) &&
                              !std::holds_alternative<FilesApply>(target->apply)))
      target = &t;
  }
  const std::string work = work_tree_of(r);
  const std::string dir = target == nullptr || target->path.empty() || target->path == "."
                              ? std::string()
                              : target->path + "/";
  const std::string file = dir + "hello-gitopsd.txt";
  std::error_code ec;
  const bool cloned = fs::exists(fs::path(work) / ".git", ec);
  const std::string body_file = (fs::path(work).parent_path() / (r.name + "-push.json")).string();
  const std::string url = std::string(config.receiver.tls ? "https://" : "http://") +
                          reachable(addresses.receiver) + "/hooks/" +
                          std::string(provider_name(r.provider));

  s << "Try it:\n"
    << "  1. Change the repository and push (work tree " << work << "):\n";
  if (!cloned) s << "       git clone " << shell_quote(r.url) << " " << shell_quote(work) << "\n";
  s << "       cd " << shell_quote(work) << "\n";
  if (!dir.empty()) s << "       mkdir -p " << shell_quote(dir) << "\n";
  s << "       echo \"changed at $(date)\" > " << shell_quote(file) << "\n"
    << "       git add -A && git commit -qm 'Try gitopsd' && git push -q origin HEAD:"
    << shell_quote(r.branch) << "\n"
    << "  2. Send the webhook " << host_name(r.provider)
    << " would send for that push (202 = queued on Kafka):\n"
    << "       printf " << shell_quote(push_template(r)) << " $(git rev-parse HEAD~1 HEAD) > "
    << shell_quote(body_file) << "\n"
    << "       " << shell_quote(gitopsctl) << " sign --secret-file "
    << secret_file_of(r.secrets.front()) << " --provider " << provider_name(r.provider)
    << " --send " << url << " " << shell_quote(body_file) << "\n"
    << "  3. See it applied:\n";
  if (target == nullptr) {
    s << "       (repository " << r.name << " has no targets: nothing is applied)\n";
  } else if (const auto* files = std::get_if<FilesApply>(&target->apply)) {
    s << "       cat " << shell_quote((fs::path(files->dest) / "hello-gitopsd.txt").string())
      << "\n";
  } else {
    s << "       the log shows target " << target->name << " applied\n";
  }
  s << "  Without a webhook the worker's resync fetches " << r.branch << " every "
    << human(config.worker.resync_interval) << " and applies what it finds.\n";
}

}  // namespace

std::string dev_next_steps(const Config& config, const DevAddresses& addresses,
                           const std::string& gitopsctl) {
  std::ostringstream s;
  const std::string scheme = config.receiver.tls ? "https://" : "http://";
  s << "\ngitopsd dev is running; Ctrl-C stops it.\n"
    << "  receiver  " << scheme << reachable(addresses.receiver) << "/hooks/{github,gitlab,gitea}"
    << "   metrics http://" << reachable(addresses.receiver_admin) << "/metrics\n"
    << "  worker    state " << config.worker.state_dir << "   metrics http://"
    << reachable(addresses.worker_admin) << "/metrics\n"
    << "  notifier  metrics http://" << reachable(addresses.notifier_admin) << "/metrics";
  if (addresses.notify_url.empty()) {
    s << "   (no --notify-url: no notifications)\n";
  } else {
    s << "\n            every outcome -> " << addresses.notify_url
      << " (Standard Webhooks, signing key " << addresses.notify_signing_key << ")\n";
  }
  s << "  Kafka     " << addresses.bootstrap << " (embedded, in memory: gone when this stops)\n"
    << "  config    " << config.path << "\n\n";
  for (const Repository& r : config.repositories) {
    s << "Repository " << r.name << ": " << provider_name(r.provider) << " " << r.match
      << ", branch " << r.branch << " of " << r.url << "\n";
    for (const Target& t : r.targets) describe_target(s, t);
  }
  if (config.repositories.empty()) {
    s << "No repositories are configured: add one to " << config.path << " and restart.\n";
  } else {
    s << "\n";
    try_it(s, config, config.repositories.front(), addresses, gitopsctl);
  }
  s << "  Every result: kcat -b " << addresses.bootstrap << " -C -t "
    << shell_quote(config.kafka.topics.results) << " -f '%k %s\\n'\n\n";
  return s.str();
}

int run_dev(const DevOptions& options, std::ostream& out) {
  auto config = load_config_or_report(options.config_path, BrokerUse::embedded);
  if (!config) return kExitBadConfig;
  init_logging(options.log_level);
  log_config_warnings(*config);
  auto log = logger("dev");

  StopSignals signals(/*with_hangup=*/false);  // `gitopsctl dev` takes no reloads: restart it
  try {
    EmbeddedBroker broker(config->kafka.topics);
    config->kafka.brokers = broker.bootstrap();
    std::string signing_key;
    if (!options.notify_url.empty()) {
      // A key for this run only: 64 random bytes (two UUIDs' hex digits).
      std::string key = random_uuid() + random_uuid();
      std::erase(key, '-');
      signing_key = "whsec_" + base64_encode(key);
      Sink sink{.name = "dev", .type = SinkType::webhook, .url = options.notify_url,
                .url_origin = "url", .secret = Secret{signing_key, "generated by gitopsctl dev"},
                .on = {std::begin(kSinkEvents), std::end(kSinkEvents)}, .ca_file = ""};
      config->notify.sinks.push_back(std::move(sink));
    }
    // The three daemons as their programs run them, each with its own metrics and admin
    // listener, on one config.
    const auto shared = std::make_shared<const Config>(*config);
    receiver::Daemon receiver(shared, options.log_level);
    worker::Daemon worker(shared, options.log_level, /*instance=*/0, [&signals] { signals.interrupt(); });
    notifier::Daemon notifier(shared, options.log_level, [&signals] { signals.interrupt(); });

    const DevAddresses addresses{broker.bootstrap(),     receiver.address(),
                                 receiver.admin_address(), worker.admin_address(),
                                 notifier.admin_address(), options.notify_url,
                                 signing_key};
    log->info("running broker={} receiver={} receiver_admin={} worker_admin={} repositories={}",
              addresses.bootstrap, addresses.receiver.to_string(),
              addresses.receiver_admin.to_string(), addresses.worker_admin.to_string(),
              config->repositories.size());
    const auto deadline = std::chrono::steady_clock::now() + kReadyWait;
    while (!(receiver.ready() && worker.ready() && notifier.ready()) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    out << dev_next_steps(*config, addresses, options.gitopsctl) << std::flush;

    const int signal = signals.wait();
    log->info("signal={} stopping: receiver first, then the worker, the notifier, the broker", signal);
    // The receiver first: requests in flight get their Kafka acknowledgement and answer.
    receiver.stop();
    // Then the worker: running applies finish, offsets are committed, the group is left.
    const int code = worker.stop();
    // Then the notifier: deliveries under way get a few seconds, offsets are committed.
    const int notifier_code = notifier.stop();
    log->info("stopped");
    return std::max(code, notifier_code);
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    return 1;
  }
}

}  // namespace gitopsd::ctl
