import sys

from harness.observe.observer import main

main(sys.argv[1])
