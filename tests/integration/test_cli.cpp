// oss-upload and oss-head (issues 3 and 12): the command-line contract of design.md section 5,
// checked by running the built executables against oss::testing::local_server: exit statuses
// (0, 2, 3, 4, 5, 130), the JSON last line, progress output (and its width on a pty),
// interrupt-and-resume, --abort, a server that dies mid-way, error lines in the words of the
// command line, and that the secret never reaches the output. Also the tools' helpers directly.
#include <oss/checkpoint.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/multipart/checkpoint_lock.hpp>
#include <oss/error.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../../examples/tool_support.hpp"
#include "../support/hostile_proxy.hpp"
#include "../support/process.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"


using namespace std::chrono_literals;

namespace {

constexpr const char* cli_key_id = "LTAI-cli-test-id";
constexpr const char* cli_secret = "cli-secret-Qx7tR2vW9zP4";
constexpr const char* cli_bucket = "cli-bucket";

using cli_result = oss_test::tool_result;
using oss_test::last_line;
using oss_test::run_tool;
using oss_test::tool_path;

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

// A local server with credentials, a scratch folder, and the environment that points the tools
// at the server.
struct cli_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  std::optional<oss::testing::local_server_thread> server;
  std::uint16_t port = 0;

  cli_env() { start(0); }

  void start(std::uint16_t wanted_port) {
    oss::testing::local_server_options o;
    o.root = store.path().string();
    o.port = wanted_port;
    o.access_key_id = cli_key_id;
    o.access_key_secret = cli_secret;
    server.emplace(o, 2);
    port = server->port();
  }

  std::vector<std::string> env(std::string secret = cli_secret) const {
    return {"OSS_ENDPOINT=http://127.0.0.1:" + std::to_string(port), "OSS_REGION=cn-local",
            std::string("OSS_BUCKET=") + cli_bucket, std::string("OSS_ACCESS_KEY_ID=") + cli_key_id,
            "OSS_ACCESS_KEY_SECRET=" + secret};
  }

  std::string make_file(const std::string& name, std::size_t size, std::uint64_t seed, std::string* data = nullptr) {
    std::string bytes = oss_test::random_bytes(size, seed);
    oss_test::write_file(files / name, bytes);
    if (data) *data = std::move(bytes);
    return (files / name).string();
  }
};

// The contract's JSON line, parsed and checked for shape.
boost::json::object parse_result_line(const cli_result& r) {
  const std::string line = last_line(r.out);
  std::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  REQUIRE_MESSAGE(!ec, "not JSON: " << line);
  REQUIRE(v.is_object());
  boost::json::object obj = v.as_object();
  const char* keys[] = {"name", "etag", "crc64", "size", "parts", "seconds", "mib_per_s", "verified"};
  CHECK(obj.size() == 8);
  std::size_t i = 0;
  for (const auto& kv : obj) {
    REQUIRE(i < 8);
    CHECK(kv.key() == keys[i++]);
  }
  CHECK(obj.at("name").is_string());
  CHECK(obj.at("etag").is_string());
  CHECK(obj.at("crc64").is_string());
  CHECK((obj.at("size").is_int64() || obj.at("size").is_uint64()));
  CHECK(obj.at("parts").is_int64());
  CHECK(obj.at("seconds").is_double());
  CHECK(obj.at("mib_per_s").is_double());
  CHECK(obj.at("verified").is_string());
  return obj;
}

bool tools_built() {
  const bool ok = std::filesystem::exists(tool_path("oss-upload")) && std::filesystem::exists(tool_path("oss-head"));
  // The caller returns: the marker makes the case count as skipped (support/skip.hpp).
  if (!ok) oss_test::report_skip("oss-upload/oss-head are not built (examples disabled?)");
  return ok;
}

}  // namespace

TEST_CASE("oss-upload: usage errors exit 2 and --help/--version exit 0") {
  if (!tools_built()) return;
  cli_env t;
  const auto exe = tool_path("oss-upload");
  const std::string file = t.make_file("a.bin", 1000, 1);

  // Run / Check
  auto help = run_tool(exe, {"--help"}, t.env());
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: oss-upload [OPTIONS] FILE NAME") != std::string::npos);
  CHECK(help.out.find("--part-size") != std::string::npos);
  auto version = run_tool(exe, {"--version"}, t.env());
  CHECK(version.exit_code == 0);
  CHECK(version.out.starts_with("oss-upload "));

  const std::vector<std::vector<std::string>> bad = {
      {},                                          // no FILE NAME
      {file},                                      // no NAME
      {file, "x", "extra"},                        // too many
      {"--parallel", "0", file, "x"},              // parallel must be >= 1
      {"--part-size", "12X", file, "x"},           // unknown unit
      {"--part-size", "50K", file, "x"},           // below OSS's minimum: the library refuses
      {"--meta", "novalue", file, "x"},            // KEY=VALUE
      {"--header", "NoColon", file, "x"},          // 'Name: value'
      {"--header", "Authorization: x", file, "x"}, // a header the client owns
      {"--signature", "v3", file, "x"},
      {"--path-style", "--cname", file, "x"},
      {"--stall-timeout", "-1", file, "x"},
      {"--no-such-option", file, "x"},
      {"--bucket", "Bad_Bucket", file, "x"},       // invalid bucket name
      {file, "/leading-slash"},                    // invalid object name
  };
  for (const auto& args : bad) {
    auto r = run_tool(exe, args, t.env());
    INFO("args: " << (args.empty() ? std::string("(none)") : args.front()) << " ... stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());                       // no JSON line on failure
    CHECK(r.err.starts_with("oss-upload: "));   // one clear line first
  }
  // No endpoint at all.
  auto no_endpoint = run_tool(exe, {file, "x"}, {std::string("OSS_BUCKET=") + cli_bucket});
  CHECK(no_endpoint.exit_code == 2);
  CHECK(no_endpoint.err.find("no endpoint") != std::string::npos);
  // Half of the credentials.
  auto half = run_tool(exe, {file, "x"}, {"OSS_ENDPOINT=http://127.0.0.1:" + std::to_string(t.port),
                                          "OSS_REGION=cn-local", std::string("OSS_BUCKET=") + cli_bucket,
                                          std::string("OSS_ACCESS_KEY_ID=") + cli_key_id});
  CHECK(half.exit_code == 2);
  // Nothing was sent for any of these.
  CHECK(t.server->stats().initiate_multipart_upload == 0);
  CHECK(t.server->stats().put_object == 0);
}

TEST_CASE("oss-upload: bad input exits 2 (missing file, directory, corrupt checkpoint)") {
  if (!tools_built()) return;
  cli_env t;
  const auto exe = tool_path("oss-upload");
  const std::string file = t.make_file("b.bin", 300000, 2);

  auto missing = run_tool(exe, {(t.files / "nope.bin").string(), "x"}, t.env());
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("does not exist") != std::string::npos);

  auto directory = run_tool(exe, {t.files.path().string(), "x"}, t.env());
  CHECK(directory.exit_code == 2);

  const std::string ckpt = (t.files / "bad.ckpt").string();
  oss_test::write_file(ckpt, "{ not json");
  auto corrupt = run_tool(exe, {"--checkpoint", ckpt, file, "x"}, t.env());
  CHECK(corrupt.exit_code == 2);
  CHECK(oss_test::read_file(ckpt) == "{ not json");  // left untouched

  // A checkpoint in a folder that does not exist cannot be written.
  auto no_dir = run_tool(exe, {"--checkpoint", (t.files / "no" / "such" / "dir.ckpt").string(), file, "x"}, t.env());
  CHECK(no_dir.exit_code == 2);
}

TEST_CASE("oss-upload: a wrong secret exits 3 and the secret never appears in the output") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("c.bin", 500000, 3);
  const std::string wrong = "wrong-secret-Zq8Lm3Np";

  auto r = run_tool(tool_path("oss-upload"), {"--parallel", "2", file, "c.bin"}, t.env(wrong));
  CHECK(r.exit_code == 3);
  CHECK(r.out.empty());
  CHECK(r.err.find("SignatureDoesNotMatch") != std::string::npos);
  CHECK(r.err.find(wrong) == std::string::npos);
  CHECK(r.err.find(cli_secret) == std::string::npos);
  CHECK(r.err.find("Authorization") == std::string::npos);

  // V1 signing is refused the same way.
  auto v1 = run_tool(tool_path("oss-upload"), {"--signature", "v1", file, "c.bin"}, t.env(wrong));
  CHECK(v1.exit_code == 3);
  CHECK(v1.err.find(wrong) == std::string::npos);
}

