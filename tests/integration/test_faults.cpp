// Fault plans of oss::testing::local_server (issue 4, item 1): each action observed through a
// real oss::client request, the rule matching (operation, part, nth, attempt, times), the
// counters tests assert on, runtime credential rotation, close-on-exec sockets, and the
// --fault-plan option of the oss-local-server executable.
#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/fault_env.hpp"
#include "../support/hostile_proxy.hpp"
#include "../support/process.hpp"
#include "../support/run_coro.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"

using namespace std::chrono_literals;
using oss::testing::fault_action;
using oss::testing::fault_rule;

namespace {

constexpr std::size_t kib = 1024;

// One client on its own io_context, plus what a test usually needs from it.
struct fault_client {
  asio::io_context io;
  oss::client client;

  fault_client(const oss_test::fault_env& env, int max_attempts)
      : client(io.get_executor(), [&] {
          auto o = env.options();
          o.max_attempts = max_attempts;
          return o;
        }()) {}
  fault_client(const oss::client_options& o) : client(io.get_executor(), o) {}

  std::string initiate(const std::string& name) {
    std::string id;
    auto run = [&]() -> asio::awaitable<void> { id = co_await client.initiate_multipart_upload(name); };
    oss_test::fault_run(io, run);
    return id;
  }

  std::error_code upload_part(const std::string& name, const std::string& id, int number, const std::string& body,
                              oss::diagnostics& diag, oss::part_result* out = nullptr) {
    std::error_code ec;
    auto run = [&]() -> asio::awaitable<void> {
      oss::part_result r;
      std::tie(ec, r) = co_await client.async_upload_part(name, id, number, asio::buffer(body), false, diag, oss_test::tuple_token);
      if (out) *out = r;
    };
    oss_test::fault_run(io, run);
    return ec;
  }

  std::error_code put(const std::string& name, const std::string& body, oss::diagnostics& diag) {
    std::error_code ec;
    auto run = [&]() -> asio::awaitable<void> {
      const oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object(name, asio::buffer(body), none, diag, oss_test::tuple_token);
    };
    oss_test::fault_run(io, run);
    return ec;
  }

  std::error_code get(const std::string& name, std::string& body, oss::diagnostics& diag) {
    std::error_code ec;
    auto run = [&]() -> asio::awaitable<void> { std::tie(ec, body) = co_await client.async_get_object(name, diag, oss_test::tuple_token); };
    oss_test::fault_run(io, run);
    return ec;
  }

  std::error_code complete(const std::string& name, const std::string& id, std::vector<oss::completed_part> parts,
                           oss::complete_result& result, oss::diagnostics& diag) {
    std::error_code ec;
    auto run = [&]() -> asio::awaitable<void> {
      std::tie(ec, result) = co_await client.async_complete_multipart_upload(name, id, parts, diag, oss_test::tuple_token);
    };
    oss_test::fault_run(io, run);
    return ec;
  }

  // Part numbers the server holds for the upload (no faults must be planned for ListParts).
  std::vector<int> stored_parts(const std::string& name, const std::string& id) {
    std::vector<int> numbers;
    auto run = [&]() -> asio::awaitable<void> {
      auto r = co_await client.list_all_parts(name, id);
      for (const auto& p : r.parts) numbers.push_back(p.part_number);
    };
    oss_test::fault_run(io, run);
    return numbers;
  }

  std::error_code list_parts(const std::string& name, const std::string& id, oss::diagnostics& diag) {
    std::error_code ec;
    auto run = [&]() -> asio::awaitable<void> {
      const oss::list_parts_options all;
      std::tie(ec, std::ignore) = co_await client.async_list_parts(name, id, all, diag, oss_test::tuple_token);
    };
    oss_test::fault_run(io, run);
    return ec;
  }
};

fault_rule error_rule(std::string op, int status, std::string code) {
  fault_rule r;
  r.operation = std::move(op);
  r.action = fault_action::error_reply;
  r.status = status;
  r.code = std::move(code);
  return r;
}

fault_rule action_rule(std::string op, fault_action action) {
  fault_rule r;
  r.operation = std::move(op);
  r.action = action;
  return r;
}

// An error that a lost or broken connection produces: whatever the transport saw, it is not a
// server answer and not success.
bool is_connection_failure(std::error_code ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == oss::client_errc::malformed_response ||
         ec == oss::client_errc::connection_timeout;
}

}  // namespace

TEST_CASE("faults: error_reply sends 500, 503, 403 RequestTimeTooSkewed and 404 as OSS errors") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("err.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 1);
  env.server.reset_stats();

  // Run
  struct expectation {
    int status;
    const char* code;
    oss::server_errc errc;
  };
  const expectation table[] = {
      {500, "InternalError", oss::server_errc::internal_error},
      {503, "SlowDown", oss::server_errc::slow_down},
      {403, "RequestTimeTooSkewed", oss::server_errc::request_time_too_skewed},
      {404, "NoSuchUpload", oss::server_errc::no_such_upload},
  };
  std::vector<std::error_code> got;
  std::vector<int> statuses;
  for (const auto& e : table) {
    env.server.set_fault_plan({error_rule("UploadPart", e.status, e.code)});
    oss::diagnostics diag;
    got.push_back(c.upload_part("err.bin", id, 1, body, diag));
    statuses.push_back(diag.http_status);
  }
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("err.bin", id);

  // Check
  for (std::size_t i = 0; i < std::size(table); ++i) {
    CHECK(got[i] == table[i].errc);
    CHECK(statuses[i] == table[i].status);
  }
  const auto s = env.server.stats();
  CHECK(s.faults_injected == 4);
  CHECK(s.upload_part == 4);
  CHECK(s.parts_uploaded == 0);  // no effect without apply_then_fail
  CHECK(s.errors == 4);
  CHECK(stored.empty());
  CHECK(env.server.part_attempts().at(1) == 4);
}

