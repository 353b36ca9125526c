"""Results tables: lossless round trips through CSV, JSON and NPZ, strict JSON, atomic writes."""

import json
import os

import numpy as np
import pytest

from gradflow.analysis.decay import DecayProfile, decay_profile, profiles_from_table, \
    profiles_to_table, summarize
from gradflow.io.files import atomic_path
from gradflow.io.results import Table, read_table, table_to_text, write_table
from gradflow.analysis.network import Network

FORMATS = ["csv", "json", "npz"]


def _table():
    columns = {
        "i": np.array([1, -2, 3, 0]),
        "x": np.array([0.1, np.inf, -np.inf, np.nan]),
        "y": np.array([1.0, 2.0, 1e-300, -7.25e12]),
        "s": np.array(["rnn", "lstm", "a,b", 'say "hi"']),
        "m": np.array([0.5, None, -np.inf, 2.0], dtype=object),
        "ms": np.array(["a", None, "b", "c"], dtype=object),
    }
    meta = {"kind": "test", "cells": {"rnn": {"hidden": 4, "scale": 1.5, "init": "gaussian",
                                              "horizon": None}}, "seeds": [1, 2, 3]}
    return Table(columns, meta)


# What each column must read back as: numbers as numbers (inf/-inf/nan kept, a missing number
# nan), strings as strings, and a missing string as an empty string (CSV's empty field).
EXPECTED = {
    "i": np.array([1, -2, 3, 0]),
    "x": np.array([0.1, np.inf, -np.inf, np.nan]),
    "y": np.array([1.0, 2.0, 1e-300, -7.25e12]),
    "s": np.array(["rnn", "lstm", "a,b", 'say "hi"']),
    "m": np.array([0.5, np.nan, -np.inf, 2.0]),
    "ms": np.array(["a", "", "b", "c"]),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_table_round_trip(tmp_path, fmt):
    path = tmp_path / f"t.{fmt}"
    write_table(path, _table())
    back = read_table(path)
    assert list(back.columns) == list(EXPECTED)
    for name, want in EXPECTED.items():
        got = np.asarray(back.columns[name])
        if want.dtype.kind in "iu":
            assert got.dtype.kind in "iu", (name, got.dtype)
            np.testing.assert_array_equal(got, want)
        elif want.dtype.kind == "f":
            assert got.dtype.kind == "f", (name, got.dtype)
            np.testing.assert_array_equal(got, want)  # exact, nan == nan here
        else:
            assert got.tolist() == want.tolist(), name
    if fmt != "csv":  # CSV carries no metadata by design
        assert back.metadata == _table().metadata


def test_json_is_strict_json(tmp_path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    text = table_to_text(_table(), "json")
    doc = json.loads(text, parse_constant=refuse)
    assert doc["format"] == "gradflow-results" and doc["kind"] == "test"
    write_table(tmp_path / "t.json", _table())
    json.loads((tmp_path / "t.json").read_text(), parse_constant=refuse)


def test_csv_has_one_header_and_one_row_per_record():
    lines = table_to_text(_table(), "csv").splitlines()
    assert lines[0] == "i,x,y,s,m,ms"
    assert len(lines) == 1 + 4


# ------------------------------------------------------------------ decay profiles

def _profiles():
    rnn = decay_profile(Network("rnn", hidden=4, input_size=2, steps=12, seed=1, samples=2))
    lstm = decay_profile(Network("lstm", hidden=3, input_size=2, steps=12, seed=1, samples=2))
    d = np.arange(1, 7)
    zero = np.array([-0.5, -1.5, -np.inf, -np.inf, -np.inf, -np.inf])
    dead = DecayProfile(cell="gru", distance=d,
                        mean={"spectral": zero, "frobenius": zero + 0.2, "loss_gradient": zero},
                        std={"spectral": np.array([0.1, 0.2, np.nan, np.nan, np.nan, np.nan]),
                             "frobenius": np.zeros(6), "loss_gradient": np.zeros(6)},
                        summary=summarize(d, zero), metadata={"cell": "gru", "hidden": 2})
    return [rnn, lstm, dead]


def _assert_profiles_equal(got, want, with_metadata):
    assert [p.cell for p in got] == [p.cell for p in want]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.distance, w.distance)
        assert set(g.mean) == set(w.mean) and set(g.std) == set(w.std)
        for q in w.mean:
            np.testing.assert_array_equal(g.mean[q], w.mean[q])  # bit-exact, -inf and nan kept
            np.testing.assert_array_equal(g.std[q], w.std[q])
        assert g.summary == w.summary
        if with_metadata:
            for k, v in w.metadata.items():
                assert g.metadata[k] == v, k


@pytest.mark.parametrize("fmt", FORMATS)
def test_profiles_round_trip(tmp_path, fmt):
    profiles = _profiles()
    path = tmp_path / f"decay.{fmt}"
    write_table(path, profiles_to_table(profiles))
    back = profiles_from_table(read_table(path))
    _assert_profiles_equal(back, profiles, with_metadata=fmt != "csv")
    if fmt != "csv":
        meta = read_table(path).metadata
        assert meta["kind"] == "decay"
        assert meta["cells"]["lstm"]["verdict"] == profiles[1].summary.verdict


def test_decay_csv_header_and_rows(tmp_path):
    profiles = _profiles()
    path = tmp_path / "decay.csv"
    write_table(path, profiles_to_table(profiles))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("cell,distance,log10_spectral_norm,log10_frobenius_norm")
    assert len(lines) == 1 + sum(len(p.distance) for p in profiles)
    header = lines[0].split(",")
    rnn_row = dict(zip(header, lines[1].split(",")))
    assert rnn_row["cell"] == "rnn" and rnn_row["distance"] == "1"
    assert rnn_row["log10_c_spectral_norm"] == ""  # the RNN has no c-block: an empty field


def test_profiles_from_table_names_the_missing_column():
    with pytest.raises(ValueError, match="log10_spectral_norm"):
        profiles_from_table(Table({"cell": np.array(["rnn"]), "distance": np.array([1])}))


# ------------------------------------------------------------------ atomic writing

def _leftovers(folder):
    return sorted(os.listdir(folder))


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half a file")
            raise RuntimeError("interrupted")
    assert _leftovers(tmp_path) == []


def test_atomic_path_success_renames(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "w") as fh:
            fh.write("whole")
    assert _leftovers(tmp_path) == ["out.txt"] and target.read_text() == "whole"


class _Unprintable:
    def __str__(self):
        raise RuntimeError("cannot format this value")

    __repr__ = __str__


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_table_failure_leaves_no_file_and_keeps_the_old_one(tmp_path, fmt):
    bad = Table({"a": np.array([1.0, 2.0]), "b": np.array(["x", _Unprintable()], dtype=object)})
    with pytest.raises(Exception):
        write_table(tmp_path / f"new.{fmt}", bad)
    assert _leftovers(tmp_path) == []
    old = tmp_path / f"old.{fmt}"
    write_table(old, _table())
    before = old.read_bytes()
    with pytest.raises(Exception):
        write_table(old, bad)
    assert _leftovers(tmp_path) == [f"old.{fmt}"] and old.read_bytes() == before


def test_write_table_to_a_missing_folder_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        write_table(tmp_path / "missing" / "t.csv", _table())
    assert _leftovers(tmp_path) == []


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_table(tmp_path / "t.xlsx", _table())
    with pytest.raises(ValueError):
        read_table(tmp_path / "t.txt")
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ files that are not results

def _json_doc(tmp_path):
    write_table(tmp_path / "good.json", _table())
    return json.loads((tmp_path / "good.json").read_text())


def _write_json(path, doc):
    path.write_text(json.dumps(doc))
    return path


def _bad_files(tmp_path):
    """name -> (path, a piece of the one-line message)."""
    cases = {}
    (tmp_path / "empty.npz").write_bytes(b"")
    cases["empty npz"] = (tmp_path / "empty.npz", "empty or cut short")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    cases["corrupt npz"] = (tmp_path / "corrupt.npz", "not a zip file")
    (tmp_path / "text.npz").write_text("cell,distance\nrnn,1\n")
    cases["text named npz"] = (tmp_path / "text.npz", "not an .npz file")
    with open(tmp_path / "array.npz", "wb") as fh:
        np.save(fh, np.zeros(3))
    cases["npy named npz"] = (tmp_path / "array.npz", "not an .npz archive")
    np.savez(tmp_path / "ragged.npz", cell=np.array(["a", "b"]), distance=np.arange(3))
    cases["ragged npz"] = (tmp_path / "ragged.npz", "unequal lengths ('cell' has 2 values, "
                                                    "'distance' 3)")
    np.savez(tmp_path / "twod.npz", cell=np.zeros((2, 2)))
    cases["2-D npz column"] = (tmp_path / "twod.npz", "shape (2, 2)")
    np.savez(tmp_path / "v99.npz", __format_version__=np.array(99), cell=np.array(["a"]))
    cases["newer npz"] = (tmp_path / "v99.npz", "format_version 99 is newer")
    np.savez(tmp_path / "meta.npz", __metadata__=np.array("[1, 2]"), cell=np.array(["a"]))
    cases["npz metadata a list"] = (tmp_path / "meta.npz", "not a JSON object")
    doc = _json_doc(tmp_path)
    doc["columns"]["x"] = doc["columns"]["x"][:2]
    cases["ragged json"] = (_write_json(tmp_path / "ragged.json", doc), "unequal lengths")
    for version, message in ((99, "format_version 99 is newer than this gradflow reads (1)"),
                             (2, "format_version 2 is newer"), ("1", "not a version number"),
                             (None, "not a version number"), (0, "not a version number")):
        doc = _json_doc(tmp_path)
        doc["format_version"] = version
        cases[f"json version {version!r}"] = (_write_json(tmp_path / f"v{version}.json", doc),
                                              message)
    doc = _json_doc(tmp_path)
    doc["columns"] = [1, 2]
    cases["json columns a list"] = (_write_json(tmp_path / "cols.json", doc), "columns")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    cases["binary json"] = (tmp_path / "binary.json", "cannot read results")
    (tmp_path / "empty.json").write_bytes(b"")
    cases["empty json"] = (tmp_path / "empty.json", "not valid JSON")
    return cases


BAD_FILES = ["empty npz", "corrupt npz", "npy named npz", "ragged npz", "2-D npz column",
             "newer npz", "npz metadata a list", "ragged json", "json version 99",
             "json version 2", "json version '1'", "json version None", "json version 0",
             "json columns a list", "binary json", "empty json"]


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_file_that_is_not_results_is_one_value_error(tmp_path, case):
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(ValueError) as info:
        read_table(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_npz_carries_its_format_version_and_it_is_not_a_column(tmp_path):
    write_table(tmp_path / "t.npz", _table())
    with np.load(tmp_path / "t.npz") as data:
        assert int(data["__format_version__"]) == 1
    assert "__format_version__" not in read_table(tmp_path / "t.npz").columns
    # an NPZ written before the version was stored reads as version 1
    np.savez(tmp_path / "old.npz", cell=np.array(["rnn"]), distance=np.array([1]))
    assert read_table(tmp_path / "old.npz").columns["distance"].tolist() == [1]
