// Loads gitopsd.yaml into the structs of config.hpp. Every error carries the file, line and
// column of the offending node, and never the value of a secret.
#include "gitopsd/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include <boost/url/parse.hpp>

#include "gitopsd/crypto.hpp"
#include "gitopsd/kafka_settings.hpp"

namespace gitopsd {

std::string ListenAddress::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string_view provider_name(Provider p) {
  switch (p) {
    case Provider::github: return "github";
    case Provider::gitlab: return "gitlab";
    case Provider::gitea: return "gitea";
  }
  return "unknown";
}

namespace {

// Reads the digits of `text` at `pos` into `n` and moves `pos` past them.
std::errc read_number(std::string_view text, std::size_t& pos, std::uint64_t& n) {
  const char* begin = text.data() + pos;
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), n);
  if (ec == std::errc{}) pos += static_cast<std::size_t>(end - begin);
  return ec;
}

// Reads a whole file into `out`; returns "" on success, else why it could not.
std::string read_file(const std::string& path, std::string& out) {
  // Config, secret and TLS files are small regular files. Anything else (/dev/zero, a FIFO,
  // a directory, a huge file) would hang or exhaust the loader instead of failing it, so it
  // is refused; O_NONBLOCK keeps the open itself from waiting on a FIFO.
  constexpr off_t kMaxBytes = 16 << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  // A deleter type, not decltype(&std::fclose): GCC 14 warns that fclose's attributes are
  // dropped from that template argument (-Wignored-attributes).
  struct Fclose {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Fclose> file(::fdopen(fd, "rb"));
  if (!file) {
    const int err = errno;
    ::close(fd);
    return std::strerror(err);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (st.st_size > kMaxBytes) return "larger than 16 MiB";
  char buffer[8192];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    out.append(buffer, n);
    if (out.size() > static_cast<std::size_t>(kMaxBytes)) return "larger than 16 MiB";
  }
  return std::ferror(file.get()) ? std::strerror(errno) : "";
}

// "7d", "5m", "100ms": the largest unit that writes `d` exactly, for bounds in messages.
std::string duration_text(Duration d) {
  static constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
  for (const auto& [unit, ms] : kUnits) {
    if (d.count() % ms == 0) return std::to_string(d.count() / ms) + std::string(unit);
  }
  return std::to_string(d.count()) + "ms";
}

std::string ascii_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  });
  return s;
}

// An absolute or relative path without empty and "." components or a trailing slash
// ("/srv//www/./" is "/srv/www"); ".." is refused before this.
std::string normalize_path(std::string_view path) {
  std::string out = !path.empty() && path.front() == '/' ? "/" : "";
  for (std::size_t begin = 0; begin <= path.size();) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(begin, end - begin);
    if (!part.empty() && part != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += part;
    }
    begin = end + 1;
  }
  return out;
}

// Whether normalized `inner` is `outer` or lies below it ("/srv/www" in "/srv", not in "/sr").
bool within(std::string_view inner, std::string_view outer) {
  if (outer == "/") return inner.starts_with('/');
  return inner.starts_with(outer) &&
         (inner.size() == outer.size() || inner[outer.size()] == '/');
}

// Why normalized absolute `dest` must not be a files dest, or "". An apply makes dest hold
// exactly the subtree, so everything else in it goes: these are directories whose other
// contents belong to the system or to other users.
std::string system_directory(const std::string& dest) {
  static constexpr std::string_view kVirtual[] = {"/proc", "/sys", "/dev"};
  for (std::string_view fs : kVirtual) {
    if (within(dest, fs)) return "is in " + std::string(fs) + ", which is not a real filesystem";
  }
  static constexpr std::string_view kSystem[] = {
      "/",          "/bin",          "/boot",          "/etc",           "/home",
      "/lost+found", "/media",       "/mnt",           "/opt",           "/root",
      "/run",       "/sbin",         "/srv",           "/tmp",           "/usr",
      "/usr/bin",   "/usr/include",  "/usr/libexec",   "/usr/local",     "/usr/local/bin",
      "/usr/local/etc", "/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share",
      "/usr/src",   "/var",          "/var/backups",   "/var/cache",     "/var/lib",
      "/var/local", "/var/lock",     "/var/log",       "/var/mail",      "/var/opt",
      "/var/run",   "/var/spool",    "/var/tmp"};
  const bool listed = std::find(std::begin(kSystem), std::end(kSystem), dest) != std::end(kSystem);
  // /lib, /lib64, /usr/lib32, /usr/local/lib and the like.
  bool lib = false;
  for (std::string_view parent : {"/", "/usr/", "/usr/local/"}) {
    lib |= dest.starts_with(std::string(parent) + "lib") &&
           dest.find('/', parent.size()) == std::string::npos;
  }
  // A user's home directory as a whole (a directory inside it is fine).
  const bool home = dest.starts_with("/home/") && dest.find('/', 6) == std::string::npos;
  if (dest == "/") return "is the root directory";
  if (listed || lib) return "is a system directory";
  if (home) return "is a home directory";
  return "";
}

// Why `url` would leak a credential (into events, results and the DLQ), or "". Userinfo is
// what precedes '@' in the authority (scheme://userinfo@host/...) or, in git's scp-like form
// (user@host:path), before the '@' that comes before any '/'.
std::string url_credentials(const std::string& url) {
  std::string_view userinfo;
  std::string scheme;
  if (const std::size_t sep = url.find("://"); sep != std::string::npos) {
    scheme = ascii_lower(url.substr(0, sep));
    const std::string_view rest = std::string_view(url).substr(sep + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
      userinfo = authority.substr(0, at);
    }
  } else if (const std::size_t at = url.find('@'); at != std::string::npos && at < url.find('/')) {
    userinfo = std::string_view(url).substr(0, at);
  }
  if (userinfo.find(':') != std::string_view::npos) return "has a password in it";
  if ((scheme == "http" || scheme == "https") && !userinfo.empty()) {
    return "has a user name in it (on http(s) that is a credential too, such as a token)";
  }
  return "";
}

