"""The README's tour is what `make figures` produced: it quotes the exact command behind every
figure, shows every figure, and every number it quotes is the one in the numbers file that the
figure's script wrote beside it (figures/*.json, figures/jacobians_table.txt), at the precision
printed. `make figures` runs this file after writing them; `make test` runs it on the committed
files."""

import ast
import math
import pathlib
import re

import numpy as np
import pytest

from gradflow.io.results import read_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SCRIPTS = sorted(p for p in (ROOT / "analyses").glob("*.py")
                 if p.name != "make_all.py" and not p.name.startswith("_"))


def constant(script, name):
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{script.name} has no {name}")


def section(title):
    """The text of the tour section '### title', up to the next heading."""
    start = README.index(f"### {title}\n")
    end = min(i for i in (README.find("\n## ", start), README.find("\n### ", start + 4))
              if i > 0)
    return README[start:end]


def prose(text):
    """`text` without its indented code lines, inline code and image links, on one line."""
    lines = [line for line in text.splitlines()
             if not line.startswith("    ") and not line.startswith("![")]
    return re.sub(r"\s+", " ", re.sub(r"`[^`]*`", " ", "\n".join(lines)))


def commands(text):
    """The indented code lines and inline code spans of `text`: the commands it quotes."""
    code = [line for line in text.splitlines() if line.startswith("    ")]
    return " ".join(code + re.findall(r"`([^`]*)`", text))


class Numbers:
    """A numbers file: rows by the value of their first column, and the metadata."""

    def __init__(self, name):
        table = read_table(ROOT / "figures" / f"{name}.json")
        self.meta = table.metadata
        self.columns = {k: list(v) for k, v in table.columns.items()}

    def row(self, **where):
        keys = list(self.columns)
        for i in range(len(self.columns[keys[0]])):
            if all(self.columns[k][i] == v for k, v in where.items()):
                return {k: self.columns[k][i] for k in keys}
        raise AssertionError(f"no row {where}")


def fixed(x, digits):
    text = f"{x:.{digits}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text  # no "-0.0"


def sig(x, digits):
    """`digits` significant digits, trailing zeros kept: 0.060, 2.2, 0.0596."""
    return f"{x:#.{digits}g}".rstrip(".")


