// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_HANDLER_HPP
#define OSS_TESTING_SERVER_HANDLER_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/testing/server/auth.hpp>
#include <oss/testing/server/counters.hpp>
#include <oss/testing/server/errors.hpp>
#include <oss/testing/server/routing.hpp>
#include <oss/testing/server/rules.hpp>
#include <oss/testing/server/store.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

// The local server without its sockets: a request head in, a decision; the body in, a reply
// out. The connection loop (connection.hpp) feeds it from a socket; unit tests feed it
// directly (tests/unit/test_server_handler.cpp).
//
// A request goes through three phases:
//  1. admit(): everything decided from the head alone (route, operation, bucket, signature,
//     names, headers, the upload a part belongs to), before any body byte is read, so that a
//     refused upload costs no transfer and `Expect: 100-continue` can be answered;
//  2. the body: PutObject and UploadPart bodies stream into `request_state::writer` (a file
//     plus MD5 / CRC-64 / SHA-256 as they arrive); other bodies (Complete's XML) are buffered;
//  3. execute(): the operation, and its reply.
// response_head() then gives the reply's status line and headers as sent.
namespace oss::testing::detail {

// What the handler needs of local_server_options.
struct handler_config {
  api_dialect dialect = api_dialect::oss;
  std::string host = "127.0.0.1";  // addressing (path style) and the HostId of errors
  std::string region = "cn-local";
  std::chrono::seconds max_clock_skew{900};
  std::vector<std::string> buckets;  // empty: any valid bucket name
  bool discard = false;
  bool tls = false;  // the scheme of Complete's Location
  accepted_credentials credentials;
};

// A request's head: the start line, the headers and the framing the parser found.
struct request_head {
  std::string_view method;
  std::string_view target;
  const oss::detail::http::fields& headers;
  std::optional<std::uint64_t> content_length;  // nullopt: chunked, or no body
  bool chunked = false;
};

// One request between admission and reply.
struct request_state {
  std::string request_id;
  std::string host;  // the Host header (may be empty)
  bool head = false;  // HEAD: the reply has no body
  route r;
  operation op = operation::unknown;

  // Set by admission for the operations that need them.
  int part_number = 0;
  std::string upload_id;
  header_list object_headers;
  bool forbid_overwrite = false;
  std::unique_ptr<body_writer> writer;  // PutObject and UploadPart bodies go here
  std::string content_sha256;           // S3: the lower-hex SHA-256 the body must have
  std::uint64_t traffic_limit_bits = 0;  // x-oss-traffic-limit: the body moves no faster (0: no limit)
};

// A reply before it is framed.
struct reply {
  int status = 200;
  oss::detail::http::fields headers;
  std::string body;
  // GetObject: the bytes to stream after the head, from `offset`.
  std::optional<object_reader> object;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // Content-Length when it is not body.size(): the streamed length, or HEAD's object size.
  std::optional<std::uint64_t> content_length;
};

// Thread-safe: connections on several threads share one handler.
class request_handler {
 public:
  // Opens (creates) the store under `root`. Throws std::invalid_argument for an unusable
  // configuration (half-set credentials, an invalid name in `buckets`) and std::system_error
  // when a bucket folder cannot be created.
  OSS_DECL request_handler(std::filesystem::path root, handler_config config);

  request_handler(const request_handler&) = delete;
  request_handler& operator=(const request_handler&) = delete;

  const handler_config& config() const noexcept { return config_; }
  bool s3() const noexcept { return config_.dialect == api_dialect::s3; }
  server_counters& counters() noexcept { return counters_; }
  const server_counters& counters() const noexcept { return counters_; }
  store& storage() noexcept { return store_; }

  OSS_DECL accepted_credentials credentials() const;
  // Both empty: anonymous. Throws std::invalid_argument when only one of id and secret is set.
  OSS_DECL void set_credentials(accepted_credentials c);

  // A fresh x-oss-request-id (24 upper-case hex digits, unique per server).
  OSS_DECL std::string next_request_id();

  // Phase 1. Counts the request and its operation, sets `rs` up for the body and execute(),
  // and returns the refusal, if any.
  OSS_DECL std::optional<server_error> admit(request_state& rs, const request_head& head);

  // Phase 3: the body is in (`body`: the buffered body when rs.writer is not set).
  OSS_DECL reply execute(request_state& rs, const request_head& head, std::string_view body);

  // The reply of an error: the error document (none for HEAD, which in OSS gets it Base64 in
  // x-oss-err instead), Content-Type, x-oss-ec.
  OSS_DECL reply error_reply(const request_state& rs, const server_error& e);

  // The status line and headers as sent: Server, Date and the request id (S3: x-amz-request-id
  // and x-amz-id-2), the reply's own headers, Content-Length (unless the status has no body)
  // and Connection. Counts the reply in `errors` when its status is 400 or more.
  OSS_DECL oss::detail::http::response response_head(const request_state& rs, const reply& rep, bool keep_alive);

  // The three phases at once for a request whose body is in memory, as unit tests drive it.
  // A GET's object bytes are read into `body`; a refusal is answered like the server does.
  struct exchange {
    oss::detail::http::response head;
    std::string body;
  };
  OSS_DECL exchange handle(const request_head& head, std::string_view body);

 private:
  OSS_DECL std::optional<server_error> check_content_sha256(request_state& rs, const request_head& head);
  OSS_DECL std::optional<server_error> finish_body(request_state& rs, const request_head& head);
  OSS_DECL std::string host_id(const request_state& rs) const;

  OSS_DECL reply put_object(request_state& rs, const request_head& head);
  OSS_DECL reply get_object(request_state& rs, const request_head& head);
  OSS_DECL reply delete_object(request_state& rs);
  OSS_DECL reply initiate(request_state& rs);
  OSS_DECL reply upload_part(request_state& rs, const request_head& head);
  OSS_DECL reply complete(request_state& rs, const request_head& head, std::string_view body);
  OSS_DECL reply abort(request_state& rs);
  OSS_DECL reply list_parts(request_state& rs);
  OSS_DECL reply list_uploads(request_state& rs);

  handler_config config_;
  store store_;
  server_counters counters_;
  std::set<std::string> allowed_buckets_;
  std::string request_id_prefix_;
  std::atomic<std::uint64_t> request_seq_{0};
  mutable std::mutex credentials_mutex_;
  accepted_credentials credentials_;
};

// S3's x-amz-id-2 (and the HostId of its error bodies): an opaque token per request, derived
// from the request id so that header and body agree.
OSS_DECL std::string s3_host_id(std::string_view request_id);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/handler.ipp>
#include <oss/testing/server/impl/operations.ipp>
#endif

#endif  // OSS_TESTING_SERVER_HANDLER_HPP
