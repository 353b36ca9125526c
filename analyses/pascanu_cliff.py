"""figures/pascanu_cliff.png: Pascanu's single-unit cliff, with plain and norm-clipped gradient
descent.

Runs COMMAND (what the README quotes) with --save-results to a temporary file and writes
NUMBERS: for each path where it ends, its loss there, the largest gradient norm and step; for
the plain path the step that lands on the wall and the one that throws it out (where it lands);
and the wall itself: at the w where plain descent meets it, the loss on either side and the
width in b over which it falls (10 % to 90 % of the drop), at T = 20 and at T = 50, with the
largest gradient norm that descent meets at T = 50.
Run it from anywhere: `python analyses/pascanu_cliff.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot cliff --x0 0.5 --steps 20 --target 0.7 --w-range 2,10 --b-range -7,0 "
           "--grid 301 --start 6,-4.2 --lr 0.03 --updates 60 --clip-threshold 3 "
           "-o figures/pascanu_cliff.png")
NUMBERS = "figures/pascanu_cliff.json"
LONGER = 50  # the length at which the wall is too narrow for gradient descent to see


def _crossing(f, a, b, level):
    """Bisection for f(x) = level on [a, b], f(a) above level and f(b) below (or reversed)."""
    above = f(a) > level
    while True:
        m = 0.5 * (a + b)
        if m in (a, b):
            return m
        if (f(m) > level) == above:
            a = m
        else:
            b = m


def wall(w, b_lo, b_hi, setup):
    """Loss at b_lo and b_hi (the two sides of the wall, at fixed w) and the width in b over
    which it passes from 10 % to 90 % of the way from one to the other."""
    from gradflow.training.cliff import cliff_loss

    def f(b):
        return float(cliff_loss(w, b, setup))

    left, right = f(b_lo), f(b_hi)
    b10 = _crossing(f, b_lo, b_hi, left + 0.1 * (right - left))
    b90 = _crossing(f, b_lo, b_hi, left + 0.9 * (right - left))
    return left, right, abs(b90 - b10)


def main():
    from gradflow.training.cliff import CliffSetup, gd_trajectory, trajectories_from_table

    table = run_with_results(COMMAND)
    m = table.metadata
    plain, clipped = trajectories_from_table(table)
    columns = {k: [] for k in ("path", "steps", "end_w", "end_b", "end_loss",
                               "largest_grad_norm", "largest_step", "clipped_steps")}
    for name, p in (("plain", plain), ("clipped", clipped)):
        columns["path"].append(name)
        columns["steps"].append(len(p.points) - 1)
        columns["end_w"].append(float(p.points[-1][0]))
        columns["end_b"].append(float(p.points[-1][1]))
        columns["end_loss"].append(float(p.loss[-1]))
        columns["largest_grad_norm"].append(float(p.grad_norm.max()))
        columns["largest_step"].append(float(np.linalg.norm(np.diff(p.points, axis=0),
                                                            axis=1).max()))
        columns["clipped_steps"].append(int(p.clipped.sum()))
    on_wall = int(np.argmax(plain.grad_norm))  # the point where descent meets the wall
    w_wall, b_wall = plain.points[on_wall]
    setup = CliffSetup(m["x0"], m["steps"], m["target"])
    sides = (b_wall - 0.05, b_wall + 0.05)
    left, right, width = wall(w_wall, *sides, setup)
    longer = CliffSetup(m["x0"], LONGER, m["target"])
    _, _, width_longer = wall(w_wall, *sides, longer)
    descent_longer = gd_trajectory(m["start"], lr=m["lr"], updates=m["updates"], setup=longer)
    landing = plain.points[on_wall + 1]
    write_numbers(NUMBERS, columns, {
        "kind": "cliff_summary", "command": COMMAND,
        "wall_step": on_wall, "wall_w": w_wall, "wall_b": b_wall,
        "wall_grad_norm": float(plain.grad_norm[on_wall]),
        "ordinary_steps_largest_grad_norm": float(plain.grad_norm[:on_wall].max()),
        "thrown_step": on_wall + 1, "landing_w": float(landing[0]),
        "landing_b": float(landing[1]),
        "wall_loss_below": left, "wall_loss_above": right, "wall_width_b": width,
        "longer_steps": LONGER, "longer_wall_width_b": width_longer,
        "longer_largest_grad_norm": float(descent_longer.grad_norm.max())})


if __name__ == "__main__":
    main()
