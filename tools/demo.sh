#!/usr/bin/env bash
# The README's run command: installs what is needed, builds, and runs the
# demo (tools/demo.py): kpgate in software mode answering a scanner station.
# Run as root. --keep leaves the gateway running.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh build
exec python3 tools/demo.py "$@"
