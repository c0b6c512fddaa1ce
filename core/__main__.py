"""`python -m core` is `rlhf-studio-cli`."""

import sys

from core.cli import main

sys.exit(main())
