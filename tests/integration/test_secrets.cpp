// Secrets stay secret (issue 4, item 9): with a recognisable access key secret and STS token,
// every error path the tests can reach (wrong credentials, bad input, server errors, hostile
// replies, timeouts, cancellation, TLS and connection failures, checkpoints, and the oss-upload
// command line with exit statuses 0, 2, 3, 4 and 130) is run, and everything the library or the
// tool hands back is scanned: exception what(), every diagnostics field, progress events, the
// checkpoint files, stdout and stderr. Neither canary may appear, nor an Authorization header,
// a string-to-sign or any signature the peer received.
//
// The library has no logging hook; the only text it produces is what these tests scan.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/ssl/error.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/hostile_server.hpp"
#include "../support/run_coro.hpp"
#include "../support/temp_dir.hpp"
#include "../support/tls_certs.hpp"
#include "../support/skip.hpp"


using namespace std::chrono_literals;

namespace {

constexpr const char* canary_secret = "SECRET-CANARY-7f3a9";
constexpr const char* canary_token = "TOKEN-CANARY-5be21d";
constexpr const char* key_id = "LTAI5tSecretsTestKeyId";
constexpr const char* bucket = "secrets-bucket";
constexpr std::uint64_t kib100 = 100 * 1024;

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// Everything that must never show up, and the scan of every text the tests get back.
struct leak_guard {
  std::vector<std::string> forbidden{canary_secret, canary_token, "CANARY", "7f3a9", "5be21d",
                                     "Authorization", "StringToSign", "OSS4-HMAC-SHA256", "x-oss-security-token",
                                     "AWS4-HMAC-SHA256", "x-amz-security-token", "CanonicalRequest"};
  std::size_t scanned = 0;  // texts looked at: proves the scan ran over something

  // Signatures a hostile peer received: the value after "Signature=" (V4) or after ':' (V1).
  void forbid_signatures_of(const oss_test::hostile_server& server) {
    for (const auto& r : server.seen()) {
      const std::string* auth = r.headers.find("Authorization");
      if (!auth) continue;
      const auto sig = auth->find("Signature=");
      if (sig != std::string::npos) {
        forbidden.push_back(auth->substr(sig + 10));
      } else if (const auto colon = auth->rfind(':'); colon != std::string::npos) {
        forbidden.push_back(auth->substr(colon + 1));
      }
    }
  }

  void scan(std::string_view label, std::string_view text) {
    ++scanned;
    for (const auto& f : forbidden) {
      if (f.size() >= 4 && contains(text, f)) FAIL_CHECK(label << " contains a forbidden text (" << f.size() << " bytes)");
    }
  }

  void scan(std::string_view label, const oss::diagnostics& d) {
    scan(label, d.code);
    scan(label, d.message);
    scan(label, d.request_id);
    scan(label, d.host_id);
    scan(label, d.ec);
    scan(label, d.operation);
    scan(label, d.client_message);
  }

  // The error as every public surface shows it: code message, what(), diagnostics.
  void scan_error(std::string_view label, std::error_code ec, const oss::diagnostics& d) {
    scan(label, ec.message());
    scan(label, oss::error(ec, d).what());
    scan(label, d);
    // The key id is not a secret, but errors have no reason to carry it either.
    CHECK_MESSAGE(!contains(oss::error(ec, d).what(), key_id), label << " names the access key id");
  }

  void scan_file(std::string_view label, const std::filesystem::path& p) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) scan(label, oss_test::read_file(p));
  }
};

struct outcome {
  bool done = false;
  std::error_code ec;
  oss::diagnostics diag;
  oss::upload_result result;
};

// One upload with a fresh client; `prepare` may start things on the io_context (a canceller).
outcome run_upload(const oss::client_options& copts, std::string name, oss::upload_source source,
                   oss::upload_options opts, asio::cancellation_signal* cancel = nullptr,
                   std::function<void(asio::io_context&)> prepare = {}) {
  asio::io_context io;
  oss::client c(io.get_executor(), copts);
  outcome out;
  auto done = [&out](std::error_code ec, oss::upload_result r) {
    out.done = true;
    out.ec = ec;
    out.result = std::move(r);
  };
  if (prepare) prepare(io);
  if (cancel)
    oss::async_multipart_upload(c, std::move(name), std::move(source), std::move(opts), out.diag,
                                asio::bind_cancellation_slot(cancel->slot(), std::move(done)));
  else
    oss::async_multipart_upload(c, std::move(name), std::move(source), std::move(opts), out.diag, std::move(done));
  io.run_for(60s);
  REQUIRE_MESSAGE(out.done, "watchdog: the upload did not finish in time");
  return out;
}

