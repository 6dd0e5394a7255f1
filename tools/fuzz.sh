#!/usr/bin/env bash
# Runs kpgate's libFuzzer harnesses (tests/fuzz/), each for SECONDS.
#
#   tools/fuzz.sh [SECONDS] [HARNESS...]     default: 60 s each, all of them
#
# Installs clang and the libFuzzer runtime if missing, configures build-fuzz/
# with clang, ASan and UBSan (the whole tree instrumented for coverage) and
# builds only the fuzzers. Each fuzzer starts from its seed corpus
# (tests/fuzz/corpus/NAME, never written to) and keeps what it finds in
# build-fuzz/fuzz-corpus/NAME. A crash lands in build-fuzz/fuzz-crashes/;
# minimise it with
#   build-fuzz/tests/fuzz/fuzz_NAME -minimize_crash=1 -max_total_time=60 FILE
# and add it to tests/fuzz/corpus/NAME/, where `meson test` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
all=(pkt request engine trust config audit)
harnesses=("${@:-${all[@]}}")
dir=build-fuzz

missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$dir/build.ninja" ]; then
  # fuzzer-no-link: coverage feedback from the code under test, not only
  # from the harness; the fuzzers link libFuzzer itself.
  CC=clang meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C "$dir" "${harnesses[@]/#/tests/fuzz/fuzz_}"

# UBSan reports are crashes too, not lines in a log.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp
mkdir -p "$dir/fuzz-crashes"
rc=0
for h in "${harnesses[@]}"; do
  work="$dir/fuzz-corpus/$h"
  mkdir -p "$work"
  dict=()
  [ -f "tests/fuzz/fuzz_$h.dict" ] && dict=("-dict=tests/fuzz/fuzz_$h.dict")
  echo "fuzz: $h for $secs s"
  if ! "$dir/tests/fuzz/fuzz_$h" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$dir/fuzz-crashes/$h-" "${dict[@]}" \
      "$work" "tests/fuzz/corpus/$h" 2>"$dir/fuzz-$h.log"; then
    echo "fuzz: $h FAILED, see $dir/fuzz-$h.log and $dir/fuzz-crashes/" >&2
    rc=1
  fi
  # a crash prints the final stats twice
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$dir/fuzz-$h.log" | awk '!seen[$0]++' | sed "s/^/fuzz: $h /" || true
done
exit $rc
