"""Regenerate every figure in figures/: runs each analyses/*.py script in turn.

Each script is one published figure; it quotes the exact `gradflow` command that makes it.
Run from anywhere: `make figures` (or `python analyses/make_all.py [NAME ...]`).
"""

import os
import pathlib
import runpy
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(names):
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "make_all.py" and not p.name.startswith("_"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    os.chdir(HERE.parent)  # the scripts' commands name paths relative to the repository root
    sys.path.insert(0, str(HERE))  # where the scripts find _run
    (HERE.parent / "figures").mkdir(exist_ok=True)
    total = time.perf_counter()
    for i, script in enumerate(scripts, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(scripts)}] {script.stem} ...", file=sys.stderr, flush=True)
        runpy.run_path(str(script), run_name="__main__")
        print(f"[{i}/{len(scripts)}] {script.stem} done in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    print(f"all figures in {time.perf_counter() - total:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
