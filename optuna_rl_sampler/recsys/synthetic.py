"""Seeded synthetic recommender datasets for news, e-commerce and social recommendation.

Each generator draws a small world with a latent structure a model can learn (user and
item factors, category preferences, co-purchase links, taste shared among friends) and
returns an :class:`Interactions` shaped like the real dataset of its domain: ``make_news``
like MIND (impressions with clicked and shown-not-clicked items), ``make_ecommerce`` like
the Amazon and YOOCHOOSE logs (sessions, popularity skew, repeats, co-purchases) and
``make_social`` like Last.fm (play counts and a friend graph). Everything derives from
``seed``: the same arguments give the same events, bit for bit.

Noise convention: every generator has a ``noise`` knob that acts as a temperature on the
utilities that drive choices. ``noise=1`` samples items with probability proportional to
``exp(utility)``; smaller values make users pick their best items more deterministically,
larger values move choices towards uniform at random (less learnable signal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.data import events_frame

if TYPE_CHECKING:
    pass

#: Domains :func:`make_dataset` knows.
DOMAINS = ("news", "ecommerce", "social")
#: Preset sizes of :func:`make_dataset`.
SIZES = ("small", "medium")

#: Start of synthetic time (2020-09-13 UTC); timestamps are seconds from the epoch.
_T0 = 1_600_000_000
_DAY = 86_400


def make_news(
    n_users: int = 2000,
    n_items: int = 1000,
    n_impressions: int = 5000,
    impression_size: int = 10,
    n_categories: int = 10,
    *,
    history_size: float = 10.0,
    ctr: float = 0.08,
    recency: float = 1.0,
    category_affinity: float = 1.0,
    taste_strength: float = 1.0,
    n_factors: int = 8,
    days: int = 7,
    noise: float = 1.0,
    seed: int = 0,
) -> Interactions:
    """News impressions with clicks, shaped like MIND.

    Articles belong to a category (categories are Zipf-distributed) and are published at
    a time spread over ``days`` (plus three days before, the articles of the users'
    history). Each impression shows ``impression_size`` articles already published at its
    time, drawn towards fresh ones (half-life one day). A shown article is clicked when
    its utility, ``taste_strength * <user, item factors> + category_affinity *
    log(user's share for the category) - recency * age in days + quality + noise *
    N(0, 1)``, clears a threshold set so that about ``ctr`` of the entries are clicks;
    the best entry of an impression is always clicked, as in MIND. Users' activity is
    log-normal, so a few users see many impressions.

    Args:
        n_users: Number of users.
        n_items: Number of articles.
        n_impressions: Number of impressions (event groups).
        impression_size: Articles shown per impression.
        n_categories: Number of article categories.
        history_size: Mean number of clicks per user before the logged period, added as
            label-1 events with ``group`` -1 (like MIND's history column); 0 for none.
        ctr: Target share of clicked impression entries, in ``(0, 1)``.
        recency: How much an article's age (days) lowers its click utility; 0 for none.
        category_affinity: Weight of the user's category preference in the utility.
        taste_strength: Weight of the latent user-item match in the utility.
        n_factors: Dimension of the latent user and item factors.
        days: Length of the logged period in days.
        noise: Standard deviation of the Gaussian noise on click utilities, and the
            temperature of the history choices.
        seed: Seed of everything random.

    Returns:
        Events with label 1 (click) or 0 (shown, not clicked), ``group`` = impression id
        (0, 1, ... in time order) and history rows with ``group`` -1;
        ``item_features`` with ``category`` and ``publish_time``; ``domain="news"``.
    """
    import pandas as pd

    _check_positive_int(n_users=n_users, n_items=n_items, n_impressions=n_impressions)
    _check_positive_int(
        impression_size=impression_size, n_categories=n_categories, n_factors=n_factors
    )
    _check_positive_int(days=days)
    _check_nonneg(
        history_size=history_size,
        recency=recency,
        category_affinity=category_affinity,
        taste_strength=taste_strength,
        noise=noise,
    )
    if not 0.0 < ctr < 1.0:
        raise ValueError(f"ctr must be in (0, 1), got {ctr!r}")
    rng = np.random.default_rng(seed)

    # Items: category, publish time, latent factors, quality.
    cat_p = _zipf(n_categories, 0.8)
    item_cat = rng.choice(n_categories, size=n_items, p=cat_p)
    pub = np.sort(rng.uniform(_T0 - 3 * _DAY, _T0 + days * _DAY, size=n_items)).astype(np.int64)
    # At least one impression's worth of articles exists before the period starts.
    k = min(impression_size, n_items)
    pub[:k] = np.minimum(pub[:k], rng.integers(_T0 - 3 * _DAY, _T0, size=k))
    pub.sort()
    centroids = rng.normal(size=(n_categories, n_factors))
    item_vec = (0.6 * centroids[item_cat] + 0.8 * rng.normal(size=(n_items, n_factors))) / (
        math.sqrt(n_factors)
    )
    quality = rng.normal(scale=0.5, size=n_items)

    # Users: category preferences, latent factors, activity.
    cat_pref = rng.dirichlet(np.full(n_categories, 0.5), size=n_users)
    log_pref = np.log(cat_pref * n_categories + 1e-3)
    user_vec = rng.normal(size=(n_users, n_factors))
    activity = rng.lognormal(0.0, 1.0, size=n_users)

    def utility(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        latent = np.einsum("...k,...k->...", user_vec[u], item_vec[i])
        return taste_strength * latent + category_affinity * log_pref[u, item_cat[i]] + quality[i]

    # Impressions: time, user, shown articles (fresh ones favoured).
    imp_ts = np.sort(rng.integers(_T0, _T0 + days * _DAY, size=n_impressions))
    imp_user = rng.choice(n_users, size=n_impressions, p=activity / activity.sum())
    shown = np.empty((n_impressions, impression_size), dtype=np.int64)
    # Exponential race: the largest w / E (E ~ Exp(1)) are a weighted sample without
    # replacement. The weight 2^(-age in days) factors into a per-item term because only
    # the order within an impression matters; articles not yet published weigh 0.
    if impression_size > n_items:
        raise ValueError(
            f"impression_size={impression_size} exceeds n_items={n_items}; lower it or "
            "raise n_items"
        )
    n_avail = np.searchsorted(pub, imp_ts, side="right")
    chunk = max(1, 2_000_000 // n_items)
    for start in range(0, n_impressions, chunk):
        avail = n_avail[start : start + chunk]
        width = int(avail.max())
        item_w = np.exp2((pub[:width] - pub[width - 1]) / _DAY).astype(np.float32)
        e = rng.standard_exponential(size=(len(avail), width), dtype=np.float32)
        keys = item_w[None, :] / np.maximum(e, np.float32(1e-30))
        keys[np.arange(width)[None, :] >= avail[:, None]] = -1.0  # below any published one
        shown[start : start + chunk] = np.argpartition(-keys, impression_size - 1, axis=1)[
            :, :impression_size
        ]
    users2d = np.repeat(imp_user[:, None], impression_size, axis=1)
    age = (imp_ts[:, None] - pub[shown]) / _DAY
    z = utility(users2d, shown) - recency * age
    z = z + noise * rng.normal(size=z.shape)
    threshold = np.quantile(z, 1.0 - ctr)
    clicked = z > threshold
    clicked[np.arange(n_impressions), np.argmax(z, axis=1)] = True

    frames = [
        events_frame(
            users2d.ravel(),
            shown.ravel(),
            label=clicked.ravel().astype(np.int8),
            timestamp=np.repeat(imp_ts, impression_size),
            group=np.repeat(np.arange(n_impressions), impression_size),
        )
    ]

    # History: clicks on articles published before the logged period.
    n_old = int((pub < _T0).sum())
    if history_size > 0 and n_old > 0:
        n_hist = np.minimum(rng.poisson(history_size, size=n_users), n_old)
        h_user = np.repeat(np.arange(n_users), n_hist)
        old = np.arange(n_old)  # items are sorted by publish time

        def history_scores(rows: np.ndarray) -> np.ndarray:
            return (
                taste_strength * (user_vec[rows] @ item_vec[old].T)
                + category_affinity * log_pref[rows][:, item_cat[old]]
                + quality[old][None, :]
            )

        h_item = _sample_top_k_per_row(
            rng,
            history_scores,
            n_hist,
            n_old,
            temperature=max(noise, 1e-6),
        )
        h_ts = pub[h_item] + (rng.random(len(h_item)) * (_T0 - pub[h_item])).astype(np.int64)
        order = np.lexsort((h_ts, h_user))
        frames.insert(
            0,
            events_frame(h_user[order], h_item[order], timestamp=np.minimum(h_ts[order], _T0 - 1)),
        )
    events = pd.concat(frames, ignore_index=True)
    item_features = pd.DataFrame(
        {"category": item_cat.astype(np.int64), "publish_time": pub},
        index=pd.RangeIndex(n_items, name="item"),
    )
    return Interactions(
        events=events,
        n_users=n_users,
        n_items=n_items,
        item_features=item_features,
        name="synthetic_news",
        domain="news",
        notes=_notes(
            "make_news",
            n_impressions=n_impressions,
            impression_size=impression_size,
            n_categories=n_categories,
            history_size=history_size,
            ctr=ctr,
            recency=recency,
            category_affinity=category_affinity,
            taste_strength=taste_strength,
            noise=noise,
            seed=seed,
        ),
    )


def make_ecommerce(
    n_users: int = 2000,
    n_items: int = 1000,
    n_interactions: int = 50_000,
    *,
    popularity_skew: float = 1.0,
    n_sessions: int | None = None,
    repeat_prob: float = 0.1,
    copurchase: float = 0.3,
    n_neighbors: int = 5,
    taste_strength: float = 2.0,
    n_factors: int = 8,
    days: int = 30,
    noise: float = 1.0,
    seed: int = 0,
) -> Interactions:
    """Shopping sessions with popularity skew, repeat purchases and co-purchases.

    Items have Zipf-like popularity and latent factors; users have latent factors and a
    log-normal activity. Sessions belong to users and are spread over ``days``; within a
    session, each next item is, with probability ``repeat_prob``, one the user bought
    before; otherwise with probability ``copurchase`` a co-purchase partner of the
    previous item in the session (every item has ``n_neighbors`` fixed partners, drawn
    towards popular items); otherwise a fresh choice with probability proportional to
    ``exp((log popularity + taste_strength * <user, item factors>) / noise)``.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        n_interactions: Number of events (exact).
        popularity_skew: Zipf exponent of item popularity (0 = all equal, 1 = Zipf).
        n_sessions: Number of sessions (event groups); default ``n_interactions // 4``.
        repeat_prob: Probability that an event repeats one of the user's earlier items.
        copurchase: Probability that an event follows the previous item's co-purchase
            links (item-item affinity). ``repeat_prob + copurchase`` must be <= 1.
        n_neighbors: Co-purchase partners per item.
        taste_strength: Weight of the latent user-item match against popularity.
        n_factors: Dimension of the latent factors.
        days: Length of the logged period in days.
        noise: Temperature of fresh choices (see the module docstring).
        seed: Seed of everything random.

    Returns:
        Label-1 events with ``weight`` 1, ``group`` = session id (0, 1, ... in time
        order) and timestamps in seconds; ``domain="ecommerce"``.
    """
    _check_positive_int(n_users=n_users, n_items=n_items, n_interactions=n_interactions)
    _check_positive_int(n_neighbors=n_neighbors, n_factors=n_factors, days=days)
    _check_nonneg(popularity_skew=popularity_skew, taste_strength=taste_strength, noise=noise)
    for knob, value in (("repeat_prob", repeat_prob), ("copurchase", copurchase)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{knob} must be in [0, 1], got {value!r}")
    if repeat_prob + copurchase > 1.0:
        raise ValueError(
            f"repeat_prob + copurchase must be <= 1, got {repeat_prob} + {copurchase}"
        )
    if n_sessions is None:
        n_sessions = max(1, n_interactions // 4)
    _check_positive_int(n_sessions=n_sessions)
    if n_sessions > n_interactions:
        raise ValueError(
            f"n_sessions={n_sessions} exceeds n_interactions={n_interactions}; every "
            "session needs at least one event"
        )
    rng = np.random.default_rng(seed)

    log_pop = np.log(_zipf(n_items, popularity_skew))[rng.permutation(n_items)]
    user_vec = rng.normal(size=(n_users, n_factors)) / n_factors**0.25
    item_vec = rng.normal(size=(n_items, n_factors)) / n_factors**0.25
    activity = rng.lognormal(0.0, 1.0, size=n_users)
    n_nb = min(n_neighbors, n_items - 1)

    def partner_scores(rows: np.ndarray) -> np.ndarray:
        s = np.tile(0.5 * log_pop, (len(rows), 1))
        s[np.arange(len(rows)), rows] = -np.inf  # an item is not its own partner
        return s

    neighbors = _sample_top_k_per_row(
        rng, partner_scores, np.full(n_items, n_nb), n_items, temperature=1.0
    ).reshape(n_items, n_nb)

    # Sessions: owner, start time, length (exactly n_interactions events in all).
    s_user = rng.choice(n_users, size=n_sessions, p=activity / activity.sum())
    s_start = np.sort(rng.integers(_T0, _T0 + days * _DAY, size=n_sessions))
    s_len = 1 + rng.multinomial(
        n_interactions - n_sessions, rng.dirichlet(np.ones(n_sessions) * 2.0)
    )
    ev_session = np.repeat(np.arange(n_sessions), s_len)
    ev_user = s_user[ev_session]
    gaps = rng.exponential(120.0, size=n_interactions).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(s_len)[:-1]])
    gaps[first] = 0
    ev_ts = s_start[ev_session] + _cumsum_by_group(gaps, first, s_len)

    # Fresh choices, drawn per user up front (one per event of the user: an upper bound).
    per_user = np.bincount(ev_user, minlength=n_users)
    fresh = _sample_per_row(
        rng,
        lambda rows: log_pop[None, :] + taste_strength * (user_vec[rows] @ item_vec.T),
        per_user,
        n_items,
        temperature=noise,
    )
    fresh_start = np.concatenate([[0], np.cumsum(per_user)[:-1]])

    # The sequential part: repeats and co-purchases depend on earlier events.
    r = rng.random(n_interactions)
    pick = rng.random(n_interactions)
    items = np.empty(n_interactions, dtype=np.int64)
    past: list[list[int]] = [[] for _ in range(n_users)]
    fresh_next = fresh_start.copy()
    is_first = np.zeros(n_interactions, dtype=bool)
    is_first[first] = True
    for e in range(n_interactions):
        u = int(ev_user[e])
        hist = past[u]
        if r[e] < repeat_prob and hist:
            item = hist[int(pick[e] * len(hist))]
        elif r[e] < repeat_prob + copurchase and not is_first[e] and n_nb > 0:
            item = int(neighbors[items[e - 1], int(pick[e] * n_nb)])
        else:
            item = int(fresh[fresh_next[u]])
            fresh_next[u] += 1
        items[e] = item
        hist.append(item)

    events = events_frame(ev_user, items, timestamp=ev_ts, group=ev_session)
    return Interactions(
        events=events,
        n_users=n_users,
        n_items=n_items,
        name="synthetic_ecommerce",
        domain="ecommerce",
        notes=_notes(
            "make_ecommerce",
            n_sessions=n_sessions,
            popularity_skew=popularity_skew,
            repeat_prob=repeat_prob,
            copurchase=copurchase,
            n_neighbors=n_neighbors,
            taste_strength=taste_strength,
            noise=noise,
            seed=seed,
        ),
    )


def make_social(
    n_users: int = 1000,
    n_items: int = 2000,
    n_interactions: int = 50_000,
    *,
    avg_friends: float = 10.0,
    homophily: float = 0.7,
    n_communities: int | None = None,
    popularity_skew: float = 1.0,
    taste_strength: float = 2.0,
    n_factors: int = 8,
    noise: float = 1.0,
    seed: int = 0,
) -> Interactions:
    """Play counts of users in a friend graph whose tastes are shared among friends.

    Users fall into communities; 80% of friend links stay inside a community, so the
    graph has the clustered shape of real social networks. A user's taste vector is
    ``sqrt(homophily) * community taste + sqrt(1 - homophily) * own taste``, so friends
    like similar items when ``homophily`` > 0 and the graph carries no signal at 0. Each
    user listens to a log-normal number of distinct items, chosen without replacement
    with probability proportional to ``exp((log popularity + taste_strength * <user, item
    factors>) / noise)``; the play count grows with how much the user likes the item.

    Args:
        n_users: Number of users.
        n_items: Number of items (artists).
        n_interactions: Number of distinct user-item pairs (exact unless a user would
            need more items than the catalogue has).
        avg_friends: Mean number of friends per user.
        homophily: Share of a user's taste that comes from their community, in [0, 1].
        n_communities: Number of communities; default ``max(2, n_users // 50)``.
        popularity_skew: Zipf exponent of item popularity.
        taste_strength: Weight of the latent user-item match against popularity.
        n_factors: Dimension of the latent factors.
        noise: Temperature of item choices (see the module docstring).
        seed: Seed of everything random.

    Returns:
        Label-1 events with ``weight`` = play count (a positive integer), random
        timestamps over one year (no order in the source it imitates), ``group`` -1, and
        ``social``: each friendship as two directed rows; ``domain="social"``.
    """
    import pandas as pd

    _check_positive_int(n_users=n_users, n_items=n_items, n_interactions=n_interactions)
    _check_positive_int(n_factors=n_factors)
    _check_nonneg(
        avg_friends=avg_friends,
        popularity_skew=popularity_skew,
        taste_strength=taste_strength,
        noise=noise,
    )
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must be in [0, 1], got {homophily!r}")
    if n_users < 2:
        raise ValueError(f"make_social needs n_users >= 2 for a friend graph, got {n_users}")
    if n_communities is None:
        n_communities = max(2, n_users // 50)
    _check_positive_int(n_communities=n_communities)
    rng = np.random.default_rng(seed)

    # Friend graph: stochastic-block-like, log-normal degrees.
    community = rng.integers(0, n_communities, size=n_users)
    members = np.argsort(community, kind="stable")
    c_start = np.searchsorted(community[members], np.arange(n_communities))
    c_size = np.bincount(community, minlength=n_communities)
    stubs = rng.poisson(rng.lognormal(0.0, 0.6, size=n_users) * avg_friends / 2.0 / 1.2)
    src = np.repeat(np.arange(n_users), stubs)
    inside = rng.random(len(src)) < 0.8
    c = community[src]
    local = members[c_start[c] + (rng.random(len(src)) * c_size[c]).astype(np.int64)]
    dst = np.where(inside, local, rng.integers(0, n_users, size=len(src)))
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(np.stack([a, b], axis=1)[a != b], axis=0)
    social = pd.DataFrame(
        {
            "src": np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64),
            "dst": np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64),
        }
    ).sort_values(["src", "dst"], ignore_index=True)

    # Tastes shared within communities; items with popularity and factors.
    c_taste = rng.normal(size=(n_communities, n_factors))
    own = rng.normal(size=(n_users, n_factors))
    user_vec = (math.sqrt(homophily) * c_taste[community] + math.sqrt(1 - homophily) * own) / (
        n_factors**0.25
    )
    item_vec = rng.normal(size=(n_items, n_factors)) / n_factors**0.25
    log_pop = np.log(_zipf(n_items, popularity_skew))[rng.permutation(n_items)]

    activity = rng.lognormal(0.0, 0.8, size=n_users)
    extra = max(0, n_interactions - n_users)
    n_per_user = np.minimum(1 + rng.multinomial(extra, activity / activity.sum()), n_items)

    def scores(rows: np.ndarray) -> np.ndarray:
        return log_pop[None, :] + taste_strength * (user_vec[rows] @ item_vec.T)

    items = _sample_top_k_per_row(rng, scores, n_per_user, n_items, temperature=max(noise, 1e-6))
    users = np.repeat(np.arange(n_users), n_per_user)
    affinity = np.einsum("ij,ij->i", user_vec[users], item_vec[items]) * taste_strength
    affinity = (affinity - affinity.mean()) / (affinity.std() + 1e-12)
    plays = np.floor(np.exp(3.0 + 0.8 * affinity + 0.8 * rng.normal(size=len(items)))) + 1
    ts = rng.integers(_T0, _T0 + 365 * _DAY, size=len(items))
    events = events_frame(users, items, weight=plays, timestamp=ts)
    user_features = pd.DataFrame(
        {"community": community.astype(np.int64)}, index=pd.RangeIndex(n_users, name="user")
    )
    return Interactions(
        events=events,
        n_users=n_users,
        n_items=n_items,
        user_features=user_features,
        social=social,
        name="synthetic_social",
        domain="social",
        notes=_notes(
            "make_social",
            avg_friends=avg_friends,
            homophily=homophily,
            n_communities=n_communities,
            popularity_skew=popularity_skew,
            taste_strength=taste_strength,
            noise=noise,
            seed=seed,
        ),
    )


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "news": {
        "small": {"n_users": 2000, "n_items": 1000, "n_impressions": 5000},
        "medium": {"n_users": 10000, "n_items": 4000, "n_impressions": 25000},
    },
    "ecommerce": {
        "small": {"n_users": 2000, "n_items": 1000, "n_interactions": 50_000},
        "medium": {"n_users": 10000, "n_items": 5000, "n_interactions": 300_000},
    },
    "social": {
        "small": {"n_users": 1000, "n_items": 2000, "n_interactions": 50_000},
        "medium": {"n_users": 5000, "n_items": 10000, "n_interactions": 300_000},
    },
}


def make_dataset(domain: str, size: str = "small", seed: int = 0, **knobs: Any) -> Interactions:
    """Generate a synthetic dataset of a domain at a preset size.

    ``small`` is about 50k events (well under a second to generate), ``medium`` about
    300k. Knobs override the preset and go to the domain's generator.

    Args:
        domain: ``"news"`` (:func:`make_news`), ``"ecommerce"``
            (:func:`make_ecommerce`) or ``"social"`` (:func:`make_social`).
        size: ``"small"`` or ``"medium"``.
        seed: Seed of everything random.
        knobs: Keyword arguments of the generator (e.g. ``homophily=0.9``).

    Returns:
        The generated :class:`Interactions`, named ``synthetic_<domain>_<size>``.

    Raises:
        ValueError: ``domain`` or ``size`` is unknown.
        TypeError: A knob is not an argument of the domain's generator.
    """
    import inspect

    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid domains are: {', '.join(DOMAINS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid sizes are: {', '.join(SIZES)}")
    make = {"news": make_news, "ecommerce": make_ecommerce, "social": make_social}[domain]
    valid = [p for p in inspect.signature(make).parameters if p != "seed"]
    unknown = sorted(set(knobs) - set(valid))
    if unknown:
        raise TypeError(
            f"{make.__name__} has no knob {', '.join(map(repr, unknown))}; "
            f"valid knobs are: {', '.join(valid)}"
        )
    params = {**_PRESETS[domain][size], **knobs}
    data = make(seed=seed, **params)
    from dataclasses import replace

    return replace(data, name=f"synthetic_{domain}_{size}")


# --- helpers -----------------------------------------------------------------------------


def _zipf(n: int, skew: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** skew
    return w / w.sum()


def _cumsum_by_group(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group start (groups are contiguous)."""
    total = np.cumsum(values)
    offset = np.repeat(total[starts] - values[starts], lengths)
    return total - offset


def _sample_per_row(
    rng: np.random.Generator,
    scores: Any,
    counts: np.ndarray,
    n_cols: int,
    *,
    temperature: float,
) -> np.ndarray:
    """For each row r, ``counts[r]`` draws with replacement from softmax(scores / T).

    ``scores(rows)`` returns the ``(len(rows), n_cols)`` score matrix of those rows.
    Returns the draws of row 0, then row 1, ... concatenated. ``temperature`` 0 always
    picks the best column.
    """
    n_rows = len(counts)
    chunk = max(1, 4_000_000 // max(n_cols, 1))
    out = []
    for start in range(0, n_rows, chunk):
        rows = np.arange(start, min(start + chunk, n_rows))
        c = counts[rows]
        s = scores(rows)
        if temperature <= 0:
            out.append(np.repeat(np.argmax(s, axis=1), c))
            continue
        s = s / temperature
        p = np.exp(s - s.max(axis=1, keepdims=True))
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        # Search every row's draws at once in the concatenated CDFs, row r shifted by r.
        flat = (cdf + np.arange(len(rows))[:, None]).ravel()
        draw_row = np.repeat(np.arange(len(rows)), c)
        pos = np.searchsorted(flat, rng.random(len(draw_row)) + draw_row, side="right")
        out.append(np.clip(pos - draw_row * n_cols, 0, n_cols - 1))
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _sample_top_k_per_row(
    rng: np.random.Generator,
    scores: Any,
    counts: np.ndarray,
    n_cols: int,
    *,
    temperature: float,
) -> np.ndarray:
    """For each row r, ``counts[r]`` distinct columns drawn without replacement.

    Gumbel top-k: the columns with the largest ``scores / T + Gumbel`` are a sample
    without replacement from softmax(scores / T), in sampled order. Returns the columns
    of row 0, then row 1, ... concatenated.
    """
    n_rows = len(counts)
    chunk = max(1, 4_000_000 // max(n_cols, 1))
    out = []
    for start in range(0, n_rows, chunk):
        rows = np.arange(start, min(start + chunk, n_rows))
        c = counts[rows]
        kmax = int(c.max()) if len(c) else 0
        if kmax == 0:
            continue
        keys = scores(rows) / temperature + _gumbel(rng, (len(rows), n_cols))
        if kmax < n_cols:
            top = np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax]
        else:
            top = np.broadcast_to(np.arange(n_cols), (len(rows), n_cols))
        order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        mask = np.arange(kmax)[None, :] < c[:, None]
        out.append(top[mask])
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel noise in float32 (``-log E`` with ``E ~ Exp(1)``; fast)."""
    e = rng.standard_exponential(size=shape, dtype=np.float32)
    return -np.log(np.maximum(e, np.float32(1e-30)))


def _check_positive_int(**values: Any) -> None:
    for knob, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{knob} must be a positive integer, got {value!r}")


def _check_nonneg(**values: Any) -> None:
    for knob, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not value >= 0:
            raise ValueError(f"{knob} must be a number >= 0, got {value!r}")


def _notes(generator: str, **knobs: Any) -> dict[str, Any]:
    return {"generator": generator, **{k: _plain(v) for k, v in knobs.items()}}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
