"""The layering rules of ``pytest_vlmbench``, checked on the source with :mod:`ast`.

Nothing here imports the package: every rule is read off the files, so a broken or slow
import cannot hide a violation. The rules:

1. no import cycle among the package's modules, function-local imports included;
2. package-internal imports live at module top, never inside a function or method;
3. only ``pytest_vlmbench/plugin/`` imports pytest (``pytest``, ``_pytest``, ``pytest_benchmark``);
4. no module is over :data:`MAX_LINES` lines;
5. heavy third-party libraries are imported only inside functions (or ``if TYPE_CHECKING:``).

Whether collecting the shipped suites imports a heavy library is checked end to end in
``test_end_to_end.py::test_collect_only_imports_no_torch_and_loads_nothing``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pytest_vlmbench"
PLUGIN = f"{PACKAGE}.plugin"

HEAVY = ("torch", "transformers", "datasets", "sklearn", "PIL", "numpy", "tokenizers", "huggingface_hub", "safetensors", "pynvml")
"""Third-party libraries that are imported lazily, inside the functions that need them."""
PYTEST_SIDE = ("pytest", "_pytest", "pytest_benchmark")
"""What only the plugin may import: the library runs without pytest."""
MAX_LINES = 400


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
    def internal(self) -> bool:
        return self.top == PACKAGE

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.lineno}: {self.text}"


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


@cache
def package_modules() -> dict[str, Module]:
    return scan(ROOT / PACKAGE)


@cache
def package_imports() -> dict[str, list[ImportStmt]]:
    modules = package_modules()
    return {name: list(imports_of(m, modules)) for name, m in modules.items()}


MODULES = sorted(package_modules())
OUTSIDE_PLUGIN = [m for m in MODULES if m != PLUGIN and not m.startswith(f"{PLUGIN}.")]


def fail_on(offending: list[str], rule: str) -> None:
    """Fail with ``rule`` and each offending line once (a multi-name import is one line)."""
    if offending:
        pytest.fail(f"{rule}:\n" + "\n".join(f"    {line}" for line in dict.fromkeys(offending)), pytrace=False)


# 1 -----------------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    graph = import_graph(package_modules())
    if cycles(graph):
        pytest.fail(
            "Import cycles (function-local imports count; a function-local import that dodges a cycle "
            "is still one: move the shared piece down a layer instead):\n" + describe_cycles(graph),
            pytrace=False,
        )


# 2 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_package_imports_at_module_top(module: str) -> None:
    bad = [s.where for s in package_imports()[module] if s.internal and s.in_function and not s.type_checking]
    fail_on(
        bad, f"{module} imports package modules inside functions; import them at module top "
        "(only heavy third-party libraries are imported lazily)"
    )  # fmt: skip


# 3 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", OUTSIDE_PLUGIN)
def test_only_the_plugin_imports_pytest(module: str) -> None:
    bad = [s.where for s in package_imports()[module] if s.top in PYTEST_SIDE]
    fail_on(
        bad, f"{module} imports pytest-side code ({', '.join(PYTEST_SIDE)}); only {PLUGIN} may, "
        "so that the library runs without pytest"
    )  # fmt: skip


# 4 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_module_is_at_most_max_lines(module: str) -> None:
    m = package_modules()[module]
    if m.lines > MAX_LINES:
        pytest.fail(f"{m.path.relative_to(ROOT)} has {m.lines} lines (at most {MAX_LINES}); split it.", pytrace=False)


# 5 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_heavy_libraries_only_inside_functions(module: str) -> None:
    bad = [s.where for s in package_imports()[module] if s.top in HEAVY and not s.in_function and not s.type_checking]
    fail_on(
        bad, f"{module} imports a heavy library at import time; import it inside the function that needs it "
        "(or under `if TYPE_CHECKING:` for annotations)"
    )  # fmt: skip


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
