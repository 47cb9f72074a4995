#!/usr/bin/env bash
# Builds tests/consumer/consumer.cpp against asio-oss the way a user's project would, then runs
# it against a fresh oss-local-server (tests/examples/run_example.sh) and checks its exit status.
#
#   run_consumer.sh MODE SERVER
#
#   pkg-config  install header-only into a temporary prefix; g++ $(pkg-config --cflags --libs)
#   meson       the same install; a meson project with dependency('asio-oss')
#   subproject  no install; a meson project with subprojects/asio-oss -> this source tree
#   cmake       the same install as pkg-config; a CMake project with
#               find_package(asio-oss CONFIG REQUIRED) and the target asio-oss::asio-oss
#   separate    install with -Dseparate_compilation=true (libasio-oss.a); g++ via pkg-config
#
# The install is a fresh configure of this source tree with -Dtests=false -Dexamples=false and
# --prefix in a temporary folder, so it checks exactly what `meson install` ships. Everything is
# compiled at -O0 without -g: a header-only consumer compiles the library inline, and this keeps
# that to about 12 s of CPU with g++ 12. Each step prints its wall-clock and CPU time.
# Needs OSS_SOURCE_DIR; uses OSS_CONSUMER_CXX (the compiler of the enclosing build) when set.
# Exit 77 (skipped) when a tool the mode needs is missing.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: run_consumer.sh pkg-config|meson|subproject|cmake|separate SERVER" >&2
  exit 2
fi
mode=$1
server=$(realpath "$2")
src=$(realpath "${OSS_SOURCE_DIR:?OSS_SOURCE_DIR must name the asio-oss source tree}")
here=$src/tests/consumer

# The compiler of the enclosing build, without a compiler cache in front (CMake wants one word).
read -r -a cxx_cmd <<<"${OSS_CONSUMER_CXX:-c++}"
case "${cxx_cmd[0]}" in ccache | sccache) cxx_cmd=("${cxx_cmd[@]:1}") ;; esac
cxx=${cxx_cmd[0]}
cxx_cmd=("$cxx")

need() {
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "run_consumer: $tool not found: skipping the $mode consumer"
      exit 77
    fi
  done
}
case "$mode" in
  pkg-config | separate) need meson pkg-config "$cxx" ;;
  meson | subproject) need meson pkg-config ninja "$cxx" ;;
  cmake) need meson pkg-config cmake "$cxx" ;;
  *) echo "run_consumer: unknown mode '$mode'" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/asio-oss-consumer-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The enclosing `meson test` must not leak into the nested builds.
unset MESONINTROSPECT MESON_BUILD_ROOT MESON_SOURCE_ROOT MESON_SUBDIR || true

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

total_start=$(date +%s.%N)
total_cpu=0
# step NAME COMMAND...: runs COMMAND with its output in a log, printed only when it fails, and
# prints the step's wall-clock and CPU (user + system, children included) seconds.
step() {
  local name=$1 status=0 times wall user sys
  shift
  times=$( { TIMEFORMAT='%1R %1U %1S'; time "$@" >"$work/$name.log" 2>&1; } 2>&1 ) || status=$?
  if [ "$status" -ne 0 ]; then
    echo "run_consumer: step '$name' failed (exit $status): $*" >&2
    tail -n 60 "$work/$name.log" >&2
    exit 1
  fi
  read -r wall user sys <<<"$times"
  total_cpu=$(awk -v t="$total_cpu" -v u="$user" -v s="$sys" 'BEGIN { print t + u + s }')
  printf '%-10s %-20s %6s s wall %6.1f s CPU\n' "$mode" "$name" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
}
fail() {
  echo "run_consumer: $*" >&2
  exit 1
}

