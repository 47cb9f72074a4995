// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_IMPL_LOCAL_SERVER_IPP
#define OSS_TESTING_IMPL_LOCAL_SERVER_IPP

#include <oss/testing/local_server.hpp>

#include <oss/testing/server/server.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>

// The facade: local_server and local_server_thread forward to the shared server state
// (server/server.hpp), which outlives them while connections still run.
namespace oss::testing {

OSS_DECL local_server::local_server(asio::any_io_executor executor, local_server_options options)
    : impl_(std::make_shared<detail::local_server_impl>(std::move(executor), std::move(options))) {}

OSS_DECL local_server::~local_server() {
  if (impl_) impl_->stop();
}

OSS_DECL void local_server::start() { impl_->start(); }
OSS_DECL void local_server::stop() { impl_->stop(); }
OSS_DECL std::uint16_t local_server::port() const noexcept { return impl_->port; }
OSS_DECL std::string local_server::endpoint() const { return impl_->endpoint(); }
OSS_DECL const local_server_options& local_server::options() const noexcept { return impl_->options; }
OSS_DECL local_server_stats local_server::stats() const noexcept { return impl_->stats(); }
OSS_DECL void local_server::reset_stats() noexcept { impl_->reset_stats(); }
OSS_DECL bool local_server::wait_for(std::function<bool(const local_server_stats&)> predicate,
                                     std::chrono::milliseconds timeout) {
  return impl_->wait_for(predicate, timeout);
}
OSS_DECL std::map<int, std::uint64_t> local_server::part_attempts() const { return impl_->faults.part_attempts(); }

OSS_DECL void local_server::set_credentials(std::string access_key_id, std::string access_key_secret,
                                            std::string security_token) {
  impl_->handler.set_credentials({std::move(access_key_id), std::move(access_key_secret), std::move(security_token)});
}

OSS_DECL void local_server::set_fault_plan(std::vector<fault_rule> rules) { impl_->faults.set(std::move(rules)); }
OSS_DECL void local_server::clear_fault_plan() { impl_->faults.set({}); }

OSS_DECL local_server_thread::local_server_thread(local_server_options options, unsigned threads) {
  server_ = std::make_unique<local_server>(io_.get_executor(), std::move(options));
  server_->start();
  threads = std::max(1u, threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "oss::testing::local_server: %s\n", e.what());
        }
      }
    });
  }
}

OSS_DECL local_server_thread::~local_server_thread() { stop(); }

OSS_DECL void local_server_thread::stop() {
  if (stopped_) return;
  stopped_ = true;
  // run() returns once the acceptor and every connection have closed and their coroutines ended.
  server_->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace oss::testing

#endif  // OSS_TESTING_IMPL_LOCAL_SERVER_IPP
