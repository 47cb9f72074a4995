// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// The S3 dialect of the client, without sockets: endpoint resolution and addressing, option
// and bucket-name checks, the request builders' headers, targets and Complete body, reply
// judgement (x-amz-* headers, namespaced documents, 200 with <Error>), the part-size rule,
// the checkpoint's dialect field, and check_object_parts ("is the object made of these parts?"),
// whose S3 half is the multipart ETag (its OSS half is tested here too).

#include <oss/checkpoint.hpp>
#include <oss/client_types.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/endpoint.hpp>
#include <oss/detail/ops/object_check.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/sign/sign_s3.hpp>
#include <oss/error.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace oss::detail;
using oss::addressing_style;
using oss::api_dialect;

service_endpoint resolve_s3(std::string_view endpoint, std::string_view region) {
  std::error_code ec;
  std::string problem;
  service_endpoint ep = resolve_endpoint(endpoint, region, false, false, api_dialect::s3, ec, problem);
  REQUIRE_MESSAGE(!ec, problem);
  return ep;
}

const std::string* header(const op_request& op, std::string_view name) {
  for (const auto& [n, v] : op.headers)
    if (http::iequals(n, name)) return &v;
  return nullptr;
}

bool has_query(const op_request& op, std::string_view name) {
  for (const auto& [n, v] : op.query)
    if (n == name) return true;
  return false;
}

http::response reply(int status, std::vector<std::pair<std::string, std::string>> headers,
                     std::string body = {}) {
  http::response r;
  r.status = status;
  for (auto& [n, v] : headers) r.headers.add(n, v);
  r.body = std::move(body);
  return r;
}

std::string s3_error(std::string_view code, bool with_namespace = false) {
  return std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error") +
         (with_namespace ? " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" : "") + "><Code>" +
         std::string(code) + "</Code><Message>m</Message><RequestId>RID</RequestId><HostId>HID</HostId></Error>";
}

}  // namespace

