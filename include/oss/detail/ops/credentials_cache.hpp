// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_CREDENTIALS_CACHE_HPP
#define OSS_DETAIL_OPS_CREDENTIALS_CACHE_HPP

#include <oss/detail/config.hpp>

#include <oss/credentials.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

// The client's credentials: fixed ones, or a credentials_provider's with a single-flight
// refresh that every request of the client shares (oss-protocol.md 2.6: ali-oss refreshes per
// request and races under parallel parts, issues #1363 and #1391).
namespace oss::detail {

using wall_time = std::chrono::system_clock::time_point;

// When credentials fetched at `fetched_at` that expire at `expiration` are due for a refresh:
// `margin` before they expire, but no later than halfway through their life, so that credentials
// living less than twice the margin are not fetched again for every request.
inline wall_time credentials_refresh_time(wall_time fetched_at, wall_time expiration,
                                          std::chrono::seconds margin) noexcept {
  if (expiration <= fetched_at) return expiration;
  const auto half_life = (expiration - fetched_at) / 2;
  const auto early = std::min<wall_time::duration>(margin, half_life);
  return expiration - early;
}

enum class credentials_state {
  fresh,     // use them
  due,       // still valid, but a refresh should happen first
  unusable,  // none yet, expired, or refused by the server: a refresh must happen first
};

// The decision of credentials_cache::get, on plain values: `generation` of the credentials in
// hand (0: none), `rejected` the generation the server refused (0: none), `expiration` and
// `refresh_at` (credentials_refresh_time) when they expire, `paused_until` the end of the pause
// after a failed early refresh.
inline credentials_state judge_credentials(std::uint64_t generation, std::uint64_t rejected,
                                           wall_time now, std::optional<wall_time> expiration,
                                           wall_time refresh_at, wall_time paused_until) noexcept {
  if (generation == 0 || generation == rejected) return credentials_state::unusable;
  if (!expiration) return credentials_state::fresh;
  if (now >= *expiration) return credentials_state::unusable;
  if (now >= refresh_at && now >= paused_until) return credentials_state::due;
  return credentials_state::fresh;
}

class credentials_cache : public std::enable_shared_from_this<credentials_cache> {
 public:
  using clock_fn = std::function<wall_time()>;

  // Credentials to sign one attempt with. `generation` tells a later refusal which
  // credentials the server refused; it grows with every successful fetch.
  struct snapshot {
    std::shared_ptr<const credentials> creds;
    std::uint64_t generation = 0;
  };

  // Fixed credentials, never refreshed (possibly empty: anonymous).
  explicit credentials_cache(credentials fixed)
      : current_(std::make_shared<const credentials>(std::move(fixed))), generation_(1) {}

  // Credentials from `provider`, fetched on first use. `now` may be empty (system clock).
  credentials_cache(asio::any_io_executor ex, std::shared_ptr<credentials_provider> provider,
                    std::chrono::seconds margin, clock_fn now)
      : ex_(std::move(ex)), provider_(std::move(provider)), margin_(margin), now_(std::move(now)) {}

  credentials_cache(const credentials_cache&) = delete;
  credentials_cache& operator=(const credentials_cache&) = delete;

  bool refreshable() const noexcept { return provider_ != nullptr; }

  // The fixed credentials (valid only when !refreshable()).
  snapshot fixed() const { return snapshot{current_, generation_}; }

  // The generation of the credentials in hand (0: none yet).
  std::uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }

  // Provider calls started so far.
  std::uint64_t refreshes() const noexcept { return refreshes_.load(std::memory_order_relaxed); }

