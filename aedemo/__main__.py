import sys

from aedemo.cli import main

sys.exit(main())
