"""The benchmark suites behind one protocol: jobs, run, summarise, write.

``python -m benchmarks run --suite NAME`` and ``plot --suite NAME`` look the suite up in
:data:`SUITES` and drive it through :class:`Suite`:

1. :meth:`Suite.jobs` turns the command line into the studies still to run: it fills in
   the suite's defaults on ``args`` (``--quick``'s values, the output folder in
   ``args.out``), plans every study, and leaves out those that a resumable suite has
   already stored;
2. :meth:`Suite.run` runs them in the suite's worker pool, with its progress bar and its
   resume log, and returns the results (a dict whose ``kind`` is :attr:`Suite.kind`),
   already written to the output folder;
3. :meth:`Suite.summarise` gives the summary of the results (the tables of
   ``summary.md``);
4. :meth:`Suite.write` writes the plots and ``summary.md`` into a folder.

Two more methods end the commands: :meth:`Suite.finish` prints what a run wrote, writes
the report unless ``--no-plot``, and returns the exit status; :meth:`Suite.plot` draws
the report again from the suite's committed results. A run that cannot start (a missing
corpus, an unknown option value) raises :class:`SuiteError`, whose message the command
prints before it exits with status 2.

Adding a suite: write its module (tasks, a worker function for
:func:`benchmarks.harness.run_pool`, the results dict and its report), then a small
adapter here. A suite that keeps its results in ``<folder>/results.json.gz`` subclasses
:class:`ResultsFileSuite`, which gives it :meth:`~ResultsFileSuite.finish` and
:meth:`~ResultsFileSuite.plot`, and implements the four steps; add one instance to
:data:`SUITES` (its key is the ``--suite`` value) and its own options, if any, to the
``run`` parser in :mod:`benchmarks.__main__`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any
from typing import Generic
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import read_json
from benchmarks.harness import results_file

Results = dict[str, Any]
JobT = TypeVar("JobT")

#: ``run --suite bbob --quick`` (and ``toy``): the values of the options not given.
QUICK_RUN: dict[str, Any] = {"seeds": "2", "trials": 20, "dims": "2", "functions": "1,8,15"}
#: ``run --suite transfer-v1 --quick``: the values of the options not given.
QUICK_TRANSFER: dict[str, Any] = {"seeds": "2", "trials": 10}


class SuiteError(RuntimeError):
    """A run that cannot start; the command prints the message and exits with 2."""


@runtime_checkable
class Suite(Protocol):
    """A benchmark suite, as the command line drives it (see the module docstring).

    Attributes:
        name: The ``--suite`` value.
        description: One line saying what the suite measures.
        kind: The ``kind`` of its results dicts, by which
            :func:`benchmarks.__main__.write_any_report` picks the suite's writer.
    """

    name: str
    description: str
    kind: str

    def jobs(self, args: argparse.Namespace) -> Sequence[Any]:
        """The studies still to run for ``run --suite NAME`` with ``args`` (defaults
        filled in on ``args``, ``args.out`` the output folder)."""
        ...

    def run(self, jobs: Sequence[Any], args: argparse.Namespace) -> Results:
        """Run ``jobs`` (as :meth:`jobs` returned them); write and return the results."""
        ...

    def summarise(self, results: Results) -> dict[str, Any]:
        """The summary of ``results``."""
        ...

    def write(self, results: Results, folder: Path) -> list[Path]:
        """Write the plots and ``summary.md`` of ``results`` into ``folder``; the paths."""
        ...

    def finish(self, results: Results, args: argparse.Namespace) -> int:
        """End ``run``: print what was written (the report too unless ``--no-plot``) and
        return the exit status, 1 when studies failed."""
        ...

    def plot(self, args: argparse.Namespace) -> int:
        """``plot --suite NAME`` without ``--in``: draw the report of the suite's
        committed results again (into ``args.out`` when given); the exit status."""
        ...


@dataclass(frozen=True)
class Jobs(Sequence[JobT], Generic[JobT]):
    """The studies still to run (a sequence of the suite's jobs) together with the plan
    that :meth:`Suite.run` needs around them (what ran before, the run's settings).

    Attributes:
        to_run: The jobs still to run, in the order they are handed to the pool.
        plan: The suite module's plan of the whole run.
    """

    to_run: tuple[JobT, ...]
    plan: Any = None

    def __len__(self) -> int:
        return len(self.to_run)

    def __getitem__(self, index: Any) -> Any:
        return self.to_run[index]

    def __iter__(self) -> Iterator[JobT]:
        return iter(self.to_run)


def csv(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated option."""
    return [t.strip() for t in text.split(",") if t.strip()]


def apply_quick(args: argparse.Namespace, values: dict[str, Any]) -> None:
    """With ``--quick``, set each option of ``values`` that was not given."""
    if args.quick:
        for key, value in values.items():
            if getattr(args, key) is None:
                setattr(args, key, value)


def run_suite(suite: Suite, args: argparse.Namespace) -> int:
    """``python -m benchmarks run --suite NAME``: jobs, run, then the suite's ending
    (:meth:`Suite.finish`); a :class:`SuiteError` is printed and gives exit status 2."""
    try:
        results = suite.run(suite.jobs(args), args)
    except SuiteError as err:
        print(err, file=sys.stderr)
        return 2
    return suite.finish(results, args)


def suite_for(results: Results) -> Suite | None:
    """The suite whose results ``results`` are (by their ``kind``), or ``None`` (e.g.
    the ``overhead`` command's)."""
    return next((s for s in SUITES.values() if s.kind == results.get("kind")), None)


def write_any_report(results: Results, folder: Path) -> list[Path]:
    """The plots and ``summary.md`` of a results dict, by the writer of its suite
    (:func:`suite_for`); results of no suite (``overhead``) by
    :func:`benchmarks.report.write_report`."""
    suite = suite_for(results)
    if suite is not None:
        return suite.write(results, folder)
    from benchmarks.report import write_report

    return write_report(results, folder)


def plot_results_file(path: Path, out: Path | None) -> int:
    """Draw the report of the results file ``path`` (a folder means its
    ``results.json.gz``) into ``out`` (default: its folder) by the writer of its suite;
    the exit status, 2 when there is no such file."""
    if path.is_dir():
        path = results_file(path)
    if not path.is_file():
        print(f"plot: no results file at {path}", file=sys.stderr)
        return 2
    for written in write_any_report(read_json(path), out or path.parent):
        print(f"wrote {written}")
    return 0


class ResultsFileSuite:
    """The shared ending of the suites that keep their results in
    ``<folder>/results.json.gz``: print the results file, write the report unless
    ``--no-plot``, exit with 1 when a study failed; ``plot`` redraws from
    ``RESULTS_DIR/<folder>``."""

    #: The folder of the committed results under ``benchmarks/results``.
    folder: str

    def write(self, results: Results, folder: Path) -> list[Path]:
        """The suite's report writer (:meth:`Suite.write`), given by each subclass."""
        raise NotImplementedError

    def failed(self, results: Results, args: argparse.Namespace) -> bool:
        """Whether the run failed: some study failed."""
        del args
        return bool(results["n_failed"])

    def finish(self, results: Results, args: argparse.Namespace) -> int:
        """Print the results file and the run's minutes, write the report unless
        ``--no-plot`` (printing each path); 1 when :meth:`failed`, else 0."""
        print(f"wrote {results_file(args.out)} ({results['total_wall_s'] / 60:.1f} min)")
        if not args.no_plot:
            for path in self.write(results, args.out):
                print(f"wrote {path}")
        return 1 if self.failed(results, args) else 0

    def plot(self, args: argparse.Namespace) -> int:
        """Redraw the report of ``benchmarks/results/<folder>/results.json.gz`` into
        ``args.out`` (default: that folder)."""
        return plot_results_file(results_file(RESULTS_DIR / self.folder), args.out)

    def default_out(self, args: argparse.Namespace) -> Path:
        """``benchmarks/results/<folder>``, with ``-quick`` for ``--quick``."""
        return RESULTS_DIR / (self.folder + ("-quick" if args.quick else ""))


# --------------------------------------------------------------------------------------
# The suites
# --------------------------------------------------------------------------------------


class HarnessSuite(ResultsFileSuite):
    """A suite of :mod:`benchmarks.tasks` run by :mod:`benchmarks.harness` (BBOB, toy,
    tabular): every sampler on every task and seed, no resume.

    Args:
        name: The ``--suite`` value and the key of :data:`benchmarks.tasks.SUITES`.
        description: One line saying what the suite measures.
        trials: Trials per study unless ``--trials`` (or ``--quick``) says otherwise.
        checkpoints: Trial counts of the summary unless ``--checkpoints`` says otherwise.
        group_by: The ``meta`` key the summary and plots are broken down by.
    """

    kind = "benchmark"

    def __init__(
        self,
        name: str,
        description: str,
        *,
        trials: int = 100,
        checkpoints: str = "5,10,25,50,100",
        group_by: str = "dimension",
    ) -> None:
        self.name = name
        self.description = description
        self.folder = name
        self.trials = trials
        self.checkpoints = checkpoints
        self.group_by = group_by

    def jobs(self, args: argparse.Namespace) -> Jobs[Any]:
        """Every (task, seed, sampler) of the task suite
        (:func:`benchmarks.harness.plan_benchmark`).

        A task whose spec gives ``meta["eval_s"]`` (the seconds of one evaluation, e.g.
        a LightGBM fit) adds ``eval_s x trials`` to each of its jobs' estimated cost, so
        the slowest jobs still start first and the printed estimate counts the
        objective, which the harness's table of sampler costs leaves out.
        """
        from benchmarks.harness import DEFAULT_SAMPLERS
        from benchmarks.harness import plan_benchmark
        from benchmarks.harness import seeds_from_arg
        from benchmarks.tasks import SUITES as TASK_SUITES
        from benchmarks.tasks import parse_int_list

        apply_quick(args, QUICK_RUN)
        args.out = args.out or self.default_out(args)
        dims = parse_int_list(args.dims) if args.dims else None
        functions = parse_int_list(args.functions) if args.functions else None
        specs = TASK_SUITES[self.name](
            functions=functions, dims=dims, worst_quantile=args.worst_quantile
        )
        samplers = csv(args.samplers or ",".join(DEFAULT_SAMPLERS))
        plan = plan_benchmark(
            specs, samplers, seeds_from_arg(args.seeds or "5"), args.trials or self.trials
        )
        jobs = [
            replace(job, cost=job.cost + float(job.spec.meta.get("eval_s", 0.0)) * job.n_trials)
            for job in plan.jobs
        ]
        jobs.sort(key=lambda job: -job.cost)
        plan = replace(plan, jobs=tuple(jobs))
        return Jobs(plan.jobs, plan)

    def run(self, jobs: Sequence[Any], args: argparse.Namespace) -> Results:
        """Run the jobs in the harness pool (:func:`benchmarks.harness.run_plan`)."""
        from benchmarks.harness import run_plan
        from benchmarks.tasks import parse_int_list

        assert isinstance(jobs, Jobs)
        return run_plan(
            replace(jobs.plan, jobs=tuple(jobs)),
            suite=self.name,
            workers=args.workers,
            out=args.out,
            checkpoints=parse_int_list(args.checkpoints or self.checkpoints),
            group_by=self.group_by,
            reference=args.reference,
            config_extra={
                "functions": parse_int_list(args.functions) if args.functions else None,
                "dims": parse_int_list(args.dims) if args.dims else None,
                "worst_quantile": args.worst_quantile,
                "quick": args.quick,
            },
            progress=not args.no_progress,
        )

    def summarise(self, results: Results) -> dict[str, Any]:
        """The summary made with the results (:func:`benchmarks.metrics.summarise`)."""
        return results["summary"]

    def write(self, results: Results, folder: Path) -> list[Path]:
        """``regret_curves.png``, ``rank_curves.png`` and ``summary.md``
        (:mod:`benchmarks.report`)."""
        from benchmarks.report import write_report

        return write_report(results, folder)


class TransferV1Suite(ResultsFileSuite):
    """Transfer v1 (:mod:`benchmarks.transfer`): leave one dataset out of the v1 corpus,
    resumable from ``runs.jsonl``; its results are kept in ``results/transfer``."""

    name = "transfer-v1"
    description = "leave-one-dataset-out transfer on the v1 corpus (superseded by transfer)"
    kind = "transfer"
    folder = "transfer"

    def jobs(self, args: argparse.Namespace) -> Jobs[Any]:
        """The studies that the run files do not hold yet
        (:func:`benchmarks.transfer.prepare_transfer`)."""
        from benchmarks import transfer

        apply_quick(args, QUICK_TRANSFER)
        if args.fake_corpus:
            args.out = args.out or transfer.FAKE_OUT
            corpus = args.corpus or transfer.write_fake_corpus(args.out / "fake-corpus.json.gz")
        else:
            args.out = args.out or self.default_out(args)
            corpus = args.corpus or transfer.DEFAULT_CORPUS
        try:
            invocation = transfer.prepare_transfer(corpus, **self._options(args))
        except transfer.CorpusError as err:
            raise SuiteError(f"run --suite transfer: {err}") from err
        return Jobs(invocation.to_run, invocation)

    def _options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The arguments of :func:`benchmarks.transfer.prepare_transfer` but the corpus."""
        from benchmarks import transfer
        from benchmarks.harness import seeds_from_arg
        from benchmarks.tasks import parse_int_list

        real = transfer.RealOptions(
            data_dir=args.data_dir,
            datasets=csv(args.real_datasets) if args.real_datasets else None,
            seeds=seeds_from_arg(args.real_seeds),
            samplers=csv(args.real_samplers),
            n_trials=args.real_trials,
            model=args.real_model,
            metric=args.real_metric,
            max_valid_queries=args.max_valid_queries,
        )
        return {
            "samplers": csv(args.samplers or ",".join(transfer.SAMPLERS)),
            "seeds": seeds_from_arg(args.seeds or "5"),
            "n_trials": args.trials or 20,
            "variants": csv(args.variants),
            "misleading_samplers": csv(args.misleading_samplers),
            "models": csv(args.models) if args.models else None,
            "datasets": csv(args.datasets) if args.datasets else None,
            "checkpoints": parse_int_list(args.checkpoints or "1,3,5,10,20"),
            "workers": args.workers,
            "out": args.out,
            "real": real if args.real else None,
            "fresh": args.fresh,
        }

    def run(self, jobs: Sequence[Any], args: argparse.Namespace) -> Results:
        """Run them and write the results (:func:`benchmarks.transfer.run_prepared`)."""
        from benchmarks import transfer

        assert isinstance(jobs, Jobs)
        try:
            return transfer.run_prepared(
                jobs.plan,
                tuple(jobs),
                command=" ".join(["python -m benchmarks", *sys.argv[1:]]),
                progress=not args.no_progress,
            )
        except transfer.CorpusError as err:
            raise SuiteError(f"run --suite transfer: {err}") from err

    def summarise(self, results: Results) -> dict[str, Any]:
        """The summary made with the results: ``standard``, ``misleading``, ``targets``
        (:func:`benchmarks.transfer.summarise_transfer`)."""
        return results["summary"]

    def write(self, results: Results, folder: Path) -> list[Path]:
        """The curves, the misleading curves and ``summary.md``
        (:func:`benchmarks.transfer.write_transfer_report`)."""
        from benchmarks.transfer import write_transfer_report

        return write_transfer_report(results, folder)

    def failed(self, results: Results, args: argparse.Namespace) -> bool:
        """Some study failed, or ``--real`` gave no real summary."""
        real = results.get("real")
        real_missing = args.real and not (real and real.get("summary"))
        return bool(results["n_failed"] or real_missing)


class MultiobjectiveSuite(ResultsFileSuite):
    """Multi-objective and constrained problems (:mod:`benchmarks.multiobjective`),
    resumable from ``runs.jsonl``."""

    name = "multiobjective"
    description = "hypervolume on multi-objective and constrained problems"
    kind = "multiobjective"
    folder = "multiobjective"

    def jobs(self, args: argparse.Namespace) -> Jobs[Any]:
        """The studies that ``runs.jsonl`` does not hold yet
        (:func:`benchmarks.multiobjective.plan_multiobjective`)."""
        from benchmarks import multiobjective

        plan = multiobjective.plan_multiobjective(**multiobjective.options_from_args(args))
        return Jobs(plan.to_run, plan)

    def run(self, jobs: Sequence[Any], args: argparse.Namespace) -> Results:
        """Run them and write the results (:func:`benchmarks.multiobjective.run_plan`)."""
        from benchmarks import multiobjective

        assert isinstance(jobs, Jobs)
        return multiobjective.run_plan(
            jobs.plan,
            tuple(jobs),
            command=multiobjective.command_line(sys.argv[1:]),
            notes=args.note,
            progress=not args.no_progress,
        )

    def summarise(self, results: Results) -> dict[str, Any]:
        """The summary made with the results (:func:`benchmarks.multiobjective.summarise`)."""
        return results["summary"]

    def write(self, results: Results, folder: Path) -> list[Path]:
        """``hv_curves.png`` and ``summary.md``
        (:func:`benchmarks.multiobjective.write_report`)."""
        from benchmarks.multiobjective import write_report

        return write_report(results, folder)


class TransferV2Suite:
    """Transfer v2 (:mod:`benchmarks.transfer_v2`): held-out tasks under source
    scenarios. Its record is the folder itself (``runs.jsonl(.gz)`` and
    ``summary.json``), not a ``results.json.gz``: its results dict holds the records, the
    report's metadata and the dev/test split, and the report is always written."""

    name = "transfer"
    description = "transfer from past studies under honest and hostile source scenarios"
    kind = "transfer-v2"

    def jobs(self, args: argparse.Namespace) -> Jobs[Any]:
        """The studies that the folder's records do not hold yet
        (:func:`benchmarks.transfer_v2.plan_invocation`)."""
        from benchmarks import transfer_v2

        args.out = args.out or (transfer_v2.QUICK_OUT if args.quick else transfer_v2.DEFAULT_OUT)
        options: dict[str, Any] = transfer_v2.quick_kwargs() if args.quick else {}
        options.update(self._options(args))
        try:
            jobs, missing = transfer_v2.plan_invocation(
                corpus=args.corpus or transfer_v2.DEFAULT_CORPUS,
                split=args.split,
                real=args.real,
                real_datasets=csv(args.real_datasets) if args.real_datasets else None,
                data_dir=args.data_dir,
                **options,
            )
        except (FileNotFoundError, ValueError) as err:
            raise SuiteError(f"run --suite transfer: {err}") from err
        return Jobs(tuple(transfer_v2.pending(jobs, Path(args.out))), missing)

    @staticmethod
    def _options(args: argparse.Namespace) -> dict[str, Any]:
        """The options given on the command line among scenarios, samplers, seeds,
        trials and tasks (they override ``--quick``'s)."""
        from benchmarks.harness import seeds_from_arg

        options: dict[str, Any] = {}
        if args.scenarios:
            options["scenarios"] = csv(args.scenarios)
        if args.samplers:
            options["samplers"] = csv(args.samplers)
        if args.seeds:
            options["seeds"] = seeds_from_arg(args.seeds)
        if args.trials:
            options["n_trials"] = args.trials
        if args.tasks:
            options["tasks"] = csv(args.tasks)
        return options

    def run(self, jobs: Sequence[Any], args: argparse.Namespace) -> Results:
        """Run them, pack the records (:func:`benchmarks.transfer_v2.run_invocation`)."""
        from benchmarks import transfer_v2

        assert isinstance(jobs, Jobs)
        try:
            records, meta = transfer_v2.run_invocation(
                tuple(jobs),
                jobs.plan,
                corpus=args.corpus or transfer_v2.DEFAULT_CORPUS,
                out=args.out,
                split=args.split,
                real=args.real,
                workers=args.workers,
                progress=not args.no_progress,
                note="; ".join(args.note) or None,
            )
        except (FileNotFoundError, ValueError) as err:
            raise SuiteError(f"run --suite transfer: {err}") from err
        return self.results(records, meta)

    def results(self, records: list[dict[str, Any]], meta: dict[str, Any]) -> Results:
        """The results dict of ``records`` and the report's ``meta``."""
        from benchmarks.transfer_v2 import read_split

        return {"kind": self.kind, "records": records, "meta": meta, "split": read_split()}

    def load(self, folder: Path) -> Results:
        """The results of an output folder: its records and the metadata of its
        ``summary.json`` (:func:`benchmarks.transfer_v2.rebuild`)."""
        import json

        from benchmarks.transfer_v2 import read_records

        meta = json.loads((folder / "summary.json").read_text()).get("meta", {})
        return self.results(read_records(folder), meta)

    def summarise(self, results: Results) -> dict[str, Any]:
        """The summary of the records made by the last run's code and corpus
        (:func:`benchmarks.transfer_v2_report.summarise`)."""
        from benchmarks import transfer_v2_report as report

        records = report.current_records(results["records"], results["meta"].get("fingerprints"))
        return report.summarise(records, results["split"])

    def _write(self, results: Results, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """The report written into ``folder``: its summary and the paths written."""
        from benchmarks.transfer_v2_report import write_report

        written: list[Path] = []
        summary = write_report(
            results["records"], results["split"], results["meta"], Path(folder), written
        )
        return summary, written

    def write(self, results: Results, folder: Path) -> list[Path]:
        """``summary.json``, ``summary.md``, the headlines and one plot per scenario."""
        return self._write(results, folder)[1]

    def finish(self, results: Results, args: argparse.Namespace) -> int:
        """Write the report (whatever ``--no-plot`` says), report the failed runs per
        scenario and sampler; exit status 1 when some failed."""
        out = Path(args.out)
        try:
            summary, _ = self._write(results, out)
        except (FileNotFoundError, ValueError) as err:
            print(f"run --suite transfer: {err}", file=sys.stderr)
            return 2
        bad = {k: c for k, c in summary["counts"].items() if c["errors"]}
        for key, count in bad.items():
            print(f"run --suite transfer: {count['errors']} failed runs in {key}", file=sys.stderr)
        print(f"wrote {out / 'summary.md'} and {out / 'summary.json'}")
        return 1 if bad else 0

    def plot(self, args: argparse.Namespace) -> int:
        """Rebuild the report of ``args.out`` (default ``results/transfer-v2``) from its
        records."""
        from benchmarks.transfer_v2 import DEFAULT_OUT

        folder = args.out or DEFAULT_OUT
        self.write(self.load(folder), folder)
        print(f"wrote {folder / 'summary.md'} and its plots")
        return 0


#: ``--suite`` value -> suite, in the order of the ``--suite`` choices.
SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in sorted(
        [
            HarnessSuite("bbob", "BBOB noiseless functions (cocoex), held-out instances"),
            HarnessSuite("toy", "two tiny tasks, for tests and examples"),
            HarnessSuite(
                "mixed",
                "numeric and categorical parameters together (four analytic problems)",
                trials=60,
                checkpoints="10,20,40,60",
                group_by="problem",
            ),
            *(
                HarnessSuite(
                    name,
                    f"LightGBM tuned by 3-fold CV on small generated tables{half}",
                    trials=30,
                    checkpoints="5,10,20,30",
                    group_by="split",
                )
                for name, half in (
                    ("tabular", " (dev and test)"),
                    ("tabular-dev", ", dev half"),
                    ("tabular-test", ", test half"),
                )
            ),
            TransferV2Suite(),
            TransferV1Suite(),
            MultiobjectiveSuite(),
        ],
        key=lambda suite: suite.name,
    )
}
