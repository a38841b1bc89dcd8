"""What every subcommand shares: the bad-input error and loading a spec or saved model."""
from __future__ import annotations

from ..language.spec import SpecError
from ..model import load

__all__ = ["CommandError", "load_net", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class CommandError(Exception):
    """Bad input found by a subcommand: ``lines`` go to stderr, ``code`` is the exit code."""

    def __init__(self, lines, code: int = EXIT_BAD_INPUT):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.code = code
        super().__init__("\n".join(self.lines))


# --------------------------------------------------------------------------- shared helpers
def load_net(path: str, seed: int = 0):
    """``dyngraph.load(path, seed)`` with every bad-input failure turned into CommandError.

    A spec error keeps its problems one per line; a missing / unreadable file or a broken
    saved model gives one line naming the path.
    """
    try:
        return load(path, seed=seed)
    except SpecError as err:
        raise CommandError([str(p) for p in err.problems] or [str(err)]) from None
    except OSError as err:
        raise CommandError(f"{path}: cannot read: {err.strerror or err}") from None
    except ValueError as err:                    # broken saved models (store.ModelError)
        message = str(err)
        raise CommandError(message if path in message else f"{path}: {message}") from None