TEST_CASE("oss-upload: an unreachable endpoint exits 4") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("d.bin", 200000, 4);
  // A port that was free a moment ago: nothing listens there.
  std::uint16_t dead_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    dead_port = a.local_endpoint().port();
  }
  auto r = run_tool(tool_path("oss-upload"),
                    {"--endpoint", "http://127.0.0.1:" + std::to_string(dead_port), "--connect-timeout", "2", file, "d"},
                    t.env());
  CHECK(r.exit_code == 4);
  CHECK(r.out.empty());
  CHECK(!r.err.empty());
}

TEST_CASE("oss-upload: success prints the JSON line; oss-head shows and verifies the object") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("e.bin", 3 * 1024 * 1024 + 4321, 5, &data);
  const std::string name = "dir/e \"quoted\" \xc3\xa9.bin";  // needs JSON escaping

  // Run
  auto r = run_tool(tool_path("oss-upload"),
                    {"--parallel", "3", "--part-size", "512KiB", "--meta", "origin=cli-test", "--mime", "application/x-test",
                     "--header", "Cache-Control: no-cache", file, name},
                    t.env());

  // Check
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);  // stdout is exactly the JSON line
  auto obj = parse_result_line(r);
  CHECK(obj.at("name").as_string() == name);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("size").to_number<std::uint64_t>() == data.size());
  CHECK(obj.at("parts").to_number<int>() == 7);  // 6 x 512 KiB + the rest
  CHECK(std::string(obj.at("etag").as_string()).ends_with("-7\""));
  CHECK(obj.at("seconds").as_double() > 0);
  CHECK(obj.at("mib_per_s").as_double() > 0);
  CHECK(obj.at("verified").as_string() == "crc64-reply");  // the Complete reply's CRC-64 matched
  // stderr is not a terminal here: plain progress lines, ending at 100%.
  CHECK(r.err.find("oss-upload: uploading 3.0 MiB in 7 parts") != std::string::npos);
  CHECK(r.err.find("100.0%") != std::string::npos);
  CHECK(r.err.find('\r') == std::string::npos);

  auto head = run_tool(tool_path("oss-head"), {name, "--verify", file, "--expect-crc64", std::string(obj.at("crc64").as_string())},
                       t.env());
  INFO("oss-head: " << head.out << head.err);
  CHECK(head.exit_code == 0);
  CHECK(head.out.find("meta:           origin=cli-test") != std::string::npos);
  CHECK(head.out.find("application/x-test") != std::string::npos);
  CHECK(head.out.find("cache-control:  no-cache") != std::string::npos);
  CHECK(head.out.find("(multipart, 7 parts)") != std::string::npos);
  CHECK(head.out.find("DIFFERS") == std::string::npos);

  // oss-head notices a different file, and a missing object is a refusal (404).
  const std::string other = t.make_file("other.bin", data.size(), 99);
  CHECK(run_tool(tool_path("oss-head"), {name, "--verify", other}, t.env()).exit_code == 1);
  CHECK(run_tool(tool_path("oss-head"), {"no/such/object"}, t.env()).exit_code == 3);

  // --quiet: nothing on stderr, the JSON line still on stdout. A small file: one PutObject.
  const std::string small = t.make_file("small.bin", 1000, 6);
  auto quiet = run_tool(tool_path("oss-upload"), {"--quiet", small, "small.bin"}, t.env());
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  CHECK(parse_result_line(quiet).at("parts").to_number<int>() == 1);
  CHECK(parse_result_line(quiet).at("verified").as_string() == "crc64-reply");
}

TEST_CASE("oss-upload: on a terminal, stderr shows a progress bar redrawn in place") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("bar.bin", 8 * 1024 * 1024, 11);

  // Run
  auto r = run_tool(tool_path("oss-upload"), {"--part-size", "256K", file, "bar.bin"}, t.env(), {}, 120s, true);

  // Check
  INFO("terminal: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(parse_result_line(r).at("parts").to_number<int>() == 32);
  CHECK(r.err.find("\r[") != std::string::npos);  // redrawn from the start of the line
  CHECK(r.err.find("#] 100.0%") != std::string::npos);  // a full bar (its width follows the terminal)
  CHECK(r.err.find("8.0/8.0 MiB") != std::string::npos);
  CHECK(r.err.find("MiB/s") != std::string::npos);
  CHECK(r.err.find("(32/32 parts)") != std::string::npos);
  CHECK(r.err.find("oss-upload: uploading") == std::string::npos);  // no plain lines
  // At most ~10 redraws a second, plus the first and the last.
  const auto redraws = std::count(r.err.begin(), r.err.end(), '[');
  const double seconds = parse_result_line(r).at("seconds").as_double();
  CHECK(redraws <= 2 + static_cast<long>(seconds * 10) + 1);

  // --quiet on a terminal: nothing.
  auto quiet = run_tool(tool_path("oss-upload"), {"--quiet", file, "bar2.bin"}, t.env(), {}, 120s, true);
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("oss-upload: SIGINT exits 130 with the checkpoint saved, and the same command resumes") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("f.bin", 24 * 1024 * 1024 + 17, 7, &data);
  const std::string ckpt = (t.files / "f.ckpt").string();
  const std::vector<std::string> args = {"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt, file, "f.bin"};
  const std::uint64_t total_parts = (data.size() + 102399) / 102400;

  // Run: interrupt once the server has stored a few parts.
  bool sent = false;
  auto first = run_tool(tool_path("oss-upload"), args, t.env(), [&](pid_t pid) {
    if (!sent && t.server->stats().parts_uploaded >= 10) {
      kill(pid, SIGINT);
      sent = true;
    }
  });

  // Check
  INFO("stderr: " << first.err);
  REQUIRE(sent);
  CHECK(first.exit_code == 130);
  CHECK(first.out.empty());
  CHECK(first.err.find("checkpoint saved") != std::string::npos);
  REQUIRE(std::filesystem::exists(ckpt));
  const auto stored_before = t.server->stats().parts_uploaded;
  CHECK(stored_before < total_parts);

  // Resume
  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("resuming:") != std::string::npos);
  auto obj = parse_result_line(second);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("parts").to_number<std::uint64_t>() == total_parts);
  CHECK(!std::filesystem::exists(ckpt));  // deleted after success
  // Only the missing parts went up the second time (a few interrupted ones may repeat).
  CHECK(t.server->stats().parts_uploaded < total_parts + 10);
}

TEST_CASE("oss-upload: SIGTERM without a checkpoint exits 130 and aborts the server-side upload") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("g.bin", 16 * 1024 * 1024, 8);
  bool sent = false;
  auto r = run_tool(tool_path("oss-upload"), {"--parallel", "2", "--part-size", "100K", file, "g.bin"}, t.env(),
                    [&](pid_t pid) {
                      if (!sent && t.server->stats().parts_uploaded >= 5) {
                        kill(pid, SIGTERM);
                        sent = true;
                      }
                    });
  INFO("stderr: " << r.err);
  REQUIRE(sent);
  CHECK(r.exit_code == 130);
  CHECK(r.err.find("aborted on the server") != std::string::npos);
  CHECK(t.server->stats().abort_multipart_upload == 1);
}

TEST_CASE("oss-upload: a server that dies mid-way exits 4; after a restart the same command completes") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("h.bin", 16 * 1024 * 1024 + 5, 9, &data);
  const std::string ckpt = (t.files / "h.ckpt").string();
  const std::vector<std::string> args = {"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt,
                                         "--connect-timeout", "2", file, "h.bin"};

  // Run: stop the server (closing every connection) after a few parts.
  bool stopped = false;
  auto first = run_tool(tool_path("oss-upload"), args, t.env(), [&](pid_t) {
    if (!stopped && t.server->stats().parts_uploaded >= 10) {
      t.server->stop();
      stopped = true;
    }
  });
  INFO("first stderr: " << first.err);
  REQUIRE(stopped);
  CHECK(first.exit_code == 4);
  CHECK(first.err.find("run the same command again to resume") != std::string::npos);
  REQUIRE(std::filesystem::exists(ckpt));

  // The server comes back on the same port and store; the checkpoint names that endpoint.
  const auto port = t.port;
  t.server.reset();
  t.start(port);
  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("second stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(parse_result_line(second).at("crc64").as_string() == std::to_string(crc_of(data)));
}

