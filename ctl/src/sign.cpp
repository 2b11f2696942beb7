#include "gitopsd/ctl/sign.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include "gitopsd/crypto.hpp"

namespace gitopsd::ctl {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;

Headers signed_headers(Provider provider, const std::string& secret, const std::string& body,
                       std::string event, std::string delivery_id,
                       std::chrono::system_clock::time_point now) {
  if (delivery_id.empty()) delivery_id = random_uuid();
  Headers h{{"Content-Type", "application/json"}};
  switch (provider) {
    case Provider::github:
      h.emplace_back("X-GitHub-Event", event.empty() ? "push" : event);
      h.emplace_back("X-GitHub-Delivery", delivery_id);
      h.emplace_back("X-Hub-Signature-256", "sha256=" + to_hex(hmac_sha256(secret, body)));
      break;
    case Provider::gitea:
      h.emplace_back("X-Gitea-Event", event.empty() ? "push" : event);
      h.emplace_back("X-Gitea-Delivery", delivery_id);
      h.emplace_back("X-Gitea-Signature", to_hex(hmac_sha256(secret, body)));
      break;
    case Provider::gitlab: {
      h.emplace_back("X-Gitlab-Event", event.empty() ? "Push Hook" : event);
      // As GitLab sends them; a token request is named by its X-Gitlab-Event-UUID, a signed
      // one by its webhook-id (DESIGN: the unsigned Idempotency-Key never names a delivery).
      h.emplace_back("X-Gitlab-Event-UUID", delivery_id);
      h.emplace_back("Idempotency-Key", delivery_id);
      constexpr std::string_view kSigningPrefix = "whsec_";
      if (secret.starts_with(kSigningPrefix)) {
        auto key = base64_decode(std::string_view(secret).substr(kSigningPrefix.size()));
        if (!key) throw std::invalid_argument("the whsec_ secret is not valid base64");
        auto timestamp = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        h.emplace_back("webhook-id", delivery_id);
        h.emplace_back("webhook-timestamp", timestamp);
        h.emplace_back("webhook-signature",
                       "v1," + base64_encode(hmac_sha256(*key, delivery_id + "." + timestamp +
                                                                   "." + body)));
      } else {
        h.emplace_back("X-Gitlab-Token", secret);
      }
      break;
    }
  }
  return h;
}

namespace {

template <class Stream>
SendResult exchange(Stream& stream, const std::string& host, const std::string& target,
                    const Headers& headers, const std::string& body) {
  http::request<http::string_body> req{http::verb::post, target.empty() ? "/" : target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "gitopsctl");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace

SendResult send_webhook(const std::string& url, const Headers& headers, const std::string& body,
                        std::chrono::milliseconds timeout) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return {0, "not a URL: " + url};
  const bool https = parsed->scheme() == "https";
  if (!https && parsed->scheme() != "http") return {0, "only http:// and https:// URLs"};
  const std::string host = parsed->host();
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : (https ? "443" : "80");
  std::string target(parsed->encoded_path());
  if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
  try {
    net::io_context io;
    net::ip::tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(host, port);
    if (!https) {
      beast::tcp_stream stream(io);
      stream.expires_after(timeout);
      stream.connect(endpoints);
      return exchange(stream, host, target, headers, body);
    }
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    // SNI; the macro form of SSL_set_tlsext_host_name casts old-style.
    SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
    SSL_set1_host(stream.native_handle(), host.c_str());
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(ssl::stream_base::client);
    return exchange(stream, host, target, headers, body);
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

}  // namespace gitopsd::ctl
