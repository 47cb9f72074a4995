// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// The XML layer and the OSS documents: the writer's escaping, every construct and every
// malformed case of the reader, its limits, the real bodies of oss-protocol.md sections 3 and 5,
// build -> parse round trips, encoding-type=url, and the error documents (body and x-oss-err).

#include <oss/detail/encoding.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/xml.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace oss::detail;

xml_element parse_ok(std::string_view doc) {
  std::error_code ec = oss::client_errc::missing_etag;  // must be cleared
  std::optional<xml_element> root = parse_xml(doc, ec);
  INFO(doc);
  REQUIRE(root.has_value());
  CHECK(!ec);
  return std::move(*root);
}

bool rejected(std::string_view doc) {
  std::error_code ec;
  const std::optional<xml_element> root = parse_xml(doc, ec);
  return !root && ec == oss::client_errc::malformed_xml;
}

std::string text_of(std::string_view doc) { return parse_ok(doc).text; }

std::string base64(std::string_view s) { return base64_encode(s.data(), s.size()); }

// oss-protocol.md section 5.1, verbatim.
constexpr std::string_view no_such_upload_body =
    R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchUpload</Code>
  <Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message>
  <RequestId>640ED770048FEF3231A98BA9</RequestId>
  <HostId>test-ap-ds.oss-ap-southeast-1.aliyuncs.com</HostId>
  <UploadId>3FCE26176063453E8D80917962C936FE</UploadId>
  <EC>0042-00000203</EC>
</Error>
)";

// The shape OSS returns for a bad signature: the echoes would hand an attacker the key id and
// the signed string, so none of it may survive parsing.
constexpr std::string_view signature_error_body =
    R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>
  <RequestId>65A0B2C3D4E5F60718293A4B</RequestId>
  <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>
  <OSSAccessKeyId>LTAI5tSecretKeyIdXYZ</OSSAccessKeyId>
  <SignatureProvided>c2VjcmV0LXNpZ25hdHVyZQ==</SignatureProvided>
  <StringToSign>PUT&#10;&#10;application/octet-stream&#10;Wed, 28 Dec 2022 10:27:41 GMT&#10;/examplebucket/object</StringToSign>
  <StringToSignBytes>50 55 54 0A</StringToSignBytes>
  <EC>0002-00000040</EC>
  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0002-00000040</RecommendDoc>
</Error>
)";

}  // namespace

// --- xml_writer ---------------------------------------------------------------------------------

TEST_CASE("xml: writer emits the declaration, nesting and escaped text") {
  // Setup
  xml_writer w;

  // Run
  w.open("Root");
  w.element_text("A", "x & y < z > w \"q\" 'a'");
  w.open("B");
  w.text("t");
  CHECK(w.depth() == 2);
  w.close();
  w.close();

  // Check
  CHECK(w.depth() == 0);
  CHECK(w.str() ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Root><A>x &amp; y &lt; z &gt; w "
        "&quot;q&quot; &apos;a&apos;</A><B>t</B></Root>");
  CHECK(xml_writer(false).str().empty());
  const std::string doc = w.release();
  CHECK(doc.size() > 40);
  CHECK(w.str().empty());
}

TEST_CASE("xml: writer turns control characters into references the reader restores") {
  // Setup
  std::string all;
  for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
  all += "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80";  // 2 CJK characters and an emoji

  // Run
  xml_writer w;
  w.element_text("K", all);
  const std::string doc = w.release();

  // Check
  CHECK(doc.find('\r') == std::string::npos);
  CHECK(doc.find('\x01') == std::string::npos);
  CHECK(doc.find("&#xD;") != std::string::npos);
  CHECK(parse_ok(doc).text == all);
}

// --- parse_xml: well-formed input -------------------------------------------------------------

TEST_CASE("xml: elements, text and the lookup helpers") {
  // Setup / Run
  const xml_element root = parse_ok(
      "<R><A>1</A><B>two</B><A>3</A><Empty/><Empty2></Empty2><Nested><X>x</X></Nested></R>");

  // Check
  CHECK(root.name == "R");
  CHECK(root.text.empty());
  REQUIRE(root.children.size() == 6);
  CHECK(root.child("A")->text == "1");
  CHECK(root.child("Missing") == nullptr);
  const auto as = root.children_named("A");
  REQUIRE(as.size() == 2);
  CHECK(as[0]->text == "1");
  CHECK(as[1]->text == "3");
  CHECK(root.children_named("Nope").empty());
  CHECK(root.child_text("B") == "two");
  CHECK(root.child_text("Empty") == "");
  CHECK(root.child_text("Empty2", "fallback") == "");
  CHECK(root.child_text("Missing", "fallback") == "fallback");
  CHECK(root.child("Nested")->child_text("X") == "x");
}

TEST_CASE("xml: the five predefined entities") {
  CHECK(text_of("<a>&amp;&lt;&gt;&quot;&apos;</a>") == "&<>\"'");
  CHECK(text_of("<a>AT&amp;T</a>") == "AT&T");
  CHECK(text_of("<a>&amp;amp;</a>") == "&amp;");
}

TEST_CASE("xml: decimal and hex character references become UTF-8") {
  CHECK(text_of("<a>&#65;&#x42;&#x63;</a>") == "ABc");
  CHECK(text_of("<a>&#34;ETAG&#34;</a>") == "\"ETAG\"");
  CHECK(text_of("<a>&#xE9;</a>") == "\xC3\xA9");
  CHECK(text_of("<a>&#x4F60;&#22909;</a>") == "\xE4\xBD\xA0\xE5\xA5\xBD");
  CHECK(text_of("<a>&#x1F600;</a>") == "\xF0\x9F\x98\x80");
  CHECK(text_of("<a>&#x10FFFF;</a>") == "\xF4\x8F\xBF\xBF");
  CHECK(text_of("<a>&#0000065;</a>") == "A");
  CHECK(text_of("<a>&#xd;&#10;</a>") == "\r\n");
}

