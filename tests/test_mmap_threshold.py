"""TensorFlow's generator datasets lower glibc's mmap threshold; restore_mmap_threshold undoes it
(cosmoflow/mmap_threshold.py). Run in a fresh process: the threshold is process-wide."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import resource, numpy as np, tensorflow as tf
from cosmoflow.mmap_threshold import restore_mmap_threshold

def faults_per_array():
    # a 1 MB float64 temporary made, touched and freed 50 times: page faults per array
    x = np.random.rand(131072)
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        (x * 3.0).sum()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 50

faults_per_array()                  # glibc's dynamic threshold rises past 1 MB here
before = faults_per_array()

def gen(a):
    yield from range(3)

# as the record reader builds them: one generator dataset per file segment, in an interleave
segments = tf.data.Dataset.from_tensor_slices([1, 2])
ds = segments.interleave(lambda a: tf.data.Dataset.from_generator(
    gen, output_signature=tf.TensorSpec([], tf.int64), args=(a,)), cycle_length=2, num_parallel_calls=2)
list(ds)
after_tf = faults_per_array()
ok = restore_mmap_threshold()
faults_per_array()                  # the heap grows once to hold the array
print(before, after_tf, ok, faults_per_array())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_generator_dataset_lowers_the_threshold_and_restore_undoes_it():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, after_tf, ok, restored = proc.stdout.split()[-4:]
    assert float(before) < 1, proc.stdout            # numpy reuses freed memory
    assert float(after_tf) > 100, proc.stdout        # 1 MB = 256 pages faulted anew each time
    assert ok == "True" and float(restored) < 1, proc.stdout
