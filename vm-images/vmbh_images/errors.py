"""The one error type the builder reports to the user (as a single line)."""


class BuildError(Exception):
    """An input problem or a failed step; str() is the one-line message."""
