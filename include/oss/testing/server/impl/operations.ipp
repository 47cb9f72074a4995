// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_OPERATIONS_IPP
#define OSS_TESTING_SERVER_IMPL_OPERATIONS_IPP

#include <oss/testing/server/handler.hpp>

#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/testing/server/documents.hpp>
#include <oss/testing/server/impl/handler.ipp>  // handler_impl::check_s3_digests
#include <oss/testing/server/ranges.hpp>

#include <algorithm>

// The operations of request_handler::execute, one member each: the body is in (streamed into
// the request's body_writer, or buffered), the reply is built. Shapes: oss-protocol.md 3.1-3.8
// and 11b; the S3 dialect's differences are listed at local_server_options::dialect.
namespace oss::testing::detail {
namespace operations_impl {

inline std::string http_time(std::int64_t ms) {
  return oss::detail::http_date(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

inline std::string iso_time(std::int64_t ms) {
  return oss::detail::iso8601_extended(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

inline bool wants_url_encoding(const route& r) {
  const std::string* e = r.query_value("encoding-type");
  return e && *e == "url";
}

inline std::uint64_t tagging_count(const std::string& tagging) {
  return 1 + static_cast<std::uint64_t>(std::count(tagging.begin(), tagging.end(), '&'));
}

// The headers HEAD and GET return for an object (oss-protocol.md 3.7).
inline void add_object_headers(reply& rep, const object_info& o) {
  const std::string* type = find_header(o.headers, "Content-Type");
  rep.headers.set("Content-Type", type ? *type : "application/octet-stream");
  rep.headers.set("ETag", o.etag);
  rep.headers.set("Last-Modified", http_time(o.last_modified_ms));
  rep.headers.set("Accept-Ranges", "bytes");
  rep.headers.set("x-oss-object-type", o.object_type);
  rep.headers.set("x-oss-hash-crc64ecma", std::to_string(o.crc64));
  if (!o.content_md5.empty()) rep.headers.set("Content-MD5", o.content_md5);
  bool has_storage_class = false;
  for (const auto& [name, value] : o.headers) {
    if (name == "Content-Type" || name == "x-oss-object-acl") continue;
    if (name == "x-oss-tagging") {
      rep.headers.set("x-oss-tagging-count", std::to_string(tagging_count(value)));
      continue;
    }
    has_storage_class = has_storage_class || name == "x-oss-storage-class";
    rep.headers.set(name, value);
  }
  if (!has_storage_class) rep.headers.set("x-oss-storage-class", "Standard");
}

// S3's HEAD and GET: the standard headers and the x-amz-* settings kept; no CRC, no object
// type, no Content-MD5.
inline void add_s3_object_headers(reply& rep, const object_info& o) {
  const std::string* type = find_header(o.headers, "Content-Type");
  rep.headers.set("Content-Type", type ? *type : "application/octet-stream");
  rep.headers.set("ETag", o.etag);
  rep.headers.set("Last-Modified", http_time(o.last_modified_ms));
  rep.headers.set("Accept-Ranges", "bytes");
  for (const auto& [name, value] : o.headers) {
    if (name == "Content-Type" || name == "x-amz-acl") continue;
    // An object written in OSS mode and read back in S3 mode keeps its OSS names out of sight.
    if (oss::detail::http::iequals(std::string_view(name).substr(0, std::min<std::size_t>(name.size(), 6)), "x-oss-"))
      continue;
    if (name == "x-amz-tagging") {
      rep.headers.set("x-amz-tagging-count", std::to_string(tagging_count(value)));
      continue;
    }
    rep.headers.set(name, value);
  }
}

// An upload's ETag and CRC-64 headers: a part's (UploadPart) or an object's (PutObject).
inline void set_digest_headers(reply& rep, api_dialect dialect, const oss::detail::md5_digest& md5, std::uint64_t crc) {
  rep.headers.set("ETag", quoted_hex_etag(md5.data(), md5.size(), dialect));
  if (dialect == api_dialect::s3) return;
  rep.headers.set("Content-MD5", oss::detail::base64_encode(md5.data(), md5.size()));
  rep.headers.set("x-oss-hash-crc64ecma", std::to_string(crc));
}

inline void add_upload_id(server_error& e, const std::string& id) {
  if (e.code == error_code_text(error_id::no_such_upload)) e.extra.emplace_back("UploadId", id);
}

}  // namespace operations_impl

OSS_DECL reply request_handler::put_object(request_state& rs, const request_head& head) {
  if (auto e = finish_body(rs, head)) return error_reply(rs, *e);
  const body_writer& body = *rs.writer;
  object_info object;
  object.key = rs.r.key;
  object.size = body.size();
  object.etag = quoted_hex_etag(body.md5().data(), body.md5().size(), config_.dialect);
  object.crc64 = body.crc64();
  object.content_md5 = oss::detail::base64_encode(body.md5().data(), body.md5().size());
  object.object_type = "Normal";
  object.last_modified_ms = store::now_ms();
  object.headers = rs.object_headers;
  if (auto ec = store_.put_object(rs.r.bucket, object, *rs.writer, rs.forbid_overwrite))
    return error_reply(rs, from_error_code(ec));
  reply rep;
  operations_impl::set_digest_headers(rep, config_.dialect, body.md5(), body.crc64());
  return rep;
}

// GetObject and HeadObject: preconditions (412 / 304), then for GET the Range (206 / 416 / the
// whole object), oss-protocol.md 11b. A ranged reply keeps the whole object's
// x-oss-hash-crc64ecma, as OSS does (the Go SDK skips its CRC check on ranged GETs for that
// reason), and drops Content-MD5, which would not describe the bytes sent.
OSS_DECL reply request_handler::get_object(request_state& rs, const request_head& head) {
  using outcome = range_decision::outcome;
  const auto& headers = head.headers;
  std::error_code ec;
  std::optional<object_reader> reader;
  if (rs.head) {
    if (auto info = store_.find_object(rs.r.bucket, rs.r.key)) {
      reader.emplace();
      reader->info = std::move(*info);
    } else {
      ec = make_error_code(error_id::no_such_key);
    }
  } else {
    reader = store_.open_object(rs.r.bucket, rs.r.key, ec);
  }
  if (!reader) {
    if (ec != error_id::no_such_key) return error_reply(rs, from_error_code(ec));
    server_error e = make_error(error_id::no_such_key);
    e.extra.emplace_back("Key", rs.r.key);
    return error_reply(rs, e);
  }
  const object_info& info = reader->info;

  const precondition_decision pre = check_preconditions(headers, info.etag, info.last_modified_ms);
  if (pre.result == precondition_decision::outcome::failed) {
    server_error e = make_error(error_id::precondition_failed);
    e.extra.emplace_back("Condition", std::string(pre.condition));
    return error_reply(rs, e);
  }
  if (pre.result == precondition_decision::outcome::not_modified) {
    reply rep;
    rep.status = 304;
    rep.headers.set("ETag", info.etag);
    rep.headers.set("Last-Modified", operations_impl::http_time(info.last_modified_ms));
    return rep;
  }

  reply rep;
  if (s3())
    operations_impl::add_s3_object_headers(rep, info);
  else
    operations_impl::add_object_headers(rep, info);
  if (rs.head) {
    rep.content_length = info.size;
    return rep;
  }
  if (!reader->file)
    return error_reply(rs, make_error(error_id::not_implemented,
                                      "The object was stored by a server running in discard mode: its bytes were not kept."));

  range_decision range;
  if (const std::string* value = headers.find("range")) {
    const std::string* behavior = headers.find("x-oss-range-behavior");
    const range_rules rules = s3()                                                          ? range_rules::s3
                              : behavior && oss::detail::http::iequals(*behavior, "standard") ? range_rules::oss_standard
                                                                                            : range_rules::oss_default;
    range = decide_range(*value, info.size, rules);
    if (range.result == outcome::unsatisfiable) {
      server_error e = make_error(error_id::invalid_range);
      if (s3()) {
        e.message = "The requested range is not satisfiable";
        e.extra.emplace_back("RangeRequested", *value);
        e.extra.emplace_back("ActualObjectSize", std::to_string(info.size));
      }
      reply bad = error_reply(rs, e);
      bad.headers.set("Content-Range", "bytes */" + std::to_string(info.size));
      return bad;
    }
  }
  rep.offset = 0;
  rep.length = info.size;
  if (range.result == outcome::partial) {
    rep.status = 206;
    rep.offset = range.offset;
    rep.length = range.length;
    rep.headers.erase("Content-MD5");
    rep.headers.set("Content-Range", "bytes " + std::to_string(range.offset) + "-" +
                                         std::to_string(range.offset + range.length - 1) + "/" +
                                         std::to_string(info.size));
  }
  rep.content_length = rep.length;
  rep.object = std::move(reader);
  return rep;
}

OSS_DECL reply request_handler::delete_object(request_state& rs) {
  store_.delete_object(rs.r.bucket, rs.r.key);
  reply rep;
  rep.status = 204;
  return rep;
}

OSS_DECL reply request_handler::initiate(request_state& rs) {
  upload_info upload;
  upload.key = rs.r.key;
  upload.initiated_ms = store::now_ms();
  upload.forbid_overwrite = rs.forbid_overwrite;
  upload.headers = rs.object_headers;
  std::error_code ec;
  const std::string id = store_.create_upload(rs.r.bucket, std::move(upload), ec);
  if (ec) return error_reply(rs, from_error_code(ec));
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = initiate_result_document(rs.r.bucket, rs.r.key, id, operations_impl::wants_url_encoding(rs.r),
                                      config_.dialect);
  return rep;
}

OSS_DECL reply request_handler::upload_part(request_state& rs, const request_head& head) {
  if (auto e = finish_body(rs, head)) return error_reply(rs, *e);
  const body_writer& body = *rs.writer;
  if (auto ec = store_.put_part(rs.r.bucket, rs.upload_id, rs.r.key, rs.part_number, *rs.writer)) {
    server_error e = from_error_code(ec);
    operations_impl::add_upload_id(e, rs.upload_id);
    return error_reply(rs, e);
  }
  counters_.part_stored();
  reply rep;
  operations_impl::set_digest_headers(rep, config_.dialect, body.md5(), body.crc64());
  return rep;
}

OSS_DECL reply request_handler::complete(request_state& rs, const request_head& head, std::string_view body) {
  const auto& headers = head.headers;
  const std::string& id = *rs.r.query_value("uploadId");
  if (s3()) {
    if (auto e = handler_impl::check_s3_digests(headers, {}, std::nullopt, oss::detail::md5(body)))
      return error_reply(rs, *e);
  } else if (const std::string* expected = headers.find("content-md5")) {
    const auto digest = oss::detail::md5(body);
    if (*expected != oss::detail::base64_encode(digest.data(), digest.size()))
      return error_reply(rs, make_error(error_id::invalid_digest));
  }
  // x-oss-complete-all: yes takes every uploaded part; the body must then be empty (EC
  // 0042-00000216). S3 has no such header, nor x-oss-forbid-overwrite.
  const std::string* all = s3() ? nullptr : headers.find("x-oss-complete-all");
  const bool complete_all = all && oss::detail::http::iequals(*all, "yes");
  std::vector<part_selection> selection;
  if (complete_all) {
    if (!body.empty())
      return error_reply(rs, make_error(error_id::invalid_argument,
                                        "With x-oss-complete-all: yes the request body must be empty.", "0042-00000216"));
  } else {
    if (!read_complete_body(body, selection)) return error_reply(rs, make_error(error_id::malformed_xml));
    if (selection.empty())
      return error_reply(rs, make_error(error_id::malformed_xml, "The CompleteMultipartUpload body lists no part."));
  }
  const std::string* forbid = s3() ? nullptr : headers.find("x-oss-forbid-overwrite");
  complete_outcome out;
  std::string message;
  if (auto ec = store_.complete_upload(rs.r.bucket, id, rs.r.key, selection, complete_all,
                                       forbid && oss::detail::http::iequals(*forbid, "true"), out, message)) {
    server_error e = from_error_code(ec, message);
    operations_impl::add_upload_id(e, id);
    if (s3() && ec == error_id::entity_too_small && out.small_part_number != 0) {
      // S3 names the offending part and the limit.
      e.message = "Your proposed upload is smaller than the minimum allowed object size.";
      e.extra.emplace_back("ProposedSize", std::to_string(out.small_part_size));
      e.extra.emplace_back("MinSizeAllowed", std::to_string(store_.rules().min_part_size));
      e.extra.emplace_back("PartNumber", std::to_string(out.small_part_number));
      e.extra.emplace_back("ETag", out.small_part_etag);
    }
    return error_reply(rs, e);
  }
  const std::string location = std::string(config_.tls ? "https://" : "http://") +
                               (rs.host.empty() ? config_.host : rs.host) + "/" +
                               (rs.r.path_style ? rs.r.bucket + "/" : std::string()) +
                               oss::detail::uri_encode(rs.r.key, true);
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  if (!s3()) {
    rep.headers.set("ETag", out.object.etag);
    rep.headers.set("x-oss-hash-crc64ecma", std::to_string(out.object.crc64));
  }
  rep.body = complete_result_document(location, rs.r.bucket, rs.r.key, out.object.etag,
                                      operations_impl::wants_url_encoding(rs.r), config_.dialect);
  return rep;
}

OSS_DECL reply request_handler::abort(request_state& rs) {
  const std::string& id = *rs.r.query_value("uploadId");
  if (auto ec = store_.abort_upload(rs.r.bucket, id, rs.r.key)) {
    server_error e = from_error_code(ec);
    operations_impl::add_upload_id(e, id);
    return error_reply(rs, e);
  }
  reply rep;
  rep.status = 204;
  return rep;
}

OSS_DECL reply request_handler::list_parts(request_state& rs) {
  const std::string& id = *rs.r.query_value("uploadId");
  std::uint64_t max_parts = max_list_entries;
  std::uint64_t marker = 0;
  if (const std::string* v = rs.r.query_value("max-parts")) {
    const auto n = parse_decimal(*v);
    if (!n || *n == 0) return error_reply(rs, make_error(error_id::invalid_argument, "max-parts must be between 1 and 1000."));
    max_parts = std::min(*n, max_list_entries);
  }
  if (const std::string* v = rs.r.query_value("part-number-marker")) {
    const auto n = parse_decimal(*v);
    if (!n) return error_reply(rs, make_error(error_id::invalid_argument, "part-number-marker must be a part number."));
    marker = *n;
  }
  const auto parts = store_.list_parts(rs.r.bucket, id, rs.r.key);
  if (!parts) {
    server_error e = make_error(error_id::no_such_upload);
    e.extra.emplace_back("UploadId", id);
    return error_reply(rs, e);
  }
  parts_listing listing;
  listing.bucket = rs.r.bucket;
  listing.key = rs.r.key;
  listing.upload_id = id;
  listing.part_number_marker = std::min(marker, max_part_number);
  listing.max_parts = max_parts;
  listing.next_part_number_marker = listing.part_number_marker;
  for (const auto& p : *parts) {
    if (static_cast<std::uint64_t>(p.number) <= marker) continue;
    if (listing.parts.size() == max_parts) {
      listing.is_truncated = true;
      break;
    }
    std::optional<std::uint64_t> crc;
    if (!s3()) crc = p.crc64;  // S3's ListParts has no HashCrc64ecma
    listing.parts.push_back({p.number, store_.etag_of(p), p.size, crc, operations_impl::iso_time(p.last_modified_ms)});
    listing.next_part_number_marker = static_cast<std::uint64_t>(p.number);
  }
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = list_parts_document(listing, operations_impl::wants_url_encoding(rs.r), config_.dialect);
  return rep;
}

OSS_DECL reply request_handler::list_uploads(request_state& rs) {
  const auto param = [&](std::string_view name) {
    const std::string* v = rs.r.query_value(name);
    return v ? *v : std::string();
  };
  std::uint64_t max_uploads = max_list_entries;
  if (const std::string* v = rs.r.query_value("max-uploads")) {
    const auto n = parse_decimal(*v);
    if (!n || *n == 0)
      return error_reply(rs, make_error(error_id::invalid_argument, "max-uploads must be between 1 and 1000."));
    max_uploads = std::min(*n, max_list_entries);
  }
  uploads_listing listing;
  listing.bucket = rs.r.bucket;
  listing.prefix = param("prefix");
  listing.delimiter = param("delimiter");
  listing.key_marker = param("key-marker");
  listing.upload_id_marker = param("upload-id-marker");
  listing.max_uploads = max_uploads;

  // Entries in (key, upload id) order; with a delimiter, keys that contain it after the prefix
  // roll up into one CommonPrefixes entry each, which counts once towards max-uploads.
  std::uint64_t taken = 0;
  for (const auto& u : store_.list_uploads(rs.r.bucket)) {
    if (!u.key.starts_with(listing.prefix)) continue;
    std::string common;
    if (!listing.delimiter.empty()) {
      const auto pos = u.key.find(listing.delimiter, listing.prefix.size());
      if (pos != std::string::npos) common = u.key.substr(0, pos + listing.delimiter.size());
    }
    if (!common.empty()) {
      if (!listing.key_marker.empty() && common <= listing.key_marker) continue;
      if (!listing.common_prefixes.empty() && listing.common_prefixes.back() == common) continue;
    } else if (!listing.key_marker.empty()) {
      if (u.key < listing.key_marker) continue;
      if (u.key == listing.key_marker && (listing.upload_id_marker.empty() || u.upload_id <= listing.upload_id_marker))
        continue;
    }
    if (taken == max_uploads) {
      listing.is_truncated = true;
      break;
    }
    ++taken;
    if (!common.empty()) {
      listing.common_prefixes.push_back(common);
      listing.next_key_marker = common;
      listing.next_upload_id_marker.clear();
    } else {
      listing.uploads.push_back({u.key, u.upload_id, operations_impl::iso_time(u.initiated_ms)});
      listing.next_key_marker = u.key;
      listing.next_upload_id_marker = u.upload_id;
    }
  }
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = list_uploads_document(listing, operations_impl::wants_url_encoding(rs.r), config_.dialect);
  return rep;
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_OPERATIONS_IPP
