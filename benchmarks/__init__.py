"""Benchmark harness: RLSampler against Optuna's samplers on the same tasks and seeds.

Run ``python -m benchmarks --help`` from the repository root. The pieces:

- :mod:`benchmarks.tasks`: the :class:`~benchmarks.tasks.Task` abstraction and suites
  (BBOB through ``cocoex``; toy tasks).
- :mod:`benchmarks.harness`: the samplers by name (built by
  :mod:`optuna_rl_sampler.sampler_registry`) and the multiprocess runner.
- :mod:`benchmarks.metrics`: normalised regret, ranks and the summary.
- :mod:`benchmarks.overhead`: milliseconds per proposal, memory, import time.
- :mod:`benchmarks.report`: plots and ``summary.md`` from ``results.json.gz``.
"""

from __future__ import annotations

from benchmarks.harness import SAMPLERS
from benchmarks.harness import register_sampler
from benchmarks.harness import run_benchmark
from benchmarks.tasks import Task
from benchmarks.tasks import TaskSpec

__all__ = ["SAMPLERS", "Task", "TaskSpec", "register_sampler", "run_benchmark"]
