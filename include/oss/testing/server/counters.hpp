// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_COUNTERS_HPP
#define OSS_TESTING_SERVER_COUNTERS_HPP

#include <oss/detail/config.hpp>

#include <oss/testing/server/routing.hpp>

#include <poll.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

// The counters behind local_server::stats(), updated from any connection's thread.
namespace oss::testing::detail {

// The client sent FIN or RST (data it sent before may still be queued).
inline bool peer_gone(int fd) noexcept {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// The in-flight slot of one request. `released` is set by whoever gives the slot back first:
// the end of the request, or a newer request that finds this one abandoned (see enter()).
struct request_slot {
  int fd = -1;
  std::atomic<bool> released{true};
};

struct server_counters {
  std::atomic<std::uint64_t> requests{0}, errors{0}, connections{0}, in_flight{0}, peak_in_flight{0},
      bytes_received{0}, bytes_sent{0}, parts_uploaded{0}, traffic_limited{0}, traffic_limit_min{0},
      traffic_limit_max{0};
  std::array<std::atomic<std::uint64_t>, operation_count> operations{};

  // Requests held by a delay or stall fault. A client that timed out closed their connection
  // before it sent its retry, so by the time the retry's head is parsed the kernel has that FIN:
  // enter() gives such slots back first, and in_flight counts what the client really has open.
  std::mutex paused_mutex;
  std::set<request_slot*> paused;

  // local_server::wait_for sleeps on `changed` until `generation` moves; every update a test
  // may wait for moves it. The waiter reads the generation before it looks at the counters, so
  // an update between its look and its sleep is never missed; and it looks without holding
  // the mutex, so no lock of the server is ever taken under this one.
  std::mutex changed_mutex;
  std::condition_variable changed;
  std::uint64_t generation = 0;  // guarded by changed_mutex
  void notify() noexcept {
    {
      std::lock_guard lock(changed_mutex);
      ++generation;
    }
    changed.notify_all();
  }

  void count(operation op) noexcept {
    ++operations[static_cast<std::size_t>(op)];
    notify();
  }
  void connection_accepted() noexcept {
    ++connections;
    notify();
  }
  void traffic_limit_seen(std::uint64_t bits) noexcept {
    auto low = traffic_limit_min.load(std::memory_order_relaxed);
    while ((low == 0 || bits < low) && !traffic_limit_min.compare_exchange_weak(low, bits)) {
    }
    auto high = traffic_limit_max.load(std::memory_order_relaxed);
    while (bits > high && !traffic_limit_max.compare_exchange_weak(high, bits)) {
    }
    ++traffic_limited;
    notify();
  }
  void part_stored() noexcept {
    ++parts_uploaded;
    notify();
  }
  std::uint64_t count_of(operation op) const noexcept {
    return operations[static_cast<std::size_t>(op)].load(std::memory_order_relaxed);
  }

  void pause(request_slot* slot) {
    std::lock_guard lock(paused_mutex);
    paused.insert(slot);
  }
  void resume(request_slot* slot) {
    std::lock_guard lock(paused_mutex);
    paused.erase(slot);
  }
  void leave(request_slot& slot) noexcept {
    if (!slot.released.exchange(true)) {
      --in_flight;
      notify();
    }
  }

  void enter(request_slot& slot) noexcept {
    {
      std::lock_guard lock(paused_mutex);
      for (request_slot* p : paused)
        if (peer_gone(p->fd)) leave(*p);
    }
    slot.released.store(false);
    auto now = ++in_flight;
    auto peak = peak_in_flight.load(std::memory_order_relaxed);
    while (now > peak && !peak_in_flight.compare_exchange_weak(peak, now)) {
    }
    notify();
  }

  // Every counter back to 0 except in_flight; the peak restarts from the current in_flight.
  void reset() noexcept {
    for (auto* a : {&requests, &errors, &connections, &bytes_received, &bytes_sent, &parts_uploaded, &traffic_limited,
                    &traffic_limit_min, &traffic_limit_max})
      a->store(0);
    for (auto& a : operations) a.store(0);
    peak_in_flight.store(in_flight.load());
  }
};

// Holds a request's in-flight slot for the lifetime of its handling.
struct in_flight_guard {
  server_counters& counters;
  request_slot& slot;
  in_flight_guard(server_counters& c, request_slot& s) : counters(c), slot(s) { counters.enter(slot); }
  in_flight_guard(const in_flight_guard&) = delete;
  in_flight_guard& operator=(const in_flight_guard&) = delete;
  ~in_flight_guard() { counters.leave(slot); }
};

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_COUNTERS_HPP
