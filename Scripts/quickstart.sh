#!/usr/bin/env bash
# The main job in one command: install what is missing, build cllm (release), train the reference model
# (4 layers, 4 heads, width 128, context 64, batch 12, 2000 steps; about 3 minutes on 2 cores) on the
# default corpus (Debian's fortunes), write checkpoints, and print a sample.
#
#   Scripts/quickstart.sh                   # the defaults above
#   Scripts/quickstart.sh --steps 200       # extra arguments go to `cllm train`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null 2>&1 || PATH="/opt/swift/usr/bin:$PATH"

Scripts/setup.sh
swift build -c release

out="runs/quickstart-$(date -u +%Y%m%d-%H%M%S)"
.build/release/cllm train --out "$out" "$@"

checkpoints=("$out"/checkpoints/step-*)
latest=${checkpoints[${#checkpoints[@]} - 1]}
cat <<EOF

run folder: $out (metrics: $out/metrics.jsonl)
checkpoint: $latest
next:
  .build/release/cllm infer $out --prompt "Q: " --tokens 200
  .build/release/cllm eval $out
  .build/release/cllm inspect $out
EOF
