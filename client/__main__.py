"""`python -m client`: see `client.cli`."""
import sys

from .cli import main

sys.exit(main())
