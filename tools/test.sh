#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs every
# test: unit and integration in a normal build, then the unit tests again
# under AddressSanitizer and UndefinedBehaviorSanitizer. Run as root (the
# integration tests make network namespaces and tap interfaces).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh || exit 1
tools/build.sh build || exit 1
meson test -C build --print-errorlogs --num-processes 2
rc=$?

if tools/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 || rc=1
else
  rc=1
fi

# One closing line over both runs, for people and CI alike.
python3 - build build-asan <<'PY'
import json, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    try:
        lines = open(f"{d}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
