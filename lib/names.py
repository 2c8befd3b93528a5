"""Names a client may give the server (image ids, label tags, model, strategy and session ids).

A name is a single path component that cannot leave the folder it is joined to: letters,
digits, ``_``, ``-``, ``+`` and ``.``, starting with a letter, digit or ``_``, with no ``..``,
no separator and no absolute path. Anything else raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import re

#: Longest name accepted (file systems allow 255 bytes per component; suffixes are added).
MAX_NAME_CHARS = 200
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]*")


def check_name(value: object, what: str) -> str:
    """``value`` if it is a safe name (see the module doc).

    Args:
        value: what the client sent.
        what: the argument's name for the message, e.g. ``"image id"``.

    Returns:
        ``value``, unchanged.

    Raises:
        ValueError: not a string, empty, too long, or not a single safe path component.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty name, got {value!r}")
    if len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{what} must be at most {MAX_NAME_CHARS} characters, got {len(value)}")
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} is not a valid name: use letters, digits, '_', '-', '+', '.' "
            "(no path separators, no '..', no absolute paths)"
        )
    return value


def is_name(value: object) -> bool:
    """Whether ``value`` passes :func:`check_name`."""
    try:
        check_name(value, "name")
    except ValueError:
        return False
    return True
