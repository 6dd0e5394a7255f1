#!/usr/bin/env bash
# hugepages.sh — hugepages for kpgate, on DPDK's dpdk-hugepages.py (package
# dpdk): reserve N pages of 2 MiB or 1 GiB, mount hugetlbfs where kpgate's
# EAL looks (--huge-dir), give the mount to kpgate's group, show the state.
# Installed as /usr/local/sbin/kpgate-hugepages for kpgate-setup.service.
#
#   hugepages.sh status [--dir DIR]
#   hugepages.sh setup --pages N [--size 2M|1G] [--node NODE] [--dir DIR]
#                      [--group GROUP] [--dry-run]
#   hugepages.sh clear [--dir DIR] [--unmount] [--force] [--dry-run]
#
# setup is idempotent: it never lowers a reservation (other DPDK programs
# may hold those pages) and leaves a fitting mount as it is. N counts pages
# per NUMA node, as dpdk-hugepages.py does: every node gets N (or --node
# only). clear releases every reservation of every size (dpdk-hugepages.py
# --clear) and refuses while pages are in use, unless --force.
# Exit status: 0 done, 1 refused (a line on stderr says why), 2 usage.
set -euo pipefail

prog=hugepages
die() { echo "$prog: $*" >&2; exit 1; }
usage() {
  [ $# -gt 0 ] && echo "$prog: $*" >&2
  sed -n '7,10s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
say() { echo "$prog: $*"; }
# run CMD...: runs it, or only shows it under --dry-run.
run() {
  if [ "$dry_run" = 1 ]; then
    echo "would run: $*"
  else
    "$@"
  fi
}

sysfs=/sys/kernel/mm/hugepages
nodes_dir=/sys/devices/system/node

# size_kb 2M -> 2048; 1G -> 1048576
size_kb() {
  case "$1" in
    2M|2m|2048K|2048k) echo 2048 ;;
    1G|1g|1024M|1024m|1048576K|1048576k) echo 1048576 ;;
    *) return 1 ;;
  esac
}
size_name() { [ "$1" = 2048 ] && echo 2M || echo 1G; }

# The sysfs folders that hold the count of pages of size $1 kB: one per
# NUMA node (or node $2 only), else the global one.
pool_dirs() {
  local kb=$1 node=${2:-} d
  if [ -n "$node" ]; then
    echo "$nodes_dir/node$node/hugepages/hugepages-${kb}kB"
  elif [ -d "$nodes_dir" ] && ls -d "$nodes_dir"/node*/hugepages >/dev/null 2>&1; then
    for d in "$nodes_dir"/node*/hugepages/hugepages-"${kb}"kB; do
      [ -d "$d" ] && echo "$d"
    done
  else
    echo "$sysfs/hugepages-${kb}kB"
  fi
}

read_count() { cat "$1/$2" 2>/dev/null || echo 0; }

# Where hugetlbfs is mounted: "DIR PAGESIZE" lines (pagesize as mounted, e.g.
# 2M; the default page size when the mount names none).
mounts() {
  local def
  def=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
  awk -v def="$def" '$3 == "hugetlbfs" {
      ps = ""
      n = split($4, o, ",")
      for (i = 1; i <= n; i++) if (o[i] ~ /^pagesize=/) ps = substr(o[i], 10)
      if (ps == "") ps = (def == 1048576 ? "1G" : (def / 1024) "M")
      print $2, ps
    }' /proc/mounts
}

mount_pagesize() {
  mounts | awk -v d="$1" '$1 == d {print $2; exit}'
}

need_tool() {
  command -v dpdk-hugepages.py >/dev/null ||
    die "dpdk-hugepages.py not found: install Debian's package dpdk"
}

