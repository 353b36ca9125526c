"""The cells side by side (`gradflow.analysis.comparison`, `gradflow plot cells`): checked
against closed forms (the LRU's |lambda|^d and exponents log10 |lambda_i|, the orthogonal RNN's
zero exponents) and a brute-force numpy recurrence (the relu IndRNN, whose products become
exactly zero), and the results file read back in every format."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from gradflow.analysis.comparison import (compare_cells, comparison_from_table,  # noqa: E402
                                          comparison_to_table)
from gradflow.analysis.network import Network  # noqa: E402
from gradflow.cli import main  # noqa: E402
from gradflow.io.results import read_table, write_table  # noqa: E402

H, T, SAMPLES = 6, 40, 2


@pytest.fixture(scope="module")
def comparison():
    nets = [Network(c, hidden=H, input_size=3, steps=T, samples=SAMPLES, seed=3)
            for c in ("lru", "indrnn")]
    return nets, compare_cells(nets)


def test_lru_decays_as_its_largest_modulus_and_its_exponents_are_its_moduli(comparison):
    nets, result = comparison
    p = nets[0].build().params
    modulus = np.exp(-np.exp(p["nu_log"]))  # |lambda_i| = exp(-exp(nu_i)), closed form
    profile, spec = result.profiles[0], result.spectra[0]
    d = np.arange(1, T + 1)
    assert np.allclose(profile.mean["spectral"], d * np.log10(modulus.max()), atol=1e-10)
    # the real 2H-vector (Re h, Im h): each modulus twice
    expected = np.sort(np.repeat(np.log10(modulus), 2))[::-1]
    assert spec.state_size == 2 * H
    assert np.allclose(spec.lyapunov, expected, atol=1e-10)


def test_relu_indrnn_products_match_a_numpy_recurrence_and_become_exactly_zero(comparison):
    nets, result = comparison
    built = nets[1].build()
    p = built.params
    logs = []
    for x in built.sequences:  # brute force: h_t = relu(W x_t + u h_{t-1} + b)
        h, factors = np.zeros(H), []
        for xt in x:
            a = p["weight_ih"] @ xt + p["weight_hh"] * h + p["bias_ih"]
            factors.append(p["weight_hh"] * (a > 0))  # the diagonal of ds_t/ds_{t-1}
            h = np.maximum(a, 0)
        factors = np.array(factors)
        # ||ds_T/ds_{T-d}||_2 = max_i prod of the last d diagonal factors (a diagonal product)
        with np.errstate(divide="ignore"):
            logs.append([np.log10(np.max(np.abs(np.prod(factors[T - d:], axis=0))))
                         for d in range(1, T + 1)])
    with np.errstate(invalid="ignore"):
        expected = np.mean(logs, axis=0)
    got = result.profiles[1].mean["spectral"]
    assert np.array_equal(np.isneginf(got), np.isneginf(expected))
    assert np.isneginf(expected).any()  # the case the figure marks: a product exactly zero
    finite = np.isfinite(expected)
    assert np.allclose(got[finite], expected[finite], atol=1e-10)
    # a direction that is ever switched off has exponent -inf, the others are below 0 (|u| < 1)
    lyap = result.spectra[1].lyapunov
    assert np.isneginf(lyap).any() and np.all(lyap[np.isfinite(lyap)] < 0)


def test_orthogonal_rnn_with_every_unit_on_has_every_exponent_zero():
    """modReLU passes z + b sign(z) where |z| + b > 0: then ds_t/ds_{t-1} = D W with D = 1, an
    orthogonal matrix, and every exponent is 0 (the precondition checked by brute force)."""
    net = Network("orthogonal", hidden=H, input_size=3, steps=300, samples=1, seed=1)
    built = net.build()
    p = built.params
    A = p["A"] - p["A"].T
    W = scipy.linalg.expm(A)
    h, on = np.zeros(H), True
    for x in built.sequences[0]:
        z = W @ h + p["weight_ih"] @ x
        on &= bool(np.all(np.abs(z) + p["bias"] > 0))
        h = np.sign(z) * np.maximum(np.abs(z) + p["bias"], 0)
    assert on
    result = compare_cells([net])
    assert np.allclose(result.spectra[0].lyapunov, 0.0, atol=1e-12)
    assert np.allclose(result.profiles[0].mean["spectral"], 0.0, atol=1e-12)


@pytest.mark.parametrize("suffix", ["json", "csv", "npz"])
def test_the_results_file_reads_back_in_every_format(tmp_path, comparison, suffix):
    _, result = comparison
    path = tmp_path / f"cells.{suffix}"
    write_table(path, comparison_to_table(result))
    back = comparison_from_table(read_table(path))
    assert back.cells == result.cells
    for a, b in zip(result.profiles, back.profiles):
        assert np.array_equal(a.distance, b.distance)
        assert np.array_equal(a.mean["spectral"], b.mean["spectral"])
        assert np.array_equal(a.std["spectral"], b.std["spectral"], equal_nan=True)
    for a, b in zip(result.spectra, back.spectra):
        assert np.array_equal(a.lyapunov, b.lyapunov) and a.state_size == b.state_size


def test_plot_cells_draws_again_from_its_results_byte_for_byte(tmp_path):
    fig, again, saved = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "cells.json"
    args = ["plot", "cells", "--cell", "rnn", "--cell", "indrnn", "--hidden", "4", "--steps",
            "30", "--quiet", "--dpi", "40"]
    result = CliRunner().invoke(main, args + ["-o", str(fig), "--save-results", str(saved)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["plot", "cells", str(saved), "-o", str(again),
                                       "--dpi", "40"])
    assert result.exit_code == 0, result.output
    assert fig.read_bytes() == again.read_bytes()
    table = read_table(saved)
    assert table.kind == "cells" and set(table.columns["cell"]) == {"rnn", "indrnn"}


def test_plot_cells_refuses_another_kind_of_results_in_one_line(tmp_path):
    spectrum = tmp_path / "spectrum.json"
    result = CliRunner().invoke(main, ["plot", "spectrum", "--hidden", "3", "--steps", "5",
                                       "-q", "-o", str(tmp_path / "s.png"), "--save-results",
                                       str(spectrum)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "c.png"
    proc = subprocess.run([sys.executable, "-m", "gradflow", "plot", "cells", str(spectrum),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "'spectrum'" in proc.stderr and not out.exists()
