#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. install packages (scripts/setup.sh), build with meson;
#   2. unit, fault and integration suites on the normal build;
#   3. unit and fault suites again under AddressSanitizer + UBSan;
#   4. every libFuzzer target for a short bounded time (clang).
# Ends with one line "N passed, N failed" over every test that ran.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
count() { # parse meson test's summary of the last run in $1
	local log=$1 ok fail to
	ok=$(grep -E '^Ok:' "$log" | tail -1 | awk '{print $2}')
	fail=$(grep -E '^Fail:' "$log" | tail -1 | awk '{print $2}')
	to=$(grep -E '^Timeout:' "$log" | tail -1 | awk '{print $2}')
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0} + ${to:-0}))
	[ -n "$ok" ] || failed=$((failed + 1)) # meson did not run: count it
}
run_meson_tests() { # BUILDDIR LABEL SUITES...
	local dir=$1 label=$2
	shift 2
	local args=()
	for s in "$@"; do args+=(--suite "$s"); done
	echo "== $label: meson test ${args[*]}"
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${args[@]}" 2>&1 | tee "/tmp/tern-test-$label.log"
	count "/tmp/tern-test-$label.log"
}

if ! { [ -f build/build.ninja ] || meson setup build; } || ! ninja -C build; then
	echo "build failed"
	echo "$passed passed, $((failed + 1)) failed"
	exit 1
fi
run_meson_tests build main unit fault sim integration

if ! { [ -f build-asan/build.ninja ] ||
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dassert_hot=true; } ||
	! ninja -C build-asan; then
	echo "asan build failed"
	failed=$((failed + 1))
else
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_meson_tests build-asan asan unit fault sim ensemble
fi

if ! { [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true; } ||
	! ninja -C build-fuzz; then
	echo "fuzz build failed"
	failed=$((failed + 1))
else
	run_meson_tests build-fuzz fuzz fuzz
fi

[ "$failed" = 0 ] || /usr/bin/python3 scripts/failed_tests.py build build-asan build-fuzz
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
