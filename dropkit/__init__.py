"""dropkit: the complete, fast, tested dropout toolkit for PyTorch."""

from dropkit import functional, nn

__version__ = "0.1.0"

__all__ = ["functional", "nn", "__version__"]