TEST_CASE("faults: error replies are retried by the client until the rule stops firing") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 3);
  const std::string id = c.initiate("retry.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 2);
  env.server.reset_stats();
  auto rule = error_rule("UploadPart", 503, "SlowDown");
  rule.times = 2;
  env.server.set_fault_plan({rule});

  // Run
  oss::diagnostics diag;
  const auto ec = c.upload_part("retry.bin", id, 1, body, diag);

  // Check
  CHECK(!ec);
  CHECK(env.server.stats().faults_injected == 2);
  CHECK(env.server.part_attempts().at(1) == 3);
  CHECK(env.server.stats().max_part_attempts == 3);
  CHECK(env.server.stats().parts_uploaded == 1);
}

TEST_CASE("faults: RequestTimeTooSkewed carries ServerTime and the re-signed retry succeeds") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 2);
  env.server.set_fault_plan({error_rule("PutObject", 403, "RequestTimeTooSkewed")});

  // Run
  oss::diagnostics diag;
  const auto ec = c.put("skew.txt", "skewed", diag);

  // Check
  CHECK(!ec);
  CHECK(env.server.stats().put_object == 2);
  CHECK(env.server.stats().faults_injected == 1);
  // The fault's ServerTime is the server's real clock, so the learned offset stays small.
  CHECK(std::chrono::abs(c.client.clock_offset()) < 60s);
}

TEST_CASE("faults: apply_then_fail stores the part although the reply is an error") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("apply.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 3);
  auto rule = error_rule("UploadPart", 500, "InternalError");
  rule.apply_then_fail = true;
  env.server.set_fault_plan({rule});

  // Run
  oss::diagnostics diag;
  const auto ec = c.upload_part("apply.bin", id, 1, body, diag);
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("apply.bin", id);

  // Check
  CHECK(ec == oss::server_errc::internal_error);
  CHECK(stored == std::vector<int>{1});
  CHECK(env.server.stats().parts_uploaded == 1);
}

TEST_CASE("faults: close_before_reply loses the reply, with or without the effect") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("close.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 4);

  // Run. The transport replays a request once on a new connection when a reused keep-alive
  // connection dies before the first reply byte, so the rules fire on every request here.
  auto plain = action_rule("UploadPart", fault_action::close_before_reply);
  plain.times = 0;
  env.server.set_fault_plan({plain});
  oss::diagnostics d1;
  const auto ec1 = c.upload_part("close.bin", id, 1, body, d1);
  env.server.clear_fault_plan();
  const auto after_plain = c.stored_parts("close.bin", id);
  auto applied = plain;
  applied.apply_then_fail = true;
  env.server.set_fault_plan({applied});
  oss::diagnostics d2;
  const auto ec2 = c.upload_part("close.bin", id, 2, body, d2);
  env.server.clear_fault_plan();
  const auto after_applied = c.stored_parts("close.bin", id);

  // Check
  CHECK(is_connection_failure(ec1));
  CHECK(is_connection_failure(ec2));
  CHECK(after_plain.empty());
  CHECK(after_applied == std::vector<int>{2});
  CHECK(env.server.stats().faults_injected == env.server.stats().upload_part);
}

TEST_CASE("faults: a Complete that took effect and lost its reply is reconciled by the client") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 3);
  const std::string id = c.initiate("complete.bin");
  const std::string p1 = oss_test::random_bytes(100 * kib, 5);
  const std::string p2 = oss_test::random_bytes(10 * kib, 6);
  oss::diagnostics diag;
  oss::part_result r1, r2;
  REQUIRE(!c.upload_part("complete.bin", id, 1, p1, diag, &r1));
  REQUIRE(!c.upload_part("complete.bin", id, 2, p2, diag, &r2));
  auto rule = action_rule("CompleteMultipartUpload", fault_action::close_before_reply);
  rule.apply_then_fail = true;
  env.server.set_fault_plan({rule});

  // Run
  oss::complete_result result;
  const auto ec = c.complete("complete.bin", id, {{1, r1.etag, p1.size(), r1.crc64}, {2, r2.etag, p2.size(), r2.crc64}},
                             result, diag);

  // Check
  CHECK_MESSAGE(!ec, diag.client_message);
  CHECK(result.reconciled);
  CHECK(result.etag.ends_with("-2\""));
  CHECK(env.server.stats().complete_multipart_upload == 2);
  CHECK(env.server.stats().head_object == 1);
  CHECK(env.server.stats().faults_injected == 1);
}

TEST_CASE("faults: reset_during_body resets the connection after N body bytes and stores nothing") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("reset.bin");
  const std::string body = oss_test::random_bytes(300 * kib, 7);
  auto rule = action_rule("UploadPart", fault_action::reset_during_body);
  rule.after_bytes = 64 * kib;
  rule.times = 0;  // also the transport's replay on a new connection (see close_before_reply)
  env.server.set_fault_plan({rule});
  env.server.reset_stats();

  // Run
  oss::diagnostics diag;
  const auto ec = c.upload_part("reset.bin", id, 1, body, diag);
  const auto received = env.server.stats().bytes_received;
  const auto sent_parts = env.server.stats().upload_part;
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("reset.bin", id);

  // Check
  CHECK(is_connection_failure(ec));
  CHECK(sent_parts >= 1);
  CHECK(received == 64 * kib * sent_parts);
  CHECK(stored.empty());
  CHECK(env.server.stats().parts_uploaded == 0);
}

