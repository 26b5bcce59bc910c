"""The search space and the architectures ("DNA") drawn from it.

Everything here is plain data: a `SearchSpace` says what may be chosen per layer,
an `Architecture` is one set of choices plus the skip connections. Both print,
save and load as JSON, so a user can read and edit them, and an architecture's
hash is the same on every machine (the search's cache and store key on it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nasrl.errors import UserError


class ArchitectureError(UserError, ValueError):
    """An architecture that its search space does not allow."""


#: A token's value: a number (kernel size, filters, ...) or an operation's name.
Value = int | str


@dataclass(frozen=True)
class Token:
    """One decision the controller makes per layer: a name and its finite choices (numbers, or operation names for
    the `op` token of a macro space)."""

    name: str
    choices: tuple[Value, ...]

    def index(self, value: Value) -> int:
        return self.choices.index(value)


#: The operations of macro spaces (ENAS, Pham et al. 2018, section 2.3 and general_child.py): each conv op is a
#: 1x1 conv-BN-ReLU, then the KxK (separable) conv-BN-ReLU; each pool op a 1x1 conv-BN-ReLU, then a stride-1 pool.
OPERATIONS = ("conv3x3", "conv5x5", "conv7x7", "sep3x3", "sep5x5", "sep7x7", "avgpool3x3", "maxpool3x3")


@dataclass(frozen=True)
class SearchSpace:
    """What may be chosen: `num_layers` layers, each with the same `tokens`, and
    whether each layer picks its inputs among earlier layers (anchor points)."""

    name: str
    num_layers: int
    tokens: tuple[Token, ...]
    skips: bool
    #: Macro spaces (ENAS's): every layer has `channels` channels and one `op`; a stride-2 reduction follows each
    #: layer in `reductions` (0-based). None: a Zoph space, whose tokens set each layer's geometry.
    channels: int | None = None
    reductions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise UserError(f"A search space needs at least 1 layer, got {self.num_layers}.")

    @property
    def macro(self) -> bool:
        return self.channels is not None

    def architecture(
        self, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None = None
    ) -> Architecture:
        """An architecture of this space from per-layer choices; without `inputs` a Zoph space's layers form a chain
        and a macro space's have no skips. It carries the space's macro geometry (validate it separately)."""
        if inputs is None and self.macro:
            inputs = [[] for _ in values]
        arch = Architecture.from_layers(self.name, values, inputs)
        if not self.macro:
            return arch
        return Architecture(arch.space, arch.layers, self.channels, thirds_or(self.reductions, len(values), self))

    @property
    def token_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tokens)

    def token(self, name: str) -> Token:
        for t in self.tokens:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_layers(self, num_layers: int) -> SearchSpace:
        """The same choices over another depth (the paper's growing layer schedule); reductions at ENAS's thirds
        move with the depth, others stay where they are."""
        reductions = thirds_or(self.reductions, num_layers, self)
        return SearchSpace(self.name, num_layers, self.tokens, self.skips, self.channels, reductions)

    def size(self) -> int:
        """How many distinct architectures the space holds (skips count too)."""
        per_layer = 1
        for t in self.tokens:
            per_layer *= len(t.choices)
        total = per_layer**self.num_layers
        if self.skips:
            total *= 2 ** (self.num_layers * (self.num_layers - 1) // 2)
        return total

    def to_dict(self) -> dict:
        data = {
            "name": self.name,
            "num_layers": self.num_layers,
            "tokens": {t.name: list(t.choices) for t in self.tokens},
            "skips": self.skips,
        }
        if self.macro:
            data.update(channels=self.channels, reductions=list(self.reductions))
        return data


def enas_reductions(num_layers: int) -> tuple[int, ...]:
    """ENAS's reduction layers: after layers L//3 - 1 and 2L//3 - 1 (0-based; general_child.py, `pool_layers`)."""
    third = num_layers // 3
    return tuple(i for i in (third - 1, 2 * third - 1) if i >= 0)


def thirds_or(reductions: tuple[int, ...], num_layers: int, space: SearchSpace) -> tuple[int, ...]:
    """`space`'s reductions at another depth: ENAS's thirds when the space has them, else the same layers."""
    if space.macro and reductions == enas_reductions(space.num_layers):
        return enas_reductions(num_layers)
    return reductions


_KERNELS = (1, 3, 5, 7)
_ZOPH_TOKENS = (
    Token("filter_height", _KERNELS),
    Token("filter_width", _KERNELS),
    Token("filters", (24, 36, 48, 64)),
)
_STRIDE_TOKENS = (Token("stride_height", (1, 2, 3)), Token("stride_width", (1, 2, 3)))
_DNA_TOKENS = (
    Token("kernel", _KERNELS),
    Token("filters", (32, 64, 128, 256, 512)),
    Token("stride", (1, 2)),
    Token("pool", (1, 2, 3)),
)
#: The seed project's list form orders each layer as [kernel, filters, stride, pool].
DNA_ORDER = ("kernel", "filters", "stride", "pool")

PRESET_TOKENS: dict[str, tuple[tuple[Token, ...], bool]] = {
    # Zoph & Le 2017, CIFAR-10: strides fixed to 1, skip connections searched.
    "zoph": (_ZOPH_TOKENS, True),
    # The paper's second setting: strides searched too.
    "zoph-stride": (_ZOPH_TOKENS + _STRIDE_TOKENS, True),
    # The seed project's per-layer DNA, a plain chain without skips.
    "dna": (_DNA_TOKENS, False),
    # ENAS's macro space (Pham et al. 2018, section 2.3): one of six operations per layer, in general_child.py's
    # branch order, and one skip bit per earlier output; 36 channels while searching, reductions at the thirds.
    "enas-macro": ((Token("op", ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "avgpool3x3", "maxpool3x3")),), True),
}
DEFAULT_LAYERS = {"zoph": 15, "zoph-stride": 15, "dna": 6, "enas-macro": 12}
#: The width of each macro preset while searching (ENAS: `child_out_filters` 36 in cifar10_macro_search.sh).
MACRO_CHANNELS = {"enas-macro": 36}


