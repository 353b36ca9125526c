"""Running the command line in tests: through click's CliRunner and as a real subprocess, each
giving (exit code, stdout, stderr); and the module that makes the PyTorch fixtures."""

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gradflow.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(args):
    """`gradflow ARGS` through CliRunner (exceptions propagate: a traceback fails the test)."""
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_subprocess(args, cwd):
    """`python -m gradflow ARGS` in `cwd`, as a user runs it."""
    env = {**os.environ,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@functools.cache
def fixture_maker():
    """tests/data/make_torch_fixtures.py as a module (its case builders; torch only on call)."""
    path = ROOT / "tests" / "data" / "make_torch_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_torch_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