// A progress handler that scans every event (and its live checkpoint) as it arrives.
oss::progress_handler scanning_progress(leak_guard& guard, int stop_after_parts = 0) {
  auto parts = std::make_shared<int>(0);
  return [&guard, parts, stop_after_parts](const oss::progress_event& e) {
    guard.scan("progress request_id", e.request_id);
    guard.scan("progress checkpoint", oss::checkpoint_to_json(e.checkpoint));
    if (e.part) guard.scan("progress part etag", e.part->etag);
    if (e.stage == oss::progress_stage::part_done && stop_after_parts > 0 && ++*parts >= stop_after_parts)
      throw std::runtime_error("stopping the upload from the progress handler");
  };
}

struct secrets_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  oss::testing::local_server_thread server;

  // The server knows `server_secret` and `server_token`; the client always sends the canaries.
  oss::api_dialect dialect;

  explicit secrets_env(std::string server_secret = canary_secret, std::string server_token = canary_token,
                       oss::api_dialect d = oss::api_dialect::oss)
      : server([&] {
          oss::testing::local_server_options o;
          o.dialect = d;
          o.root = store.path().string();
          o.access_key_id = key_id;
          o.access_key_secret = server_secret;
          o.security_token = server_token;
          return o;
        }()),
        dialect(d) {}

  oss::client_options options() const {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = bucket;
    o.creds = {key_id, canary_secret, canary_token};
    o.address_style = oss::addressing_style::path_style;
    o.dialect = dialect;
    o.retry_base_delay = 1ms;
    o.retry_max_delay = 5ms;
    return o;
  }

  std::filesystem::path write(const std::string& name, std::size_t size, std::uint64_t seed) const {
    auto p = files / name;
    oss_test::write_file(p, oss_test::random_bytes(size, seed));
    return p;
  }
};

oss::client_options hostile_options(const oss_test::hostile_server& s) {
  oss::client_options o;
  o.endpoint = s.endpoint();
  o.region = "cn-local";
  o.bucket = bucket;
  o.creds = {key_id, canary_secret, canary_token};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  o.connect_timeout = 5s;
  o.stall_timeout = 5s;
  return o;
}

oss::upload_options parts_of_100k(leak_guard& guard, std::size_t parallel = 2) {
  oss::upload_options o;
  o.parallel = parallel;
  o.part_size = kib100;
  o.progress = scanning_progress(guard);
  return o;
}

}  // namespace

// ---- the library -----------------------------------------------------------------------------

TEST_CASE("secrets: wrong secret, unknown key id and foreign token (V4 and V1)") {
  leak_guard guard;
  secrets_env other_secret("the-server-knows-another-secret", canary_token);
  secrets_env other_token(canary_secret, "TOKEN-the-server-expects");
  const auto file = other_secret.write("a.bin", 5 * kib100, 1);
  for (auto sig : {oss::signature_version::v4, oss::signature_version::v1}) {
    auto o = other_secret.options();
    o.signature = sig;
    auto out = run_upload(o, "a.bin", file, parts_of_100k(guard));
    CHECK(out.ec == oss::server_errc::signature_does_not_match);
    guard.scan_error("SignatureDoesNotMatch", out.ec, out.diag);

    auto t = other_token.options();
    t.signature = sig;
    auto token_out = run_upload(t, "a.bin", oss::buffer_source(std::string_view("small")), parts_of_100k(guard));
    CHECK(token_out.ec == oss::server_errc::invalid_security_token);
    guard.scan_error("InvalidSecurityToken", token_out.ec, token_out.diag);
  }
  auto unknown = other_secret.options();
  unknown.creds.access_key_id = "LTAI-nobody-knows";
  auto out = run_upload(unknown, "a.bin", file, parts_of_100k(guard));
  CHECK(out.ec == oss::server_errc::invalid_access_key_id);
  guard.scan_error("InvalidAccessKeyId", out.ec, out.diag);

  // The throwing form: the exception's text.
  asio::io_context io;
  oss::client c(io.get_executor(), other_secret.options());
  bool threw = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          oss::upload_options opts;
          co_await oss::multipart_upload(c, "a.bin", file, opts);
        } catch (const oss::error& e) {
          threw = true;
          guard.scan("oss::error::what", e.what());
          guard.scan("oss::error diagnostics", e.get_diagnostics());
        }
      },
      asio::detached);
  io.run_for(30s);
  CHECK(threw);
  CHECK(guard.scanned > 50);
}

