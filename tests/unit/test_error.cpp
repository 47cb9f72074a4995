// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// The error model: categories and their messages, OSS Code strings in both directions, retry
// classification, diagnostics and the text of oss::error::what().

#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>
#include <doctest/doctest.h>

#include <cerrno>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

// Every OSS Code the brief names, with the enumerator it must map to.
const std::vector<std::pair<std::string_view, oss::server_errc>>& all_codes() {
  using oss::server_errc;
  static const std::vector<std::pair<std::string_view, server_errc>> codes{
      {"NoSuchUpload", server_errc::no_such_upload},
      {"SlowDown", server_errc::slow_down},
      {"ServiceUnavailable", server_errc::service_unavailable},
      {"RequestTimeTooSkewed", server_errc::request_time_too_skewed},
      {"InvalidAccessKeyId", server_errc::invalid_access_key_id},
      {"SecurityTokenExpired", server_errc::security_token_expired},
      {"InvalidSecurityToken", server_errc::invalid_security_token},
      {"SignatureDoesNotMatch", server_errc::signature_does_not_match},
      {"MissingContentLength", server_errc::missing_content_length},
      {"InvalidDigest", server_errc::invalid_digest},
      {"RequestTimeout", server_errc::request_timeout},
      {"NoSuchKey", server_errc::no_such_key},
      {"NoSuchBucket", server_errc::no_such_bucket},
      {"InvalidObjectName", server_errc::invalid_object_name},
      {"InvalidBucketName", server_errc::invalid_bucket_name},
      {"MethodNotAllowed", server_errc::method_not_allowed},
      {"NotImplemented", server_errc::not_implemented},
      {"CallbackFailed", server_errc::callback_failed},
      {"MalformedXML", server_errc::malformed_xml},
      {"InvalidRequest", server_errc::invalid_request},
      {"InvalidArgument", server_errc::invalid_argument},
      {"EntityTooSmall", server_errc::entity_too_small},
      {"EntityTooLarge", server_errc::entity_too_large},
      {"FileAlreadyExists", server_errc::file_already_exists},
      {"InvalidPart", server_errc::invalid_part},
      {"InvalidPartOrder", server_errc::invalid_part_order},
      {"AccessDenied", server_errc::access_denied},
      {"InternalError", server_errc::internal_error},
  };
  return codes;
}

constexpr int last_client_errc = static_cast<int>(oss::client_errc::parts_missing);
constexpr int last_server_errc = static_cast<int>(oss::server_errc::invalid_request);

}  // namespace

TEST_CASE("error: enumerator values are the published, stable ones") {
  // Check: appending is allowed, reordering is not; these pin the first and last values.
  CHECK(static_cast<int>(oss::client_errc::connection_timeout) == 1);
  CHECK(static_cast<int>(oss::client_errc::malformed_xml) == 4);
  CHECK(static_cast<int>(oss::client_errc::crc64_mismatch) == 7);
  CHECK(static_cast<int>(oss::client_errc::credentials_unavailable) == 27);
  CHECK(static_cast<int>(oss::client_errc::unverified) == 28);
  CHECK(static_cast<int>(oss::client_errc::object_changed) == 31);
  CHECK(static_cast<int>(oss::client_errc::unexpected_exception) == 33);
  CHECK(static_cast<int>(oss::client_errc::range_ignored) == 34);
  CHECK(last_client_errc == 36);
  CHECK(static_cast<int>(oss::server_errc::unknown) == 1);
  CHECK(static_cast<int>(oss::server_errc::no_such_upload) == 2);
  CHECK(static_cast<int>(oss::server_errc::request_time_too_skewed) == 13);
  CHECK(last_server_errc == 29);
}

TEST_CASE("error: categories have the documented names") {
  CHECK(std::string_view(oss::client_category().name()) == "oss.client");
  CHECK(std::string_view(oss::server_category().name()) == "oss.server");
  CHECK(std::string_view(oss::http_status_category().name()) == "oss.http");
}

