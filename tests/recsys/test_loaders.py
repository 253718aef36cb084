from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from optuna_rl_sampler.recsys.data import EVENT_COLUMNS
from optuna_rl_sampler.recsys.loaders import FORMATS
from optuna_rl_sampler.recsys.loaders import dataset_stats
from optuna_rl_sampler.recsys.loaders import detect_format
from optuna_rl_sampler.recsys.loaders import load_dataset

# --- small hand-made files, one per format ------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mind_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mind_tiny"
    _write(
        folder / "behaviors.tsv",
        "10\tU2\t11/12/2019 2:14:46 PM\tN1 N2\tN3-1 N4-0 N5-0\n"
        "11\tU1\t11/11/2019 9:00:00 AM\t\tN3-0 N1-1\n"
        "12\tU2\t11/13/2019 12:00:00 AM\tN1 N2\tN4-1 N5-0\n",
    )
    _write(
        folder / "news.tsv",
        "N3\tsports\tsoccer\tTitle\tAbstract\turl\t[]\t[]\n"
        "N1\tnews\tpolitics\tTitle\t\turl\t[]\t[]\n",
    )
    return folder


def test_mind_events_and_categories(mind_dir: Path) -> None:
    data = load_dataset(mind_dir)
    assert data.name == "mind_tiny"
    assert data.domain == "news"
    ev = data.events
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert data.n_interactions == 7
    assert data.user_ids == ["U1", "U2"]
    assert data.item_ids == ["N1", "N3", "N4", "N5"]
    # Row order is file order; items map through the sorted original ids.
    assert [data.item_ids[i] for i in ev["item"]] == ["N3", "N4", "N5", "N3", "N1", "N4", "N5"]
    assert ev["label"].tolist() == [1, 0, 0, 0, 1, 1, 0]
    assert ev["group"].tolist() == [10, 10, 10, 11, 11, 12, 12]
    assert ev["timestamp"].iloc[0] == 1573568086  # 2019-11-12 14:14:46 UTC
    assert ev["timestamp"].iloc[3] == 1573462800  # 2019-11-11 09:00:00 UTC
    stats = data.stats()
    assert (stats["n_users"], stats["n_items"], stats["n_positive"]) == (2, 4, 3)
    assert stats["n_groups"] == 3
    feats = data.item_features
    assert feats.attrs["category_names"] == ["news", "sports"]
    # N1 -> news (0), N3 -> sports (1), N4/N5 have no text.
    assert feats["category"].tolist() == [0, 1, -1, -1]
    assert stats["n_items_with_text"] == 2


def test_mind_history_rows(mind_dir: Path) -> None:
    data = load_dataset(mind_dir, include_history=True)
    ev = data.events
    hist = ev[ev["group"] == -1]
    # U2's history (N1 N2) once, although U2 has two impressions; U1 has none.
    assert [data.item_ids[i] for i in hist["item"]] == ["N1", "N2"]
    assert set(hist["user"]) == {data.user_ids.index("U2")}
    assert (hist["label"] == 1).all()
    first_impression = ev.loc[ev["group"] >= 0, "timestamp"].min()
    assert hist["timestamp"].tolist() == [first_impression - 2, first_impression - 1]
    assert data.notes["n_history_events"] == 2
    assert data.notes["n_impression_entries"] == 7


def test_amazon_seq(tmp_path: Path) -> None:
    path = _write(tmp_path / "shop" / "Shop.txt", "1 5 6 7\n2 6 8\n\n3 5 9 5\n")
    data = load_dataset(path.parent)
    assert detect_format(path.parent) == "amazon-seq"
    assert data.domain == "ecommerce"
    assert data.n_interactions == 8
    assert data.stats()["n_items"] == 5
    ev = data.events
    assert ev["timestamp"].tolist() == [0, 1, 2, 0, 1, 0, 1, 2]
    assert [data.user_ids[u] for u in ev["user"]] == [1, 1, 1, 2, 2, 3, 3, 3]
    assert [data.item_ids[i] for i in ev["item"]] == [5, 6, 7, 6, 8, 5, 9, 5]
    # A file path works too.
    assert load_dataset(path).n_interactions == 8


def test_yoochoose(tmp_path: Path) -> None:
    folder = tmp_path / "yc"
    _write(
        folder / "clicks_train_full.txt",
        "SessionId\tItemId\tTime\n1\t100\t10.5\n1\t101\t20.9\n2\t100\t30.0\n",
    )
    _write(folder / "clicks_test.txt", "SessionId\tItemId\tTime\n5\t101\t40.2\n")
    assert detect_format(folder) == "yoochoose"
    data = load_dataset(folder)
    ev = data.events
    assert ev["timestamp"].tolist() == [10, 20, 30, 40]
    assert ev["group"].tolist() == [1, 1, 2, 5]
    assert [data.user_ids[u] for u in ev["user"]] == [1, 1, 2, 5]
    notes = data.notes
    assert (notes["train_clicks"], notes["train_sessions"], notes["test_clicks"]) == (3, 2, 1)
    assert notes["test_start"] == 40


