// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_HANDLER_IPP
#define OSS_TESTING_SERVER_IMPL_HANDLER_IPP

#include <oss/testing/server/handler.hpp>

#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/testing/server/documents.hpp>

#include <stdio.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <system_error>

namespace oss::testing::detail {
namespace handler_impl {

namespace http = oss::detail::http;

inline std::filesystem::path validated_root(std::filesystem::path root) {
  if (root.empty()) throw std::invalid_argument("local_server: options.root must name a directory");
  return root;
}

inline store_rules rules_for(api_dialect dialect) {
  store_rules rules;
  rules.min_part_size = dialect == api_dialect::s3 ? s3_min_part_size : oss_min_part_size;
  rules.lower_case_etags = dialect == api_dialect::s3;
  return rules;
}

inline bool digest_equals(const unsigned char* digest, std::size_t size, std::string_view bytes) noexcept {
  return bytes.size() == size && std::equal(digest, digest + size, reinterpret_cast<const unsigned char*>(bytes.data()));
}

// S3's body checks: x-amz-content-sha256 (when it named a digest), then Content-MD5.
inline std::optional<server_error> check_s3_digests(const http::fields& headers, std::string_view content_sha256,
                                                    const std::optional<oss::detail::sha256_digest>& sha256,
                                                    const oss::detail::md5_digest& md5) {
  if (!content_sha256.empty()) {
    const std::string actual = sha256 ? oss::detail::hex_lower(sha256->data(), sha256->size()) : std::string();
    if (actual != content_sha256) {
      server_error e = make_error(400, "XAmzContentSHA256Mismatch",
                                  "The provided 'x-amz-content-sha256' header does not match what was computed.");
      e.extra.emplace_back("ClientComputedContentSHA256", std::string(content_sha256));
      e.extra.emplace_back("S3ComputedContentSHA256", actual);
      return e;
    }
  }
  if (const std::string* expected = headers.find("content-md5")) {
    const auto decoded = oss::detail::base64_decode(*expected);
    if (!decoded || decoded->size() != md5.size())
      return make_error(400, "InvalidDigest", "The Content-MD5 you specified was not valid.");
    if (!digest_equals(md5.data(), md5.size(), *decoded))
      return make_error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
  }
  return std::nullopt;
}

inline bool is_hex_digest(std::string_view v) noexcept {
  return v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

}  // namespace handler_impl

OSS_DECL std::string s3_host_id(std::string_view request_id) {
  const auto d = oss::detail::sha256(request_id);
  return oss::detail::base64_encode(d.data(), d.size());
}

OSS_DECL request_handler::request_handler(std::filesystem::path root, handler_config config)
    : config_(std::move(config)),
      store_(handler_impl::validated_root(std::move(root)), config_.discard, handler_impl::rules_for(config_.dialect)) {
  set_credentials(config_.credentials);
  for (const auto& b : config_.buckets) {
    if (!is_valid_bucket_name(b, config_.dialect)) throw std::invalid_argument("local_server: invalid bucket name: " + b);
    allowed_buckets_.insert(b);
  }
  for (const auto& b : allowed_buckets_)
    if (auto ec = store_.ensure_bucket(b)) throw std::system_error(ec, "local_server: cannot create bucket " + b);
  std::random_device rd;
  const std::uint32_t prefix = rd();
  request_id_prefix_ = oss::detail::hex_upper(&prefix, sizeof prefix);
  request_seq_ = (static_cast<std::uint64_t>(rd()) << 16) & 0xFFFFFFFFFF0000ull;
}

OSS_DECL accepted_credentials request_handler::credentials() const {
  std::lock_guard lock(credentials_mutex_);
  return credentials_;
}

OSS_DECL void request_handler::set_credentials(accepted_credentials c) {
  if (c.id.empty() != c.secret.empty())
    throw std::invalid_argument("local_server: set both access_key_id and access_key_secret, or neither");
  std::lock_guard lock(credentials_mutex_);
  credentials_ = std::move(c);
}

OSS_DECL std::string request_handler::next_request_id() {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llX", static_cast<unsigned long long>(++request_seq_));
  return request_id_prefix_ + digits;
}

// S3: x-amz-content-sha256 is UNSIGNED-PAYLOAD or the hex SHA-256 of the body, checked once the
// body is in (XAmzContentSHA256Mismatch). Streaming signatures (aws-chunked) are not served.
OSS_DECL std::optional<server_error> request_handler::check_content_sha256(request_state& rs,
                                                                           const request_head& head) {
  const std::string* v = head.headers.find("x-amz-content-sha256");
  if (!v || *v == "UNSIGNED-PAYLOAD") return std::nullopt;
  if (v->starts_with("STREAMING-"))
    return make_error(error_id::not_implemented, "The local server does not implement aws-chunked streaming signatures.");
  if (!handler_impl::is_hex_digest(*v))
    return make_error(400, "InvalidArgument",
                      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.");
  rs.content_sha256 = ascii_lower(*v);
  return std::nullopt;
}

OSS_DECL std::optional<server_error> request_handler::admit(request_state& rs, const request_head& head) {
  const auto& headers = head.headers;
  ++counters_.requests;
  rs.request_id = next_request_id();
  rs.head = head.method == "HEAD";
  if (const std::string* host = headers.find("host")) rs.host = *host;
  auto parsed_route = parse_route(head.target, rs.host, config_.host);
  if (!parsed_route) return make_error(error_id::invalid_argument, "The request URI could not be parsed.");
  rs.r = std::move(*parsed_route);
  rs.op = classify(head.method, rs.r);
  if (rs.op != operation::unknown) counters_.count(rs.op);

  const accepted_credentials creds = credentials();
  const auth_settings settings{config_.dialect, config_.region, config_.max_clock_skew};
  const auth_request who{head.method, head.target, rs.r, headers};
  const auto now = std::chrono::system_clock::now();
  if (rs.r.bucket.empty()) {
    if (auto e = authenticate(who, creds, settings, now)) return e;
    return make_error(error_id::not_implemented, "The local server implements no service-level operation.");
  }
  if (!is_valid_bucket_name(rs.r.bucket, config_.dialect)) return make_error(error_id::invalid_bucket_name);
  if (!allowed_buckets_.empty() && !allowed_buckets_.count(rs.r.bucket)) {
    server_error e = make_error(error_id::no_such_bucket);
    e.extra.emplace_back("BucketName", rs.r.bucket);
    return e;
  }
  if (auto e = authenticate(who, creds, settings, now)) return e;

  if (rs.op == operation::unknown) {
    static constexpr std::string_view known[] = {"GET", "PUT", "HEAD", "DELETE", "POST"};
    if (std::find(std::begin(known), std::end(known), head.method) == std::end(known))
      return make_error(error_id::method_not_allowed);
    return make_error(error_id::not_implemented);
  }
  if (rs.op != operation::put_bucket && rs.op != operation::list_multipart_uploads) {
    if (auto e = object_name_error(rs.r.key)) return e;
  }
  if (store_.ensure_bucket(rs.r.bucket)) return make_error(error_id::internal_error);
  if (!s3() && headers.find("x-oss-callback"))
    return make_error(error_id::not_implemented, "The local server does not make upload callbacks.");
  if (s3()) {
    if (auto e = check_content_sha256(rs, head)) return e;
  }
  const bool carries_bytes =
      rs.op == operation::put_object || rs.op == operation::upload_part || rs.op == operation::get_object;
  if (const std::string* limit = s3() ? nullptr : headers.find("x-oss-traffic-limit"); limit && carries_bytes) {
    // OSS's range: 100 KiB/s to 100 MiB/s, in bits per second.
    const auto bits = parse_decimal(*limit);
    if (!bits || *bits < 819200 || *bits > 838860800)
      return make_error(error_id::invalid_argument,
                        "x-oss-traffic-limit must be between 819200 and 838860800 bit/s: " + *limit + ".",
                        "0004-00000502");
    counters_.traffic_limit_seen(*bits);
    rs.traffic_limit_bits = *bits;
  }

  switch (rs.op) {
    case operation::put_object:
    case operation::upload_part: {
      if (headers.find(s3() ? "x-amz-copy-source" : "x-oss-copy-source"))
        return make_error(error_id::not_implemented, "CopyObject and UploadPartCopy are not implemented.");
      if (!head.chunked && !head.content_length) return make_error(error_id::missing_content_length);
      if (head.content_length && *head.content_length > max_object_size) return make_error(error_id::entity_too_large);
      if (rs.op == operation::upload_part) {
        const std::string* id = rs.r.query_value("uploadId");
        const std::string* number = rs.r.query_value("partNumber");
        if (!id || !number)
          return make_error(error_id::invalid_argument, "UploadPart needs both partNumber and uploadId.");
        const auto n = parse_decimal(*number);
        if (!n || *n < 1 || *n > max_part_number)
          return make_error(error_id::invalid_argument, "Part number must be an integer between 1 and 10000, inclusive.");
        rs.part_number = static_cast<int>(*n);
        rs.upload_id = *id;
        const auto upload = store_.find_upload(rs.r.bucket, rs.upload_id);
        if (!upload || upload->key != rs.r.key) {
          server_error e = make_error(error_id::no_such_upload);
          e.extra.emplace_back("UploadId", rs.upload_id);
          return e;
        }
      } else {
        if (auto e = collect_object_headers(headers, config_.dialect, rs.object_headers, rs.forbid_overwrite)) return e;
        if (rs.forbid_overwrite && store_.find_object(rs.r.bucket, rs.r.key))
          return make_error(error_id::file_already_exists);
      }
      rs.writer = store_.new_writer(rs.r.bucket);
      if (!rs.content_sha256.empty()) rs.writer->enable_sha256();
      break;
    }
    case operation::initiate_multipart_upload:
      if (auto e = collect_object_headers(headers, config_.dialect, rs.object_headers, rs.forbid_overwrite)) return e;
      break;
    case operation::complete_multipart_upload:
      if (head.content_length && *head.content_length > max_xml_body)
        return make_error(error_id::invalid_argument, "The CompleteMultipartUpload body exceeds 4 MiB.");
      break;
    default:
      break;
  }
  return std::nullopt;
}

OSS_DECL std::optional<server_error> request_handler::finish_body(request_state& rs, const request_head& head) {
  body_writer& body = *rs.writer;
  if (body.finish()) return make_error(error_id::internal_error);
  if (body.size() > max_object_size) return make_error(error_id::entity_too_large);
  if (s3()) return handler_impl::check_s3_digests(head.headers, rs.content_sha256, body.sha256(), body.md5());
  if (const std::string* expected = head.headers.find("content-md5")) {
    const auto decoded = oss::detail::base64_decode(*expected);
    if (!decoded || !handler_impl::digest_equals(body.md5().data(), body.md5().size(), *decoded))
      return make_error(error_id::invalid_digest);
  }
  return std::nullopt;
}

OSS_DECL reply request_handler::execute(request_state& rs, const request_head& head, std::string_view body) {
  // Bodies that went to a writer are checked by finish_body; the others (Complete's XML, and
  // the empty body of everything else) here.
  if (s3() && !rs.content_sha256.empty() && !rs.writer) {
    const auto digest = oss::detail::sha256(body);
    if (auto e = handler_impl::check_s3_digests({}, rs.content_sha256, digest, {})) return error_reply(rs, *e);
  }
  switch (rs.op) {
    case operation::put_object: return put_object(rs, head);
    case operation::get_object:
    case operation::head_object: return get_object(rs, head);
    case operation::delete_object: return delete_object(rs);
    case operation::initiate_multipart_upload: return initiate(rs);
    case operation::upload_part: return upload_part(rs, head);
    case operation::complete_multipart_upload: return complete(rs, head, body);
    case operation::abort_multipart_upload: return abort(rs);
    case operation::list_parts: return list_parts(rs);
    case operation::list_multipart_uploads: return list_uploads(rs);
    case operation::put_bucket: return reply{};
    case operation::unknown: break;
  }
  return error_reply(rs, make_error(error_id::not_implemented));
}

OSS_DECL std::string request_handler::host_id(const request_state& rs) const {
  if (s3()) return s3_host_id(rs.request_id);
  return std::string(rs.host.empty() ? std::string_view(config_.host) : host_without_port(rs.host));
}

OSS_DECL reply request_handler::error_reply(const request_state& rs, const server_error& e) {
  reply rep;
  rep.status = e.status;
  const std::string document = error_document(e, rs.request_id, host_id(rs), config_.dialect);
  if (s3()) {
    // S3 has no x-oss-err: a HEAD error carries nothing of the document.
    if (!rs.head) {
      rep.body = document;
      rep.headers.set("Content-Type", "application/xml");
    }
    return rep;
  }
  rep.headers.set("Content-Type", "application/xml");
  rep.headers.set("x-oss-ec", e.ec);
  // HEAD replies have no body, so OSS repeats the error document in a header.
  if (rs.head)
    rep.headers.set("x-oss-err", oss::detail::base64_encode(document.data(), document.size()));
  else
    rep.body = document;
  return rep;
}

OSS_DECL oss::detail::http::response request_handler::response_head(const request_state& rs, const reply& rep,
                                                                     bool keep_alive) {
  oss::detail::http::response res;
  res.status = rep.status;
  res.headers.set("Server", s3() ? "AmazonS3" : "AliyunOSS");
  res.headers.set("Date", oss::detail::http_date(std::chrono::system_clock::now()));
  if (s3()) {
    res.headers.set("x-amz-request-id", rs.request_id);
    res.headers.set("x-amz-id-2", s3_host_id(rs.request_id));
  } else {
    res.headers.set("x-oss-request-id", rs.request_id);
  }
  for (const auto& f : rep.headers) res.headers.add(f.name, f.value);
  const bool bodiless_status = rep.status < 200 || rep.status == 204 || rep.status == 304;
  if (!bodiless_status)
    res.headers.set("Content-Length", std::to_string(rep.content_length ? *rep.content_length : rep.body.size()));
  res.headers.set("Connection", keep_alive ? "keep-alive" : "close");
  if (rep.status >= 400) ++counters_.errors;
  return res;
}

OSS_DECL request_handler::exchange request_handler::handle(const request_head& head, std::string_view body) {
  request_state rs;
  reply rep;
  counters_.bytes_received += body.size();
  if (auto refused = admit(rs, head)) {
    rep = error_reply(rs, *refused);
  } else {
    if (rs.writer) rs.writer->write(body);
    rep = execute(rs, head, rs.writer ? std::string_view() : body);
  }
  exchange out{response_head(rs, rep, true), {}};
  const bool bodiless_status = rep.status < 200 || rep.status == 204 || rep.status == 304;
  if (rs.head || bodiless_status) return out;
  out.body = std::move(rep.body);
  if (rep.object && rep.object->file && rep.length > 0) {
    std::string bytes(rep.length, '\0');
    const bool read = ::fseeko(rep.object->file, static_cast<off_t>(rep.offset), SEEK_SET) == 0 &&
                      std::fread(bytes.data(), 1, bytes.size(), rep.object->file) == bytes.size();
    out.body = read ? std::move(bytes) : std::string();
  }
  counters_.bytes_sent += out.body.size();
  return out;
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_HANDLER_IPP
