// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_ENDPOINT_IPP
#define OSS_DETAIL_OPS_IMPL_ENDPOINT_IPP

#include <oss/detail/ops/endpoint.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <charconv>
#include <string>
#include <string_view>

namespace oss::detail {

namespace endpoint_impl {

inline bool is_region_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

inline bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

inline bool is_ipv4(std::string_view h) noexcept {
  int parts = 0;
  while (true) {
    std::size_t dot = h.find('.');
    std::string_view part = h.substr(0, dot);
    if (part.empty() || part.size() > 3) return false;
    unsigned value = 0;
    auto [p, err] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (err != std::errc() || p != part.data() + part.size() || value > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    h.remove_prefix(dot + 1);
  }
  return parts == 4;
}


// The region id inside an OSS host name, or empty: oss-<r>.aliyuncs.com,
// oss-<r>-internal.aliyuncs.com, s3.oss-<r>.aliyuncs.com, <r>.oss.aliyuncs.com (dual stack).
inline std::string region_from_host(std::string_view host) {
  constexpr std::string_view suffix = ".aliyuncs.com";
  if (!host.ends_with(suffix)) return {};
  std::string_view name = host.substr(0, host.size() - suffix.size());
  if (name.ends_with(".oss")) {
    std::string_view r = name.substr(0, name.size() - 4);
    return r.find('.') == std::string_view::npos ? normalize_region(r) : std::string();
  }
  if (name.starts_with("s3.")) name.remove_prefix(3);
  if (!name.starts_with("oss-") || name.find('.') != std::string_view::npos) return {};
  if (name == "oss-accelerate" || name == "oss-accelerate-overseas") return {};
  if (name.ends_with("-internal")) name.remove_suffix(std::string_view("-internal").size());
  return normalize_region(name);
}

// The signing region inside an S3 host name, or empty: s3.<r>.amazonaws.com,
// s3-<r>.amazonaws.com, s3.dualstack.<r>.amazonaws.com (also with a bucket label in front), and
// OSS's S3 endpoints s3.oss-<r>[-internal].aliyuncs.com, whose region is the OSS region id
// (the AWS SDK examples of "Access OSS using AWS SDKs" pass "cn-hangzhou" for
// s3.oss-cn-hangzhou.aliyuncs.com).
inline std::string s3_region_from_host(std::string_view host) {
  if (host.ends_with(".aliyuncs.com")) return region_from_host(host);
  constexpr std::string_view suffix = ".amazonaws.com";
  if (!host.ends_with(suffix)) return {};
  std::string_view name = host.substr(0, host.size() - suffix.size());
  // The last label before the suffix is the region when a "s3" or "s3.dualstack" label (or a
  // "s3-<region>" label) precedes it.
  const std::size_t dot = name.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  const std::string_view before = dot == std::string_view::npos ? std::string_view() : name.substr(0, dot);
  if (last.starts_with("s3-") && last != "s3-external-1") return normalize_region(last.substr(3));
  if (before == "s3" || before.ends_with(".s3") || before == "s3.dualstack" ||
      before.ends_with(".s3.dualstack"))
    return last == "s3" ? std::string() : normalize_region(last);
  return {};
}

inline bool is_localhost(std::string_view host) noexcept {
  return host == "localhost" || host.ends_with(".localhost");
}

}  // namespace endpoint_impl

OSS_DECL std::string normalize_region(std::string_view region) {
  if (region.starts_with("oss-")) region.remove_prefix(4);
  if (region.empty() || region.front() == '-' || region.back() == '-') return {};
  for (char c : region)
    if (!endpoint_impl::is_region_char(c)) return {};
  return std::string(region);
}

OSS_DECL service_endpoint resolve_endpoint(std::string_view endpoint, std::string_view region,
                                           bool internal, bool accelerate, std::error_code& ec,
                                           std::string& problem) {
  return resolve_endpoint(endpoint, region, internal, accelerate, api_dialect::oss, ec, problem);
}

OSS_DECL service_endpoint resolve_endpoint(std::string_view endpoint, std::string_view region,
                                           bool internal, bool accelerate, api_dialect dialect,
                                           std::error_code& ec, std::string& problem) {
  using namespace endpoint_impl;
  const bool s3 = dialect == api_dialect::s3;
  ec.clear();
  service_endpoint ep;
  auto fail = [&](std::string why) {
    ec = client_errc::invalid_endpoint;
    problem = std::move(why);
    return service_endpoint{};
  };

  std::string region_id;
  if (!region.empty()) {
    region_id = normalize_region(region);
    if (region_id.empty())
      return fail("region '" + sanitize_text(region, 64) +
                  "' is not a region id such as cn-hangzhou or oss-cn-hangzhou");
  }

  if (endpoint.empty() && s3) {
    if (region_id.empty()) return fail("set an endpoint or a region (e.g. us-east-1)");
    if (internal || accelerate)
      return fail("internal and accelerate pick OSS endpoints; in the S3 dialect set the endpoint "
                  "instead (e.g. s3.oss-cn-hangzhou-internal.aliyuncs.com)");
    ep.dialect = dialect;
    ep.host = "s3." + region_id + ".amazonaws.com";
    ep.authority = ep.host;
    ep.url = "https://" + ep.authority;
    ep.region = region_id;
    return ep;
  }
  if (endpoint.empty()) {
    if (region_id.empty()) return fail("set an endpoint or a region (e.g. cn-hangzhou)");
    ep.tls = true;
    ep.port = 443;
    if (accelerate)
      ep.host = "oss-accelerate.aliyuncs.com";
    else
      ep.host = "oss-" + region_id + (internal ? "-internal" : "") + ".aliyuncs.com";
    ep.authority = ep.host;
    ep.url = "https://" + ep.authority;
    ep.region = region_id;
    return ep;
  }

  std::string_view rest = endpoint;
  ep.tls = true;
  if (auto sep = rest.find("://"); sep != std::string_view::npos) {
    std::string scheme = ascii_lower(rest.substr(0, sep));
    if (scheme == "http")
      ep.tls = false;
    else if (scheme != "https")
      return fail("endpoint scheme must be http or https");
    rest.remove_prefix(sep + 3);
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/")
    return fail("the endpoint must be a host with an optional port, without a path or query");
  if (authority.find('@') != std::string_view::npos)
    return fail("the endpoint must not contain user information");

  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 literal in the endpoint");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 literal in the endpoint");
      port_text = after.substr(1);
      if (port_text.empty()) return fail("empty port in the endpoint");
    }
    if (host.empty()) return fail("empty IPv6 literal in the endpoint");
    for (char c : host) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                c == ':' || c == '.';
      if (!ok) return fail("invalid IPv6 literal in the endpoint");
    }
    ep.ip_literal = true;
  } else {
    std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return fail("empty port in the endpoint");
    }
    if (host.empty()) return fail("the endpoint has no host");
    for (char c : host)
      if (!is_host_char(c)) return fail("the endpoint host contains invalid characters");
    if (host.front() == '.' || host.front() == '-' || host.back() == '-' ||
        host.find("..") != std::string_view::npos)
      return fail("the endpoint host is not a valid DNS name");
    ep.ip_literal = is_ipv4(host);
  }

  std::uint16_t default_port = ep.tls ? 443 : 80;
  ep.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [p, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (err != std::errc() || p != port_text.data() + port_text.size() || value == 0 || value > 65535)
      return fail("the endpoint port must be a number in 1..65535");
    ep.port = static_cast<std::uint16_t>(value);
  }

  ep.host = ascii_lower(host);
  // A trailing dot (fully qualified name) would make the Host header differ from the name OSS
  // knows the bucket by.
  if (!ep.ip_literal && ep.host.back() == '.') ep.host.pop_back();
  bool v6 = ep.host.find(':') != std::string::npos;
  ep.authority = v6 ? "[" + ep.host + "]" : ep.host;
  if (ep.port != default_port) ep.authority += ":" + std::to_string(ep.port);
  ep.url = (ep.tls ? "https://" : "http://") + ep.authority;
  ep.region = !region_id.empty() ? region_id : s3 ? s3_region_from_host(ep.host) : region_from_host(ep.host);
  ep.dialect = dialect;
  return ep;
}

