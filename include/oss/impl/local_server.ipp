// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_LOCAL_SERVER_IPP
#define OSS_IMPL_LOCAL_SERVER_IPP

#include <oss/testing/local_server.hpp>

#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/documents.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/sign.hpp>
#include <oss/detail/sign_s3.hpp>
#include <oss/error.hpp>
#include <oss/testing/detail/routing.hpp>
#include <oss/testing/detail/store.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>

namespace oss::testing {
namespace detail {

namespace http = oss::detail::http;
using asio::experimental::as_tuple;

// Limits that keep one misbehaving client from exhausting the server.
constexpr std::size_t max_header_bytes = 64 * 1024;
constexpr std::uint64_t max_xml_body = 4 * 1024 * 1024;          // Complete lists 10 000 parts in ~1 MiB
constexpr std::uint64_t max_object_size = 5ull * 1024 * 1024 * 1024;  // PutObject and UploadPart
constexpr std::size_t max_meta_bytes = 8 * 1024;                  // all x-oss-meta-* names + values
constexpr std::size_t max_s3_meta_bytes = 2 * 1024;               // all x-amz-meta-* (S3's limit)
constexpr std::uint64_t s3_min_part_size = 5ull * 1024 * 1024;
constexpr std::size_t io_chunk = 256 * 1024;
constexpr auto linger_timeout = std::chrono::seconds(2);

// ---------------------------------------------------------------------------------------------
// Error replies

struct server_error {
  int status = 500;
  server_errc code = server_errc::internal_error;
  std::string code_text;  // overrides server_errc_code(code) for codes the enum lacks (InvalidRange)
  std::string message;
  std::string ec;
  std::vector<std::pair<std::string, std::string>> extra;  // elements after HostId (UploadId, ...)
};

// Status, default Message and EC of each code. The EC values OSS documents are used
// (oss-protocol.md 5.1 and the EC pages); codes without a documented EC get a local
// "9999-..." value, since clients must not build logic on EC anyway.
inline server_error make_error(server_errc code, std::string message = {}, std::string ec = {}) {
  struct entry {
    server_errc code;
    int status;
    const char* message;
    const char* ec;
  };
  static constexpr entry table[] = {
      {server_errc::no_such_upload, 404,
       "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
       "0042-00000203"},
      {server_errc::invalid_part, 400,
       "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
       "0042-00000207"},
      {server_errc::invalid_part_order, 400,
       "The list of parts was not in ascending order. Parts list must be specified in order by part number.",
       "0042-00000209"},
      {server_errc::entity_too_small, 400, "Your proposed upload is smaller than the minimum allowed size.", "0042-00000213"},
      {server_errc::entity_too_large, 400, "Your proposed upload exceeds the maximum allowed size.", "9999-00000001"},
      {server_errc::file_already_exists, 409, "The object you specified already exists and can not be overwritten.",
       "0042-00000214"},
      {server_errc::signature_does_not_match, 403,
       "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
       "0002-00000040"},
      {server_errc::access_denied, 403, "You have no right to access this object.", "0003-00000001"},
      {server_errc::invalid_access_key_id, 403, "The OSS Access Key Id you provided does not exist in our records.",
       "0002-00000902"},
      {server_errc::invalid_security_token, 403, "The security token you provided is invalid.", "0002-00000908"},
      {server_errc::request_time_too_skewed, 403,
       "The difference between the request time and the current time is too large.", "0002-00000504"},
      {server_errc::no_such_bucket, 404, "The specified bucket does not exist.", "0015-00000101"},
      {server_errc::no_such_key, 404, "The specified key does not exist.", "0026-00000001"},
      {server_errc::missing_content_length, 411, "You must provide the Content-Length HTTP header.", "9999-00000002"},
      {server_errc::invalid_digest, 400, "The Content-MD5 you specified was invalid.", "9999-00000003"},
      {server_errc::internal_error, 500, "We encountered an internal error. Please try again.", "9999-00000004"},
      {server_errc::invalid_argument, 400, "Invalid argument.", "9999-00000005"},
      {server_errc::invalid_object_name, 400, "The specified object is not valid.", "0016-00000005"},
      {server_errc::invalid_bucket_name, 400, "The specified bucket is not valid.", "9999-00000006"},
      {server_errc::method_not_allowed, 405, "The specified method is not allowed against this resource.", "9999-00000007"},
      {server_errc::not_implemented, 501, "The local server does not implement this operation.", "9999-00000008"},
      {server_errc::malformed_xml, 400,
       "The XML you provided was not well-formed or did not validate against our published schema.", "9999-00000009"},
      {server_errc::invalid_request, 400, "The request is not a valid HTTP/1.1 request.", "9999-00000010"},
  };
  server_error e;
  e.code = code;
  for (const auto& t : table) {
    if (t.code != code) continue;
    e.status = t.status;
    e.message = t.message;
    e.ec = t.ec;
  }
  if (!message.empty()) e.message = std::move(message);
  if (!ec.empty()) e.ec = std::move(ec);
  return e;
}

inline server_error from_error_code(std::error_code ec, std::string message = {}) {
  if (ec.category() == server_category()) return make_error(static_cast<server_errc>(ec.value()), std::move(message));
  return make_error(server_errc::internal_error);
}

// ---------------------------------------------------------------------------------------------
// Counters

// The client sent FIN or RST (data it sent before may still be queued).
inline bool peer_gone(int fd) noexcept {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// The in-flight slot of one request. `released` is set by whoever gives the slot back first:
// the end of the request, or a newer request that finds this one abandoned (see enter()).
struct request_slot {
  int fd = -1;
  std::atomic<bool> released{true};
};

struct server_counters {
  std::atomic<std::uint64_t> requests{0}, errors{0}, connections{0}, in_flight{0}, peak_in_flight{0},
      bytes_received{0}, bytes_sent{0}, parts_uploaded{0}, faults_injected{0}, max_part_attempts{0};
  std::array<std::atomic<std::uint64_t>, 12> operations{};

  // Requests held by a delay or stall fault. A client that timed out closed their connection
  // before it sent its retry, so by the time the retry's head is parsed the kernel has that FIN:
  // enter() gives such slots back first, and in_flight counts what the client really has open.
  std::mutex paused_mutex;
  std::set<request_slot*> paused;

  void pause(request_slot* slot) {
    std::lock_guard lock(paused_mutex);
    paused.insert(slot);
  }
  void resume(request_slot* slot) {
    std::lock_guard lock(paused_mutex);
    paused.erase(slot);
  }
  void leave(request_slot& slot) noexcept {
    if (!slot.released.exchange(true)) --in_flight;
  }

  void enter(request_slot& slot) noexcept {
    {
      std::lock_guard lock(paused_mutex);
      for (request_slot* p : paused)
        if (peer_gone(p->fd)) leave(*p);
    }
    slot.released.store(false);
    auto now = ++in_flight;
    auto peak = peak_in_flight.load(std::memory_order_relaxed);
    while (now > peak && !peak_in_flight.compare_exchange_weak(peak, now)) {
    }
  }
};

// ---------------------------------------------------------------------------------------------
// One request as the server sees it

struct request_state {
  std::string method;
  std::string target;
  std::string host;        // Host header value (may be empty)
  std::string request_id;
  bool head = false;       // HEAD: the reply has no body
  route r;
  operation op = operation::unknown;

  // Set by admission for the operations that need them.
  int part_number = 0;
  std::string upload_id;
  header_list object_headers;
  bool forbid_overwrite = false;
  std::unique_ptr<body_writer> writer;  // PutObject / UploadPart bodies
  // S3: the x-amz-content-sha256 the body must hash to (lower hex), when the client sent one.
  std::string content_sha256;
};

struct reply {
  int status = 200;
  http::fields headers;
  std::string body;
  // GetObject: the bytes to stream after the head.
  std::optional<object_reader> object;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // Content-Length when it is not body.size(): the streamed length, or HEAD's object size.
  std::optional<std::uint64_t> content_length;
};

// Asio opens sockets without SOCK_CLOEXEC, so a child process spawned by the program under test
// would inherit the listening socket (keeping the port bound after the server stops) and
// accepted connections (keeping them open after the server closes them).
inline void set_close_on_exec(int fd) noexcept {
  if (fd < 0) return;
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// A fault rule with its bookkeeping (see fault_rule in local_server.hpp).
struct fault_state {
  fault_rule rule;
  bool any_operation = true;
  operation op = operation::unknown;
  std::uint64_t matched = 0;
  std::uint64_t fired = 0;
};

inline operation operation_from_name(std::string_view name) {
  for (int i = static_cast<int>(operation::put_object); i <= static_cast<int>(operation::put_bucket); ++i) {
    auto op = static_cast<operation>(i);
    if (operation_name(op) == name) return op;
  }
  return operation::unknown;
}

// The OSS error a fault rule sends (error_reply, error_in_200).
inline server_error fault_error(const fault_rule& rule) {
  server_error e;
  e.code = server_errc_from_code(rule.code);
  e.code_text = rule.code;
  e.status = rule.action == fault_action::error_in_200 ? 200 : rule.status;
  e.message = rule.message.empty() ? "Injected by the local server's fault plan." : rule.message;
  e.ec = "9999-00000099";
  if (rule.code == "RequestTimeTooSkewed") {
    auto now = std::chrono::system_clock::now();
    e.extra.emplace_back("RequestTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("ServerTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("MaxAllowedSkewMilliseconds", "900000");
  }
  return e;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Request headers that direct the operation rather than describe the object; they are not
// stored with it (oss-protocol.md 2.1 and 3.1).
inline bool is_request_directive(std::string_view lname) {
  static constexpr std::string_view names[] = {
      "x-oss-date", "x-oss-content-sha256", "x-oss-security-token", "x-oss-forbid-overwrite",
      "x-oss-complete-all", "x-oss-callback", "x-oss-callback-var", "x-oss-request-payer",
      "x-oss-traffic-limit", "x-oss-expires", "x-oss-signature", "x-oss-signature-version",
      "x-oss-credential", "x-oss-additional-headers", "x-oss-hash-crc64ecma"};
  for (auto n : names)
    if (lname == n) return true;
  return lname.starts_with("x-oss-copy-source");
}

// The object headers of a PutObject or InitiateMultipartUpload request.
inline std::optional<server_error> collect_s3_object_headers(const http::fields& headers, header_list& out);

inline std::optional<server_error> collect_object_headers(const http::fields& headers, header_list& out,
                                                          bool& forbid_overwrite, api_dialect dialect) {
  if (dialect == api_dialect::s3) return collect_s3_object_headers(headers, out);
  static constexpr std::string_view standard[] = {"Content-Type", "Cache-Control", "Content-Disposition",
                                                  "Content-Encoding", "Content-Language", "Expires"};
  std::size_t meta_bytes = 0;
  bool has_type = false;
  std::set<std::string> seen;
  for (const auto& f : headers) {
    std::string name = lower(f.name);
    if (!seen.insert(name).second) continue;  // the first of repeated headers wins
    bool is_standard = false;
    for (auto s : standard) {
      if (http::iequals(name, s)) {
        out.emplace_back(std::string(s), f.value);
        is_standard = true;
        has_type = has_type || s == "Content-Type";
      }
    }
    if (is_standard) continue;
    if (name == "x-oss-forbid-overwrite") {
      forbid_overwrite = http::iequals(f.value, "true");
    } else if (name.starts_with("x-oss-meta-")) {
      std::string_view suffix = std::string_view(name).substr(11);
      bool ok = !suffix.empty();
      for (char c : suffix) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
      if (!ok)
        return make_error(server_errc::invalid_argument,
                          "User metadata names may only contain letters, digits and '-': " + std::string(f.name) + ".",
                          "0011-00000004");
      meta_bytes += suffix.size() + f.value.size();
      out.emplace_back(name, f.value);
    } else if (name.starts_with("x-oss-") && !is_request_directive(name)) {
      out.emplace_back(name, f.value);
    }
  }
  if (meta_bytes > max_meta_bytes)
    return make_error(server_errc::invalid_argument, "User metadata must not exceed 8 KB in total.", "0011-00000002");
  if (!has_type) out.emplace_back("Content-Type", "application/octet-stream");
  return std::nullopt;
}

// S3: the standard object headers, x-amz-meta-* and the x-amz-* settings S3 keeps with an
// object; other x-amz-* headers steer the request (date, payload hash, token, checksums).
inline std::optional<server_error> collect_s3_object_headers(const http::fields& headers, header_list& out) {
  static constexpr std::string_view standard[] = {"Content-Type", "Cache-Control", "Content-Disposition",
                                                  "Content-Encoding", "Content-Language", "Expires"};
  static constexpr std::string_view kept[] = {
      "x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
      "x-amz-server-side-encryption-context", "x-amz-tagging", "x-amz-website-redirect-location",
      "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold", "x-amz-acl"};
  std::size_t meta_bytes = 0;
  bool has_type = false;
  std::set<std::string> seen;
  for (const auto& f : headers) {
    std::string name = lower(f.name);
    if (!seen.insert(name).second) continue;
    bool is_standard = false;
    for (auto s : standard) {
      if (http::iequals(name, s)) {
        out.emplace_back(std::string(s), f.value);
        is_standard = true;
        has_type = has_type || s == "Content-Type";
      }
    }
    if (is_standard) continue;
    if (name.starts_with("x-amz-meta-")) {
      std::string_view suffix = std::string_view(name).substr(11);
      bool ok = !suffix.empty();
      for (char c : suffix)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
      if (!ok) {
        auto e = make_error(server_errc::invalid_argument,
                            "User metadata names may only contain letters, digits, '-', '_' and '.': " +
                                std::string(f.name) + ".");
        return e;
      }
      meta_bytes += suffix.size() + f.value.size();
      out.emplace_back(name, f.value);
    } else if (std::find(std::begin(kept), std::end(kept), name) != std::end(kept)) {
      out.emplace_back(name, f.value);
    }
  }
  if (meta_bytes > max_s3_meta_bytes) {
    auto e = make_error(server_errc::invalid_argument,
                        "Your metadata headers exceed the maximum allowed metadata size.");
    e.code_text = "MetadataTooLarge";
    e.extra.emplace_back("Size", std::to_string(meta_bytes));
    e.extra.emplace_back("MaxSizeAllowed", std::to_string(max_s3_meta_bytes));
    return e;
  }
  if (!has_type) out.emplace_back("Content-Type", "application/octet-stream");
  return std::nullopt;
}

inline const std::string* find_header(const header_list& h, std::string_view name) {
  for (const auto& [n, v] : h)
    if (http::iequals(n, name)) return &v;
  return nullptr;
}

// S3's HEAD and GET: the standard headers and what collect_s3_object_headers kept; no CRC, no
// object type, no Content-MD5.
inline void add_s3_object_headers(reply& rep, const object_info& o) {
  const std::string* type = find_header(o.headers, "Content-Type");
  rep.headers.set("Content-Type", type ? *type : "application/octet-stream");
  rep.headers.set("ETag", o.etag);
  rep.headers.set("Last-Modified", oss::detail::http_date(std::chrono::system_clock::time_point(
                                       std::chrono::milliseconds(o.last_modified_ms))));
  rep.headers.set("Accept-Ranges", "bytes");
  for (const auto& [name, value] : o.headers) {
    if (name == "Content-Type" || name == "x-amz-acl") continue;
    // An object written in OSS mode and read back in S3 mode keeps its OSS names out of sight.
    if (http::iequals(std::string_view(name).substr(0, std::min<std::size_t>(name.size(), 6)), "x-oss-")) continue;
    if (name == "x-amz-tagging") {
      rep.headers.set("x-amz-tagging-count", std::to_string(1 + std::count(value.begin(), value.end(), '&')));
      continue;
    }
    rep.headers.set(name, value);
  }
}

// The headers HEAD and GET return for an object.
inline void add_object_headers(reply& rep, const object_info& o) {
  const std::string* type = find_header(o.headers, "Content-Type");
  rep.headers.set("Content-Type", type ? *type : "application/octet-stream");
  rep.headers.set("ETag", o.etag);
  rep.headers.set("Last-Modified", oss::detail::http_date(std::chrono::system_clock::time_point(
                                       std::chrono::milliseconds(o.last_modified_ms))));
  rep.headers.set("Accept-Ranges", "bytes");
  rep.headers.set("x-oss-object-type", o.object_type);
  rep.headers.set("x-oss-hash-crc64ecma", std::to_string(o.crc64));
  if (!o.content_md5.empty()) rep.headers.set("Content-MD5", o.content_md5);
  bool has_storage_class = false;
  for (const auto& [name, value] : o.headers) {
    if (name == "Content-Type") continue;
    if (name == "x-oss-tagging") {
      rep.headers.set("x-oss-tagging-count", std::to_string(1 + std::count(value.begin(), value.end(), '&')));
      continue;
    }
    if (name == "x-oss-object-acl") continue;
    has_storage_class = has_storage_class || name == "x-oss-storage-class";
    rep.headers.set(name, value);
  }
  if (!has_storage_class) rep.headers.set("x-oss-storage-class", "Standard");
}

inline std::string iso_time_ms(std::int64_t ms) {
  return oss::detail::iso8601_extended(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

class server_connection;

// ---------------------------------------------------------------------------------------------
// The shared state of one server

class local_server_impl : public std::enable_shared_from_this<local_server_impl> {
 public:
  local_server_impl(asio::any_io_executor executor, local_server_options options)
      : options_(std::move(options)),
        executor_(std::move(executor)),
        store_(validated_root(options_), options_.discard, rules_for(options_.dialect)),
        acceptor_(asio::any_io_executor(asio::make_strand(executor_))) {
    if (options_.access_key_id.empty() != options_.access_key_secret.empty())
      throw std::invalid_argument("local_server: set both access_key_id and access_key_secret, or neither");
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
      throw std::invalid_argument("local_server: set both tls_cert_file and tls_key_file, or neither");
    for (const auto& b : options_.buckets) {
      if (!oss::detail::is_valid_bucket_name(b, options_.dialect))
        throw std::invalid_argument("local_server: invalid bucket name: " + b);
      allowed_buckets_.insert(b);
    }
    for (const auto& b : allowed_buckets_) {
      if (auto ec = store_.ensure_bucket(b)) throw std::system_error(ec, "local_server: cannot create bucket " + b);
    }
    if (!options_.tls_cert_file.empty()) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
      tls_->use_certificate_chain_file(options_.tls_cert_file);
      tls_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem);
    }

    asio::error_code ec;
    auto address = asio::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
    if (ec) throw std::invalid_argument("local_server: host must be an IP address (or localhost): " + options_.host);
    asio::ip::tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol());
    set_close_on_exec(acceptor_.native_handle());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();

    std::random_device rd;
    std::uint32_t prefix = rd();
    request_id_prefix_ = oss::detail::hex_upper(&prefix, sizeof prefix);
    request_seq_ = (static_cast<std::uint64_t>(rd()) << 16) & 0xFFFFFFFFFF0000ull;
    credentials_ = {options_.access_key_id, options_.access_key_secret, options_.security_token};
  }

  void start() {
    if (started_.exchange(true)) throw std::logic_error("local_server::start called twice");
    asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()), asio::detached);
  }

  OSS_DECL void stop();

  std::string endpoint() const {
    std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
    return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_);
  }

  local_server_stats stats() const noexcept {
    local_server_stats s;
    auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    s.requests = get(counters_.requests);
    s.errors = get(counters_.errors);
    s.connections = get(counters_.connections);
    s.put_object = get(counters_.operations[static_cast<int>(operation::put_object)]);
    s.get_object = get(counters_.operations[static_cast<int>(operation::get_object)]);
    s.head_object = get(counters_.operations[static_cast<int>(operation::head_object)]);
    s.delete_object = get(counters_.operations[static_cast<int>(operation::delete_object)]);
    s.initiate_multipart_upload = get(counters_.operations[static_cast<int>(operation::initiate_multipart_upload)]);
    s.upload_part = get(counters_.operations[static_cast<int>(operation::upload_part)]);
    s.complete_multipart_upload = get(counters_.operations[static_cast<int>(operation::complete_multipart_upload)]);
    s.abort_multipart_upload = get(counters_.operations[static_cast<int>(operation::abort_multipart_upload)]);
    s.list_parts = get(counters_.operations[static_cast<int>(operation::list_parts)]);
    s.list_multipart_uploads = get(counters_.operations[static_cast<int>(operation::list_multipart_uploads)]);
    s.in_flight = get(counters_.in_flight);
    s.peak_in_flight = get(counters_.peak_in_flight);
    s.bytes_received = get(counters_.bytes_received);
    s.bytes_sent = get(counters_.bytes_sent);
    s.parts_uploaded = get(counters_.parts_uploaded);
    s.faults_injected = get(counters_.faults_injected);
    s.max_part_attempts = get(counters_.max_part_attempts);
    return s;
  }

  struct accepted_credentials {
    std::string id, secret, token;
  };

  accepted_credentials credentials() const {
    std::lock_guard lock(credentials_mutex_);
    return credentials_;
  }

  void set_credentials(accepted_credentials c) {
    if (c.id.empty() != c.secret.empty())
      throw std::invalid_argument("local_server::set_credentials: set both access_key_id and access_key_secret, or neither");
    std::lock_guard lock(credentials_mutex_);
    credentials_ = std::move(c);
  }

  void set_fault_plan(std::vector<fault_rule> rules) {
    std::vector<fault_state> plan;
    for (auto& r : rules) {
      fault_state st;
      st.any_operation = r.operation.empty() || r.operation == "*" || r.operation == "any";
      if (!st.any_operation) {
        st.op = operation_from_name(r.operation);
        if (st.op == operation::unknown)
          throw std::invalid_argument("local_server::set_fault_plan: unknown operation name: " + r.operation);
      }
      st.rule = std::move(r);
      plan.push_back(std::move(st));
    }
    std::lock_guard lock(faults_mutex_);
    plan_ = std::move(plan);
  }

  std::map<int, std::uint64_t> part_attempts() const {
    std::lock_guard lock(faults_mutex_);
    return part_attempts_;
  }

  // Called once per admitted request: counts the part attempt and picks the rule that fires.
  std::optional<fault_rule> decide_fault(operation op, int part_number) {
    std::lock_guard lock(faults_mutex_);
    std::uint64_t attempt = 0;
    if (op == operation::upload_part && part_number > 0) {
      attempt = ++part_attempts_[part_number];
      auto peak = counters_.max_part_attempts.load();
      while (attempt > peak && !counters_.max_part_attempts.compare_exchange_weak(peak, attempt)) {
      }
    }
    std::optional<fault_rule> chosen;
    for (auto& st : plan_) {
      if (!st.any_operation && st.op != op) continue;
      if (st.rule.part_number != 0 && st.rule.part_number != part_number) continue;
      ++st.matched;
      if (chosen) continue;
      if (st.matched < std::max<std::uint64_t>(st.rule.nth, 1)) continue;
      if (st.rule.times != 0 && st.fired >= st.rule.times) continue;
      if (st.rule.attempt != 0 && (op != operation::upload_part || attempt < st.rule.attempt)) continue;
      ++st.fired;
      chosen = st.rule;
    }
    if (chosen) ++counters_.faults_injected;
    return chosen;
  }

  void reset_stats() noexcept {
    for (auto* a : {&counters_.requests, &counters_.errors, &counters_.connections, &counters_.bytes_received,
                    &counters_.bytes_sent, &counters_.parts_uploaded})
      a->store(0);
    for (auto& a : counters_.operations) a.store(0);
    counters_.peak_in_flight.store(counters_.in_flight.load());
    std::lock_guard lock(faults_mutex_);
    part_attempts_.clear();
    counters_.faults_injected.store(0);
    counters_.max_part_attempts.store(0);
  }

  std::string next_request_id() {
    char digits[17];
    std::snprintf(digits, sizeof digits, "%016llX", static_cast<unsigned long long>(++request_seq_));
    return request_id_prefix_ + digits;
  }

  // false once stop() ran: the caller must drop the connection (stop() would never close it).
  bool add_connection(const std::shared_ptr<server_connection>& c) {
    std::lock_guard lock(connections_mutex_);
    if (stopped_.load()) return false;
    connections_[c.get()] = c;
    return true;
  }
  void remove_connection(server_connection* c) {
    std::lock_guard lock(connections_mutex_);
    connections_.erase(c);
  }

  bool stopped() const noexcept { return stopped_.load(); }
  bool s3() const noexcept { return options_.dialect == api_dialect::s3; }

  // S3's x-amz-id-2 (and the HostId of its error bodies): an opaque token per request, derived
  // from the request id so that header and body agree.
  static std::string s3_host_id(std::string_view request_id) {
    auto d = oss::detail::sha256(request_id);
    return oss::detail::base64_encode(d.data(), d.size());
  }

  // Request handling (definitions below the connection class).
  OSS_DECL std::optional<server_error> admit(request_state& rs, const http::message_parser& parser);
  OSS_DECL std::optional<server_error> authenticate(const request_state& rs, const http::fields& headers);
  OSS_DECL std::optional<server_error> authenticate_s3(const request_state& rs, const http::fields& headers);
  OSS_DECL std::optional<server_error> check_content_sha256(request_state& rs, const http::fields& headers);
  OSS_DECL reply execute(request_state& rs, http::message_parser& parser);
  OSS_DECL reply error_reply(const request_state& rs, const server_error& e);

  local_server_options options_;
  asio::any_io_executor executor_;
  store store_;
  std::unique_ptr<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  server_counters counters_;

 private:
  static store_rules rules_for(api_dialect dialect) {
    store_rules rules;
    if (dialect == api_dialect::s3) {
      rules.min_part_size = s3_min_part_size;
      rules.lower_case_etags = true;
    }
    return rules;
  }

  static std::filesystem::path validated_root(const local_server_options& o) {
    if (o.root.empty()) throw std::invalid_argument("local_server: options.root must name a directory");
    return o.root;
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<local_server_impl> self);

  reply put_object(request_state& rs, http::message_parser& parser);
  reply get_object(request_state& rs, const http::fields& headers, bool head);
  reply initiate(request_state& rs, const http::fields& headers);
  reply upload_part(request_state& rs, const http::fields& headers);
  reply complete(request_state& rs, http::message_parser& parser);
  reply list_parts(request_state& rs);
  reply list_uploads(request_state& rs);

  std::set<std::string> allowed_buckets_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::mutex connections_mutex_;
  std::map<server_connection*, std::weak_ptr<server_connection>> connections_;
  std::string request_id_prefix_;
  std::atomic<std::uint64_t> request_seq_{0};
  mutable std::mutex credentials_mutex_;
  accepted_credentials credentials_;
  mutable std::mutex faults_mutex_;
  std::vector<fault_state> plan_;
  std::map<int, std::uint64_t> part_attempts_;
};

// ---------------------------------------------------------------------------------------------
// One connection: a keep-alive loop of parse head -> admit -> body -> execute -> reply.

class server_connection : public std::enable_shared_from_this<server_connection> {
 public:
  server_connection(std::shared_ptr<local_server_impl> server, asio::ip::tcp::socket socket)
      : server_(std::move(server)), executor_(socket.get_executor()), fault_timer_(executor_), buffer_(io_chunk) {
    if (server_->tls_)
      tls_.emplace(std::move(socket), *server_->tls_);
    else
      plain_.emplace(std::move(socket));
  }
  server_connection(const server_connection&) = delete;
  server_connection& operator=(const server_connection&) = delete;
  ~server_connection() { server_->remove_connection(this); }

