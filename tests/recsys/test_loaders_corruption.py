"""Corrupted and mislabelled files: every loader gives the exact counts or refuses.

Each case writes a tiny dataset in ``tmp_path``, corrupts its main file in one way and
loads it. The expected outcome was worked out by hand for the tiny file: either the exact
``(n_users, n_items, n_interactions)`` of :meth:`Interactions.stats`, or a one-line
``ValueError`` that names the file (and the line of the first bad row). Different counts
without an error are never acceptable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

from optuna_rl_sampler.cli import main
from optuna_rl_sampler.recsys.loaders import FORMATS
from optuna_rl_sampler.recsys.loaders import detect_format
from optuna_rl_sampler.recsys.loaders import load_dataset

BIG = (9_007_199_254_740_993, 9_007_199_254_740_992, 9_007_199_254_740_991)  # 2**53 + 1, ...
HUGE = "99999999999999999999"  # above 2**64


@dataclass(frozen=True)
class Spec:
    """A tiny dataset: the main file as rows of fields, plus side files."""

    format: str
    main: str  # the file that gets corrupted, relative to the dataset folder
    sep: str
    header: tuple[str, ...] | None
    rows: tuple[tuple[str, ...], ...]
    counts: tuple[int, int, int]  # n_users, n_items, n_interactions of the clean files
    id_col: int  # an integer-id column (huge / float-looking id cases)
    user_col: int
    side: dict[str, str] = field(default_factory=dict)

    def lineno(self, row: int) -> int:
        """File line of data row ``row`` (0-based)."""
        return row + 1 + (self.header is not None)

    def text(self, rows: list[list[str]] | None = None, header: list[str] | None = None) -> str:
        rows = [list(r) for r in self.rows] if rows is None else rows
        head = list(self.header) if header is None and self.header else header
        lines = ([self.sep.join(head)] if head else []) + [self.sep.join(r) for r in rows]
        return "\n".join(lines) + "\n"


SPECS = {
    "mind": Spec(
        "mind",
        "behaviors.tsv",
        "\t",
        None,
        (
            ("1", "U1", "11/11/2019 9:00:00 AM", "N1 N2", "N3-1 N4-0"),
            ("2", "U2", "11/11/2019 10:00:00 AM", "", "N3-0 N5-1"),
            ("3", "U1", "11/12/2019 9:00:00 AM", "N1", "N4-1"),
        ),
        (2, 3, 5),  # users U1 U2; items N3 N4 N5; 5 impression entries
        id_col=0,
        user_col=1,
    ),
    "amazon-seq": Spec(
        "amazon-seq",
        "Seq.txt",
        " ",
        None,
        (("1", "10", "11", "12"), ("2", "11", "13"), ("3", "10", "14")),
        (3, 5, 7),  # items 10..14
        id_col=0,
        user_col=0,
    ),
    "yoochoose": Spec(
        "yoochoose",
        "clicks_train_full.txt",
        "\t",
        ("SessionId", "ItemId", "Time"),
        (("1", "100", "10.5"), ("1", "101", "20.0"), ("2", "100", "30.0")),
        (3, 2, 4),  # sessions 1 2 (train) + 5 (test); items 100 101; 3 + 1 clicks
        id_col=0,
        user_col=0,
        side={"clicks_test.txt": "SessionId\tItemId\tTime\n5\t101\t40.0\n"},
    ),
    "lastfm-hetrec": Spec(
        "lastfm-hetrec",
        "user_artists.dat",
        "\t",
        ("userID", "artistID", "weight"),
        (("2", "51", "100"), ("2", "52", "5"), ("3", "51", "7")),
        (2, 2, 3),
        id_col=0,
        user_col=0,
        side={"user_friends.dat": "userID\tfriendID\n2\t3\n3\t2\n"},
    ),
    "filmtrust": Spec(
        "filmtrust",
        "ratings.txt",
        " ",
        None,
        (("1", "1", "2"), ("1", "2", "4"), ("2", "2", "3.5")),
        (2, 2, 3),
        id_col=0,
        user_col=0,
        side={"trust.txt": "1 2 1\n1 3 1\n"},
    ),
    "movielens": Spec(
        "movielens",
        "ratings.csv",
        ",",
        ("userId", "movieId", "rating", "timestamp"),
        (("1", "10", "4.0", "5"), ("2", "10", "3.5", "7"), ("2", "11", "5.0", "9")),
        (2, 2, 3),
        id_col=0,
        user_col=0,
    ),
}

# --- the corruptions: Spec -> bytes of the main file ----------------------------------------

# A separator the format does not use (amazon-seq takes any whitespace, so not a tab).
OTHER_SEP = {
    "mind": ",",
    "amazon-seq": ",",
    "yoochoose": ",",
    "lastfm-hetrec": ",",
    "filmtrust": "\t",
    "movielens": ";",
}


def _rows(spec: Spec) -> list[list[str]]:
    return [list(r) for r in spec.rows]


def _set(spec: Spec, row: int, col: int, value: str) -> bytes:
    rows = _rows(spec)
    rows[row][col] = value
    return spec.text(rows).encode()


def _truncated(spec: Spec) -> bytes:
    """The last row cut after its second field and separator, with no final newline."""
    text = spec.text()
    last = spec.sep.join(spec.rows[-1])
    cut = spec.sep.join(spec.rows[-1][:2]) + spec.sep
    return text[: len(text) - len(last) - 1].encode() + cut.encode()


def _truncated_mid_field(spec: Spec) -> bytes:
    """The file cut one character before the end of its last row (no final newline)."""
    return spec.text()[:-2].encode()


def _big_ids(spec: Spec) -> bytes:
    """User ids 1, 2, 3 in order of appearance replaced by 2**53 + 1, 2**53, 2**53 - 1."""
    rows = _rows(spec)
    mapping: dict[str, str] = {}
    for r in rows:
        old = r[spec.user_col]
        mapping.setdefault(old, str(BIG[len(mapping)]))
        r[spec.user_col] = mapping[old]
    return spec.text(rows).encode()


def _non_utf8(spec: Spec) -> bytes:
    rows = _rows(spec)
    rows[1][spec.user_col] = "\udcff" + rows[1][spec.user_col]  # a lone 0xff byte
    return spec.text(rows).encode("utf-8", "surrogateescape")


def _wrong_sep(spec: Spec) -> bytes:
    return spec.text().replace(spec.sep, OTHER_SEP[spec.format]).encode()


def _missing_column(spec: Spec) -> bytes:
    """Every line (header included) loses its last column."""
    header = list(spec.header[:-1]) if spec.header else None
    return spec.text([r[:-1] for r in _rows(spec)], header).encode()


def _extra_column(spec: Spec) -> bytes:
    """Every line gains a column: 'extra' in the header, '7' in the rows."""
    header = [*spec.header, "extra"] if spec.header else None
    return spec.text([[*r, "7"] for r in _rows(spec)], header).encode()


def _missing_field_row(spec: Spec) -> bytes:
    rows = _rows(spec)
    rows[1] = rows[1][:-1]
    return spec.text(rows).encode()


def _extra_field_row(spec: Spec) -> bytes:
    rows = _rows(spec)
    rows[1] = [*rows[1], "7"]
    return spec.text(rows).encode()


CORRUPTIONS = {
    "bom": lambda s: b"\xef\xbb\xbf" + s.text().encode(),
    "blank_first_line": lambda s: b"\n" + s.text().encode(),
    "crlf": lambda s: s.text().replace("\n", "\r\n").encode(),
    "wrong_separator": _wrong_sep,
    "missing_column": _missing_column,
    "extra_column": _extra_column,
    "missing_field_in_row": _missing_field_row,
    "extra_field_in_row": _extra_field_row,
    "truncated": _truncated,
    "truncated_mid_field": _truncated_mid_field,
    "non_utf8": _non_utf8,
    "huge_id": lambda s: _set(s, 1, s.id_col, HUGE),
    "float_id": lambda s: _set(s, 1, s.id_col, "1e3"),
    "big_exact_ids": _big_ids,
}

# Expected outcome per (format, corruption): counts, or ("line", N) for a ValueError naming
# the main file and line N. Worked out by hand from the tiny files above.
_SAME = {f: SPECS[f].counts for f in FORMATS}
EXPECTED: dict[tuple[str, str], tuple[int, int, int] | tuple[str, int]] = {}
for _f in FORMATS:
    _spec = SPECS[_f]
    _row2 = _spec.lineno(1)  # the line of the second data row
    _last = _spec.lineno(len(_spec.rows) - 1)
    EXPECTED.update(
        {
            (_f, "bom"): _SAME[_f],
            (_f, "crlf"): _SAME[_f],
            # A blank line is skipped, except before a header (which must be line 1).
            (_f, "blank_first_line"): ("line", 1) if _spec.header else _SAME[_f],
            (_f, "wrong_separator"): ("line", 1),
            (_f, "missing_column"): ("line", 1),
            (_f, "extra_column"): ("line", 1),
            (_f, "missing_field_in_row"): ("line", _row2),
            (_f, "extra_field_in_row"): ("line", _row2),
            (_f, "truncated"): ("line", _last),
            (_f, "non_utf8"): ("line", _row2),
            (_f, "huge_id"): ("line", _row2),
            (_f, "float_id"): ("line", _row2),
            (_f, "big_exact_ids"): _SAME[_f],
        }
    )
EXPECTED.update(
    {
        # amazon-seq lines have any number of items, so a row with one item fewer or
        # more is still a valid file; its counts are exact.
        ("amazon-seq", "missing_column"): (3, 2, 4),  # 1:10 11 / 2:11 / 3:10
        ("amazon-seq", "extra_column"): (3, 6, 10),  # item 7 added to every user
        ("amazon-seq", "missing_field_in_row"): (3, 4, 6),  # item 13 gone
        ("amazon-seq", "extra_field_in_row"): (3, 6, 8),  # user 2 also has item 7
        ("amazon-seq", "truncated"): (3, 4, 6),  # "3 10 ": item 14 gone
        # A cut inside the last field: valid only where the rest still parses.
        ("mind", "truncated_mid_field"): ("line", 3),  # impression entry "N4-"
        ("amazon-seq", "truncated_mid_field"): (3, 5, 7),  # item 14 -> item 1
        ("yoochoose", "truncated_mid_field"): (3, 2, 4),  # time "30." is 30.0
        ("lastfm-hetrec", "truncated_mid_field"): ("line", 4),  # empty weight
        ("filmtrust", "truncated_mid_field"): (2, 2, 3),  # rating "3." is 3.0
        ("movielens", "truncated_mid_field"): ("line", 4),  # empty timestamp
    }
)


def _write_dataset(root: Path, spec: Spec, main: bytes | None = None) -> Path:
    folder = root / spec.format.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / spec.main).write_bytes(spec.text().encode() if main is None else main)
    for name, text in spec.side.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _counts(data) -> tuple[int, int, int]:
    stats = data.stats()
    return stats["n_users"], stats["n_items"], stats["n_interactions"]


def _assert_one_line_error(message: str, filename: str, line: int | None) -> None:
    assert "\n" not in message.strip(), message
    assert filename in message, message
    if line is not None:
        assert f"{filename}: line {line}:" in message, message


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_tiny_files(tmp_path: Path, fmt: str) -> None:
    spec = SPECS[fmt]
    assert _counts(load_dataset(_write_dataset(tmp_path, spec), fmt)) == spec.counts


@pytest.mark.parametrize("case", list(CORRUPTIONS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_corruption(tmp_path: Path, fmt: str, case: str) -> None:
    spec = SPECS[fmt]
    folder = _write_dataset(tmp_path, spec, CORRUPTIONS[case](spec))
    expected = EXPECTED[(fmt, case)]
    if expected[0] == "line":
        with pytest.raises(ValueError) as info:
            load_dataset(folder, fmt)
        _assert_one_line_error(str(info.value), spec.main, int(expected[1]))
    else:
        data = load_dataset(folder, fmt)
        assert _counts(data) == expected
        if case == "big_exact_ids" and fmt != "mind":
            # Ids that a float64 would merge stay distinct and exact.
            n_big = len({r[spec.user_col] for r in spec.rows})
            assert set(BIG[:n_big]) <= set(data.user_ids)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bom_does_not_break_detection(tmp_path: Path, fmt: str) -> None:
    spec = SPECS[fmt]
    folder = _write_dataset(tmp_path, spec, CORRUPTIONS["bom"](spec))
    for name in spec.side:  # detection must not lean on a clean side file
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert detect_format(folder) == fmt
    assert _counts(load_dataset(folder)) == spec.counts


def test_expected_covers_every_case() -> None:
    assert set(EXPECTED) == {(f, c) for f in FORMATS for c in CORRUPTIONS}


# --- side files ---------------------------------------------------------------------------

SIDE = [(f, name) for f in FORMATS for name in SPECS[f].side]


@pytest.mark.parametrize(("fmt", "name"), SIDE)
def test_side_file_bom_keeps_counts(tmp_path: Path, fmt: str, name: str) -> None:
    spec = SPECS[fmt]
    clean = load_dataset(_write_dataset(tmp_path / "clean", spec), fmt)
    folder = _write_dataset(tmp_path / "bom", spec)
    (folder / name).write_bytes(b"\xef\xbb\xbf" + spec.side[name].encode())
    data = load_dataset(folder, fmt)
    assert data.stats() == {**clean.stats(), "name": data.name}


@pytest.mark.parametrize(("fmt", "name"), SIDE)
def test_side_file_non_utf8_names_file_and_line(tmp_path: Path, fmt: str, name: str) -> None:
    spec = SPECS[fmt]
    folder = _write_dataset(tmp_path, spec)
    lines = spec.side[name].encode().split(b"\n")
    lines[1] = b"\xfe" + lines[1]
    (folder / name).write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError) as info:
        load_dataset(folder, fmt)
    _assert_one_line_error(str(info.value), name, 2)
    assert "not valid UTF-8" in str(info.value)


def test_mind_news_non_utf8(tmp_path: Path) -> None:
    folder = _write_dataset(tmp_path, SPECS["mind"])
    (folder / "news.tsv").write_bytes(b"N3\tsports\tsoccer\tT\tA\tu\t[]\t[]\nN4\tn\xe9ws\ts\n")
    with pytest.raises(ValueError) as info:
        load_dataset(folder, "mind")
    _assert_one_line_error(str(info.value), "news.tsv", 2)


# --- the cases of the issue ---------------------------------------------------------------


def test_yoochoose_train_file_with_bom_is_loaded(tmp_path: Path) -> None:
    """The issue's repro: a BOM on the train file no longer drops it silently."""
    folder = tmp_path / "yc"
    folder.mkdir()
    (folder / "x_train_full.txt").write_bytes(
        b"\xef\xbb\xbfSessionId\tItemId\tTime\n1\t100\t10\n1\t101\t11\n2\t100\t12\n"
    )
    (folder / "x_test.txt").write_text("SessionId\tItemId\tTime\n3\t100\t20\n")
    data = load_dataset(folder)  # detected as yoochoose despite the BOM
    assert data.stats()["n_interactions"] == 4
    assert (data.notes["train_clicks"], data.notes["test_clicks"]) == (3, 1)


