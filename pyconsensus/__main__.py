"""``python -m pyconsensus`` runs the command-line interface."""

import sys

from pyconsensus.cli import main

sys.exit(main())
