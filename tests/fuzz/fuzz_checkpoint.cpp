// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Fuzz target: the checkpoint loader (`oss::checkpoint_from_json`, the parser behind
// `load_checkpoint`). The whole input is the file's text.
// Invariants, beyond "no crash, no sanitizer report":
//  - failure is exactly client_errc::checkpoint_corrupt, with a default checkpoint and a short
//    problem text that never quotes the file (only field names and fixed words);
//  - an accepted checkpoint is usable: name and upload id present, part size > 0, part numbers
//    unique and within 1..10000, every part with an ETag; an intent (state initiating) has no
//    upload id and no parts instead; a download's has no upload id but the object's ETag, and
//    its ranges no ETags;
//  - checkpoint_to_json of it loads back to the same checkpoint (as version 1), and writing that
//    again gives the same text (a fixed point), so save/load never drifts.
#include "fuzz_check.hpp"

#include <oss/checkpoint.hpp>
#include <oss/error.hpp>
#include <oss/json_impl.hpp>

#include <set>
#include <string>

namespace {

bool same_parts(const oss::checkpoint& a, const oss::checkpoint& b, bool compare_digests) {
  if (a.done_parts.size() != b.done_parts.size()) return false;
  for (std::size_t i = 0; i < a.done_parts.size(); ++i) {
    const auto& x = a.done_parts[i];
    const auto& y = b.done_parts[i];
    if (x.number != y.number || x.etag != y.etag) return false;
    if (compare_digests && (x.size != y.size || x.crc64 != y.crc64)) return false;
  }
  return true;
}

// What a problem text may contain: field names, indices and fixed English words.
bool plain_problem(const std::string& p) {
  if (p.empty() || p.size() > 300) return false;
  for (char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view(" '.[]()\"-,:;").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::error_code ec;
  std::string problem;
  const oss::checkpoint cp = oss::detail::checkpoint_from_json(text, ec, problem);
  {
    // The public form agrees with the detailed one.
    std::error_code ec_public;
    const oss::checkpoint cp_public = oss::checkpoint_from_json(text, ec_public);
    FUZZ_CHECK(ec_public == ec);
    FUZZ_CHECK(cp_public.upload_id == cp.upload_id && same_parts(cp_public, cp, true));
  }
  if (ec) {
    FUZZ_CHECK(ec == oss::client_errc::checkpoint_corrupt);
    FUZZ_CHECK(plain_problem(problem));
    FUZZ_CHECK(cp.upload_id.empty() && cp.name.empty() && cp.done_parts.empty() && cp.part_size == 0);
    return 0;
  }
  FUZZ_CHECK(problem.empty());
  FUZZ_CHECK(cp.version == 0 || cp.version == 1);
  const bool download = cp.kind == oss::download_checkpoint_kind;
  FUZZ_CHECK(cp.kind == oss::checkpoint_kind || (download && cp.version == 1));
  FUZZ_CHECK(!cp.name.empty() && cp.part_size > 0);
  if (download)  // pinned by the object's ETag; no upload, no intent, ranges without ETags
    FUZZ_CHECK(cp.upload_id.empty() && !cp.object_etag.empty() && cp.state == oss::checkpoint_state::uploading);
  else if (cp.state == oss::checkpoint_state::initiating)
    FUZZ_CHECK(cp.version == 1 && cp.upload_id.empty() && cp.done_parts.empty());
  else
    FUZZ_CHECK(!cp.upload_id.empty());
  std::set<int> numbers;
  for (const auto& p : cp.done_parts) {
    FUZZ_CHECK(p.number >= 1 && p.number <= 10000);
    FUZZ_CHECK(numbers.insert(p.number).second);
    FUZZ_CHECK(download || !p.etag.empty());
    if (cp.version == 0) FUZZ_CHECK(p.size == 0 && p.crc64 == 0);
  }

  const std::string written = oss::checkpoint_to_json(cp);
  std::error_code ec2;
  const oss::checkpoint back = oss::checkpoint_from_json(written, ec2);
  FUZZ_CHECK(!ec2);
  FUZZ_CHECK(back.version == 1);
  FUZZ_CHECK(back.endpoint == cp.endpoint && back.bucket == cp.bucket && back.name == cp.name &&
             back.file == cp.file && back.file_size == cp.file_size &&
             back.file_mtime_ns == cp.file_mtime_ns && back.part_size == cp.part_size &&
             back.upload_id == cp.upload_id && back.state == cp.state && back.kind == cp.kind &&
             back.object_etag == cp.object_etag && back.object_crc64 == cp.object_crc64);
  if (cp.state == oss::checkpoint_state::initiating) FUZZ_CHECK(back.initiated_after == cp.initiated_after);
  FUZZ_CHECK(same_parts(back, cp, true));
  FUZZ_CHECK(oss::checkpoint_to_json(back) == written);
  return 0;
}