TEST_CASE("xml: invalid references are rejected") {
  CHECK(rejected("<a>&#0;</a>"));
  CHECK(rejected("<a>&#x0;</a>"));
  CHECK(rejected("<a>&#xD800;</a>"));
  CHECK(rejected("<a>&#xDFFF;</a>"));
  CHECK(rejected("<a>&#xFFFE;</a>"));
  CHECK(rejected("<a>&#x110000;</a>"));
  CHECK(rejected("<a>&#99999999999999999999999;</a>"));
  CHECK(rejected("<a>&#;</a>"));
  CHECK(rejected("<a>&#x;</a>"));
  CHECK(rejected("<a>&#x1G;</a>"));
  CHECK(rejected("<a>&#12a;</a>"));
  CHECK(rejected("<a>&#X41;</a>"));
  CHECK(rejected("<a>&nbsp;</a>"));
  CHECK(rejected("<a>&AMP;</a>"));
  CHECK(rejected("<a>AT&T</a>"));
  CHECK(rejected("<a>&amp</a>"));
  CHECK(rejected("<a>& amp;</a>"));
}

TEST_CASE("xml: CDATA is literal") {
  CHECK(text_of("<a><![CDATA[<b>&amp;</b> ]] ]>]]></a>") == "<b>&amp;</b> ]] ]>");
  CHECK(text_of("<a>x<![CDATA[]]>y</a>") == "xy");
  CHECK(text_of("<a>1<![CDATA[2]]>3<![CDATA[4]]></a>") == "1234");
  // CDATA whitespace is data, even between children.
  const xml_element e = parse_ok("<a><b/><![CDATA[ ]]><c/></a>");
  CHECK(e.text == " ");
  CHECK(rejected("<a><![CDATA[never closed</a>"));
  CHECK(rejected("<a><![CDATA[x]></a>"));
  CHECK(rejected("<![CDATA[x]]><a/>"));
}

TEST_CASE("xml: comments anywhere outside tags") {
  const xml_element e = parse_ok(
      "<!-- before --><?xml-stylesheet href='a'?><a><!-- in <b> --><b>1<!-- mid -->2</b>"
      "<!----></a><!-- after -->\n");
  CHECK(e.child_text("b") == "12");
  CHECK(e.children.size() == 1);
  CHECK(rejected("<a><!-- never closed </a>"));
  CHECK(rejected("<a/><!-- never closed"));
  CHECK(rejected("<a><!- x --></a>"));
}

