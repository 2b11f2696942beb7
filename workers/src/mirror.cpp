#include "gitopsd/worker/mirror.hpp"

#include <fcntl.h>
#include <git2.h>
#include <git2/sys/stream.h>
#if __has_include(<git2/sys/errors.h>)
#include <git2/sys/errors.h>  // git_error_set_str, git_error_clear: here from libgit2 1.8 on
#endif
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace gitopsd::worker {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using RepoPtr = std::unique_ptr<git_repository, Deleter<git_repository, git_repository_free>>;
using RemotePtr = std::unique_ptr<git_remote, Deleter<git_remote, git_remote_free>>;
using CommitPtr = std::unique_ptr<git_commit, Deleter<git_commit, git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>>;
using TreeEntryPtr = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry, git_tree_entry_free>>;
using OdbPtr = std::unique_ptr<git_odb, Deleter<git_odb, git_odb_free>>;

std::string oid_hex(const git_oid& oid) {
  std::array<char, GIT_OID_HEXSZ + 1> buf{};
  git_oid_tostr(buf.data(), buf.size(), &oid);
  return std::string(buf.data());
}

std::optional<git_oid> parse_oid(const std::string& hex) {
  if (hex.size() != GIT_OID_HEXSZ) return std::nullopt;
  if (!std::all_of(hex.begin(), hex.end(),
                   [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
    return std::nullopt;
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) != 0) return std::nullopt;
  return oid;
}

std::string last_error_text() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? std::string(e->message)
                                               : std::string("unknown error");
}

// "scheme://user:secret@host/..." -> "scheme://host/..." so no password reaches a message.
std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto start = scheme + 3;
  auto slash = url.find('/', start);
  auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at == std::string::npos || at < start) return url;
  auto userinfo = url.substr(start, at - start);
  auto colon = userinfo.find(':');
  if (colon == std::string::npos) return url;  // a bare user name (ssh) is not a secret
  return url.substr(0, start) + userinfo.substr(0, colon) + "@" + url.substr(at + 1);
}

struct UrlParts {
  std::string scheme;  // "ssh", "https", "git", ... ("ssh" for scp-like "user@host:path")
  std::string user;
  std::string host;
  int port = 0;  // 0 = default
};

UrlParts parse_url(const std::string& url) {
  UrlParts parts;
  auto scheme_end = url.find("://");
  std::string authority;
  if (scheme_end == std::string::npos) {
    // scp-like: [user@]host:path
    auto colon = url.find(':');
    if (colon == std::string::npos) return parts;
    parts.scheme = "ssh";
    authority = url.substr(0, colon);
    auto at = authority.rfind('@');
    if (at != std::string::npos) {
      parts.user = authority.substr(0, at);
      authority = authority.substr(at + 1);
    }
    parts.host = authority;
    return parts;
  }
  parts.scheme = url.substr(0, scheme_end);
  std::transform(parts.scheme.begin(), parts.scheme.end(), parts.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto start = scheme_end + 3;
  auto slash = url.find('/', start);
  authority = url.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    auto userinfo = authority.substr(0, at);
    parts.user = userinfo.substr(0, userinfo.find(':'));
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    parts.host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      parts.port = std::atoi(authority.c_str() + close + 2);
  } else {
    auto colon = authority.rfind(':');
    parts.host = authority.substr(0, colon);
    if (colon != std::string::npos) parts.port = std::atoi(authority.c_str() + colon + 1);
  }
  return parts;
}

bool is_ssh_scheme(const std::string& scheme) {
  return scheme == "ssh" || scheme == "ssh+git" || scheme == "git+ssh";
}

std::optional<std::string> base64_decode(const std::string& in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xffU));
    }
  }
  return out;
}

