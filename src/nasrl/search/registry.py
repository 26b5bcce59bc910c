"""Named kinds of one sort (strategies, evaluators), each registered by its own module, as timm's `@register_model`.

The registry imports every module of its package the first time a name is looked up, so a new kind is one new
file in that package plus its tests: nothing else lists it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from nasrl.errors import UserError

KindT = TypeVar("KindT")


class Registry(Generic[KindT]):
    """The kinds of one `sort` ("strategy"), registered by the modules of `package`, in registration order."""

    def __init__(self, sort: str, package: str) -> None:
        self.sort = sort
        self.package = package
        self.kinds: dict[str, KindT] = {}
        self.discovered = False  # every module imported (a module imported directly registers only itself)

    def add(self, name: str, kind: KindT) -> None:
        if name in self.kinds:
            raise ValueError(f"Two {self.sort} kinds are registered as '{name}'.")
        self.kinds[name] = kind

    def discover(self) -> None:
        if self.discovered:
            return
        self.discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")

    def names(self) -> tuple[str, ...]:
        self.discover()
        return tuple(self.kinds)

    def get(self, name: str) -> KindT:
        """The kind called `name`; an unknown name is one sentence listing the known ones."""
        self.discover()
        if name not in self.kinds:
            raise UserError(f"Unknown {self.sort} '{name}': choose one of {', '.join(self.kinds)}.")
        return self.kinds[name]

    def find(self, name: object) -> KindT | None:
        """The kind called `name`, or None (a run folder from elsewhere, a missing field)."""
        self.discover()
        return self.kinds.get(name) if isinstance(name, str) else None

    def help(self, summary: Callable[[KindT], str]) -> str:
        """Each kind with its one-line summary, for help texts."""
        self.discover()
        return "; ".join(f"{name}: {summary(kind)}" for name, kind in self.kinds.items())