TEST_CASE("faults: a stall longer than the client's stall timeout is a connection_timeout") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("stall.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 8);
  auto rule = action_rule("UploadPart", fault_action::stall);
  rule.after_bytes = 0;
  rule.duration = 2s;  // beyond the 150 ms stall timeout; stop() cuts it short at the end
  env.server.set_fault_plan({rule});

  // Run
  oss::diagnostics diag;
  const auto ec = c.upload_part("stall.bin", id, 1, body, diag);

  // Check
  CHECK(ec == oss::client_errc::connection_timeout);
  CHECK(env.server.stats().faults_injected == 1);
}

TEST_CASE("faults: a delay after the effect loses the reply of a stored part") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("delay.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 9);
  auto rule = action_rule("UploadPart", fault_action::delay);
  rule.duration = 2s;
  env.server.set_fault_plan({rule});

  // Run
  oss::diagnostics diag;
  const auto ec = c.upload_part("delay.bin", id, 1, body, diag);
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("delay.bin", id);

  // Check
  CHECK(ec == oss::client_errc::connection_timeout);
  CHECK(stored == std::vector<int>{1});
}

TEST_CASE("faults: truncated_reply cuts a body short, or a bodiless reply's head") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  oss::diagnostics diag;
  const std::string object = oss_test::random_bytes(10 * kib, 10);
  REQUIRE(!c.put("trunc.txt", object, diag));
  const std::string id = c.initiate("trunc.bin");
  auto rule = action_rule("GetObject", fault_action::truncated_reply);
  rule.after_bytes = 100;
  env.server.set_fault_plan({rule, action_rule("UploadPart", fault_action::truncated_reply)});
  env.server.reset_stats();

  // Run
  std::string got;
  const auto get_ec = c.get("trunc.txt", got, diag);
  const auto sent = env.server.stats().bytes_sent;
  const auto part_ec = c.upload_part("trunc.bin", id, 1, oss_test::random_bytes(100 * kib, 11), diag);
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("trunc.bin", id);

  // Check
  CHECK(is_connection_failure(get_ec));
  CHECK(sent == 100);
  CHECK(is_connection_failure(part_ec));
  CHECK(stored == std::vector<int>{1});  // the part was stored before its reply was cut
  CHECK(env.server.stats().faults_injected == 2);
}

TEST_CASE("faults: missing_etag and wrong_crc64 are caught by the client's reply checks") {
  // Setup
  oss_test::fault_env env;
  fault_client once(env, 1);
  fault_client retrying(env, 3);
  const std::string id = once.initiate("check.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 12);

  // Run
  oss::diagnostics diag;
  env.server.set_fault_plan({action_rule("UploadPart", fault_action::missing_etag)});
  const auto no_etag = once.upload_part("check.bin", id, 1, body, diag);
  env.server.set_fault_plan({action_rule("UploadPart", fault_action::wrong_crc64)});
  const auto bad_crc = once.upload_part("check.bin", id, 2, body, diag);
  env.server.set_fault_plan({action_rule("UploadPart", fault_action::wrong_crc64)});
  oss::part_result ok;
  const auto retried = retrying.upload_part("check.bin", id, 3, body, diag, &ok);

  // Check
  CHECK(no_etag == oss::client_errc::missing_etag);
  CHECK(bad_crc == oss::client_errc::crc64_mismatch);
  CHECK(!retried);
  CHECK(ok.crc64 == oss_test::fault_crc(body));
  CHECK(env.server.part_attempts().at(3) == 2);
  CHECK(env.server.stats().faults_injected == 3);
}

TEST_CASE("faults: error_in_200 on Complete is an error, and the upload is still there") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("e200.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 13);
  oss::diagnostics diag;
  oss::part_result r1;
  REQUIRE(!c.upload_part("e200.bin", id, 1, body, diag, &r1));
  auto rule = action_rule("CompleteMultipartUpload", fault_action::error_in_200);
  rule.code = "InternalError";
  env.server.set_fault_plan({rule});

  // Run
  oss::complete_result result;
  const auto ec = c.complete("e200.bin", id, {{1, r1.etag}}, result, diag);
  const int status = diag.http_status;
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("e200.bin", id);

  // Check
  CHECK(ec == oss::server_errc::internal_error);
  CHECK(status == 200);
  CHECK(stored == std::vector<int>{1});
}

TEST_CASE("faults: garbage_body instead of XML is malformed_xml") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("garbage.bin");
  env.server.set_fault_plan({action_rule("ListParts", fault_action::garbage_body),
                             action_rule("InitiateMultipartUpload", fault_action::garbage_body)});

  // Run
  oss::diagnostics diag;
  const auto list_ec = c.list_parts("garbage.bin", id, diag);
  std::error_code init_ec;
  auto run = [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(init_ec, std::ignore) = co_await c.client.async_initiate_multipart_upload("garbage2.bin", none, diag, oss_test::tuple_token);
  };
  oss_test::fault_run(c.io, run);

  // Check
  CHECK(list_ec == oss::client_errc::malformed_xml);
  CHECK(init_ec == oss::client_errc::malformed_xml);
  CHECK(env.server.stats().faults_injected == 2);
}

