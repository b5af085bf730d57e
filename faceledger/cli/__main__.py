"""`python -m faceledger.cli`: the command line, as the `faceledger` command runs it."""

import sys

from . import main

sys.exit(main())