OSS_DECL addressing_style effective_style(addressing_style requested,
                                          const service_endpoint& ep) noexcept {
  return effective_style(requested, ep, std::string_view());
}

OSS_DECL addressing_style effective_style(addressing_style requested, const service_endpoint& ep,
                                          std::string_view bucket) noexcept {
  if (requested != addressing_style::virtual_hosted) return requested;
  if (ep.ip_literal) return addressing_style::path_style;
  if (ep.dialect == api_dialect::s3) {
    if (endpoint_impl::is_localhost(ep.host)) return addressing_style::path_style;
    if (ep.tls && bucket.find('.') != std::string_view::npos) return addressing_style::path_style;
  }
  return requested;
}

OSS_DECL std::string host_header(addressing_style style, const service_endpoint& ep,
                                 std::string_view bucket) {
  if (effective_style(style, ep, bucket) == addressing_style::virtual_hosted && !bucket.empty())
    return std::string(bucket) + "." + ep.authority;
  return ep.authority;
}

OSS_DECL std::string request_target(addressing_style style, std::string_view bucket,
                                    std::string_view key,
                                    std::span<const std::pair<std::string, std::string>> query) {
  std::string target = "/";
  if (style == addressing_style::path_style && !bucket.empty()) {
    target += bucket;
    target += '/';
  }
  target += uri_encode(key, true);
  char sep = '?';
  for (const auto& [name, value] : query) {
    target += sep;
    sep = '&';
    target += uri_encode(name, false);
    if (!value.empty()) {
      target += '=';
      target += uri_encode(value, false);
    }
  }
  return target;
}