TEST_CASE("error: enums convert implicitly to std::error_code") {
  // Setup
  std::error_code client = oss::client_errc::crc64_mismatch;
  std::error_code server = oss::server_errc::no_such_upload;

  // Check
  CHECK(client.category() == oss::client_category());
  CHECK(client.value() == 7);
  CHECK(client == oss::client_errc::crc64_mismatch);
  CHECK(client != oss::client_errc::missing_etag);
  CHECK(server.category() == oss::server_category());
  CHECK(server == oss::server_errc::no_such_upload);
  // Same value, different category: never equal.
  CHECK(std::error_code(oss::client_errc::connection_timeout) !=
        std::error_code(oss::server_errc::unknown));
  CHECK(oss::make_error_code(oss::client_errc::malformed_xml) == oss::client_errc::malformed_xml);
}

TEST_CASE("error: every client_errc has its own message that says what to do") {
  std::set<std::string> seen;
  for (int v = 1; v <= last_client_errc; ++v) {
    CAPTURE(v);
    const std::string m = oss::client_category().message(v);
    CHECK(m.size() > 20);
    CHECK(m.find("unknown") == std::string::npos);
    CHECK(seen.insert(m).second);
  }
  CHECK(oss::make_error_code(oss::client_errc::connection_timeout).message() ==
        "no byte moved within the connect or stall timeout; run again with the same checkpoint "
        "to resume, or raise the timeout");
  CHECK(oss::client_category().message(0).find("unknown") != std::string::npos);
  CHECK(oss::client_category().message(last_client_errc + 1).find("unknown") != std::string::npos);
}

TEST_CASE("error: every server_errc has its own message") {
  std::set<std::string> seen;
  for (int v = 1; v <= last_server_errc; ++v) {
    CAPTURE(v);
    const std::string m = oss::server_category().message(v);
    CHECK(m.size() > 20);
    CHECK(m.find("unknown oss.server") == std::string::npos);
    CHECK(seen.insert(m).second);
  }
  CHECK(oss::server_category().message(last_server_errc + 1).find("unknown") !=
        std::string::npos);
}

TEST_CASE("error: the HTTP status category reads like a status line") {
  CHECK(oss::make_http_status_error(404).message() == "HTTP 404 Not Found");
  CHECK(oss::make_http_status_error(403).message() == "HTTP 403 Forbidden");
  CHECK(oss::make_http_status_error(429).message() == "HTTP 429 Too Many Requests");
  CHECK(oss::make_http_status_error(503).message() == "HTTP 503 Service Unavailable");
  CHECK(oss::make_http_status_error(599).message() == "HTTP 599");
  const std::error_code ec = oss::make_http_status_error(404);
  CHECK(ec.value() == 404);
  CHECK(ec.category() == oss::http_status_category());
}

TEST_CASE("error: server_errc_from_code knows every listed code, both ways") {
  for (const auto& entry : all_codes()) {
    const std::string_view code = entry.first;
    const oss::server_errc value = entry.second;
    CAPTURE(code);
    CHECK(oss::server_errc_from_code(code) == value);
    CHECK(oss::server_errc_code(value) == code);
  }
  // Every enumerator except unknown has a code, and all codes differ.
  std::set<std::string_view> names;
  for (int v = 2; v <= last_server_errc; ++v) {
    CAPTURE(v);
    const std::string_view name = oss::server_errc_code(static_cast<oss::server_errc>(v));
    CHECK(name != "Unknown");
    CHECK(names.insert(name).second);
    CHECK(oss::server_errc_from_code(name) == static_cast<oss::server_errc>(v));
  }
  CHECK(names.size() == all_codes().size());
}

