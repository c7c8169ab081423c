#!/usr/bin/env bash
# Snakemake runs this once inside the freshly created envs/pycola3.yaml environment.
set -euo pipefail
python -m pip install --no-build-isolation "pycola3==0.0.7"
