#!/usr/bin/env bash
# One call on a lent GPU machine (device tool): build, GPU tests, benchmarks. Logs go to $OUT.
# Needs, carried from the developer machine: .whl (ase wheel; tests import it) and .devdata
# (nep-models/C_2022_NEP4.txt and nep-train-pbte/ from ../shared/data), and for the GPUMD
# reference a GPUMD source tarball .devdata/gpumd-src.tar.gz (GPL: never committed; e.g.
# `git -C <GPUMD clone> archive --prefix=GPUMD/ HEAD src | gzip > .devdata/gpumd-src.tar.gz`).
# Usage: bash bench/gpu_session.sh [tests|bench|all|gpumd|compare] [gpu_md.py options]
#   gpumd: build GPUMD and run bench/gpumd_reference.py only; compare: bench + gpumd.
set -o pipefail
what=${1:-all}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
repo=$(pwd)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site
export PYNEPCG_SHARED_DATA=$repo/.devdata CMAKE_BUILD_PARALLEL_LEVEL=16 PYTHONUNBUFFERED=1
# The image's CXX (/opt/gcc) links libstdc++ statically into the module, which then crashes in
# locale code; the system compiler gives the usual shared libstdc++.
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++; rm -rf build; fi
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps . > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
(cd /tmp && python3 -c "import pynepcg; pynepcg.info()")
if [ "$what" = tests ] || [ "$what" = all ]; then
  timeout ${TEST_TIMEOUT:-300} python3 -m pytest tests/test_gpu.py -q -x -rs --durations=8 2>&1 | tee "$OUT/tests.log" | tail -25
fi
if [ "$what" = bench ] || [ "$what" = all ] || [ "$what" = compare ]; then
  timeout ${BENCH_TIMEOUT:-360} python3 bench/gpu_md.py "${@:2}" 2>&1 | tee "$OUT/bench.log"
  timeout ${TRAIN_TIMEOUT:-120} python3 bench/gpu_train.py 2>&1 | tee "$OUT/train.log"
fi
if [ "$what" = gpumd ] || [ "$what" = compare ]; then
  t0=$(date +%s)
  mkdir -p /tmp/gpumd && tar xzf .devdata/gpumd-src.tar.gz -C /tmp/gpumd
  arch=sm_$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
  # (CUDA 13's libraries need C++17; GPUMD's makefile asks for C++14)
  make -C /tmp/gpumd/GPUMD/src -j16 CUDA_ARCH=-arch=$arch CFLAGS="-std=c++17 -O3 -arch=$arch" gpumd nep \
    > "$OUT/gpumd_build.log" 2>&1 || { tail -30 "$OUT/gpumd_build.log"; exit 1; }
  echo "GPUMD build: $(( $(date +%s) - t0 )) s"
  timeout ${GPUMD_TIMEOUT:-300} python3 bench/gpumd_reference.py --bin /tmp/gpumd/GPUMD/src "${@:2}" 2>&1 \
    | tee "$OUT/gpumd.log"
fi
