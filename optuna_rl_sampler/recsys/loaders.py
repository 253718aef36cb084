"""Loaders that turn the real recommender dataset formats into :class:`Interactions`.

Every loader reads its files with vectorised pandas parsing, remaps user and item ids to
contiguous ``int64`` codes (ids sorted, so codes are stable across runs; the original ids
are kept in ``user_ids`` / ``item_ids``) and returns one :class:`Interactions` whose
:meth:`~Interactions.stats` reproduces the counts of the dataset README (distinct users and
items that appear in the events, and the event rows as stored).

Formats (``FORMATS``):

``mind``
    A folder with ``behaviors.tsv`` (and optionally ``news.tsv``). One event per
    impression entry: label 1 for a click, 0 for shown-but-not-clicked; ``group`` is the
    impression id and ``timestamp`` the impression time (read as UTC). The categories of
    ``news.tsv`` go to ``item_features["category"]`` and ``["subcategory"]`` (int codes,
    -1 where an item has no text; names in ``item_features.attrs``). The users' click
    history column is *not* an event by default, so the counts stay those of the README;
    with ``include_history=True`` each user's history clicks are added once as label-1
    events with ``group`` -1 and timestamps just before the first impression of the file
    (in history order), and ``notes`` say how many rows they are.
``amazon-seq``
    One line per user, ``user item item ...`` in time order (the S3-Rec/ICLRec files
    ``Beauty.txt``, ``Sports_and_Outdoors.txt``), ids separated by spaces or tabs. A user
    on two lines is an error (such a file is ratings or links, not sequences).
    ``timestamp`` is the position in the user's sequence (0, 1, ...), so it orders one
    user's events but is not comparable across users.
``yoochoose``
    Tab-separated ``SessionId ItemId Time`` with a header; in a folder, files are chosen
    by name: the ``*train_full*.txt`` (or the only ``*train*.txt``) and the ``*test*.txt``
    file are both loaded, and each must have the header (a folder with neither kind must
    hold a single .txt file). Other .txt files, such as session-rec's ``train_tr`` /
    ``train_valid`` parts of ``train_full``, are listed in ``notes["files_not_loaded"]``.
    There are no user ids, so the session is both the ``user`` and the ``group``.
    ``notes`` give the per-file counts and ``test_start`` (the first timestamp of the test
    file).
``lastfm-hetrec``
    HetRec 2011 Last.fm: ``user_artists.dat`` (``weight`` = play count) and
    ``user_friends.dat`` as ``social`` (rows as stored: each two-way friendship is two
    directed rows). There are no timestamps: every ``timestamp`` is 0.
``filmtrust``
    ``ratings.txt`` (``user item rating``; ``weight`` = rating) and ``trust.txt`` as
    directed ``social`` links. Rows are kept as stored, including the repeated user-item
    pairs, whose number ``notes["repeated_pairs"]`` reports. Trust links may name users
    with no rating; they get codes after the rating users. No timestamps: all 0.
``movielens``
    A folder with ``ratings.csv`` (``userId,movieId,rating,timestamp``, ml-latest) or
    ``u.data`` (tab-separated ``user item rating timestamp``, ml-100k).

Every positive event has label 1; for rating data every rating row is an interaction with
label 1 and ``weight`` = the rating.

The loaders never guess. Files must be UTF-8 (a UTF-8 byte-order mark at the start is
skipped); headers must match exactly (letter case aside) and sit on the first line; every
row must have the format's fields, separated by the format's separator; integer ids must be
plain decimal integers that fit in 64 bits (no ``1e3``, ``1.0``, ``+1``, spaces or leading
zeros) and are parsed exactly, never through a float. ``mind`` user and item ids are kept as
strings. Blank lines are skipped (except before a header). Anything else raises a one-line
:class:`ValueError` that names the file, the line, the bad value and what the format
expects, rather than dropping a file or reinterpreting its rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.data import events_frame

if TYPE_CHECKING:
    import pandas as pd

#: The format names :func:`load_dataset` accepts.
FORMATS = ("mind", "amazon-seq", "yoochoose", "lastfm-hetrec", "filmtrust", "movielens")

_DOMAINS = {
    "mind": "news",
    "amazon-seq": "ecommerce",
    "yoochoose": "ecommerce",
    "lastfm-hetrec": "social",
    "filmtrust": "social",
    "movielens": "general",
}

_MIND_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_YOOCHOOSE_HEADER = ("SessionId", "ItemId", "Time")

# What each format reads; ends the messages of structural errors (wrong files, headers,
# separators, field counts) so that a wrong ``format`` says what was expected.
_EXPECT = {
    "mind": "the 'mind' format reads a folder with behaviors.tsv (tab-separated "
    "'impression_id user time history impressions') and optionally news.tsv",
    "amazon-seq": "the 'amazon-seq' format reads one .txt file with one line per user, "
    "'user item item ...' (whitespace-separated integer ids, each user on one line only)",
    "yoochoose": "the 'yoochoose' format reads *train*.txt / *test*.txt files, tab-separated "
    "with the header 'SessionId<TAB>ItemId<TAB>Time'",
    "lastfm-hetrec": "the 'lastfm-hetrec' format reads a folder with user_artists.dat "
    "(tab-separated, header 'userID<TAB>artistID<TAB>weight') and optionally "
    "user_friends.dat (header 'userID<TAB>friendID')",
    "filmtrust": "the 'filmtrust' format reads a folder with ratings.txt (lines 'user item "
    "rating' separated by single spaces) and optionally trust.txt ('truster trustee value')",
    "movielens": "the 'movielens' format reads ratings.csv (comma-separated, header "
    "'userId,movieId,rating,timestamp') or u.data (tab-separated 'user item rating timestamp')",
}

_BOM = b"\xef\xbb\xbf"
_SEP_NAMES = {"\t": "tabs", ",": "commas", ";": "semicolons", "|": "pipes", " ": "spaces"}
_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)+")
_PLAIN_INT = re.compile(r"-?[0-9]+")
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)  # 10 .. 10**18: digit counts of int64
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# amazon-seq files hold ASCII digits, spaces and tabs only (plus line ends).
_SEQ_BAD_CHAR = re.compile(r"[^\t\n\r -~]")


def load_dataset(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    name: str | None = None,
    include_history: bool = False,
) -> Interactions:
    """Load a recommender dataset from its files.

    ``format`` names a dataset source of the registry (the ``register_datasets`` plugin
    hook, :func:`optuna_rl_sampler.recsys.plugins.get_dataset_source`): the built-in
    formats of :data:`FORMATS` are read here, and any other registered source is called
    as ``source(path=path)``, so a plugin's file format works wherever a dataset is
    loaded (the recipes' ``--format``, ``optuna-rl data stats --format``).

    Args:
        path: The dataset folder (or, for ``amazon-seq``, ``movielens`` and
            ``yoochoose``, one data file; for ``mind``, ``lastfm-hetrec`` and ``filmtrust``,
            the folder's ``behaviors.tsv`` / ``user_artists.dat`` / ``ratings.txt``).
        format: One of :data:`FORMATS`, the name of another registered dataset source
            that reads ``path``, or ``None`` to detect a built-in format from the files
            (see :func:`detect_format`).
        name: Name for reports; defaults to the folder name (a plugin source's own
            name is kept unless this is given).
        include_history: ``mind`` only: add the users' history clicks as label-1 events
            with ``group`` -1 before the first impression. Off by default so that
            :meth:`~Interactions.stats` reproduces the README counts.

    Returns:
        The events with contiguous user and item codes, side tables where the format
        has them, ``name``, ``domain`` and ``notes``.

    Raises:
        FileNotFoundError: ``path`` or a file the format needs does not exist.
        ValueError: ``format`` is neither a built-in format nor a registered source, or
            cannot be detected, or a file is empty, malformed or not in the format (a
            one-line message that names the file, the line and the bad value, and says
            what the format expects).
        TypeError: A registered source returned something other than an
            :class:`Interactions`.
    """
    if format is not None and _format_key(format) not in FORMATS:
        if include_history:
            raise ValueError(
                f"include_history=True applies to the 'mind' format only, not {format!r}; "
                "leave it False"
            )
        return _load_registered(path, str(format), name)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"dataset path {str(path)!r} does not exist; pass the folder of the dataset "
            "files (for example the folder that holds behaviors.tsv or ratings.csv)"
        )
    if format is None:
        format = detect_format(path)
    else:
        format = _check_format(format)
    folder = path if path.is_dir() else path.parent
    if name is None:
        name = folder.name or "dataset"
    if include_history and format != "mind":
        raise ValueError(
            f"include_history=True applies to the 'mind' format only, not {format!r}; "
            "leave it False"
        )
    if format == "mind":
        data = _load_mind(path, include_history=include_history)
    else:
        data = _LOADERS[format](path)
    events, n_users, n_items, user_ids, item_ids, extra = data
    return Interactions(
        events=events,
        n_users=n_users,
        n_items=n_items,
        user_ids=user_ids,
        item_ids=item_ids,
        item_features=extra.get("item_features"),
        social=extra.get("social"),
        name=name,
        domain=_DOMAINS[format],
        notes=extra.get("notes", {}),
    )


def _load_registered(path: str | os.PathLike[str], format: str, name: str | None) -> Interactions:
    """Call the registered dataset source ``format`` with ``path=path``."""
    from dataclasses import replace

    from optuna_rl_sampler.recsys.plugins import get_dataset_source
    from optuna_rl_sampler.recsys.plugins import list_datasets

    try:
        source = get_dataset_source(format)
    except ValueError:
        others = [n for n in list_datasets() if n not in FORMATS]
        raise ValueError(
            f"unknown dataset format {format!r}; valid formats are: {', '.join(FORMATS)}"
            + (f", or a registered dataset source: {', '.join(others)}" if others else "")
        ) from None
    data = source(path=path)
    if not isinstance(data, Interactions):
        raise TypeError(
            f"dataset source {format!r} of plugin {source.plugin!r} returned "
            f"{type(data).__name__}, not an Interactions; its loader must build one "
            "(optuna_rl_sampler.recsys.data.Interactions)."
        )
    return data if name is None else replace(data, name=name)


def dataset_stats(path: str | os.PathLike[str], format: str | None = None) -> dict:
    """Counts of a dataset as :meth:`Interactions.stats` reports them.

    Args:
        path: The dataset folder or file, as for :func:`load_dataset`.
        format: One of :data:`FORMATS`, another registered dataset source, or ``None``
            to detect a built-in format.

    Returns:
        A JSON-serialisable dict with at least ``n_users``, ``n_items`` and
        ``n_interactions``, plus ``format`` and the loader's notes.
    """
    data = load_dataset(path, format)
    out = data.stats()
    if format is None:
        out["format"] = detect_format(Path(path))
    else:
        key = _format_key(format)
        out["format"] = key if key in FORMATS else str(format)
    return out


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of a dataset from its file names (and, if needed, first lines).

    Rules, in order: ``behaviors.tsv`` -> ``mind``; ``user_artists.dat`` ->
    ``lastfm-hetrec``; ``ratings.txt`` -> ``filmtrust``; ``ratings.csv`` or ``u.data`` ->
    ``movielens``; a ``.txt`` file whose header is ``SessionId ItemId Time`` ->
    ``yoochoose``; a single ``.txt`` file whose first line is whitespace-separated
    integers -> ``amazon-seq``.

    Args:
        path: A dataset folder or data file.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: No rule matches; the message lists the files seen and the formats.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset path {str(path)!r} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    names = {p.name for p in files}
    if "behaviors.tsv" in names:
        return "mind"
    if "user_artists.dat" in names:
        return "lastfm-hetrec"
    if "ratings.txt" in names:
        return "filmtrust"
    if "ratings.csv" in names or "u.data" in names:
        return "movielens"
    txts = [p for p in files if p.suffix == ".txt" and p.name.lower() != "readme.txt"]
    heads = {p: _first_line(p) for p in txts}
    if any(tuple(h.split("\t")) == _YOOCHOOSE_HEADER for h in heads.values()):
        return "yoochoose"
    seq = [p for p, h in heads.items() if h and all(tok.isdigit() for tok in h.split())]
    if len(seq) == 1:
        return "amazon-seq"
    seen = ", ".join(sorted(names)) or "no files"
    raise ValueError(
        f"cannot detect the dataset format of {str(path)!r} (found: {seen}); "
        f"pass format= one of {', '.join(FORMATS)}"
    )


def _format_key(format: str) -> str:
    return str(format).strip().lower().replace("_", "-")


def _check_format(format: str) -> str:
    key = _format_key(format)
    if key not in FORMATS:
        raise ValueError(
            f"unknown dataset format {format!r}; valid formats are: {', '.join(FORMATS)}"
        )
    return key


class _ParseError(ValueError):
    """A ``ValueError`` about one line of one file (``line`` is 1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line

    def __reduce__(self) -> tuple[type, tuple[str, int]]:  # picklable across processes
        return (type(self), (str(self), self.line))


def _parse_error(path: Path, lineno: int, problem: str) -> _ParseError:
    """A ``ValueError`` that names the file, the 1-based line number and the problem."""
    return _ParseError(f"{path}: line {lineno}: {problem}", int(lineno))


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def _file_names(folder: Path) -> str:
    return ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file())) or "no files"


def _looks_like(folder: Path, format: str) -> str:
    """`` (it looks like the 'x' format)`` when the folder is detected as another format."""
    try:
        other = detect_format(folder)
    except (ValueError, OSError):
        return ""
    return f"; the folder looks like the {other!r} format" if other != format else ""


def _require_file(folder: Path, filename: str, format: str) -> Path:
    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist; {_EXPECT[format]} (found: {_file_names(folder)})"
            f"{_looks_like(folder, format)}"
        )
    return path


