import sys

from cosmoflow.keras_startup import skip_unused_keras_imports

skip_unused_keras_imports()   # before cosmoflow.train.cli imports TensorFlow
from cosmoflow.train.cli import main  # noqa: E402

sys.exit(main())
