// A TU that only includes the library (scripts/bench --only compile): the cost of its headers,
// against headers_alone.cpp.
#include <oss/oss.hpp>
