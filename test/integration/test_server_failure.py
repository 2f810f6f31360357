"""Server connections that die or cannot be made."""

import socket
import threading
import time

import psycopg
import pytest

from conftest import wait_for


def kill_backend_of(pg, conn_pid, delay):
    def run():
        time.sleep(delay)
        pg.query("SELECT pg_terminate_backend(%s)", (conn_pid,))
    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_server_killed_mid_query(pgwarden, pg, mode):
    p = pgwarden({"pool_mode": mode})
    c = p.connect()
    try:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        killer = kill_backend_of(pg, pid, 0.5)
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT pg_sleep(10)")
        assert time.monotonic() - t0 < 5
        killer.join(5)
    finally:
        c.close()
    # the pooler has dropped that server and the next client gets a fresh one
    with p.connect() as c2:
        assert c2.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
    p.assert_serving()


def test_idle_server_killed(pgwarden, pg):
    """A server killed while idle in the pool is not handed to the next
    client."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg.query("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.5)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_server_unreachable(pgwarden):
    """Nothing listens on the target port: the client gets an error quickly
    and the pooler keeps serving other databases."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    p = pgwarden({"query_wait_timeout": 3},
                 databases={"dead": f"host=127.0.0.1 port={dead_port} dbname=appdb"})
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        with p.connect(db="dead") as c:
            c.execute("SELECT 1")
    assert time.monotonic() - t0 < 6
    p.assert_serving()


def test_server_login_failure_is_reported(pgwarden, pg):
    """PostgreSQL rejects the login (database does not exist): the client
    sees PostgreSQL's error."""
    p = pgwarden(databases={"ghost": f"host=127.0.0.1 port={pg.port} dbname=ghost_db"})
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(db="ghost") as c:
            c.execute("SELECT 1")
    assert 'database "ghost_db" does not exist' in str(ei.value)
    p.assert_serving()


def test_all_servers_killed_under_load(pgwarden, pg):
    """Kill every pooled backend while clients are running queries; clients
    see errors or results, never hang, and the pooler recovers."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 4})
    stop = threading.Event()
    outcomes = []

    def worker():
        while not stop.is_set():
            try:
                with p.connect() as c:
                    while not stop.is_set():
                        c.execute("SELECT pg_sleep(0.05)")
                        outcomes.append("ok")
            except psycopg.Error:
                outcomes.append("err")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(3):
            pg.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'appuser'")
            time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not [t for t in threads if t.is_alive()], "a client hung"
    assert "ok" in outcomes
    p.assert_serving()
