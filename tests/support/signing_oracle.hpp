// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// What the two signer cross-checks (ali-oss's signUtils, the AWS SDK's SigV4 signer) share: a
// seeded request generator and the runner of a node "signing oracle" that answers one JSON line
// per request. Each test keeps its own fragments and operations: those are what differs.
#pragma once

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "process.hpp"

namespace oss_test::signing {

// Deterministic across standard libraries: only the raw mt19937_64 output is used (the
// distributions' algorithms are implementation-defined), so a seed names the same cases on
// every machine.
class generator {
 public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T, std::size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }
  std::string token(std::string_view alphabet, std::size_t min_len, std::size_t max_len) {
    std::string s(min_len + below(max_len - min_len + 1), ' ');
    for (auto& ch : s) ch = alphabet[below(alphabet.size())];
    return s;
  }
  std::uint64_t raw() { return rng_(); }

  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

  // One to max_pieces fragments end to end: keys and values that mix every character class
  // the fragments hold.
  std::string join(std::span<const std::string_view> fragments, std::size_t max_pieces) {
    std::string s;
    const std::size_t pieces = 1 + below(max_pieces);
    for (std::size_t i = 0; i < pieces; ++i) s += fragments[below(fragments.size())];
    return s;
  }

  // Header names arrive in any case; both signers must fold them.
  std::string random_case(std::string_view name) {
    std::string s(name);
    for (auto& c : s)
      if (c >= 'a' && c <= 'z' && chance(30)) c = static_cast<char>(c - 'a' + 'A');
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

inline constexpr std::string_view alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// An oracle's answers: its first line (without "id") says which signing code answered, then one
// line per request with either "authorization" or "error".
struct oracle_reply {
  boost::json::object banner;
  std::map<std::int64_t, std::string> authorization;
  std::map<std::int64_t, std::string> error;
};

// Runs `node script` with the JSON lines on its standard input. REQUIREs that it ran and that
// every line it wrote is JSON.
inline oracle_reply ask_oracle(const std::filesystem::path& script, const std::string& lines) {
  const std::string name = script.filename().string();
  // Throws (failing the test with the reason) when node cannot be started.
  const process_result run = run_process({"node", script.string()}, lines, std::chrono::seconds(120));
  REQUIRE_MESSAGE(!run.timed_out, "node " << name << " did not finish within 120 s");
  REQUIRE_MESSAGE(run.exit_code == 0, "node " << name << " exited with status " << run.exit_code);

  oracle_reply reply;
  std::size_t pos = 0;
  while (pos < run.out.size()) {
    std::size_t end = run.out.find('\n', pos);
    if (end == std::string::npos) end = run.out.size();
    const std::string_view line(run.out.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    boost::json::error_code ec;
    const boost::json::value v = boost::json::parse(line, ec);
    REQUIRE_MESSAGE((!ec && v.is_object()), "node " << name << " wrote a line that is not a JSON object");
    const auto& o = v.as_object();
    const auto* id_field = o.if_contains("id");
    if (id_field == nullptr) {
      reply.banner = o;
      continue;
    }
    const std::int64_t id = id_field->to_number<std::int64_t>();
    if (const auto* a = o.if_contains("authorization"))
      reply.authorization[id] = a->as_string().c_str();
    else
      reply.error[id] = o.at("error").as_string().c_str();
  }
  return reply;
}

}  // namespace oss_test::signing
