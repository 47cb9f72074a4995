// The one translation unit of the local test server in separate compilation
// (-Dseparate_compilation=true: libasio-oss-testing.a).
#include <oss/testing/src.hpp>
