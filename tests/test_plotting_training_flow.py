"""`plot_training_flow` draws what the records hold, on the Axes it is given."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradflow.plotting.training_flow import plot_flow_quantity, plot_training_flow  # noqa: E402
from gradflow.training.flow import FlowRecord, FlowRun  # noqa: E402


def record(horizon, gates=None):
    update = np.array([0, 2, 4])
    return FlowRecord(update=update, verdict=np.array(["vanishing"] * 3),
                      rate=np.array([0.9, 0.8, 0.7]), horizon=np.array(horizon, dtype=float),
                      distances=np.array([1, 10, 6]), log10_norms=np.zeros((3, 3)),
                      lyapunov=np.array([[-0.1, -0.2], [-0.05, -0.3], [0.01, -0.4]]),
                      gates=gates or {}, length=7, delay=6)


RNN = FlowRun("rnn", np.array([2.0, 1.0, 4.0, 3.0]), record([np.nan, 5, 3]), 2.079)
LSTM = FlowRun("lstm", np.array([2.0, 2.0, 2.0, 1.0]), record([np.nan] * 3,
                                                               {"forget": np.array([.7, .8, .9])}),
               2.079)


def lines_of(ax, label):
    return [line for line in ax.get_lines() if line.get_label() == label]


def test_four_panels_when_a_run_has_a_gate_and_they_hold_the_records():
    fig, axes = plt.subplots(1, 4)
    assert plot_training_flow([RNN, LSTM], axes, window=2) == list(axes)
    loss, horizon, lyap, gate = axes
    (mean,) = lines_of(loss, "rnn")
    np.testing.assert_array_equal(mean.get_xdata(), [0, 1, 2, 3])  # updates done before each
    np.testing.assert_allclose(mean.get_ydata(), [2.0, 1.5, 2.5, 3.5])
    (line,) = lines_of(horizon, "rnn")
    np.testing.assert_array_equal(line.get_ydata(), [7, 5, 3])  # none within L = 7: drawn at L
    np.testing.assert_array_equal(line.get_xdata(), [0, 2, 4])
    assert 6 in [l.get_ydata()[0] for l in horizon.get_lines()
                 if l.get_linestyle() == ":" and len(l.get_ydata())]  # the delay
    np.testing.assert_array_equal(lines_of(lyap, "lstm")[0].get_ydata(), [-0.1, -0.05, 0.01])
    (forget,) = lines_of(gate, "lstm (forget gate)")
    np.testing.assert_array_equal(forget.get_ydata(), [.7, .8, .9])
    assert not any(l.get_label().startswith("rnn") for l in gate.get_lines())
    plt.close(fig)


def test_three_panels_without_gates_and_a_check_of_the_axes():
    axes = plot_training_flow([RNN])
    assert len(axes) == 3 and axes[1].get_ylabel() == "horizon (steps)"
    plt.close(axes[0].figure)
    fig, two = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 panels"):
        plot_training_flow([RNN], two)
    with pytest.raises(ValueError, match="quantity"):
        plot_flow_quantity([RNN], "speed", ax=two[0])
    with pytest.raises(ValueError, match="at least one run"):
        plot_training_flow([], two)
    with pytest.raises(ValueError, match="its own label"):
        plot_flow_quantity([RNN, RNN], "loss", ax=two[0])
    plt.close(fig)
