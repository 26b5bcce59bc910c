"""The package's shape, checked from its source with `ast`: imports point down and never form a cycle, nothing
imports the CLI, no module imports another module's `_private` names, functions stay short, and no module but a
registry grows an `if` on a strategy's or an evaluator's name.

Each rule is a function over a package folder that returns its offenders as readable lines; the tests at the end
run them on src/nasrl, and the tests before them run them on tiny packages written to tmp_path, so a rule that
finds nothing has shown first that it can find something."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "nasrl"

#: A function's length from its `def` line to the end of its body, docstring included: one screen to read.
MAX_FUNCTION_LINES = 80

#: The names strategies and evaluators register under: comparing a config value with one of them outside the
#: registries is the `if` on a name that a registry replaces.
REGISTERED_NAMES = frozenset(
    {"reinforce", "ppo", "a2c", "es", "evolution", "random", "local", "train", "shared", "synthetic", "benchmark"}
)

#: The registries themselves may compare names (files relative to src/).
REGISTRIES = frozenset({"nasrl/search/strategies/registry.py", "nasrl/search/evaluators/registry.py"})

#: Comparisons with one of those words that are about something else: (file relative to src/, the comparison as
#: `ast.unparse` writes it) -> why it is not a strategy's or an evaluator's name.
NOT_A_REGISTERED_NAME: dict[tuple[str, str], str] = {
    ("nasrl/data/sources.py", "spec.split_arg == 'train'"): "torchvision data sets take `train=` or `split=`",
    ("nasrl/data/sources.py", "split == 'train'"): "a data set's train split, not the train evaluator",
    ("nasrl/data/sources.py", "parts[-3] not in ('train', 'test')"): "an image archive's train/ and test/ folders",
    ("nasrl/data/sources.py", "source == 'synthetic'"): "the synthetic data source (`--data synthetic`)",
    ("nasrl/nets/macro.py", "form == 'shared'"): "the macro network's form (shared supernet or final child)",
    ("nasrl/nets/macro.py", "self.form == 'shared'"): "the macro network's form (shared supernet or final child)",
    ("nasrl/config.py", "self.executor.name != 'local'"): "the local executor (`--executor local`), not local search",
    ("nasrl/config.py", "'benchmark' in overrides"): "the `--benchmark` flag (which table), not the evaluator",
}


# ---------------------------------------------------------------------------------------------------------------
# Reading a package
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    """One source file of the package: its dotted name, its path, and whether it is a package's `__init__`."""

    name: str
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        """The package relative imports start from: the module itself for an `__init__`, else its parent."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(), filename=str(self.path))


def modules(src: Path, package: str) -> dict[str, Module]:
    """Every module of `package` under `src`, by dotted name."""
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def where(module: Module, node: ast.AST, src: Path) -> str:
    return f"{module.path.relative_to(src)}:{getattr(node, 'lineno', '?')}"


@dataclass(frozen=True)
class Imported:
    """One name an import statement brings in: the module it resolves to (a submodule when the name is one), the
    name itself when it is not a module (`from a import b` with b a function), and the statement."""

    module: str
    name: str | None
    node: ast.stmt


def imports(module: Module, known: dict[str, Module]) -> Iterator[Imported]:
    """Every import in the module, at any depth (inside functions, `if TYPE_CHECKING:` and `try:` too): a lazy
    import that closes a cycle still couples the two modules."""
    for node in ast.walk(module.tree()):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(alias.name, None, node)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:
                    yield Imported(submodule, None, node)
                else:
                    yield Imported(base, alias.name, node)


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(src: Path, package: str) -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}, within the package.

    Importing `a.b.c` also runs the packages `a` and `a.b` (Python loads them first), so those count too, except a
    module's own enclosing packages: they are always loaded (if half-initialised) before the module runs, so a
    package `__init__` importing its own submodules, which then import from their package, is no cycle."""
    known = modules(src, package)
    graph: dict[str, dict[str, int]] = {name: {} for name in known}
    for name, module in known.items():
        own = set(_ancestors(name))
        for imp in imports(module, known):
            for target in [*_ancestors(imp.module), imp.module]:
                if target in known and target != name and target not in own:
                    graph[name].setdefault(target, imp.node.lineno)
    return graph


