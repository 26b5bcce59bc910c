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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from nasrl.errors import UserError

if TYPE_CHECKING:
    import torch


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
    #: Macro spaces: the settings of operations that have one (`groups` of gconv, `se_reduction` of se3x3), as sorted
    #: (name, value) pairs; a setting left out takes its default (`families.macro.OPERATION_SETTINGS`).
    op_settings: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise UserError(f"A search space needs at least 1 layer, got {self.num_layers}.")

    @property
    def family(self) -> Family:
        """The kind of space (`space.families`): a preset's own, else the one its data says."""
        return family_of(self.name, self.channels)

    @property
    def macro(self) -> bool:
        """Whether the space carries a macro width (ENAS's); kept for callers that ask, `family` says more."""
        return self.channels is not None

    def architecture(
        self, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None = None
    ) -> Architecture:
        """An architecture of this space from per-layer choices; without `inputs` the family's default wiring (a
        Zoph chain, no macro skips). It carries the space's macro geometry (validate it separately)."""
        return self.family.architecture(self, values, inputs)

    @property
    def token_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tokens)

    def token(self, name: str) -> Token:
        for t in self.tokens:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_layers(self, num_layers: int) -> SearchSpace:
        """The same choices over another depth (the paper's growing layer schedule), as the family resizes it."""
        return self.family.resize(self, num_layers)

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
        if self.channels is not None:
            data.update(channels=self.channels, reductions=list(self.reductions))
        if self.op_settings:  # absent without them, so every earlier space reads as before
            data.update(op_settings=dict(self.op_settings))
        return data


def uniform_entropy(space: SearchSpace, num_layers: int | None = None) -> float:
    """The entropy (nats) of the uniform policy over the space: the most a policy can have, random search's."""
    num_layers = space.num_layers if num_layers is None else num_layers
    per_layer = sum(math.log(len(t.choices)) for t in space.tokens)
    bits = num_layers * (num_layers - 1) // 2 if space.skips else 0
    return num_layers * per_layer + bits * math.log(2)


#: The seed project's list form orders each layer as [kernel, filters, stride, pool]; its space is `dna`.
DNA_ORDER = ("kernel", "filters", "stride", "pool")
DNA_SPACE = "dna"


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
    #: The settings its operations read (`groups` when a layer is gconv3x3, ...), sorted (name, value) pairs; empty
    #: when no layer's operation has one, so an architecture without them serialises and hashes as it always did.
    op_settings: tuple[tuple[str, int], ...] = ()

    @property
    def macro(self) -> bool:
        """Whether the architecture carries a macro width (ENAS's); kept for callers that ask, `family` says more."""
        return self.channels is not None

    @property
    def family(self) -> Family:
        """The kind of space the architecture belongs to (`space.families`), as its space's name and data say."""
        return family_of(self.space, self.channels)

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
        """Raise `ArchitectureError` naming the layer and token at fault; return self when valid (the rules are the
        space's family's, `Family.validate`)."""
        return space.family.validate(self, space)

    # ----- JSON and hashing -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The canonical form: tokens by name, inputs sorted (`from_layers` keeps both so)."""
        data: dict = {
            "space": self.space,
            "layers": [{**dict(layer.values), "inputs": list(layer.inputs)} for layer in self.layers],
        }
        if self.channels is not None:  # absent for Zoph spaces, so their hashes never change
            data.update(channels=self.channels, reductions=list(self.reductions))
        if self.op_settings:  # absent without them, so earlier architectures' hashes never change
            data.update(op_settings=dict(self.op_settings))
        data.update(self.family.json_extra(self))
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
            inputs.append([as_int(j, i, "inputs") for j in ins])
        arch = cls.from_layers(str(data["space"]), values, inputs)
        if data.get("channels") is None:
            if "op_settings" in data:
                raise ArchitectureError('"op_settings" belong to a macro architecture, which carries "channels".')
            return arch
        reductions = data.get("reductions", [])
        if not isinstance(reductions, list):
            raise ArchitectureError('"reductions" must be a list of layer indices.')
        channels = as_int(data["channels"], 0, "channels")
        if channels < 1:
            raise ArchitectureError(f'"channels" must be a positive number, not {channels}.')
        reduced = tuple(as_int(r, 0, "reductions") for r in reductions)
        return cls(arch.space, arch.layers, channels, reduced, _op_settings(data.get("op_settings", {})))

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
        """`[[kernel, filters, stride, pool], ...]` -> an architecture of the `dna` space (`families.dna`).

        A value outside the choices is an error, never clipped to the nearest choice."""
        if not isinstance(dna, Sequence) or not dna:
            raise ArchitectureError("A DNA is a non-empty list of [kernel, filters, stride, pool] layers.")
        values = []
        for i, row in enumerate(dna):
            if not isinstance(row, Sequence) or len(row) != len(DNA_ORDER):
                raise ArchitectureError(f"Layer {i + 1} of the DNA must be [kernel, filters, stride, pool].")
            values.append({name: as_int(v, i, name) for name, v in zip(DNA_ORDER, row)})
        arch = cls.from_layers(DNA_SPACE, values)
        space = arch.family.space_of(arch)
        assert space is not None, "the dna family knows its space at any depth"
        return arch.validate(space)

    def to_dna(self) -> list[list[int]]:
        """The seed project's list form of an architecture of the `dna` space."""
        if self.space != DNA_SPACE:
            raise ArchitectureError(f"Only architectures of space 'dna' have the list form, not '{self.space}'.")
        return [[layer[name] for name in DNA_ORDER] for layer in self.layers]


