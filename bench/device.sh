#!/usr/bin/env bash
# The one script a session lent the GPU machine runs: the benches that need a GPU, in under 7 minutes of wall.
#
# How to call it. First, in the session on the dev machine, from the repo root: the wheels the GPU machine lacks
# (it has torch, triton, numpy, pyyaml, ... but no pydantic and no network), into an ignored folder:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .whl pydantic
#
# That is pydantic with its dependencies resolved (about 3 MB): pydantic-core (pydantic pins its exact version,
# which a separate `--no-deps pydantic-core` download can miss), annotated-types, typing-inspection and
# typing-extensions. typing-extensions matters: pydantic-core 2.50 needs >= 4.16 (`typing_extensions.Sentinel`),
# and the machine's copy, installed with torch, may be older (checked: with 4.12.2, `import nasrl.config` fails).
# Then the device call (Ray, a 79 MB wheel, cannot travel in the 64 MiB carry: bench/packing.py uses processes):
#
#   run(command="bash bench/device.sh", carry=[".whl"], timeout_s=540)
#
# It writes to $OUT (what comes back; at most 8 files): device.log (everything printed here), pipeline-small.json,
# pipeline-nascnn15.json, packing.json, packing-mps.json, nb201-recipe.json. Steps a..f share one budget of BUDGET
# seconds (default 390) from the start (setup included): each runs under `timeout` with its own cap or the time
# left, whichever is less, so one stuck step cannot eat the others' time, and a failing step does not stop the rest (set -u, not -e). The compile
# bench (c) runs last: its cold inductor compiles are the likeliest to run long, and packing (d, e) matters more.
# `SKIP="c e"` skips those steps (a rerun that needs only some); PACKING_ARGS (e.g. "--children 64") go to d and e.
# Without CUDA (a dry run on a CPU machine: `OUT=/tmp/devout PYTHON=.venv/bin/python bash bench/device.sh`) the
# GPU steps print "no CUDA: skipped" and d runs shrunk, to exercise the plumbing.
set -u

OUT=${OUT:-/tmp/device-out}
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-390} # seconds for everything below; with the last step's 10 s kill grace, under 7 minutes
mkdir -p "$OUT"

# step NAME CAP COMMAND...: a banner, COMMAND under timeout (CAP or the budget left, the lesser), its exit status.
step() {
    local name=$1 cap=$2
    shift 2
    if [[ " ${SKIP:-} " == *" ${name%%.*} "* ]]; then
        echo
        echo "=== $name: skipped (SKIP=$SKIP)"
        return
    fi
    local left=$((BUDGET - SECONDS))
    local limit=$((cap < left ? cap : left))
    echo
    echo "=== $name: limit ${limit} s (${left} s of the budget left) at $(date +%T)"
    if ((limit < 15)); then
        echo "=== $name: skipped, the budget is spent"
        return
    fi
    local start=$SECONDS
    timeout -k 10 "$limit" "$@"
    local rc=$?
    local note=""
    ((rc == 124 || rc == 137)) && note=" (TIMED OUT)"
    echo "=== $name: exit $rc$note after $((SECONDS - start)) s"
}

