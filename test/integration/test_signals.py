"""Signals (compat reference §3).  PgBouncer 1.18 treats SIGTERM as an
immediate shutdown; since 1.23 (the reference) SIGTERM waits for clients to
leave, so that part is pgwarden-only."""

import signal
import socket
import threading
import time

import psycopg
import pytest

from conftest import wait_for


def test_sighup_reloads(pooler, pg):
    pooler.configure(databases={"hup": f"host=127.0.0.1 port={pg.port} dbname=appdb"})
    pooler.signal(signal.SIGHUP)
    pooler.wait_log("got SIGHUP, re-reading config")
    with pooler.connect(db="hup") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_sigusr1_pauses_sigusr2_resumes(pooler):
    pooler.assert_serving()
    pooler.signal(signal.SIGUSR1)
    pooler.wait_log("got SIGUSR1, pausing all activity")
    result = {}

    def client():
        with pooler.connect() as c:
            result["v"] = c.execute("SELECT 1").fetchone()[0]

    t = threading.Thread(target=client)
    t.start()
    time.sleep(1.0)
    assert "v" not in result
    pooler.signal(signal.SIGUSR2)
    t.join(10)
    assert result.get("v") == 1


def test_sigterm_idle_exits(pooler):
    pooler.assert_serving()
    pooler.stopped_by_us = True
    pooler.signal(signal.SIGTERM)
    pooler.proc.wait(timeout=5)


def test_sigint_waits_for_servers_then_exits(pooler):
    """SIGINT: pause (let servers be released), then exit."""
    with pooler.connect() as c:
        c.execute("SELECT 1")
    pooler.stopped_by_us = True
    pooler.signal(signal.SIGINT)
    pooler.proc.wait(timeout=10)


@pytest.mark.pgwarden_only
def test_sigterm_waits_for_clients(pooler):
    """SIGTERM = SHUTDOWN WAIT_FOR_CLIENTS: stop accepting TCP clients, keep
    serving the connected ones, exit when they are gone."""
    c = pooler.connect()
    try:
        pooler.stopped_by_us = True
        pooler.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert pooler.alive()
        assert c.execute("SELECT 2").fetchone()[0] == 2
        with pytest.raises(OSError):
            socket.create_connection((pooler.host, pooler.port), timeout=2).close()
    finally:
        c.close()
    pooler.proc.wait(timeout=10)


@pytest.mark.pgwarden_only
def test_second_sigterm_fast_exit(pooler):
    c = pooler.connect()
    try:
        pooler.stopped_by_us = True
        pooler.signal(signal.SIGTERM)
        time.sleep(0.3)
        pooler.signal(signal.SIGTERM)
        pooler.proc.wait(timeout=5)
        pooler.wait_log("got SIGTERM while shutting down, fast exit")
    finally:
        c.close()


@pytest.mark.pgwarden_only
def test_sigusr2_ignored_during_shutdown(pooler):
    c = pooler.connect()
    try:
        pooler.stopped_by_us = True
        pooler.signal(signal.SIGTERM)
        time.sleep(0.3)
        pooler.signal(signal.SIGUSR2)
        pooler.wait_log("got SIGUSR2 while shutting down, ignoring")
    finally:
        c.close()
    pooler.proc.wait(timeout=10)


@pytest.mark.pgwarden_only
def test_sigquit_immediate_exit(pooler):
    c = pooler.connect()
    try:
        pooler.stopped_by_us = True
        pooler.signal(signal.SIGQUIT)
        pooler.proc.wait(timeout=5)
    finally:
        c.close()