@pytest.mark.parametrize(
    ("first_line", "found"),
    [
        ("\n", "blank line"),
        ("SessionId,ItemId,Time\n", "separated by commas"),
        ("SessionId\tItemId\tTime\tExtra\n", "4 columns instead of 3"),
        ("Session\tItem\tTime\n", "'Session\\tItem\\tTime'"),
    ],
)
def test_yoochoose_bad_train_header_is_refused(
    tmp_path: Path, first_line: str, found: str
) -> None:
    folder = tmp_path / "yc"
    folder.mkdir()
    (folder / "x_train_full.txt").write_text(first_line + "1\t100\t10\n")
    (folder / "x_test.txt").write_text("SessionId\tItemId\tTime\n3\t100\t20\n")
    with pytest.raises(ValueError) as info:
        load_dataset(folder, "yoochoose")
    message = str(info.value)
    _assert_one_line_error(message, "x_train_full.txt", 1)
    assert found in message
    assert "SessionId<TAB>ItemId<TAB>Time" in message


def test_yoochoose_files_chosen_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "yc"
    folder.mkdir()
    head = "SessionId\tItemId\tTime\n"
    (folder / "x_train_full.txt").write_text(head + "1\t100\t10\n2\t100\t11\n")
    (folder / "x_train_tr.txt").write_text(head + "1\t100\t10\n")
    (folder / "x_train_valid.txt").write_text(head + "2\t100\t11\n")
    (folder / "x_test.txt").write_text(head + "3\t100\t20\n")
    data = load_dataset(folder, "yoochoose")
    assert data.stats()["n_interactions"] == 3
    assert data.notes["files_not_loaded"] == ["x_train_tr.txt", "x_train_valid.txt"]
    (folder / "y_test.txt").write_text(head + "4\t100\t20\n")
    with pytest.raises(ValueError, match=r"several test files .*x_test\.txt, y_test\.txt"):
        load_dataset(folder, "yoochoose")