TEST_CASE("faults: rules match by operation, part, nth, attempt and times; one rule per request") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("rules.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 14);
  auto by_attempt = error_rule("UploadPart", 500, "InternalError");
  by_attempt.part_number = 2;
  by_attempt.attempt = 2;
  auto by_nth = error_rule("UploadPart", 503, "SlowDown");
  by_nth.nth = 3;
  by_nth.times = 2;
  env.server.reset_stats();
  env.server.set_fault_plan({by_attempt, by_nth});

  // Run: requests 1..6 are parts 1, 2, 2, 3, 4, 5.
  std::vector<std::error_code> got;
  for (int part : {1, 2, 2, 3, 4, 5}) {
    oss::diagnostics diag;
    got.push_back(c.upload_part("rules.bin", id, part, body, diag));
  }
  const auto attempts = env.server.part_attempts();
  const auto s = env.server.stats();
  bool unknown_throws = false;
  try {
    env.server.set_fault_plan({action_rule("Frobnicate", fault_action::delay)});
  } catch (const std::invalid_argument&) {
    unknown_throws = true;
  }
  env.server.clear_fault_plan();
  oss::diagnostics diag;
  const auto after_clear = c.upload_part("rules.bin", id, 6, body, diag);

  // Check: the 3rd match of by_nth was taken by by_attempt, so by_nth fires on matches 4 and 5.
  CHECK(!got[0]);
  CHECK(!got[1]);
  CHECK(got[2] == oss::server_errc::internal_error);
  CHECK(got[3] == oss::server_errc::slow_down);
  CHECK(got[4] == oss::server_errc::slow_down);
  CHECK(!got[5]);
  CHECK(!after_clear);
  CHECK(unknown_throws);
  CHECK(s.faults_injected == 3);
  CHECK(s.max_part_attempts == 2);
  CHECK(attempts == std::map<int, std::uint64_t>{{1, 1}, {2, 2}, {3, 1}, {4, 1}, {5, 1}});
  CHECK(env.server.stats().faults_injected == 3);
}

TEST_CASE("faults: set_credentials rotates what the server accepts at runtime") {
  // Setup
  oss_test::fault_env env;
  auto old_opts = env.options();
  old_opts.max_attempts = 1;
  auto new_opts = old_opts;
  new_opts.creds = {"LTAI-rotated-id", "rotated-secret-Jk2", ""};
  auto token_opts = new_opts;
  token_opts.creds.security_token = "sts-token-abc";
  auto anonymous_opts = old_opts;
  anonymous_opts.creds = {};
  fault_client old_client(old_opts);
  fault_client new_client(new_opts);
  fault_client token_client(token_opts);
  fault_client anonymous_client(anonymous_opts);
  oss::diagnostics diag;

  // Run
  const auto before = old_client.put("a", "1", diag);
  env.server.set_credentials("LTAI-rotated-id", "rotated-secret-Jk2", "");
  const auto old_after = old_client.put("a", "2", diag);
  const auto new_after = new_client.put("a", "3", diag);
  env.server.set_credentials("LTAI-rotated-id", "rotated-secret-Jk2", "sts-token-abc");
  const auto no_token = new_client.put("a", "4", diag);
  const auto with_token = token_client.put("a", "5", diag);
  env.server.set_credentials("", "", "");
  const auto anonymous = anonymous_client.put("a", "6", diag);
  bool half_throws = false;
  try {
    env.server.set_credentials("id-only", "", "");
  } catch (const std::invalid_argument&) {
    half_throws = true;
  }

  // Check
  CHECK(!before);
  CHECK(old_after == oss::server_errc::invalid_access_key_id);
  CHECK(!new_after);
  CHECK(no_token == oss::server_errc::invalid_security_token);
  CHECK(!with_token);
  CHECK(!anonymous);
  CHECK(half_throws);
}

TEST_CASE("faults: the listening and accepted sockets are close-on-exec") {
  // Setup
  oss_test::fault_env env;
  const int port = env.server.port();
  int client_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client_fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(client_fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  // The server accepts asynchronously: wait (bounded) until it counted the connection.
  REQUIRE(env.server.wait_for([](const oss::testing::local_server_stats& s) { return s.connections > 0; }, 5s));

  // Run: every descriptor of this process whose local port is the server's is the listener or
  // an accepted connection (the test's own client socket has an ephemeral local port).
  int server_side = 0;
  int without_cloexec = 0;
  for (int fd = 3; fd < 4096; ++fd) {
    if (fd == client_fd) continue;
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET) continue;
    if (ntohs(local.sin_port) != port) continue;
    ++server_side;
    if (!(::fcntl(fd, F_GETFD) & FD_CLOEXEC)) ++without_cloexec;
  }
  ::close(client_fd);

  // Check
  CHECK(env.server.stats().connections == 1);
  CHECK(server_side == 2);
  CHECK(without_cloexec == 0);
}

TEST_CASE("faults: oss-local-server --fault-plan FILE injects the planned faults") {
  const auto binary = oss_test::tool_path("oss-local-server");
  if (!std::filesystem::exists(binary)) {
    OSS_SKIP(binary.string() << " not found");
  }
  // Setup
  oss_test::temp_dir dir;
  const auto plan = dir / "plan.json";
  {
    std::ofstream out(plan);
    out << R"([{"operation": "PutObject", "nth": 2, "action": "error_reply", "status": 503,
               "code": "SlowDown", "message": "planned"},
              {"operation": "GetObject", "action": "garbage_body", "times": 0}])";
  }
  const auto bad_plan = dir / "bad.json";
  {
    std::ofstream out(bad_plan);
    out << R"([{"operation": "PutObject", "action": "explode"}])";
  }
  oss_test::child_process server({binary.string(), "--root", (dir / "store").string(), "--create-root", "--access-key-id",
                                oss_test::fault_key_id, "--access-key-secret", oss_test::fault_secret,
                                "--fault-plan", plan.string()});
  const std::string first = server.first_line(10s);
  REQUIRE(first.starts_with("listening on http://127.0.0.1:"));
  oss::client_options o;
  o.endpoint = first.substr(std::string("listening on ").size());
  o.region = "cn-local";
  o.bucket = oss_test::fault_bucket;
  o.creds = {oss_test::fault_key_id, oss_test::fault_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.max_attempts = 1;
  fault_client c(o);

  // Run
  oss::diagnostics diag;
  const auto first_put = c.put("p.txt", "one", diag);
  const auto second_put = c.put("p.txt", "two", diag);
  const std::string message = diag.message;
  std::string body;
  const auto get_ec = c.get("p.txt", body, diag);
  server.signal(SIGTERM);
  const int code = server.wait();
  auto bad = oss_test::run_process({binary.string(), "--root", (dir / "store").string(), "--create-root", "--fault-plan",
                                    bad_plan.string()},
                                   "", 20s);

  // Check
  CHECK(!first_put);
  CHECK(second_put == oss::server_errc::slow_down);
  CHECK(message == "planned");
  CHECK(get_ec == oss::client_errc::crc64_mismatch);  // garbage bytes fail the object's CRC-64
  CHECK(code == 0);
  CHECK(bad.exit_code == 2);
}