TEST_CASE("oss-upload: the parsing and exit-status helpers") {
  using oss_tools::parse_size;
  CHECK(parse_size("1048576") == 1048576u);
  CHECK(parse_size("512K") == 512u * 1024);
  CHECK(parse_size("512k") == 512u * 1024);
  CHECK(parse_size("8M") == 8u << 20);
  CHECK(parse_size("8MiB") == 8u << 20);
  CHECK(parse_size("8mib") == 8u << 20);
  CHECK(parse_size("1G") == 1u << 30);
  CHECK(parse_size("5GiB") == 5ull << 30);
  CHECK(parse_size("1.5M") == 3u << 19);
  CHECK(parse_size("100KiB") == 102400u);
  CHECK(!parse_size(""));
  CHECK(!parse_size("0"));
  CHECK(!parse_size("M"));
  CHECK(!parse_size("12X"));
  CHECK(!parse_size("8MB"));    // decimal units would be ambiguous: refused
  CHECK(!parse_size("-1"));
  CHECK(!parse_size("0.3K"));   // not a whole number of bytes

  CHECK(oss_tools::parse_seconds("30") == std::chrono::milliseconds(30000));
  CHECK(oss_tools::parse_seconds("0.25") == std::chrono::milliseconds(250));
  CHECK(!oss_tools::parse_seconds("0"));
  CHECK(!oss_tools::parse_seconds("abc"));

  using oss_tools::json_string;
  CHECK(json_string("plain") == "\"plain\"");
  CHECK(json_string("\"q\"\\") == "\"\\\"q\\\"\\\\\"");
  CHECK(json_string("a\nb\x01") == "\"a\\nb\\u0001\"");
  CHECK(json_string("\xc3\xa9") == "\"\xc3\xa9\"");           // UTF-8 kept
  CHECK(json_string("\xff") == "\"\xef\xbf\xbd\"");            // invalid byte replaced
  CHECK(json_string("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
  std::error_code ec;
  boost::json::parse(json_string(std::string("x\0y\x7f\xc0\xaf", 6)), ec);
  CHECK(!ec);

  using oss_tools::exit_status_for;
  CHECK(exit_status_for({}, false) == 0);
  CHECK(exit_status_for(oss::client_errc::file_not_found, false) == 2);
  CHECK(exit_status_for(oss::client_errc::checkpoint_corrupt, false) == 2);
  CHECK(exit_status_for(oss::client_errc::invalid_part_size, false) == 2);
  CHECK(exit_status_for(oss::server_errc::access_denied, false) == 3);
  CHECK(exit_status_for(oss::make_http_status_error(404), false) == 3);
  CHECK(exit_status_for(oss::client_errc::malformed_xml, false) == 3);
  CHECK(exit_status_for(oss::client_errc::connection_timeout, false) == 4);
  CHECK(exit_status_for(oss::server_errc::request_timeout, false) == 4);
  CHECK(exit_status_for(asio::error::connection_refused, false) == 4);
  CHECK(exit_status_for(asio::error::host_not_found, false) == 4);
  CHECK(exit_status_for(asio::error::operation_aborted, true) == 130);
  CHECK(exit_status_for(std::make_error_code(std::errc::permission_denied), false) == 2);
}

// ---------------------------------------------------------------------------------------------
// Issue 12: flags, --abort, the checkpoint's part size, messages in the words of the command
// line, exit status 5, and a progress line that fits the terminal.

namespace {

// Splits `text` into its lines (without the '\n's).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const auto end = text.find('\n', begin);
    out.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Every part number `part` request is refused with 403 AccessDenied: an upload with a checkpoint
// stops there (exit 3) and keeps its checkpoint, with the parts before it on the server.
std::vector<oss::testing::fault_rule> refuse_part(int part) {
  oss::testing::fault_rule rule;
  rule.operation = "UploadPart";
  rule.part_number = part;
  rule.times = 0;
  rule.status = 403;
  rule.code = "AccessDenied";
  return {rule};
}

}  // namespace

TEST_CASE("oss-upload: an unknown option is named up to '=', anything else only by its position") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("u.bin", 1000, 21);

  // Run
  auto named = run_tool(tool_path("oss-upload"), {"--no-such-option=hunter2-value", file, "x"}, t.env());
  auto upper = run_tool(tool_path("oss-upload"), {"--Pasted-Secret-Qx7", file, "x"}, t.env());
  auto dash = run_tool(tool_path("oss-upload"), {file, "-z", "x"}, t.env());
  auto head = run_tool(tool_path("oss-head"), {"--nope=1", "x"}, t.env());

  // Check
  CHECK(named.exit_code == 2);
  CHECK(lines_of(named.err).at(0) == "oss-upload: unknown option --no-such-option (see --help)");
  CHECK(named.err.find("hunter2") == std::string::npos);
  CHECK(upper.exit_code == 2);
  CHECK(lines_of(upper.err).at(0) == "oss-upload: unknown option #1 (see --help)");
  CHECK(upper.err.find("Pasted") == std::string::npos);
  CHECK(dash.exit_code == 2);
  CHECK(lines_of(dash.err).at(0) == "oss-upload: unknown option #2 (see --help)");
  CHECK(head.exit_code == 2);
  CHECK(lines_of(head.err).at(0) == "oss-head: unknown option --nope (see --help)");

  using oss_tools::unknown_option;
  CHECK(unknown_option("--part-sise=8M", 3).message == "unknown option --part-sise (see --help)");
  CHECK(unknown_option("--x", 3).message == "unknown option --x (see --help)");
  CHECK(unknown_option("--", 3).message == "unknown option #3 (see --help)");
  CHECK(unknown_option("--a\x1b[2J", 4).message == "unknown option #4 (see --help)");
  CHECK(unknown_option("--" + std::string(41, 'a'), 5).message == "unknown option #5 (see --help)");
  CHECK(unknown_option("-p", 6).message == "unknown option #6 (see --help)");
}

TEST_CASE("oss-upload: --max-attempts, --retry-time, --no-server-crc and --abort: usage errors") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("v.bin", 1000, 22);
  const std::string ckpt = (t.files / "v.ckpt").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-attempts", "0", file, "x"}, "--max-attempts takes a number from 1 to 100"},
      {{"--max-attempts", "101", file, "x"}, "--max-attempts takes a number from 1 to 100"},
      {{"--max-attempts=three", file, "x"}, "--max-attempts takes a number from 1 to 100"},
      {{"--retry-time", "0", file, "x"}, "--retry-time takes a positive number of seconds"},
      {{"--retry-time", "soon", file, "x"}, "--retry-time takes a positive number of seconds"},
      {{"--no-server-crc=yes", file, "x"}, "--no-server-crc takes no value"},
      {{"--abort=1", "--checkpoint", ckpt}, "--abort takes no value"},
      {{"--abort"}, "--abort needs --checkpoint PATH: the checkpoint names the upload"},
      {{"--abort", "--checkpoint", ckpt, file, "x"}, "--abort takes no FILE or NAME: the checkpoint names the upload"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_tool(tool_path("oss-upload"), args, t.env());
    INFO("args: " << args.front() << " stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).at(0) == "oss-upload: " + message);
  }
  // oss-head shares the retry flags.
  auto head = run_tool(tool_path("oss-head"), {"--max-attempts", "0", "x"}, t.env());
  CHECK(head.exit_code == 2);
  CHECK(lines_of(head.err).at(0) == "oss-head: --max-attempts takes a number from 1 to 100");
  CHECK(t.server->stats().requests == 0);
}

TEST_CASE("oss-upload --max-attempts: how often a failing request is sent") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("w.bin", 400 * 1024, 23, &data);
  // Part 2 fails twice with 500 InternalError (retried as a server error), then succeeds.
  oss::testing::fault_rule rule;
  rule.operation = "UploadPart";
  rule.part_number = 2;
  rule.times = 2;
  rule.status = 500;
  rule.code = "InternalError";

  // Run: two attempts are not enough, three are.
  t.server->set_fault_plan({rule});
  auto two = run_tool(tool_path("oss-upload"), {"--quiet", "--max-attempts", "2", "--part-size", "100K", file, "w.bin"}, t.env());
  const auto attempts_after_two = t.server->part_attempts()[2];
  t.server->reset_stats();
  t.server->set_fault_plan({rule});
  auto three = run_tool(tool_path("oss-upload"), {"--quiet", "--max-attempts=3", "--part-size", "100K", file, "w.bin"}, t.env());

  // Check
  INFO("two: " << two.err << "three: " << three.err);
  CHECK(two.exit_code == 3);
  CHECK(two.err.find("InternalError") != std::string::npos);
  CHECK(two.err.find("attempts 2") != std::string::npos);
  CHECK(attempts_after_two == 2);
  CHECK(three.exit_code == 0);
  CHECK(t.server->part_attempts()[2] == 3);
  CHECK(parse_result_line(three).at("crc64").as_string() == std::to_string(crc_of(data)));
}