  const asio::any_io_executor& get_executor() const noexcept { return executor_; }

  // Runs on the connection's strand.
  void close() {
    std::error_code ignored;
    fault_timer_.cancel();
    server_->counters_.resume(&slot_);  // never poll a descriptor number after its close
    // The client may react to the close at once (retry elsewhere): leave in_flight first.
    server_->counters_.leave(slot_);
    socket().close(ignored);
  }

  // A TCP reset instead of an orderly close: what a crashed peer or a middlebox produces.
  void reset() {
    std::error_code ignored;
    fault_timer_.cancel();
    server_->counters_.resume(&slot_);
    server_->counters_.leave(slot_);
    socket().set_option(asio::socket_base::linger(true, 0), ignored);
    socket().close(ignored);
  }

  static asio::awaitable<void> run(std::shared_ptr<server_connection> self) {
    try {
      co_await self->serve();
    } catch (const std::exception&) {
      // A bug or an allocation failure in one connection must not take the server down.
    }
    self->close();
  }

 private:
  enum class body_status { complete, malformed, too_large, closed, paused };
  static constexpr std::uint64_t no_limit = ~std::uint64_t{0};

  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  std::string_view pending() const noexcept { return {buffer_.data() + begin_, end_ - begin_}; }

  asio::awaitable<void> serve();
  asio::awaitable<void> read_more(std::error_code& ec);
  asio::awaitable<void> write(const std::vector<asio::const_buffer>& buffers, std::error_code& ec);
  asio::awaitable<body_status> read_body(http::message_parser& parser, std::uint64_t stop_after = no_limit);
  asio::awaitable<void> send(const request_state& rs, reply& rep, bool keep_alive, std::error_code& ec,
                             std::uint64_t body_limit = no_limit);
  asio::awaitable<bool> pause(std::chrono::milliseconds duration);
  asio::awaitable<void> wait_timer();
  asio::awaitable<void> wait_readable();
  asio::awaitable<bool> faulted_body(const fault_rule& fault, http::message_parser& parser);
  void alter_reply(const fault_rule& fault, const request_state& rs, reply& rep);
  asio::awaitable<void> reject(const http::message_parser& parser, std::error_code parse_error);
  asio::awaitable<void> linger();