// One known_hosts host pattern against "host" or "[host]:port"; supports hashed entries
// ("|1|salt|hash", HMAC-SHA1) and plain names. Wildcards and negations are not supported.
bool host_pattern_matches(const std::string& pattern, const std::string& name) {
  if (pattern.rfind("|1|", 0) == 0) {
    auto sep = pattern.find('|', 3);
    if (sep == std::string::npos) return false;
    auto salt = base64_decode(pattern.substr(3, sep - 3));
    auto hash = base64_decode(pattern.substr(sep + 1));
    if (!salt || !hash) return false;
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned mac_len = 0;
    if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
             reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac.data(),
             &mac_len) == nullptr)
      return false;
    return hash->size() == mac_len && std::memcmp(hash->data(), mac.data(), mac_len) == 0;
  }
  return pattern == name;
}

// True when `known_hosts` lists `key` (raw SSH wire-format blob) for host/port.
bool known_hosts_lists(const std::string& known_hosts, const std::string& host, int port,
                       const std::string& key) {
  std::ifstream in(known_hosts);
  if (!in) return false;
  const std::string name =
      port == 0 || port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hosts, type, b64;
    if (!(fields >> hosts >> type >> b64)) continue;
    if (hosts.empty() || hosts[0] == '#' || hosts[0] == '@') continue;  // comments, markers
    bool host_match = false;
    std::stringstream list(hosts);
    std::string pattern;
    while (std::getline(list, pattern, ','))
      host_match = host_match || host_pattern_matches(pattern, name);
    if (!host_match) continue;
    auto decoded = base64_decode(b64);
    if (decoded && *decoded == key) return true;
  }
  return false;
}

// Per-fetch state shared with libgit2's callbacks.
struct FetchContext {
  const Repository* repository = nullptr;
  UrlParts url;
  std::string token;
  std::chrono::milliseconds timeout{};
  std::chrono::steady_clock::time_point deadline;
  std::map<unsigned, int> credential_attempts;  // by allowed-type mask
  bool auth_gave_up = false;
  bool timed_out = false;
  std::optional<std::string> refused;  // why a certificate / host key was refused

  bool expired() {
    if (std::chrono::steady_clock::now() > deadline) timed_out = true;
    return timed_out;
  }
  void progressed() { deadline = std::chrono::steady_clock::now() + timeout; }
};

int credentials_cb(git_credential** out, const char* /*url*/, const char* username_from_url,
                   unsigned int allowed_types, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (ctx->expired()) return GIT_EUSER;
  if (++ctx->credential_attempts[allowed_types] > 1) {
    ctx->auth_gave_up = true;
    git_error_set_str(GIT_ERROR_NET, "authentication failed: credentials rejected by the server");
    return GIT_EAUTH;
  }
  const Credentials& creds = ctx->repository->credentials;
  const std::string user =
      username_from_url != nullptr && *username_from_url != '\0' ? username_from_url : "";
  if ((allowed_types & GIT_CREDENTIAL_SSH_KEY) != 0U && creds.ssh_key_file) {
    return git_credential_ssh_key_new(out, user.empty() ? "git" : user.c_str(), nullptr,
                                      creds.ssh_key_file->c_str(), nullptr);
  }
  if ((allowed_types & GIT_CREDENTIAL_USERNAME) != 0U) {
    return git_credential_username_new(out, user.empty() ? "git" : user.c_str());
  }
  if ((allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0U && creds.token_file) {
    return git_credential_userpass_plaintext_new(out, "x-access-token", ctx->token.c_str());
  }
  ctx->auth_gave_up = true;
  git_error_set_str(GIT_ERROR_NET, "authentication required but no usable credentials configured");
  return GIT_EAUTH;
}

int certificate_cb(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (ctx->expired()) return GIT_EUSER;
  // TLS: libgit2's verdict (the chain against the trusted CAs, the host name) stands. Only
  // GIT_PASSTHROUGH says so: any other value is taken as this callback's own verdict, and a
  // positive one lets the connection proceed whatever the certificate.
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  const std::string host_name = host != nullptr ? host : ctx->url.host;
  const auto& known_hosts = ctx->repository->credentials.known_hosts;
  if (!known_hosts) {
    ctx->refused = "no known_hosts configured for ssh host " + host_name;
  } else {
    auto* hostkey = reinterpret_cast<git_cert_hostkey*>(cert);
    if ((hostkey->type & GIT_CERT_SSH_RAW) == 0 || hostkey->hostkey == nullptr) {
      ctx->refused = "no raw host key offered by " + host_name;
    } else if (!known_hosts_lists(*known_hosts, host_name, ctx->url.port,
                                  std::string(hostkey->hostkey, hostkey->hostkey_len))) {
      ctx->refused = "host key for " + host_name + " not in known_hosts " + *known_hosts;
    } else {
      return 0;
    }
  }
  git_error_set_str(GIT_ERROR_SSH, ctx->refused->c_str());
  return GIT_ECERTIFICATE;
}

int sideband_cb(const char* /*str*/, int /*len*/, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (ctx->expired()) return GIT_EUSER;
  ctx->progressed();
  return 0;
}

int transfer_cb(const git_indexer_progress* /*stats*/, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (ctx->expired()) return GIT_EUSER;
  ctx->progressed();
  return 0;
}

std::string scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos))
    text.replace(pos, secret.size(), "***");
  return text;
}

