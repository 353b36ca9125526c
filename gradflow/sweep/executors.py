"""Where points run: a pool of local processes, or a dask.distributed cluster.

Both give concurrent.futures-style futures (`done()`, `result()`, `cancel()`); `wait` returns
those finished among some; `capacity` is how many points to keep in flight. Nothing here
schedules, queues or talks over sockets itself: concurrent.futures and dask do.
"""

import concurrent.futures as cf
import os
import signal
import threading
import time

from .points import run_point

__all__ = ["LocalExecutor", "DaskExecutor", "WorkerDied", "DIED"]

DIED = "the worker process died (killed or out of memory)"
CONNECT_SECONDS = 10  # how long to try to reach a dask scheduler


class WorkerDied(Exception):
    """The process running a point died; raised by `LocalExecutor.result` for every point the
    broken pool held (run.py then finds which one it was) and by `DaskExecutor.result` for a
    point dask gave up on (KilledWorker)."""


PARENT_POLL_SECONDS = 0.5


def _init_worker(parent):
    """Ctrl-C reaches the whole process group: the sweep (the parent) decides what stops, and
    workers do not print a traceback each. A worker whose sweep was killed (SIGKILL cannot be
    caught, and ProcessPoolExecutor's workers would wait for work forever) ends itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor:
    """A `ProcessPoolExecutor` of `workers` processes; rebuilt by `restart` after one died."""
    isolates_deaths = True  # a death breaks the whole pool: run.py finds the point itself

    def __init__(self, workers=None):
        self.workers = workers or os.cpu_count() or 1
        self.capacity = self.workers
        self._pool = None
        self.restart()

    def describe(self):
        return f"{self.workers} local process{'es' if self.workers != 1 else ''}"

    def restart(self, workers=None):
        """A fresh pool (of `workers` processes, default as before); the old one is shut down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = cf.ProcessPoolExecutor(workers or self.workers, initializer=_init_worker,
                                            initargs=(os.getpid(),))

    def submit(self, task):
        return self._pool.submit(run_point, task)

    def wait(self, futures, timeout=None):
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED).done

    def result(self, future):
        try:
            return future.result()
        except cf.process.BrokenProcessPool:
            raise WorkerDied(DIED) from None

    def shutdown(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Points on a dask.distributed cluster through `distributed.Client(address)` (or a given
    client, e.g. on a `LocalCluster`); keeps twice the cluster's threads in flight."""
    isolates_deaths = False  # dask reruns a lost task itself and names the one it gave up on

    def __init__(self, address=None, client=None):
        try:
            import distributed
        except ImportError:
            raise ImportError("--scheduler needs dask.distributed: pip install "
                              "'gradflow[distributed]'") from None
        self._distributed = distributed
        self._own = client is None
        if client is None:
            try:
                client = distributed.Client(address, timeout=CONNECT_SECONDS)
            except (OSError, TimeoutError) as err:
                raise ConnectionError(f"cannot reach the dask scheduler at {address} "
                                      f"({err})") from None
        self.client = client
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise ConnectionError(f"the dask scheduler at {client.scheduler.address} has no "
                                  "workers: start some with `dask worker ADDRESS`")
        self.capacity = 2 * threads

    def describe(self):
        return f"the dask cluster at {self.client.scheduler.address}"

    def submit(self, task):
        # pure=False: dask must not merge two submissions; every point is its own task.
        return self.client.submit(run_point, task, pure=False)

    def wait(self, futures, timeout=None):
        try:
            return set(self._distributed.wait(list(futures), timeout=timeout,
                                              return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return set()

    def result(self, future):
        try:
            return future.result()
        except self._distributed.KilledWorker:
            raise WorkerDied(DIED) from None

    def restart(self, workers=None):
        """Dask replaces lost workers itself; nothing to rebuild."""

    def shutdown(self):
        if self._own:
            self.client.close()
