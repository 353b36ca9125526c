"""The curse of memory (Zucchet & Orvieto 2024): each cell set to a memory factor lambda per
step, the timescale its state Jacobian achieves and the sensitivity of its state to lambda,
against the closed form (1 + lambda^2) / (1 - lambda^2)^3 of the linear recurrence.

Writes figures/memory.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, the numbers the README quotes from it (`memory_numbers`).
Run it from anywhere: `python analyses/memory.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

COMMAND = ("gradflow plot memory --cell lru,lru_nogamma,indrnn_linear,mingru,rnn,lstm,gru "
           "--lambdas 0.5,0.8,0.9,0.95,0.98,0.99,0.995 --hidden 16 --input-size 4 --steps 1000 "
           "--samples 20 --seed 0 -o figures/memory.png")
NUMBERS = "figures/memory.json"
QUOTED = (0.9, 0.99)  # the memory factors the README quotes: timescales 10 and 100


def memory_numbers(table, command, path):
    """Per cell and quoted lambda: the timescale achieved 1 / (1 - rate), the sensitivity
    E||ds_T/dlambda||^2 / H and its standard error, the closed form at that T, and for the
    linear cells the expected sensitivity: the closed form (times gamma^2 = 1 - lambda^2 for the
    LRU) times the mean input variance per unit of the drawn weights (`expected`)."""
    from gradflow.analysis.memory import closed_form, memory_from_table, memory_network

    columns = {k: [] for k in ("cell", "memory_factor", "timescale_achieved", "sensitivity",
                               "sensitivity_se", "closed_form", "expected")}
    for r in memory_from_table(table):
        m = r.metadata
        for lam in QUOTED:
            i = list(r.memory_factor).index(lam)
            columns["cell"].append(r.cell)
            columns["memory_factor"].append(lam)
            columns["timescale_achieved"].append(1 / (1 - r.factor_achieved[i]))
            columns["sensitivity"].append(r.sensitivity[i])
            columns["sensitivity_se"].append(r.sensitivity_se[i])
            columns["closed_form"].append(r.closed_form[i])
            expected = None
            if r.cell in ("lru", "lru_nogamma", "indrnn_linear"):
                p = memory_network(r.cell, lam, hidden=m["hidden"], input_size=m["input_size"],
                                   seed=m["seed"]).cell.inner_params
                rows = p["B_re"] ** 2 + p["B_im"] ** 2 if "B_re" in p else p["weight_ih"] ** 2
                expected = float(rows.sum(axis=1).mean()) * float(
                    closed_form(lam, r.steps[i], normalized=r.cell == "lru"))
            columns["expected"].append(expected)
    write_numbers(path, columns, {"kind": "memory_summary", "command": command})


def main():
    memory_numbers(run_with_results(COMMAND), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