bool contains(const std::string& haystack, std::string_view needle) {
  auto lower = haystack;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find(needle) != std::string::npos;
}

// The one place a libgit2 fetch failure becomes retry or permanent.
GitError classify(int code, const FetchContext& ctx, const std::string& what) {
  const std::string url = redact_url(ctx.repository->url);
  if (ctx.timed_out) {
    return {scrub(what + " " + url + ": timed out after " + std::to_string(ctx.timeout.count()) +
                      " ms without progress",
                  ctx.token),
            true};
  }
  if (ctx.refused) return {scrub(what + " " + url + ": " + *ctx.refused, ctx.token), false};
  std::string message = scrub(what + " " + url + ": " + last_error_text(), ctx.token);
  bool retryable = true;
  if (code == GIT_EAUTH || code == GIT_ECERTIFICATE || code == GIT_EINVALIDSPEC ||
      code == GIT_EINVALID || ctx.auth_gave_up) {
    retryable = false;
  } else if (contains(message, "status code: 404") || contains(message, "status code: 401") ||
             contains(message, "status code: 403") || contains(message, "not found") ||
             contains(message, "does not appear to be a git repository") ||
             contains(message, "unsupported url protocol") || contains(message, "malformed url") ||
             contains(message, "invalid url") || contains(message, "certificate")) {
    retryable = false;
  }
  return {std::move(message), retryable};
}

std::optional<std::string> read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  return token;
}

constexpr const char* kRemoteName = "origin";

// A fetch's timeout bounds the connect and every read and write that makes no progress.
// FetchTimeoutScope applies it to one fetch; install_fetch_timeouts() runs once at start.
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
// libgit2 1.7 and later bound the connect and each socket read and write themselves. The two
// options are process-wide: each socket reads them when it is opened. The daemon gives every
// fetch the same timeout, so they are written once and never change under a running fetch; a
// different timeout (as tests use) holds for the fetches that start after it. For SSH libssh2
// reads the socket itself, so there only the connect is bounded (and the progress callbacks).
class FetchTimeoutScope {
 public:
  explicit FetchTimeoutScope(std::chrono::milliseconds timeout) {
    using Rep = std::chrono::milliseconds::rep;
    const int ms =
        static_cast<int>(std::clamp<Rep>(timeout.count(), 0, std::numeric_limits<int>::max()));
    static std::mutex mutex;
    static int current = -1;
    std::lock_guard lock(mutex);
    if (ms == current) return;
    // Both refuse only a negative value.
    git_libgit2_opts(GIT_OPT_SET_SERVER_CONNECT_TIMEOUT, ms);
    git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, ms);
    current = ms;
  }
  FetchTimeoutScope(const FetchTimeoutScope&) = delete;
  FetchTimeoutScope& operator=(const FetchTimeoutScope&) = delete;
};