// OpenSSL's reason for the oldest error in the thread's queue, which it empties.
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

}  // namespace

Duration parse_duration(std::string_view text) {
  static constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("invalid duration '" + std::string(text) + "': " + why);
  };
  if (text.empty()) throw bad("empty");
  std::int64_t total = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::uint64_t n = 0;
    if (const std::errc ec = read_number(text, pos, n); ec != std::errc{}) {
      throw bad(ec == std::errc::result_out_of_range ? "too large"
                                                     : "expected a number and a unit, like 1h30m");
    }
    std::size_t end = pos;
    while (end < text.size() && (text[end] < '0' || text[end] > '9')) ++end;
    const std::string_view unit = text.substr(pos, end - pos);
    if (unit.empty()) throw bad("missing unit (ms, s, m, h or d)");
    std::int64_t scale = 0;
    for (const auto& [name, ms] : kUnits) {
      if (name == unit) scale = ms;
    }
    if (scale == 0) throw bad("unknown unit '" + std::string(unit) + "' (use ms, s, m, h or d)");
    const std::int64_t room = (std::numeric_limits<std::int64_t>::max() - total) / scale;
    if (n > static_cast<std::uint64_t>(room)) throw bad("too large");
    total += static_cast<std::int64_t>(n) * scale;
    pos = end;
  }
  return Duration(total);
}

