// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_SERVER_IPP
#define OSS_TESTING_SERVER_IMPL_SERVER_IPP

#include <oss/testing/server/server.hpp>

#include <oss/testing/server/connection.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/ssl.h>

#include <stdexcept>
#include <vector>

namespace oss::testing::detail {
namespace server_impl {

inline handler_config config_of(const local_server_options& o) {
  handler_config c;
  c.dialect = o.dialect;
  c.host = o.host;
  c.region = o.region;
  c.max_clock_skew = o.max_clock_skew;
  c.buckets = o.buckets;
  c.discard = o.discard;
  c.tls = !o.tls_cert_file.empty();
  c.credentials = {o.access_key_id, o.access_key_secret, o.security_token};
  return c;
}

inline std::string host_and_port(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace server_impl

OSS_DECL local_server_impl::local_server_impl(asio::any_io_executor executor, local_server_options opts)
    : options(std::move(opts)),
      handler(options.root, server_impl::config_of(options)),
      executor_(std::move(executor)),
      acceptor_(asio::any_io_executor(asio::make_strand(executor_))) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    throw std::invalid_argument("local_server: set both tls_cert_file and tls_key_file, or neither");
  if (!options.tls_cert_file.empty()) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
    tls->use_certificate_chain_file(options.tls_cert_file);
    tls->use_private_key_file(options.tls_key_file, asio::ssl::context::pem);
  }

  asio::error_code ec;
  const auto address = asio::ip::make_address(options.host == "localhost" ? "127.0.0.1" : options.host, ec);
  if (ec) throw std::invalid_argument("local_server: host must be an IP address (or localhost): " + options.host);
  const asio::ip::tcp::endpoint endpoint(address, options.port);
  acceptor_.open(endpoint.protocol());
  set_close_on_exec(acceptor_.native_handle());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint, ec);
  // The portable code, so that callers can test it against std::errc (Asio's own category does
  // not map to the generic one).
  if (ec == asio::error::address_in_use)
    throw std::system_error(std::make_error_code(std::errc::address_in_use),
                            "local_server: " + server_impl::host_and_port(options.host, options.port) + " is in use");
  if (ec) throw std::system_error(ec, "local_server: cannot listen on " + server_impl::host_and_port(options.host, options.port));
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port = acceptor_.local_endpoint().port();
}

OSS_DECL void local_server_impl::start() {
  if (started_.exchange(true)) throw std::logic_error("local_server::start called twice");
  asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()), asio::detached);
}

OSS_DECL std::string local_server_impl::endpoint() const {
  return std::string(tls ? "https://" : "http://") + server_impl::host_and_port(options.host, port);
}

OSS_DECL local_server_stats local_server_impl::stats() const noexcept {
  const server_counters& c = handler.counters();
  const auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  local_server_stats s;
  s.requests = get(c.requests);
  s.errors = get(c.errors);
  s.connections = get(c.connections);
  s.put_object = c.count_of(operation::put_object);
  s.get_object = c.count_of(operation::get_object);
  s.head_object = c.count_of(operation::head_object);
  s.delete_object = c.count_of(operation::delete_object);
  s.initiate_multipart_upload = c.count_of(operation::initiate_multipart_upload);
  s.upload_part = c.count_of(operation::upload_part);
  s.complete_multipart_upload = c.count_of(operation::complete_multipart_upload);
  s.abort_multipart_upload = c.count_of(operation::abort_multipart_upload);
  s.list_parts = c.count_of(operation::list_parts);
  s.list_multipart_uploads = c.count_of(operation::list_multipart_uploads);
  s.in_flight = get(c.in_flight);
  s.peak_in_flight = get(c.peak_in_flight);
  s.bytes_received = get(c.bytes_received);
  s.bytes_sent = get(c.bytes_sent);
  s.parts_uploaded = get(c.parts_uploaded);
  s.traffic_limited = get(c.traffic_limited);
  s.traffic_limit_min = get(c.traffic_limit_min);
  s.traffic_limit_max = get(c.traffic_limit_max);
  s.faults_injected = faults.faults_injected();
  s.max_part_attempts = faults.max_part_attempts();
  return s;
}

OSS_DECL bool local_server_impl::wait_for(const std::function<bool(const local_server_stats&)>& predicate,
                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  server_counters& c = handler.counters();
  for (;;) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(c.changed_mutex);
      seen = c.generation;
    }
    if (predicate(stats())) return true;
    bool moved = false;
    {
      std::unique_lock lock(c.changed_mutex);
      moved = c.changed.wait_until(lock, deadline, [&] { return c.generation != seen; });
    }
    if (!moved) return predicate(stats());
  }
}

OSS_DECL void local_server_impl::reset_stats() noexcept {
  handler.counters().reset();
  faults.reset_counts();
}

OSS_DECL bool local_server_impl::add_connection(const std::shared_ptr<server_connection>& c) {
  std::lock_guard lock(connections_mutex_);
  if (stopped_.load()) return false;
  connections_[c.get()] = c;
  return true;
}

OSS_DECL void local_server_impl::remove_connection(server_connection* c) {
  std::lock_guard lock(connections_mutex_);
  connections_.erase(c);
}

OSS_DECL asio::awaitable<void> local_server_impl::accept_loop(std::shared_ptr<local_server_impl> self) {
  using asio::experimental::as_tuple;
  for (;;) {
    // Each connection gets its own strand: connections run in parallel on a multi-threaded
    // io_context, while one connection's socket is only ever touched by one thread at a time.
    asio::any_io_executor strand = asio::make_strand(self->executor_);
    auto [ec, socket] = co_await self->acceptor_.async_accept(strand, as_tuple(asio::use_awaitable));
    if (self->stopped()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) break;
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(self->acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple(asio::use_awaitable));
      continue;
    }
    set_close_on_exec(socket.native_handle());
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    // Counted once set up: a test that waits for the count (wait_for) then sees the socket as
    // it stays.
    self->handler.counters().connection_accepted();
    auto connection = std::make_shared<server_connection>(self, std::move(socket));
    if (!self->add_connection(connection)) break;
    asio::co_spawn(connection->get_executor(), server_connection::run(connection), asio::detached);
  }
}

OSS_DECL void local_server_impl::stop() {
  std::vector<std::shared_ptr<server_connection>> open;
  {
    std::lock_guard lock(connections_mutex_);
    if (stopped_.exchange(true)) return;
    for (auto& [ptr, weak] : connections_)
      if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  auto self = shared_from_this();
  auto close_acceptor = [self] {
    std::error_code ignored;
    self->acceptor_.close(ignored);
  };
  asio::dispatch(acceptor_.get_executor(), close_acceptor);
  for (auto& c : open) {
    auto close_connection = [c] { c->close(); };
    asio::dispatch(c->get_executor(), close_connection);
  }
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_SERVER_IPP
