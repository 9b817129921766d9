"""``python -m audiogen.render JOBS --out DIR`` and ``accelerate launch -m audiogen.render JOBS --out DIR``."""

import sys

from audiogen.render.cli import main

if __name__ == "__main__":
    sys.exit(main())