std::uint64_t parse_size(std::string_view text) {
  static constexpr std::pair<std::string_view, std::uint64_t> kSuffixes[] = {
      {"", 1},          {"B", 1},           {"KB", 1'000},      {"MB", 1'000'000},
      {"GB", 1'000'000'000}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}};
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("invalid size '" + std::string(text) + "': " + why);
  };
  std::size_t pos = 0;
  std::uint64_t n = 0;
  if (const std::errc ec = read_number(text, pos, n); ec != std::errc{}) {
    throw bad(ec == std::errc::result_out_of_range ? "too large"
                                                   : "expected bytes, like 26214400 or 25MiB");
  }
  const std::string_view suffix = text.substr(pos);
  for (const auto& [name, scale] : kSuffixes) {
    if (name != suffix) continue;
    if (n > std::numeric_limits<std::uint64_t>::max() / scale) throw bad("too large");
    return n * scale;
  }
  throw bad("unknown suffix '" + std::string(suffix) + "' (use B, KB, MB, GB, KiB, MiB or GiB)");
}

namespace {

std::string type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "null";
  }
}

// A node and where it sits ("receiver.tls.cert_file"; "" for the document), for messages.
struct Field {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;  // the node's; its key's for a null value, which yaml-cpp marks after the key

  std::string label() const { return path.empty() ? "top level" : path; }
  std::string in() const { return path.empty() ? "at top level" : "in " + path; }
  std::string child(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
};

class Parser {
 public:
  Parser(std::string file, BrokerUse use) : file_(std::move(file)), use_(use) {}

  // "file:line:column: " (1-based), the prefix of every error and warning.
  std::string position(const YAML::Mark& mark) const {
    const int line = mark.is_null() ? 1 : mark.line + 1;
    const int column = mark.is_null() ? 1 : mark.column + 1;
    return file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  }
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    throw ConfigError(position(mark) + what);
  }
  [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const {
    fail(at.Mark(), what);
  }
  [[noreturn]] void fail(const Field& at, const std::string& what) const {
    fail(at.mark, at.label() + ": " + what);
  }

  Config config(const YAML::Node& root) const;

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  // A mapping with its keys checked: scalars, no duplicates, and (with only()) no unknown ones.
  class Map {
   public:
    Map(const Parser& parser, const Field& field) : parser_(parser), field_(field) {
      if (!field.node.IsMap()) {
        parser.fail(field, "expected a mapping, got " + type_name(field.node));
      }
      std::set<std::string> seen;
      for (const auto& entry : field.node) {
        const std::string key = entry.first.Scalar();
        if (!entry.first.IsScalar()) {
          parser.fail(entry.first, "expected a string key " + field.in());
        }
        if (!seen.insert(key).second) {
          parser.fail(entry.first, "duplicate key '" + key + "' " + field.in());
        }
        entries_.push_back(Entry{key, entry.first, entry.second});
      }
    }
    void only(std::initializer_list<std::string_view> allowed) const {
      for (const Entry& entry : entries_) {
        if (std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end()) {
          parser_.fail(entry.key_node, "unknown key '" + entry.key + "' " + field_.in());
        }
      }
    }
    std::optional<Field> get(std::string_view key) const {
      for (const Entry& entry : entries_) {
        if (entry.key != key) continue;
        const YAML::Node& at = entry.value.IsNull() ? entry.key_node : entry.value;
        return Field{entry.value, field_.child(key), at.Mark()};
      }
      return std::nullopt;
    }
    Field need(std::string_view key) const {
      if (auto field = get(key)) return *field;
      parser_.fail(field_.mark, "missing required key '" + std::string(key) + "' " + field_.in());
    }
    const std::vector<Entry>& entries() const { return entries_; }

   private:
    const Parser& parser_;
    Field field_;
    std::vector<Entry> entries_;
  };

  std::string text(const Field& f, bool allow_empty = false) const {
    if (!f.node.IsScalar()) fail(f, "expected a string, got " + type_name(f.node));
    if (!allow_empty && f.node.Scalar().empty()) fail(f, "must not be empty");
    return f.node.Scalar();
  }
  std::uint64_t integer(const Field& f, std::uint64_t min, std::uint64_t max) const {
    const std::string expected =
        "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!f.node.IsScalar()) fail(f, expected + ", got " + type_name(f.node));
    const std::string& s = f.node.Scalar();
    std::size_t pos = 0;
    std::uint64_t n = 0;
    if (read_number(s, pos, n) != std::errc{} || pos != s.size() || n < min || n > max) {
      fail(f, expected + ", got '" + s + "'");
    }
    return n;
  }
  bool boolean(const Field& f) const {
    bool value = false;
    if (!YAML::convert<bool>::decode(f.node, value)) fail(f, "expected true or false");
    return value;
  }
  // Bounded so that no timer built from it overflows (now + d on a steady clock).
  Duration duration(const Field& f, Duration max, Duration min = Duration(1)) const {
    Duration d{};
    try {
      d = parse_duration(text(f));
    } catch (const std::invalid_argument& e) {
      fail(f, e.what());
    }
    if (d <= Duration::zero()) fail(f, "must be greater than 0");
    if (d < min) fail(f, "must be at least " + duration_text(min));
    if (d > max) fail(f, "must be at most " + duration_text(max));
    return d;
  }
  std::uint64_t size(const Field& f) const {
    std::uint64_t n = 0;
    try {
      n = parse_size(text(f));
    } catch (const std::invalid_argument& e) {
      fail(f, e.what());
    }
    if (n == 0) fail(f, "must be greater than 0");
    return n;
  }
  std::vector<Field> list(const Field& f) const {
    if (!f.node.IsSequence()) fail(f, "expected a list, got " + type_name(f.node));
    std::vector<Field> items;
    for (std::size_t i = 0; i < f.node.size(); ++i) {
      const YAML::Node item = f.node[i];
      items.push_back(Field{item, f.path + "[" + std::to_string(i) + "]", item.Mark()});
    }
    return items;
  }
  std::vector<std::string> argv(const Field& f) const {
    if (!f.node.IsSequence()) fail(f, "expected an argv list like [systemctl, reload, nginx]");
    std::vector<std::string> args;
    for (const Field& arg : list(f)) args.push_back(text(arg));
    return args;
  }
  // Repository and target names end up in Kafka keys and directory names.
  std::string identifier(const Field& f) const {
    std::string name = text(f);
    constexpr std::string_view kAllowed =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    if (name.find_first_not_of(kAllowed) != std::string::npos) {
      fail(f, "'" + name + "' may only contain letters, digits, '.', '_' and '-'");
    }
    if (name == "." || name == "..") fail(f, "'" + name + "' is not a usable name");
    return name;
  }
  // Refuses '..' components; with `absolute`, the path must start with '/', else must not.
  std::string clean_path(const Field& f, bool absolute) const {
    std::string path = text(f, !absolute);
    if (absolute != (!path.empty() && path.front() == '/')) {
      fail(f, "'" + path + "' must be " +
                  (absolute ? "an absolute path" : "relative to the repository root"));
    }
    for (std::size_t begin = 0; begin <= path.size();) {
      std::size_t end = path.find('/', begin);
      if (end == std::string::npos) end = path.size();
      if (path.compare(begin, end - begin, "..") == 0) {
        fail(f, "'" + path + "' must not contain '..'");
      }
      begin = end + 1;
    }
    return path;
  }
  std::string readable_file(const Field& f) const {
    std::string path = text(f), contents;
    if (const std::string error = read_file(path, contents); !error.empty()) {
      fail(f, "cannot read '" + path + "': " + error);
    }
    return path;
  }
  void warn(const Field& f, const std::string& what) const {
    warnings_.push_back(position(f.mark) + f.label() + ": " + what);
  }
  // A file holding a secret should be readable by the daemons' user alone: group access is
  // fine only for the group the package makes for them (0640 root:gitopsd, as documented).
  void warn_if_exposed(const Field& f, const std::string& path) const {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return;  // not there (yet): read at use, or refused
    const group* own = ::getgrnam("gitopsd");
    const bool own_group = own != nullptr && own->gr_gid == st.st_gid;
    const mode_t open_to = S_IROTH | S_IWOTH | S_IWGRP | (own_group ? 0 : S_IRGRP);
    const mode_t exposed = st.st_mode & open_to;
    if (exposed == 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    warn(f, "'" + path + "' holds a secret and is open to " +
                ((exposed & (S_IROTH | S_IWOTH)) != 0 ? "others" : "its group") + " (mode " + mode +
                "); make it 0600, or 0640 root:gitopsd");
  }

  // A files dest seen so far, for the overlap check across all repositories.
  struct Dest {
    std::string path;   // normalized
    std::string owner;  // "repositories[0].targets[1]"
    int line;
  };
  struct Dests {
    std::string state_dir;  // normalized worker.state_dir
    std::vector<Dest> seen;
  };

  ListenAddress listen(const Field& f) const;
  KafkaConfig kafka(const Field& f) const;
  void brokers_usable(const Field& f, const std::string& brokers) const;
  void topic_name(const Field& f, const std::string& topic) const;
  void kafka_clients(const Field& properties, const Config& c) const;
  ReceiverConfig receiver(const Field& f) const;
  void tls_files(const Field& cert_file, const Field& key_file) const;
  WorkerConfig worker(const Field& f) const;
  Repository repository(const Field& f, std::set<std::string>& names, Dests& dests) const;
  void url(const Field& f, const std::string& url) const;
  Secret secret(const Field& f) const;
  Secret secret_file(const Field& f, const std::string& path) const;
  std::string outbound_url(const Field& f, std::string url, bool secret = false) const;
  ApiConfig api(const Field& f) const;
  Sink sink(const Field& f, std::set<std::string>& names) const;
  NotifyConfig notify(const Field& f) const;
  Credentials credentials(const Field& f) const;
  Target target(const Field& f, std::set<std::string>& names, Dests& dests) const;
  std::variant<FilesApply, ExecApply> apply(const Field& f, Dests& dests) const;
  std::string files_dest(const Field& f, Dests& dests) const;

  std::string file_;
  BrokerUse use_;
  mutable std::vector<std::string> warnings_;  // collected by warn(), moved into the Config
};

ListenAddress Parser::listen(const Field& f) const {
  const std::string s = text(f);
  const auto bad = [&](const std::string& why) { fail(f, "'" + s + "' is not host:port: " + why); };
  const std::size_t colon = s.rfind(':');
  if (colon == std::string::npos) bad("missing port");
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]:") != std::string::npos) {
    bad("write IPv6 addresses in brackets, like [::1]:8080");
  }
  if (host.empty()) bad("empty host");
  const std::string port = s.substr(colon + 1);
  std::size_t pos = 0;
  std::uint64_t n = 0;
  if (read_number(port, pos, n) != std::errc{} || pos != port.size() || n > 65535) {
    bad("port must be a number from 0 to 65535");
  }
  return ListenAddress{host, static_cast<std::uint16_t>(n)};
}

KafkaConfig Parser::kafka(const Field& f) const {
  const Map m(*this, f);
  m.only({"brokers", "topics", "properties"});
  KafkaConfig c;
  if (auto v = m.get("brokers")) {
    c.brokers = text(*v);
    brokers_usable(*v, c.brokers);
  } else if (use_ == BrokerUse::embedded) {
    fail(f, "missing required key 'brokers': gitopsctl dev needs 'brokers: embedded'");
  }
  if (auto v = m.get("topics")) {
    const Map topics(*this, *v);
    topics.only({"events", "results", "state", "dlq", "statuses"});
    for (auto [key, topic] : {std::pair{"events", &c.topics.events},
                              std::pair{"results", &c.topics.results},
                              std::pair{"state", &c.topics.state},
                              std::pair{"dlq", &c.topics.dlq},
                              std::pair{"statuses", &c.topics.statuses}}) {
      if (auto t = topics.get(key)) {
        *topic = text(*t);
        topic_name(*t, *topic);
      }
    }
  }
  if (auto v = m.get("properties")) {
    const Map properties(*this, *v);
    for (const Entry& entry : properties.entries()) {
      const Field property{entry.value, v->child(entry.key), entry.value.Mark()};
      if (!entry.value.IsScalar()) {
        fail(property, "expected a scalar, got " + type_name(entry.value));
      }
      // librdkafka's message, never the value: it may be sasl.password.
      if (auto refused = check_kafka_property(entry.key, entry.value.Scalar())) {
        if (refused->unknown) {
          fail(entry.key_node, "unknown kafka property '" + entry.key + "' in " + v->path +
                                   ": " + refused->message);
        }
        fail(property, "librdkafka refuses the value: " + refused->message);
      }
      c.properties[entry.key] = entry.value.Scalar();
    }
  }
  return c;
}

// What the broker would refuse at the first produce (InvalidTopicException).
void Parser::topic_name(const Field& f, const std::string& topic) const {
  constexpr std::string_view kAllowed =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  if (topic.size() > 249 || topic == "." || topic == ".." ||
      topic.find_first_not_of(kAllowed) != std::string::npos) {
    fail(f, "'" + topic + "' is not a Kafka topic name: up to 249 letters, digits, '.', '_' "
                "and '-'");
  }
}

// librdkafka checks properties against each other (and loads the TLS files they name) only
// when a client is created: the daemons' clients are tried here, with gitopsd's own settings.
// Without kafka.properties those settings alone are known good, so nothing is tried.
void Parser::kafka_clients(const Field& properties, const Config& c) const {
  const auto check = [&](const KafkaSettings& settings, bool producer, const std::string& which) {
    if (auto refused = try_kafka_client(settings, producer)) {
      fail(properties, "librdkafka refuses these properties for " + which + ": " + *refused);
    }
  };
  check(producer_settings(c.kafka, "gitopsd-receiver", c.receiver.publish_timeout), true,
        "the receiver's producer (message.timeout.ms = receiver.publish_timeout, " +
            std::to_string(c.receiver.publish_timeout.count()) +
            "; enable.idempotence=true, acks=all)");
  check(producer_settings(c.kafka, "gitopsd-worker", kWorkerDeliveryTimeout), true,
        "the worker's producer (message.timeout.ms = " +
            std::to_string(kWorkerDeliveryTimeout.count()) + "; enable.idempotence=true, acks=all)");
  check(consumer_settings(c.kafka, c.worker.group_id), false, "the worker's consumer");
  check(consumer_settings(c.kafka, c.notify.group_id, std::nullopt, "gitopsd-notifier"), false,
        "the notifier's consumer");
}

// The daemons cannot start a broker, and `gitopsctl dev` runs only on the one it starts: each is
// told at the brokers key which program the file is for instead.
void Parser::brokers_usable(const Field& f, const std::string& brokers) const {
  const bool embedded = brokers == kEmbeddedBrokers;
  if (use_ == BrokerUse::cluster && embedded) {
    fail(f, "'embedded' is only for `gitopsctl dev`, which runs a broker in its own process; "
            "this program needs a Kafka cluster (\"host:port,...\"). To try this file, run: "
            "gitopsctl dev --config " + file_);
  }
  if (use_ == BrokerUse::embedded && !embedded) {
    fail(f, "`gitopsctl dev` runs its own broker and needs 'embedded', got '" + brokers +
                "'; run gitopsd-receiver and gitopsd-worker against that cluster instead");
  }
}

ReceiverConfig Parser::receiver(const Field& f) const {
  const Map m(*this, f);
  m.only({"listen", "admin_listen", "tls", "max_body_bytes", "header_timeout", "body_timeout",
          "idle_timeout", "dedupe_window", "publish_timeout", "threads", "max_connections"});
  ReceiverConfig c;
  if (auto v = m.get("listen")) c.listen = listen(*v);
  if (auto v = m.get("admin_listen")) c.admin_listen = listen(*v);
  if (auto v = m.get("tls")) {
    const Map tls(*this, *v);
    tls.only({"cert_file", "key_file"});
    const Field cert_file = tls.need("cert_file"), key_file = tls.need("key_file");
    c.tls = TlsConfig{readable_file(cert_file), readable_file(key_file)};
    tls_files(cert_file, key_file);
    warn_if_exposed(key_file, c.tls->key_file);
  }
  if (auto v = m.get("max_body_bytes")) c.max_body_bytes = size(*v);
  for (auto [key, d, max] :
       {std::tuple{"header_timeout", &c.header_timeout, ReceiverConfig::kMaxHeaderTimeout},
        std::tuple{"body_timeout", &c.body_timeout, ReceiverConfig::kMaxBodyTimeout},
        std::tuple{"idle_timeout", &c.idle_timeout, ReceiverConfig::kMaxIdleTimeout},
        std::tuple{"dedupe_window", &c.dedupe_window, ReceiverConfig::kMaxDedupeWindow}}) {
    if (auto v = m.get(key)) *d = duration(*v, max);
  }
  if (auto v = m.get("publish_timeout")) {
    c.publish_timeout =
        duration(*v, ReceiverConfig::kMaxPublishTimeout, ReceiverConfig::kMinPublishTimeout);
  }
  if (auto v = m.get("threads")) c.threads = static_cast<unsigned>(integer(*v, 0, 1024));
  if (auto v = m.get("max_connections")) {
    c.max_connections = static_cast<unsigned>(integer(*v, 1, 1'000'000));
  }
  return c;
}

// The receiver loads the same files into its TLS context at start and on reload; a file
// that does not load there would stop the start (exit 1) or fail every reload.
void Parser::tls_files(const Field& cert_file, const Field& key_file) const {
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                              &SSL_CTX_free);
  if (!ctx) fail(cert_file, "cannot set up OpenSSL: " + openssl_error());
  ERR_clear_error();
  const std::string cert = cert_file.node.Scalar(), key = key_file.node.Scalar();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    fail(cert_file, "'" + cert + "' is not a PEM certificate chain: " + openssl_error());
  }
  // Read on its own first, so that a key that does not parse is told from one that does not
  // match (SSL_CTX_use_PrivateKey_file reports both alike). No passphrase callback: OpenSSL
  // would ask for one on the terminal, and the receiver has none to give.
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(key.c_str(), "r"), &BIO_free);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; },
                                    nullptr)
          : nullptr,
      &EVP_PKEY_free);
  if (!pkey) {
    fail(key_file, "'" + key + "' is not a PEM private key without a passphrase: " +
                       openssl_error());
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), pkey.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    fail(key_file, "the private key in '" + key + "' does not match the certificate in '" +
                       cert + "': " + openssl_error());
  }
}

