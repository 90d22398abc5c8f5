"""The exceptions the CLI turns into one stderr line: bad input (exit 2), a missed bar (exit 1)."""


class UserError(Exception):
    """Bad input or missing prerequisites: reported as one line, never as a traceback."""


class GateFailure(Exception):
    """Training missed its bar: exit 1 with one line saying by how much; nothing is published."""


class WorkerLost(Exception):
    """A peer of a distributed job died or restarted mid-training: this worker stops with exit 1,
    so that the engine restarts it and the job resumes from its last checkpoint."""
