#!/usr/bin/env bash
# Builds and runs every test suite (debug build). Exits non-zero when a build or a test fails.
#
#   Scripts/test.sh                        # all tests except long "stress" ones
#   Scripts/test.sh --stress               # also the stress tests (same as CLLM_STRESS=1 Scripts/test.sh)
#   Scripts/test.sh --filter CheckpointTests   # other arguments go to `swift test` unchanged
#
# Stress tests carry the Swift Testing tag `.stress` and run only when CLLM_STRESS=1. Swift 6.3.1's
# `swift test --filter/--skip` match test names (regular expressions over "Module.Suite/test()"), not
# tags, so an environment variable is what switches them on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null 2>&1 || PATH="/opt/swift/usr/bin:$PATH"

args=()
for a in "$@"; do
  if [[ $a == --stress ]]; then export CLLM_STRESS=1; else args+=("$a"); fi
done

Scripts/setup.sh
swift build --build-tests
swift test "${args[@]}"

# The runtime and simulation suites again under ThreadSanitizer and AddressSanitizer (only for a full run:
# with a --filter of your own, run those stages by hand). CLLM_SANITIZE=1 builds without jemalloc, since a
# sanitizer must own malloc; XCTest is left out of the ASan run (its harness leaks 368 bytes at exit).
if ((${#args[@]} == 0)); then
  CLLM_SANITIZE=1 swift test --sanitize=thread --scratch-path .build-tsan \
    --filter 'CLLMRuntimeTests|CLLMSimulationTests'
  CLLM_SANITIZE=1 swift test --sanitize=address --disable-xctest --scratch-path .build-asan \
    --filter 'CLLMRuntimeTests|CLLMSimulationTests'
fi