def sci(x, digits):
    """Scientific, as the README writes it: 4.84e5, 2.0e-3."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# ------------------------------------------------------------------ what each section quotes


def decay_phrases():
    d, b = Numbers("decay"), Numbers("decay_bias1")
    rnn, lstm, gru = (d.row(cell=c) for c in ("rnn", "lstm", "gru"))
    lstm1, gru1, rnn1 = (b.row(cell=c) for c in ("lstm", "gru", "rnn"))
    assert rnn["distance"] == lstm["distance"] == gru["distance"] == 200
    return [f"factor {fixed(rnn['rate_per_step'], 2)} per step in the tanh RNN "
            f"(10^{fixed(rnn['log10_spectral_norm'], 1)} after 200 steps)",
            f"the LSTM holds it (a factor {fixed(lstm['rate_per_step'], 3)} per step, "
            f"10^{fixed(lstm['log10_spectral_norm'], 1)} after 200 steps)",
            f"the GRU loses only {fixed(-gru['log10_spectral_norm'], 1)} decades (a factor "
            f"{fixed(gru['rate_per_step'], 3)} per step)",
            f"a factor {fixed(lstm1['rate_per_step'], 2)} per step for the LSTM and "
            f"{fixed(gru1['rate_per_step'], 2)} for the GRU against "
            f"{fixed(rnn1['rate_per_step'], 2)} (10^{fixed(lstm1['log10_spectral_norm'], 1)} "
            f"and 10^{fixed(gru1['log10_spectral_norm'], 1)} after 200 steps against "
            f"10^{fixed(rnn1['log10_spectral_norm'], 1)})"]


def phase_phrases():
    n = Numbers("phase")
    rnn, lstm, gru = (n.row(cell=c) for c in ("rnn", "lstm", "gru"))
    lo, hi = (f"{g:g}" for g in n.meta["scales"])
    return [f"scale (g = {fixed(n.meta['pascanu_scale'], 2)}) where the measured",
            f"(||W_hh||_2 = {fixed(n.meta['rnn_weight_norm_per_scale'], 2)} g for these",
            f"the RNN crosses 0 at g = {fixed(rnn['zero_crossing_scale'], 2)}",
            f"puts the crossing at g = {fixed(n.meta['meanfield_zero_crossing_scale'], 2)}",
            f"(from {fixed(lstm['log10_rate_at_smallest_scale'], 3)} and "
            f"{fixed(gru['log10_rate_at_smallest_scale'], 3)} at g = {lo} to "
            f"{fixed(lstm['log10_rate_at_largest_scale'], 3)} and "
            f"{fixed(gru['log10_rate_at_largest_scale'], 3)} at g = {hi})"]


def heatmap_phrases():
    n = Numbers("heatmap")
    g50, g100 = n.row(gap=50), n.row(gap=100)
    return [f"at a gap of 50 steps from 10^{fixed(g50['log10_spectral_norm_min'], 1)} to "
            f"10^{fixed(g50['log10_spectral_norm_max'], 1)}, at 100 steps from "
            f"10^{fixed(g100['log10_spectral_norm_min'], 1)} to "
            f"10^{fixed(g100['log10_spectral_norm_max'], 1)}"]


def spectrum_phrases():
    n = Numbers("spectrum")
    rnn, lstm, gru = (n.row(cell=c) for c in ("rnn", "lstm", "gru"))
    d = n.meta["distance"]
    decades = max(r["decades"] for r in (rnn, lstm, gru))
    return [f"all singular values of ds_T/ds_{{T-{d}}}",
            f"resolved over {fixed(decades, 0)} decades",
            f"the RNN's smallest singular value is 10^{fixed(rnn['log10_singular_value_min'], 1)}, "
            f"{d} times its smallest exponent {fixed(d * rnn['lyapunov_min'], 1)}",
            f"(median exponent {fixed(gru['lyapunov_median'], 3)} per step)",
            f"the RNN's spread down to {fixed(rnn['lyapunov_min'], 2)} decades per step",
            f"GRU's (median {fixed(lstm['lyapunov_median_first_half'], 3)}), the other H "
            f"{fixed(lstm['lyapunov_median_second_half'] / lstm['lyapunov_median_first_half'], 1)}"
            f" times faster (median {fixed(lstm['lyapunov_median_second_half'], 3)})"]


def gates_phrases():
    n = Numbers("gates")
    lstm, gru = n.row(cell="lstm"), n.row(cell="gru")
    lo, hi = n.meta["quantiles"]
    return [f"band {100 * lo:.0f}-{100 * hi:.0f} %",
            f"on average {fixed(lstm['gate_mean'], 3)} and {fixed(gru['gate_mean'], 3)}",
            f"(10^{fixed(lstm['log10_c_spectral_norm'], 1)} and "
            f"10^{fixed(lstm['log10_h_spectral_norm'], 1)} after {lstm['distance']} steps for "
            f"the LSTM's blocks, 10^{fixed(gru['log10_h_spectral_norm'], 1)} for the GRU)"]


def skip_phrases():
    n = Numbers("skip_decay")
    v = {name: n.row(variant=name) for name in n.columns["variant"]}
    horizon = {name: (None if r["horizon"] is None or r["horizon"] != r["horizon"]
                      else int(r["horizon"])) for name, r in v.items()}
    assert horizon["skip:4"] is None and horizon["dense:4"] is None  # "over all 100 steps"
    assert all(v[name]["verdict"] == "exploding" for name in
               ("residual", "skip:2", "skip:4", "skip:8", "dense:4"))
    amplified = [v[name] for name in ("residual", "skip:2", "skip:4", "skip:8", "dense:4")]
    rates = [r["rate_per_step"] for r in amplified]
    ends = [r["log10_spectral_norm"] for r in amplified]
    return [f"defaults: H = {n.meta['hidden']}, T = {n.meta['steps']}",
            f"falls by a factor {fixed(v['none']['rate_per_step'], 2)} per step and leaves "
            f"[1e-3, 1e3] after {horizon['none']} steps "
            f"(10^{fixed(v['none']['log10_spectral_norm'], 1)} at distance {n.meta['steps']})",
            f"slows that to {fixed(v['highway']['rate_per_step'], 2)} per step, horizon "
            f"{horizon['highway']}",
            f"keeps the gradient inside until distance {horizon['residual']}, skip:2 until "
            f"distance {horizon['skip:2']}",
            f"(first at distance {horizon['skip:8']})",
            f"(factors {fixed(min(rates), 2)} to {fixed(max(rates), 2)} per step, "
            f"10^{fixed(min(ends), 1)} to 10^{fixed(max(ends), 1)} at distance "
            f"{n.meta['steps']}"]


def skip_training_phrases():
    n = Numbers("skip_training")
    m = n.meta
    def row(**where):  # the largest delay solved as an int, None (nan in the file) for none
        r = n.row(**where)
        solved = r["largest_solved"]
        return {**r, "largest_solved": None if solved != solved else int(solved)}

    recall = {r: row(task="recall", model=r) for r in n.columns["model"][:7]}
    copy = {r: row(task="copy", model=r) for r in n.columns["model"][7:]}
    rnn, lstm, high = recall["rnn"], recall["lstm"], recall["rnn+highway"]
    connections = [recall[f"rnn+{v}"] for v in ("residual", "skip:4", "dense:4")]
    assert m["delays"] == {"recall": [5, 10, 20, 40], "copy": [5, 10, 20]}
    assert lstm["largest_solved"] == recall["gru"]["largest_solved"] == 40
    assert all(r["largest_solved"] == 40 for r in connections)
    assert 20 > rnn["largest_solved"] and high["largest_solved"] == 20
    assert all(r["largest_solved"] is None for r in copy.values())  # "no model solves"
    chance = {fixed(c, 3) for c in m["chance"].values()}
    assert chance == {"0.125"}  # "chance 1/8 for both"
    skip, dense = copy["rnn+skip:4"], copy["rnn+dense:4"]
    return [f"H = {m['hidden']}, batch {m['batch']}, {m['updates']} updates of Adam at learning "
            f"rate {m['lr']:g}, global-norm clipping at {m['clip_threshold']:g}, seeds "
            f"{', '.join(map(str, m['seeds'][:-1]))} and {m['seeds'][-1]}",
            f"judged on {m['eval_batch']} held-out sequences",
            f"is at least {m['solved_level']:g}",
            f"the LSTM solves every delay up to T = {lstm['largest_solved']} (accuracy "
            f"{fixed(lstm['min_T40'], 2)} to {fixed(lstm['max_T40'], 2)} over the seeds at "
            "T = 40)",
            f"the plain tanh RNN only up to T = {rnn['largest_solved']}: at T = 20 its seeds "
            f"reach {fixed(rnn['min_T20'], 2)} to {fixed(rnn['max_T20'], 2)} (mean "
            f"{fixed(rnn['mean_T20'], 2)}), and {fixed(rnn['mean_T40'], 2)} at T = 40",
            "solve recall up to T = 40 as well (mean accuracy "
            f"{', '.join(fixed(r['mean_T40'], 2) for r in connections[:2])} and "
            f"{fixed(connections[2]['mean_T40'], 2)} at T = 40)",
            f"the highway solves T = {high['largest_solved']} by a hair (mean "
            f"{fixed(high['mean_T20'], 2)}, its seeds between {fixed(high['min_T20'], 2)} and "
            f"{fixed(high['max_T20'], 2)}: the verdict could flip with the seeds) and falls below "
            f"the line at T = 40 (mean {fixed(high['mean_T40'], 2)})",
            f"come closest ({fixed(skip['mean_T5'], 2)} and {fixed(dense['mean_T5'], 2)} at "
            f"T = 5, {fixed(skip['mean_T20'], 2)} and {fixed(dense['mean_T20'], 2)} at T = 20), "
            f"well above the LSTM ({fixed(copy['lstm']['mean_T5'], 2)} at T = 5) and the GRU "
            f"({fixed(copy['gru']['mean_T5'], 2)}); the plain RNN stays at chance "
            f"({fixed(copy['rnn']['mean_T5'], 2)}, {fixed(copy['rnn']['mean_T10'], 2)} and "
            f"{fixed(copy['rnn']['mean_T20'], 2)})"]


def training_flow_phrases():
    from fractions import Fraction

    n = Numbers("training_flow")
    m = n.meta
    rnn, lstm, gru = (n.row(cell=c) for c in ("rnn", "lstm", "gru"))
    whole = lambda x: str(int(x))  # noqa: E731  (an update or a distance, read back as float)
    nan = lambda x: x is None or x != x  # noqa: E731
    assert nan(rnn["update_near_zero"]) and nan(rnn["update_leaving"])  # "never learns"
    assert nan(rnn["horizon_start"]) and nan(lstm["horizon_smallest"]) and \
        nan(gru["horizon_smallest"])  # "no distance leaves the band", "neither leaves"
    assert lstm["update_near_zero"] < lstm["update_leaving"] and \
        gru["update_near_zero"] < gru["update_leaving"]  # "before it learns the task"
    assert 0 < lstm["lyapunov_1_end"] < 0.05 and 0 < gru["lyapunov_1_end"] < 0.05  # "just above"
    assert (m["optimizer"], m["clip_mode"]) == ("adam", "norm")
    frac = str(Fraction(m["leaves"]).limit_denominator(10))
    d = m["delay_distance"]
    return [f"delayed recall at T = {m['steps']} (the first of {m['steps'] + 1} tokens, asked "
            f"for after {m['steps']} distractors",
            f"seed {m['seed']} with H = {m['hidden']}, batch {m['batch']}, {m['updates']} updates "
            f"of Adam at learning rate {m['lr']:g}, global-norm clipping at {m['threshold']:g}",
            f"every {m['flow_every']} updates a checkpoint of the current weights on "
            f"{m['flow_samples']} held-out sequences of the task ({m['length']} steps; the answer "
            f"lies {d} steps back",
            f"(mean of {m['window']} updates; the memoryless loss {fixed(m['baseline'], 3)} "
            "dashed)",
            f"hollow where it does not within the {m['length']} steps",
            f"by update {whole(lstm['update_near_zero'])} its leading exponent has risen from "
            f"{fixed(lstm['lyapunov_1_start'], 3)} to {fixed(lstm['lyapunov_1_near_zero'], 3)} per "
            f"step and its norm at distance {d} from 10^{fixed(lstm['log10_norm_delay_start'], 2)}"
            f" to 10^{fixed(lstm['log10_norm_delay_near_zero'], 2)}",
            f"(the mean of {m['window']} updates first falls below {frac} of it at update "
            f"{whole(lstm['update_leaving'])})",
            f"its forget gate has moved only from {fixed(lstm['gate_start'], 3)} to "
            f"{fixed(lstm['gate_near_zero'], 3)}; the gate opens to "
            f"{fixed(lstm['gate_leaving'], 3)} by update {whole(lstm['update_leaving'])} and to "
            f"{fixed(lstm['gate_end'], 3)} by the end (loss {fixed(lstm['loss_end'], 2)})",
            f"its exponent rises from {fixed(gru['lyapunov_1_start'], 3)} to "
            f"{fixed(gru['lyapunov_1_near_zero'], 3)} by update {whole(gru['update_near_zero'])} "
            f"and its norm at the delay from 10^{fixed(gru['log10_norm_delay_start'], 2)} to "
            f"10^{fixed(gru['log10_norm_delay_near_zero'], 2)}, its loss falls below {frac} of "
            f"the memoryless level at update {whole(gru['update_leaving'])}, and its keep "
            f"fraction moves from {fixed(gru['gate_start'], 3)} to "
            f"{fixed(gru['gate_near_zero'], 3)} by update {whole(gru['update_near_zero'])} and "
            f"ends at {fixed(gru['gate_end'], 3)} (loss {fixed(gru['loss_end'], 2)})",
            f"just above 0 ({fixed(lstm['lyapunov_1_end'], 3)} and "
            f"{fixed(gru['lyapunov_1_end'], 3)} per step)",
            f"(10^{fixed(rnn['log10_norm_delay_start'], 2)} at the delay)",
            f"below the delay at {whole(rnn['horizon_below_delay'])} of the {m['checkpoints']} "
            f"checkpoints (down to {whole(rnn['horizon_smallest'])} steps; "
            f"{whole(rnn['horizon_end'])} at the end), its leading exponent falls from "
            f"{fixed(rnn['lyapunov_1_start'], 3)} to {fixed(rnn['lyapunov_1_end'], 3)} per step "
            f"and its norm at the delay to 10^{fixed(rnn['log10_norm_delay_end'], 2)}",
            f"(loss {fixed(rnn['loss_start'], 2)} over the first {m['window']} updates, "
            f"{fixed(rnn['loss_end'], 2)} over the last {m['window']})"]


def depth_phrases():
    n = Numbers("depth")
    m = n.meta
    plain0, plain7 = n.row(cell="8xrnn", layer=0), n.row(cell="8xrnn", layer=7)
    res0, res7 = n.row(cell="8xrnn+res", layer=0), n.row(cell="8xrnn+res", layer=7)
    reads = m["top_layer_reads_rms"]
    ff = m["feedforward_log10_norm_layer0"]
    assert fixed(plain0["mean_tanh_slope"], 2) == fixed(res0["mean_tanh_slope"], 2)  # "of both"
    carry = 1 - 1 / (1 + math.exp(1.0))  # 1 - sigmoid(-1), the highway's carry at bias -1
    return [f"at d = 0, ||ds^(7)_T/ds^(0)_T||_2 is 10^{fixed(res0['d0'], 2)} against "
            f"10^{fixed(plain0['d0'], 2)} without them",
            f"(the top layer's input has an rms of {fixed(reads['8xrnn+res'], 2)} against "
            f"{fixed(reads['8xrnn'], 2)})",
            f"(mean tanh' {fixed(res7['mean_tanh_slope'], 2)} against "
            f"{fixed(plain7['mean_tanh_slope'], 2)} in the top layer, "
            f"{fixed(plain0['mean_tanh_slope'], 2)} in the first layer of both)",
            f"the top layer's own norm falls below 1e-3 at d = {res7['below_1e-3_at']} against "
            f"{plain7['below_1e-3_at']} (10^{fixed(res7['d50'], 2)} against "
            f"10^{fixed(plain7['d50'], 2)} at d = 50), the first layer's at d = "
            f"{res0['below_1e-3_at']} against {plain0['below_1e-3_at']} "
            f"(10^{fixed(res0['d50'], 2)} against 10^{fixed(plain0['d50'], 2)} at d = 50)",
            f"(its first layer sits {fixed(-plain0['d0'], 2)} decades below the top at d = 0)",
            f"The plain network loses {fixed(-ff['plain'], 2)} decades from the top layer to "
            f"the input",
            f"holds it at 10^{fixed(ff['residual'], 2)}",
            f"the mean of the last 4 layers' outputs) at 10^{fixed(ff['dense:4'], 2)}",
            f"with the toolkit's gate bias -1 only at 10^{fixed(ff['highway'], 2)}",
            f"starts near 1 - sigmoid(-1) = {fixed(carry, 2)}, a factor per layer",
            f"with the gate bias at -3 (not drawn) it keeps "
            f"10^{fixed(ff['highway_bias_-3'], 2)}",
            f"The toolkit's defaults: H = {m['hidden']}, gaussian weights N(0, 1/H), "
            f"T = {m['steps']}, mean of {m['samples']} input sequences",
            f"the plain network barely vanishes (10^{fixed(ff['plain_scale_1'], 2)} at l = 0)",
            f"weights N(0, {m['feedforward_scale']:g}²/n)",
            f"L = {m['feedforward_depth']} layers of n = {m['feedforward_width']} units"]


def sensitivity_phrases():
    n = Numbers("sensitivity")
    m = n.meta
    rnn, lstm = n.row(cell="rnn", output="both"), n.row(cell="lstm", output="both")
    two, skip = n.row(cell="2xlstm", output="both"), n.row(cell="rnn+skip:4", output="both")
    bi = n.row(cell="2xlstm+bi", output="both")
    fwd = n.row(cell="2xlstm+bi", output="forward")
    rev = n.row(cell="2xlstm+bi", output="reverse")
    assert all(n.row(cell=c, output="both")["ahead"] == 0 and
               n.row(cell=c, output="both")["t100"] == -math.inf
               for c in ("rnn", "lstm", "2xlstm", "rnn+skip:4"))  # "nothing is drawn"
    assert two["back"] == 49 and bi["back"] == 49  # "keeps all 49": t = 1..49
    return [f"the middle step tau = {m['output_step']} of a sequence of T = {m['steps']}",
            f"(the toolkit's defaults: H = {m['hidden']}, gaussian weights N(0, 1/H), forget "
            f"bias 1; mean of {m['samples']} input sequences)",
            f"Back from tau the norm stays at least 1e-3 over {rnn['back']} steps for the tanh "
            f"RNN (10^{fixed(rnn['t1'], 2)} at t = 1) and {lstm['back']} for the one-layer LSTM "
            f"(10^{fixed(lstm['t1'], 2)})",
            f"the 2-layer LSTM keeps all {two['back']} (10^{fixed(two['t1'], 2)} at t = 1)",
            f"grows backwards (10^{fixed(skip['t1'], 2)} at t = 1",
            f"(10^{fixed(bi['t1'], 2)} at t = 1, 10^{fixed(bi['t100'], 2)} at t = 100; "
            f"{bi['back']} steps back and {bi['ahead']} ahead above 1e-3)",
            f"the forward half stays above 1e-3 for {fwd['ahead']} steps ahead "
            f"(10^{fixed(fwd['t100'], 2)} at t = 100), the reverse half for {rev['back']} back "
            f"(10^{fixed(rev['t1'], 2)} at t = 1)"]


def clipping_phrases():
    n, r = Numbers("clipping_ablation"), Numbers("clipping_recall")
    none, norm, value = (n.row(mode=m) for m in ("none", "norm", "value"))
    assert none["diverged"] and not norm["diverged"] and not value["diverged"]
    limit = sci(n.meta["max_loss"], 1).replace(".0e", "e")
    rows = []
    for s, label in ((none, "(1)"), (norm, "1"), (value, "1")):
        final = sci(s["final_loss"], 3) if s["final_loss"] >= 1e4 else sig(s["final_loss"], 3)
        diverged = (f"yes, stopped at update {s['updates']} (loss > {limit})" if s["diverged"]
                    else "no")
        rows.append([s["mode"], label, final, sig(s["best_loss"], 3),
                     f"{s['above_threshold']} of {s['updates']}", str(s["clipped"]), diverged])
    recall = {(row, mode): r.row(seed=row, mode=mode)["final_loss"]
              for row in (0, 1, 2) for mode in ("none", "norm", "value")}
    phrases = [f"the gradient norm spikes to {sci(none['largest_grad_norm'], 2)} and the loss "
               f"passes the blow-up limit ({limit}) at update {none['updates']}",
               f"for all {norm['updates']} updates",
               f"has MSE 1/6 = {fixed(n.meta['baseline'], 3)}",
               f"chance log 8 = {fixed(r.meta['baseline'], 3)}",
               f"Mean loss of the last {r.meta['final_loss_window']} updates, seed 0: "
               f"{sig(recall[0, 'none'], 2)} without clipping (stuck at chance), "
               f"{sig(recall[0, 'norm'], 2)} with norm clipping at 1, "
               f"{sig(recall[0, 'value'], 2)} with value clipping at 1; with seeds 1 and 2, "
               f"norm clipping {sig(recall[1, 'norm'], 2)} and {sig(recall[2, 'norm'], 2)}, "
               f"no clipping {sig(recall[1, 'none'], 2)} and {sig(recall[2, 'none'], 2)}, "
               f"value clipping {sig(recall[1, 'value'], 2)} and {sig(recall[2, 'value'], 2)}."]
    assert r.meta["seeds"] == [0, 1, 2]
    return phrases, rows


def cliff_phrases():
    n = Numbers("pascanu_cliff")
    m, clipped = n.meta, n.row(path="clipped")
    return [f"at w = {fixed(m['wall_w'], 2)} it drops from {fixed(m['wall_loss_below'], 1)} to "
            f"{fixed(m['wall_loss_above'], 1)} within {sci(m['wall_width_b'], 2)} in b",
            f"takes {m['wall_step'] - 1} ordinary steps (gradient norm at most "
            f"{fixed(m['ordinary_steps_largest_grad_norm'], 1)}), lands on the wall at step "
            f"{m['wall_step']}, where the gradient norm is {sci(m['wall_grad_norm'], 2)}, and is "
            f"thrown to ({fixed(m['landing_w'], 0)}, {fixed(m['landing_b'], 0)}) by step "
            f"{m['thrown_step']}",
            f"every one of its {clipped['steps']} steps is clipped to length "
            f"{fixed(clipped['largest_step'], 2)}",
            f"(gradient norms up to {sci(clipped['largest_grad_norm'], 2)})",
            f"down to loss {sig(clipped['end_loss'], 2)} at ({fixed(clipped['end_w'], 2)}, "
            f"{fixed(clipped['end_b'], 2)})",
            f"At T = {m['longer_steps']} the same drop takes {sci(m['longer_wall_width_b'], 2)} "
            f"in b", f"(its largest gradient norm is {fixed(m['longer_largest_grad_norm'], 0)})"]


def truncation_phrases():
    n = Numbers("truncation")
    m = n.meta
    r = {(c, loss): n.row(cell=c, loss=loss) for c in ("rnn", "lstm", "gru")
         for loss in ("last", "sum")}
    keep = {key: row["keeps_90"] for key, row in r.items()}
    assert keep["rnn", "last"] == keep["rnn", "sum"] and keep["lstm", "last"] == \
        keep["lstm", "sum"]  # "with either loss"
    assert all(r["lstm", loss]["lost_share_k10"] > r[c, loss]["lost_share_k10"]
               for c in ("rnn", "gru") for loss in ("last", "sum"))  # "costs most"
    cos1 = {key: fixed(row["cosine_k1"], 2) for key, row in r.items()}
    lost10 = {key: sig(row["lost_share_k10"], 2) for key, row in r.items()}
    return [f"H = {m['hidden']}, T = {m['steps']}, seed {m['seed']}",
            f"a vocabulary of {m['vocabulary']}",
            f"summed over a batch of {m['samples']} sequences",
            f"One step of back-propagation (k = 1) keeps a cosine of {cos1['rnn', 'last']} (loss "
            f"at the last step) and {cos1['rnn', 'sum']} (summed loss) for the RNN, "
            f"{cos1['lstm', 'last']} and {cos1['lstm', 'sum']} for the LSTM, "
            f"{cos1['gru', 'last']} and {cos1['gru', 'sum']} for the GRU",
            f"every larger k of the grid {', '.join(map(str, m['truncations'][:10]))}, ..., "
            f"{m['truncations'][-1]}) from k = {keep['rnn', 'last']} for the RNN with either "
            "loss, from "
            f"k = {keep['lstm', 'last']} for the LSTM with either loss, and from "
            f"k = {keep['gru', 'last']} (last) and k = {keep['gru', 'sum']} (summed) for the GRU",
            f"at k = 10 it still loses {lost10['lstm', 'last']} (last) and "
            f"{lost10['lstm', 'sum']} (summed) of its gradient, the RNN {lost10['rnn', 'last']} "
            f"and {lost10['rnn', 'sum']}, the GRU {lost10['gru', 'last']} and "
            f"{lost10['gru', 'sum']}"]


def flossing_phrases():
    n = Numbers("flossing")
    m = n.meta
    rnn, floss, skip, lstm, gru = (n.row(model=x) for x in m["models"])
    assert m["models"] == ["rnn", "rnn+floss", "rnn+skip:4", "lstm", "gru"]
    assert m["delays"] == {"recall": [10, 20, 40, 60]} and m["floss_every"] == 1
    assert m["optimizer"] == "adam"
    seeds = len(m["seeds"])
    # "from T = 10 to T = 20 on every seed and to T = 40 on most"; "no seed succeeds" at 60;
    # skip:4 "succeeds on every seed at every delay"; LSTM and GRU "at T = 40 on none"
    assert rnn["success_T10"] == 1 > rnn["success_T20"] and floss["success_T20"] == 1
    assert floss["success_T40"] > 0.5 and floss["success_T60"] == 0
    assert all(skip[f"success_T{d}"] == 1 for d in (10, 20, 40, 60))
    assert lstm["success_T40"] == gru["success_T40"] == 0
    assert skip["lyapunov_1_end_T60"] > 0  # "above 0"
    ok = lambda r, d: str(round(r[f"success_T{d}"] * seeds))  # noqa: E731  (seeds that succeed)

    def rates(r):
        return ", ".join(fixed(r[f"success_T{d}"], 1) for d in (10, 20, 40)) + \
            f" and {fixed(r['success_T60'], 1)}"

    def pair(key, digits):
        return tuple(fixed(x[key], digits) for x in (floss, rnn))

    return [f"from seeds {', '.join(map(str, m['seeds'][:-1]))} and {m['seeds'][-1]}",
            f"(forget bias {m['forget_bias']:g}) trained without it, all with H = {m['hidden']}, "
            f"batch {m['batch']}, {m['updates']} updates of Adam at learning rate {m['lr']:g} and "
            f"global-norm clipping at {m['clip_threshold']:g}",
            f"judged on the same {m['eval_batch']} held-out sequences",
            f"it first takes {m['prefloss']} preflossing updates and then flosses the leading "
            f"{m['floss']} exponents (weight {m['floss_weight']:g}) at every update",
            f"at least {m['solved_level']:g} (chance {fixed(m['chance'], 3)}); left, the share of "
            f"the {seeds} seeds",
            f"on {m['flow_samples']} held-out sequences",
            f"its success rate is {rates(floss)} at T = 10, 20, 40 and 60, against {rates(rnn)} "
            "without",
            "(mean accuracy {} against {} at T = 20, {} against {} at T = 40)".format(
                *pair("mean_T20", 2), *pair("mean_T40", 2)),
            f"leading exponent is {fixed(floss['lyapunov_1_end_T40'], 3)} per step at T = 40 and "
            f"{fixed(floss['lyapunov_1_end_T60'], 3)} at T = 60 (the plain RNN's "
            f"{fixed(rnn['lyapunov_1_end_T40'], 3)} and {fixed(rnn['lyapunov_1_end_T60'], 3)})",
            "norm at the delay is {} and {} (the plain RNN's {} and {})".format(
                *(f"10^{fixed(r[f'log10_norm_delay_end_T{d}'], 2)}"
                  for r in (floss, rnn) for d in (40, 60))),
            f"(mean {fixed(floss['mean_T60'], 2)}, its seeds {fixed(floss['min_T60'], 2)} to "
            f"{fixed(floss['max_T60'], 2)}) is far above the plain RNN's "
            f"{fixed(rnn['mean_T60'], 2)}",
            f"(mean accuracy {fixed(skip['mean_T60'], 2)} at T = 60), with a leading exponent "
            f"above 0 ({fixed(skip['lyapunov_1_end_T60'], 3)} at T = 60) and a norm at the delay "
            f"that grows with it (10^{fixed(skip['log10_norm_delay_end_T60'], 2)})",
            f"succeed at T = 20 on {ok(lstm, 20)} and {ok(gru, 20)} of the {seeds} seeds",
            f"(10^{fixed(lstm['log10_norm_delay_end_T40'], 2)} and "
            f"10^{fixed(gru['log10_norm_delay_end_T40'], 2)} at the delay, from "
            f"10^{fixed(lstm['log10_norm_delay_start_T40'], 2)} and "
            f"10^{fixed(gru['log10_norm_delay_start_T40'], 2)} at the start)"]


def memory_phrases():
    n = Numbers("memory")
    cells = ("lru", "lru_nogamma", "indrnn_linear", "mingru", "rnn", "lstm", "gru")
    r = {(c, lam): n.row(cell=c, memory_factor=lam) for c in cells for lam in (0.9, 0.99)}
    num = lambda x: sci(x, 4) if abs(x) >= 1e4 else sig(x, 4)  # noqa: E731
    pm = lambda row: f"{num(row['sensitivity'])} ± {num(row['sensitivity_se'])}"  # noqa: E731
    ts = lambda row: num(row["timescale_achieved"])  # noqa: E731
    for c in ("lru", "lru_nogamma", "indrnn_linear"):  # "within four standard errors"; "exactly"
        for lam in (0.9, 0.99):
            row = r[c, lam]
            assert abs(row["sensitivity"] - row["expected"]) < 4 * row["sensitivity_se"]
            assert row["timescale_achieved"] == round(1 / (1 - lam))
    for lam in (0.9, 0.99):  # "multiplies the LRU's by exactly 1 - lambda^2" (4 digits kept)
        assert r["lru", lam]["sensitivity"] == pytest.approx(
            (1 - lam ** 2) * r["lru_nogamma", lam]["sensitivity"], rel=1e-3)
    lstm, rnn = r["lstm", 0.99], r["rnn", 0.99]
    assert r["mingru", 0.99]["sensitivity"] < r["lru", 0.99]["sensitivity"]  # "beats gamma"
    assert r["gru", 0.99]["sensitivity"] < r["lru", 0.99]["sensitivity"]
    assert lstm["sensitivity"] == max(row["sensitivity"] for row in r.values())  # "the largest"
    assert lstm["sensitivity_se"] > lstm["sensitivity"] / 2  # "a few sequences dominating"
    closed = {lam: num(r["lru", lam]["closed_form"]) for lam in (0.9, 0.99)}
    return [f"at lambda = 0.99 (timescale {round(1 / (1 - 0.99))}) the LRU without gamma has a "
            f"sensitivity of {pm(r['lru_nogamma', 0.99])} and the linear IndRNN "
            f"{pm(r['indrnn_linear', 0.99])}",
            f"the closed form at this length, {closed[0.99]}, times the mean variance of a "
            "unit's input under the drawn weights (1 on average) predicts "
            f"{num(r['lru_nogamma', 0.99]['expected'])} and "
            f"{num(r['indrnn_linear', 0.99]['expected'])}",
            f"at lambda = 0.9 (timescale {round(1 / (1 - 0.9))}), {pm(r['lru_nogamma', 0.9])} and "
            f"{pm(r['indrnn_linear', 0.9])} against {num(r['lru_nogamma', 0.9]['expected'])} and "
            f"{num(r['indrnn_linear', 0.9]['expected'])} (closed form {closed[0.9]})",
            f"{pm(r['lru', 0.99])} at lambda = 0.99 against {num(r['lru', 0.99]['expected'])} "
            f"predicted, {pm(r['lru', 0.9])} against {num(r['lru', 0.9]['expected'])} at 0.9",
            f"({ts(r['mingru', 0.99])} and {ts(r['gru', 0.99])} steps at target 100) with "
            f"sensitivities of {num(r['mingru', 0.99]['sensitivity'])} and "
            f"{num(r['gru', 0.99]['sensitivity'])}",
            f"it holds {ts(lstm)} steps at target 100, and its sensitivity, {pm(lstm)}, is the "
            "largest",
            f"its timescale stays at {ts(rnn)} steps at target 100 and its sensitivity at "
            f"{num(rnn['sensitivity'])}"]


def cells_phrases():
    n = Numbers("cells")
    r = {c: n.row(cell=c) for c in n.columns["cell"]}
    ortho, lru, ind = r["orthogonal"], r["lru"], r["indrnn"]
    others = [c for c in r if c != "orthogonal"]
    # "the slowest of the others"; "holds best at short distances"; "all of its exponents"
    assert lru["factor_per_step"] == max(r[c]["factor_per_step"] for c in others
                                         if c != "indrnn")
    assert ind["log10_norm_d10"] == max(r[c]["log10_norm_d10"] for c in others)
    assert ind["lyapunov_minus_inf"] == ind["state_size"] and ind["log10_norm_d100"] == -np.inf
    assert abs(ortho["log10_norm_d100"]) < 1e-12 and abs(ortho["lyapunov_max"]) < 1e-12
    assert ortho["factor_per_step"] == 1.0
    vanish = lambda c: f"{sig(r[c]['factor_per_step'], 4)} ({sig(r[c]['log10_norm_d100'], 4)})"  # noqa: E731
    return [f"its products keep norm 1 (log10 {sci(ortho['log10_norm_d100'], 4)} at distance "
            f"100, zero to rounding) and its leading exponent is "
            f"{sci(ortho['lyapunov_max'], 4)}; {ortho['lyapunov_minus_inf']} of its "
            f"{ortho['state_size']} exponents are -inf",
            f"by a factor {sig(lru['factor_per_step'], 4)} per step (log10 norm "
            f"{sig(lru['log10_norm_d100'], 4)} at distance 100), the slowest of the others",
            f"the LSTM by {sig(r['lstm']['factor_per_step'], 4)} per step "
            f"({sig(r['lstm']['log10_norm_d100'], 4)} at distance 100), the GRU {vanish('gru')}, "
            f"minGRU {vanish('mingru')}, minLSTM {vanish('minlstm')}, against the tanh RNN's "
            f"{vanish('rnn')}",
            f"({sig(ind['log10_norm_d10'], 4)} at distance 10, against the LRU's "
            f"{sig(lru['log10_norm_d10'], 4)})",
            f"so all {ind['lyapunov_minus_inf']} of its exponents are -inf and its product is "
            f"exactly 0 by distance 100 in at least one sequence (horizon "
            f"{int(ind['horizon'])} steps)"] + copy_phrases()


def copy_phrases():
    n = Numbers("copy_task")
    m = n.meta
    r = {(mo, d): n.row(model=mo, delay=d) for mo in n.columns["model"] for d in (100, 500)}
    ratio = lambda mo, d: sig(r[mo, d]["eval_over_baseline"], 4)  # noqa: E731
    beats = {d: {mo for (mo, t), row in r.items() if t == d and row["beats_baseline"]}
             for d in (100, 500)}
    assert beats[100] == {"lru", "orthogonal", "mingru", "indrnn", "gru"}  # "five cells"
    assert beats[500] == {"gru"}  # "only the GRU"
    order = sorted(beats[100], key=lambda mo: r[mo, 100]["eval_over_baseline"])
    assert order == ["lru", "orthogonal", "mingru", "indrnn", "gru"]  # the order named
    gru, rnn = r["gru", 500], r["rnn", 500]
    base = m["baseline"]
    return [f"10 ln 8 / (T + 20): {sig(base['100'], 4)} at T = 100 and {sig(base['500'], 4)} "
            "at T = 500",
            f"(H = {m['hidden']}, batch {m['batch']}, {m['updates']} updates of Adam at learning "
            f"rate {m['lr']:g}, global-norm clipping at {m['clip_threshold']:g}, forget bias "
            f"{m['forget_bias']:g}, seed {m['seeds'][0]}) and judged on {m['eval_batch']} "
            "held-out sequences",
            f"the LRU ({ratio('lru', 100)} of it, accuracy {sig(r['lru', 100]['accuracy'], 4)} on "
            f"the copied tokens, chance 0.125), the orthogonal RNN ({ratio('orthogonal', 100)} of "
            f"it, accuracy {sig(r['orthogonal', 100]['accuracy'], 4)}), minGRU "
            f"({ratio('mingru', 100)}), IndRNN ({ratio('indrnn', 100)}) and the GRU "
            f"({ratio('gru', 100)})",
            f"stay on it ({ratio('rnn', 100)}, {ratio('lstm', 100)} and {ratio('minlstm', 100)} "
            "of it)",
            f"({ratio('gru', 500)} of it; its training loss, in means of {m['window']} updates, "
            f"stays below it from update {int(gru['below_from'])} on)",
            f"stay on it ({ratio('lru', 500)} and {ratio('orthogonal', 500)} of it)",
            f"its log10 norm there from {sig(gru['log10_norm_delay_start'], 4)} to "
            f"{sig(gru['log10_norm_delay_end'], 4)} and its leading exponent from "
            f"{sig(gru['lyapunov_1_start'], 4)} to {sig(gru['lyapunov_1_end'], 4)} per step, "
            f"while the tanh RNN's norm fell from {sig(rnn['log10_norm_delay_start'], 4)} to "
            f"{sig(rnn['log10_norm_delay_end'], 4)}"]


SECTIONS = {
    "Vanishing against holding": decay_phrases,
    "Phase diagram: vanishing, exploding, and the theory that predicts the boundary":
        phase_phrases,
    "Every pair of times": heatmap_phrases,
    "Spectra": spectrum_phrases,
    "The mechanism: gates": gates_phrases,
    "Clipping: what it changes about training": lambda: clipping_phrases()[0],
    "Pascanu's cliff": cliff_phrases,
    "Skip connections: what they change about the flow": skip_phrases,
    "Skip connections: what they change about learning": skip_training_phrases,
    "Gradient flow while networks learn": training_flow_phrases,
    "Gradient flossing: what it changes about learning": flossing_phrases,
    "The curse of memory": memory_phrases,
    "Modern recurrences side by side": cells_phrases,
    "Truncated BPTT: what it throws away": truncation_phrases,
    "Depth: stacked layers, and deep feed-forward networks": depth_phrases,
    "Input sensitivity: how far back, and ahead, the output sees": sensitivity_phrases,
}
# Numbers a section may print that are neither settings of its commands nor results of its run,
# each for a reason given here.
CONSTANTS = {
    "Phase diagram: vanishing, exploding, and the theory that predicts the boundary":
        {"1", "0", "0.5", "2013", "2016", "2018"},  # ||.|| = 1, 1/gamma = 1, 0.5 log10 chi, years
    "Every pair of times": {"1.5"},  # the scale, in words
    "Spectra": {"16", "2", "20", "1"},  # float64: 16 decades; n = 2H; 20 x; forget bias 1
    "The mechanism: gates": {"1"},  # a gate near 1; 1 - z
    "Clipping: what it changes about training": {
        "1", "2", "6", "1/6", "0.167", "8", "2.079", "10", "1997", "2016", "2013", "20",
        "0.1", "0.3", "300", "0", "50", "200"},  # answer 1; radius 2; MSE 1/6; log 8; sizes
    "Pascanu's cliff": {"4", "-2", "0.5", "2013", "10", "90", "1", "3"},  # cusp; x_0; years; %
    "Vanishing against holding": {"1", "3", "5", "64", "200", "0"},  # N(0, 1/H); settings
    # the lags in the variants' names (skip:2, skip:4, skip:8, dense:4), the seed, the
    # initial B = I and gate bias -1, and the band [1e-3, 1e3] of the horizon's definition
    "Skip connections: what they change about the flow":
        {"2", "4", "8", "0", "1", "-1", "1e-3", "1e3"},
    # the lag in skip:4 and dense:4, the copy task's 10 tokens, chance 1/8, the default forget
    # bias 1 (in words: "twice", "two of the three", "three times")
    "Skip connections: what they change about learning": {"4", "10", "1/8", "1"},
    # forget bias 1 and 1 - z; the band [1e-3, 1e3] of the horizon's definition
    "Gradient flow while networks learn": {"1", "1e-3", "1e3"},
    # the lag in skip:4; exponents above 0; the forget bias 3 of the skip-training figure
    "Gradient flossing: what it changes about learning": {"4", "0", "3"},
    # 1 - lambda, N(0, 1), lambda -> 1; the year of the paper
    "The curse of memory": {"1", "2024"},
    # seed 003; W_y ~ N(0, 1/H); k = 1 (one step); the 90 % of the cosine 0.9 that is read off
    "Truncated BPTT: what it throws away": {"003", "0", "1", "90", "0.9"},
    # U(0, 1), |lambda| <= 1, N(0, 1/H), forget bias 1, the mean of N(0, 1); the copy task's
    # 10 tokens of 8 symbols, T + 20 and T + 10 steps, the years of the papers, its 520 steps
    "Modern recurrences side by side": {"0", "1", "10", "8", "20", "1997", "2016", "520"},
    # the seed's number; the years of the papers cited
    "Depth: stacked layers, and deep feed-forward networks": {"004", "2016", "2017"},
    # the mean of the gaussian weights N(0, 1/H)
    "Input sensitivity: how far back, and ahead, the output sees": {"0"},
}
NUMBER = re.compile(r"(?<![\w.^/])-?\d+(?:\.\d+)?(?:e-?\d+)?(?:/\d+)?")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_readme_quotes_the_command_and_shows_the_figure(script):
    command = constant(script, "COMMAND")
    assert command in README, f"README does not quote: {command}"
    figures = [w for w in command.split() if w.startswith("figures/")]
    for figure in figures:
        assert f"]({figure})" in README, f"README does not show {figure}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_writes_a_small_numbers_file_beside_its_figure(script):
    path = ROOT / constant(script, "NUMBERS")
    assert path.parent == ROOT / "figures" and path.exists(), f"no {path}: run make figures"
    assert path.stat().st_size < 4096  # small: a summary, not the results behind the figure
    if path.suffix == ".json":
        table = read_table(path)
        assert table.kind.endswith("_summary")
        assert table.metadata["command"] == constant(script, "COMMAND")


@pytest.mark.parametrize("title", list(SECTIONS))
def test_every_computed_number_is_the_runs(title):
    text = prose(section(title))
    for phrase in SECTIONS[title]():
        assert phrase in text, f"README section {title!r} should say: {phrase}"


@pytest.mark.parametrize("title", list(SECTIONS))
def test_every_number_in_the_prose_is_accounted_for(title):
    """A number the README prints must be a setting of the section's commands, one that the
    run produced (in a checked phrase), or a constant listed with its reason in CONSTANTS."""
    raw = section(title)
    phrases = SECTIONS[title]()
    allowed = set(NUMBER.findall(commands(raw))) | CONSTANTS.get(title, set())
    for phrase in phrases:
        allowed |= set(NUMBER.findall(phrase))
    if title.startswith("Clipping"):
        for row in clipping_phrases()[1]:
            allowed |= set(NUMBER.findall(" ".join(row)))
    text = prose(raw)
    unexplained = sorted(set(NUMBER.findall(text)) - allowed)
    assert not unexplained, f"section {title!r} prints numbers no run produced: {unexplained}"


def test_clipping_table_rows_are_the_runs():
    _, rows = clipping_phrases()
    table = [[cell.strip() for cell in line.strip("|").split("|")]
             for line in section("Clipping: what it changes about training").splitlines()
             if line.startswith("| ") and not line.startswith("| mode")]
    assert table == rows


def test_the_first_table_is_what_gradflow_jacobians_printed():
    printed = (ROOT / "figures" / "jacobians_table.txt").read_text()
    script = ROOT / "analyses" / "jacobians_table.py"
    quoted = "".join(("    " + line).rstrip() + "\n" for line in printed.splitlines())
    block = f"    $ {constant(script, 'COMMAND')}\n{quoted}"
    assert block in section("The numbers")


def test_the_sweeps_section_shows_the_phase_spec_as_it_is():
    """The spec the README shows is analyses/phase_sweep.toml, the one `make figures` runs."""
    spec = (ROOT / "analyses" / "phase_sweep.toml").read_text()
    block = "".join(("    " + line).rstrip() + "\n" for line in spec.splitlines())
    start = README.index("\n## Sweeps\n")
    assert block in README[start:README.index("\n## ", start + 1)]
