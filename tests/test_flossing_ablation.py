"""The flossing ablation (`flossing_ablation`, `ablate flossing`, `plot flossing`): the flossed
twin is trained exactly as `train(floss=...)` trains it from the same weights, and the plain
cell exactly as without; the success rate and the flow summaries against hand-built runs;
the files, the figure, and bad input (one line, non-zero exit, nothing written)."""

import os

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cells.builtin import get_cell
from gradflow.cli import main
from gradflow.cli.base import write_results
from gradflow.io.results import read_table
from gradflow.training import evaluate, train
from gradflow.training.flossing_ablation import flossing_ablation, flow_by_delay
from gradflow.training.flow import FlowRecord, FlowRun
from gradflow.training.skip_training import (Run, SkipTraining, accuracy_by_delay,
                                             skip_training, skip_training_from_table,
                                             skip_training_to_table)

TINY = {"hidden": 4, "batch": 3, "updates": 3, "lr": 0.01, "eval_batch": 8}
FLOSS = {"floss": 2, "floss_weight": 0.5, "floss_every": 2, "prefloss": 2}


def tiny_ablation(**kws):
    settings = {"references": ("skip:2",), "extra_cells": ("gru",), "delays": (2, 3),
                "seeds": (0, 4), **FLOSS, **TINY, **kws}
    return flossing_ablation("rnn", **settings)


def test_models_order_metadata_and_checkpoints_at_the_start_and_the_end():
    result = tiny_ablation()
    keys = [(r.delay, r.model, r.seed) for r in result.runs]
    assert keys == [(d, m, s) for d in (2, 3) for m in ("rnn", "rnn+floss", "rnn+skip:2", "gru")
                    for s in (0, 4)]
    m = result.metadata
    assert m["ablation"] == "flossing" and m["floss_variants"] == ["none"]
    assert {k: m[k] for k in FLOSS} == FLOSS and m["flow_every"] == 3
    assert all(list(f.flow.update) == [0, 3] for f in result.flows)
    assert [f.label for f in result.flows] == [r.model for r in result.runs]


def test_the_twin_is_trained_as_train_trains_it_with_flossing_and_the_cell_without():
    """Independent path: `train` and `evaluate` called directly from the weights every run of
    seed s starts from (`train(seed=s)`'s own draw)."""
    result = tiny_ablation(clip_threshold=None)
    cell = get_cell("rnn")
    children = np.random.SeedSequence(4).spawn(4)
    for run in [r for r in result.runs if r.model in ("rnn", "rnn+floss") and r.seed == 4]:
        flossing = FLOSS if run.model == "rnn+floss" else {}
        alone = train(cell, "recall", steps=run.delay, seed=4, optimizer="adam",
                      clip_mode="none", hidden=4, batch=3, updates=3, lr=0.01, **flossing)
        held_out = evaluate(cell, alone.params, "recall", run.delay, batch=8, seed=children[2])
        assert run.final_loss == np.mean(alone.loss[-10:])
        assert run.accuracy == held_out.accuracy and run.eval_loss == held_out.loss
    # Flossing changed the twin (else the comparison would compare a run with itself).
    plain = {(r.delay, r.seed): r.eval_loss for r in result.runs if r.model == "rnn"}
    twin = {(r.delay, r.seed): r.eval_loss for r in result.runs if r.model == "rnn+floss"}
    assert all(plain[k] != twin[k] for k in plain)


def test_flossing_added_to_skip_training_changes_no_other_run():
    flossed = tiny_ablation(references=(), extra_cells=("lstm",))
    plain = skip_training("rnn", variants=("none",), extra_cells=("lstm",), tasks=("recall",),
                          delays=(2, 3), seeds=(0, 4), flow_every=3, **TINY)
    others = [r for r in flossed.runs if r.model != "rnn+floss"]
    assert others == list(plain.runs)


def hand_built():
    """Accuracies of 3 seeds per model and delay, with known success rates at 0.9."""
    accuracy = {"rnn": {5: (0.95, 0.2, 0.9), 10: (0.1, 0.1, 0.1)},
                "rnn+floss": {5: (1.0, 0.99, 0.91), 10: (0.89999, 0.9, 0.3)}}
    runs = [Run(m, "recall", d, s, 0.5, 0.6, acc, 0.125, np.log(8), False, 10)
            for d in (5, 10) for m in accuracy for s, acc in enumerate(accuracy[m][d])]
    return SkipTraining(tuple(runs), {})


