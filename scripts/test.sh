#!/usr/bin/env bash
# Quick start, second command: install dependencies, build, run every test.
#   ./scripts/test.sh [BUILD_DIR] [extra meson setup options...]
# A new BUILD_DIR is a test build: -Dtest_hooks=true compiles in the
# test-only hooks that part of the suite switches on. Shipped builds never
# have them; -Dtest_hooks=false among the options builds that configuration,
# whose own tests check that the hooks are gone (.ci/run runs both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dwerror_strict=true -Dtest_hooks=true "$@"
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2
