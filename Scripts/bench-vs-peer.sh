#!/usr/bin/env bash
# cllm against the PyTorch peer (shared/bench/pytorch_gpt_bench.py): same model, batch, schedule and data,
# on the same machine, alternating peer, cllm, peer, cllm, …; reports each run, the medians and the ratios.
#
#   Scripts/bench-vs-peer.sh [--pairs N] [--threads T] [--iters N] [--data FILE] [--out FILE]
#                            [--scratch-path DIR] [--skip-build]
#
#   --pairs N          peer/cllm pairs (default 3)
#   --threads T        the peer's torch threads and cllm's --threads (default 1)
#   --spheres S        cllm's data-parallel spheres (default: the thread count)
#   --iters N          training steps of each run (default 2000)
#   --data FILE        corpus (default: ../shared/data/tinyshakespeare.txt beside the repository)
#   --out FILE         also write the report to FILE
#   --scratch-path DIR SwiftPM build folder (default .build); --skip-build uses the binary already there
#
# Environment: PEER (the peer script), TORCHENV (its virtual environment, default /tmp/torchenv; created
# with torch==2.13.0 when missing). Both programs end with `tokens_per_s=<x> val_loss=<y> peak_rss_mb=<z>`;
# that line is what is compared. Reference config: 4 layers, 4 heads, width 128, context 64, batch 12
# (cllm's defaults), warm-up 100 then cosine 1e-3 → 1e-4, clip 1.0, AdamW weight decay 0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v swift >/dev/null 2>&1 || PATH="/opt/swift/usr/bin:$PATH"

pairs=3 threads=1 spheres="" iters=2000 data="" report_file="" scratch=.build build=1
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_value() { [[ $# -ge 2 && -n $2 ]] || { echo "bench-vs-peer: $1 needs a value" >&2; exit 2; }; }
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-peer: $1 must be a positive integer, got '$2'" >&2; exit 2; }; }
while (($# > 0)); do
  case $1 in
    --pairs) need_value "$@"; positive "$1" "$2"; pairs=$2; shift 2 ;;
    --threads) need_value "$@"; positive "$1" "$2"; threads=$2; shift 2 ;;
    --iters) need_value "$@"; positive "$1" "$2"; iters=$2; shift 2 ;;
    --spheres) need_value "$@"; positive "$1" "$2"; spheres=$2; shift 2 ;;
    --data) need_value "$@"; data=$2; shift 2 ;;
    --out) need_value "$@"; report_file=$2; shift 2 ;;
    --scratch-path) need_value "$@"; scratch=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench-vs-peer: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# The peer leaves its first 10 steps out of its timing; fewer than 11 steps leave nothing to time.
((iters > 10)) || { echo "bench-vs-peer: --iters must be more than 10, got $iters" >&2; exit 2; }

peer=${PEER:-$root/../shared/bench/pytorch_gpt_bench.py}
[[ -f $peer ]] || { echo "bench-vs-peer: peer script $peer not found; set PEER=/path/to/pytorch_gpt_bench.py" >&2; exit 1; }
data=${data:-$root/../shared/data/tinyshakespeare.txt}
[[ -f $data && -r $data ]] || { echo "bench-vs-peer: corpus $data not found or unreadable; pass --data FILE" >&2; exit 1; }
peer=$(realpath "$peer") data=$(realpath "$data")
if [[ -n $report_file ]]; then
  : >"$report_file" || { echo "bench-vs-peer: cannot write $report_file" >&2; exit 1; }
fi

Scripts/setup.sh python3-venv
torchenv=${TORCHENV:-/tmp/torchenv}
if ! "$torchenv/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "bench-vs-peer: creating $torchenv with torch==2.13.0" >&2
  python3 -m venv --system-site-packages "$torchenv"
  "$torchenv/bin/pip" install torch==2.13.0
fi
torch_version=$("$torchenv/bin/python" -c 'import torch; print(torch.__version__)')

if ((build)); then swift build -c release --scratch-path "$scratch"; fi
cllm=$scratch/release/cllm
[[ -x $cllm ]] || { echo "bench-vs-peer: $cllm not built" >&2; exit 1; }
spheres=${spheres:-$threads}
cllm_threads=(--threads "$threads" --spheres "$spheres")