WorkerConfig Parser::worker(const Field& f) const {
  const Map m(*this, f);
  m.only({"group_id", "state_dir", "admin_listen", "apply_timeout", "max_attempts",
          "resync_interval", "max_file_bytes", "max_parallel_fetches"});
  WorkerConfig c;
  if (auto v = m.get("group_id")) c.group_id = text(*v);
  if (auto v = m.get("state_dir")) c.state_dir = text(*v);
  if (auto v = m.get("admin_listen")) c.admin_listen = listen(*v);
  if (auto v = m.get("apply_timeout")) {
    c.apply_timeout = duration(*v, WorkerConfig::kMaxApplyTimeout);
  }
  if (auto v = m.get("max_attempts")) c.max_attempts = static_cast<unsigned>(integer(*v, 1, 100));
  if (auto v = m.get("resync_interval")) {
    c.resync_interval = duration(*v, WorkerConfig::kMaxResyncInterval);
  }
  if (auto v = m.get("max_file_bytes")) c.max_file_bytes = size(*v);
  if (auto v = m.get("max_parallel_fetches"))
    c.max_parallel_fetches = static_cast<unsigned>(integer(*v, 1, 256));
  return c;
}

Secret Parser::secret(const Field& f) const {
  // Guessable offline from one captured delivery (HMAC) or by trying (GitLab's token).
  static const std::string kShort = "is shorter than " + std::to_string(kMinSecretBytes) +
                                    " bytes; use a random one, like `openssl rand -hex 32`";
  const Map m(*this, f);
  m.only({"file", "env"});
  if (m.entries().size() != 1) fail(f, "expected exactly one of 'file' or 'env'");
  if (auto v = m.get("file")) {
    const std::string path = text(*v);
    Secret secret = secret_file(f, path);
    if (secret.value.size() < kMinSecretBytes) warn(f, "secret file '" + path + "' " + kShort);
    return secret;
  }
  const std::string name = text(m.need("env"));
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    fail(f, "environment variable '" + name + "' is unset or empty");
  }
  if (std::strlen(value) < kMinSecretBytes) {
    warn(f, "the secret in environment variable '" + name + "' " + kShort);
  }
  return Secret{value, "env " + name};
}

