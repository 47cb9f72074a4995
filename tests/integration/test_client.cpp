// oss::client: the single OSS operations (L4). Pure parts first (endpoint resolution, request
// shapes, validation, back-off, MIME guessing, reply judgement), then every operation over real
// sockets against oss::testing::local_server, then failure paths through a fault-injecting proxy
// that sits between the client and the local server.
#include <oss/client.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/mime.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/endpoint.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/retry.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/detail/transport/pool.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../support/hostile_proxy.hpp"
#include "../support/process.hpp"
#include "../support/run_coro.hpp"
#include "../support/tcp_relay.hpp"
#include "../support/temp_dir.hpp"
#include "../support/tls_certs.hpp"

using namespace std::chrono_literals;

namespace {

namespace http = oss::detail::http;
namespace transport = oss::detail::transport;
using asio::experimental::as_tuple;

constexpr const char* test_key_id = "LTAI-client-test-id";
constexpr const char* test_secret = "client-secret-Q7xP3v";
constexpr const char* test_bucket = "client-bucket";

// ---- running coroutines with a watchdog ------------------------------------------------------

using oss_test::run_coro;

// ---- servers ----------------------------------------------------------------------------------

struct server_setup {
  bool credentials = true;
  std::string security_token;
  std::string tls_cert, tls_key;
};

server_setup with_token(std::string token) {
  server_setup s;
  s.security_token = std::move(token);
  return s;
}
server_setup anonymous_server() {
  server_setup s;
  s.credentials = false;
  return s;
}
server_setup with_tls(std::string cert, std::string key) {
  server_setup s;
  s.tls_cert = std::move(cert);
  s.tls_key = std::move(key);
  return s;
}

struct local_env {
  oss_test::temp_dir store;
  oss::testing::local_server_thread server;

  explicit local_env(server_setup s = {})
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          if (s.credentials) {
            o.access_key_id = test_key_id;
            o.access_key_secret = test_secret;
            o.security_token = s.security_token;
          }
          o.tls_cert_file = s.tls_cert;
          o.tls_key_file = s.tls_key;
          return o;
        }()) {}
};

oss::client_options base_options(const std::string& endpoint) {
  oss::client_options o;
  o.endpoint = endpoint;
  o.region = "cn-local";
  o.bucket = test_bucket;
  o.creds = {test_key_id, test_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  o.connect_timeout = 5000ms;
  o.stall_timeout = 10000ms;
  return o;
}

std::string local_endpoint(std::uint16_t port, const char* host = "127.0.0.1", bool tls = false) {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

// ---- a fault-injecting proxy ------------------------------------------------------------------

struct seen_request {
  std::string method, target;
  http::fields headers;
  std::size_t body_size = 0;
};

struct proxy_action {
  enum class kind {
    forward,             // pass to the local server, pass its reply back
    drop_after_forward,  // pass to the local server, then close without replying (lost reply)
    drop,                // close without forwarding
    respond,             // reply with `canned`
    hang,                // never reply; wait until the client gives up
  };
  kind what = kind::forward;
  http::response canned;
  std::function<void(http::response&)> edit;  // applied to a forwarded reply
  std::string rewrite_target;                 // forward with this target instead
};

// Sits on 127.0.0.1:0 in front of a local server; for each request, `rule(index, request)`
// (index counts from 0 over the proxy's lifetime) decides what happens. Runs on its own thread.
class fault_proxy {
 public:
  using rule_type = std::function<proxy_action(int, const seen_request&)>;

  fault_proxy(std::uint16_t upstream_port, rule_type rule)
      : rule_(std::move(rule)),
        pool_(io_.get_executor(), tls_, transport::transport_options{}),
        acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        upstream_{false, "127.0.0.1", upstream_port} {
    auto accept = [this]() -> asio::awaitable<void> { co_await accept_loop(); };
    asio::co_spawn(io_, std::move(accept), asio::detached);
    thread_ = std::thread([this] {
      io_.run();
      finished_.set_value();
    });
  }
  ~fault_proxy() { stop(); }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string endpoint() const { return local_endpoint(port()); }

  std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t count(std::string_view method, std::string_view query_part) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(seen_.begin(), seen_.end(), [&](const seen_request& r) {
      return r.method == method && r.target.find(query_part) != std::string::npos;
    }));
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    asio::post(io_, [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
      for (auto& s : sockets_) s->close(ignored);
      pool_.close_idle();
    });
    // Bounded: an upstream exchange still running gets 10 s, then the loop is stopped hard.
    if (finished_.get_future().wait_for(10s) != std::future_status::ready) io_.stop();
    thread_.join();
  }

 private:
  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
      sockets_.insert(s);
      auto serve_fn = [this, s]() -> asio::awaitable<void> { co_await serve(*s); };
      asio::co_spawn(io_, std::move(serve_fn), [this, s](std::exception_ptr) { sockets_.erase(s); });
    }
  }

  static asio::awaitable<bool> write_reply(asio::ip::tcp::socket& s, http::response reply, bool head) {
    reply.headers.erase("Transfer-Encoding");
    reply.headers.erase("Connection");
    if (!head) reply.headers.set("Content-Length", std::to_string(reply.body.size()));
    std::string wire = http::serialize_head(reply);
    if (!head) wire += reply.body;
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(wire), as_tuple(asio::use_awaitable));
    co_return !ec;
  }

  asio::awaitable<void> serve(asio::ip::tcp::socket& s) {
    std::string pending;
    std::vector<char> buf(64 * 1024);
    while (true) {
      http::message_parser parser(http::parser_kind::request);
      while (!parser.done()) {
        if (!pending.empty()) {
          std::error_code pec;
          std::size_t used = parser.feed(pending, pec);
          if (pec) co_return;
          pending.erase(0, used);
          if (used > 0) continue;
        }
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), as_tuple(asio::use_awaitable));
        if (ec) co_return;
        pending.append(buf.data(), n);
      }
      std::string body = std::move(parser.body());
      http::request req = parser.release_request();
      seen_request seen{req.method, req.target, req.headers, body.size()};
      int index = 0;
      {
        std::lock_guard lock(mutex_);
        index = static_cast<int>(seen_.size());
        seen_.push_back(seen);
      }
      proxy_action action = rule_ ? rule_(index, seen) : proxy_action{};
      const bool head = req.method == "HEAD";
      switch (action.what) {
        case proxy_action::kind::drop:
          co_return;
        case proxy_action::kind::hang: {
          auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), as_tuple(asio::use_awaitable));
          (void)n;
          co_return;
        }
        case proxy_action::kind::respond:
          if (!co_await write_reply(s, action.canned, head)) co_return;
          continue;
        case proxy_action::kind::forward:
        case proxy_action::kind::drop_after_forward: {
          if (!action.rewrite_target.empty()) req.target = action.rewrite_target;
          transport::exchange_options xo;
          xo.head_request = head;
          std::error_code ec;
          http::response reply = co_await pool_.exchange(upstream_, req, asio::buffer(body), xo, ec);
          if (ec || action.what == proxy_action::kind::drop_after_forward) co_return;
          if (action.edit) action.edit(reply);
          if (!co_await write_reply(s, std::move(reply), head)) co_return;
          continue;
        }
      }
    }
  }

  rule_type rule_;
  asio::io_context io_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
  transport::connection_pool pool_;
  asio::ip::tcp::acceptor acceptor_;
  transport::endpoint upstream_;
  std::set<std::shared_ptr<asio::ip::tcp::socket>> sockets_;  // touched on the proxy thread only
  mutable std::mutex mutex_;
  std::vector<seen_request> seen_;
  std::promise<void> finished_;
  std::thread thread_;
  bool stopped_ = false;
};

http::response error_reply(int status, std::string_view code, std::string_view message,
                           std::span<const std::pair<std::string_view, std::string_view>> extra = {}) {
  http::response r;
  r.status = status;
  r.headers.set("Content-Type", "application/xml");
  r.headers.set("x-oss-request-id", "PROXY-REQ-1");
  r.body = oss::detail::build_error_body(code, message, "PROXY-REQ-1", "proxy.local", "0000-00000000", extra);
  return r;
}

// Parts of at least 100 KiB (OSS's minimum for every part but the last).
std::vector<std::string> split(const std::string& data, std::size_t part_size) {
  std::vector<std::string> parts;
  for (std::size_t off = 0; off < data.size(); off += part_size) parts.push_back(data.substr(off, part_size));
  return parts;
}

// Runs `then` on the io_context's thread once `ready()` holds, looking every 5 ms: the fault
// proxy's request log has no notification to wait on.
void when_ready(asio::steady_timer& timer, std::function<bool()> ready, std::function<void()> then) {
  timer.expires_after(5ms);
  timer.async_wait([&timer, ready = std::move(ready), then = std::move(then)](std::error_code) mutable {
    if (ready())
      then();
    else
      when_ready(timer, std::move(ready), std::move(then));
  });
}

}  // namespace

// =================================================================================================
// Pure parts: no sockets
// =================================================================================================