TEST_CASE("oss-upload --abort --checkpoint: aborts the upload the checkpoint records and deletes it") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("ab.bin", 500 * 1024, 24);
  const std::string ckpt = (t.files / "ab.ckpt").string();
  const std::string copy = (t.files / "ab-copy.ckpt").string();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(t.port);

  // Setup: an upload that stops at part 3 (403) and keeps its checkpoint.
  t.server->set_fault_plan(refuse_part(3));
  auto first = run_tool(tool_path("oss-upload"),
                        {"--quiet", "--parallel", "1", "--part-size", "100K", "--checkpoint", ckpt, file, "ab.bin"}, t.env());
  t.server->clear_fault_plan();
  INFO("first: " << first.err);
  REQUIRE(first.exit_code == 3);
  REQUIRE(std::filesystem::exists(ckpt));
  CHECK(lines_of(first.err).back() == "oss-upload: checkpoint saved in " + ckpt +
                                          ": run the same command again to resume, or oss-upload --abort "
                                          "--checkpoint " + ckpt + " to abort the upload");
  std::filesystem::copy_file(ckpt, copy);

  // Run / Check: a checkpoint of another bucket is refused before any request, and kept.
  auto other_env = t.env();
  other_env[2] = "OSS_BUCKET=other-bucket";
  auto other = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", ckpt}, other_env);
  CHECK(other.exit_code == 2);
  CHECK(other.err == "oss-upload: the checkpoint " + ckpt + " is for bucket cli-bucket at " + endpoint +
                         " (oss dialect), this command uses bucket other-bucket at " + endpoint +
                         " (oss); pass --endpoint " + endpoint + " --bucket cli-bucket to abort it\n");
  CHECK(std::filesystem::exists(ckpt));
  CHECK(t.server->stats().abort_multipart_upload == 0);

  // The abort itself.
  auto aborted = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", ckpt}, t.env());
  CHECK(aborted.exit_code == 0);
  CHECK(aborted.out.empty());
  CHECK(aborted.err == "oss-upload: aborted the upload of ab.bin and deleted the checkpoint " + ckpt + "\n");
  CHECK(!std::filesystem::exists(ckpt));
  CHECK(t.server->stats().abort_multipart_upload == 1);

  // The same upload again (a copy of its checkpoint): already gone counts as aborted.
  auto again = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", copy}, t.env());
  CHECK(again.exit_code == 0);
  CHECK(!std::filesystem::exists(copy));
  CHECK(t.server->stats().abort_multipart_upload == 2);

  // No checkpoint there: an error, since a mistyped path must not pass for an aborted upload.
  auto none = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", ckpt}, t.env());
  CHECK(none.exit_code == 2);
  CHECK(none.err == "oss-upload: no checkpoint at " + ckpt + ", so no upload to abort; check the path\n");

  // A file that is not a checkpoint is left alone.
  const std::string corrupt = (t.files / "corrupt.ckpt").string();
  oss_test::write_file(corrupt, "{ not json");
  auto bad = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", corrupt}, t.env());
  INFO("corrupt: " << bad.err);
  CHECK(bad.exit_code == 2);
  CHECK(lines_of(bad.err).size() == 1);
  CHECK(bad.err.starts_with("oss-upload: the checkpoint file is not a valid checkpoint and was left untouched: "));
  CHECK(oss_test::read_file(corrupt) == "{ not json");
  CHECK(t.server->stats().abort_multipart_upload == 2);
}

TEST_CASE("oss-upload: a resume without --part-size takes the part size from the checkpoint") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("ps.bin", 1000 * 1024 + 7, 25, &data);  // 6 parts of 200 KiB
  const std::string ckpt = (t.files / "ps.ckpt").string();

  // Setup: the first run, with 200 KiB parts, stops at part 3.
  t.server->set_fault_plan(refuse_part(3));
  auto first = run_tool(tool_path("oss-upload"),
                        {"--parallel", "1", "--part-size", "200K", "--checkpoint", ckpt, file, "ps.bin"}, t.env());
  t.server->clear_fault_plan();
  REQUIRE(first.exit_code == 3);
  REQUIRE(t.server->stats().parts_uploaded == 2);

  // Run: the same command without --part-size (the default would be 1 MiB).
  auto second = run_tool(tool_path("oss-upload"), {"--checkpoint", ckpt, file, "ps.bin"}, t.env());

  // Check
  INFO("second: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("resuming: 2 of 6 parts") != std::string::npos);
  auto obj = parse_result_line(second);
  CHECK(obj.at("parts").to_number<int>() == 6);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(t.server->stats().parts_uploaded == 6);  // none of the first two again
  CHECK(!std::filesystem::exists(ckpt));
}

TEST_CASE("oss-upload: error lines speak the command line's words, say each thing once, and claim no checkpoint that is not there") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("m.bin", 500 * 1024, 26);
  const std::string ckpt = (t.files / "m.ckpt").string();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(t.port);

  SUBCASE("V4 signing without a region names --region and OSS_REGION") {
    auto env = t.env();
    env.erase(env.begin() + 1);  // OSS_REGION
    auto r = run_tool(tool_path("oss-upload"), {file, "m.bin"}, env);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "oss-upload: the endpoint could not be used: V4 signing needs a region: pass --region ID "
                   "(or set OSS_REGION) for endpoint " + endpoint + "\n");
    auto head = run_tool(tool_path("oss-head"), {"m.bin"}, env);
    CHECK(head.exit_code == 2);
    CHECK(head.err.find("client_options") == std::string::npos);
    CHECK(head.err.find("--region ID (or set OSS_REGION)") != std::string::npos);
  }

  SUBCASE("a checkpoint of another object: one line, the advice once, --abort offered") {
    t.server->set_fault_plan(refuse_part(3));
    auto first = run_tool(tool_path("oss-upload"), {"--quiet", "--parallel", "1", "--part-size", "100K",
                                                    "--checkpoint", ckpt, file, "m.bin"}, t.env());
    t.server->clear_fault_plan();
    REQUIRE(first.exit_code == 3);
    auto other = run_tool(tool_path("oss-upload"), {"--quiet", "--checkpoint", ckpt, file, "other.bin"}, t.env());
    CHECK(other.exit_code == 2);
    CHECK(other.err == "oss-upload: the checkpoint " + ckpt + " belongs to another upload: it is for object "
                       "m.bin, not other.bin (it was left untouched); use another --checkpoint path, or end "
                       "that upload with oss-upload --abort --checkpoint " + ckpt + "\n");
  }

  SUBCASE("an upload the server no longer has: one line that offers --abort") {
    t.server->set_fault_plan(refuse_part(3));
    auto first = run_tool(tool_path("oss-upload"), {"--quiet", "--parallel", "1", "--part-size", "100K",
                                                    "--checkpoint", ckpt, file, "m.bin"}, t.env());
    t.server->clear_fault_plan();
    REQUIRE(first.exit_code == 3);
    const std::string saved = oss_test::read_file(ckpt);
    REQUIRE(run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", ckpt}, t.env()).exit_code == 0);
    oss_test::write_file(ckpt, saved);  // the record of an upload that is gone

    auto r = run_tool(tool_path("oss-upload"), {"--quiet", "--checkpoint", ckpt, file, "m.bin"}, t.env());
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.starts_with("oss-upload: the server no longer knows upload "));
    CHECK(count_of(r.err, "no longer") == 1);
    CHECK(count_of(r.err, "oss-upload --abort --checkpoint " + ckpt + " deletes the checkpoint; then upload again") == 1);
    CHECK(r.err.find("restart_if_vanished") == std::string::npos);
    CHECK(r.err.find("delete the checkpoint") == std::string::npos);
  }

  SUBCASE("nothing listens: no claim of a saved checkpoint when none was written") {
    std::uint16_t dead_port = 0;
    {
      asio::io_context io;
      asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
      dead_port = a.local_endpoint().port();
    }
    auto r = run_tool(tool_path("oss-upload"), {"--quiet", "--endpoint", "http://127.0.0.1:" + std::to_string(dead_port),
                                                "--connect-timeout", "2", "--checkpoint", ckpt, file, "m.bin"}, t.env());
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.find("saved") == std::string::npos);
    CHECK(!std::filesystem::exists(ckpt));
  }

  SUBCASE("oss-head of a missing object says 'does not exist' once") {
    auto r = run_tool(tool_path("oss-head"), {"no/such/object"}, t.env());
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(count_of(r.err, "does not exist") == 1);
  }
}

TEST_CASE("oss-upload: an https:// endpoint that answers in plain HTTP is named as such") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("tls.bin", 1000, 27);
  const std::string https = "https://127.0.0.1:" + std::to_string(t.port);

  // Run
  auto r = run_tool(tool_path("oss-upload"), {"--quiet", "--endpoint", https, file, "tls.bin"}, t.env());
  auto head = run_tool(tool_path("oss-head"), {"--endpoint", https, "tls.bin"}, t.env());

  // Check
  const std::string expected = "the server at " + https + " answered in plain HTTP; use http://127.0.0.1:" +
                               std::to_string(t.port) + "\n";
  CHECK(r.exit_code == 2);
  CHECK(r.err == "oss-upload: " + expected);
  CHECK(head.exit_code == 2);
  CHECK(head.err == "oss-head: " + expected);

  CHECK(oss_tools::plain_http_url("https://oss.example.com") == "http://oss.example.com:443");
  CHECK(oss_tools::plain_http_url("https://[::1]:8443") == "http://[::1]:8443");
  CHECK(oss_tools::plain_http_url("https://[::1]") == "http://[::1]:443");
}