  std::shared_ptr<local_server_impl> server_;
  asio::any_io_executor executor_;
  asio::steady_timer fault_timer_;  // delay and stall; close() cancels it
  request_slot slot_;                // the current request's in-flight slot
  std::optional<asio::ip::tcp::socket> plain_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // bytes in buffer_[begin_, end_) are read but not yet parsed
  std::size_t end_ = 0;
};

struct in_flight_guard {
  server_counters& counters;
  request_slot& slot;
  in_flight_guard(server_counters& c, request_slot& s) : counters(c), slot(s) { counters.enter(slot); }
  in_flight_guard(const in_flight_guard&) = delete;
  in_flight_guard& operator=(const in_flight_guard&) = delete;
  ~in_flight_guard() { counters.leave(slot); }
};

inline asio::awaitable<void> server_connection::read_more(std::error_code& ec) {
  begin_ = end_ = 0;
  std::size_t n = 0;
  auto buf = asio::buffer(buffer_);
  if (tls_)
    std::tie(ec, n) = co_await tls_->async_read_some(buf, as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await plain_->async_read_some(buf, as_tuple(asio::use_awaitable));
  end_ = n;
}

inline asio::awaitable<void> server_connection::write(const std::vector<asio::const_buffer>& buffers,
                                                      std::error_code& ec) {
  std::size_t n = 0;
  if (tls_)
    std::tie(ec, n) = co_await asio::async_write(*tls_, buffers, as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await asio::async_write(*plain_, buffers, as_tuple(asio::use_awaitable));
}

// `stop_after`: return `paused` once that many body bytes (as sent, framing included) were fed.
inline asio::awaitable<server_connection::body_status> server_connection::read_body(http::message_parser& parser,
                                                                                    std::uint64_t stop_after) {
  std::error_code ec;
  std::uint64_t fed = 0;
  while (!parser.done()) {
    if (fed >= stop_after) co_return body_status::paused;
    if (begin_ == end_) {
      co_await read_more(ec);
      if (ec) co_return body_status::closed;
    }
    std::string_view piece = pending();
    if (piece.size() > stop_after - fed) piece = piece.substr(0, static_cast<std::size_t>(stop_after - fed));
    const std::size_t used = parser.feed(piece, ec);
    begin_ += used;
    fed += used;
    if (ec) co_return ec == client_errc::response_too_large ? body_status::too_large : body_status::malformed;
  }
  co_return body_status::complete;
}

inline asio::awaitable<void> server_connection::wait_timer() {
  co_await fault_timer_.async_wait(as_tuple(asio::use_awaitable));
}

inline asio::awaitable<void> server_connection::wait_readable() {
  co_await socket().async_wait(asio::socket_base::wait_read, as_tuple(asio::use_awaitable));
}

// delay and stall: nothing moves for `duration`, but a client that gives up (its stall timeout)
// ends the pause at once, so an abandoned request stops counting as in flight before the
// client's retry arrives. While pausing, SO_RCVLOWAT keeps queued request bytes from making
// the socket readable: only FIN or RST do. false: the client is gone (or stop() closed us).
inline asio::awaitable<bool> server_connection::pause(std::chrono::milliseconds duration) {
  using namespace asio::experimental::awaitable_operators;
  const int fd = socket().native_handle();
  int never = 1 << 30;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &never, sizeof never);
  const auto deadline = std::chrono::steady_clock::now() + duration;
  server_->counters_.pause(&slot_);
  bool gone = false;
  while (!gone && socket().is_open() && std::chrono::steady_clock::now() < deadline) {
    fault_timer_.expires_at(deadline);
    auto raced = co_await (wait_timer() || wait_readable());
    if (raced.index() == 0 || !socket().is_open()) break;  // the time is up, or stop() closed us
    gone = peer_gone(fd);
    if (gone) break;
    // Readable although the client is there (a full receive window, or readiness the reactor
    // remembered): look again every few milliseconds instead of spinning on it.
    fault_timer_.expires_after(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(5), deadline - std::chrono::steady_clock::now()));
    co_await wait_timer();
    gone = socket().is_open() && peer_gone(fd);
  }
  server_->counters_.resume(&slot_);
  int one = 1;
  if (socket().is_open()) ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  co_return !gone && socket().is_open();
}

// The body phase of stall and reset_during_body. false: the connection is finished with.
inline asio::awaitable<bool> server_connection::faulted_body(const fault_rule& fault, http::message_parser& parser) {
  auto status = co_await read_body(parser, fault.after_bytes);
  if (fault.action == fault_action::reset_during_body) {
    server_->counters_.bytes_received += parser.body_bytes();
    reset();
    co_return false;
  }
  if (status == body_status::paused || status == body_status::complete) {
    bool still_there = co_await pause(fault.duration);
    if (!still_there) {
      server_->counters_.bytes_received += parser.body_bytes();
      close();
      co_return false;
    }
  }
  co_return true;
}

inline void server_connection::alter_reply(const fault_rule& fault, const request_state& rs, reply& rep) {
  switch (fault.action) {
    case fault_action::error_reply:
    case fault_action::error_in_200:
      rep = server_->error_reply(rs, fault_error(fault));
      break;
    case fault_action::missing_etag:
      rep.headers.erase("ETag");
      break;
    case fault_action::wrong_crc64: {
      std::uint64_t crc = 0;
      if (const std::string* v = rep.headers.find("x-oss-hash-crc64ecma"))
        if (auto n = parse_decimal(*v)) crc = *n;
      rep.headers.set("x-oss-hash-crc64ecma", std::to_string(crc ^ 1));
      break;
    }
    case fault_action::garbage_body:
      rep.body = "}}garbage<<< \x01 this is not XML <";
      rep.object.reset();
      rep.content_length.reset();
      break;
    default:
      break;
  }
}

// Closing right after the last reply would turn unread request bytes into a TCP reset, which
// can destroy the reply before the client reads it. So: stop sending, read and drop whatever
// the client still sends until it closes (bounded by a timer), then close.
inline asio::awaitable<void> server_connection::linger() {
  std::error_code ec;
  auto& s = socket();
  s.shutdown(asio::socket_base::shutdown_send, ec);
  if (!ec) {
    asio::steady_timer timer(executor_, linger_timeout);
    auto self = shared_from_this();
    auto on_timeout = [self](std::error_code e) {
      if (!e) self->close();
    };
    timer.async_wait(on_timeout);
    std::vector<char> sink(16 * 1024);
    std::size_t n = 0;
    do {
      std::tie(ec, n) = co_await s.async_read_some(asio::buffer(sink), as_tuple(asio::use_awaitable));
    } while (!ec);
    timer.cancel();
  }
  close();
}

// `body_limit`: send only that many body bytes (at most all but one), for truncated_reply.
inline asio::awaitable<void> server_connection::send(const request_state& rs, reply& rep, bool keep_alive,
                                                     std::error_code& ec, std::uint64_t body_limit) {
  http::response res;
  res.status = rep.status;
  res.headers.set("Server", server_->s3() ? "AmazonS3" : "AliyunOSS");
  res.headers.set("Date", oss::detail::http_date(std::chrono::system_clock::now()));
  if (server_->s3()) {
    res.headers.set("x-amz-request-id", rs.request_id);
    res.headers.set("x-amz-id-2", local_server_impl::s3_host_id(rs.request_id));
  } else {
    res.headers.set("x-oss-request-id", rs.request_id);
  }
  for (const auto& f : rep.headers) res.headers.add(f.name, f.value);
  const bool bodiless_status = rep.status < 200 || rep.status == 204 || rep.status == 304;
  if (!bodiless_status)
    res.headers.set("Content-Length", std::to_string(rep.content_length ? *rep.content_length : rep.body.size()));
  res.headers.set("Connection", keep_alive ? "keep-alive" : "close");
  if (rep.status >= 400) ++server_->counters_.errors;

  const std::string head = http::serialize_head(res);
  const bool send_body = !rs.head && !bodiless_status;
  const bool has_body = send_body && (!rep.body.empty() || (rep.object && rep.object->file && rep.length > 0));
  if (body_limit != no_limit && !has_body) {
    // A truncated reply without a body: cut the head itself.
    std::vector<asio::const_buffer> half{asio::buffer(head.data(), head.size() / 2)};
    server_->counters_.leave(slot_);
    co_await write(half, ec);
    co_return;
  }
  std::vector<asio::const_buffer> buffers{asio::buffer(head)};
  std::size_t body_bytes = 0;
  if (send_body && !rep.body.empty()) {
    body_bytes = rep.body.size();
    if (body_limit != no_limit) body_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(body_limit, body_bytes - 1));
    buffers.push_back(asio::buffer(rep.body.data(), body_bytes));
  }
  const bool streaming = send_body && rep.object && rep.object->file && rep.length > 0;
  // The request leaves in_flight just before its reply's last write: once the client holds the
  // reply it may send its next request on another connection, possibly before this coroutine
  // resumes, and the server must not count both.
  if (!streaming) server_->counters_.leave(slot_);
  // Counted before the write for the same reason: a client holding the reply must see its
  // bytes in the stats (a test that resets the stats next would otherwise catch them late).
  if (send_body) server_->counters_.bytes_sent += body_bytes;
  co_await write(buffers, ec);
  if (ec) co_return;
  if (!send_body || !rep.object || !rep.object->file) co_return;

