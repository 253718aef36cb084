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
    ``Beauty.txt``, ``Sports_and_Outdoors.txt``). ``timestamp`` is the position in the
    user's sequence (0, 1, ...), so it orders one user's events but is not comparable
    across users.
``yoochoose``
    Tab-separated ``SessionId ItemId Time`` with a header; the ``*train_full.txt`` and
    ``*test.txt`` files of a folder are both loaded. There are no user ids, so the
    session is both the ``user`` and the ``group``. ``notes`` give the per-file counts and
    ``test_start`` (the first timestamp of the test file).
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
"""

from __future__ import annotations

import csv
import os
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


def load_dataset(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    name: str | None = None,
    include_history: bool = False,
) -> Interactions:
    """Load a recommender dataset from its files.

    Args:
        path: The dataset folder (or, for ``amazon-seq``, ``movielens`` and
            ``yoochoose``, one data file).
        format: One of :data:`FORMATS`, or ``None`` to detect it from the files (see
            :func:`detect_format`).
        name: Name for reports; defaults to the folder name.
        include_history: ``mind`` only: add the users' history clicks as label-1 events
            with ``group`` -1 before the first impression. Off by default so that
            :meth:`~Interactions.stats` reproduces the README counts.

    Returns:
        The events with contiguous user and item codes, side tables where the format
        has them, ``name``, ``domain`` and ``notes``.

    Raises:
        FileNotFoundError: ``path`` or a file the format needs does not exist.
        ValueError: ``format`` is unknown or cannot be detected, or a file is empty or
            malformed (the message names the file, the line and the problem).
    """
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


def dataset_stats(path: str | os.PathLike[str], format: str | None = None) -> dict:
    """Counts of a dataset as :meth:`Interactions.stats` reports them.

    Args:
        path: The dataset folder or file, as for :func:`load_dataset`.
        format: One of :data:`FORMATS`, or ``None`` to detect it.

    Returns:
        A JSON-serialisable dict with at least ``n_users``, ``n_items`` and
        ``n_interactions``, plus ``format`` and the loader's notes.
    """
    path = Path(path)
    data = load_dataset(path, format)
    out = data.stats()
    out["format"] = _check_format(format) if format is not None else detect_format(path)
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


def _check_format(format: str) -> str:
    key = str(format).strip().lower().replace("_", "-")
    if key not in FORMATS:
        raise ValueError(
            f"unknown dataset format {format!r}; valid formats are: {', '.join(FORMATS)}"
        )
    return key


def _parse_error(path: Path, lineno: int, problem: str) -> ValueError:
    """A ``ValueError`` that names the file, the 1-based line number and the problem."""
    return ValueError(f"{path}: line {lineno}: {problem}")


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def _require_file(folder: Path, filename: str, format: str) -> Path:
    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist; the {format!r} format needs {filename} in the "
            "dataset folder"
        )
    return path


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0 or not _has_content(path):
        raise ValueError(f"{path}: the file is empty; expected data rows")


def _has_content(path: Path) -> bool:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            if chunk.strip():
                return True
    return False


def _read_table(
    path: Path,
    *,
    sep: str,
    columns: tuple[str, ...],
    header: tuple[str, ...] | None = None,
    optional: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a delimited file as strings and check every line has ``len(columns)`` fields.

    Returns the non-blank rows and their 1-based line numbers. Blank lines are skipped;
    a missing or extra field (or an empty one not in ``optional``) is an error naming the
    line.
    """
    import pandas as pd

    _check_not_empty(path)
    n = len(columns)
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            index_col=False,
            encoding="utf-8",
            encoding_errors="replace",
        )
    except pd.errors.ParserError as exc:
        import re

        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m is None:
            raise ValueError(f"{path}: cannot parse the file: {exc}") from exc
        raise _parse_error(
            path, int(m.group(2)), f"expected {n} fields, found {m.group(3)}"
        ) from exc
    lineno = np.arange(1, len(raw) + 1, dtype=np.int64)
    if header is not None:
        got = tuple(str(v) for v in raw.iloc[0, : len(header)])
        if len(raw.columns) < len(header) or tuple(g.lower() for g in got) != tuple(
            h.lower() for h in header
        ):
            raise _parse_error(
                path,
                1,
                f"expected the header {sep.join(header)!r}, found {sep.join(raw.iloc[0])!r}",
            )
        raw = raw.iloc[1:]
        lineno = lineno[1:]
    values = raw.to_numpy(dtype=object)
    if values.shape[1] < n:
        values = np.concatenate(
            [values, np.full((len(values), n - values.shape[1]), "", dtype=object)], axis=1
        )
    filled = values != ""
    blank = ~filled.any(axis=1)
    extra = filled[:, n:].any(axis=1) & ~blank
    required = np.array([c not in optional for c in columns])
    missing = ~blank[:, None] & ~filled[:, :n] & required[None, :]
    bad = np.flatnonzero(extra | missing.any(axis=1))
    if len(bad):
        i = bad[0]
        if extra[i]:
            found = int(np.flatnonzero(filled[i])[-1]) + 1
            problem = f"expected {n} fields ({', '.join(columns)}), found {found}"
        else:
            col = columns[int(np.flatnonzero(missing[i])[0])]
            problem = (
                f"field {col!r} is missing or empty (expected {n} fields: {', '.join(columns)})"
            )
        raise _parse_error(path, int(lineno[i]), problem)
    keep = ~blank
    if not keep.any():
        raise ValueError(f"{path}: the file has no data rows")
    df = pd.DataFrame(values[keep][:, :n], columns=list(columns))
    return df, lineno[keep]


