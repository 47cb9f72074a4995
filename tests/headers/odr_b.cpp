// Header-only ODR check, part B: see odr_a.cpp.
#include <oss/oss.hpp>
#include <oss/testing/local_server.hpp>

#include <string>
#include <system_error>

std::string odr_b_checkpoint_json() {
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:9";
  cp.bucket = "odr-bucket";
  cp.name = "odr/check.bin";
  cp.file_size = 9;
  cp.part_size = 100 * 1024;
  cp.upload_id = "odr-upload";
  cp.done_parts.push_back({1, "\"etag\"", 9, 0x995DC9BBDF1939FAULL});
  return oss::checkpoint_to_json(cp);
}

std::error_code odr_b_crc_error() { return oss::client_errc::crc64_mismatch; }

const std::error_category* odr_b_client_category() { return &oss::client_category(); }
