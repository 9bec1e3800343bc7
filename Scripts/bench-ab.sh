#!/usr/bin/env bash
# A/B of two or more cllm binaries on the reference config: runs them in turn (A B A B …) and prints each
# run's tokens/s, the medians and each binary's ratio to the first. Use it before claiming that a change is
# faster: this machine's speed drifts by ±10% over tens of seconds, so only alternated runs compare.
#
#   Scripts/bench-ab.sh [--pairs N] [--steps N] [--threads T] [--spheres S] BINARY BINARY [BINARY …]
#
# Example: build the old commit into another folder and compare it with the working tree:
#   git worktree add /tmp/old HEAD~1 && swift build -c release --package-path /tmp/old
#   swift build -c release && Scripts/bench-ab.sh /tmp/old/.build/release/cllm .build/release/cllm
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pairs=3 steps=300 threads=1 spheres=""
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "bench-ab: $1 must be a positive integer, got '$2'" >&2; exit 2; }; }
bins=()
while (($# > 0)); do
  case $1 in
    --pairs | --steps | --threads | --spheres)
      (($# >= 2)) || { echo "bench-ab: $1 needs a value" >&2; exit 2; }
      positive "$1" "$2"; declare "${1#--}=$2"; shift 2 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-ab: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) [[ -x $1 ]] || { echo "bench-ab: '$1' is not an executable file" >&2; exit 2; }; bins+=("$1"); shift ;;
  esac
done
((${#bins[@]} >= 2)) || { echo "bench-ab: give at least two binaries (see --help)" >&2; exit 2; }
((steps > 10)) || { echo "bench-ab: --steps must be more than 10 (the first 10 are not timed)" >&2; exit 2; }
spheres=${spheres:-$threads}
data=$root/../shared/data/tinyshakespeare.txt
[[ -r $data ]] || data=/work/shared/data/tinyshakespeare.txt
[[ -r $data ]] || { echo "bench-ab: corpus tinyshakespeare.txt not found next to the repository" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
results=$out/results.txt
for ((p = 1; p <= pairs; p++)); do
  for i in "${!bins[@]}"; do
    line=$("${bins[$i]}" train --data "$data" --steps "$steps" --eval-interval 0 --threads "$threads" \
      --spheres "$spheres" --out "$out/run" --no-preflight 2>&1 | grep -o 'tokens_per_s=[0-9.]*') ||
      { echo "bench-ab: ${bins[$i]} failed" >&2; exit 1; }
    rm -rf "$out/run"
    echo "$i ${line#tokens_per_s=}" >>"$results"
    printf '%-4s %-40s %10s tokens/s\n' "$p" "${bins[$i]}" "${line#tokens_per_s=}"
  done
done
python3 - "$results" "${bins[@]}" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
bins = sys.argv[2:]
med = [statistics.median(float(v) for k, v in rows if int(k) == i) for i in range(len(bins))]
for i, b in enumerate(bins):
    print(f"median {b}: {med[i]:.0f} tokens/s, {med[i] / med[0]:.3f} of the first")
EOF
