"""`skip_training`: the structure of the sweep, its seeds (every variant starts from the same base
weights, read-out and batches as `train` draws for that seed), the summaries against hand-built
runs, the results table, and the refusals."""

import numpy as np
import pytest

from gradflow.io.results import read_table, write_table
from gradflow.training import train
from gradflow.training.skip_training import (SKIP_TRAINING_COLUMNS, Run, SkipTraining,
                                             accuracy_by_delay, skip_training,
                                             skip_training_from_table, skip_training_to_table)

TINY = {"hidden": 3, "batch": 2, "updates": 2, "lr": 0.01, "eval_batch": 8}


def test_one_run_per_task_delay_model_and_seed_in_that_order():
    ticks = []
    result = skip_training("rnn", variants=("none", "skip:2"), extra_cells=("gru",),
                           tasks=("recall", "copy"), delays=(1, 3), seeds=(0, 5),
                           progress=lambda: ticks.append(1), **TINY)
    keys = [(r.task, r.delay, r.model, r.seed) for r in result.runs]
    assert keys == [(t, d, m, s) for t in ("recall", "copy") for d in (1, 3)
                    for m in ("rnn", "rnn+skip:2", "gru") for s in (0, 5)]
    assert len(ticks) == len(keys) == 24
    assert all(r.updates == 2 and not r.diverged and r.chance == 1 / 8 for r in result.runs)
    assert all(0 <= r.accuracy <= 1 and np.isfinite(r.eval_loss) for r in result.runs)
    assert all(r.baseline == pytest.approx(np.log(8)) for r in result.runs if r.task == "recall")
    m = result.metadata
    assert m["models"] == ["rnn", "rnn+skip:2", "gru"]
    assert m["delays"] == {"recall": [1, 3], "copy": [1, 3]}
    assert m["optimizer"] == "adam" and m["clip_threshold"] == 1.0 and m["updates"] == 2
    assert m["cell"] == "rnn" and m["solved_level"] == 0.9 and "gradflow_version" in m


def test_each_task_may_have_its_own_delays():
    result = skip_training("rnn", variants=("none",), extra_cells=(), tasks=("copy", "recall"),
                           delays={"recall": (2, 6, 4), "copy": (3,)}, seeds=(0,), **TINY)
    assert [(r.task, r.delay) for r in result.runs] == [("copy", 3), ("recall", 2),
                                                        ("recall", 6), ("recall", 4)]
    assert accuracy_by_delay(result, "recall").delays == (2, 4, 6)
    assert result.metadata["delays"] == {"copy": [3], "recall": [2, 6, 4]}
    default = skip_training("rnn", variants=("none",), extra_cells=(), tasks=("copy",),
                            seeds=(0,), **{**TINY, "updates": 1})
    assert [r.delay for r in default.runs] == [5, 10, 20]  # DELAYS["copy"]


def test_the_plain_cell_is_trained_exactly_as_train_trains_it():
    result = skip_training("rnn", variants=("none",), extra_cells=("lstm",), tasks=("recall",),
                           delays=(4,), seeds=(3,), hidden=5, batch=4, updates=12, lr=0.02,
                           optimizer="momentum", clip_threshold=None, forget_bias=2.0)
    for run in result.runs:
        alone = train(run.model, "recall", steps=4, hidden=5, batch=4, updates=12, lr=0.02,
                      optimizer="momentum", clip_mode="none", forget_bias=2.0, seed=3)
        assert run.final_loss == np.mean(alone.loss[-10:])


@pytest.mark.parametrize("variant", ["skip:2", "dense:3", "highway"])
def test_every_variant_starts_from_the_base_cells_weights_and_batches(variant):
    # With B = 0 (skip, dense) or a gate that is wide open (highway bias 40: g = 1 in float64)
    # the variant computes the base cell's function: if it starts from the same weights and
    # read-out and sees the same first batch, its first loss is the plain cell's.
    result = skip_training("rnn", variants=("none", variant), extra_cells=(),
                           tasks=("recall", "copy"), delays=(3,), seeds=(0, 1), hidden=4,
                           batch=3, updates=1, skip_scale=0.0, highway_bias=40.0, eval_batch=4)
    for plain, other in zip(result.runs[0::4] + result.runs[1::4],
                            result.runs[2::4] + result.runs[3::4]):
        assert (plain.model, other.model) == ("rnn", f"rnn+{variant}")
        assert other.final_loss == pytest.approx(plain.final_loss, rel=1e-12)


def test_worker_processes_give_the_same_runs():
    settings = {"variants": ("none", "highway"), "extra_cells": ("lstm",), "tasks": ("recall",),
                "delays": (2, 3), "seeds": (0, 1), **TINY}
    ticks = []
    assert skip_training(workers=2, progress=lambda: ticks.append(1), **settings).runs == \
        skip_training(**settings).runs
    assert len(ticks) == 12


def test_a_trained_lstm_solves_an_easy_recall():
    result = skip_training("rnn", variants=(), extra_cells=("lstm",), tasks=("recall",),
                           delays=(2,), seeds=(0,), hidden=8, batch=32, updates=60, lr=0.05,
                           eval_batch=512)
    (run,) = result.runs
    assert run.accuracy == 1.0 and run.eval_loss < 0.05 and run.final_loss < 0.1