TEST_CASE("error: unlisted codes map to unknown") {
  CHECK(oss::server_errc_from_code("") == oss::server_errc::unknown);
  CHECK(oss::server_errc_from_code("NoSuchThing") == oss::server_errc::unknown);
  // OSS codes are case-sensitive.
  CHECK(oss::server_errc_from_code("nosuchupload") == oss::server_errc::unknown);
  CHECK(oss::server_errc_from_code("NoSuchUpload ") == oss::server_errc::unknown);
  CHECK(oss::server_errc_code(oss::server_errc::unknown) == "Unknown");
  CHECK(oss::server_errc_code(static_cast<oss::server_errc>(999)) == "Unknown");
}

TEST_CASE("error: classify sorts failures into retry classes") {
  using oss::classify;
  using oss::retry_class;
  using oss::client_errc;
  using oss::server_errc;

  SUBCASE("transport failures are transient") {
    CHECK(classify(client_errc::connection_timeout, 0) == retry_class::transient);
    CHECK(classify(client_errc::crc64_mismatch, 200) == retry_class::transient);
    CHECK(classify(asio::error::eof, 0) == retry_class::transient);
    CHECK(classify(asio::error::connection_reset, 0) == retry_class::transient);
    CHECK(classify(asio::error::connection_aborted, 0) == retry_class::transient);
    CHECK(classify(asio::error::connection_refused, 0) == retry_class::transient);
    CHECK(classify(asio::error::broken_pipe, 0) == retry_class::transient);
    CHECK(classify(asio::error::timed_out, 0) == retry_class::transient);
    CHECK(classify(asio::error::host_not_found_try_again, 0) == retry_class::transient);
    CHECK(classify(asio::ssl::error::stream_truncated, 0) == retry_class::transient);
    CHECK(classify(asio::error::network_unreachable, 0) == retry_class::transient);
    CHECK(classify(std::make_error_code(std::errc::connection_reset), 0) ==
          retry_class::transient);
    CHECK(classify(std::error_code(ECONNREFUSED, std::system_category()), 0) ==
          retry_class::transient);
  }
  SUBCASE("server codes that mean 'send it again' are transient") {
    CHECK(classify(server_errc::request_timeout, 400) == retry_class::transient);
    CHECK(classify(server_errc::invalid_digest, 400) == retry_class::transient);
    CHECK(classify(server_errc::request_time_too_skewed, 403) == retry_class::transient);
  }
  SUBCASE("throttling") {
    CHECK(classify(server_errc::slow_down, 503) == retry_class::throttled);
    CHECK(classify(server_errc::service_unavailable, 503) == retry_class::throttled);
    CHECK(classify(oss::make_http_status_error(429), 429) == retry_class::throttled);
    CHECK(classify(oss::make_http_status_error(503), 0) == retry_class::throttled);
    CHECK(classify({}, 429) == retry_class::throttled);
    CHECK(classify(server_errc::unknown, 503) == retry_class::throttled);
  }
  SUBCASE("server failures") {
    CHECK(classify(server_errc::internal_error, 500) == retry_class::server);
    CHECK(classify(oss::make_http_status_error(502), 502) == retry_class::server);
    CHECK(classify(oss::make_http_status_error(504), 0) == retry_class::server);
    CHECK(classify(server_errc::unknown, 500) == retry_class::server);
    CHECK(classify({}, 500) == retry_class::server);
  }
  SUBCASE("status-only decisions") {
    CHECK(classify(oss::make_http_status_error(408), 408) == retry_class::transient);
    CHECK(classify(oss::make_http_status_error(404), 404) == retry_class::fatal);
    CHECK(classify(oss::make_http_status_error(403), 0) == retry_class::fatal);
    // 501 will not change on a retry.
    CHECK(classify(oss::make_http_status_error(501), 501) == retry_class::fatal);
    CHECK(classify(server_errc::unknown, 400) == retry_class::fatal);
    CHECK(classify({}, 0) == retry_class::fatal);
    CHECK(classify({}, 200) == retry_class::fatal);
  }
  SUBCASE("everything else is fatal") {
    for (int v = 1; v <= last_client_errc; ++v) {
      const auto e = static_cast<client_errc>(v);
      if (e == client_errc::connection_timeout || e == client_errc::crc64_mismatch) continue;
      CAPTURE(v);
      CHECK(classify(e, 0) == retry_class::fatal);
    }
    for (server_errc e : {server_errc::no_such_upload, server_errc::invalid_part,
                          server_errc::invalid_part_order, server_errc::entity_too_small,
                          server_errc::file_already_exists, server_errc::signature_does_not_match,
                          server_errc::access_denied, server_errc::invalid_access_key_id,
                          server_errc::security_token_expired, server_errc::no_such_bucket,
                          server_errc::callback_failed, server_errc::malformed_xml}) {
      CAPTURE(static_cast<int>(e));
      CHECK(classify(e, 400) == retry_class::fatal);
    }
    // A known non-retryable code wins over a 5xx status.
    CHECK(classify(server_errc::not_implemented, 501) == retry_class::fatal);
    CHECK(classify(server_errc::access_denied, 500) == retry_class::fatal);
    // Cancellation must never be retried behind the caller's back.
    CHECK(classify(asio::error::operation_aborted, 0) == retry_class::fatal);
    CHECK(classify(std::make_error_code(std::errc::operation_canceled), 0) == retry_class::fatal);
    CHECK(classify(asio::error::host_not_found, 0) == retry_class::fatal);
    CHECK(classify(std::make_error_code(std::errc::permission_denied), 0) == retry_class::fatal);
  }
}

