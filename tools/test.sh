#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs every
# test: unit and integration in a normal build, then again under
# AddressSanitizer and UndefinedBehaviorSanitizer. Run as root (the
# integration tests make network namespaces and tap interfaces).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh build
meson test -C build --print-errorlogs --num-processes 2

tools/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2
