"""dropkit: the complete, fast, tested dropout toolkit for PyTorch."""

from dropkit import functional, nn
from dropkit.errors import DropkitInputError, DropkitTypeError

__version__ = "0.1.0"

__all__ = ["functional", "nn", "__version__"]
__all__ += ["DropkitInputError", "DropkitTypeError"]
