// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_SIGN_IMPL_SIGN_IPP
#define OSS_DETAIL_SIGN_IMPL_SIGN_IPP

#include <oss/detail/sign/sign.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/encoding.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>

namespace oss::detail {

namespace sign_impl {

inline constexpr std::string_view x_oss_prefix = "x-oss-";
inline constexpr std::string_view v4_algorithm = "OSS4-HMAC-SHA256";
inline constexpr std::string_view v4_terminator = "aliyun_v4_request";
inline constexpr std::string_view v4_product = "oss";
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";

// V1 sub-resources: go1 conn.go signKeyList and go2 signer/v1.go requiredSignedParametersMap
// (oss-protocol.md 2.2), minus the x-oss-* names that the prefix rule covers. Byte order, so it
// can be binary-searched.
inline constexpr std::array<std::string_view, 72> v1_sub_resources = {
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "img",
    "inventory",
    "inventoryId",
    "lifecycle",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "responseHeader",
    "restore",
    "rtc",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "udf",
    "udfApplication",
    "udfApplicationLog",
    "udfId",
    "udfImage",
    "udfImageDesc",
    "udfName",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "withHashContext",
    "worm",
    "wormExtend",
    "wormId",
};
static_assert(std::is_sorted(v1_sub_resources.begin(), v1_sub_resources.end()));

using detail::ascii_lower;

// Optional whitespace around header values (RFC 9110 OWS); the SDKs trim before signing.
inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool is_default_v4_header(std::string_view lower_name) noexcept {
  return lower_name == "content-type" || lower_name == "content-md5" || lower_name.starts_with(x_oss_prefix);
}

inline std::string_view header_or_empty(const http::fields& headers, std::string_view name) noexcept {
  const std::string* v = headers.find(name);
  return v == nullptr ? std::string_view{} : std::string_view{*v};
}

// "name:value\n" for every header whose lower-cased name passes `select`, sorted by name. A
// repeated header becomes one line with its values joined by ',' in arrival order (go2); the
// SDKs never send repeats, so this only decides what a verifier accepts.
template <class Select>
std::string canonical_headers(const http::fields& headers, Select select) {
  std::vector<std::pair<std::string, std::string_view>> items;
  for (const auto& f : headers) {
    std::string name = ascii_lower(f.name);
    if (select(name)) items.emplace_back(std::move(name), trim_ows(f.value));
  }
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0 && items[i].first == items[i - 1].first) {
      out.back() = ',';  // replace the previous line's '\n'
    } else {
      out += items[i].first;
      out += ':';
    }
    out += items[i].second;
    out += '\n';
  }
  return out;
}

inline std::string resource_path(std::string_view bucket, std::string_view key) {
  std::string path = "/";
  if (!bucket.empty()) {
    path += bucket;
    path += '/';
  }
  path += key;
  return path;
}

inline std::string v1_string_to_sign_with_date(const sign_input& in, std::string_view date_slot) {
  std::string s;
  s += in.method;
  s += '\n';
  s += header_or_empty(in.headers, "Content-MD5");
  s += '\n';
  s += header_or_empty(in.headers, "Content-Type");
  s += '\n';
  s += date_slot;
  s += '\n';
  s += canonical_headers(in.headers, [](std::string_view n) { return n.starts_with(x_oss_prefix); });
  s += resource_path(in.bucket, in.key);

  std::vector<const query_param*> signed_params;
  for (const auto& p : in.query)
    if (is_v1_sub_resource(p.first)) signed_params.push_back(&p);
  std::sort(signed_params.begin(), signed_params.end(), [](const query_param* a, const query_param* b) {
    return *a < *b;
  });
  char separator = '?';
  for (const query_param* p : signed_params) {
    s += separator;
    separator = '&';
    s += p->first;
    // Raw decoded value; a value-less sub-resource (uploads, acl) is just its name.
    if (!p->second.empty()) {
      s += '=';
      s += p->second;
    }
  }
  return s;
}

inline std::string_view v1_date_slot(const http::fields& headers) noexcept {
  if (const std::string* date = headers.find("Date")) return *date;
  return header_or_empty(headers, "x-oss-date");
}

