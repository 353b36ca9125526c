"""`gradflow sweep --scheduler`: the same sweep on a dask.distributed LocalCluster started here
gives the local pool's summary, bit for bit."""

import sys

import distributed
import pytest

from gradflow.sweep import executors
from gradflow.sweep.executors import DaskExecutor, LocalExecutor
from gradflow.sweep.run import run_sweep
from gradflow.sweep.spec import read_spec

from cli_run import run

SPEC = """
analysis = "{analysis}"
output = "{output}"
[grid]
cell = ["rnn", "lstm", "gru"]
scale = [0.5, 1.0, 1.5]
seed = [0, 1]
[fixed]
hidden = 4
input_size = 3
steps = 10
"""
# One run of the skip-connection comparison per point: the cells' weights and the connections'
# own (highway) from the seed, the batches and the held-out batch too.
SKIP_TRAINING_SPEC = """
analysis = "skip_training"
output = "{output}"
[grid]
cell = ["rnn", "gru"]
skip = ["none", "skip:2", "highway"]
delay = [2, 4]
seed = [0, 1]
[fixed]
hidden = 3
[analysis_options]
batch = 2
updates = 3
eval_batch = 8
"""


def summary(tmp_path, analysis, output, make_executor):
    path = tmp_path / f"{output}.toml"
    text = SKIP_TRAINING_SPEC if analysis == "skip_training" else SPEC
    path.write_text(text.format(analysis=analysis, output=output))
    tally = run_sweep(read_spec(str(path)), make_executor)
    points = 24 if analysis == "skip_training" else 18
    assert (tally.points, tally.done, tally.failed) == (points, points, 0)
    return (tmp_path / output / "summary.csv").read_bytes()


@pytest.mark.parametrize("analysis", ["decay", "lyapunov", "skip_training"])
def test_local_cluster_and_local_pool_give_identical_summaries(tmp_path, analysis):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = summary(tmp_path, analysis, "dask", lambda: DaskExecutor(client=client))
    local = summary(tmp_path, analysis, "local", lambda: LocalExecutor(2))
    assert on_dask == local


def test_scheduler_option_runs_on_the_cluster(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC.format(analysis="decay", output="out"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        code, out, err = run(["sweep", str(tmp_path / "spec.toml"), "--scheduler",
                              cluster.scheduler_address, "--quiet"])
    assert code == 0, err
    assert out.startswith("18 points: 0 done before, 18 done now, 0 failed")


def test_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "CONNECT_SECONDS", 1)
    (tmp_path / "spec.toml").write_text(SPEC.format(analysis="decay", output="out"))
    code, out, err = run(["sweep", str(tmp_path / "spec.toml"), "--scheduler",
                          "tcp://127.0.0.1:9", "--quiet"])
    assert code == 1 and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert err.startswith("Error: cannot reach the dask scheduler at tcp://127.0.0.1:9")


def test_without_distributed_the_error_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "spec.toml").write_text(SPEC.format(analysis="decay", output="out"))
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    code, out, err = run(["sweep", str(tmp_path / "spec.toml"), "--scheduler",
                          "tcp://127.0.0.1:9", "--quiet"])
    assert code == 1
    assert err == "Error: --scheduler needs dask.distributed: pip install " \
                  "'gradflow[distributed]'\n"
    assert not (tmp_path / "out").exists()
