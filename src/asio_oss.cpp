// The one translation unit of the separately compiled library (-Dseparate_compilation=true).
#include <oss/src.hpp>
