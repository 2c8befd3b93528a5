import sys
import quantilepatch  # noqa: F401  (patches the proposal)
from lib.universal_click.evaluate import main
main(sys.argv[1:])
