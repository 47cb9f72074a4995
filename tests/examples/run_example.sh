#!/usr/bin/env bash
# Runs one example program against a fresh oss-local-server and checks its exit status.
#
#   run_example.sh SERVER EXAMPLE [ARG...]
#
# SERVER is the oss-local-server executable, EXAMPLE the program to run. In ARGs, {file} stands
# for a generated sample file (6 MiB + 12345 bytes: several parts) and {dir} for a folder of
# sample files of assorted sizes (empty, below one part, several parts).
#
# The server listens on 127.0.0.1 with a free port and random credentials; the example gets
# them the way a user would pass them, through OSS_ENDPOINT, OSS_REGION, OSS_BUCKET,
# OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET. The server is stopped (SIGTERM) however the
# example ends, and everything lives in a temporary folder that is removed afterwards.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: run_example.sh SERVER EXAMPLE [ARG...]" >&2
  exit 2
fi
# Absolute paths: the example runs inside the temporary folder.
server=$(realpath "$1")
example=$(realpath "$2")
shift 2

work=$(mktemp -d "${TMPDIR:-/tmp}/asio-oss-example-XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Sample data, generated only when the example asks for it.
args=()
for a in "$@"; do
  case "$a" in
    *'{file}'*)
      [ -f "$work/sample.bin" ] || head -c $((6 * 1024 * 1024 + 12345)) /dev/urandom >"$work/sample.bin"
      a=${a//\{file\}/$work/sample.bin} ;;
  esac
  case "$a" in
    *'{dir}'*)
      if [ ! -d "$work/files" ]; then
        mkdir "$work/files"
        : >"$work/files/empty.txt"
        i=0
        for size in 1000 150000 $((1024 * 1024 + 1)) $((3 * 1024 * 1024)) $((2 * 1024 * 1024 + 512 * 1024)) 777777 $((5 * 1024 * 1024 - 3)); do
          i=$((i + 1))
          head -c "$size" /dev/urandom >"$work/files/file-$i.bin"
        done
      fi
      a=${a//\{dir\}/$work/files} ;;
  esac
  args+=("$a")
done

# Random credentials, so nothing here is a secret worth keeping.
key_id=LTAI$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
key_secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# The server prints "listening on http://HOST:PORT" as its first line; a coprocess lets us read
# that line with a timeout while the server keeps running.
coproc server_proc { exec "$server" --root "$work/store" --create-root --host 127.0.0.1 --port 0 --region cn-local \
  --access-key-id "$key_id" --access-key-secret "$key_secret" 2>"$work/server.log"; }
server_pid=$server_proc_PID
line=
if ! read -r -t 30 line <&"${server_proc[0]}" || [[ "$line" != "listening on "* ]]; then
  echo "run_example: oss-local-server did not start: '$line'" >&2
  cat "$work/server.log" >&2 || true
  exit 1
fi

status=0
(
  cd "$work"
  OSS_ENDPOINT=${line#listening on } OSS_REGION=cn-local OSS_BUCKET=examples \
  OSS_ACCESS_KEY_ID=$key_id OSS_ACCESS_KEY_SECRET=$key_secret OSS_SESSION_TOKEN= \
    exec "$example" "${args[@]}"
) || status=$?

if [ "$status" -ne 0 ]; then
  echo "run_example: $(basename "$example") exited with status $status" >&2
  echo "--- oss-local-server log ---" >&2
  cat "$work/server.log" >&2 || true
fi
exit "$status"
