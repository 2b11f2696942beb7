#include "git_servers.hpp"

#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string log_path(const TempDir& dir, const std::string& stem) {
  static std::atomic<int> counter{0};
  return dir.path() + "/" + stem + "-" + std::to_string(++counter) + ".log";
}

const std::string& git_bin() {
  static const std::string path = find_program("git");
  return path;
}

std::string current_user() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return "root";
}

}  // namespace

std::optional<std::string> find_program_opt(const std::string& name) {
  // Prefer the system's programs over shims (pyenv) that start slowly.
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"}) {
    fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path p = fs::path(dir) / name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return std::nullopt;
}

std::string find_program(const std::string& name) {
  auto p = find_program_opt(name);
  if (!p) throw std::runtime_error("program not found in PATH: " + name);
  return *p;
}

RunResult run_command(const std::vector<std::string>& argv) {
  static const TempDir logs;
  const auto log = log_path(logs, "run");
  Process process(argv, log);
  auto code = process.wait(60s);
  if (!code) throw std::runtime_error("timed out: " + argv.at(0));
  RunResult result{*code, process.log()};
  std::error_code ec;
  fs::remove(log, ec);
  return result;
}

bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// ---- GitRepoFixture ----

GitRepoFixture::GitRepoFixture(std::string name, std::string branch)
    : name_(std::move(name)), branch_(std::move(branch)) {
  work_ = dir_.path() + "/work";
  served_root_ = dir_.path() + "/served";
  fs::create_directories(work_);
  fs::create_directories(served_root_);
  auto r = run_command({git_bin(), "init", "-q", "--bare", "-b", branch_, served_path()});
  if (r.exit_code != 0) throw std::runtime_error("git init --bare: " + r.output);
  git({"init", "-q", "-b", branch_});
}

std::string GitRepoFixture::git(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {git_bin(),
                                   "-C",
                                   work_,
                                   "-c",
                                   "user.name=gitopsd test",
                                   "-c",
                                   "user.email=test@gitopsd.invalid",
                                   "-c",
                                   "commit.gpgsign=false",
                                   "-c",
                                   "core.symlinks=true"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv);
  if (r.exit_code != 0) throw std::runtime_error("git " + args.at(0) + " failed: " + r.output);
  return r.output;
}

void GitRepoFixture::write(const std::string& path, const std::string& content, bool executable) {
  fs::path p = fs::path(work_) / path;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(p, executable ? fs::perms(0755) : fs::perms(0644));
}

void GitRepoFixture::symlink(const std::string& path, const std::string& target) {
  fs::path p = fs::path(work_) / path;
  fs::create_directories(p.parent_path());
  std::error_code ec;
  fs::remove(p, ec);
  fs::create_symlink(target, p);
}

void GitRepoFixture::remove(const std::string& path) { fs::remove_all(fs::path(work_) / path); }

std::string GitRepoFixture::commit(const std::string& message) {
  git({"add", "-A"});
  git({"commit", "-q", "--allow-empty", "-m", message});
  return rev_parse("HEAD");
}

void GitRepoFixture::push(const std::string& branch) {
  const auto& b = branch.empty() ? branch_ : branch;
  git({"push", "-q", served_path(), "HEAD:refs/heads/" + b});
}

void GitRepoFixture::checkout(const std::string& branch) { git({"checkout", "-q", "-B", branch}); }

void GitRepoFixture::force_reset(const std::string& sha) {
  git({"reset", "-q", "--hard", sha});
  git({"push", "-q", "--force", served_path(), "HEAD:refs/heads/" + branch_});
}

std::string GitRepoFixture::rev_parse(const std::string& rev) {
  auto out = trim(git({"rev-parse", "--verify", "-q", rev}));
  // Only the last line: stderr warnings (if any) come first.
  auto nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

// ---- GitDaemon ----

GitDaemon::GitDaemon(std::string base_dir) : base_dir_(std::move(base_dir)), port_(free_port()) {
  start();
}

GitDaemon::~GitDaemon() { stop(); }

std::string GitDaemon::url(const std::string& name) const {
  return "git://127.0.0.1:" + std::to_string(port_) + "/" + name + ".git";
}

// Waits until `process` accepts connections on `port`; throws with its log if it exits first.
static void wait_for_listener(Process& process, int port, const std::string& what) {
  if (!wait_until([&] { return port_accepts(port) || !process.running(); }, 15s) ||
      !process.running()) {
    throw std::runtime_error(what + " did not start: " + process.log());
  }
}

void GitDaemon::start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{git_bin(), "daemon", "--reuseaddr", "--base-path=" + base_dir_,
                               "--export-all", "--enable=receive-pack", "--listen=127.0.0.1",
                               "--port=" + std::to_string(port_), base_dir_},
      log_path(logs_, "git-daemon"));
  wait_for_listener(*process_, port_, "git daemon");
}

