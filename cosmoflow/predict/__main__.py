"""python -m cosmoflow.predict (see cosmoflow.predict.cli)."""
import sys

from cosmoflow.predict.cli import main

sys.exit(main())