void install_fetch_timeouts() {}

#elif LIBGIT2_VER_MAJOR == 1 && (LIBGIT2_VER_MINOR == 5 || LIBGIT2_VER_MINOR == 6)
// libgit2 1.5 and 1.6 have no connect or read timeout, so the plain socket stream is replaced:
// connect is bounded with a non-blocking connect + poll, and every read/write with
// SO_RCVTIMEO/SO_SNDTIMEO. The timeout is per thread and set by FetchTimeoutScope. TLS
// (mbedTLS) reads through this stream too. The layout matches libgit2's own git_socket_stream
// (unchanged from 0.25 through 1.9) because its SSH transport hands `s` to libssh2 directly;
// there only the connect is bounded (libssh2 waits on the socket itself).
thread_local std::chrono::milliseconds t_io_timeout{0};

struct TimeoutSocketStream {
  git_stream parent;
  char* host;
  char* port;
  int s;
};

void set_net_error(const std::string& what) { git_error_set_str(GIT_ERROR_NET, what.c_str()); }

int stream_connect(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* info = nullptr;
  if (int rc = ::getaddrinfo(st->host, st->port, &hints, &info); rc != 0) {
    set_net_error(std::string("failed to resolve address for ") + st->host + ": " +
                  ::gai_strerror(rc));
    return -1;
  }
  const auto timeout = t_io_timeout;
  std::string error = "no address";
  for (addrinfo* p = info; p != nullptr; p = p->ai_next) {
    int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, p->ai_addr, p->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      const int wait_ms = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
      int ready = ::poll(&pfd, 1, wait_ms);
      if (ready == 0) {
        error = "timed out after " + std::to_string(timeout.count()) + " ms";
        ::close(fd);
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      rc = ready < 0 ? -1 : (so_error == 0 ? 0 : -1);
      if (so_error != 0) errno = so_error;
    }
    if (rc != 0) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, flags);
    if (timeout.count() > 0) {
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
      tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    st->s = fd;
    ::freeaddrinfo(info);
    return 0;
  }
  ::freeaddrinfo(info);
  set_net_error(std::string("failed to connect to ") + st->host + ":" + st->port + ": " + error);
  return -1;
}

ssize_t stream_read(git_stream* stream, void* data, size_t len) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  ssize_t n = ::recv(st->s, data, len, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      set_net_error(std::string("read from ") + st->host + " timed out after " +
                    std::to_string(t_io_timeout.count()) + " ms");
    } else {
      set_net_error(std::string("error receiving data from ") + st->host + ": " +
                    std::strerror(errno));
    }
    return -1;
  }
  return n;
}

ssize_t stream_write(git_stream* stream, const char* data, size_t len, int /*flags*/) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  ssize_t n = ::send(st->s, data, len, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      set_net_error(std::string("write to ") + st->host + " timed out after " +
                    std::to_string(t_io_timeout.count()) + " ms");
    } else {
      set_net_error(std::string("error sending data to ") + st->host + ": " + std::strerror(errno));
    }
    return -1;
  }
  return n;
}

int stream_close(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  if (st->s >= 0) ::close(st->s);
  st->s = -1;
  return 0;
}

void stream_free(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  std::free(st->host);
  std::free(st->port);
  delete st;
}

int stream_new(git_stream** out, const char* host, const char* port) {
  auto* st = new TimeoutSocketStream{};
  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = stream_connect;
  st->parent.read = stream_read;
  st->parent.write = stream_write;
  st->parent.close = stream_close;
  st->parent.free = stream_free;
  st->host = ::strdup(host);
  st->port = ::strdup(port);
  st->s = -1;
  *out = &st->parent;
  return 0;
}

// The fetch's timeout for the socket streams this thread opens; restored when the fetch returns.
class FetchTimeoutScope {
 public:
  explicit FetchTimeoutScope(std::chrono::milliseconds timeout) { t_io_timeout = timeout; }
  ~FetchTimeoutScope() { t_io_timeout = std::chrono::milliseconds{0}; }
  FetchTimeoutScope(const FetchTimeoutScope&) = delete;
  FetchTimeoutScope& operator=(const FetchTimeoutScope&) = delete;
};

