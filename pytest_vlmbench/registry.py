"""Name -> object registries with aliases, lazy ``"module:attr"`` targets and "did you mean".

Models, datasets and strategies are all looked up through a :class:`Registry`, so that a
user can add their own from a ``conftest.py`` (``MODELS.register(...)``) or from a package
entry point (group ``pytest_vlmbench.models`` / ``.datasets`` / ``.strategies``), and so
that a misspelt name produces one sentence listing what exists.

Targets may be given as ``"package.module:attribute"`` strings: nothing is imported until the
entry is actually used, which keeps ``pytest --collect-only`` free of torch.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
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


class Registry(Generic[T]):
    """A case-insensitive mapping from names and aliases to :class:`Entry` objects."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
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

        Registering a name twice is an error unless ``replace=True``: silently shadowing a
        built-in model would make results incomparable across machines.
        """
        keys = [name, *aliases]
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
        return f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.names())}."

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load_entry_points()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None