TEST_CASE("oss-upload: integrity failures exit 5") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("crc.bin", 300 * 1024, 28);
  // Every reply to part 2 announces a CRC-64 that is not that of the bytes sent.
  oss::testing::fault_rule rule;
  rule.operation = "UploadPart";
  rule.part_number = 2;
  rule.times = 0;
  rule.action = oss::testing::fault_action::wrong_crc64;
  t.server->set_fault_plan({rule});

  // Run
  auto r = run_tool(tool_path("oss-upload"), {"--quiet", "--part-size", "100K", file, "crc.bin"}, t.env());

  // Check
  INFO(r.err);
  CHECK(r.exit_code == 5);
  CHECK(r.out.empty());
  CHECK(lines_of(r.err).size() == 1);
  CHECK(r.err.find("CRC-64") != std::string::npos);

  using oss_tools::exit_status_for;
  CHECK(exit_status_for(oss::client_errc::crc64_mismatch, false) == 5);
  CHECK(exit_status_for(oss::client_errc::unverified, false) == 5);
  CHECK(exit_status_for(oss::client_errc::object_changed, false) == 5);
  CHECK(exit_status_for(oss::server_errc::invalid_digest, false) == 5);
  oss::diagnostics bad_digest;
  bad_digest.code = "BadDigest";
  CHECK(exit_status_for(oss::server_errc::unknown, false, bad_digest) == 5);
  CHECK(exit_status_for(oss::client_errc::invalid_upload_id, false) == 3);
  CHECK(exit_status_for(oss::client_errc::checkpoint_locked, false) == 2);
}

TEST_CASE("oss-upload --no-server-crc: a store that confirms no CRC-64 exits 5, unless the flag says to accept it") {
  if (!tools_built()) return;
  // Setup: a proxy strips x-oss-hash-crc64ecma from every reply, as a store that computes none
  // (or a middlebox) would; the parts are then confirmed with Content-MD5, the object by nothing.
  cli_env t;
  std::string data;
  const std::string file = t.make_file("nocrc.bin", 300 * 1024 + 5, 29, &data);
  oss_test::hostile_proxy proxy(t.port);
  proxy.set_script(oss_test::rules_script(
      {{[](const oss_test::proxy_request&) { return true; },
        oss_test::proxy_action::edit(oss_test::drop_header("x-oss-hash-crc64ecma")), -1}}));
  auto env = t.env();
  env[0] = "OSS_ENDPOINT=" + proxy.endpoint();
  const std::vector<std::string> args = {"--part-size", "100K", file, "nocrc.bin"};

  // Run
  auto strict = run_tool(tool_path("oss-upload"), args, env);
  std::vector<std::string> lenient_args = args;
  lenient_args.insert(lenient_args.begin(), "--no-server-crc");
  auto lenient = run_tool(tool_path("oss-upload"), lenient_args, env);

  // Check: without the flag, no JSON line (it would claim a verified CRC-64) and exit 5.
  INFO("strict: " << strict.err);
  CHECK(strict.exit_code == 5);
  CHECK(strict.out.empty());
  CHECK(lines_of(strict.err).back().find("--no-server-crc") != std::string::npos);
  // With it: success that says nothing confirmed the object, on stdout and stderr.
  INFO("lenient: " << lenient.err);
  REQUIRE(lenient.exit_code == 0);
  auto obj = parse_result_line(lenient);
  CHECK(obj.at("verified").as_string() == "none");
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(lenient.err.find("oss-upload: the server never confirmed the object's CRC-64 (--no-server-crc): the stored "
                         "bytes are not verified\n") != std::string::npos);
  // The bytes did arrive intact (each part's Content-MD5 was checked by the server), as the
  // server itself shows without the proxy.
  CHECK(run_tool(tool_path("oss-head"), {"nocrc.bin", "--verify", file}, t.env()).exit_code == 0);
}

TEST_CASE("oss-upload --abort: a checkpoint another run is using is left alone") {
  if (!tools_built()) return;
  // Setup: a checkpoint that names an upload, locked as a running oss-upload holds it.
  cli_env t;
  const std::string ckpt = (t.files / "busy.ckpt").string();
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:" + std::to_string(t.port);
  cp.bucket = cli_bucket;
  cp.name = "busy.bin";
  cp.part_size = 100 * 1024;
  cp.upload_id = "0004B9894A22E5B1888A1E29F8236E2D";
  oss::save_checkpoint(ckpt, cp);
  const std::string before = oss_test::read_file(ckpt);
  oss::detail::multipart::checkpoint_lock held;
  std::error_code lock_ec;
  REQUIRE(held.acquire(ckpt, lock_ec));

  // Run
  auto r = run_tool(tool_path("oss-upload"), {"--abort", "--checkpoint", ckpt}, t.env());

  // Check
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(lines_of(r.err).size() == 1);
  CHECK(r.err.find("an upload is using the checkpoint " + ckpt) != std::string::npos);
  CHECK(oss_test::read_file(ckpt) == before);
  CHECK(t.server->stats().abort_multipart_upload == 0);
}

TEST_CASE("oss-upload: error text helpers: C++ names become flags, nothing is said twice") {
  using oss_tools::cli_words;
  CHECK(cli_words("set client_options::region for endpoint x") == "pass --region ID (or set OSS_REGION) for endpoint x");
  CHECK(cli_words("trust its CA with client_options::ca_file; the certificate") == "trust its CA with --ca-file FILE; the certificate");
  CHECK(cli_words("size 102400 (pass .part_size = 204800)") == "size 102400 (pass --part-size 204800)");
  CHECK(cli_words("so set upload_options::part_size to 5 MiB or more") == "so pass --part-size 5MiB or more");
  CHECK(cli_words("raise client_options::retry_time or set upload_options::require_server_crc = false") ==
        "raise --retry-time or pass --no-server-crc");

  // The library's advice about its own calls becomes a rerun or --abort.
  const std::string save_failed = cli_words(
      "cannot write the checkpoint file c.ckpt (Permission denied); upload U of n stays open on the server. Once the "
      "file can be written, call again with the same checkpoint to resume it, or abort it (abort_upload with the "
      "checkpoint, or AbortMultipartUpload with that upload id)");
  CHECK(save_failed.find("run the same command again to resume it, or abort it with oss-upload --abort and the same "
                         "--checkpoint") != std::string::npos);
  CHECK(save_failed.find("abort_upload") == std::string::npos);
  CHECK(cli_words("cancelled; the checkpoint is saved, call again to resume") ==
        "cancelled; the checkpoint is saved, run the same command again to resume");
  CHECK(cli_words("an upload of n initiated at T may stay open (list_multipart_uploads shows it)") ==
        "an upload of n initiated at T may stay open (the bucket's ListMultipartUploads shows it)");

  // Whole lines for the issue 12 errors: each thing said once, in command-line words.
  using oss_tools::describe_failure;
  oss::diagnostics unverified;
  unverified.client_message = "the object a.bin was created, but the server never confirmed its bytes (the server sent no "
                              "CRC-64 for the object); compare it with the source, or set "
                              "upload_options::require_server_crc = false for a store that computes no CRC-64";
  CHECK(describe_failure(oss::client_errc::unverified, unverified, {}) ==
        "the object a.bin was created, but the server never confirmed its bytes (the server sent no CRC-64 for the "
        "object); check the object with oss-head --verify FILE; pass --no-server-crc only for a store known to compute "
        "no CRC-64");
  oss::diagnostics locked;
  locked.client_message = "another upload is using the checkpoint c.ckpt (it holds the lock on c.ckpt.lock); wait for it "
                          "to end, or use another checkpoint path";
  CHECK(describe_failure(oss::client_errc::checkpoint_locked, locked, {}) ==
        "another upload is using the checkpoint c.ckpt (it holds the lock on c.ckpt.lock); wait for the other "
        "oss-upload to finish, or use another --checkpoint path");
  oss::diagnostics no_lock_file;
  no_lock_file.client_message = "cannot create the checkpoint's lock file /x/c.ckpt.lock (" +
                                std::make_error_code(std::errc::no_such_file_or_directory).message() +
                                "); the checkpoint's folder must be writable. Nothing was sent";
  CHECK(describe_failure(std::make_error_code(std::errc::no_such_file_or_directory), no_lock_file, {}) ==
        no_lock_file.client_message);

  using oss_tools::without_repeats;
  CHECK(without_repeats("parallel must be at least 1: parallel must be at least 1") == "parallel must be at least 1");
  CHECK(without_repeats("a fact here: the details; use another checkpoint path; Use another checkpoint path.") ==
        "a fact here: the details; use another checkpoint path");
  CHECK(without_repeats("x (a; b); b") == "x (a; b); b");  // a clause inside parentheses is not cut
}

