"""`python -m sandbox.demo`."""

import sys

from .datadog import main

sys.exit(main())
