"""Who is acting: the user recorded on runs and in the registry's audit log."""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    """The login name of this process's user, or ``""`` when it cannot be told."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")
