"""How long training takes, in seconds and in words: a job's duration from what the workers
measured of alike jobs, its cost when nothing alike was measured, and a queued job's wait."""

from __future__ import annotations

import math
from collections.abc import Sequence

from aedemo.job import QUEUED, RUNNING, Job
from aedemo.spec import ModelSpec, seconds_per_image, work_seconds


def measured_seconds(job: Job) -> float | None:
    """A running job's whole training time as measured so far: its seconds per batch times its
    batches (what its ETA is computed from); None before its first batch."""
    if job.status is not RUNNING or job.eta_seconds is None or not 0 < job.fraction < 1:
        return None
    # eta = elapsed * (1 - f) / f, so the whole time, elapsed / f, is eta / (1 - f)
    return job.eta_seconds / (1 - job.fraction)
def duration_estimate(spec: ModelSpec, measured: Sequence[tuple[ModelSpec, float]]
                      ) -> float | None:
    """Seconds that training ``spec`` will take, from the most alike of ``measured`` (spec,
    seconds) pairs: stored models (their "seconds") and running jobs (measured_seconds), scaled
    by their work (its epochs, and per image the batch's share of a step and the network's
    size: spec.seconds_per_image). Alike means the same variant, dataset and one-class-ness
    (what sets the images per epoch), then the same batch size, then the nearest bottleneck.
    None when nothing alike was measured: a guess from another variant would be a number in
    the wrong units."""
    alike = [(other, seconds) for other, seconds in measured
             if other.variant == spec.variant and other.dataset == spec.dataset
             and bool(other.normal) == bool(spec.normal) and seconds > 0]
    if not alike:
        return None
    other, seconds = min(alike, key=lambda pair: (
        pair[0].train.batch_size != spec.train.batch_size,
        abs(math.log2(pair[0].latent_dim / spec.latent_dim))))
    return (seconds / (other.train.epochs * seconds_per_image(other))
            * spec.train.epochs * seconds_per_image(spec))


def cost_estimate(spec: ModelSpec, measured: Sequence[tuple[ModelSpec, float]],
                  n_train: int) -> float:
    """Seconds that training ``spec`` on ``n_train`` images will take on this worker: from
    what it measured of alike jobs (duration_estimate), else from the work alone at the
    reference machine's speed (spec.work_seconds), so a job never goes unbounded for lack of
    a measurement."""
    estimate = duration_estimate(spec, measured)
    return estimate if estimate is not None else work_seconds(spec, n_train)


def duration_words(seconds: float) -> str:
    """A coming wait as a person says it: "about 40 s", "about 3 min", "about 1 h 5 min"."""
    if seconds < 60:
        return f"about {max(5, math.ceil(seconds / 5) * 5)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def wait_estimate(job: Job, active: Sequence[Job],
                  measured: Sequence[tuple[ModelSpec, float]], workers: int = 1
                  ) -> tuple[int, float | None]:
    """For a queued ``job``: how many jobs will train before it starts (the running ones and
    those ahead of it in the queue, from ``active``), and about how many seconds until it
    starts: each running job's own ETA, plus for each waiting job ahead the duration_estimate
    from ``measured``, shared among ``workers``. The seconds are None when any of those jobs
    has no estimate, or no worker is there: then only the number of jobs can be said."""
    ahead = [j for j in active if j.id != job.id and (
        j.status is RUNNING or (j.status is QUEUED and j.position is not None
                                and job.position is not None and j.position < job.position))]
    left = []
    for j in ahead:
        seconds = j.eta_seconds if j.status is RUNNING else None
        left.append(seconds if seconds is not None else duration_estimate(j.spec, measured))
    if workers < 1 or any(s is None for s in left):
        return len(ahead), None
    return len(ahead), sum(left) / workers