TEST_CASE("secrets: a real OSS SignatureDoesNotMatch body (StringToSign, SignatureProvided) is not kept") {
  leak_guard guard;
  oss_test::hostile_server server([](const oss_test::hostile_request& r) {
    const std::string* auth = r.headers.find("Authorization");
    oss_test::hostile_reply reply;
    reply.raw = oss_test::oss_error_reply(
        403, "Forbidden", "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
        {{"OSSAccessKeyId", key_id},
         {"SignatureProvided", auth ? *auth : std::string()},
         {"StringToSign", "PUT\n\napplication/octet-stream\nx-oss-security-token:" + std::string(canary_token)},
         {"StringToSignBytes", "50 55 54"},
         {"CanonicalRequest", "PUT\n/secrets-bucket/x\n\nx-oss-security-token:" + std::string(canary_token)}});
    return reply;
  });
  auto out = run_upload(hostile_options(server), "x.bin", oss::buffer_source(std::string_view("tiny body")),
                        parts_of_100k(guard));
  CHECK(out.ec == oss::server_errc::signature_does_not_match);
  REQUIRE(server.requests() >= 1);
  // The peer did receive the token and a signature: that is what must not come back.
  CHECK(server.seen()[0].headers.find("x-oss-security-token") != nullptr);
  guard.forbid_signatures_of(server);
  guard.scan_error("SignatureDoesNotMatch with StringToSign", out.ec, out.diag);
}

TEST_CASE("secrets: the S3 dialect (SigV4): wrong secret, foreign token, an S3 SignatureDoesNotMatch body") {
  leak_guard guard;
  const auto s3 = oss::api_dialect::s3;
  secrets_env other_secret("the-server-knows-another-secret", canary_token, s3);
  secrets_env other_token(canary_secret, "TOKEN-the-server-expects", s3);
  const auto file = other_secret.write("a.bin", (5u << 20) + 7, 11);
  auto s3_parts = [&guard] {
    oss::upload_options o;
    o.parallel = 2;
    o.part_size = 5u << 20;
    o.progress = scanning_progress(guard);
    return o;
  };

  auto out = run_upload(other_secret.options(), "a.bin", file, s3_parts());
  CHECK(out.ec == oss::server_errc::signature_does_not_match);
  guard.scan_error("S3 SignatureDoesNotMatch", out.ec, out.diag);
  auto token_out = run_upload(other_token.options(), "a.bin", oss::buffer_source(std::string_view("small")), s3_parts());
  CHECK(token_out.ec);
  guard.scan_error("S3 foreign token", token_out.ec, token_out.diag);

  // AWS answers a bad signature with the canonical request and string to sign it computed,
  // which name the token: none of it may come back.
  oss_test::hostile_server server([](const oss_test::hostile_request& r) {
    const std::string* auth = r.headers.find("Authorization");
    oss_test::hostile_reply reply;
    reply.raw = oss_test::oss_error_reply(
        403, "Forbidden", "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
        {{"AWSAccessKeyId", key_id},
         {"SignatureProvided", auth ? *auth : std::string()},
         {"StringToSign", "AWS4-HMAC-SHA256\n20261126T000000Z\n20261126/cn-local/s3/aws4_request\n00"},
         {"CanonicalRequest", "PUT\n/secrets-bucket/x\n\nx-amz-security-token:" + std::string(canary_token)}},
        {{"x-amz-request-id", "S3-HOSTILE"}});
    return reply;
  });
  auto hostile = hostile_options(server);
  hostile.dialect = s3;
  auto body_out = run_upload(hostile, "x.bin", oss::buffer_source(std::string_view("tiny body")), s3_parts());
  CHECK(body_out.ec == oss::server_errc::signature_does_not_match);
  REQUIRE(server.requests() >= 1);
  CHECK(server.seen()[0].headers.find("x-amz-security-token") != nullptr);  // the peer did get it
  guard.forbid_signatures_of(server);
  guard.scan_error("S3 SignatureDoesNotMatch with CanonicalRequest", body_out.ec, body_out.diag);
  CHECK(guard.scanned > 20);
}