void install_fetch_timeouts() {
  git_stream_registration registration{};
  registration.version = GIT_STREAM_VERSION;
  registration.init = stream_new;
  if (git_stream_register(GIT_STREAM_STANDARD, &registration) != 0)
    throw std::runtime_error("cannot register the socket stream: " + last_error_text());
}

#else
#error "gitopsd bounds fetches with libgit2 1.7's GIT_OPT_SET_SERVER_TIMEOUT, or on 1.5/1.6 with its own socket stream; this libgit2 has neither"
#endif

}  // namespace

namespace {
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";  // Debian, Ubuntu
constexpr const char* kSystemCaDir = "/etc/ssl/certs";
}  // namespace

void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // The CAs HTTPS git hosts are verified against: OpenSSL's environment variables when set
    // (a private CA), else the system bundle. libgit2's TLS backend may have no default.
    const char* file = std::getenv("SSL_CERT_FILE");
    const char* dir = std::getenv("SSL_CERT_DIR");
    if (file == nullptr && dir == nullptr) {
      std::error_code ec;
      if (std::filesystem::exists(kSystemCaBundle, ec)) file = kSystemCaBundle;
      if (std::filesystem::is_directory(kSystemCaDir, ec)) dir = kSystemCaDir;
    }
    if ((file != nullptr || dir != nullptr) &&
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir) != 0)
      throw std::runtime_error("cannot load the trusted CA certificates: " + last_error_text());
    install_fetch_timeouts();
  });
}

struct Mirror::Impl {
  Repository repository;
  std::string directory;
  RepoPtr repo{nullptr};
  std::optional<std::string> tip;

  TreePtr subtree(const std::string& commit, const std::string& path, std::string* error) const {
    auto oid = parse_oid(commit);
    if (!oid) {
      if (error) *error = "not a commit id: " + commit;
      return TreePtr(nullptr);
    }
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo.get(), &*oid) != 0) {
      if (error) *error = "commit " + commit + " not in mirror: " + last_error_text();
      return TreePtr(nullptr);
    }
    CommitPtr c(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, c.get()) != 0) {
      if (error) *error = "tree of " + commit + ": " + last_error_text();
      return TreePtr(nullptr);
    }
    TreePtr root(raw_tree);
    std::string rel = path;
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    while (rel.rfind("./", 0) == 0) rel.erase(0, 2);
    if (rel.empty() || rel == ".") return root;
    git_tree_entry* raw_entry = nullptr;
    if (git_tree_entry_bypath(&raw_entry, root.get(), rel.c_str()) != 0) {
      if (error) *error = "path " + path + " not in " + commit;
      return TreePtr(nullptr);
    }
    TreeEntryPtr entry(raw_entry);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      if (error) *error = "path " + path + " in " + commit + " is not a directory";
      return TreePtr(nullptr);
    }
    git_tree* raw_sub = nullptr;
    if (git_tree_lookup(&raw_sub, repo.get(), git_tree_entry_id(entry.get())) != 0) {
      if (error) *error = "tree " + path + ": " + last_error_text();
      return TreePtr(nullptr);
    }
    return TreePtr(raw_sub);
  }
};