inline std::string base64_hmac_sha1(std::string_view secret, std::string_view message) {
  const auto mac = hmac_sha1(secret, message);
  return base64_encode(mac.data(), mac.size());
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

inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

inline std::optional<parsed_authorization> parse_v4(std::string_view rest) {
  parsed_authorization auth;
  auth.version = signature_version::v4;
  bool have_credential = false, have_additional = false, have_signature = false;
  for (std::string_view item : split(rest, ',')) {
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);  // docs write ", "
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (name == "Credential" && !have_credential) {
      have_credential = true;
      const auto parts = split(value, '/');
      if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || !is_digits(parts[1]) ||
          parts[2].empty() || parts[3] != v4_product || parts[4] != v4_terminator)
        return std::nullopt;
      auth.access_key_id = parts[0];
      auth.sign_date = parts[1];
      auth.region = parts[2];
    } else if (name == "AdditionalHeaders" && !have_additional) {
      have_additional = true;
      // OSS rejects an empty list (EC 0002-00000209); so do we, and empty names too.
      for (std::string_view h : split(value, ';')) {
        if (h.empty()) return std::nullopt;
        auth.additional_headers.emplace_back(h);
      }
    } else if (name == "Signature" && !have_signature) {
      have_signature = true;
      if (value.size() != 64 || !is_lower_hex(value)) return std::nullopt;
      auth.signature = value;
    } else {
      return std::nullopt;
    }
  }
  if (!have_credential || !have_signature) return std::nullopt;
  return auth;
}

inline std::optional<parsed_authorization> parse_v1(std::string_view rest) {
  // Base64 has no ':', so the last one separates the key id from the signature.
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view id = rest.substr(0, colon);
  const std::string_view signature = rest.substr(colon + 1);
  if (id.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  const auto raw = base64_decode(signature);
  if (!raw || raw->size() != 20) return std::nullopt;  // HMAC-SHA1
  parsed_authorization auth;
  auth.version = signature_version::v1;
  auth.access_key_id = id;
  auth.signature = signature;
  return auth;
}

}  // namespace sign_impl

OSS_DECL bool is_v1_sub_resource(std::string_view name) noexcept {
  // go2 signs every x-oss-* query parameter (x-oss-process, x-oss-traffic-limit, ...).
  if (name.starts_with(sign_impl::x_oss_prefix)) return true;
  return std::binary_search(sign_impl::v1_sub_resources.begin(), sign_impl::v1_sub_resources.end(), name);
}

OSS_DECL std::string v1_string_to_sign(const sign_input& in) {
  return sign_impl::v1_string_to_sign_with_date(in, sign_impl::v1_date_slot(in.headers));
}

OSS_DECL std::string v1_signature(const sign_input& in, std::string_view secret) {
  return sign_impl::base64_hmac_sha1(secret, v1_string_to_sign(in));
}

