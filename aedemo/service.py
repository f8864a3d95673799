"""Everything the app shares across browser sessions, in one object: the model store, the job
manager, the default dataset and the first-start zoo, and caches of loaded models and of derived
results (codes, projections, score tables) that are slow to compute.

``Service.derived`` is the one owner of those results: it names each by the lesson function
that computes it, its stored models (id and creation stamp), the dataset and the parameters,
loads the models once and keeps the result in the byte-bounded memo. The lessons
(``aedemo.lessons``) take models and data, never this.

What a page shows by default belongs to the lesson, not to whoever trained last: the models the
teacher pinned, then the first-start zoo's, then (for each student) their own, then everyone
else's (``Provenance``). Nothing a student trains changes what another student sees by default.

No Streamlit here: ``aedemo.ui`` creates one Service per server process with st.cache_resource.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch

from aedemo import classroom, roles, taskqueue
from aedemo import data as datasets
from aedemo.class_board import ClassBoard
from aedemo.errors import Explained
from aedemo.estimates import cost_estimate, duration_words, measured_seconds
from aedemo.job import SYSTEM, TEACHER, Job, JobError, QueueProblem
from aedemo.jobs import JobQueue
from aedemo.local_workers import LocalWorkers
from aedemo.memo import MEMO_BYTES, Memo
from aedemo.settings import Settings, env_int
from aedemo.spec import MNIST_TRAIN_SIZE, ModelSpec, training_images
from aedemo.store import ModelStore, StoredModel, StoreError

log = logging.getLogger(__name__)


def one_thread_per_request() -> None:
    """Give each of the web process's threads one PyTorch thread, unless OMP_NUM_THREADS says
    otherwise. This process answers pages, a session's run on a thread of its own, with small
    forward passes (one drawing through a model); its training is done by worker processes,
    which set their own threads (train.pick_device). A batch of one split over two threads
    waits for the second core to wake: measured on the 2-core machine while it was busy, a
    784 x 256 linear layer took 1.5 ms with two threads and 0.08 ms with one, and a whole Draw
    stroke 308 ms against 81 ms (median of 8). Across sessions the cores are used anyway.
    PyTorch keeps the setting per thread and hands it to threads made after: so it holds for
    every session's run from here on."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


class Provenance(enum.IntEnum):
    """Where a stored model comes from, as seen by one student; the order is the pages' order
    of preference."""

    PINNED = 0          # the teacher pinned it to the showcase
    ZOO = 1             # the first-start zoo: the lesson's own models
    TEACHER = 2         # not a student's: from the command line, or an earlier zoo
    YOURS = 3           # trained at this student's request
    OTHERS = 4          # another student's

    @property
    def showcase(self) -> bool:
        return self <= Provenance.ZOO


class When(enum.Enum):
    """When ``Service.derived`` computes a result that is not in memory yet."""

    NOW = "now"                    # on this thread, before answering (the default)
    BACKGROUND = "background"      # on a thread of its own, started once; None until it is ready
    NEVER = "never"                # not computed here: the result if it is ready, else None


def _result_name(compute: Callable[..., Any]) -> str:
    """What names a derived result: its function's module and qualified name, the same in every
    session and every rerun. A lambda, a function made inside another (a page's closure) or
    one of a page script (which runs as __main__) has no such name: refused."""
    module, name = getattr(compute, "__module__", None), getattr(compute, "__qualname__", "")
    if not module or module == "__main__" or "<" in name:
        raise TypeError(f"Service.derived needs a module-level function, not {compute!r}: its "
                        f"name is the result's key")
    return f"{module}.{name}"


def _version(entry: StoredModel) -> tuple[str, Any]:
    """A stored model's part of a cache key: its id and creation stamp, so a model retrained
    under the same id (the same settings) is a new one."""
    return entry.id, entry.created


