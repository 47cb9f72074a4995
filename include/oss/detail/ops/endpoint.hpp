// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_ENDPOINT_HPP
#define OSS_DETAIL_OPS_ENDPOINT_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace oss::detail {

// Where and how a client talks to OSS, decided once from client_options (design.md section 1,
// oss-protocol.md 1.1-1.2).
struct service_endpoint {
  bool tls = true;
  std::string host;       // what we connect to: lower-case name or IP literal (no brackets)
  std::uint16_t port = 443;
  std::string authority;  // host[:port] as the Host header spells it (port only when not default)
  std::string url;        // scheme://authority: identifies the endpoint (checkpoints, messages)
  std::string region;     // V4 / SigV4 signing region id ("cn-hangzhou"); empty when unknown
  bool ip_literal = false;
  // The API the endpoint speaks: decides the default endpoint, the bucket-name rules and
  // when virtual-hosted addressing falls back to path style.
  api_dialect dialect = api_dialect::oss;
};

// Turns the endpoint/region options into a service_endpoint. On failure sets ec to
// client_errc::invalid_endpoint and explains in `problem` (never echoing more than the option).
// A missing V4 region is not checked here: it depends on the signature version (see
// check_client_options).
OSS_DECL service_endpoint resolve_endpoint(std::string_view endpoint, std::string_view region,
                                           bool internal, bool accelerate, std::error_code& ec,
                                           std::string& problem);

// The same for a dialect. S3: only a region gives https://s3.<region>.amazonaws.com (internal
// and accelerate are OSS endpoints and are refused there); an explicit endpoint is taken as it
// is, and without a region the signing region is read from AWS (s3.<r>.amazonaws.com,
// s3-<r>.amazonaws.com, s3.dualstack.<r>.amazonaws.com) and OSS (s3.oss-<r>.aliyuncs.com)
// host names.
OSS_DECL service_endpoint resolve_endpoint(std::string_view endpoint, std::string_view region,
                                           bool internal, bool accelerate, api_dialect dialect,
                                           std::error_code& ec, std::string& problem);

// "oss-cn-hangzhou" or "cn-hangzhou" -> "cn-hangzhou"; empty when the text is not a region id.
OSS_DECL std::string normalize_region(std::string_view region);

// The style actually used: virtual-hosted needs a DNS name to prefix, so an IP endpoint falls
// back to path style (as go1/go2 do).
OSS_DECL addressing_style effective_style(addressing_style requested,
                                          const service_endpoint& ep) noexcept;

// The style used for `bucket`. Besides the IP rule above, in the S3 dialect virtual-hosted
// becomes path style for `localhost` endpoints (local S3 servers: MinIO, s3rver) and, over
// https, for bucket names with dots, since `a.b.s3.amazonaws.com` does not match the
// certificate's single-label wildcard `*.s3.amazonaws.com` (what the AWS SDKs do as well).
OSS_DECL addressing_style effective_style(addressing_style requested, const service_endpoint& ep,
                                          std::string_view bucket) noexcept;

// The Host header of a request to `bucket` (empty bucket: service level).
OSS_DECL std::string host_header(addressing_style style, const service_endpoint& ep,
                                 std::string_view bucket);

// Origin-form request target: the path for the style, the key URI-encoded with '/' kept, then
// the query, each name and value URI-encoded, a parameter with an empty value written as its
// bare name ("?uploads"). `query` holds decoded values, in the order they are to be sent.
OSS_DECL std::string request_target(addressing_style style, std::string_view bucket,
                                    std::string_view key,
                                    std::span<const std::pair<std::string, std::string>> query);

// The decoded path request_target encodes: "/" + ("<bucket>/" in path style) + key. What the
// S3 signer canonicalises (it encodes each segment once itself).
OSS_DECL std::string request_path(addressing_style style, std::string_view bucket,
                                  std::string_view key);

// Validates every option a client needs before it can send anything: endpoint, region (for V4
// and for every signed S3 request), bucket name (OSS or S3 rules per dialect), limits. Returns the resolved endpoint; on failure sets ec and `problem`.
OSS_DECL service_endpoint check_client_options(const client_options& options, std::error_code& ec,
                                               std::string& problem);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/endpoint.ipp>
#endif

#endif  // OSS_DETAIL_OPS_ENDPOINT_HPP