  // GetObject: stream the file. A file shorter than its record ends the connection mid-body,
  // so the client sees a truncated reply rather than wrong bytes.
  std::FILE* file = rep.object->file;
  if (std::fseek(file, static_cast<long>(rep.offset), SEEK_SET) != 0) {
    ec = std::make_error_code(std::errc::io_error);
    co_return;
  }
  std::vector<char> chunk(io_chunk);
  std::uint64_t left = rep.length;
  if (body_limit != no_limit && left > 0) left = std::min<std::uint64_t>(body_limit, left - 1);
  while (left > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    std::size_t got = std::fread(chunk.data(), 1, want, file);
    if (got == 0) {
      ec = std::make_error_code(std::errc::io_error);
      co_return;
    }
    std::vector<asio::const_buffer> piece{asio::buffer(chunk.data(), got)};
    if (got == left) server_->counters_.leave(slot_);
    server_->counters_.bytes_sent += got;
    co_await write(piece, ec);
    if (ec) co_return;
    left -= got;
  }
}

inline asio::awaitable<void> server_connection::reject(const http::message_parser& parser,
                                                       std::error_code parse_error) {
  request_state rs;
  rs.request_id = server_->next_request_id();
  rs.head = parser.header_done() && parser.method() == "HEAD";
  server_error e;
  if (parse_error == client_errc::response_too_large && !parser.header_done()) {
    e = make_error(server_errc::invalid_request, "The request header exceeds 64 KiB.");
    e.status = 431;
  } else if (parse_error == client_errc::response_too_large) {
    e = make_error(server_errc::invalid_argument, "The request body exceeds the 4 MiB this operation accepts.");
  } else {
    e = make_error(server_errc::invalid_request);
  }
  reply rep = server_->error_reply(rs, e);
  std::error_code ec;
  co_await send(rs, rep, false, ec);
  co_await linger();
}

inline asio::awaitable<void> server_connection::serve() {
  std::error_code ec;
  if (tls_) {
    std::tie(ec) = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  http::message_parser parser(http::parser_kind::request, http::parser_limits{max_header_bytes, max_xml_body});
  for (;;) {
    while (!parser.header_done()) {
      if (begin_ == end_) {
        co_await read_more(ec);
        if (ec) co_return;  // the client closed (or stop() did): nobody to answer
      }
      begin_ += parser.feed(pending(), ec);
      if (ec) {
        co_await reject(parser, ec);
        co_return;
      }
    }

    ++server_->counters_.requests;
    slot_.fd = socket().native_handle();
    in_flight_guard guard(server_->counters_, slot_);
    request_state rs;
    rs.method = parser.method();
    rs.target = parser.target();
    if (const std::string* host = parser.headers().find("host")) rs.host = *host;
    rs.request_id = server_->next_request_id();
    rs.head = rs.method == "HEAD";

    reply rep;
    bool keep_alive = parser.keep_alive();
    std::optional<server_error> error = server_->admit(rs, parser);
    std::optional<fault_rule> fault;
    if (!error) fault = server_->decide_fault(rs.op, rs.part_number);
    // An error fault that must not take effect is answered like a refused request.
    if (fault && !fault->apply_then_fail &&
        (fault->action == fault_action::error_reply || fault->action == fault_action::error_in_200)) {
      error = fault_error(*fault);
      fault.reset();
    }
    if (error) {
      rep = server_->error_reply(rs, *error);
      if (!parser.done()) {
        if (parser.expects_continue()) {
          // The client waits for a verdict before sending the body: refuse and close, so the
          // body it may still send is not taken for the next request.
          co_await send(rs, rep, false, ec);
          co_await linger();
          co_return;
        }
        // Drop the body so the connection stays usable for the next request.
        auto drop = [](std::string_view) {};
        parser.set_body_sink(drop);
        auto status = co_await read_body(parser);
        server_->counters_.bytes_received += parser.body_bytes();
        if (status == body_status::closed) co_return;
        if (status != body_status::complete) {
          co_await reject(parser, make_error_code(client_errc::malformed_response));
          co_return;
        }
      }
    } else {
      if (parser.expects_continue() && !parser.done()) {
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        std::vector<asio::const_buffer> interim{asio::buffer(continue_line)};
        co_await write(interim, ec);
        if (ec) co_return;
      }
      if (rs.writer) {
        body_writer* writer = rs.writer.get();
        auto sink = [writer](std::string_view bytes) { writer->write(bytes); };
        parser.set_body_sink(sink);
      }
      if (fault && (fault->action == fault_action::stall || fault->action == fault_action::reset_during_body)) {
        bool go_on = co_await faulted_body(*fault, parser);
        if (!go_on) co_return;
      }
      auto status = co_await read_body(parser);
      server_->counters_.bytes_received += parser.body_bytes();
      if (status == body_status::closed) co_return;
      if (status != body_status::complete) {
        std::error_code parse_error = status == body_status::too_large ? make_error_code(client_errc::response_too_large)
                                                                      : make_error_code(client_errc::malformed_response);
        co_await reject(parser, parse_error);
        co_return;
      }
      // close_before_reply without apply_then_fail models a reply lost before the work.
      if (!fault || fault->action != fault_action::close_before_reply || fault->apply_then_fail)
        rep = server_->execute(rs, parser);
      if (fault) {
        if (fault->action == fault_action::close_before_reply) {
          close();
          co_return;
        }
        alter_reply(*fault, rs, rep);
        if (fault->action == fault_action::delay) {
          bool still_there = co_await pause(fault->duration);
          if (!still_there) {
            close();
            co_return;
          }
        }
      }
    }

    keep_alive = keep_alive && !server_->stopped();
    if (fault && fault->action == fault_action::truncated_reply) {
      co_await send(rs, rep, false, ec, fault->after_bytes);
      close();
      co_return;
    }
    co_await send(rs, rep, keep_alive, ec);
    if (ec) co_return;
    if (!keep_alive) {
      co_await linger();
      co_return;
    }
    parser.reset();
  }
}

// ---------------------------------------------------------------------------------------------
// local_server_impl: accepting, stopping

inline asio::awaitable<void> local_server_impl::accept_loop(std::shared_ptr<local_server_impl> self) {
  for (;;) {
    // Each connection gets its own strand: connections run in parallel on a multi-threaded
    // io_context, while one connection's socket is only ever touched by one thread at a time.
    asio::any_io_executor strand = asio::make_strand(self->executor_);
    auto [ec, socket] = co_await self->acceptor_.async_accept(strand, as_tuple(asio::use_awaitable));
    if (self->stopped()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) break;
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(self->acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple(asio::use_awaitable));
      continue;
    }
    ++self->counters_.connections;
    set_close_on_exec(socket.native_handle());
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto connection = std::make_shared<server_connection>(self, std::move(socket));
    if (!self->add_connection(connection)) break;
    asio::co_spawn(connection->get_executor(), server_connection::run(connection), asio::detached);
  }
}

OSS_DECL void local_server_impl::stop() {
  std::vector<std::shared_ptr<server_connection>> open;
  {
    std::lock_guard lock(connections_mutex_);
    if (stopped_.exchange(true)) return;
    for (auto& [ptr, weak] : connections_)
      if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  auto self = shared_from_this();
  auto close_acceptor = [self] {
    std::error_code ignored;
    self->acceptor_.close(ignored);
  };
  asio::dispatch(acceptor_.get_executor(), close_acceptor);
  for (auto& c : open) {
    auto close_connection = [c] { c->close(); };
    asio::dispatch(c->get_executor(), close_connection);
  }
}

// ---------------------------------------------------------------------------------------------
// Admission: everything decided from the request head, before any body byte is read

OSS_DECL std::optional<server_error> local_server_impl::authenticate(const request_state& rs,
                                                                     const http::fields& headers) {
  if (s3()) return authenticate_s3(rs, headers);
  const accepted_credentials creds = credentials();
  if (creds.id.empty()) return std::nullopt;  // anonymous mode
  const std::string* authorization = headers.find("authorization");
  if (!authorization)
    return make_error(server_errc::access_denied, "This server requires signed requests: the Authorization header is missing.");
  auto parsed = oss::detail::parse_authorization(*authorization);
  if (!parsed) return make_error(server_errc::invalid_argument, "Authorization header is invalid.");
  if (parsed->access_key_id != creds.id) return make_error(server_errc::invalid_access_key_id);
  if (!creds.token.empty()) {
    const std::string* token = headers.find("x-oss-security-token");
    if (!token || !oss::detail::constant_time_equal(*token, creds.token))
      return make_error(server_errc::invalid_security_token);
  }

  // V4 dates the request with x-oss-date; V1 with Date, else x-oss-date (ali-oss sends only
  // the latter; oss-protocol.md 2.3).
  const std::string* date = nullptr;
  std::optional<std::chrono::system_clock::time_point> when;
  if (parsed->version == signature_version::v4) {
    date = headers.find("x-oss-date");
    if (date) when = oss::detail::parse_iso8601_basic(*date);
  } else {
    date = headers.find("date");
    if (!date) date = headers.find("x-oss-date");
    if (date) {
      when = oss::detail::parse_http_date(*date);
      if (!when) when = oss::detail::parse_iso8601_basic(*date);
    }
  }
  if (!date)
    return make_error(server_errc::access_denied,
                      parsed->version == signature_version::v4 ? "V4 requests must carry an x-oss-date header."
                                                               : "The request carries neither Date nor x-oss-date.",
                      "0002-00000503");
  if (!when) return make_error(server_errc::access_denied, "The request date is not in a valid format.", "0002-00000502");
  auto now = std::chrono::system_clock::now();
  auto skew = now > *when ? now - *when : *when - now;
  if (skew > options_.max_clock_skew) {
    auto e = make_error(server_errc::request_time_too_skewed);
    e.extra.emplace_back("RequestTime", *date);
    e.extra.emplace_back("ServerTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("MaxAllowedSkewMilliseconds",
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_clock_skew).count()));
    return e;
  }
  if (parsed->version == signature_version::v4 && parsed->region != options_.region)
    return make_error(server_errc::signature_does_not_match,
                      "The region in the V4 Credential scope is not the region of this server.");

