#!/usr/bin/env python3
"""Checks what `meson install` of a configured build would install (meson introspect --installed).

  check_install.py MESON BUILD_DIR SEPARATE(true|false) EXAMPLES(true|false)

The headers, asio-oss.pc, libasio-oss.a exactly in separate-compilation mode, and the three
command-line tools when the examples are built. The consumer tests install for real; this
covers the configuration they do not build (the tools, this build's own mode) at no cost.
"""
import json
import subprocess
import sys


def main(argv):
    meson, build_dir, separate, examples = argv[1], argv[2], argv[3] == "true", argv[4] == "true"
    out = subprocess.run([meson, "introspect", "--installed", build_dir], check=True,
                         capture_output=True, text=True).stdout
    installed = list(json.loads(out).values())

    def has(suffix):
        return any(p.endswith(suffix) for p in installed)

    problems = []
    if not has("/include/oss"):
        problems.append("the include/oss folder is not installed")
    if not has("/pkgconfig/asio-oss.pc"):
        problems.append("asio-oss.pc is not installed")
    if not has("/cmake/asio-oss/asio-ossConfig.cmake") or not has("/cmake/asio-oss/asio-ossConfigVersion.cmake"):
        problems.append("the CMake package (asio-ossConfig.cmake and its version file) is not installed")
    if has("/libasio-oss.a") != separate:
        problems.append("libasio-oss.a must be installed exactly when separate_compilation is on")
    for tool in ("oss-local-server", "oss-upload", "oss-head"):
        if has("/bin/" + tool) != examples:
            problems.append(f"bin/{tool} must be installed exactly when examples are built")
    for p in problems:
        print("check_install:", p)
    if not problems:
        print("installs:", *sorted(installed), sep="\n  ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
