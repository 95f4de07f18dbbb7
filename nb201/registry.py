"""The suite's one registry type: named things (proxies, search strategies), filled by explicit
imports. It refuses duplicate names, suggests the closest name on a typo, and can resolve names
that follow a pattern through a *family* factory (training specs like ``c4r4s0e40@20``)."""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Items of one kind by name. ``what`` names the kind in messages ("proxy"); ``name_of`` reads
    an item's name; ``listing`` says where a user finds the names (default: the names)."""

    def __init__(self, what: str, name_of: Callable[[T], str], listing: str | None = None):
        self.what, self.name_of, self.listing = what, name_of, listing
        self._items: dict[str, T] = {}
        self._families: list[tuple[str, Callable[[str, Registry[T]], T | None]]] = []

    def register(self, item: T) -> T:
        name = self.name_of(item)
        if not name:
            raise ValueError(f"a {self.what} without a name: {item!r}")
        if name in self._items:
            raise ValueError(f"a {self.what} named {name!r} is already registered")
        self._items[name] = item
        return item

    def family(self, pattern: str, factory: Callable[[str, Registry[T]], T | None]) -> None:
        """Register a factory for names that no fixed item has; ``pattern`` is shown to users. It is
        called with the name and the registry asked (a family whose items name other items, e.g.
        a learned proxy's features, resolves them there)."""
        self._families.append((pattern, factory))

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        for _, factory in self._families:
            item = factory(name, self)
            if item is not None:
                return item
        close = difflib.get_close_matches(name, list(self._items), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        where = self.listing or f"choose from {', '.join(self._items)}"
        patterns = "".join(f" or {p}" for p, _ in self._families)
        raise UserError(f"unknown {self.what} {name!r}{hint} ({where}{patterns})")

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return list(self._items)

    def patterns(self) -> list[str]:
        return [p for p, _ in self._families]

    def copy(self) -> Registry[T]:
        """A registry with the same items and families, to add to without touching this one."""
        other = Registry(self.what, self.name_of, self.listing)
        other._items, other._families = dict(self._items), list(self._families)
        return other