def _dataset_folder(path: Path, format: str, main: str) -> Path:
    """The folder of a folder format: ``path`` itself, or the folder of its main file."""
    if path.is_dir():
        return path
    if path.name == main:
        return path.parent
    raise ValueError(
        f"{path}: the {format!r} format reads a dataset folder, not a file named "
        f"{path.name!r}; pass the folder (or its {main}); {_EXPECT[format]}"
    )


def _read_bytes(path: Path) -> bytes:
    """The bytes of a data file without its UTF-8 byte-order mark, checked.

    The file must not be empty, must be valid UTF-8 and must end its lines with ``\\n`` or
    ``\\r\\n`` (a lone ``\\r`` would split a line in two) and hold no NUL byte; any other
    content is an error naming the line.
    """
    raw = path.read_bytes()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise ValueError(f"{path}: the file is empty; expected data rows")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = " ".join(f"0x{b:02x}" for b in raw[exc.start : exc.end])
        raise _parse_error(
            path,
            raw.count(b"\n", 0, exc.start) + 1,
            f"byte {bad} is not valid UTF-8 ({exc.reason}); re-encode the file as UTF-8 "
            "(for example with iconv -f latin1 -t utf-8) or fix the corrupted bytes",
        ) from None
    if b"\r" in raw:
        m = re.search(rb"\r(?!\n)", raw)
        if m is not None:
            raise _parse_error(
                path,
                raw.count(b"\n", 0, m.start()) + 1,
                "a carriage return (\\r) that does not end the line; convert the line "
                "endings to \\n or \\r\\n",
            )
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise _parse_error(
            path,
            raw.count(b"\n", 0, nul) + 1,
            "a NUL byte (0x00): the file is binary or corrupted; expected text rows",
        )
    return raw