TEST_CASE("faults: a client that gives up ends a delay or stall: the request leaves in_flight") {
  // Setup
  oss_test::fault_env env;
  fault_client c(env, 1);
  const std::string id = c.initiate("gone.bin");
  const std::string body = oss_test::random_bytes(100 * kib, 15);
  auto delay = action_rule("UploadPart", fault_action::delay);
  delay.duration = 20s;  // far beyond the test: only the client's departure can end it
  auto stall = action_rule("UploadPart", fault_action::stall);
  stall.after_bytes = 16 * kib;
  stall.duration = 20s;
  stall.nth = 2;

  // Run
  env.server.set_fault_plan({delay, stall});
  oss::diagnostics diag;
  const auto delayed = c.upload_part("gone.bin", id, 1, body, diag);
  // The server sees the client's close asynchronously: wait for it, bounded.
  auto idle = [](const oss::testing::local_server_stats& s) { return s.in_flight == 0; };
  const bool after_delay_idle = env.server.wait_for(idle, 1s);
  const auto stalled = c.upload_part("gone.bin", id, 2, body, diag);
  const bool after_stall_idle = env.server.wait_for(idle, 1s);
  env.server.clear_fault_plan();
  const auto stored = c.stored_parts("gone.bin", id);

  // Check
  CHECK(delayed == oss::client_errc::connection_timeout);
  CHECK(stalled == oss::client_errc::connection_timeout);
  CHECK(after_delay_idle);
  CHECK(after_stall_idle);
  CHECK(stored == std::vector<int>{1});  // the delayed part was stored, the stalled one dropped
}

// The hostile proxy (tests/support/hostile_proxy.hpp) itself: each action seen through a real
// client and the local server behind it.

namespace {

// The proxy adds a hop (and a thread) to every request: the fault env's 150 ms stall timeout
// would make these tests depend on the machine's load, so they get 3 s unless they test it.
oss::client_options via_proxy(const oss_test::fault_env& env, const oss_test::hostile_proxy& proxy, int max_attempts) {
  auto o = env.options();
  o.endpoint = proxy.endpoint();
  o.max_attempts = max_attempts;
  o.stall_timeout = std::chrono::milliseconds(3000);
  return o;
}

}  // namespace

TEST_CASE("hostile proxy: forwards unchanged on one keep-alive connection and records both sides") {
  // Setup
  oss_test::fault_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  fault_client c(via_proxy(env, proxy, 1));

  // Run
  oss::diagnostics diag;
  const auto put_ec = c.put("fwd.txt", "forwarded", diag);
  std::string body;
  const auto get_ec = c.get("fwd.txt", body, diag);
  const auto records = proxy.records();

  // Check
  CHECK(!put_ec);
  CHECK(!get_ec);
  CHECK(body == "forwarded");
  CHECK(proxy.connections() == 1);
  REQUIRE(records.size() == 2);
  CHECK(records[0].request.operation() == "PutObject");
  CHECK(records[0].request.body == "forwarded");
  CHECK(records[0].forwarded);
  CHECK(records[0].server_reply.status == 200);
  CHECK(records[0].server_reply.headers.find("x-oss-hash-crc64ecma") != nullptr);
  CHECK(records[0].reply_complete);
  CHECK(records[1].request.operation() == "GetObject");
  CHECK(records[1].server_reply.body == "forwarded");
  CHECK(env.server.stats().connections == 1);
}

TEST_CASE("hostile proxy: edits the reply (header dropped or set, status, body substring)") {
  // Setup
  oss_test::fault_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  fault_client c(via_proxy(env, proxy, 1));
  oss::diagnostics diag;
  REQUIRE(!c.put("edit.txt", "original", diag));

  // Run
  proxy.set_script(oss_test::rules_script({
      {oss_test::op_is("HeadObject"), oss_test::proxy_action::edit(oss_test::drop_header("x-oss-hash-crc64ecma"))
                                          .then(oss_test::set_header("x-oss-meta-planted", "yes")),
       1},
      {oss_test::op_is("GetObject"), oss_test::proxy_action::edit(oss_test::replace_in_body("orig", "ORIG")), 1},
      {oss_test::op_is("GetObject"), oss_test::proxy_action::edit(oss_test::set_status(500)), 1},
  }));
  oss::object_meta meta;
  auto head = [&]() -> asio::awaitable<void> { meta = co_await c.client.head("edit.txt"); };
  oss_test::fault_run(c.io, head);
  std::string edited, failed;
  const auto edited_ec = c.get("edit.txt", edited, diag);
  const auto failed_ec = c.get("edit.txt", failed, diag);
  const int failed_status = diag.http_status;

  // Check
  CHECK(!meta.crc64);
  CHECK(meta.size == 8);
  CHECK(std::find(meta.meta.begin(), meta.meta.end(), std::pair<std::string, std::string>{"planted", "yes"}) !=
        meta.meta.end());
  CHECK(edited_ec == oss::client_errc::crc64_mismatch);  // the CRC header still names the original
  CHECK(failed_ec);
  CHECK(failed_status == 500);
  CHECK(env.server.stats().get_object == 2);
}