TEST_CASE("endpoint: a region alone gives the public, internal or accelerated OSS endpoint") {
  using oss::detail::resolve_endpoint;
  std::error_code ec;
  std::string problem;

  for (std::string region : {"oss-cn-hangzhou", "cn-hangzhou"}) {
    CAPTURE(region);
    auto ep = resolve_endpoint("", region, false, false, ec, problem);
    REQUIRE_FALSE(ec);
    CHECK(ep.url == "https://oss-cn-hangzhou.aliyuncs.com");
    CHECK(ep.host == "oss-cn-hangzhou.aliyuncs.com");
    CHECK(ep.tls);
    CHECK(ep.port == 443);
    CHECK(ep.region == "cn-hangzhou");
  }
  auto internal = resolve_endpoint("", "cn-shanghai", true, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(internal.url == "https://oss-cn-shanghai-internal.aliyuncs.com");
  CHECK(internal.region == "cn-shanghai");

  auto accel = resolve_endpoint("", "oss-cn-beijing", false, true, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(accel.url == "https://oss-accelerate.aliyuncs.com");
  CHECK(accel.region == "cn-beijing");  // signing still uses the bucket's region
}

TEST_CASE("endpoint: explicit endpoints keep their scheme and port and yield the signing region") {
  using oss::detail::resolve_endpoint;
  std::error_code ec;
  std::string problem;

  auto bare = resolve_endpoint("oss-cn-shenzhen.aliyuncs.com", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(bare.tls);  // https unless the endpoint says http
  CHECK(bare.url == "https://oss-cn-shenzhen.aliyuncs.com");
  CHECK(bare.region == "cn-shenzhen");

  auto internal = resolve_endpoint("https://oss-cn-qingdao-internal.aliyuncs.com/", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(internal.region == "cn-qingdao");
  CHECK(internal.authority == "oss-cn-qingdao-internal.aliyuncs.com");

  auto dual = resolve_endpoint("cn-hongkong.oss.aliyuncs.com", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(dual.region == "cn-hongkong");

  auto accel = resolve_endpoint("oss-accelerate.aliyuncs.com", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(accel.region.empty());

  auto plain = resolve_endpoint("http://127.0.0.1:9000", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK_FALSE(plain.tls);
  CHECK(plain.host == "127.0.0.1");
  CHECK(plain.port == 9000);
  CHECK(plain.authority == "127.0.0.1:9000");
  CHECK(plain.url == "http://127.0.0.1:9000");
  CHECK(plain.ip_literal);
  CHECK(plain.region.empty());

  auto custom = resolve_endpoint("HTTPS://Static.Example.COM:443", "oss-cn-hangzhou", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(custom.host == "static.example.com");
  CHECK(custom.authority == "static.example.com");  // default port left out of Host
  CHECK(custom.region == "cn-hangzhou");             // the region option wins
  CHECK_FALSE(custom.ip_literal);

  auto http_port = resolve_endpoint("http://localhost:8080", "", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(http_port.authority == "localhost:8080");

  auto v6 = resolve_endpoint("http://[::1]:8080", "cn-local", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(v6.host == "::1");
  CHECK(v6.authority == "[::1]:8080");
  CHECK(v6.ip_literal);

  // The endpoint option wins over internal/accelerate, which only shape region-derived hosts.
  auto explicit_wins = resolve_endpoint("oss-cn-hangzhou.aliyuncs.com", "", true, true, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(explicit_wins.host == "oss-cn-hangzhou.aliyuncs.com");
}

TEST_CASE("endpoint: unusable endpoints and regions are invalid_endpoint with a reason") {
  using oss::detail::resolve_endpoint;
  for (std::string bad : {"ftp://oss-cn-hangzhou.aliyuncs.com", "http://host/path", "http://host?x=1",
                          "http://host:0", "http://host:65536", "http://host:", "http://user@host",
                          "http://", "http://[::1", "http://ho st", "http://-host", "http://a..b"}) {
    CAPTURE(bad);
    std::error_code ec;
    std::string problem;
    resolve_endpoint(bad, "cn-hangzhou", false, false, ec, problem);
    CHECK(ec == oss::client_errc::invalid_endpoint);
    CHECK_FALSE(problem.empty());
  }
  std::error_code ec;
  std::string problem;
  resolve_endpoint("", "", false, false, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  resolve_endpoint("", "cn hangzhou", false, false, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
  resolve_endpoint("", "oss-", false, false, ec, problem);
  CHECK(ec == oss::client_errc::invalid_endpoint);
}

TEST_CASE("client options are checked by the constructor, before any I/O") {
  asio::io_context io;
  auto make = [&](oss::client_options o) { oss::client c(io.get_executor(), std::move(o)); };
  auto code_of = [&](oss::client_options o) -> std::error_code {
    try {
      make(std::move(o));
    } catch (const oss::error& e) {
      return e.code();
    }
    return {};
  };

  oss::client_options good;
  good.region = "cn-hangzhou";
  good.bucket = "my-bucket";
  good.creds = {"id", "secret", ""};
  CHECK_FALSE(code_of(good));
  {
    oss::client c(io.get_executor(), good);
    CHECK(c.endpoint_url() == "https://oss-cn-hangzhou.aliyuncs.com");
    CHECK(c.signing_region() == "cn-hangzhou");
    CHECK(c.clock_offset() == 0ms);
  }

  // V4 over a custom domain or IP needs the region to sign with.
  auto custom = good;
  custom.region.clear();
  custom.endpoint = "https://static.example.com";
  CHECK(code_of(custom) == oss::client_errc::invalid_endpoint);
  try {
    make(custom);
  } catch (const oss::error& e) {
    CHECK(std::string(e.what()).find("region") != std::string::npos);
  }
  custom.signature = oss::signature_version::v1;  // V1 has no region in its signature
  CHECK_FALSE(code_of(custom));
  custom.signature = oss::signature_version::v4;
  custom.creds = {};  // anonymous requests are not signed at all
  CHECK_FALSE(code_of(custom));

  for (std::string bucket : {std::string(), std::string("ab"), std::string("-bucket"), std::string("bucket-"),
                             std::string("Bucket"), std::string("my_bucket"), std::string(64, 'a')}) {
    CAPTURE(bucket);
    auto o = good;
    o.bucket = bucket;
    CHECK(code_of(o) == oss::client_errc::invalid_bucket_name);
  }
  auto ua = good;
  ua.user_agent = "agent\r\nX-Evil: 1";
  CHECK(code_of(ua) == oss::client_errc::invalid_header_value);
  auto attempts = good;
  attempts.max_attempts = 0;
  CHECK(code_of(attempts) == std::errc::invalid_argument);
}

TEST_CASE("request target and Host per addressing style") {
  using oss::addressing_style;
  using oss::detail::host_header;
  using oss::detail::request_target;
  std::error_code ec;
  std::string problem;
  auto ep = oss::detail::resolve_endpoint("", "cn-hangzhou", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  std::vector<oss::detail::query_param> part{{"partNumber", "7"}, {"uploadId", "id/+ x"}};
  std::vector<oss::detail::query_param> uploads{{"uploads", ""}};

  CHECK(host_header(addressing_style::virtual_hosted, ep, "bkt") == "bkt.oss-cn-hangzhou.aliyuncs.com");
  CHECK(request_target(addressing_style::virtual_hosted, "bkt", "dir/a b+c~.txt", part) ==
        "/dir/a%20b%2Bc~.txt?partNumber=7&uploadId=id%2F%2B%20x");
  CHECK(host_header(addressing_style::cname, ep, "bkt") == "oss-cn-hangzhou.aliyuncs.com");
  CHECK(request_target(addressing_style::cname, "bkt", "k", uploads) == "/k?uploads");
  CHECK(host_header(addressing_style::path_style, ep, "bkt") == "oss-cn-hangzhou.aliyuncs.com");
  CHECK(request_target(addressing_style::path_style, "bkt", "dir/äö", {}) == "/bkt/dir/%C3%A4%C3%B6");
  // Bucket-level requests (ListMultipartUploads).
  CHECK(request_target(addressing_style::path_style, "bkt", "", uploads) == "/bkt/?uploads");
  CHECK(request_target(addressing_style::virtual_hosted, "bkt", "", uploads) == "/?uploads");

  // An IP endpoint has no name to put the bucket in front of: path style instead.
  auto ip = oss::detail::resolve_endpoint("http://10.0.0.1:9000", "cn-local", false, false, ec, problem);
  REQUIRE_FALSE(ec);
  CHECK(oss::detail::effective_style(addressing_style::virtual_hosted, ip) == addressing_style::path_style);
  CHECK(host_header(addressing_style::virtual_hosted, ip, "bkt") == "10.0.0.1:9000");
  auto local = oss::detail::resolve_endpoint("http://localhost:9000", "cn-local", false, false, ec, problem);
  CHECK(host_header(addressing_style::virtual_hosted, local, "bkt") == "bkt.localhost:9000");
}

TEST_CASE("backoff_delay: full jitter below min(max, base * 2^attempt)") {
  using oss::detail::backoff_delay;
  CHECK(backoff_delay(1, 200ms, 20000ms, 0.0) == 0ms);
  CHECK(backoff_delay(1, 200ms, 20000ms, 0.5) == 200ms);   // ceiling 400 ms
  CHECK(backoff_delay(2, 200ms, 20000ms, 0.5) == 400ms);   // ceiling 800 ms
  CHECK(backoff_delay(3, 200ms, 20000ms, 0.25) == 400ms);  // ceiling 1600 ms
  CHECK(backoff_delay(7, 200ms, 20000ms, 0.5) == 10000ms); // 25.6 s capped at 20 s
  CHECK(backoff_delay(1000000, 200ms, 20000ms, 0.5) == 10000ms);  // no overflow
  CHECK(backoff_delay(1, 200ms, 20000ms, 1.0) == 399ms);   // the interval is half-open
  CHECK(backoff_delay(1, 200ms, 20000ms, -3.0) == 0ms);
  CHECK(backoff_delay(0, 200ms, 20000ms, 0.5) == 200ms);   // attempt < 1 counts as 1
  CHECK(backoff_delay(3, 0ms, 20000ms, 0.9) == 0ms);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const auto ceiling = std::min<std::int64_t>(20000, 200LL << attempt);
    for (double r = 0.0; r < 1.0; r += 0.0625) {
      auto d = backoff_delay(attempt, 200ms, 20000ms, r);
      CHECK(d.count() >= 0);
      CHECK(d.count() < ceiling);
    }
  }
}

TEST_CASE("MIME type guessed from the object name") {
  using oss::detail::guess_mime_type;
  CHECK(guess_mime_type("videos/a.mp4") == "video/mp4");
  CHECK(guess_mime_type("A.JPG") == "image/jpeg");
  CHECK(guess_mime_type("x.jpeg") == "image/jpeg");
  CHECK(guess_mime_type("p.png") == "image/png");
  CHECK(guess_mime_type("readme.txt") == "text/plain");
  CHECK(guess_mime_type("index.html") == "text/html");
  CHECK(guess_mime_type("data.json") == "application/json");
  CHECK(guess_mime_type("doc.xml") == "application/xml");
  CHECK(guess_mime_type("paper.pdf") == "application/pdf");
  CHECK(guess_mime_type("archive.zip") == "application/zip");
  CHECK(guess_mime_type("backup.tar.gz") == "application/gzip");
  CHECK(guess_mime_type("noext") == "application/octet-stream");
  CHECK(guess_mime_type("dir.d/noext") == "application/octet-stream");
  CHECK(guess_mime_type(".bashrc") == "application/octet-stream");
  CHECK(guess_mime_type("trailing.") == "application/octet-stream");
  CHECK(guess_mime_type("weird.extensionlong") == "application/octet-stream");
}

TEST_CASE("bucket and object names") {
  using oss::detail::check_object_name;
  using oss::detail::is_valid_bucket_name;
  CHECK(is_valid_bucket_name("abc"));
  CHECK(is_valid_bucket_name("my-bucket-01"));
  CHECK(is_valid_bucket_name(std::string(63, 'a')));
  CHECK_FALSE(is_valid_bucket_name("ab"));
  CHECK_FALSE(is_valid_bucket_name(std::string(64, 'a')));
  CHECK_FALSE(is_valid_bucket_name("-abc"));
  CHECK_FALSE(is_valid_bucket_name("abc-"));
  CHECK_FALSE(is_valid_bucket_name("aBc"));
  CHECK_FALSE(is_valid_bucket_name("a.bc"));

  std::string problem;
  CHECK_FALSE(check_object_name("a", problem));
  CHECK_FALSE(check_object_name("videos/中文/äöü +.mp4", problem));
  CHECK_FALSE(check_object_name(std::string(1023, 'k'), problem));
  for (std::string bad : {std::string(), std::string(1024, 'k'), std::string("/abs"), std::string("\\win"),
                          std::string("bad\xff"), std::string("overlong\xc0\xaf"),
                          std::string("surrogate\xed\xa0\x80"), std::string("cut\xe4\xb8")}) {
    CAPTURE(bad.size());
    CHECK(check_object_name(bad, problem) == oss::client_errc::invalid_object_name);
    CHECK_FALSE(problem.empty());
  }
}

TEST_CASE("object options become validated headers") {
  using oss::detail::object_headers;
  std::vector<std::pair<std::string, std::string>> out;
  std::string problem;
  auto find = [&](std::string_view name) -> std::string {
    for (const auto& [n, v] : out)
      if (http::iequals(n, name)) return v;
    return "<absent>";
  };

  oss::object_options o;
  o.meta = {{"Year", "2020"}, {"people", " test "}};
  o.headers = {{"Cache-Control", "no-cache"}, {"x-oss-meta-extra", "1"}, {"x-oss-forbid-overwrite", "true"}};
  REQUIRE_FALSE(object_headers("a.mp4", o, true, out, problem));
  CHECK(find("Content-Type") == "video/mp4");
  CHECK(find("Cache-Control") == "no-cache");
  CHECK(find("x-oss-forbid-overwrite") == "true");
  CHECK(find("x-oss-meta-year") == "2020");  // names lower-cased as OSS stores them
  CHECK(find("x-oss-meta-people") == "test");
  CHECK(find("x-oss-meta-extra") == "1");

  o = {};
  o.headers = {{"Content-Type", "text/x-custom"}};
  REQUIRE_FALSE(object_headers("a.mp4", o, true, out, problem));
  CHECK(find("Content-Type") == "text/x-custom");
  o.mime = "video/webm";
  REQUIRE_FALSE(object_headers("a.mp4", o, true, out, problem));
  CHECK(find("Content-Type") == "video/webm");
  REQUIRE_FALSE(object_headers("a.mp4", o, false, out, problem));
  CHECK(find("Content-Type") == "<absent>");

  auto code = [&](oss::object_options opts) {
    problem.clear();
    auto ec = object_headers("k", opts, true, out, problem);
    if (ec) CHECK_FALSE(problem.empty());
    return ec;
  };
  oss::object_options bad;
  bad.meta = {{"under_score", "x"}};
  CHECK(code(bad) == oss::client_errc::invalid_metadata);
  bad.meta = {{"", "x"}};
  CHECK(code(bad) == oss::client_errc::invalid_metadata);
  bad.meta = {{"a", "x"}, {"A", "y"}};
  CHECK(code(bad) == oss::client_errc::invalid_metadata);
  bad.meta = {{"name", "caf\xc3\xa9"}};
  CHECK(code(bad) == oss::client_errc::invalid_metadata);
  bad.meta = {{"name", "line\r\nX-Injected: 1"}};
  CHECK(code(bad) == oss::client_errc::invalid_header_value);
  bad = {};
  bad.headers = {{"Cache-Control", "a\nb"}};
  CHECK(code(bad) == oss::client_errc::invalid_header_value);
  bad.headers = {{"Bad Name", "v"}};
  CHECK(code(bad) == oss::client_errc::invalid_header_value);
  for (std::string reserved : {"Authorization", "host", "Date", "Content-Length", "x-oss-date",
                               "x-oss-security-token", "Content-MD5", "Transfer-Encoding"}) {
    CAPTURE(reserved);
    bad.headers = {{reserved, "v"}};
    CHECK(code(bad) == oss::client_errc::invalid_header_value);
  }
  bad.headers = {{"x-oss-meta-", "nameless"}};
  CHECK(code(bad) == oss::client_errc::invalid_metadata);
  bad.headers = {{"Cache-Control", "a"}, {"cache-control", "b"}};
  CHECK(code(bad) == oss::client_errc::invalid_header_value);
  bad = {};
  bad.mime = "text/plain\r\n";
  CHECK(code(bad) == oss::client_errc::invalid_header_value);

  // 8 KiB of names plus values is the limit; one byte more is too large.
  oss::object_options big;
  big.meta = {{"a", std::string(8191, 'v')}};
  CHECK_FALSE(code(big));
  big.meta = {{"ab", std::string(8191, 'v')}};
  CHECK(code(big) == oss::client_errc::metadata_too_large);
  big.meta = {{"a", std::string(4096, 'v')}};
  big.headers = {{"x-oss-meta-b", std::string(4096, 'v')}};
  CHECK(code(big) == oss::client_errc::metadata_too_large);
}

TEST_CASE("request builders refuse bad part numbers, upload ids and part lists") {
  using namespace oss::detail;
  op_request op;
  std::string problem;
  std::string data = "x";
  auto body = asio::buffer(data);
  CHECK(make_upload_part("k", "id", 0, body, false, op, problem) == std::errc::invalid_argument);
  CHECK(make_upload_part("k", "id", 10001, body, false, op, problem) == std::errc::invalid_argument);
  CHECK(make_upload_part("k", "", 1, body, false, op, problem) == std::errc::invalid_argument);
  CHECK(make_upload_part("/k", "id", 1, body, false, op, problem) == oss::client_errc::invalid_object_name);
  REQUIRE_FALSE(make_upload_part("k", "id", 10000, body, true, op, problem));
  CHECK(op.query.size() == 2);
  CHECK(op.sent_crc64 == crc_of(data));
  REQUIRE(op.headers.size() == 1);
  CHECK(op.headers[0].second == content_md5_of(body));

  // Digests the caller computed are taken as they are, not computed again.
  oss::body_digests given;
  given.crc64 = 42;
  given.md5 = md5("not the body");
  REQUIRE_FALSE(make_upload_part("k", "id", 1, body, false, given, op, problem));
  CHECK(op.sent_crc64 == 42u);
  REQUIRE(op.headers.size() == 1);
  CHECK(op.headers[0].first == "Content-MD5");
  CHECK(op.headers[0].second == base64_encode(given.md5->data(), given.md5->size()));
  oss::body_digests crc_only;
  crc_only.crc64 = 7;
  REQUIRE_FALSE(make_upload_part("k", "id", 1, body, false, crc_only, op, problem));
  CHECK(op.sent_crc64 == 7u);
  CHECK(op.headers.empty());
  REQUIRE_FALSE(make_upload_part("k", "id", 1, body, true, crc_only, op, problem));
  REQUIRE(op.headers.size() == 1);
  CHECK(op.headers[0].second == content_md5_of(body));  // asked for, not given: computed
  const oss::body_digests nothing;
  REQUIRE_FALSE(make_upload_part("k", "id", 1, body, false, nothing, op, problem));
  CHECK(op.sent_crc64 == crc_of(data));
  CHECK(make_upload_part("k", "id", 0, body, false, given, op, problem) == std::errc::invalid_argument);
  oss::object_options with_md5;
  with_md5.content_md5 = true;
  REQUIRE_FALSE(make_put_object("k", body, with_md5, given, op, problem));
  CHECK(op.sent_crc64 == 42u);
  auto md5_header = [&]() -> std::string {
    for (const auto& [n, v] : op.headers)
      if (n == "Content-MD5") return v;
    return "<absent>";
  };
  CHECK(md5_header() == base64_encode(given.md5->data(), given.md5->size()));
  REQUIRE_FALSE(make_put_object("k", body, with_md5, crc_only, op, problem));
  CHECK(md5_header() == content_md5_of(body));
  REQUIRE_FALSE(make_put_object("k", body, oss::object_options{}, crc_only, op, problem));
  CHECK(md5_header() == "<absent>");
  CHECK(op.sent_crc64 == 7u);

  std::vector<oss::completed_part> parts;
  CHECK(make_complete("k", "id", parts, op, problem) == std::errc::invalid_argument);
  parts = {{2, "\"B\""}, {1, "\"A\""}, {2, "\"C\""}};
  CHECK(make_complete("k", "id", parts, op, problem) == std::errc::invalid_argument);
  parts = {{3, "\"C\""}, {1, ""}};
  CHECK(make_complete("k", "id", parts, op, problem) == std::errc::invalid_argument);
  parts = {{5, "\"E\""}, {1, "\"A\""}, {3, "\"C\""}};
  REQUIRE_FALSE(make_complete("k", "id", parts, op, problem));
  // Sent sorted by number, whatever order the caller used.
  std::vector<oss::detail::completed_part> sent;
  std::error_code ec;
  REQUIRE(parse_complete_body(op.owned_body, sent, ec));
  REQUIRE(sent.size() == 3);
  CHECK(sent[0].number == 1);
  CHECK(sent[1].number == 3);
  CHECK(sent[2].number == 5);
  CHECK(sent[2].etag == "\"E\"");
  CHECK(op.payload().size() == op.owned_body.size());

  oss::list_parts_options lp;
  lp.max_parts = 0;
  CHECK(make_list_parts("k", "id", lp, op, problem) == std::errc::invalid_argument);
  lp.max_parts = 1001;
  CHECK(make_list_parts("k", "id", lp, op, problem) == std::errc::invalid_argument);
  oss::list_uploads_options lu;
  lu.max_uploads = 0;
  CHECK(make_list_uploads(lu, op, problem) == std::errc::invalid_argument);
}

TEST_CASE("server clock from Date and ServerTime") {
  // The date parsers themselves are tested in tests/unit/test_sign.cpp.
  using namespace oss::detail;
  auto now = std::chrono::system_clock::now();
  http::response reply;
  reply.headers.set("Date", http_date(now + 600s));
  auto offset = server_clock_offset(reply, "", now);
  REQUIRE(offset);
  CHECK(*offset > 598s);
  CHECK(*offset <= 600s);
  http::response bodiless;
  offset = server_clock_offset(bodiless, iso8601_extended(now - 3600s), now);
  REQUIRE(offset);
  CHECK(*offset < -3598s);
  CHECK_FALSE(server_clock_offset(bodiless, "", now));
}

TEST_CASE("replies are judged: error bodies, x-oss-err, bare statuses, CRC-64 and ETag") {
  using namespace oss::detail;
  op_request put;
  std::string problem;
  std::string data = "hello";
  REQUIRE_FALSE(make_put_object("k", asio::buffer(data), oss::object_options{}, put, problem));
  oss::diagnostics diag;
  error_body body;

  http::response ok;
  ok.status = 200;
  ok.headers.set("ETag", "\"5D41402ABC4B2A76B9719D911017C592\"");
  ok.headers.set("x-oss-hash-crc64ecma", std::to_string(crc_of(data)));
  CHECK_FALSE(check_reply(put, ok, diag, body));

  http::response wrong_crc = ok;
  wrong_crc.headers.set("x-oss-hash-crc64ecma", std::to_string(crc_of(data) + 1));
  CHECK(check_reply(put, wrong_crc, diag, body) == oss::client_errc::crc64_mismatch);
  wrong_crc.headers.set("x-oss-hash-crc64ecma", "12x");
  CHECK(check_reply(put, wrong_crc, diag, body) == oss::client_errc::malformed_response);
  http::response no_etag = ok;
  no_etag.headers.erase("ETag");
  CHECK(check_reply(put, no_etag, diag, body) == oss::client_errc::missing_etag);

  http::response denied;
  denied.status = 403;
  denied.headers.set("x-oss-request-id", "HDR-ID");
  denied.headers.set("x-oss-ec", "0003-00000001");
  denied.body = build_error_body("AccessDenied", "You have no right.", "", "h.example", "");
  diag.clear();
  CHECK(check_reply(put, denied, diag, body) == oss::server_errc::access_denied);
  CHECK(diag.http_status == 403);
  CHECK(diag.code == "AccessDenied");
  CHECK(diag.request_id == "HDR-ID");  // the body had none: the header's survives
  CHECK(diag.ec == "0003-00000001");
  CHECK(diag.host_id == "h.example");

  op_request head;
  REQUIRE_FALSE(make_head_object("k", head, problem));
  http::response missing;
  missing.status = 404;
  diag.clear();
  CHECK(check_reply(head, missing, diag, body) == oss::server_errc::no_such_key);
  http::response head_err;
  head_err.status = 403;
  std::string xml = build_error_body("SignatureDoesNotMatch", "bad sig", "RID-9", "h", "0002-00000040");
  head_err.headers.set("x-oss-err", base64_encode(xml.data(), xml.size()));
  diag.clear();
  CHECK(check_reply(head, head_err, diag, body) == oss::server_errc::signature_does_not_match);
  CHECK(diag.request_id == "RID-9");
  http::response bare;
  bare.status = 502;
  CHECK(check_reply(head, bare, diag, body) == oss::make_http_status_error(502));

  // A 200 Complete whose body is an <Error> document is that error.
  std::vector<oss::completed_part> parts{{1, "\"A\""}};
  op_request complete;
  REQUIRE_FALSE(make_complete("k", "id", parts, complete, problem));
  http::response hidden;
  hidden.status = 200;
  hidden.body = build_error_body("InternalError", "try again", "RID-1", "h", "");
  diag.clear();
  CHECK(check_reply(complete, hidden, diag, body) == oss::server_errc::internal_error);
  CHECK(diag.http_status == 200);
  // ... but the same bytes as an object's content are just content.
  op_request get;
  REQUIRE_FALSE(make_get_object("k", 1 << 20, get, problem));
  CHECK_FALSE(check_reply(get, hidden, diag, body));
  http::response bad_get = hidden;
  bad_get.headers.set("x-oss-hash-crc64ecma", "1");
  CHECK(check_reply(get, bad_get, diag, body) == oss::client_errc::crc64_mismatch);

  CHECK(multipart_etag_part_count("\"3F2A-5\"") == 5);
  CHECK(multipart_etag_part_count("ABC-10000") == 10000);
  CHECK(multipart_etag_part_count("\"5D41402ABC4B2A76B9719D911017C592\"") == 0);
  CHECK(multipart_etag_part_count("\"AB-\"") == 0);
  CHECK(multipart_etag_part_count("\"AB-x1\"") == 0);
}

// =================================================================================================
// Against the local server
// =================================================================================================

TEST_CASE("put, get and head: V1 and V4, path-style and virtual-hosted") {
  local_env env;
  const std::string data = oss_test::random_bytes(300'000, 11);
  int round = 0;
  for (auto signature : {oss::signature_version::v1, oss::signature_version::v4}) {
    for (auto style : {oss::addressing_style::path_style, oss::addressing_style::virtual_hosted}) {
      CAPTURE(static_cast<int>(signature));
      CAPTURE(static_cast<int>(style));
      asio::io_context io;
      // Virtual-hosted needs a name: localhost resolves, and Host becomes
      // client-bucket.localhost:PORT, which the server reads as the bucket.
      auto opts = base_options(local_endpoint(env.server.port(), "localhost"));
      opts.signature = signature;
      opts.address_style = style;
      oss::client client(io.get_executor(), opts);
      const std::string name = "dir/round " + std::to_string(round++) + "/äö+.bin";
      run_coro(io, [&]() -> asio::awaitable<void> {
        oss::object_options none;
        oss::put_result put = co_await client.put_object(name, asio::buffer(data), none);
        CHECK(put.crc64 == crc_of(data));
        CHECK(put.etag.size() == 34);  // quoted MD5 hex
        std::string back = co_await client.get_object(name);
        CHECK(back == data);
        oss::object_meta meta = co_await client.head(name);
        CHECK(meta.size == data.size());
        CHECK(meta.etag == put.etag);
        CHECK(meta.crc64 == crc_of(data));
        CHECK(meta.content_type == "application/octet-stream");
        CHECK(meta.part_count() == 0);
      });
    }
  }
}

TEST_CASE("STS tokens and anonymous access") {
  const std::string data = "temporary credentials";
  {
    local_env env(with_token("sts-token-123"));
    for (auto signature : {oss::signature_version::v1, oss::signature_version::v4}) {
      asio::io_context io;
      auto opts = base_options(env.server.endpoint());
      opts.signature = signature;
      opts.creds.security_token = "sts-token-123";
      oss::client client(io.get_executor(), opts);
      auto bad_opts = opts;
      bad_opts.creds.security_token = "stale-token";
      oss::client stale(io.get_executor(), bad_opts);
      run_coro(io, [&]() -> asio::awaitable<void> {
        oss::object_options none;
        co_await client.put_object("sts.txt", asio::buffer(data), none);
        CHECK(co_await client.get_object("sts.txt") == data);
        std::error_code ec;
        oss::diagnostics diag;
        std::tie(ec, std::ignore) = co_await stale.async_get_object("sts.txt", diag, oss_test::tuple_token);
        CHECK(ec == oss::server_errc::invalid_security_token);
        CHECK(diag.http_status == 403);
        CHECK(diag.attempts == 1);  // credential errors are not retried
      });
    }
  }
  {
    local_env env(anonymous_server());
    asio::io_context io;
    auto opts = base_options(env.server.endpoint());
    opts.creds = {};
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      oss::object_options none;
      co_await client.put_object("anon.txt", asio::buffer(data), none);
      CHECK(co_await client.get_object("anon.txt") == data);
    });
  }
}

TEST_CASE("object metadata round trip through head") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  const std::string data = "{\"hello\": 1}";
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options opts;
    opts.meta = {{"Year", "2020"}, {"people", "test"}};
    opts.headers = {{"Cache-Control", "no-cache"},
                    {"Content-Disposition", "attachment; filename=\"data.json\""},
                    {"x-oss-meta-source", "unit"}};
    co_await client.put_object("meta/data.json", asio::buffer(data), opts);
    oss::object_meta meta = co_await client.head("meta/data.json");
    CHECK(meta.content_type == "application/json");  // guessed from the extension
    CHECK(meta.cache_control == "no-cache");
    CHECK(meta.content_disposition == "attachment; filename=\"data.json\"");
    CHECK(meta.object_type == "Normal");
    CHECK_FALSE(meta.last_modified.empty());
    auto meta_value = [&](std::string_view k) -> std::string {
      for (const auto& [n, v] : meta.meta)
        if (n == k) return v;
      return "<absent>";
    };
    CHECK(meta_value("year") == "2020");
    CHECK(meta_value("people") == "test");
    CHECK(meta_value("source") == "unit");

    oss::object_options explicit_mime;
    explicit_mime.mime = "text/x-log";
    explicit_mime.content_md5 = true;
    co_await client.put_object("meta/data.json", asio::buffer(data), explicit_mime);
    meta = co_await client.head("meta/data.json");
    CHECK(meta.content_type == "text/x-log");
    CHECK(meta.meta.empty());  // a PutObject replaces the object with its metadata
  });
}

TEST_CASE("multipart: initiate, parts, paginated ListParts, complete, head, abort") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  const std::string data = oss_test::random_bytes(5 * 102'400 + 777, 21);
  const auto chunks = split(data, 102'400);  // 6 parts, the last one short
  const std::string name = "multi/vidéo 1+2.mp4";  // encoded in paths, URL-encoded in listings
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options opts;
    opts.meta = {{"kind", "video"}};
    opts.headers = {{"Cache-Control", "max-age=60"}};
    std::string upload_id = co_await client.initiate_multipart_upload(name, opts);
    CHECK_FALSE(upload_id.empty());

    std::vector<oss::completed_part> done;
    // Upload out of order, one of them with Content-MD5.
    for (int i : {3, 1, 6, 2, 5, 4}) {
      const std::string& chunk = chunks[static_cast<std::size_t>(i - 1)];
      oss::part_result part = co_await client.upload_part(name, upload_id, i, asio::buffer(chunk), i == 2);
      CHECK(part.part_number == i);
      CHECK(part.crc64 == crc_of(chunk));
      CHECK_FALSE(part.etag.empty());
      done.push_back({i, part.etag});
    }

    oss::list_parts_options page_opts;
    page_opts.max_parts = 4;
    oss::list_parts_result first = co_await client.list_parts(name, upload_id, page_opts);
    CHECK(first.is_truncated);
    REQUIRE(first.parts.size() == 4);
    CHECK(first.parts[0].part_number == 1);
    CHECK(first.next_part_number_marker == 4);
    page_opts.part_number_marker = first.next_part_number_marker;
    oss::list_parts_result second = co_await client.list_parts(name, upload_id, page_opts);
    CHECK_FALSE(second.is_truncated);
    REQUIRE(second.parts.size() == 2);
    CHECK(second.parts[1].part_number == 6);
    CHECK(second.parts[1].size == chunks[5].size());

    oss::list_parts_result all = co_await client.list_all_parts(name, upload_id);
    REQUIRE(all.parts.size() == 6);
    CHECK(all.upload_id == upload_id);
    std::uint64_t combined = 0;
    for (const auto& p : all.parts) {
      const std::string& chunk = chunks[static_cast<std::size_t>(p.part_number - 1)];
      CHECK(p.size == chunk.size());
      CHECK(p.crc64 == crc_of(chunk));
      combined = oss::detail::crc64_combine(combined, *p.crc64, p.size);
    }
    CHECK(combined == crc_of(data));

    oss::list_uploads_result uploads = co_await client.list_multipart_uploads();
    REQUIRE(uploads.uploads.size() == 1);
    CHECK(uploads.uploads[0].key == name);
    CHECK(uploads.uploads[0].upload_id == upload_id);

    oss::complete_result complete = co_await client.complete_multipart_upload(name, upload_id, done);
    CHECK(complete.key == name);
    CHECK(complete.bucket == test_bucket);
    CHECK(complete.etag.find("-6") != std::string::npos);
    CHECK(complete.crc64 == crc_of(data));
    CHECK_FALSE(complete.reconciled);

    oss::object_meta meta = co_await client.head(name);
    CHECK(meta.part_count() == 6);
    CHECK(meta.etag == complete.etag);
    CHECK(meta.size == data.size());
    CHECK(meta.crc64 == crc_of(data));
    CHECK(meta.object_type == "Multipart");
    CHECK(meta.content_type == "video/mp4");
    CHECK(meta.cache_control == "max-age=60");
    REQUIRE(meta.meta.size() == 1);
    CHECK(meta.meta[0].second == "video");
    CHECK(co_await client.get_object(name) == data);

    // The upload id is dead now: Abort still succeeds (nothing is left behind), and
    // UploadPart reports NoSuchUpload with the part number.
    co_await client.abort_multipart_upload(name, upload_id);
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_upload_part(name, upload_id, 7, asio::buffer(chunks[0]), false, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_upload);
    CHECK(diag.operation == "UploadPart");
    CHECK(diag.part_number == 7);
    CHECK(diag.code == "NoSuchUpload");
    CHECK_FALSE(diag.request_id.empty());
    CHECK((co_await client.list_multipart_uploads()).uploads.empty());
  });
}

TEST_CASE("abort and list multipart uploads with prefix and paging") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string a = co_await client.initiate_multipart_upload("logs/a.log", none);
    std::string b = co_await client.initiate_multipart_upload("logs/b.log", none);
    std::string c = co_await client.initiate_multipart_upload("other/c.bin", none);
    CHECK(a != b);

    oss::list_uploads_options logs;
    logs.prefix = "logs/";
    oss::list_uploads_result r = co_await client.list_multipart_uploads(logs);
    CHECK(r.uploads.size() == 2);
    CHECK_FALSE(r.is_truncated);

    logs.max_uploads = 1;
    r = co_await client.list_multipart_uploads(logs);
    REQUIRE(r.uploads.size() == 1);
    CHECK(r.is_truncated);
    CHECK(r.uploads[0].key == "logs/a.log");
    logs.key_marker = r.next_key_marker;
    logs.upload_id_marker = r.next_upload_id_marker;
    r = co_await client.list_multipart_uploads(logs);
    REQUIRE(r.uploads.size() == 1);
    CHECK(r.uploads[0].key == "logs/b.log");

    co_await client.abort_multipart_upload("logs/a.log", a);
    co_await client.abort_multipart_upload("logs/a.log", a);  // twice: still fine
    oss::list_uploads_options all;
    r = co_await client.list_multipart_uploads(all);
    CHECK(r.uploads.size() == 2);
    std::error_code ec;
    oss::diagnostics diag;
    oss::list_parts_options first_page;
    std::tie(ec, std::ignore) = co_await client.async_list_parts("logs/a.log", a, first_page, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_upload);
    co_await client.abort_multipart_upload("logs/b.log", b);
    co_await client.abort_multipart_upload("other/c.bin", c);
    CHECK((co_await client.list_multipart_uploads(all)).uploads.empty());
  });
}

TEST_CASE("validation errors are reported before any request") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  env.server.reset_stats();
  const std::string data = "payload";
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    oss::object_options none;
    auto body = asio::buffer(data);

    std::tie(ec, std::ignore) = co_await client.async_put_object("", body, none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);
    CHECK(diag.operation == "PutObject");
    CHECK_FALSE(diag.client_message.empty());
    std::tie(ec, std::ignore) = co_await client.async_put_object("/leading", body, none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);
    std::tie(ec, std::ignore) = co_await client.async_put_object(std::string(1024, 'n'), body, none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);
    std::tie(ec, std::ignore) = co_await client.async_get_object("bad\xff", diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);
    std::tie(ec, std::ignore) = co_await client.async_head("\\x", diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);

    oss::object_options bad_header;
    bad_header.headers = {{"Cache-Control", "x\r\nInjected: 1"}};
    std::tie(ec, std::ignore) = co_await client.async_put_object("k", body, bad_header, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_header_value);
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("k", bad_header, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_header_value);
    oss::object_options bad_meta;
    bad_meta.meta = {{"no_underscores", "v"}};
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("k", bad_meta, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_metadata);
    oss::object_options huge_meta;
    huge_meta.meta = {{"big", std::string(9000, 'x')}};
    std::tie(ec, std::ignore) = co_await client.async_put_object("k", body, huge_meta, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::metadata_too_large);

    std::tie(ec, std::ignore) = co_await client.async_upload_part("k", "id", 0, body, false, diag, oss_test::tuple_token);
    CHECK(ec == std::errc::invalid_argument);
    CHECK(diag.operation == "UploadPart");
    std::tie(ec, std::ignore) = co_await client.async_upload_part("k", "", 1, body, false, diag, oss_test::tuple_token);
    CHECK(ec == std::errc::invalid_argument);
    std::vector<oss::completed_part> none_parts;
    std::tie(ec, std::ignore) = co_await client.async_complete_multipart_upload("k", "id", none_parts, diag, oss_test::tuple_token);
    CHECK(ec == std::errc::invalid_argument);
    std::tie(ec) = co_await client.async_abort_multipart_upload("", "id", diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::invalid_object_name);
    oss::list_parts_options lp;
    lp.max_parts = 5000;
    std::tie(ec, std::ignore) = co_await client.async_list_parts("k", "id", lp, diag, oss_test::tuple_token);
    CHECK(ec == std::errc::invalid_argument);
    oss::list_uploads_options lu;
    lu.max_uploads = -1;
    std::tie(ec, std::ignore) = co_await client.async_list_multipart_uploads(lu, diag, oss_test::tuple_token);
    CHECK(ec == std::errc::invalid_argument);

    // The throwing form throws oss::error with the same code.
    bool thrown = false;
    try {
      co_await client.put_object("/x", body, none);
    } catch (const oss::error& e) {
      thrown = true;
      CHECK(e.code() == oss::client_errc::invalid_object_name);
      CHECK(e.get_diagnostics().operation == "PutObject");
    }
    CHECK(thrown);
  });
  CHECK(env.server.stats().requests == 0);
}

TEST_CASE("a wrong secret gives SignatureDoesNotMatch without secrets in the message") {
  local_env env;
  for (auto signature : {oss::signature_version::v1, oss::signature_version::v4}) {
    asio::io_context io;
    auto opts = base_options(env.server.endpoint());
    opts.signature = signature;
    const std::string wrong_secret = "wrong-secret-Kx81";
    opts.creds.access_key_secret = wrong_secret;
    oss::client client(io.get_executor(), opts);
    env.server.reset_stats();
    run_coro(io, [&]() -> asio::awaitable<void> {
      const std::string data = "x";
      bool thrown = false;
      try {
        oss::object_options none;
        co_await client.put_object("secret.txt", asio::buffer(data), none);
      } catch (const oss::error& e) {
        thrown = true;
        const auto& d = e.get_diagnostics();
        CHECK(e.code() == oss::server_errc::signature_does_not_match);
        CHECK(d.code == "SignatureDoesNotMatch");
        CHECK(d.http_status == 403);
        CHECK_FALSE(d.request_id.empty());
        CHECK(d.operation == "PutObject");
        CHECK(d.attempts == 1);
        const std::string what = e.what();
        CHECK(what.find("SignatureDoesNotMatch") != std::string::npos);
        CHECK(what.find(wrong_secret) == std::string::npos);
        CHECK(what.find(test_secret) == std::string::npos);
        CHECK(what.find(test_key_id) == std::string::npos);
        CHECK(what.find("Authorization") == std::string::npos);
        CHECK(d.message.find(test_key_id) == std::string::npos);
        CHECK(d.message.find(wrong_secret) == std::string::npos);
      }
      CHECK(thrown);
    });
    CHECK(env.server.stats().requests == 1);
  }
}

TEST_CASE("missing objects: NoSuchKey from GET (error body) and HEAD (no body)") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_get_object("nope", diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_key);
    CHECK(diag.http_status == 404);
    CHECK_FALSE(diag.request_id.empty());
    std::tie(ec, std::ignore) = co_await client.async_head("nope", diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_key);
    CHECK(diag.http_status == 404);
    CHECK(diag.operation == "HeadObject");
    CHECK_FALSE(diag.request_id.empty());
  });
}