TEST_CASE("xml: declaration and processing instructions") {
  CHECK(parse_ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>").name == "a");
  CHECK(parse_ok("<?xml version='1.0'?>\r\n<a/>").name == "a");
  CHECK(parse_ok("\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>").name == "a");
  CHECK(parse_ok("<a><?pi data?>x<?pi?></a>").text == "x");
  CHECK(parse_ok("<a/><?trailing pi?>").name == "a");
  CHECK(rejected("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><a/>"));
  CHECK(rejected("<a><?xml version=\"1.0\"?></a>"));
  CHECK(rejected("<a/><?xml version=\"1.0\"?>"));
  CHECK(rejected("<?xml version=\"1.0\"<a/>"));
  CHECK(rejected("<? no-target ?><a/>"));
  CHECK(rejected("<?pi"));
  CHECK(rejected("<a><?pi</a>"));
}

TEST_CASE("xml: DOCTYPE is refused, so entity expansion cannot happen") {
  CHECK(rejected("<!DOCTYPE a><a/>"));
  CHECK(rejected("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                 "<!ENTITY lol2 \"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>"));
  CHECK(rejected("<a><!DOCTYPE a></a>"));
  CHECK(rejected("<a><!ELEMENT a ANY></a>"));
  CHECK(rejected("<a/><!DOCTYPE a>"));
}

TEST_CASE("xml: attributes are checked and ignored") {
  const xml_element e = parse_ok(
      "<ListPartsResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\" a='1' b = \"x&amp;y\"\n"
      "\tc=\"'\" d='\"'><Part n=\"1\"/></ListPartsResult >");
  CHECK(e.name == "ListPartsResult");
  CHECK(e.children.size() == 1);
  CHECK(e.child("Part") != nullptr);
  CHECK(e.child("a") == nullptr);

  CHECK(rejected("<a x></a>"));
  CHECK(rejected("<a x=></a>"));
  CHECK(rejected("<a x=1></a>"));
  CHECK(rejected("<a x=\"1></a>"));
  CHECK(rejected("<a x=\"1\"y=\"2\"></a>"));
  CHECK(rejected("<a x=\"<\"></a>"));
  CHECK(rejected("<a x=\"&bogus;\"></a>"));
  CHECK(rejected("<a =\"1\"></a>"));
  CHECK(rejected("<a x=\"1\" / ></a>"));
}

TEST_CASE("xml: namespace prefixes are stripped from names") {
  const xml_element e =
      parse_ok("<oss:Error xmlns:oss=\"urn:x\"><oss:Code>NoSuchKey</oss:Code><m:Message>m"
               "</m:Message></oss:Error>");
  CHECK(e.name == "Error");
  CHECK(e.child_text("Code") == "NoSuchKey");
  CHECK(e.child_text("Message") == "m");
  // The end tag must repeat the same qualified name.
  CHECK(rejected("<a:X></b:X>"));
  CHECK(rejected("<a:X></X>"));
  CHECK(rejected("<a:></a:>"));
  CHECK(rejected("<a:1b></a:1b>"));
}

TEST_CASE("xml: whitespace between elements is layout, leaf text is kept exactly") {
  const xml_element e = parse_ok(
      "<R>\n  <A>  spaced  </A>\n  <B> </B>\n\t<C>\n</C>\n  <D><E>e</E></D>\n</R>");
  CHECK(e.text.empty());
  CHECK(e.child_text("A") == "  spaced  ");
  CHECK(e.child_text("B") == " ");
  CHECK(e.child_text("C") == "\n");
  CHECK(e.child("D")->text.empty());
  // End-of-line handling: CR LF and lone CR read as LF; a reference keeps the CR.
  CHECK(text_of("<a>1\r\n2\r3\n4&#13;</a>") == "1\n2\n3\n4\r");
  // Mixed content keeps its text (OSS never sends it, but nothing may get lost).
  CHECK(parse_ok("<a>x<b/>y</a>").text == "xy");
}

TEST_CASE("xml: unknown elements are kept in the tree") {
  const xml_element e = parse_ok("<R><Known>1</Known><Future><Deep>2</Deep></Future></R>");
  CHECK(e.child_text("Known") == "1");
  CHECK(e.child("Future")->child_text("Deep") == "2");
}

TEST_CASE("xml: malformed documents") {
  CHECK(rejected(""));
  CHECK(rejected("   \n"));
  CHECK(rejected("<?xml version=\"1.0\"?>"));
  CHECK(rejected("<!-- only a comment -->"));
  CHECK(rejected("text<a/>"));
  CHECK(rejected("<a/>junk"));
  CHECK(rejected("<a/><b/>"));
  CHECK(rejected("<a></b>"));
  CHECK(rejected("<a><b></a></b>"));
  CHECK(rejected("<a><b></b>"));
  CHECK(rejected("<a>text"));
  CHECK(rejected("<a"));
  CHECK(rejected("<a "));
  CHECK(rejected("<a/"));
  CHECK(rejected("<a></a"));
  CHECK(rejected("</a>"));
  CHECK(rejected("<>"));
  CHECK(rejected("<></>"));
  CHECK(rejected("<1a/>"));
  CHECK(rejected("<-a/>"));
  CHECK(rejected("< a/>"));
  CHECK(rejected("<a>1 < 2</a>"));
  CHECK(rejected("<a>x</ a>"));
  CHECK(rejected(std::string_view("<a>x\0y</a>", 10)));
  CHECK(rejected(std::string_view("<a>x</a>\0", 9)));
  CHECK(rejected("<a/>\xEF\xBB\xBF"));
  // End tags may carry trailing whitespace.
  CHECK(parse_ok("<a>x</a \n>").text == "x");
}

TEST_CASE("xml: a failed parse sets malformed_xml and a good one clears ec") {
  std::error_code ec;
  CHECK(!parse_xml("<a>", ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  CHECK(parse_xml("<a/>", ec));
  CHECK(!ec);
}

TEST_CASE("xml: depth limit is 32") {
  // Setup
  const auto nested = [](std::size_t depth) {
    std::string s;
    for (std::size_t i = 0; i < depth; ++i) s += "<e>";
    s += "x";
    for (std::size_t i = 0; i < depth; ++i) s += "</e>";
    return s;
  };

  // Check
  CHECK(!rejected(nested(xml_max_depth)));
  CHECK(rejected(nested(xml_max_depth + 1)));
  CHECK(rejected(nested(100000)));  // deep input is refused, not recursed into
  std::string self_closing;
  for (std::size_t i = 0; i < xml_max_depth; ++i) self_closing += "<e>";
  self_closing += "<leaf/>";
  for (std::size_t i = 0; i < xml_max_depth; ++i) self_closing += "</e>";
  CHECK(rejected(self_closing));
}

TEST_CASE("xml: element count limit is 200000") {
  // Setup: the root plus n-1 empty children.
  const auto flat = [](std::size_t n) {
    std::string s = "<r>";
    for (std::size_t i = 1; i < n; ++i) s += "<p/>";
    return s + "</r>";
  };

  // Check
  const xml_element e = parse_ok(flat(xml_max_elements));
  CHECK(e.children.size() == xml_max_elements - 1);
  CHECK(rejected(flat(xml_max_elements + 1)));
}

TEST_CASE("xml: input size limit is 16 MiB") {
  // Setup
  std::string doc = "<a>";
  doc += std::string(xml_max_input - 7, 'x');
  doc += "</a>";
  REQUIRE(doc.size() == xml_max_input);

  // Check
  CHECK(parse_ok(doc).text.size() == xml_max_input - 7);
  doc.insert(3, "y");
  CHECK(rejected(doc));
}

// --- numbers ---------------------------------------------------------------------------------

TEST_CASE("documents: numbers are parsed strictly") {
  std::uint64_t u = 0;
  int i = 0;
  CHECK(parse_xml_number("42", u));
  CHECK(u == 42);
  CHECK(parse_xml_number(" \n\t7\r\n", i));
  CHECK(i == 7);
  CHECK(parse_xml_number("18446744073709551615", u));
  CHECK(u == 18446744073709551615ull);
  CHECK(parse_xml_number("2147483647", i));
  CHECK(i == 2147483647);
  u = 5;
  CHECK_FALSE(parse_xml_number("18446744073709551616", u));
  CHECK(u == 5);
  CHECK_FALSE(parse_xml_number("2147483648", i));
  CHECK_FALSE(parse_xml_number("", u));
  CHECK_FALSE(parse_xml_number("  ", u));
  CHECK_FALSE(parse_xml_number("-1", i));
  CHECK_FALSE(parse_xml_number("+1", u));
  CHECK_FALSE(parse_xml_number("1.0", u));
  CHECK_FALSE(parse_xml_number("1 2", u));
  CHECK_FALSE(parse_xml_number("0x10", u));
  CHECK_FALSE(parse_xml_number("12a", u));
}

// --- InitiateMultipartUploadResult ------------------------------------------------------------

TEST_CASE("documents: InitiateMultipartUploadResult from oss-protocol.md 3.1") {
  // Setup
  const std::string_view body = R"(<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult>
    <Bucket>oss-example</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>
</InitiateMultipartUploadResult>)";
  initiate_result r;
  std::error_code ec = oss::client_errc::missing_etag;

  // Run / Check
  REQUIRE(parse_initiate_result(body, r, ec));
  CHECK(!ec);
  CHECK(r.bucket == "oss-example");
  CHECK(r.key == "multipart.data");
  CHECK(r.upload_id == "0004B9894A22E5B1888A1E29F823****");
}

TEST_CASE("documents: InitiateMultipartUploadResult with xmlns and encoding-type=url") {
  const std::string_view body =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
  <Bucket>b</Bucket><Key>dir%2Fa%20b%2Bc%E4%BD%A0.txt</Key><UploadId>U1</UploadId>
  <EncodingType>url</EncodingType>
</InitiateMultipartUploadResult>)";
  initiate_result r;
  std::error_code ec;
  REQUIRE(parse_initiate_result(body, r, ec));
  CHECK(r.key == "dir/a b+c\xE4\xBD\xA0.txt");
}

TEST_CASE("documents: InitiateMultipartUploadResult failures") {
  initiate_result r;
  std::error_code ec;
  CHECK_FALSE(parse_initiate_result(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "</InitiateMultipartUploadResult>",
      r, ec));
  CHECK(ec == oss::client_errc::missing_upload_id);
  CHECK_FALSE(parse_initiate_result(
      "<InitiateMultipartUploadResult><UploadId> </UploadId></InitiateMultipartUploadResult>", r,
      ec));
  CHECK(ec == oss::client_errc::missing_upload_id);
  CHECK_FALSE(parse_initiate_result("<Other><UploadId>u</UploadId></Other>", r, ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  CHECK_FALSE(parse_initiate_result("<InitiateMultipartUploadResult>", r, ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  CHECK_FALSE(parse_initiate_result(
      "<InitiateMultipartUploadResult><EncodingType>url</EncodingType><Key>bad%G1</Key>"
      "<UploadId>u</UploadId></InitiateMultipartUploadResult>",
      r, ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  CHECK_FALSE(parse_initiate_result(no_such_upload_body, r, ec));
  CHECK(ec == oss::server_errc::no_such_upload);
}

TEST_CASE("documents: InitiateMultipartUploadResult round trip") {
  for (const bool url : {false, true}) {
    CAPTURE(url);
    // Setup
    const initiate_result in{"bucket-1", "dir/a b+c&<>\"'\xE4\xBD\xA0\x01.bin", "UPLOAD-ID-1"};

    // Run
    const std::string body = build_initiate_result(in, url);
    initiate_result out;
    std::error_code ec;

    // Check
    REQUIRE(parse_initiate_result(body, out, ec));
    CHECK(out.bucket == in.bucket);
    CHECK(out.key == in.key);
    CHECK(out.upload_id == in.upload_id);
    CHECK((body.find("<EncodingType>url</EncodingType>") != std::string::npos) == url);
    if (url) CHECK(body.find("dir%2Fa%20b%2Bc%26") != std::string::npos);
  }
}

// --- CompleteMultipartUpload ------------------------------------------------------------------

TEST_CASE("documents: CompleteMultipartUpload body is exact") {
  // Setup
  const std::vector<completed_part> parts{{1, "\"3349DC700140D7F86A0784842780****\""},
                                          {5, "\"8EFDA8BE206636A695359836FE0A****\""}};

  // Run
  const std::string body = build_complete_body(parts);

  // Check
  CHECK(body ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>"
        "<Part><PartNumber>1</PartNumber><ETag>&quot;3349DC700140D7F86A0784842780****&quot;"
        "</ETag></Part>"
        "<Part><PartNumber>5</PartNumber><ETag>&quot;8EFDA8BE206636A695359836FE0A****&quot;"
        "</ETag></Part></CompleteMultipartUpload>");
  std::vector<completed_part> back;
  std::error_code ec;
  REQUIRE(parse_complete_body(body, back, ec));
  REQUIRE(back.size() == 2);
  CHECK(back[0].number == 1);
  CHECK(back[0].etag == parts[0].etag);
  CHECK(back[1].number == 5);
  CHECK(back[1].etag == parts[1].etag);
}

TEST_CASE("documents: CompleteMultipartUpload bodies as SDKs send them") {
  // Setup: the documented body with literal quotes, and go2's &#34; form.
  const std::string_view documented = R"(<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload>
  <Part>
    <PartNumber>1</PartNumber>
    <ETag>"3349DC700140D7F86A0784842780****"</ETag>
  </Part>
  <Part>
    <PartNumber>5</PartNumber>
    <ETag>"8EFDA8BE206636A695359836FE0A****"</ETag>
  </Part>
</CompleteMultipartUpload>)";
  const std::string_view go2 =
      "<CompleteMultipartUpload><Part><PartNumber>3</PartNumber>"
      "<ETag>&#34;ABC&#34;</ETag></Part></CompleteMultipartUpload>";
  std::vector<completed_part> parts;
  std::error_code ec;

  // Run / Check
  REQUIRE(parse_complete_body(documented, parts, ec));
  REQUIRE(parts.size() == 2);
  CHECK(parts[1].number == 5);
  CHECK(parts[1].etag == "\"8EFDA8BE206636A695359836FE0A****\"");
  REQUIRE(parse_complete_body(go2, parts, ec));
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].number == 3);
  CHECK(parts[0].etag == "\"ABC\"");
  // Order is kept as sent: checking it is the server's job (InvalidPartOrder).
  REQUIRE(parse_complete_body("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>b"
                              "</ETag></Part><Part><PartNumber>1</PartNumber><ETag>a</ETag>"
                              "</Part></CompleteMultipartUpload>",
                              parts, ec));
  CHECK(parts[0].number == 2);
  CHECK(parts[1].number == 1);
  REQUIRE(parse_complete_body("<CompleteMultipartUpload/>", parts, ec));
  CHECK(parts.empty());
}

TEST_CASE("documents: malformed CompleteMultipartUpload bodies") {
  const auto bad = [](std::string_view part) {
    std::vector<completed_part> parts{{9, "stale"}};
    std::error_code ec;
    const std::string body =
        "<CompleteMultipartUpload>" + std::string(part) + "</CompleteMultipartUpload>";
    const bool ok = parse_complete_body(body, parts, ec);
    return !ok && ec == oss::client_errc::malformed_xml && parts.empty();
  };
  CHECK(bad("<Part><PartNumber>abc</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>1x</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber></PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>99999999999</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>1.5</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber></Part>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part"));
  std::vector<completed_part> parts;
  std::error_code ec;
  CHECK_FALSE(parse_complete_body("", parts, ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  CHECK_FALSE(parse_complete_body("<Complete/>", parts, ec));
  CHECK(ec == oss::client_errc::malformed_xml);
  // Whitespace around a number is fine.
  REQUIRE(parse_complete_body("<CompleteMultipartUpload><Part><PartNumber> 7\n</PartNumber>"
                              "<ETag>e</ETag></Part></CompleteMultipartUpload>",
                              parts, ec));
  CHECK(parts.at(0).number == 7);
}

// --- CompleteMultipartUploadResult ------------------------------------------------------------

TEST_CASE("documents: CompleteMultipartUploadResult from oss-protocol.md 3.3") {
  const std::string_view body = R"(<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult>
  <EncodingType>url</EncodingType>            <!-- only with encoding-type=url -->
  <Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data</Location>
  <Bucket>oss-example</Bucket>
  <Key>demo%2Fmultipart.data</Key>
  <ETag>"097DE458AD02B5F89F9D0530231876****"</ETag>
</CompleteMultipartUploadResult>)";
  complete_result r;
  std::error_code ec;
  REQUIRE(parse_complete_result(body, r, ec));
  CHECK(r.location == "http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data");
  CHECK(r.bucket == "oss-example");
  CHECK(r.key == "demo/multipart.data");
  CHECK(r.etag == "\"097DE458AD02B5F89F9D0530231876****\"");
  CHECK_FALSE(is_error_document(body));
}

TEST_CASE("documents: a 200 reply with an <Error> body is the server's error") {
  // Setup
  const std::string body = build_error_body("InternalError", "We encountered an internal error.",
                                            "RID-1", "host", "0000-00000001");
  complete_result r;
  std::error_code ec;

  // Run / Check
  CHECK(is_error_document(body));
  CHECK_FALSE(parse_complete_result(body, r, ec));
  CHECK(ec == oss::server_errc::internal_error);
  CHECK(oss::classify(ec, 200) == oss::retry_class::server);
  CHECK_FALSE(parse_complete_result("<Error><Code>Whatever</Code></Error>", r, ec));
  CHECK(ec == oss::server_errc::unknown);
  CHECK_FALSE(parse_complete_result("<Error/>", r, ec));
  CHECK(ec == oss::server_errc::unknown);

  CHECK_FALSE(is_error_document(""));
  CHECK_FALSE(is_error_document("not xml"));
  CHECK_FALSE(is_error_document("<Error>"));
  CHECK_FALSE(is_error_document("<Errors/>"));
  CHECK(is_error_document("<oss:Error xmlns:oss='x'/>"));
}

TEST_CASE("documents: CompleteMultipartUploadResult round trip") {
  for (const bool url : {false, true}) {
    CAPTURE(url);
    const complete_result in{"http://b.oss-cn-hangzhou.aliyuncs.com/a%20b", "b", "dir/a b?&.mp4",
                             "\"097DE458AD02B5F89F9D0530231876FF-3\""};
    complete_result out;
    std::error_code ec;
    REQUIRE(parse_complete_result(build_complete_result(in, url), out, ec));
    CHECK(out.location == in.location);
    CHECK(out.bucket == in.bucket);
    CHECK(out.key == in.key);
    CHECK(out.etag == in.etag);
  }
}

// --- ListPartsResult --------------------------------------------------------------------------

TEST_CASE("documents: ListPartsResult from oss-protocol.md 3.5") {
  // Setup
  const std::string_view body = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>bucket</Bucket>
    <Key>object</Key>
    <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
    <PartNumberMarker>0</PartNumberMarker>
    <NextPartNumberMarker>5</NextPartNumberMarker>
    <MaxParts>1000</MaxParts>
    <IsTruncated>false</IsTruncated>
    <StorageClass>Standard</StorageClass>
    <Part>
        <PartNumber>1</PartNumber>
        <LastModified>2012-02-23T07:01:34.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <HashCrc64ecma>11051210869376104954</HashCrc64ecma>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>5</PartNumber>
        <LastModified>2012-02-23T07:02:03.000Z</LastModified>
        <ETag>"7265F4D211B56873A381D321F586****"</ETag>
        <Size>1024</Size>
    </Part>
</ListPartsResult>)";
  list_parts_result r;
  std::error_code ec;

  // Run
  REQUIRE(parse_list_parts_result(body, r, ec));

  // Check
  CHECK(r.bucket == "bucket");
  CHECK(r.key == "object");
  CHECK(r.upload_id == "0004B999EF5A239BB9138C6227D6****");
  CHECK(r.part_number_marker == 0);
  CHECK(r.next_part_number_marker == 5);
  CHECK(r.max_parts == 1000);
  CHECK_FALSE(r.is_truncated);
  REQUIRE(r.parts.size() == 2);
  CHECK(r.parts[0].number == 1);
  CHECK(r.parts[0].etag == "\"3349DC700140D7F86A0784842780****\"");
  CHECK(r.parts[0].size == 6291456);
  REQUIRE(r.parts[0].crc64.has_value());
  CHECK(*r.parts[0].crc64 == 11051210869376104954ull);
  CHECK(r.parts[0].last_modified == "2012-02-23T07:01:34.000Z");
  CHECK(r.parts[1].number == 5);
  CHECK(r.parts[1].size == 1024);
  CHECK_FALSE(r.parts[1].crc64.has_value());
}

TEST_CASE("documents: ListPartsResult pagination fields and tolerance") {
  // Setup: a truncated page, markers absent or empty (the go2 mock omits PartNumberMarker).
  const std::string_view body =
      "<ListPartsResult><Bucket>b</Bucket><Key>k%2Fx</Key><UploadId>u</UploadId>"
      "<NextPartNumberMarker> 2 </NextPartNumberMarker><MaxParts>\n2\n</MaxParts>"
      "<PartNumberMarker></PartNumberMarker><IsTruncated>True</IsTruncated>"
      "<Part><PartNumber>1</PartNumber><ETag>\"A\"</ETag><Size>102400</Size>"
      "<HashCrc64ecma></HashCrc64ecma><Unknown>ignored</Unknown></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>\"B\"</ETag><Size>0</Size></Part>"
      "</ListPartsResult>";
  list_parts_result r;
  std::error_code ec;

  // Run / Check
  REQUIRE(parse_list_parts_result(body, r, ec));
  CHECK(r.is_truncated);
  CHECK(r.part_number_marker == 0);
  CHECK(r.next_part_number_marker == 2);
  CHECK(r.max_parts == 2);
  CHECK(r.key == "k%2Fx");  // no EncodingType: the key is taken as is
  REQUIRE(r.parts.size() == 2);
  CHECK_FALSE(r.parts[0].crc64.has_value());
  CHECK(r.parts[1].size == 0);
}

TEST_CASE("documents: malformed ListPartsResult") {
  const auto bad = [](std::string_view inner) {
    list_parts_result r;
    std::error_code ec;
    const std::string body = "<ListPartsResult>" + std::string(inner) + "</ListPartsResult>";
    return !parse_list_parts_result(body, r, ec) && ec == oss::client_errc::malformed_xml;
  };
  CHECK(bad("<IsTruncated>maybe</IsTruncated>"));
  CHECK(bad("<MaxParts>many</MaxParts>"));
  CHECK(bad("<NextPartNumberMarker>-5</NextPartNumberMarker>"));
  CHECK(bad("<PartNumberMarker>3000000000</PartNumberMarker>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber><Size>1</Size></Part>"));
  CHECK(bad("<Part><ETag>e</ETag><Size>1</Size></Part>"));
  CHECK(bad("<Part><PartNumber>0</PartNumber><ETag>e</ETag><Size>1</Size></Part>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>18446744073709551616</Size>"
            "</Part>"));
  CHECK(bad("<Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>1</Size>"
            "<HashCrc64ecma>0x12</HashCrc64ecma></Part>"));
  CHECK(bad("<EncodingType>url</EncodingType><Key>%zz</Key>"));
  list_parts_result r;
  std::error_code ec;
  CHECK_FALSE(parse_list_parts_result(no_such_upload_body, r, ec));
  CHECK(ec == oss::server_errc::no_such_upload);
}

TEST_CASE("documents: ListPartsResult round trip") {
  for (const bool url : {false, true}) {
    CAPTURE(url);
    // Setup
    list_parts_result in;
    in.bucket = "bkt";
    in.key = "videos/2020 summer/a+b.mp4";
    in.upload_id = "0004B999EF5A239BB9138C6227D6ABCD";
    in.part_number_marker = 2;
    in.next_part_number_marker = 5;
    in.max_parts = 3;
    in.is_truncated = true;
    in.parts = {{3, "\"AA\"", 6291456, 11051210869376104954ull, "2024-01-01T00:00:00.000Z"},
                {4, "\"BB\"", 102400, std::nullopt, "2024-01-01T00:00:01.000Z"},
                {5, "\"CC\"", 1, 0, ""}};

    // Run
    list_parts_result out;
    std::error_code ec;
    REQUIRE(parse_list_parts_result(build_list_parts_result(in, url), out, ec));

    // Check
    CHECK(out.bucket == in.bucket);
    CHECK(out.key == in.key);
    CHECK(out.upload_id == in.upload_id);
    CHECK(out.part_number_marker == 2);
    CHECK(out.next_part_number_marker == 5);
    CHECK(out.max_parts == 3);
    CHECK(out.is_truncated);
    REQUIRE(out.parts.size() == in.parts.size());
    for (std::size_t i = 0; i < in.parts.size(); ++i) {
      CAPTURE(i);
      CHECK(out.parts[i].number == in.parts[i].number);
      CHECK(out.parts[i].etag == in.parts[i].etag);
      CHECK(out.parts[i].size == in.parts[i].size);
      CHECK(out.parts[i].crc64 == in.parts[i].crc64);
      CHECK(out.parts[i].last_modified == in.parts[i].last_modified);
    }
  }
}

// --- ListMultipartUploadsResult ---------------------------------------------------------------

TEST_CASE("documents: ListMultipartUploadsResult from oss-protocol.md 3.6") {
  const std::string_view body = R"(<ListMultipartUploadsResult>
    <Bucket>oss-example</Bucket>
    <KeyMarker></KeyMarker>
    <UploadIdMarker></UploadIdMarker>
    <NextKeyMarker>oss.avi</NextKeyMarker>
    <NextUploadIdMarker>0004B99B8E707874FC2D692FA5D77D3F</NextUploadIdMarker>
    <Delimiter></Delimiter>
    <Prefix></Prefix>
    <MaxUploads>1000</MaxUploads>
    <IsTruncated>false</IsTruncated>
    <Upload>
        <Key>multipart.data</Key>
        <UploadId>0004B999EF518A1FE585B0C9360DC4C8</UploadId>
        <Initiated>2012-02-23T04:18:23.000Z</Initiated>
    </Upload>
</ListMultipartUploadsResult>)";
  list_uploads_result r;
  std::error_code ec;
  REQUIRE(parse_list_uploads_result(body, r, ec));
  CHECK(r.bucket == "oss-example");
  CHECK(r.key_marker.empty());
  CHECK(r.upload_id_marker.empty());
  CHECK(r.next_key_marker == "oss.avi");
  CHECK(r.next_upload_id_marker == "0004B99B8E707874FC2D692FA5D77D3F");
  CHECK(r.delimiter.empty());
  CHECK(r.prefix.empty());
  CHECK(r.max_uploads == 1000);
  CHECK_FALSE(r.is_truncated);
  REQUIRE(r.uploads.size() == 1);
  CHECK(r.uploads[0].key == "multipart.data");
  CHECK(r.uploads[0].upload_id == "0004B999EF518A1FE585B0C9360DC4C8");
  CHECK(r.uploads[0].initiated == "2012-02-23T04:18:23.000Z");
  CHECK(r.common_prefixes.empty());
}

TEST_CASE("documents: ListMultipartUploadsResult with delimiter and encoding-type=url") {
  const std::string_view body =
      "<ListMultipartUploadsResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">"
      "<Bucket>b</Bucket><EncodingType>URL</EncodingType>"
      "<KeyMarker>a%2Fb%20c</KeyMarker><UploadIdMarker>U0</UploadIdMarker>"
      "<NextKeyMarker>photos%2F2024+x</NextKeyMarker><NextUploadIdMarker>U9</NextUploadIdMarker>"
      "<Delimiter>%2F</Delimiter><Prefix>photos%2F</Prefix><MaxUploads>2</MaxUploads>"
      "<IsTruncated>true</IsTruncated>"
      "<Upload><Key>photos%2Fa%26b.jpg</Key><UploadId>U1</UploadId><Initiated>t1</Initiated>"
      "</Upload><Upload><Key>photos%2F%E4%BD%A0.jpg</Key><UploadId>U2</UploadId></Upload>"
      "<CommonPrefixes><Prefix>photos%2F2023%2F</Prefix></CommonPrefixes>"
      "<CommonPrefixes><Prefix>photos%2F2024%2F</Prefix></CommonPrefixes>"
      "</ListMultipartUploadsResult>";
  list_uploads_result r;
  std::error_code ec;
  REQUIRE(parse_list_uploads_result(body, r, ec));
  CHECK(r.key_marker == "a/b c");
  CHECK(r.upload_id_marker == "U0");
  CHECK(r.next_key_marker == "photos/2024 x");
  CHECK(r.next_upload_id_marker == "U9");
  CHECK(r.delimiter == "/");
  CHECK(r.prefix == "photos/");
  CHECK(r.max_uploads == 2);
  CHECK(r.is_truncated);
  REQUIRE(r.uploads.size() == 2);
  CHECK(r.uploads[0].key == "photos/a&b.jpg");
  CHECK(r.uploads[1].key == "photos/\xE4\xBD\xA0.jpg");
  CHECK(r.uploads[1].initiated.empty());
  REQUIRE(r.common_prefixes.size() == 2);
  CHECK(r.common_prefixes[0] == "photos/2023/");
  CHECK(r.common_prefixes[1] == "photos/2024/");
}

TEST_CASE("documents: malformed ListMultipartUploadsResult") {
  const auto bad = [](std::string_view inner) {
    list_uploads_result r;
    std::error_code ec;
    const std::string body =
        "<ListMultipartUploadsResult>" + std::string(inner) + "</ListMultipartUploadsResult>";
    return !parse_list_uploads_result(body, r, ec) && ec == oss::client_errc::malformed_xml;
  };
  CHECK(bad("<Upload><Key>k</Key></Upload>"));
  CHECK(bad("<Upload><UploadId>u</UploadId></Upload>"));
  CHECK(bad("<MaxUploads>1e3</MaxUploads>"));
  CHECK(bad("<IsTruncated>1</IsTruncated>"));
  CHECK(bad("<EncodingType>url</EncodingType><Prefix>%</Prefix>"));
  CHECK(bad("<EncodingType>url</EncodingType><Upload><Key>%4</Key><UploadId>u</UploadId>"
            "</Upload>"));
  CHECK(bad("<EncodingType>url</EncodingType><CommonPrefixes><Prefix>%x1</Prefix>"
            "</CommonPrefixes>"));
}

TEST_CASE("documents: ListMultipartUploadsResult round trip") {
  for (const bool url : {false, true}) {
    CAPTURE(url);
    // Setup
    list_uploads_result in;
    in.bucket = "bkt";
    in.key_marker = "a b/c";
    in.upload_id_marker = "U0";
    in.next_key_marker = "x+y/z";
    in.next_upload_id_marker = "U2";
    in.prefix = "p/";
    in.delimiter = "/";
    in.max_uploads = 2;
    in.is_truncated = true;
    in.uploads = {{"p/one & two", "U1", "2024-01-01T00:00:00.000Z"},
                  {"p/\xE4\xBD\xA0", "U2", "2024-01-02T00:00:00.000Z"}};
    in.common_prefixes = {"p/sub dir/", "p/<odd>/"};

    // Run
    list_uploads_result out;
    std::error_code ec;
    REQUIRE(parse_list_uploads_result(build_list_uploads_result(in, url), out, ec));

    // Check
    CHECK(out.bucket == in.bucket);
    CHECK(out.key_marker == in.key_marker);
    CHECK(out.upload_id_marker == in.upload_id_marker);
    CHECK(out.next_key_marker == in.next_key_marker);
    CHECK(out.next_upload_id_marker == in.next_upload_id_marker);
    CHECK(out.prefix == in.prefix);
    CHECK(out.delimiter == in.delimiter);
    CHECK(out.max_uploads == 2);
    CHECK(out.is_truncated);
    REQUIRE(out.uploads.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(out.uploads[i].key == in.uploads[i].key);
      CHECK(out.uploads[i].upload_id == in.uploads[i].upload_id);
      CHECK(out.uploads[i].initiated == in.uploads[i].initiated);
    }
    CHECK(out.common_prefixes == in.common_prefixes);
  }
}

// --- Error ------------------------------------------------------------------------------------

TEST_CASE("documents: the NoSuchUpload error body of oss-protocol.md 5.1") {
  // Setup
  error_body b;

  // Run
  REQUIRE(parse_error_body(no_such_upload_body, b));

  // Check
  CHECK(b.code == "NoSuchUpload");
  CHECK(b.message ==
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.");
  CHECK(b.request_id == "640ED770048FEF3231A98BA9");
  CHECK(b.host_id == "test-ap-ds.oss-ap-southeast-1.aliyuncs.com");
  CHECK(b.upload_id == "3FCE26176063453E8D80917962C936FE");
  CHECK(b.ec == "0042-00000203");
  CHECK(b.server_time.empty());
  CHECK(make_server_error(b, 404) == oss::server_errc::no_such_upload);
}

TEST_CASE("documents: fill_diagnostics and what() for a server error") {
  // Setup
  error_body b;
  REQUIRE(parse_error_body(no_such_upload_body, b));
  oss::diagnostics d;
  d.http_status = 404;
  d.request_id = "from-header";
  d.operation = "upload_part";
  d.part_number = 2;
  d.attempts = 1;

  // Run
  fill_diagnostics(b, d);
  const oss::error e(make_server_error(b, d.http_status), d);

  // Check
  CHECK(d.code == "NoSuchUpload");
  CHECK(d.request_id == "640ED770048FEF3231A98BA9");
  CHECK(d.host_id == "test-ap-ds.oss-ap-southeast-1.aliyuncs.com");
  CHECK(d.ec == "0042-00000203");
  CHECK(std::string_view(e.what()) ==
        "NoSuchUpload: The specified upload does not exist. The upload ID may be invalid, or the "
        "upload may have been aborted or completed. (RequestId 640ED770048FEF3231A98BA9, "
        "operation upload_part, part 2, attempts 1)");

  SUBCASE("empty body fields keep what the headers gave") {
    oss::diagnostics d2;
    d2.request_id = "from-header";
    d2.ec = "0042-00000203";
    error_body partial;
    partial.code = "AccessDenied";
    fill_diagnostics(partial, d2);
    CHECK(d2.code == "AccessDenied");
    CHECK(d2.request_id == "from-header");
    CHECK(d2.ec == "0042-00000203");
  }
}

TEST_CASE("documents: SignatureDoesNotMatch echoes never reach diagnostics or what()") {
  // Setup
  error_body b;
  oss::diagnostics d;
  d.http_status = 403;
  d.operation = "initiate_multipart_upload";

  // Run
  REQUIRE(parse_error_body(signature_error_body, b));
  fill_diagnostics(b, d);
  const oss::error e(make_server_error(b, 403), d);
  const std::string what = e.what();

  // Check
  CHECK(e.code() == oss::server_errc::signature_does_not_match);
  CHECK(b.code == "SignatureDoesNotMatch");
  CHECK(b.request_id == "65A0B2C3D4E5F60718293A4B");
  CHECK(b.ec == "0002-00000040");
  const auto leaks = [](std::string_view s) {
    for (std::string_view secret :
         {"LTAI5tSecretKeyIdXYZ", "c2VjcmV0LXNpZ25hdHVyZQ", "StringToSign", "OSSAccessKeyId",
          "SignatureProvided", "examplebucket/object", "50 55 54", "<", ">", "PUT"})
      if (s.find(secret) != std::string_view::npos) return true;
    return false;
  };
  CHECK_FALSE(leaks(what));
  for (const std::string* field : {&b.code, &b.message, &b.request_id, &b.host_id, &b.ec,
                                   &b.upload_id, &b.server_time, &d.code, &d.message,
                                   &d.request_id, &d.host_id, &d.ec, &d.client_message})
    CHECK_FALSE(leaks(*field));
  CHECK(what.rfind("SignatureDoesNotMatch: The request signature we calculated", 0) == 0);
}

TEST_CASE("documents: hostile error text is sanitised and capped") {
  // Setup
  const std::string long_message(5000, 'm');
  const std::string body = build_error_body(
      "InvalidArgument", "bad\r\nSet-Cookie: x\x01" + long_message, "r\tid", "host", "",
      std::vector<std::pair<std::string_view, std::string_view>>{{"ServerTime", "2024\n"}});
  error_body b;

  // Run
  REQUIRE(parse_error_body(body, b));

  // Check
  CHECK(b.message.rfind("bad Set-Cookie: x mmm", 0) == 0);
  CHECK(b.message.size() <= max_message_bytes);
  CHECK(b.request_id == "r id");
  CHECK(b.server_time == "2024");
  for (const char c : b.message) CHECK(static_cast<unsigned char>(c) >= 0x20);
}

TEST_CASE("documents: build_error_body round trip with extra fields") {
  // Setup
  const std::vector<std::pair<std::string_view, std::string_view>> extra{
      {"UploadId", "UP-1"}, {"ServerTime", "2024-05-01T10:00:00.000Z"}};

  // Run
  const std::string body = build_error_body("RequestTimeTooSkewed",
                                            "The difference between the request time and the "
                                            "current time is too large.",
                                            "RID", "b.oss-cn-local", "0002-00000504", extra);
  error_body b;

  // Check
  CHECK(body.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>RequestTimeTooSkewed"
                   "</Code>",
                   0) == 0);
  CHECK(body.find("<UploadId>UP-1</UploadId><ServerTime>2024-05-01T10:00:00.000Z</ServerTime>"
                  "<EC>0002-00000504</EC></Error>") != std::string::npos);
  REQUIRE(parse_error_body(body, b));
  CHECK(b.code == "RequestTimeTooSkewed");
  CHECK(b.request_id == "RID");
  CHECK(b.host_id == "b.oss-cn-local");
  CHECK(b.ec == "0002-00000504");
  CHECK(b.upload_id == "UP-1");
  CHECK(b.server_time == "2024-05-01T10:00:00.000Z");
  CHECK(build_error_body("NoSuchKey", "m", "r", "h", "").find("<EC>") == std::string::npos);
}

TEST_CASE("documents: what parse_error_body refuses") {
  error_body b;
  b.code = "stale";
  CHECK_FALSE(parse_error_body("", b));
  CHECK(b.code.empty());
  CHECK_FALSE(parse_error_body("<Error><Message>no code</Message></Error>", b));
  CHECK_FALSE(parse_error_body("<Error><Code> </Code></Error>", b));
  CHECK_FALSE(parse_error_body("<NotError><Code>X</Code></NotError>", b));
  CHECK_FALSE(parse_error_body("<Error><Code>X</Code>", b));
  CHECK_FALSE(parse_error_body("{\"Code\":\"NoSuchKey\"}", b));
  // A body without Code still yields an error code from the status.
  CHECK(make_server_error(error_body{}, 404) == oss::make_http_status_error(404));
}

TEST_CASE("documents: the x-oss-err header of a bodiless HEAD reply") {
  // Setup
  const std::string header = base64(no_such_upload_body);
  error_body b;

  // Run / Check
  REQUIRE(parse_error_header(header, b));
  CHECK(b.code == "NoSuchUpload");
  CHECK(b.ec == "0042-00000203");
  REQUIRE(parse_error_header(" " + header + " ", b));
  CHECK(b.request_id == "640ED770048FEF3231A98BA9");

  const std::string secret_header = base64(signature_error_body);
  REQUIRE(parse_error_header(secret_header, b));
  CHECK(b.code == "SignatureDoesNotMatch");

  CHECK_FALSE(parse_error_header("", b));
  CHECK_FALSE(parse_error_header("not base64!", b));
  CHECK_FALSE(parse_error_header(header.substr(0, header.size() - 12), b));
  CHECK_FALSE(parse_error_header(base64("<NotError/>"), b));
  CHECK_FALSE(parse_error_header(base64("plain text"), b));
}

// ---- the client's Complete body: exact bytes, written in one pass --------------------------

TEST_CASE("documents: complete_body_of writes the exact S3 body, escaped, sized up front") {
  // Setup: a quoted ETag, one that needs escaping, and S3's namespace.
  const std::vector<oss::completed_part> parts{
      oss::completed_part{1, "\"0123456789abcdef0123456789abcdef\"", std::nullopt, std::nullopt},
      oss::completed_part{10000, "<&'>", std::nullopt, std::nullopt}};

  // Run
  const std::string body = complete_body_of(parts, s3_xmlns);

  // Check: the bytes, written literally here, and no doubling slack in the string.
  CHECK(body ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>1</PartNumber><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag></Part>"
        "<Part><PartNumber>10000</PartNumber><ETag>&lt;&amp;&apos;&gt;</ETag></Part>"
        "</CompleteMultipartUpload>");
  CHECK(body.capacity() < body.size() + 16);
}
