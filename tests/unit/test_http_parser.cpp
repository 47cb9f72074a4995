// Unit tests of the sans-io HTTP/1.1 model and parser: every message is fed whole, one byte at a
// time and split at every point, and all ways must give the same result.
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/error.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace http = oss::detail::http;
using oss::client_errc;
using namespace std::string_literals;

namespace {

struct parse_options {
  http::parser_kind kind = http::parser_kind::response;
  http::parser_limits limits{};
  bool head_request = false;
  bool eof_at_end = false;      // call finish_on_eof after the last piece
  bool sink_after_header = false;  // install a body sink once header_done()
};

// Everything observable about one parse, compared across split patterns.
struct outcome {
  std::error_code ec;
  bool header_done = false;
  bool done = false;
  std::size_t consumed = 0;  // bytes of the input taken by this message
  int status = 0;
  std::string reason, method, target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;           // buffered body
  std::string sunk;           // streamed body
  std::uint64_t body_bytes = 0;
  bool keep_alive = false;
  bool expects_continue = false;

  bool operator==(const outcome& o) const {
    return ec == o.ec && header_done == o.header_done && done == o.done && consumed == o.consumed &&
           status == o.status && reason == o.reason && method == o.method && target == o.target &&
           headers == o.headers && body == o.body && sunk == o.sunk && body_bytes == o.body_bytes &&
           keep_alive == o.keep_alive && expects_continue == o.expects_continue;
  }
};

// Feeds `input` cut at `cuts` (ascending offsets) and reports what the parser saw.
outcome parse_split(std::string_view input, const std::vector<std::size_t>& cuts, const parse_options& o) {
  http::message_parser p(o.kind, o.limits);
  if (o.head_request) p.expect_no_body();
  outcome out;
  bool sink_installed = false;
  auto install_sink = [&] {
    if (o.sink_after_header && !sink_installed && p.header_done()) {
      p.set_body_sink([&out](std::string_view s) { out.sunk.append(s); });
      sink_installed = true;
    }
  };
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (std::size_t end : ends) {
    std::string_view piece = input.substr(start, end - start);
    std::size_t piece_start = start;
    start = end;
    // Bounded: every feed either consumes bytes or ends the message.
    for (int guard = 0; !piece.empty() && !out.ec && !p.done(); ++guard) {
      REQUIRE(guard < 100000);
      std::size_t n = p.feed(piece, out.ec);
      if (out.ec) break;
      REQUIRE((n > 0 || p.done()));
      piece.remove_prefix(n);
      install_sink();
    }
    if (p.done() || out.ec) {
      out.consumed = piece_start + (end - piece_start - piece.size());
      break;
    }
  }
  if (!out.ec && !p.done()) {
    out.consumed = input.size();
    if (o.eof_at_end) p.finish_on_eof(out.ec);
  }
  out.header_done = p.header_done();
  out.done = p.done();
  out.status = p.status();
  out.reason = p.reason();
  out.method = p.method();
  out.target = p.target();
  for (const auto& f : p.headers()) out.headers.emplace_back(f.name, f.value);
  out.body = p.body();
  out.body_bytes = p.body_bytes();
  if (p.header_done()) {
    out.keep_alive = p.keep_alive();
    out.expects_continue = p.expects_continue();
  }
  return out;
}

// Parses `input` whole, byte by byte, and at every 2-way split; all must agree (on everything
// for a success, on the error code for a failure: how far a parser got before failing depends
// on where the input was cut). Returns the whole-input outcome.
outcome parse_every_way(std::string_view input, const parse_options& o = {}) {
  outcome whole = parse_split(input, {}, o);
  auto same = [&whole](const outcome& other) { return whole.ec ? other.ec == whole.ec : other == whole; };
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  outcome one_by_one = parse_split(input, bytes, o);
  CHECK(same(one_by_one));
  for (std::size_t i = 1; i < input.size(); ++i) {
    outcome split = parse_split(input, {i}, o);
    if (!same(split)) {
      FAIL_CHECK("split at " << i << " of " << input.size() << " differs");
      break;
    }
  }
  return whole;
}

std::string header_value(const outcome& o, std::string_view name) {
  for (const auto& [n, v] : o.headers)
    if (http::iequals(n, name)) return v;
  return "<absent>";
}

const std::string oss_initiate_body =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<InitiateMultipartUploadResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n"
    "  <Bucket>oss-example</Bucket>\n"
    "  <Key>multipart.data</Key>\n"
    "  <UploadId>0004B9894A22E5B1888A1E29F8236E2D</UploadId>\n"
    "</InitiateMultipartUploadResult>\n";

const std::string oss_200 =
    "HTTP/1.1 200 OK\r\n"
    "Server: AliyunOSS\r\n"
    "Date: Wed, 27 Nov 2024 08:00:00 GMT\r\n"
    "Content-Type: application/xml\r\n"
    "Content-Length: " + std::to_string(oss_initiate_body.size()) + "\r\n"
    "Connection: keep-alive\r\n"
    "x-oss-request-id: 5C3D9B5E8C6B4F3A2D1E0F9A\r\n"
    "x-oss-hash-crc64ecma:\t11051210869376104954  \r\n"
    "ETag: \"95714944FBE90D6B77FE6BA931A5A99E\"\r\n"
    "\r\n" + oss_initiate_body;

}  // namespace

