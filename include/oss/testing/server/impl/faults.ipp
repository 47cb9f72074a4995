// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_FAULTS_IPP
#define OSS_TESTING_SERVER_IMPL_FAULTS_IPP

#include <oss/testing/server/faults.hpp>

#include <oss/detail/dates.hpp>
#include <oss/testing/server/rules.hpp>

#include <algorithm>
#include <stdexcept>

namespace oss::testing::detail {

OSS_DECL void fault_plan::set(std::vector<fault_rule> rules) {
  std::vector<rule_state> plan;
  for (auto& r : rules) {
    rule_state st;
    st.any_operation = r.operation.empty() || r.operation == "*" || r.operation == "any";
    if (!st.any_operation) {
      st.op = operation_from_name(r.operation);
      if (st.op == operation::unknown)
        throw std::invalid_argument("local_server::set_fault_plan: unknown operation name: " + r.operation);
    }
    st.rule = std::move(r);
    plan.push_back(std::move(st));
  }
  std::lock_guard lock(mutex_);
  rules_ = std::move(plan);
}

OSS_DECL std::optional<fault_rule> fault_plan::decide(operation op, int part_number) {
  std::lock_guard lock(mutex_);
  std::uint64_t attempt = 0;
  if (op == operation::upload_part && part_number > 0) {
    attempt = ++part_attempts_[part_number];
    auto peak = max_part_attempts_.load();
    while (attempt > peak && !max_part_attempts_.compare_exchange_weak(peak, attempt)) {
    }
  }
  std::optional<fault_rule> chosen;
  for (auto& st : rules_) {
    if (!st.any_operation && st.op != op) continue;
    if (st.rule.part_number != 0 && st.rule.part_number != part_number) continue;
    ++st.matched;
    if (chosen) continue;
    if (st.matched < std::max<std::uint64_t>(st.rule.nth, 1)) continue;
    if (st.rule.times != 0 && st.fired >= st.rule.times) continue;
    if (st.rule.attempt != 0 && (op != operation::upload_part || attempt < st.rule.attempt)) continue;
    ++st.fired;
    chosen = st.rule;
  }
  if (chosen) ++faults_injected_;
  return chosen;
}

OSS_DECL std::map<int, std::uint64_t> fault_plan::part_attempts() const {
  std::lock_guard lock(mutex_);
  return part_attempts_;
}

OSS_DECL void fault_plan::reset_counts() {
  std::lock_guard lock(mutex_);
  part_attempts_.clear();
  faults_injected_.store(0);
  max_part_attempts_.store(0);
}

OSS_DECL server_error fault_error(const fault_rule& rule, std::chrono::system_clock::time_point now) {
  server_error e = make_error(rule.action == fault_action::error_in_200 ? 200 : rule.status, rule.code,
                              rule.message.empty() ? "Injected by the local server's fault plan." : rule.message);
  e.ec = "9999-00000099";
  if (rule.code == "RequestTimeTooSkewed") {
    e.extra.emplace_back("RequestTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("ServerTime", oss::detail::iso8601_extended(now));
    e.extra.emplace_back("MaxAllowedSkewMilliseconds", "900000");
  }
  return e;
}

OSS_DECL void alter_reply(const fault_rule& rule, reply& rep) {
  switch (rule.action) {
    case fault_action::missing_etag:
      rep.headers.erase("ETag");
      break;
    case fault_action::wrong_crc64: {
      std::uint64_t crc = 0;
      if (const std::string* v = rep.headers.find("x-oss-hash-crc64ecma"))
        if (auto n = parse_decimal(*v)) crc = *n;
      rep.headers.set("x-oss-hash-crc64ecma", std::to_string(crc ^ 1));
      break;
    }
    case fault_action::garbage_body:
      rep.body = "}}garbage<<< \x01 this is not XML <";
      rep.object.reset();
      rep.content_length.reset();
      break;
    default:
      break;
  }
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_FAULTS_IPP