def preset(name: str, num_layers: int | None = None) -> SearchSpace:
    """A named search space; `num_layers` defaults to the preset's usual depth."""
    if name not in PRESET_TOKENS:
        raise UserError(f"Unknown search space '{name}': choose one of {', '.join(PRESET_TOKENS)}.")
    tokens, skips = PRESET_TOKENS[name]
    num_layers = num_layers or DEFAULT_LAYERS[name]
    channels = MACRO_CHANNELS.get(name)
    reductions = enas_reductions(num_layers) if channels else ()
    return SearchSpace(name, num_layers, tokens, skips, channels, reductions)


def uniform_entropy(space: SearchSpace, num_layers: int | None = None) -> float:
    """The entropy (nats) of the uniform policy over the space: the most a policy can have, random search's."""
    num_layers = space.num_layers if num_layers is None else num_layers
    per_layer = sum(math.log(len(t.choices)) for t in space.tokens)
    bits = num_layers * (num_layers - 1) // 2 if space.skips else 0
    return num_layers * per_layer + bits * math.log(2)


@dataclass(frozen=True)
class Layer:
    """One layer's choices (token name -> value, sorted by name) and the earlier layers it reads.

    In a Zoph space `inputs` are 0-based indices of earlier layers, concatenated; an empty tuple means the image.
    In a macro space each layer reads the previous output, and `inputs` are its skips among the outputs before
    that one: 0 the stem, j the output of layer j (1-based), as ENAS indexes them (general_child.py)."""

    values: tuple[tuple[str, Value], ...]
    inputs: tuple[int, ...] = ()

    def __getitem__(self, name: str) -> Value:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)

    def get(self, name: str, default: Value) -> Value:
        try:
            return self[name]
        except KeyError:
            return default

    @property
    def as_dict(self) -> dict[str, Value]:
        return dict(self.values)

    @property
    def op(self) -> str:
        """A macro layer's operation (one of `OPERATIONS`)."""
        return str(self["op"])

    # The geometry every space agrees on; spaces without a token use the neutral value.
    @property
    def kernel(self) -> tuple[int, int]:
        if "kernel" in self.as_dict:
            return self["kernel"], self["kernel"]
        return self.get("filter_height", 3), self.get("filter_width", 3)

    @property
    def stride(self) -> tuple[int, int]:
        if "stride" in self.as_dict:
            return self["stride"], self["stride"]
        return self.get("stride_height", 1), self.get("stride_width", 1)

    @property
    def filters(self) -> int:
        return self["filters"]

    @property
    def pool(self) -> int:
        return self.get("pool", 1)


