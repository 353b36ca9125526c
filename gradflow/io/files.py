"""Writing files so that nothing is ever half-written: a temporary name, then a rename.

A temporary is named `.gradflow-<host>-<pid>-<random><suffix>` beside its target: <host> a
short hash of the machine's name, <pid> the id of the process that writes it. Nothing is left
behind by an error or by SIGTERM (the temporary is removed, then the signal takes its usual
course); SIGKILL cannot be caught, so every atomic write first removes the temporaries, in the
folder it writes to, of processes of this machine that no longer exist. The host is in the name
because a folder may be shared by several machines (a sweep writing results from each): a pid
says nothing about a process elsewhere, so their temporaries are left to their own machine.
"""

import errno
import os
import re
import signal
import socket
import tempfile
import threading
import zlib
from contextlib import contextmanager

__all__ = ["atomic_path", "remove_stale_temporaries"]

_PREFIX = ".gradflow-"
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
_TEMPORARY = re.compile(re.escape(_PREFIX) + r"([0-9a-f]{8})-(\d+)-[a-z0-9_]+(\.[^.]*)?$")


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on error or
    SIGTERM removed.

    Raises OSError (before anything is written) when the folder of `path` is not writable,
    and FileNotFoundError, as `open` does, for an empty `path`.
    """
    path = os.fspath(path)
    if not path:
        raise FileNotFoundError(errno.ENOENT, "empty file name", path)
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(prefix=f"{_PREFIX}{_HOST}-{os.getpid()}-", suffix=suffix, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        with _removed_on_sigterm(tmp):
            yield tmp
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file is as any other
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def remove_stale_temporaries(folder):
    """Remove the `atomic_path` temporaries in `folder` whose writing process, on this
    machine, no longer exists (a run killed by SIGKILL, or by a power cut); returns the names
    removed.

    A temporary of a live process or of another machine is never touched, nor any other file.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.match(name)
        if match and match.group(1) == _HOST and not _alive(int(match.group(2))):
            if _remove(os.path.join(folder, name)):
                removed.append(name)
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: the process exists and belongs to someone else
        return True
    return True


def _remove(path):
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


@contextmanager
def _removed_on_sigterm(tmp):
    """While the block runs, SIGTERM first removes `tmp`, then does what it did before.

    Signal handlers can only be set from the main thread; elsewhere (and where SIGTERM is
    ignored) nothing is installed, and a temporary left by SIGTERM goes with the next write.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        yield
        return

    def handler(signum, frame):
        _remove(tmp)
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        else:  # the default action: die by the signal, so the parent sees SIGTERM (exit 143)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