def check_layers(arch: Architecture, space: SearchSpace, unskipped: Callable[[int], tuple[int, ...]]) -> None:
    """The rules every layer-by-layer family shares: the space's name and depth, each layer's tokens and choices,
    inputs only from earlier layers, sorted; without skips, layer i reads exactly `unskipped(i)`."""
    if arch.space != space.name:
        raise ArchitectureError(f"The architecture belongs to space '{arch.space}', not '{space.name}'.")
    if arch.num_layers != space.num_layers:
        raise ArchitectureError(
            f"The architecture has {arch.num_layers} layers but space '{space.name}' has "
            f"{space.num_layers}: give exactly {space.num_layers}."
        )
    for i, layer in enumerate(arch.layers):
        _check_tokens(i, layer, space)
        for j in layer.inputs:
            if not 0 <= j < i:
                raise ArchitectureError(
                    f"Layer {i + 1} takes input from layer {j + 1}, but a layer may only read earlier "
                    f"layers (1 to {i})."
                )
        if list(layer.inputs) != sorted(set(layer.inputs)):
            raise ArchitectureError(f"Layer {i + 1}: inputs must be sorted and distinct.")
        if not space.skips and layer.inputs != unskipped(i):
            raise ArchitectureError(
                f"Layer {i + 1} reads {[j + 1 for j in layer.inputs]}, but space '{space.name}' has no "
                f"skip connections: each layer reads only the previous one."
            )


def _check_tokens(i: int, layer: Layer, space: SearchSpace) -> None:
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


def check_geometry(arch: Architecture, space: SearchSpace) -> Architecture:
    """The channels and reductions an architecture carries are its space's (a Zoph one has none, so an architecture
    that carries a width never passes as a Zoph one)."""
    if (arch.channels, arch.reductions) != (space.channels, space.reductions):
        raise ArchitectureError(
            f"The architecture has channels {arch.channels} and reductions after layers "
            f"{[r + 1 for r in arch.reductions]}, but space '{space.name}' has {space.channels} and "
            f"{[r + 1 for r in space.reductions]}: sample it from this space."
        )
    return arch


def _op_settings(data: object) -> tuple[tuple[str, int], ...]:
    """A JSON object of operation settings (`{"groups": 4}`) as sorted pairs; the family checks names and values."""
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise ArchitectureError('"op_settings" must be an object of settings, e.g. {"groups": 4}.')
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArchitectureError(f'Operation setting "{key}": {value!r} is not an integer.')
    return tuple(sorted(data.items()))


def _as_value(value: object, layer: int, token: str) -> Value:
    """A token's value: an operation's name stays a string, anything else must be an integer."""
    return value if isinstance(value, str) and token == "op" else as_int(value, layer, token)


