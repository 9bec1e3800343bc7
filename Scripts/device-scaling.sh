#!/usr/bin/env bash
# Thread scaling on a many-core machine without a Swift toolchain (the lent `device`): build a static binary
# here, carry it with libjemalloc.so.2 and the corpus, run this there.
#
#   swift build -c release --static-swift-stdlib --scratch-path .build-static
#   mkdir -p devrun && cp .build-static/release/cllm devrun/ && strip devrun/cllm
#   cp /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ../shared/data/tinyshakespeare.txt Scripts/device-scaling.sh devrun/
#   # on the device, with devrun/ carried:  bash devrun/device-scaling.sh
# Where the CPU has AVX-512 it first compares the two kernel builds (speed and bits).
set -euo pipefail
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD
nproc; grep -m1 "model name" /proc/cpuinfo
echo "AVX-512 flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w 'avx512[a-z]*' | tr '\n' ' ')"
# Where the AVX-512 build runs: its speed against the AVX2 build, and its bits (checkpoints after 20 steps).
./cllm bench kernels > kernels-default.txt
if grep -q 'kernel build: avx512' kernels-default.txt; then
  CLLM_KERNELS=avx2 ./cllm bench kernels > kernels-avx2.txt
  echo "GEMM per step: avx512 $(grep 'GEMM time' kernels-default.txt | grep -o '[0-9.]* ms'), avx2 $(grep 'GEMM time' kernels-avx2.txt | grep -o '[0-9.]* ms')"
  grep attention kernels-default.txt kernels-avx2.txt
  for b in avx2 avx512; do
    rm -rf bits-$b
    CLLM_KERNELS=$b ./cllm train --data tinyshakespeare.txt --steps 20 --eval-interval 0 --sample-length 0 --out bits-$b \
      --no-preflight > /dev/null
  done
  cmp bits-avx2/checkpoints/step-00000020/model.safetensors bits-avx512/checkpoints/step-00000020/model.safetensors &&
    echo "avx512 and avx2 checkpoints after 20 steps: IDENTICAL"
  for b in avx2 avx512 avx2 avx512; do
    echo "1 thread, $b: $(CLLM_KERNELS=$b ./cllm train --data tinyshakespeare.txt --steps 150 --eval-interval 0 \
      --checkpoint-interval 0 --sample-length 0 --out run-$b --no-preflight | tail -1)"
    rm -rf run-$b
  done
fi
for t in 1 2 4 8 16; do
  rm -rf run-$t
  echo "threads $t: $(./cllm train --data tinyshakespeare.txt --steps 40 --batch-size 48 --spheres $t --threads $t \
    --eval-interval 0 --checkpoint-interval 0 --sample-length 0 --out run-$t --no-preflight | tail -1)"
done
