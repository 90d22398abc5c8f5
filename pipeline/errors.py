"""The one exception the CLI turns into a single stderr line and exit code 2."""


class UserError(Exception):
    """Bad input or missing prerequisites: reported as one line, never as a traceback."""