TEST_CASE("keep-alive: sequential requests reuse one connection") {
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  env.server.reset_stats();
  run_coro(io, [&]() -> asio::awaitable<void> {
    const std::string data(1000, 'k');
    oss::object_options none;
    for (int i = 0; i < 5; ++i) {
      co_await client.put_object("ka/" + std::to_string(i), asio::buffer(data), none);
      co_await client.head("ka/" + std::to_string(i));
    }
  });
  auto stats = env.server.stats();
  CHECK(stats.requests == 10);
  CHECK(stats.connections == 1);
}

TEST_CASE("keep-alive: Initiate and Complete open a connection of their own, which is then reused") {
  // Setup: one connection at most, so a fresh connection must replace the idle one.
  local_env env;
  asio::io_context io;
  auto opts = base_options(env.server.endpoint());
  opts.max_connections = 1;
  oss::client client(io.get_executor(), opts);
  const std::string data(1000, 'f');
  env.server.reset_stats();

  // Run
  oss::complete_result done;
  run_coro(io, [&]() -> asio::awaitable<void> {
    co_await client.put_object("fresh/a", asio::buffer(data));             // connection 1
    std::string id = co_await client.initiate_multipart_upload("fresh/b");  // 2 (1 is closed)
    auto part = co_await client.upload_part("fresh/b", id, 1, asio::buffer(data));  // 2 again
    std::vector<oss::completed_part> parts{{1, part.etag}};
    done = co_await client.complete_multipart_upload("fresh/b", id, parts);  // 3 (2 is closed)
    co_await client.head("fresh/b");                                          // 3 again
  });

  // Check
  CHECK(done.etag.find("-1") != std::string::npos);
  auto stats = env.server.stats();
  CHECK(stats.requests == 5);
  CHECK(stats.connections == 3);
  CHECK(stats.errors == 0);
}