TEST_CASE("oss-upload: every C++ option name in the library's messages has command-line words") {
  // Each `_options::` name in the library's string literals (the messages it can put in
  // diagnostics) must come out of cli_words without its C++ spelling: a message added later
  // with a new name fails here until the tools learn its words. (The one bare field name,
  // restart_if_vanished, is checked through the tool in the upload_vanished case above.)
  using oss_tools::cli_words;
  const char* source = std::getenv("OSS_SOURCE_DIR");
  if (!source || !*source) OSS_SKIP("OSS_SOURCE_DIR is not set, so the library's messages cannot be scanned");
  std::size_t literals = 0;
  std::size_t call_literals = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::filesystem::path(source) / "include" / "oss")) {
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.starts_with("local_")) continue;  // the test server's own text
    std::istringstream lines(oss_test::read_file(entry.path()));
    for (std::string line; std::getline(lines, line);) {
      // The string literals of one line, outside comments and character literals.
      for (std::size_t i = 0; i < line.size(); ++i) {
        if (line.compare(i, 2, "//") == 0) break;
        if (line[i] == '\'') {
          i += line.compare(i, 2, "'\\") == 0 ? 3 : 2;
          continue;
        }
        if (line[i] != '"') continue;
        std::string literal;
        for (++i; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          literal += line[i];
        }
        // Advice that names the library's own calls ("call again", abort_upload): the fragment
        // must be part of, or hold, a phrase the tools reword. (A bare identifier is an
        // operation name.)
        const bool names_a_call = literal.find(' ') != std::string::npos &&
                                  (literal.find("call again") != std::string::npos ||
                                   literal.find("abort_upload") != std::string::npos ||
                                   literal.find("list_multipart_uploads") != std::string::npos);
        if (names_a_call) {
          ++call_literals;
          const bool reworded = std::any_of(std::begin(oss_tools::cli_word_table), std::end(oss_tools::cli_word_table),
                                            [&](const auto& entry) {
                                              return entry.first.find(literal) != std::string_view::npos ||
                                                     literal.find(entry.first) != std::string::npos;
                                            });
          INFO(entry.path().string() << ": \"" << literal << "\"");
          CHECK(reworded);
        }
        if (literal.find("_options::") == std::string::npos) continue;
        ++literals;
        const std::string words = cli_words(literal);
        INFO(entry.path().string() << ": \"" << literal << "\" -> \"" << words << "\"");
        CHECK(words.find("_options::") == std::string::npos);
      }
    }
  }
  CHECK(literals >= 5);
  CHECK(call_literals >= 4);
}

TEST_CASE("oss-upload: the progress line never reaches the terminal's last column") {
  // Setup: a typical run, a huge one and a finished one.
  std::vector<oss_tools::progress_figures> runs = {
      {107u << 20, 256u << 20, 107, 256, 812.3 * 1024 * 1024, "ETA 0:02", false},
      {1099404705382ull, 1099511627776ull, 9999, 10000, 9999.9 * 1024 * 1024, "ETA 99:59:59", false},
      {256u << 20, 256u << 20, 256, 256, 640.0 * 1024 * 1024, "in 0.4 s", true},
  };
  for (const auto& f : runs) {
    for (int columns : {1, 2, 5, 30, 40, 60, 80, 200}) {
      // Run
      const std::string line = oss_tools::progress_line(f, columns);
      // Check
      INFO("columns " << columns << ": '" << line << "'");
      CHECK(static_cast<int>(line.size()) <= columns - 1);
      CHECK(line.find('\n') == std::string::npos);
      if (columns >= 30) CHECK(line.find('%') != std::string::npos);
    }
    // Wide: every piece and a bar of 40.
    const std::string wide = oss_tools::progress_line(f, 200);
    CHECK(wide.starts_with("[" + std::string(f.done ? 40 : 0, '#')));
    CHECK(wide.find("] ") == 41);
    CHECK(wide.ends_with(oss_tools::progress_text(f)));
  }
  const auto& typical = runs[0];
  CHECK(oss_tools::progress_line(typical, 80) == "[#####>       ]  41.8%  107.0/256.0 MiB  812.3 MiB/s  ETA 0:02  (107/256 parts)");
  CHECK(oss_tools::progress_line(typical, 60) == "[####>     ]  41.8%  107.0/256.0 MiB  812.3 MiB/s  ETA 0:02");
  CHECK(oss_tools::progress_line(typical, 40) == " 41.8%  107.0/256.0 MiB  ETA 0:02");
  CHECK(oss_tools::progress_line(typical, 30) == "[####>     ]  41.8%  ETA 0:02");
  CHECK(oss_tools::progress_line(typical, 5) == "41.8");
}

TEST_CASE("oss-upload: on a terminal of 60 and of 40 columns every redraw stays on its line") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("narrow.bin", 8 * 1024 * 1024, 29);
  for (int columns : {60, 40}) {
    // Run
    auto r = run_tool(tool_path("oss-upload"), {"--part-size", "256K", file, "narrow.bin"}, t.env(), {}, 120s, true, columns);

    // Check: the bar is redrawn after '\r'; a redraw as wide as the terminal would wrap.
    INFO("columns " << columns << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.err.ends_with("\r\n"));  // the pty turns the last '\n' into "\r\n"
    const std::string redraws = r.err.substr(0, r.err.size() - 2);
    CHECK(redraws.find('\n') == std::string::npos);
    std::size_t drawn = 0;
    for (std::size_t at = redraws.find('\r'); at != std::string::npos;) {
      const auto next = redraws.find('\r', at + 1);
      const std::string one = redraws.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
      CHECK(static_cast<int>(one.size()) <= columns - 1);
      ++drawn;
      at = next;
    }
    CHECK(drawn >= 2);
    CHECK(redraws.find("100.0%") != std::string::npos);
  }
}

// ---- oss-download

