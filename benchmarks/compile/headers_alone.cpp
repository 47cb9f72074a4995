// The compile-time reference of a TU that only includes <oss/oss.hpp>: the headers every
// asio-oss program pulls in anyway (scripts/bench --only compile).
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <boost/json/src.hpp>
