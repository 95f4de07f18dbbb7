"""Errors a user can cause: the CLI prints their message on one line and exits with 2."""


class UserError(ValueError):
    """Bad input from the user (unknown proxy, malformed arch, missing file, ...)."""