cmd_status() {
  local kb d any=0 total free resv surp node n
  need_tool
  for d in "$sysfs"/hugepages-*kB; do
    kb=${d##*/hugepages-}; kb=${kb%kB}
    total=$(read_count "$d" nr_hugepages)
    free=$(read_count "$d" free_hugepages)
    resv=$(read_count "$d" resv_hugepages)
    surp=$(read_count "$d" surplus_hugepages)
    printf '%s: %-4s pages: %s reserved (%s MiB), %s in use, %s free' \
      "$prog" "$(size_name "$kb")" "$total" $((total * kb / 1024)) \
      $((total - free)) "$free"
    [ "$resv" != 0 ] && printf ', %s promised to a mapping' "$resv"
    [ "$surp" != 0 ] && printf ', %s surplus (released once unused)' "$surp"
    echo
    [ "$total" != 0 ] && any=1
    if [ -d "$nodes_dir" ]; then
      for node in "$nodes_dir"/node*/hugepages/hugepages-"${kb}"kB; do
        [ -d "$node" ] || continue
        [ "$(read_count "$node" nr_hugepages)" = 0 ] && continue
        n=${node#"$nodes_dir"/node}
        printf '%s:        node %s: %s reserved, %s free\n' "$prog" "${n%%/*}" \
          "$(read_count "$node" nr_hugepages)" "$(read_count "$node" free_hugepages)"
      done
    fi
  done
  [ "$any" = 0 ] && say "no hugepages reserved: kpgate can only run with --no-huge (software mode)"

  local found=0 m ps files
  while read -r m ps; do
    [ -n "$m" ] || continue
    found=1
    files=$(find "$m" -maxdepth 1 -type f 2>/dev/null | wc -l)
    say "mounted: $m ($ps pages, $(stat -c '%U:%G mode %a' "$m"), $files file(s))"
    # DPDK names its files PREFIXmap_N: one line per prefix in use.
    find "$m" -maxdepth 1 -type f -name '*map_*' -printf '%f\n' 2>/dev/null |
      sed 's/map_[0-9]*$//' | sort | uniq -c |
      while read -r n p; do say "  $n page file(s) of DPDK file prefix '$p'"; done
  done < <(mounts)
  [ "$found" = 0 ] && say "hugetlbfs is not mounted anywhere"
  if [ -n "$dir" ] && [ -z "$(mount_pagesize "$dir")" ]; then
    say "$dir is not a hugetlbfs mount (kpgate's --huge-dir must be one)"
  fi
  echo "--- dpdk-hugepages.py --show"
  dpdk-hugepages.py --show
}

cmd_setup() {
  local kb name d have short=0 prev=() i gid=""
  [ -n "$pages" ] || usage "setup needs --pages N"
  [[ "$pages" =~ ^[1-9][0-9]{0,6}$ ]] || usage "--pages: \"$pages\" is not a count of pages"
  kb=$(size_kb "$size") || usage "--size: \"$size\" is not 2M or 1G"
  name=$(size_name "$kb")
  [ -z "$node" ] || [[ "$node" =~ ^[0-9]+$ ]] || usage "--node: \"$node\" is not a node number"
  dir=${dir:-/dev/hugepages}
  need_tool
  [ "$dry_run" = 1 ] || [ "$(id -u)" = 0 ] || die "setup needs root (or --dry-run)"
  [ -d "$sysfs/hugepages-${kb}kB" ] ||
    die "this kernel or CPU has no $name pages (no $sysfs/hugepages-${kb}kB)"
  [ -z "$node" ] || [ -d "$nodes_dir/node$node" ] || die "there is no NUMA node $node"
  if [ -n "$group" ]; then
    gid=$(getent group "$group" | cut -d: -f3) ||
      die "no group '$group': create the kpgate user first (docs/operations.md)"
  fi
  # Refuse a mount of the other page size before changing anything.
  local ps
  ps=$(mount_pagesize "$dir")
  [ -z "$ps" ] || [ "$ps" = "$name" ] ||
    die "$dir is a hugetlbfs mount of $ps pages, not $name: use another --dir"
  if [ -z "$ps" ] && [ -e "$dir" ] && [ ! -d "$dir" ]; then
    die "$dir exists and is not a directory"
  fi

  # Reserve, unless every node concerned holds enough already.
  mapfile -t dirs < <(pool_dirs "$kb" "$node")
  for d in "${dirs[@]}"; do
    have=$(read_count "$d" nr_hugepages)
    prev+=("$have")
    [ "$have" -lt "$pages" ] && short=1
  done
  if [ "$short" = 0 ]; then
    say "$pages $name page(s) already reserved on each node concerned: left as is"
  else
    local args=(-p "$name" -r "$((pages * kb / 1024))M")
    [ -n "$node" ] && args+=(-n "$node")
    if ! run dpdk-hugepages.py "${args[@]}"; then
      # The kernel found fewer free contiguous pages than asked: put the
      # counts back as they were, so a failed setup changes nothing.
      for i in "${!dirs[@]}"; do
        echo "${prev[$i]}" > "${dirs[$i]}/nr_hugepages" 2>/dev/null || true
      done
      if [ "$name" = 1G ]; then
        die "could not reserve $pages 1G page(s): memory is too fragmented once booted; reserve them on the kernel command line (default_hugepagesz=1G hugepagesz=1G hugepages=$pages) and reboot"
      fi
      die "could not reserve $pages $name page(s): not enough free memory (free some, or reserve at boot: hugepages=$pages)"
    fi
    [ "$dry_run" = 1 ] || say "reserved $pages $name page(s) on each node concerned"
  fi

  # Mount, unless a mount of this page size is there already.
  if [ -n "$ps" ]; then
    say "$dir: hugetlbfs of $name pages already mounted"
  else
    run mkdir -p "$dir"
    local margs=(-p "$name" -m -d "$dir")
    [ -n "$gid" ] && margs+=(-G "$gid")
    run dpdk-hugepages.py "${margs[@]}"
    # dpdk-hugepages.py does not report a failed mount: look.
    if [ "$dry_run" = 0 ]; then
      [ "$(mount_pagesize "$dir")" = "$name" ] || die "mounting hugetlbfs on $dir failed"
      say "mounted hugetlbfs ($name pages) on $dir"
    fi
  fi
  # kpgate runs as its own user: the EAL creates its page files in the mount.
  if [ -n "$group" ]; then
    run chgrp "$gid" "$dir"
    run chmod 1770 "$dir"
    [ "$dry_run" = 1 ] || say "$dir: group $group may create page files (mode 1770)"
  fi
}

cmd_clear() {
  local d kb total free busy=""
  need_tool
  [ "$dry_run" = 1 ] || [ "$(id -u)" = 0 ] || die "clear needs root (or --dry-run)"
  for d in "$sysfs"/hugepages-*kB; do
    kb=${d##*/hugepages-}; kb=${kb%kB}
    total=$(read_count "$d" nr_hugepages)
    free=$(read_count "$d" free_hugepages)
    [ "$total" -gt "$free" ] && busy+=" $((total - free)) $(size_name "$kb") page(s)"
  done
  if [ -n "$busy" ] && [ "$force" = 0 ]; then
    die "in use:$busy (a running DPDK process, kpgate or another, or page files left in a mount; \`$0 status\` shows them): stop it, or --force to release them once freed"
  fi
  run dpdk-hugepages.py --clear
  [ "$dry_run" = 1 ] || say "released every hugepage reservation"
  if [ "$unmount" = 1 ]; then
    dir=${dir:-/dev/hugepages}
    if [ -z "$(mount_pagesize "$dir")" ]; then
      say "$dir: not a hugetlbfs mount, nothing to unmount"
    else
      run dpdk-hugepages.py -u -d "$dir"
      if [ "$dry_run" = 0 ]; then
        [ -z "$(mount_pagesize "$dir")" ] || die "could not unmount $dir (busy?)"
        say "unmounted $dir"
      fi
    fi
  fi
}

[ $# -gt 0 ] || usage "no command given"
cmd=$1; shift
pages="" size=2M node="" dir="" group="" dry_run=0 force=0 unmount=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pages) [ $# -ge 2 ] || usage "--pages needs a value"; pages=$2; shift ;;
    --size) [ $# -ge 2 ] || usage "--size needs a value"; size=$2; shift ;;
    --node) [ $# -ge 2 ] || usage "--node needs a value"; node=$2; shift ;;
    --dir) [ $# -ge 2 ] || usage "--dir needs a value"; dir=$2; shift ;;
    --group) [ $# -ge 2 ] || usage "--group needs a value"; group=$2; shift ;;
    --dry-run) dry_run=1 ;;
    --force) force=1 ;;
    --unmount) unmount=1 ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) usage "unknown argument \"$1\"" ;;
  esac
  shift
done

case "$cmd" in
  status) cmd_status ;;
  setup) cmd_setup ;;
  clear) cmd_clear ;;
  -h|--help|help) sed -n '2,17s/^# \{0,1\}//p' "$0" ;;
  *) usage "unknown command \"$cmd\"" ;;
esac
