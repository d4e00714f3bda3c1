"""One exception type for every problem a user can fix (bad config, bad data).

The CLI prints these as a single line, with no traceback wall.
"""


class UserError(Exception):
    """A problem in the user's input: the message says where and how to fix it."""


class ConfigError(UserError):
    """A config key is unknown, mistyped or out of range."""


class DataError(UserError):
    """A data file is missing, malformed or unusable."""


def where(path, line=None):
    """Format a file (and line) location for error messages."""
    return f"{path}:{line}" if line is not None else str(path)


def warn(message: str) -> None:
    """One ``warning:`` line on stderr for something the run repaired or skipped (stdout stays for results)."""
    import sys

    print(f"warning: {message}", file=sys.stderr)
