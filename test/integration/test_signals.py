"""Signals, as PgBouncer 1.18 handles them (compat reference §3):

  SIGHUP   reload the config and reopen the log file (logrotate)
  SIGINT   safe shutdown: pause, exit once the servers are released
  SIGTERM  immediate shutdown ("got SIGTERM, fast exit", exit status 1)
  SIGUSR1  pause, SIGUSR2 resume

pgwarden adds what later versions do where 1.18 has nothing: a second SIGINT
exits at once, SIGQUIT exits at once, SIGUSR2 is ignored during a shutdown,
and TCP listening stops when the shutdown starts.  Those tests are
pgwarden-only; the rest run against PgBouncer 1.18 too."""

import contextlib
import signal
import socket
import threading
import time

import psycopg
import pytest

from conftest import wait_for


def query_in_thread(conn, sql):
    result = {}

    def run():
        try:
            result["value"] = conn.execute(sql).fetchone()[0]
        except Exception as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def stop_by_signal(p, sig):
    """Send sig; the teardown will not count the exit as a crash."""
    p.stopped_by_us = True
    p.signal(sig)


@contextlib.contextmanager
def shutting_down(p):
    """A session-mode client holding a server, then SIGINT: the pooler is
    shutting down, waiting for that server, until the block ends."""
    with p.connect() as c:
        c.execute("SELECT 1")
        stop_by_signal(p, signal.SIGINT)
        p.wait_log("got SIGINT, shutting down")
        yield c


# ---------------------------------------------------------------------------
# SIGHUP
# ---------------------------------------------------------------------------

def test_sighup_reloads(pooler, pg):
    pooler.configure(databases={"hup": f"host=127.0.0.1 port={pg.port} dbname=appdb"})
    pooler.signal(signal.SIGHUP)
    pooler.wait_log("got SIGHUP, re-reading config")
    with pooler.connect(db="hup") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.parametrize("bad_config", [False, True], ids=["good-config", "bad-config"])
def test_sighup_reopens_logfile(pgwarden, bad_config):
    """logrotate moves the file away and sends SIGHUP: the pooler writes to
    a new file of the same name, even when the new config is invalid."""
    p = pgwarden({"logfile": "@DIR@/pooler-file.log"})
    logfile = p.dir / "pooler-file.log"
    p.assert_serving()
    assert "login attempt" in logfile.read_text()
    logfile.rename(p.dir / "pooler-file.log.1")
    if bad_config:
        p.configure({"no_such_setting": "1"})
    p.signal(signal.SIGHUP)
    p.wait_log("got SIGHUP, re-reading config")  # stderr gets every line too
    p.assert_serving()
    # PgBouncer opens the new file at the next line, pgwarden at once.
    wait_for(lambda: logfile.exists() and "login attempt" in logfile.read_text(),
             what="new lines in a new log file")


# ---------------------------------------------------------------------------
# SIGUSR1 / SIGUSR2
# ---------------------------------------------------------------------------

def test_sigusr1_pauses_sigusr2_resumes(pgwarden):
    """Transaction mode, so that the client needs a server for each query."""
    p = pgwarden({"pool_mode": "transaction"})
    with p.connect() as c:
        c.execute("SELECT 1")
        p.signal(signal.SIGUSR1)
        p.wait_log("got SIGUSR1, pausing all activity")
        t, result = query_in_thread(c, "SELECT 2")
        time.sleep(1.0)
        assert not result, "query ran while paused"
        p.signal(signal.SIGUSR2)
        p.wait_log("got SIGUSR2, continuing from PAUSE")
        t.join(10)
        assert result.get("value") == 2


def test_sigusr_log_lines_when_nothing_to_do(pooler):
    pooler.signal(signal.SIGUSR2)
    pooler.wait_log("got SIGUSR2, but not paused/suspended")
    pooler.signal(signal.SIGUSR1)
    pooler.wait_log("got SIGUSR1, pausing all activity")
    pooler.signal(signal.SIGUSR1)
    pooler.wait_log("got SIGUSR1, but already paused/suspended")
    pooler.signal(signal.SIGUSR2)
    pooler.wait_log("got SIGUSR2, continuing from PAUSE")
    pooler.assert_serving()


# ---------------------------------------------------------------------------
# SIGTERM: immediate shutdown
# ---------------------------------------------------------------------------

def test_sigterm_fast_exit(pooler):
    """1.18: SIGTERM exits at once, even with a transaction in progress."""
    with pooler.connect(autocommit=False) as c:
        c.execute("SELECT 1")  # in a transaction
        stop_by_signal(pooler, signal.SIGTERM)
        assert pooler.proc.wait(timeout=5) == 1
        pooler.wait_log("got SIGTERM, fast exit")
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 2")


def test_sigterm_removes_pidfile(pgwarden):
    p = pgwarden({"pidfile": "@DIR@/sigterm.pid"})
    pidfile = p.dir / "sigterm.pid"
    assert int(pidfile.read_text()) == p.pid
    stop_by_signal(p, signal.SIGTERM)
    p.proc.wait(timeout=5)
    assert not pidfile.exists()


# ---------------------------------------------------------------------------
# SIGINT: safe shutdown
# ---------------------------------------------------------------------------

def test_sigint_idle_exits(pooler):
    pooler.assert_serving()
    stop_by_signal(pooler, signal.SIGINT)
    assert pooler.proc.wait(timeout=5) == 0
    pooler.wait_log("got SIGINT, shutting down")
    pooler.wait_log("server connections dropped, exiting")


def test_sigint_waits_for_servers_then_exits(pooler):
    """Session mode: the server is released when its client leaves."""
    with shutting_down(pooler) as c:
        time.sleep(1.0)
        assert pooler.alive()
        assert c.execute("SELECT 2").fetchone()[0] == 2  # still served
    assert pooler.proc.wait(timeout=10) == 0
    pooler.wait_log("server connections dropped, exiting")


def test_sigint_waits_for_transaction(pgwarden):
    """Transaction mode: the pooler exits when the transaction ends, even
    though the client stays connected."""
    p = pgwarden({"pool_mode": "transaction"})
    with p.connect() as c:
        c.execute("BEGIN")
        c.execute("SELECT 1")
        stop_by_signal(p, signal.SIGINT)
        time.sleep(1.0)
        assert p.alive()
        c.execute("COMMIT")
        assert p.proc.wait(timeout=10) == 0


@pytest.mark.pgwarden_only
def test_second_sigint_fast_exit(pooler):
    with shutting_down(pooler):
        pooler.signal(signal.SIGINT)
        assert pooler.proc.wait(timeout=5) == 0
        pooler.wait_log("got SIGINT while shutting down, fast exit")


@pytest.mark.pgwarden_only
def test_sigint_stops_tcp_listening(pooler):
    """New TCP clients are refused during the shutdown (1.18 would queue
    them until it exits)."""
    with shutting_down(pooler):
        with pytest.raises(OSError):
            socket.create_connection((pooler.host, pooler.port), timeout=2).close()
    pooler.proc.wait(timeout=10)


@pytest.mark.pgwarden_only
def test_sigusr2_ignored_during_shutdown(pooler):
    with shutting_down(pooler):
        pooler.signal(signal.SIGUSR2)
        pooler.wait_log("got SIGUSR2 while shutting down, ignoring")
    assert pooler.proc.wait(timeout=10) == 0


@pytest.mark.pgwarden_only
def test_sigquit_immediate_exit(pooler):
    with pooler.connect():
        stop_by_signal(pooler, signal.SIGQUIT)
        assert pooler.proc.wait(timeout=5) == 0
        pooler.wait_log("got SIGQUIT, fast exit")