# ---------------------------------------------------------------------------------------------------------------
# The rules: each returns its offenders, one readable line each
# ---------------------------------------------------------------------------------------------------------------


def import_cycles(src: Path, package: str) -> list[str]:
    """One line per group of modules that import each other (a strongly connected component of the import graph),
    with one cycle through it spelled out, each step with the line of its import."""
    graph = import_graph(src, package)
    lines = []
    for component in _strongly_connected(graph):
        cycle = _a_cycle(graph, component)
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:]))
        lines.append(f"{', '.join(sorted(component))}: {steps} -> {cycle[-1]}")
    return sorted(lines)


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """Tarjan's algorithm; only components of two or more modules (a module never imports itself here)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _a_cycle(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth first), start repeated at the end."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    return [*paths[node], start]
                if nxt in component and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"{component} is not strongly connected")  # pragma: no cover


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(src: Path, package: str) -> list[str]:
    """Another module's `_private` names, imported (`from a import _b`, or a `_private` module) or reached through
    an imported module (`a._b`). A module may of course use its own."""
    known = modules(src, package)
    lines = []
    for name, module in known.items():
        bound: dict[str, str] = {}  # local name -> package module it is bound to
        for imp in imports(module, known):
            if not imp.module.startswith(package):
                continue
            node = imp.node
            if imp.name is not None and _private(imp.name) and imp.module != name:
                lines.append(f"{where(module, node, src)}: imports {imp.name} from {imp.module}")
            elif imp.name is None and any(_private(part) for part in imp.module.split(".")) and imp.module != name:
                lines.append(f"{where(module, node, src)}: imports the private module {imp.module}")
            for alias in node.names:
                if imp.name is None and isinstance(node, ast.ImportFrom) and imp.module.endswith(f".{alias.name}"):
                    bound[alias.asname or alias.name] = imp.module
                elif isinstance(node, ast.Import) and alias.name == imp.module:
                    bound[alias.asname or alias.name.split(".")[0]] = imp.module if alias.asname else package
        for node in ast.walk(module.tree()):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = _module_of(node.value, bound, known)
                if owner is not None and owner != name:
                    lines.append(f"{where(module, node, src)}: uses {ast.unparse(node)} (private to {owner})")
    return sorted(set(lines))


def _module_of(expr: ast.expr, bound: dict[str, str], known: dict[str, Module]) -> str | None:
    """The package module a name or a dotted chain (`a`, `pkg.a`) stands for, if it stands for one."""
    if isinstance(expr, ast.Name):
        return bound.get(expr.id)
    if isinstance(expr, ast.Attribute):
        parent = _module_of(expr.value, bound, known)
        if parent is not None and f"{parent}.{expr.attr}" in known:
            return f"{parent}.{expr.attr}"
    return None


def cli_imports(src: Path, package: str, cli: str = "cli") -> list[str]:
    """Imports of the command-line module from anywhere else in the package: the CLI sits on top."""
    known = modules(src, package)
    target = f"{package}.{cli}"
    lines = []
    for name, module in known.items():
        if name == target or name.startswith(f"{target}."):
            continue
        for imp in imports(module, known):
            if imp.module == target or imp.module.startswith(f"{target}."):
                lines.append(f"{where(module, imp.node, src)}: imports {imp.module}")
    return sorted(set(lines))


def long_functions(src: Path, package: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions and methods (nested ones too) longer than `limit` lines from `def` to their last line."""
    lines = []
    for module in modules(src, package).values():
        for node in ast.walk(module.tree()):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    lines.append(f"{where(module, node, src)}: {node.name} is {length} lines")
    return sorted(lines)


def name_comparisons(
    src: Path,
    package: str,
    names: frozenset[str] = REGISTERED_NAMES,
    exempt_files: frozenset[str] = REGISTRIES,
    allowed: dict[tuple[str, str], str] | None = None,
) -> list[str]:
    """`==`, `!=`, `in` and `not in` (a tuple, list or set of literals too) and `match` cases against a registered
    name, outside the registries and the allow-list."""
    allowed = NOT_A_REGISTERED_NAME if allowed is None else allowed
    lines = []
    for module in modules(src, package).values():
        rel = module.path.relative_to(src).as_posix()
        if rel in exempt_files:
            continue
        for node in ast.walk(module.tree()):
            if _compares_a_name(node, names):
                text = ast.unparse(node)
                if (rel, text) not in allowed:
                    lines.append(f"{where(module, node, src)}: {text}")
    return sorted(lines)