TEST_CASE("http fields: case-insensitive, insertion-ordered") {
  // Setup
  http::fields f;
  f.add("Content-Type", "text/plain");
  f.add("x-oss-meta-a", "1");
  f.add("X-OSS-META-A", "2");

  // Run / Check
  REQUIRE(f.find("content-type") != nullptr);
  CHECK(*f.find("CONTENT-TYPE") == "text/plain");
  CHECK(*f.find("x-oss-meta-a") == "1");
  CHECK(f.count("X-Oss-Meta-A") == 2);
  CHECK(f.size() == 3);
  CHECK(f.find("missing") == nullptr);

  f.set("x-oss-meta-a", "3");
  CHECK(f.count("x-oss-meta-a") == 1);
  CHECK(*f.find("x-oss-meta-a") == "3");
  CHECK(f.size() == 2);
  CHECK(std::next(f.begin())->name == "x-oss-meta-a");  // kept the first one's position

  CHECK(f.erase("CONTENT-type"));
  CHECK_FALSE(f.erase("content-type"));
  CHECK(f.size() == 1);
  f.set("New", "v");
  CHECK(f.size() == 2);
  CHECK((f.begin() + 1)->name == "New");
  CHECK_FALSE(f.empty());
}

TEST_CASE("http field validation") {
  CHECK(http::is_valid_field_name("x-oss-meta-year"));
  CHECK(http::is_valid_field_name("Content-MD5"));
  CHECK_FALSE(http::is_valid_field_name(""));
  CHECK_FALSE(http::is_valid_field_name("Bad Name"));
  CHECK_FALSE(http::is_valid_field_name("Bad:Name"));
  CHECK_FALSE(http::is_valid_field_name("na\xc3\xafve"));

  CHECK(http::is_valid_field_value(""));
  CHECK(http::is_valid_field_value("attachment; filename=\"a b.mp4\""));
  CHECK(http::is_valid_field_value("tab\tinside"));
  CHECK(http::is_valid_field_value("caf\xc3\xa9"));  // obs-text
  CHECK_FALSE(http::is_valid_field_value("a\r\nX-Injected: 1"));
  CHECK_FALSE(http::is_valid_field_value("a\nb"));
  CHECK_FALSE(http::is_valid_field_value("a\rb"));
  CHECK_FALSE(http::is_valid_field_value("a\0b"s));
  CHECK_FALSE(http::is_valid_field_value("del\x7f"));
  CHECK_FALSE(http::is_valid_field_value(" leading"));
  CHECK_FALSE(http::is_valid_field_value("trailing\t"));
}

