"""The kinds of section an experiment file holds (``[[group]]``, ``[[search]]``, ``[[learn]]``,
``[[find]]``): one :class:`~.section.Section` each, in :data:`SECTIONS`, in the order a run
computes them. A new kind is a module that defines its Section plus one line in :func:`sections`."""
from __future__ import annotations

from nb201.registry import Registry

from .section import Section

SECTIONS: Registry[Section] = Registry("section", lambda s: s.key)


def sections() -> Registry[Section]:
    """Every kind of section, in the order a run computes them (the groups first)."""
    if not SECTIONS.names():
        from benchmark.find.experiment import FINDS
        from benchmark.learn import CURVES
        from benchmark.search.experiment import SEARCHES

        from .groups import GROUPS
        for section in (GROUPS, SEARCHES, CURVES, FINDS):
            SECTIONS.register(section)
    return SECTIONS
