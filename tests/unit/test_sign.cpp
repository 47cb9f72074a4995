// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// OSS V1 and V4 signing against every vector of oss-protocol.md 2.3 and 2.5 (go1/go2/cpp SDK
// tests plus the derived multipart rows), Authorization parsing and server-side verification,
// and the date forms signing depends on (oss/detail/dates.hpp).
// These are fake credentials ("ak"/"sk"), so comparing full signatures in test output is safe.

#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/sign/sign.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace oss::detail;
using oss::credentials;
using oss::signature_version;

using clock_type = std::chrono::system_clock;

clock_type::time_point at(std::int64_t unix_seconds) {
  return clock_type::time_point{std::chrono::seconds{unix_seconds}};
}

http::fields make_fields(std::initializer_list<std::pair<std::string_view, std::string_view>> items) {
  http::fields f;
  for (const auto& [name, value] : items) f.add(name, value);
  return f;
}

std::vector<query_param> make_query(std::initializer_list<std::pair<std::string_view, std::string_view>> items) {
  std::vector<query_param> q;
  for (const auto& [name, value] : items) q.emplace_back(std::string(name), std::string(value));
  return q;
}

std::string hex(const sha256_digest& d) { return hex_lower(d.data(), d.size()); }

std::string sha256_hex(std::string_view s) { return hex(sha256(s)); }

const credentials test_creds{"ak", "sk", ""};
const credentials test_sts_creds{"ak", "sk", "token"};

constexpr std::string_view date_1228 = "Wed, 28 Dec 2022 10:27:41 GMT";
constexpr std::int64_t time_1228 = 1672223261;  // 2022-12-28T10:27:41Z
constexpr std::string_view upload_id = "0004B9895DBBB6EC98E36";

// The common headers of the V1 vectors 1 and 2 (go1 TestAuthV1Header, go2 TestV1AuthHeader).
http::fields v1_nelson_headers() {
  return make_fields({{"Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="},
                      {"Content-Type", "text/html"},
                      {"x-oss-meta-author", "alice"},
                      {"x-oss-meta-magic", "abracadabra"},
                      {"x-oss-date", date_1228},
                      {"Date", date_1228}});
}

