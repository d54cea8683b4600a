"""Beyond one machine: the same per-document function mapped with dask.distributed.

Optional (`pip install .[dask]`). Documents go out in batches (one task per batch, so the
engine is built once per worker process, not per document); results come back in input order
with a bounded number of batches in flight, and the client writes them as a partitioned
Parquet dataset (DIR/<table>/part-NNNNN.parquet). Workers must see the input paths (a shared
file system when the scheduler is remote).
"""
from __future__ import annotations

from collections import deque
from pathlib import Path

BATCH = 32
IN_FLIGHT = 8


def dask_results(paths: list[Path], opts):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit("pipeline: --engine dask needs the dask extra: pip install '.[dask]'") from None
    from .run import process_batch

    cluster = None
    if opts.scheduler:
        client = Client(opts.scheduler)
    else:
        n = max(1, opts.jobs or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    try:
        batches = [[str(p) for p in paths[i:i + BATCH]] for i in range(0, len(paths), BATCH)]
        pending: deque = deque()
        args = (str(opts.rules_dir), opts.reference, opts.segmenter)
        it = iter(batches)
        for b in it:
            pending.append(client.submit(process_batch, b, *args, pure=False))
            if len(pending) >= IN_FLIGHT:
                break
        while pending:
            fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(client.submit(process_batch, nxt, *args, pure=False))
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
