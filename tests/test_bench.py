"""The benchmarks `bench/device.sh` runs on a GPU machine, run tiny on the CPU.

Device time is minutes per session: a benchmark that broke since it last ran (a config that became a pydantic
model, a split already on the device) costs a whole call there. Here each runs its smallest form and its JSON
is checked for figures a measurement produces."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run_bench(script: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def test_pipeline_bench_measures_the_loop_the_compute_limit_and_torchvision(tmp_path):
    out = tmp_path / "pipeline.json"
    _run_bench("pipeline.py", "--steps", "2", "--rounds", "1", "--threads", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    assert all(figures[k] > 0 for k in "abc")
    assert figures["a_over_b"] == figures["a"] / figures["b"]  # one round: its ratio is the ratio of its rates
    assert figures["device"] == "cpu" and figures["batch_size"] == 128


def test_packing_bench_trains_every_child_at_each_level_through_processes(tmp_path):
    out = tmp_path / "packing.json"
    _run_bench(
        "packing.py",
        "--launcher",
        "processes",
        "--children",
        "2",
        "--train",
        "128",
        "--val",
        "64",
        "--epochs",
        "1",
        "--levels",
        "1,2",
        "--json",
        str(out),
    )
    levels = json.loads(out.read_text())["levels"]
    assert sorted(levels) == ["1", "2"]
    for figures in levels.values():
        assert figures["failed"] == 0
        assert figures["wall_seconds"] > 0 and figures["child_seconds"] > 0
        assert figures["children_per_hour"] == 2 / figures["wall_seconds"] * 3600
