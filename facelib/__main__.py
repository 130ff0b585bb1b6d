import sys

from facelib.cli import main

sys.exit(main())