OSS_DECL std::vector<std::string> v4_additional_headers(const http::fields& headers,
                                                        std::span<const std::string> requested) {
  std::vector<std::string> names;
  for (const std::string& r : requested) {
    std::string name = sign_impl::ascii_lower(r);
    if (sign_impl::is_default_v4_header(name) || headers.find(name) == nullptr) continue;
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

OSS_DECL std::string v4_canonical_request(const sign_input& in, std::span<const std::string> additional_headers) {
  const std::vector<std::string> additional = v4_additional_headers(in.headers, additional_headers);

  std::string s;
  s += in.method;
  s += '\n';
  s += uri_encode(sign_impl::resource_path(in.bucket, in.key), true);
  s += '\n';

  // Every parameter, encoded, sorted by encoded key in byte order; "key" alone when the value is
  // empty (unlike AWS SigV4, which writes "key=").
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(in.query.size());
  for (const auto& p : in.query) encoded.emplace_back(uri_encode(p.first, false), uri_encode(p.second, false));
  std::sort(encoded.begin(), encoded.end());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (i > 0) s += '&';
    s += encoded[i].first;
    if (!encoded[i].second.empty()) {
      s += '=';
      s += encoded[i].second;
    }
  }
  s += '\n';

  s += sign_impl::canonical_headers(in.headers, [&](const std::string& name) {
    return sign_impl::is_default_v4_header(name) ||
           std::binary_search(additional.begin(), additional.end(), name);
  });
  s += '\n';

  for (std::size_t i = 0; i < additional.size(); ++i) {
    if (i > 0) s += ';';
    s += additional[i];
  }
  s += '\n';

  const std::string* payload = in.headers.find("x-oss-content-sha256");
  s += payload != nullptr ? std::string_view{*payload} : sign_impl::unsigned_payload;
  return s;
}

OSS_DECL std::string v4_string_to_sign(std::string_view canonical_request, std::string_view x_oss_date,
                                       std::string_view region) {
  const auto hash = sha256(canonical_request);
  std::string s;
  s += sign_impl::v4_algorithm;
  s += '\n';
  s += x_oss_date;
  s += '\n';
  s += x_oss_date.substr(0, 8);
  s += '/';
  s += region;
  s += '/';
  s += sign_impl::v4_product;
  s += '/';
  s += sign_impl::v4_terminator;
  s += '\n';
  s += hex_lower(hash.data(), hash.size());
  return s;
}

OSS_DECL sha256_digest v4_derive_signing_key(std::string_view secret, std::string_view date8,
                                             std::string_view region) {
  std::string first_key = "aliyun_v4";
  first_key += secret;
  const auto k_date = hmac_sha256(first_key, date8);
  OPENSSL_cleanse(first_key.data(), first_key.size());
  const auto k_region = hmac_sha256(sign_impl::as_chars(k_date), region);
  const auto k_product = hmac_sha256(sign_impl::as_chars(k_region), sign_impl::v4_product);
  return hmac_sha256(sign_impl::as_chars(k_product), sign_impl::v4_terminator);
}

namespace sign_impl {

// The last V4 key this thread derived (issue 5: the four HMACs were 4% of the client's CPU at
// 100 KiB parts, for a key that changes once a day). Per thread, so no lock and nothing shared
// between threads; the secret is compared, never printed, and wiped when replaced or when the
// thread ends.
struct v4_key_cache {
  std::string secret;
  std::string date8;
  std::string region;
  sha256_digest key{};
  bool valid = false;

  void wipe() noexcept {
    OPENSSL_cleanse(secret.data(), secret.size());
    OPENSSL_cleanse(key.data(), key.size());
    valid = false;
  }
  ~v4_key_cache() { wipe(); }
};

}  // namespace sign_impl

OSS_DECL sha256_digest v4_signing_key(std::string_view secret, std::string_view date8, std::string_view region) {
  thread_local sign_impl::v4_key_cache cache;
  if (cache.valid && cache.date8 == date8 && cache.region == region &&
      constant_time_equal(cache.secret, secret))
    return cache.key;
  const sha256_digest key = v4_derive_signing_key(secret, date8, region);
  cache.wipe();
  cache.secret.assign(secret);
  cache.date8.assign(date8);
  cache.region.assign(region);
  cache.key = key;
  cache.valid = true;
  return key;
}

OSS_DECL std::string v4_signature(const sign_input& in, std::string_view secret, std::string_view region,
                                  std::span<const std::string> additional_headers) {
  const std::string_view date = sign_impl::header_or_empty(in.headers, "x-oss-date");
  const std::string string_to_sign = v4_string_to_sign(v4_canonical_request(in, additional_headers), date, region);
  const auto key = v4_signing_key(secret, date.substr(0, 8), region);
  const auto mac = hmac_sha256(sign_impl::as_chars(key), string_to_sign);
  return hex_lower(mac.data(), mac.size());
}

OSS_DECL std::string_view standard_region(std::string_view region) noexcept {
  // Not remove_prefix: GCC 12 inlines this into callers passing "" and then reports the
  // never-taken branch with -Warray-bounds.
  return region.starts_with("oss-") ? region.substr(4) : region;
}

OSS_DECL void sign_request(http::request& req, std::string_view bucket, std::string_view key,
                           std::span<const query_param> query, const credentials& creds,
                           signature_version version, std::string_view region,
                           std::chrono::system_clock::time_point now,
                           std::span<const std::string> additional_headers) {
  if (creds.empty()) return;
  // A request may be signed again on retry; nothing of the previous signature may leak in.
  req.headers.erase("Authorization");
  if (creds.security_token.empty())
    req.headers.erase("x-oss-security-token");
  else
    req.headers.set("x-oss-security-token", creds.security_token);

  const std::string date = http_date(now);
  req.headers.set("Date", date);
  const sign_input in{req.method, bucket, key, query, req.headers};
  std::string authorization;
  if (version == signature_version::v1) {
    if (req.headers.find("x-oss-date") != nullptr) req.headers.set("x-oss-date", date);
    authorization = "OSS ";
    authorization += creds.access_key_id;
    authorization += ':';
    authorization += v1_signature(in, creds.access_key_secret);
  } else {
    const std::string_view sign_region = standard_region(region);
    const std::string x_oss_date = iso8601_basic(now);
    req.headers.set("x-oss-date", x_oss_date);
    req.headers.set("x-oss-content-sha256", sign_impl::unsigned_payload);
    const auto additional = v4_additional_headers(req.headers, additional_headers);
    authorization = sign_impl::v4_algorithm;
    authorization += " Credential=";
    authorization += creds.access_key_id;
    authorization += '/';
    authorization += std::string_view(x_oss_date).substr(0, 8);
    authorization += '/';
    authorization += sign_region;
    authorization += '/';
    authorization += sign_impl::v4_product;
    authorization += '/';
    authorization += sign_impl::v4_terminator;
    if (!additional.empty()) {
      authorization += ",AdditionalHeaders=";
      for (std::size_t i = 0; i < additional.size(); ++i) {
        if (i > 0) authorization += ';';
        authorization += additional[i];
      }
    }
    authorization += ",Signature=";
    authorization += v4_signature(in, creds.access_key_secret, sign_region, additional);
  }
  req.headers.set("Authorization", authorization);
}

OSS_DECL std::optional<parsed_authorization> parse_authorization(std::string_view header) {
  if (header.starts_with("OSS4-HMAC-SHA256 ")) return sign_impl::parse_v4(header.substr(17));
  if (header.starts_with("OSS ")) return sign_impl::parse_v1(header.substr(4));
  return std::nullopt;
}

OSS_DECL bool verify_signature(const sign_input& in, const parsed_authorization& auth, std::string_view secret) {
  if (auth.version == signature_version::v1) {
    const std::string* date = in.headers.find("Date");
    const std::string* x_oss_date = in.headers.find("x-oss-date");
    const std::string_view first = date != nullptr ? *date : sign_impl::header_or_empty(in.headers, "x-oss-date");
    bool ok = constant_time_equal(
        sign_impl::base64_hmac_sha1(secret, sign_impl::v1_string_to_sign_with_date(in, first)), auth.signature);
    // Open question 3 of oss-protocol.md: with two different dates, accept a signature over
    // either, since both values were sent (and x-oss-date is itself signed).
    if (!ok && date != nullptr && x_oss_date != nullptr && *date != *x_oss_date) {
      ok = constant_time_equal(
          sign_impl::base64_hmac_sha1(secret, sign_impl::v1_string_to_sign_with_date(in, *x_oss_date)),
          auth.signature);
    }
    return ok;
  }

  const std::string* x_oss_date = in.headers.find("x-oss-date");
  if (x_oss_date == nullptr || !parse_iso8601_basic(*x_oss_date) ||
      std::string_view(*x_oss_date).substr(0, 8) != auth.sign_date || auth.region.empty())
    return false;
  // The listed names are signed verbatim, so they must already be in canonical form.
  if (v4_additional_headers(in.headers, auth.additional_headers) != auth.additional_headers) return false;
  return constant_time_equal(v4_signature(in, secret, auth.region, auth.additional_headers), auth.signature);
}

OSS_DECL bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_SIGN_IMPL_SIGN_IPP