TEST_CASE("get_object refuses objects above max_get_object_size and the client stays usable") {
  local_env env;
  asio::io_context io;
  auto opts = base_options(env.server.endpoint());
  opts.max_get_object_size = 1000;
  oss::client client(io.get_executor(), opts);
  run_coro(io, [&]() -> asio::awaitable<void> {
    const std::string small(1000, 's');
    const std::string large(1001, 'l');
    co_await client.put_object("small", asio::buffer(small));
    co_await client.put_object("large", asio::buffer(large));
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_get_object("large", diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::response_too_large);
    CHECK(diag.operation == "GetObject");
    CHECK(diag.attempts == 1);
    CHECK(co_await client.get_object("small") == small);
  });
}

TEST_CASE("concurrent operations on one client") {
  local_env env;
  asio::io_context io;
  auto opts = base_options(env.server.endpoint());
  opts.max_connections = 3;
  oss::client client(io.get_executor(), opts);
  const std::string data = oss_test::random_bytes(200'000, 5);
  int finished = 0;
  for (int i = 0; i < 8; ++i) {
    auto one = [&client, &data, &finished, i]() -> asio::awaitable<void> {
      oss::object_options none;
      auto r = co_await client.put_object("par/" + std::to_string(i), asio::buffer(data), none);
      CHECK(r.crc64 == crc_of(data));
      ++finished;
    };
    asio::co_spawn(io, std::move(one), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  io.run_for(60s);
  CHECK(finished == 8);
  CHECK(env.server.stats().connections <= 3);
  CHECK(env.server.stats().peak_in_flight <= 3);
}

TEST_CASE("one client driven from two threads of one io_context") {
  local_env env;
  asio::io_context io(2);
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  const std::string data = oss_test::random_bytes(64'000, 8);
  std::atomic<int> verified{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < 16; ++i) {
    auto one = [&client, &data, &verified, i]() -> asio::awaitable<void> {
      const std::string name = "threads/" + std::to_string(i);
      auto put = co_await client.put_object(name, asio::buffer(data));
      auto back = co_await client.get_object(name);
      if (put.crc64 == crc_of(data) && back == data) ++verified;
    };
    asio::co_spawn(io, std::move(one), [&failed](std::exception_ptr e) {
      if (e) ++failed;
    });
  }
  std::thread second([&io] { io.run_for(60s); });
  io.run_for(60s);
  second.join();
  CHECK(verified == 16);
  CHECK(failed == 0);
  CHECK(env.server.stats().requests == 32);
}

TEST_CASE("HTTPS with a self-signed certificate: trusted through ca_file, refused otherwise") {
  const oss_test::self_signed_cert certs("localhost");
  const std::string& cert = certs.cert_file();
  const std::string& key = certs.key_file();
  local_env env(with_tls(cert, key));
  const std::string endpoint = local_endpoint(env.server.port(), "localhost", true);
  const std::string data = oss_test::random_bytes(150'000, 9);

  {
    asio::io_context io;
    auto opts = base_options(endpoint);
    opts.ca_file = cert;
    opts.address_style = oss::addressing_style::virtual_hosted;
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      oss::object_options none;
      auto put = co_await client.put_object("tls/obj.bin", asio::buffer(data), none);
      CHECK(put.crc64 == crc_of(data));
      CHECK(co_await client.get_object("tls/obj.bin") == data);
    });
  }
  {
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(endpoint));  // system CAs only
    env.server.reset_stats();
    run_coro(io, [&]() -> asio::awaitable<void> {
      std::error_code ec;
      oss::diagnostics diag;
      std::tie(ec, std::ignore) = co_await client.async_get_object("tls/obj.bin", diag, oss_test::tuple_token);
      CHECK(ec);
      CHECK(ec.category() == asio::error::get_ssl_category());
      CHECK(diag.http_status == 0);
    });
    CHECK(env.server.stats().requests == 0);
  }
  {
    // The caller's own TLS context, trusting the certificate itself.
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(cert);
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(endpoint), tls);
    run_coro(io, [&]() -> asio::awaitable<void> {
      CHECK((co_await client.head("tls/obj.bin")).size == data.size());
    });
  }
  {
    // Verification off: encryption only, the self-signed certificate is accepted.
    asio::io_context io;
    auto opts = base_options(endpoint);
    opts.verify_tls = false;
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      CHECK((co_await client.head("tls/obj.bin")).size == data.size());
    });
  }
  {
    // Wrong name: the certificate names localhost only, and 127.0.0.1 is not localhost.
    asio::io_context io;
    auto opts = base_options(local_endpoint(env.server.port(), "127.0.0.1", true));
    opts.ca_file = cert;
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      std::error_code ec;
      oss::diagnostics diag;
      std::tie(ec, std::ignore) = co_await client.async_head("tls/obj.bin", diag, oss_test::tuple_token);
      CHECK(ec.category() == asio::error::get_ssl_category());
    });
  }
}

