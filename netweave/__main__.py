"""`python -m netweave`: the same as the `netweave` console command."""

import sys

from netweave.cli import main

sys.exit(main())
