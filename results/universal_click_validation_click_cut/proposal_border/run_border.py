"""``python run_border.py <lib.universal_click.evaluate arguments>`` with :mod:`borderpatch`'s proposal."""
import sys

import borderpatch
from lib.universal_click.evaluate import main

borderpatch.patch()
main(sys.argv[1:])
