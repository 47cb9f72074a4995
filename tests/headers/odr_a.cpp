// Header-only ODR check, part A (with odr_b.cpp): two translation units that include every
// public header link into one program, and what one TU makes the other can use. A non-inline
// definition in a header is a `multiple definition` link error; a function-local static that
// each TU gets its own copy of (an error category, say) makes the error-code comparison
// below fail. Built once header-only and once with OSS_SEPARATE_COMPILATION against
// libasio-oss.a (src/asio_oss.cpp, which is <oss/src.hpp>).
#include <oss/oss.hpp>
#include <oss/testing/local_server.hpp>
#include <oss/json_impl.hpp>  // one TU only, as users do

#include <iostream>
#include <string>
#include <system_error>

// Defined in odr_b.cpp.
std::string odr_b_checkpoint_json();
std::error_code odr_b_crc_error();
const std::error_category* odr_b_client_category();

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "odr: FAILED: " << what << '\n';
    ++failures;
  }
}

}  // namespace

int main() {
  std::error_code ec;
  oss::checkpoint cp = oss::checkpoint_from_json(odr_b_checkpoint_json(), ec);
  expect(!ec, "the checkpoint TU B wrote parses in TU A");
  expect(cp.name == "odr/check.bin" && cp.upload_id == "odr-upload", "checkpoint fields survive");
  expect(cp.done_parts.size() == 1 && cp.done_parts[0].crc64 == 0x995DC9BBDF1939FAULL,
         "the part record survives");

  expect(odr_b_client_category() == &oss::client_category(), "one client_category object");
  expect(odr_b_crc_error() == oss::client_errc::crc64_mismatch,
         "an error code made in TU B compares equal in TU A");

#ifdef OSS_SEPARATE_COMPILATION
  std::cout << "odr (separate compilation): ";
#else
  std::cout << "odr (header-only): ";
#endif
  std::cout << (failures == 0 ? "ok" : "FAILED") << '\n';
  return failures == 0 ? 0 : 1;
}