def test_success_rate_is_the_share_of_seeds_at_or_above_the_level():
    s = accuracy_by_delay(hand_built(), "recall")
    np.testing.assert_array_equal(s.success, [[2 / 3, 0.0], [1.0, 1 / 3]])
    np.testing.assert_array_equal(accuracy_by_delay(hand_built(), "recall", level=0.95).success,
                                  [[1 / 3, 0.0], [2 / 3, 0.0]])


def flow(lyap_start, lyap_end, norm_end):
    return FlowRecord(update=np.array([0, 10]), verdict=np.array(["flat", "flat"]),
                      rate=np.ones(2), horizon=np.full(2, np.nan),
                      distances=np.array([1, 10, 6]),
                      log10_norms=np.array([[0, 0, 0.0], [0, 0, norm_end]]),
                      lyapunov=np.array([[lyap_start, -1.0], [lyap_end, -1.0]]), length=7,
                      delay=6)


def test_flow_by_delay_averages_the_first_or_last_checkpoint_over_the_seeds():
    result = hand_built()
    values = {("rnn", 5): [(-0.1, -0.2, -4.0), (-0.3, -0.4, np.nan), (-0.2, -0.3, -2.0)]}
    flows = []
    for r in result.runs:
        start, end, norm = values.get((r.model, r.delay), [(0.0, 0.01 * r.seed, 1.0)] * 3)[r.seed]
        flows.append(FlowRun(r.model, np.zeros(10), flow(start, end, norm), np.log(8)))
    result = SkipTraining(result.runs, {}, tuple(flows))
    end = flow_by_delay(result, "recall")
    assert end.models == ("rnn", "rnn+floss") and end.delays == (5, 10)
    np.testing.assert_allclose(end.mean, [[-0.3, 0.01], [0.01, 0.01]], rtol=1e-12)
    np.testing.assert_allclose(end.low, [[-0.4, 0.0], [0.0, 0.0]], atol=0)
    np.testing.assert_allclose(end.high, [[-0.2, 0.02], [0.02, 0.02]], rtol=1e-12)
    start = flow_by_delay(result, "recall", when="start")
    assert start.mean[0, 0] == pytest.approx(-0.2, rel=1e-12)
    norm = flow_by_delay(result, "recall", "log10_norm_delay")  # the nan seed is left out
    assert norm.mean[0, 0] == -3.0 and norm.low[0, 0] == -4.0 and norm.high[0, 0] == -2.0
    for kw, message in (({"quantity": "horizon"}, "unknown quantity"),
                        ({"when": "middle"}, "when must be")):
        with pytest.raises(ValueError, match=message):
            flow_by_delay(result, "recall", **kw)
    with pytest.raises(ValueError, match="no flow checkpoints"):
        flow_by_delay(hand_built(), "recall")


@pytest.mark.parametrize("kws, message", [
    ({"references": ("none",)}, "the cell alone is trained already"),
    ({"floss": 0}, "floss must be a whole number of at least 1"),
    ({"floss": 5}, "rnn\\+floss: floss must be at most its state size 4"),
    ({"floss_every": None, "prefloss": 0}, "nothing would be flossed"),
    ({"floss_weight": -1.0}, "flossing weight must be positive"),
])
def test_the_library_refuses_settings_no_run_can_use(kws, message):
    with pytest.raises(ValueError, match=message):
        flossing_ablation("rnn", **{"references": (), "extra_cells": (), "delays": (2,),
                                    "seeds": (0,), **TINY, **kws})


def test_skip_training_refuses_a_flossed_variant_it_does_not_train_and_unknown_settings():
    with pytest.raises(ValueError, match="flossed variant 'residual' is not among"):
        skip_training("rnn", variants=("none",), extra_cells=(), tasks=("recall",),
                      delays=(2,), seeds=(0,), floss={"floss": 1},
                      floss_variants=("residual",), **TINY)
    with pytest.raises(ValueError, match="unknown flossing setting 'k'"):
        skip_training("rnn", variants=("none",), extra_cells=(), tasks=("recall",),
                      delays=(2,), seeds=(0,), floss={"floss": 1, "k": 2}, **TINY)