def _to_int(values: Any, path: Path, lineno: np.ndarray, what: str) -> np.ndarray:
    """Parse integer ids; the first non-integer is an error naming its line."""
    import pandas as pd

    num = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num) | (num != np.round(num))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _parse_error(path, int(lineno[i]), f"{what} {values[i]!r} is not an integer")
    return num.astype(np.int64)


def _to_float(values: Any, path: Path, lineno: np.ndarray, what: str) -> np.ndarray:
    import pandas as pd

    num = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _parse_error(path, int(lineno[i]), f"{what} {values[i]!r} is not a number")
    return num


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

    folder = path if path.is_dir() else path.parent
    bpath = _require_file(folder, "behaviors.tsv", "mind")
    df, lineno = _read_table(
        bpath,
        sep="\t",
        columns=("impression", "user", "time", "history", "impressions"),
        optional=("history",),
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
    label_ok = (label_str == "0") | (label_str == "1")
    if not label_ok.all():
        i = int(np.flatnonzero(~label_ok)[0])
        raise _parse_error(
            bpath,
            int(lineno[row[i]]),
            f"impression entry {entries.iloc[i]!r} is not 'ITEM-0' or 'ITEM-1' "
            "(MIND test files carry no click labels and cannot be loaded)",
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
    if path.is_dir():
        txts = sorted(
            p for p in path.iterdir() if p.suffix == ".txt" and p.name.lower() != "readme.txt"
        )
        if not txts:
            raise FileNotFoundError(
                f"no .txt sequence file in {str(path)!r}; the 'amazon-seq' format needs one "
                "file with lines 'user item item ...'"
            )
        if len(txts) > 1:
            raise ValueError(
                f"several .txt files in {str(path)!r} ({', '.join(p.name for p in txts)}); "
                "pass the path of the one to load"
            )
        path = txts[0]
    _check_not_empty(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    tokens = [line.split() for line in lines]
    lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    lineno_all = np.arange(1, len(lines) + 1, dtype=np.int64)
    short = np.flatnonzero(lens == 1)
    if len(short):
        raise _parse_error(
            path, int(lineno_all[short[0]]), "a user with no items; expected 'user item ...'"
        )
    keep = lens > 0
    tokens = [t for t in tokens if t]
    lens = lens[keep]
    lineno = lineno_all[keep]
    flat = np.array([tok for t in tokens for tok in t], dtype=object)
    flat_line = np.repeat(lineno, lens)
    ids = _to_int(flat, path, flat_line, "id")
    is_user = np.zeros(len(flat), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    is_user[starts] = True
    users = np.repeat(ids[starts], lens - 1)
    items = ids[~is_user]
    # Position in each user's sequence: 0, 1, ... (an order, not a clock).
    n_items_per_line = lens - 1
    pos = np.arange(len(items)) - np.repeat(
        np.cumsum(n_items_per_line) - n_items_per_line, n_items_per_line
    )
    dup_users = len(np.unique(ids[starts])) < len(starts)
    events, n_users, n_items, user_ids, item_ids = _interaction_table(users, items, timestamp=pos)
    notes: dict[str, Any] = {"timestamp": "position in the user's sequence"}
    if dup_users:
        notes["repeated_user_lines"] = int(len(starts) - len(np.unique(ids[starts])))
    return events, n_users, n_items, user_ids, item_ids, {"notes": notes}


# --- yoochoose ---------------------------------------------------------------------------


def _load_yoochoose(path: Path) -> _Loaded:
    import pandas as pd

    if path.is_dir():
        txts = sorted(p for p in path.iterdir() if p.suffix == ".txt")
        files = [p for p in txts if tuple(_first_line(p).split("\t")) == _YOOCHOOSE_HEADER]
        train = [p for p in files if "train" in p.name]
        test = [p for p in files if "test" in p.name]
        if not files:
            raise FileNotFoundError(
                f"no yoochoose file in {str(path)!r}; the 'yoochoose' format needs "
                "tab-separated files with the header 'SessionId\\tItemId\\tTime'"
            )
        # train_full + test when both exist; otherwise every file with the header.
        full = [p for p in train if "train_full" in p.name]
        files = (full or train)[:1] + test[:1] if (train and test) else files
    else:
        files = [path]
    parts = []
    notes: dict[str, Any] = {"user": "session (the source has no user ids)"}
    for p in files:
        df, lineno = _read_table(p, sep="\t", columns=_YOOCHOOSE_HEADER, header=_YOOCHOOSE_HEADER)
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
    folder = path if path.is_dir() else path.parent
    upath = _require_file(folder, "user_artists.dat", "lastfm-hetrec")
    cols = ("userID", "artistID", "weight")
    df, lineno = _read_table(upath, sep="\t", columns=cols, header=cols)
    users = _to_int(df["userID"].to_numpy(), upath, lineno, "userID")
    items = _to_int(df["artistID"].to_numpy(), upath, lineno, "artistID")
    weight = _to_float(df["weight"].to_numpy(), upath, lineno, "weight")
    notes: dict[str, Any] = {"timestamp": "none in the source (all 0)"}
    fpath = folder / "user_friends.dat"
    src = dst = np.empty(0, np.int64)
    if fpath.is_file():
        fcols = ("userID", "friendID")
        fdf, flineno = _read_table(fpath, sep="\t", columns=fcols, header=fcols)
        src = _to_int(fdf["userID"].to_numpy(), fpath, flineno, "userID")
        dst = _to_int(fdf["friendID"].to_numpy(), fpath, flineno, "friendID")
    return _with_social(users, items, weight, src, dst, notes)


# --- filmtrust ---------------------------------------------------------------------------


def _load_filmtrust(path: Path) -> _Loaded:
    import pandas as pd

    folder = path if path.is_dir() else path.parent
    rpath = _require_file(folder, "ratings.txt", "filmtrust")
    df, lineno = _read_table(rpath, sep=" ", columns=("user", "item", "rating"))
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
        tdf, tlineno = _read_table(tpath, sep=" ", columns=("truster", "trustee", "value"))
        src = _to_int(tdf["truster"].to_numpy(), tpath, tlineno, "truster")
        dst = _to_int(tdf["trustee"].to_numpy(), tpath, tlineno, "trustee")
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
            f"no ratings.csv or u.data in {str(path)!r}; the 'movielens' format needs one"
        )
    cols = ("userId", "movieId", "rating", "timestamp")
    if rpath.suffix == ".csv":
        df, lineno = _read_table(rpath, sep=",", columns=cols, header=cols)
    else:
        df, lineno = _read_table(rpath, sep="\t", columns=cols)
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