// =================================================================================================
// Through the fault proxy
// =================================================================================================

TEST_CASE("CNAME: Host is the endpoint and the path is the key alone") {
  local_env env;
  fault_proxy proxy(env.server.port(), [](int, const seen_request& r) {
    proxy_action a;
    // The local server reads a bare-IP Host as path style: add the bucket for it.
    a.rewrite_target = std::string("/") + test_bucket + r.target;
    return a;
  });
  asio::io_context io;
  auto opts = base_options(proxy.endpoint());
  opts.address_style = oss::addressing_style::cname;
  oss::client client(io.get_executor(), opts);
  const std::string data = "served from a custom domain";
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    co_await client.put_object("site/index.html", asio::buffer(data), none);
    CHECK(co_await client.get_object("site/index.html") == data);
  });
  auto seen = proxy.requests();
  REQUIRE(seen.size() == 2);
  for (const auto& r : seen) {
    CHECK(r.target == "/site/index.html");
    REQUIRE(r.headers.find("Host"));
    CHECK(*r.headers.find("Host") == "127.0.0.1:" + std::to_string(proxy.port()));
  }
  CHECK(*seen[0].headers.find("Content-Type") == "text/html");
  REQUIRE(seen[0].headers.find("User-Agent"));
  CHECK(seen[0].headers.find("User-Agent")->starts_with("asio-oss/"));
}

TEST_CASE("retries: throttling and server errors are retried with back-off, up to max_attempts") {
  local_env env;
  fault_proxy proxy(env.server.port(), [](int index, const seen_request&) {
    proxy_action a;
    if (index == 0) {
      a.what = proxy_action::kind::respond;
      a.canned = error_reply(503, "SlowDown", "Please reduce your request rate.");
    } else if (index == 1) {
      a.what = proxy_action::kind::respond;
      a.canned = error_reply(500, "InternalError", "We encountered an internal error.");
    }
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string data = "retry me";
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    auto r = co_await client.put_object("retry.txt", asio::buffer(data), none);
    CHECK(r.crc64 == crc_of(data));
  });
  CHECK(proxy.requests().size() == 3);
  CHECK(env.server.stats().put_object == 1);

  // Server errors: with two attempts the second failure is final; diagnostics name the last
  // one. Throttling is bounded by retry_time instead, however many attempts that takes.
  std::atomic<int> status{500};
  fault_proxy always_busy(env.server.port(), [&](int, const seen_request&) {
    proxy_action a;
    a.what = proxy_action::kind::respond;
    a.canned = status == 500 ? error_reply(500, "InternalError", "We encountered an internal error.")
                             : error_reply(503, "SlowDown", "Please reduce your request rate.");
    return a;
  });
  auto opts = base_options(always_busy.endpoint());
  opts.max_attempts = 2;
  opts.retry_time = 100ms;
  oss::client limited(io.get_executor(), opts);
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await limited.async_head("retry.txt", diag, oss_test::tuple_token);
    CHECK(ec == oss::make_http_status_error(500));  // HEAD: the body is not read
    CHECK(diag.attempts == 2);
    oss::object_options none;
    std::tie(ec, std::ignore) = co_await limited.async_put_object("retry.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::internal_error);
    CHECK(diag.code == "InternalError");
    CHECK(diag.request_id == "PROXY-REQ-1");
    CHECK(diag.attempts == 2);
    status = 503;
    const auto started = std::chrono::steady_clock::now();
    std::tie(ec, std::ignore) = co_await limited.async_put_object("retry.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::slow_down);
    CHECK(diag.attempts > 2);
    CHECK(diag.client_message.find("retry time") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 10s);
  });
  CHECK(always_busy.requests().size() > 6);
}

TEST_CASE("RequestTimeTooSkewed: the client adopts the server clock and re-signs") {
  local_env env;
  const auto server_ahead = 10min;  // within the local server's own 15 min tolerance
  for (bool from_date_header : {true, false}) {
    CAPTURE(from_date_header);
    fault_proxy proxy(env.server.port(), [&](int index, const seen_request&) {
      proxy_action a;
      if (index == 0) {
        auto server_now = std::chrono::system_clock::now() + server_ahead;
        std::string iso = oss::detail::iso8601_extended(server_now);
        std::pair<std::string_view, std::string_view> extra[] = {{"ServerTime", iso}};
        a.what = proxy_action::kind::respond;
        a.canned = error_reply(403, "RequestTimeTooSkewed",
                               "The difference between the request time and the current time is too large.",
                               extra);
        if (from_date_header) a.canned.headers.set("Date", oss::detail::http_date(server_now));
      }
      return a;
    });
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(proxy.endpoint()));
    const std::string data = "skewed";
    run_coro(io, [&]() -> asio::awaitable<void> {
      oss::object_options none;
      co_await client.put_object("skew.txt", asio::buffer(data), none);
      co_await client.head("skew.txt");
    });
    CHECK(client.clock_offset() > server_ahead - 1min);
    CHECK(client.clock_offset() < server_ahead + 1min);
    auto seen = proxy.requests();
    REQUIRE(seen.size() == 3);
    for (std::size_t i = 1; i < seen.size(); ++i) {
      // Both the retry and every later request carry the server's time.
      auto date = oss::detail::parse_http_date(*seen[i].headers.find("Date"));
      REQUIRE(date);
      auto ahead = *date - std::chrono::system_clock::now();
      CHECK(ahead > server_ahead - 1min);
      CHECK(ahead < server_ahead + 1min);
    }
  }
}