def as_int(value: object, layer: int, token: str) -> int:
    """`value` as a token's integer; a bool or anything else is an error naming the layer (1-based) and token."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArchitectureError(f"Layer {layer + 1}, token '{token}': {value!r} is not an integer.")
    return value


# ----- families: the rules that differ between kinds of space ---------------------------------------------------
# They live here, with the types they dispatch for, so that these types can ask their family (`space.family`) while
# the family files (`space/families/`) import only downwards, from here.


@dataclass
class Decisions:
    """An architecture batch as index tensors: what the controller emits and what teacher forcing feeds back.

    `tokens[b, i, t]` is the index (into `space.tokens[t].choices`) chosen for token t of layer i;
    `skips[b, i, j]` is 1 when layer j < i is an input of layer i (None for a space without skips)."""

    tokens: torch.Tensor  # [n, L, T] int64
    skips: torch.Tensor | None  # [n, L, L] float, strictly lower triangular


class Family(Protocol):
    """What one kind of search space owns (`space/families/`, one file each). Every method takes the space or
    architecture it works on: a family is a set of rules, not a container of state."""

    #: The registry's key (a preset's `family`).
    name: str
    #: Which network `nets.builder.build` makes for its architectures (families may share one: zoph and dna do).
    network: str
    #: The header of `rows` (the layer table of `nasrl show`, the log and the report).
    columns: tuple[str, ...]
    #: Spaces the family owns by name, whatever their data (the `dna` space is the dna family's).
    spaces: tuple[str, ...]

    def recognises(self, channels: int | None) -> bool:
        """Whether a space no family owns by name (a user's file) is this family's, from what its data carries."""
        ...

    def architecture(
        self, space: SearchSpace, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None
    ) -> Architecture:
        """An architecture of `space` from per-layer choices (`inputs` None: the family's default wiring)."""
        ...

    def resize(self, space: SearchSpace, num_layers: int) -> SearchSpace:
        """The same choices over another depth (the paper's growing layer schedule)."""
        ...

    def space_of(self, arch: Architecture) -> SearchSpace | None:
        """The widest space an architecture of a space no preset names can belong to; None when only the space's
        own file can say."""
        ...

    def encode(self, space: SearchSpace, architectures: Sequence[Architecture]) -> Decisions:
        """Architectures of one depth -> the index tensors a strategy samples and scores."""
        ...

    def decode(self, space: SearchSpace, decisions: Decisions) -> list[Architecture]:
        """The inverse of `encode`."""
        ...

    def validate(self, arch: Architecture, space: SearchSpace) -> Architecture:
        """Raise `ArchitectureError` naming the layer and token at fault; return `arch` when `space` allows it."""
        ...

    def rows(self, arch: Architecture) -> list[tuple[str, ...]]:
        """One row of `columns` per layer."""
        ...

    def notes(self, arch: Architecture) -> dict[int, str]:
        """Lines the layer table prints after a layer (by 0-based index), such as a reduction's."""
        ...

    def summary(self, arch: Architecture) -> str:
        """A one-line form for logs and tables."""
        ...

    def json_extra(self, arch: Architecture) -> dict:
        """Keys the JSON form carries besides space and layers (nb201's cell string); {} for most families."""
        ...

    def baseline(self, space: SearchSpace) -> Architecture:
        """The sensible default network of this space, the one a search must beat: what a user would train
        without searching (`nasrl baseline`). Where the space does not offer a choice, its nearest one."""
        ...


#: Every registered family by name, in the order their files were imported (`nasrl.space` imports them all).
FAMILIES: dict[str, Family] = {}

F = TypeVar("F", bound=type)


def register_family(cls: F) -> F:
    """Class decorator (as timm's `@register_model`): register one instance of `cls` under its `name`."""
    family = cls()
    if family.name in FAMILIES:
        raise ValueError(f"a space family named {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return cls


def family_of(space: str, channels: int | None) -> Family:
    """The family of a space, or of an architecture by its space's name: the one that owns the name, else the one
    that recognises the data (a macro architecture carries its width)."""
    owners = [family for family in FAMILIES.values() if space in family.spaces]
    found = owners or [family for family in FAMILIES.values() if family.recognises(channels)]
    if len(found) != 1:
        raise ValueError(f"{len(found)} space families claim space '{space}' (channels {channels}); expected one")
    return found[0]
