#!/usr/bin/env bash
# Thread scaling and the AVX-512 build on a many-core machine without a Swift toolchain (the lent `device`):
# build a static binary here, carry it with libjemalloc.so.2, the corpus and the peer, run this there.
#
#   swift build -c release --static-swift-stdlib --scratch-path .build-static
#   mkdir -p devrun && cp .build-static/release/cllm devrun/ && strip devrun/cllm
#   cp /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ../shared/data/tinyshakespeare.txt \
#      ../shared/bench/pytorch_gpt_bench.py Scripts/device-scaling.sh devrun/
#   # on the device, with devrun/ carried:  bash devrun/device-scaling.sh
#
# Where the CPU has AVX-512 it first compares the two kernel builds (speed and bits). Where python3 has torch
# it runs the peer alternately with cllm at 1 and 2 threads (reference config). It profiles a training pass at
# batch 3 and 12 (does a smaller working set speed the kernels up?). Then thread scaling at 1, 2, 4, 8 and 16
# threads with as many spheres (global batch 48), twice, in opposite orders.
set -euo pipefail
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD
iters=${ITERS:-200}
nproc; lscpu | grep -E 'Model name|Thread|Core|Socket|MHz|L2|L3' || true
echo "AVX-512 flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w 'avx512[a-z0-9_]*' | tr '\n' ' ')"
result() { grep '^tokens_per_s=' "$1" | tail -1; }
train() { # kernels threads spheres label [extra args]
  local b=$1 t=$2 s=$3 label=$4; shift 4
  rm -rf "run-$label"
  CLLM_KERNELS=$b ./cllm train --data tinyshakespeare.txt --steps "$iters" --eval-interval 0 --checkpoint-interval 0 \
    --sample-length 0 --threads "$t" --spheres "$s" --out "run-$label" --no-preflight "$@" > "log-$label" 2>&1
  echo "cllm $label: $(result "log-$label")"
  rm -rf "run-$label"
}
peer() { # threads label
  if python3 pytorch_gpt_bench.py --data tinyshakespeare.txt --threads "$1" --iters "$iters" --final_eval sampled \
    > "log-peer-$2" 2>&1; then echo "peer $2: $(result "log-peer-$2")"; else echo "peer $2 failed: $(tail -2 "log-peer-$2")"; fi
}
./cllm bench kernels > kernels-default.txt
builds=(avx2)
if grep -q 'kernel build: avx512' kernels-default.txt; then
  builds=(avx512 avx2)
  CLLM_KERNELS=avx2 ./cllm bench kernels > kernels-avx2.txt
  echo "--- bench kernels, avx512 build"; cat kernels-default.txt
  echo "--- bench kernels, avx2 build"; cat kernels-avx2.txt
  for b in avx2 avx512; do
    rm -rf bits-$b
    CLLM_KERNELS=$b ./cllm train --data tinyshakespeare.txt --steps 20 --eval-interval 0 --sample-length 0 --out bits-$b \
      --no-preflight > /dev/null
  done
  cmp bits-avx2/checkpoints/step-00000020/model.safetensors bits-avx512/checkpoints/step-00000020/model.safetensors &&
    echo "avx512 and avx2 checkpoints after 20 steps: IDENTICAL"
fi
havepeer=0
python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null && havepeer=1
echo "--- in-training stage profile (--profile), 1 thread, each build"
for b in "${builds[@]}"; do train "$b" 1 1 "profile-$b" --profile; sed -n '/stage profile/,/all stages/p' "log-profile-$b"; done
# Does a smaller activation footprint make the in-situ GEMMs faster here? (On the 2-core AMD VM it does not:
# batch 3 costs 6% more per token than batch 12.) Compare each stage's ms per pass × 4 at batch 3 with batch 12.
echo "--- working set: --profile at batch 3 (x4 steps) and batch 12, 1 thread, ${builds[0]}, alternating"
for i in 1 2; do
  for bs in 3 12; do
    ITERS_SAVED=$iters; iters=$((ITERS_SAVED * 12 / bs))
    train "${builds[0]}" 1 1 "ws-b$bs-$i" --profile --batch-size "$bs"
    iters=$ITERS_SAVED
    grep -E 'GEMM|attention  |all stages' "log-ws-b$bs-$i"
  done
done
echo "--- reference config (batch 12), $iters steps, 1 thread, alternating"
for i in 1 2 3; do
  ((havepeer)) && peer 1 "1t-$i"
  for b in "${builds[@]}"; do train "$b" 1 1 "1t-$b-$i"; done
done
echo "--- reference config, $iters steps, 2 threads (cllm: 2 spheres), alternating"
for i in 1 2 3; do
  ((havepeer)) && peer 2 "2t-$i"
  train "${builds[0]}" 2 2 "2t-${builds[0]}-$i"
done
iters=${SCALE_ITERS:-60}
echo "--- thread scaling, global batch 48, spheres = threads, $iters steps, kernels ${builds[0]}"
for t in 1 2 4 8 16 16 8 4 2 1; do
  train "${builds[0]}" "$t" "$t" "scale-$t" --batch-size 48
done
