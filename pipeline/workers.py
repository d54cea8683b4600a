"""`--jobs N`: the parent and N-1 helper processes share the batches of a run.

Each process claims the next batch from one shared counter. A helper processes the batches it
claims and hands each back in shared memory (batch.Spilled). The parent yields the batches in
order and, whenever the next one is still with a helper, claims one and processes it itself.
So N processes do the work on N cores, the parent doing less of it by as much as its writing
takes, and only the helpers' batches pay the hand-over. It replaced a pool of N workers beside
the parent (`multiprocessing.Pool.imap`): as fast (1.01x in interleaved rounds on the whole
corpus; both at this machine's limit, README "Benchmarks"), one process fewer, and a pool
whose worker is killed loses the task and waits for it for ever.

A helper that dies (killed, out of memory, a crash in a C extension) costs the documents of the
batch it was on, each of which gets an error row; the others finish the run. An exception in a
helper's batch fails the run, as it would in the parent's.
"""
from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import shutil
import signal
import traceback
from pathlib import Path

from .batch import Packed, Spilled, spill_folder
from .process import error_result

# Batches the parent may hold, processed by itself, while it waits for the next one from a
# helper: enough to keep it busy behind a long batch (one large document), few enough to bound
# its memory (a full batch of corpus text is 1.5-1.9 MB of Arrow tables).
OWN_AHEAD = 8

class SharedResults:
    """work(paths) -> Packed for every batch, in order, done by this process and by `helpers`
    others: forked (they inherit what work needs), or spawned, calling init() first. The helpers
    start here, before the run writes anything (no writer thread busy at the fork); close()
    stops them and removes their shared memory, however far the run got."""

    def __init__(self, batches: list[list[str]], helpers: int, work, init=None):
        fork = "fork" in mp.get_all_start_methods()
        ctx = mp.get_context("fork" if fork else "spawn")
        self.counter = ctx.Value("q", 0)                # the next batch nobody has claimed
        self.current = ctx.Array("q", [-1] * helpers)   # the batch each helper is on, or -1
        self.folder = spill_folder()
        self.live: dict = {}                            # a helper's pipe -> (its index, process)
        self.n = len(batches)
        try:
            for h in range(helpers):
                recv, send = ctx.Pipe(duplex=False)
                # forked, a helper has its arguments as they are in memory: nothing is pickled
                args = (h, self.counter, self.current, send, str(self.folder), work, batches,
                        None if fork else init)
                proc = ctx.Process(target=_helper, args=args, daemon=True, name=f"pipeline-helper-{h}")
                proc.start()
                send.close()
                self.live[recv] = (h, proc)
        except BaseException:
            self.close()
            raise
        self._results = _Run(batches, work, self.counter, self.current, self.live).in_order()

    def __iter__(self):
        return self

    def __next__(self) -> Packed:
        try:
            return next(self._results)
        except BaseException:               # the end, or an error: nothing to wait for
            self.close()
            raise

    def close(self) -> None:
        if hasattr(self, "_results"):
            self._results.close()
        with self.counter.get_lock():
            self.counter.value = self.n                 # nothing more to claim
        for _, proc in self.live.values():
            proc.terminate()
        for conn, (_, proc) in self.live.items():
            proc.join()
            conn.close()
        self.live.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _claim(counter, n: int, current=None, h: int = 0) -> int | None:
    # A helper killed inside this lock would leave it held: the window is a few instructions.
    with counter.get_lock():
        k = counter.value
        if k >= n:
            return None
        counter.value = k + 1
        if current is not None:
            current[h] = k
        return k


def _helper(h, counter, current, send, folder, work, batches, init) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle
    if init is not None:                             # spawned: nothing inherited
        init()
    while (k := _claim(counter, len(batches), current, h)) is not None:
        try:
            send.send((k, Spilled(work(batches[k]), folder)))
        except BaseException as e:                   # the parent raises it: see _Run.take
            send.send((k, RuntimeError(f"in a helper process:\n{traceback.format_exc()}")))
            raise SystemExit(1) from e
        current[h] = -1
    send.close()


class _Run:
    def __init__(self, batches, work, counter, current, live):
        self.batches, self.work, self.counter, self.current, self.live = (
            batches, work, counter, current, live)
        self.ready: dict[int, Packed | Spilled | BaseException] = {}
        self.own: set[int] = set()          # of ready, the batches the parent processed
        self.next = 0                       # the next batch to yield
        self.died: list[int] = []           # exit codes of helpers that died

    def in_order(self):
        n = len(self.batches)
        for k in range(n):
            while k not in self.ready:
                self.receive(timeout=0)
                if k in self.ready:
                    break
                j = _claim(self.counter, n) if len(self.own) < OWN_AHEAD else None
                if j is not None:
                    self.ready[j] = self.work(self.batches[j])
                    self.own.add(j)
                elif self.live:
                    self.receive(timeout=None)
                else:     # claimed by a helper that died before it said which: its batch
                    self.ready[k] = _lost(self.batches[k], self.died[-1] if self.died else 1)
            self.next = k + 1
            yield self.take(k)

    def take(self, k: int) -> Packed:
        got = self.ready.pop(k)
        self.own.discard(k)
        if isinstance(got, BaseException):
            raise got
        return got.load() if isinstance(got, Spilled) else got

    def receive(self, timeout: float | None) -> None:
        """What the helpers have sent. A helper whose pipe closes has finished, or died."""
        for conn in mpc.wait(list(self.live), timeout):
            try:
                k, got = conn.recv()
            except EOFError:
                h, proc = self.live.pop(conn)
                conn.close()
                proc.join()
                lost = self.current[h]           # -1, or the batch it had (or had just sent)
                if proc.exitcode != 0:
                    self.died.append(proc.exitcode)
                    if lost >= self.next and lost not in self.ready:
                        self.ready[lost] = _lost(self.batches[lost], proc.exitcode)
                continue
            self.ready[k] = got


def _lost(paths: list[str], exitcode: int) -> Packed:
    """Error rows for the documents of a batch whose helper died."""
    how = f"signal {-exitcode}" if exitcode < 0 else f"exit code {exitcode}"
    why = (f"the worker process died ({how}) while processing this document's batch of "
           f"{len(paths)}; run this file alone to see whether it is the cause")
    return Packed([(error_result(Path(p), f"{p}: {why}"), {}) for p in paths])
