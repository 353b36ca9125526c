"""Results as long tables: CSV for spreadsheets, JSON and NPZ with the metadata that made them.

Every result gradflow writes is a `Table`: named columns of equal length (one row per cell and
distance, say) plus a metadata dict whose 'kind' says which figure it feeds. The formats:

- CSV: a header row of column names, then one row per record. No metadata, no comments.
  Non-finite numbers are written `inf`, `-inf`, `nan`; a missing value (an RNN has no c-block)
  is an empty field.
- JSON: {"format": "gradflow-results", "format_version": 1, "kind": ..., "metadata": {...},
  "columns": {name: [values...]}}; non-finite numbers are the strings "inf", "-inf", "nan"
  (valid JSON, lossless), a missing value null.
- NPZ: one array per column, plus `__metadata__`, the metadata as a JSON string, and
  `__format_version__` (1).

`read_table` reads any of the three back, and refuses with one line a file that is not one of
them: unreadable, truncated, columns of unequal lengths, or a format version newer than
FORMAT_VERSION (a newer gradflow wrote it; reading it as this version could misread it). Writing
goes through `atomic_path`: a file is either complete or absent.
"""

import csv
import io
import json
import math
import numbers
import os
import zipfile
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .files import atomic_path

__all__ = ["Table", "FORMATS", "FORMAT_VERSION", "format_for", "table_to_text", "write_table",
           "read_table"]

FORMATS = ("csv", "json", "npz")
FORMAT_VERSION = 1  # of the JSON and NPZ layouts; raise it when a reader of 1 would misread
_FORMAT_NAME = "gradflow-results"


@dataclass(frozen=True)
class Table:
    """Columns (name -> 1-D array, all of one length) and metadata (JSON-serialisable dict)."""
    columns: Mapping[str, np.ndarray]
    metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def kind(self):
        return self.metadata.get("kind")

    def __len__(self):
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def where(self, column, value):
        """The sub-table of the rows whose `column` equals `value`."""
        keep = np.asarray(self.columns[column]) == value
        return Table({k: np.asarray(v)[keep] for k, v in self.columns.items()}, self.metadata)


def format_for(path, fmt=None):
    """The format named by `fmt`, or else by the suffix of `path` (.csv, .json, .npz)."""
    fmt = fmt or os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown results format {fmt!r}; use .csv, .json or .npz")
    return fmt


def _cell(value):
    """A value as CSV text: '' for missing, repr-exact floats, inf/-inf/nan spelled out."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else str(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    return str(value)


def _as_list(column):
    return np.asarray(column, dtype=object).tolist()


def table_to_text(table, fmt):
    """The CSV or JSON text of `table`."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = list(table.columns)
        writer.writerow(names)
        cols = [_as_list(table.columns[n]) for n in names]
        for row in zip(*cols):
            writer.writerow([_cell(v) for v in row])
        return buf.getvalue()
    if fmt == "json":
        doc = {"format": _FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": table.kind,
               "metadata": {k: _json_meta(v) for k, v in table.metadata.items()},
               "columns": {n: [_json_value(v) for v in _as_list(c)]
                           for n, c in table.columns.items()}}
        return json.dumps(doc, indent=1) + "\n"
    raise ValueError(f"{fmt!r} is not a text format")


