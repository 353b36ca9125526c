"""Where points run: a pool of local processes, or a dask.distributed cluster.

Both give concurrent.futures-style futures (`done()`, `result()`, `cancel()`); `wait` returns
those finished among some; `capacity` is how many points to keep in flight. Nothing here
schedules, queues or talks over sockets itself: concurrent.futures and dask do.
"""

import concurrent.futures as cf
import ctypes
import os
import signal
import threading
import time

from .points import TEST_HOLD_VARIABLE, run_point

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
    if os.environ.get(TEST_HOLD_VARIABLE):  # kept pending for the held point (points.py)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    one_blas_thread()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def one_blas_thread():
    """Make this process's OpenBLAS single-threaded; returns how many libraries were told.

    Each worker is a process per core, and OpenBLAS starts a thread per core in each: N workers
    then run N^2 threads on N cores, and OpenBLAS's threads spin while they wait, so a 2-worker
    sweep ran 7 times slower than 1 worker (benchmarks/bench_sweep.py). Its variables
    (OPENBLAS_NUM_THREADS) are read when numpy is loaded, which in a forked worker is before
    it starts, so the libraries mapped into the process are told directly (Linux; elsewhere
    nothing is done). Each output of a matrix product is one thread's sum either way: the
    numbers do not change (the sweep tests compare them with one process's)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return 0
    told = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(1)
                told += 1
                break
    return told


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