def test_lastfm_social(tmp_path: Path) -> None:
    folder = tmp_path / "lastfm"
    _write(
        folder / "user_artists.dat", "userID\tartistID\tweight\n2\t51\t100\n2\t52\t5\n3\t51\t7\n"
    )
    _write(folder / "user_friends.dat", "userID\tfriendID\n2\t3\n3\t2\n")
    data = load_dataset(folder)
    assert data.domain == "social"
    assert data.events["weight"].tolist() == [100.0, 5.0, 7.0]
    assert (data.events["timestamp"] == 0).all()
    assert data.social[["src", "dst"]].values.tolist() == [[0, 1], [1, 0]]


def test_filmtrust_repeats_and_social_only_users(tmp_path: Path) -> None:
    folder = tmp_path / "ft"
    _write(folder / "ratings.txt", "1 1 2\n1 2 4\n1 1 3.5\n2 2 0.5\n")
    _write(folder / "trust.txt", "1 2 1\n9 1 1\n")
    data = load_dataset(folder)
    assert data.n_interactions == 4  # rows kept as stored
    assert data.notes["repeated_pairs"] == 1
    assert data.events["weight"].tolist() == [2.0, 4.0, 3.5, 0.5]
    assert data.user_ids == [1, 2, 9]  # user 9 only trusts, it has no rating
    assert data.n_users == 3
    assert data.stats()["n_users"] == 2
    assert data.social.values.tolist() == [[0, 1], [2, 0]]


@pytest.mark.parametrize("kind", ["csv", "u.data"])
def test_movielens(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "ml"
    if kind == "csv":
        _write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.0,5\n2,10,3.5,7\n")
    else:
        _write(folder / "u.data", "1\t10\t4\t5\n2\t10\t3\t7\n")
    data = load_dataset(folder)
    assert detect_format(folder) == "movielens"
    assert data.domain == "general"
    assert data.events["timestamp"].tolist() == [5, 7]
    assert data.events["label"].tolist() == [1, 1]
    assert data.stats()["n_items"] == 1


def test_dataset_stats_is_json(tmp_path: Path) -> None:
    _write(tmp_path / "ml" / "ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.0,5\n")
    stats = dataset_stats(tmp_path / "ml")
    assert stats["format"] == "movielens"
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (1, 1, 1)
    json.dumps(stats)


# --- bad input -----------------------------------------------------------------------------


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_dataset(missing)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_dataset(missing, "movielens")


def test_unknown_format_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset format 'csv'") as info:
        load_dataset(tmp_path, "csv")
    for name in FORMATS:
        assert name in str(info.value)


def test_undetectable_folder(tmp_path: Path) -> None:
    _write(tmp_path / "notes.md", "hello\n")
    with pytest.raises(ValueError, match="cannot detect.*notes.md.*movielens"):
        load_dataset(tmp_path)


def test_format_needs_its_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="behaviors.tsv"):
        load_dataset(tmp_path, "mind")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    _write(tmp_path / "ratings.txt", content)
    with pytest.raises(ValueError, match=r"ratings\.txt: the file is empty"):
        load_dataset(tmp_path)


def test_header_only_file(tmp_path: Path) -> None:
    _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: the file has no data rows"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("text", "lineno", "problem"),
    [
        ("1 1 2\n1 2 x\n", 2, "rating 'x' is not a number"),
        ("1 1 2\n1 2\n", 2, "field 'rating' is missing"),
        ("1 1 2\n\n1 2 3 4\n", 3, "expected 3 fields"),
        ("1 1 2 9\n1 2 3\n", 1, "expected 3 fields"),
        ("1 1 2\nu2 2 3\n", 2, "user 'u2' is not an integer"),
    ],
)
def test_malformed_line_names_file_and_line(
    tmp_path: Path, text: str, lineno: int, problem: str
) -> None:
    _write(tmp_path / "ratings.txt", text)
    with pytest.raises(ValueError) as info:
        load_dataset(tmp_path, "filmtrust")
    message = str(info.value)
    assert "ratings.txt" in message
    assert f"line {lineno}:" in message
    assert problem in message


def test_bad_header(tmp_path: Path) -> None:
    _write(tmp_path / "ratings.csv", "user,item,rating,ts\n1,2,3,4\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: line 1: expected the header"):
        load_dataset(tmp_path)


def test_mind_malformed_entry_and_time(mind_dir: Path) -> None:
    path = mind_dir / "behaviors.tsv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1].replace("N1-1", "N1")]) + "\n")
    with pytest.raises(ValueError, match=r"behaviors\.tsv: line 2: impression entry 'N1'"):
        load_dataset(mind_dir)
    path.write_text(lines[0].replace("2:14:46 PM", "14h14") + "\n")
    with pytest.raises(ValueError, match=r"behaviors\.tsv: line 1: time '11/12/2019 14h14'"):
        load_dataset(mind_dir)


