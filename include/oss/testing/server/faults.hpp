// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).

// First and outside the guard: header-only, local_server.hpp ends by including the server's
// bodies, which include this header again; the public types must be complete by then.
#include <oss/testing/local_server.hpp>

#ifndef OSS_TESTING_SERVER_FAULTS_HPP
#define OSS_TESTING_SERVER_FAULTS_HPP

#include <oss/detail/config.hpp>

#include <oss/testing/server/errors.hpp>
#include <oss/testing/server/handler.hpp>
#include <oss/testing/server/routing.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

// Fault plans (local_server::set_fault_plan): which rule fires on which request, and the
// reply changes that need no socket. The socket-level actions (delay, stall, resets, lost and
// truncated replies) are the connection loop's.
namespace oss::testing::detail {

// Thread-safe.
class fault_plan {
 public:
  // Replaces the plan and its rules' counts. Throws std::invalid_argument for an operation name
  // no operation has.
  OSS_DECL void set(std::vector<fault_rule> rules);

  // Called once per admitted request: counts the part attempt (UploadPart) and returns the
  // rule that fires, if any. At most one rule fires; every rule counts every request it
  // matches.
  OSS_DECL std::optional<fault_rule> decide(operation op, int part_number);

  OSS_DECL std::map<int, std::uint64_t> part_attempts() const;
  std::uint64_t faults_injected() const noexcept { return faults_injected_.load(std::memory_order_relaxed); }
  std::uint64_t max_part_attempts() const noexcept { return max_part_attempts_.load(std::memory_order_relaxed); }

  // Forgets the part attempts and the two counters above (local_server::reset_stats); the
  // plan and its rules' counts stay.
  OSS_DECL void reset_counts();

 private:
  struct rule_state {
    fault_rule rule;
    bool any_operation = true;
    operation op = operation::unknown;
    std::uint64_t matched = 0;
    std::uint64_t fired = 0;
  };

  mutable std::mutex mutex_;
  std::vector<rule_state> rules_;
  std::map<int, std::uint64_t> part_attempts_;
  std::atomic<std::uint64_t> faults_injected_{0};
  std::atomic<std::uint64_t> max_part_attempts_{0};
};

// The error an error_reply or error_in_200 rule answers with (status 200 for error_in_200).
// RequestTimeTooSkewed gets RequestTime and ServerTime (`now`), as OSS sends them.
OSS_DECL server_error fault_error(const fault_rule& rule, std::chrono::system_clock::time_point now);

// missing_etag, wrong_crc64 and garbage_body: the reply as the rule changes it. Other actions
// leave it alone.
OSS_DECL void alter_reply(const fault_rule& rule, reply& rep);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/faults.ipp>
#endif

#endif  // OSS_TESTING_SERVER_FAULTS_HPP