// The common inputs of V4-1..3 (go1 TestAuthV4Header*, cpp SignerTest.cc).
http::fields v4_vector_headers() {
  return make_fields({{"x-oss-head1", "value"},
                      {"abc", "value"},
                      {"ZAbc", "value"},
                      {"XYZ", "value"},
                      {"content-type", "text/plain"},
                      {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"}});
}

std::vector<query_param> v4_vector_query() {
  return make_query({{"param1", "value1"},
                     {"+param1", "value3"},
                     {"|param1", "value4"},
                     {"+param2", ""},
                     {"|param2", ""},
                     {"param2", ""}});
}

constexpr std::string_view v4_vector_key = "1234+-/123/1.txt";

}  // namespace

TEST_CASE("http_date, iso8601_basic and iso8601_extended format UTC times") {
  // Run / Check
  CHECK(http_date(at(time_1228)) == date_1228);
  CHECK(iso8601_basic(at(time_1228)) == "20221228T102741Z");
  CHECK(iso8601_basic(at(1702743657)) == "20231216T162057Z");
  CHECK(http_date(at(0)) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(iso8601_basic(at(0)) == "19700101T000000Z");
  CHECK(http_date(at(1709251199)) == "Thu, 29 Feb 2024 23:59:59 GMT");
  CHECK(http_date(at(946684799)) == "Fri, 31 Dec 1999 23:59:59 GMT");
  // Fractions of a second are dropped, never rounded up.
  CHECK(iso8601_basic(at(time_1228) + std::chrono::milliseconds(999)) == "20221228T102741Z");
  CHECK(http_date(at(time_1228) + std::chrono::milliseconds(999)) == date_1228);
  CHECK(iso8601_extended(at(time_1228) + std::chrono::milliseconds(7)) == "2022-12-28T10:27:41.007Z");
  CHECK(iso8601_extended(at(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601_extended(at(1709251199) + std::chrono::microseconds(999'999)) == "2024-02-29T23:59:59.999Z");
  // Before the epoch the calendar still counts forward from midnight.
  CHECK(http_date(at(-1)) == "Wed, 31 Dec 1969 23:59:59 GMT");
  CHECK(iso8601_extended(at(-1) + std::chrono::milliseconds(250)) == "1969-12-31T23:59:59.250Z");
}

TEST_CASE("date parsers read what the formatters write") {
  // Setup
  const auto t = at(time_1228);

  // Run / Check
  CHECK(parse_http_date(date_1228) == t);
  CHECK(parse_iso8601_basic("20221228T102741Z") == t);
  CHECK(parse_iso8601_extended("2022-12-28T10:27:41.000Z") == t);
  CHECK(parse_iso8601_extended("2022-12-28T10:27:41Z") == t);
  CHECK(parse_iso8601_extended("2022-12-28T10:27:41.007Z") == t + std::chrono::milliseconds(7));
  CHECK(parse_iso8601_extended("2022-12-28T10:27:41.5Z") == t + std::chrono::milliseconds(500));
  // Digits beyond milliseconds are dropped.
  CHECK(parse_iso8601_extended("2022-12-28T10:27:41.123999Z") == t + std::chrono::milliseconds(123));
  auto from_header = parse_http_date("Wed, 28 Dec 2022 10:27:41 GMT");
  REQUIRE(from_header);
  CHECK(std::chrono::system_clock::to_time_t(*from_header) == 1672223261);
  CHECK(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT") == at(1709251199));
  // A leap second is a valid reading (it lands on the next second).
  CHECK(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == at(1483228800));
  // The weekday is not checked against the date.
  CHECK(parse_http_date("Mon, 28 Dec 2022 10:27:41 GMT") == t);

  // Round trips, from now (whole seconds for the first two, milliseconds for the third).
  const auto now = std::chrono::system_clock::now();
  CHECK(parse_http_date(http_date(now)) == std::chrono::time_point_cast<std::chrono::seconds>(now));
  CHECK(parse_iso8601_basic(iso8601_basic(now)) == std::chrono::time_point_cast<std::chrono::seconds>(now));
  CHECK(parse_iso8601_extended(iso8601_extended(now)) ==
        std::chrono::time_point_cast<std::chrono::milliseconds>(now));
  for (std::int64_t s : {std::int64_t{0}, std::int64_t{951782400}, std::int64_t{4102444799}}) {
    CAPTURE(s);
    CHECK(parse_http_date(http_date(at(s))) == at(s));
    CHECK(parse_iso8601_basic(iso8601_basic(at(s))) == at(s));
    CHECK(parse_iso8601_extended(iso8601_extended(at(s))) == at(s));
  }
}

TEST_CASE("date parsers refuse years a 64-bit nanosecond clock cannot hold") {
  // system_clock spans 1678..2261; a hostile Date header beyond that must not overflow.
  for (std::string bad : {"Fri, 01 Jan 1000 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                          "Sun, 01 Jan 2262 00:00:00 GMT", "Sat, 31 Dec 1677 23:59:59 GMT"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_http_date(bad));
  }
  CHECK_FALSE(parse_iso8601_basic("99991231T235959Z"));
  CHECK_FALSE(parse_iso8601_basic("00010101T000000Z"));
  CHECK_FALSE(parse_iso8601_extended("9999-12-31T23:59:59.999Z"));
  // The edges of the accepted range still parse.
  CHECK(parse_iso8601_basic("19000101T000000Z"));
  CHECK(parse_iso8601_basic("21991231T235959Z"));
}

TEST_CASE("date parsers refuse anything but the exact layout") {
  for (std::string bad : {"", "Wed, 28 Dec 2022 10:27:41 UTC", "Wed, 28 Foo 2022 10:27:41 GMT",
                          "Wed, 31 Feb 2022 10:27:41 GMT", "Wed, 28 Dec 2022 25:27:41 GMT",
                          "Wed, 2a Dec 2022 10:27:41 GMT", "Wed, 28 Dec 2022 10:27:41 GMT ",
                          " Wed, 28 Dec 2022 10:27:41 GMT", "Wed, 28 Dec 2022 10:27:41 gmt",
                          "Wed, 28 dec 2022 10:27:41 GMT", "Xyz, 28 Dec 2022 10:27:41 GMT",
                          "Wed,28 Dec 2022 10:27:41 GMT ", "Wed, 00 Dec 2022 10:27:41 GMT",
                          "Wed, 28 Dec 2022 10:60:41 GMT", "Wed, 28 Dec 2022 10:27:61 GMT",
                          "Wed, 28 Dec 2022 10-27-41 GMT", "Wed, 28 Dec -022 10:27:41 GMT",
                          "Wed, +8 Dec 2022 10:27:41 GMT", "Wed, 29 Feb 2023 10:27:41 GMT",
                          "Wednesday, 28-Dec-22 10:27:41 GMT", "Wed Dec 28 10:27:41 2022",
                          "20221228T102741Z", "2022-12-28T10:27:41Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_http_date(bad));
  }
  for (std::string bad : {"", "20221328T102741Z", "20221228T102741", "20221228t102741Z", "20221228T102741z",
                          "20221228 102741Z", "2022122T8102741Z", "20221232T102741Z", "20221228T242741Z",
                          "20221228T106041Z", "20221228T102761Z", "20230229T102741Z", "-0221228T102741Z",
                          "20221228T10274 Z", "20221228T102741Z ", "2022-12-28T10:27:41Z",
                          "20221228T102741.000Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_iso8601_basic(bad));
  }
  for (std::string bad : {"", "2022-12-28 10:27:41Z", "2022-13-28T10:27:41Z", "2022-12-28T10:27:41.Z",
                          "2022-12-28T10:27:41", "2022-12-28T10:27:41.000", "2022-12-28t10:27:41Z",
                          "2022-12-28T10:27:41z", "2022-12-28T10:27:41.00aZ", "2022-12-28T10:27:41,000Z",
                          "2022-12-28T10:27:41+08:00", "2022-12-28T10:27:41.000+00:00",
                          "2022-02-30T10:27:41Z", "2022-12-00T10:27:41Z", "2022-00-28T10:27:41Z",
                          "2022-12-28T24:27:41Z", "2022-12-28T10:60:41Z", "2022-12-28T10:27:61Z",
                          "2022/12/28T10:27:41Z", "22-12-28T10:27:41.000Z", "2022-12-28T10:27:4Z",
                          " 2022-12-28T10:27:41Z", "2022-12-28T10:27:41Z ", "20221228T102741Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_iso8601_extended(bad));
  }
}

TEST_CASE("standard_region strips only a leading oss-") {
  CHECK(standard_region("oss-cn-hangzhou") == "cn-hangzhou");
  CHECK(standard_region("cn-hangzhou") == "cn-hangzhou");
  CHECK(standard_region("oss-") == "");
  CHECK(standard_region("us-oss-1") == "us-oss-1");
  CHECK(standard_region("") == "");
}

TEST_CASE("V1 sub-resources are the SDK whitelist plus x-oss-*") {
  for (const std::string_view yes : {"uploads", "uploadId", "partNumber", "acl", "append", "position", "delete",
                                     "tagging", "symlink", "objectMeta", "restore", "callback", "callback-var",
                                     "security-token", "versionId", "versions", "versioning", "continuation-token",
                                     "sequential", "x-oss-process", "x-oss-traffic-limit", "response-content-type",
                                     "response-expires", "location", "bucketInfo", "stat", "resourceGroup"}) {
    CAPTURE(yes);
    CHECK(is_v1_sub_resource(yes));
  }
  for (const std::string_view no : {"max-parts", "part-number-marker", "encoding-type", "max-uploads", "key-marker",
                                    "upload-id-marker", "prefix", "delimiter", "Uploads", "uploadid", "", "x-oss",
                                    "non-resousce"}) {
    CAPTURE(no);
    CHECK_FALSE(is_v1_sub_resource(no));
  }
}

TEST_CASE("V1 vectors of oss-protocol.md 2.3") {
  // Setup
  const http::fields headers = v1_nelson_headers();
  const auto no_query = make_query({});
  const auto acl = make_query({{"acl", ""}});
  const http::fields get_headers = make_fields({{"x-oss-date", date_1228}, {"Date", date_1228}});
  const auto resource_group = make_query({{"resourceGroup", ""}, {"non-resousce", "null"}});
  const auto group_and_acl = make_query({{"resourceGroup", ""}, {"acl", ""}});

  SUBCASE("1: PUT object with MD5, type and meta") {
    const sign_input in{"PUT", "examplebucket", "nelson", no_query, headers};
    // Run / Check
    CHECK(v1_string_to_sign(in) ==
          "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\n"
          "x-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n"
          "/examplebucket/nelson");
    CHECK(v1_signature(in, "sk") == "kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
  }
  SUBCASE("2: same with ?acl") {
    const sign_input in{"PUT", "examplebucket", "nelson", acl, headers};
    CHECK(v1_string_to_sign(in).ends_with("\n/examplebucket/nelson?acl"));
    CHECK(v1_signature(in, "sk") == "/afkugFbmWDQ967j1vr6zygBLQk=");
  }
  SUBCASE("3: bucket level, only resourceGroup is signed") {
    const sign_input in{"GET", "examplebucket", "", resource_group, get_headers};
    CHECK(v1_string_to_sign(in) ==
          "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n"
          "/examplebucket/?resourceGroup");
    CHECK(v1_signature(in, "sk") == "vkQmfuUDyi1uDi3bKt67oemssIs=");
  }
  SUBCASE("4: sub-resources sorted") {
    const sign_input in{"GET", "examplebucket", "", group_and_acl, get_headers};
    CHECK(v1_string_to_sign(in).ends_with("\n/examplebucket/?acl&resourceGroup"));
    CHECK(v1_signature(in, "sk") == "x3E5TgOvl/i7PN618s5mEvpJDYk=");
  }
  SUBCASE("presigned URL form: the Expires epoch in the date slot") {
    // go1 TestAuthV1Query: the date slot holds Expires; the raw key keeps its '+'.
    const http::fields expires1 = make_fields({{"Date", "1699807420"}});
    const auto version_query = make_query({{"versionId", "versionId"}});
    const sign_input in1{"GET", "bucket", "key", version_query, expires1};
    CHECK(v1_string_to_sign(in1) == "GET\n\n\n1699807420\n/bucket/key?versionId=versionId");
    CHECK(v1_signature(in1, "sk") == "dcLTea+Yh9ApirQ8o8dOPqtvJXQ=");

    const http::fields expires2 = make_fields({{"Date", "1699808204"}});
    const auto token_query = make_query({{"versionId", "versionId"}, {"security-token", "token"}});
    const sign_input in2{"GET", "bucket", "key+123", token_query, expires2};
    CHECK(v1_string_to_sign(in2).ends_with("\n/bucket/key+123?security-token=token&versionId=versionId"));
    CHECK(v1_signature(in2, "sk") == "jzKYRrM5y6Br0dRFPaTGOsbrDhY=");
  }
}

TEST_CASE("V1 derived multipart rows, through sign_request") {
  // Setup
  struct row {
    std::string_view name;
    const char* method;
    std::vector<query_param> query;
    std::vector<std::pair<std::string, std::string>> headers;
    const credentials* creds;
    std::string_view string_to_sign;
    std::string_view authorization;
  };
  const row rows[] = {
      {"initiate", "POST", make_query({{"uploads", ""}}),
       {{"Content-Type", "application/octet-stream"}, {"x-oss-meta-author", "alice"}}, &test_creds,
       "POST\n\napplication/octet-stream\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\n"
       "/examplebucket/multipart.data?uploads",
       "OSS ak:Nae/mprVbe0yjX1sKOZmzkfMmtk="},
      {"upload part", "PUT", make_query({{"uploadId", upload_id}, {"partNumber", "1"}}), {}, &test_creds,
       "PUT\n\n\nWed, 28 Dec 2022 10:27:41 GMT\n/examplebucket/multipart.data?partNumber=1&uploadId="
       "0004B9895DBBB6EC98E36",
       "OSS ak:NVsrQG9r9MX6fsbGIR1XGm7Dkww="},
      {"upload part with STS token", "PUT", make_query({{"partNumber", "1"}, {"uploadId", upload_id}}), {},
       &test_sts_creds,
       "PUT\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-security-token:token\n/examplebucket/multipart.data?"
       "partNumber=1&uploadId=0004B9895DBBB6EC98E36",
       "OSS ak:6ubZL1H1e5oZZqGeEGWicY37bB4="},
      {"complete", "POST", make_query({{"uploadId", upload_id}}), {{"Content-Type", "application/xml"}},
       &test_creds,
       "POST\n\napplication/xml\nWed, 28 Dec 2022 10:27:41 GMT\n/examplebucket/multipart.data?uploadId="
       "0004B9895DBBB6EC98E36",
       "OSS ak:6krF8css0wX2JNpOX/r7fm8qqqs="},
  };

  for (const row& r : rows) {
    CAPTURE(r.name);
    http::request req;
    req.method = r.method;
    req.target = "/multipart.data";
    for (const auto& [n, v] : r.headers) req.headers.add(n, v);

    // Run
    sign_request(req, "examplebucket", "multipart.data", r.query, *r.creds, signature_version::v1,
                 "oss-cn-hangzhou", at(time_1228));

    // Check
    const sign_input in{req.method, "examplebucket", "multipart.data", r.query, req.headers};
    CHECK(v1_string_to_sign(in) == r.string_to_sign);
    REQUIRE(req.headers.find("Authorization") != nullptr);
    CHECK(*req.headers.find("Authorization") == r.authorization);
    CHECK(*req.headers.find("Date") == date_1228);
    CHECK(req.headers.find("x-oss-date") == nullptr);  // V1 sends one date
    CHECK(req.headers.count("Authorization") == 1);
  }
}

TEST_CASE("V4-1: canonical request, string to sign, signing key and signature") {
  // Setup
  http::fields headers = v4_vector_headers();
  headers.add("x-oss-date", "20231216T162057Z");
  const auto query = v4_vector_query();
  const sign_input in{"PUT", "bucket", v4_vector_key, query, headers};

  // Run
  const std::string canonical = v4_canonical_request(in);
  const std::string string_to_sign = v4_string_to_sign(canonical, "20231216T162057Z", "cn-hangzhou");

  // Check
  CHECK(canonical ==
        "PUT\n"
        "/bucket/1234%2B-/123/1.txt\n"
        "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
        "content-type:text/plain\n"
        "x-oss-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-oss-date:20231216T162057Z\n"
        "x-oss-head1:value\n"
        "\n"
        "\n"
        "UNSIGNED-PAYLOAD");
  CHECK(string_to_sign ==
        "OSS4-HMAC-SHA256\n20231216T162057Z\n20231216/cn-hangzhou/oss/aliyun_v4_request\n"
        "f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4");
  CHECK(hex(v4_signing_key("sk", "20231216", "cn-hangzhou")) ==
        "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f");
  CHECK(v4_signature(in, "sk", "cn-hangzhou") == "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
}

TEST_CASE("V4-1, V4-2 and V4-3 through sign_request") {
  // Setup
  const auto query = v4_vector_query();
  struct row {
    std::string_view name;
    std::int64_t time;
    const credentials* creds;
    std::vector<std::string> additional;
    std::string_view canonical_hash;
    std::string_view signing_key;
    std::string_view authorization;
  };
  const row rows[] = {
      {"V4-1", 1702743657, &test_creds, {}, "f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4",
       "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f",
       "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature="
       "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"},
      {"V4-2 STS", 1702784856, &test_sts_creds, {}, "69494678fb11579d4ee12996e2796d9e2ba43c34aa4c723c4aec018f3d6b86b8",
       "0e11d77e422d3484e84ee6b628fdf2a85f3788e1a597f23116b477efb407e94e",
       "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,Signature="
       "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"},
      {"V4-3 additional headers", 1702747512, &test_creds, {"ZAbc", "abc"},
       "16b86004ed2cc3406dd7a13081bd940ef6a5ad49e508da2d4fdf84e8a5dd2145", "",
       "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,"
       "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"},
      // cpp SignerV4WithAdditionalHeaders: default-signed and absent names are filtered out.
      {"V4-3 with filtered names", 1702747512, &test_creds, {"ZAbc", "abc", "x-oss-head1", "x-oss-no-exist"},
       "16b86004ed2cc3406dd7a13081bd940ef6a5ad49e508da2d4fdf84e8a5dd2145", "",
       "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,"
       "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"},
  };

  for (const row& r : rows) {
    CAPTURE(r.name);
    http::request req;
    req.method = "PUT";
    req.headers = v4_vector_headers();

    // Run
    sign_request(req, "bucket", v4_vector_key, query, *r.creds, signature_version::v4, "cn-hangzhou", at(r.time),
                 r.additional);

    // Check
    const sign_input in{req.method, "bucket", v4_vector_key, query, req.headers};
    CHECK(sha256_hex(v4_canonical_request(in, r.additional)) == r.canonical_hash);
    if (!r.signing_key.empty()) {
      const std::string date = iso8601_basic(at(r.time)).substr(0, 8);
      CHECK(hex(v4_signing_key("sk", date, "cn-hangzhou")) == r.signing_key);
    }
    REQUIRE(req.headers.find("Authorization") != nullptr);
    CHECK(*req.headers.find("Authorization") == r.authorization);
    CHECK(*req.headers.find("x-oss-date") == iso8601_basic(at(r.time)));
    CHECK(req.headers.count("x-oss-content-sha256") == 1);
  }
}

TEST_CASE("V4-2 and V4-3 canonical requests in full") {
  // Setup
  http::fields sts = v4_vector_headers();
  sts.add("x-oss-date", "20231217T034736Z");
  sts.add("x-oss-security-token", "token");
  http::fields extra = v4_vector_headers();
  extra.add("x-oss-date", "20231216T172512Z");
  const auto query = v4_vector_query();
  const std::vector<std::string> additional{"ZAbc", "abc"};
  const std::string query_line = "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2";

  // Run
  const std::string sts_canonical = v4_canonical_request({"PUT", "bucket", v4_vector_key, query, sts});
  const std::string extra_canonical = v4_canonical_request({"PUT", "bucket", v4_vector_key, query, extra}, additional);

  // Check
  CHECK(sts_canonical == "PUT\n/bucket/1234%2B-/123/1.txt\n" + query_line +
                             "\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
                             "x-oss-date:20231217T034736Z\nx-oss-head1:value\nx-oss-security-token:token\n\n\n"
                             "UNSIGNED-PAYLOAD");
  CHECK(sha256_hex(sts_canonical) == "69494678fb11579d4ee12996e2796d9e2ba43c34aa4c723c4aec018f3d6b86b8");
  CHECK(extra_canonical == "PUT\n/bucket/1234%2B-/123/1.txt\n" + query_line +
                               "\nabc:value\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
                               "x-oss-date:20231216T172512Z\nx-oss-head1:value\nzabc:value\n\nabc;zabc\n"
                               "UNSIGNED-PAYLOAD");
  CHECK(sha256_hex(extra_canonical) == "16b86004ed2cc3406dd7a13081bd940ef6a5ad49e508da2d4fdf84e8a5dd2145");
}

TEST_CASE("V4 derived multipart rows, through sign_request with an ali-oss style region") {
  // Setup
  struct row {
    std::string_view name;
    const char* method;
    std::vector<query_param> query;
    std::vector<std::pair<std::string, std::string>> headers;
    const credentials* creds;
    std::string_view canonical_query;
    std::string_view canonical_hash;  // empty: not given by the document
    std::string_view signature;
  };
  const row rows[] = {
      {"upload part", "PUT", make_query({{"partNumber", "1"}, {"uploadId", upload_id}}), {}, &test_creds,
       "partNumber=1&uploadId=0004B9895DBBB6EC98E36",
       "ca5201c19e01953f23e41f5d0e77372a75844bafefff4f7349e48cf16a06f0f1",
       "cf644bf2b4ab896731f6f1c38057544c496fe4afa4c2ec033955cd5701c4277b"},
      {"upload part with STS token", "PUT", make_query({{"uploadId", upload_id}, {"partNumber", "1"}}), {},
       &test_sts_creds, "partNumber=1&uploadId=0004B9895DBBB6EC98E36", "",
       "3d394e99b012a3c71b471634a887f28ec702185b79a32024564eca8f30710e30"},
      {"initiate", "POST", make_query({{"uploads", ""}}),
       {{"content-type", "application/octet-stream"}, {"x-oss-meta-author", "alice"}}, &test_creds, "uploads", "",
       "e140fbb156d5578a48068f7e8d63ce5c605820bdf5e9f5a56625a28ee05d22cc"},
  };

  for (const row& r : rows) {
    CAPTURE(r.name);
    http::request req;
    req.method = r.method;
    for (const auto& [n, v] : r.headers) req.headers.add(n, v);

    // Run
    sign_request(req, "examplebucket", "multipart.data", r.query, *r.creds, signature_version::v4,
                 "oss-cn-hangzhou", at(time_1228));

    // Check
    const sign_input in{req.method, "examplebucket", "multipart.data", r.query, req.headers};
    const std::string canonical = v4_canonical_request(in);
    CHECK(canonical.starts_with(std::string(r.method) + "\n/examplebucket/multipart.data\n" +
                                std::string(r.canonical_query) + "\n"));
    if (!r.canonical_hash.empty()) CHECK(sha256_hex(canonical) == r.canonical_hash);
    REQUIRE(req.headers.find("Authorization") != nullptr);
    CHECK(*req.headers.find("Authorization") ==
          "OSS4-HMAC-SHA256 Credential=ak/20221228/cn-hangzhou/oss/aliyun_v4_request,Signature=" +
              std::string(r.signature));
    CHECK(*req.headers.find("x-oss-date") == "20221228T102741Z");
    CHECK(*req.headers.find("x-oss-content-sha256") == "UNSIGNED-PAYLOAD");
    CHECK(*req.headers.find("Date") == date_1228);
  }
}

TEST_CASE("V4 canonical URI and query encoding") {
  // Setup
  const http::fields headers = make_fields({{"x-oss-date", "20221228T102741Z"}});
  const auto no_query = make_query({});
  const auto tricky = make_query({{"b", "x y"}, {"a", "1+2"}, {"a*", "~"}, {"c", "\xc3\xa9/?&="}});

  // Run
  const std::string service = v4_canonical_request({"GET", "", "", no_query, headers});
  const std::string bucket = v4_canonical_request({"GET", "bkt", "", no_query, headers});
  const std::string object = v4_canonical_request({"GET", "bkt", "a b/\xe4\xb8\xad?#%*~.txt", tricky, headers});

  // Check
  CHECK(service.starts_with("GET\n/\n\n"));
  CHECK(bucket.starts_with("GET\n/bkt/\n\n"));
  CHECK(object.starts_with("GET\n/bkt/a%20b/%E4%B8%AD%3F%23%25%2A~.txt\n"
                           "a=1%2B2&a%2A=~&b=x%20y&c=%C3%A9%2F%3F%26%3D\n"));
  // No x-oss-content-sha256 header: the payload line defaults to UNSIGNED-PAYLOAD.
  CHECK(service.ends_with("\n\n\nUNSIGNED-PAYLOAD"));
}

TEST_CASE("canonical headers trim values, lower-case names and join repeats") {
  // Setup
  const http::fields headers = make_fields({{"X-OSS-Meta-B", " two "},
                                            {"x-oss-meta-a", "\tone"},
                                            {"x-oss-meta-b", "three"},
                                            {"Date", "Wed, 28 Dec 2022 10:27:41 GMT"},
                                            {"Cache-Control", "no-cache"}});
  const auto no_query = make_query({});
  const sign_input in{"PUT", "b", "k", no_query, headers};

  // Run
  const std::string v1 = v1_string_to_sign(in);
  const std::string v4 = v4_canonical_request(in, std::vector<std::string>{"Cache-Control"});

  // Check
  CHECK(v1 == "PUT\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-a:one\nx-oss-meta-b:two,three\n/b/k");
  CHECK(v4.find("\ncache-control:no-cache\nx-oss-meta-a:one\nx-oss-meta-b:two,three\n\ncache-control\n") !=
        std::string::npos);
}

TEST_CASE("v4_additional_headers normalises the requested list") {
  // Setup
  const http::fields headers = make_fields({{"Abc", "1"}, {"zabc", "2"}, {"Range", "bytes=0-1"}, {"x-oss-a", "3"}});
  const std::vector<std::string> requested{"ZAbc", "abc", "ABC", "x-oss-a", "Content-Type", "content-md5",
                                           "missing", "range"};

  // Run
  const auto names = v4_additional_headers(headers, requested);

  // Check
  CHECK(names == std::vector<std::string>{"abc", "range", "zabc"});
  CHECK(v4_additional_headers(headers, {}).empty());
}

TEST_CASE("sign_request leaves anonymous requests untouched and re-signs cleanly") {
  // Setup
  http::request anonymous;
  anonymous.method = "GET";
  anonymous.headers.add("x-oss-meta-a", "1");
  const auto query = make_query({{"uploads", ""}});
  http::request req;
  req.method = "POST";

  // Run
  sign_request(anonymous, "b", "k", query, credentials{}, signature_version::v4, "cn-hangzhou", at(time_1228));
  sign_request(req, "b", "k", query, test_sts_creds, signature_version::v4, "cn-hangzhou", at(time_1228));
  sign_request(req, "b", "k", query, test_creds, signature_version::v4, "cn-hangzhou", at(time_1228 + 60));

  // Check
  CHECK(anonymous.headers.size() == 1);
  CHECK(anonymous.headers.find("Authorization") == nullptr);
  CHECK(anonymous.headers.find("Date") == nullptr);
  CHECK(req.headers.count("Authorization") == 1);
  CHECK(req.headers.count("Date") == 1);
  CHECK(req.headers.count("x-oss-date") == 1);
  CHECK(req.headers.find("x-oss-security-token") == nullptr);  // the stale token is gone
  CHECK(*req.headers.find("x-oss-date") == "20221228T102841Z");
  const auto auth = parse_authorization(*req.headers.find("Authorization"));
  REQUIRE(auth.has_value());
  CHECK(verify_signature({req.method, "b", "k", query, req.headers}, *auth, "sk"));
}

TEST_CASE("V1 sign_request keeps an existing x-oss-date equal to Date") {
  // Setup: a request that carries x-oss-date (as ali-oss sends it) from an earlier attempt.
  http::request req;
  req.method = "PUT";
  req.headers.add("x-oss-date", "Tue, 27 Dec 2022 00:00:00 GMT");
  const auto query = make_query({});

  // Run
  sign_request(req, "b", "k", query, test_creds, signature_version::v1, "", at(time_1228));

  // Check
  CHECK(*req.headers.find("x-oss-date") == date_1228);
  CHECK(*req.headers.find("Date") == date_1228);
  const sign_input in{req.method, "b", "k", query, req.headers};
  CHECK(v1_string_to_sign(in) == "PUT\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n/b/k");
}

TEST_CASE("parse_authorization round trips what sign_request writes") {
  // Setup
  const auto query = make_query({{"partNumber", "3"}, {"uploadId", "U"}});
  http::request v1;
  v1.method = "PUT";
  http::request v4;
  v4.method = "PUT";
  v4.headers.add("Range", "bytes=0-9");
  v4.headers.add("Host", "b.oss-cn-hangzhou.aliyuncs.com");
  const std::vector<std::string> additional{"range", "host"};

  // Run
  sign_request(v1, "b", "k", query, credentials{"LTAI5tExample", "secret", ""}, signature_version::v1, "",
               at(time_1228));
  sign_request(v4, "b", "k", query, credentials{"LTAI5tExample", "secret", "sts"}, signature_version::v4,
               "oss-cn-shanghai", at(time_1228), additional);
  const auto p1 = parse_authorization(*v1.headers.find("Authorization"));
  const auto p4 = parse_authorization(*v4.headers.find("Authorization"));

  // Check
  REQUIRE(p1.has_value());
  CHECK(p1->version == signature_version::v1);
  CHECK(p1->access_key_id == "LTAI5tExample");
  CHECK(p1->signature == v1_signature({"PUT", "b", "k", query, v1.headers}, "secret"));
  CHECK(p1->sign_date.empty());
  REQUIRE(p4.has_value());
  CHECK(p4->version == signature_version::v4);
  CHECK(p4->access_key_id == "LTAI5tExample");
  CHECK(p4->sign_date == "20221228");
  CHECK(p4->region == "cn-shanghai");
  CHECK(p4->additional_headers == std::vector<std::string>{"host", "range"});
  CHECK(p4->signature.size() == 64);
}

TEST_CASE("parse_authorization accepts the documented spellings") {
  // Setup
  const std::string sig(64, 'a');

  // Run
  const auto spaced = parse_authorization("OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, "
                                          "AdditionalHeaders=abc;zabc, Signature=" + sig);
  const auto v1 = parse_authorization("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");

  // Check
  REQUIRE(spaced.has_value());
  CHECK(spaced->additional_headers == std::vector<std::string>{"abc", "zabc"});
  CHECK(spaced->signature == sig);
  REQUIRE(v1.has_value());
  CHECK(v1->access_key_id == "ak");
  CHECK(v1->signature == "kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
}

TEST_CASE("parse_authorization rejects malformed headers") {
  // Setup
  const std::string sig(64, '0');
  const std::string cred = "Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request";
  const std::string v4 = "OSS4-HMAC-SHA256 ";
  const std::vector<std::string> bad = {
      "",
      "OSS",
      "OSS ",
      "OSS :kSHKmLxlyEAKtZPkJhG9bZb5k7M=",
      "OSS ak:",
      "OSS ak",
      "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M",       // not base64 (length)
      "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M!",      // not base64 (alphabet)
      "OSS ak:AAAAAAAAAAAAAAAAAAAAAAAAAA==",      // 19 bytes, not an HMAC-SHA1
      "OSS a k:kSHKmLxlyEAKtZPkJhG9bZb5k7M=",
      "oss ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=",
      "Basic YWs6c2s=",
      "AWS4-HMAC-SHA256 Credential=ak/20231216/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig,
      "OSS4-HMAC-SHA256",
      v4,
      v4 + cred,
      v4 + "Signature=" + sig,
      v4 + cred + ",Signature=" + sig.substr(1),
      v4 + cred + ",Signature=" + sig + "0",
      v4 + cred + ",Signature=" + std::string(64, 'A'),
      v4 + cred + ",Signature=" + std::string(64, 'g'),
      v4 + cred + ",Signature=" + sig + ",Signature=" + sig,
      v4 + cred + "," + cred + ",Signature=" + sig,
      v4 + cred + ",AdditionalHeaders=,Signature=" + sig,
      v4 + cred + ",AdditionalHeaders=a;;b,Signature=" + sig,
      v4 + cred + ",AdditionalHeaders=a;,Signature=" + sig,
      v4 + cred + ",SignedHeaders=host,Signature=" + sig,
      v4 + cred + ",Signature",
      v4 + cred + ",,Signature=" + sig,
      v4 + "Credential=ak/2023121/cn-hangzhou/oss/aliyun_v4_request,Signature=" + sig,
      v4 + "Credential=ak/2023121x/cn-hangzhou/oss/aliyun_v4_request,Signature=" + sig,
      v4 + "Credential=ak/20231216/cn-hangzhou/s3/aliyun_v4_request,Signature=" + sig,
      v4 + "Credential=ak/20231216/cn-hangzhou/oss/aws4_request,Signature=" + sig,
      v4 + "Credential=ak/20231216//oss/aliyun_v4_request,Signature=" + sig,
      v4 + "Credential=/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=" + sig,
      v4 + "Credential=ak/20231216/cn-hangzhou/oss,Signature=" + sig,
      v4 + "Credential=ak/x/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=" + sig,
  };

  for (const std::string& header : bad) {
    // Run / Check
    CAPTURE(header);
    CHECK_FALSE(parse_authorization(header).has_value());
  }
}

TEST_CASE("verify_signature accepts the right secret and rejects wrong secrets and tampering") {
  // Setup
  const auto query = make_query({{"partNumber", "7"}, {"uploadId", "ABC"}, {"max-parts", "10"}});
  const std::vector<std::string> additional{"range"};

  for (const auto version : {signature_version::v1, signature_version::v4}) {
    CAPTURE(static_cast<int>(version));
    http::request req;
    req.method = "PUT";
    req.headers.add("Content-Type", "application/octet-stream");
    req.headers.add("x-oss-meta-owner", "alice");
    req.headers.add("Range", "bytes=0-9");
    sign_request(req, "bucket", "dir/file.bin", query, test_sts_creds, version, "oss-cn-hangzhou", at(time_1228),
                 additional);
    const auto auth = parse_authorization(*req.headers.find("Authorization"));
    REQUIRE(auth.has_value());
    CHECK(auth->version == version);

    // Run / Check: untouched request, right and wrong secret.
    CHECK(verify_signature({"PUT", "bucket", "dir/file.bin", query, req.headers}, *auth, "sk"));
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, req.headers}, *auth, "sk2"));
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, req.headers}, *auth, ""));

    // A tampered signed header, method, bucket, key or sub-resource.
    http::fields tampered = req.headers;
    tampered.set("x-oss-meta-owner", "mallory");
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, tampered}, *auth, "sk"));
    http::fields no_token = req.headers;
    no_token.erase("x-oss-security-token");
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, no_token}, *auth, "sk"));
    http::fields other_type = req.headers;
    other_type.set("Content-Type", "text/plain");
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, other_type}, *auth, "sk"));
    CHECK_FALSE(verify_signature({"POST", "bucket", "dir/file.bin", query, req.headers}, *auth, "sk"));
    CHECK_FALSE(verify_signature({"PUT", "bucket2", "dir/file.bin", query, req.headers}, *auth, "sk"));
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bim", query, req.headers}, *auth, "sk"));
    const auto other_part = make_query({{"partNumber", "8"}, {"uploadId", "ABC"}, {"max-parts", "10"}});
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", other_part, req.headers}, *auth, "sk"));

    // Unsigned in V1, signed in V4: an ordinary parameter and an additional header.
    const auto other_max = make_query({{"partNumber", "7"}, {"uploadId", "ABC"}, {"max-parts", "11"}});
    http::fields other_range = req.headers;
    other_range.set("Range", "bytes=0-10");
    const bool v1 = version == signature_version::v1;
    CHECK(verify_signature({"PUT", "bucket", "dir/file.bin", other_max, req.headers}, *auth, "sk") == v1);
    CHECK(verify_signature({"PUT", "bucket", "dir/file.bin", query, other_range}, *auth, "sk") == v1);

    // The date is signed in both.
    http::fields later = req.headers;
    later.set(v1 ? "Date" : "x-oss-date", v1 ? http_date(at(time_1228 + 1)) : iso8601_basic(at(time_1228 + 1)));
    CHECK_FALSE(verify_signature({"PUT", "bucket", "dir/file.bin", query, later}, *auth, "sk"));
  }
}

TEST_CASE("verify_signature V4 checks the scope against x-oss-date and the listed headers") {
  // Setup
  const auto query = make_query({{"uploads", ""}});
  http::request req;
  req.method = "POST";
  req.headers.add("abc", "1");
  sign_request(req, "b", "k", query, test_creds, signature_version::v4, "cn-hangzhou", at(time_1228),
               std::vector<std::string>{"abc"});
  const auto auth = parse_authorization(*req.headers.find("Authorization"));
  REQUIRE(auth.has_value());
  const sign_input in{"POST", "b", "k", query, req.headers};

  // Run / Check
  CHECK(verify_signature(in, *auth, "sk"));
  auto other_region = *auth;
  other_region.region = "cn-shanghai";
  CHECK_FALSE(verify_signature(in, other_region, "sk"));
  auto other_day = *auth;
  other_day.sign_date = "20221229";
  CHECK_FALSE(verify_signature(in, other_day, "sk"));
  auto upper_list = *auth;
  upper_list.additional_headers = {"ABC"};
  CHECK_FALSE(verify_signature(in, upper_list, "sk"));
  auto absent_listed = *auth;
  absent_listed.additional_headers = {"abc", "zzz"};
  CHECK_FALSE(verify_signature(in, absent_listed, "sk"));
  http::fields no_date = req.headers;
  no_date.erase("x-oss-date");
  CHECK_FALSE(verify_signature({"POST", "b", "k", query, no_date}, *auth, "sk"));
  http::fields rfc_date = req.headers;
  rfc_date.set("x-oss-date", date_1228);
  CHECK_FALSE(verify_signature({"POST", "b", "k", query, rfc_date}, *auth, "sk"));
}

TEST_CASE("verify_signature V1 takes the date slot from Date, else from x-oss-date") {
  // Setup: the ali-oss habit, x-oss-date only (vector 1 minus Date).
  http::fields ali_style = v1_nelson_headers();
  ali_style.erase("Date");
  const auto no_query = make_query({});
  const auto auth = parse_authorization("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
  REQUIRE(auth.has_value());

  // Run / Check
  CHECK(verify_signature({"PUT", "examplebucket", "nelson", no_query, ali_style}, *auth, "sk"));
  CHECK(verify_signature({"PUT", "examplebucket", "nelson", no_query, v1_nelson_headers()}, *auth, "sk"));
  // An HTTP stack that adds its own, different Date does not break an ali-oss signature.
  http::fields extra_date = ali_style;
  extra_date.add("Date", "Thu, 29 Dec 2022 00:00:00 GMT");
  CHECK(verify_signature({"PUT", "examplebucket", "nelson", no_query, extra_date}, *auth, "sk"));
  // But a signature over neither value is rejected.
  http::fields both_other = extra_date;
  both_other.set("x-oss-date", "Fri, 30 Dec 2022 00:00:00 GMT");
  CHECK_FALSE(verify_signature({"PUT", "examplebucket", "nelson", no_query, both_other}, *auth, "sk"));
  http::fields no_dates = ali_style;
  no_dates.erase("x-oss-date");
  CHECK_FALSE(verify_signature({"PUT", "examplebucket", "nelson", no_query, no_dates}, *auth, "sk"));
}

TEST_CASE("constant_time_equal") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
  CHECK_FALSE(constant_time_equal("", "a"));
}

TEST_CASE("V4 signing key: the per-thread cache follows every input") {
  // Setup: the V4-1 key, then each input changed on its own, then back, so a stale entry would
  // show as a wrong key (the derivation itself is checked against the vectors above).
  const std::string_view v41 = "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f";
  struct input {
    std::string_view secret, date8, region;
  };
  const input inputs[] = {{"sk", "20231216", "cn-hangzhou"}, {"sk2", "20231216", "cn-hangzhou"},
                          {"sk", "20231217", "cn-hangzhou"}, {"sk", "20231216", "cn-beijing"},
                          {"sk", "20231216", "cn-hangzhou"}, {"sk", "20231216", "cn-hangzhou"}};

  for (const input& in : inputs) {
    CAPTURE(in.secret);
    CAPTURE(in.date8);
    CAPTURE(in.region);
    // Run
    const std::string cached = hex(v4_signing_key(in.secret, in.date8, in.region));
    // Check
    CHECK(cached == hex(v4_derive_signing_key(in.secret, in.date8, in.region)));
    CHECK((cached == v41) == (in.secret == "sk" && in.date8 == "20231216" && in.region == "cn-hangzhou"));
  }

  // Run / Check: another thread with another secret neither sees nor disturbs this thread's entry.
  std::string other;
  std::thread t([&other] { other = hex(v4_signing_key("sk2", "20231216", "cn-hangzhou")); });
  t.join();
  CHECK(other == hex(v4_derive_signing_key("sk2", "20231216", "cn-hangzhou")));
  CHECK(hex(v4_signing_key("sk", "20231216", "cn-hangzhou")) == v41);
}
