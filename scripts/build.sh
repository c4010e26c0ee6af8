#!/usr/bin/env bash
# Configures (once) and builds tern in build/ (release-like, asserts on).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build
ninja -C build