TEST_CASE("S3 endpoint: a region alone gives s3.<region>.amazonaws.com; internal and accelerate are refused") {
  // Setup / Run
  service_endpoint ep = resolve_s3("", "us-west-2");

  // Check
  CHECK(ep.url == "https://s3.us-west-2.amazonaws.com");
  CHECK(ep.host == "s3.us-west-2.amazonaws.com");
  CHECK(ep.region == "us-west-2");
  CHECK(ep.tls);
  CHECK(ep.dialect == api_dialect::s3);
  std::error_code ec;
  std::string problem;
  resolve_endpoint("", "us-east-1", true, false, api_dialect::s3, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  CHECK(problem.find("S3 dialect") != std::string::npos);
  resolve_endpoint("", "us-east-1", false, true, api_dialect::s3, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  resolve_endpoint("", "", false, false, api_dialect::s3, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  // The OSS dialect is unchanged by the overload.
  std::error_code oss_ec;
  service_endpoint oss_ep = resolve_endpoint("", "cn-hangzhou", false, false, oss_ec, problem);
  CHECK(oss_ep.url == "https://oss-cn-hangzhou.aliyuncs.com");
  CHECK(oss_ep.dialect == api_dialect::oss);
}

TEST_CASE("S3 endpoint: explicit endpoints are kept and name their signing region when they can") {
  // Setup / Run / Check
  CHECK(resolve_s3("s3.oss-cn-hangzhou.aliyuncs.com", "").region == "cn-hangzhou");
  CHECK(resolve_s3("s3.oss-cn-hangzhou.aliyuncs.com", "").url == "https://s3.oss-cn-hangzhou.aliyuncs.com");
  CHECK(resolve_s3("https://s3.oss-cn-shanghai-internal.aliyuncs.com", "").region == "cn-shanghai");
  CHECK(resolve_s3("s3.eu-west-1.amazonaws.com", "").region == "eu-west-1");
  CHECK(resolve_s3("s3-us-west-2.amazonaws.com", "").region == "us-west-2");
  CHECK(resolve_s3("s3.dualstack.ap-south-1.amazonaws.com", "").region == "ap-south-1");
  CHECK(resolve_s3("s3.amazonaws.com", "").region.empty());  // global: the caller must say
  CHECK(resolve_s3("s3.amazonaws.com", "us-east-1").region == "us-east-1");
  CHECK(resolve_s3("minio.example.com", "").region.empty());
  service_endpoint local = resolve_s3("http://127.0.0.1:9000", "us-east-1");
  CHECK(local.url == "http://127.0.0.1:9000");
  CHECK_FALSE(local.tls);
  CHECK(local.ip_literal);
  CHECK(local.region == "us-east-1");
}

TEST_CASE("S3 addressing: path style for IP, localhost and (over https) dotted bucket names") {
  // Setup
  const service_endpoint aws = resolve_s3("", "us-east-1");
  const service_endpoint ip = resolve_s3("http://127.0.0.1:9000", "us-east-1");
  const service_endpoint local = resolve_s3("http://localhost:9000", "us-east-1");
  const service_endpoint plain = resolve_s3("http://minio.lan:9000", "us-east-1");
  std::error_code ec;
  std::string problem;
  const service_endpoint oss_local = resolve_endpoint("http://localhost:9000", "cn-local", false, false, ec, problem);
  const auto vh = addressing_style::virtual_hosted;

  // Run / Check
  CHECK(effective_style(vh, aws, "bucket") == addressing_style::virtual_hosted);
  CHECK(host_header(vh, aws, "bucket") == "bucket.s3.us-east-1.amazonaws.com");
  CHECK(effective_style(vh, aws, "my.bucket") == addressing_style::path_style);
  CHECK(host_header(vh, aws, "my.bucket") == "s3.us-east-1.amazonaws.com");
  CHECK(effective_style(vh, ip, "bucket") == addressing_style::path_style);
  CHECK(host_header(vh, ip, "bucket") == "127.0.0.1:9000");
  CHECK(effective_style(vh, local, "bucket") == addressing_style::path_style);
  CHECK(host_header(vh, local, "bucket") == "localhost:9000");
  // Over plain http the certificate question does not arise.
  CHECK(effective_style(vh, plain, "my.bucket") == addressing_style::virtual_hosted);
  CHECK(host_header(vh, plain, "my.bucket") == "my.bucket.minio.lan:9000");
  // OSS keeps virtual-hosted for localhost, as before.
  CHECK(effective_style(vh, oss_local, "bucket") == addressing_style::virtual_hosted);
  // An explicit style is never overridden.
  CHECK(effective_style(addressing_style::cname, aws, "my.bucket") == addressing_style::cname);

  CHECK(request_path(addressing_style::path_style, "my.bucket", "a b/c") == "/my.bucket/a b/c");
  CHECK(request_path(addressing_style::virtual_hosted, "bucket", "a b/c") == "/a b/c");
  CHECK(request_path(addressing_style::path_style, "bucket", "") == "/bucket/");
}

TEST_CASE("S3 bucket names: dots allowed with S3's rules; OSS rules unchanged") {
  // Setup / Run / Check
  for (std::string_view good : {"my.bucket", "a.b.c", "abc", "a-b.c-d", "1.2.3", "log.example.com"}) {
    CHECK_MESSAGE(is_valid_s3_bucket_name(good), good);
    CHECK(is_valid_bucket_name(good, api_dialect::s3));
  }
  for (std::string_view bad : {"ab", "a..b", "a.-b", "a-.b", ".ab", "ab.", "-ab", "ab-", "Ab.c",
                               "a_b", "192.168.1.10", "xn--abc", "sthree-abc", "abc-s3alias",
                               "abc--ol-s3"}) {
    CHECK_MESSAGE(!is_valid_s3_bucket_name(bad), bad);
  }
  CHECK_FALSE(is_valid_s3_bucket_name(std::string(64, 'a')));
  CHECK(is_valid_s3_bucket_name(std::string(63, 'a')));
  CHECK_FALSE(is_valid_bucket_name("my.bucket", api_dialect::oss));
  CHECK(is_valid_bucket_name("my-bucket", api_dialect::oss));
}

TEST_CASE("S3 client options: region required to sign, dotted buckets, signature option ignored") {
  // Setup
  oss::client_options o;
  o.dialect = api_dialect::s3;
  o.endpoint = "http://127.0.0.1:9000";
  o.bucket = "my.bucket";
  o.creds = {"AK", "SK", ""};
  std::error_code ec;
  std::string problem;

  // Run / Check: signed without a region.
  check_client_options(o, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  CHECK(problem.find("region") != std::string::npos);
  CHECK(problem.find("SK") == std::string::npos);

  // Anonymous requests need no scope.
  oss::client_options anon = o;
  anon.creds = {};
  check_client_options(anon, ec, problem);
  CHECK_FALSE(ec);

  o.region = "us-east-1";
  o.signature = oss::signature_version::v1;  // does not apply to S3
  service_endpoint ep = check_client_options(o, ec, problem);
  CHECK_FALSE(ec);
  CHECK(ep.region == "us-east-1");

  o.bucket = "my..bucket";
  check_client_options(o, ec, problem);
  CHECK(ec == oss::client_errc::invalid_bucket_name);
  CHECK(problem.find("S3 rules") != std::string::npos);

  oss::client_options oss_opts = o;
  oss_opts.dialect = api_dialect::oss;
  oss_opts.bucket = "my.bucket";
  check_client_options(oss_opts, ec, problem);
  CHECK(ec == oss::client_errc::invalid_bucket_name);
}

TEST_CASE("S3 builders: x-amz-meta-*, the signer's x-amz-* headers refused, Content-MD5") {
  // Setup
  oss::object_options opts;
  opts.meta = {{"Kind", "video"}};
  opts.headers = {{"x-amz-storage-class", "STANDARD_IA"}, {"Cache-Control", "no-cache"}};
  const std::string body = "hello";
  op_request op;
  std::string problem;

  // Run
  REQUIRE_FALSE(make_put_object("a.mp4", asio::buffer(body), opts, oss::body_digests{}, api_dialect::s3, op, problem));

  // Check
  CHECK(header(op, "x-amz-meta-kind") != nullptr);
  CHECK(*header(op, "x-amz-meta-kind") == "video");
  CHECK(header(op, "x-oss-meta-kind") == nullptr);
  CHECK(*header(op, "x-amz-storage-class") == "STANDARD_IA");
  CHECK(*header(op, "Content-Type") == "video/mp4");
  CHECK(header(op, "Content-MD5") == nullptr);  // the client adds it per s3_content_md5
  REQUIRE(op.sent_crc64);

  // A metadata header given with the S3 prefix obeys the metadata rules.
  oss::object_options dup;
  dup.meta = {{"kind", "a"}};
  dup.headers = {{"X-Amz-Meta-Kind", "b"}};
  CHECK(make_put_object("k", asio::buffer(body), dup, oss::body_digests{}, api_dialect::s3, op, problem) ==
        oss::client_errc::invalid_metadata);

  for (const char* reserved : {"x-amz-date", "X-Amz-Content-Sha256", "x-amz-security-token", "Authorization",
                               "Content-MD5", "Host"}) {
    oss::object_options bad;
    bad.headers = {{reserved, "v"}};
    CHECK_MESSAGE(make_initiate("k", bad, api_dialect::s3, op, problem) == oss::client_errc::invalid_header_value,
                  reserved);
  }
  // The OSS signer's headers mean nothing to S3; the OSS dialect still refuses them.
  oss::object_options oss_date;
  oss_date.headers = {{"x-oss-date", "v"}};
  CHECK_FALSE(make_initiate("k", oss_date, api_dialect::s3, op, problem));
  CHECK(make_initiate("k", oss_date, api_dialect::oss, op, problem) == oss::client_errc::invalid_header_value);

  // Given digests travel as they are: Content-MD5 and the payload SHA-256.
  oss::body_digests given;
  given.md5 = md5(body);
  given.sha256 = sha256(body);
  REQUIRE_FALSE(make_upload_part("k", "UPLOAD", 3, asio::buffer(body), false, given, op, problem));
  CHECK(*header(op, "Content-MD5") == content_md5_of(asio::buffer(body)));
  REQUIRE(op.payload_sha256);
  CHECK(*op.payload_sha256 == sha256(body));
}

TEST_CASE("S3 payload hash: UNSIGNED-PAYLOAD by default, else the body's SHA-256") {
  // Setup
  const std::string body = "Welcome to Amazon S3.";
  op_request op;
  std::string problem;
  REQUIRE_FALSE(make_upload_part("k", "U", 1, asio::buffer(body), false, op, problem));
  op_request head;
  REQUIRE_FALSE(make_head_object("k", head, problem));

  // Run / Check
  CHECK(s3_payload_hash(op, false) == "UNSIGNED-PAYLOAD");
  CHECK(s3_payload_hash(op, true) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  CHECK(s3_payload_hash(head, true) == s3_empty_payload_sha256);
  // A caller-computed digest is trusted (a wrong one is the server's to refuse).
  op.payload_sha256 = sha256("other");
  CHECK(s3_payload_hash(op, true) == hex_lower(op.payload_sha256->data(), 32));
}

TEST_CASE("S3 Complete body carries the S3 namespace and parses back; ListParts has no encoding-type") {
  // Setup
  std::vector<oss::completed_part> parts{{2, "\"bbb\""}, {1, "\"aaa\""}};
  op_request op;
  std::string problem;

  // Run
  REQUIRE_FALSE(make_complete("k", "U", parts, api_dialect::s3, op, problem));

  // Check
  CHECK(op.owned_body.find("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") !=
        std::string::npos);
  std::vector<completed_part> back;
  std::error_code ec;
  REQUIRE(parse_complete_body(op.owned_body, back, ec));
  REQUIRE(back.size() == 2);
  CHECK(back[0].number == 1);
  CHECK(back[1].etag == "\"bbb\"");
  CHECK(*header(op, "Content-MD5") == content_md5_of(asio::buffer(op.owned_body)));
  op_request oss_op;
  REQUIRE_FALSE(make_complete("k", "U", parts, api_dialect::oss, oss_op, problem));
  CHECK(oss_op.owned_body.find("xmlns") == std::string::npos);

  op_request lp;
  REQUIRE_FALSE(make_list_parts("k", "U", oss::list_parts_options{}, api_dialect::s3, lp, problem));
  CHECK_FALSE(has_query(lp, "encoding-type"));
  REQUIRE_FALSE(make_list_parts("k", "U", oss::list_parts_options{}, api_dialect::oss, lp, problem));
  CHECK(has_query(lp, "encoding-type"));
}

TEST_CASE("S3 replies: namespaced documents parse like OSS ones") {
  // Setup
  const std::string ns = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
  const std::string initiate = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult" + ns +
                               "><Bucket>my.bucket</Bucket><Key>a/b.bin</Key><UploadId>VXBsb2FkIElE</UploadId>"
                               "</InitiateMultipartUploadResult>";
  const std::string complete = "<CompleteMultipartUploadResult" + ns +
                               "><Location>http://h/my.bucket/k</Location><Bucket>my.bucket</Bucket><Key>k</Key>"
                               "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
  const std::string parts = "<ListPartsResult" + ns +
                            "><Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId><PartNumberMarker>0"
                            "</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts>"
                            "<IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>"
                            "2026-11-26T05:00:00.000Z</LastModified><ETag>\"aa\"</ETag><Size>5242880</Size></Part>"
                            "<Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag><Size>7</Size></Part></ListPartsResult>";
  std::error_code ec;

  // Run / Check
  initiate_result ir;
  REQUIRE(parse_initiate_result(initiate, ir, ec));
  CHECK(ir.upload_id == "VXBsb2FkIElE");
  CHECK(ir.bucket == "my.bucket");
  complete_result cr;
  REQUIRE(parse_complete_result(complete, cr, ec));
  CHECK(cr.etag == "\"3858f62230ac3c915f300c664312c11f-9\"");
  CHECK(oss::detail::multipart_etag_part_count(cr.etag) == 9);
  list_parts_result lr;
  REQUIRE(parse_list_parts_result(parts, lr, ec));
  REQUIRE(lr.parts.size() == 2);
  CHECK(lr.parts[0].size == 5242880);
  CHECK_FALSE(lr.parts[0].crc64);  // S3 keeps none
  CHECK(lr.is_truncated);
  error_body eb;
  CHECK(parse_error_body(s3_error("NoSuchUpload", true), eb));
  CHECK(eb.code == "NoSuchUpload");
  CHECK(parse_error_body(s3_error("NoSuchUpload", false), eb));
  CHECK(eb.host_id == "HID");
}

TEST_CASE("S3 replies: 200 with <Error> on Complete fails, retryable for InternalError, SlowDown, RequestTimeout") {
  // Setup
  std::vector<oss::completed_part> parts{{1, "\"aa\""}};
  op_request op;
  std::string problem;
  REQUIRE_FALSE(make_complete("k", "U", parts, api_dialect::s3, op, problem));

  struct expectation {
    const char* code;
    oss::retry_class cls;
  };
  for (const expectation& e : {expectation{"InternalError", oss::retry_class::server},
                               expectation{"SlowDown", oss::retry_class::throttled},
                               expectation{"RequestTimeout", oss::retry_class::transient},
                               expectation{"AccessDenied", oss::retry_class::fatal},
                               expectation{"InvalidPart", oss::retry_class::fatal}}) {
    for (bool with_namespace : {false, true}) {
      // Run
      oss::diagnostics diag;
      error_body body;
      std::error_code ec = check_reply(op, reply(200, {{"x-amz-request-id", "REQ1"}, {"x-amz-id-2", "ID2"}},
                                                 s3_error(e.code, with_namespace)), diag, body);

      // Check
      CHECK_MESSAGE(ec, e.code);
      CHECK(diag.code == e.code);
      CHECK(diag.request_id == "RID");  // the body's wins over the header's
      CHECK(diag.host_id == "HID");
      CHECK(oss::classify(ec, 200) == e.cls);
    }
  }
  // A 200 Complete result is a success, with the header ids kept.
  oss::diagnostics diag;
  error_body body;
  CHECK_FALSE(check_reply(op, reply(200, {{"x-amz-request-id", "REQ1"}, {"x-amz-id-2", "ID2"}},
                                    "<CompleteMultipartUploadResult xmlns=\"x\"><ETag>\"e-1\"</ETag>"
                                    "</CompleteMultipartUploadResult>"), diag, body));
  CHECK(diag.request_id == "REQ1");
  CHECK(diag.host_id == "ID2");
}

TEST_CASE("S3 replies: ids, ETags, HEAD without x-oss-err, CRC-64 only when sent, metadata") {
  // Setup
  const std::string data = "part bytes";
  op_request part;
  std::string problem;
  REQUIRE_FALSE(make_upload_part("k", "U", 1, asio::buffer(data), true, part, problem));
  op_request head;
  REQUIRE_FALSE(make_head_object("k", head, problem));
  oss::diagnostics diag;
  error_body body;
  const std::string md5_hex = [&] {
    auto d = md5(data);
    return "\"" + hex_lower(d.data(), d.size()) + "\"";
  }();

  // Run / Check: S3 part reply, no CRC-64 header: nothing to compare, success.
  CHECK_FALSE(check_reply(part, reply(200, {{"ETag", md5_hex}, {"x-amz-request-id", "R"}}), diag, body));
  CHECK(reply_request_id(reply(200, {{"x-amz-request-id", "R2"}})) == "R2");
  CHECK(reply_request_id(reply(200, {{"x-oss-request-id", "O"}, {"x-amz-request-id", "A"}})) == "O");
  // A store that does send one (OSS's S3 endpoint) is still checked.
  CHECK(check_reply(part, reply(200, {{"ETag", md5_hex}, {"x-oss-hash-crc64ecma", "1"}}), diag, body) ==
        oss::client_errc::crc64_mismatch);
  CHECK(check_reply(part, reply(200, {{"x-amz-request-id", "R"}}), diag, body) == oss::client_errc::missing_etag);
  // HEAD errors carry no body and, in S3, no x-oss-err.
  CHECK(check_reply(head, reply(404, {{"x-amz-request-id", "R"}}), diag, body) == oss::server_errc::no_such_key);
  std::error_code forbidden = check_reply(head, reply(403, {{"x-amz-request-id", "R"}, {"x-amz-id-2", "H"}}), diag, body);
  CHECK(forbidden.category() == oss::http_status_category());
  CHECK(forbidden.value() == 403);
  CHECK(diag.host_id == "H");

  oss::object_meta meta;
  REQUIRE_FALSE(to_object_meta(reply(200, {{"Content-Length", "12"}, {"ETag", "\"abc-3\""},
                                           {"x-amz-meta-Kind", "video"}, {"x-amz-storage-class", "GLACIER"}}),
                               meta));
  CHECK(meta.size == 12);
  CHECK(meta.part_count() == 3);
  CHECK_FALSE(meta.crc64);
  REQUIRE(meta.meta.size() == 1);
  CHECK(meta.meta[0].first == "kind");
  CHECK(meta.storage_class == "GLACIER");
}

TEST_CASE("S3 part size: at least 5 MiB (the last part aside), checked before any request") {
  // Setup / Run / Check
  using namespace oss::detail::multipart;
  CHECK(part_size_problem(5ull << 20, api_dialect::s3).empty());
  const std::string small = part_size_problem((5ull << 20) - 1, api_dialect::s3);
  CHECK(small.find("5 MiB") != std::string::npos);
  CHECK(part_size_problem(1 << 20, api_dialect::oss).empty());
  CHECK_FALSE(part_size_problem(100 * 1024 - 1, api_dialect::oss).empty());
  CHECK_FALSE(part_size_problem((5ull << 30) + 1, api_dialect::s3).empty());
  CHECK(min_part_size_of(api_dialect::s3) == 5ull << 20);
  CHECK(dialect_name(api_dialect::s3) == "s3");
  CHECK(dialect_name(api_dialect::oss) == "oss");

  // The digests the file threads hand over can include the SHA-256 the S3 signer uses.
  const std::string data(300 * 1024, 'x');
  oss::body_digests d = digest_part(reinterpret_cast<const std::byte*>(data.data()), data.size(), true, true);
  REQUIRE(d.sha256);
  CHECK(*d.sha256 == sha256(data));
  CHECK(*d.md5 == md5(data));
  CHECK_FALSE(digest_part(reinterpret_cast<const std::byte*>(data.data()), data.size(), false).sha256);

  // What the file threads compute per dialect and options.
  oss::client_options s3;
  s3.dialect = api_dialect::s3;
  part_digests_wanted w = digests_wanted(s3, false);
  CHECK(w.md5);
  CHECK_FALSE(w.sha256);
  s3.s3_sign_payload = true;
  s3.s3_content_md5 = false;
  w = digests_wanted(s3, false);
  CHECK_FALSE(w.md5);
  CHECK(w.sha256);
  CHECK(*digest_part(reinterpret_cast<const std::byte*>(data.data()), data.size(), w).sha256 == sha256(data));
  const oss::client_options plain;
  w = digests_wanted(plain, true);
  CHECK(w.md5);
  CHECK_FALSE(w.sha256);
  CHECK_FALSE(digests_wanted(plain, false).md5);
}

TEST_CASE("S3 multipart ETag: derived from MD5 part ETags; proves an object only when it matches") {
  // Setup
  using namespace oss::detail::multipart;
  const std::string a(5 << 20, 'a'), b = "tail";
  const auto ma = md5(a), mb = md5(b);
  const std::string ea = "\"" + hex_lower(ma.data(), ma.size()) + "\"";
  const std::string eb = hex_upper(mb.data(), mb.size());  // unquoted, upper case: still an MD5
  std::string both(reinterpret_cast<const char*>(ma.data()), ma.size());
  both.append(reinterpret_cast<const char*>(mb.data()), mb.size());
  const auto mboth = md5(both);
  const std::string expected = hex_lower(mboth.data(), mboth.size()) + "-2";

  // Run
  const std::vector<std::string_view> etags{ea, eb};
  const std::optional<std::string> got = s3_multipart_etag(etags);

  // Check
  REQUIRE(got);
  CHECK(*got == expected);
  const std::vector<std::string_view> kms{ea, "\"not-an-md5\""};
  CHECK_FALSE(s3_multipart_etag(kms));
  CHECK(etag_equal("\"ABC-2\"", "abc-2"));
  CHECK_FALSE(etag_equal("abc-2", "abd-2"));
  // Which objects such an ETag proves: check_object_parts, below.
}

namespace {

// Two parts and the object completing them makes, as HEAD shows it in `dialect`.
struct two_parts {
  std::string a = std::string(300 * 1024, 'a'), b = "tail";
  std::vector<oss::completed_part> parts;
  oss::object_meta meta;

  explicit two_parts(bool s3) {
    const auto ma = md5(a), mb = md5(b);
    const std::string ea = "\"" + hex_upper(ma.data(), ma.size()) + "\"";
    const std::string eb = "\"" + hex_upper(mb.data(), mb.size()) + "\"";
    parts = {{1, ea, a.size(), crc64(0, a.data(), a.size())}, {2, eb, b.size(), crc64(0, b.data(), b.size())}};
    const std::vector<std::string_view> etags{ea, eb};
    meta.size = a.size() + b.size();
    meta.etag = "\"" + *s3_multipart_etag(etags) + "\"";
    if (!s3) {
      const std::string whole = a + b;
      meta.crc64 = crc64(0, whole.data(), whole.size());
      meta.etag = "\"0123456789ABCDEF0123456789ABCDEF-2\"";  // OSS: the hex part is undocumented
    }
  }
};

}  // namespace

TEST_CASE("object check: the server CRC-64 decides in OSS; without one the answer is unknown, never a match") {
  // Setup
  const two_parts good(false);

  // Run
  const object_verdict same = check_object_parts(good.meta, good.parts, api_dialect::oss);
  std::vector<oss::completed_part> reversed{good.parts[1], good.parts[0]};
  const object_verdict any_order = check_object_parts(good.meta, reversed, api_dialect::oss);
  oss::object_meta other_crc = good.meta;
  *other_crc.crc64 ^= 1;
  const object_verdict forged = check_object_parts(other_crc, good.parts, api_dialect::oss);
  oss::object_meta bigger = good.meta;
  bigger.size += 1;
  const object_verdict size = check_object_parts(bigger, good.parts, api_dialect::oss);
  oss::object_meta three = good.meta;
  three.etag = "\"0123456789ABCDEF0123456789ABCDEF-3\"";
  const object_verdict count = check_object_parts(three, good.parts, api_dialect::oss);
  oss::object_meta single = good.meta;
  single.etag = "\"0123456789ABCDEF0123456789ABCDEF\"";
  const object_verdict not_multipart = check_object_parts(single, good.parts, api_dialect::oss);
  oss::object_meta no_crc = good.meta;
  no_crc.crc64.reset();
  const object_verdict stripped = check_object_parts(no_crc, good.parts, api_dialect::oss);
  std::vector<oss::completed_part> unknown_crc = good.parts;
  unknown_crc[1].crc64.reset();
  const object_verdict part_crc = check_object_parts(good.meta, unknown_crc, api_dialect::oss);
  std::vector<oss::completed_part> unknown_size = good.parts;
  unknown_size[0].size.reset();
  const object_verdict part_size = check_object_parts(good.meta, unknown_size, api_dialect::oss);
  const object_verdict none = check_object_parts(good.meta, {}, api_dialect::oss);
  std::vector<oss::completed_part> repeated{good.parts[0], good.parts[0]};
  const object_verdict twice = check_object_parts(good.meta, repeated, api_dialect::oss);

  // Check
  CHECK(same.match == object_match::matches);
  CHECK(same.evidence == object_evidence::crc64);
  CHECK(same.reason.empty());
  CHECK(any_order.match == object_match::matches);
  CHECK(forged.match == object_match::differs);
  CHECK(forged.reason.find("CRC-64") != std::string::npos);
  CHECK(size.match == object_match::differs);
  CHECK(size.reason == "the object holds 307205 bytes, the parts 307204");
  CHECK(count.match == object_match::differs);
  CHECK(count.reason == "the object was made of 3 parts, not 2");
  CHECK(not_multipart.match == object_match::differs);
  CHECK(stripped.match == object_match::unknown);
  CHECK(stripped.reason.find("no CRC-64") != std::string::npos);
  CHECK(part_crc.match == object_match::unknown);
  CHECK(part_size.match == object_match::unknown);
  CHECK(none.match == object_match::unknown);
  CHECK(twice.match == object_match::unknown);
  for (const auto* v : {&forged, &size, &count, &not_multipart, &stripped, &part_crc, &part_size, &none, &twice})
    CHECK(v->evidence == object_evidence::none);
}

TEST_CASE("object check: S3 without a CRC-64 uses the multipart ETag when the part ETags are MD5s") {
  // Setup
  const two_parts good(true);

  // Run
  const object_verdict same = check_object_parts(good.meta, good.parts, api_dialect::s3);
  std::vector<oss::completed_part> no_sizes = good.parts;
  for (auto& p : no_sizes) p.size.reset(), p.crc64.reset();
  const object_verdict etag_alone = check_object_parts(good.meta, no_sizes, api_dialect::s3);
  oss::object_meta forged = good.meta;
  forged.etag = "\"00000000000000000000000000000000-2\"";
  const object_verdict other = check_object_parts(forged, good.parts, api_dialect::s3);
  std::vector<oss::completed_part> kms = good.parts;
  kms[1].etag = "\"kms-etag\"";
  const object_verdict encrypted = check_object_parts(good.meta, kms, api_dialect::s3);
  // The same object seen by the OSS dialect: no CRC, and OSS's ETag rule is not S3's.
  const object_verdict as_oss = check_object_parts(good.meta, good.parts, api_dialect::oss);
  // An S3-compatible store that does send a CRC-64 (OSS's S3 endpoint): the CRC decides.
  oss::object_meta with_crc = forged;
  const std::string whole = good.a + good.b;
  with_crc.crc64 = crc64(0, whole.data(), whole.size());
  const object_verdict crc_wins = check_object_parts(with_crc, good.parts, api_dialect::s3);

  // Check
  CHECK(same.match == object_match::matches);
  CHECK(same.evidence == object_evidence::multipart_etag);
  CHECK(etag_alone.match == object_match::matches);
  CHECK(other.match == object_match::differs);
  CHECK(other.reason.find("multipart ETag") != std::string::npos);
  CHECK(encrypted.match == object_match::unknown);
  CHECK(as_oss.match == object_match::unknown);
  CHECK(crc_wins.match == object_match::matches);
  CHECK(crc_wins.evidence == object_evidence::crc64);
}

TEST_CASE("checkpoint: the dialect is recorded; older files are OSS; other values are corrupt") {
  // Setup
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:9000";
  cp.bucket = "my.bucket";
  cp.dialect = "s3";
  cp.name = "k";
  cp.part_size = 5 << 20;
  cp.upload_id = "U";
  std::error_code ec;

  // Run
  const std::string json = oss::checkpoint_to_json(cp);
  oss::checkpoint back = oss::checkpoint_from_json(json, ec);

  // Check
  REQUIRE_FALSE(ec);
  CHECK(json.find("\"dialect\":\"s3\"") != std::string::npos);
  CHECK(back.dialect == "s3");
  CHECK(oss::checkpoint_to_json(back) == json);

  std::string old = json;
  old.erase(old.find("\"dialect\":\"s3\","), std::string_view("\"dialect\":\"s3\",").size());
  oss::checkpoint legacy = oss::checkpoint_from_json(old, ec);
  REQUIRE_FALSE(ec);
  CHECK(legacy.dialect == "oss");

  std::string bad = json;
  bad.replace(bad.find("\"s3\""), 4, "\"gcs\"");
  std::string problem;
  oss::detail::checkpoint_from_json(bad, ec, problem);
  CHECK(ec == oss::client_errc::checkpoint_corrupt);
  CHECK(problem.find("dialect") != std::string::npos);
  CHECK(problem.find("gcs") == std::string::npos);  // never quotes the file
}

TEST_CASE("checkpoint: an upload id no store makes is refused on load, saying what to do") {
  // Setup
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:9000";
  cp.bucket = "b-ucket";
  cp.name = "k";
  cp.part_size = 1 << 20;
  cp.upload_id = "0004B9894A22E5B1888A1E29F8236E2D";
  const std::string good = oss::checkpoint_to_json(cp);
  auto with_id = [&](const std::string& id) {
    std::string json = good;
    // JSON escapes keep the file valid JSON: the loader must judge the decoded id.
    json.replace(json.find(cp.upload_id), cp.upload_id.size(), id);
    return json;
  };

  // Run
  std::error_code ok_ec;
  oss::checkpoint_from_json(good, ok_ec);
  std::vector<std::pair<std::error_code, std::string>> refused;
  for (const std::string& id : {std::string("abc\\r\\nX-Injected: 1"), std::string(100 * 1024, 'A'),
                                std::string("two words"), std::string("caf\\u00e9")}) {
    std::error_code ec;
    std::string problem;
    oss::detail::checkpoint_from_json(with_id(id), ec, problem);
    refused.emplace_back(ec, problem);
  }

  // Check
  CHECK_FALSE(ok_ec);
  for (const auto& [ec, problem] : refused) {
    CHECK(ec == oss::client_errc::checkpoint_corrupt);
    CHECK(problem.find("neither resume nor abort") != std::string::npos);
    CHECK(problem.find("delete it") != std::string::npos);
    CHECK(problem.find("Injected") == std::string::npos);  // never quotes the file
    CHECK(problem.size() <= 160);                          // the fuzz target's plain_problem rule
  }
}