Mirror::Mirror(const Repository& repository, const std::string& state_dir)
    : impl_(std::make_unique<Impl>()) {
  init_libgit2();
  impl_->repository = repository;
  impl_->directory =
      (std::filesystem::path(state_dir) / "mirrors" / (repository.name + ".git")).string();
  std::error_code ec;
  std::filesystem::create_directories(impl_->directory, ec);
  if (ec)
    throw std::runtime_error("cannot create mirror " + impl_->directory + ": " + ec.message());
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, impl_->directory.c_str());
  if (rc != 0) rc = git_repository_init(&raw, impl_->directory.c_str(), 1);
  if (rc != 0)
    throw std::runtime_error("cannot open mirror " + impl_->directory + ": " + last_error_text());
  impl_->repo.reset(raw);

  // The remote follows the config: created on first use, its URL updated when it changed.
  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, raw, kRemoteName) != 0) {
    const std::string refspec =
        "+refs/heads/" + repository.branch + ":refs/heads/" + repository.branch;
    rc = git_remote_create_with_fetchspec(&raw_remote, raw, kRemoteName, repository.url.c_str(),
                                          refspec.c_str());
    if (rc != 0)
      throw std::runtime_error("cannot configure remote of " + impl_->directory + " for " +
                               redact_url(repository.url) + ": " + last_error_text());
  }
  RemotePtr remote(raw_remote);
  const char* current = git_remote_url(remote.get());
  if (current == nullptr || repository.url != current) {
    if (git_remote_set_url(raw, kRemoteName, repository.url.c_str()) != 0)
      throw std::runtime_error("cannot set remote url of " + impl_->directory + ": " +
                               last_error_text());
  }
  git_oid oid;
  const std::string ref = "refs/heads/" + repository.branch;
  if (git_reference_name_to_id(&oid, raw, ref.c_str()) == 0) impl_->tip = oid_hex(oid);
}

Mirror::~Mirror() = default;

std::variant<std::string, GitError> Mirror::fetch(std::chrono::milliseconds timeout) {
  const Repository& repository = impl_->repository;
  FetchTimeoutScope fetch_timeout(timeout);
  FetchContext ctx;
  ctx.repository = &repository;
  ctx.url = parse_url(repository.url);
  ctx.timeout = timeout;
  ctx.progressed();
  const std::string url = redact_url(repository.url);
  if (repository.credentials.token_file) {
    auto token = read_token(*repository.credentials.token_file);
    if (!token) {
      return GitError{
          "fetch " + url + ": cannot read token_file " + *repository.credentials.token_file, false};
    }
    ctx.token = std::move(*token);
  }
  if (is_ssh_scheme(ctx.url.scheme) && !repository.credentials.known_hosts) {
    return GitError{"fetch " + url + ": no known_hosts configured for ssh host " + ctx.url.host,
                    false};
  }

  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, impl_->repo.get(), kRemoteName) != 0)
    return GitError{"fetch " + url + ": remote missing: " + last_error_text(), false};
  RemotePtr remote(raw_remote);

  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = credentials_cb;
  callbacks.certificate_check = certificate_cb;
  callbacks.sideband_progress = sideband_cb;
  callbacks.transfer_progress = transfer_cb;
  callbacks.payload = &ctx;
  git_proxy_options proxy;
  git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);

  git_error_clear();
  int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, &proxy, nullptr);
  if (rc != 0) return classify(rc, ctx, "connect");
  ctx.progressed();

  // The tip is what the host advertises now; the download then brings exactly that commit.
  const std::string ref = "refs/heads/" + repository.branch;
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if ((rc = git_remote_ls(&heads, &count, remote.get())) != 0) return classify(rc, ctx, "list");
  std::optional<git_oid> advertised;
  for (size_t i = 0; i < count; ++i) {
    if (ref == heads[i]->name) advertised = heads[i]->oid;
  }
  if (!advertised) {
    git_remote_disconnect(remote.get());
    return GitError{"fetch " + url + ": branch " + repository.branch + " not found", false};
  }

  git_fetch_options opts;
  git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
  opts.callbacks = callbacks;
  opts.prune = GIT_FETCH_NO_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  opts.update_fetchhead = 0;
  std::string refspec = "+" + ref + ":" + ref;
  char* refspec_ptr = refspec.data();
  git_strarray refspecs{&refspec_ptr, 1};
  if ((rc = git_remote_download(remote.get(), &refspecs, &opts)) != 0)
    return classify(rc, ctx, "fetch");
  if ((rc = git_remote_update_tips(remote.get(), &callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE,
                                   nullptr)) != 0)
    return classify(rc, ctx, "update refs from");
  git_remote_disconnect(remote.get());

  git_oid local;
  if (git_reference_name_to_id(&local, impl_->repo.get(), ref.c_str()) != 0 ||
      git_oid_cmp(&local, &*advertised) != 0) {
    // update_tips skips refs it considers unchanged; write the advertised tip directly.
    git_reference* raw_ref = nullptr;
    if (git_reference_create(&raw_ref, impl_->repo.get(), ref.c_str(), &*advertised, 1,
                             "gitopsd fetch") != 0)
      return GitError{"fetch " + url + ": cannot update " + ref + ": " + last_error_text(), true};
    git_reference_free(raw_ref);
  }
  impl_->tip = oid_hex(*advertised);
  return *impl_->tip;
}

