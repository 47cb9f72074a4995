// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_ROUTING_HPP
#define OSS_TESTING_SERVER_ROUTING_HPP

#include <oss/detail/config.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Which bucket, key and operation a request names (oss-protocol.md 1.2 addressing and the
// request lines of section 3). Sans-io.
namespace oss::testing::detail {

enum class operation {
  unknown,  // recognised nothing: 405 / 501
  put_object,
  get_object,
  head_object,
  delete_object,
  initiate_multipart_upload,
  upload_part,
  complete_multipart_upload,
  abort_multipart_upload,
  list_parts,
  list_multipart_uploads,
  put_bucket,
};
inline constexpr std::size_t operation_count = static_cast<std::size_t>(operation::put_bucket) + 1;

struct route {
  std::string bucket;  // empty: service level ("/")
  std::string key;     // percent-decoded; empty: bucket level
  bool path_style = false;
  // Decoded query parameters in request order; a parameter without '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> query;

  OSS_DECL const std::string* query_value(std::string_view name) const noexcept;
  bool has_query(std::string_view name) const noexcept { return query_value(name) != nullptr; }
};

// Splits `target` (origin-form): path style (`/bucket/key`) when the Host, without its port, is
// an IP literal, "localhost" or `configured_host`; otherwise virtual-hosted, the first label of
// Host being the bucket (`/key`). nullopt when the target is not origin-form or holds a bad
// percent escape.
OSS_DECL std::optional<route> parse_route(std::string_view target, std::string_view host_header,
                                          std::string_view configured_host);

// The Host value without its port; IPv6 literals lose their brackets.
OSS_DECL std::string_view host_without_port(std::string_view host) noexcept;

// Path style applies to IP literals, "localhost" and the configured host.
OSS_DECL bool is_path_style_host(std::string_view host_only, std::string_view configured_host);

// The operation of a request (method in upper case, as sent).
OSS_DECL operation classify(std::string_view method, const route& r) noexcept;
// "PutObject", ...; "Unknown" for operation::unknown.
OSS_DECL std::string_view operation_name(operation op) noexcept;
// The reverse; operation::unknown for a name no operation has.
OSS_DECL operation operation_from_name(std::string_view name) noexcept;

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/routing.ipp>
#endif

#endif  // OSS_TESTING_SERVER_ROUTING_HPP
