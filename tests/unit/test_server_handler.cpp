// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// The local server without sockets: its request handler driven head + body in, reply out, over
// a real store in a temporary folder; and its sans-io parts (routing, names, documents, ranges,
// preconditions, fault plans, the record format). Requests are signed and replies are read
// with the client's code, so each side checks the other; expected ETags and CRCs are computed
// here from the bytes.
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/testing/server/documents.hpp>
#include <oss/testing/server/faults.hpp>
#include <oss/testing/server/handler.hpp>
#include <oss/testing/server/ranges.hpp>
#include <oss/testing/server/routing.hpp>
#include <oss/testing/server/rules.hpp>
#include <oss/testing/server/store.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/temp_dir.hpp"

namespace {

namespace http = oss::detail::http;
using namespace oss::testing::detail;
using oss::testing::fault_action;
using oss::testing::fault_rule;
using header_pairs = std::vector<std::pair<std::string, std::string>>;
using exchange = request_handler::exchange;

std::string md5_base64(std::string_view data) {
  const auto d = oss::detail::md5(data);
  return oss::detail::base64_encode(d.data(), d.size());
}

std::string md5_etag(std::string_view data) {
  const auto d = oss::detail::md5(data);
  return "\"" + oss::detail::hex_upper(d.data(), d.size()) + "\"";
}

std::string crc_text(std::string_view data) { return std::to_string(oss::detail::crc64(0, data.data(), data.size())); }

std::string header(const exchange& r, std::string_view name) {
  const std::string* v = r.head.headers.find(name);
  return v ? *v : std::string();
}

oss::detail::error_body error_of(const exchange& r) {
  oss::detail::error_body e;
  REQUIRE_MESSAGE(oss::detail::parse_error_body(r.body, e), "not an error body: " << r.body);
  return e;
}

void check_error(const exchange& r, int status, std::string_view code) {
  INFO("body: " << r.body);
  CHECK(r.head.status == status);
  const auto e = error_of(r);
  CHECK(e.code == code);
  CHECK(!e.message.empty());
  CHECK(e.request_id == header(r, "x-oss-request-id"));
  CHECK(e.ec == header(r, "x-oss-ec"));
  CHECK(header(r, "Content-Type") == "application/xml");
}

// A handler over a fresh store, and requests to it as the connection loop would pass them.
struct handler_fixture {
  oss_test::temp_dir dir;
  request_handler handler;
  std::optional<oss::credentials> creds;

  explicit handler_fixture(handler_config config = {})
      : handler(dir.path(), config) {
    if (!config.credentials.id.empty())
      creds = oss::credentials{config.credentials.id, config.credentials.secret, config.credentials.token};
  }

  exchange send(const http::request& req, std::string_view body = {}) {
    std::optional<std::uint64_t> length;
    if (const std::string* v = req.headers.find("Content-Length")) length = std::stoull(*v);
    const request_head head{req.method, req.target, req.headers, length, false};
    return handler.handle(head, body);
  }

  // Path style on 127.0.0.1; signed (V4) when the handler has credentials.
  exchange call(std::string method, std::string key, std::vector<std::pair<std::string, std::string>> query = {},
                const header_pairs& headers = {}, std::string body = {}) {
    http::request req = build(std::move(method), key, query, headers, body);
    if (creds)
      oss::detail::sign_request(req, "bucket", key, query, *creds, oss::signature_version::v4, "cn-local",
                                std::chrono::system_clock::now());
    return send(req, body);
  }

  static http::request build(std::string method, const std::string& key,
                             const std::vector<std::pair<std::string, std::string>>& query,
                             const header_pairs& headers, const std::string& body) {
    http::request req;
    req.method = std::move(method);
    req.target = "/bucket/" + oss::detail::uri_encode(key, true);
    for (std::size_t i = 0; i < query.size(); ++i) {
      req.target += i == 0 ? "?" : "&";
      req.target += oss::detail::uri_encode(query[i].first, false);
      if (!query[i].second.empty()) req.target += "=" + oss::detail::uri_encode(query[i].second, false);
    }
    req.headers.set("Host", "127.0.0.1:9000");
    for (const auto& [n, v] : headers) req.headers.add(n, v);
    if (req.method == "PUT" || req.method == "POST" || !body.empty())
      req.headers.set("Content-Length", std::to_string(body.size()));
    return req;
  }

  std::string initiate(const std::string& key) {
    const auto r = call("POST", key, {{"uploads", ""}});
    REQUIRE(r.head.status == 200);
    oss::detail::initiate_result result;
    std::error_code ec;
    REQUIRE(oss::detail::parse_initiate_result(r.body, result, ec));
    return result.upload_id;
  }

  exchange part(const std::string& key, const std::string& id, std::string number, const std::string& data) {
    return call("PUT", key, {{"partNumber", std::move(number)}, {"uploadId", id}}, {}, data);
  }