std::optional<std::string> Mirror::tip() const { return impl_->tip; }

bool Mirror::is_ancestor_or_same(const std::string& commit, const std::string& descendant) const {
  auto a = parse_oid(commit);
  auto d = parse_oid(descendant);
  if (!a || !d) return false;
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, impl_->repo.get(), &*a) != 0) return false;
  CommitPtr ca(raw);
  if (git_commit_lookup(&raw, impl_->repo.get(), &*d) != 0) return false;
  CommitPtr cd(raw);
  if (git_oid_equal(&*a, &*d) != 0) return true;
  return git_graph_descendant_of(impl_->repo.get(), &*d, &*a) == 1;
}

std::optional<std::string> Mirror::subtree_id(const std::string& commit,
                                              const std::string& path) const {
  auto tree = impl_->subtree(commit, path, nullptr);
  if (!tree) return std::nullopt;
  return oid_hex(*git_tree_id(tree.get()));
}

std::variant<std::vector<TreeFile>, GitError> Mirror::list_files(const std::string& commit,
                                                                 const std::string& path) const {
  std::string error;
  auto tree = impl_->subtree(commit, path, &error);
  if (!tree) return GitError{error, false};
  std::vector<TreeFile> files;
  auto walker = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* out = static_cast<std::vector<TreeFile>*>(payload);
    FileKind kind;
    switch (git_tree_entry_filemode(entry)) {
      case GIT_FILEMODE_BLOB:
        kind = FileKind::regular;
        break;
      case GIT_FILEMODE_BLOB_EXECUTABLE:
        kind = FileKind::executable;
        break;
      case GIT_FILEMODE_LINK:
        kind = FileKind::symlink;
        break;
      default:
        return 0;  // trees are descended; submodules (commits) are skipped
    }
    out->push_back(TreeFile{std::string(root) + git_tree_entry_name(entry), kind,
                            oid_hex(*git_tree_entry_id(entry))});
    return 0;
  };
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, walker, &files) != 0)
    return GitError{"walk " + path + " at " + commit + ": " + last_error_text(), false};
  std::sort(files.begin(), files.end(),
            [](const TreeFile& a, const TreeFile& b) { return a.path < b.path; });
  return files;
}

