"""The architecture rules of ``pytest_vlmbench``, checked on the source with :mod:`ast`.

Nothing here imports the package: every rule is read off the files, so a broken or slow
import cannot hide a violation. One test per rule, each naming every offender at once:

1. no import cycle among the package's modules, function-local imports included;
2. package-internal imports live at module top, never inside a function or method;
3. only ``pytest_vlmbench/plugin/`` imports pytest (``pytest``, ``_pytest``, ``pytest_benchmark``);
4. heavy third-party libraries are imported only inside functions (or ``if TYPE_CHECKING:``);
5. no module over :data:`HARD_MAX_LINES` lines (:data:`MAX_LINES` is the guideline: a warning);
6. at most :data:`MAX_TOP_LEVEL` modules directly in ``pytest_vlmbench/``;
7. no package imports from a package ranked above it in :data:`LAYERS` -- function-local and
   ``TYPE_CHECKING`` imports, lazy ``"pytest_vlmbench.x.y:attr"`` references and imports of a
   top-level helper module that itself reaches a higher package all count.

Whether collecting the shipped suites imports a heavy library is checked end to end in
``test_end_to_end.py::test_collect_only_imports_no_torch_and_loads_nothing``.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pytest_vlmbench"
PLUGIN = f"{PACKAGE}.plugin"

HEAVY = (
    "torch", "torchvision", "transformers", "datasets", "sklearn", "PIL", "numpy", "tokenizers", "huggingface_hub",
    "safetensors", "pynvml", "pyarrow", "matplotlib", "seqeval", "peft", "vllm", "httpx", "accelerate", "scipy",
)  # fmt: skip
"""Third-party libraries that are imported lazily, inside the functions that need them."""
PYTEST_SIDE = ("pytest", "_pytest", "pytest_benchmark")
"""What only the plugin may import: the library runs without pytest."""
MAX_LINES = 400
"""The guideline for a module's length: over it, the size test warns."""
HARD_MAX_LINES = 600
"""The hard limit: over it, the size test fails."""
MAX_TOP_LEVEL = 8
"""Modules directly in ``pytest_vlmbench/`` (``__init__.py`` not counted): the rest lives in packages."""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("plugin", "cli"),
    ("report",),  # the HTML report shows saved runs with the session's tables and sweeps (summary, pivot)
    ("session",),
    ("training",),
    ("evaluation",),
    ("gate",),
    ("strategies",),
    ("models",),
    ("datasets",),
    ("tasks",),
    ("record",),
)
"""The package's sub-packages, highest first; a package may import only those of its own rank or below.

Top-level modules (``options``, ``registry``, ``secrets``, ``hub``, ``journal``, ``cache_dir``,
``__init__``) have no rank: anything may import them, except that what a top-level module
imports counts as imported by its importer (so ``models`` cannot reach ``strategies`` through
``options``); the cycle rule catches the rest."""


@dataclass(frozen=True)
class ImportStmt:
    """One imported name: ``from a.b import c`` gives one per name, ``import a, b`` one per module."""

    importer: str
    """Dotted name of the module holding the statement."""
    target: str
    """What it imports, absolute: the submodule when a ``from`` import names one, else the module."""
    path: Path
    lineno: int
    text: str
    """The statement, as written (``ast.unparse``)."""
    in_function: bool
    type_checking: bool
    """Inside an ``if TYPE_CHECKING:`` block: never executed."""

    @property
    def top(self) -> str:
        """The top-level package imported: ``torch`` for ``import torch.nn``."""
        return self.target.split(".")[0]

    @property
    def internal_to_importer(self) -> bool:
        """An import of the importer's own top-level package."""
        return self.top == self.importer.split(".")[0]

    @property
    def where(self) -> str:
        return f"{shown(self.path, self.importer)}:{self.lineno}: {self.text}"


def shown(path: Path, module: str) -> str:
    """``path`` from the folder holding the top package: ``pytest_vlmbench/models/api.py``."""
    depth = module.count(".") + (path.name == "__init__.py")
    return path.relative_to(path.parents[depth]).as_posix()


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    lines: int


def scan(package_dir: Path) -> dict[str, Module]:
    """Every ``.py`` file under ``package_dir``, by dotted module name (``__init__`` names its package)."""
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, is_package, ast.parse(text, filename=str(path)), len(text.splitlines()))
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute_base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts = parts[:-1]  # a plain module's `.` is its package
    keep = len(parts) - (node.level - 1)
    if keep <= 0:
        raise ValueError(f"{module.path}:{node.lineno}: relative import beyond the top-level package")
    return ".".join(parts[:keep] + ([node.module] if node.module else []))


