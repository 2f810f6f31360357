"""Cancel requests through the pooler."""

import threading
import time

import psycopg
import pytest


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_cancel_long_query(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect() as c:
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT pg_sleep(10)")
        finally:
            timer.cancel()
        elapsed = time.monotonic() - t0
        assert elapsed < 5, f"cancel took {elapsed:.1f}s"
        # The connection is still usable afterwards.
        assert c.execute("SELECT 5").fetchone()[0] == 5


def test_cancel_does_not_hit_other_clients(pgwarden):
    """A cancel aimed at one client must not cancel another client's query."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 2})
    with p.connect() as a, p.connect() as b:
        result = {}

        def run_b():
            try:
                result["b"] = b.execute("SELECT 1 FROM pg_sleep(1.5)").fetchone()[0]
            except Exception as e:
                result["b"] = e

        tb = threading.Thread(target=run_b)
        tb.start()
        timer = threading.Timer(0.3, a.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            a.execute("SELECT pg_sleep(10)")
        tb.join(10)
        assert result["b"] == 1


def test_cancel_idle_connection_is_harmless(pooler):
    with pooler.connect() as c:
        c.cancel()
        time.sleep(0.3)
        assert c.execute("SELECT 3").fetchone()[0] == 3
