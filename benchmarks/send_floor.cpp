// send_floor: a minimal client that verifies what it uploads over plain HTTP, the reference that
// shows what the other clients' CPU in the same scripts/bench run is made of (the `floor` client).
//
// One PUT of the whole file over one blocking socket: each 1 MiB piece is read with pread into
// one reused buffer, added to the CRC-64 (the same function the library uses), and sent. No event
// loop, no parts, no signature, no retries: every byte is read once from the page cache and
// copied once into the socket, which any client that computes a CRC-64 of what it sends must do.
// curl -T does the same work in 64 KiB pieces without the CRC-64. (A blocking sender is not the
// cheapest on loopback: it sleeps whenever the socket buffer is full, and every wake-up costs.)
//
//   send_floor URL FILE     (URL: http://127.0.0.1:PORT/bucket/key)
//
// Prints one JSON line: {"client":"floor","bytes":…,"seconds":…,"user_s":…,"sys_s":…,
// "max_rss_kib":…,"crc64":"…","status":…}. Exit status: 0 the server answered 200, 1 otherwise,
// 2 usage.
#include <oss/detail/crc64.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

bool send_all(int sock, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(sock, data, n, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: send_floor http://127.0.0.1:PORT/bucket/key FILE\n");
    return 2;
  }
  const std::string_view url = argv[1];
  constexpr std::string_view scheme = "http://";
  const std::size_t slash = url.find('/', scheme.size());
  const std::size_t colon = url.find(':', scheme.size());
  if (!url.starts_with(scheme) || slash == std::string_view::npos || colon == std::string_view::npos || colon > slash) {
    std::fprintf(stderr, "send_floor: the URL must be http://IPV4:PORT/PATH\n");
    return 2;
  }
  const std::string host(url.substr(scheme.size(), colon - scheme.size()));
  const int port = std::atoi(std::string(url.substr(colon + 1, slash - colon - 1)).c_str());
  const std::string path(url.substr(slash));

  const int file = ::open(argv[2], O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (file < 0 || ::fstat(file, &st) != 0) {
    std::perror("send_floor: open");
    return 2;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 || sock < 0 ||
      ::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    std::perror("send_floor: connect");
    return 1;
  }

  const auto start = std::chrono::steady_clock::now();
  const std::string head = "PUT " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/octet-stream\r\n" +
                           "Content-Length: " + std::to_string(size) + "\r\n\r\n";
  bool ok = send_all(sock, head.data(), head.size());
  std::vector<char> piece(std::size_t{1} << 20);
  std::uint64_t crc = 0;
  for (std::uint64_t offset = 0; ok && offset < size;) {
    const ssize_t got = ::pread(file, piece.data(), piece.size(), static_cast<off_t>(offset));
    if (got <= 0) {
      std::perror("send_floor: pread");
      return 1;
    }
    crc = oss::detail::crc64(crc, piece.data(), static_cast<std::size_t>(got));
    ok = send_all(sock, piece.data(), static_cast<std::size_t>(got));
    offset += static_cast<std::uint64_t>(got);
  }
  // The status line is enough: the sinks answer with a small body.
  char reply[512];
  const ssize_t got = ok ? ::recv(sock, reply, sizeof reply - 1, 0) : -1;
  const std::string_view status_line = got > 12 ? std::string_view(reply, static_cast<std::size_t>(got)) : "";
  const int status = status_line.starts_with("HTTP/1.1 ") ? std::atoi(std::string(status_line.substr(9, 3)).c_str()) : 0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(sock);
  ::close(file);

  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"client\":\"floor\",\"bytes\":%llu,\"seconds\":%.3f,\"user_s\":%.3f,\"sys_s\":%.3f,\"max_rss_kib\":%ld,"
              "\"crc64\":\"%llu\",\"status\":%d}\n",
              static_cast<unsigned long long>(size), seconds, seconds_of(usage.ru_utime), seconds_of(usage.ru_stime),
              usage.ru_maxrss, static_cast<unsigned long long>(crc), status);
  if (status != 200) std::fprintf(stderr, "send_floor: the server answered %d, not 200\n", status);
  return status == 200 ? 0 : 1;
}
