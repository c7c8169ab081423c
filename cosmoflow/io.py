"""Small I/O helpers shared by every stage: atomic writes (defined in the physics layer,
``pycola_wrapper.atomic``, which imports nothing from ``cosmoflow``)."""
from __future__ import annotations

from pycola_wrapper.atomic import atomic_path

__all__ = ["atomic_path"]
