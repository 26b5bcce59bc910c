"""The shared network of weight sharing (ENAS, Pham et al. 2018, section 2.3; general_child.py, `_enas_layer`):
one set of weights per (layer, operation), one stem, one skip BN per layer, one reduction per (reduction layer,
output), one classifier. A forward runs one sampled architecture: only its operations compute, so each
minibatch trains the weights of the path it sampled.

`child_state_dict` is the contract with the stand-alone child: `MacroNetwork(arch, form="shared")` loaded with
it computes exactly what `SharedNetwork(x, arch)` computes, so a derived architecture starts from the weights it
was scored with.
"""

from __future__ import annotations

import torch
from torch import nn

from nasrl.nets.macro import MacroBody, he_normal, make_operation, read_after
from nasrl.space import Architecture, SearchSpace
from nasrl.space.families.macro import op_settings_for


class SharedNetwork(MacroBody):
    """Every operation of every layer of a macro `space`, in the shared form (sum skips, constant width)."""

    def __init__(self, space: SearchSpace, num_classes: int, in_channels: int) -> None:
        if space.family.network != "macro" or "op" not in space.token_names:
            raise ValueError(f"weight sharing needs a macro space with an 'op' token, not '{space.name}'")
        names = [str(name) for name in space.token("op").choices]
        # The shared form's parts do not depend on the choices: any architecture of the space lays them out.
        super().__init__(
            space.architecture([{"op": names[0]}] * space.num_layers),
            num_classes,
            in_channels,
            "shared",
            dropout=0.0,
            every_output=True,
        )
        self.space = space
        channels, settings = int(space.channels or 0), dict(op_settings_for(names, dict(space.op_settings)))
        self.ops = nn.ModuleList(
            nn.ModuleDict({name: make_operation(name, channels, channels, **settings) for name in names})
            for _ in range(space.num_layers)
        )
        self.ops.apply(he_normal)  # the operations start as MacroBody's parts do

    def forward(self, image: torch.Tensor, arch: Architecture) -> torch.Tensor:
        return self.run(image, arch, [self.ops[i][layer.op] for i, layer in enumerate(arch.layers)])

    def child_state_dict(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """The weights (and BN statistics) `MacroNetwork(arch, form="shared")` needs, copied from this network."""
        state = {}
        for key, value in self.state_dict().items():
            if key.startswith("ops."):
                _, layer, op, rest = key.split(".", 3)
                if op != arch.layers[int(layer)].op:
                    continue
                key = f"ops.{layer}.{rest}"
            if key.startswith("reductions."):  # the child reduces only the outputs it reads later
                _, layer, output, _ = key.split(".", 3)
                if int(output) not in read_after(arch, int(layer)):
                    continue
            state[key] = value.clone()
        return state
