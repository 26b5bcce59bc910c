"""One intra-op thread count for every test and every subprocess a test starts (2, or 1 on a 1-core machine;
NASRL_TEST_THREADS overrides it).

A kill -9 test compares a run started in a subprocess with one run in this process: convolutions reduce in a
different order on a different number of threads, so the two agree to the last bit only on the same count. Some
tests run a bench's main in process, and a bench sets its own thread count; each test gets this one back."""

import os
import sys
from pathlib import Path

THREADS = os.environ.get("NASRL_TEST_THREADS", str(min(2, os.cpu_count() or 1)))
os.environ["OMP_NUM_THREADS"] = THREADS  # before torch is imported here or in any subprocess

import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(int(THREADS))


@pytest.fixture(autouse=True)
def _same_threads():
    yield
    torch.set_num_threads(int(THREADS))
