"""Reproducible command lines: :func:`command_line` renders ``python -m benchmark COMMAND ...``
wherever a plan, an experiment or the report prints the command that reproduces a number."""
from __future__ import annotations

import shlex

from .options import flag

#: how the suite's command line is invoked
PROGRAM = "python -m benchmark"


class Text(str):
    """A value written as it is, not shell-quoted (a placeholder such as ``<its 40 archs>``)."""


def command_line(command: str, *args, **options) -> str:
    """``python -m benchmark COMMAND ARGS --flag value ...``, options in the order given, each
    flag spelled by :func:`nb201.options.flag`: True is a bare flag, None and False leave it out,
    a list or tuple is a comma list; values are shell-quoted where they need it (:class:`Text`:
    never)."""
    return " ".join([PROGRAM, command, *(_value(a) for a in args)] + _flags(options))


def flags(**options) -> str:
    """The ``--flag value ...`` part of :func:`command_line` alone (``--sample 40 --seed 0``)."""
    return " ".join(_flags(options))


def _flags(options: dict) -> list[str]:
    parts = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        parts.append(f"--{flag(name)}")
        if value is not True:
            parts.append(_value(value))
    return parts


def _value(value) -> str:
    if isinstance(value, Text):
        return value
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return shlex.quote(str(value))
