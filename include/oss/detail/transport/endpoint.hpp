// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_ENDPOINT_HPP
#define OSS_DETAIL_TRANSPORT_ENDPOINT_HPP

#include <oss/detail/config.hpp>

#include <cstdint>
#include <string>

namespace oss::detail::transport {

// Where to connect. `host` is a DNS name or an IP literal (IPv6 without brackets); it is also
// the TLS SNI name and the name the certificate must match.
struct endpoint {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

}  // namespace oss::detail::transport

#endif  // OSS_DETAIL_TRANSPORT_ENDPOINT_HPP
