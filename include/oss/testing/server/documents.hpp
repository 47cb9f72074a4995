// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_DOCUMENTS_HPP
#define OSS_TESTING_SERVER_DOCUMENTS_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/testing/server/errors.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The XML the local server reads and writes, from the shapes of oss-protocol.md sections 3 and
// 5.1 (and the S3 namespace of 2.8), with the generic reader and writer of detail/xml.hpp. The
// client's documents (detail/ops/documents.hpp) are the other side's: tests parse what this
// file writes with them, so the two are checked against each other rather than being one.
namespace oss::testing::detail {

// One <Part> of a CompleteMultipartUpload body.
struct part_selection {
  int number = 0;
  std::string etag;  // as written, quotes included when the client sent them
};

// Reads a CompleteMultipartUpload body: the root CompleteMultipartUpload (any namespace), its
// <Part> children in document order, each with a decimal <PartNumber> (1..10000 is the store's
// check) and an <ETag>; surrounding whitespace is trimmed. false when the XML is not
// well-formed, has another root, or a <Part> lacks either element or has a PartNumber that is
// not a decimal number.
OSS_DECL bool read_complete_body(std::string_view xml, std::vector<part_selection>& out);

// Every result document starts with the XML declaration; in the S3 dialect the root carries
// xmlns="http://s3.amazonaws.com/doc/2006-03-01/". With `url_encoding` (the request asked for
// encoding-type=url) <EncodingType>url</EncodingType> is written and the key-like fields are
// percent-encoded, '/' included.

OSS_DECL std::string initiate_result_document(std::string_view bucket, std::string_view key,
                                              std::string_view upload_id, bool url_encoding, api_dialect dialect);

OSS_DECL std::string complete_result_document(std::string_view location, std::string_view bucket,
                                              std::string_view key, std::string_view etag, bool url_encoding,
                                              api_dialect dialect);

struct listed_part {
  int number = 0;
  std::string etag;
  std::uint64_t size = 0;
  std::optional<std::uint64_t> crc64;  // HashCrc64ecma (OSS only)
  std::string last_modified;           // ISO 8601 with milliseconds
};

struct parts_listing {
  std::string bucket, key, upload_id;
  std::uint64_t part_number_marker = 0;
  std::uint64_t next_part_number_marker = 0;
  std::uint64_t max_parts = 0;
  bool is_truncated = false;
  std::vector<listed_part> parts;
};

OSS_DECL std::string list_parts_document(const parts_listing& listing, bool url_encoding, api_dialect dialect);

struct listed_upload {
  std::string key, upload_id, initiated;
};

struct uploads_listing {
  std::string bucket, key_marker, upload_id_marker, next_key_marker, next_upload_id_marker, prefix, delimiter;
  std::uint64_t max_uploads = 0;
  bool is_truncated = false;
  std::vector<listed_upload> uploads;
  std::vector<std::string> common_prefixes;
};

OSS_DECL std::string list_uploads_document(const uploads_listing& listing, bool url_encoding, api_dialect dialect);

// <Error> with Code, Message, RequestId, HostId, the error's extra elements, then EC (OSS only,
// when set). No namespace in either dialect.
OSS_DECL std::string error_document(const server_error& e, std::string_view request_id, std::string_view host_id,
                                    api_dialect dialect);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/documents.ipp>
#endif

#endif  // OSS_TESTING_SERVER_DOCUMENTS_HPP