def _longest_known(name: str, modules: Mapping[str, Module]) -> str:
    """``name`` cut to the longest prefix that is a scanned module (itself when none is)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return name


def imports_of(module: Module, modules: Mapping[str, Module]) -> Iterator[ImportStmt]:
    """Every import statement of ``module``, with whether it runs inside a function or never."""

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> Iterator[ImportStmt]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportStmt(module.name, _longest_known(alias.name, modules), module.path, node.lineno,
                                 ast.unparse(node), in_function, type_checking)  # fmt: skip
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_base(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in modules else _longest_known(base, modules)
                yield ImportStmt(module.name, target, module.path, node.lineno, ast.unparse(node), in_function, type_checking)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, in_function, True)
            for child in node.orelse:
                yield from visit(child, in_function, type_checking)
        else:
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for sub_node in ast.iter_child_nodes(node):
                yield from visit(sub_node, inner, type_checking)

    yield from visit(module.tree, False, False)


def import_graph(modules: Mapping[str, Module]) -> dict[str, list[ImportStmt]]:
    """Module -> the imports of other package modules it executes (``TYPE_CHECKING`` ones never run)."""
    return {
        name: [s for s in imports_of(m, modules) if s.target in modules and not s.type_checking]
        for name, m in modules.items()
    }


def cycles(graph: Mapping[str, list[ImportStmt]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted({s.target for s in graph[v]}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or any(s.target == v for s in graph[v]):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def describe_cycles(graph: Mapping[str, list[ImportStmt]]) -> str:
    out = []
    for component in cycles(graph):
        members = set(component)
        edges = [s for m in component for s in graph[m] if s.target in members]
        out.append(
            f"cycle among {', '.join(component)}:\n"
            + "\n".join(f"    {s.importer} -> {s.target}  ({s.where}{', in a function' if s.in_function else ''})" for s in edges)
        )
    return "\n".join(out)


def lazy_references(module: Module, modules: Mapping[str, Module]) -> Iterator[ImportStmt]:
    """The ``"pkg.mod:attr"`` strings of ``module`` that name a module of its own package.

    A registry loads them with :func:`importlib.import_module` when first used: an import that
    no statement shows, which the layering rule counts like any other (and the cycle rule does
    not: it never runs at import time).
    """
    top = module.name.split(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(f"{top}."):
            target, colon, attr = node.value.partition(":")
            if colon and attr.isidentifier() and target in modules:
                yield ImportStmt(module.name, target, module.path, node.lineno, f"lazy reference {node.value!r}", False, False)


def rank_of(name: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The layer index of module ``name`` (0 is the highest); ``None`` for a top-level module or an unranked package."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    return next((i for i, layer in enumerate(layers) if parts[1] in layer), None)


def is_top_level(module: Module) -> bool:
    """A module directly in the top package (``pkg/x.py``); the package's own ``__init__`` included."""
    return module.name.count(".") == (0 if module.is_package else 1)


