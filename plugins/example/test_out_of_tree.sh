#!/bin/sh
# Builds example.c with its Makefile against a copy of plugin.h alone, as a
# third party would against the installed header, then loads the result
# through the host (test_example).
#   test_out_of_tree.sh SRCDIR PLUGIN_H TEST_EXAMPLE
set -eu
src=$1 header=$2 test_bin=$3
tmp=$(mktemp -d /tmp/kpg-example-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/kpgate"
cp "$header" "$tmp/include/kpgate/plugin.h"
# Neither the build's flags nor its sanitizers reach the third party's cc.
env -u CFLAGS -u CPPFLAGS -u LDFLAGS \
	make -s -C "$src" KPGATE_INCLUDE="$tmp/include" O="$tmp" \
	CFLAGS="-O2 -Werror"
KPG_PLUGIN_DIR="$tmp" "$test_bin"
