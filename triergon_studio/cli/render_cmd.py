"""``render``: a cue list (JSONL, see ``cluster.cues``) rendered in parallel, locally or on a Ray cluster.

Resumable (a cue whose takes exist with its spec's digest is skipped), one progress bar over cues and steps,
a summary table at the end, and with ``--project`` the finished takes placed on their lanes in one undo step.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "render",
        help="render a cue list (JSONL) in parallel, locally or on a Ray cluster",
        description="Render every cue of CUES.jsonl (one TakeSpec JSON per line plus 'name' and 'lane') into "
        "--out. Cues whose takes already exist from the same spec are skipped, so an interrupted run resumes.",
    )
    p.add_argument("cues", type=Path, help="cue list: one JSON object per line")
    p.add_argument("--out", type=Path, required=True, help="folder for the takes (made if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="a Ray cluster: HOST:PORT of its head (or ray://HOST:10001 with Ray Client)",
    )
    where.add_argument("--local", type=int, metavar="N", help="N local worker processes (default 1)")
    p.add_argument(
        "--keep-going", action="store_true", help="render the good cues even if some lines are bad"
    )
    p.add_argument("--project", type=Path, help="place the finished takes on their lanes in this project")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the cluster to answer (connect, and silence during the run)",
    )
    p.add_argument("--device", help="cpu, cuda, mps or auto (on each worker; default auto)")
    p.add_argument("--precision", help="fp32, bf16, fp16 or auto (default auto)")
    p.add_argument("--bits", default="24", choices=["16", "24", "32f"], help="WAV sample format")
    p.add_argument("--force", action="store_true", help="re-render cues whose files are in the way")
    p.set_defaults(func=run_render)


class _Bar:
    """One line: cues done, the fraction over cues and steps, and what runs now."""

    def __init__(self, n: int, stream: Any = sys.stderr) -> None:
        self.n, self.stream = n, stream
        self.done = 0
        self.fractions: dict[str, float] = {}
        self.note = ""
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0

    def update(
        self, key: str | None = None, fraction: float | None = None, note: str = "", force: bool = False
    ) -> None:
        if key is not None and fraction is not None:
            self.fractions[key] = fraction
        self.note = note or self.note
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self.tty else 2.0):
            return
        self._last = now
        total = (self.done + sum(self.fractions.values())) / max(self.n, 1)
        filled = int(round(total * 30))
        line = f"[{'#' * filled}{'-' * (30 - filled)}] {total * 100:5.1f}%  {self.done}/{self.n} cues  {self.note}"
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish_one(self, key: str) -> None:
        self.fractions.pop(key, None)
        self.done += 1
        self.update(force=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _table(rows: list[tuple[str, ...]]) -> str:
    head = ("cue", "status", "takes", "tries", "seconds", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return "\n".join(lines)


def place_takes(project: Any, placements: list[tuple[Any, list[Path]]]) -> int:
    """Copy each finished take into the project and place it on its cue's lane (at the cue's start), all as
    one undo step; takes placed by an earlier run are left alone. Returns how many were added."""
    from triergon_studio.core.model import Take, new_id
    from triergon_studio.core.take_sidecar import read_sidecar

    already = {str(t.metadata.get("imported_from")) for t in project.takes if isinstance(t.metadata, dict)}
    todo = [(cue, p) for cue, paths in placements for p in paths if str(p.resolve()) not in already]
    if not todo:
        return 0
    copied: list[Path] = []
    try:
        with project.undo.macro(f"Place {len(todo)} rendered take{'s' if len(todo) != 1 else ''}"):
            for cue, path in todo:
                made = read_sidecar(path)
                meta = dict(made["metadata"]) if made else {}
                dest = project.new_take_path(path.stem)
                shutil.copyfile(path, dest)
                copied.append(dest)
                take = Take(
                    id=new_id(),
                    name=path.stem,
                    path=dest.relative_to(project.folder).as_posix(),
                    duration_s=float(meta.get("n_samples", 0)) / float(meta.get("sample_rate", 1)),
                    sample_rate=int(meta.get("sample_rate", 0)),
                    source="generated",
                    prompts=made["prompts"] if made else None,
                    settings=made["settings"] if made else None,
                    curves=made["curves"] if made else None,
                    metadata={**meta, "imported_from": str(path.resolve())},
                )
                project.add_take(take, lane=cue.lane, offset_s=cue.spec.span.start_s)
    except BaseException:
        for d in copied:
            d.unlink(missing_ok=True)
        raise
    return len(todo)


def _place_in_project(project_path: Path, placements: list[tuple[Any, list[Path]]]) -> int:
    from triergon_studio.core.project import Project

    project = Project.load(project_path)
    n = place_takes(project, placements)
    if n:
        project.save()
    return n


def run_render(args: argparse.Namespace) -> int:
    from triergon_studio.cluster import ClusterError
    from triergon_studio.cluster.cues import cue_state, read_cues
    from triergon_studio.cluster.lock import RenderLock
    from triergon_studio.cluster.pool import Location, Pool
    from triergon_studio.cluster.scheduler import Outcome, WorkItem, run_jobs

    if not args.timeout > 0:
        raise ClusterError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    location = Location("ray", args.cluster) if args.cluster else Location("local", workers=args.local or 1)
    if location.kind == "local" and not 1 <= location.workers <= 64:
        raise ClusterError(f"--local needs 1 to 64 workers, got {location.workers}")
    cue_list = read_cues(args.cues)
    for line in cue_list.error_lines():
        print(f"error: {line}", file=sys.stderr)
    if cue_list.errors and not args.keep_going:
        raise ClusterError(
            f"{len(cue_list.errors)} bad line(s) in the cue list; fix them, or use --keep-going "
            f"to render the other {len(cue_list.cues)} cue(s)",
            args.cues,
        )
    project = None
    if args.project is not None:
        from triergon_studio.core.project import Project

        project = Project.load(args.project)
        for cue in cue_list.cues:
            if cue.lane is not None:
                try:
                    project.lane(cue.lane)
                except Exception as exc:
                    raise ClusterError(f"line {cue.line}: {exc}", args.cues) from exc
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, ...]] = []
    failed = 0
    with RenderLock(out, str(args.cues.resolve())) as lock:
        if lock.took_over:
            print(
                f"note: took over a lock left by pid {lock.took_over.get('pid')} (no longer running)",
                file=sys.stderr,
            )
        todo: list[WorkItem] = []
        finished: dict[str, Any] = {}
        for cue in cue_list.cues:
            state = cue_state(cue, out)
            if state.done:
                rows.append(
                    (cue.name, "skipped", str(cue.spec.variations), "0", "-", "done earlier (same spec)")
                )
                finished[cue.name] = cue
            elif state.problem and not args.force:
                rows.append((cue.name, "failed", "0", "0", "-", state.problem))
                failed += 1
            else:
                todo.append(
                    WorkItem(
                        cue.name, cue.spec, cue.outputs(out), {"cue_digest": cue.digest, "cue_line": cue.line}
                    )
                )
        by_name = {c.name: c for c in cue_list.cues}
        outcomes: list[Outcome] = []
        if todo:
            bar = _Bar(len(todo))
            cancel = threading.Event()

            def on_progress(item: WorkItem, p: Any, worker: int) -> None:
                bar.update(item.key, p.fraction, f"{item.key}: {p.message}")

            def on_outcome(o: Outcome) -> None:
                bar.finish_one(o.key)

            from triergon_studio.engine.weights import DEFAULT_MODEL

            print(f"rendering {len(todo)} cue(s) on {location.describe()}", file=sys.stderr)
            with Pool(location, args.timeout) as pool:
                try:
                    outcomes = run_jobs(
                        pool,
                        todo,
                        lambda it: it.spec.model or DEFAULT_MODEL,
                        bits=args.bits,
                        overwrite=args.force,
                        on_progress=on_progress,
                        on_outcome=on_outcome,
                        cancel=cancel,
                        device=args.device,
                        dtype=args.precision,
                    )
                except KeyboardInterrupt:
                    cancel.set()
                    raise
                finally:
                    bar.close()
        for o in outcomes:
            takes = str(len(o.takes)) if o.status == "done" else "0"
            rows.append(
                (
                    o.key,
                    o.status,
                    takes,
                    str(o.attempts),
                    f"{o.elapsed_s:.1f}" if o.elapsed_s else "-",
                    o.message,
                )
            )
            if o.status == "done":
                finished[o.key] = by_name[o.key]
            else:
                failed += 1
        order = {c.name: i for i, c in enumerate(cue_list.cues)}
        rows.sort(key=lambda r: order.get(r[0], 0))
        print(_table(rows))
        if args.project is not None and finished:
            placements = [
                (by_name[k], by_name[k].outputs(out)) for k in sorted(finished, key=order.__getitem__)
            ]
            n = _place_in_project(args.project, placements)
            print(f"placed {n} take(s) in {args.project} (one undo step)", file=sys.stderr)
    del project
    if failed or cue_list.errors:
        print(
            f"{failed} cue(s) failed{'' if not cue_list.errors else f', {len(cue_list.errors)} bad line(s)'}"
            f"; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