def test_movielens_ids_near_2_53_stay_distinct(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "9007199254740993,1,4.0,5\n9007199254740992,1,4.0,6\n9007199254740991,2,3.0,7\n"
    )
    data = load_dataset(tmp_path)
    assert data.stats()["n_users"] == 3
    assert data.user_ids == [9007199254740991, 9007199254740992, 9007199254740993]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (HUGE, "does not fit in a 64-bit integer"),
        ("9223372036854775808", "does not fit in a 64-bit integer"),  # 2**63
        ("1e3", "is not an integer"),
        ("1000.0", "is not an integer"),
        ("+1000", "is not an integer"),
        ("0x10", "is not an integer"),
        ("1_000", "is not an integer"),
        ("\u0661", "is not an integer"),  # ARABIC-INDIC DIGIT ONE
        ("01000", "has a leading zero"),
        ("-0", "has a leading zero"),
        ("nan", "is not an integer"),
    ],
)
def test_non_plain_integer_ids_are_refused(tmp_path: Path, value: str, problem: str) -> None:
    (tmp_path / "ratings.csv").write_text(
        f"userId,movieId,rating,timestamp\n1,10,4.0,5\n{value},10,4.0,6\n"
    )
    with pytest.raises(ValueError) as info:
        load_dataset(tmp_path)
    message = str(info.value)
    _assert_one_line_error(message, "ratings.csv", 3)
    assert f"user id {value!r} {problem}" in message