TEST_CASE("secrets: server errors, hostile replies and a lying peer") {
  leak_guard guard;
  struct scenario {
    const char* label;
    std::function<oss_test::hostile_reply(const oss_test::hostile_request&)> script;
  };
  auto canned = [](std::string raw) {
    return [raw](const oss_test::hostile_request&) {
      oss_test::hostile_reply r;
      r.raw = raw;
      return r;
    };
  };
  std::vector<scenario> scenarios{
      {"500 InternalError", canned(oss_test::oss_error_reply(500, "Internal Server Error", "InternalError",
                                                             "We encountered an internal error. Please try again."))},
      {"503 SlowDown", canned(oss_test::oss_error_reply(503, "Service Unavailable", "SlowDown", "Reduce your rate."))},
      {"403 AccessDenied", canned(oss_test::oss_error_reply(403, "Forbidden", "AccessDenied", "You have no right."))},
      {"bodiless 403", canned(oss_test::http_reply(403, "Forbidden", {}, ""))},
      {"garbage XML", canned(oss_test::http_reply(200, "OK", {}, "<<<not xml"))},
      {"malformed status line", canned("HTTP/1.1 2OO OK\r\n\r\n")},
      {"headers that never end", [](const oss_test::hostile_request&) {
         oss_test::hostile_reply r;
         r.raw = "HTTP/1.1 200 OK\r\n";
         r.repeat = "X-Filler: " + std::string(500, 'f') + "\r\n";
         return r;
       }},
      {"endless chunked body", [](const oss_test::hostile_request&) {
         oss_test::hostile_reply r;
         r.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
         r.repeat = "8000\r\n" + std::string(0x8000, 'z') + "\r\n";
         return r;
       }},
  };
  for (auto& s : scenarios) {
    CAPTURE(s.label);
    oss_test::hostile_server server(s.script);
    auto o = hostile_options(server);
    o.max_attempts = 2;
    o.retry_time = 300ms;  // the 503 scenario throttles forever; throttling is bounded by time
    // Multipart (Initiate) and single PutObject paths.
    auto big = run_upload(o, "x.bin", oss::buffer_source(std::string(3 * kib100, 'b')), parts_of_100k(guard));
    auto small = run_upload(o, "x.bin", oss::buffer_source(std::string_view("tiny")), parts_of_100k(guard));
    CHECK(big.ec);
    CHECK(small.ec);
    guard.forbid_signatures_of(server);
    guard.scan_error(s.label, big.ec, big.diag);
    guard.scan_error(s.label, small.ec, small.diag);
  }
}

TEST_CASE("secrets: a stalled server (timeout) and a cancelled upload") {
  leak_guard guard;
  {
    oss_test::hostile_server silent([](const oss_test::hostile_request&) {
      oss_test::hostile_reply r;
      r.silent = true;
      return r;
    });
    auto o = hostile_options(silent);
    o.stall_timeout = 200ms;  // the peer never answers; only the count of attempts matters
    o.max_attempts = 2;
    auto out = run_upload(o, "x.bin", oss::buffer_source(std::string_view("tiny")), parts_of_100k(guard));
    CHECK(out.ec == oss::client_errc::connection_timeout);
    guard.forbid_signatures_of(silent);
    guard.scan_error("stall timeout", out.ec, out.diag);
  }
  {
    // Cancel as soon as the silent peer has the request.
    std::atomic<asio::io_context*> io_ptr{nullptr};  // read on the server's thread
    asio::cancellation_signal cancel;
    oss_test::hostile_server silent([&](const oss_test::hostile_request&) {
      asio::post(*io_ptr.load(), [&cancel] { cancel.emit(asio::cancellation_type::terminal); });
      oss_test::hostile_reply r;
      r.silent = true;
      return r;
    });
    auto out = run_upload(hostile_options(silent), "x.bin", oss::buffer_source(std::string(3 * kib100, 'c')),
                          parts_of_100k(guard), &cancel, [&](asio::io_context& io) { io_ptr.store(&io); });
    CHECK(out.ec == asio::error::operation_aborted);
    guard.forbid_signatures_of(silent);
    guard.scan_error("cancelled", out.ec, out.diag);
  }
}

