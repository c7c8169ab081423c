"""cosmoflow.keras_startup: the training entry point keeps keras from loading scikit-learn,
pandas and matplotlib, and keras still builds and runs a model without them."""
import json
import subprocess
import sys

from conftest import ROOT, tool_env
from cosmoflow.keras_startup import UNUSED_BY_TRAINING, skip_unused_keras_imports


def test_already_imported_modules_are_left_alone():
    assert skip_unused_keras_imports(("json",)) == [] and sys.modules["json"] is json


def test_keras_runs_without_the_skipped_modules():
    probe = ("import json, sys\n"
             "from cosmoflow.keras_startup import skip_unused_keras_imports\n"
             "marked = skip_unused_keras_imports()\n"
             "import keras, numpy as np\n"
             "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer='ones')])\n"
             "y = m.predict(np.ones((4, 3), 'float32'), verbose=0)\n"
             "try:\n    import sklearn\n    refused = False\nexcept ImportError:\n    refused = True\n"
             "print(json.dumps({'marked': marked, 'loaded': [n for n in marked if sys.modules.get(n)],\n"
             "                  'y': y.tolist(), 'refused': refused}))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          env=tool_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["marked"] == list(UNUSED_BY_TRAINING) and out["loaded"] == []
    assert out["y"] == [[3.0, 3.0]] * 4 and out["refused"]