def test_negative_and_extreme_int64_ids_are_exact(tmp_path: Path) -> None:
    ids = ["-5", "9223372036854775807", "-9223372036854775808", "0"]
    rows = "".join(f"{u} {i} 1\n" for i, u in enumerate(ids))
    (tmp_path / "ratings.txt").write_text(rows)
    data = load_dataset(tmp_path, "filmtrust")
    assert data.user_ids == sorted(int(u) for u in ids)


def test_mind_ids_differing_in_an_invalid_byte_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mind"
    folder.mkdir()
    (folder / "behaviors.tsv").write_bytes(
        b"1\tU1\t11/11/2019 9:00:00 AM\t\tN\xff1-1\n2\tU1\t11/11/2019 9:00:00 AM\t\tN\xfe1-0\n"
    )
    with pytest.raises(ValueError) as info:
        load_dataset(folder)
    _assert_one_line_error(str(info.value), "behaviors.tsv", 1)
    assert "0xff" in str(info.value)


def test_lone_carriage_return_is_refused(tmp_path: Path) -> None:
    # A lone \r would make pandas split the row in two (3 ratings instead of 2).
    (tmp_path / "ratings.txt").write_bytes(b"1 1 2\n1 2 4\r2 2 3\n")
    with pytest.raises(ValueError) as info:
        load_dataset(tmp_path, "filmtrust")
    _assert_one_line_error(str(info.value), "ratings.txt", 2)


