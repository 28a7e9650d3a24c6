"""`python -m conformance HOST:PORT`: run the conformance suite from the command line."""

import sys

from conformance.cli import main

sys.exit(main())
