// Test support: an HTTP-aware man-in-the-middle on 127.0.0.1:0 in front of a plain-HTTP server
// (oss::testing::local_server), for the faults a real server never commits on purpose and a
// fault plan cannot express: a reply that loses a header, a rewritten UploadId, the reply of an
// applied Complete that never arrives, a reply dripping one byte at a time, a delayed request,
// a store that throttles.
//
// Each request the client sends is parsed (with the library's sans-io parser: the proxy never
// builds requests, it forwards the client's bytes re-framed) and shown to a script, which picks
// a proxy_action: forward it unchanged; forward it and edit the server's reply (drop or set a
// header, change the status, replace the body or a substring of it); forward it, let the server
// act, then lose the reply (close without a byte, after N bytes, or N bytes short of its end) or
// hold it forever; drip the reply B bytes per interval; delay the request by D before
// forwarding; or answer it without forwarding (a canned reply such as 503 SlowDown +
// Retry-After). rules_script() builds a script from (matcher, action, times) rules, e.g. "the
// first 3 UploadParts get 503 SlowDown".
//
// Keep-alive on both sides: one upstream connection per client connection, reopened when the
// server closed it. Every request and the server's reply are recorded (records()).
//
// It runs its own io_context on one thread; the script runs on that thread. stop() (also run by
// the destructor) closes the listener, every connection and every pending wait, and joins the
// thread, so nothing outlives the test.
#ifndef OSS_TESTS_SUPPORT_HOSTILE_PROXY_HPP
#define OSS_TESTS_SUPPORT_HOSTILE_PROXY_HPP

#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>

#include "loopback_listener.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace oss_test {

// One request as the proxy read it from the client.
struct proxy_request {
  std::string method;
  std::string target;  // origin-form, query included, as sent
  oss::detail::http::fields headers;
  std::string body;
  std::size_t index = 0;       // 0-based, over the proxy's life
  std::size_t connection = 0;  // 0-based number of the client connection it came on

  // The raw value of query parameter `name` ("" for a parameter without value), or nullopt.
  std::optional<std::string> query(std::string_view name) const {
    const auto q = target.find('?');
    if (q == std::string::npos) return std::nullopt;
    std::string_view rest = std::string_view(target).substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view item = rest.substr(0, amp);
      const auto eq = item.find('=');
      if (item.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : item.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
  }
  bool has_query(std::string_view name) const { return query(name).has_value(); }

  // The OSS/S3 operation, told from the method and the query the way the server routes it:
  // "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
  // "ListParts", "ListMultipartUploads", "PutObject", "GetObject", "HeadObject", "DeleteObject",
  // else the method.
  std::string operation() const {
    if (has_query("uploadId")) {
      if (method == "PUT" && has_query("partNumber")) return "UploadPart";
      if (method == "POST") return "CompleteMultipartUpload";
      if (method == "DELETE") return "AbortMultipartUpload";
      if (method == "GET") return "ListParts";
    } else if (has_query("uploads")) {
      if (method == "POST") return "InitiateMultipartUpload";
      if (method == "GET") return "ListMultipartUploads";
    } else {
      if (method == "PUT") return "PutObject";
      if (method == "GET") return "GetObject";
      if (method == "HEAD") return "HeadObject";
      if (method == "DELETE") return "DeleteObject";
    }
    return method;
  }
  // UploadPart's partNumber, else 0.
  int part_number() const {
    const auto n = query("partNumber");
    return n && !n->empty() && n->size() < 6 && std::all_of(n->begin(), n->end(), [](char c) { return c >= '0' && c <= '9'; })
               ? std::stoi(*n)
               : 0;
  }
};

// A reply as the server sent it (body decoded from its framing); reply_edits change it.
struct proxy_reply {
  int status = 0;
  std::string reason;
  oss::detail::http::fields headers;
  std::string body;
};

using reply_edit = std::function<void(proxy_reply&)>;

// What the proxy does with one request. Fields combine: e.g. delay + edits + drip.
struct proxy_action {
  // Wait this long before forwarding (or answering).
  std::chrono::milliseconds delay{0};
  // Answer with these raw bytes instead of forwarding: the server never sees the request.
  // The connection is closed afterwards unless these bytes allow keep-alive.
  std::optional<std::string> answer;
  // Applied in order to the server's reply before it goes to the client. The proxy re-frames
  // the body with Content-Length (HEAD replies keep the server's Content-Length).
  std::vector<reply_edit> edits;
  // The server acts, then the client's connection is closed after this many bytes of the
  // reply (0: before its first byte).
  std::optional<std::uint64_t> lose_after;
  // The same, counted from the end: the last `lose_tail` bytes of the reply are never sent
  // (a reply cut mid-body whatever its head's length).
  std::optional<std::uint64_t> lose_tail;
  // The server acts, then nothing is sent: the connection stays open until the client (or
  // stop()) closes it.
  bool hold = false;
  // When > 0, the reply goes out `drip_bytes` at a time, one piece per `drip_interval`.
  std::size_t drip_bytes = 0;
  std::chrono::milliseconds drip_interval{0};
  // Close the client's connection after the reply.
  bool close_after = false;

