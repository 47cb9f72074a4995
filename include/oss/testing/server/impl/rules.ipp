// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_RULES_IPP
#define OSS_TESTING_SERVER_IMPL_RULES_IPP

#include <oss/testing/server/rules.hpp>

#include <oss/detail/encoding.hpp>

#include <algorithm>
#include <charconv>
#include <set>

namespace oss::testing::detail {
namespace rules_impl {

namespace http = oss::detail::http;

constexpr std::string_view standard_headers[] = {"Content-Type", "Cache-Control", "Content-Disposition",
                                                 "Content-Encoding", "Content-Language", "Expires"};

// Request headers that direct the operation rather than describe the object; they are not
// stored with it (oss-protocol.md 2.1 and 3.1).
inline bool is_request_directive(std::string_view lname) {
  static constexpr std::string_view names[] = {
      "x-oss-date", "x-oss-content-sha256", "x-oss-security-token", "x-oss-forbid-overwrite",
      "x-oss-complete-all", "x-oss-callback", "x-oss-callback-var", "x-oss-request-payer",
      "x-oss-traffic-limit", "x-oss-expires", "x-oss-signature", "x-oss-signature-version",
      "x-oss-credential", "x-oss-additional-headers", "x-oss-hash-crc64ecma", "x-oss-range-behavior"};
  for (auto n : names)
    if (lname == n) return true;
  return lname.starts_with("x-oss-copy-source");
}

// The x-amz-* settings S3 stores with an object; other x-amz-* headers steer the request
// (date, payload hash, token, checksums).
inline bool is_kept_s3_header(std::string_view lname) {
  static constexpr std::string_view kept[] = {
      "x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
      "x-amz-server-side-encryption-context", "x-amz-tagging", "x-amz-website-redirect-location",
      "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold", "x-amz-acl"};
  return std::find(std::begin(kept), std::end(kept), lname) != std::end(kept);
}

inline bool is_meta_name(std::string_view lower_suffix, api_dialect dialect) {
  if (lower_suffix.empty()) return false;
  for (char c : lower_suffix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    (dialect == api_dialect::s3 && (c == '_' || c == '.'));
    if (!ok) return false;
  }
  return true;
}

inline bool is_printable_ascii(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

}  // namespace rules_impl

OSS_DECL bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1, cp = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2, cp = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3, cp = lead & 0x07u;
    } else {
      return false;  // a continuation byte first, an overlong two-byte lead, or past U+10FFFF
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    // Overlong three- and four-byte forms, UTF-16 surrogates, beyond Unicode.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

OSS_DECL bool is_valid_oss_bucket_name(std::string_view name) noexcept {
  if (name.size() < 3 || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

OSS_DECL bool is_valid_s3_bucket_name(std::string_view name) noexcept {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.size() < 3 || name.size() > 63 || !alnum(name.front()) || !alnum(name.back())) return false;
  int dots = 0;
  bool digits_and_dots = true;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      ++dots;
      // Never at either end (checked above), so both neighbours exist.
      if (name[i - 1] == '.' || name[i - 1] == '-' || name[i + 1] == '.' || name[i + 1] == '-') return false;
    } else if (!alnum(c) && c != '-') {
      return false;
    }
    if (c != '.' && (c < '0' || c > '9')) digits_and_dots = false;
  }
  if (digits_and_dots && dots == 3) return false;  // "192.168.5.4" reads as an address
  return !name.starts_with("xn--") && !name.starts_with("sthree-") && !name.ends_with("-s3alias") &&
         !name.ends_with("--ol-s3");
}

OSS_DECL bool is_valid_bucket_name(std::string_view name, api_dialect dialect) noexcept {
  return dialect == api_dialect::s3 ? is_valid_s3_bucket_name(name) : is_valid_oss_bucket_name(name);
}

OSS_DECL std::optional<server_error> object_name_error(std::string_view key) {
  if (key.empty())
    return make_error(error_id::invalid_object_name, "The object name must not be empty.", "0016-00000001");
  if (key.size() > max_object_name_bytes)
    return make_error(error_id::invalid_object_name, "The object name must be at most 1023 bytes long.",
                      "0016-00000002");
  if (key.front() == '/' || key.front() == '\\')
    return make_error(error_id::invalid_object_name, "The object name must not start with '/' or '\\'.");
  if (!is_valid_utf8(key)) return make_error(error_id::invalid_object_name, "The object name must be valid UTF-8.");
  return std::nullopt;
}

OSS_DECL const std::string* find_header(const header_list& headers, std::string_view name) noexcept {
  for (const auto& [n, v] : headers)
    if (oss::detail::http::iequals(n, name)) return &v;
  return nullptr;
}

OSS_DECL std::optional<server_error> collect_object_headers(const oss::detail::http::fields& headers,
                                                            api_dialect dialect, header_list& out,
                                                            bool& forbid_overwrite) {
  using namespace rules_impl;
  const bool s3 = dialect == api_dialect::s3;
  const std::string_view meta_prefix = s3 ? "x-amz-meta-" : "x-oss-meta-";
  std::size_t meta_bytes = 0;
  bool has_type = false;
  std::set<std::string> seen;
  for (const auto& f : headers) {
    const std::string name = ascii_lower(f.name);
    if (!seen.insert(name).second) continue;
    const auto standard = std::find_if(std::begin(standard_headers), std::end(standard_headers),
                                       [&](std::string_view s) { return http::iequals(name, s); });
    if (standard != std::end(standard_headers)) {
      out.emplace_back(std::string(*standard), f.value);
      has_type = has_type || *standard == "Content-Type";
    } else if (name.starts_with(meta_prefix)) {
      const std::string_view suffix = std::string_view(name).substr(meta_prefix.size());
      if (!is_meta_name(suffix, dialect)) {
        if (s3)
          return make_error(400, "InvalidArgument",
                            "User metadata names may only contain letters, digits, '-', '_' and '.': " + f.name + ".");
        return make_error(error_id::invalid_argument,
                          "User metadata names may only contain letters, digits and '-': " + f.name + ".",
                          "0011-00000004");
      }
      if (!s3 && !is_printable_ascii(f.value))
        return make_error(error_id::invalid_argument,
                          "User metadata values must be printable ASCII: " + f.name + ".", "0011-00000005");
      meta_bytes += suffix.size() + f.value.size();
      out.emplace_back(name, f.value);
    } else if (s3 ? is_kept_s3_header(name) : name.starts_with("x-oss-") && !is_request_directive(name)) {
      out.emplace_back(name, f.value);
    } else if (!s3 && name == "x-oss-forbid-overwrite") {
      forbid_overwrite = http::iequals(f.value, "true");
    }
  }
  if (s3 && meta_bytes > max_s3_meta_bytes) {
    server_error e = make_error(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.");
    e.extra.emplace_back("Size", std::to_string(meta_bytes));
    e.extra.emplace_back("MaxSizeAllowed", std::to_string(max_s3_meta_bytes));
    return e;
  }
  if (!s3 && meta_bytes > max_meta_bytes)
    return make_error(error_id::invalid_argument, "User metadata must not exceed 8 KB in total.", "0011-00000002");
  if (!has_type) out.emplace_back("Content-Type", "application/octet-stream");
  return std::nullopt;
}

OSS_DECL std::string normalize_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  std::string out(etag);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

OSS_DECL std::string quoted_hex_etag(const unsigned char* md5, std::size_t size, api_dialect dialect) {
  return "\"" + (dialect == api_dialect::s3 ? oss::detail::hex_lower(md5, size) : oss::detail::hex_upper(md5, size)) +
         "\"";
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_RULES_IPP