TEST_CASE("http serialize_head") {
  SUBCASE("request") {
    http::request req{"PUT", "/bucket/key?partNumber=1&uploadId=abc", {}};
    req.headers.add("Host", "bucket.oss-cn-hangzhou.aliyuncs.com");
    req.headers.add("Content-Length", "5");
    CHECK(http::serialize_head(req) ==
          "PUT /bucket/key?partNumber=1&uploadId=abc HTTP/1.1\r\n"
          "Host: bucket.oss-cn-hangzhou.aliyuncs.com\r\n"
          "Content-Length: 5\r\n"
          "\r\n");
  }
  SUBCASE("response, default reason") {
    http::response res;
    res.status = 404;
    res.headers.add("x-oss-request-id", "R1");
    CHECK(http::serialize_head(res) == "HTTP/1.1 404 Not Found\r\nx-oss-request-id: R1\r\n\r\n");
  }
  SUBCASE("round trip through the parser") {
    http::response res;
    res.status = 200;
    res.reason = "OK";
    res.headers.add("ETag", "\"abc\"");
    res.headers.add("Content-Length", "0");
    std::error_code ec;
    http::message_parser p(http::parser_kind::response);
    std::string bytes = http::serialize_head(res);
    CHECK(p.feed(bytes, ec) == bytes.size());
    CHECK_FALSE(ec);
    CHECK(p.done());
    CHECK(*p.headers().find("etag") == "\"abc\"");
  }
  SUBCASE("header injection is refused") {
    http::request req{"GET", "/k", {}};
    req.headers.add("x-oss-meta-a", "1\r\nAuthorization: forged");
    CHECK_THROWS_AS(http::serialize_head(req), std::invalid_argument);
    http::request bad_name{"GET", "/k", {}};
    bad_name.headers.add("Bad Name", "1");
    CHECK_THROWS_AS(http::serialize_head(bad_name), std::invalid_argument);
    http::request bad_target{"GET", "/k HTTP/1.1\r\nX: y", {}};
    CHECK_THROWS_AS(http::serialize_head(bad_target), std::invalid_argument);
    http::request bad_method{"GE T", "/k", {}};
    CHECK_THROWS_AS(http::serialize_head(bad_method), std::invalid_argument);
    http::response bad_status;
    bad_status.status = 42;
    CHECK_THROWS_AS(http::serialize_head(bad_status), std::invalid_argument);
  }
}

TEST_CASE("response: OSS-style 200 with Content-Length") {
  // Run
  outcome o = parse_every_way(oss_200);

  // Check
  CHECK_FALSE(o.ec);
  CHECK(o.done);
  CHECK(o.consumed == oss_200.size());
  CHECK(o.status == 200);
  CHECK(o.reason == "OK");
  CHECK(o.body == oss_initiate_body);
  CHECK(o.keep_alive);
  CHECK(o.headers.size() == 8);
  CHECK(header_value(o, "etag") == "\"95714944FBE90D6B77FE6BA931A5A99E\"");
  CHECK(header_value(o, "x-oss-hash-crc64ecma") == "11051210869376104954");  // OWS trimmed
  CHECK(header_value(o, "X-OSS-REQUEST-ID") == "5C3D9B5E8C6B4F3A2D1E0F9A");
}

TEST_CASE("response: chunked with extensions and trailers") {
  // Setup
  const std::string msg =
      "HTTP/1.1 200 OK\r\n"
      "Transfer-Encoding: gzip, chunked\r\n"
      "Content-Type: text/plain\r\n"
      "Trailer: x-oss-hash-crc64ecma\r\n"
      "\r\n"
      "5;name=value\r\nhello\r\n"
      "1A ; ext=\"quoted\";flag\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "000\r\n"
      "x-oss-hash-crc64ecma: 123\r\n"
      "Expires: never\r\n"
      "\r\n";

  // Run
  outcome o = parse_every_way(msg);

  // Check
  CHECK_FALSE(o.ec);
  CHECK(o.done);
  CHECK(o.consumed == msg.size());
  CHECK(o.body == "helloabcdefghijklmnopqrstuvwxyz");
  CHECK(o.body_bytes == 31);
  CHECK(header_value(o, "x-oss-hash-crc64ecma") == "<absent>");  // trailers are dropped
  CHECK(o.headers.size() == 3);
  CHECK(o.keep_alive);
}