def _compares_a_name(node: ast.AST, names: frozenset[str]) -> bool:
    def literal(expr: ast.AST) -> bool:
        return isinstance(expr, ast.Constant) and expr.value in names

    if isinstance(node, ast.MatchValue):
        return literal(node.value)
    if not isinstance(node, ast.Compare):
        return False
    operands = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, operands, operands[1:]):
        if isinstance(op, (ast.Eq, ast.NotEq)) and (literal(left) or literal(right)):
            return True
        if isinstance(op, (ast.In, ast.NotIn)):
            members = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else []
            if literal(left) or any(literal(m) for m in members):
                return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# The rules, on tiny packages: each finds what it should, and nothing else
# ---------------------------------------------------------------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under `root` from {path relative to root: source}; every folder gets an `__init__.py`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root / "pkg", *(p for p in (root / "pkg").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return root


def test_the_cycle_rule_finds_two_modules_that_import_each_other(tmp_path):
    src = write_package(tmp_path, {"pkg/a.py": "import pkg.b\n", "pkg/b.py": "from pkg.a import thing\n"})
    assert import_cycles(src, "pkg") == ["pkg.a, pkg.b: pkg.a (line 1) -> pkg.b (line 1) -> pkg.a"]


def test_the_cycle_rule_counts_lazy_relative_and_submodule_imports(tmp_path):
    src = write_package(
        tmp_path,
        {
            "pkg/a.py": "def f():\n    from pkg.sub import b\n",  # b is a module: this imports pkg.sub.b
            "pkg/sub/b.py": "from . import c\n",
            "pkg/sub/c.py": "from .. import a\n",
        },
    )
    (cycle,) = import_cycles(src, "pkg")
    assert cycle.startswith("pkg.a, pkg.sub.b, pkg.sub.c: pkg.a (line 2) -> pkg.sub.b (line 1) -> pkg.sub.c (line 1)")


def test_the_cycle_rule_counts_the_packages_an_import_loads(tmp_path):
    src = write_package(
        tmp_path,
        {"pkg/sub/__init__.py": "from pkg.sub.b import thing\n", "pkg/sub/b.py": "import pkg.a\n", "pkg/a.py": ""},
    )
    assert import_cycles(src, "pkg") == []
    (tmp_path / "pkg/a.py").write_text("from pkg.sub.c import other\n")  # loads pkg.sub, which loads pkg.sub.b
    (tmp_path / "pkg/sub/c.py").write_text("other = 1\n")
    (cycle,) = import_cycles(src, "pkg")
    assert cycle.startswith("pkg.a, pkg.sub, pkg.sub.b:")


def test_a_package_init_importing_its_own_submodules_is_no_cycle(tmp_path):
    src = write_package(
        tmp_path,
        {"pkg/sub/__init__.py": "from pkg.sub.b import thing\n", "pkg/sub/b.py": "from pkg.sub import other\n"},
    )
    assert import_cycles(src, "pkg") == []


def test_the_private_rule_finds_private_names_from_another_module_only(tmp_path):
    src = write_package(
        tmp_path,
        {
            "pkg/a.py": "_hidden = 1\n_mine = _hidden\n__all__ = []\n",
            "pkg/b.py": "from pkg.a import _hidden, __all__\nfrom pkg import a\nx = a._mine\ny = a.__name__\n",
            "pkg/c.py": "import pkg._inner as inner\nimport pkg.a\nz = pkg.a._mine\n",
            "pkg/_inner.py": "",
        },
    )
    assert private_imports(src, "pkg") == [
        "pkg/b.py:1: imports _hidden from pkg.a",
        "pkg/b.py:3: uses a._mine (private to pkg.a)",
        "pkg/c.py:1: imports the private module pkg._inner",
        "pkg/c.py:3: uses pkg.a._mine (private to pkg.a)",
    ]