def test_mind_empty_item_in_impression_entry(tmp_path: Path) -> None:
    folder = _write_dataset(tmp_path, SPECS["mind"], _set(SPECS["mind"], 2, 4, "-1"))
    with pytest.raises(ValueError, match=r"behaviors\.tsv: line 3: impression entry '-1'"):
        load_dataset(folder)


# --- wrong --format -----------------------------------------------------------------------

# format -> (a file of another dataset, its name, the line of the error or None)
WRONG_FILE = {
    "mind": ("movielens", "ratings.csv", None),
    "amazon-seq": ("filmtrust", "trust.txt", 2),  # user 1 on two lines
    "yoochoose": ("amazon-seq", "Seq.txt", 1),  # no header
    "lastfm-hetrec": ("yoochoose", "clicks_train_full.txt", None),
    "filmtrust": ("lastfm-hetrec", "user_artists.dat", None),
    "movielens": ("filmtrust", "ratings.txt", 1),  # read as u.data: 1 tab-separated field
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_format_on_a_single_file(tmp_path: Path, fmt: str) -> None:
    other, name, line = WRONG_FILE[fmt]
    folder = _write_dataset(tmp_path, SPECS[other])
    with pytest.raises(ValueError) as info:
        load_dataset(folder / name, fmt)
    message = str(info.value)
    _assert_one_line_error(message, name, line)
    assert f"the {fmt!r} format" in message  # says what was expected


@pytest.mark.parametrize(("fmt", "other"), [(f, o) for f in FORMATS for o in FORMATS if f != o])
def test_wrong_format_on_a_folder(tmp_path: Path, fmt: str, other: str) -> None:
    folder = _write_dataset(tmp_path, SPECS[other])
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        load_dataset(folder, fmt)
    message = str(info.value)
    assert "\n" not in message
    assert f"the {fmt!r} format" in message  # which files / columns were expected


@pytest.mark.realdata
def test_real_trust_file_is_not_amazon_seq(data_dir: Path) -> None:
    path = data_dir / "social/filmtrust/trust.txt"
    if not path.is_file():
        pytest.skip("filmtrust not found in the real data folder")
    with pytest.raises(ValueError) as info:
        load_dataset(path, "amazon-seq")
    _assert_one_line_error(str(info.value), "trust.txt", 2)
    assert "already has a line" in str(info.value)


# --- through the CLI ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["non_utf8", "huge_id", "wrong_separator"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, case: str
) -> None:
    spec = SPECS[fmt]
    folder = _write_dataset(tmp_path, spec, CORRUPTIONS[case](spec))
    assert main(["data", "stats", "--format", fmt, str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("optuna-rl: error: ")
    _assert_one_line_error(err, spec.main, int(EXPECTED[(fmt, case)][1]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_wrong_format_single_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    other, name, _ = WRONG_FILE[fmt]
    folder = _write_dataset(tmp_path, SPECS[other])
    assert main(["data", "stats", "--format", fmt, str(folder / name)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and name in err


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_bom_gives_exact_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    spec = SPECS[fmt]
    folder = _write_dataset(tmp_path, spec, CORRUPTIONS["bom"](spec))
    assert main(["data", "stats", "--format", fmt, str(folder)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == spec.counts
