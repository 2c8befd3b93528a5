import sys
import borderpatch
borderpatch.zoom.proposal = borderpatch.proposal
from lib.universal_click.evaluate import main
main(sys.argv[1:])