// Read whole, one trailing line break taken off; never empty, never a line break inside (it
// would end an HTTP header early).
Secret Parser::secret_file(const Field& f, const std::string& path) const {
  std::string value;
  if (const std::string error = read_file(path, value); !error.empty()) {
    fail(f, "cannot read secret file '" + path + "': " + error);
  }
  if (value.ends_with("\r\n")) {
    value.resize(value.size() - 2);
  } else if (value.ends_with('\n')) {
    value.pop_back();
  }
  if (value.empty()) fail(f, "secret file '" + path + "' is empty");
  warn_if_exposed(f, path);
  return Secret{std::move(value), "file " + path};
}

// An HTTP(S) URL the notifier posts to. The scheme is https, or http for a loopback host
// only: a token or a signed notification would cross the network in the clear. A `secret`
// URL (from url_file: a Slack URL is its own credential) is never quoted in an error.
std::string Parser::outbound_url(const Field& f, std::string url, bool secret) const {
  const std::string shown = secret ? "the URL in " + f.node.Scalar() : "'" + url + "'";
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) fail(f, shown + " is not an absolute URL");
  const std::string scheme = ascii_lower(std::string(parsed->scheme()));
  const std::string host = ascii_lower(std::string(parsed->host()));
  if (scheme != "https" && scheme != "http") fail(f, shown + " is not http(s)");
  if (host.empty()) fail(f, shown + " names no host");
  if (parsed->has_userinfo()) fail(f, shown + " carries user info; take it out");
  const bool loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
  if (scheme == "http" && !loopback) {
    fail(f, shown + " is plain http to a host that is not loopback; use https (TLS is "
                    "verified)");
  }
  return url;
}

