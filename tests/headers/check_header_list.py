#!/usr/bin/env python3
"""Fails when the public headers on disk differ from the list tests/headers/meson.build checks.

  check_header_list.py SOURCE_DIR HEADER...

Public headers are include/oss/*.hpp and include/oss/testing/*.hpp (detail/ and impl/ are not
public). A new public header must join the list so that it is compiled on its own too.
"""
import pathlib
import sys


def main(argv):
    root = pathlib.Path(argv[1])
    listed = set(argv[2:])
    inc = root / "include"
    on_disk = {p.relative_to(inc).as_posix()
               for d in ("oss", "oss/testing") for p in (inc / d).glob("*.hpp")}
    missing = sorted(on_disk - listed)
    stale = sorted(listed - on_disk)
    for h in missing:
        print(f"{h}: public header not in tests/headers/meson.build's public_headers")
    for h in stale:
        print(f"{h}: listed in tests/headers/meson.build but not found under include/")
    if missing or stale:
        return 1
    print(f"{len(on_disk)} public headers, all checked on their own")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