void GitDaemon::stop() {
  if (!process_) return;
  process_->terminate();
  process_.reset();
}

// ---- GitHttpServer ----

GitHttpServer::GitHttpServer(std::string base_dir, std::string token, bool tls)
    : base_dir_(std::move(base_dir)), token_(std::move(token)), tls_(tls), port_(free_port()) {
  if (tls_) {
    auto made = run_command({find_program("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                             "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout",
                             logs_.path() + "/key.pem", "-out", logs_.path() + "/cert.pem"});
    if (made.exit_code != 0) throw std::runtime_error("openssl req failed: " + made.output);
  }
  start();
}

GitHttpServer::~GitHttpServer() { stop(); }

std::string GitHttpServer::url(const std::string& name) const {
  // With TLS the certificate's name: libgit2's mbedTLS backend does not match IP addresses.
  return std::string(tls_ ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port_) +
         "/" + name + ".git";
}

void GitHttpServer::start() {
  const std::string script = std::string(GITOPSD_SOURCE_DIR) + "/tests/support/git_http_server.py";
  std::vector<std::string> argv{find_program("python3"), script, "--root", base_dir_, "--token",
                                token_, "--port", std::to_string(port_)};
  if (tls_) {
    argv.insert(argv.end(), {"--tls-cert", logs_.path() + "/cert.pem", "--tls-key",
                             logs_.path() + "/key.pem"});
  }
  process_ = std::make_unique<Process>(argv, log_path(logs_, "git-http"));
  wait_for_listener(*process_, port_, "git http server");
}

std::string GitHttpServer::log() const { return process_ ? process_->log() : std::string(); }

void GitHttpServer::stop() {
  if (!process_) return;
  process_->terminate();
  process_.reset();
}

// ---- SshGitServer ----

SshGitServer::SshGitServer() : user_(current_user()) {
  auto sshd = find_program_opt("sshd");
  auto keygen = find_program_opt("ssh-keygen");
  if (!sshd || !keygen) {
    skip_reason_ = "sshd or ssh-keygen not installed (openssh-server, openssh-client)";
    return;
  }
  // sshd insists on its privilege separation directory.
  if (!fs::exists("/run/sshd")) {
    std::error_code ec;
    if (::geteuid() == 0) fs::create_directories("/run/sshd", ec);
    if (!fs::exists("/run/sshd")) {
      skip_reason_ = "/run/sshd missing and cannot be created (not root)";
      return;
    }
  }
  const auto& d = dir_.path();
  for (const auto& key : {"host_key", "client_key", "other_key"}) {
    auto r = run_command(
        {*keygen, "-q", "-t", "ed25519", "-N", "", "-C", "gitopsd-test", "-f", d + "/" + key});
    if (r.exit_code != 0) {
      skip_reason_ = "ssh-keygen failed: " + r.output;
      return;
    }
  }
  client_key_ = d + "/client_key";
  ::chmod(client_key_.c_str(), 0600);
  ::chmod((d + "/host_key").c_str(), 0600);
  dir_.write("authorized_keys", read_file(d + "/client_key.pub"));
  port_ = free_port();
  auto host_line = [&](const std::string& pub) {
    std::istringstream fields(read_file(pub));
    std::string type, key;
    fields >> type >> key;
    return "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + key + "\n";
  };
  known_hosts_ = dir_.write("known_hosts", host_line(d + "/host_key.pub"));
  wrong_known_hosts_ = dir_.write("wrong_known_hosts", host_line(d + "/other_key.pub"));
  const auto config = dir_.write("sshd_config", "Port " + std::to_string(port_) +
                                                    "\n"
                                                    "ListenAddress 127.0.0.1\n"
                                                    "HostKey " +
                                                    d +
                                                    "/host_key\n"
                                                    "PidFile " +
                                                    d +
                                                    "/sshd.pid\n"
                                                    "AuthorizedKeysFile " +
                                                    d +
                                                    "/authorized_keys\n"
                                                    "StrictModes no\n"
                                                    "UsePAM no\n"
                                                    "PasswordAuthentication no\n"
                                                    "KbdInteractiveAuthentication no\n"
                                                    "PubkeyAuthentication yes\n"
                                                    "PermitRootLogin prohibit-password\n"
                                                    "AllowUsers " +
                                                    user_ +
                                                    "\n"
                                                    "LogLevel VERBOSE\n");
  auto check = run_command({*sshd, "-t", "-f", config});
  if (check.exit_code != 0) {
    skip_reason_ = "sshd refuses its test config: " + check.output;
    return;
  }
  process_ = std::make_unique<Process>(std::vector<std::string>{*sshd, "-D", "-e", "-f", config},
                                       d + "/sshd.log");
  if (!wait_until([&] { return port_accepts(port_) || !process_->running(); }, 15s) ||
      !process_->running()) {
    skip_reason_ = "sshd did not start: " + process_->log();
    process_.reset();
  }
}

SshGitServer::~SshGitServer() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->wait(5s);
  process_.reset();
}