def _line_of(raw: bytes, lineno: int) -> str:
    """Line ``lineno`` (1-based) of ``raw``, without its line end."""
    lines = raw.split(b"\n", lineno)
    line = lines[lineno - 1] if lineno <= len(lines) else b""
    return line.rstrip(b"\r").decode("utf-8")


def _sep_hint(line: str, sep: str) -> str:
    """A hint when ``line`` has no ``sep`` but another separator."""
    if sep in line:
        return ""
    for other, name in _SEP_NAMES.items():
        if other != sep and other in line:
            return f"; the line has {name} but no {_SEP_NAMES[sep]}: wrong separator?"
    return ""


def _check_header(path: Path, raw: bytes, sep: str, header: tuple[str, ...], expect: str) -> None:
    """The first line of ``raw`` must be ``header`` (letter case aside)."""
    first = _line_of(raw, 1)
    fields = first.split(sep)
    if [f.lower() for f in fields] == [h.lower() for h in header]:
        return
    want = sep.join(header)
    if not first.strip():
        problem = (
            f"expected the header {want!r} on the first line, found a blank line; remove "
            "the blank lines before the header"
        )
    else:
        problem = f"expected the header {want!r}, found {first!r}"
        hint = _sep_hint(first, sep)
        for other, name in _SEP_NAMES.items():
            if other != sep and [f.lower() for f in first.split(other)] == [
                h.lower() for h in header
            ]:
                hint = f"; the file is separated by {name}, not {_SEP_NAMES[sep]}"
        if not hint and len(fields) != len(header):
            hint = f" ({len(fields)} columns instead of {len(header)})"
        problem += hint
    raise _parse_error(path, 1, f"{problem}; {expect}")