  oss::detail::sign_input in{rs.method, rs.r.bucket, rs.r.key, rs.r.query, headers};
  if (!oss::detail::verify_signature(in, *parsed, creds.secret))
    return make_error(server_errc::signature_does_not_match);
  return std::nullopt;
}

namespace server_impl {

// An S3 error: `code` is S3's name, which the server_errc enumeration may not have.
inline server_error s3_error(int status, server_errc code, std::string_view code_text, std::string message) {
  server_error e;
  e.status = status;
  e.code = code;
  e.code_text = code_text;
  e.message = std::move(message);
  return e;
}

// The decoded path as sent ("/bucket/key", "/key"): what SigV4's CanonicalURI encodes.
inline std::optional<std::string> decoded_path(std::string_view target) {
  return oss::detail::percent_decode(target.substr(0, target.find('?')));
}

}  // namespace server_impl

// AWS Signature V4 (oss-protocol.md 2.8), checked with the client's own parser and verifier
// from sign_s3.hpp, so that both sides agree on every canonicalisation rule. The codes are
// those S3 answers with.
OSS_DECL std::optional<server_error> local_server_impl::authenticate_s3(const request_state& rs,
                                                                        const http::fields& headers) {
  using server_impl::s3_error;
  const accepted_credentials creds = credentials();
  if (creds.id.empty()) return std::nullopt;  // anonymous mode
  const std::string* authorization = headers.find("authorization");
  if (!authorization) return s3_error(403, server_errc::access_denied, "AccessDenied", "Access Denied");
  auto auth = oss::detail::s3_parse_authorization(*authorization);
  if (!auth) {
    if (!authorization->starts_with(oss::detail::s3_algorithm))
      return s3_error(400, server_errc::invalid_argument, "InvalidArgument", "Unsupported Authorization Type");
    return s3_error(400, server_errc::invalid_argument, "AuthorizationHeaderMalformed",
                    "The authorization header is malformed.");
  }
  if (auth->access_key_id != creds.id)
    return s3_error(403, server_errc::invalid_access_key_id, "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.");
  if (!creds.token.empty()) {
    const std::string* token = headers.find("x-amz-security-token");
    if (!token || !oss::detail::constant_time_equal(*token, creds.token))
      return s3_error(400, server_errc::invalid_security_token, "InvalidToken",
                      "The provided token is malformed or otherwise invalid.");
  }
  auto path = server_impl::decoded_path(rs.target);
  if (!path) return make_error(server_errc::invalid_argument, "The request URI could not be parsed.");
  oss::detail::s3_sign_input in{rs.method, *path, rs.r.query, headers};
  switch (oss::detail::s3_check_request(in, *auth)) {
    case oss::detail::s3_request_problem::none:
      break;
    case oss::detail::s3_request_problem::missing_date:
      return s3_error(403, server_errc::access_denied, "AccessDenied",
                      "AWS authentication requires a valid Date or x-amz-date header");
    case oss::detail::s3_request_problem::date_scope_mismatch:
      return s3_error(400, server_errc::invalid_argument, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the date in the credential scope is not the date of x-amz-date.");
    case oss::detail::s3_request_problem::missing_content_sha256:
      return s3_error(400, server_errc::invalid_request, "InvalidRequest",
                      "Missing required header for this request: x-amz-content-sha256");
    case oss::detail::s3_request_problem::signed_header_absent:
      return make_error(server_errc::signature_does_not_match);
    case oss::detail::s3_request_problem::unsigned_amz_header:
      return s3_error(403, server_errc::access_denied, "AccessDenied",
                      "There were headers present in the request which were not signed");
  }
  // s3_check_request found a valid x-amz-date.
  const std::string& date = *headers.find("x-amz-date");
  auto when = oss::detail::parse_iso8601_basic(date);
  if (!when)
    return s3_error(403, server_errc::access_denied, "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header");
  auto now = std::chrono::system_clock::now();
  auto skew = now > *when ? now - *when : *when - now;
  if (skew > options_.max_clock_skew) {
    auto e = make_error(server_errc::request_time_too_skewed);
    e.extra.emplace_back("RequestTime", date);
    e.extra.emplace_back("ServerTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("MaxAllowedSkewMilliseconds",
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_clock_skew).count()));
    return e;
  }
  if (auth->region != options_.region) {
    auto e = s3_error(400, server_errc::invalid_argument, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the region '" + auth->region +
                          "' is wrong; expecting '" + options_.region + "'");
    e.extra.emplace_back("Region", options_.region);
    return e;
  }
  if (!oss::detail::s3_verify_signature(in, *auth, creds.secret)) return make_error(server_errc::signature_does_not_match);
  return std::nullopt;
}

