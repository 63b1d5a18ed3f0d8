"""Grade a class's notebooks: ``python -m asynclab.grade DIR`` (or ``make grade SUBMISSIONS=DIR``).

Each submission in DIR runs in a fresh kernel, in a temporary copy, bounded per cell and
per notebook, under a memory limit; every exercise check it calls is recorded. The
result is ``DIR/grades.csv`` and ``DIR/grades.html``: one row per submission (``pass``,
``hint``, ``not answered``, ``error`` or ``missing`` per exercise, and the problem when
the whole submission failed), and per exercise how many passed and the most common hint.

Modules: ``options`` (the limits), ``lesson`` (reading a file, which lesson it is),
``kernel`` and ``launch`` (one bounded kernel under limits), ``probe`` (runs in the kernel,
records the checks), ``run`` (one submission), ``verdicts`` (one mark per exercise),
``report`` (summary, CSV, HTML), ``folder`` (all of it for a folder).
"""

from .folder import Grades, grade_folder
from .options import Limits

__all__ = ["Grades", "Limits", "grade_folder"]
