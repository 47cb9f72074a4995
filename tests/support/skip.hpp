// Test support: a test case that cannot run here (a tool not built, node or an npm package
// missing, file permissions not enforced for root) must say SKIPPED, never count as passed.
//
// doctest 2.4 has no run-time skip, so OSS_SKIP(reason) prints a marker line on stdout,
// "SKIPPED: <test case>" (then "  because: <reason>"), and leaves the test case.
// scripts/summarize-tests counts the distinct test cases that printed a marker as skipped
// instead of passed, and the closing line of scripts/test reports them
// ("N passed, N failed, N skipped").
#ifndef OSS_TESTS_SUPPORT_SKIP_HPP
#define OSS_TESTS_SUPPORT_SKIP_HPP

#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>
#include <string>

namespace oss_test {

inline void report_skip(const std::string& reason) {
  const doctest::ContextOptions* options = doctest::getContextOptions();
  const char* name = options && options->currentTest ? options->currentTest->m_name : "?";
  std::printf("SKIPPED: %s\n  because: %s\n", name, reason.c_str());
  std::fflush(stdout);
}

}  // namespace oss_test

/// Leaves the current test case as skipped; `reason` may use `<<` like MESSAGE.
#define OSS_SKIP(reason)                                   \
  do {                                                     \
    std::ostringstream oss_skip_text_;                     \
    oss_skip_text_ << reason;                              \
    ::oss_test::report_skip(oss_skip_text_.str());         \
    return;                                                \
  } while (false)

#endif  // OSS_TESTS_SUPPORT_SKIP_HPP