  // Credentials to sign with, refreshed first when there are none yet, when they are due, or
  // when the server refused generation `rejected` (0: nothing refused) and it is still current.
  // Every caller that needs a refresh waits for the same single provider call. On failure sets
  // `ec` (the provider's oss::error code, client_errc::credentials_unavailable, or
  // operation_aborted when the caller was cancelled while waiting) and `problem`.
  asio::awaitable<snapshot> get(std::uint64_t rejected, std::error_code& ec, std::string& problem) {
    ec.clear();
    snapshot result;
    std::shared_ptr<waiter> wait;
    bool start = false;
    {
      std::lock_guard lock(mutex_);
      if (state_locked(rejected) == credentials_state::fresh) {
        result = snapshot{current_, generation_};
      } else {
        // Registered before the refresh can finish, so its wake-up is never lost (the channel
        // keeps it until received).
        wait = std::make_shared<waiter>(ex_, 1);
        waiters_.push_back(wait);
        if (!refreshing_) {
          refreshing_ = true;
          start = true;
          refreshes_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    if (!wait) co_return result;
    // Spawned, not awaited: the refresh belongs to every waiter, so cancelling the one request
    // that happened to start it must not cancel it for the others.
    if (start) asio::co_spawn(ex_, run_refresh(shared_from_this()), asio::detached);
    auto [wait_ec, round] = co_await wait->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    (void)round;
    if (wait_ec) {
      ec = asio::error::operation_aborted;
      co_return snapshot{};
    }
    {
      std::lock_guard lock(mutex_);
      if (state_locked(rejected) != credentials_state::unusable) {
        // New credentials, or (after a failed early refresh) the old ones, still valid.
        result = snapshot{current_, generation_};
      } else if (last_ec_) {
        ec = last_ec_;
        problem = last_problem_;
      } else {
        ec = client_errc::credentials_unavailable;
        problem = "the credentials provider returned credentials that have already expired";
      }
    }
    co_return result;
  }

 private:
  // The concurrent flavour: the refresh may finish on another thread than the waiter's.
  // (channel<void(error_code)> does not compile in Asio 1.22, hence the second value.)
  using waiter = asio::experimental::concurrent_channel<void(std::error_code, std::uint64_t)>;

  // A failed early refresh is not tried again before this pause has passed.
  static constexpr std::chrono::seconds failed_refresh_pause{10};

  wall_time now() const { return now_ ? now_() : std::chrono::system_clock::now(); }

  credentials_state state_locked(std::uint64_t rejected) const {
    return judge_credentials(generation_, rejected, now(), expiration_, refresh_at_, paused_until_);
  }

  static asio::awaitable<void> run_refresh(std::shared_ptr<credentials_cache> self) {
    expiring_credentials got;
    std::error_code ec;
    std::string problem;
    try {
      asio::awaitable<expiring_credentials> fetching = self->provider_->fetch();
      got = co_await std::move(fetching);
    } catch (const oss::error& e) {
      ec = e.code();
      problem = e.get_diagnostics().client_message;
      if (problem.empty()) problem = "the credentials provider failed";
    } catch (const std::system_error& e) {
      // Only the category's text: what() may quote anything the provider saw.
      ec = client_errc::credentials_unavailable;
      problem = "the credentials provider failed: " + e.code().message();
    } catch (const std::exception&) {
      ec = client_errc::credentials_unavailable;
      problem = "the credentials provider threw an exception";
    }
    if (!ec && got.creds.empty()) {
      ec = client_errc::credentials_unavailable;
      problem = "the credentials provider returned no AccessKey ID";
    }
    if (!ec) {
      std::string why;
      if (check_credentials(got.creds, why)) {
        ec = client_errc::credentials_unavailable;
        problem = "the credentials provider returned unusable credentials: " + why;
      }
    }
    self->finish_refresh(std::move(got), ec, std::move(problem));
  }

  void finish_refresh(expiring_credentials got, std::error_code ec, std::string problem) {
    std::vector<std::shared_ptr<waiter>> wake;
    std::uint64_t round = 0;
    {
      std::lock_guard lock(mutex_);
      const wall_time t = now();
      refreshing_ = false;
      last_ec_ = ec;
      last_problem_ = std::move(problem);
      if (!ec) {
        current_ = std::make_shared<const credentials>(std::move(got.creds));
        expiration_ = got.expiration;
        refresh_at_ = expiration_ ? credentials_refresh_time(t, *expiration_, margin_) : wall_time::max();
        paused_until_ = wall_time::min();
        ++generation_;
      } else {
        paused_until_ = t + failed_refresh_pause;
      }
      round = ++rounds_;
      wake.swap(waiters_);
    }
    for (auto& w : wake) w->try_send(std::error_code{}, round);
  }

  asio::any_io_executor ex_;
  std::shared_ptr<credentials_provider> provider_;
  std::chrono::seconds margin_{300};
  clock_fn now_;
  std::atomic<std::uint64_t> refreshes_{0};

  // Guards everything below: requests on several threads read and refresh these.
  mutable std::mutex mutex_;
  std::shared_ptr<const credentials> current_;
  std::uint64_t generation_ = 0;  // 0: nothing fetched yet
  std::optional<wall_time> expiration_;
  wall_time refresh_at_ = wall_time::max();
  wall_time paused_until_ = wall_time::min();
  bool refreshing_ = false;
  std::uint64_t rounds_ = 0;
  std::error_code last_ec_;
  std::string last_problem_;
  std::vector<std::shared_ptr<waiter>> waiters_;
};

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_CREDENTIALS_CACHE_HPP