TEST_CASE("secrets: connection refused and TLS failures") {
  leak_guard guard;
  {
    oss::client_options o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(oss_test::closed_port());
    o.region = "cn-local";
    o.bucket = bucket;
    o.creds = {key_id, canary_secret, canary_token};
    o.retry_base_delay = 1ms;
    auto out = run_upload(o, "x.bin", oss::buffer_source(std::string_view("tiny")), parts_of_100k(guard));
    CHECK(out.ec == asio::error::connection_refused);
    guard.scan_error("connection refused", out.ec, out.diag);
  }
  {
    oss_test::self_signed_cert cert("localhost");
    oss_test::temp_dir store;
    oss::testing::local_server_options so;
    so.root = store.path().string();
    so.access_key_id = key_id;
    so.access_key_secret = canary_secret;
    so.tls_cert_file = cert.cert_file();
    so.tls_key_file = cert.key_file();
    oss::testing::local_server_thread server(so);
    oss::client_options o;
    o.endpoint = "https://127.0.0.1:" + std::to_string(server.port());
    o.region = "cn-local";
    o.bucket = bucket;
    o.creds = {key_id, canary_secret, canary_token};
    o.retry_base_delay = 1ms;
    auto out = run_upload(o, "x.bin", oss::buffer_source(std::string_view("tiny")), parts_of_100k(guard));
    CHECK(out.ec.category() == asio::error::get_ssl_category());
    guard.scan_error("TLS", out.ec, out.diag);
  }
}

TEST_CASE("secrets: bad input with a client, and a secret pasted into a header or metadata value") {
  leak_guard guard;
  secrets_env env;
  const auto file = env.write("a.bin", 3 * kib100, 2);
  std::vector<std::pair<const char*, oss::upload_options>> cases;
  auto with = [&](const char* label, std::function<void(oss::upload_options&)> edit) {
    auto o = parts_of_100k(guard);
    edit(o);
    cases.emplace_back(label, std::move(o));
  };
  with("header value with the secret and CR LF", [](oss::upload_options& o) {
    o.headers.emplace_back("Cache-Control", std::string(canary_secret) + "\r\nx: y");
  });
  with("metadata value with the token and LF", [](oss::upload_options& o) {
    o.meta.emplace_back("note", std::string(canary_token) + "\n");
  });
  with("metadata value with the secret and a control byte", [](oss::upload_options& o) {
    o.meta.emplace_back("note", std::string(canary_secret) + "\x01");
  });
  with("MIME type with the secret and CR", [](oss::upload_options& o) { o.mime = std::string("text/") + canary_secret + "\r"; });
  with("too much metadata", [](oss::upload_options& o) { o.meta.emplace_back("big", std::string(9000, 'm')); });
  with("part size", [](oss::upload_options& o) { o.part_size = 1; });
  with("parallel", [](oss::upload_options& o) { o.parallel = 0; });
  for (auto& one_case : cases) {
    // Named members, not a structured binding: clang 14 cannot capture one (CAPTURE's lambda).
    auto& label = one_case.first;
    auto& opts = one_case.second;
    CAPTURE(label);
    auto out = run_upload(env.options(), "a.bin", file, std::move(opts));
    CHECK(out.ec);
    guard.scan_error(label, out.ec, out.diag);
  }
  for (const char* name : {"", "/abs", "\xC0\xAF"}) {
    auto out = run_upload(env.options(), name, file, parts_of_100k(guard));
    CHECK(out.ec == oss::client_errc::invalid_object_name);
    guard.scan_error("object name", out.ec, out.diag);
  }
  auto missing = run_upload(env.options(), "a.bin", env.files / "missing.bin", parts_of_100k(guard));
  CHECK(missing.ec == oss::client_errc::file_not_found);
  guard.scan_error("missing file", missing.ec, missing.diag);
  CHECK(env.server.stats().requests == 0);
}

