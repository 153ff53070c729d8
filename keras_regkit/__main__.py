"""`python -m keras_regkit lab ...`: the same as the `keras-regkit` command."""

import sys

from keras_regkit.lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
