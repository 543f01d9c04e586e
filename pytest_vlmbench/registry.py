"""Name -> object registries with aliases, lazy ``"module:attr"`` targets and "did you mean".

Models, datasets and strategies are all looked up through a :class:`Registry`, so that a
user can add their own from a ``conftest.py`` (``MODELS.register(...)``) or from a package
entry point (group ``pytest_vlmbench.models`` / ``.datasets`` / ``.strategies``), and so
that a misspelt name produces one sentence listing what exists.

Targets may be given as ``"package.module:attribute"`` strings: nothing is imported until the
entry is actually used, which keeps ``pytest --collect-only`` free of torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(LookupError):
    """Raised for a name that no registry entry answers to; the message is user-facing."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object."""

    name: str
    """Canonical name, used in item ids and JSON."""
    target: T | str
    """The object, or a lazy ``"module:attr"`` reference to it."""
    aliases: tuple[str, ...] = ()
    """Other names that resolve to this entry."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form description (family, hub id, supported strategies ...) shown by ``vlmbench``."""

    def load(self) -> T:
        """Return the target, importing it first when it is a ``"module:attr"`` string."""
        if isinstance(self.target, str):
            return import_target(self.target)  # type: ignore[no-any-return]
        return self.target


def import_target(spec: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def plural(kind: str) -> str:
    """``model`` -> ``models``, ``strategy`` -> ``strategies``, ``class`` -> ``classes``."""
    if kind.endswith("y") and kind[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return kind[:-1] + "ies"
    if kind.endswith(("s", "x", "z", "ch", "sh")):
        return kind + "es"
    return kind + "s"


def _code_identity(obj: Any) -> tuple[Any, ...] | None:
    """Where a function or class is defined (module, qualified name and, for a function, file
    and first line: two lambdas of one module share a qualified name); ``None`` for other objects."""
    if isinstance(obj, type) or isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        code = getattr(obj, "__code__", None)
        where = (code.co_filename, code.co_firstlineno) if code is not None else ()
        return (obj.__module__, obj.__qualname__, *where)
    return None


def same_definition(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` define the same registry target (see :meth:`Registry.register`).

    Equal values, or built the same way from the same code: functions and classes are the
    same when defined at the same place (module, qualified name, file and line), so the
    new function objects of a ``conftest.py`` imported a second time match the first ones;
    dataclass instances are compared field by field, *every* field (those excluded from
    ``==`` such as :attr:`ModelSpec.meta <pytest_vlmbench.models.base.ModelSpec.meta>`
    included); tuples, lists, dicts, bound methods and ``functools.partial`` part by part.
    """
    if a is b:
        return True
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return same_definition((a.func, a.args, a.keywords), (b.func, b.args, b.keywords))
    if isinstance(a, types.MethodType) and isinstance(b, types.MethodType):
        return same_definition((a.__func__, a.__self__), (b.__func__, b.__self__))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if not (dataclasses.is_dataclass(b) and not isinstance(b, type)) or not same_definition(type(a), type(b)):
            return False
        return all(same_definition(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_definition(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_definition(a[k], b[k]) for k in a)
    ident = _code_identity(a)
    if ident is not None:
        return ident == _code_identity(b)
    try:
        return bool(a == b)
    except Exception:  # an object whose == raises or is ambiguous (arrays) is not "the same"
        return False


class Registry(Generic[T]):
    """A case-insensitive mapping from names and aliases to :class:`Entry` objects."""

    def __init__(self, kind: str, entry_point_group: str | None = None, *, kind_plural: str | None = None) -> None:
        self.kind = kind
        self.kind_plural = kind_plural or plural(kind)
        """The kind in the plural, for messages ("Known strategies: ...")."""
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry[T]] = {}
        self._lookup: dict[str, str] = {}
        self._entry_points_loaded = entry_point_group is None

    def register(
        self,
        name: str,
        target: T | str,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        replace: bool = False,
        **meta: Any,
    ) -> Entry[T]:
        """Register ``target`` under ``name`` (and ``aliases``); returns the entry.

        Registering the same definition again is a no-op that returns the existing entry:
        ``pytest-benchmark compare`` imports a ``conftest.py`` twice, and a second
        ``pytest.main()`` in one process re-imports it. The same definition means the same
        name, the same aliases (in the same order), equal ``meta`` and the same target: the
        same object or ``"module:attr"`` string, or one built the same way from the same
        code (:func:`same_definition`). A :class:`~pytest_vlmbench.models.base.ModelSpec`
        built twice from the same arguments is the same definition: its fields are compared
        one by one, ``meta`` included (``ModelSpec``'s own ``==`` ignores ``meta``, but a
        second registration that describes the model differently is a different
        definition), and a ``factory`` function counts as the same when it is defined at the
        same place (module, qualified name, file and line), so a re-imported conftest's
        new function object matches.

        Anything else under a name or alias already taken is an error unless
        ``replace=True``: silently shadowing a built-in model would make results
        incomparable across machines.
        """
        keys = [name, *aliases]
        existing = self._entries.get(name)
        if (
            existing is not None
            and not replace
            and existing.aliases == tuple(aliases)
            and same_definition(existing.meta, dict(meta))
            and same_definition(existing.target, target)
        ):
            return existing
        for key in keys:
            owner = self._lookup.get(key.lower())
            if owner is not None and not replace:
                raise ValueError(
                    f"{self.kind} name {key!r} is already registered (for {owner!r}); "
                    f"pass replace=True to override it."
                )
        if replace and name in self._entries:
            self.unregister(name)
        entry = Entry(name=name, target=target, aliases=tuple(aliases), meta=dict(meta))
        self._entries[name] = entry
        for key in keys:
            self._lookup[key.lower()] = name
        return entry

    def unregister(self, name: str) -> None:
        entry = self._entries.pop(name)
        for key in (entry.name, *entry.aliases):
            self._lookup.pop(key.lower(), None)

    def decorator(self, name: str, **kwargs: Any) -> Callable[[T], T]:
        """``@MODELS.decorator("my-model")`` form of :meth:`register`."""

        def wrap(obj: T) -> T:
            self.register(name, obj, **kwargs)
            return obj

        return wrap

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        assert self.entry_point_group is not None
        for ep in entry_points(group=self.entry_point_group):
            if ep.name.lower() not in self._lookup:
                self.register(ep.name, ep.value)  # lazy: imported on first use

    def find(self, name: str) -> Entry[T] | None:
        """Return the entry for ``name`` or an alias of it, or ``None``."""
        self._load_entry_points()
        canonical = self._lookup.get(name.lower())
        return None if canonical is None else self._entries[canonical]

    def get(self, name: str) -> Entry[T]:
        """Like :meth:`find` but raises :class:`UnknownNameError` with a suggestion."""
        entry = self.find(name)
        if entry is None:
            raise UnknownNameError(self.unknown_message(name))
        return entry

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name.lower(), list(self._lookup), n=1, cutoff=0.5)
        hint = f" Did you mean {self._lookup[close[0]]!r}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Known {self.kind_plural}: {', '.join(self.names())}."

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load_entry_points()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None