TEST_CASE("hostile proxy: answers the first K matching requests itself, then forwards") {
  // Setup
  oss_test::fault_env env;
  oss_test::hostile_proxy proxy(
      env.server.port(),
      oss_test::rules_script({{oss_test::op_is("PutObject"),
                               oss_test::proxy_action::reply_with(
                                   oss_test::proxy_error_reply(503, "SlowDown", "canned", {{"Retry-After", "0"}})),
                               2}}));
  fault_client c(via_proxy(env, proxy, 3));

  // Run
  oss::diagnostics diag;
  const auto ec = c.put("canned.txt", "third time", diag);
  const auto records = proxy.records();

  // Check
  CHECK(!ec);
  REQUIRE(records.size() == 3);
  CHECK(!records[0].forwarded);
  CHECK(!records[1].forwarded);
  CHECK(records[2].forwarded);
  CHECK(env.server.stats().put_object == 1);
  CHECK(proxy.connections() == 1);  // the canned reply kept the connection alive
}

TEST_CASE("hostile proxy: the server acts, then the reply is lost (at once, or after N bytes)") {
  // Setup
  oss_test::fault_env env;
  oss_test::hostile_proxy proxy(env.server.port(), oss_test::rules_script({
                                                       {oss_test::op_is("PutObject"), oss_test::proxy_action::lose_reply(0), 1},
                                                       {oss_test::op_is("PutObject"), oss_test::proxy_action::lose_reply(20), 1},
                                                   }));
  fault_client c(via_proxy(env, proxy, 1));

  // Run
  oss::diagnostics diag;
  const auto first = c.put("lost1.txt", "one", diag);
  const auto second = c.put("lost2.txt", "two", diag);
  std::string b1, b2;
  const auto g1 = c.get("lost1.txt", b1, diag);
  const auto g2 = c.get("lost2.txt", b2, diag);
  const auto records = proxy.records();

  // Check
  CHECK(is_connection_failure(first));
  CHECK(is_connection_failure(second));
  CHECK((!g1 && b1 == "one"));
  CHECK((!g2 && b2 == "two"));
  REQUIRE(records.size() == 4);
  CHECK(records[0].reply_bytes == 0);
  CHECK(records[1].reply_bytes == 20);
  CHECK(!records[1].reply_complete);
}

TEST_CASE("hostile proxy: delays a request and drips a reply") {
  // Setup
  oss_test::fault_env env;
  oss_test::hostile_proxy proxy(env.server.port(), oss_test::rules_script({
                                                       {oss_test::op_is("PutObject"), oss_test::proxy_action::delayed(300ms), 1},
                                                       {oss_test::op_is("GetObject"), oss_test::proxy_action::drip(64, 20ms), 1},
                                                   }));
  auto o = via_proxy(env, proxy, 1);
  o.stall_timeout = 5s;
  fault_client c(o);
  const std::string content = oss_test::random_bytes(1000, 16);

  // Run
  oss::diagnostics diag;
  const auto t0 = std::chrono::steady_clock::now();
  const auto put_ec = c.put("slow.bin", content, diag);
  const auto t1 = std::chrono::steady_clock::now();
  std::string body;
  const auto get_ec = c.get("slow.bin", body, diag);
  const auto t2 = std::chrono::steady_clock::now();

  // Check
  CHECK(!put_ec);
  CHECK(t1 - t0 >= 300ms);
  CHECK(!get_ec);
  CHECK(body == content);
  const auto reply = proxy.records().at(1);
  const auto pieces = (reply.reply_bytes + 63) / 64;
  CHECK(pieces > 16);
  CHECK(t2 - t1 >= (pieces - 1) * 20ms);
}

// ---- issue 12 #4: a Complete that took effect and lost its reply, reconciled in the same run --

namespace {

using oss_test::hostile_proxy;
using oss_test::op_is;
using oss_test::proxy_action;
using oss_test::rules_script;

// Initiates `name` and uploads `body` as parts of `part` bytes through `c`; the parts carry
// their size and CRC-64, as multipart_upload passes them.
std::vector<oss::completed_part> upload_parts(fault_client& c, const std::string& name, const std::string& id,
                                              const std::string& body, std::size_t part) {
  std::vector<oss::completed_part> parts;
  for (std::size_t off = 0, n = 1; off < body.size(); off += part, ++n) {
    const std::string piece = body.substr(off, part);
    oss::diagnostics diag;
    oss::part_result r;
    REQUIRE(!c.upload_part(name, id, static_cast<int>(n), piece, diag, &r));
    parts.push_back({static_cast<int>(n), r.etag, piece.size(), r.crc64});
  }
  return parts;
}

// A multipart upload of `file` through `c`; the error code of its failure, if any.
std::error_code upload_file(fault_client& c, const std::string& name, const std::filesystem::path& file,
                            oss::checkpoint_option cp, oss::upload_result& result, std::string& what) {
  std::error_code ec;
  auto run = [&]() -> asio::awaitable<void> {
    oss::upload_options opts;
    opts.parallel = 2;
    opts.part_size = 100 * kib;
    opts.checkpoint = cp;
    try {
      result = co_await oss::multipart_upload(c.client, name, file, opts);
    } catch (const oss::error& e) {
      ec = e.code();
      what = e.what();
    }
  };
  oss_test::fault_run(c.io, run);
  return ec;
}

std::string write_file(const std::filesystem::path& path, std::size_t size, std::uint64_t seed) {
  const std::string body = oss_test::random_bytes(size, seed);
  std::ofstream(path, std::ios::binary).write(body.data(), static_cast<std::streamsize>(body.size()));
  return body;
}

}  // namespace