TEST_CASE("response: chunked without trailers, large hex chunk streamed to a sink") {
  // Setup
  std::string data(0x1234, 'x');
  const std::string msg = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234\r\n" + data + "\r\n0\r\n\r\n";
  parse_options o;
  o.sink_after_header = true;

  // Run
  outcome r = parse_split(msg, {}, o);
  std::vector<std::size_t> many;
  for (std::size_t i = 7; i < msg.size(); i += 7) many.push_back(i);
  outcome r7 = parse_split(msg, many, o);

  // Check
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.sunk == data);
  CHECK(r.body.empty());
  CHECK(r7 == r);
}

TEST_CASE("response: HEAD, 204 and 304 carry no body") {
  SUBCASE("HEAD with Content-Length") {
    const std::string msg =
        "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nETag: \"E\"\r\nx-oss-object-type: Multipart\r\n\r\n";
    parse_options o;
    o.head_request = true;
    outcome r = parse_every_way(msg, o);
    CHECK_FALSE(r.ec);
    CHECK(r.done);
    CHECK(r.consumed == msg.size());
    CHECK(r.body.empty());
    CHECK(header_value(r, "content-length") == "1048576");
    CHECK(r.keep_alive);
  }
  SUBCASE("204") {
    const std::string msg = "HTTP/1.1 204 No Content\r\nx-oss-request-id: R\r\n\r\n";
    outcome r = parse_every_way(msg);
    CHECK(r.done);
    CHECK(r.status == 204);
    CHECK(r.consumed == msg.size());
  }
  SUBCASE("304 with a Content-Length") {
    const std::string msg = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nNEXT";
    outcome r = parse_every_way(msg);
    CHECK(r.done);
    CHECK(r.consumed == msg.size() - 4);  // NEXT belongs to the next message
    CHECK(r.body.empty());
  }
}

TEST_CASE("response: 100 Continue is skipped") {
  // Setup
  const std::string msg =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-oss-request-id: R2\r\n\r\nok";

  // Run
  outcome r = parse_every_way(msg);

  // Check
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  CHECK(r.headers.size() == 2);
  CHECK(header_value(r, "link") == "<absent>");
}

TEST_CASE("response: body until close") {
  // Setup
  const std::string msg = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the peer closes";
  parse_options o;
  o.eof_at_end = true;

  // Run
  outcome r = parse_every_way(msg, o);

  // Check
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.body == "body until the peer closes");
  CHECK_FALSE(r.keep_alive);

  SUBCASE("without EOF it is not done") {
    outcome open = parse_split(msg, {}, parse_options{});
    CHECK_FALSE(open.done);
    CHECK(open.header_done);
  }
}