std::string SshGitServer::url(const std::string& absolute_path) const {
  return "ssh://" + user_ + "@127.0.0.1:" + std::to_string(port_) + absolute_path;
}

// ---- GiteaServer ----

GiteaServer::GiteaServer() : script_(std::string(GITOPSD_SOURCE_DIR) + "/deploy/gitea/gitea.sh") {
  auto built = run_command({script_, "binary"});
  if (built.exit_code != 0) {
    const std::string reason = "Gitea is not built here: " + trim(built.output);
    // CI sets it: there the Gitea tests are part of what a green run promises.
    if (const char* required = std::getenv("GITOPSD_REQUIRE_GITEA"); required && std::string(required) == "1") {
      throw std::runtime_error(reason + " (and GITOPSD_REQUIRE_GITEA=1 forbids skipping)");
    }
    skip_reason_ = reason;
    return;
  }
  auto started = run_command({script_, "start", "--dir", dir_.path() + "/gitea", "--port", "0"});
  if (started.exit_code != 0) {
    run_command({script_, "stop", "--dir", dir_.path() + "/gitea"});  // one that started but never answered
    throw std::runtime_error("gitea.sh start failed: " + started.output);
  }
  port_ = std::stoi(trim(file_contents(dir_.path() + "/gitea/port")));
  token_ = trim(file_contents(dir_.path() + "/gitea/token"));
}

GiteaServer::~GiteaServer() {
  if (port_ == 0) return;
  try {
    run_command({script_, "stop", "--dir", dir_.path() + "/gitea"});
  } catch (const std::exception&) {
    // gitea.sh stop SIGKILLs after 30 s, so this is a hung shell: nothing more to do here.
  }
}

std::string GiteaServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

HttpResponse GiteaServer::api(const std::string& method, const std::string& path,
                              const std::string& body) const {
  return http_request(port_, method, "/api/v1" + path,
                      {{"Authorization", "token " + token_}, {"Content-Type", "application/json"}}, body);
}

namespace {
// The JSON of a Gitea answer with status `wanted`; throws with the request and answer otherwise.
boost::json::value gitea_answer(const HttpResponse& response, int wanted, const std::string& request) {
  if (response.status != wanted) {
    throw std::runtime_error("Gitea: " + request + ": " + std::to_string(response.status) + " " + response.body);
  }
  return boost::json::parse(response.body);
}
}  // namespace

std::string GiteaServer::create_repository(const std::string& name, bool auto_init) const {
  const boost::json::object body{{"name", name}, {"auto_init", auto_init}, {"default_branch", "main"}};
  auto created = gitea_answer(api("POST", "/user/repos", boost::json::serialize(body)), 201, "POST /user/repos");
  return std::string(created.at("full_name").as_string());
}

std::string GiteaServer::push_url(const std::string& full_name) const {
  return "http://" + user_ + ":" + token_ + "@127.0.0.1:" + std::to_string(port_) + "/" + full_name + ".git";
}

long GiteaServer::add_push_webhook(const std::string& full_name, const std::string& url,
                                   const std::string& secret, const std::string& branch_filter) const {
  const boost::json::object body{
      {"type", "gitea"},
      {"config", {{"url", url}, {"content_type", "json"}, {"http_method", "post"}, {"secret", secret}}},
      {"events", {"push"}},
      {"branch_filter", branch_filter},
      {"active", true}};  // created inactive otherwise
  const std::string path = "/repos/" + full_name + "/hooks";
  auto hook = gitea_answer(api("POST", path, boost::json::serialize(body)), 201, "POST " + path);
  return static_cast<long>(hook.at("id").as_int64());
}

std::vector<GiteaServer::CommitStatus> GiteaServer::commit_statuses(const std::string& full_name,
                                                                    const std::string& sha) const {
  const std::string path = "/repos/" + full_name + "/commits/" + sha + "/statuses";
  const auto answer = gitea_answer(api("GET", path), 200, "GET " + path);
  std::vector<CommitStatus> statuses;
  for (const auto& entry : answer.as_array()) {
    auto field = [&](const char* name) {
      const auto* value = entry.as_object().if_contains(name);
      return value && value->is_string() ? std::string(value->as_string()) : std::string();
    };
    statuses.push_back({field("status"), field("context"), field("description"), field("target_url")});
  }
  return statuses;
}

}  // namespace gitopsd::test
