// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_CREDENTIALS_IPP
#define OSS_IMPL_CREDENTIALS_IPP

#include <oss/credentials.hpp>

#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace oss {

namespace detail {

[[noreturn]] inline void throw_missing_credentials(std::string what_to_set) {
  diagnostics diag;
  diag.operation = "credentials";
  diag.client_message = std::move(what_to_set);
  throw_error(client_errc::missing_credentials, diag);
}

inline std::string getenv_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

class static_credentials_provider final : public credentials_provider {
 public:
  explicit static_credentials_provider(credentials creds) : creds_(std::move(creds)) {}

  asio::awaitable<expiring_credentials> fetch() override {
    if (creds_.access_key_id.empty() || creds_.access_key_secret.empty())
      throw_missing_credentials("the static credentials provider was given no AccessKey ID or no secret");
    expiring_credentials r;
    r.creds = creds_;
    co_return r;
  }

 private:
  credentials creds_;
};

class environment_credentials_provider final : public credentials_provider {
 public:
  asio::awaitable<expiring_credentials> fetch() override {
    std::optional<credentials> env = credentials_from_environment();
    if (!env) throw_missing_credentials("set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET in the environment");
    expiring_credentials r;
    r.creds = std::move(*env);
    co_return r;
  }
};

class callback_credentials_provider final : public credentials_provider {
 public:
  explicit callback_credentials_provider(std::function<expiring_credentials()> fn) : fn_(std::move(fn)) {}

  asio::awaitable<expiring_credentials> fetch() override { co_return fn_(); }

 private:
  std::function<expiring_credentials()> fn_;
};

class async_callback_credentials_provider final : public credentials_provider {
 public:
  explicit async_callback_credentials_provider(std::function<asio::awaitable<expiring_credentials>()> fn)
      : fn_(std::move(fn)) {}

  asio::awaitable<expiring_credentials> fetch() override {
    asio::awaitable<expiring_credentials> pending = fn_();
    co_return co_await std::move(pending);
  }

 private:
  std::function<asio::awaitable<expiring_credentials>()> fn_;
};

}  // namespace detail

OSS_DECL std::shared_ptr<credentials_provider> make_static_credentials_provider(credentials creds) {
  return std::make_shared<detail::static_credentials_provider>(std::move(creds));
}

OSS_DECL std::shared_ptr<credentials_provider> make_environment_credentials_provider() {
  return std::make_shared<detail::environment_credentials_provider>();
}

OSS_DECL std::shared_ptr<credentials_provider> make_callback_credentials_provider(
    std::function<expiring_credentials()> fetch) {
  if (!fetch) throw std::invalid_argument("make_callback_credentials_provider: empty function");
  return std::make_shared<detail::callback_credentials_provider>(std::move(fetch));
}

OSS_DECL std::shared_ptr<credentials_provider> make_async_callback_credentials_provider(
    std::function<asio::awaitable<expiring_credentials>()> fetch) {
  if (!fetch) throw std::invalid_argument("make_async_callback_credentials_provider: empty function");
  return std::make_shared<detail::async_callback_credentials_provider>(std::move(fetch));
}

OSS_DECL std::optional<credentials> credentials_from_environment() {
  credentials c;
  c.access_key_id = detail::getenv_or_empty("OSS_ACCESS_KEY_ID");
  c.access_key_secret = detail::getenv_or_empty("OSS_ACCESS_KEY_SECRET");
  c.security_token = detail::getenv_or_empty("OSS_SESSION_TOKEN");
  if (c.access_key_id.empty() || c.access_key_secret.empty()) return std::nullopt;
  return c;
}

}  // namespace oss

#endif  // OSS_IMPL_CREDENTIALS_IPP
