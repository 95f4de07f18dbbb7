"""Comma-separated lists as a user types them (``--archs 1,2``, ``--seeds``, ``--plugins``, the
finder's proxy names, ``--data-dir cifar10=DIR,...``): one rule for every one of them. Items are
stripped of spaces; a list with no item, or with an empty item (``1,,2``, a comma at an end), is a
one-line UserError."""
from __future__ import annotations

from .errors import UserError


def comma_list(text: str, what: str, noun: str) -> list[str]:
    """The stripped items of ``text``; ``what`` names the option (``--archs``) and ``noun`` its
    items (``archs``) in the message."""
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise UserError(f"{what} lists no {noun}: {text!r}")
    if not all(items):
        raise UserError(f"{what} has an empty item in {text!r} (two commas in a row, or one at "
                        "an end)")
    return items
