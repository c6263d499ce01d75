#!/usr/bin/env bash
# Quick start, second command: install dependencies, build, run every test.
#   ./scripts/test.sh [BUILD_DIR] [extra meson setup options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dwerror_strict=true "$@"
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2