install_wheels() {
    if ! compgen -G ".whl/*.whl" >/dev/null; then
        echo "no .whl/*.whl: using whatever pydantic $PY already has"
        return
    fi
    ls .whl
    PIP_ROOT_USER_ACTION=ignore timeout 60 "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && return
    echo "pip install failed: unpacking the wheels into /tmp/site instead"
    for wheel in .whl/*.whl; do
        timeout 30 "$PY" -m zipfile -e "$wheel" /tmp/site
    done
}

setup() {
    echo "=== setup at $(date +%T) in $PWD, OUT=$OUT"
    install_wheels
    export PYTHONPATH=/tmp/site:$PWD/src # nasrl from the tree: its presets are read from src/nasrl/presets
    export PYTHONUNBUFFERED=1
    if command -v nvidia-smi >/dev/null; then
        timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    else
        echo "no nvidia-smi"
    fi
    CUDA=$(timeout 60 "$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
    if ((CUDA)); then
        timeout 60 "$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'
    else
        timeout 60 "$PY" -c 'import torch; print(torch.__version__, "no CUDA")'
    fi
    timeout 60 "$PY" -c 'import pydantic, nasrl.config; print("nasrl.config imports; pydantic", pydantic.VERSION)'
    timeout 60 "$PY" -c 'import torchvision; print("torchvision", torchvision.__version__)' 2>/dev/null ||
        echo "WARNING: no torchvision: bench/pipeline.py's (c) torchvision DataLoader will fail"
}

# e: packing again with CUDA's MPS daemon, whose kernels from the packed processes run concurrently. Its pipe and
# log folders go under /tmp (writable, and apart from any daemon the machine may run); stopped afterwards.
packing_mps() {
    if ! command -v nvidia-cuda-mps-control >/dev/null; then
        echo
        echo "=== e. packing under MPS: no nvidia-cuda-mps-control: skipped"
        return
    fi
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps CUDA_MPS_LOG_DIRECTORY=/tmp/nvidia-mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    timeout 20 nvidia-cuda-mps-control -d
    local rc=$?
    if ((rc != 0)); then
        echo
        echo "=== e. packing under MPS: starting the MPS daemon failed (exit $rc): skipped"
        return
    fi
    step "e. packing under MPS" 120 "$PY" bench/packing.py --launcher processes ${PACKING_ARGS:-} \
        --json "$OUT/packing-mps.json"
    echo quit | timeout 20 nvidia-cuda-mps-control
    echo "MPS daemon stopped (exit $?)"
    tail -n 5 "$CUDA_MPS_LOG_DIRECTORY"/control.log 2>/dev/null
}

main() {
    setup
    if ((CUDA)); then
        # a, b: the training loop against the compute limit; torch import, CUDA start and the torchvision
        # DataLoader's CPU-bound rounds dominate (small child ~25 s, nascnn15 ~30 s expected).
        step "a. pipeline, small child" 60 "$PY" bench/pipeline.py --device cuda --steps 200 --rounds 3 \
            --json "$OUT/pipeline-small.json"
        step "b. pipeline, nascnn15" 60 "$PY" bench/pipeline.py --device cuda --arch nascnn15 --steps 40 \
            --rounds 3 --json "$OUT/pipeline-nascnn15.json"
        # d: packing.py's defaults: 16 children x 2 epochs x 5,000 images (+1,000 val) at levels 1,2,4,8. Assumed:
        # the small child at ~30,000 img/s, so ~0.5 s a child and ~8 s of training at x1 (less packed), plus
        # ~5-15 s a level to spawn its processes, import torch, start CUDA and warm up: ~60-80 s in all.
        step "d. packing" 120 "$PY" bench/packing.py --launcher processes ${PACKING_ARGS:-} --json "$OUT/packing.json"
        (packing_mps)
        # c: eager vs torch.compile default / reduce-overhead, caches off: ~20-60 s a cold compile (Triton
        # kernels), so one round (two compiles) to stay inside the cap.
        step "c. compile" 150 "$PY" bench/compile.py --device cuda --modes default reduce-overhead --rounds 1 \
            --configs quick default
        # f: NAS-Bench-201's 12-epoch recipe on the CIFAR-10 copy (3 cells x 12 epochs of 25k images at 32 px,
        # ~1-2 min a cell expected) beside the table, and one epoch of the nb201 shared network. Run it alone:
        # `SKIP="a b c d e" BUDGET=480 bash bench/device.sh` (timeout_s 540).
        step "f. nb201 recipe" 450 "$PY" bench/nb201_recipe.py --device cuda --json "$OUT/nb201-recipe.json"
    else
        for name in "a. pipeline, small child" "b. pipeline, nascnn15" "c. compile" "f. nb201 recipe"; do
            echo
            echo "=== $name: no CUDA: skipped"
        done
        step "d. packing (shrunk: no CUDA)" 120 "$PY" bench/packing.py --launcher processes --children 2 \
            --train 128 --val 64 --epochs 1 --levels 1,2 --json "$OUT/packing.json"
        echo
        echo "=== e. packing under MPS: no CUDA: skipped"
    fi
    echo
    echo "=== done in $SECONDS s at $(date +%T); in $OUT:"
    ls -la "$OUT"
}

main 2>&1 | tee -a "$OUT/device.log"
