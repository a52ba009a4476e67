"""Put this folder on ``sys.path`` so the tests can ``import strategies``.

Tests run with ``--import-mode=importlib``, which does not add test folders to ``sys.path``.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
