#!/usr/bin/env bash
# test_deploy.sh BUILD_DIR — what deploy/ promises, checked on this machine:
#  - the systemd units pass `systemd-analyze verify` with nothing to say, in
#    a staged root holding kpgate where `meson install` puts it; the unit's
#    `systemd-analyze security --offline=true` exposure is the figure
#    docs/operations.md records. They are never started (PID 1 is not
#    systemd on these machines, and a test must not start a gateway).
#  - deploy/kpgate-production.conf passes `kpgate --check-config` and its
#    whole plugin chain builds (kpg-bench-chain); broken copies (a list
#    file, its audit and metrics groups) are refused; its list files exist
#    and say they hold examples; its commented-out stations and shared
#    ledger, turned on with keys made here, pass too.
#  - deploy/hugepages.sh: status, a dry run; a real reserve/mount/clear of 4
#    pages, undone, when no hugepage is reserved on the machine at all.
#  - deploy/nic.sh: status says plainly when no NIC can be had, and binding
#    is refused (non-zero) for a missing device and, dry, for every network
#    device that is not free. It never binds a real device here.
# Installs Debian's systemd (systemd-analyze) and dpdk (dpdk-hugepages.py,
# dpdk-devbind.py) if missing. Exit: 0 all passed, 1 a check failed, 77 skip.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: test_deploy.sh BUILD_DIR}" && pwd)
deploy=$src/deploy
tmp=$(mktemp -d /tmp/kpg-test-deploy.XXXXXX)
passed=0 failed=0
huge_reserved=0 huge_mounted=""

nr() { cat "/sys/kernel/mm/hugepages/hugepages-$1kB/nr_hugepages" 2>/dev/null || echo 0; }

