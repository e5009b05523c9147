#!/usr/bin/env bash
# One call on a lent GPU machine (device tool): build, GPU tests, benchmarks, GPUMD beside them.
# Logs go to $OUT. Needs, carried from the developer machine (never committed):
#   .whl       the ase wheel (the tests import it);
#   .devdata   nep-models/C_2022_NEP4.txt and nep-train-pbte/ from ../shared/data, and for the
#              GPUMD reference either
#              - gpumd-bin/{gpumd,nep}: GPUMD built on the developer machine (nvcc there, no GPU
#                needed; cuBLAS/cuSOLVER/cuFFT/cuRAND headers and link stubs from NVIDIA's pip
#                wheels) plus gpumd_inputs.tar.gz (`python bench/gpumd_reference.py --dry-run
#                --work .devdata/gpumd_inputs`, then tar): GPUMD then runs while pynepcg compiles;
#              - or gpumd-src.tar.gz (GPUMD's src/, e.g. `git -C <clone> archive --prefix=GPUMD/
#                HEAD src | gzip`): built here after the benchmarks (a few minutes).
# Usage: bash bench/gpu_session.sh [tests|bench|all|gpumd|compare] [gpu_md.py options]
#   all: tests + bench; compare: tests + bench + GPUMD + per-kernel profiles (ncu); gpumd: GPUMD only.
# Time limits per stage (s): TEST_TIMEOUT, BENCH_TIMEOUT, TRAIN_TIMEOUT, GPUMD_TIMEOUT, PROFILE_TIMEOUT.
# PROFILE_CASES="cg1000/single ...": per-kernel profiles in any mode; GRAPHS_COMPARE=1: small systems
# also without CUDA graphs; NCU_CASES="cg64000/single ...": full ncu report of one site-kernel launch each;
# DATAGEN_BENCH=1: mean-force frames/hour, sequential vs concurrent and fused replicas (bench/gpu_datagen.py),
# and many small structures evaluated one by one vs compute_many (bench/gpu_batch.py);
# NPT_BENCH=1: CG-like 1k and 10.6k beads in NPT: host integrator with GPU forces, cell_every=10,
# and the cell on the device (NEPCG_DEVICE_CELL=1), beside NVT.
# ORDER_COMPARE=1: CG-like 64k and 262k beads in lattice and shuffled order, the site kernel taking
# atoms by index and in the list's bin order (NEPCG_SITE_ORDER=bins);
# PASS_SHARES=1: where the site kernel's time goes, pass by pass, for every benchmark system, single
# precision, taking every list entry and skipping the skin (bench/gpu_profile.py --pass-shares; first,
# since it takes under a minute and says most);
# SKIN_COMPARE=1: PbTe 32k and CG-like 10.6k-262k beads (lattice and random positions) with the site
# kernel taking every list entry and skipping the list's skin (NEPCG_SITE_SKIN=skip);
# LANES_COMPARE=1: every MD system in single precision with 32 and with 16 site-kernel lanes per atom;
# NEPCG_SITE_LANES=16 exported before the call puts the tests and every benchmark on 16 lanes.
set -o pipefail
what=${1:-all}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
repo=$(pwd)
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
# DEADLINE=S: every stage's time limit is cut so that the whole script ends ~S s after it started
# (a device call's budget is short; later stages get what is left, at least 5 s)
cap() { local t=$1; if [ -n "$DEADLINE" ]; then local left=$(( DEADLINE - $(date +%s) + T0 ));
        [ "$left" -lt "$t" ] && t=$left; [ "$t" -lt 5 ] && t=5; fi; echo "$t"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site
export PYNEPCG_SHARED_DATA=$repo/.devdata PYTHONUNBUFFERED=1

# --- GPUMD from prebuilt binaries: runs on the GPU while pynepcg compiles on the CPUs ---------
gpumd_pid=
want_gpumd() { [ "$what" = gpumd ] || [ "$what" = compare ]; }
if want_gpumd && [ -x .devdata/gpumd-bin/gpumd ] && [ -f .devdata/gpumd_inputs.tar.gz ]; then
  libdirs=$(find /usr/local/cuda*/ /opt/torch /usr/lib -name 'libcublas.so.13*' -o -name 'libcusolver.so.12*' \
              -o -name 'libcufft.so.12*' -o -name 'libcurand.so.10*' 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
  chmod +x .devdata/gpumd-bin/*; mkdir -p /tmp/gref && tar xzf .devdata/gpumd_inputs.tar.gz -C /tmp/gref
  ( LD_LIBRARY_PATH=$libdirs:$LD_LIBRARY_PATH timeout ${GPUMD_TIMEOUT:-240} \
      python3 bench/gpumd_reference.py --prepared --work /tmp/gref/gpumd_inputs --bin "$repo/.devdata/gpumd-bin" \
      > "$OUT/gpumd.log" 2>&1 ) &
  gpumd_pid=$!
  stamp "GPUMD reference started (prebuilt binaries; libraries from $libdirs)"
fi

# --- build pynepcg (the image's CXX links libstdc++ statically into the module, which then
# crashes in locale code; the system compiler gives the usual shared libstdc++) -------------
if [ "$what" != gpumd ]; then
  if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++; rm -rf build; fi
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
  # only this card's architecture (the default adds a PTX target, which doubles CUDA compile time);
  # the GPUMD run beside it gets 2 of the 16 cores
  CMAKE_BUILD_PARALLEL_LEVEL=14 CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${arch}-real" \
    nice -n 10 python3 -m pip install -q --no-build-isolation --no-deps . > "$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; exit 1; }
  stamp "build done"
  (cd /tmp && python3 -c "import pynepcg; pynepcg.info()")
fi
if [ -n "$gpumd_pid" ]; then wait $gpumd_pid; stamp "GPUMD reference done"; cat "$OUT/gpumd.log"; fi

if [ "$what" = tests ] || [ "$what" = all ] || [ "$what" = compare ]; then
  timeout $(cap ${TEST_TIMEOUT:-300}) python3 -m pytest tests/test_gpu.py -q -rs --durations=8 \
    ${PYTEST_TIMEOUT:+--timeout=$PYTEST_TIMEOUT} ${TESTS_K:+-k "$TESTS_K"} 2>&1 | tee "$OUT/tests.log" | tail -30
  stamp "tests done"
fi
if [ "$what" = bench ] || [ "$what" = all ] || [ "$what" = compare ]; then
  ref=; [ -s "$OUT/gpumd.log" ] && ref="--gpumd-log $OUT/gpumd.log"  # GPUMD measured above, if it ran
  # the site kernel's passes: shares of its cycles per benchmark system
  [ -n "$PASS_SHARES" ] && timeout $(cap 90) python3 bench/gpu_profile.py --pass-shares 2>&1 | tee "$OUT/passes.log"
  timeout $(cap ${BENCH_TIMEOUT:-360}) python3 bench/gpu_md.py $ref "${@:2}" 2>&1 | tee "$OUT/bench.log"
  # the small systems again with one launch per kernel instead of CUDA-graph replay
  [ -n "$GRAPHS_COMPARE" ] && timeout $(cap 120) python3 bench/gpu_md.py --quick --graphs off 2>&1 | tee -a "$OUT/bench.log"
  # the site kernel with two atoms per warp beside the default warp per atom (single precision)
  [ -n "$LANES_COMPARE" ] && timeout $(cap 200) python3 bench/gpu_md.py --precision single --lanes both 2>&1 \
    | tee -a "$OUT/bench.log"
  # CG 64k and 262k in lattice and shuffled order, the site kernel by index and in bin order
  [ -n "$ORDER_COMPARE" ] && timeout $(cap 150) python3 bench/gpu_md.py --quick --precision single --order-compare \
    2>&1 | tee -a "$OUT/bench.log"
  # the site kernel skipping the list's skin shell beside taking every entry
  [ -n "$SKIN_COMPARE" ] && timeout $(cap 200) python3 bench/gpu_md.py --quick --precision single --skin-compare \
    2>&1 | tee -a "$OUT/bench.log"
  # NPT of the small systems (host integrator with GPU forces; cell_every=10; cell on the device)
  [ -n "$NPT_BENCH" ] && timeout $(cap 150) python3 bench/gpu_md.py --quick --precision single --npt 2>&1 \
    | tee -a "$OUT/bench.log"
  timeout $(cap ${TRAIN_TIMEOUT:-120}) python3 bench/gpu_train.py $ref 2>&1 | tee "$OUT/train.log"
  (cd bench && timeout $(cap 60) python3 train_host.py) 2>&1 | tee -a "$OUT/train.log"  # the host's share
  # mean-force frames one after another vs concurrent replicas (threads, one CUDA stream each)
  [ -n "$DATAGEN_BENCH" ] && (cd bench && timeout $(cap 150) python3 gpu_datagen.py) 2>&1 | tee "$OUT/datagen.log"
  # many small structures: one compute() each vs compute_many (one launch for all), beside the CPU
  [ -n "$DATAGEN_BENCH" ] && (cd bench && timeout $(cap 60) python3 gpu_batch.py) 2>&1 | tee -a "$OUT/datagen.log"
  stamp "benchmarks done"
fi
if { [ "$what" = compare ] || [ -n "$PROFILE_CASES" ]; } && command -v ncu > /dev/null; then
  # per-kernel times of a few steady-state MD steps (bench/gpu_profile.py), summaries only
  for case in ${PROFILE_CASES:-cg1000/single cg10648/single carbon/single carbon/double}; do
    timeout $(cap ${PROFILE_TIMEOUT:-60}) ncu --clock-control none --launch-skip 400 --launch-count 42 \
      --metrics gpu__time_duration.sum --csv python3 bench/gpu_profile.py --case ${case%/*} \
      --precision ${case#*/} > /tmp/profile.csv 2> /tmp/profile.err
    { echo "## ${case}"; grep '^#' /tmp/profile.err; python3 bench/gpu_profile.py --summarise /tmp/profile.csv \
      || tail -5 /tmp/profile.err; } 2>&1 | tee -a "$OUT/profile.log"
  done
  stamp "profiles done"
fi
if [ -n "$NCU_CASES" ] && command -v ncu > /dev/null; then
  # full Nsight Compute report (occupancy, stall reasons, pipes, memory) of one site-kernel launch
  for case in $NCU_CASES; do
    timeout $(cap ${NCU_TIMEOUT:-90}) ncu --set full -k regex:${NCU_KERNEL:-nep_warp_sites} --launch-skip 3 --launch-count 1 \
      python3 bench/gpu_profile.py --case ${case%/*} --precision ${case#*/} --steps 12 \
      > "$OUT/ncu_${case%/*}_${case#*/}.txt" 2>&1
  done
  stamp "ncu reports done"
fi
# build GPUMD here when no prebuilt binaries came, or they could not find their libraries
if want_gpumd && [ -f .devdata/gpumd-src.tar.gz ] && \
   { [ -z "$gpumd_pid" ] || grep -q "error while loading shared libraries" "$OUT/gpumd.log"; }; then
  mkdir -p /tmp/gpumd && tar xzf .devdata/gpumd-src.tar.gz -C /tmp/gpumd
  arch=sm_$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
  # (CUDA 13's libraries need C++17; GPUMD's makefile asks for C++14)
  make -C /tmp/gpumd/GPUMD/src -j16 CUDA_ARCH=-arch=$arch CFLAGS="-std=c++17 -O3 -arch=$arch" gpumd nep \
    > "$OUT/gpumd_build.log" 2>&1 || { tail -30 "$OUT/gpumd_build.log"; exit 1; }
  stamp "GPUMD built"
  prepared=; [ -f /tmp/gref/gpumd_inputs/cases.tsv ] && prepared="--prepared --work /tmp/gref/gpumd_inputs"
  timeout ${GPUMD_TIMEOUT:-300} python3 bench/gpumd_reference.py --bin /tmp/gpumd/GPUMD/src $prepared "${@:2}" 2>&1 \
    | tee "$OUT/gpumd.log"
fi
stamp "end"