TEST_CASE("secrets: checkpoints, written, interrupted, corrupt, foreign, resumed") {
  leak_guard guard;
  secrets_env env;
  const auto file = env.write("big.bin", 12 * kib100 + 3, 3);
  const auto ckpt = env.files / "big.ckpt";

  // Interrupted by the progress handler after 3 parts: the checkpoint file stays.
  auto first_opts = parts_of_100k(guard, 1);
  first_opts.checkpoint = ckpt;
  first_opts.progress = scanning_progress(guard, 3);
  auto first = run_upload(env.options(), "big.bin", file, std::move(first_opts));
  CHECK(first.ec == oss::client_errc::handler_exception);
  guard.scan_error("interrupted", first.ec, first.diag);
  REQUIRE(std::filesystem::exists(ckpt));
  guard.scan_file("checkpoint file", ckpt);
  const std::string saved = oss_test::read_file(ckpt);
  CHECK(contains(saved, "uploadId"));  // the scan looked at a real checkpoint

  // The same checkpoint for another object: refused, untouched.
  auto other = run_upload(env.options(), "other.bin", file, [&] {
    auto o = parts_of_100k(guard, 1);
    o.checkpoint = ckpt;
    return o;
  }());
  CHECK(other.ec == oss::client_errc::checkpoint_mismatch);
  guard.scan_error("checkpoint mismatch", other.ec, other.diag);

  // A corrupt checkpoint that happens to hold the canaries: the message never quotes it.
  const auto corrupt = env.files / "corrupt.ckpt";
  oss_test::write_file(corrupt, std::string("{\"uploadId\": \"") + canary_secret + "\", \"partSize\": \"" + canary_token);
  auto bad = run_upload(env.options(), "big.bin", file, [&] {
    auto o = parts_of_100k(guard, 1);
    o.checkpoint = corrupt;
    return o;
  }());
  CHECK(bad.ec == oss::client_errc::checkpoint_corrupt);
  guard.scan_error("corrupt checkpoint", bad.ec, bad.diag);
  const auto typed = env.files / "typed.ckpt";
  oss_test::write_file(typed, std::string("{\"version\":1,\"kind\":\"oss-multipart-upload\",\"name\":\"") + canary_secret +
                                  "\",\"partSize\":\"" + canary_token + "\"}");
  try {
    (void)oss::load_checkpoint(typed);
    FAIL("a checkpoint with wrong types loaded");
  } catch (const oss::error& e) {
    CHECK(e.code() == oss::client_errc::checkpoint_corrupt);
    guard.scan("load_checkpoint what", e.what());
    guard.scan("load_checkpoint diagnostics", e.get_diagnostics());
  }

  // Resumed to the end: events and the result carry nothing secret; the file is deleted.
  auto resume_opts = parts_of_100k(guard, 2);
  resume_opts.checkpoint = ckpt;
  auto done = run_upload(env.options(), "big.bin", file, std::move(resume_opts));
  REQUIRE(!done.ec);
  CHECK(done.result.resumed);
  guard.scan("result etag", done.result.etag);
  guard.scan("result request_id", done.result.request_id);
  guard.scan("result upload_id", done.result.upload_id);
  CHECK(!std::filesystem::exists(ckpt));

  // abort_upload through a checkpoint of another bucket.
  oss::checkpoint cp;
  cp.bucket = "another-bucket";
  cp.name = "big.bin";
  cp.upload_id = "u";
  cp.endpoint = "https://oss-cn-hangzhou.aliyuncs.com";
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  std::error_code ec;
  oss::diagnostics diag;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { std::tie(ec) = co_await oss::async_abort_upload(c, cp, diag, oss_test::tuple_token); }, asio::detached);
  io.run_for(30s);
  CHECK(ec == oss::client_errc::checkpoint_mismatch);
  guard.scan_error("abort_upload", ec, diag);
  guard.scan("checkpoint_to_json", oss::checkpoint_to_json(cp));
}

