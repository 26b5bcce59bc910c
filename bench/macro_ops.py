"""What the new macro operations cost: forward + backward of a small macro network, one process, ratios to conv3x3.

    OMP_NUM_THREADS=1 python bench/macro_ops.py                 # final and shared forms, 16 and 32 px
    OMP_NUM_THREADS=1 python bench/macro_ops.py --repeats 3 --forms final

The network is `quick-enas`'s geometry: 6 layers of 16 channels, reductions after layers 2 and 4 (so layers 1-2 run
at the full resolution, 3-4 at half, 5-6 at a quarter), every layer the same operation, each reading the previous
output and skipping from the one before it. One step is forward, cross-entropy and backward on `--batch` random
images. After two warm-up steps each, the networks of one resolution take turns, one step each per round, for
`--repeats` rounds (so a change in the shared machine's load falls on all of them alike); each one's best and
median step are printed with the best's ratio to the all-conv3x3 network's, with parameters and forward FLOPs per
image.

`mhsa@L1` and `mhsa` are not nasrl operations: they measure whether one was worth adding. `BoTNetAttention` below is
Bottleneck Transformers' multi-head self-attention (Srinivas et al. 2021, fig. 4) over the whole map, content-only
(no relative position logits: where a macro operation is built the map's size is not known, and the exported network
runs at any size), after the 1x1 conv-BN-ReLU every operation starts with, with a residual and BN-ReLU after it.
`mhsa@L1` puts it at layer 1 only (conv3x3 elsewhere), `mhsa@L6` at layer 6 only (a quarter of the side), `mhsa`
at every layer. `--only NAME ...` measures those networks alone (conv3x3, the ratios' base, always).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nasrl.nets import builder
from nasrl.nets.macro import MacroNetwork
from nasrl.space import OPERATIONS, SearchSpace, Token, enas_reductions

LAYERS, CHANNELS, HEADS = 6, 16, 4
#: Each measured network: its name, the operation of every layer, and the layers that run attention instead.
VARIANTS = (
    ("conv3x3", "conv3x3", ()),
    ("gconv3x3", "gconv3x3", ()),
    ("conv5x5", "conv5x5", ()),
    ("gconv5x5", "gconv5x5", ()),
    ("sep3x3", "sep3x3", ()),
    ("se3x3", "se3x3", ()),
    ("mhsa@L1", "conv3x3", (0,)),
    ("mhsa@L6", "conv3x3", (LAYERS - 1,)),
    ("mhsa", "conv3x3", tuple(range(LAYERS))),
)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)  # as nasrl.nets.macro's


class BoTNetAttention(nn.Module):
    """1x1 conv-BN-ReLU, then x + MHSA(x) over all positions (queries, keys and values by one 1x1 conv, `heads`
    heads, scaled dot-product attention), then BN-ReLU: a candidate operation, measured here only."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), batch_norm(channels), nn.ReLU())
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.bn = batch_norm(channels)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, c, h, w)
        return F.relu(self.bn(x + attended))


def network(op: str, attention: tuple[int, ...], form: str) -> nn.Module:
    space = SearchSpace("bench", LAYERS, (Token("op", OPERATIONS),), True, CHANNELS, enas_reductions(LAYERS))
    arch = space.architecture([{"op": op}] * LAYERS, [[i - 1] if i else [] for i in range(LAYERS)])
    torch.manual_seed(0)
    model = MacroNetwork(arch, 10, 3, form=form)  # type: ignore[arg-type]
    for i in attention:
        model.ops[i] = BoTNetAttention(model.widths[i], HEADS)
    return model


def one_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Seconds of one forward + backward step."""
    start = time.perf_counter()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    return time.perf_counter() - start


def interleaved_seconds(models: list[nn.Module], resolution: int, batch: int, repeats: int) -> list[list[float]]:
    """Each model's step times, the models taking turns for `repeats` rounds after two warm-up steps each."""
    generator = torch.Generator().manual_seed(0)
    data = (
        torch.randn(batch, 3, resolution, resolution, generator=generator),
        torch.randint(0, 10, (batch,), generator=generator),
    )
    for model in models:
        one_step(model, data)
        one_step(model, data)
    seconds: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for k, model in enumerate(models):
            seconds[k].append(one_step(model, data))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64, help="images per step")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--forms", nargs="+", default=["final", "shared"], choices=["final", "shared"])
    parser.add_argument("--only", nargs="+", default=None, help="measure only these networks (and conv3x3)")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if args.only is None or v[0] in ("conv3x3", *args.only)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}")
    for form in args.forms:
        print(f"\n{form} form: ms per step (best, median), best's ratio to conv3x3, params, MFLOPs per image")
        for resolution in args.resolutions:
            models = [network(op, attention, form) for _, op, attention in variants]
            seconds = interleaved_seconds(models, resolution, args.batch, args.repeats)
            base = min(seconds[0])
            for (name, _, _), model, times in zip(variants, models, seconds):
                flops = builder.count_flops(model, resolution) / 1e6
                print(
                    f"  {resolution:>2} px  {name:<9} {1000 * min(times):>8.1f} {1000 * statistics.median(times):>8.1f}"
                    f"  x{min(times) / base:>6.2f}  {builder.count_parameters(model):>7,} params  {flops:>7.2f} MFLOPs"
                )


if __name__ == "__main__":
    main()
