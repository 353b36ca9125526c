"""What the small benchmark scripts share: print the table and write it to the results file
(not in --quick mode unless another file is given), atomically."""

import datetime
import os
import platform
from pathlib import Path

from gradflow.io.files import atomic_path


def emit(lines, output, default, quick):
    """Print `lines` (joined, with a final newline) and write them to `output`, except for a
    --quick run that would overwrite the committed `default`."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if not quick or output != str(default):
        with atomic_path(output) as tmp:
            Path(tmp).write_text(text)


def machine_line(details):
    """The results' last line: today, the machine and the libraries, one BLAS thread, then
    `details` (the run's own settings)."""
    import numpy as np

    return (f"{datetime.date.today().isoformat()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, one BLAS thread, Python {platform.python_version()}, "
            f"numpy {np.__version__}; {details}")
