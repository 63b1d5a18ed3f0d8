"""What a saved notebook must never show: this machine's own paths.

Shared by the tools that save or export notebooks and by the tests that check them.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine_paths() -> re.Pattern[str]:
    """A pattern matching any path of this machine a stored output could leak: the checkout
    and its parent, the home and temp folders, the interpreter's prefixes, site-packages."""
    roots = {str(ROOT), str(ROOT.parent), os.path.expanduser("~"), tempfile.gettempdir(),
             sys.base_prefix, sys.prefix}
    alts = "|".join(re.escape(r.rstrip("/") + "/") for r in sorted(roots) if r and r != "/")
    return re.compile(alts + "|site-packages")