  exchange complete(const std::string& key, const std::string& id, const std::string& body,
                    const header_pairs& headers = {}) {
    return call("POST", key, {{"uploadId", id}}, headers, body);
  }
};

std::string complete_body(const std::vector<std::pair<int, std::string>>& parts) {
  std::vector<oss::detail::completed_part> list;
  for (const auto& [n, etag] : parts) list.push_back({n, etag});
  return oss::detail::build_complete_body(list);
}

handler_config with_credentials(std::string token = {}) {
  handler_config c;
  c.credentials = {"ak-unit", "sk-unit", std::move(token)};
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Sans-io parts

TEST_CASE("server routing: path style, virtual-hosted and operations") {
  // Setup + Run
  auto path = parse_route("/my-bucket/dir/a%20b%2Bc.txt?partNumber=3&uploadId=AB", "127.0.0.1:9000", "127.0.0.1");
  auto vhost = parse_route("/dir/a%20b.txt?uploads", "My-Bucket.oss-cn-local.aliyuncs.com", "127.0.0.1");
  auto local = parse_route("/b12/", "localhost:80", "127.0.0.1");
  auto ipv6 = parse_route("/b12/k", "[::1]:80", "127.0.0.1");

  // Check
  REQUIRE(path);
  CHECK(path->path_style);
  CHECK(path->bucket == "my-bucket");
  CHECK(path->key == "dir/a b+c.txt");
  CHECK(*path->query_value("partNumber") == "3");
  CHECK(classify("PUT", *path) == operation::upload_part);
  REQUIRE(vhost);
  CHECK_FALSE(vhost->path_style);
  CHECK(vhost->bucket == "my-bucket");
  CHECK(vhost->key == "dir/a b.txt");
  CHECK(classify("POST", *vhost) == operation::initiate_multipart_upload);
  REQUIRE(local);
  CHECK(local->bucket == "b12");
  CHECK(local->key.empty());
  CHECK(classify("PUT", *local) == operation::put_bucket);
  REQUIRE(ipv6);
  CHECK(ipv6->path_style);
  CHECK(classify("DELETE", *ipv6) == operation::delete_object);
  CHECK_FALSE(parse_route("/b12/%zz", "127.0.0.1", "127.0.0.1"));
  CHECK_FALSE(parse_route("http://x/", "127.0.0.1", "127.0.0.1"));
  for (std::size_t i = 1; i < operation_count; ++i)
    CHECK(operation_from_name(operation_name(static_cast<operation>(i))) == static_cast<operation>(i));
  CHECK(operation_from_name("CopyObject") == operation::unknown);
}

TEST_CASE("server rules: names, UTF-8 and decimals, and where they meet the client's validators") {
  // Setup: names both sides must judge alike (oss-protocol.md section 4)
  const std::string_view buckets[] = {"abc", "abc-1", "a1-b2-c3", std::string_view("x123456789x123456789x123456789x123456789x123456789x123456789xyz"),
                                      "ab", "-abc", "abc-", "Abc", "a_b", "a.b.c", "a..b", "a-.b", "192.168.5.4",
                                      "xn--abc", "sthree-x", "abc-s3alias", "abc--ol-s3", "my.bucket", ""};
  const std::string keys[] = {"a", "a/b", "dir/ä ö+ü?.bin", std::string(1023, 'k'), std::string(1024, 'k'), "",
                              "/a", "\\a", "\xC3\x28", "\xED\xA0\x80", "\xE4\xBD\xA0\xF0\x9F\x98\x80",
                              "\xC0\xAF", "\xF4\x90\x80\x80", "\xE0\x80\xAF", "a\x80"};

  // Run + Check
  for (auto dialect : {oss::api_dialect::oss, oss::api_dialect::s3}) {
    for (auto b : buckets) {
      CAPTURE(b);
      CHECK(is_valid_bucket_name(b, dialect) == oss::detail::is_valid_bucket_name(b, dialect));
    }
  }
  for (const auto& k : keys) {
    CAPTURE(k);
    std::string problem;
    const bool client_accepts = !oss::detail::check_object_name(k, problem);
    CHECK(!object_name_error(k).has_value() == client_accepts);
  }
  CHECK(is_valid_oss_bucket_name("abc-1"));
  CHECK_FALSE(is_valid_oss_bucket_name("a.b.c"));
  CHECK(is_valid_s3_bucket_name("a.b.c"));
  CHECK(object_name_error(std::string(1024, 'k'))->ec == "0016-00000002");
  CHECK(object_name_error("")->ec == "0016-00000001");
  CHECK(object_name_error("\\a")->ec == "0016-00000005");
  CHECK(parse_decimal("0012") == 12u);
  CHECK_FALSE(parse_decimal("+1"));
  CHECK_FALSE(parse_decimal(" 1"));
  CHECK_FALSE(parse_decimal("18446744073709551616"));
  CHECK(normalize_etag("\"abCD\"") == "ABCD");
  CHECK(normalize_etag("abcd") == "ABCD");
}

TEST_CASE("server store record format round trip") {
  // Setup
  record r;
  const std::string nasty = "line1\nline2\r\t\\x\x01\x7f end \xE4\xBD\xA0";
  r.add("key", nasty);
  r.add("size", std::uint64_t{42});

  // Run
  const auto text = serialize_record("magic 1", r);
  const auto back = parse_record("magic 1", text);

  // Check
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);  // the escaped key added no line
  REQUIRE(back);
  CHECK(*back->find("key") == nasty);
  CHECK(back->find_number("size") == 42u);
  CHECK_FALSE(parse_record("magic 2", text));
  CHECK_FALSE(parse_record("magic 1", text.substr(0, text.size() - 1)));  // torn write
  CHECK_FALSE(unescape_value("\\q"));
  CHECK_FALSE(unescape_value("\\x4"));
}

TEST_CASE("server documents: the Complete body it reads, the results the client reads") {
  // Setup
  std::vector<part_selection> parts;
  const std::string spaced =
      "<?xml version=\"1.0\"?>\n<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
      "  <Part>\n    <PartNumber> 2 </PartNumber>\n    <ETag>\n &quot;AB&quot; </ETag>\n  </Part>\n"
      "  <Part><PartNumber>1</PartNumber><ETag>&#34;CD&#34;</ETag></Part>\n</CompleteMultipartUpload>";

  // Run + Check: reading (ordering rules are the store's)
  REQUIRE(read_complete_body(spaced, parts));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].number == 2);
  CHECK(parts[0].etag == "\"AB\"");
  CHECK(parts[1].etag == "\"CD\"");
  CHECK(read_complete_body("<CompleteMultipartUpload/>", parts));
  CHECK(parts.empty());
  CHECK_FALSE(read_complete_body("<Complete", parts));
  CHECK_FALSE(read_complete_body("<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>", parts));
  CHECK_FALSE(read_complete_body("<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>", parts));
  CHECK_FALSE(read_complete_body(
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>", parts));
  CHECK_FALSE(read_complete_body(
      "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
      parts));
  CHECK_FALSE(read_complete_body(
      "<CompleteMultipartUpload><Part><PartNumber>1a</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
      parts));

  // Run + Check: the client's parsers read what the server writes, URL encoding included
  std::error_code ec;
  oss::detail::initiate_result init;
  REQUIRE(oss::detail::parse_initiate_result(
      initiate_result_document("b", "dir/a b+c", "ID1", true, oss::api_dialect::oss), init, ec));
  CHECK(init.key == "dir/a b+c");
  CHECK(init.upload_id == "ID1");
  oss::detail::complete_result done;
  REQUIRE(oss::detail::parse_complete_result(
      complete_result_document("http://h/b/k", "b", "k&<>", "\"E-2\"", false, oss::api_dialect::oss), done, ec));
  CHECK(done.key == "k&<>");
  CHECK(done.etag == "\"E-2\"");
  parts_listing pl{"b", "a/k", "ID", 2, 4, 2, true, {{3, "\"X\"", 10, 77, "2026-01-02T03:04:05.000Z"}, {4, "\"Y\"", 5, {}, ""}}};
  oss::detail::list_parts_result lp;
  REQUIRE(oss::detail::parse_list_parts_result(list_parts_document(pl, true, oss::api_dialect::oss), lp, ec));
  CHECK(lp.key == "a/k");
  CHECK(lp.part_number_marker == 2);
  CHECK(lp.next_part_number_marker == 4);
  CHECK(lp.is_truncated);
  REQUIRE(lp.parts.size() == 2);
  CHECK(lp.parts[0].crc64 == 77u);
  CHECK_FALSE(lp.parts[1].crc64);
  uploads_listing ul;
  ul.bucket = "b";
  ul.prefix = "a/";
  ul.delimiter = "/";
  ul.uploads = {{"a/x y", "U1", "2026-01-02T03:04:05.000Z"}};
  ul.common_prefixes = {"a/b/"};
  const std::string s3_uploads = list_uploads_document(ul, true, oss::api_dialect::s3);
  oss::detail::list_uploads_result lu;
  REQUIRE(oss::detail::parse_list_uploads_result(s3_uploads, lu, ec));
  CHECK(s3_uploads.find("<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") !=
        std::string::npos);
  REQUIRE(lu.uploads.size() == 1);
  CHECK(lu.uploads[0].key == "a/x y");
  CHECK(lu.common_prefixes == std::vector<std::string>{"a/b/"});
  CHECK(lu.prefix == "a/");
  server_error e = make_error(error_id::no_such_upload);
  e.extra.emplace_back("UploadId", "U1");
  oss::detail::error_body body;
  REQUIRE(oss::detail::parse_error_body(error_document(e, "RID", "host", oss::api_dialect::oss), body));
  CHECK(body.code == "NoSuchUpload");
  CHECK(body.upload_id == "U1");
  CHECK(body.ec == "0042-00000203");
  CHECK(error_document(e, "RID", "host", oss::api_dialect::s3).find("<EC>") == std::string::npos);
}

TEST_CASE("server ranges: OSS's default and standard behaviour, and S3's") {
  // Setup: a 1000-byte object (oss-protocol.md 11b)
  using outcome = range_decision::outcome;
  struct row {
    std::string_view range;
    outcome oss_default;
    outcome oss_standard;
    outcome s3;
    std::uint64_t offset;  // of the partial replies
    std::uint64_t length;
  };
  constexpr auto whole = outcome::whole, partial = outcome::partial, unsatisfiable = outcome::unsatisfiable;
  const row rows[] = {
      {"bytes=0-499", partial, partial, partial, 0, 500},
      {"bytes=500-999", partial, partial, partial, 500, 500},
      {"bytes=-500", partial, partial, partial, 500, 500},
      {"bytes=500-", partial, partial, partial, 500, 500},
      {"bytes=0-", partial, partial, partial, 0, 1000},
      {"bytes=999-999", partial, partial, partial, 999, 1},
      {"Bytes = 1-2", partial, partial, partial, 1, 2},
      {"bytes=0-1000", whole, partial, partial, 0, 1000},   // end past the last byte: clipped
      {"bytes=500-2000", whole, partial, partial, 500, 500},
      {"bytes=-2000", whole, partial, partial, 0, 1000},    // suffix longer than the object
      {"bytes=1000-2000", whole, unsatisfiable, unsatisfiable, 0, 0},
      {"bytes=1000-", whole, unsatisfiable, unsatisfiable, 0, 0},
      {"bytes=-0", whole, unsatisfiable, unsatisfiable, 0, 0},
      {"bytes=0-499,500-999", partial, partial, whole, 0, 500},  // OSS serves the first range
      {"byte=0-499", whole, whole, whole, 0, 0},
      {"bytes=5-2", whole, whole, whole, 0, 0},
      {"bytes=a-b", whole, whole, whole, 0, 0},
      {"bytes=", whole, whole, whole, 0, 0},
      {"lines=1-2", whole, whole, whole, 0, 0},
  };

  // Run + Check
  for (const row& r : rows) {
    CAPTURE(r.range);
    const auto d = decide_range(r.range, 1000, range_rules::oss_default);
    const auto s = decide_range(r.range, 1000, range_rules::oss_standard);
    const auto a = decide_range(r.range, 1000, range_rules::s3);
    CHECK(d.result == r.oss_default);
    CHECK(s.result == r.oss_standard);
    CHECK(a.result == r.s3);
    for (const auto& x : {d, s, a}) {
      if (x.result != partial) continue;
      CHECK(x.offset == r.offset);
      CHECK(x.length == r.length);
    }
  }
  // An empty object has no byte to range over.
  CHECK(decide_range("bytes=0-", 0, range_rules::oss_default).result == whole);
  CHECK(decide_range("bytes=0-", 0, range_rules::oss_standard).result == unsatisfiable);
  CHECK(decide_range("bytes=-1", 0, range_rules::s3).result == unsatisfiable);
}

TEST_CASE("server preconditions: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since") {
  // Setup: an object modified at 2026-01-02 03:04:05.678 UTC
  using outcome = precondition_decision::outcome;
  const std::string etag = "\"ABC\"";
  const std::int64_t modified = 1767323045678;
  const std::string at = "Fri, 02 Jan 2026 03:04:05 GMT";
  const std::string before = "Fri, 02 Jan 2026 03:04:04 GMT";
  struct row {
    header_pairs headers;
    outcome result;
    std::string_view condition;
  };
  const row rows[] = {
      {{}, outcome::proceed, ""},
      {{{"If-Match", "\"ABC\""}}, outcome::proceed, ""},
      {{{"If-Match", "\"X\", \"ABC\""}}, outcome::proceed, ""},
      {{{"If-Match", "*"}}, outcome::proceed, ""},
      {{{"If-Match", "\"abc\""}}, outcome::failed, "If-Match"},   // strong comparison: exact
      {{{"If-Match", "W/\"ABC\""}}, outcome::failed, "If-Match"},  // a weak tag never matches strongly
      {{{"If-Match", "ABC"}}, outcome::failed, "If-Match"},        // not an entity-tag
      {{{"If-None-Match", "\"ABC\""}}, outcome::not_modified, "If-None-Match"},
      {{{"If-None-Match", "W/\"ABC\""}}, outcome::not_modified, "If-None-Match"},
      {{{"If-None-Match", "*"}}, outcome::not_modified, "If-None-Match"},
      {{{"If-None-Match", "\"X\""}}, outcome::proceed, ""},
      {{{"If-Modified-Since", at}}, outcome::not_modified, "If-Modified-Since"},  // same second
      {{{"If-Modified-Since", before}}, outcome::proceed, ""},
      {{{"If-Modified-Since", "yesterday"}}, outcome::proceed, ""},  // ignored
      {{{"If-Unmodified-Since", at}}, outcome::proceed, ""},
      {{{"If-Unmodified-Since", before}}, outcome::failed, "If-Unmodified-Since"},
      // RFC 9110 13.2.2: If-Unmodified-Since only without If-Match, If-Modified-Since only
      // without If-None-Match.
      {{{"If-Match", "\"ABC\""}, {"If-Unmodified-Since", before}}, outcome::proceed, ""},
      {{{"If-None-Match", "\"X\""}, {"If-Modified-Since", at}}, outcome::proceed, ""},
      {{{"If-Match", "\"X\""}, {"If-None-Match", "\"ABC\""}}, outcome::failed, "If-Match"},
  };

  // Run + Check
  for (const row& r : rows) {
    http::fields f;
    std::string shown;
    for (const auto& [n, v] : r.headers) {
      f.add(n, v);
      shown += n + ": " + v + "; ";
    }
    CAPTURE(shown);
    const auto d = check_preconditions(f, etag, modified);
    CHECK(d.result == r.result);
    CHECK(d.condition == r.condition);
  }
}

TEST_CASE("server fault plan: rules fire by operation, part number, nth, attempt and times") {
  // Setup
  fault_plan plan;
  plan.set({{.operation = "UploadPart", .part_number = 2, .attempt = 2, .action = fault_action::error_reply},
            {.operation = "PutObject", .nth = 2, .times = 2, .action = fault_action::missing_etag},
            {.operation = "any", .nth = 100, .times = 0}});

  // Run
  std::vector<bool> fired;
  for (int i = 0; i < 3; ++i) fired.push_back(plan.decide(operation::upload_part, 2).has_value());
  fired.push_back(plan.decide(operation::upload_part, 3).has_value());
  for (int i = 0; i < 4; ++i) fired.push_back(plan.decide(operation::put_object, 0).has_value());

  // Check
  CHECK(fired == std::vector<bool>{false, true, false, false, false, true, true, false});
  CHECK(plan.part_attempts() == std::map<int, std::uint64_t>{{2, 3}, {3, 1}});
  CHECK(plan.faults_injected() == 3);
  CHECK(plan.max_part_attempts() == 3);
  plan.reset_counts();
  CHECK(plan.part_attempts().empty());
  CHECK(plan.faults_injected() == 0);
  CHECK_THROWS_AS(plan.set({{.operation = "CopyObject"}}), std::invalid_argument);
  const auto skew = fault_error({.status = 403, .code = "RequestTimeTooSkewed"}, std::chrono::system_clock::now());
  CHECK(skew.status == 403);
  CHECK(std::any_of(skew.extra.begin(), skew.extra.end(), [](const auto& e) { return e.first == "ServerTime"; }));
  CHECK(fault_error({.action = fault_action::error_in_200, .code = "SlowDown"}, {}).status == 200);
  reply rep;
  rep.headers.set("x-oss-hash-crc64ecma", "10");
  rep.headers.set("ETag", "\"E\"");
  alter_reply({.action = fault_action::wrong_crc64}, rep);
  alter_reply({.action = fault_action::missing_etag}, rep);
  CHECK(*rep.headers.find("x-oss-hash-crc64ecma") == "11");
  CHECK_FALSE(rep.headers.find("ETag"));
}

// ---------------------------------------------------------------------------------------------
// The request handler

TEST_CASE("server handler: PutObject, GetObject, HeadObject and DeleteObject without sockets") {
  // Setup
  handler_fixture f;
  const std::string data = oss_test::random_bytes(300'001, 1);
  const std::string key = "dir/ä ö+ü?.bin";

  // Run
  const auto put = f.call("PUT", key, {},
                          {{"Content-Type", "video/mp4"}, {"x-oss-meta-Year", "2020"}, {"Content-MD5", md5_base64(data)}},
                          data);
  const auto get = f.call("GET", key);
  const auto head = f.call("HEAD", key);
  const auto del = f.call("DELETE", key);
  const auto gone = f.call("GET", key);

  // Check
  CHECK(put.head.status == 200);
  CHECK(header(put, "ETag") == md5_etag(data));
  CHECK(header(put, "x-oss-hash-crc64ecma") == crc_text(data));
  CHECK(header(put, "Content-MD5") == md5_base64(data));
  CHECK(header(put, "x-oss-request-id").size() == 24);
  CHECK(header(put, "Server") == "AliyunOSS");
  CHECK(header(put, "Content-Length") == "0");
  CHECK(get.head.status == 200);
  CHECK(get.body == data);
  CHECK(header(get, "Content-Length") == std::to_string(data.size()));
  CHECK(header(get, "Content-Type") == "video/mp4");
  CHECK(header(get, "x-oss-object-type") == "Normal");
  CHECK(head.body.empty());
  CHECK(header(head, "Content-Length") == std::to_string(data.size()));
  CHECK(header(head, "x-oss-meta-year") == "2020");
  CHECK(header(head, "x-oss-storage-class") == "Standard");
  CHECK(oss::detail::parse_http_date(header(head, "Last-Modified")));
  CHECK(del.head.status == 204);
  CHECK(header(del, "Content-Length").empty());
  check_error(gone, 404, "NoSuchKey");
  CHECK(error_of(gone).ec == "0026-00000001");
  const auto& counters = f.handler.counters();
  CHECK(counters.requests.load() == 5);
  CHECK(counters.errors.load() == 1);
  CHECK(counters.count_of(operation::get_object) == 2);
}

TEST_CASE("server handler: error replies in OSS and S3 shapes, HEAD included") {
  // Setup
  handler_fixture oss_server;
  handler_config s3_config;
  s3_config.dialect = oss::api_dialect::s3;
  handler_fixture s3_server(s3_config);

  // Run
  const auto oss_head = oss_server.call("HEAD", "missing");
  const auto s3_get = s3_server.call("GET", "missing");
  const auto s3_head = s3_server.call("HEAD", "missing");
  http::request no_bucket = handler_fixture::build("GET", "k", {}, {}, {});
  no_bucket.target = "/No_Such/k";
  const auto invalid_bucket = oss_server.send(no_bucket);
  http::request copy = handler_fixture::build("PUT", "k", {}, {{"x-oss-copy-source", "/bucket/a"}}, "");
  const auto not_implemented = oss_server.send(copy);
  http::request patch = handler_fixture::build("PATCH", "k", {}, {}, "");
  const auto not_allowed = oss_server.send(patch);

  // Check
  CHECK(oss_head.head.status == 404);
  CHECK(oss_head.body.empty());
  oss::detail::error_body e;
  REQUIRE(oss::detail::parse_error_header(header(oss_head, "x-oss-err"), e));
  CHECK(e.code == "NoSuchKey");
  CHECK(e.request_id == header(oss_head, "x-oss-request-id"));
  CHECK(header(oss_head, "x-oss-ec") == "0026-00000001");
  CHECK(s3_get.head.status == 404);
  CHECK(error_of(s3_get).code == "NoSuchKey");
  CHECK(s3_get.body.find("<EC>") == std::string::npos);
  CHECK(header(s3_get, "x-amz-id-2") == s3_host_id(header(s3_get, "x-amz-request-id")));
  CHECK(error_of(s3_get).host_id == header(s3_get, "x-amz-id-2"));
  CHECK(header(s3_get, "Server") == "AmazonS3");
  CHECK(header(s3_get, "x-oss-request-id").empty());
  CHECK(s3_head.head.status == 404);
  CHECK(s3_head.body.empty());
  CHECK(header(s3_head, "x-oss-err").empty());
  check_error(invalid_bucket, 400, "InvalidBucketName");
  check_error(not_implemented, 501, "NotImplemented");
  check_error(not_allowed, 405, "MethodNotAllowed");
}

TEST_CASE("server handler: authentication failures") {
  // Setup
  handler_fixture f(with_credentials());
  const std::string body = "signed";
  const auto signed_put = [&](const oss::credentials& c, oss::signature_version v, std::string_view region,
                              std::chrono::system_clock::duration offset) {
    http::request req = handler_fixture::build("PUT", "k", {}, {}, body);
    oss::detail::sign_request(req, "bucket", "k", {}, c, v, region, std::chrono::system_clock::now() + offset);
    return f.send(req, body);
  };
  const oss::credentials good{"ak-unit", "sk-unit", ""};
  const auto v1 = oss::signature_version::v1;
  const auto v4 = oss::signature_version::v4;
  // A V4 request whose x-oss-content-sha256 names a digest, correctly signed over that value.
  http::request hashed = handler_fixture::build("PUT", "k2", {}, {}, body);
  const auto now = std::chrono::system_clock::now();
  const auto sha = oss::detail::sha256(body);
  hashed.headers.set("x-oss-date", oss::detail::iso8601_basic(now));
  hashed.headers.set("x-oss-content-sha256", oss::detail::hex_lower(sha.data(), sha.size()));
  const oss::detail::sign_input in{"PUT", "bucket", "k2", {}, hashed.headers};
  hashed.headers.set("Authorization", "OSS4-HMAC-SHA256 Credential=ak-unit/" + oss::detail::iso8601_basic(now).substr(0, 8) +
                                          "/cn-local/oss/aliyun_v4_request,Signature=" +
                                          oss::detail::v4_signature(in, "sk-unit", "cn-local"));

  // Run
  const auto ok_v4 = signed_put(good, v4, "cn-local", {});
  const auto ok_v1 = signed_put(good, v1, "cn-local", {});
  const auto wrong_secret = signed_put({"ak-unit", "other", ""}, v4, "cn-local", {});
  const auto wrong_secret_v1 = signed_put({"ak-unit", "other", ""}, v1, "cn-local", {});
  const auto wrong_key = signed_put({"ak-other", "sk-unit", ""}, v4, "cn-local", {});
  const auto wrong_region = signed_put(good, v4, "cn-hangzhou", {});
  const auto skewed = signed_put(good, v1, "cn-local", std::chrono::minutes(20));
  const auto unsigned_put = f.send(handler_fixture::build("PUT", "k", {}, {}, body), body);
  const auto garbage = f.send(handler_fixture::build("GET", "k", {}, {{"Authorization", "Bearer x"}}, ""));
  const auto payload_hash = f.send(hashed, body);
  handler_fixture t(with_credentials("sts-token"));
  const auto with_token = t.call("GET", "k");
  t.creds->security_token.clear();
  const auto no_token = t.call("GET", "k");

  // Check
  CHECK(ok_v4.head.status == 200);
  CHECK(ok_v1.head.status == 200);
  check_error(wrong_secret, 403, "SignatureDoesNotMatch");
  check_error(wrong_secret_v1, 403, "SignatureDoesNotMatch");
  CHECK(wrong_secret_v1.body.find("StringToSign") == std::string::npos);  // never echo what was signed
  check_error(wrong_key, 403, "InvalidAccessKeyId");
  check_error(wrong_region, 403, "SignatureDoesNotMatch");
  check_error(skewed, 403, "RequestTimeTooSkewed");
  CHECK_FALSE(error_of(skewed).server_time.empty());
  check_error(unsigned_put, 403, "AccessDenied");
  check_error(garbage, 400, "InvalidArgument");
  check_error(payload_hash, 400, "InvalidArgument");
  CHECK(error_of(payload_hash).ec == "0002-00000214");
  check_error(no_token, 403, "InvalidSecurityToken");
  CHECK(with_token.head.status == 404);  // admitted: the object is simply not there
  CHECK(f.call("GET", "k2").head.status == 404);
}

TEST_CASE("server handler: object headers and metadata rules") {
  // Setup
  handler_fixture f;
  handler_config s3_config;
  s3_config.dialect = oss::api_dialect::s3;
  handler_fixture s3(s3_config);

  // Run
  const auto kept = f.call("PUT", "k", {},
                           {{"Cache-Control", "no-cache"}, {"x-oss-storage-class", "IA"}, {"x-oss-meta-A", "1"},
                            {"x-oss-forbid-overwrite", "false"}, {"x-oss-date", "x"}, {"x-oss-tagging", "a=1&b=2"}},
                           "x");
  const auto head = f.call("HEAD", "k");
  const auto bad_name = f.call("PUT", "m", {}, {{"x-oss-meta-a_b", "1"}}, "x");
  const auto bad_value = f.call("PUT", "m", {}, {{"x-oss-meta-a", "caf\xC3\xA9"}}, "x");
  const auto too_big = f.call("PUT", "m", {}, {{"x-oss-meta-big", std::string(8190, 'v')}}, "x");
  const auto forbidden = f.call("PUT", "k", {}, {{"x-oss-forbid-overwrite", "true"}}, "y");
  const auto s3_big = s3.call("PUT", "m", {}, {{"x-amz-meta-big", std::string(2046, 'v')}}, "x");
  const auto s3_names = s3.call("PUT", "m", {}, {{"x-amz-meta-a_b.c", "1"}, {"x-amz-storage-class", "GLACIER"}}, "x");

  // Check
  CHECK(kept.head.status == 200);
  CHECK(header(head, "Cache-Control") == "no-cache");
  CHECK(header(head, "x-oss-storage-class") == "IA");
  CHECK(header(head, "x-oss-meta-a") == "1");
  CHECK(header(head, "x-oss-tagging-count") == "2");
  CHECK(header(head, "x-oss-date").empty());  // request directives are not stored
  CHECK(header(head, "x-oss-forbid-overwrite").empty());
  CHECK(header(head, "Content-Type") == "application/octet-stream");
  check_error(bad_name, 400, "InvalidArgument");
  CHECK(error_of(bad_name).ec == "0011-00000004");
  check_error(bad_value, 400, "InvalidArgument");
  CHECK(error_of(bad_value).ec == "0011-00000005");
  check_error(too_big, 400, "InvalidArgument");
  CHECK(error_of(too_big).ec == "0011-00000002");
  check_error(forbidden, 409, "FileAlreadyExists");
  CHECK(f.call("GET", "k").body == "x");
  CHECK(s3_big.head.status == 400);
  CHECK(error_of(s3_big).code == "MetadataTooLarge");
  CHECK(s3_names.head.status == 200);
  CHECK(header(s3.call("HEAD", "m"), "x-amz-storage-class") == "GLACIER");
}

TEST_CASE("server handler: UploadPart and CompleteMultipartUpload rules") {
  // Setup
  handler_fixture f;
  const std::string id = f.initiate("k");
  const std::string a = oss_test::random_bytes(102'400, 1), b = oss_test::random_bytes(102'399, 2),
                    c = oss_test::random_bytes(10, 3);

  // Run: parts
  const auto zero = f.part("k", id, "0", "x");
  const auto too_big = f.part("k", id, "10001", "x");
  const auto junk = f.part("k", id, "1a", "x");
  const auto unknown = f.part("k", "0123456789ABCDEF0123456789ABCDEF", "1", "x");
  const auto other_key = f.part("other", id, "1", "x");
  const auto bad_md5 =
      f.call("PUT", "k", {{"partNumber", "1"}, {"uploadId", id}}, {{"Content-MD5", md5_base64("other")}}, a);
  const auto e1 = header(f.part("k", id, "1", a), "ETag");
  const auto e2 = header(f.part("k", id, "2", b), "ETag");
  const auto p3 = f.part("k", id, "3", c);
  const auto e3 = header(p3, "ETag");

  // Run: Complete
  const auto order = f.complete("k", id, complete_body({{2, e2}, {1, e1}}));
  const auto duplicate = f.complete("k", id, complete_body({{1, e1}, {1, e1}}));
  const auto wrong_etag = f.complete("k", id, complete_body({{1, e2}}));
  const auto missing = f.complete("k", id, complete_body({{1, e1}, {4, e1}}));
  const auto small = f.complete("k", id, complete_body({{1, e1}, {2, e2}, {3, e3}}));
  const auto malformed = f.complete("k", id, "<Complete");
  const auto empty_list = f.complete("k", id, "<CompleteMultipartUpload></CompleteMultipartUpload>");
  const auto all_with_body = f.complete("k", id, complete_body({{1, e1}}), {{"x-oss-complete-all", "yes"}});
  std::string loose = e3.substr(1, e3.size() - 2);  // unquoted, lower case: still the part
  std::transform(loose.begin(), loose.end(), loose.begin(), [](char ch) { return static_cast<char>(std::tolower(ch)); });
  const auto gap = f.complete("k", id, complete_body({{1, e1}, {3, loose}}));
  const auto after = f.part("k", id, "4", "late");
  const auto object = f.call("GET", "k");

  // Check
  check_error(zero, 400, "InvalidArgument");
  check_error(too_big, 400, "InvalidArgument");
  check_error(junk, 400, "InvalidArgument");
  check_error(unknown, 404, "NoSuchUpload");
  CHECK(error_of(unknown).upload_id == "0123456789ABCDEF0123456789ABCDEF");
  check_error(other_key, 404, "NoSuchUpload");
  check_error(bad_md5, 400, "InvalidDigest");
  CHECK(e1 == md5_etag(a));
  CHECK(header(p3, "x-oss-hash-crc64ecma") == crc_text(c));
  check_error(order, 400, "InvalidPartOrder");
  CHECK(error_of(order).ec == "0042-00000209");
  check_error(duplicate, 400, "InvalidPartOrder");
  check_error(wrong_etag, 400, "InvalidPart");
  check_error(missing, 400, "InvalidPart");
  check_error(small, 400, "EntityTooSmall");
  CHECK(error_of(small).ec == "0042-00000213");
  check_error(malformed, 400, "MalformedXML");
  check_error(empty_list, 400, "MalformedXML");
  check_error(all_with_body, 400, "InvalidArgument");
  CHECK(error_of(all_with_body).ec == "0042-00000216");
  REQUIRE(gap.head.status == 200);
  oss::detail::complete_result result;
  std::error_code ec;
  REQUIRE(oss::detail::parse_complete_result(gap.body, result, ec));
  CHECK(result.location == "http://127.0.0.1:9000/bucket/k");
  CHECK(result.etag.ends_with("-2\""));
  CHECK(header(gap, "x-oss-hash-crc64ecma") == crc_text(a + c));
  check_error(after, 404, "NoSuchUpload");
  CHECK(object.body == a + c);
  CHECK(f.handler.counters().parts_uploaded.load() == 3);
}

TEST_CASE("server handler: ranged and conditional GET, OSS rules") {
  // Setup
  handler_fixture f;
  const std::string data = oss_test::random_bytes(1000, 4);
  REQUIRE(f.call("PUT", "r", {}, {}, data).head.status == 200);
  const std::string etag = md5_etag(data);
  const auto get = [&](header_pairs headers) { return f.call("GET", "r", {}, headers); };
  const auto standard = [&](std::string range) {
    return get({{"Range", std::move(range)}, {"x-oss-range-behavior", "standard"}});
  };
  const auto future = oss::detail::http_date(std::chrono::system_clock::now() + std::chrono::hours(1));
  const auto past = oss::detail::http_date(std::chrono::system_clock::now() - std::chrono::hours(1));

  // Run
  const auto middle = get({{"Range", "bytes=10-19"}});
  const auto past_end = get({{"Range", "bytes=500-2000"}});
  const auto past_end_standard = standard("bytes=500-2000");
  const auto beyond = get({{"Range", "bytes=1000-"}});
  const auto beyond_standard = standard("bytes=1000-");
  const auto match = get({{"If-Match", etag}, {"Range", "bytes=0-9"}});
  const auto no_match = get({{"If-Match", "\"0123\""}, {"Range", "bytes=0-9"}});
  const auto head_no_match = f.call("HEAD", "r", {}, {{"If-Match", "\"0123\""}});
  const auto not_modified = get({{"If-None-Match", etag}});
  const auto modified_since = get({{"If-Modified-Since", past}});
  const auto not_modified_since = get({{"If-Modified-Since", future}});
  const auto unmodified_since = get({{"If-Unmodified-Since", past}});

  // Check
  CHECK(middle.head.status == 206);
  CHECK(middle.body == data.substr(10, 10));
  CHECK(header(middle, "Content-Range") == "bytes 10-19/1000");
  CHECK(header(middle, "Content-Length") == "10");
  CHECK(header(middle, "x-oss-hash-crc64ecma") == crc_text(data));  // the whole object's, as OSS
  CHECK(header(middle, "Content-MD5").empty());
  CHECK(past_end.head.status == 200);
  CHECK(past_end.body == data);
  CHECK(header(past_end, "Content-Range").empty());
  CHECK(header(past_end, "Content-MD5") == md5_base64(data));
  CHECK(past_end_standard.head.status == 206);
  CHECK(past_end_standard.body == data.substr(500));
  CHECK(header(past_end_standard, "Content-Range") == "bytes 500-999/1000");
  CHECK(beyond.head.status == 200);
  CHECK(beyond.body == data);
  check_error(beyond_standard, 416, "InvalidRange");
  CHECK(header(beyond_standard, "Content-Range") == "bytes */1000");
  CHECK(match.head.status == 206);
  CHECK(match.body == data.substr(0, 10));
  check_error(no_match, 412, "PreconditionFailed");
  CHECK(no_match.body.find("<Condition>If-Match</Condition>") != std::string::npos);
  CHECK(head_no_match.head.status == 412);
  CHECK(head_no_match.body.empty());
  CHECK_FALSE(header(head_no_match, "x-oss-err").empty());
  CHECK(not_modified.head.status == 304);
  CHECK(not_modified.body.empty());
  CHECK(header(not_modified, "ETag") == etag);
  CHECK(header(not_modified, "Content-Length").empty());
  CHECK(modified_since.head.status == 200);
  CHECK(not_modified_since.head.status == 304);
  check_error(unmodified_since, 412, "PreconditionFailed");
}

TEST_CASE("server handler: ranged and conditional GET, S3 rules") {
  // Setup
  handler_config config;
  config.dialect = oss::api_dialect::s3;
  handler_fixture f(config);
  const std::string data = oss_test::random_bytes(1000, 5);
  REQUIRE(f.call("PUT", "r", {}, {}, data).head.status == 200);
  const auto get = [&](header_pairs headers) { return f.call("GET", "r", {}, headers); };

  // Run
  const auto middle = get({{"Range", "bytes=10-19"}});
  const auto clipped = get({{"Range", "bytes=500-2000"}});
  const auto beyond = get({{"Range", "bytes=1000-"}});
  const auto several = get({{"Range", "bytes=0-1,5-6"}});
  const auto ignored = get({{"Range", "bytes=0-9"}, {"x-oss-range-behavior", "standard"}});
  const auto no_match = get({{"If-Match", "\"0123\""}});

  // Check
  CHECK(middle.head.status == 206);
  CHECK(middle.body == data.substr(10, 10));
  CHECK(header(middle, "x-oss-hash-crc64ecma").empty());
  CHECK(clipped.head.status == 206);
  CHECK(header(clipped, "Content-Range") == "bytes 500-999/1000");
  CHECK(beyond.head.status == 416);
  const auto e = error_of(beyond);
  CHECK(e.code == "InvalidRange");
  CHECK(beyond.body.find("<ActualObjectSize>1000</ActualObjectSize>") != std::string::npos);
  CHECK(beyond.body.find("<RangeRequested>bytes=1000-</RangeRequested>") != std::string::npos);
  CHECK(several.head.status == 200);
  CHECK(several.body == data);
  CHECK(ignored.head.status == 206);
  CHECK(no_match.head.status == 412);
  CHECK(error_of(no_match).code == "PreconditionFailed");
}
