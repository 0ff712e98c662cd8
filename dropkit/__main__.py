"""``python -m dropkit``: the ``dropkit`` command, e.g. ``torchrun ... -m dropkit train ...``."""

import sys

from dropkit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