TEST_CASE("error: diagnostics::clear resets every field") {
  // Setup
  oss::diagnostics d;
  d.http_status = 404;
  d.code = "NoSuchUpload";
  d.message = "m";
  d.request_id = "r";
  d.host_id = "h";
  d.ec = "0042-00000203";
  d.operation = "upload_part";
  d.part_number = 3;
  d.attempts = 2;
  d.client_message = "c";

  // Run
  d.clear();

  // Check
  CHECK(d.http_status == 0);
  CHECK(d.code.empty());
  CHECK(d.message.empty());
  CHECK(d.request_id.empty());
  CHECK(d.host_id.empty());
  CHECK(d.ec.empty());
  CHECK(d.operation.empty());
  CHECK(d.part_number == 0);
  CHECK(d.attempts == 0);
  CHECK(d.client_message.empty());
}

TEST_CASE("error: what() with a server code") {
  // Setup
  oss::diagnostics d;
  d.http_status = 404;
  d.code = "NoSuchUpload";
  d.message = "The specified upload does not exist.";
  d.request_id = "640ED770048FEF3231A98BA9";
  d.host_id = "bucket.oss-cn-hangzhou.aliyuncs.com";
  d.ec = "0042-00000203";
  d.operation = "upload_part";
  d.part_number = 7;
  d.attempts = 3;

  // Run
  const oss::error e(oss::server_errc::no_such_upload, d);

  // Check
  CHECK(std::string_view(e.what()) ==
        "NoSuchUpload: The specified upload does not exist. (RequestId 640ED770048FEF3231A98BA9, "
        "operation upload_part, part 7, attempts 3)");
  CHECK(e.code() == oss::server_errc::no_such_upload);
  CHECK(e.get_diagnostics().host_id == "bucket.oss-cn-hangzhou.aliyuncs.com");
  CHECK(e.get_diagnostics().ec == "0042-00000203");
  CHECK(e.get_diagnostics().http_status == 404);
}

TEST_CASE("error: what() leaves out what is unknown") {
  oss::diagnostics d;
  d.code = "SlowDown";
  CHECK(std::string_view(oss::error(oss::server_errc::slow_down, d).what()) == "SlowDown");
  d.message = "Please reduce your request rate.";
  d.operation = "complete_multipart_upload";
  CHECK(std::string_view(oss::error(oss::server_errc::slow_down, d).what()) ==
        "SlowDown: Please reduce your request rate. (operation complete_multipart_upload)");
}