def unranked_packages(modules: Mapping[str, Module], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Sub-packages that :data:`LAYERS` does not place."""
    return sorted({m.name.split(".")[1] for m in modules.values() if not is_top_level(m) and rank_of(m.name, layers) is None})


def layer_violations(modules: Mapping[str, Module], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import (of any kind) from a ranked package into a higher-ranked one, directly or through top-level modules."""
    edges = {
        name: [*(s for s in imports_of(m, modules) if s.target in modules), *lazy_references(m, modules)]
        for name, m in modules.items()
    }

    def reach(helper: str, seen: frozenset[str]) -> Iterator[tuple[str, ...]]:
        """The chains from a top-level module to the ranked modules it imports, through other top-level modules."""
        for s in edges[helper]:
            if rank_of(s.target, layers) is not None:
                yield (s.target,)
            elif s.target not in seen and is_top_level(modules[s.target]):
                yield from ((s.target, *chain) for chain in reach(s.target, seen | {s.target}))

    bad = []
    for name in sorted(edges):
        own = rank_of(name, layers)
        if own is None:
            continue
        for s in edges[name]:
            theirs = rank_of(s.target, layers)
            how = ", in a function" if s.in_function else ", for types only" if s.type_checking else ""
            if theirs is not None and theirs < own:
                bad.append(f"{name.split('.')[1]} -> {s.target.split('.')[1]}: {s.where}{how}")
            elif theirs is None and is_top_level(modules[s.target]):
                for chain in reach(s.target, frozenset({s.target})):
                    above = rank_of(chain[-1], layers)
                    if above is not None and above < own:
                        via = " -> ".join((s.target, *chain))
                        bad.append(f"{name.split('.')[1]} -> {chain[-1].split('.')[1]} through {via}: {s.where}{how}")
                        break
    return bad


@cache
def package_modules() -> dict[str, Module]:
    return scan(ROOT / PACKAGE)


def fail_on(offending: list[str], rule: str) -> None:
    """Fail with ``rule`` and each offending line once (a multi-name import is one line)."""
    if offending:
        pytest.fail(f"{rule}:\n" + "\n".join(f"    {line}" for line in dict.fromkeys(offending)), pytrace=False)


def every_import(modules: Mapping[str, Module]) -> Iterator[ImportStmt]:
    for m in modules.values():
        yield from imports_of(m, modules)


def imports_inside_functions(modules: Mapping[str, Module]) -> list[str]:
    return [s.where for s in every_import(modules) if s.internal_to_importer and s.in_function and not s.type_checking]


def pytest_outside_plugin(modules: Mapping[str, Module], plugin: str) -> list[str]:
    return [
        s.where for s in every_import(modules)
        if s.top in PYTEST_SIDE and s.importer != plugin and not s.importer.startswith(f"{plugin}.")
    ]  # fmt: skip


def heavy_at_import_time(modules: Mapping[str, Module]) -> list[str]:
    return [s.where for s in every_import(modules) if s.top in HEAVY and not s.in_function and not s.type_checking]


def longer_than(modules: Mapping[str, Module], limit: int) -> list[str]:
    return [f"{shown(m.path, m.name)}: {m.lines} lines" for m in modules.values() if m.lines > limit]


def top_level_modules(modules: Mapping[str, Module]) -> list[str]:
    return sorted(name for name, m in modules.items() if is_top_level(m) and not m.is_package)


# The rules ----------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    graph = import_graph(package_modules())
    if cycles(graph):
        pytest.fail(
            "Import cycles (function-local imports count; a function-local import that dodges a cycle "
            "is still one: move the shared piece down a layer instead):\n" + describe_cycles(graph),
            pytrace=False,
        )


def test_package_imports_at_module_top() -> None:
    fail_on(
        imports_inside_functions(package_modules()),
        "Package modules imported inside functions; import them at module top (only heavy third-party libraries are "
        "imported lazily)",
    )


def test_only_the_plugin_imports_pytest() -> None:
    fail_on(
        pytest_outside_plugin(package_modules(), PLUGIN),
        f"pytest-side code ({', '.join(PYTEST_SIDE)}) imported outside {PLUGIN}; only the plugin may, so that the "
        "library runs without pytest",
    )


def test_heavy_libraries_only_inside_functions() -> None:
    fail_on(
        heavy_at_import_time(package_modules()),
        "Heavy libraries imported at import time; import them inside the function that needs them (or under "
        "`if TYPE_CHECKING:` for annotations)",
    )


def test_module_size() -> None:
    modules = package_modules()
    if over := longer_than(modules, MAX_LINES):
        # The guideline: a warning in the summary, so a module growing past it is seen before it must be split.
        warnings.warn(f"modules over the {MAX_LINES}-line guideline: " + ", ".join(over), UserWarning, stacklevel=1)
    fail_on(longer_than(modules, HARD_MAX_LINES), f"Modules over the hard limit of {HARD_MAX_LINES} lines; split them")


def test_few_top_level_modules() -> None:
    found = top_level_modules(package_modules())
    assert len(found) <= MAX_TOP_LEVEL, (
        f"{len(found)} modules directly in {PACKAGE}/ (at most {MAX_TOP_LEVEL}); move some into a package: {', '.join(found)}"
    )


def test_layers() -> None:
    modules = package_modules()
    assert not unranked_packages(modules, LAYERS), f"packages missing from LAYERS: {unranked_packages(modules, LAYERS)}"
    fail_on(
        layer_violations(modules, LAYERS),
        "Imports from a lower package into a higher one (ranking, highest first: "
        + " > ".join(", ".join(layer) for layer in LAYERS) + "); move the shared piece down, or register it from above",
    )


# The checker itself, on a made-up package -------------------------------------------------


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Module]:
    files = {
        "toy/__init__.py": "from .a import A\n",
        "toy/a.py": "from . import b\nA = 1\n",
        "toy/b.py": "import torch\n\ndef f():\n    from .sub import c\n",
        "toy/sub/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\n",
        "toy/sub/c.py": "from .. import a\nfrom .. import A\n\nclass K:\n    def m(self):\n        import numpy\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return scan(tmp_path / "toy")


def test_checker_resolves_relative_imports(toy: dict[str, Module]) -> None:
    assert set(toy) == {"toy", "toy.a", "toy.b", "toy.sub", "toy.sub.c"}
    targets = {name: sorted(s.target for s in imports_of(m, toy)) for name, m in toy.items()}
    assert targets == {
        "toy": ["toy.a"],
        "toy.a": ["toy.b"],  # `from . import b`: the submodule, not the package
        "toy.b": ["torch", "toy.sub.c"],
        "toy.sub": ["toy.a", "typing"],
        "toy.sub.c": ["numpy", "toy", "toy.a"],  # `from .. import A` in toy/sub/c.py reads toy/__init__.py
    }


def test_checker_finds_cycles_and_placement(toy: dict[str, Module]) -> None:
    graph = import_graph(toy)
    # toy.sub's import of toy.a is TYPE_CHECKING-only; the function-local one in toy.b counts.
    assert cycles(graph) == [["toy", "toy.a", "toy.b", "toy.sub.c"]]
    assert "toy.b -> toy.sub.c" in describe_cycles(graph) and "in a function" in describe_cycles(graph)
    stmts = [s for m in toy.values() for s in imports_of(m, toy)]
    assert {(s.importer, s.target) for s in stmts if s.in_function} == {("toy.b", "toy.sub.c"), ("toy.sub.c", "numpy")}
    assert {(s.importer, s.target) for s in stmts if s.type_checking} == {("toy.sub", "toy.a")}
    assert {(s.importer, s.top) for s in stmts if s.top in HEAVY and not (s.in_function or s.type_checking)} == {("toy.b", "torch")}


@pytest.fixture
def layered(tmp_path: Path) -> dict[str, Module]:
    """Two ranked packages (``high`` above ``low``), top-level helpers, and an unranked package."""
    files = {
        "lay/__init__.py": "from .high import h\n",
        "lay/opts.py": "from .high.h import H\n",
        "lay/cfg.py": "from . import opts\n",
        "lay/high/__init__.py": "",
        "lay/high/h.py": "import pytest\nfrom ..low import l\nfrom .. import cfg\nH = 1\n",
        "lay/low/__init__.py": "",
        "lay/low/l.py": "def f():\n    from ..high import h\n",
        "lay/low/m.py": "from .. import cfg\nT = 'lay.high.h:H'\nU = 'lay.high.h'\n",
        "lay/low/n.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high.h import H\n",
        "lay/odd/__init__.py": "from ..low import m\n" + "x = 1\n" * 20,
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return scan(tmp_path / "lay")


def test_checker_ranks_layers(layered: dict[str, Module]) -> None:
    layers = (("high",), ("low",))
    assert unranked_packages(layered, layers) == ["odd"]
    assert layer_violations(layered, layers) == [
        "low -> high: lay/low/l.py:2: from ..high import h, in a function",
        "low -> high through lay.cfg -> lay.opts -> lay.high.h: lay/low/m.py:1: from .. import cfg",
        "low -> high: lay/low/m.py:2: lazy reference 'lay.high.h:H'",
        "low -> high: lay/low/n.py:3: from ..high.h import H, for types only",
    ]  # `U` names a module but no attribute: not a reference; high -> low and high -> cfg are downward
    assert layer_violations(layered, (("low",), ("high",))) == ["high -> low: lay/high/h.py:2: from ..low import l"]


def test_checker_other_rules(layered: dict[str, Module]) -> None:
    assert top_level_modules(layered) == ["lay.cfg", "lay.opts"]
    assert imports_inside_functions(layered) == ["lay/low/l.py:2: from ..high import h"]
    assert pytest_outside_plugin(layered, "lay.high") == []
    assert pytest_outside_plugin(layered, "lay.plugin") == ["lay/high/h.py:1: import pytest"]
    assert longer_than(layered, 20) == ["lay/odd/__init__.py: 21 lines"]
