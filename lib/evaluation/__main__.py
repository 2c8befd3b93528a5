"""``python -m lib.evaluation``: see :mod:`lib.evaluation.cli`."""

from lib.evaluation.cli import main

if __name__ == "__main__":
    main()
