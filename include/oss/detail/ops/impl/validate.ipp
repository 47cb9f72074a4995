// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_VALIDATE_IPP
#define OSS_DETAIL_OPS_IMPL_VALIDATE_IPP

#include <oss/detail/ops/validate.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/mime.hpp>
#include <oss/error.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace oss::detail {

namespace validate_impl {

using detail::ascii_lower;

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool is_meta_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

inline bool is_printable_ascii(std::string_view s) noexcept {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}


// A user-given name as it may appear in an error message: control and non-ASCII bytes as
// \xNN, at most 64 bytes, so that a rejected "k\r\nX-Injected" cannot inject lines into a
// log through the very message that refuses it.
inline std::string printable_name(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    if (out.size() >= 64) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '\\') {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace validate_impl

OSS_DECL bool is_valid_bucket_name(std::string_view name) noexcept {
  if (name.size() < 3 || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

OSS_DECL bool is_valid_s3_bucket_name(std::string_view name) noexcept {
  if (name.size() < 3 || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  bool all_digits_and_dots = true;
  int dots = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!alnum(c) && c != '-' && c != '.') return false;
    if (c == '.') {
      ++dots;
      const char prev = name[i - 1], next = name[i + 1];  // never at either end, see above
      if (prev == '.' || prev == '-' || next == '.' || next == '-') return false;
    } else if (!(c >= '0' && c <= '9')) {
      all_digits_and_dots = false;
    }
  }
  // "192.168.5.4" would be read as an address, not a bucket.
  if (all_digits_and_dots && dots == 3) return false;
  if (name.starts_with("xn--") || name.starts_with("sthree-")) return false;
  if (name.ends_with("-s3alias") || name.ends_with("--ol-s3")) return false;
  return true;
}

OSS_DECL bool is_valid_bucket_name(std::string_view name, api_dialect dialect) noexcept {
  return dialect == api_dialect::s3 ? is_valid_s3_bucket_name(name) : is_valid_bucket_name(name);
}

OSS_DECL bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // continuation byte without a lead, or 0xf8..0xff
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = byte(i + k);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

OSS_DECL std::error_code check_object_name(std::string_view name, std::string& problem) {
  if (name.empty()) {
    problem = "the object name is empty";
  } else if (name.size() > max_object_name_bytes) {
    problem = "the object name has " + std::to_string(name.size()) +
              " bytes; OSS allows at most 1023";
  } else if (name.front() == '/' || name.front() == '\\') {
    problem = "the object name must not start with '/' or '\\'";
  } else if (!is_valid_utf8(name)) {
    problem = "the object name is not valid UTF-8";
  } else {
    return {};
  }
  return client_errc::invalid_object_name;
}

OSS_DECL std::error_code check_credentials(const credentials& c, std::string& problem) {
  if (c.access_key_id.empty()) {
    if (!c.access_key_secret.empty() || !c.security_token.empty()) {
      problem = "the credentials have a secret or a security token but no AccessKey ID";
      return client_errc::missing_credentials;
    }
    return {};
  }
  if (c.access_key_secret.empty()) {
    problem = "the credentials have an AccessKey ID but no AccessKey secret";
    return client_errc::missing_credentials;
  }
  auto token_like = [](std::string_view s) {
    for (char ch : s) {
      const auto u = static_cast<unsigned char>(ch);
      if (u <= 0x20 || u >= 0x7f) return false;
    }
    return true;
  };
  if (!token_like(c.access_key_id)) {
    problem = "the AccessKey ID contains spaces, CR, LF, control or non-ASCII characters";
    return client_errc::invalid_header_value;
  }
  if (!c.security_token.empty() && !token_like(c.security_token)) {
    problem = "the security token contains spaces, CR, LF, control or non-ASCII characters";
    return client_errc::invalid_header_value;
  }
  return {};
}

OSS_DECL bool is_reserved_header(std::string_view name, api_dialect dialect) noexcept {
  if (dialect == api_dialect::oss) return is_reserved_header(name);
  static constexpr std::array<std::string_view, 3> signer{"x-amz-date", "x-amz-content-sha256",
                                                          "x-amz-security-token"};
  for (auto r : signer)
    if (http::iequals(name, r)) return true;
  // The transport and the request line own these in every dialect; the x-oss-* signing headers
  // are only ordinary (and harmless) headers to an S3 store.
  static constexpr std::array<std::string_view, 13> common{
      "authorization", "host",    "date",    "content-length", "content-md5",
      "transfer-encoding", "connection", "keep-alive", "te", "trailer",
      "upgrade",       "expect",  "proxy-authorization"};
  for (auto r : common)
    if (http::iequals(name, r)) return true;
  return false;
}

OSS_DECL bool is_reserved_header(std::string_view name) noexcept {
  // What the client, the signer or the transport sets: a caller's copy would either be
  // overwritten silently or break the signature or the framing.
  static constexpr std::array<std::string_view, 16> reserved{
      "authorization", "host",         "date",       "content-length",
      "content-md5",   "transfer-encoding", "connection", "keep-alive",
      "te",            "trailer",      "upgrade",    "expect",
      "x-oss-date",    "x-oss-content-sha256", "x-oss-security-token", "proxy-authorization"};
  for (auto r : reserved)
    if (http::iequals(name, r)) return true;
  return false;
}

OSS_DECL std::error_code object_headers(std::string_view name, const object_options& opts,
                                        bool content_type,
                                        std::vector<std::pair<std::string, std::string>>& out,
                                        std::string& problem) {
  return object_headers(name, opts, content_type, api_dialect::oss, out, problem);
}

OSS_DECL std::error_code object_headers(std::string_view name, const object_options& opts,
                                        bool content_type, api_dialect dialect,
                                        std::vector<std::pair<std::string, std::string>>& out,
                                        std::string& problem) {
  using namespace validate_impl;
  const std::string_view meta_prefix = meta_header_prefix(dialect);
  out.clear();
  std::size_t meta_bytes = 0;
  std::vector<std::string> meta_names;  // lower-case, to refuse case-only duplicates

  auto add_meta = [&](std::string_view meta_name, std::string_view value) -> std::error_code {
    if (!is_meta_name(meta_name)) {
      problem = "metadata name '" + printable_name(meta_name) +
                "' may only contain letters, digits and '-'";
      return client_errc::invalid_metadata;
    }
    std::string key = ascii_lower(meta_name);
    for (const auto& seen : meta_names) {
      if (seen == key) {
        problem = "metadata name '" + key + "' is given twice (names are case-insensitive)";
        return client_errc::invalid_metadata;
      }
    }
    if (!is_printable_ascii(value)) {
      if (value.find_first_of("\r\n") != std::string_view::npos) {
        problem = "the value of metadata '" + key + "' contains CR or LF";
        return client_errc::invalid_header_value;
      }
      problem = "the value of metadata '" + key +
                "' must be printable ASCII; percent-encode other text";
      return client_errc::invalid_metadata;
    }
    meta_bytes += key.size() + value.size();
    if (meta_bytes > max_metadata_bytes) {
      problem = dialect == api_dialect::s3
                    ? "user metadata (names and values) exceeds the limit of 8 KiB (S3 allows 2 KiB)"
                    : "user metadata (names and values) exceeds OSS's limit of 8 KiB";
      return client_errc::metadata_too_large;
    }
    meta_names.push_back(key);
    out.emplace_back(std::string(meta_prefix) + key, std::string(value));
    return {};
  };

  std::string header_content_type;
  std::vector<std::pair<std::string, std::string>> user;
  for (const auto& [raw_name, raw_value] : opts.headers) {
    std::string_view value = trim(raw_value);
    if (!http::is_valid_field_name(raw_name)) {
      problem = "header name '" + printable_name(raw_name) + "' is not a valid HTTP token";
      return client_errc::invalid_header_value;
    }
    if (!http::is_valid_field_value(value)) {
      problem = "the value of header '" + printable_name(raw_name) + "' contains CR, LF or a control character";
      return client_errc::invalid_header_value;
    }
    if (is_reserved_header(raw_name, dialect)) {
      problem = "header '" + printable_name(raw_name) + "' is set by the client and cannot be given";
      return client_errc::invalid_header_value;
    }
    if (http::iequals(raw_name, "content-type")) {
      header_content_type = std::string(value);
      continue;
    }
    std::string lname = ascii_lower(raw_name);
    if (lname.starts_with(meta_prefix)) {
      // Metadata given as a header obeys the same rules and counts towards the same 8 KiB.
      if (auto ec = add_meta(std::string_view(raw_name).substr(meta_prefix.size()), value)) return ec;
      continue;
    }
    for (const auto& [seen, v] : user) {
      if (http::iequals(seen, raw_name)) {
        problem = "header '" + printable_name(raw_name) + "' is given twice";
        return client_errc::invalid_header_value;
      }
    }
    user.emplace_back(raw_name, std::string(value));
  }
  for (const auto& [meta_name, raw_value] : opts.meta) {
    std::string_view value = trim(raw_value);
    if (auto ec = add_meta(meta_name, value)) return ec;
  }

  std::vector<std::pair<std::string, std::string>> result;
  if (content_type) {
    std::string_view mime = trim(opts.mime);
    if (!mime.empty()) {
      if (!http::is_valid_field_value(mime)) {
        problem = "the MIME type contains CR, LF or a control character";
        return client_errc::invalid_header_value;
      }
      result.emplace_back("Content-Type", std::string(mime));
    } else if (!header_content_type.empty()) {
      result.emplace_back("Content-Type", header_content_type);
    } else {
      result.emplace_back("Content-Type", std::string(guess_mime_type(name)));
    }
  }
  for (auto& h : user) result.push_back(std::move(h));
  for (auto& h : out) result.push_back(std::move(h));
  out = std::move(result);
  return {};
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_VALIDATE_IPP