def hand_built():
    runs = []
    table = {  # model -> delay -> accuracies of seeds 0, 1, 2
        "rnn": {5: (1.0, 1.0, 0.9), 10: (0.2, 0.9, 1.0), 20: (0.1, 0.1, 0.2)},
        "lstm": {5: (0.5, 0.6, 0.7), 10: (1.0, 1.0, 1.0), 20: (0.9, 0.95, 0.85)},
        "gru": {5: (0.1, 0.2, 0.3), 10: (0.1, 0.1, 0.1), 20: (0.2, 0.2, 0.2)},
    }
    for delay in (5, 10, 20):
        for model, by_delay in table.items():
            for seed, acc in enumerate(by_delay[delay]):
                runs.append(Run(model, "recall", delay, seed, 0.5, 0.6, acc, 0.125,
                                np.log(8), False, 100))
    runs.append(Run("rnn", "copy", 5, 0, 0.1, 0.2, 0.95, 0.125, 0.3, True, 40))
    return SkipTraining(tuple(runs), {"hidden": 3})


def test_accuracy_by_delay_means_extremes_and_largest_solved_delay():
    s = accuracy_by_delay(hand_built(), "recall")
    assert s.models == ("rnn", "lstm", "gru") and s.delays == (5, 10, 20)
    np.testing.assert_allclose(s.mean, [[29 / 30, 0.7, 4 / 30], [0.6, 1.0, 0.9],
                                        [0.2, 0.1, 0.2]], rtol=1e-12)
    np.testing.assert_array_equal(s.low, [[0.9, 0.2, 0.1], [0.5, 1.0, 0.85], [0.1, 0.1, 0.2]])
    np.testing.assert_array_equal(s.high, [[1.0, 1.0, 0.2], [0.7, 1.0, 0.95], [0.3, 0.1, 0.2]])
    # rnn: 5 only (10 has mean 0.7); lstm: 20 (mean 0.9 exactly, though 5 is not solved); gru: none
    assert s.solved == (5, 20, None) and s.chance == 0.125
    assert accuracy_by_delay(hand_built(), "recall", level=0.95).solved == (5, 10, None)
    assert accuracy_by_delay(hand_built(), "copy").solved == (5,)
    with pytest.raises(ValueError, match="no runs on task 'adding'"):
        accuracy_by_delay(hand_built(), "adding")


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip(tmp_path, suffix):
    result = hand_built()
    table = skip_training_to_table(result)
    assert list(table.columns) == list(SKIP_TRAINING_COLUMNS) and len(table) == 28
    assert table.kind == "skip_training"
    assert table.metadata["largest_solved"] == {"recall": {"rnn": 5, "lstm": 20, "gru": None},
                                                "copy": {"rnn": 5}}
    write_table(tmp_path / f"r.{suffix}", table)
    back = skip_training_from_table(read_table(tmp_path / f"r.{suffix}"))
    assert back.runs == result.runs
    assert back.metadata == ({} if suffix == "csv" else {"hidden": 3})


def test_a_table_without_a_column_is_refused():
    table = skip_training_to_table(hand_built())
    columns = {k: v for k, v in table.columns.items() if k != "accuracy"}
    with pytest.raises(ValueError, match="no column 'accuracy'"):
        skip_training_from_table(type(table)(columns, {}))


@pytest.mark.parametrize("kws, message", [
    ({"variants": ("none", "skip:0")}, "lag K must be at least 1"),
    ({"variants": ("none", "sideways")}, "unknown skip connection 'sideways'"),
    ({"variants": ("none", "none")}, "variant 'none' is given twice"),
    ({"extra_cells": ("lstm", "lstm")}, "cell 'lstm' is given twice"),
    ({"extra_cells": ("elman",)}, "unknown cell 'elman'"),
    ({"cell": "lstm", "variants": ("none",), "extra_cells": ("lstm",)},
     "model 'lstm' is given twice"),
    ({"variants": (), "extra_cells": ()}, "at least one variant or cell"),
    ({"tasks": ("adding",)}, "task 'adding' has no accuracy"),
    ({"tasks": ()}, "at least one task"),
    ({"delays": (0, 3)}, "delays must be whole numbers of at least 1, got 0"),
    ({"delays": (3, 3)}, "delay 3 is given twice"),
    ({"delays": (2.5,)}, "delays must be whole numbers"),
    ({"seeds": (-1,)}, "seeds must be whole numbers of at least 0"),
    ({"delays": {"recall": (3,), "copy": (3,)}}, "delays are given for task 'copy', which is "
                                                  "not trained"),
    ({"tasks": ("recall", "copy"), "delays": {"recall": (3,)}}, "no delays are given for task "
                                                                 "'copy'"),
    ({"delays": {"recall": ()}}, "at least one delay"),
    ({"variants": ("skip:9",), "delays": (3, 30)}, "the lag 9 is longer than the shortest "
                                                     r"sequence \(recall at delay 3: 5 steps\)"),
    ({"clip_threshold": 0.0}, "clipping threshold must be positive"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"lr": -1.0}, "learning rate"),
    ({"updates": 0}, "updates must be positive"),
    ({"workers": 0}, "workers must be a whole number of at least 1"),
    ({"cell": "elman"}, "unknown cell 'elman'"),
])
def test_refusals(kws, message):
    settings = {"tasks": ("recall",), "delays": (3,), "seeds": (0,), **TINY, **kws}
    with pytest.raises(ValueError, match=message):
        skip_training(**settings)