TEST_CASE("error: what() without a server code uses the category message") {
  // Setup
  oss::diagnostics d;
  d.client_message = "part 4 CRC 123 != 456";
  d.operation = "upload_part";
  d.part_number = 4;
  d.attempts = 1;
  const std::string category = oss::make_error_code(oss::client_errc::crc64_mismatch).message();

  // Run
  const oss::error e(oss::client_errc::crc64_mismatch, d);

  // Check
  CHECK(std::string_view(e.what()) ==
        category + ": part 4 CRC 123 != 456 (operation upload_part, part 4, attempts 1)");
}

TEST_CASE("error: what() of a bodiless HTTP failure and of a bare code") {
  oss::diagnostics d;
  d.request_id = "5C3D9175B6FC201293AD4890";
  d.operation = "head";
  CHECK(std::string_view(oss::error(oss::make_http_status_error(404), d).what()) ==
        "HTTP 404 Not Found (RequestId 5C3D9175B6FC201293AD4890, operation head)");
  CHECK(std::string_view(oss::error(oss::client_errc::invalid_parallel, {}).what()) ==
        "parallel must be at least 1");
  CHECK(std::string_view(oss::error(asio::error::connection_reset, {}).what()) ==
        asio::error_code(asio::error::connection_reset).message());
}

TEST_CASE("error: what() strips control characters and caps server text") {
  // Setup
  oss::diagnostics d;
  d.code = "InvalidArgument";
  d.message = "line one\r\nline two\x1b[31m\tend\x7f";
  d.request_id = "id\nInjected: header";

  // Run
  const std::string what = oss::error(oss::server_errc::invalid_argument, d).what();

  // Check
  CHECK(what == "InvalidArgument: line one line two [31m end (RequestId id Injected: header)");
  for (const char c : what) CHECK(static_cast<unsigned char>(c) >= 0x20);

  SUBCASE("long messages are cut") {
    d.message = std::string(10000, 'x');
    const std::string long_what = oss::error(oss::server_errc::invalid_argument, d).what();
    CHECK(long_what.size() < 700);
    CHECK(long_what.find("...") != std::string::npos);
  }
}

TEST_CASE("error: sanitize_text keeps UTF-8 whole and replaces what is not UTF-8") {
  using oss::detail::sanitize_text;
  CHECK(sanitize_text("  plain  text  ", 100) == "plain text");
  CHECK(sanitize_text("\xE6\x96\x87\xE4\xBB\xB6", 100) == "\xE6\x96\x87\xE4\xBB\xB6");
  CHECK(sanitize_text("a\xFF" "b\xC0\xAF" "c", 100) == "a?b??c");           // invalid / overlong
  CHECK(sanitize_text("a\xED\xA0\x80" "b", 100) == "a???b");                  // a surrogate
  CHECK(sanitize_text("a\xC2\x85" "b\xE2\x80\xAE" "c", 100) == "a b c");      // NEL, RLO
  // Cut on a character boundary: 4 three-byte characters, room for 8 bytes.
  const std::string cut = sanitize_text("\xE6\x96\x87\xE6\x96\x87\xE6\x96\x87\xE6\x96\x87", 8);
  CHECK(cut == "\xE6\x96\x87...");
  CHECK(sanitize_text("abcdef", 6) == "abcdef");
  CHECK(sanitize_text("abcdefg", 6) == "abc...");
}

TEST_CASE("error: throw_error throws oss::error, catchable as std::system_error") {
  // Setup
  oss::diagnostics d;
  d.operation = "initiate_multipart_upload";
  d.client_message = "no UploadId element";

  // Run / Check
  try {
    oss::throw_error(oss::client_errc::missing_upload_id, d);
    FAIL("throw_error returned");
  } catch (const std::system_error& e) {
    CHECK(e.code() == oss::client_errc::missing_upload_id);
    const auto* oe = dynamic_cast<const oss::error*>(&e);
    REQUIRE(oe != nullptr);
    CHECK(oe->get_diagnostics().client_message == "no UploadId element");
    CHECK(std::string_view(e.what()).find("no UploadId element (operation "
                                          "initiate_multipart_upload)") != std::string_view::npos);
  }
}
