"""Space families: the kinds of search space, one file each (`zoph`, `dna`, `macro`).

A family owns what differs between kinds of space: how its architectures become the token sequence the strategies
see and back (`encode`, `decode`), what makes one valid (`validate`), and how it reads as text (`columns`, `rows`,
`notes`, `summary`); see `Family`. Everything else (tokens, skips, hashes, JSON) is the plain data of
`search_space`, which also holds the protocol and the registry, so that a `SearchSpace` can ask for its family while
the family files import only from below them.

A family registers itself with `@register_family` (as timm's `@register_model`), so adding one is one new file
(imported by `nasrl.space`) plus a network under `nets/` that `nets.builder` makes for its `network` name.
"""

from __future__ import annotations

from collections.abc import Sequence

from nasrl.space.search_space import FAMILIES, Architecture, Decisions, Family, SearchSpace, family_of, register_family

__all__ = [
    "FAMILIES",
    "Decisions",
    "Family",
    "architectures_to_decisions",
    "decisions_to_architectures",
    "family_of",
    "register_family",
]


def decisions_to_architectures(space: SearchSpace, decisions: Decisions) -> list[Architecture]:
    """Index tensors -> `Architecture` values, in `space`'s family's encoding."""
    return space.family.decode(space, decisions)


def architectures_to_decisions(space: SearchSpace, architectures: Sequence[Architecture]) -> Decisions:
    """`Architecture` values of one depth -> index tensors (the inverse of `decisions_to_architectures`).

    Raises `ArchitectureError` for an architecture that the space (at that depth) does not allow."""
    return space.family.encode(space, architectures)
