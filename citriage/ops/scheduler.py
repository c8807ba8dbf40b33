"""`citriage scheduler`: runs the periodic sweeps of citriage.ops.sweeps, which only
enqueue tasks.

Each sweep claims its time slot by inserting a PeriodicRun row (unique per
name and slot) in the same transaction as its enqueues, so when two
schedulers run, one of them does the sweep and the other finds the slot taken.
A sweep that fails (the database away, say) is logged and runs again next time.
"""

from __future__ import annotations

import contextlib
import logging
import time

from apscheduler.schedulers.blocking import BlockingScheduler
from django.db import IntegrityError, close_old_connections, transaction

from citriage.ops.models import PeriodicRun
from citriage.ops.sweeps import SWEEPS

logger = logging.getLogger(__name__)


def run_once(name: str, period: int, now: float | None = None) -> str | None:
    """Run sweep `name` for the current slot unless another scheduler already did."""
    slot = int((now if now is not None else time.time()) // period * period)
    sweep = next(s for s in SWEEPS if s.name == name)
    try:
        with transaction.atomic():
            run = PeriodicRun.objects.create(name=name, slot=slot)
            result = sweep.run()
            run.result = result[:500]
            run.save(update_fields=["result"])
    except IntegrityError:
        return None  # another scheduler has this slot
    logger.debug("sweep %s: %s", name, result)
    return result


def _tick(name: str, period: int) -> None:
    try:
        run_once(name, period)
    except Exception:  # a failed sweep is logged; the next tick tries again
        logger.exception("sweep %s failed", name)
    finally:
        close_old_connections()


def run_scheduler() -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    for sweep in SWEEPS:
        period = sweep.every()
        scheduler.add_job(
            _tick,
            "interval",
            seconds=period,
            args=[sweep.name, period],
            id=sweep.name,
            max_instances=1,
            coalesce=True,
        )
        _tick(sweep.name, period)  # once at start, then on every tick
    logger.info("scheduler started: %s", ", ".join(s.name for s in SWEEPS))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