TEST_CASE("secrets: client construction errors") {
  leak_guard guard;
  auto base = [] {
    oss::client_options o;
    o.endpoint = "http://127.0.0.1:9";
    o.region = "cn-local";
    o.bucket = bucket;
    o.creds = {key_id, canary_secret, canary_token};
    return o;
  };
  std::vector<oss::client_options> bad;
  bad.push_back(base());
  bad.back().bucket = "Bad_Bucket";
  bad.push_back(base());
  bad.back().endpoint = "http://127.0.0.1:9/some/path";
  bad.push_back(base());
  bad.back().ca_file = "/no/such/ca.pem";
  int thrown = 0;
  for (auto& o : bad) {
    asio::io_context io;
    try {
      oss::client c(io.get_executor(), o);
    } catch (const oss::error& e) {
      ++thrown;
      guard.scan("client constructor oss::error", e.what());
      guard.scan("client constructor diagnostics", e.get_diagnostics());
    } catch (const std::system_error& e) {
      ++thrown;
      guard.scan("client constructor system_error", e.what());
    }
  }
  CHECK(thrown == 3);
}

// ---- the oss-upload command line -------------------------------------------------------------

namespace {

using cli_result = oss_test::tool_result;

// Runs oss-upload with `env` added to a copy of ours without OSS_* connection variables.
cli_result run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::function<void(pid_t)>& tick = {}, std::chrono::seconds limit = 120s) {
  return oss_test::run_tool(oss_test::tool_path("oss-upload"), args, env, tick, limit);
}

std::vector<std::string> cli_env(const std::string& endpoint) {
  return {"OSS_ENDPOINT=" + endpoint, "OSS_REGION=cn-local", std::string("OSS_BUCKET=") + bucket,
          std::string("OSS_ACCESS_KEY_ID=") + key_id, std::string("OSS_ACCESS_KEY_SECRET=") + canary_secret,
          std::string("OSS_SESSION_TOKEN=") + canary_token};
}

void scan_cli(leak_guard& guard, std::string_view label, const cli_result& r) {
  guard.scan(label, r.out);
  guard.scan(label, r.err);
  // The key id is public, but the tool has no reason to print it.
  CHECK_MESSAGE(!contains(r.out + r.err, key_id), label << " prints the access key id");
}

}  // namespace

