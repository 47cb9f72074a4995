// doctest's main and the one copy of Boost.JSON's implementation for every test executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <boost/json/src.hpp>