class Service:
    def __init__(self, settings: Settings | None = None, store: ModelStore | None = None):
        self.settings = settings or Settings.from_env()
        one_thread_per_request()
        self.store = store or ModelStore()
        # the queue beside the store (or in Redis), and this server's own workers, which train
        # in processes of their own: this process submits, watches and cancels, never trains
        self.huey = taskqueue.connect(self.store.root, self.settings.redis_url)
        self.jobs = JobQueue(self.store, self.huey, per_student_cap=self.settings.student_cap,
                             queue_cap=self.settings.queue_cap,
                             per_address_cap=self.settings.address_cap)
        self.workers = LocalWorkers(self.settings.workers, on_death=self.jobs.worker_died)
        self._store_checked: tuple[float, StoreError | None] = (-1e9, None)
        self._series_counts: dict[tuple[str, str], int] = {}   # (dataset, kind): series
        self.teachers = roles.TEACHERS     # the roles given here; the gate sets their cookie
        # what the teacher did, for every open page to say; the students' numbers
        self.news = classroom.News(self.store.root)
        self.roster = classroom.Roster(self.store.root)
        # the class's shared drawings, on the queue's storage: one per server, so its read
        # cache (by the board's revision) serves every session's poll of the Class page
        self.class_board = ClassBoard(self.huey, self.roster)
        self.memo = Memo(env_int("AEDEMO_MEMO_MB", MEMO_BYTES // 2**20) * 2**20)
        self._data: datasets.ImageData | None = None
        self._data_error: Explained | None = None
        self._ready = threading.Event()
        self.zoo_specs: list[ModelSpec] = []
        self._zoo_keys: tuple[list[ModelSpec] | None, frozenset[str]] = (None, frozenset())
        # Loading the dataset may try a download: do it off the page's path, with the zoo.
        threading.Thread(target=self._start, name="aedemo-start", daemon=True).start()

    def _start(self) -> None:
        try:
            # what a killed save left behind: temporary files, weights with no description
            self.store.clean_up()
            # a job left running by a server that stopped goes back to the head of the queue
            # before the workers start taking jobs
            try:
                moved = self.jobs.recover()
                if moved:
                    log.warning("re-queued %d job(s) interrupted by a restart", len(moved))
            except JobError as err:
                log.warning("%s", err.in_full())
            self.workers.start()
            images = datasets.load_images(self.settings.dataset)
            from aedemo.zoo import zoo_specs
            # the zoo's ids before the dataset is published: a page that finds the data also
            # knows which models are the zoo's, and labels and orders them as the lesson's
            self.zoo_specs = zoo_specs(self.settings.dataset)
            self._data = images
            if self.settings.zoo:
                for spec in self.zoo_specs:
                    try:
                        self.jobs.submit(spec, SYSTEM)
                    except JobError as err:          # the queue out of reach: say it once
                        log.warning("the zoo was not queued: %s", err.in_full())
                        break
        except Exception as err:  # the app must still serve the models it has
            log.exception("start-up failed")
            # the error may name the server's folders: the detail is the teacher's
            self._data_error = Explained("The dataset could not be loaded, so the pages have no "
                                         "images to show. The teacher can see why.",
                                         f"{self.settings.dataset!r}: {err}")
        finally:
            self._ready.set()

    # --- the dataset -------------------------------------------------------------------------

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    @property
    def data(self) -> datasets.ImageData | None:
        """The app's image dataset, or None while it is still loading."""
        return self._data

    @property
    def data_error(self) -> Explained | None:
        return self._data_error

    # --- models ------------------------------------------------------------------------------

    @property
    def zoo_keys(self) -> frozenset[str]:
        """The zoo's model ids, worked out once per list of zoo specs: an id is a hash of a
        spec's settings, and hashing the zoo's twenty specs again for every provenance asked
        cost some 11 ms of a Draw stroke's CPU (about 340 hashes a stroke)."""
        specs, keys = self._zoo_keys
        if specs is not self.zoo_specs:
            specs = self.zoo_specs
            keys = frozenset(spec.key for spec in specs)
            self._zoo_keys = (specs, keys)
        return keys

    def provenance(self, entry: StoredModel, viewer: str | None = None) -> Provenance:
        """Where ``entry`` comes from, for the student ``viewer`` (a session id)."""
        return self.provenance_of(viewer)(entry)

    def provenance_of(self, viewer: str | None) -> Callable[[StoredModel], Provenance]:
        """provenance() for many models, for one run of a page: the pins (one look at
        showcase.json's stamp) and the zoo's ids read once. Ask again on the next run: the
        teacher may have pinned a model since."""
        pinned, zoo = self.store.pinned(), self.zoo_keys

        def provenance(m: StoredModel) -> Provenance:
            if m.id in pinned:
                return Provenance.PINNED
            if m.id in zoo:
                return Provenance.ZOO
            if m.owner in (None, SYSTEM):
                return Provenance.TEACHER
            return Provenance.YOURS if m.owner == viewer else Provenance.OTHERS

        return provenance

    def models(self, *, variant: str | None = None, kind: str | None = None,
               dataset: str | None = None, one_class: bool = False, subset: bool = False,
               viewer: str | None = None,
               need: Callable[[StoredModel], bool] | None = None,
               prefer: Callable[[StoredModel], Any] | None = None) -> list[StoredModel]:
        """Usable stored models, filtered, in the pages' order of preference; the first is
        what a page shows by default.

        What a pin means, for every page alike: a pinned model comes first wherever it fits
        the page, and never displaces what a page needs. ``need`` is what the page's default
        must be (a k = 2 map needs k = 2; a VAE page needs a VAE, as ``variant`` says): the
        models that meet it come before those that do not, whatever is pinned. Among them the
        order is by provenance for the student ``viewer`` (the teacher's pins, the zoo, the
        teacher's other models, the viewer's own, then other students'), then by the page's
        own ``prefer`` key (a wish, such as k near 16, that a pin overrides), then newest
        first. One-class (anomaly) models and those trained on a subset of the images (the
        overfitting lesson's) are left out unless asked for: the first know only some digits,
        the second too few of them to speak for their variant and k."""
        found = []
        for m in self.store.list():
            if not m.ok:
                continue
            spec = m.spec
            if (variant and spec.variant != variant) or (kind and spec.kind != kind):
                continue
            if dataset and spec.dataset != dataset:
                continue
            if bool(spec.normal) != one_class or bool(spec.subset) != subset:
                continue
            found.append(m)
        provenance = self.provenance_of(viewer)
        # a stable sort: newest first (the store's order) within equal keys
        return sorted(found, key=lambda m: (not need(m) if need else False, provenance(m),
                                            prefer(m) if prefer else 0))

    def load_model(self, model_id: str):
        """A stored model, loaded once and kept in memory while it is in use (read-only)."""
        entry = self.store.get(model_id)
        if entry is None or not entry.ok:
            raise StoreError(entry.problem if entry else f"No stored model {model_id}.")
        return self.memo.get(("model", *_version(entry)), lambda: self.store.load(model_id)[0])

    # --- the teacher's actions, said to the class --------------------------------------------

    def delete_model(self, model_id: str, by: str) -> None:
        """Delete a stored model and tell the class (classroom.delete_model)."""
        classroom.delete_model(self.store, model_id, by)

    def set_pinned(self, model_id: str, pinned: bool) -> None:
        """The teacher pins a model to the showcase, or takes it off; every open page hears."""
        classroom.set_pinned(self.store, model_id, pinned)

    # --- derived results ---------------------------------------------------------------------

    def derived(self, compute: Callable[..., Any],
                models: StoredModel | Sequence[StoredModel | None] | None = None,
                *params: Hashable, given: tuple[Any, ...] = (), data: bool = True,
                when: When = When.NOW) -> Any:
        """``compute(*loaded models, self.data, *given, *params)`` for every session, computed
        once and kept in the memo until memory runs short. ``compute`` is a lesson's function
        (``draw.model_views``), and its qualified name names the result: never a lambda or a
        function made inside another, whose name says neither what it computes nor what it
        closed over. ``models`` are stored models (one, several with None for a missing one,
        or none), loaded only when the result is computed; ``data=False`` leaves the dataset
        out of both the call and the key. The key is that name, each model's id and creation
        stamp (a model retrained under the same id is new), the dataset's source and size, and
        ``params`` (bytes by their digest, so an upload is not kept twice). ``given`` are
        results derived before from the same models and data (a PCA fitted on the dataset, a
        model's map of the test set): passed to ``compute`` but left out of the key, which
        already names what they follow from. ``when`` says what to do while it is not ready
        (When)."""
        entries = (models,) if isinstance(models, StoredModel) else tuple(models or ())
        if data and self._data is None:
            raise RuntimeError("the dataset is still loading")
        key = (_result_name(compute),
               *(_version(m) if m is not None else None for m in entries),
               *((self._data.source, len(self._data.x_train)) if data else ()),
               *(hashlib.sha256(p).hexdigest() if isinstance(p, bytes) else p for p in params))

        def run() -> Any:
            loaded = [self.load_model(m.id) if m is not None else None for m in entries]
            return compute(*loaded, *((self._data,) if data else ()), *given, *params)

        if when is When.NEVER:
            return self.memo.peek(key)
        if when is When.BACKGROUND:
            return self.memo.background(key, run)
        return self.memo.get(key, run)

    # --- jobs --------------------------------------------------------------------------------

    def submit(self, spec: ModelSpec, student: str, address: str | None = None, *,
               teacher: bool = False) -> Job:
        """Queue a job for ``student`` (JobError when it is refused, a student's job estimated
        above the class's limit too: job_limit_refusal); the student gets their number in the
        class's roster with their first request. Joining a job already queued or training
        (the same settings asked for by someone else, the teacher's too) adds no work: no limit."""
        if (student != SYSTEM and not teacher and self.store.find(spec) is None
                and not any(j.spec.key == spec.key for j in self.jobs.jobs(active_only=True))):
            refusal = self.job_limit_refusal(spec)
            if refusal:
                raise JobError(refusal)
        job = self.jobs.submit(spec, student, address)
        if student != SYSTEM:
            self.roster.number(student)
        return job

    def measured_times(self, active: Sequence[Job] | None = None
                       ) -> list[tuple[ModelSpec, float]]:
        """(spec, seconds) of the training this worker has measured: the running jobs in
        ``active`` (their pace so far, measured now, on this machine: they win a tie), then the
        stored models."""
        measured = [(j.spec, s) for j in active or () if (s := measured_seconds(j)) is not None]
        return measured + [(m.spec, m.record.seconds) for m in self.store.list() if m.ok]

    def job_seconds(self, spec: ModelSpec) -> float:
        """About how many seconds training ``spec`` will take (jobs.cost_estimate)."""
        try:
            active = self.jobs.jobs(active_only=True)
        except JobError:
            active = []
        return cost_estimate(spec, self.measured_times(active), self._training_images(spec))

    def _training_images(self, spec: ModelSpec) -> int:
        """The images an epoch of ``spec`` trains on, without loading a dataset on a page's
        path: the app's own set and the bundled ones are known; MNIST, Fashion-MNIST and KMNIST
        have MNIST's 60,000 (an IDX folder is taken to be as large)."""
        data = self._data
        if spec.kind != "image":
            # the series are generated: counted once per set, not on every rerun of Train
            if (spec.dataset, spec.kind) not in self._series_counts:
                self._series_counts[spec.dataset, spec.kind] = len(
                    datasets.load_dataset(spec.dataset, spec.kind).x_train)
            n_data = self._series_counts[spec.dataset, spec.kind]
        elif data is not None and spec.dataset == data.source:
            n_data = len(data.x_train)
        elif spec.dataset in (datasets.MNIST_SUBSET, datasets.SKLEARN_DIGITS):
            n_data = len(datasets.load_images(spec.dataset).x_train)
        else:
            n_data = MNIST_TRAIN_SIZE
        return training_images(spec, n_data)

    @property
    def job_limit_words(self) -> str | None:
        """The class's limit on a student's job, in words ("5 min"); None when there is none."""
        minutes = self.settings.job_minutes
        return duration_words(minutes * 60).removeprefix("about ") if minutes else None

    def job_limit_refusal(self, spec: ModelSpec, seconds: float | None = None) -> str | None:
        """Why a student may not train ``spec``, in words, when its estimated training time
        (``seconds``, else job_seconds) is above the class's limit; None when it is within."""
        limit = self.settings.job_minutes * 60
        if not limit:
            return None
        seconds = self.job_seconds(spec) if seconds is None else seconds
        if seconds <= limit:
            return None
        return (f"A student's job may train for at most {self.job_limit_words}; this one would "
                f"take {duration_words(seconds)}. Fewer epochs or a larger batch make it "
                f"shorter, or ask the teacher to train it.")

    def cancel(self, job_id: str, student: str, *, teacher: bool = False) -> Job:
        """Take back ``student``'s request for a job, or, for the teacher, stop it for all (and
        tell those who asked for it)."""
        before = self.jobs.job(job_id)
        job = self.jobs.cancel(job_id, student, teacher=teacher)
        if teacher and before is not None and before.active:
            self._announce_cancelled([before])
        return job

    def clear_queue(self) -> int:
        """Cancel every job, the zoo's too (the teacher's "Cancel every job"), and tell those
        who asked for them."""
        active = self.jobs.jobs(active_only=True)
        stopped = self.jobs.clear()
        self._announce_cancelled(active)
        return stopped

    def _announce_cancelled(self, cancelled: Sequence[Job]) -> None:
        for job in cancelled:
            askers = [a for a in job.askers if a != SYSTEM]
            if askers:
                self.news.add(classroom.CANCELLED, job.id, job.spec.to_dict(), askers, TEACHER)

    def queue_problem(self) -> QueueProblem | StoreError | JobError | None:
        """What keeps jobs from running or their models from being stored, in words (an error,
        with a detail for the teacher, when the store or the queue failed): a store that is
        read-only or full, the queue out of reach or no worker (JobQueue.problem); while this
        server's own workers are still starting (LocalWorkers.starting), that they are."""
        store = self._store_problem()
        if store:
            return store
        problem = self.jobs.problem()
        if problem is QueueProblem.NO_WORKER and self.workers.starting():
            return (QueueProblem.WORKERS_STARTING if self.workers.count > 1 else
                    QueueProblem.WORKER_STARTING)
        return problem

    STORE_CHECK_EVERY_S = 5.0     # every open tab asks with each refresh: probe the disk less

    def _store_problem(self) -> StoreError | None:
        now = time.monotonic()
        checked, problem = self._store_checked
        if now - checked > self.STORE_CHECK_EVERY_S:
            problem = self.store.unwritable()
            self._store_checked = (now, problem)
        return problem

    def shutdown(self) -> None:
        """Stop this server's workers (the app's shutdown, and the tests)."""
        self._ready.wait(60)
        self.workers.stop()