// S3: x-amz-content-sha256 is UNSIGNED-PAYLOAD or the hex SHA-256 of the body, which the
// server checks once the body is in (XAmzContentSHA256Mismatch). Streaming signatures
// (aws-chunked) are not implemented.
OSS_DECL std::optional<server_error> local_server_impl::check_content_sha256(request_state& rs,
                                                                             const http::fields& headers) {
  const std::string* v = headers.find("x-amz-content-sha256");
  if (!v || *v == oss::detail::s3_unsigned_payload) return std::nullopt;
  if (v->starts_with("STREAMING-"))
    return make_error(server_errc::not_implemented, "The local server does not implement aws-chunked streaming signatures.");
  bool hex = v->size() == 64;
  for (char c : *v) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
  if (!hex)
    return server_impl::s3_error(400, server_errc::invalid_argument, "InvalidArgument",
                                 "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.");
  rs.content_sha256 = lower(*v);
  return std::nullopt;
}

OSS_DECL std::optional<server_error> local_server_impl::admit(request_state& rs, const http::message_parser& parser) {
  const http::fields& headers = parser.headers();
  auto parsed_route = parse_route(rs.target, rs.host, options_.host);
  if (!parsed_route) return make_error(server_errc::invalid_argument, "The request URI could not be parsed.");
  rs.r = std::move(*parsed_route);
  rs.op = classify(rs.method, rs.r);
  if (rs.op != operation::unknown) ++counters_.operations[static_cast<std::size_t>(rs.op)];

  if (rs.r.bucket.empty()) {
    if (auto e = authenticate(rs, headers)) return e;
    return make_error(server_errc::not_implemented, "The local server implements no service-level operation.");
  }
  if (!oss::detail::is_valid_bucket_name(rs.r.bucket, options_.dialect)) return make_error(server_errc::invalid_bucket_name);
  if (!allowed_buckets_.empty() && !allowed_buckets_.count(rs.r.bucket)) {
    auto e = make_error(server_errc::no_such_bucket);
    e.extra.emplace_back("BucketName", rs.r.bucket);
    return e;
  }
  if (auto e = authenticate(rs, headers)) return e;

  if (rs.op == operation::unknown) {
    static constexpr std::string_view known[] = {"GET", "PUT", "HEAD", "DELETE", "POST"};
    if (std::find(std::begin(known), std::end(known), rs.method) == std::end(known))
      return make_error(server_errc::method_not_allowed);
    return make_error(server_errc::not_implemented);
  }
  if (rs.op != operation::put_bucket && rs.op != operation::list_multipart_uploads) {
    std::string problem = object_name_problem(rs.r.key);
    if (!problem.empty()) {
      const char* ec = rs.r.key.empty() ? "0016-00000001" : rs.r.key.size() > 1023 ? "0016-00000002" : "0016-00000005";
      return make_error(server_errc::invalid_object_name, problem, ec);
    }
  }
  if (store_.ensure_bucket(rs.r.bucket)) return make_error(server_errc::internal_error);
  if (!s3() && headers.find("x-oss-callback"))
    return make_error(server_errc::not_implemented, "The local server does not make upload callbacks.");
  if (s3()) {
    if (auto e = check_content_sha256(rs, headers)) return e;
  }

  switch (rs.op) {
    case operation::put_object:
    case operation::upload_part: {
      if (headers.find(s3() ? "x-amz-copy-source" : "x-oss-copy-source"))
        return make_error(server_errc::not_implemented, "CopyObject and UploadPartCopy are not implemented.");
      if (!parser.chunked() && !parser.content_length()) return make_error(server_errc::missing_content_length);
      if (parser.content_length() && *parser.content_length() > max_object_size)
        return make_error(server_errc::entity_too_large);
      if (rs.op == operation::upload_part) {
        const std::string* id = rs.r.query_value("uploadId");
        const std::string* number = rs.r.query_value("partNumber");
        if (!id || !number) return make_error(server_errc::invalid_argument, "UploadPart needs both partNumber and uploadId.");
        auto n = parse_decimal(*number);
        if (!n || *n < 1 || *n > 10000)
          return make_error(server_errc::invalid_argument, "Part number must be an integer between 1 and 10000, inclusive.");
        rs.part_number = static_cast<int>(*n);
        rs.upload_id = *id;
        auto upload = store_.find_upload(rs.r.bucket, rs.upload_id);
        if (!upload || upload->key != rs.r.key) {
          auto e = make_error(server_errc::no_such_upload);
          e.extra.emplace_back("UploadId", rs.upload_id);
          return e;
        }
      } else {
        if (auto e = collect_object_headers(headers, rs.object_headers, rs.forbid_overwrite, options_.dialect)) return e;
        if (rs.forbid_overwrite && store_.find_object(rs.r.bucket, rs.r.key))
          return make_error(server_errc::file_already_exists);
      }
      rs.writer = store_.new_writer(rs.r.bucket);
      if (!rs.content_sha256.empty()) rs.writer->enable_sha256();
      break;
    }
    case operation::initiate_multipart_upload:
      if (auto e = collect_object_headers(headers, rs.object_headers, rs.forbid_overwrite, options_.dialect)) return e;
      break;
    case operation::complete_multipart_upload:
      if (parser.content_length() && *parser.content_length() > max_xml_body)
        return make_error(server_errc::invalid_argument, "The CompleteMultipartUpload body exceeds 4 MiB.");
      break;
    default:
      break;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Execution: the body is in; do the operation

OSS_DECL reply local_server_impl::error_reply(const request_state& rs, const server_error& e) {
  reply rep;
  rep.status = e.status;
  std::string code = e.code_text.empty() ? std::string(server_errc_code(e.code)) : e.code_text;
  if (s3()) {
    // S3's error document: Code, Message, RequestId, HostId, then the details; no namespace,
    // no EC. HEAD replies carry nothing of it (S3 has no x-oss-err equivalent).
    if (e.code_text.empty() && e.code == server_errc::invalid_security_token) {
      code = "InvalidToken";
      rep.status = 400;
    }
    std::vector<std::pair<std::string_view, std::string_view>> details;
    for (const auto& [name, value] : e.extra) details.emplace_back(name, value);
    if (!rs.head) {
      rep.body = oss::detail::build_error_body(code, e.message, rs.request_id, s3_host_id(rs.request_id), {}, details);
      rep.headers.set("Content-Type", "application/xml");
    }
    return rep;
  }
  std::vector<std::pair<std::string_view, std::string_view>> extra;
  for (const auto& [name, value] : e.extra) extra.emplace_back(name, value);
  std::string host_id(rs.host.empty() ? std::string_view(options_.host) : host_without_port(rs.host));
  rep.body = oss::detail::build_error_body(code, e.message, rs.request_id, host_id, e.ec, extra);
  rep.headers.set("Content-Type", "application/xml");
  rep.headers.set("x-oss-ec", e.ec);
  // HEAD replies have no body, so OSS repeats the error document in a header.
  if (rs.head) rep.headers.set("x-oss-err", oss::detail::base64_encode(rep.body.data(), rep.body.size()));
  return rep;
}

namespace server_impl {

inline std::optional<server_error> check_s3_digests(const http::fields& headers, std::string_view content_sha256,
                                                    const std::optional<oss::detail::sha256_digest>& sha256,
                                                    const md5_digest& md5) {
  if (!content_sha256.empty()) {
    std::string actual = sha256 ? oss::detail::hex_lower(sha256->data(), sha256->size()) : std::string();
    if (actual != content_sha256) {
      auto e = s3_error(400, server_errc::invalid_digest, "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.");
      e.extra.emplace_back("ClientComputedContentSHA256", std::string(content_sha256));
      e.extra.emplace_back("S3ComputedContentSHA256", actual);
      return e;
    }
  }
  if (const std::string* expected = headers.find("content-md5")) {
    auto decoded = oss::detail::base64_decode(*expected);
    if (!decoded || decoded->size() != md5.size())
      return s3_error(400, server_errc::invalid_digest, "InvalidDigest", "The Content-MD5 you specified was not valid.");
    if (!std::equal(md5.begin(), md5.end(), reinterpret_cast<const unsigned char*>(decoded->data())))
      return s3_error(400, server_errc::invalid_digest, "BadDigest",
                      "The Content-MD5 you specified did not match what we received.");
  }
  return std::nullopt;
}

inline std::optional<server_error> finish_body(body_writer& writer, const http::fields& headers, bool s3 = false,
                                               std::string_view content_sha256 = {}) {
  if (writer.finish()) return make_error(server_errc::internal_error);
  if (writer.size() > max_object_size) return make_error(server_errc::entity_too_large);
  if (s3) return check_s3_digests(headers, content_sha256, writer.sha256(), writer.md5());
  if (const std::string* expected = headers.find("content-md5")) {
    auto decoded = oss::detail::base64_decode(*expected);
    if (!decoded || decoded->size() != writer.md5().size() ||
        !std::equal(writer.md5().begin(), writer.md5().end(), reinterpret_cast<const unsigned char*>(decoded->data())))
      return make_error(server_errc::invalid_digest);
  }
  return std::nullopt;
}

inline bool wants_url_encoding(const route& r) {
  const std::string* e = r.query_value("encoding-type");
  return e && *e == "url";
}

// S3 results carry the S3 namespace on their root element; the OSS builders write the same
// elements otherwise (in S3's order), so the attribute is added to their output.
inline std::string with_s3_namespace(std::string doc) {
  auto decl_end = doc.find("?>");
  auto open = doc.find('<', decl_end == std::string::npos ? 0 : decl_end + 2);
  auto close = open == std::string::npos ? std::string::npos : doc.find('>', open);
  if (close == std::string::npos) return doc;
  doc.insert(close, " xmlns=\"" + std::string(oss::detail::s3_xmlns) + "\"");
  return doc;
}

inline void set_etag_headers(reply& rep, const md5_digest& md5, std::uint64_t crc) {
  rep.headers.set("ETag", "\"" + oss::detail::hex_upper(md5.data(), md5.size()) + "\"");
  rep.headers.set("Content-MD5", oss::detail::base64_encode(md5.data(), md5.size()));
  rep.headers.set("x-oss-hash-crc64ecma", std::to_string(crc));
}

// "bytes=a-b", "bytes=a-" or "bytes=-n" against an object of `size` bytes. nullopt: no usable
// single range (OSS then returns the whole object); {size, 0}: unsatisfiable.
inline std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(std::string_view v, std::uint64_t size) {
  if (!v.starts_with("bytes=")) return std::nullopt;
  v.remove_prefix(6);
  auto dash = v.find('-');
  if (dash == std::string_view::npos || v.find(',') != std::string_view::npos) return std::nullopt;
  auto first = v.substr(0, dash);
  auto last = v.substr(dash + 1);
  if (first.empty()) {
    auto n = parse_decimal(last);
    if (!n) return std::nullopt;
    if (*n == 0 || size == 0) return std::pair<std::uint64_t, std::uint64_t>{size, 0};
    std::uint64_t len = std::min(*n, size);
    return std::pair<std::uint64_t, std::uint64_t>{size - len, len};
  }
  auto a = parse_decimal(first);
  if (!a) return std::nullopt;
  std::uint64_t end = size == 0 ? 0 : size - 1;
  if (!last.empty()) {
    auto b = parse_decimal(last);
    if (!b || *b < *a) return std::nullopt;
    end = std::min(*b, end);
  }
  if (*a >= size) return std::pair<std::uint64_t, std::uint64_t>{size, 0};
  return std::pair<std::uint64_t, std::uint64_t>{*a, end - *a + 1};
}

}  // namespace server_impl

OSS_DECL reply local_server_impl::execute(request_state& rs, http::message_parser& parser) {
  const http::fields& headers = parser.headers();
  // Bodies that went to a writer are checked by finish_body; the others (Complete's XML, and
  // the empty body of everything else) here.
  if (s3() && !rs.content_sha256.empty() && !rs.writer) {
    auto digest = oss::detail::sha256(parser.body());
    if (auto e = server_impl::check_s3_digests(http::fields{}, rs.content_sha256, digest, md5_digest{}))
      return error_reply(rs, *e);
  }
  switch (rs.op) {
    case operation::put_object:
      return put_object(rs, parser);
    case operation::get_object:
      return get_object(rs, headers, false);
    case operation::head_object:
      return get_object(rs, headers, true);
    case operation::delete_object: {
      store_.delete_object(rs.r.bucket, rs.r.key);
      reply rep;
      rep.status = 204;
      return rep;
    }
    case operation::initiate_multipart_upload:
      return initiate(rs, headers);
    case operation::upload_part:
      return upload_part(rs, headers);
    case operation::complete_multipart_upload:
      return complete(rs, parser);
    case operation::abort_multipart_upload: {
      const std::string& id = *rs.r.query_value("uploadId");
      if (auto ec = store_.abort_upload(rs.r.bucket, id, rs.r.key)) {
        auto e = from_error_code(ec);
        if (e.code == server_errc::no_such_upload) e.extra.emplace_back("UploadId", id);
        return error_reply(rs, e);
      }
      reply rep;
      rep.status = 204;
      return rep;
    }
    case operation::list_parts:
      return list_parts(rs);
    case operation::list_multipart_uploads:
      return list_uploads(rs);
    case operation::put_bucket:
      return reply{};
    case operation::unknown:
      break;
  }
  return error_reply(rs, make_error(server_errc::not_implemented));
}

inline reply local_server_impl::put_object(request_state& rs, http::message_parser& parser) {
  body_writer& body = *rs.writer;
  if (auto e = server_impl::finish_body(body, parser.headers(), s3(), rs.content_sha256)) return error_reply(rs, *e);
  object_info object;
  object.key = rs.r.key;
  object.size = body.size();
  object.etag = s3() ? "\"" + oss::detail::hex_lower(body.md5().data(), body.md5().size()) + "\""
                     : "\"" + oss::detail::hex_upper(body.md5().data(), body.md5().size()) + "\"";
  object.crc64 = body.crc64();
  object.content_md5 = oss::detail::base64_encode(body.md5().data(), body.md5().size());
  object.object_type = "Normal";
  object.last_modified_ms = store::now_ms();
  object.headers = rs.object_headers;
  if (auto ec = store_.put_object(rs.r.bucket, object, body, rs.forbid_overwrite))
    return error_reply(rs, from_error_code(ec));
  reply rep;
  if (s3())
    rep.headers.set("ETag", object.etag);
  else
    server_impl::set_etag_headers(rep, body.md5(), body.crc64());
  return rep;
}

inline reply local_server_impl::get_object(request_state& rs, const http::fields& headers, bool head) {
  auto no_such_key = [&] {
    auto e = make_error(server_errc::no_such_key);
    e.extra.emplace_back("Key", rs.r.key);
    return error_reply(rs, e);
  };
  reply rep;
  if (head) {
    auto info = store_.find_object(rs.r.bucket, rs.r.key);
    if (!info) return no_such_key();
    if (s3())
      add_s3_object_headers(rep, *info);
    else
      add_object_headers(rep, *info);
    rep.content_length = info->size;
    return rep;
  }
  std::error_code ec;
  auto reader = store_.open_object(rs.r.bucket, rs.r.key, ec);
  if (!reader) return ec == server_errc::no_such_key ? no_such_key() : error_reply(rs, from_error_code(ec));
  if (!reader->file)
    return error_reply(rs, make_error(server_errc::not_implemented,
                                      "The object was stored by a server running in discard mode: its bytes were not kept."));
  if (s3())
    add_s3_object_headers(rep, reader->info);
  else
    add_object_headers(rep, reader->info);
  const std::uint64_t size = reader->info.size;
  rep.offset = 0;
  rep.length = size;
  if (const std::string* range = headers.find("range")) {
    if (auto r = server_impl::parse_range(*range, size)) {
      if (r->first >= size) {
        auto e = make_error(server_errc::invalid_argument, "The requested range cannot be satisfied.", "0017-00000101");
        e.status = 416;
        e.code_text = "InvalidRange";
        reply bad = error_reply(rs, e);
        bad.headers.set("Content-Range", "bytes */" + std::to_string(size));
        return bad;
      }
      rep.status = 206;
      rep.offset = r->first;
      rep.length = r->second;
      rep.headers.set("Content-Range", "bytes " + std::to_string(r->first) + "-" +
                                           std::to_string(r->first + r->second - 1) + "/" + std::to_string(size));
    }
  }
  rep.content_length = rep.length;
  rep.object = std::move(reader);
  return rep;
}

inline reply local_server_impl::initiate(request_state& rs, const http::fields&) {
  upload_info upload;
  upload.key = rs.r.key;
  upload.initiated_ms = store::now_ms();
  upload.forbid_overwrite = rs.forbid_overwrite;
  upload.headers = rs.object_headers;
  std::error_code ec;
  std::string id = store_.create_upload(rs.r.bucket, std::move(upload), ec);
  if (ec) return error_reply(rs, from_error_code(ec));
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = oss::detail::build_initiate_result({rs.r.bucket, rs.r.key, id}, server_impl::wants_url_encoding(rs.r));
  if (s3()) rep.body = server_impl::with_s3_namespace(std::move(rep.body));
  return rep;
}

inline reply local_server_impl::upload_part(request_state& rs, const http::fields& headers) {
  body_writer& body = *rs.writer;
  if (auto e = server_impl::finish_body(body, headers, s3(), rs.content_sha256)) return error_reply(rs, *e);
  if (auto ec = store_.put_part(rs.r.bucket, rs.upload_id, rs.r.key, rs.part_number, body)) {
    auto e = from_error_code(ec);
    if (e.code == server_errc::no_such_upload) e.extra.emplace_back("UploadId", rs.upload_id);
    return error_reply(rs, e);
  }
  ++counters_.parts_uploaded;
  reply rep;
  if (s3())
    rep.headers.set("ETag", "\"" + oss::detail::hex_lower(body.md5().data(), body.md5().size()) + "\"");
  else
    server_impl::set_etag_headers(rep, body.md5(), body.crc64());
  return rep;
}

inline reply local_server_impl::complete(request_state& rs, http::message_parser& parser) {
  const http::fields& headers = parser.headers();
  const std::string& id = *rs.r.query_value("uploadId");
  const std::string& body = parser.body();
  if (s3()) {
    if (auto e = server_impl::check_s3_digests(headers, {}, std::nullopt, oss::detail::md5(body))) return error_reply(rs, *e);
  } else if (const std::string* expected = headers.find("content-md5")) {
    auto digest = oss::detail::md5(body);
    if (*expected != oss::detail::base64_encode(digest.data(), digest.size()))
      return error_reply(rs, make_error(server_errc::invalid_digest));
  }
  const std::string* all = s3() ? nullptr : headers.find("x-oss-complete-all");
  const bool complete_all = all && http::iequals(*all, "yes");
  std::vector<part_selection> selection;
  if (complete_all) {
    if (!body.empty())
      return error_reply(rs, make_error(server_errc::invalid_argument,
                                        "With x-oss-complete-all: yes the request body must be empty.", "0042-00000216"));
  } else {
    std::vector<oss::detail::completed_part> parts;
    std::error_code ec;
    if (!oss::detail::parse_complete_body(body, parts, ec)) return error_reply(rs, make_error(server_errc::malformed_xml));
    if (parts.empty())
      return error_reply(rs, make_error(server_errc::malformed_xml, "The CompleteMultipartUpload body lists no part."));
    for (auto& p : parts) selection.push_back({p.number, std::move(p.etag)});
  }
  const std::string* forbid = s3() ? nullptr : headers.find("x-oss-forbid-overwrite");
  complete_outcome out;
  std::string message;
  if (auto ec = store_.complete_upload(rs.r.bucket, id, rs.r.key, selection, complete_all,
                                       forbid && http::iequals(*forbid, "true"), out, message)) {
    auto e = from_error_code(ec, message);
    if (e.code == server_errc::no_such_upload) e.extra.emplace_back("UploadId", id);
    if (s3() && e.code == server_errc::entity_too_small && out.small_part_number != 0) {
      // S3 names the offending part and the limit.
      e.message = "Your proposed upload is smaller than the minimum allowed object size.";
      e.extra.emplace_back("ProposedSize", std::to_string(out.small_part_size));
      e.extra.emplace_back("MinSizeAllowed", std::to_string(store_.rules().min_part_size));
      e.extra.emplace_back("PartNumber", std::to_string(out.small_part_number));
      e.extra.emplace_back("ETag", out.small_part_etag);
    }
    return error_reply(rs, e);
  }
  std::string location = std::string(tls_ ? "https://" : "http://") + (rs.host.empty() ? options_.host : rs.host) + "/" +
                         (rs.r.path_style ? rs.r.bucket + "/" : std::string()) + oss::detail::uri_encode(rs.r.key, true);
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  if (!s3()) {
    rep.headers.set("ETag", out.object.etag);
    rep.headers.set("x-oss-hash-crc64ecma", std::to_string(out.object.crc64));
  }
  rep.body = oss::detail::build_complete_result({location, rs.r.bucket, rs.r.key, out.object.etag},
                                                server_impl::wants_url_encoding(rs.r));
  if (s3()) rep.body = server_impl::with_s3_namespace(std::move(rep.body));
  return rep;
}

inline reply local_server_impl::list_parts(request_state& rs) {
  const std::string& id = *rs.r.query_value("uploadId");
  std::uint64_t max_parts = 1000;
  std::uint64_t marker = 0;
  if (const std::string* v = rs.r.query_value("max-parts")) {
    auto n = parse_decimal(*v);
    if (!n || *n == 0) return error_reply(rs, make_error(server_errc::invalid_argument, "max-parts must be between 1 and 1000."));
    max_parts = std::min<std::uint64_t>(*n, 1000);
  }
  if (const std::string* v = rs.r.query_value("part-number-marker")) {
    auto n = parse_decimal(*v);
    if (!n) return error_reply(rs, make_error(server_errc::invalid_argument, "part-number-marker must be a part number."));
    marker = *n;
  }
  auto parts = store_.list_parts(rs.r.bucket, id, rs.r.key);
  if (!parts) {
    auto e = make_error(server_errc::no_such_upload);
    e.extra.emplace_back("UploadId", id);
    return error_reply(rs, e);
  }
  oss::detail::list_parts_result result;
  result.bucket = rs.r.bucket;
  result.key = rs.r.key;
  result.upload_id = id;
  result.part_number_marker = static_cast<int>(std::min<std::uint64_t>(marker, 10000));
  result.max_parts = static_cast<int>(max_parts);
  result.next_part_number_marker = result.part_number_marker;
  for (const auto& p : *parts) {
    if (static_cast<std::uint64_t>(p.number) <= marker) continue;
    if (result.parts.size() == max_parts) {
      result.is_truncated = true;
      break;
    }
    if (s3())
      result.parts.push_back({p.number, store_.etag_of(p), p.size, std::nullopt, iso_time_ms(p.last_modified_ms)});
    else
      result.parts.push_back({p.number, p.etag(), p.size, p.crc64, iso_time_ms(p.last_modified_ms)});
    result.next_part_number_marker = p.number;
  }
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = oss::detail::build_list_parts_result(result, server_impl::wants_url_encoding(rs.r));
  if (s3()) rep.body = server_impl::with_s3_namespace(std::move(rep.body));
  return rep;
}

inline reply local_server_impl::list_uploads(request_state& rs) {
  auto param = [&](std::string_view name) {
    const std::string* v = rs.r.query_value(name);
    return v ? *v : std::string();
  };
  std::uint64_t max_uploads = 1000;
  if (const std::string* v = rs.r.query_value("max-uploads")) {
    auto n = parse_decimal(*v);
    if (!n || *n == 0) return error_reply(rs, make_error(server_errc::invalid_argument, "max-uploads must be between 1 and 1000."));
    max_uploads = std::min<std::uint64_t>(*n, 1000);
  }
  oss::detail::list_uploads_result result;
  result.bucket = rs.r.bucket;
  result.prefix = param("prefix");
  result.delimiter = param("delimiter");
  result.key_marker = param("key-marker");
  result.upload_id_marker = param("upload-id-marker");
  result.max_uploads = static_cast<int>(max_uploads);

  // Entries in (key, upload id) order; with a delimiter, keys that contain it after the prefix
  // roll up into one CommonPrefixes entry each, which counts once towards max-uploads.
  std::size_t taken = 0;
  for (const auto& u : store_.list_uploads(rs.r.bucket)) {
    if (!u.key.starts_with(result.prefix)) continue;
    std::string common;
    if (!result.delimiter.empty()) {
      auto pos = u.key.find(result.delimiter, result.prefix.size());
      if (pos != std::string::npos) common = u.key.substr(0, pos + result.delimiter.size());
    }
    if (!common.empty()) {
      if (!result.key_marker.empty() && common <= result.key_marker) continue;
      if (!result.common_prefixes.empty() && result.common_prefixes.back() == common) continue;
    } else if (!result.key_marker.empty()) {
      if (u.key < result.key_marker) continue;
      if (u.key == result.key_marker && (result.upload_id_marker.empty() || u.upload_id <= result.upload_id_marker))
        continue;
    }
    if (taken == max_uploads) {
      result.is_truncated = true;
      break;
    }
    ++taken;
    if (!common.empty()) {
      result.common_prefixes.push_back(common);
      result.next_key_marker = common;
      result.next_upload_id_marker.clear();
    } else {
      result.uploads.push_back({u.key, u.upload_id, iso_time_ms(u.initiated_ms)});
      result.next_key_marker = u.key;
      result.next_upload_id_marker = u.upload_id;
    }
  }
  reply rep;
  rep.headers.set("Content-Type", "application/xml");
  rep.body = oss::detail::build_list_uploads_result(result, server_impl::wants_url_encoding(rs.r));
  if (s3()) rep.body = server_impl::with_s3_namespace(std::move(rep.body));
  return rep;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Public classes

OSS_DECL local_server::local_server(asio::any_io_executor executor, local_server_options options)
    : impl_(std::make_shared<detail::local_server_impl>(std::move(executor), std::move(options))) {}

OSS_DECL local_server::~local_server() {
  if (impl_) impl_->stop();
}

OSS_DECL void local_server::start() { impl_->start(); }
OSS_DECL void local_server::stop() { impl_->stop(); }
OSS_DECL std::uint16_t local_server::port() const noexcept { return impl_->port_; }
OSS_DECL std::string local_server::endpoint() const { return impl_->endpoint(); }
OSS_DECL const local_server_options& local_server::options() const noexcept { return impl_->options_; }
OSS_DECL local_server_stats local_server::stats() const noexcept { return impl_->stats(); }
OSS_DECL void local_server::reset_stats() noexcept { impl_->reset_stats(); }
OSS_DECL std::map<int, std::uint64_t> local_server::part_attempts() const { return impl_->part_attempts(); }

OSS_DECL void local_server::set_credentials(std::string access_key_id, std::string access_key_secret,
                                            std::string security_token) {
  impl_->set_credentials({std::move(access_key_id), std::move(access_key_secret), std::move(security_token)});
}

OSS_DECL void local_server::set_fault_plan(std::vector<fault_rule> rules) { impl_->set_fault_plan(std::move(rules)); }
OSS_DECL void local_server::clear_fault_plan() { impl_->set_fault_plan({}); }

OSS_DECL local_server_thread::local_server_thread(local_server_options options, unsigned threads) {
  server_ = std::make_unique<local_server>(io_.get_executor(), std::move(options));
  server_->start();
  threads = std::max(1u, threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "oss::testing::local_server: %s\n", e.what());
        }
      }
    });
  }
}

OSS_DECL local_server_thread::~local_server_thread() { stop(); }

OSS_DECL void local_server_thread::stop() {
  if (stopped_) return;
  stopped_ = true;
  // run() returns once the acceptor and every connection have closed and their coroutines ended.
  server_->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace oss::testing

#endif  // OSS_IMPL_LOCAL_SERVER_IPP