ApiConfig Parser::api(const Field& f) const {
  const Map m(*this, f);
  m.only({"url", "token_file", "ca_file"});
  ApiConfig a;
  const Field url = m.need("url");
  a.url = outbound_url(url, text(url));
  while (a.url.ends_with('/')) a.url.pop_back();
  const Field token_file = m.need("token_file");
  a.token = secret_file(token_file, text(token_file));
  if (a.token.value.find_first_of("\r\n") != std::string::npos) {
    fail(token_file, "'" + text(token_file) + "' holds more than one line");
  }
  if (auto v = m.get("ca_file")) a.ca_file = readable_file(*v);
  return a;
}

Sink Parser::sink(const Field& f, std::set<std::string>& names) const {
  const Map m(*this, f);
  m.only({"name", "type", "url", "url_file", "secret", "on", "ca_file"});
  Sink s;
  const Field name = m.need("name");
  s.name = identifier(name);
  if (!names.insert(s.name).second) fail(name, "duplicate sink name '" + s.name + "'");
  const Field type = m.need("type");
  const std::string t = text(type);
  if (t == "slack") {
    s.type = SinkType::slack;
  } else if (t == "webhook") {
    s.type = SinkType::webhook;
  } else {
    fail(type, "expected slack or webhook, got '" + t + "'");
  }
  const auto url = m.get("url");
  const auto url_file = m.get("url_file");
  if (url.has_value() == url_file.has_value()) fail(f, "expected exactly one of 'url' or 'url_file'");
  if (url) {
    s.url = outbound_url(*url, text(*url));
    s.url_origin = "url";
  } else {
    const Secret from_file = secret_file(*url_file, text(*url_file));
    s.url = outbound_url(*url_file, from_file.value, /*secret=*/true);
    s.url_origin = from_file.origin;
  }
  if (auto v = m.get("secret")) {
    if (s.type != SinkType::webhook) fail(*v, "only a webhook sink signs (a slack URL is its own secret)");
    s.secret = secret(*v);
    constexpr std::string_view kPrefix = "whsec_";
    const auto key = s.secret->value.starts_with(kPrefix)
                         ? base64_decode(std::string_view(s.secret->value).substr(kPrefix.size()))
                         : std::nullopt;
    if (!key || key->size() < 24 || key->size() > 64) {
      fail(*v, "expected a Standard Webhooks signing key, \"whsec_\" and the base64 of 24 to 64 "
               "random bytes, like: echo whsec_$(openssl rand -base64 32)");
    }
  } else if (s.type == SinkType::webhook) {
    fail(f, "missing required key 'secret' in " + f.path + ": a webhook sink signs every "
            "notification (Standard Webhooks)");
  }
  const Field on = m.need("on");
  for (const Field& item : list(on)) {
    const std::string word = text(item);
    if (std::find(std::begin(kSinkEvents), std::end(kSinkEvents), word) == std::end(kSinkEvents)) {
      fail(item, "expected one of applied, unchanged, superseded, failed, drift_corrected, "
                 "drift_detected, rollback, dead_lettered; got '" + word + "'");
    }
    if (std::find(s.on.begin(), s.on.end(), word) != s.on.end()) fail(item, "'" + word + "' twice");
    s.on.push_back(word);
  }
  if (s.on.empty()) fail(on, "must name at least one of what the sink is for");
  if (auto v = m.get("ca_file")) s.ca_file = readable_file(*v);
  return s;
}

NotifyConfig Parser::notify(const Field& f) const {
  const Map m(*this, f);
  m.only({"group_id", "admin_listen", "commit_status", "target_url", "max_attempts",
          "max_backoff", "request_timeout", "max_age", "sinks"});
  NotifyConfig c;
  if (auto v = m.get("group_id")) c.group_id = text(*v);
  if (auto v = m.get("admin_listen")) c.admin_listen = listen(*v);
  if (auto v = m.get("commit_status")) c.commit_status = boolean(*v);
  if (auto v = m.get("target_url")) {
    c.target_url = text(*v);
    if (!c.target_url.starts_with("https://") && !c.target_url.starts_with("http://")) {
      fail(*v, "'" + c.target_url + "' is not an http(s) URL");
    }
  }
  if (auto v = m.get("max_attempts")) c.max_attempts = static_cast<unsigned>(integer(*v, 1, 50));
  if (auto v = m.get("max_backoff")) {
    c.max_backoff = duration(*v, NotifyConfig::kMaxBackoffBound, std::chrono::seconds(1));
  }
  if (auto v = m.get("request_timeout")) {
    c.request_timeout =
        duration(*v, NotifyConfig::kMaxRequestTimeout, std::chrono::milliseconds(100));
  }
  if (auto v = m.get("max_age")) {
    c.max_age = duration(*v, NotifyConfig::kMaxMaxAge, std::chrono::minutes(1));
  }
  if (auto v = m.get("sinks")) {
    std::set<std::string> names;
    for (const Field& item : list(*v)) c.sinks.push_back(sink(item, names));
  }
  return c;
}

