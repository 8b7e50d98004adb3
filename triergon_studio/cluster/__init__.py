"""Generation away from the app's own process: N local worker processes, or Ray actors on GPU servers.

Nothing here imports Qt, and nothing imports ``ray`` until a Ray cluster is chosen: the Ray driver lives in a
child process (``ray_host.serve_ray``), so the app and the CLI never load Ray themselves, and a cluster that dies
cannot take the app down with it. Every worker runs the same use case as local generation
(``takes.make_takes``); finished takes travel back as samples and are written on the client with
``takes.write_takes``.

- ``cues``: the cue-list (JSONL) schema of ``triergon-studio render``.
- ``runtime``: what a worker does (load a model once, run specs, report progress, honour cancel).
- ``hosts``: the child processes (a local worker, or the Ray driver and its actors) and their messages.
- ``pool``: the client's side of the hosts: slots, heartbeats, restarts.
- ``scheduler``: cues -> jobs on slots, retries, progress, writing; ``remote``: the app's entry point.
"""

from __future__ import annotations

from triergon_studio.errors import StudioError


class ClusterError(StudioError):
    """A cluster could not be reached, stopped answering, or refused a job."""


__all__ = ["ClusterError"]