namespace {

bool is_blob(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
         mode == GIT_FILEMODE_LINK;
}

// Appends to `out` the blob paths that differ between `a` and `b` (either may be null: then
// every blob of the other differs).
bool diff_trees(git_repository* repo, const git_tree* a, const git_tree* b,
                const std::string& prefix, std::vector<std::string>& out) {
  auto sub = [repo](const git_tree_entry* e) {
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, repo, git_tree_entry_id(e)) != 0) return TreePtr(nullptr);
    return TreePtr(raw);
  };
  // One side of an entry that is not matched by an equal entry on the other side.
  auto one_side = [&](const git_tree_entry* e, bool a_side) {
    const std::string path = prefix + git_tree_entry_name(e);
    const git_filemode_t mode = git_tree_entry_filemode(e);
    if (is_blob(mode)) {
      out.push_back(path);
      return true;
    }
    if (mode != GIT_FILEMODE_TREE) return true;  // submodules are not materialized
    auto tree = sub(e);
    if (!tree) return false;
    return a_side ? diff_trees(repo, tree.get(), nullptr, path + "/", out)
                  : diff_trees(repo, nullptr, tree.get(), path + "/", out);
  };
  const std::size_t a_count = a ? git_tree_entrycount(a) : 0;
  for (std::size_t i = 0; i < a_count; ++i) {
    const git_tree_entry* ea = git_tree_entry_byindex(a, i);
    const git_tree_entry* eb = b ? git_tree_entry_byname(b, git_tree_entry_name(ea)) : nullptr;
    if (eb != nullptr && git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb) &&
        git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) != 0)
      continue;
    if (eb != nullptr && git_tree_entry_filemode(ea) == GIT_FILEMODE_TREE &&
        git_tree_entry_filemode(eb) == GIT_FILEMODE_TREE) {
      auto ta = sub(ea);
      auto tb = sub(eb);
      if (!ta || !tb) return false;
      if (!diff_trees(repo, ta.get(), tb.get(), prefix + git_tree_entry_name(ea) + "/", out))
        return false;
      continue;
    }
    if (!one_side(ea, true)) return false;
    if (eb != nullptr && !one_side(eb, false)) return false;
  }
  const std::size_t b_count = b ? git_tree_entrycount(b) : 0;
  for (std::size_t i = 0; i < b_count; ++i) {
    const git_tree_entry* eb = git_tree_entry_byindex(b, i);
    if (a != nullptr && git_tree_entry_byname(a, git_tree_entry_name(eb)) != nullptr) continue;
    if (!one_side(eb, false)) return false;
  }
  return true;
}

}  // namespace

std::variant<std::vector<std::string>, GitError> Mirror::changed_paths(
    const std::string& old_tree, const std::string& new_tree) const {
  auto lookup = [this](const std::string& id, std::string& error) {
    auto oid = parse_oid(id);
    git_tree* raw = nullptr;
    if (!oid || git_tree_lookup(&raw, impl_->repo.get(), &*oid) != 0) {
      error = "tree " + id + " not in mirror";
      return TreePtr(nullptr);
    }
    return TreePtr(raw);
  };
  std::string error;
  auto a = lookup(old_tree, error);
  auto b = a ? lookup(new_tree, error) : TreePtr(nullptr);
  if (!a || !b) return GitError{error, false};
  std::vector<std::string> paths;
  if (!diff_trees(impl_->repo.get(), a.get(), b.get(), "", paths))
    return GitError{"compare trees " + old_tree + " and " + new_tree + ": " + last_error_text(),
                    false};
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::variant<std::uint64_t, GitError> Mirror::blob_size(const std::string& blob_id) const {
  auto oid = parse_oid(blob_id);
  if (!oid) return GitError{"not a blob id: " + blob_id, false};
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, impl_->repo.get()) != 0)
    return GitError{"object database: " + last_error_text(), false};
  OdbPtr odb(raw_odb);
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb.get(), &*oid) != 0)
    return GitError{"blob " + blob_id + ": " + last_error_text(), false};
  if (type != GIT_OBJECT_BLOB) return GitError{"not a blob: " + blob_id, false};
  return static_cast<std::uint64_t>(size);
}

std::variant<BlobData, GitError> Mirror::read_blob(const std::string& blob_id) const {
  auto oid = parse_oid(blob_id);
  if (!oid) return GitError{"not a blob id: " + blob_id, false};
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, impl_->repo.get(), &*oid) != 0)
    return GitError{"blob " + blob_id + ": " + last_error_text(), false};
  std::shared_ptr<const git_blob> blob(raw, [](const git_blob* b) {
    git_blob_free(const_cast<git_blob*>(b));
  });
  const auto* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return BlobData{std::string_view(data, static_cast<std::size_t>(git_blob_rawsize(blob.get()))),
                  std::move(blob)};
}

const std::string& Mirror::directory() const { return impl_->directory; }

}  // namespace gitopsd::worker
