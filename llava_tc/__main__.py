"""`python -m llava_tc` is the same as the `llava-tc` command."""

import sys

from llava_tc.cli import main

sys.exit(main())
