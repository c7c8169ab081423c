import sys

from cosmoflow.train.cli import main

sys.exit(main())
