"""Shared by the figure scripts: pin the floating-point kernels, run the `gradflow` command line a
script quotes from the repository root (so that its paths, figures/..., are the README's), and
write the numbers the README quotes beside the figure.

Why the kernels are pinned. numpy picks SIMD code for tanh, exp, sums... at run time by what the
CPU offers (AVX2, AVX-512), and OpenBLAS picks its matrix kernels the same way (Haswell,
SkylakeX, ...). They round differently in the last bit. Most figures do not care, but a training
run whose gradients explode (the unclipped run of the clipping ablation) multiplies a difference
of one bit by 10^5 in a few updates: on the same code and seed it diverges at update 27, 28, 30
or 33, or not at all, depending on the machine. So `make figures` fixes both choices at
x86-64-v3 (AVX2 + FMA, what every x86 machine of the last decade has, AVX-512 or not) before
numpy is imported: numpy's AVX-512 code paths are switched off (NPY_DISABLE_CPU_FEATURES) and
OpenBLAS is told to use its Haswell kernels (OPENBLAS_CORETYPE). With the same numpy and
OpenBLAS, every such machine then computes the same bits. Variables the user set are left alone;
on another architecture nothing is pinned and the run says so (the README check will say what
differs).
"""

import json
import math
import os
import platform
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGNIFICANT = 4  # digits kept in the numbers files: what the README can quote, no noise
_PINNED = "GRADFLOW_NUMERICS"


def _numpy_cpu():
    """(numpy's dispatchable CPU features, the ones this machine has), asked of a fresh
    interpreter so that numpy is not imported here before the pinning."""
    probe = ("import json\n"
             "try:\n    from numpy._core import _multiarray_umath as m\n"
             "except ImportError:\n    from numpy.core import _multiarray_umath as m\n"
             "print(json.dumps([list(m.__cpu_dispatch__), "
             "[k for k, v in m.__cpu_features__.items() if v]]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    dispatch, present = json.loads(out)
    return dispatch, set(present)


def pin_numerics():
    """Fix numpy's SIMD dispatch and OpenBLAS's kernels at x86-64-v3 (see the module
    docstring); call before numpy is first imported. Returns what was decided, in words."""
    if _PINNED in os.environ:
        return os.environ[_PINNED]
    if "numpy" in sys.modules:
        raise RuntimeError("pin_numerics must run before numpy is imported")
    decision = "not pinned"
    if platform.machine().lower() in ("x86_64", "amd64"):
        dispatch, present = _numpy_cpu()
        v3 = "X86_V3" in present or {"AVX2", "FMA3"} <= present
        if v3:
            # Only what this CPU has: numpy complains about disabling what it lacks.
            above = [f for f in dispatch
                     if (f.startswith("AVX512") or f == "X86_V4") and f in present]
            if above and "NPY_DISABLE_CPU_FEATURES" not in os.environ:
                os.environ["NPY_DISABLE_CPU_FEATURES"] = " ".join(above)
            os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
            decision = (f"x86-64-v3 (NPY_DISABLE_CPU_FEATURES="
                        f"{os.environ.get('NPY_DISABLE_CPU_FEATURES', '')!r}, "
                        f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']})")
    if decision == "not pinned":
        print(f"note: {platform.machine()} without AVX2: numerics not pinned; the README's "
              "numbers were made on x86-64-v3 and the chaotic ones may differ here",
              file=sys.stderr)
    os.environ[_PINNED] = decision
    return decision


if "numpy" not in sys.modules:  # a script imports _run first: pin before anything else runs
    pin_numerics()


def run_command(command, *extra):
    """Run `command` ("gradflow plot ...") through the CLI in this process, with `extra`
    arguments appended (e.g. where to save the numbers behind the figure)."""
    pin_numerics()
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(command)[1:] + list(extra), standalone_mode=False)


def significant(x, digits=SIGNIFICANT):
    """`x` rounded to `digits` significant digits (ints, None, nan and inf unchanged)."""
    if x is None or isinstance(x, (bool, int)) or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def write_numbers(path, columns, metadata):
    """Write the numbers a README section quotes: a small gradflow results table (JSON) with
    `columns` (name -> list, floats rounded to SIGNIFICANT digits) and `metadata` (its 'kind'
    and what made it)."""
    from gradflow.io.results import Table, write_table

    def rounded(value):
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [rounded(v) for v in value]
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        return significant(value) if isinstance(value, float) else value

    import numpy as np
    table = Table({k: np.array(rounded(list(v)), dtype=object) for k, v in columns.items()},
                  rounded(dict(metadata)))
    write_table(os.path.join(ROOT, path), table)


def run_with_results(command, option="--save-results"):
    """Run `command` with `option FILE` appended (FILE a temporary .json) and return the
    results table it wrote: the numbers behind the figure, from the same run."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "results.json")
        run_command(command, option, path)
        from gradflow.io.results import read_table
        return read_table(path)


def run_capturing(command):
    """Run `command` and return what it printed on stdout (it is also echoed)."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        run_command(command)
    sys.stdout.write(buffer.getvalue())
    return buffer.getvalue()