Credentials Parser::credentials(const Field& f) const {
  const Map m(*this, f);
  m.only({"token_file", "ssh_key_file", "known_hosts"});
  Credentials c;
  if (auto v = m.get("token_file")) {
    c.token_file = text(*v);
    warn_if_exposed(*v, *c.token_file);
  }
  if (auto v = m.get("ssh_key_file")) {
    c.ssh_key_file = text(*v);
    warn_if_exposed(*v, *c.ssh_key_file);
  }
  if (auto v = m.get("known_hosts")) c.known_hosts = text(*v);
  if (c.token_file && c.ssh_key_file) fail(f, "token_file and ssh_key_file exclude each other");
  if (c.ssh_key_file && !c.known_hosts) {
    fail(f, "missing required key 'known_hosts' (needed with ssh_key_file)");
  }
  if (c.known_hosts && !c.ssh_key_file) fail(f, "known_hosts is only used with ssh_key_file");
  return c;
}

// A dest is emptied of everything the subtree does not hold: refused where that would delete
// the system's files, the worker's mirrors, or another target's files.
std::string Parser::files_dest(const Field& f, Dests& dests) const {
  const std::string dest = normalize_path(clean_path(f, true));
  if (const std::string why = system_directory(dest); !why.empty()) {
    fail(f, "'" + dest + "' " + why + "; use a directory of its own, like /srv/www");
  }
  const std::string& state = dests.state_dir;
  if (within(dest, state) || within(state, dest)) {
    fail(f, "'" + dest + "' " +
                (dest == state ? "is" : within(dest, state) ? "is inside" : "contains") +
                " worker.state_dir '" + state + "', where the worker keeps its mirrors");
  }
  const std::string owner = f.path.substr(0, f.path.rfind(".apply.dest"));
  for (const Dest& other : dests.seen) {
    if (!within(dest, other.path) && !within(other.path, dest)) continue;
    fail(f, "'" + dest + "' " +
                (dest == other.path ? "is" : within(dest, other.path) ? "is inside" : "contains") +
                " the dest '" + other.path + "' of " + other.owner + " (line " +
                std::to_string(other.line) + "); each would delete the other's files");
  }
  dests.seen.push_back(Dest{dest, owner, f.mark.line + 1});
  return dest;
}

std::variant<FilesApply, ExecApply> Parser::apply(const Field& f, Dests& dests) const {
  const Map m(*this, f);
  const Field type_field = m.need("type");
  const std::string type = text(type_field);
  if (type == "files") {
    m.only({"type", "dest", "after", "switch"});
    FilesApply a;
    a.dest = files_dest(m.need("dest"), dests);
    if (auto v = m.get("after")) a.after = argv(*v);
    if (auto v = m.get("switch")) {
      const std::string mode = text(*v);
      if (mode == "per_file") {
        a.switch_mode = FilesSwitch::per_file;
      } else if (mode == "exchange") {
        a.switch_mode = FilesSwitch::exchange;
      } else {
        fail(*v, "expected per_file or exchange, got '" + mode + "'");
      }
    }
    return a;
  }
  if (type == "exec") {
    m.only({"type", "command", "diff", "drift_exit_codes"});
    ExecApply a;
    const Field command = m.need("command");
    a.command = argv(command);
    if (a.command.empty()) fail(command, "must not be empty");
    if (auto v = m.get("diff")) a.diff = argv(*v);
    if (auto v = m.get("drift_exit_codes")) {
      a.drift_exit_codes.clear();
      for (const Field& code : list(*v)) {
        a.drift_exit_codes.push_back(static_cast<int>(integer(code, 0, 255)));
      }
      if (a.drift_exit_codes.empty()) fail(*v, "must list at least one exit code");
    }
    return a;
  }
  fail(type_field, "expected files or exec, got '" + type + "'");
}

Target Parser::target(const Field& f, std::set<std::string>& names, Dests& dests) const {
  const Map m(*this, f);
  m.only({"name", "path", "apply", "self_heal"});
  Target t;
  const Field name = m.need("name");
  t.name = identifier(name);
  if (!names.insert(t.name).second) fail(name, "duplicate target name '" + t.name + "'");
  if (auto v = m.get("path")) t.path = clean_path(*v, false);
  t.apply = apply(m.need("apply"), dests);
  if (auto v = m.get("self_heal")) t.self_heal = boolean(*v);
  return t;
}

// The url reaches events, results and the DLQ, which are not secret.
void Parser::url(const Field& f, const std::string& url) const {
  if (const std::string why = url_credentials(url); !why.empty()) {
    fail(f, "the url " + why + "; take it out and put the token in a file named by "
            "credentials: {token_file: ...} (or use ssh_key_file for ssh URLs)");
  }
}