work=$(mktemp -d "${TMPDIR:-/tmp}/cllm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Prints "tokens_per_s val_loss peak_rss_mb" from a run's log, or fails showing the log's end.
figures() {
  local line
  line=$(grep '^tokens_per_s=' "$1" | tail -n 1) || true
  if [[ -z $line ]]; then
    echo "bench-vs-peer: no result line in $2's output; its last lines:" >&2
    tail -n 20 "$1" >&2
    return 1
  fi
  sed -E 's/^tokens_per_s=([^ ]+) val_loss=([^ ]+) peak_rss_mb=([^ ]+).*$/\1 \2 \3/' <<<"$line"
}

declare -a peer_tps peer_loss peer_rss cllm_tps cllm_loss cllm_rss
for ((i = 1; i <= pairs; i++)); do
  echo "pair $i/$pairs: peer" >&2
  if ! "$torchenv/bin/python" "$peer" --data "$data" --threads "$threads" --n_layer 4 --n_head 4 --n_embd 128 \
    --block_size 64 --batch_size 12 --iters "$iters" >"$work/peer-$i.log" 2>&1; then
    echo "bench-vs-peer: the peer failed; its last lines:" >&2
    tail -n 20 "$work/peer-$i.log" >&2
    exit 1
  fi
  read -r peer_tps[i] peer_loss[i] peer_rss[i] < <(figures "$work/peer-$i.log" peer)

  echo "pair $i/$pairs: cllm" >&2
  if ! "$cllm" train --data "$data" --steps "$iters" --eval-interval 0 --checkpoint-interval 0 --sample-length 0 \
    "${cllm_threads[@]}" --out "$work/run-$i" >"$work/cllm-$i.log" 2>&1; then
    echo "bench-vs-peer: cllm failed; its last lines:" >&2
    tail -n 20 "$work/cllm-$i.log" >&2
    exit 1
  fi
  read -r cllm_tps[i] cllm_loss[i] cllm_rss[i] < <(figures "$work/cllm-$i.log" cllm)
  rm -rf "$work/run-$i"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }

mp_tps=$(median "${peer_tps[@]}") mp_loss=$(median "${peer_loss[@]}") mp_rss=$(median "${peer_rss[@]}")
mc_tps=$(median "${cllm_tps[@]}") mc_loss=$(median "${cllm_loss[@]}") mc_rss=$(median "${cllm_rss[@]}")
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
revision=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)

report() {
  echo "cllm vs PyTorch peer, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs; torch $torch_version, peer threads $threads;" \
    "cllm $revision, threads $threads, spheres $spheres"
  echo "config: 4 layers, 4 heads, width 128, context 64, batch 12, $iters steps; data $data"
  echo
  printf '%-5s %-5s %12s %9s %12s\n' pair impl tokens/s val_loss peak_rss_mb
  for ((i = 1; i <= pairs; i++)); do
    printf '%-5s %-5s %12s %9s %12s\n' "$i" peer "${peer_tps[i]}" "${peer_loss[i]}" "${peer_rss[i]}"
    printf '%-5s %-5s %12s %9s %12s\n' "$i" cllm "${cllm_tps[i]}" "${cllm_loss[i]}" "${cllm_rss[i]}"
  done
  printf '%-11s %12s %9s %12s\n' "median peer" "$mp_tps" "$mp_loss" "$mp_rss"
  printf '%-11s %12s %9s %12s\n' "median cllm" "$mc_tps" "$mc_loss" "$mc_rss"
  echo
  echo "cllm/peer: tokens/s $(ratio "$mc_tps" "$mp_tps"), peak RSS $(ratio "$mc_rss" "$mp_rss");" \
    "val_loss $mc_loss vs $mp_loss"
  # Each pair ran back to back, so its own ratio shows how much of the spread is the machine's drift.
  local per=()
  for ((i = 1; i <= pairs; i++)); do per+=("$(ratio "${cllm_tps[i]}" "${peer_tps[i]}")"); done
  echo "per-pair tokens/s ratios: ${per[*]} (median $(median "${per[@]}"))"
}
if [[ -n $report_file ]]; then report | tee "$report_file"; else report; fi
