"""The latency benchmark's first-request summary over fresh servers, and its refusals."""

import pytest

from benchmarks.latency import first_over_p50, main


def test_the_first_request_over_p50_is_summarised_over_the_servers():
    runs = [{"server_first_over_p50": v} for v in (1.4, 0.9, 2.1)]
    assert first_over_p50(runs) == {"median": 1.4, "min": 0.9, "max": 2.1, "all": [1.4, 0.9, 2.1]}


def test_no_fresh_server_is_refused():
    with pytest.raises(SystemExit):
        main(["--task", "din", "--starts", "0"])
