"""The README's Python API section runs as printed, and its claims about what it returns hold."""

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradflow as gf  # noqa: E402

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()


def api_block():
    start = README.index("## Python API\n")
    lines = README[start:README.index("\n## ", start + 5)].splitlines()
    code = [line[4:] for line in lines if line.startswith("    ") or not line.strip()]
    return "\n".join(code).strip("\n")


def test_the_python_api_section_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    H, D = 5, 3  # a small trained GRU, as `np.savez(path, **state_dict)` would leave it
    np.savez(tmp_path / "model.npz", weight_ih_l0=rng.standard_normal((3 * H, D)),
             weight_hh_l0=rng.standard_normal((3 * H, H)), bias_ih_l0=rng.standard_normal(3 * H),
             bias_hh_l0=rng.standard_normal(3 * H))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(api_block(), "README.md", "exec"), namespace)
    assert namespace["model"].cell is gf.gru_torch
    flow = namespace["flow"]  # the last one: the LSTM with a skip connection of length 4
    assert namespace["cell"].name == "lstm+skip:4" and flow.log10_spectral_norm.shape == (500,)
    np.testing.assert_array_equal(namespace["params"]["skip_weight"], 0.9 * np.eye(32))
    whole = namespace["whole"]  # the whole augmented product carried: the same ds_T/ds_t
    assert set(flow.blocks) == {"h", "c"} and whole.blocks["augmented"].log10_spectral_norm.shape \
        == (500,)
    np.testing.assert_allclose(whole.log10_spectral_norm, flow.log10_spectral_norm, atol=1e-10)
    # The logistic map at r = 3.9 is chaotic: its Lyapunov exponent is about 0.49 (ln per step).
    lam = gf.lyapunov_spectrum(namespace["logistic"], {"r": 3.9}, state0=np.array([0.3]),
                               steps=5000, discard=500)
    assert lam[0] == pytest.approx(0.49, abs=0.03)
    assert namespace["ax"].get_lines()
    assert len(namespace["sweep"].runs) == 2 * 3 * 2  # delays x models x seeds
    cut = namespace["cut"]  # an LSTM of 50 steps: k = 50 is full BPTT
    assert cut.losses == ("last", "sum") and cut.cosine.shape == (2, 3)
    np.testing.assert_allclose(cut.cosine[:, -1], 1.0, atol=1e-12)
    np.testing.assert_array_equal(cut.lost_share[:, -1], 0.0)
    assert namespace["run"].params["weight_out"].shape == (8, 16)
    learning = namespace["learning"]  # the same run with gradient-flow checkpoints
    np.testing.assert_array_equal(learning.loss, namespace["run"].loss)
    assert learning.flow.update.tolist() == [0, 20, 40, 60] and "forget" in learning.flow.gates
    depth, sens = namespace["depth"], namespace["sens"]
    assert depth.log10_spectral_norm.shape == (3, 100)
    assert depth.log10_spectral_norm[2, 0] == pytest.approx(0.0, abs=1e-12)  # identity at d = 0
    assert sens.output_step == 50 and sorted(sens.directions) == ["forward", "reverse"]
    assert np.all(sens.directions["forward"][0][50:] < sens.log10_spectral_norm[50:] + 1e-12)
    plt.close("all")