TEST_CASE("integrity: CRC-64 mismatches are retried then reported; a part without ETag fails") {
  local_env env;
  std::atomic<int> corrupt_remaining{1};
  std::atomic<bool> strip_etag{false};
  fault_proxy proxy(env.server.port(), [&](int, const seen_request& r) {
    proxy_action a;
    if (r.method == "PUT" && r.target.find("partNumber=") != std::string::npos) {
      a.edit = [&](http::response& reply) {
        if (corrupt_remaining > 0) {
          --corrupt_remaining;
          reply.headers.set("x-oss-hash-crc64ecma", "12345");
        }
        if (strip_etag) reply.headers.erase("ETag");
      };
    }
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string data = oss_test::random_bytes(120'000, 3);
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string id = co_await client.initiate_multipart_upload("crc.bin", none);
    auto part = co_await client.upload_part("crc.bin", id, 1, asio::buffer(data));
    CHECK(part.crc64 == crc_of(data));
    CHECK(proxy.count("PUT", "partNumber=1") == 2);  // one corrupted reply, one retry

    corrupt_remaining = 100;
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_upload_part("crc.bin", id, 2, asio::buffer(data), false, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::crc64_mismatch);
    CHECK(diag.attempts == 3);
    CHECK(diag.part_number == 2);
    CHECK(diag.client_message.find("12345") != std::string::npos);

    corrupt_remaining = 0;
    strip_etag = true;
    std::tie(ec, std::ignore) = co_await client.async_upload_part("crc.bin", id, 3, asio::buffer(data), false, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::missing_etag);
    CHECK(diag.attempts == 1);
  });
}

TEST_CASE("request ids: put, part and complete results carry their reply's x-oss-request-id") {
  // Setup: a pass-through proxy that notes the request id of every reply, in request order.
  local_env env;
  std::mutex ids_mutex;
  std::vector<std::string> reply_ids;
  fault_proxy proxy(env.server.port(), [&](int, const seen_request&) {
    proxy_action a;
    a.edit = [&](http::response& reply) {
      const std::string* id = reply.headers.find("x-oss-request-id");
      std::lock_guard lock(ids_mutex);
      reply_ids.push_back(id ? *id : std::string());
    };
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string data = oss_test::random_bytes(102'400 + 500, 31);
  const auto chunks = split(data, 102'400);
  oss::put_result put;
  std::vector<oss::part_result> parts;
  oss::complete_result complete;

  // Run
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    put = co_await client.put_object("ids/small.txt", asio::buffer(data), none);
    std::string id = co_await client.initiate_multipart_upload("ids/big.bin", none);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      oss::part_result p = co_await client.upload_part("ids/big.bin", id, static_cast<int>(i + 1),
                                                       asio::buffer(chunks[i]));
      parts.push_back(std::move(p));
    }
    std::vector<oss::completed_part> listed;
    for (const auto& p : parts) listed.push_back({p.part_number, p.etag});
    complete = co_await client.complete_multipart_upload("ids/big.bin", id, listed);
  });

  // Check: put, initiate, part 1, part 2, complete; each result holds its own reply's id.
  std::lock_guard lock(ids_mutex);
  REQUIRE(reply_ids.size() == 5);
  CHECK(put.request_id == reply_ids[0]);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].request_id == reply_ids[2]);
  CHECK(parts[1].request_id == reply_ids[3]);
  CHECK(complete.request_id == reply_ids[4]);
  CHECK_FALSE(complete.reconciled);
  const std::set<std::string> distinct(reply_ids.begin(), reply_ids.end());
  CHECK(distinct.size() == 5);  // the local server numbers every reply
  CHECK_FALSE(distinct.contains(""));
}

TEST_CASE("precomputed digests: the client sends and checks them instead of hashing the body") {
  // Setup: a proxy that only watches, to see which Content-MD5 left the client.
  local_env env;
  fault_proxy proxy(env.server.port(), {});
  asio::io_context io;
  auto opts = base_options(proxy.endpoint());
  opts.max_attempts = 2;
  oss::client client(io.get_executor(), opts);
  const std::string data = oss_test::random_bytes(120'000, 32);
  const auto body_md5 = oss::detail::md5(data);
  const std::string body_md5_text = oss::detail::base64_encode(body_md5.data(), body_md5.size());
  auto last_content_md5 = [&]() -> std::string {
    const auto seen = proxy.requests();
    if (seen.empty()) return "<no request>";
    const std::string* v = seen.back().headers.find("Content-MD5");
    return v ? *v : "<absent>";
  };

  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string id = co_await client.initiate_multipart_upload("digests.bin", none);
    std::error_code ec;
    oss::diagnostics diag;

    // Right values: sent as given, and the result reports the given CRC.
    oss::body_digests right;
    right.crc64 = crc_of(data);
    right.md5 = body_md5;
    oss::part_result part = co_await client.upload_part("digests.bin", id, 1, asio::buffer(data), right);
    CHECK(part.crc64 == crc_of(data));
    CHECK(last_content_md5() == body_md5_text);
    CHECK_FALSE(part.request_id.empty());

    // A CRC alone sends no Content-MD5.
    oss::body_digests crc_only;
    crc_only.crc64 = crc_of(data);
    std::tie(ec, std::ignore) = co_await client.async_upload_part("digests.bin", id, 2, asio::buffer(data), crc_only, diag, oss_test::tuple_token);
    CHECK_FALSE(ec);
    CHECK(last_content_md5() == "<absent>");

    // A wrong CRC is the client's mismatch with the server's CRC (retried like any mismatch),
    // which proves the given value is the one compared.
    oss::body_digests wrong_crc = right;
    *wrong_crc.crc64 ^= 1;
    const std::size_t before = proxy.requests().size();
    std::tie(ec, std::ignore) = co_await client.async_upload_part("digests.bin", id, 3, asio::buffer(data), wrong_crc, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::crc64_mismatch);
    CHECK(diag.part_number == 3);
    CHECK(diag.attempts == 2);
    CHECK(proxy.requests().size() == before + 2);
    CHECK(diag.client_message.find(std::to_string(*wrong_crc.crc64)) != std::string::npos);

    // A wrong MD5 reaches the server, which refuses the body: InvalidDigest (retried, as it
    // usually means damage in flight).
    oss::body_digests wrong_md5 = right;
    (*wrong_md5.md5)[0] ^= 0xff;
    std::tie(ec, std::ignore) = co_await client.async_upload_part("digests.bin", id, 4, asio::buffer(data), wrong_md5, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::invalid_digest);
    CHECK(diag.code == "InvalidDigest");
    CHECK(diag.attempts == 2);
    CHECK(last_content_md5() == oss::detail::base64_encode(wrong_md5.md5->data(), wrong_md5.md5->size()));

    // The throwing form reports the same.
    bool threw = false;
    try {
      co_await client.upload_part("digests.bin", id, 5, asio::buffer(data), wrong_md5);
    } catch (const oss::error& e) {
      threw = e.code() == oss::server_errc::invalid_digest;
    }
    CHECK(threw);
    co_await client.abort_multipart_upload("digests.bin", id);

    // PutObject: the same rules; a Content-MD5 asked for but not given is computed.
    oss::put_result put = co_await client.put_object("digests.txt", asio::buffer(data), none, right);
    CHECK(put.crc64 == crc_of(data));
    CHECK(last_content_md5() == body_md5_text);
    std::tie(ec, std::ignore) = co_await client.async_put_object("digests.txt", asio::buffer(data), none, wrong_md5, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::invalid_digest);
    std::tie(ec, std::ignore) = co_await client.async_put_object("digests.txt", asio::buffer(data), none, wrong_crc, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::crc64_mismatch);
    CHECK(diag.operation == "PutObject");
    oss::object_options md5_on;
    md5_on.content_md5 = true;
    put = co_await client.put_object("digests.txt", asio::buffer(data), md5_on, crc_only);
    CHECK(last_content_md5() == body_md5_text);
    CHECK(co_await client.get_object("digests.txt") == data);
  });
}

