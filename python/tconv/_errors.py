# SPDX-License-Identifier: Apache-2.0
"""tconv.Error: every failure, from the library or from argument checks, with its message."""


class Error(ValueError):
    """A tconv failure. ``str(e)`` is the library's one-line message; ``e.kind`` its category:
    'invalid_config', 'invalid_argument', 'unsupported', 'out_of_memory', 'io' or 'internal'."""

    def __init__(self, message, kind="invalid_argument"):
        super().__init__(message)
        self.kind = kind


def fail(message):
    """Raises an argument Error."""
    raise Error(message, "invalid_argument")


def relabel(error, label):
    """The library's Error for a config it was given as text ("<string>: ...") as the same
    Error about `label` (the function or class the user called with a dict or arguments)."""
    msg = str(error)
    prefix = "<string>: "
    if msg.startswith(prefix):
        msg = f"{label}: {msg[len(prefix):]}"
    return Error(msg, error.kind)