OSS_DECL std::string request_path(addressing_style style, std::string_view bucket,
                                  std::string_view key) {
  std::string path = "/";
  if (style == addressing_style::path_style && !bucket.empty()) {
    path += bucket;
    path += '/';
  }
  path += key;
  return path;
}

OSS_DECL service_endpoint check_client_options(const client_options& options, std::error_code& ec,
                                               std::string& problem) {
  const bool s3 = options.dialect == api_dialect::s3;
  service_endpoint ep = resolve_endpoint(options.endpoint, options.region, options.internal,
                                         options.accelerate, options.dialect, ec, problem);
  if (ec) return ep;
  if (!options.creds.empty() && options.creds_provider) {
    ec = std::make_error_code(std::errc::invalid_argument);
    problem = "set client_options::creds or client_options::creds_provider, not both";
    return {};
  }
  if (auto bad = check_credentials(options.creds, problem)) {
    ec = bad;
    problem = "client_options::creds: " + problem;
    return {};
  }
  const bool signs = !options.creds.empty() || options.creds_provider != nullptr;
  if (s3 && signs && ep.region.empty()) {
    ec = client_errc::invalid_endpoint;
    problem = "S3 signing (SigV4) needs a region: set client_options::region for endpoint " + ep.url +
              " (e.g. us-east-1, or cn-hangzhou for s3.oss-cn-hangzhou.aliyuncs.com)";
    return {};
  }
  if (!s3 && options.signature == signature_version::v4 && signs && ep.region.empty()) {
    ec = client_errc::invalid_endpoint;
    problem = "V4 signing needs a region: set client_options::region for endpoint " + ep.url;
    return {};
  }
  if (!is_valid_bucket_name(options.bucket, options.dialect)) {
    ec = client_errc::invalid_bucket_name;
    if (options.bucket.empty())
      problem = "set client_options::bucket";
    else if (s3)
      problem = "bucket name '" + sanitize_text(options.bucket, 80) +
                "' must be 3..63 characters of a-z, 0-9, '.' and '-', start and end with a letter "
                "or digit, have no '..', '.-' or '-.', and not look like an IP address (S3 rules)";
    else
      problem = "bucket name '" + sanitize_text(options.bucket, 80) +
                "' must be 3..63 characters of a-z, 0-9 and '-', not starting or ending with '-'";
    return {};
  }
  if (!options.user_agent.empty() && !http::is_valid_field_value(options.user_agent)) {
    ec = client_errc::invalid_header_value;
    problem = "client_options::user_agent contains CR, LF or a control character";
    return {};
  }
  if (options.max_attempts < 1 || options.max_connections < 1 ||
      options.connect_timeout.count() <= 0 || options.stall_timeout.count() <= 0 ||
      options.retry_base_delay.count() < 0 || options.retry_max_delay.count() < 0 ||
      options.creds_refresh_margin.count() < 0 || options.retry_time.count() <= 0 ||
      options.max_retry_after.count() <= 0) {
    ec = std::make_error_code(std::errc::invalid_argument);
    problem = "max_attempts and max_connections must be >= 1, timeouts, retry_time and "
              "max_retry_after > 0, delays and the credentials refresh margin >= 0";
    return {};
  }
  return ep;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_ENDPOINT_IPP
