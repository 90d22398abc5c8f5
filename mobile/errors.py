"""The two ways a command fails: bad input (exit 2) and a runtime that cannot run the model (exit 1)."""


class BadInput(Exception):
    """A missing, foreign or truncated file, a wrong shape, a missing prerequisite: one line, exit 2."""


class CannotRun(Exception):
    """The runtime refused the model (an op or op version it lacks, Flex ops): its own words, exit 1."""