TEST_CASE("oss-download: a download prints the JSON line; SIGINT exits 130 and the same command resumes to identical bytes") {
  if (!tools_built() || !std::filesystem::exists(tool_path("oss-download"))) {
    oss_test::report_skip("oss-download is not built");
    return;
  }
  cli_env t;
  std::string data;
  const std::string file = t.make_file("d.bin", 20 * 1024 * 1024 + 99, 41, &data);
  REQUIRE(run_tool(tool_path("oss-upload"), {"--quiet", "--part-size", "4M", file, "dl/d.bin"}, t.env()).exit_code == 0);

  const std::string out = (t.files / "d.copy").string();
  const std::string ckpt = (t.files / "d.ckpt").string();
  const std::vector<std::string> args = {"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt, "dl/d.bin", out};
  bool sent = false;
  auto first = run_tool(tool_path("oss-download"), args, t.env(), [&](pid_t pid) {
    if (!sent && t.server->stats().get_object >= 20) {
      kill(pid, SIGINT);
      sent = true;
    }
  });
  INFO("first stderr: " << first.err);
  REQUIRE(sent);
  CHECK(first.exit_code == 130);
  CHECK(first.out.empty());
  CHECK(first.err.find("checkpoint saved") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
  REQUIRE(std::filesystem::exists(ckpt));

  auto second = run_tool(tool_path("oss-download"), args, t.env());
  INFO("second stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("resuming:") != std::string::npos);
  const std::string line = last_line(second.out);
  std::error_code ec;
  const boost::json::value v = boost::json::parse(line, ec);
  REQUIRE_MESSAGE(!ec, "not JSON: " << line);
  const boost::json::object& obj = v.as_object();
  CHECK(obj.at("name").as_string() == "dl/d.bin");
  CHECK(obj.at("file").as_string() == out);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("size").to_number<std::uint64_t>() == data.size());
  CHECK(obj.at("verified").as_string() == "crc64");
  CHECK(oss_test::read_file(out) == data);
  CHECK_FALSE(std::filesystem::exists(ckpt));
}

TEST_CASE("oss-download: exit statuses: usage 2, a missing object 3, an unreachable endpoint 4") {
  if (!tools_built() || !std::filesystem::exists(tool_path("oss-download"))) {
    oss_test::report_skip("oss-download is not built");
    return;
  }
  cli_env t;
  const std::string out = (t.files / "x.out").string();
  CHECK(run_tool(tool_path("oss-download"), {"only-a-name"}, t.env()).exit_code == 2);
  CHECK(run_tool(tool_path("oss-download"), {"--parallel", "0", "a", out}, t.env()).exit_code == 2);
  CHECK(run_tool(tool_path("oss-download"), {"--help"}, t.env()).exit_code == 0);
  CHECK(run_tool(tool_path("oss-download"), {"a", (t.files / "no" / "such" / "dir").string()}, t.env()).exit_code == 2);
  auto missing = run_tool(tool_path("oss-download"), {"no/such/object", out}, t.env());
  CHECK(missing.exit_code == 3);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CHECK(missing.err.find(cli_secret) == std::string::npos);
  std::vector<std::string> dead = t.env();
  dead[0] = "OSS_ENDPOINT=http://127.0.0.1:1";
  CHECK(run_tool(tool_path("oss-download"), {"--quiet", "a", out}, dead).exit_code == 4);
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("oss-upload -: standard input, a pipe as a stream and a redirected file as that file") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("stdin.bin", 1234567, 43, &data);
  const std::string upload = tool_path("oss-upload").string();
  // A pipe: a stream of unknown length.
  auto piped = run_tool("/bin/sh", {"-c", "cat '" + file + "' | '" + upload + "' --part-size 100K - from/pipe.bin"}, t.env());
  INFO("stderr: " << piped.err);
  REQUIRE(piped.exit_code == 0);
  auto obj = parse_result_line(piped);
  CHECK(obj.at("size").to_number<std::uint64_t>() == data.size());
  CHECK(obj.at("parts").to_number<int>() == 13);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("verified").as_string() == "crc64-reply");
  CHECK(piped.err.find("a stream of unknown length") != std::string::npos);
  // A redirected file.
  auto redirected = run_tool("/bin/sh", {"-c", "'" + upload + "' --quiet --part-size 100K - from/file.bin < '" + file + "'"}, t.env());
  INFO("stderr: " << redirected.err);
  REQUIRE(redirected.exit_code == 0);
  CHECK(parse_result_line(redirected).at("crc64").as_string() == std::to_string(crc_of(data)));
  // Parts above half of --max-memory go through --spool-dir: a folder that is missing is one
  // line and exit 2; one that exists takes them.
  const std::string spooled = "cat '" + file + "' | '" + upload + "' --quiet --part-size 600K --max-memory 1MiB --spool-dir '";
  auto missing = run_tool("/bin/sh", {"-c", spooled + (t.files / "no-spool").string() + "' - from/spooled.bin"}, t.env());
  CHECK(missing.exit_code == 2);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CHECK(missing.err.find("no-spool") != std::string::npos);
  std::filesystem::create_directories(t.files / "spool");
  auto spool = run_tool("/bin/sh", {"-c", spooled + (t.files / "spool").string() + "' - from/spooled.bin"}, t.env());
  INFO("stderr: " << spool.err);
  REQUIRE(spool.exit_code == 0);
  CHECK(parse_result_line(spool).at("parts").to_number<int>() == 3);
  CHECK(std::filesystem::is_empty(t.files / "spool"));
  for (const char* name : {"from/pipe.bin", "from/file.bin", "from/spooled.bin"})
    CHECK(run_tool(tool_path("oss-head"), {name, "--verify", file}, t.env()).exit_code == 0);
}

TEST_CASE("--limit-rate: oss-upload and oss-download keep to the rate") {
  if (!tools_built() || !std::filesystem::exists(tool_path("oss-download"))) {
    oss_test::report_skip("oss-download is not built");
    return;
  }
  cli_env t;
  std::string data;
  const std::string file = t.make_file("slow.bin", 6 * 1024 * 1024, 45, &data);
  // 6 MiB at 2 MiB/s: 3 s, less the 10 ms burst; loaded machines only make it longer.
  auto up = run_tool(tool_path("oss-upload"), {"--quiet", "--limit-rate", "2MiB", "--part-size", "1M", file, "slow.bin"},
                     t.env());
  INFO("stderr: " << up.err);
  REQUIRE(up.exit_code == 0);
  const double up_seconds = parse_result_line(up).at("seconds").as_double();
  CHECK(up_seconds >= 2.8);
  CHECK(up_seconds <= 8.0);
  const std::string out = (t.files / "slow.copy").string();
  auto down = run_tool(tool_path("oss-download"),
                       {"--quiet", "--limit-rate", "2MiB", "--part-size", "1M", "slow.bin", out}, t.env());
  INFO("stderr: " << down.err);
  REQUIRE(down.exit_code == 0);
  CHECK(oss_test::read_file(out) == data);
  const boost::json::value v = boost::json::parse(last_line(down.out));
  const double down_seconds = v.as_object().at("seconds").as_double();
  CHECK(down_seconds >= 2.8);
  CHECK(down_seconds <= 8.0);
  CHECK(run_tool(tool_path("oss-upload"), {"--limit-rate", "fast", file, "x"}, t.env()).exit_code == 2);
}

namespace {

// The lines of a --recursive run's stdout: the files' JSON objects by name, and the summary.
struct folder_output {
  std::map<std::string, boost::json::object> files;
  boost::json::object summary;
};

folder_output parse_folder_output(const std::string& out) {
  folder_output r;
  for (const std::string& line : lines_of(out)) {
    std::error_code ec;
    const boost::json::value v = boost::json::parse(line, ec);
    REQUIRE_MESSAGE(!ec, "not JSON: " << line);
    const boost::json::object& o = v.as_object();
    if (o.contains("summary"))
      r.summary = o.at("summary").as_object();
    else
      r.files[std::string(o.at("name").as_string())] = o;
  }
  return r;
}

}  // namespace

TEST_CASE("oss-upload --recursive: a folder under one memory budget, one line per file, a rerun skips what is done") {
  if (!tools_built()) return;
  cli_env t;
  // Setup: 12 files in three levels (an empty one, single-part and multi-part ones), and a
  // symbolic link, which is left out.
  const auto dir = t.files / "tree";
  std::map<std::string, std::string> data;
  for (int i = 0; i < 12; ++i) {
    const std::string rel = (i % 3 == 0 ? "" : i % 3 == 1 ? "a/" : "a/b/") + ("f" + std::to_string(i) + ".bin");
    std::filesystem::create_directories((dir / rel).parent_path());
    data[rel] = oss_test::random_bytes(i == 0 ? 0 : static_cast<std::size_t>(i) * 90 * 1024 + 7, 300 + static_cast<std::uint64_t>(i));
    oss_test::write_file(dir / rel, data[rel]);
  }
  std::filesystem::create_symlink("f3.bin", dir / "link.bin");
  const std::string ckdir = (t.files / "ck").string();
  const std::vector<std::string> args = {"--recursive", "--jobs", "3", "--parallel", "3", "--part-size", "100K",
                                         "--max-memory", "1MiB", "--checkpoint-dir", ckdir, dir.string(), "up"};

  // Run
  auto first = run_tool(tool_path("oss-upload"), args, t.env());

  // Check: every file stored byte for byte, a line each, and the summary.
  INFO("stderr: " << first.err);
  REQUIRE(first.exit_code == 0);
  const folder_output out = parse_folder_output(first.out);
  CHECK(out.files.size() == data.size());
  for (const auto& [rel, bytes] : data) {
    CAPTURE(rel);
    REQUIRE(out.files.contains("up/" + rel));
    const auto& line = out.files.at("up/" + rel);
    CHECK(line.at("crc64").as_string() == std::to_string(crc_of(bytes)));
    CHECK(line.at("verified").as_string() == "crc64-reply");
    CHECK(run_tool(tool_path("oss-head"), {"up/" + rel, "--verify", (dir / rel).string()}, t.env()).exit_code == 0);
  }
  CHECK(out.summary.at("files").to_number<int>() == 12);
  CHECK(out.summary.at("uploaded").to_number<int>() == 12);
  CHECK(out.summary.at("failed").to_number<int>() == 0);
  CHECK(out.summary.at("left_out").to_number<int>() == 1);
  CHECK(first.err.find("left out") != std::string::npos);
  CHECK(first.err.find("(12/12 files)") != std::string::npos);

  // A rerun skips every file; a changed file, and only it, goes up again.
  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  const folder_output again = parse_folder_output(second.out);
  CHECK(again.summary.at("skipped").to_number<int>() == 12);
  CHECK(again.summary.at("uploaded").to_number<int>() == 0);
  CHECK(again.files.at("up/a/f4.bin").at("skipped").as_bool());
  CHECK(again.files.at("up/a/f4.bin").at("crc64") == out.files.at("up/a/f4.bin").at("crc64"));
  const std::string changed = oss_test::random_bytes(150 * 1024, 999);
  oss_test::write_file(dir / "a/f4.bin", changed);
  auto third = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("stderr: " << third.err);
  REQUIRE(third.exit_code == 0);
  const folder_output after = parse_folder_output(third.out);
  CHECK(after.summary.at("uploaded").to_number<int>() == 1);
  CHECK(after.summary.at("skipped").to_number<int>() == 11);
  CHECK_FALSE(after.files.at("up/a/f4.bin").contains("skipped"));
  CHECK(run_tool(tool_path("oss-head"), {"up/a/f4.bin", "--verify", (dir / "a/f4.bin").string()}, t.env()).exit_code == 0);
}

TEST_CASE("oss-upload --recursive: SIGINT saves every checkpoint and the rerun resumes; a failing file does not stop the others") {
  if (!tools_built()) return;
  cli_env t;
  const auto dir = t.files / "big";
  std::filesystem::create_directories(dir);
  std::map<std::string, std::string> data;
  for (int i = 0; i < 4; ++i) {
    const std::string rel = "g" + std::to_string(i) + ".bin";
    data[rel] = oss_test::random_bytes(6 * 1024 * 1024 + static_cast<std::size_t>(i), 400 + static_cast<std::uint64_t>(i));
    oss_test::write_file(dir / rel, data[rel]);
  }
  const std::string ckdir = (t.files / "ck").string();
  const std::vector<std::string> args = {"--recursive", "--jobs", "2", "--parallel", "2", "--part-size", "100K",
                                         "--checkpoint-dir", ckdir, dir.string(), "big/"};
  bool sent = false;
  auto first = run_tool(tool_path("oss-upload"), args, t.env(), [&](pid_t pid) {
    if (!sent && t.server->stats().parts_uploaded >= 20) {
      kill(pid, SIGINT);
      sent = true;
    }
  });
  INFO("stderr: " << first.err);
  REQUIRE(sent);
  CHECK(first.exit_code == 130);
  CHECK(first.err.find("checkpoints saved in " + ckdir) != std::string::npos);
  const auto stored_before = t.server->stats().parts_uploaded;
  const std::uint64_t all_parts = 4 * ((6 * 1024 * 1024 + 3 + 102399) / 102400);
  CHECK(stored_before < all_parts);

  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  const folder_output out = parse_folder_output(second.out);
  CHECK(out.summary.at("uploaded").to_number<int>() + out.summary.at("skipped").to_number<int>() == 4);
  for (const auto& [rel, bytes] : data)
    CHECK(run_tool(tool_path("oss-head"), {"big/" + rel, "--verify", (dir / rel).string()}, t.env()).exit_code == 0);
  // Only what was missing went up again (a few interrupted parts may repeat).
  CHECK(t.server->stats().parts_uploaded < all_parts + 12);

  // A name the server refuses (OSS names are at most 1023 bytes) fails that file alone: exit 2
  // with a line naming it, and the other file is uploaded.
  const auto mixed = t.files / "mixed";
  std::filesystem::create_directories(mixed);
  oss_test::write_file(mixed / "ok.bin", "fine");
  oss_test::write_file(mixed / std::string(200, 'n'), "too long a name under the prefix");
  auto third = run_tool(tool_path("oss-upload"), {"--recursive", "--quiet", mixed.string(), std::string(900, 'p')}, t.env());
  INFO("stderr: " << third.err);
  CHECK(third.exit_code == 2);
  const folder_output m = parse_folder_output(third.out);
  CHECK(m.summary.at("uploaded").to_number<int>() == 1);
  CHECK(m.summary.at("failed").to_number<int>() == 1);
  CHECK(count_of(third.err, "\n") == 1);
  CHECK(third.err.find(std::string(200, 'n')) != std::string::npos);
}

TEST_CASE("oss-upload --recursive: usage errors exit 2") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("one.bin", 10, 1);
  const auto upload = tool_path("oss-upload");
  const std::string folder = t.files.path().string();
  CHECK(run_tool(upload, {"--recursive", file, "p"}, t.env()).exit_code == 2);                       // not a folder
  CHECK(run_tool(upload, {"--recursive", folder}, t.env()).exit_code == 2);                          // no PREFIX
  CHECK(run_tool(upload, {"--recursive", "--checkpoint", "x", folder, "p"}, t.env()).exit_code == 2);  // one checkpoint
  CHECK(run_tool(upload, {"--recursive", "-", "p"}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--jobs", "2", file, "p"}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--checkpoint-dir", folder, file, "p"}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--recursive", "--jobs", "0", folder, "p"}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--max-memory", "100K", file, "p"}, t.env()).exit_code == 2);
  auto missing = run_tool(upload, {"--recursive", folder + "/nope", "p"}, t.env());
  CHECK(missing.exit_code == 2);
  CHECK(count_of(missing.err, "\n") == 1);
}