TEST_CASE("secrets: oss-upload output and exit statuses 0, 2, 3, 4 and 130") {
  if (!std::filesystem::exists(oss_test::tool_path("oss-upload"))) {
    OSS_SKIP("oss-upload is not built");
  }
  leak_guard guard;
  secrets_env env;
  const std::string endpoint = env.server.endpoint();
  const std::string file = env.write("cli.bin", 6 * kib100 + 1, 4).string();
  const std::string ckpt = (env.files / "cli.ckpt").string();

  // 0: success with a checkpoint.
  auto ok = run_cli({"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt, file, "cli.bin"}, cli_env(endpoint));
  CHECK(ok.exit_code == 0);
  scan_cli(guard, "exit 0", ok);

  // 2: bad input of every kind the tool sees, including a secret pasted as an option.
  const std::string corrupt = (env.files / "corrupt.ckpt").string();
  oss_test::write_file(corrupt, std::string("{\"uploadId\":\"") + canary_secret);
  const std::vector<std::vector<std::string>> usage = {
      {(env.files / "missing.bin").string(), "x"},
      {env.files.path().string(), "x"},
      {"--checkpoint", corrupt, file, "x"},
      {"--part-size", "1", file, "x"},
      {"--parallel", "0", file, "x"},
      {std::string("--secret=") + canary_secret, file, "x"},
      {std::string("--") + canary_token, file, "x"},
      {"--header", std::string("Cache-Control: ") + canary_secret + "\r\nX: y", file, "x"},
      {"--meta", std::string("note=") + canary_token + "\n", file, "x"},
      {"--mime", std::string("text/") + canary_secret + "\r", file, "x"},
      {file, "/leading-slash"},
      {file},
  };
  for (const auto& args : usage) {
    auto r = run_cli(args, cli_env(endpoint));
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    scan_cli(guard, "exit 2", r);
  }
  CHECK(oss_test::read_file(corrupt) == std::string("{\"uploadId\":\"") + canary_secret);
  {
    // A token with a line break in the environment: refused before anything is sent.
    auto env_vars = cli_env(endpoint);
    env_vars.back() += "\r\nx-oss-object-acl: public-read-write";
    env.server.reset_stats();
    auto r = run_cli({file, "x"}, env_vars);
    CHECK(r.exit_code == 2);
    CHECK(env.server.stats().requests == 0);
    scan_cli(guard, "exit 2 token with CR LF", r);
  }

  // 3: the server refuses the secret, then the token.
  {
    secrets_env other_secret("the-server-knows-another-secret", canary_token);
    auto r = run_cli({file, "x.bin"}, cli_env(other_secret.server.endpoint()));
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, "SignatureDoesNotMatch"));
    scan_cli(guard, "exit 3 secret", r);
    secrets_env other_token(canary_secret, "TOKEN-the-server-expects");
    auto t = run_cli({"--signature", "v1", file, "x.bin"}, cli_env(other_token.server.endpoint()));
    CHECK(t.exit_code == 3);
    scan_cli(guard, "exit 3 token", t);
  }

  // 4: nothing listens; and a peer that never answers (stall timeout).
  {
    auto r = run_cli({"--connect-timeout", "2", file, "x.bin"},
                     cli_env("http://127.0.0.1:" + std::to_string(oss_test::closed_port())));
    CHECK(r.exit_code == 4);
    scan_cli(guard, "exit 4 refused", r);
    oss_test::hostile_server silent([](const oss_test::hostile_request&) {
      oss_test::hostile_reply h;
      h.silent = true;
      return h;
    });
    auto s = run_cli({"--stall-timeout", "1", "--checkpoint", (env.files / "stall.ckpt").string(), file, "x.bin"},
                     cli_env(silent.endpoint()));
    CHECK(s.exit_code == 4);
    scan_cli(guard, "exit 4 stall", s);
    guard.forbid_signatures_of(silent);
    scan_cli(guard, "exit 4 stall (signatures)", s);
  }

  // 130: SIGINT once parts are on the server; the checkpoint is saved and scanned.
  {
    const std::string big = env.write("sigint.bin", 200 * kib100, 5).string();
    const std::string sig_ckpt = (env.files / "sigint.ckpt").string();
    env.server.reset_stats();
    bool sent = false;
    auto r = run_cli({"--parallel", "2", "--part-size", "100K", "--checkpoint", sig_ckpt, big, "sigint.bin"},
                     cli_env(endpoint), [&](pid_t pid) {
                       if (!sent && env.server.stats().parts_uploaded >= 5) {
                         kill(pid, SIGINT);
                         sent = true;
                       }
                     });
    REQUIRE(sent);
    CHECK(r.exit_code == 130);
    scan_cli(guard, "exit 130", r);
    REQUIRE(std::filesystem::exists(sig_ckpt));
    guard.scan_file("checkpoint after SIGINT", sig_ckpt);
  }
  CHECK(guard.scanned > 30);
}

TEST_CASE("secrets: oss-upload --dialect s3: success with a checkpoint, and a wrong secret (exit 3)") {
  if (!std::filesystem::exists(oss_test::tool_path("oss-upload"))) {
    OSS_SKIP("oss-upload is not built");
  }
  leak_guard guard;
  secrets_env env(canary_secret, canary_token, oss::api_dialect::s3);
  secrets_env other_secret("the-server-knows-another-secret", canary_token, oss::api_dialect::s3);
  const std::string file = env.write("s3.bin", (5u << 20) + 3, 6).string();
  const std::string ckpt = (env.files / "s3.ckpt").string();

  auto ok = run_cli({"--dialect", "s3", "--part-size", "5M", "--checkpoint", ckpt, file, "s3.bin"},
                    cli_env(env.server.endpoint()));
  CHECK(ok.exit_code == 0);
  scan_cli(guard, "s3 exit 0", ok);
  guard.scan_file("s3 checkpoint", ckpt);

  const std::string refused_ckpt = (env.files / "refused.ckpt").string();
  auto refused = run_cli({"--dialect", "s3", "--part-size", "5M", "--checkpoint", refused_ckpt, file, "s3.bin"},
                         cli_env(other_secret.server.endpoint()));
  CHECK(refused.exit_code == 3);
  scan_cli(guard, "s3 exit 3", refused);
  guard.scan_file("s3 checkpoint after refusal", refused_ckpt);
  CHECK(guard.scanned >= 4);
}
