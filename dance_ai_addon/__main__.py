"""``python -m dance_ai_addon ...``: the headless command-line entry point (see :mod:`.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