TEST_CASE("oss-upload --initiate, --upload-id --parts and --complete: four worker processes make one object") {
  if (!tools_built()) return;
  cli_env t;
  // Setup: a 12-part object (1 MiB parts, the last shorter), as four machines would hold it:
  // each its own slice of three parts.
  constexpr std::size_t mib = 1024 * 1024;
  const std::string data = oss_test::random_bytes(11 * mib + 12345, 500);
  const std::string whole = (t.files / "whole.bin").string();
  oss_test::write_file(whole, data);
  const std::string upload = tool_path("oss-upload").string();
  const std::string name = "shared/dataset.bin";

  // Run: initiate once.
  auto started = run_tool(upload, {"--initiate", "--meta", "team=ml", name}, t.env());
  INFO("stderr: " << started.err);
  REQUIRE(started.exit_code == 0);
  const boost::json::object ids = boost::json::parse(last_line(started.out)).as_object();
  const std::string upload_id(ids.at("upload_id").as_string());
  CHECK(ids.at("name").as_string() == name);

  // Nothing is there yet: --complete names what is missing, exits 2, and makes nothing.
  auto early = run_tool(upload, {"--complete", "--upload-id", upload_id, "--parts", "1-12", name}, t.env());
  CHECK(early.exit_code == 2);
  CHECK(early.err.find("12 of the object's 12 parts are not on the server yet (1-12)") != std::string::npos);
  CHECK(count_of(early.err, "\n") == 1);

  // Four worker processes at once, each with its slice, its part range and its checkpoint.
  std::string script;
  for (int i = 0; i < 4; ++i) {
    const std::size_t begin = static_cast<std::size_t>(i) * 3 * mib;
    const std::string slice = (t.files / ("slice" + std::to_string(i))).string();
    oss_test::write_file(slice, data.substr(begin, std::min(data.size(), begin + 3 * mib) - begin));
    const std::string range = std::to_string(3 * i + 1) + "-" + std::to_string(3 * i + 3);
    const std::string out = (t.files / ("out" + std::to_string(i))).string();
    script += "('" + upload + "' --quiet --parallel 2 --upload-id '" + upload_id + "' --parts " + range +
              " --checkpoint '" + slice + ".ckpt' '" + slice + "' '" + name + "' > '" + out + "'; echo $? > '" + out +
              ".status') & ";
  }
  script += "wait";
  auto workers = run_tool("/bin/sh", {"-c", script}, t.env());
  INFO("workers stderr: " << workers.err);
  REQUIRE(workers.exit_code == 0);
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    const std::string out = (t.files / ("out" + std::to_string(i))).string();
    CHECK(oss_test::read_file(out + ".status") == "0\n");
    const boost::json::object share = boost::json::parse(last_line(oss_test::read_file(out))).as_object();
    CHECK(share.at("upload_id").as_string() == upload_id);
    CHECK(share.at("first_part").to_number<int>() == 3 * i + 1);
    CHECK(share.at("last_part").to_number<int>() == 3 * i + 3);
    const std::size_t begin = static_cast<std::size_t>(i) * 3 * mib;
    CHECK(share.at("crc64").as_string() ==
          std::to_string(crc_of(data.substr(begin, std::min(data.size(), begin + 3 * mib) - begin))));
  }
  CHECK(t.server->stats().complete_multipart_upload == 0);  // no worker completes

  // Complete from what the server lists, verified.
  auto done = run_tool(upload, {"--complete", "--upload-id", upload_id, "--parts", "1-12", name}, t.env());
  INFO("stderr: " << done.err);
  REQUIRE(done.exit_code == 0);
  auto obj = parse_result_line(done);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("parts").to_number<int>() == 12);
  CHECK(obj.at("verified").as_string() == "crc64-reply");
  CHECK(run_tool(tool_path("oss-head"), {name, "--verify", whole}, t.env()).exit_code == 0);

  // The flags that do not go together.
  CHECK(run_tool(upload, {"--upload-id", upload_id, whole, name}, t.env()).exit_code == 2);         // no --parts
  CHECK(run_tool(upload, {"--parts", "1-3", whole, name}, t.env()).exit_code == 2);                  // no --upload-id
  CHECK(run_tool(upload, {"--upload-id", "x", "--parts", "5-2", whole, name}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--complete", "--upload-id", "x", "--parts", "2-5", name}, t.env()).exit_code == 2);
  CHECK(run_tool(upload, {"--initiate", whole, name}, t.env()).exit_code == 2);
  // A share whose file needs more parts than its range holds: refused before any request.
  auto too_big = run_tool(upload, {"--upload-id", upload_id, "--parts", "1-2", whole, name}, t.env());
  CHECK(too_big.exit_code == 2);
  CHECK(too_big.err.find("hold 2") != std::string::npos);
}
