#!/usr/bin/env bash
# nic.sh — NIC ports for kpgate, on DPDK's dpdk-devbind.py (package dpdk):
# what each network device is and whether kpgate can have it, binding to
# vfio-pci after every check passed, and giving it back to its kernel
# driver. Installed as /usr/local/sbin/kpgate-nic for kpgate-setup.service.
#
#   nic.sh status
#   nic.sh bind [--dry-run] [--group GROUP] PCI...
#   nic.sh unbind [--dry-run] [--driver DRIVER] PCI...
#
# PCI is an address as `status` shows it (0000:3b:00.0, or 3b:00.0).
# bind changes nothing unless every device passes every check: a network
# device, not used by the kernel (no interface up or addressed: it may be
# how you reach this machine), in an IOMMU group whose other devices are
# free, with the vfio-pci driver at hand. --group makes /dev/vfio/GROUP
# usable by that group (kpgate runs as user kpgate; 60-kpgate-vfio.rules
# keeps it so across reboots). A device already on vfio-pci is left as is.
# unbind refuses while a process holds the device; without --driver it
# returns the device to the kernel driver dpdk-devbind.py names for it.
# Exit status: 0 done, 1 refused (lines on stderr say why), 2 usage.
set -euo pipefail

prog=nic
pci=/sys/bus/pci
die() { echo "$prog: $*" >&2; exit 1; }
usage() {
  [ $# -gt 0 ] && echo "$prog: $*" >&2
  sed -n '7,9s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
say() { echo "$prog: $*"; }
run() {
  if [ "$dry_run" = 1 ]; then
    echo "would run: $*"
  else
    "$@"
  fi
}
# dpdk-devbind.py runs lspci, which complains on kernels without modules.
devbind() { dpdk-devbind.py "$@" 2> >(grep -v 'libkmod' >&2); }

need_tool() {
  command -v dpdk-devbind.py >/dev/null ||
    die "dpdk-devbind.py not found: install Debian's package dpdk"
}

# 3b:00.0 -> 0000:3b:00.0; anything else is returned as given.
full_address() {
  if [[ "$1" =~ ^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; then
    echo "0000:${1,,}"
  else
    echo "${1,,}"
  fi
}

driver_of() {
  local l=$pci/devices/$1/driver
  [ -e "$l" ] && basename "$(readlink -f "$l")" || echo none
}
iommu_group_of() {
  local l=$pci/devices/$1/iommu_group
  [ -e "$l" ] && basename "$(readlink -f "$l")" || echo ""
}
# Kernel interfaces of a device: under it, or under its virtio child.
ifaces_of() {
  local n
  for n in "$pci/devices/$1"/net/* "$pci/devices/$1"/virtio*/net/*; do
    [ -e "$n" ] && basename "$n"
  done
  return 0
}
is_network() { [[ "$(cat "$pci/devices/$1/class")" == 0x02* ]]; }
iommu_groups() { find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

vfio_available() {
  [ -d "$pci/drivers/vfio-pci" ] || modinfo vfio-pci >/dev/null 2>&1
}

# Why the kernel still uses interface $1, or nothing when it does not.
iface_in_use() {
  local ifc=$1 addrs up=""
  addrs=$(ip -o addr show dev "$ifc" 2>/dev/null |
          awk '{print $4}' | grep -v '^fe80:' | paste -sd' ' || true)
  ip -o link show dev "$ifc" 2>/dev/null | grep -q '[<,]UP[,>]' && up=up
  if [ -n "$addrs" ]; then
    echo "$ifc is ${up:+up }with address $addrs"
  elif [ -n "$up" ]; then
    echo "$ifc is up"
  fi
}

# Processes holding /dev/vfio/$1 open: "name (pid N)" words.
holders() {
  local f p
  for f in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$f" 2>/dev/null)" = "/dev/vfio/$1" ] || continue
    p=${f#/proc/}; p=${p%%/*}
    echo "$(cat "/proc/$p/comm" 2>/dev/null) (pid $p)"
  done | sort -u | paste -sd' ' || true
}

# Every reason device $1 cannot be bound, one a line; none: it can.
bind_refusals() {
  local dev=$1 ifc why g other cls drv
  if [ ! -d "$pci/devices/$dev" ]; then
    echo "$dev: no such PCI device on this machine (\`$0 status\` lists them)"
    return
  fi
  if ! is_network "$dev"; then
    echo "$dev: not a network device (PCI class $(cat "$pci/devices/$dev/class"))"
    return
  fi
  [ "$(driver_of "$dev")" = vfio-pci ] && return
  for ifc in $(ifaces_of "$dev"); do
    why=$(iface_in_use "$ifc")
    [ -z "$why" ] ||
      echo "$dev: the kernel uses it: $why (it may carry this machine's own traffic); if it is not this machine's own link, take it down first: ip link set $ifc down"
  done
  if [ "$(iommu_groups)" = 0 ]; then
    echo "$dev: no IOMMU: vfio-pci needs one (enable VT-d or AMD-Vi in the firmware, boot with intel_iommu=on iommu=pt)"
  else
    g=$(iommu_group_of "$dev")
    if [ -z "$g" ]; then
      echo "$dev: in no IOMMU group"
    else
      for other in /sys/kernel/iommu_groups/"$g"/devices/*; do
        other=$(basename "$other")
        [ "$other" = "$dev" ] && continue
        cls=$(cat "$pci/devices/$other/class")
        drv=$(driver_of "$other")
        # Bridges stay with their driver; anything else must be free too.
        [[ "$cls" == 0x0604* ]] && continue
        [ "$drv" = none ] || [ "$drv" = vfio-pci ] ||
          echo "$dev: IOMMU group $g also holds $other (driver $drv): the whole group goes to vfio-pci or nothing does"
      done
    fi
  fi
  vfio_available ||
    echo "$dev: this kernel has no vfio-pci driver (module not built, or modules disabled)"
}

cmd_status() {
  local dev any=0 ready=0 drv g ifc why state name
  need_tool
  devbind --status-dev net
  echo "--- kpgate"
  if [ "$(iommu_groups)" = 0 ]; then
    say "IOMMU: none (vfio-pci needs one: enable VT-d or AMD-Vi in the firmware, boot with intel_iommu=on iommu=pt)"
  else
    say "IOMMU: $(iommu_groups) group(s)"
  fi
  if [ -d "$pci/drivers/vfio-pci" ]; then
    say "vfio-pci: loaded"
  elif vfio_available; then
    say "vfio-pci: available (bind loads it)"
  else
    say "vfio-pci: not in this kernel"
  fi
  for dev in "$pci"/devices/*; do
    dev=$(basename "$dev")
    is_network "$dev" || continue
    any=1
    drv=$(driver_of "$dev")
    g=$(iommu_group_of "$dev")
    name=""
    for ifc in $(ifaces_of "$dev"); do name+=" $ifc"; done
    if [ "$drv" = vfio-pci ]; then
      state="bound to vfio-pci: kpgate can use it (-a $dev)"
      ready=1
    elif [ -n "$(bind_refusals "$dev")" ]; then
      state="not for kpgate:"
      while IFS= read -r why; do state+=" ${why#"$dev: "};"; done < <(bind_refusals "$dev")
      state=${state%;}
    else
      state="free: \`$0 bind $dev\` gives it to kpgate"
      ready=1
    fi
    say "$dev${name:+ (${name# })} driver $drv, IOMMU group ${g:-none}: $state"
  done
  if [ "$any" = 0 ]; then
    say "no network device on this machine: kpgate can run in software mode only (docs/operations.md)"
  elif [ "$ready" = 0 ]; then
    say "no NIC can be given to kpgate on this machine: kpgate can run in software mode only (docs/operations.md)"
  fi
}

cmd_bind() {
  local dev devs=() refusals="" g
  [ $# -gt 0 ] || usage "bind needs at least one PCI address"
  need_tool
  [ "$dry_run" = 1 ] || [ "$(id -u)" = 0 ] || die "bind needs root (or --dry-run)"
  if [ -n "$group" ]; then
    getent group "$group" >/dev/null ||
      die "no group '$group': create the kpgate user first (docs/operations.md)"
  fi
  for dev in "$@"; do
    dev=$(full_address "$dev")
    devs+=("$dev")
    refusals+=$(bind_refusals "$dev")$'\n'
  done
  refusals=$(printf '%s' "$refusals" | sed '/^$/d')
  if [ -n "$refusals" ]; then
    printf '%s\n' "$refusals" | sed "s/^/$prog: /" >&2
    die "nothing bound"
  fi
  [ -d "$pci/drivers/vfio-pci" ] || run modprobe vfio-pci
  for dev in "${devs[@]}"; do
    if [ "$(driver_of "$dev")" = vfio-pci ]; then
      say "$dev: already bound to vfio-pci"
    else
      # Never --force: dpdk-devbind.py's own check for active devices
      # stays as a second guard behind ours.
      run dpdk-devbind.py --bind vfio-pci "$dev"
      if [ "$dry_run" = 0 ]; then
        [ "$(driver_of "$dev")" = vfio-pci ] || die "$dev: dpdk-devbind.py did not bind it"
        say "$dev: bound to vfio-pci"
      fi
    fi
    g=$(iommu_group_of "$dev")
    if [ -n "$group" ] && [ -n "$g" ]; then
      # udev makes the group's device file just after the bind.
      for _ in $(seq 50); do
        [ "$dry_run" = 1 ] || [ -e "/dev/vfio/$g" ] && break
        sleep 0.1
      done
      run chgrp "$group" "/dev/vfio/$g"
      run chmod 0660 "/dev/vfio/$g"
    fi
  done
}

cmd_unbind() {
  local dev g who target
  [ $# -gt 0 ] || usage "unbind needs at least one PCI address"
  need_tool
  [ "$dry_run" = 1 ] || [ "$(id -u)" = 0 ] || die "unbind needs root (or --dry-run)"
  for dev in "$@"; do
    dev=$(full_address "$dev")
    [ -d "$pci/devices/$dev" ] || die "$dev: no such PCI device on this machine"
    if [ "$(driver_of "$dev")" != vfio-pci ]; then
      say "$dev: not bound to vfio-pci (driver $(driver_of "$dev")): left as is"
      continue
    fi
    g=$(iommu_group_of "$dev")
    who=$(holders "$g")
    [ -z "$who" ] || die "$dev: in use by $who: stop it first (systemctl stop kpgate)"
    target=$driver
    if [ -z "$target" ]; then
      # dpdk-devbind.py lists the kernel drivers that could take it: unused=
      target=$(devbind --status-dev net | grep "^$dev " |
               sed -n 's/.*unused=\([^ ]*\).*/\1/p' | tr ',' '\n' |
               grep -v -x -e vfio-pci -e uio_pci_generic -e igb_uio | head -n1 || true)
    fi
    if [ -n "$target" ]; then
      run dpdk-devbind.py --bind "$target" "$dev"
      [ "$dry_run" = 1 ] || say "$dev: bound to $target"
    else
      run dpdk-devbind.py --unbind "$dev"
      [ "$dry_run" = 1 ] || say "$dev: unbound; no kernel driver known for it (give one with --driver)"
    fi
  done
}

[ $# -gt 0 ] || usage "no command given"
cmd=$1; shift
dry_run=0 group="" driver="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --group) [ $# -ge 2 ] || usage "--group needs a value"; group=$2; shift ;;
    --driver) [ $# -ge 2 ] || usage "--driver needs a value"; driver=$2; shift ;;
    -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) usage "unknown option \"$1\"" ;;
    *) args+=("$1") ;;
  esac
  shift
done

case "$cmd" in
  status) [ ${#args[@]} = 0 ] || usage "status takes no device"; cmd_status ;;
  bind) cmd_bind "${args[@]}" ;;
  unbind) cmd_unbind "${args[@]}" ;;
  -h|--help|help) sed -n '2,20s/^# \{0,1\}//p' "$0" ;;
  *) usage "unknown command \"$cmd\"" ;;
esac
