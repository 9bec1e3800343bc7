#!/usr/bin/env bash
# Runtime overhead at many spheres: the same global batch (126 sequences) trained by 63 spheres and by 2
# spheres, both on 2 threads, alternating A B A B …; prints each run, the medians, the ratio, and the
# share of each step the lock-free merge took.
#
#   Scripts/bench-spheres.sh [--pairs N] [--steps N] [--data FILE] [--threads T]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
pairs=3 steps=20 threads=2 data=$root/../shared/data/tinyshakespeare.txt
while (($# > 0)); do
  case $1 in
    --pairs) pairs=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "bench-spheres: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cllm=.build/release/cllm
[[ -x $cllm ]] || swift build -c release
work=$(mktemp -d "${TMPDIR:-/tmp}/cllm-spheres.XXXXXX")
trap 'rm -rf "$work"' EXIT
run() {  # spheres → "tokens/s merge%"
  rm -rf "$work/run"
  "$cllm" train --data "$data" --steps "$steps" --batch-size 126 --spheres "$1" --threads "$threads" \
    --eval-interval 0 --checkpoint-interval 0 --sample-length 0 --no-preflight --out "$work/run" >"$work/log" 2>&1
  local tps merge
  tps=$(sed -n 's/^tokens_per_s=\([^ ]*\).*/\1/p' "$work/log")
  merge=$(sed -n 's/.*merge \([0-9.]*\)%.*/\1/p' "$work/log")
  echo "$tps $merge"
}
declare -a a b
echo "pair  spheres-63 tok/s (merge %)  spheres-2 tok/s (merge %)"
for ((i = 1; i <= pairs; i++)); do
  read -r t63 m63 < <(run 63)
  read -r t2 m2 < <(run 2)
  a[i]=$t63 b[i]=$t2
  echo "$i     $t63 ($m63%)              $t2 ($m2%)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m63=$(median "${a[@]}") m2=$(median "${b[@]}")
echo "median: 63 spheres $m63, 2 spheres $m2 tokens/s; ratio $(awk -v x="$m63" -v y="$m2" 'BEGIN { printf "%.3f", x / y }')"
echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC')"