  static proxy_action forward() { return {}; }
  static proxy_action reply_with(std::string raw) {
    proxy_action a;
    a.answer = std::move(raw);
    return a;
  }
  static proxy_action lose_reply(std::uint64_t after_bytes = 0) {
    proxy_action a;
    a.lose_after = after_bytes;
    return a;
  }
  static proxy_action cut_reply(std::uint64_t tail_bytes) {
    proxy_action a;
    a.lose_tail = tail_bytes;
    return a;
  }
  static proxy_action hold_reply() {
    proxy_action a;
    a.hold = true;
    return a;
  }
  static proxy_action drip(std::size_t bytes, std::chrono::milliseconds interval) {
    proxy_action a;
    a.drip_bytes = bytes;
    a.drip_interval = interval;
    return a;
  }
  static proxy_action delayed(std::chrono::milliseconds d) {
    proxy_action a;
    a.delay = d;
    return a;
  }
  static proxy_action edit(reply_edit e) {
    proxy_action a;
    a.edits.push_back(std::move(e));
    return a;
  }
  proxy_action& then(reply_edit e) {
    edits.push_back(std::move(e));
    return *this;
  }
};

// Reply edits.
inline reply_edit drop_header(std::string name) {
  return [name = std::move(name)](proxy_reply& r) { r.headers.erase(name); };
}
inline reply_edit set_header(std::string name, std::string value) {
  return [name = std::move(name), value = std::move(value)](proxy_reply& r) { r.headers.set(name, value); };
}
inline reply_edit set_status(int status, std::string reason = "") {
  return [status, reason = std::move(reason)](proxy_reply& r) {
    r.status = status;
    r.reason = reason.empty() ? std::string(oss::detail::http::reason_phrase(status)) : reason;
  };
}
inline reply_edit replace_body(std::string body) {
  return [body = std::move(body)](proxy_reply& r) { r.body = body; };
}
// Every occurrence of `from` in the body becomes `to`.
inline reply_edit replace_in_body(std::string from, std::string to) {
  return [from = std::move(from), to = std::move(to)](proxy_reply& r) {
    if (from.empty()) return;
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = r.body.find(from, pos)) != std::string::npos; pos = hit + from.size())
      out.append(r.body, pos, hit - pos).append(to);
    out.append(r.body, pos, std::string::npos);
    r.body = std::move(out);
  };
}