CLI_TINY = ["--references", "skip:2", "--extra-cells", "gru", "--delays", "2,3", "--seeds",
            "0,4", "--hidden", "4", "--batch", "3", "--updates", "3", "--lr", "0.01",
            "--eval-batch", "8", "--floss", "2", "--floss-weight", "0.5", "--floss-every", "2",
            "--prefloss", "2", "-q"]


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_and_writes_the_librarys_runs_and_plot_redraws_the_same_figure(tmp_path):
    out_file, fig, again = (str(tmp_path / n) for n in ("r.json", "f.png", "g.png"))
    code, out, err = run(["ablate", "flossing", *CLI_TINY, "--workers", "2", "-o", out_file,
                          "--figure", fig])
    assert code == 0, err
    library = tiny_ablation()  # one worker
    table = read_table(out_file)
    assert table.kind == "flossing"
    assert skip_training_from_table(table).runs == library.runs
    write_results(str(tmp_path / "library.json"), skip_training_to_table(library))
    with open(out_file, "rb") as a, open(tmp_path / "library.json", "rb") as b:
        assert a.read() == b.read()
    # The success-rate table, row by row, is the library's.
    s = accuracy_by_delay(library, "recall")
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "success rate" in line) + 2
    for i, model in enumerate(s.models):
        assert lines[first + i].split() == [model] + [f"{v:.2f}" for v in s.success[i]]
    end = flow_by_delay(library, "recall")
    row = next(line for line in lines if line.startswith("rnn+floss ") and "->" in line)
    assert row.split()[3] == f"{end.mean[1, 0]:.3f}"
    code, _, err = run(["plot", "flossing", out_file, "-o", again])
    assert code == 0, err
    with open(fig, "rb") as a, open(again, "rb") as b:
        assert a.read() == b.read()
    # Its accuracy panel, as plot skip-training draws it.
    code, _, err = run(["plot", "skip-training", out_file, "-o", str(tmp_path / "acc.png")])
    assert code == 0 and os.path.getsize(tmp_path / "acc.png") > 0, err
    # The runs with and without flossing, overlaid by plot training-flow.
    code, _, err = run(["plot", "training-flow", out_file, "-o", str(tmp_path / "flow.png")])
    assert code == 0 and os.path.getsize(tmp_path / "flow.png") > 0, err


@pytest.mark.parametrize("args, message", [
    (["--floss", "0"], "--floss"),
    (["--floss", "9"], "9 exponents asked for, but the state has 4 dimensions"),
    (["--references", "none,skip:2"], "the cell alone is trained already"),
    (["--references", "skip:9"], "the lag 9 is longer than the shortest sequence"),
    (["--extra-cells", "rnn"], "rnn is the cell trained with and without flossing"),
    (["--floss-every", "never", "--prefloss", "0"], "'never' flosses only before training"),
    (["--delays", "copy:3"], "delays are given for copy"),
])
def test_cli_bad_values_get_one_line_and_exit_2(tmp_path, args, message):
    out_file = str(tmp_path / "r.json")
    code, out, err = run(["ablate", "flossing", *CLI_TINY, *args, "-o", out_file])
    assert code == 2 and message in err and out == ""
    assert not os.path.exists(out_file)


def test_plot_flossing_refuses_files_it_cannot_draw(tmp_path):
    clipping = str(tmp_path / "c.json")
    assert run(["ablate", "clipping", "--updates", "2", "--hidden", "3", "--steps", "3",
                "-q", "-o", clipping])[0] == 0
    code, _, err = run(["plot", "flossing", clipping, "-o", str(tmp_path / "f.png")])
    assert code == 1 and "holds 'clipping' results, not 'flossing'" in err
    garbage = tmp_path / "g.json"
    garbage.write_text("{not json")
    code, _, err = run(["plot", "flossing", str(garbage), "-o", str(tmp_path / "f.png")])
    assert code == 1 and err.startswith(f"Error: {garbage}:") and len(err.splitlines()) == 1
    no_flow = str(tmp_path / "s.json")
    assert run(["ablate", "skip-training", "--variants", "none", "--extra-cells", "none",
                "--tasks", "recall", "--delays", "2", "--seeds", "0", "--hidden", "3",
                "--batch", "2", "--updates", "2", "-q", "-o", no_flow])[0] == 0
    code, _, err = run(["plot", "flossing", no_flow, "-o", str(tmp_path / "f.png")])
    assert code == 1 and "has no flow checkpoints" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "f.png")
