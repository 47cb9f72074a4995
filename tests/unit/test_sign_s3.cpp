// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// AWS Signature V4 for S3 (oss/detail/sign/sign_s3.hpp): the four AWS example vectors of
// oss-protocol.md 2.8 (signing key and signatures), canonicalisation edge cases, the client-side
// s3_sign_request, and the server-side parser and verifier. The AWS example credentials and the
// "ak"/"sk" pairs are public fake ones, so full signatures may appear in test output.

#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/sign/sign_s3.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace oss::detail;
using oss::credentials;

using clock_type = std::chrono::system_clock;

clock_type::time_point at(std::int64_t unix_seconds) {
  return clock_type::time_point{std::chrono::seconds{unix_seconds}};
}

std::vector<query_param> make_query(std::initializer_list<std::pair<std::string_view, std::string_view>> items) {
  std::vector<query_param> q;
  for (const auto& [name, value] : items) q.emplace_back(std::string(name), std::string(value));
  return q;
}

std::string hex(const sha256_digest& d) { return hex_lower(d.data(), d.size()); }

// The AWS documentation example ("Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk").
const credentials aws_creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view aws_region = "us-east-1";
constexpr std::int64_t aws_time = 1369353600;  // 2013-05-24T00:00:00Z
constexpr std::string_view aws_host = "examplebucket.s3.amazonaws.com";
constexpr std::string_view aws_prefix =
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ";

const credentials test_creds{"ak", "sk", ""};
const credentials test_sts_creds{"ak", "sk", "token"};

http::request make_request(std::string_view method,
                           std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
  http::request req;
  req.method = method;
  req.target = "/";
  for (const auto& [name, value] : headers) req.headers.add(name, value);
  return req;
}

std::vector<std::string> names(std::initializer_list<std::string_view> items) {
  return {items.begin(), items.end()};
}

}  // namespace

