#include "fetch_callbacks.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "known_hosts.hpp"
#include "libgit2_support.hpp"

namespace gitopsd::worker {
namespace {

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

bool contains(const std::string& haystack, std::string_view needle) {
  auto lower = haystack;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find(needle) != std::string::npos;
}

}  // namespace

GitError classify_fetch_error(int code, const FetchContext& ctx, const std::string& what) {
  const std::string url = redact_url(ctx.repository->url);
  if (ctx.timed_out) {
    return {redact_secret(what + " " + url + ": timed out after " +
                              std::to_string(ctx.timeout.count()) + " ms without progress",
                          ctx.token),
            true};
  }
  if (ctx.refused)
    return {redact_secret(what + " " + url + ": " + *ctx.refused, ctx.token), false};
  std::string message = redact_secret(what + " " + url + ": " + last_error_text(), ctx.token);
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

git_remote_callbacks fetch_callbacks(FetchContext& ctx) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = credentials_cb;
  callbacks.certificate_check = certificate_cb;
  callbacks.sideband_progress = sideband_cb;
  callbacks.transfer_progress = transfer_cb;
  callbacks.payload = &ctx;
  return callbacks;
}

}  // namespace gitopsd::worker