TEST_CASE("Complete: a 200 reply with an <Error> body is an error, and is retried") {
  local_env env;
  std::atomic<int> hide_errors{1};
  fault_proxy proxy(env.server.port(), [&](int, const seen_request& r) {
    proxy_action a;
    if (r.method == "POST" && r.target.find("uploadId=") != std::string::npos && hide_errors > 0) {
      --hide_errors;
      a.what = proxy_action::kind::respond;
      a.canned = error_reply(200, "InternalError", "We encountered an internal error.");
    }
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string data = oss_test::random_bytes(50'000, 4);
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string id = co_await client.initiate_multipart_upload("hidden.bin", none);
    auto part = co_await client.upload_part("hidden.bin", id, 1, asio::buffer(data));
    std::vector<oss::completed_part> parts{{1, part.etag}};
    auto done = co_await client.complete_multipart_upload("hidden.bin", id, parts);
    CHECK(done.etag.find("-1") != std::string::npos);
    CHECK(proxy.count("POST", "uploadId=") == 2);

    std::string id2 = co_await client.initiate_multipart_upload("hidden2.bin", none);
    auto part2 = co_await client.upload_part("hidden2.bin", id2, 1, asio::buffer(data));
    hide_errors = 100;
    std::vector<oss::completed_part> parts2{{1, part2.etag}};
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_complete_multipart_upload("hidden2.bin", id2, parts2, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::internal_error);
    CHECK(diag.http_status == 200);
    CHECK(diag.code == "InternalError");
    CHECK(diag.attempts == 3);
  });
}

TEST_CASE("Complete: a lost reply followed by NoSuchUpload is reconciled with HEAD") {
  local_env env;
  std::atomic<int> lose{1};
  std::mutex head_mutex;
  std::string head_request_id;
  fault_proxy proxy(env.server.port(), [&](int, const seen_request& r) {
    proxy_action a;
    if (r.method == "POST" && r.target.find("uploadId=") != std::string::npos && lose > 0) {
      --lose;
      a.what = proxy_action::kind::drop_after_forward;
    }
    if (r.method == "HEAD") {
      a.edit = [&](http::response& reply) {
        std::lock_guard lock(head_mutex);
        if (const std::string* id = reply.headers.find("x-oss-request-id")) head_request_id = *id;
      };
    }
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string data = oss_test::random_bytes(102'400 * 2 + 10, 6);
  const auto chunks = split(data, 102'400);
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string id = co_await client.initiate_multipart_upload("lost.bin", none);
    std::vector<oss::completed_part> parts;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      int n = static_cast<int>(i + 1);
      auto p = co_await client.upload_part("lost.bin", id, n, asio::buffer(chunks[i]));
      parts.push_back({n, p.etag, chunks[i].size(), p.crc64});
    }
    std::error_code complete_ec;
    oss::diagnostics complete_diag;
    oss::complete_result done;
    std::tie(complete_ec, done) =
        co_await client.async_complete_multipart_upload("lost.bin", id, parts, complete_diag, oss_test::tuple_token);
    CHECK_MESSAGE(!complete_ec, complete_diag.client_message);
    CHECK(done.reconciled);
    CHECK(done.etag.find("-3") != std::string::npos);
    CHECK(done.crc64 == crc_of(data));
    CHECK(proxy.count("POST", "uploadId=") == 2);
    CHECK(proxy.count("HEAD", "lost.bin") == 1);
    {
      // The HEAD reply is the one that proved the object.
      std::lock_guard lock(head_mutex);
      CHECK_FALSE(done.request_id.empty());
      CHECK(done.request_id == head_request_id);
    }

    // A NoSuchUpload that no earlier attempt explains stays an error.
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_complete_multipart_upload("lost.bin", id, parts, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_upload);
    CHECK(diag.attempts == 1);
  });
}

TEST_CASE("Initiate is retried when the server refused it, never after a lost reply") {
  local_env env;
  std::atomic<int> mode{0};  // 0: 503 once, 1: lose the reply
  fault_proxy proxy(env.server.port(), [&](int, const seen_request& r) {
    proxy_action a;
    if (r.method == "POST" && r.target.find("uploads") != std::string::npos) {
      if (mode == 0) {
        mode = 2;
        a.what = proxy_action::kind::respond;
        a.canned = error_reply(503, "ServiceUnavailable", "busy");
      } else if (mode == 1) {
        a.what = proxy_action::kind::drop_after_forward;
      }
    }
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options none;
    std::string id = co_await client.initiate_multipart_upload("init.bin", none);
    CHECK_FALSE(id.empty());
    CHECK(proxy.count("POST", "uploads") == 2);

    mode = 1;
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("init2.bin", none, diag, oss_test::tuple_token);
    CHECK(ec);
    CHECK(diag.attempts == 1);
    CHECK(diag.client_message.find("orphan") != std::string::npos);
    CHECK(proxy.count("POST", "uploads") == 3);
    // The server did create it: exactly the orphan a blind retry would have doubled.
    oss::list_uploads_options prefix;
    prefix.prefix = "init2";
    CHECK((co_await client.list_multipart_uploads(prefix)).uploads.size() == 1);
  });
}

TEST_CASE("Initiate is retried after a connect timeout: no byte of it left the client") {
  // Setup: HTTPS through a TCP relay whose held connections accept TCP and never answer the TLS
  // handshake, so the connect timeout fires before a request byte is written. The error code
  // is the same connection_timeout as a lost reply's; only the transport's report tells them
  // apart.
  const oss_test::self_signed_cert certs("localhost");
  const std::string& cert = certs.cert_file();
  const std::string& key = certs.key_file();
  local_env env(with_tls(cert, key));
  oss_test::tcp_relay relay(env.server.port());
  asio::io_context io;
  auto opts = base_options(local_endpoint(relay.port(), "127.0.0.1", true));
  opts.verify_tls = false;  // the certificate names localhost; 127.0.0.1 keeps the relay on IPv4
  // Long enough for a relayed handshake on a loaded machine; each held attempt waits it out.
  opts.connect_timeout = 500ms;
  opts.max_attempts = 3;
  oss::client client(io.get_executor(), opts);
  env.server.reset_stats();

  // Run
  std::string id;
  std::error_code ec;
  oss::diagnostics diag;
  std::size_t uploads = 0;
  run_coro(io, [&]() -> asio::awaitable<void> {
    relay.hold(1);
    oss::object_options none;
    id = co_await client.initiate_multipart_upload("retried.bin", none);
    relay.hold(3);
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("never.bin", none, diag, oss_test::tuple_token);
    uploads = (co_await client.list_multipart_uploads()).uploads.size();
  });

  // Check
  CHECK_FALSE(id.empty());
  CHECK(ec == oss::client_errc::connection_timeout);
  CHECK(diag.attempts == 3);
  CHECK(diag.client_message.find("orphan") == std::string::npos);
  CHECK(relay.accepted() == 1 + 1 + 3 + 1);  // held, relayed, 3 held, relayed
  CHECK(env.server.stats().initiate_multipart_upload == 1);
  CHECK(uploads == 1);
}

TEST_CASE("timeouts and cancellation") {
  local_env env;
  fault_proxy proxy(env.server.port(), [](int, const seen_request&) {
    proxy_action a;
    a.what = proxy_action::kind::hang;
    return a;
  });
  const std::string data = "never answered";

  SUBCASE("a stalled request times out and is retried") {
    asio::io_context io;
    auto opts = base_options(proxy.endpoint());
    opts.stall_timeout = 150ms;
    opts.max_attempts = 2;
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      std::error_code ec;
      oss::diagnostics diag;
      oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object("stall.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
      CHECK(ec == oss::client_errc::connection_timeout);
      CHECK(diag.attempts == 2);
    });
    CHECK(proxy.requests().size() == 2);
  }

  SUBCASE("a stalled Initiate times out and is not retried: its request was written") {
    asio::io_context io;
    auto opts = base_options(proxy.endpoint());
    opts.stall_timeout = 150ms;
    opts.max_attempts = 3;
    oss::client client(io.get_executor(), opts);
    run_coro(io, [&]() -> asio::awaitable<void> {
      std::error_code ec;
      oss::diagnostics diag;
      oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("stall.bin", none, diag, oss_test::tuple_token);
      CHECK(ec == oss::client_errc::connection_timeout);
      CHECK(diag.attempts == 1);
      CHECK(diag.client_message.find("orphan") != std::string::npos);
    });
    CHECK(proxy.requests().size() == 1);
  }

  SUBCASE("terminal cancellation ends a request in flight") {
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(proxy.endpoint()));
    asio::cancellation_signal signal;
    std::error_code ec;
    oss::diagnostics diag;
    bool finished = false;
    auto op = [&]() -> asio::awaitable<void> {
      oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object("cancel.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
      finished = true;
    };
    asio::co_spawn(io, std::move(op), asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));
    asio::steady_timer timer(io, 100ms);
    timer.async_wait([&](std::error_code) { signal.emit(asio::cancellation_type::terminal); });
    io.run_for(20s);
    CHECK(finished);
    CHECK(ec == asio::error::operation_aborted);
    CHECK(proxy.requests().size() == 1);  // not retried
  }
}

TEST_CASE("cancellation during the back-off wait") {
  local_env env;
  fault_proxy proxy(env.server.port(), [](int, const seen_request&) {
    proxy_action a;
    a.what = proxy_action::kind::respond;
    a.canned = error_reply(503, "SlowDown", "slow down");
    return a;
  });
  asio::io_context io;
  auto opts = base_options(proxy.endpoint());
  opts.retry_base_delay = 30000ms;  // any wait would outlast the test's watchdog
  opts.retry_max_delay = 60000ms;
  opts.max_attempts = 5;
  oss::client client(io.get_executor(), opts);
  asio::cancellation_signal signal;
  std::error_code ec;
  oss::diagnostics diag;
  bool finished = false;
  auto op = [&]() -> asio::awaitable<void> {
    std::tie(ec, std::ignore) = co_await client.async_head("backoff.txt", diag, oss_test::tuple_token);
    finished = true;
  };
  asio::co_spawn(io, std::move(op), asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));
  // Cancel once the first reply has arrived, i.e. while the client waits to retry.
  asio::steady_timer poll(io);
  when_ready(
      poll, [&] { return !proxy.requests().empty(); }, [&] { signal.emit(asio::cancellation_type::terminal); });
  io.run_for(20s);
  CHECK(finished);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(proxy.requests().size() == 1);
}

// ---- issue 12: hostile UploadIds (#5) and how the server confirmed the bytes (#7) ------------

TEST_CASE("UploadId: a CR LF or 100 KB id from Initiate is invalid_upload_id, never returned") {
  // Setup
  local_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  asio::io_context io;
  auto opts = base_options(proxy.endpoint());
  opts.max_attempts = 1;
  oss::client client(io.get_executor(), opts);
  const std::string huge(100 * 1024, 'A');

  // Run
  struct outcome {
    std::string id;
    std::error_code ec;
    oss::diagnostics diag;
  };
  auto initiate_through = [&](oss_test::reply_edit edit) {
    proxy.set_script(oss_test::rules_script(
        {{oss_test::op_is("InitiateMultipartUpload"), oss_test::proxy_action::edit(std::move(edit)), 1}}));
    outcome out;
    run_coro(io, [&]() -> asio::awaitable<void> {
      const oss::object_options none;
      std::tie(out.ec, out.id) =
          co_await client.async_initiate_multipart_upload("hostile.bin", none, out.diag, oss_test::tuple_token);
    });
    return out;
  };
  const outcome crlf = initiate_through(oss_test::replace_in_body("<UploadId>", "<UploadId>a&#13;&#10;X-Injected: 1"));
  const outcome long_id = initiate_through(oss_test::replace_in_body("<UploadId>", "<UploadId>" + huge));
  const outcome spaced = initiate_through(oss_test::replace_in_body("<UploadId>", "<UploadId>two words"));
  const outcome fine = initiate_through(oss_test::replace_in_body("<UploadId>", "<UploadId>"));

  // Check
  for (const outcome* bad : {&crlf, &long_id, &spaced}) {
    CHECK(bad->ec == oss::client_errc::invalid_upload_id);
    CHECK(bad->id.empty());
    CHECK(bad->diag.operation == "InitiateMultipartUpload");
    CHECK(bad->diag.client_message.find("cannot be resumed or aborted by that id") != std::string::npos);
    CHECK(bad->diag.client_message.find("Injected") == std::string::npos);  // never quoted
    CHECK(bad->diag.client_message.size() < 400);
  }
  CHECK_FALSE(fine.ec);
  CHECK(oss::detail::is_valid_upload_id(fine.id));
}

