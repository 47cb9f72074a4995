// Where examples 02-07 upload to, read from the environment, so each of them runs unchanged
// against real OSS and against oss-local-server (tests/examples/run_example.sh sets these):
//
//   OSS_ENDPOINT            https://oss-cn-hangzhou.aliyuncs.com, http://127.0.0.1:9000, ...
//   OSS_REGION              cn-hangzhou; enough on its own for public OSS, and the V4 signing
//                           region for an IP or custom-domain endpoint
//   OSS_BUCKET              the bucket
//   OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN (optional, STS)
//
// 01_quick_start.cpp spells the same thing out inline.
#ifndef OSS_EXAMPLES_EXAMPLE_ENV_HPP
#define OSS_EXAMPLES_EXAMPLE_ENV_HPP

#include <oss/client.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace example {

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

inline oss::client_options client_options_from_env() {
  oss::client_options o;
  o.endpoint = env("OSS_ENDPOINT");
  o.region = env("OSS_REGION");
  o.bucket = env("OSS_BUCKET");
  o.creds = {env("OSS_ACCESS_KEY_ID"), env("OSS_ACCESS_KEY_SECRET"), env("OSS_SESSION_TOKEN")};
  if ((o.endpoint.empty() && o.region.empty()) || o.bucket.empty())
    throw std::runtime_error("set OSS_ENDPOINT (or OSS_REGION) and OSS_BUCKET, and the credentials "
                             "OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET");
  return o;
}

}  // namespace example

#endif  // OSS_EXAMPLES_EXAMPLE_ENV_HPP