// A complete raw reply (keep-alive, Content-Length) for proxy_action::answer.
inline std::string proxy_raw_reply(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                                   std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(oss::detail::http::reason_phrase(status)) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

// An OSS-style error reply (XML body, x-oss-request-id), keep-alive; `headers` are added (e.g.
// {"Retry-After", "2"}).
inline std::string proxy_error_reply(int status, std::string_view code, std::string_view message,
                                     std::vector<std::pair<std::string, std::string>> headers = {}) {
  const std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>" + std::string(code) +
                           "</Code>\n  <Message>" + std::string(message) +
                           "</Message>\n  <RequestId>PROXY-REQ</RequestId>\n  <HostId>proxy.local</HostId>\n</Error>\n";
  headers.emplace_back("Content-Type", "application/xml");
  headers.emplace_back("x-oss-request-id", "PROXY-REQ");
  return proxy_raw_reply(status, headers, body);
}

// What happened to one request.
struct proxy_record {
  proxy_request request;
  bool forwarded = false;       // the whole request reached the server
  proxy_reply server_reply;     // as the server sent it, before edits (status 0: none read)
  std::uint64_t reply_bytes = 0;  // bytes of the reply (or answer) written to the client
  bool reply_complete = false;  // the whole reply (or answer) was written to the client
};

using proxy_script = std::function<proxy_action(const proxy_request&)>;

// A rule of rules_script(): requests matching `when` (empty: all) get `action`, for the first
// `times` matches (negative: always).
struct proxy_rule {
  std::function<bool(const proxy_request&)> when;
  proxy_action action;
  int times = -1;
};

// Matches requests of one operation (proxy_request::operation()).
inline std::function<bool(const proxy_request&)> op_is(std::string operation) {
  return [operation = std::move(operation)](const proxy_request& r) { return r.operation() == operation; };
}

// The first rule that matches and has uses left decides; no rule: forward unchanged.
inline proxy_script rules_script(std::vector<proxy_rule> rules) {
  auto state = std::make_shared<std::vector<proxy_rule>>(std::move(rules));
  return [state](const proxy_request& req) {
    for (auto& rule : *state) {
      if (rule.times == 0) continue;
      if (rule.when && !rule.when(req)) continue;
      if (rule.times > 0) --rule.times;
      return rule.action;
    }
    return proxy_action::forward();
  };
}

class hostile_proxy {
 public:
  // In front of the plain-HTTP server on 127.0.0.1:`upstream_port`. No script: forward all.
  explicit hostile_proxy(std::uint16_t upstream_port, proxy_script script = {})
      : script_(std::move(script)), upstream_(asio::ip::make_address("127.0.0.1"), upstream_port) {
    auto make = [](asio::io_context& io) { return std::make_shared<link>(io); };
    auto serve_one = [this](link_ptr l, std::size_t number) {
      std::error_code ignored;
      l->client.set_option(tcp::no_delay(true), ignored);
      return serve(std::move(l), number);
    };
    listener_.start(make, serve_one);
  }
  hostile_proxy(const hostile_proxy&) = delete;
  hostile_proxy& operator=(const hostile_proxy&) = delete;
  ~hostile_proxy() { stop(); }

  std::uint16_t port() const noexcept { return listener_.port(); }
  std::string endpoint() const { return listener_.endpoint(); }

  // Replaces the script (thread-safe); requests already being handled keep their action.
  void set_script(proxy_script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }
  // Request bodies are recorded unless this is off (large uploads).
  void record_bodies(bool on) { record_bodies_ = on; }

  std::size_t connections() const noexcept { return listener_.accepted(); }

  // Copies, thread-safe. A record is complete once its reply was written or lost.
  std::vector<proxy_record> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::vector<proxy_request> requests() const {
    std::lock_guard lock(mutex_);
    std::vector<proxy_request> out;
    for (const auto& r : records_) out.push_back(r.request);
    return out;
  }
  // Requests of one operation seen so far.
  std::size_t count(std::string_view operation) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(), [&](const proxy_record& r) {
      return r.request.operation() == operation;
    }));
  }
  void clear_records() {
    std::lock_guard lock(mutex_);
    records_.clear();
  }

  // Closes the listener, every connection and every wait, then joins the thread. Idempotent.
  void stop() { listener_.stop(); }

 private:
  using tcp = asio::ip::tcp;

  // One client connection, its upstream connection and its timer (proxy thread only).
  struct link {
    explicit link(asio::io_context& io) : client(io), upstream(io), timer(io) {}
    tcp::socket client;
    tcp::socket upstream;
    asio::steady_timer timer;
    bool closed = false;
    void close() {
      closed = true;
      std::error_code ignored;
      client.shutdown(tcp::socket::shutdown_both, ignored);
      client.close(ignored);
      upstream.close(ignored);
      timer.cancel();
    }
    friend tcp::socket& socket_of(link& l) { return l.client; }
    friend void close_connection(link& l) { l.close(); }
  };
  using link_ptr = std::shared_ptr<link>;

  static auto as_tuple() { return asio::experimental::as_tuple(asio::use_awaitable); }

  // Reads one message with `parser` from `sock`, `pending` holding bytes read beyond the last one.
  static asio::awaitable<bool> read_message(tcp::socket& sock, oss::detail::http::message_parser& parser,
                                            std::string& pending, std::vector<char>& buf) {
    while (!parser.done()) {
      if (pending.empty()) {
        auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), as_tuple());
        if (ec == asio::error::eof && parser.started()) {
          std::error_code fec;
          parser.finish_on_eof(fec);
          co_return !fec && parser.done();
        }
        if (ec) co_return false;
        pending.assign(buf.data(), n);
      }
      std::error_code pec;
      const std::size_t used = parser.feed(pending, pec);
      if (pec) co_return false;
      pending.erase(0, used);
    }
    co_return true;
  }

  asio::awaitable<void> serve(link_ptr l, std::size_t connection) {
    namespace http = oss::detail::http;
    http::message_parser parser(http::parser_kind::request);
    std::vector<char> buf(65536);
    std::string pending, upstream_pending;
    bool upstream_open = false;
    for (;;) {
      const bool got = co_await read_message(l->client, parser, pending, buf);
      if (!got || l->closed) break;
      const bool client_keep_alive = parser.keep_alive();
      proxy_request req;
      req.body = std::move(parser.body());
      http::request head = parser.release_request();
      parser.reset();
      req.method = std::move(head.method);
      req.target = std::move(head.target);
      req.headers = std::move(head.headers);
      req.connection = connection;
      proxy_script script;
      std::size_t slot = 0;
      {
        std::lock_guard lock(mutex_);
        req.index = records_.size();
        slot = records_.size();
        proxy_record rec;
        rec.request = req;
        if (!record_bodies_) rec.request.body.clear();
        records_.push_back(std::move(rec));
        script = script_;
      }
      const proxy_action action = script ? script(req) : proxy_action::forward();

      if (action.delay.count() > 0) {
        l->timer.expires_after(action.delay);
        co_await l->timer.async_wait(as_tuple());  // cancelled by stop(): l->closed says so
        if (l->closed) break;
      }

      std::string out;
      bool keep_alive = client_keep_alive && !action.close_after;
      if (action.answer) {
        out = *action.answer;
        // Keep the connection only when the canned bytes are one whole keep-alive reply.
        http::message_parser check(http::parser_kind::response);
        std::error_code cec;
        std::string_view rest = out;
        while (!rest.empty() && !cec && !check.done()) {
          const std::size_t used = check.feed(rest, cec);
          if (used == 0 && !check.done()) break;
          rest.remove_prefix(used);
        }
        keep_alive = keep_alive && !cec && check.done() && check.keep_alive();
      } else {
        // Forward: the client's head as parsed, its body re-framed with Content-Length.
        http::request up{req.method, req.target, req.headers};
        up.headers.erase("Transfer-Encoding");
        up.headers.set("Content-Length", std::to_string(req.body.size()));
        std::string wire = http::serialize_head(up) + req.body;
        http::message_parser reply_parser(http::parser_kind::response);
        bool replied = false;
        // A reused upstream connection the server closed meanwhile is reopened once.
        for (int attempt = 0; attempt < 2 && !replied && !l->closed; ++attempt) {
          const bool reused = upstream_open;
          if (!upstream_open) {
            std::error_code ignored;
            l->upstream.close(ignored);
            upstream_pending.clear();
            auto [cec] = co_await l->upstream.async_connect(upstream_, as_tuple());
            if (cec) break;
            l->upstream.set_option(tcp::no_delay(true), ignored);
            upstream_open = true;
          }
          auto [wec, wn] = co_await asio::async_write(l->upstream, asio::buffer(wire), as_tuple());
          if (!wec) {
            {
              std::lock_guard lock(mutex_);
              records_[slot].forwarded = true;
            }
            reply_parser.reset();
            if (req.method == "HEAD") reply_parser.expect_no_body();
            replied = co_await read_message(l->upstream, reply_parser, upstream_pending, buf);
          }
          if (!replied) {
            upstream_open = false;
            if (!reused || reply_parser.started()) break;
          }
        }
        if (!replied) break;  // the server failed: the client sees its connection close
        const bool upstream_keep_alive = reply_parser.keep_alive();
        if (!upstream_keep_alive) {
          std::error_code ignored;
          l->upstream.close(ignored);
          upstream_open = false;
        }
        proxy_reply reply;
        reply.body = std::move(reply_parser.body());
        http::response res = reply_parser.release_response();
        reply.status = res.status;
        reply.reason = std::move(res.reason);
        reply.headers = std::move(res.headers);
        {
          std::lock_guard lock(mutex_);
          records_[slot].server_reply = reply;
        }
        if (action.hold) {
          // Hold: drain whatever the client sends until it or stop() closes the connection.
          for (;;) {
            auto [rec, rn] = co_await l->client.async_read_some(asio::buffer(buf), as_tuple());
            if (rec) break;
          }
          break;
        }
        for (const auto& e : action.edits) e(reply);
        if (req.method != "HEAD") {
          reply.headers.erase("Transfer-Encoding");
          reply.headers.set("Content-Length", std::to_string(reply.body.size()));
        }
        const std::string* connection_header = reply.headers.find("Connection");
        keep_alive = keep_alive && upstream_keep_alive &&
                     !(connection_header && http::iequals(*connection_header, "close"));
        http::response edited{reply.status, reply.reason, reply.headers, {}};
        out = http::serialize_head(edited);
        if (req.method != "HEAD") out += reply.body;
      }

      // Deliver `out`: whole, dripped, or cut after lose_after bytes.
      std::size_t limit = out.size();
      if (action.lose_after) limit = static_cast<std::size_t>(std::min<std::uint64_t>(*action.lose_after, out.size()));
      if (action.lose_tail) limit = std::min(limit, out.size() - static_cast<std::size_t>(std::min<std::uint64_t>(*action.lose_tail, out.size())));
      std::size_t sent = 0;
      bool failed = false;
      while (sent < limit && !failed) {
        const std::size_t piece = action.drip_bytes > 0 ? std::min(action.drip_bytes, limit - sent) : limit - sent;
        auto [wec, wn] = co_await asio::async_write(l->client, asio::buffer(out.data() + sent, piece), as_tuple());
        sent += wn;
        failed = static_cast<bool>(wec) || l->closed;
        if (!failed && action.drip_bytes > 0 && sent < limit) {
          l->timer.expires_after(action.drip_interval);
          co_await l->timer.async_wait(as_tuple());  // cancelled by stop(): l->closed says so
          failed = l->closed;
        }
      }
      {
        std::lock_guard lock(mutex_);
        records_[slot].reply_bytes = sent;
        records_[slot].reply_complete = sent == out.size();
      }
      if (failed || sent < out.size() || !keep_alive) break;
    }
    l->close();
  }

  proxy_script script_;
  tcp::endpoint upstream_;
  std::atomic<bool> record_bodies_{true};
  mutable std::mutex mutex_;  // script_ and records_
  std::vector<proxy_record> records_;
  // Last: stopped (joined) first, while what its connections touch is alive.
  loopback_listener<link> listener_;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_HOSTILE_PROXY_HPP