Repository Parser::repository(const Field& f, std::set<std::string>& names, Dests& dests) const {
  const Map m(*this, f);
  m.only({"name", "provider", "match", "url", "branch", "secrets", "credentials", "api",
          "targets"});
  Repository r;
  const Field name = m.need("name");
  r.name = identifier(name);
  if (!names.insert(r.name).second) fail(name, "duplicate repository name '" + r.name + "'");
  const Field provider = m.need("provider");
  const std::string p = text(provider);
  if (p == "github") {
    r.provider = Provider::github;
  } else if (p == "gitlab") {
    r.provider = Provider::gitlab;
  } else if (p == "gitea") {
    r.provider = Provider::gitea;
  } else {
    fail(provider, "expected github, gitlab or gitea, got '" + p + "'");
  }
  r.match = text(m.need("match"));
  const Field url_field = m.need("url");
  r.url = text(url_field);
  url(url_field, r.url);
  if (auto v = m.get("branch")) r.branch = text(*v);
  const Field secrets = m.need("secrets");
  for (const Field& s : list(secrets)) r.secrets.push_back(secret(s));
  if (r.secrets.empty()) fail(secrets, "needs at least one secret");
  if (auto v = m.get("credentials")) r.credentials = credentials(*v);
  if (auto v = m.get("api")) r.api = api(*v);
  if (auto v = m.get("targets")) {
    std::set<std::string> target_names;
    for (const Field& t : list(*v)) r.targets.push_back(target(t, target_names, dests));
  }
  return r;
}

Config Parser::config(const YAML::Node& root) const {
  Config c;
  c.path = file_;
  const Field top{root, "", root.Mark()};
  const auto no_kafka = [&] {
    if (use_ == BrokerUse::embedded) {
      fail(top, "missing required key 'kafka': gitopsctl dev needs 'kafka: {brokers: embedded}'");
    }
  };
  if (root.IsNull()) {  // an empty file: all defaults
    no_kafka();
    return c;
  }
  const Map m(*this, top);
  m.only({"log_level", "kafka", "receiver", "worker", "notify", "repositories"});
  if (auto v = m.get("log_level")) {
    c.log_level = text(*v);
    if (!is_log_level(c.log_level))
      fail(*v, "unknown log level '" + c.log_level + "': expected " + kLogLevelChoices);
  }
  if (auto v = m.get("kafka")) {
    c.kafka = kafka(*v);
  } else {
    no_kafka();
  }
  if (auto v = m.get("receiver")) c.receiver = receiver(*v);
  if (auto v = m.get("worker")) c.worker = worker(*v);
  if (auto v = m.get("notify")) c.notify = notify(*v);
  if (auto v = m.get("kafka")) {
    if (auto properties = Map(*this, *v).get("properties"); properties && !c.kafka.properties.empty()) {
      kafka_clients(*properties, c);
    }
  }
  if (auto v = m.get("repositories")) {
    std::set<std::string> names;
    Dests dests{normalize_path(c.worker.state_dir), {}};
    // The receiver finds a webhook's repository by these three, comparing match ignoring
    // case; two alike could not be told apart (the second would never verify).
    struct Route {
      std::string name, match;
    };
    std::map<std::tuple<Provider, std::string, std::string>, Route> routes;
    for (const Field& item : list(*v)) {
      Repository r = repository(item, names, dests);
      const auto [it, added] = routes.emplace(
          std::tuple{r.provider, ascii_lower(r.match), r.branch}, Route{r.name, r.match});
      if (!added) {
        const bool same = it->second.match == r.match;
        fail(item, "provider " + std::string(provider_name(r.provider)) + ", match '" + r.match +
                       "' and branch '" + r.branch + "' are already used by repository '" +
                       it->second.name + "'" +
                       (same ? "" : " (as '" + it->second.match +
                                        "'; the receiver compares match ignoring case)"));
      }
      c.repositories.push_back(std::move(r));
    }
  }
  c.warnings = std::move(warnings_);
  return c;
}

// The type of the node style argument: EmitterStyle::value in yaml-cpp 0.7, EmitterStyle in
// newer versions (so DocumentRoots overrides either).
template <typename>
struct StyleArgument;
template <typename Handler, typename Style>
struct StyleArgument<void (Handler::*)(const YAML::Mark&, const std::string&, YAML::anchor_t,
                                       Style)> {
  using type = Style;
};
using NodeStyle = StyleArgument<decltype(&YAML::EventHandler::OnMapStart)>::type;

// Records where the root node of each document of a YAML stream is. parse_config counts
// documents with it instead of YAML::LoadAll, which (yaml-cpp 0.7 and 0.8, upstream issue 1040)
// never returns on a stray ',' outside a flow collection: the parser reports an empty document
// without consuming the token, again and again, until memory runs out. A root at the same
// place as the previous document's is that case.
class DocumentRoots : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark&) override { root_pending_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       NodeStyle) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, NodeStyle) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (root_pending_) marks.push_back(mark);
    root_pending_ = false;
  }
  bool root_pending_ = false;
};

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& name, BrokerUse use) {
  const Parser parser(name, use);
  const YAML::Node document = [&] {
    try {
      std::istringstream in(yaml_text);
      YAML::Parser stream(in);
      DocumentRoots roots;
      while (roots.marks.size() < 2 && stream.HandleNextDocument(roots)) {
      }
      if (roots.marks.size() == 2) {
        if (roots.marks[1].pos == roots.marks[0].pos) {
          parser.fail(roots.marks[1], "unexpected token: no YAML value can start here");
        }
        parser.fail(roots.marks[1], "expected one YAML document, found several");
      }
      return YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
      parser.fail(e.mark, e.msg);
    }
  }();
  return parser.config(document);
}

const Repository* find_repository(const Config& config, std::string_view name) {
  auto it = std::find_if(config.repositories.begin(), config.repositories.end(),
                         [&](const Repository& r) { return r.name == name; });
  return it == config.repositories.end() ? nullptr : &*it;
}

bool is_log_level(std::string_view level) {
  constexpr std::string_view known[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  return std::find(std::begin(known), std::end(known), level) != std::end(known);
}

Config load_config(const std::string& path, BrokerUse use) {
  std::string text;
  if (const std::string error = read_file(path, text); !error.empty()) {
    throw ConfigError(path + ": cannot read: " + error);
  }
  return parse_config(text, path, use);
}

}  // namespace gitopsd
