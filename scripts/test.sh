#!/usr/bin/env bash
# The whole suite as separate bun test runs (STYLE §2.6: root tiers in their own process),
# then the leak check for this run's prefix. Prints one closing line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BUN=node_modules/.bin/bun
export TW_RUN_PREFIX="${TW_RUN_PREFIX:-tw$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
# tests/leaks: nothing may appear under the product's own pin root while the suite runs
export TW_RUN_STARTED="${TW_RUN_STARTED:-$(date +%s)}"
mkdir -p .test-results
passed=0 failed=0 skipped=0 status=0

# check NAME CMD...: a non-test check (typecheck, lint) counts as one pass or one fail.
check() {
	local name=$1; shift
	echo "== $name"
	if "$@" >".test-results/$name.log" 2>&1; then passed=$((passed + 1)); echo "   ok"
	else failed=$((failed + 1)); status=1; echo "   FAILED (.test-results/$name.log):"; tail -30 ".test-results/$name.log"; fi
}

# tier NAME PATHS...: one bun test process; counts from its closing lines.
tier() {
	local name=$1; shift
	local log=".test-results/$name.log"
	echo "== bun test $* (prefix $TW_RUN_PREFIX)"
	timeout 1200 "$BUN" test --timeout 60000 "$@" 2>&1 | tee "$log" | grep -E '^(SKIP|\(fail\)|error:)|^ *[0-9]+ (pass|fail|skip)$' || true
	local rc=${PIPESTATUS[0]}
	local p f s
	p=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -1 | grep -Eo '[0-9]+')
	f=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -1 | grep -Eo '[0-9]+')
	s=$(grep -Eo '^ *[0-9]+ skip$' "$log" | tail -1 | grep -Eo '[0-9]+')
	if [ -z "$p" ] && [ -z "$f" ]; then
		echo "   $name: no summary from bun test (exit $rc); counted as 1 failure"; f=1
	elif [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		echo "   $name: bun test exited $rc with no failing test (unhandled error?); counted as 1 failure"; f=1
	fi
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	[ "${f:-0}" = 0 ] || status=1
}

check typecheck node_modules/.bin/tsc --noEmit -p .
check lint node_modules/.bin/biome ci --colors=off .
tier unit src
[ -d tests/netns ] && tier netns tests/netns
[ -d tests/bpf ] && tier bpf tests/bpf
[ -d tests/sim ] && tier sim tests/sim
[ -d tests/cloud ] && tier cloud tests/cloud
[ -d tests/k8s ] && tier k8s tests/k8s
[ -d tests/daemon ] && tier daemon tests/daemon
[ -d tests/conformance ] && tier conformance tests/conformance
[ -d tests/e2e ] && tier e2e tests/e2e
tier leaks tests/leaks

echo "$passed passed, $failed failed, $skipped skipped"
exit $status