def test_amazon_user_without_items(tmp_path: Path) -> None:
    _write(tmp_path / "Seq.txt", "1 2 3\n4\n")
    with pytest.raises(ValueError, match=r"Seq\.txt: line 2: a user with no items"):
        load_dataset(tmp_path, "amazon-seq")
    _write(tmp_path / "Seq.txt", "1 2 3\n4 5 x\n")
    with pytest.raises(ValueError, match=r"Seq\.txt: line 2: id 'x' is not an integer"):
        load_dataset(tmp_path, "amazon-seq")


def test_amazon_user_on_two_lines_is_refused(tmp_path: Path) -> None:
    # One line per user: a file with repeated first ids (ratings, trust links) is not
    # a sequence file, so it is refused instead of being read as many short "users".
    _write(tmp_path / "Seq.txt", "1 2 3\n4 5\n1 6\n")
    with pytest.raises(
        ValueError, match=r"Seq\.txt: line 3: user 1 already has a line \(line 1\)"
    ):
        load_dataset(tmp_path, "amazon-seq")


def test_amazon_tabs_are_whitespace(tmp_path: Path) -> None:
    _write(tmp_path / "Seq.txt", "1\t2 3\r\n4\t5\r\n")
    data = load_dataset(tmp_path, "amazon-seq")
    assert (data.n_users, data.n_items, data.n_interactions) == (2, 3, 3)


def test_header_must_match_every_column(tmp_path: Path) -> None:
    # An extra header column that the rows lack is refused, not ignored.
    _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp,tag\n1,2,3,4\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: line 1: expected the header"):
        load_dataset(tmp_path)


def test_include_history_only_for_mind(tmp_path: Path) -> None:
    _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.0,5\n")
    with pytest.raises(ValueError, match="include_history"):
        load_dataset(tmp_path, include_history=True)


# --- the real datasets (skipped where the folder is absent) -------------------------------

# folder, format, n_users, n_items, n_interactions, extra facts: the dataset README's counts.
REAL = [
    ("news/mind_sample", "mind", 4637, 7457, 189_359, {"n_positive": 7542, "n_groups": 5000}),
    ("ecommerce/amazon_beauty", "amazon-seq", 22_363, 12_101, 198_502, {}),
    ("ecommerce/amazon_sports", "amazon-seq", 35_598, 18_357, 296_337, {}),
    (
        "ecommerce/yoochoose_clicks_100k",
        "yoochoose",
        21_210,
        2933,
        83_846,
        {
            "train_clicks": 70_278,
            "train_sessions": 17_794,
            "train_items": 2933,
            "test_clicks": 13_568,
            "test_sessions": 3416,
        },
    ),
    ("social/lastfm_2k", "lastfm-hetrec", 1892, 17_632, 92_834, {"n_social_links": 25_434}),
    (
        "social/filmtrust",
        "filmtrust",
        1508,
        2071,
        35_497,
        {"repeated_pairs": 3, "n_social_links": 1853},
    ),
    ("general/ml_latest_small", "movielens", 610, 9724, 100_836, {}),
]


@pytest.mark.realdata
@pytest.mark.parametrize(("folder", "fmt", "n_users", "n_items", "n_rows", "extra"), REAL)
def test_real_counts(
    data_dir: Path,
    folder: str,
    fmt: str,
    n_users: int,
    n_items: int,
    n_rows: int,
    extra: dict,
) -> None:
    path = data_dir / folder
    if not path.is_dir():
        pytest.skip(f"{folder} not found in the real data folder")
    assert detect_format(path) == fmt
    start = time.perf_counter()
    data = load_dataset(path)
    elapsed = time.perf_counter() - start
    stats = data.stats()
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (
        n_users,
        n_items,
        n_rows,
    )
    for key, value in extra.items():
        assert stats[key] == value, key
    assert elapsed < 10.0
    ev = data.events
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert ev["user"].max() < data.n_users and ev["item"].max() < data.n_items
    assert len(data.user_ids) == data.n_users and len(data.item_ids) == data.n_items
    json.dumps(dataset_stats(path, fmt))


@pytest.mark.realdata
def test_real_lastfm_friendships_are_two_way(data_dir: Path) -> None:
    path = data_dir / "social/lastfm_2k"
    if not path.is_dir():
        pytest.skip("lastfm_2k not found")
    social = load_dataset(path).social
    pairs = set(zip(social["src"], social["dst"], strict=True))
    assert all((d, s) in pairs for s, d in pairs)
    assert len(pairs) // 2 == 12_717


@pytest.mark.realdata
def test_real_mind_history_and_text(data_dir: Path) -> None:
    path = data_dir / "news/mind_sample"
    if not path.is_dir():
        pytest.skip("mind_sample not found")
    data = load_dataset(path, include_history=True)
    stats = data.stats()
    # README: 22,592 ids seen in the behaviours (history and impressions), 838 with text.
    assert stats["n_items"] == 22_592
    assert stats["n_items_with_text"] == 838
    assert stats["n_impression_entries"] == 189_359
    assert stats["n_interactions"] == 189_359 + stats["n_history_events"]
    ev = data.events
    hist = ev["group"] == -1
    assert ev.loc[hist, "timestamp"].max() < ev.loc[~hist, "timestamp"].min()
    assert np.all(ev.loc[hist, "label"] == 1)
