// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_DETAIL_ROUTING_HPP
#define OSS_TESTING_DETAIL_ROUTING_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/ops/validate.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Sans-io decisions of the local server: which bucket, key and operation a request names, and
// the name rules OSS applies to them. The rules themselves (oss::detail::is_valid_bucket_name,
// is_valid_utf8) are the client's, from ops/validate.hpp, so both sides agree on every name.
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

struct route {
  std::string bucket;  // empty: service level ("/")
  std::string key;     // percent-decoded; empty: bucket level
  bool path_style = false;
  // Decoded query parameters in request order; a parameter without '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> query;

  OSS_DECL const std::string* query_value(std::string_view name) const noexcept;
  bool has_query(std::string_view name) const noexcept { return query_value(name) != nullptr; }
};

// Splits `target` (origin-form) using the addressing rules of local_server.hpp. `host_header`
// is the Host value (may be empty), `configured_host` the server's options.host. nullopt when
// the target is not origin-form or holds a bad percent escape.
OSS_DECL std::optional<route> parse_route(std::string_view target, std::string_view host_header,
                                          std::string_view configured_host);

// The Host value without its port; IPv6 literals lose their brackets.
OSS_DECL std::string_view host_without_port(std::string_view host) noexcept;

// Path style applies to IP literals, "localhost" and the configured host.
OSS_DECL bool is_path_style_host(std::string_view host_only, std::string_view configured_host);

// The operation of a request (method in upper case, as sent).
OSS_DECL operation classify(std::string_view method, const route& r) noexcept;
OSS_DECL std::string_view operation_name(operation op) noexcept;

// OSS object names: 1..1023 bytes of UTF-8, not starting with '/' or '\'. Empty when valid,
// else the reason.
OSS_DECL std::string object_name_problem(std::string_view key);

// Strict unsigned decimal (no sign, no spaces), nullopt on junk or overflow.
OSS_DECL std::optional<std::uint64_t> parse_decimal(std::string_view s) noexcept;

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/impl/local_routing.ipp>
#endif

#endif  // OSS_TESTING_DETAIL_ROUTING_HPP
