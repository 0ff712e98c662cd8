"""``CLIError``: an error the user can act on, printed by ``dropkit`` without a traceback."""

__all__ = ["CLIError"]


class CLIError(Exception):
    """Raised by sub-commands for bad input; ``dropkit`` prints it and exits with status 2."""