# --- the library, installed (all modes but subproject) ---------------------------------------
expect_mode=header-only
[ "$mode" = separate ] && expect_mode=separate
if [ "$mode" != subproject ]; then
  prefix=$work/prefix
  lib_options=(-Dtests=false -Dexamples=false --buildtype=plain --prefix "$prefix")
  if [ "$mode" = separate ]; then
    step lib-configure meson setup "$work/lib-build" "$src" "${lib_options[@]}" -Dseparate_compilation=true
    step lib-install meson install -C "$work/lib-build"
    [ -f "$(find "$prefix" -name libasio-oss.a | head -n1)" ] || fail "no libasio-oss.a in the install"
  else
    step lib-configure meson setup "$work/lib-build" "$src" "${lib_options[@]}"
    # A header-only install has nothing to build: skip compiling libasio-oss.a, which the
    # header-only install does not contain.
    step lib-install meson install -C "$work/lib-build" --no-rebuild
    [ -z "$(find "$prefix" -name 'libasio-oss*')" ] || fail "a header-only install holds a library"
  fi
  for h in oss/oss.hpp oss/src.hpp oss/json_impl.hpp oss/detail/config.hpp oss/testing/local_server.hpp; do
    [ -f "$prefix/include/$h" ] || fail "$h is not installed"
  done
  [ -n "$(find "$prefix" -path '*/cmake/asio-oss/asio-ossConfig.cmake')" ] \
    || fail "the CMake package (cmake/asio-oss/asio-ossConfig.cmake) is not installed"
  mapfile -t pcs < <(find "$prefix" -name asio-oss.pc)
  [ "${#pcs[@]}" -eq 1 ] || fail "expected one asio-oss.pc in the install, found ${#pcs[@]}"
  export PKG_CONFIG_PATH
  PKG_CONFIG_PATH=$(dirname "${pcs[0]}")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  want=false
  [ "$mode" = separate ] && want=true
  got=$(pkg-config --variable=separate_compilation asio-oss)
  [ "$got" = "$want" ] || fail "asio-oss.pc says separate_compilation=$got, expected $want"
  echo "asio-oss.pc: $(pkg-config --cflags --libs asio-oss)"
fi

# --- the consumer, built ----------------------------------------------------------------------
project=$work/consumer
case "$mode" in
  pkg-config | separate)
    mkdir -p "$project"
    # A user's warning flags must not trip over the library's headers.
    # shellcheck disable=SC2046  # pkg-config output is meant to split into words
    step consumer-build "${cxx_cmd[@]}" -std=c++20 -O0 -Wall -Wextra -Wpedantic -Werror \
      "$here/consumer.cpp" $(pkg-config --cflags --libs asio-oss) -o "$project/consumer"
    binary=$project/consumer
    ;;
  meson)
    cp -r "$here/meson_project" "$project"
    cp "$here/consumer.cpp" "$project/"
    step consumer-configure env CXX="$cxx" meson setup "$project/build" "$project" --buildtype=plain
    step consumer-build meson compile -C "$project/build"
    binary=$project/build/consumer
    ;;
  subproject)
    cp -r "$here/subproject_project" "$project"
    cp "$here/consumer.cpp" "$project/"
    mkdir "$project/subprojects"
    ln -s "$src" "$project/subprojects/asio-oss"
    # --force-fallback-for: the subproject is used even where an asio-oss.pc is installed.
    step consumer-configure env CXX="$cxx" meson setup "$project/build" "$project" --buildtype=plain \
      --force-fallback-for=asio-oss
    grep -q "Executing subproject asio-oss" "$work/consumer-configure.log" \
      || fail "meson did not use the asio-oss subproject"
    # Only the program: asio-oss's libasio-oss.a is a default target even in header-only mode.
    step consumer-build meson compile -C "$project/build" consumer
    binary=$project/build/consumer
    ;;
  cmake)
    cp -r "$here/cmake_project" "$project"
    cp "$here/consumer.cpp" "$project/"
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    # The user's warning flags must not trip over the library's headers here either.
    step consumer-configure cmake -S "$project" -B "$project/build" "${generator[@]}" \
      -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_CXX_FLAGS="-O0 -Wall -Wextra -Wpedantic -Werror"
    step consumer-build cmake --build "$project/build"
    binary=$project/build/consumer
    ;;
esac
[ -x "$binary" ] || fail "the consumer was not built"

# --- the consumer, run against oss-local-server -----------------------------------------------
step consumer-run "$src/tests/examples/run_example.sh" "$server" "$binary" "$expect_mode"
cat "$work/consumer-run.log"
printf '%-10s %-20s %6s s wall %6.1f s CPU\n' "$mode" total "$(elapsed "$total_start")" "$total_cpu"