def test_the_cli_rule_finds_every_way_of_importing_the_cli(tmp_path):
    src = write_package(
        tmp_path,
        {
            "pkg/cli.py": "from pkg import a\n",
            "pkg/a.py": "def f():\n    from pkg import cli\n",
            "pkg/b.py": "from pkg.cli import main\n",
            "pkg/c.py": "from . import cli as c\n",
        },
    )
    assert cli_imports(src, "pkg") == [
        "pkg/a.py:2: imports pkg.cli",
        "pkg/b.py:1: imports pkg.cli",
        "pkg/c.py:1: imports pkg.cli",
    ]


def test_the_length_rule_counts_from_def_to_the_last_line_docstring_included(tmp_path):
    def function(name: str, indent: str, lines: int) -> str:  # `lines` long, counting its def and docstring
        return f'{indent}def {name}(self):\n{indent}    """Docstring."""\n' + f"{indent}    x = 1\n" * (lines - 2)

    source = "@staticmethod\n" + function("fits", "", 80) + "\n\nclass C:\n" + function("too_long", "    ", 81)
    src = write_package(tmp_path, {"pkg/a.py": source + "\n" + function("short", "    ", 3)})
    assert long_functions(src, "pkg") == ["pkg/a.py:85: too_long is 81 lines"]


def test_the_name_rule_finds_comparisons_with_registered_names_outside_registries(tmp_path):
    src = write_package(
        tmp_path,
        {
            "pkg/a.py": (
                "if cfg.strategy == 'ppo': pass\n"
                "if 'random' != s: pass\n"
                "if s in ('evolution', 'other'): pass\n"
                "if s not in {'train'}: pass\n"
                "match s:\n    case 'shared': pass\n"
                "if s == 'relu' or s in names or s is 'ppo': pass\n"
                "if mode == 'train': pass\n"
            ),
            "pkg/registry.py": "if s == 'ppo': pass\n",
        },
    )
    found = name_comparisons(
        src,
        "pkg",
        exempt_files=frozenset({"pkg/registry.py"}),
        allowed={("pkg/a.py", "mode == 'train'"): "torch's training mode"},
    )
    assert found == [
        "pkg/a.py:1: cfg.strategy == 'ppo'",
        "pkg/a.py:2: 'random' != s",
        "pkg/a.py:3: s in ('evolution', 'other')",
        "pkg/a.py:4: s not in {'train'}",
        "pkg/a.py:6: 'shared'",
    ]


# ---------------------------------------------------------------------------------------------------------------
# The rules, on nasrl
# ---------------------------------------------------------------------------------------------------------------


def offenders(rule: str, found: list[str]) -> str:
    return f"{len(found)} {rule}:\n  " + "\n  ".join(found)


def test_the_package_is_where_these_tests_look():
    assert f"{PACKAGE}.cli" in modules(SRC, PACKAGE) and len(modules(SRC, PACKAGE)) > 20


def test_no_import_cycle_between_nasrl_modules():
    found = import_cycles(SRC, PACKAGE)
    assert not found, offenders("groups of modules that import each other", found)


def test_no_module_imports_another_modules_private_names():
    found = private_imports(SRC, PACKAGE)
    assert not found, offenders("uses of another module's private names", found)


def test_nothing_imports_the_cli():
    found = cli_imports(SRC, PACKAGE)
    assert not found, offenders("imports of nasrl.cli", found)


def test_no_function_is_longer_than_80_lines():
    found = long_functions(SRC, PACKAGE)
    assert not found, offenders(f"functions over {MAX_FUNCTION_LINES} lines", found)


def test_no_strategy_or_evaluator_name_is_compared_outside_its_registry():
    found = name_comparisons(SRC, PACKAGE)
    assert not found, offenders("comparisons with a registered name outside the registries", found)


@pytest.mark.parametrize(("path", "text"), sorted(NOT_A_REGISTERED_NAME))
def test_every_allowed_name_comparison_is_still_there(path, text):
    """An allow-list entry whose comparison is gone would silently allow the next one written the same way."""
    module = Module(path, SRC / path, False)
    assert any(ast.unparse(node) == text for node in ast.walk(module.tree())), f"{path} no longer has {text}"