cleanup() {
  if [ -n "$huge_mounted" ] && grep -q " $huge_mounted hugetlbfs " /proc/mounts; then
    umount "$huge_mounted"
  fi
  # Only what we reserved: had another program changed it meanwhile, the
  # pages are its own now.
  if [ "$huge_reserved" = 1 ] && [ "$(nr 2048)" = 4 ] && [ "$(nr 1048576)" = 0 ]; then
    dpdk-hugepages.py --clear
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
# check NAME CMD...: CMD's status decides.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
# out FILE CMD...: runs CMD, its stdout and stderr into FILE, returns its status.
out() { local f=$1; shift; "$@" >"$f" 2>&1; }

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (installs packages, mounts hugetlbfs)"
  exit 77
fi

# --- tools -----------------------------------------------------------------
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
if ! command -v dpdk-hugepages.py >/dev/null || ! command -v dpdk-devbind.py >/dev/null; then
  missing+=(dpdk)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1 ||
    { apt-get update -q >>"$tmp/apt.log" 2>&1 &&
      apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$tmp/apt.log" 2>&1; } ||
    { cat "$tmp/apt.log"; echo "FAIL - could not install ${missing[*]}"; exit 1; }
fi

# --- systemd units ----------------------------------------------------------
echo "# PID 1 is $(ps -p 1 -o comm=): the units are checked offline, never started"
root=$tmp/root
unit_exec=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$deploy/kpgate.service")
installed=$(meson introspect --installed "$build" | python3 -c '
import json, sys
for built, dest in json.load(sys.stdin).items():
    if built.endswith("/gateway/kpgate"):
        print(dest)')
if [ "$installed" = "$unit_exec" ]; then
  ok "meson install puts kpgate at $installed, where kpgate.service runs it"
else
  bad "kpgate.service runs $unit_exec, meson install puts kpgate at ${installed:-?}"
fi
mkdir -p "$root/etc/systemd/system" "$root/etc/kpgate" "$root/usr/local/sbin" \
         "$root/bin" "$root/usr/lib/systemd" "$(dirname "$root$unit_exec")"
cp "$build/gateway/kpgate" "$root$unit_exec"
cp /usr/bin/kill "$root/bin/kill"
install -m 0755 "$deploy/hugepages.sh" "$root/usr/local/sbin/kpgate-hugepages"
install -m 0755 "$deploy/nic.sh" "$root/usr/local/sbin/kpgate-nic"
cp "$deploy/kpgate.env" "$root/etc/kpgate/kpgate.env"
cp "$deploy/kpgate-production.conf" "$root/etc/kpgate/kpgate.conf"
cp "$deploy/kpgate.service" "$deploy/kpgate-setup.service" "$root/etc/systemd/system/"
# The system's own units (sysinit.target, ...) that ours are ordered against.
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"

if out "$tmp/verify" systemd-analyze verify --root="$root" kpgate.service kpgate-setup.service &&
   [ ! -s "$tmp/verify" ]; then
  ok "systemd-analyze verify: kpgate.service and kpgate-setup.service clean"
else
  cat "$tmp/verify"; bad "systemd-analyze verify"
fi
# The same check must notice a misspelt setting: it reads our file.
sed -i 's/^ProtectSystem=/ProtectSystm=/' "$root/etc/systemd/system/kpgate.service"
out "$tmp/verify-bad" systemd-analyze verify --root="$root" kpgate.service
check "systemd-analyze verify reports a misspelt setting" \
  grep -q "Unknown key 'ProtectSystm'" "$tmp/verify-bad"

out "$tmp/security" systemd-analyze security --offline=true --no-pager "$deploy/kpgate.service"
exposure=$(sed -n 's/.*Overall exposure level for kpgate.service: \([0-9.]*\).*/\1/p' "$tmp/security")
echo "# systemd-analyze security --offline=true: exposure $exposure"
check "exposure $exposure is at most 1.5" \
  awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 1.5) }'
check "docs/operations.md records exposure $exposure" \
  grep -q "exposure level $exposure" "$src/docs/operations.md"

# --- the production config ---------------------------------------------------
check "kpgate --check-config accepts deploy/kpgate-production.conf" \
  out "$tmp/check" "$build/gateway/kpgate" -- -c "$deploy/kpgate-production.conf" --check-config
grep -q "config OK" "$tmp/check" || { cat "$tmp/check"; bad "--check-config said: $(cat "$tmp/check")"; }
if out "$tmp/chain" "$build/plugins/kpg-bench-chain" "$deploy/kpgate-production.conf" 2000; then
  ok "kpg-bench-chain builds the production plugin chain"
else
  cat "$tmp/chain"; bad "kpg-bench-chain refused the production chain"
fi
for p in validity participant origin zones sanctions value physical duplicate; do
  grep -q "^  $p " "$tmp/chain" || bad "the production chain lacks $p"
done
check "a typical parcel passes the production chain" \
  grep -q "overall decision accept" "$tmp/chain"
# A copy naming a list file that is not there must be refused, at its line.
mkdir -p "$tmp/broken"
cp -r "$deploy/lists" "$tmp/broken/"
sed 's|lists/eu-833.list|lists/no-such.list|' "$deploy/kpgate-production.conf" \
  > "$tmp/broken/kpgate.conf"
# (kpg-bench-chain returns at once on a refusal, leaving its host to the
# exit: no leak report for that under the sanitizers.)
if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
   out "$tmp/chain-bad" "$build/plugins/kpg-bench-chain" "$tmp/broken/kpgate.conf" 10; then
  bad "kpg-bench-chain built a chain naming a missing list"
else
  check "a missing list file refuses the chain" grep -q "no-such.list" "$tmp/chain-bad"
fi
for f in $(grep -o '"lists/[^"]*"' "$deploy/kpgate-production.conf" | tr -d '"'); do
  [ -f "$deploy/$f" ] || bad "deploy/$f, named by the production config, is missing"
  grep -q "EXAMPLE" "$deploy/$f" || bad "deploy/$f does not say it holds examples"
done
ok "every list file the production config names exists and is marked as examples"

# Its audit and metrics groups are read by --check-config: a wrong value in
# either is refused at its line.
for c in 'audit|^  mode = "synced";|  mode = "sync";|'"'mode' must be" \
         'metrics|^  port = 9102;|  port = 0;|'"'port' = 0 is out of range"; do
  IFS='|' read -r group pattern broken words <<<"$c"
  line=$(grep -n "$pattern" "$deploy/kpgate-production.conf" | cut -d: -f1)
  sed "s/$pattern/$broken/" "$deploy/kpgate-production.conf" > "$tmp/broken/$group.conf"
  if [ -z "$line" ]; then
    bad "the production config has no '$pattern' in its $group group"
  elif out "$tmp/check-$group" "$build/gateway/kpgate" -- -c "$tmp/broken/$group.conf" --check-config; then
    bad "--check-config accepted a broken $group group"
  else
    check "--check-config refuses a broken $group group at its line" \
      grep -q "$tmp/broken/$group.conf:$line: $group: $words" "$tmp/check-$group"
  fi
done
# What it keeps commented out for want of secrets (the stations' keys, the
# fleet's ledger key) is true too: turned on in a copy with keys made here,
# the stations pass --check-config and the chain builds with the shared
# ledger, which with no Redis at its address (loopback port 1 here)
# refers (on_unreachable).
ex=$tmp/examples
mkdir -p "$ex/stations"
cp -r "$deploy/lists" "$ex/"
newkey() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$1"; }
for s in S1 S2 S3 S4 M1; do newkey "$ex/stations/BE-ANR-01-$s.key"; done
newkey "$ex/ledger.key"
sed -E -e '/^# station_policy: \{/,/^# \);/s/^# ?//' \
    -e 's/^(    )# ((store|redis_[a-z_]+|fleet_key_file|on_unreachable) = )/\1\2/' \
    -e "s|/etc/kpgate/|$ex/|" -e 's|"198.51.100.20"|"127.0.0.1"|' \
    -e 's|redis_port = 6379;|redis_port = 1;|' \
    "$deploy/kpgate-production.conf" > "$ex/kpgate.conf"
if grep -q '^stations: ($' "$ex/kpgate.conf" && grep -q '^station_policy: {$' "$ex/kpgate.conf" &&
   grep -q '^    store = "redis";$' "$ex/kpgate.conf" &&
   [ "$(grep -c '^    # [a-z_]* = ' "$ex/kpgate.conf")" = 0 ]; then
  ok "the commented-out examples turn on by removing their '# '"
else
  bad "the stations and the shared ledger are no longer the commented-out examples this test turns on"
fi
if out "$tmp/check-ex" "$build/gateway/kpgate" -- -c "$ex/kpgate.conf" --check-config &&
   grep -q "config OK" "$tmp/check-ex"; then
  ok "--check-config accepts the stations example, reading each station's key file"
else
  cat "$tmp/check-ex"; bad "--check-config refused the stations example"
fi
rm "$ex/stations/BE-ANR-01-M1.key"
out "$tmp/check-nokey" "$build/gateway/kpgate" -- -c "$ex/kpgate.conf" --check-config
check "--check-config refuses a station whose key file is missing" \
  grep -q "stations/BE-ANR-01-M1.key: No such file" "$tmp/check-nokey"
if out "$tmp/chain-fleet" "$build/plugins/kpg-bench-chain" "$ex/kpgate.conf" 2000 &&
   grep -q "overall decision refer" "$tmp/chain-fleet"; then
  ok "the chain builds with the shared ledger, and refers while Redis is out of reach"
else
  cat "$tmp/chain-fleet"; bad "the chain with the shared ledger (store = \"redis\")"
fi

# --- hugepages.sh --------------------------------------------------------------
hp=$deploy/hugepages.sh
if out "$tmp/hp" "$hp" status && grep -q "2M   pages:" "$tmp/hp" &&
   grep -q -- "--- dpdk-hugepages.py --show" "$tmp/hp"; then
  ok "hugepages.sh status"
else
  cat "$tmp/hp"; bad "hugepages.sh status"
fi
out "$tmp/hp-dry" "$hp" setup --pages 2 --dir "$tmp/huge-dry" --dry-run
# With pages reserved already (a benchmark ran here), the script leaves the
# reservation as it is and shows only the mount.
if { grep -q "would run: dpdk-hugepages.py -p 2M -r 4M" "$tmp/hp-dry" ||
     grep -q "already reserved on each node concerned: left as is" "$tmp/hp-dry"; } &&
   grep -q "would run: dpdk-hugepages.py -p 2M -m" "$tmp/hp-dry" &&
   [ ! -e "$tmp/huge-dry" ]; then
  ok "hugepages.sh setup --dry-run shows and changes nothing"
else
  cat "$tmp/hp-dry"; bad "hugepages.sh setup --dry-run"
fi
out "$tmp/hp-usage" "$hp" setup --pages lots
check "hugepages.sh refuses a bad page count (status 2)" test $? = 2

# One real exercise at a time on this machine (two build trees may run
# this test at once), and only on a machine where nobody holds hugepages.
exec 9>/tmp/kpgate-test-hugepages.lock
if ! flock -n 9; then
  echo "# another run of this test holds the hugepages: the real setup/clear is skipped"
elif [ "$(nr 2048)" != 0 ] || [ "$(nr 1048576)" != 0 ]; then
  echo "# hugepages are reserved already (another DPDK program?): the real setup/clear is skipped, nothing touched"
elif ! grep -qw hugetlbfs /proc/filesystems; then
  echo "# no hugetlbfs in this kernel: the real setup/clear is skipped"
else
  huge_reserved=1 huge_mounted=$tmp/huge
  if out "$tmp/hp-setup" "$hp" setup --pages 4 --dir "$tmp/huge" &&
     [ "$(nr 2048)" = 4 ] && grep -q " $tmp/huge hugetlbfs " /proc/mounts; then
    ok "hugepages.sh setup reserves 4 pages of 2M and mounts them"
  else
    cat "$tmp/hp-setup"; bad "hugepages.sh setup --pages 4"
  fi
  out "$tmp/hp-status" "$hp" status --dir "$tmp/huge"
  check "hugepages.sh status shows them" \
    grep -q "2M   pages: 4 reserved (8 MiB)" "$tmp/hp-status"
  out "$tmp/hp-again" "$hp" setup --pages 4 --dir "$tmp/huge"
  check "hugepages.sh setup again leaves them as they are" \
    grep -q "already reserved" "$tmp/hp-again"
  if [ "$(nr 2048)" != 4 ] || [ "$(nr 1048576)" != 0 ]; then
    bad "the reservation changed under the test (another DPDK program?): not cleared"
    huge_reserved=0
  elif out "$tmp/hp-clear" "$hp" clear --unmount --dir "$tmp/huge" &&
     [ "$(nr 2048)" = 0 ] && ! grep -q " $tmp/huge hugetlbfs " /proc/mounts; then
    ok "hugepages.sh clear --unmount undoes it"
    huge_reserved=0 huge_mounted=""
  else
    cat "$tmp/hp-clear"; bad "hugepages.sh clear --unmount"
  fi
fi

# --- nic.sh ------------------------------------------------------------------
nic=$deploy/nic.sh
if out "$tmp/nic" "$nic" status && grep -q "^nic: IOMMU: " "$tmp/nic"; then
  ok "nic.sh status"
else
  cat "$tmp/nic"; bad "nic.sh status"
fi
sed 's/^/# /' "$tmp/nic"
if ! grep -q "free: \|bound to vfio-pci: kpgate can use it" "$tmp/nic"; then
  check "nic.sh status says no NIC can be had here" \
    grep -q "^nic: no NIC can be given to kpgate\|^nic: no network device" "$tmp/nic"
fi
out "$tmp/nic-none" "$nic" bind
check "nic.sh bind without a device: usage (status 2)" test $? = 2
out "$tmp/nic-absent" "$nic" bind 0000:ff:1f.7
rc=$?
check "nic.sh bind of a missing device is refused (status 1)" test $rc = 1
check "... saying so" grep -q "no such PCI device" "$tmp/nic-absent"
# Every network device status did not call free or bound: a dry bind is
# refused with its reasons (a real bind is never tried here).
sed -n 's/^nic: \(0000:[0-9a-f:.]*\) .*not for kpgate.*/\1/p' "$tmp/nic" > "$tmp/nic-taken"
while read -r dev; do
  out "$tmp/nic-dry" "$nic" bind --dry-run "$dev"
  rc=$?
  if [ $rc = 1 ] && grep -q "nothing bound" "$tmp/nic-dry" &&
     ! grep -q "would run" "$tmp/nic-dry"; then
    ok "nic.sh bind --dry-run $dev is refused: $(head -n1 "$tmp/nic-dry" | cut -c1-100)"
  else
    cat "$tmp/nic-dry"; bad "nic.sh bind --dry-run $dev (status $rc)"
  fi
done < "$tmp/nic-taken"

# --- shell style, when shellcheck is at hand ----------------------------------
if command -v shellcheck >/dev/null; then
  check "shellcheck: deploy scripts and this test" \
    shellcheck "$deploy/hugepages.sh" "$deploy/nic.sh" "$0"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
