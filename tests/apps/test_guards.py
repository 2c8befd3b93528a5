"""The guards' pure parts: request screening, params checks, the bounded pool."""

import asyncio

import pytest
from fastapi import HTTPException

from apps.radiotherapy.guards.concurrency import BoundedPool, torch_threads_per_worker
from apps.radiotherapy.guards.middleware import is_loopback, request_problem
from apps.radiotherapy.guards.params import check_infer_params, check_no_paths, json_object


def test_request_screening():
    assert request_problem("/infer/segmentation", "image=phantom_0000&output=json") is None
    assert "'..'" in request_problem("/session/..", "")
    assert "not a valid name" in request_problem("/datastore/label", "image=a&tag=..%2Fx")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("10.0.0.5") and not is_loopback(None)


def test_params_checks():
    assert json_object("") == {} and json_object('{"a": 1}') == {"a": 1}
    for text in ("[1]", '"s"', "3", "null"):
        with pytest.raises(ValueError, match="JSON object"):
            json_object(text)
    with pytest.raises(ValueError, match="server path"):
        check_no_paths({"nested": [{"label": "/etc/passwd"}]})
    check_infer_params({"foreground": [[1, 2, 3]], "background": [], "reset": True, "gtv": [[0, 0, 0]]}, {"gtv": 1})
    with pytest.raises(ValueError, match="integer voxel indices"):
        check_infer_params({"foreground": [[1, True, 3]]}, {"gtv": 1})


def test_the_pool_refuses_past_its_bound_and_frees_its_slots():
    async def scenario():
        pool = BoundedPool("inference", workers=1, queue=1)
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wait():
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
            return "done"

        first, second = asyncio.ensure_future(pool.run(wait)), asyncio.ensure_future(pool.run(lambda: "queued"))
        await asyncio.sleep(0)
        with pytest.raises(HTTPException) as busy:
            await pool.run(lambda: "third")
        assert busy.value.status_code == 503 and pool.in_flight == 2
        release.set()
        assert await first == "done" and await second == "queued" and pool.in_flight == 0

    asyncio.run(scenario())
    assert torch_threads_per_worker(2, cores=2) == 1 and torch_threads_per_worker(1, cores=8) == 8


def test_native_thread_pools_are_capped_per_worker():
    """numpy's BLAS pool starts with a thread per core; capped, every pool reports the cap (in a child
    process: the cap is process-wide and would slow the rest of the test run)."""
    import subprocess
    import sys

    script = (
        "import numpy, json\n"
        "from threadpoolctl import threadpool_info\n"
        "from apps.radiotherapy.guards.concurrency import limit_native_threads\n"
        "before = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "after = limit_native_threads(1)\n"
        "print(json.dumps([before, after, [p['num_threads'] for p in threadpool_info()]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    import json

    before, described, threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert before, "numpy has no BLAS pool to cap"
    assert threads and set(threads) == {1}
    assert any("blas" in line or "openblas" in line for line in described) and all(line.endswith(": 1") for line in described)