def _json_meta(value):
    if isinstance(value, dict):
        return {str(k): _json_meta(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_meta(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    return _json_value(value)


def write_table(path, table, fmt=None):
    """Write `table` to `path` atomically, in `fmt` or the format its suffix names."""
    fmt = format_for(path, fmt)
    with atomic_path(path) as tmp:
        if fmt == "npz":
            arrays = {n: _npz_array(c) for n, c in table.columns.items()}
            meta = json.dumps({k: _json_meta(v) for k, v in table.metadata.items()})
            with open(tmp, "wb") as fh:
                np.savez(fh, __metadata__=np.array(meta),
                         __format_version__=np.array(FORMAT_VERSION), **arrays)
        else:
            with open(tmp, "w", newline="") as fh:
                fh.write(table_to_text(table, fmt))


def _npz_array(column):
    arr = np.asarray(column)
    if arr.dtype == object:
        if all(v is None or isinstance(v, (float, int, np.floating, np.integer)) for v in arr):
            return np.array([np.nan if v is None else v for v in arr], dtype=float)
        return np.array(["" if v is None else str(v) for v in arr])
    return arr


def _parse(text):
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _column(values):
    """A list of parsed values as a numpy column: float (None -> nan) when numeric, else str."""
    numeric = [v for v in values if v is not None]
    if numeric and all(isinstance(v, bool) for v in numeric):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numeric):
        if numeric and all(isinstance(v, int) for v in values):
            return np.array(values, dtype=int)
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.array(["" if v is None else str(v) for v in values])


def read_table(path):
    """Read a table written by `write_table` (CSV, JSON or NPZ, by suffix).

    Raises ValueError with one line, starting with `path`, for a file that is not a gradflow
    results file this version can read.
    """
    fmt = format_for(path)
    try:
        if fmt == "npz":
            columns, meta, version = _load_npz(path)
        else:
            with open(path, newline="") as fh:
                text = fh.read()
    except EOFError:  # numpy's word for an empty file; click would print a bare "Aborted!"
        raise ValueError(f"{path}: cannot read results (the file is empty or cut short)") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot read results ({err})") from None
    if fmt == "npz":
        if version is not None:
            _check_version(path, version)
        if not isinstance(meta, dict):
            raise ValueError(f"{path}: __metadata__ is not a JSON object")
        table = Table(columns, meta)
    else:
        table = _read_json(path, text) if fmt == "json" else _read_csv(path, text)
    return _checked(path, table)


def _load_npz(path):
    """(columns, metadata, format version or None) of an NPZ; any error of numpy or zipfile."""
    # The file is opened here, not by np.load, which leaves it open when the zip is corrupt.
    with open(path, "rb") as fh:
        magic = fh.read(6)
        fh.seek(0)
        if magic[:2] != b"PK" and magic != b"\x93NUMPY" and magic:
            # numpy's last resort for other bytes is unpickling, whose refusal misleads.
            raise ValueError("not an .npz file (expected numpy.savez output)")
        data = np.load(fh, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a .npy array, not an .npz archive of columns")
        with data:
            version = data["__format_version__"][()] if "__format_version__" in data else None
            meta = json.loads(str(data["__metadata__"])) if "__metadata__" in data else {}
            columns = {k: data[k] for k in data.files
                       if k not in ("__metadata__", "__format_version__")}
    return columns, meta, version


def _check_version(path, version):
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, numbers.Integral) \
            or version < 1:
        raise ValueError(f"{path}: format_version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version} is newer than this gradflow reads "
                         f"({FORMAT_VERSION}); upgrade gradflow to read it")


def _read_json(path, text):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT_NAME:
        raise ValueError(f"{path}: not a gradflow results file (no \"format\": \"{_FORMAT_NAME}\")")
    _check_version(path, doc.get("format_version"))
    columns, metadata = doc.get("columns"), doc.get("metadata", {})
    if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
        raise ValueError(f"{path}: \"columns\" is not an object of lists")
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: \"metadata\" is not an object")
    cols = {n: _column([_parse(v) if isinstance(v, str) and v in ("inf", "-inf", "nan") else v
                        for v in vals]) for n, vals in columns.items()}
    return Table(cols, {**metadata, "kind": doc.get("kind")})


def _read_csv(path, text):
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValueError(f"{path}: empty CSV file")
    header, body = rows[0], rows[1:]
    if any(len(r) != len(header) for r in body):
        raise ValueError(f"{path}: rows do not all have {len(header)} fields")
    cols = {n: _column([_parse(r[i]) for r in body]) for i, n in enumerate(header)}
    return Table(cols, {})


def _checked(path, table):
    """`table` if its columns are 1-D and of one length; else a one-line ValueError."""
    lengths = {}
    for name, column in table.columns.items():
        if np.ndim(column) != 1:
            raise ValueError(f"{path}: column {name!r} has shape {np.shape(column)}, "
                             f"expected one dimension")
        lengths[name] = len(column)
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        other = next(n for n in lengths if lengths[n] != lengths[first])
        raise ValueError(f"{path}: columns of unequal lengths ({first!r} has {lengths[first]} "
                         f"values, {other!r} {lengths[other]})")
    return table
