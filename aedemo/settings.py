"""The server's settings, read from the environment (the README's table of AEDEMO_* names), so a
teacher changes them without editing code. Read once, when the Service starts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aedemo import taskqueue


def env_int(name: str, default: int, least: int = 1) -> int:
    try:
        return max(least, int(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    """From the environment, so a teacher can change them without editing code."""

    dataset: str = "mnist"           # AEDEMO_DATASET: the dataset the app and its zoo use
    redis_url: str | None = None     # AEDEMO_REDIS_URL: the queue in Redis, shared by servers
    workers: int = 1                 # AEDEMO_WORKERS: this server's own training workers
    student_cap: int = 3             # AEDEMO_STUDENT_CAP: waiting or running jobs per student
    queue_cap: int = 20              # AEDEMO_QUEUE_CAP: students' jobs waiting, all together
    address_cap: int = 3             # AEDEMO_ADDRESS_CAP: the same per computer; 0 turns it off
    zoo: bool = True                 # AEDEMO_ZOO=0 turns off the first-start zoo
    # AEDEMO_JOB_MINUTES: the most training a student's job may take, by its estimate, so that
    # three long jobs cannot hold the only worker for the lesson; 0 turns it off
    job_minutes: int = 5

    @classmethod
    def from_env(cls) -> Settings:
        redis_url = taskqueue.redis_url()
        # With the queue in Redis, workers usually run elsewhere: none here unless asked for.
        # Embedded, one on 2 cores: the server's pages need the other.
        workers = env_int("AEDEMO_WORKERS", 0 if redis_url else cls.workers, least=0)
        return cls(dataset=os.environ.get("AEDEMO_DATASET", cls.dataset), redis_url=redis_url,
                   workers=workers,
                   student_cap=env_int("AEDEMO_STUDENT_CAP", cls.student_cap),
                   queue_cap=env_int("AEDEMO_QUEUE_CAP", cls.queue_cap),
                   address_cap=env_int("AEDEMO_ADDRESS_CAP", cls.address_cap, least=0),
                   zoo=os.environ.get("AEDEMO_ZOO", "1") not in ("0", "false", "no"),
                   job_minutes=env_int("AEDEMO_JOB_MINUTES", cls.job_minutes, least=0))