TEST_CASE("lost Complete reply: the server completed, the retry gets NoSuchUpload, HEAD proves the object") {
  // Setup
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port(), rules_script({{op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1}}));
  fault_client c(via_proxy(env, proxy, 3));
  const std::string body = oss_test::random_bytes(250 * kib, 40);
  const std::string id = c.initiate("lost.bin");
  const auto parts = upload_parts(c, "lost.bin", id, body, 100 * kib);

  // Run
  oss::complete_result result;
  oss::diagnostics diag;
  const auto ec = c.complete("lost.bin", id, parts, result, diag);
  std::string stored;
  const auto get_ec = c.get("lost.bin", stored, diag);

  // Check
  CHECK_MESSAGE(!ec, (ec.message() + " / " + diag.client_message));
  CHECK(result.reconciled);
  CHECK(result.crc64 == oss_test::fault_crc(body));
  CHECK(proxy.count("CompleteMultipartUpload") == 2);
  CHECK(proxy.count("HeadObject") == 1);
  CHECK(!get_ec);
  CHECK(stored == body);
}

TEST_CASE("lost Complete reply on the last attempt, and a reply cut mid-body, are reconciled too") {
  // Setup
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port());
  fault_client last(via_proxy(env, proxy, 2));
  const std::string body = oss_test::random_bytes(150 * kib, 41);

  // Run: the first attempt gets a 500 the server never saw; the second (last) one completes
  // the upload and loses its reply, so no retry follows.
  proxy.set_script(rules_script({
      {op_is("CompleteMultipartUpload"), proxy_action::reply_with(oss_test::proxy_error_reply(500, "InternalError", "x")), 1},
      {op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1},
  }));
  const std::string id1 = last.initiate("last.bin");
  const auto parts1 = upload_parts(last, "last.bin", id1, body, 100 * kib);
  oss::complete_result r1;
  oss::diagnostics d1;
  const auto ec1 = last.complete("last.bin", id1, parts1, r1, d1);
  const auto completes_after_last = proxy.count("CompleteMultipartUpload");
  // A reply cut 10 bytes before its end: the head arrived, the body did not.
  proxy.set_script(rules_script({{op_is("CompleteMultipartUpload"), proxy_action::cut_reply(10), 1}}));
  fault_client once(via_proxy(env, proxy, 1));
  const std::string id2 = once.initiate("cut.bin");
  const auto parts2 = upload_parts(once, "cut.bin", id2, body, 100 * kib);
  oss::complete_result r2;
  oss::diagnostics d2;
  const auto ec2 = once.complete("cut.bin", id2, parts2, r2, d2);

  // Check
  CHECK_MESSAGE(!ec1, (ec1.message() + " / " + d1.client_message));
  CHECK(r1.reconciled);
  CHECK(completes_after_last == 2);
  CHECK_MESSAGE(!ec2, (ec2.message() + " / " + d2.client_message));
  CHECK(r2.reconciled);
  CHECK(r2.crc64 == oss_test::fault_crc(body));
}

TEST_CASE("lost Complete reply: an object HEAD does not show yet is looked for again, a bounded number of times") {
  // Setup: HEAD answers 404 as a store does while the first Complete is still being applied
  // (its retry already got NoSuchUpload).
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port());
  fault_client c(via_proxy(env, proxy, 3));
  const std::string body = oss_test::random_bytes(150 * kib, 45);
  const std::string not_yet = oss_test::proxy_raw_reply(404, {{"x-oss-request-id", "PROXY-404"}}, "");

  // Run
  proxy.set_script(rules_script({{op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1},
                                 {op_is("HeadObject"), proxy_action::reply_with(not_yet), 2}}));
  const std::string id1 = c.initiate("late.bin");
  const auto parts1 = upload_parts(c, "late.bin", id1, body, 100 * kib);
  oss::complete_result r1;
  oss::diagnostics d1;
  const auto ec1 = c.complete("late.bin", id1, parts1, r1, d1);
  const auto heads1 = proxy.count("HeadObject");
  proxy.clear_records();
  proxy.set_script(rules_script({{op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1},
                                 {op_is("HeadObject"), proxy_action::reply_with(not_yet), -1}}));
  const std::string id2 = c.initiate("never.bin");
  const auto parts2 = upload_parts(c, "never.bin", id2, body, 100 * kib);
  oss::complete_result r2;
  oss::diagnostics d2;
  const auto ec2 = c.complete("never.bin", id2, parts2, r2, d2);
  const auto heads2 = proxy.count("HeadObject");

  // Check
  CHECK_MESSAGE(!ec1, (ec1.message() + " / " + d1.client_message));
  CHECK(r1.reconciled);
  CHECK(heads1 == 3);
  CHECK(ec2 == oss::server_errc::no_such_upload);
  CHECK(d2.client_message.find("no object exists under that name") != std::string::npos);
  CHECK(heads2 == 6);
}

