#!/usr/bin/env bash
# Thread scaling on a many-core machine without a Swift toolchain (the lent `device`): build a static binary
# here, carry it with libjemalloc.so.2 and the corpus, run this there.
#
#   swift build -c release --static-swift-stdlib --scratch-path .build-static
#   mkdir -p devrun && cp .build-static/release/cllm devrun/ && strip devrun/cllm
#   cp /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ../shared/data/tinyshakespeare.txt Scripts/device-scaling.sh devrun/
#   # on the device, with devrun/ carried:  bash devrun/device-scaling.sh
set -euo pipefail
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD
nproc; grep -m1 "model name" /proc/cpuinfo
for t in 1 2 4 8 16; do
  rm -rf run-$t
  echo "threads $t: $(./cllm train --data tinyshakespeare.txt --steps 40 --batch-size 48 --spheres $t --threads $t \
    --eval-interval 0 --checkpoint-interval 0 --sample-length 0 --out run-$t --no-preflight | tail -1)"
done
