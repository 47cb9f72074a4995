// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_ROUTING_IPP
#define OSS_TESTING_SERVER_IMPL_ROUTING_IPP

#include <oss/testing/server/routing.hpp>

#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/testing/server/rules.hpp>

#include <asio/ip/address.hpp>

namespace oss::testing::detail {

OSS_DECL const std::string* route::query_value(std::string_view name) const noexcept {
  for (const auto& [k, v] : query)
    if (k == name) return &v;
  return nullptr;
}

OSS_DECL std::string_view host_without_port(std::string_view host) noexcept {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.find(':');
  // More than one colon: a bare IPv6 literal, which has no port.
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    return host.substr(0, colon);
  return host;
}

OSS_DECL bool is_path_style_host(std::string_view host_only, std::string_view configured_host) {
  if (host_only.empty()) return true;
  if (oss::detail::http::iequals(host_only, "localhost")) return true;
  if (oss::detail::http::iequals(host_only, host_without_port(configured_host))) return true;
  asio::error_code ec;
  (void)asio::ip::make_address(std::string(host_only), ec);
  return !ec;
}

OSS_DECL std::optional<route> parse_route(std::string_view target, std::string_view host_header,
                                          std::string_view configured_host) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  route r;
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto name = oss::detail::percent_decode(item.substr(0, eq));
    auto value = oss::detail::percent_decode(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    r.query.emplace_back(std::move(*name), std::move(*value));
  }

  auto host_only = host_without_port(host_header);
  r.path_style = is_path_style_host(host_only, configured_host);
  std::string_view rest = path.substr(1);
  if (r.path_style) {
    auto slash = rest.find('/');
    auto bucket = oss::detail::percent_decode(rest.substr(0, slash));
    auto key = oss::detail::percent_decode(slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
    if (!bucket || !key) return std::nullopt;
    r.bucket = std::move(*bucket);
    r.key = std::move(*key);
  } else {
    std::string_view label = host_only.substr(0, host_only.find('.'));
    r.bucket = ascii_lower(label);
    auto key = oss::detail::percent_decode(rest);
    if (!key) return std::nullopt;
    r.key = std::move(*key);
  }
  return r;
}

OSS_DECL operation classify(std::string_view method, const route& r) noexcept {
  if (r.bucket.empty()) return operation::unknown;
  if (r.key.empty()) {
    if (method == "GET" && r.has_query("uploads")) return operation::list_multipart_uploads;
    if (method == "PUT" && r.query.empty()) return operation::put_bucket;
    return operation::unknown;
  }
  const bool upload_id = r.has_query("uploadId");
  if (method == "PUT") return upload_id || r.has_query("partNumber") ? operation::upload_part : operation::put_object;
  if (method == "GET") return upload_id ? operation::list_parts : operation::get_object;
  if (method == "HEAD") return operation::head_object;
  if (method == "DELETE") return upload_id ? operation::abort_multipart_upload : operation::delete_object;
  if (method == "POST") {
    if (r.has_query("uploads")) return operation::initiate_multipart_upload;
    if (upload_id) return operation::complete_multipart_upload;
  }
  return operation::unknown;
}

OSS_DECL std::string_view operation_name(operation op) noexcept {
  switch (op) {
    case operation::put_object: return "PutObject";
    case operation::get_object: return "GetObject";
    case operation::head_object: return "HeadObject";
    case operation::delete_object: return "DeleteObject";
    case operation::initiate_multipart_upload: return "InitiateMultipartUpload";
    case operation::upload_part: return "UploadPart";
    case operation::complete_multipart_upload: return "CompleteMultipartUpload";
    case operation::abort_multipart_upload: return "AbortMultipartUpload";
    case operation::list_parts: return "ListParts";
    case operation::list_multipart_uploads: return "ListMultipartUploads";
    case operation::put_bucket: return "PutBucket";
    case operation::unknown: break;
  }
  return "Unknown";
}

OSS_DECL operation operation_from_name(std::string_view name) noexcept {
  for (std::size_t i = 1; i < operation_count; ++i) {
    const auto op = static_cast<operation>(i);
    if (operation_name(op) == name) return op;
  }
  return operation::unknown;
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_ROUTING_IPP
