#!/usr/bin/env bash
# One call on a lent GPU machine (device tool): build, GPU tests, benchmarks. Logs go to $OUT.
# Needs, carried from the developer machine: .whl (ase wheel; tests import it) and .devdata
# (nep-models/C_2022_NEP4.txt and nep-train-pbte/ from ../shared/data). Usage: bash bench/gpu_session.sh [tests|bench|all]
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
if [ "$what" != bench ]; then
  timeout 200 python3 -m pytest tests/test_gpu.py -q -x -rs --durations=8 2>&1 | tee "$OUT/tests.log" | tail -25
fi
if [ "$what" != tests ]; then
  timeout ${BENCH_TIMEOUT:-240} python3 bench/gpu_md.py "${@:2}" 2>&1 | tee "$OUT/bench.log"
  timeout ${TRAIN_TIMEOUT:-120} python3 bench/gpu_train.py 2>&1 | tee "$OUT/train.log"
fi
