"""A numpy-only scrambled Sobol' sequence, point for point the one SciPy draws.

The ``SOBOL`` candidates (see :mod:`optuna_rl_sampler.candidates`) used to come from
``scipy.stats.qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)``. Importing
``scipy.stats`` takes about a second (more on a loaded machine), and every study paid it
at its first proposal although it needs only this one generator. :func:`scrambled_sobol`
is the same generator written with numpy alone; it reproduces SciPy exactly, because
published benchmark figures depend on the exact candidate points:

* **Direction numbers.** The Joe & Kuo (2008) numbers are read from SciPy's own data file
  ``scipy/stats/_sobol_direction_numbers.npz``. The file is located with
  :func:`importlib.util.find_spec`, which imports nothing, so SciPy stays a single source
  of truth and nothing is copied into this package. The recurrence of Bratley & Fox
  (1988) that extends them to 30 bits is SciPy's ``_initialize_v``, vectorised over
  dimensions, in the same ``uint32`` arithmetic.
* **Randomness.** Like SciPy's ``QMCEngine``, the engine does not draw from ``rng``
  itself: it spawns one child generator from ``rng``'s ``SeedSequence`` (so ``rng``'s
  stream is untouched, and only its spawn counter moves on by one) and draws from the
  child, in SciPy's order: first the digital shift, ``integers(2, size=(d, 30),
  dtype=uint32)``, then the lower-triangular matrices of the linear matrix scramble
  (LMS), ``integers(2, size=(d, 30, 30), dtype=uint32)``.
* **Scramble and points.** The LMS is SciPy's ``_cscramble`` as bit-parallel array
  operations (a GF(2) matrix-vector product per direction number), and the points
  follow SciPy's Gray-code order: point ``k`` is the shift XOR-ed with the direction
  numbers of the bits set in ``k ^ (k >> 1)``, divided by ``2**30``.

The result is ``np.array_equal`` to SciPy's, and ``rng`` ends in the same state; the
tests (``tests/test_sobol.py``) check both against the installed SciPy. Should SciPy's
data file be missing or unreadable, :func:`scrambled_sobol` falls back to
``scipy.stats.qmc`` itself (logged at debug level), so the points never change.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import zipfile
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["MAX_DIM", "scrambled_sobol"]

_logger = logging.getLogger(f"optuna.{__name__}")

#: The largest dimension the direction numbers cover (as in SciPy).
MAX_DIM = 21201
#: Bits per coordinate: SciPy's default, and the only precision reproduced here.
_BITS = 30
#: The largest polynomial degree in the direction-number table.
_MAX_DEG = 18
_SCALE = 1.0 / 2**_BITS
_DATA_FILE = ("stats", "_sobol_direction_numbers.npz")


def scrambled_sobol(d: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``2**m`` points of an LMS+shift scrambled Sobol' sequence in ``[0, 1)**d``.

    Equal, bit for bit, to ``scipy.stats.qmc.Sobol(d=d, scramble=True,
    seed=rng).random_base2(m)``, with the same effect on ``rng`` (see the module
    docstring), and without importing ``scipy.stats``.

    Args:
        d: Dimension, ``0 <= d <= MAX_DIM``.
        m: Base-2 logarithm of the number of points, ``0 <= m <= 30``.
        rng: The generator SciPy would receive as ``seed``; a child is spawned from its
            ``SeedSequence``.

    Returns:
        A ``(2**m, d)`` float64 array.

    Raises:
        ValueError: ``d`` or ``m`` is out of range (SciPy refuses them as well).
        TypeError: ``rng`` is not a :class:`numpy.random.Generator`.
    """
    d = int(d)
    m = int(m)
    if not 0 <= d <= MAX_DIM:
        raise ValueError(f"d must be in [0, {MAX_DIM}], got {d}")
    if not 0 <= m <= _BITS:
        raise ValueError(f"m must be in [0, {_BITS}], got {m}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    try:
        direction = _direction_matrix(d)
    except (OSError, KeyError, ValueError) as exc:
        _logger.debug("SciPy's Sobol' direction numbers unavailable (%s); using scipy.stats", exc)
        from scipy.stats import qmc  # slow to import; only when the data file is missing

        return qmc.Sobol(d=d, scramble=True, seed=rng).random_base2(m)
    child = _spawn_child(rng)
    # The draws below mirror SciPy's Sobol._scramble: same calls, shapes, dtypes, order.
    shift = np.dot(
        child.integers(2, size=(d, _BITS), dtype=np.uint32),
        2 ** np.arange(_BITS, dtype=np.uint32),
    )
    ltm = np.tril(child.integers(2, size=(d, _BITS, _BITS), dtype=np.uint32))
    sv = _linear_matrix_scramble(ltm, direction)
    quasi = shift[np.newaxis, :]
    for bit in range(m):
        # Reflected Gray code: points 2**bit .. 2**(bit+1)-1 are the earlier ones in
        # reverse order with direction number ``bit`` XOR-ed in.
        quasi = np.concatenate([quasi, quasi[::-1] ^ sv[:, bit]])
    return quasi.astype(np.float64) * _SCALE


def _spawn_child(rng: np.random.Generator) -> np.random.Generator:
    """Spawn the engine's own generator from ``rng`` as SciPy's ``_rng_spawn`` does."""
    bit_generator = rng.bit_generator
    # The private ``_seed_seq`` is what SciPy reads; the public alias is not in every numpy.
    (child_seq,) = bit_generator._seed_seq.spawn(1)
    return np.random.Generator(type(bit_generator)(child_seq))


def _linear_matrix_scramble(ltm: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Left-multiply every direction number by its dimension's lower-triangular matrix.

    SciPy's ``_cscramble``: the diagonal of ``ltm`` is forced to 1; row ``p`` of the
    matrix, read as a binary number with column ``i`` as bit ``29 - i``, is ``L[p]``; bit
    ``29 - p`` of the scrambled number is the parity of ``L[p] & v``.

    Args:
        ltm: ``(d, 30, 30)`` 0/1 ``uint32`` lower-triangular matrices (modified in place).
        direction: ``(d, 30)`` ``uint32`` direction numbers.

    Returns:
        The ``(d, 30)`` scrambled direction numbers.
    """
    diag = np.arange(_BITS)
    ltm[:, diag, diag] = 1
    weights = np.left_shift(np.uint32(1), (_BITS - 1 - diag).astype(np.uint32))
    rows = (ltm * weights).sum(axis=2, dtype=np.uint32)  # (d, p)
    bits = _parity(rows[:, :, np.newaxis] & direction[:, np.newaxis, :])  # (d, p, j)
    return (bits * weights[np.newaxis, :, np.newaxis]).sum(axis=1, dtype=np.uint32)


def _parity(x: np.ndarray) -> np.ndarray:
    """Parity (0 or 1) of the set bits of each ``uint32`` entry."""
    x = x ^ (x >> np.uint32(16))
    x = x ^ (x >> np.uint32(8))
    x = x ^ (x >> np.uint32(4))
    x = x ^ (x >> np.uint32(2))
    x = x ^ (x >> np.uint32(1))
    return x & np.uint32(1)


@functools.lru_cache(maxsize=16)
def _direction_matrix(d: int) -> np.ndarray:
    """Unscrambled ``(d, 30)`` ``uint32`` direction numbers (SciPy's ``_initialize_v``).

    Row 0 is all ones; row ``r`` takes its first ``s`` numbers from the table (``s`` the
    degree of its primitive polynomial) and extends them with the Bratley-Fox
    recurrence; finally column ``j`` is shifted left by ``29 - j``. Cached per process
    (read-only).
    """
    poly, vinit = _direction_numbers(max(_TABLE_ROWS, d))
    v = np.zeros((d, _BITS), dtype=np.uint32)
    if d > 0:
        v[0] = 1
    if d > 1:
        p = poly[1:d]
        rows = v[1:]
        deg = _bit_length(p) - 1
        index = np.arange(len(p))
        for j in range(_BITS):
            init = j < deg
            if j < _MAX_DEG:
                rows[init, j] = vinit[1:d][init, j]
            newv = rows[index, np.maximum(j - deg, 0)]
            for k in range(_MAX_DEG):
                shift = np.maximum(deg - 1 - k, 0).astype(np.uint32)
                take = (k < deg) & (((p >> shift) & np.uint32(1)) == 1) & ~init
                if not take.any():
                    continue
                term = np.uint32(2 ** (k + 1)) * rows[index, max(j - k - 1, 0)]
                newv = np.where(take, newv ^ term, newv)
            rows[~init, j] = newv[~init]
    v *= np.left_shift(np.uint32(1), np.arange(_BITS - 1, -1, -1, dtype=np.uint32))
    v.setflags(write=False)
    return v


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Number of significant bits of each non-negative integer entry."""
    x = x.astype(np.int64)
    length = np.zeros(x.shape, dtype=np.int64)
    while (x > 0).any():
        length += x > 0
        x = x >> 1
    return length


#: Rows of the direction-number tables kept in memory after the first read (enough for
#: every space of up to this many embedded coordinates; larger ones read their rows).
_TABLE_ROWS = 64


@functools.lru_cache(maxsize=1)
def _direction_numbers(rows: int = MAX_DIM) -> tuple[np.ndarray, np.ndarray]:
    """The first ``rows`` rows of SciPy's ``poly`` ``(21201,)`` and ``vinit``
    ``(21201, 18)`` tables, as ``uint32``.

    Only those rows are read: each table is a ``.npy`` member of the ``.npz`` archive,
    decompressed as a stream up to the last byte needed (the whole ``vinit`` is 3 MB of
    int64 that a study of ten parameters would decompress and convert to keep 18 rows).
    Read from the installed SciPy package without importing ``scipy.stats``; raises
    ``OSError`` (or ``KeyError``/``ValueError`` for an unexpected file) when unreadable.
    """
    spec = importlib.util.find_spec("scipy")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = os.path.join(location, *_DATA_FILE)
        if os.path.isfile(path):
            break
    else:
        raise OSError(f"{os.path.join('scipy', *_DATA_FILE)} not found in {locations}")
    rows = min(rows, MAX_DIM)
    try:
        with zipfile.ZipFile(path) as archive:
            poly = _leading_rows(archive, "poly.npy", (MAX_DIM,), rows)
            vinit = _leading_rows(archive, "vinit.npy", (MAX_DIM, _MAX_DEG), rows)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path} is not a readable .npz archive: {err}") from None
    return poly.astype(np.uint32), vinit.astype(np.uint32)


def _leading_rows(
    archive: zipfile.ZipFile, member: str, shape: tuple[int, ...], rows: int
) -> np.ndarray:
    """The first ``rows`` rows of the one- or two-dimensional ``.npy`` ``member`` of
    ``archive``, whose shape must be ``shape``. A C-ordered array is read up to its
    ``rows``-th row; a Fortran-ordered one column by column, the rest of each column
    read in small chunks and dropped."""
    with archive.open(member) as stream:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            found, fortran, dtype = npy_format.read_array_header_1_0(stream)
        else:
            found, fortran, dtype = npy_format.read_array_header_2_0(stream)
        if tuple(found) != shape or len(shape) > 2 or dtype.hasobject:
            raise ValueError(
                f"unexpected direction numbers {member}: shape {found}, dtype {dtype}"
            )
        width = shape[1] if len(shape) == 2 else 1
        if not fortran or width == 1:
            data = _read_exactly(stream, rows * width * dtype.itemsize, member)
            return np.frombuffer(data, dtype=dtype).reshape((rows, *shape[1:]))
        columns = []
        for _ in range(width):
            columns.append(
                np.frombuffer(_read_exactly(stream, rows * dtype.itemsize, member), dtype)
            )
            _read_exactly(stream, (shape[0] - rows) * dtype.itemsize, member, keep=False)
        return np.stack(columns, axis=1)


def _read_exactly(stream: Any, n: int, member: str, keep: bool = True) -> bytes:
    """``n`` bytes of ``stream`` (read in chunks of 64 KiB, and dropped unless
    ``keep``)."""
    parts, left = [], n
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            raise ValueError(f"direction numbers {member} end early")
        left -= len(chunk)
        if keep:
            parts.append(chunk)
    return b"".join(parts)
