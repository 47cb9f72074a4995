// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_SIGN_IMPL_SIGN_S3_IPP
#define OSS_DETAIL_SIGN_IMPL_SIGN_S3_IPP

#include <oss/detail/sign/sign_s3.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

namespace oss::detail {

namespace sign_s3_impl {

inline constexpr std::string_view service = "s3";
inline constexpr std::string_view terminator = "aws4_request";

// @smithy/signature-v4 5.7.5 ALWAYS_UNSIGNABLE_HEADERS, in byte order for binary search.
inline constexpr std::array<std::string_view, 15> unsignable_headers = {
    "authorization", "cache-control", "connection", "expect",  "from",
    "keep-alive",    "max-forwards",  "pragma",     "referer", "te",
    "trailer",       "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
};
static_assert(std::is_sorted(unsignable_headers.begin(), unsignable_headers.end()));

using detail::ascii_lower;

inline bool is_fold_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// SigV4 "Trimall", as the JS signer does it: CR and LF count as spaces, every run of
// whitespace becomes one space, and the ends are trimmed.
inline void append_folded(std::string& out, std::string_view value) {
  bool pending_space = false;
  bool wrote = false;
  for (char c : value) {
    if (is_fold_space(c)) {
      pending_space = wrote;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
    wrote = true;
  }
}

inline std::string_view as_chars(const sha256_digest& d) noexcept {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

inline bool is_digits(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline bool is_lower_hex(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A key id or region as it may appear between the '/' of a Credential: printable ASCII without
// the characters that delimit the header's own syntax, so that formatting round-trips.
inline bool is_scope_word(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '/' && c != ',' && c != ';' && c != '=';
  });
}

inline bool is_lower_token(std::string_view s) noexcept {
  return http::is_valid_field_name(s) &&
         std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

inline std::string scope(std::string_view date8, std::string_view region) {
  std::string s(date8);
  s += '/';
  s += region;
  s += '/';
  s += service;
  s += '/';
  s += terminator;
  return s;
}

inline std::string_view header_or_empty(const http::fields& headers, std::string_view name) noexcept {
  const std::string* v = headers.find(name);
  return v == nullptr ? std::string_view{} : std::string_view{*v};
}

// ISO 8601 basic with a year in 1970..2199. The range keeps parse_iso8601_basic away from years
// whose nanosecond time_point overflows (before 1678 or after 2261: undefined behaviour that a
// fuzzed x-amz-date reached); no real request is dated outside it.
inline bool is_amz_date(std::string_view text) noexcept {
  if (text.size() != 16 || !is_digits(text.substr(0, 4))) return false;
  const int year = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
  return year >= 1970 && year <= 2199 && parse_iso8601_basic(text).has_value();
}

inline bool is_valid_payload_hash(std::string_view h) noexcept {
  return h == s3_unsigned_payload || (h.size() == 64 && is_lower_hex(h));
}

}  // namespace sign_s3_impl

OSS_DECL bool s3_is_unsignable_header(std::string_view lower_name) noexcept {
  if (lower_name.starts_with("proxy-") || lower_name.starts_with("sec-")) return true;
  return std::binary_search(sign_s3_impl::unsignable_headers.begin(), sign_s3_impl::unsignable_headers.end(),
                            lower_name);
}

OSS_DECL std::vector<std::string> s3_signed_header_names(const http::fields& headers) {
  std::vector<std::string> names;
  for (const auto& f : headers) {
    std::string name = sign_s3_impl::ascii_lower(f.name);
    if (!s3_is_unsignable_header(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

OSS_DECL std::string s3_canonical_uri(std::string_view path) {
  if (path.empty()) return "/";
  return uri_encode(path, true);
}

OSS_DECL std::string s3_canonical_query(std::span<const query_param> query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
  // Pairs, not "name=value" strings: "a" must sort before "a-b" although '-' < '='.
  std::sort(encoded.begin(), encoded.end());
  std::string s;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (i > 0) s += '&';
    s += encoded[i].first;
    s += '=';
    s += encoded[i].second;
  }
  return s;
}

OSS_DECL std::string s3_canonical_request(const s3_sign_input& in, std::span<const std::string> signed_headers) {
  std::string s;
  s += in.method;
  s += '\n';
  s += s3_canonical_uri(in.path);
  s += '\n';
  s += s3_canonical_query(in.query);
  s += '\n';
  for (const std::string& name : signed_headers) {
    s += name;
    s += ':';
    bool first = true;
    for (const auto& f : in.headers) {
      if (!http::iequals(f.name, name)) continue;
      if (!first) s += ',';
      first = false;
      sign_s3_impl::append_folded(s, f.value);
    }
    s += '\n';
  }
  s += '\n';
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) s += ';';
    s += signed_headers[i];
  }
  s += '\n';
  s += sign_s3_impl::header_or_empty(in.headers, "x-amz-content-sha256");
  return s;
}

OSS_DECL std::string s3_string_to_sign(std::string_view canonical_request, std::string_view amz_date,
                                       std::string_view region) {
  const auto hash = sha256(canonical_request);
  std::string s(s3_algorithm);
  s += '\n';
  s += amz_date;
  s += '\n';
  s += sign_s3_impl::scope(amz_date.substr(0, 8), region);
  s += '\n';
  s += hex_lower(hash.data(), hash.size());
  return s;
}

OSS_DECL sha256_digest s3_signing_key(std::string_view secret, std::string_view date8, std::string_view region) {
  std::string first_key = "AWS4";
  first_key += secret;
  const auto k_date = hmac_sha256(first_key, date8);
  OPENSSL_cleanse(first_key.data(), first_key.size());  // a copy of the secret
  const auto k_region = hmac_sha256(sign_s3_impl::as_chars(k_date), region);
  const auto k_service = hmac_sha256(sign_s3_impl::as_chars(k_region), sign_s3_impl::service);
  return hmac_sha256(sign_s3_impl::as_chars(k_service), sign_s3_impl::terminator);
}

OSS_DECL std::string s3_signature(const s3_sign_input& in, std::string_view secret, std::string_view region,
                                  std::span<const std::string> signed_headers) {
  const std::string_view amz_date = sign_s3_impl::header_or_empty(in.headers, "x-amz-date");
  const std::string string_to_sign = s3_string_to_sign(s3_canonical_request(in, signed_headers), amz_date, region);
  const auto key = s3_signing_key(secret, amz_date.substr(0, 8), region);
  const auto mac = hmac_sha256(sign_s3_impl::as_chars(key), string_to_sign);
  return hex_lower(mac.data(), mac.size());
}

OSS_DECL void s3_sign_request(http::request& req, std::string_view path, std::span<const query_param> query,
                              const credentials& creds, std::string_view region,
                              std::chrono::system_clock::time_point now, std::string_view payload_hash) {
  if (creds.empty()) return;
  if (req.headers.find("Host") == nullptr) throw std::invalid_argument("s3_sign_request: no Host header");
  if (!sign_s3_impl::is_valid_payload_hash(payload_hash))
    throw std::invalid_argument("s3_sign_request: payload hash is neither UNSIGNED-PAYLOAD nor lower-hex SHA-256");
  if (region.empty()) throw std::invalid_argument("s3_sign_request: empty region");

  // A request may be signed again on retry; nothing of the previous signature may leak in.
  req.headers.erase("Authorization");
  if (creds.security_token.empty())
    req.headers.erase("x-amz-security-token");
  else
    req.headers.set("x-amz-security-token", creds.security_token);
  const std::string amz_date = iso8601_basic(now);
  req.headers.set("x-amz-date", amz_date);
  req.headers.set("x-amz-content-sha256", payload_hash);

  s3_authorization auth;
  auth.access_key_id = creds.access_key_id;
  auth.date = amz_date.substr(0, 8);
  auth.region = region;
  auth.signed_headers = s3_signed_header_names(req.headers);
  const s3_sign_input in{req.method, path, query, req.headers};
  auth.signature = s3_signature(in, creds.access_key_secret, region, auth.signed_headers);
  req.headers.set("Authorization", s3_format_authorization(auth));
}

OSS_DECL std::optional<s3_authorization> s3_parse_authorization(std::string_view header) {
  using namespace sign_s3_impl;
  if (!header.starts_with(s3_algorithm) || header.size() <= s3_algorithm.size() ||
      header[s3_algorithm.size()] != ' ')
    return std::nullopt;
  header.remove_prefix(s3_algorithm.size() + 1);

  s3_authorization auth;
  bool have_credential = false, have_signed = false, have_signature = false;
  bool first = true;
  for (std::string_view item : split(header, ',')) {
    if (!first)
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);  // the SDKs write ", "
    first = false;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (name == "Credential" && !have_credential) {
      have_credential = true;
      const auto parts = split(value, '/');
      if (parts.size() != 5 || !is_scope_word(parts[0]) || parts[1].size() != 8 || !is_digits(parts[1]) ||
          !is_scope_word(parts[2]) || parts[3] != service || parts[4] != terminator)
        return std::nullopt;
      // A real calendar day, so that "20130230" is refused here rather than never matching.
      if (!is_amz_date(std::string(parts[1]) + "T000000Z")) return std::nullopt;
      auth.access_key_id = parts[0];
      auth.date = parts[1];
      auth.region = parts[2];
    } else if (name == "SignedHeaders" && !have_signed) {
      have_signed = true;
      bool has_host = false;
      for (std::string_view h : split(value, ';')) {
        // Signed verbatim, so only the canonical form can match: lower case, strictly sorted.
        if (!is_lower_token(h)) return std::nullopt;
        if (!auth.signed_headers.empty() && !(auth.signed_headers.back() < h)) return std::nullopt;
        has_host = has_host || h == "host";
        auth.signed_headers.emplace_back(h);
      }
      if (!has_host) return std::nullopt;
    } else if (name == "Signature" && !have_signature) {
      have_signature = true;
      if (value.size() != 64 || !is_lower_hex(value)) return std::nullopt;
      auth.signature = value;
    } else {
      return std::nullopt;
    }
  }
  if (!have_credential || !have_signed || !have_signature) return std::nullopt;
  return auth;
}

OSS_DECL std::string s3_format_authorization(const s3_authorization& auth) {
  std::string s(s3_algorithm);
  s += " Credential=";
  s += auth.access_key_id;
  s += '/';
  s += sign_s3_impl::scope(auth.date, auth.region);
  s += ", SignedHeaders=";
  for (std::size_t i = 0; i < auth.signed_headers.size(); ++i) {
    if (i > 0) s += ';';
    s += auth.signed_headers[i];
  }
  s += ", Signature=";
  s += auth.signature;
  return s;
}

OSS_DECL s3_request_problem s3_check_request(const s3_sign_input& in, const s3_authorization& auth) {
  const std::string* amz_date = in.headers.find("x-amz-date");
  if (amz_date == nullptr || in.headers.count("x-amz-date") != 1 || !sign_s3_impl::is_amz_date(*amz_date))
    return s3_request_problem::missing_date;
  if (std::string_view(*amz_date).substr(0, 8) != auth.date) return s3_request_problem::date_scope_mismatch;
  if (in.headers.find("x-amz-content-sha256") == nullptr) return s3_request_problem::missing_content_sha256;
  for (const std::string& name : auth.signed_headers)
    if (in.headers.find(name) == nullptr) return s3_request_problem::signed_header_absent;
  // S3 refuses x-amz-* headers outside the signature: they change what the request does
  // (security token, storage class, metadata), so an intermediary must not be able to add them.
  for (const auto& f : in.headers) {
    const std::string name = sign_s3_impl::ascii_lower(f.name);
    if (name.starts_with("x-amz-") &&
        !std::binary_search(auth.signed_headers.begin(), auth.signed_headers.end(), name))
      return s3_request_problem::unsigned_amz_header;
  }
  return s3_request_problem::none;
}

OSS_DECL bool s3_verify_signature(const s3_sign_input& in, const s3_authorization& auth, std::string_view secret) {
  if (s3_check_request(in, auth) != s3_request_problem::none) return false;
  // The parser guarantees the list's form; a hand-built s3_authorization must satisfy it too.
  if (!std::is_sorted(auth.signed_headers.begin(), auth.signed_headers.end()) || auth.region.empty())
    return false;
  return constant_time_equal(s3_signature(in, secret, auth.region, auth.signed_headers), auth.signature);
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_SIGN_IMPL_SIGN_S3_IPP