@dataclass(frozen=True)
class Architecture:
    """A child network as data: the space it belongs to and its layers in order."""

    space: str
    layers: tuple[Layer, ...] = field(default_factory=tuple)
    #: A macro space's geometry, carried so that the architecture alone builds its network (None: a Zoph space).
    channels: int | None = None
    reductions: tuple[int, ...] = ()

    @property
    def macro(self) -> bool:
        return self.channels is not None

    @classmethod
    def from_layers(
        cls, space: str, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None = None
    ) -> Architecture:
        """Build from per-layer dicts; without `inputs`, a plain chain (each layer reads the previous)."""
        if inputs is None:
            inputs = [[i - 1] if i else [] for i in range(len(values))]
        if len(inputs) != len(values):
            raise ArchitectureError(f"{len(values)} layers but {len(inputs)} input lists: give one per layer.")
        layers = tuple(
            Layer(tuple(sorted((str(k), _as_value(v, i, k)) for k, v in vals.items())), tuple(sorted(set(ins))))
            for i, (vals, ins) in enumerate(zip(values, inputs))
        )
        return cls(space, layers)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    # ----- validation -------------------------------------------------------------------------
    def validate(self, space: SearchSpace) -> Architecture:
        """Raise `ArchitectureError` naming the layer and token at fault; return self when valid."""
        if self.space != space.name:
            raise ArchitectureError(f"The architecture belongs to space '{self.space}', not '{space.name}'.")
        if self.num_layers != space.num_layers:
            raise ArchitectureError(
                f"The architecture has {self.num_layers} layers but space '{space.name}' has "
                f"{space.num_layers}: give exactly {space.num_layers}."
            )
        for i, layer in enumerate(self.layers):
            names = [k for k, _ in layer.values]
            missing = [t for t in space.token_names if t not in names]
            extra = [k for k in names if k not in space.token_names]
            if missing:
                raise ArchitectureError(f"Layer {i + 1} lacks token '{missing[0]}' of space '{space.name}'.")
            if extra:
                raise ArchitectureError(
                    f"Layer {i + 1} has token '{extra[0]}', which space '{space.name}' does not know "
                    f"(its tokens: {', '.join(space.token_names)})."
                )
            for tok in space.tokens:
                if layer[tok.name] not in tok.choices:
                    raise ArchitectureError(
                        f"Layer {i + 1}, token '{tok.name}': {layer[tok.name]} is not one of {list(tok.choices)}."
                    )
            for j in layer.inputs:
                if not 0 <= j < i:
                    raise ArchitectureError(
                        f"Layer {i + 1} takes input from layer {j + 1}, but a layer may only read earlier "
                        f"layers (1 to {i})."
                    )
            if list(layer.inputs) != sorted(set(layer.inputs)):
                raise ArchitectureError(f"Layer {i + 1}: inputs must be sorted and distinct.")
            if not space.skips and layer.inputs != ((i - 1,) if i and not space.macro else ()):
                raise ArchitectureError(
                    f"Layer {i + 1} reads {[j + 1 for j in layer.inputs]}, but space '{space.name}' has no "
                    f"skip connections: each layer reads only the previous one."
                )
        return self._validate_geometry(space)

    def _validate_geometry(self, space: SearchSpace) -> Architecture:
        """A macro architecture's channels and reductions are its space's (a Zoph one has none)."""
        if (self.channels, self.reductions) != (space.channels, space.reductions):
            raise ArchitectureError(
                f"The architecture has channels {self.channels} and reductions after layers "
                f"{[r + 1 for r in self.reductions]}, but space '{space.name}' has {space.channels} and "
                f"{[r + 1 for r in space.reductions]}: sample it from this space."
            )
        return self

    # ----- JSON and hashing -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The canonical form: tokens by name, inputs sorted (`from_layers` keeps both so)."""
        data: dict = {
            "space": self.space,
            "layers": [{**dict(layer.values), "inputs": list(layer.inputs)} for layer in self.layers],
        }
        if self.macro:  # absent for Zoph spaces, so their hashes never change
            data.update(channels=self.channels, reductions=list(self.reductions))
        return data

    def to_json(self, indent: int | None = None) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_dict(cls, data: object) -> Architecture:
        if not isinstance(data, Mapping) or "space" not in data or "layers" not in data:
            raise ArchitectureError(
                'An architecture must be a JSON object with "space" and "layers" (see `nasrl show nascnn15 --json`).'
            )
        layers = data["layers"]
        if not isinstance(layers, list) or not all(isinstance(layer, Mapping) for layer in layers):
            raise ArchitectureError('"layers" must be a list of objects, one per layer.')
        values = [{k: v for k, v in layer.items() if k != "inputs"} for layer in layers]
        inputs = []
        for i, layer in enumerate(layers):
            ins = layer.get("inputs", [i - 1] if i else [])
            if not isinstance(ins, list):
                raise ArchitectureError(f'Layer {i + 1}: "inputs" must be a list of layer indices.')
            inputs.append([_as_int(j, i, "inputs") for j in ins])
        arch = cls.from_layers(str(data["space"]), values, inputs)
        if data.get("channels") is None:
            return arch
        reductions = data.get("reductions", [])
        if not isinstance(reductions, list):
            raise ArchitectureError('"reductions" must be a list of layer indices.')
        channels = _as_int(data["channels"], 0, "channels")
        if channels < 1:
            raise ArchitectureError(f'"channels" must be a positive number, not {channels}.')
        return cls(arch.space, arch.layers, channels, tuple(_as_int(r, 0, "reductions") for r in reductions))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ArchitectureError(f"The architecture is not valid JSON ({e.msg} at line {e.lineno}).") from e
        return cls.from_dict(data)

    def hash(self) -> str:
        """A stable 16-hex-digit digest of the canonical JSON (same on every machine)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # ----- the seed project's list form ---------------------------------------------------------
    @classmethod
    def from_dna(cls, dna: Sequence[Sequence[int]]) -> Architecture:
        """`[[kernel, filters, stride, pool], ...]` -> an architecture of the `dna` space.

        A value outside the choices is an error, never clipped to the nearest choice."""
        if not isinstance(dna, Sequence) or not dna:
            raise ArchitectureError("A DNA is a non-empty list of [kernel, filters, stride, pool] layers.")
        values = []
        for i, row in enumerate(dna):
            if not isinstance(row, Sequence) or len(row) != len(DNA_ORDER):
                raise ArchitectureError(f"Layer {i + 1} of the DNA must be [kernel, filters, stride, pool].")
            values.append({name: _as_int(v, i, name) for name, v in zip(DNA_ORDER, row)})
        arch = cls.from_layers("dna", values)
        return arch.validate(preset("dna", len(values)))

    def to_dna(self) -> list[list[int]]:
        if self.space != "dna":
            raise ArchitectureError(f"Only architectures of space 'dna' have the list form, not '{self.space}'.")
        return [[layer[name] for name in DNA_ORDER] for layer in self.layers]


def _as_value(value: object, layer: int, token: str) -> Value:
    """A token's value: an operation's name stays a string, anything else must be an integer."""
    return value if isinstance(value, str) and token == "op" else _as_int(value, layer, token)


def _as_int(value: object, layer: int, token: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArchitectureError(f"Layer {layer + 1}, token '{token}': {value!r} is not an integer.")
    return value
