"""Regenerate every figure in figures/ and the numbers the README quotes: runs each
analyses/*.py script in turn, then checks the README against what the run wrote.

Each script is one published figure (or table) and quotes the exact `gradflow` command that
makes it; beside the figure it writes NUMBERS, the numbers the README quotes from that run.
After the scripts, two checks, and a non-zero exit if either fails:
- every script's NUMBERS file was written by this run (not left over from an earlier one);
- tests/test_readme.py: every number the README's tour quotes is the one in the numbers files.
Floating-point kernels are pinned first (see _run.pin_numerics), so that a clean clone on any
x86-64-v3 machine writes the same bytes.

Run from anywhere: `make figures` (or `python analyses/make_all.py [NAME ...]`).
"""

import os
import pathlib
import runpy
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # where the scripts find _run

from _run import pin_numerics  # noqa: E402  (must run before anything imports numpy)


def scripts(names=()):
    found = sorted(p for p in HERE.glob("*.py")
                   if p.name != "make_all.py" and not p.name.startswith("_"))
    return [p for p in found if p.stem in names] if names else found


def run_scripts(selected):
    """Run each script; return the NUMBERS files that a script did not write in this run."""
    stale = []
    total = time.perf_counter()
    for i, script in enumerate(selected, 1):
        start, started = time.perf_counter(), time.time_ns()
        print(f"[{i}/{len(selected)}] {script.stem} ...", file=sys.stderr, flush=True)
        names = runpy.run_path(str(script), run_name="__main__")
        numbers = names.get("NUMBERS")
        if numbers is None or not (ROOT / numbers).exists() or \
                (ROOT / numbers).stat().st_mtime_ns < started:
            stale.append(f"{script.name}: {numbers or 'no NUMBERS'}")
        print(f"[{i}/{len(selected)}] {script.stem} done in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    print(f"all in {time.perf_counter() - total:.1f} s", file=sys.stderr)
    return stale


def check_readme():
    """Run the test that ties the README's numbers to the numbers files; True if it passes."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_readme.py")], cwd=ROOT)
    return proc.returncode == 0


def main(names):
    print(f"numerics pinned: {pin_numerics()}", file=sys.stderr)
    os.chdir(ROOT)  # the scripts' commands name paths relative to the repository root
    (ROOT / "figures").mkdir(exist_ok=True)
    stale = run_scripts(scripts(names))
    for line in stale:
        print(f"error: {line} was not written by this run", file=sys.stderr)
    readme_ok = check_readme()
    if not readme_ok:
        print("error: the README quotes numbers this run did not produce (see above): "
              "update the README from the figures/*.json files", file=sys.stderr)
    try:  # for information only: a change of code may change figures on purpose
        changed = subprocess.run(["git", "status", "--porcelain", "--", "figures"], cwd=ROOT,
                                 capture_output=True, text=True).stdout
    except OSError:
        changed = ""
    if changed:
        print("figures/ now differs from the last commit:\n" + changed, file=sys.stderr)
    return 0 if readme_ok and not stale else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