TEST_CASE("S3 signing key of the AWS example") {
  // Run
  const auto key = s3_signing_key(aws_creds.access_key_secret, "20130524", aws_region);

  // Check
  CHECK(hex(key) == "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
}

TEST_CASE("AWS vector 1: GET object with Range, canonical request and string to sign in full") {
  // Setup
  http::fields headers;
  headers.add("Host", aws_host);
  headers.add("Range", "bytes=0-9");
  headers.add("x-amz-content-sha256", s3_empty_payload_sha256);
  headers.add("x-amz-date", "20130524T000000Z");
  const s3_sign_input in{"GET", "/test.txt", {}, headers};
  const auto signed_headers = s3_signed_header_names(headers);

  // Run
  const std::string canonical = s3_canonical_request(in, signed_headers);
  const std::string to_sign = s3_string_to_sign(canonical, "20130524T000000Z", aws_region);
  const std::string signature = s3_signature(in, aws_creds.access_key_secret, aws_region, signed_headers);

  // Check: the texts the AWS page prints.
  CHECK(signed_headers == names({"host", "range", "x-amz-content-sha256", "x-amz-date"}));
  CHECK(canonical ==
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_sign ==
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  CHECK(signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("AWS vectors 1-4 through s3_sign_request") {
  struct vector {
    const char* name;
    http::request req;
    std::string path;
    std::vector<query_param> query;
    std::string payload;
    std::string expected;
  };
  // Setup
  std::vector<vector> vectors;
  vectors.push_back({"GET /test.txt", make_request("GET", {{"Host", aws_host}, {"Range", "bytes=0-9"}}), "/test.txt",
                     {}, std::string(s3_empty_payload_sha256),
                     "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"});
  vectors.push_back({"PUT /test$file.text",
                     make_request("PUT", {{"Host", aws_host},
                                          {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                          {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}),
                     "/test$file.text", {}, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                     "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                     "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"});
  vectors.push_back({"GET /?lifecycle", make_request("GET", {{"Host", aws_host}}), "/", make_query({{"lifecycle", ""}}),
                     std::string(s3_empty_payload_sha256),
                     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                     "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"});
  vectors.push_back({"GET /?max-keys=2&prefix=J", make_request("GET", {{"Host", aws_host}}), "/",
                     make_query({{"prefix", "J"}, {"max-keys", "2"}}), std::string(s3_empty_payload_sha256),
                     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                     "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"});
  // The body hash of vector 2 is the SHA-256 the page gives for "Welcome to Amazon S3.".
  CHECK(hex(sha256("Welcome to Amazon S3.")) == vectors[1].payload);
  CHECK(hex(sha256("")) == s3_empty_payload_sha256);

  for (auto& v : vectors) {
    CAPTURE(v.name);
    // Run
    s3_sign_request(v.req, v.path, v.query, aws_creds, aws_region, at(aws_time), v.payload);

    // Check
    const std::string* authorization = v.req.headers.find("Authorization");
    REQUIRE(authorization != nullptr);
    CHECK(*authorization == std::string(aws_prefix) + v.expected);
    CHECK(*v.req.headers.find("x-amz-date") == "20130524T000000Z");
    CHECK(*v.req.headers.find("x-amz-content-sha256") == v.payload);
    CHECK(v.req.headers.find("x-amz-security-token") == nullptr);

    // The server side accepts the same request, and only with the right secret.
    const auto parsed = s3_parse_authorization(*authorization);
    REQUIRE(parsed.has_value());
    const s3_sign_input in{v.req.method, v.path, v.query, v.req.headers};
    CHECK(s3_check_request(in, *parsed) == s3_request_problem::none);
    CHECK(s3_verify_signature(in, *parsed, aws_creds.access_key_secret));
    CHECK_FALSE(s3_verify_signature(in, *parsed, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz"));
  }
}

TEST_CASE("S3 canonical URI encodes each byte once and keeps every slash") {
  CHECK(s3_canonical_uri("") == "/");
  CHECK(s3_canonical_uri("/") == "/");
  CHECK(s3_canonical_uri("/bucket/a b.txt") == "/bucket/a%20b.txt");
  CHECK(s3_canonical_uri("/bucket/x+y=z") == "/bucket/x%2By%3Dz");
  CHECK(s3_canonical_uri("/bucket/~user/-_.") == "/bucket/~user/-_.");
  // '%' is data, not an escape: encoded once, never decoded or encoded twice.
  CHECK(s3_canonical_uri("/bucket/100%/%2F") == "/bucket/100%25/%252F");
  CHECK(s3_canonical_uri("/bucket/test$file.text") == "/bucket/test%24file.text");
  // No normalisation: empty segments, a trailing slash and dot segments are kept.
  CHECK(s3_canonical_uri("/bucket/a//b/") == "/bucket/a//b/");
  CHECK(s3_canonical_uri("//") == "//");
  CHECK(s3_canonical_uri("/bucket/./../x") == "/bucket/./../x");
  // UTF-8 byte by byte, upper-case hex.
  CHECK(s3_canonical_uri("/bucket/\xe4\xb8\xad\xe6\x96\x87/\xc3\xa9") == "/bucket/%E4%B8%AD%E6%96%87/%C3%A9");
  CHECK(s3_canonical_uri("/k/!'()*[]@:,;&?#") == "/k/%21%27%28%29%2A%5B%5D%40%3A%2C%3B%26%3F%23");
}

TEST_CASE("S3 canonical query: name=value, value-less as name=, sorted by encoded name then value") {
  // Setup / Run / Check
  CHECK(s3_canonical_query({}) == "");
  CHECK(s3_canonical_query(make_query({{"uploads", ""}})) == "uploads=");
  CHECK(s3_canonical_query(make_query({{"uploadId", "abc"}, {"partNumber", "7"}})) == "partNumber=7&uploadId=abc");
  // Sorting uses the encoded names: "%" (%25) and "+" (%2B) before letters, upper case before
  // lower case, and "a" before "a-b" although '-' sorts before '='.
  CHECK(s3_canonical_query(make_query(
            {{"a-b", "2"}, {"a", "1"}, {"b", ""}, {"B", "x"}, {"%", "p"}, {"+", "q"}, {"~", "t"}})) ==
        "%25=p&%2B=q&B=x&a=1&a-b=2&b=&~=t");
  // Non-ASCII names sort by their encoded form, and '%' sorts before digits and letters.
  CHECK(s3_canonical_query(make_query({{"\xc3\xa9", "1"}, {"z", "2"}, {"0", "3"}})) == "%C3%A9=1&0=3&z=2");
  // Values are encoded with '/' too; a repeated name sorts by value.
  CHECK(s3_canonical_query(make_query({{"prefix", "dir/a b+c"}, {"k", "v2"}, {"k", "v1"}})) ==
        "k=v1&k=v2&prefix=dir%2Fa%20b%2Bc");
  CHECK(s3_canonical_query(make_query({{"response-content-type", "text/plain; charset=utf-8"}})) ==
        "response-content-type=text%2Fplain%3B%20charset%3Dutf-8");
}

TEST_CASE("S3 canonical headers fold whitespace, lower-case names and join repeats") {
  // Setup
  http::fields headers;
  headers.add("Host", "h");
  headers.add("X-Amz-Meta-Note", "  a   b\t\t c  ");
  headers.add("x-amz-meta-list", "one");
  headers.add("X-AMZ-META-LIST", " two ");
  headers.add("Content-Type", "text/plain;   charset=utf-8");
  headers.add("x-amz-meta-empty", "");
  headers.add("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  headers.add("x-amz-date", "20240101T000000Z");
  const s3_sign_input in{"PUT", "/k", {}, headers};

  // Run
  const auto signed_headers = s3_signed_header_names(headers);
  const std::string canonical = s3_canonical_request(in, signed_headers);

  // Check
  CHECK(signed_headers == names({"content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-empty",
                                 "x-amz-meta-list", "x-amz-meta-note"}));
  CHECK(canonical ==
        "PUT\n/k\n\ncontent-type:text/plain; charset=utf-8\nhost:h\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-amz-date:20240101T000000Z\nx-amz-meta-empty:\nx-amz-meta-list:one,two\nx-amz-meta-note:a b c\n\n"
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-empty;x-amz-meta-list;x-amz-meta-note\n"
        "UNSIGNED-PAYLOAD");
}

TEST_CASE("S3 signs every header but the JS SDK's unsignable ones") {
  // Setup
  http::fields headers;
  for (const char* name : {"Authorization", "Cache-Control", "Connection", "Expect", "From", "Keep-Alive",
                           "Max-Forwards", "Pragma", "Referer", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                           "User-Agent", "X-Amzn-Trace-Id", "Proxy-Authorization", "proxy-x", "Sec-Fetch-Mode"})
    headers.add(name, "v");
  for (const char* name : {"Host", "Content-Length", "Content-MD5", "Content-Type", "Content-Disposition", "Range",
                           "If-Match", "Date", "x-amz-meta-a", "x-amz-acl", "X-Custom", "accept", "secure",
                           "proxy", "x-amzn-other"})
    headers.add(name, "v");

  // Run
  const auto signed_headers = s3_signed_header_names(headers);

  // Check
  CHECK(signed_headers == names({"accept", "content-disposition", "content-length", "content-md5", "content-type",
                                 "date", "host", "if-match", "proxy", "range", "secure", "x-amz-acl",
                                 "x-amz-meta-a", "x-amzn-other", "x-custom"}));
  CHECK(s3_is_unsignable_header("user-agent"));
  CHECK(s3_is_unsignable_header("sec-"));
  CHECK_FALSE(s3_is_unsignable_header("host"));
  CHECK_FALSE(s3_is_unsignable_header("x-amz-date"));
}

TEST_CASE("s3_sign_request: object keys with reserved and non-ASCII characters verify") {
  for (const std::string key : {"a b.txt", "\xe4\xb8\xad\xe6\x96\x87/\xf0\x9f\x98\x80.bin", "x+y", "~tilde", "k=v",
                                "100%", "$cost", "dir//file", "dir/", "a/b/c/", "!'()*", "%2F", "..", "?#&"}) {
    CAPTURE(key);
    // Setup
    http::request req = make_request("PUT", {{"Host", "127.0.0.1:9000"}, {"Content-Type", "application/octet-stream"}});
    const std::string path = "/bucket/" + key;
    const auto query = make_query({{"partNumber", "3"}, {"uploadId", "id/with+chars="}});

    // Run
    s3_sign_request(req, path, query, test_creds, "us-east-1", at(aws_time), s3_unsigned_payload);

    // Check: the signature covers the path as S3 re-encodes it; a neighbouring key fails.
    const auto parsed = s3_parse_authorization(*req.headers.find("Authorization"));
    REQUIRE(parsed.has_value());
    CHECK(s3_verify_signature({req.method, path, query, req.headers}, *parsed, "sk"));
    CHECK_FALSE(s3_verify_signature({req.method, path + "x", query, req.headers}, *parsed, "sk"));
    CHECK_FALSE(s3_verify_signature({req.method, "/bucket/" + key.substr(1), query, req.headers}, *parsed, "sk"));
  }
}

TEST_CASE("s3_sign_request: security token, re-signing and anonymous requests") {
  // Setup
  http::request req = make_request("POST", {{"Host", "bucket.s3.us-west-2.amazonaws.com"},
                                            {"x-amz-meta-who", "me"},
                                            {"User-Agent", "asio-oss/test"}});
  const auto query = make_query({{"uploads", ""}});

  // Run: STS credentials.
  s3_sign_request(req, "/key", query, test_sts_creds, "us-west-2", at(1700000000), s3_unsigned_payload);
  const std::string with_token = *req.headers.find("Authorization");

  // Check
  CHECK(*req.headers.find("x-amz-security-token") == "token");
  CHECK(with_token.starts_with("AWS4-HMAC-SHA256 Credential=ak/20231114/us-west-2/s3/aws4_request, "
                               "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-who;"
                               "x-amz-security-token, Signature="));
  CHECK(req.headers.count("Authorization") == 1);
  const auto parsed = s3_parse_authorization(with_token);
  REQUIRE(parsed.has_value());
  CHECK(s3_verify_signature({req.method, "/key", query, req.headers}, *parsed, "sk"));

  // Run: signed again (a retry) with the same time: identical result.
  s3_sign_request(req, "/key", query, test_sts_creds, "us-west-2", at(1700000000), s3_unsigned_payload);
  CHECK(*req.headers.find("Authorization") == with_token);
  CHECK(req.headers.count("x-amz-date") == 1);

  // Run: long-term credentials now: the stale token goes.
  s3_sign_request(req, "/key", query, test_creds, "us-west-2", at(1700000000), s3_unsigned_payload);
  CHECK(req.headers.find("x-amz-security-token") == nullptr);
  CHECK(req.headers.find("Authorization")->find("x-amz-security-token") == std::string::npos);

  // Run: anonymous.
  http::request anon = make_request("GET", {{"Host", "h"}});
  s3_sign_request(anon, "/key", {}, credentials{}, "us-east-1", at(1700000000), s3_unsigned_payload);
  CHECK(anon.headers.size() == 1);
}

TEST_CASE("s3_sign_request refuses caller bugs") {
  http::request no_host = make_request("GET", {});
  CHECK_THROWS_AS(s3_sign_request(no_host, "/", {}, test_creds, "us-east-1", at(0), s3_unsigned_payload),
                  std::invalid_argument);
  http::request req = make_request("GET", {{"Host", "h"}});
  for (const std::string_view bad : {"", "unsigned-payload",
                                     "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                                     "e3b0c44298", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(s3_sign_request(req, "/", {}, test_creds, "us-east-1", at(0), bad), std::invalid_argument);
  }
  CHECK_THROWS_AS(s3_sign_request(req, "/", {}, test_creds, "", at(0), s3_unsigned_payload), std::invalid_argument);
  CHECK(req.headers.find("Authorization") == nullptr);
}

TEST_CASE("s3_parse_authorization reads the SDK layout and its variants") {
  // Setup
  const std::string sig(64, 'a');
  const std::string sdk = "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, "
                          "SignedHeaders=host;range;x-amz-date, Signature=" + sig;

  // Run
  const auto a = s3_parse_authorization(sdk);

  // Check
  REQUIRE(a.has_value());
  CHECK(a->access_key_id == "AKID");
  CHECK(a->date == "20130524");
  CHECK(a->region == "us-east-1");
  CHECK(a->signed_headers == names({"host", "range", "x-amz-date"}));
  CHECK(a->signature == sig);
  CHECK(s3_format_authorization(*a) == sdk);
  // Separators without the space (the AWS docs' example), and any item order.
  CHECK(s3_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,"
                               "SignedHeaders=host;range;x-amz-date,Signature=" + sig) == a);
  CHECK(s3_parse_authorization("AWS4-HMAC-SHA256 Signature=" + sig +
                               ",  SignedHeaders=host;range;x-amz-date, Credential=AKID/20130524/us-east-1/s3/"
                               "aws4_request") == a);
  // host alone is enough for the parser (the verifier wants x-amz-date signed too).
  CHECK(s3_parse_authorization("AWS4-HMAC-SHA256 Credential=A/20240229/r/s3/aws4_request, SignedHeaders=host, "
                               "Signature=" + sig).has_value());
}

TEST_CASE("s3_parse_authorization rejects malformed headers") {
  const std::string sig(64, '0');
  const std::string cred = "Credential=AKID/20130524/us-east-1/s3/aws4_request";
  const std::string sh = "SignedHeaders=host;x-amz-date";
  const std::string good = "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig;
  REQUIRE(s3_parse_authorization(good).has_value());
  for (const std::string& bad : {
           std::string(""),
           std::string("AWS4-HMAC-SHA256"),
           std::string("AWS4-HMAC-SHA256 "),
           "AWS4-HMAC-SHA256  " + cred + ", " + sh + ", Signature=" + sig,          // two spaces
           "aws4-hmac-sha256 " + cred + ", " + sh + ", Signature=" + sig,           // algorithm case
           "AWS4-ECDSA-P256-SHA256 " + cred + ", " + sh + ", Signature=" + sig,     // SigV4a
           "OSS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig,
           std::string("AWS AKID:c2lnbmF0dXJl"),                                    // SigV2
           "AWS4-HMAC-SHA256 " + sh + ", Signature=" + sig,                         // no Credential
           "AWS4-HMAC-SHA256 " + cred + ", Signature=" + sig,                       // no SignedHeaders
           "AWS4-HMAC-SHA256 " + cred + ", " + sh,                                  // no Signature
           good + ", Signature=" + sig,                                             // repeated item
           good + ", Extra=1",                                                      // unknown item
           good + ",",                                                              // trailing comma
           good + " ",                                                              // trailing space
           "AWS4-HMAC-SHA256 credential=AKID/20130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/oss/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aliyun_v4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request/x, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130524//s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=A KID/20130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/2013052/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/2013052a/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20130230/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/20131301/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           // Outside 1970-2199 (years a nanosecond time_point cannot hold, found by fuzzing).
           "AWS4-HMAC-SHA256 Credential=AKID/00130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AKID/99991231/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig,
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, Signature=" + sig,                  // empty list
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, Signature=" + sig,        // no host
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;x-amz-date, Signature=" + sig,   // upper case
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, Signature=" + sig,   // unsorted
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host, Signature=" + sig,         // repeated
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + sig,  // empty name
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date;, Signature=" + sig,
           "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x amz, Signature=" + sig,        // not a token
           "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig.substr(1),            // 63 digits
           "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig + "0",                // 65 digits
           "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + std::string(64, 'A'),     // upper hex
           "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + std::string(64, 'g'),
           "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature",
           "AWS4-HMAC-SHA256 " + cred + "; " + sh + "; Signature=" + sig,                      // wrong separator
       }) {
    CAPTURE(bad);
    CHECK_FALSE(s3_parse_authorization(bad).has_value());
  }
}

TEST_CASE("s3_check_request and s3_verify_signature reject tampering and structural problems") {
  // Setup: a signed upload-part request.
  http::request req = make_request("PUT", {{"Host", "127.0.0.1:4568"},
                                           {"Content-Length", "5"},
                                           {"Content-MD5", "XUFAKrxLKna5cZ2REBfFkg=="},
                                           {"x-amz-meta-a", "1"}});
  const std::string path = "/bucket/dir/key";
  const auto query = make_query({{"partNumber", "1"}, {"uploadId", "u1"}});
  s3_sign_request(req, path, query, test_sts_creds, "us-east-1", at(aws_time),
                  "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  const auto auth = s3_parse_authorization(*req.headers.find("Authorization"));
  REQUIRE(auth.has_value());
  const auto verify = [&](const http::request& r, std::string_view p, const std::vector<query_param>& q) {
    return s3_verify_signature({r.method, p, q, r.headers}, *auth, "sk");
  };
  const auto problem = [&](const http::request& r) {
    return s3_check_request({r.method, path, query, r.headers}, *auth);
  };
  REQUIRE(verify(req, path, query));

  // Run / Check: every signed part matters.
  {
    http::request r = req;
    r.method = "POST";
    CHECK_FALSE(verify(r, path, query));
  }
  CHECK_FALSE(verify(req, "/bucket/dir/Key", query));
  CHECK_FALSE(verify(req, path, make_query({{"partNumber", "2"}, {"uploadId", "u1"}})));
  CHECK_FALSE(verify(req, path, make_query({{"partNumber", "1"}})));
  CHECK_FALSE(verify(req, path, make_query({{"partNumber", "1"}, {"uploadId", "u1"}, {"x", ""}})));
  for (const char* name : {"Host", "Content-Length", "Content-MD5", "x-amz-meta-a", "x-amz-security-token",
                           "x-amz-content-sha256"}) {
    CAPTURE(name);
    http::request r = req;
    r.headers.set(name, "changed");
    CHECK_FALSE(verify(r, path, query));
  }
  {
    // Whitespace folding is part of the canonical form, so padding a value keeps it valid.
    http::request r = req;
    r.headers.set("x-amz-meta-a", "1  ");
    CHECK(verify(r, path, query));
  }
  {
    // An unsigned header that is not x-amz-* may be added (proxies do); an x-amz-* one may not.
    http::request r = req;
    r.headers.add("User-Agent", "proxy");
    r.headers.add("X-Forwarded-For", "10.0.0.1");
    CHECK(verify(r, path, query));
    r.headers.add("X-Amz-Storage-Class", "GLACIER");
    CHECK(problem(r) == s3_request_problem::unsigned_amz_header);
    CHECK_FALSE(verify(r, path, query));
  }
  {
    http::request r = req;
    r.headers.erase("Content-MD5");
    CHECK(problem(r) == s3_request_problem::signed_header_absent);
    CHECK_FALSE(verify(r, path, query));
  }
  {
    http::request r = req;
    r.headers.erase("x-amz-date");
    CHECK(problem(r) == s3_request_problem::missing_date);
    r.headers.add("x-amz-date", "Fri, 24 May 2013 00:00:00 GMT");
    CHECK(problem(r) == s3_request_problem::missing_date);
    r.headers.set("x-amz-date", "00010524T000000Z");
    CHECK(problem(r) == s3_request_problem::missing_date);
    r.headers.set("x-amz-date", "23000524T000000Z");
    CHECK(problem(r) == s3_request_problem::missing_date);
    r.headers.set("x-amz-date", "20130525T000000Z");
    CHECK(problem(r) == s3_request_problem::date_scope_mismatch);
    r.headers.set("x-amz-date", "20130524T000001Z");  // same day, other second: signature differs
    CHECK(problem(r) == s3_request_problem::none);
    CHECK_FALSE(verify(r, path, query));
    r.headers.add("x-amz-date", "20130524T000000Z");  // two dates: ambiguous
    CHECK(problem(r) == s3_request_problem::missing_date);
  }
  {
    http::request r = req;
    r.headers.erase("x-amz-content-sha256");
    CHECK(problem(r) == s3_request_problem::missing_content_sha256);
  }
  {
    // Another region, date or signature in the header itself.
    for (int field = 0; field < 3; ++field) {
      CAPTURE(field);
      s3_authorization other = *auth;
      if (field == 0) other.region = "us-east-2";
      if (field == 1) other.signature[0] = other.signature[0] == '0' ? '1' : '0';
      if (field == 2) other.signed_headers.erase(other.signed_headers.begin());  // drop content-length
      CHECK_FALSE(s3_verify_signature({req.method, path, query, req.headers}, other, "sk"));
    }
  }
  CHECK_FALSE(s3_verify_signature({req.method, path, query, req.headers}, *auth, "sk2"));
  CHECK_FALSE(s3_verify_signature({req.method, path, query, req.headers}, *auth, ""));
}