def _row_problem(columns: tuple[str, ...], sep: str, found: int, missing: str | None) -> str:
    """The problem of a row with ``found`` fields or an empty required field ``missing``."""
    fields = f"{len(columns)} fields ({', '.join(columns)}, separated by {_SEP_NAMES[sep]})"
    if missing is None:
        return f"expected {fields}, found {found}"
    return f"field {missing!r} is missing or empty (expected {fields})"


def _first_bad_row(
    raw: bytes, sep: str, columns: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[int, int, str | None] | None:
    """Slow path of :func:`_read_table`: the first row with extra fields or an empty
    required one, as (0-based line index, fields, missing column or None)."""
    n = len(columns)
    for i, line in enumerate(raw.split(b"\n")):
        fields = line.rstrip(b"\r").split(sep.encode())
        while fields and not fields[-1]:
            fields.pop()
        if not fields:
            continue  # a blank line
        if len(fields) > n:
            return i, len(fields), None
        for j, col in enumerate(columns):
            if col not in optional and (j >= len(fields) or not fields[j]):
                return i, len(fields), col
    return None


def _read_table(
    path: Path,
    *,
    sep: str,
    columns: tuple[str, ...],
    header: tuple[str, ...] | None = None,
    optional: tuple[str, ...] = (),
    expect: str = "",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a delimited file as strings and check every line has ``len(columns)`` fields.

    Returns the non-blank rows and their 1-based line numbers. Blank lines are skipped
    (but a header must be the first line); a missing or extra field (or an empty one not
    in ``optional``) is an error naming the line and, in ``expect``, what the format
    expects.
    """
    import pandas as pd

    raw = _read_bytes(path)
    n = len(columns)
    tail = f"; {expect}" if expect else ""
    skipped = 0
    if header is None:
        m = _LEADING_BLANK_LINES.match(raw)
        if m is not None:
            skipped = raw.count(b"\n", 0, m.end())
            raw = raw[m.end() :]
    else:
        _check_header(path, raw, sep, header, expect)
    try:
        table = pd.read_csv(
            io.BytesIO(raw),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            index_col=False,
            encoding="utf-8",
        )
    except pd.errors.ParserError as exc:
        bad = _first_bad_row(raw, sep, columns, optional)
        if bad is None:
            message = " ".join(str(exc).split())
            raise ValueError(f"{path}: cannot parse the file ({message}){tail}") from None
        i, found, missing_col = bad
        problem = _row_problem(columns, sep, found, missing_col)
        hint = _sep_hint(_line_of(raw, i + 1), sep)
        raise _parse_error(path, i + 1 + skipped, f"{problem}{hint}{tail}") from None
    lineno = np.arange(1, len(table) + 1, dtype=np.int64) + skipped
    if header is not None:
        table = table.iloc[1:]
        lineno = lineno[1:]
    values = table.to_numpy(dtype=object)
    if values.shape[1] < n:
        values = np.concatenate(
            [values, np.full((len(values), n - values.shape[1]), "", dtype=object)], axis=1
        )
    filled = values != ""
    blank = ~filled.any(axis=1)
    extra = filled[:, n:].any(axis=1) & ~blank
    required = np.array([c not in optional for c in columns])
    missing = ~blank[:, None] & ~filled[:, :n] & required[None, :]
    bad_rows = np.flatnonzero(extra | missing.any(axis=1))
    if len(bad_rows):
        i = bad_rows[0]
        hint = _sep_hint(_line_of(raw, int(lineno[i]) - skipped), sep)
        found = int(np.flatnonzero(filled[i])[-1]) + 1
        col = None if extra[i] else columns[int(np.flatnonzero(missing[i])[0])]
        problem = _row_problem(columns, sep, found, col)
        raise _parse_error(path, int(lineno[i]), f"{problem}{hint}{tail}")
    keep = ~blank
    if not keep.any():
        raise ValueError(f"{path}: the file has no data rows")
    df = pd.DataFrame(values[keep][:, :n], columns=list(columns))
    return df, lineno[keep]


def _int_problem(value: Any) -> str | None:
    """Why ``value`` is not a plain decimal integer that fits in 64 bits (None if it is)."""
    text = str(value)
    if not _PLAIN_INT.fullmatch(text):
        return (
            "is not an integer; expected a plain decimal integer such as 42 (no decimal "
            "point, exponent, '+' sign or spaces): fix the value or pass the right format"
        )
    digits = text.lstrip("-")
    if text == "-0" or (len(digits) > 1 and digits[0] == "0"):
        return (
            "has a leading zero or sign that would make it equal to another id; write it "
            "as a plain decimal integer such as 42"
        )
    if not _INT64_MIN <= int(text) <= _INT64_MAX:
        return (
            "does not fit in a 64-bit integer; remap the ids to integers below 2**63 (for "
            "example 0..n-1) before loading"
        )
    return None


def _to_int(values: Any, path: Path, lineno: np.ndarray, what: str) -> np.ndarray:
    """Parse plain decimal integers exactly (never through a float).

    The first value that is not one (``1e3``, ``1.0``, ``+1``, ``01``, `` 1``, a
    non-ASCII digit, or outside the int64 range) is an error naming its line.
    """
    values = np.asarray(values, dtype=object)
    try:
        ints = values.astype(np.int64)  # int() per value: exact, but lenient on form
    except (ValueError, TypeError, OverflowError):
        ints = None
    if ints is not None:
        # int() also takes '+1', ' 1', '01', '1_0' and non-ASCII digits; each of those
        # is longer than the plain form or not ASCII, so equal lengths prove plain ids.
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        plain = np.searchsorted(_POW10, np.abs(ints), side="right") + 1 + (ints < 0)
        if np.array_equal(lengths, plain) and "".join(values).isascii():
            return ints
    for i, value in enumerate(values):
        problem = _int_problem(value)
        if problem is not None:
            raise _parse_error(path, int(lineno[i]), f"{what} {value!r} {problem}")
    return np.array([int(v) for v in values], dtype=np.int64)  # only int64 min gets here


def _to_float(values: Any, path: Path, lineno: np.ndarray, what: str) -> np.ndarray:
    """Parse finite decimal numbers; the first other value is an error naming its line."""
    values = np.asarray(values, dtype=object)
    try:
        num = values.astype(np.float64)
        ok = bool(np.isfinite(num).all()) and "".join(values).isascii()
    except (ValueError, TypeError):
        ok = False
    if ok:
        return num
    for i, value in enumerate(values):
        try:
            good = str(value).isascii() and np.isfinite(float(value))
        except (ValueError, TypeError):
            good = False
        if not good:
            raise _parse_error(
                path,
                int(lineno[i]),
                f"{what} {value!r} is not a number; expected a finite decimal number such as 3.5",
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _codes(values: Any) -> tuple[np.ndarray, list]:
    """Contiguous codes in sorted order of the original ids."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64), np.asarray(uniques).tolist()


_Loaded = tuple["pd.DataFrame", int, int, list, list, dict]


def _interaction_table(
    users: Any, items: Any, **event_kwargs: Any
) -> tuple[pd.DataFrame, int, int, list, list]:
    u, user_ids = _codes(users)
    i, item_ids = _codes(items)
    return events_frame(u, i, **event_kwargs), len(user_ids), len(item_ids), user_ids, item_ids


# --- mind --------------------------------------------------------------------------------


def _load_mind(path: Path, *, include_history: bool) -> _Loaded:
    import pandas as pd

    folder = _dataset_folder(path, "mind", "behaviors.tsv")
    bpath = _require_file(folder, "behaviors.tsv", "mind")
    df, lineno = _read_table(
        bpath,
        sep="\t",
        columns=("impression", "user", "time", "history", "impressions"),
        optional=("history",),
        expect=_EXPECT["mind"],
    )
    impression = _to_int(df["impression"].to_numpy(), bpath, lineno, "impression id")
    dup = pd.Series(impression).duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise _parse_error(
            bpath, int(lineno[i]), f"impression id {impression[i]} appears more than once"
        )
    times = pd.to_datetime(df["time"], format=_MIND_TIME_FORMAT, errors="coerce")
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise _parse_error(
            bpath,
            int(lineno[i]),
            f"time {df['time'].iloc[i]!r} is not in the MIND format 'M/D/YYYY H:MM:SS AM'",
        )
    ts = (times.dt.as_unit("s").astype("int64")).to_numpy(dtype=np.int64)

    entries = df["impressions"].str.split(" ").explode()
    row = entries.index.to_numpy()
    parts = entries.str.rsplit("-", n=1, expand=True)
    if parts.shape[1] < 2:
        parts[1] = None
    label_str = parts[1].to_numpy(dtype=object)
    label_ok = ((label_str == "0") | (label_str == "1")) & (parts[0].to_numpy() != "")
    if not label_ok.all():
        i = int(np.flatnonzero(~label_ok)[0])
        raise _parse_error(
            bpath,
            int(lineno[row[i]]),
            f"impression entry {entries.iloc[i]!r} is not 'ITEM-0' or 'ITEM-1' (entries "
            "are separated by single spaces; "
            "MIND test files carry no click labels and cannot be loaded)",
        )
    imp_items = parts[0].to_numpy(dtype=object)
    imp_users = df["user"].to_numpy(dtype=object)[row]
    label = (label_str == "1").astype(np.int8)

    notes: dict[str, Any] = {
        "n_impressions": int(len(df)),
        "n_impression_entries": int(len(imp_items)),
        "n_clicks": int(label.sum()),
    }
    if include_history:
        first = df.drop_duplicates("user")
        hist = first["history"].str.split().explode().dropna()
        hist = hist[hist != ""]
        h_users = first["user"].loc[hist.index].to_numpy(dtype=object)
        h_items = hist.to_numpy(dtype=object)
        # Position in the user's history (0 = oldest) and the history length.
        grp = pd.Series(hist.index.to_numpy())
        pos = grp.groupby(grp).cumcount().to_numpy()
        length = grp.map(grp.value_counts()).to_numpy()
        h_ts = int(ts.min()) - length + pos
        all_users = np.concatenate([imp_users, h_users])
        all_items = np.concatenate([imp_items, h_items])
        u, user_ids = _codes(all_users)
        i, item_ids = _codes(all_items)
        events = events_frame(
            u,
            i,
            label=np.concatenate([label, np.ones(len(h_items), np.int8)]),
            timestamp=np.concatenate([ts[row], h_ts]),
            group=np.concatenate([impression[row], np.full(len(h_items), -1)]),
        )
        notes["n_history_events"] = int(len(h_items))
    else:
        u, user_ids = _codes(imp_users)
        i, item_ids = _codes(imp_items)
        events = events_frame(u, i, label=label, timestamp=ts[row], group=impression[row])

    extra: dict[str, Any] = {"notes": notes}
    npath = folder / "news.tsv"
    if npath.is_file():
        extra["item_features"] = _mind_item_features(npath, item_ids)
        notes["n_items_with_text"] = int((extra["item_features"]["category"] >= 0).sum())
    else:
        notes["news"] = "news.tsv not found: no item categories"
    return events, len(user_ids), len(item_ids), user_ids, item_ids, extra


def _mind_item_features(npath: Path, item_ids: list) -> pd.DataFrame:
    import pandas as pd

    news, _ = _read_table(
        npath,
        sep="\t",
        columns=(
            "id",
            "category",
            "subcategory",
            "title",
            "abstract",
            "url",
            "title_entities",
            "abstract_entities",
        ),
        optional=("title", "abstract", "url", "title_entities", "abstract_entities"),
        expect="news.tsv holds tab-separated 'id category subcategory title abstract url "
        "title_entities abstract_entities'",
    )
    news = news.drop_duplicates("id")
    out = pd.DataFrame(index=pd.RangeIndex(len(item_ids), name="item"))
    where = pd.Index(news["id"]).get_indexer(pd.Index(item_ids, dtype=object))
    out.attrs = {}
    for col in ("category", "subcategory"):
        codes, names = _codes(news[col].to_numpy(dtype=object))
        mapped = np.where(where >= 0, codes[np.maximum(where, 0)], -1).astype(np.int64)
        out[col] = mapped
        out.attrs[f"{col}_names"] = names
    return out


# --- amazon-seq --------------------------------------------------------------------------


def _load_amazon_seq(path: Path) -> _Loaded:
    import pandas as pd

    expect = _EXPECT["amazon-seq"]
    if path.is_dir():
        txts = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and p.suffix == ".txt" and p.name.lower() != "readme.txt"
        )
        if not txts:
            raise FileNotFoundError(
                f"no .txt sequence file in {str(path)!r} (found: {_file_names(path)}); "
                f"{expect}{_looks_like(path, 'amazon-seq')}"
            )
        if len(txts) > 1:
            raise ValueError(
                f"several .txt files in {str(path)!r} ({', '.join(p.name for p in txts)}); "
                f"pass the path of the one to load; {expect}{_looks_like(path, 'amazon-seq')}"
            )
        path = txts[0]
    text = _read_bytes(path).decode("utf-8")
    if not text.isascii() or _SEQ_BAD_CHAR.search(text):
        m = _SEQ_BAD_CHAR.search(text)
        assert m is not None
        raise _parse_error(
            path,
            text.count("\n", 0, m.start()) + 1,
            f"character {m.group()!r} in a sequence line; {expect}",
        )
    tokens = [line.split() for line in text.split("\n")]
    lens = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    lineno_all = np.arange(1, len(tokens) + 1, dtype=np.int64)
    keep = lens > 0
    lens = lens[keep]
    lineno = lineno_all[keep]
    flat = np.array(list(itertools.chain.from_iterable(tokens)), dtype=object)
    flat_line = np.repeat(lineno, lens)
    short = np.flatnonzero(lens == 1)
    short_line = int(lineno[short[0]]) if len(short) else None
    try:
        ids = _to_int(flat, path, flat_line, "id")
    except _ParseError as err:
        if short_line is None or err.line <= short_line:
            raise _ParseError(f"{err}; {expect}", err.line) from None
        ids = None
    if short_line is not None:
        raise _parse_error(
            path, short_line, f"a user with no items; expected 'user item ...'; {expect}"
        )
    assert ids is not None
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    line_users = ids[starts]
    repeated = np.flatnonzero(pd.Series(line_users).duplicated().to_numpy())
    if len(repeated):
        i = int(repeated[0])
        first = int(lineno[np.flatnonzero(line_users == line_users[i])[0]])
        raise _parse_error(
            path,
            int(lineno[i]),
            f"user {int(line_users[i])} already has a line (line {first}); "
            f"{expect}; a file with several lines per user (ratings, trust links, u.data) "
            "is another format: pass its format",
        )
    is_user = np.zeros(len(flat), dtype=bool)
    is_user[starts] = True
    users = np.repeat(line_users, lens - 1)
    items = ids[~is_user]
    # Position in each user's sequence: 0, 1, ... (an order, not a clock).
    n_items_per_line = lens - 1
    pos = np.arange(len(items)) - np.repeat(
        np.cumsum(n_items_per_line) - n_items_per_line, n_items_per_line
    )
    events, n_users, n_items, user_ids, item_ids = _interaction_table(users, items, timestamp=pos)
    notes: dict[str, Any] = {"timestamp": "position in the user's sequence"}
    return events, n_users, n_items, user_ids, item_ids, {"notes": notes}


# --- yoochoose ---------------------------------------------------------------------------


def _yoochoose_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The files to load from a yoochoose folder and the names of the .txt files left out.

    Files are chosen by name, never by content (each chosen file must then have the
    header): the ``*train_full*`` file (or the only ``*train*`` file) and the ``*test*``
    file; a folder with neither kind must hold exactly one .txt file.
    """
    expect = _EXPECT["yoochoose"]
    txts = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == ".txt" and p.name.lower() != "readme.txt"
    )
    if not txts:
        raise FileNotFoundError(
            f"no .txt file in {str(folder)!r} (found: {_file_names(folder)}); {expect}"
            f"{_looks_like(folder, 'yoochoose')}"
        )
    test = [p for p in txts if "test" in p.name]
    train = [p for p in txts if "train" in p.name and p not in test]
    if not train and not test:
        if len(txts) > 1:
            raise ValueError(
                f"several .txt files in {str(folder)!r} ({', '.join(p.name for p in txts)}) "
                f"and none is named *train* or *test*; pass the path of the one to load; "
                f"{expect}{_looks_like(folder, 'yoochoose')}"
            )
        return txts, []
    full = [p for p in train if "train_full" in p.name]
    chosen_train = full or train
    for kind, chosen in (("train", chosen_train), ("test", test)):
        if len(chosen) > 1:
            raise ValueError(
                f"several {kind} files in {str(folder)!r} "
                f"({', '.join(p.name for p in chosen)}); pass the path of the one to load"
            )
    files = chosen_train + test
    return files, [p.name for p in txts if p not in files]


def _load_yoochoose(path: Path) -> _Loaded:
    import pandas as pd

    notes: dict[str, Any] = {"user": "session (the source has no user ids)"}
    if path.is_dir():
        files, left_out = _yoochoose_files(path)
        if left_out:
            # e.g. session-rec's train_tr/train_valid, the parts of train_full.
            notes["files_not_loaded"] = left_out
    else:
        files = [path]
    parts = []
    for p in files:
        df, lineno = _read_table(
            p,
            sep="\t",
            columns=_YOOCHOOSE_HEADER,
            header=_YOOCHOOSE_HEADER,
            expect=_EXPECT["yoochoose"],
        )
        sess = _to_int(df["SessionId"].to_numpy(), p, lineno, "SessionId")
        item = _to_int(df["ItemId"].to_numpy(), p, lineno, "ItemId")
        t = _to_float(df["Time"].to_numpy(), p, lineno, "Time")
        part = "test" if "test" in p.name else "train"
        notes[f"{part}_clicks"] = int(len(sess))
        notes[f"{part}_sessions"] = int(len(np.unique(sess)))
        notes[f"{part}_items"] = int(len(np.unique(item)))
        if part == "test":
            notes["test_start"] = int(np.floor(t.min()))
        parts.append(pd.DataFrame({"session": sess, "item": item, "time": t}))
    df = pd.concat(parts, ignore_index=True)
    ts = np.floor(df["time"].to_numpy()).astype(np.int64)
    sess = df["session"].to_numpy()
    events, n_users, n_items, user_ids, item_ids = _interaction_table(
        sess, df["item"].to_numpy(), timestamp=ts, group=sess
    )
    return events, n_users, n_items, user_ids, item_ids, {"notes": notes}


# --- lastfm-hetrec -----------------------------------------------------------------------


def _load_lastfm(path: Path) -> _Loaded:
    expect = _EXPECT["lastfm-hetrec"]
    folder = _dataset_folder(path, "lastfm-hetrec", "user_artists.dat")
    upath = _require_file(folder, "user_artists.dat", "lastfm-hetrec")
    cols = ("userID", "artistID", "weight")
    df, lineno = _read_table(upath, sep="\t", columns=cols, header=cols, expect=expect)
    users = _to_int(df["userID"].to_numpy(), upath, lineno, "userID")
    items = _to_int(df["artistID"].to_numpy(), upath, lineno, "artistID")
    weight = _to_float(df["weight"].to_numpy(), upath, lineno, "weight")
    notes: dict[str, Any] = {"timestamp": "none in the source (all 0)"}
    fpath = folder / "user_friends.dat"
    src = dst = np.empty(0, np.int64)
    if fpath.is_file():
        fcols = ("userID", "friendID")
        fdf, flineno = _read_table(fpath, sep="\t", columns=fcols, header=fcols, expect=expect)
        src = _to_int(fdf["userID"].to_numpy(), fpath, flineno, "userID")
        dst = _to_int(fdf["friendID"].to_numpy(), fpath, flineno, "friendID")
    return _with_social(users, items, weight, src, dst, notes)


# --- filmtrust ---------------------------------------------------------------------------


def _load_filmtrust(path: Path) -> _Loaded:
    import pandas as pd

    expect = _EXPECT["filmtrust"]
    folder = _dataset_folder(path, "filmtrust", "ratings.txt")
    rpath = _require_file(folder, "ratings.txt", "filmtrust")
    df, lineno = _read_table(rpath, sep=" ", columns=("user", "item", "rating"), expect=expect)
    users = _to_int(df["user"].to_numpy(), rpath, lineno, "user")
    items = _to_int(df["item"].to_numpy(), rpath, lineno, "item")
    rating = _to_float(df["rating"].to_numpy(), rpath, lineno, "rating")
    repeated = int(pd.DataFrame({"u": users, "i": items}).duplicated().sum())
    notes: dict[str, Any] = {
        "repeated_pairs": repeated,
        "repeated_pairs_policy": "kept as stored",
        "timestamp": "none in the source (all 0)",
    }
    tpath = folder / "trust.txt"
    src = dst = np.empty(0, np.int64)
    if tpath.is_file():
        tcols = ("truster", "trustee", "value")
        tdf, tlineno = _read_table(tpath, sep=" ", columns=tcols, expect=expect)
        src = _to_int(tdf["truster"].to_numpy(), tpath, tlineno, "truster")
        dst = _to_int(tdf["trustee"].to_numpy(), tpath, tlineno, "trustee")
        _to_float(tdf["value"].to_numpy(), tpath, tlineno, "trust value")
    return _with_social(users, items, rating, src, dst, notes)


def _with_social(
    users: np.ndarray,
    items: np.ndarray,
    weight: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    notes: dict[str, Any],
) -> _Loaded:
    """Events plus a social table; social-only users get codes after the event users."""
    import pandas as pd

    u, user_ids = _codes(users)
    extra_users = np.setdiff1d(np.concatenate([src, dst]), np.asarray(user_ids, np.int64))
    user_ids = user_ids + extra_users.tolist()
    i, item_ids = _codes(items)
    events = events_frame(u, i, weight=weight)
    index = pd.Index(np.asarray(user_ids, dtype=np.int64))
    social = pd.DataFrame(
        {
            "src": index.get_indexer(src).astype(np.int64),
            "dst": index.get_indexer(dst).astype(np.int64),
        }
    )
    if len(extra_users):
        notes["n_social_only_users"] = int(len(extra_users))
    return (
        events,
        len(user_ids),
        len(item_ids),
        user_ids,
        item_ids,
        {
            "social": social,
            "notes": notes,
        },
    )


# --- movielens ---------------------------------------------------------------------------


def _load_movielens(path: Path) -> _Loaded:
    if path.is_file():
        rpath = path
    elif (path / "ratings.csv").is_file():
        rpath = path / "ratings.csv"
    elif (path / "u.data").is_file():
        rpath = path / "u.data"
    else:
        raise FileNotFoundError(
            f"no ratings.csv or u.data in {str(path)!r} (found: {_file_names(path)}); "
            f"{_EXPECT['movielens']}{_looks_like(path, 'movielens')}"
        )
    expect = _EXPECT["movielens"]
    cols = ("userId", "movieId", "rating", "timestamp")
    if rpath.suffix == ".csv":
        df, lineno = _read_table(rpath, sep=",", columns=cols, header=cols, expect=expect)
    else:
        df, lineno = _read_table(rpath, sep="\t", columns=cols, expect=expect)
    users = _to_int(df["userId"].to_numpy(), rpath, lineno, "user id")
    items = _to_int(df["movieId"].to_numpy(), rpath, lineno, "movie id")
    rating = _to_float(df["rating"].to_numpy(), rpath, lineno, "rating")
    ts = _to_int(df["timestamp"].to_numpy(), rpath, lineno, "timestamp")
    events, n_users, n_items, user_ids, item_ids = _interaction_table(
        users, items, weight=rating, timestamp=ts
    )
    return events, n_users, n_items, user_ids, item_ids, {"notes": {}}


_LOADERS = {
    "amazon-seq": _load_amazon_seq,
    "yoochoose": _load_yoochoose,
    "lastfm-hetrec": _load_lastfm,
    "filmtrust": _load_filmtrust,
    "movielens": _load_movielens,
}