TEST_CASE("response: keep-alive from version and Connection") {
  auto ka = [](const std::string& msg) { return parse_split(msg, {}, parse_options{}).keep_alive; };
  CHECK(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(ka("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(ka("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  CHECK(ka("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
}

TEST_CASE("response: pipelined messages stay for the next parse") {
  // Setup
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
  const std::string second = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n";
  const std::string third = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  const std::string all = first + second + third;

  // Run: one parser, reset between messages, every split of the stream.
  auto run = [&](const std::vector<std::size_t>& cuts) {
    http::message_parser p(http::parser_kind::response);
    std::vector<std::pair<int, std::string>> got;
    std::string pending;
    std::size_t start = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(all.size());
    for (std::size_t end : ends) {
      pending += all.substr(start, end - start);
      start = end;
      for (int guard = 0; !pending.empty(); ++guard) {
        REQUIRE(guard < 1000);
        std::error_code ec;
        std::size_t n = p.feed(pending, ec);
        REQUIRE_FALSE(ec);
        pending.erase(0, n);
        if (p.done()) {
          got.emplace_back(p.status(), p.body());
          p.reset();
        } else if (n == 0) {
          break;
        }
      }
    }
    return got;
  };
  auto whole = run({});

  // Check
  REQUIRE(whole.size() == 3);
  CHECK(whole[0] == std::make_pair(200, std::string("one")));
  CHECK(whole[1] == std::make_pair(200, std::string("two")));
  CHECK(whole[2] == std::make_pair(404, std::string()));
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(run({i}) == whole);
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < all.size(); ++i) bytes.push_back(i);
  CHECK(run(bytes) == whole);
}

TEST_CASE("response: malformed input fails with the right error at every split") {
  struct bad_case {
    std::string name;
    std::string bytes;
    client_errc expected;
    parse_options opts{};
  };
  parse_options small_body;
  small_body.limits.max_body_bytes = 10;
  parse_options small_body_eof = small_body;
  small_body_eof.eof_at_end = true;
  parse_options eof;
  eof.eof_at_end = true;
  parse_options small_head;
  small_head.limits.max_header_bytes = 100;
  const auto malformed = client_errc::malformed_response;
  const auto too_large = client_errc::response_too_large;

  std::string huge_header = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
  std::string many_continues;
  for (int i = 0; i < 3000; ++i) many_continues += "HTTP/1.1 100 Continue\r\n\r\n";
  many_continues += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

  std::vector<bad_case> cases = {
      {"status not digits", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", malformed},
      {"status two digits", "HTTP/1.1 99 Odd\r\n\r\n", malformed},
      {"status out of range", "HTTP/1.1 600 Odd\r\n\r\n", malformed},
      {"no space after version", "HTTP/1.1200 OK\r\n\r\n", malformed},
      {"four digit status", "HTTP/1.1 2000 OK\r\n\r\n", malformed},
      {"not HTTP", "ICY 200 OK\r\n\r\n", malformed},
      {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", malformed},
      {"HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", malformed},
      {"lower-case version", "http/1.1 200 OK\r\n\r\n", malformed},
      {"empty start line", "\r\n\r\n", malformed},
      {"control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", malformed},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", malformed},
      {"empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", malformed},
      {"junk after chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n", malformed},
      {"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", malformed},
      {"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", malformed},
      {"chunk data without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", malformed},
      {"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon here\r\n\r\n", malformed},
      {"header too large", huge_header, too_large},
      {"trailers too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + std::string(120, 't') + "\r\n\r\n", too_large, small_head},
      {"chunk extension longer than a head", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(120, 'e') + "\r\nx\r\n0\r\n\r\n", malformed, small_head},
      {"head exactly over a small limit", "HTTP/1.1 200 OK\r\nX-A: " + std::string(80, 'a') + "\r\n\r\n", too_large, small_head},
      {"endless 100 Continue", many_continues, too_large},
      {"body too large (Content-Length)", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n01234567890", too_large, small_body},
      {"body too large (chunked)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n", too_large, small_body},
      {"body too large (until close)", "HTTP/1.1 200 OK\r\n\r\n0123456789A", too_large, small_body_eof},
      {"Content-Length with Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", malformed},
      {"chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", malformed},
      {"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", malformed},
      {"conflicting Content-Length headers", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", malformed},
      {"conflicting Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!", malformed},
      {"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", malformed},
      {"signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", malformed},
      {"overflowing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", malformed},
      {"empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", malformed},
      {"bare LF everywhere", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", malformed},
      {"bare LF in one header", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", malformed},
      {"CR inside a value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", malformed},
      {"NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"s, malformed},
      {"NUL in a name", "HTTP/1.1 200 OK\r\nX\0A: ab\r\nContent-Length: 0\r\n\r\n"s, malformed},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nContent-Length: 0\r\n\r\n", malformed},
      {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", malformed},
      {"no colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", malformed},
      {"empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", malformed},
      {"EOF inside the head", "HTTP/1.1 200 OK\r\nContent-Len", malformed, eof},
      {"EOF inside a Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", malformed, eof},
      {"EOF inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", malformed, eof},
      {"EOF before any byte", "", malformed, eof},
  };

  for (const auto& c : cases) {
    CAPTURE(c.name);
    outcome whole = parse_split(c.bytes, {}, c.opts);
    CHECK(whole.ec == make_error_code(c.expected));
    CHECK_FALSE(whole.done);
    // Huge inputs only one way: 70 KiB byte-by-byte would be a second of nothing new.
    if (c.bytes.size() > 4096) continue;
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < c.bytes.size(); ++i) bytes.push_back(i);
    CHECK(parse_split(c.bytes, bytes, c.opts).ec == make_error_code(c.expected));
    for (std::size_t i = 1; i < c.bytes.size(); ++i) {
      outcome split = parse_split(c.bytes, {i}, c.opts);
      if (split.ec != make_error_code(c.expected)) {
        FAIL_CHECK("split at " << i << " gave " << split.ec.message());
        break;
      }
    }
  }
}

TEST_CASE("response: a peer that is not HTTP fails at its first byte, not at the end of a head") {
  // An SSH server greets and then waits for us: no CRLF CRLF ever comes, so only an early
  // check ends the exchange before the stall timeout.
  for (std::string banner : {"SSH-2.0-OpenSSH_9.2", "220 smtp.example ESMTP", "\x16\x03\x01", "H", "HTTPS/1.1"}) {
    CAPTURE(banner);
    // Setup
    http::message_parser p(http::parser_kind::response);
    std::error_code ec;

    // Run
    p.feed(banner, ec);

    // Check
    if (banner == "H") {
      CHECK_FALSE(ec);  // a prefix of "HTTP/" may still become a status line
    } else {
      CHECK(ec == client_errc::malformed_response);
    }
  }
  // Byte by byte, the error comes with the first byte that leaves the "HTTP/" prefix.
  http::message_parser p(http::parser_kind::response);
  std::error_code ec;
  std::string_view almost = "HTTP!";
  for (std::size_t i = 0; i < almost.size(); ++i) {
    p.feed(almost.substr(i, 1), ec);
    CHECK(static_cast<bool>(ec) == (i == 4));
  }
}

TEST_CASE("response: errors are sticky until reset") {
  // Setup
  http::message_parser p(http::parser_kind::response);
  std::error_code ec;
  p.feed("HTTP/9.9 200 OK\r\n\r\n", ec);
  REQUIRE(ec == client_errc::malformed_response);

  // Run
  std::error_code again;
  std::size_t n = p.feed("HTTP/1.1 200 OK\r\n\r\n", again);

  // Check
  CHECK(n == 0);
  CHECK(again == client_errc::malformed_response);
  p.reset();
  std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  CHECK(p.feed(ok, again) == ok.size());
  CHECK_FALSE(again);
  CHECK(p.done());
}

TEST_CASE("response: Content-Length repeated with one value is accepted") {
  outcome r = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\nhello");
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.body == "hello");
}

TEST_CASE("response: a body sink bypasses the buffering limit") {
  // Setup
  std::string data(100, 'z');
  std::string msg = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + data;
  parse_options o;
  o.limits.max_body_bytes = 10;
  o.sink_after_header = true;

  // Run
  outcome r = parse_every_way(msg, o);

  // Check
  CHECK_FALSE(r.ec);
  CHECK(r.sunk == data);
  CHECK(r.body_bytes == 100);
}

TEST_CASE("request: streamed body with Expect: 100-continue") {
  // Setup
  const std::string body = "hello world, this is part 1 of a multipart upload";
  const std::string msg =
      "PUT /bucket/multipart.data?partNumber=1&uploadId=0004B9895DBBB6EC98E36 HTTP/1.1\r\n"
      "Host: 127.0.0.1:9000\r\n"
      "Content-Length: " + std::to_string(body.size()) + "\r\n"
      "Expect: 100-continue\r\n"
      "Authorization: OSS4-HMAC-SHA256 Credential=redacted\r\n"
      "\r\n" + body;
  parse_options o;
  o.kind = http::parser_kind::request;
  o.sink_after_header = true;

  // Run
  outcome r = parse_every_way(msg, o);

  // Check
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.method == "PUT");
  CHECK(r.target == "/bucket/multipart.data?partNumber=1&uploadId=0004B9895DBBB6EC98E36");
  CHECK(r.expects_continue);
  CHECK(r.keep_alive);
  CHECK(r.sunk == body);
  CHECK(r.body.empty());  // nothing was buffered: the head pause let the sink take every byte
  CHECK(r.consumed == msg.size());
}

TEST_CASE("request: the head pause happens before any body byte") {
  // Setup
  const std::string msg = "PUT /k HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
  http::message_parser p(http::parser_kind::request);
  std::error_code ec;

  // Run
  std::size_t n = p.feed(msg, ec);

  // Check
  CHECK_FALSE(ec);
  CHECK(p.header_done());
  CHECK_FALSE(p.done());
  CHECK(n == msg.size() - 4);
  CHECK_FALSE(p.expects_continue());
  CHECK(p.content_length() == 4u);
  std::string sunk;
  p.set_body_sink([&](std::string_view s) { sunk += s; });
  CHECK(p.feed(std::string_view(msg).substr(n), ec) == 4);
  CHECK(p.done());
  CHECK(sunk == "body");
  http::request req = p.release_request();
  CHECK(req.method == "PUT");
  CHECK(req.headers.size() == 1);
}

TEST_CASE("request: chunked body, bodiless GET, and malformed requests") {
  parse_options o;
  o.kind = http::parser_kind::request;
  o.sink_after_header = true;

  SUBCASE("chunked upload") {
    outcome r = parse_every_way(
        "POST /b/k?uploads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n", o);
    CHECK_FALSE(r.ec);
    CHECK(r.done);
    CHECK(r.sunk == "Wikipedia");
  }
  SUBCASE("GET has no body without framing headers") {
    const std::string msg = "GET /b/k HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    outcome r = parse_every_way(msg, o);
    CHECK(r.done);
    CHECK(r.consumed == msg.size() - 22);
    CHECK_FALSE(r.expects_continue);
  }
  SUBCASE("HTTP/1.0 ignores Expect") {
    outcome r = parse_split("PUT /k HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", {}, o);
    CHECK(r.done);
    CHECK_FALSE(r.expects_continue);
    CHECK_FALSE(r.keep_alive);
  }
  SUBCASE("malformed") {
    const std::vector<std::string> bad = {
        "PUT  /k HTTP/1.1\r\n\r\n",
        "PUT /k HTTP/1.1 extra\r\n\r\n",
        "PUT /k\r\n\r\n",
        "P(T /k HTTP/1.1\r\n\r\n",
        "PUT /k HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "PUT /k HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "PUT /k HTTP/2\r\n\r\n",
    };
    for (const auto& msg : bad) {
      CAPTURE(msg);
      CHECK(parse_split(msg, {}, o).ec == client_errc::malformed_response);
      std::vector<std::size_t> bytes;
      for (std::size_t i = 1; i < msg.size(); ++i) bytes.push_back(i);
      CHECK(parse_split(msg, bytes, o).ec == client_errc::malformed_response);
    }
  }
}

TEST_CASE("response: the header limit is inclusive") {
  // Setup
  const std::string msg = "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(50, 'p') + "\r\nContent-Length: 2\r\n\r\nok";
  const std::size_t head_size = msg.size() - 2;
  parse_options exact, short_by_one;
  exact.limits.max_header_bytes = head_size;
  short_by_one.limits.max_header_bytes = head_size - 1;

  // Run
  outcome fits = parse_every_way(msg, exact);
  outcome over = parse_every_way(msg, short_by_one);

  // Check
  CHECK_FALSE(fits.ec);
  CHECK(fits.body == "ok");
  CHECK(over.ec == client_errc::response_too_large);
}