TEST_CASE("UploadId: request builders refuse ids no store makes") {
  using namespace oss::detail;
  op_request op;
  std::string problem;
  std::string data = "x";
  auto body = asio::buffer(data);
  std::vector<oss::completed_part> parts{{1, "\"e\""}};
  const oss::list_parts_options page;
  const std::string longest(max_upload_id_bytes, 'a');
  const std::string too_long(max_upload_id_bytes + 1, 'a');

  for (const std::string& bad : {std::string("id\r\nX-Injected: 1"), std::string("two words"), std::string("caf\xc3\xa9"),
                                std::string("tab\tid"), too_long}) {
    CAPTURE(bad.size());
    CHECK(make_upload_part("k", bad, 1, body, false, op, problem) == oss::client_errc::invalid_upload_id);
    for (char c : problem) CHECK(static_cast<unsigned char>(c) >= 0x20);
    CHECK(make_complete("k", bad, parts, op, problem) == oss::client_errc::invalid_upload_id);
    CHECK(make_abort("k", bad, op, problem) == oss::client_errc::invalid_upload_id);
    CHECK(make_list_parts("k", bad, page, op, problem) == oss::client_errc::invalid_upload_id);
  }
  CHECK_FALSE(make_upload_part("k", longest, 1, body, false, op, problem));
  CHECK_FALSE(make_abort("k", "0004B9894A22E5B1888A1E29F8236E2D", op, problem));
  CHECK_FALSE(make_abort("k", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA.-_~", op, problem));
  CHECK(make_abort("k", "", op, problem) == std::errc::invalid_argument);
}

TEST_CASE("integrity: part and put results say whether a CRC-64, a Content-MD5 or nothing confirmed the bytes") {
  // Setup: the proxy strips x-oss-hash-crc64ecma from every reply while `strip` is set.
  local_env env;
  std::atomic<bool> strip{false};
  oss_test::hostile_proxy proxy(env.server.port(), [&](const oss_test::proxy_request&) {
    return strip ? oss_test::proxy_action::edit(oss_test::drop_header("x-oss-hash-crc64ecma"))
                 : oss_test::proxy_action::forward();
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  const std::string part = oss_test::random_bytes(100 * 1024, 12);

  // Run
  std::vector<oss::integrity_check> puts, parts;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::object_options plain, with_md5;
    with_md5.content_md5 = true;
    const std::string id = co_await client.initiate_multipart_upload("integrity.bin", plain);
    for (bool stripped : {false, true}) {
      strip = stripped;
      for (const oss::object_options* o : {&plain, &with_md5}) {
        auto p = co_await client.put_object("integrity.txt", asio::buffer(part), *o);
        puts.push_back(p.integrity);
        auto r = co_await client.upload_part("integrity.bin", id, 1, asio::buffer(part), o->content_md5);
        parts.push_back(r.integrity);
      }
    }
    // The caller's own digests count the same way.
    oss::body_digests given;
    given.md5 = oss::detail::md5(part);
    auto r = co_await client.upload_part("integrity.bin", id, 2, asio::buffer(part), given);
    parts.push_back(r.integrity);
  });

  // Check
  using oss::integrity_check;
  const std::vector<integrity_check> expected{integrity_check::crc64, integrity_check::crc64, integrity_check::none,
                                              integrity_check::content_md5};
  CHECK(puts == expected);
  auto expected_parts = expected;
  expected_parts.push_back(integrity_check::content_md5);
  CHECK(parts == expected_parts);
}

// ---- completion tokens ------------------------------------------------------------------------

namespace {

// Starts an operation with a plain callback and waits for it (the io_context runs on another
// thread); returns the callback's arguments.
template <typename... Args, typename Start>
std::tuple<Args...> via_callback(Start start) {
  std::promise<std::tuple<Args...>> done;
  auto handler = [&done](Args... args) { done.set_value(std::tuple<Args...>(std::move(args)...)); };
  start(std::move(handler));
  std::future<std::tuple<Args...>> result = done.get_future();
  REQUIRE_MESSAGE(result.wait_for(30s) == std::future_status::ready, "watchdog: the callback never ran");
  return result.get();
}

// Runs `io` on a thread of its own until destroyed (stopped then).
struct io_thread {
  asio::io_context& io;
  std::thread runner;

  explicit io_thread(asio::io_context& context)
      : io(context), runner([this] {
          auto work = asio::make_work_guard(io);
          io.run_for(60s);
        }) {}
  ~io_thread() {
    io.stop();
    runner.join();
  }
};

}  // namespace

TEST_CASE("token forms: every operation completes through a callback and through use_future") {
  // Setup
  local_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(env.server.endpoint()));
  io_thread running(io);
  const std::string data = oss_test::random_bytes(120'000, 21);
  const std::string part_data = oss_test::random_bytes(100 * 1024, 22);
  const oss::object_options none;
  const oss::body_digests crc_only{crc_of(part_data), std::nullopt, std::nullopt};
  oss::diagnostics diag;

  // Run: the callback form of every operation, on the happy path
  auto [put_ec, put] = via_callback<std::error_code, oss::put_result>(
      [&](auto h) { client.async_put_object("tok/a.bin", asio::buffer(data), none, diag, std::move(h)); });
  auto [putd_ec, putd] = via_callback<std::error_code, oss::put_result>([&](auto h) {
    const oss::body_digests digests{crc_of(data), std::nullopt, std::nullopt};
    client.async_put_object("tok/b.bin", asio::buffer(data), none, digests, diag, std::move(h));
  });
  auto [get_ec, got] = via_callback<std::error_code, std::string>(
      [&](auto h) { client.async_get_object("tok/a.bin", diag, std::move(h)); });
  auto [head_ec, meta] =
      via_callback<std::error_code, oss::object_meta>([&](auto h) { client.async_head("tok/a.bin", diag, std::move(h)); });
  auto [init_ec, id] = via_callback<std::error_code, std::string>(
      [&](auto h) { client.async_initiate_multipart_upload("tok/m.bin", none, diag, std::move(h)); });
  auto [part1_ec, part1] = via_callback<std::error_code, oss::part_result>([&](auto h) {
    client.async_upload_part("tok/m.bin", id, 1, asio::buffer(part_data), true, diag, std::move(h));
  });
  auto [part2_ec, part2] = via_callback<std::error_code, oss::part_result>([&](auto h) {
    client.async_upload_part("tok/m.bin", id, 2, asio::buffer(part_data), crc_only, diag, std::move(h));
  });
  auto [lp_ec, page] = via_callback<std::error_code, oss::list_parts_result>([&](auto h) {
    oss::list_parts_options one;
    one.max_parts = 1;
    client.async_list_parts("tok/m.bin", id, one, diag, std::move(h));
  });
  auto [lap_ec, all] = via_callback<std::error_code, oss::list_parts_result>(
      [&](auto h) { client.async_list_all_parts("tok/m.bin", id, diag, std::move(h)); });
  auto [lu_ec, uploads] = via_callback<std::error_code, oss::list_uploads_result>([&](auto h) {
    oss::list_uploads_options prefix;
    prefix.prefix = "tok/";
    client.async_list_multipart_uploads(prefix, diag, std::move(h));
  });
  std::vector<oss::completed_part> parts(2);
  parts[0].part_number = 1;
  parts[0].etag = part1.etag;
  parts[0].size = part_data.size();
  parts[0].crc64 = part1.crc64;
  parts[1].part_number = 2;
  parts[1].etag = part2.etag;
  parts[1].size = part_data.size();
  parts[1].crc64 = part2.crc64;
  auto [done_ec, done] = via_callback<std::error_code, oss::complete_result>(
      [&](auto h) { client.async_complete_multipart_upload("tok/m.bin", id, parts, diag, std::move(h)); });
  auto [init2_ec, id2] = via_callback<std::error_code, std::string>(
      [&](auto h) { client.async_initiate_multipart_upload("tok/n.bin", none, diag, std::move(h)); });
  auto [abort_ec] = via_callback<std::error_code>(
      [&](auto h) { client.async_abort_multipart_upload("tok/n.bin", id2, diag, std::move(h)); });

  // Check
  CHECK(!put_ec);
  CHECK(put.crc64 == crc_of(data));
  CHECK(!putd_ec);
  CHECK(putd.crc64 == crc_of(data));
  CHECK(!get_ec);
  CHECK(got == data);
  CHECK(!head_ec);
  CHECK(meta.size == data.size());
  CHECK(!init_ec);
  CHECK(!id.empty());
  CHECK(!part1_ec);
  CHECK(part1.integrity != oss::integrity_check::none);
  CHECK(!part2_ec);
  CHECK(!lp_ec);
  CHECK(page.parts.size() == 1);
  CHECK(page.is_truncated);
  CHECK(!lap_ec);
  CHECK(all.parts.size() == 2);
  CHECK(!lu_ec);
  CHECK(uploads.uploads.size() == 1);
  CHECK(!done_ec);
  CHECK(!done.etag.empty());
  CHECK(!init2_ec);
  CHECK(!abort_ec);

  SUBCASE("use_future: a value, a void completion, and errors as exceptions") {
    // Run
    std::future<std::string> got_future = client.async_get_object("tok/m.bin", diag, asio::use_future);
    std::future<oss::object_meta> head_future = client.async_head("tok/m.bin", diag, asio::use_future);
    oss::diagnostics missing_diag;
    std::future<oss::object_meta> missing = client.async_head("tok/none.bin", missing_diag, asio::use_future);
    std::future<std::string> init_future = client.async_initiate_multipart_upload("tok/f.bin", none, diag, asio::use_future);
    const std::string fid = init_future.get();
    std::future<oss::part_result> part_future =
        client.async_upload_part("tok/f.bin", fid, 1, asio::buffer(part_data), false, diag, asio::use_future);
    const oss::part_result fpart = part_future.get();
    std::future<oss::list_parts_result> lp_future = client.async_list_all_parts("tok/f.bin", fid, diag, asio::use_future);
    const oss::list_parts_result flisted = lp_future.get();
    std::future<void> abort_future = client.async_abort_multipart_upload("tok/f.bin", fid, diag, asio::use_future);

    // Check
    CHECK(got_future.get() == part_data + part_data);
    CHECK(head_future.get().size == 2 * part_data.size());
    try {
      missing.get();
      FAIL("a missing object must fail");
    } catch (const std::system_error& e) {
      CHECK(e.code() == oss::server_errc::no_such_key);
    }
    CHECK(missing_diag.operation == "HeadObject");
    CHECK(fpart.part_number == 1);
    CHECK(flisted.parts.size() == 1);
    CHECK_NOTHROW(abort_future.get());
  }
}

TEST_CASE("token forms: executor rule and error codes through as_tuple") {
  local_env env;

  SUBCASE("a callback never runs inside the initiating call, even for invalid input") {
    // Setup
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(env.server.endpoint()));
    oss::diagnostics diag;
    std::error_code ec;
    bool called = false;
    // Run
    client.async_head("", diag, [&](std::error_code e, oss::object_meta) {
      ec = e;
      called = true;
    });
    const bool called_inline = called;
    io.run_for(10s);
    // Check
    CHECK_FALSE(called_inline);
    CHECK(called);
    CHECK(ec == oss::client_errc::invalid_object_name);
    CHECK(diag.operation == "HeadObject");
  }

  SUBCASE("a callback runs on its associated executor, on a multi-threaded io_context") {
    // Setup
    asio::io_context io(4);
    oss::client client(io.get_executor(), base_options(env.server.endpoint()));
    auto callers = asio::make_strand(io);
    const std::string data = "bound";
    oss::diagnostics put_diag, head_diag;
    std::atomic<int> on_strand{0};
    std::atomic<int> done{0};
    std::error_code head_ec;
    // Run
    auto after_put = [&](std::error_code ec, oss::put_result) {
      if (!ec && callers.running_in_this_thread()) ++on_strand;
      auto after_head = [&](std::error_code ec2, oss::object_meta) {
        head_ec = ec2;
        if (callers.running_in_this_thread()) ++on_strand;
        ++done;
      };
      client.async_head("bound.txt", head_diag, asio::bind_executor(callers, after_head));
    };
    const oss::object_options none;
    client.async_put_object("bound.txt", asio::buffer(data), none, put_diag, asio::bind_executor(callers, after_put));
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) threads.emplace_back([&io] { io.run_for(30s); });
    io.run_for(30s);
    for (auto& t : threads) t.join();
    // Check
    CHECK(done == 1);
    CHECK(on_strand == 2);
    CHECK(!head_ec);
  }

  SUBCASE("as_tuple: the error code and the default value, with diagnostics") {
    // Setup
    asio::io_context io;
    oss::client client(io.get_executor(), base_options(env.server.endpoint()));
    // Run / Check
    run_coro(io, [&]() -> asio::awaitable<void> {
      oss::diagnostics diag;
      auto token = as_tuple(asio::use_awaitable);
      auto [ec, meta] = co_await client.async_head("nothing-here", diag, token);
      CHECK(ec == oss::server_errc::no_such_key);
      CHECK(meta.size == 0);
      CHECK(diag.operation == "HeadObject");
      auto [aec] = co_await client.async_abort_multipart_upload("nothing-here", "", diag, token);
      CHECK(aec == std::errc::invalid_argument);
    });
  }

  SUBCASE("an exception escaping an operation (a clock hook that throws) completes it, never throws through the loop") {
    // Setup: the clock hook is called as every request starts (retry_time is measured with it)
    struct clock_broke : std::runtime_error {
      using std::runtime_error::runtime_error;
    };
    asio::io_context io;
    oss::client_options o = base_options(env.server.endpoint());
    o.clock.now = []() -> std::chrono::system_clock::time_point { throw clock_broke("the clock broke"); };
    oss::client client(io.get_executor(), o);
    oss::diagnostics diag;
    std::error_code callback_ec;
    bool called = false;
    bool convenience_rethrew = false;
    // Run: the callback form, then the awaitable form that throws
    client.async_head("clock.txt", diag, [&](std::error_code e, oss::object_meta) {
      callback_ec = e;
      called = true;
    });
    CHECK_NOTHROW(io.run_for(10s));
    io.restart();
    run_coro(io, [&]() -> asio::awaitable<void> {
      try {
        co_await client.head("clock.txt");
      } catch (const clock_broke&) {
        convenience_rethrew = true;
      }
    });
    // Check
    REQUIRE(called);
    CHECK(callback_ec == oss::client_errc::unexpected_exception);
    REQUIRE(diag.exception);
    CHECK_THROWS_AS(std::rethrow_exception(diag.exception), clock_broke);
    CHECK(convenience_rethrew);
  }
}

TEST_CASE("token forms: a bound cancellation slot cancels an operation of each shape") {
  // Setup: a server that never answers
  local_env env;
  fault_proxy proxy(env.server.port(), [](int, const seen_request&) {
    proxy_action a;
    a.what = proxy_action::kind::hang;
    return a;
  });
  asio::io_context io;
  oss::client client(io.get_executor(), base_options(proxy.endpoint()));
  asio::cancellation_signal head_signal, abort_signal, abort_upload_signal;
  oss::diagnostics head_diag, abort_diag, abort_upload_diag;
  std::error_code head_ec, abort_ec, abort_upload_ec;
  std::atomic<int> finished{0};
  oss::checkpoint cp;
  cp.endpoint = client.endpoint_url();
  cp.bucket = client.options().bucket;
  cp.name = "cp.bin";
  cp.upload_id = "UPLOAD-1";

  // Run: start three operations, cancel each once its request reached the server
  client.async_head("hang.txt", head_diag,
                    asio::bind_cancellation_slot(head_signal.slot(), [&](std::error_code ec, oss::object_meta) {
                      head_ec = ec;
                      ++finished;
                    }));
  client.async_abort_multipart_upload("hang.bin", "UPLOAD-2", abort_diag,
                                      asio::bind_cancellation_slot(abort_signal.slot(), [&](std::error_code ec) {
                                        abort_ec = ec;
                                        ++finished;
                                      }));
  oss::async_abort_upload(client, cp, abort_upload_diag,
                          asio::bind_cancellation_slot(abort_upload_signal.slot(), [&](std::error_code ec) {
                            abort_upload_ec = ec;
                            ++finished;
                          }));
  asio::steady_timer poll(io);
  when_ready(
      poll, [&] { return proxy.requests().size() >= 3; },
      [&] {
        head_signal.emit(asio::cancellation_type::terminal);
        abort_signal.emit(asio::cancellation_type::terminal);
        abort_upload_signal.emit(asio::cancellation_type::terminal);
      });
  io.run_for(20s);

  // Check
  CHECK(finished == 3);
  CHECK(head_ec == asio::error::operation_aborted);
  CHECK(abort_ec == asio::error::operation_aborted);
  CHECK(abort_upload_ec == asio::error::operation_aborted);
  CHECK(proxy.requests().size() == 3);  // none retried
}
