#!/usr/bin/env bash
# Installs every Debian package kpgate needs to build, run its demo and pass
# its tests. Idempotent; run as root on Debian 12.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config clang
  dpdk dpdk-dev libdpdk-dev
  libssl-dev libsodium-dev
  libprotobuf-c-dev protobuf-c-compiler
  libcunit1-dev libconfig-dev libjansson-dev
  libmicrohttpd-dev prometheus
  postgresql libpq-dev
  redis-server libhiredis-dev
  iproute2 iputils-ping python3 procps strace curl
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# DPDK must be at least 22.11.8 (stable fixes the memif and tap PMDs rely on).
ver=$(pkg-config --modversion libdpdk)
if ! dpkg --compare-versions "$ver" ge 22.11.8; then
  echo "install-deps: DPDK $ver is older than 22.11.8" >&2
  exit 1
fi