TEST_CASE("lost Complete reply: what HEAD cannot prove is never success") {
  // Setup
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port());
  fault_client c(via_proxy(env, proxy, 3));
  const std::string body = oss_test::random_bytes(150 * kib, 42);

  // Run
  // (a) HEAD's CRC-64 stripped (a middlebox): the object exists, nothing proves it.
  proxy.set_script(rules_script({
      {op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1},
      {op_is("HeadObject"), proxy_action::edit(oss_test::drop_header("x-oss-hash-crc64ecma")), 1},
  }));
  const std::string id1 = c.initiate("nocrc.bin");
  const auto parts1 = upload_parts(c, "nocrc.bin", id1, body, 100 * kib);
  oss::complete_result r1;
  oss::diagnostics d1;
  const auto ec1 = c.complete("nocrc.bin", id1, parts1, r1, d1);
  // (b) parts without size and CRC-64: the part count alone proves nothing.
  proxy.set_script(rules_script({{op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1}}));
  const std::string id2 = c.initiate("bare.bin");
  auto parts2 = upload_parts(c, "bare.bin", id2, body, 100 * kib);
  for (auto& p : parts2) p.size.reset(), p.crc64.reset();
  oss::complete_result r2;
  oss::diagnostics d2;
  const auto ec2 = c.complete("bare.bin", id2, parts2, r2, d2);
  // (c) HEAD keeps showing another object (its CRC-64 rewritten): after looking again, the
  // Complete is refused as it was.
  proxy.set_script(rules_script({
      {op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 1},
      {op_is("HeadObject"), proxy_action::edit(oss_test::set_header("x-oss-hash-crc64ecma", "12345")), -1},
  }));
  const std::string id3 = c.initiate("other.bin");
  const auto parts3 = upload_parts(c, "other.bin", id3, body, 100 * kib);
  oss::complete_result r3;
  oss::diagnostics d3;
  const auto ec3 = c.complete("other.bin", id3, parts3, r3, d3);

  // Check
  CHECK(ec1 == oss::client_errc::unverified);
  CHECK(d1.client_message.find("no CRC-64") != std::string::npos);
  CHECK(d1.code.empty());  // not the NoSuchUpload that led here
  const std::string what1 = oss::error(ec1, d1).what();
  CHECK(what1.starts_with(ec1.message() + ": the Complete reply was lost"));
  CHECK(what1.find("NoSuchUpload") == std::string::npos);
  CHECK(ec2 == oss::client_errc::unverified);
  CHECK(ec3 == oss::server_errc::no_such_upload);
  CHECK(d3.client_message.find("CRC-64 is 12345") != std::string::npos);
  CHECK_FALSE(r1.reconciled);
  CHECK_FALSE(r3.reconciled);
}

TEST_CASE("lost Complete reply: multipart_upload finishes in the same run, with and without a checkpoint") {
  // Setup
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port(), rules_script({{op_is("CompleteMultipartUpload"), proxy_action::lose_reply(0), 2}}));
  proxy.record_bodies(false);
  fault_client c(via_proxy(env, proxy, 3));
  const auto file = env.files / "lost.bin";
  const std::string body = write_file(file, 350 * kib + 7, 43);
  const auto cp_path = env.files / "lost.cp";

  // Run
  oss::upload_result plain, with_cp;
  std::string what_plain, what_cp;
  const auto ec_plain = upload_file(c, "lost-plain.bin", file, oss::checkpoint_option(), plain, what_plain);
  const auto ec_cp = upload_file(c, "lost-cp.bin", file, oss::checkpoint_option(cp_path), with_cp, what_cp);
  std::string stored_plain, stored_cp;
  oss::diagnostics diag;
  const auto g1 = c.get("lost-plain.bin", stored_plain, diag);
  const auto g2 = c.get("lost-cp.bin", stored_cp, diag);

  // Check
  CHECK_MESSAGE(!ec_plain, what_plain);
  CHECK_MESSAGE(!ec_cp, what_cp);
  CHECK(plain.crc64 == oss_test::fault_crc(body));
  CHECK(with_cp.crc64 == oss_test::fault_crc(body));
  CHECK(proxy.count("CompleteMultipartUpload") == 4);
  CHECK((!g1 && stored_plain == body));
  CHECK((!g2 && stored_cp == body));
  CHECK_FALSE(std::filesystem::exists(cp_path));
}

// ---- issue 12 #3: a dripping reply no longer defeats the stall timeout ------------------------

TEST_CASE("stall: a reply dripping a byte per 200 ms fails as connection_timeout; a slow real one passes") {
  // Setup
  oss_test::fault_env env;
  hostile_proxy proxy(env.server.port());
  proxy.record_bodies(false);
  auto o = via_proxy(env, proxy, 1);
  o.stall_timeout = 1000ms;
  fault_client c(o);
  const std::string content = oss_test::random_bytes(300 * kib, 44);
  oss::diagnostics diag;
  REQUIRE(!c.put("drip.bin", content, diag));

  // Run
  proxy.set_script(rules_script({{op_is("GetObject"), proxy_action::drip(1, 200ms), 1},
                                 {op_is("GetObject"), proxy_action::drip(16 * kib, 50ms), 1}}));
  std::string dripped, slow;
  oss::diagnostics drip_diag;
  const auto t0 = std::chrono::steady_clock::now();
  const auto drip_ec = c.get("drip.bin", dripped, drip_diag);
  const auto t1 = std::chrono::steady_clock::now();
  const auto slow_ec = c.get("drip.bin", slow, diag);
  const auto t2 = std::chrono::steady_clock::now();

  // Check
  CHECK(drip_ec == oss::client_errc::connection_timeout);
  CHECK(drip_diag.client_message.find("dripping") != std::string::npos);
  CHECK(t1 - t0 < 5s);  // about one window; the drip alone would take 17 hours
  CHECK_FALSE(slow_ec);
  CHECK(slow == content);
  CHECK(t2 - t1 > 500ms);  // the slow reply really took a while (19 pieces, 50 ms apart)
}
