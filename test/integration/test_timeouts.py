"""Timeouts.  All are set to 1 second so each test stays short; PgBouncer's
janitor checks them about once a second, so waits allow a few seconds."""

import threading
import time

import psycopg
import pytest

from conftest import PASSWORDS, wait_for


def test_query_timeout(pgwarden):
    p = pgwarden({"query_timeout": 1})
    with p.connect() as c:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            c.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - t0 < 4
        assert "query timeout" in str(ei.value)
    p.wait_log("query timeout")
    # a query shorter than the timeout is fine, and the pooler still serves
    with p.connect() as c:
        assert c.execute("SELECT 1 FROM pg_sleep(0.2)").fetchone()[0] == 1


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_query_wait_timeout(pgwarden, mode):
    """pool_size=1; A holds the only server inside a transaction, B waits for
    a server and is disconnected with query_wait_timeout."""
    p = pgwarden({"pool_mode": mode, "default_pool_size": 1, "query_wait_timeout": 1})
    a = p.connect(autocommit=False)
    try:
        a.execute("SELECT 1")  # BEGIN + SELECT: A now owns the server
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            with p.connect() as b:
                b.execute("SELECT 2")
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed < 4, elapsed
        assert "query_wait_timeout" in str(ei.value)
        # A is unaffected
        assert a.execute("SELECT 3").fetchone()[0] == 3
        a.commit()
    finally:
        a.close()
    p.assert_serving()


# query_wait_notify is newer than PgBouncer 1.18 (1.25).
@pytest.mark.pgwarden_only
@pytest.mark.parametrize("notify_after", ["1", "0"])
def test_query_wait_notify(pgwarden, notify_after):
    """A client queued longer than query_wait_notify gets one NOTICE saying
    so (PgBouncer 1.25's text), then its answer once a server frees up; 0
    turns the notice off."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1, "query_wait_notify": notify_after})
    a = p.connect(autocommit=False)
    try:
        a.execute("SELECT 1")  # A owns the only server until it commits
        with p.connect() as b:
            notices = []
            b.add_notice_handler(lambda diag: notices.append((diag.severity_nonlocalized, diag.sqlstate,
                                                              diag.message_primary)))
            threading.Timer(2.5, a.commit).start()
            assert b.execute("SELECT 2").fetchone()[0] == 2
            expected = [("NOTICE", "00000", "No server connection available in postgres backend, "
                                            "client being queued")]
            assert notices == (expected if notify_after == "1" else [])
    finally:
        a.close()


def test_client_idle_timeout(pgwarden):
    p = pgwarden({"client_idle_timeout": 1, "pool_mode": "transaction"})
    with p.connect() as c:
        c.execute("SELECT 1")
        time.sleep(2.5)
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")
    p.wait_log("client_idle_timeout")
    p.assert_serving()


def test_client_idle_timeout_ignores_session_clients_holding_a_server(pgwarden):
    """PgBouncer only times out clients that have no server linked, so in
    session mode (client keeps its server) client_idle_timeout never fires."""
    p = pgwarden({"client_idle_timeout": 1, "pool_mode": "session"})
    with p.connect() as c:
        c.execute("SELECT 1")
        time.sleep(2.5)
        assert c.execute("SELECT 2").fetchone()[0] == 2


def test_client_idle_timeout_spares_busy_clients(pgwarden):
    p = pgwarden({"client_idle_timeout": 1, "pool_mode": "transaction"})
    with p.connect() as c:
        for _ in range(5):
            c.execute("SELECT pg_sleep(0.5)")
        assert c.execute("SELECT pg_sleep(2), 1").fetchone()[1] == 1


def test_idle_transaction_timeout(pgwarden):
    p = pgwarden({"idle_transaction_timeout": 1})
    c = p.connect(autocommit=False)
    try:
        c.execute("SELECT 1")  # now idle in transaction
        time.sleep(2.5)
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")
    finally:
        c.close()
    p.wait_log("idle transaction timeout")
    # outside a transaction, idling is fine
    with p.connect() as c2:
        c2.execute("SELECT 1")
        time.sleep(2)
        assert c2.execute("SELECT 2").fetchone()[0] == 2


def test_client_login_timeout_partial_packet(pgwarden):
    """A client that sends part of a startup packet and then nothing is
    closed after client_login_timeout."""
    p = pgwarden({"client_login_timeout": 1})
    with p.raw() as r:
        r.send(b"\x00\x00\x00")  # 3 of the 4 length bytes
        t0 = time.monotonic()
        r.wait_closed(timeout=5)
        assert time.monotonic() - t0 < 5
    p.assert_serving()


def test_client_login_timeout_silent_client(pgwarden):
    """A client that connects and sends nothing at all (tcp_defer_accept off
    so the pooler sees the connection)."""
    p = pgwarden({"client_login_timeout": 1, "tcp_defer_accept": 0})
    with p.raw() as r:
        r.wait_closed(timeout=5)
    p.assert_serving()


def test_tcp_defer_accept_follows_a_reload(pgwarden):
    """tcp_defer_accept applies to the listening sockets at a reload: with it
    off a silent connection is accepted (a login client), with it on the
    kernel holds a silent connection back until it sends something."""
    p = pgwarden({"tcp_defer_accept": 0, "client_login_timeout": 60})

    def login_clients():
        return next(int(r["items"]) for r in p.admin_rows("SHOW LISTS") if r["list"] == "login_clients")

    first = p.raw()
    wait_for(lambda: login_clients() == 1, timeout=3, what="the silent connection accepted")
    p.configure({"tcp_defer_accept": 1})
    p.reload()
    second = p.raw()
    time.sleep(1.0)
    assert login_clients() == 1
    second.login("appuser", "appdb", PASSWORDS["appuser"])  # data arrives: accepted and served
    assert second.scalar("SELECT 1") == "1"
    first.close()
    second.close()


def test_client_login_timeout_during_auth(pgwarden):
    """A client that sends a startup packet but never answers the password
    request."""
    p = pgwarden({"client_login_timeout": 1, "auth_type": "md5"})
    with p.raw() as r:
        r.startup({"user": "appuser", "database": "appdb"})
        mtype, _ = r.recv_msg()
        assert mtype == b"R"
        r.wait_closed(timeout=5)
    p.assert_serving()


def test_server_idle_timeout(pgwarden, pg):
    p = pgwarden({"server_idle_timeout": 1, "server_lifetime": 3600})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pid in [b[0] for b in pg.backends(user="appuser")]
    wait_for(lambda: pid not in [b[0] for b in pg.backends(user="appuser")], timeout=6,
             what="idle server connection to be closed")


def test_server_lifetime(pgwarden, pg):
    p = pgwarden({"server_lifetime": 1, "server_idle_timeout": 0})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    wait_for(lambda: pid not in [b[0] for b in pg.backends(user="appuser")], timeout=6,
             what="server connection older than server_lifetime to be closed")
    with p.connect() as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_server_lifetime_does_not_cut_active_session(pgwarden, pg):
    """server_lifetime closes only *unused* servers: a session that keeps its
    server keeps it."""
    p = pgwarden({"server_lifetime": 1, "server_idle_timeout": 0})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        time.sleep(2.5)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_server_connect_timeout_unreachable(pgwarden):
    """A database whose server does not answer: the client gets an error
    instead of hanging forever, and other databases keep working."""
    import socket
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(1)  # accepts TCP but never speaks
    port = black_hole.getsockname()[1]
    try:
        p = pgwarden({"server_connect_timeout": 1, "query_wait_timeout": 3},
                     databases={"hole": f"host=127.0.0.1 port={port} dbname=x"})
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            with p.connect(db="hole") as c:
                c.execute("SELECT 1")
        assert time.monotonic() - t0 < 8
        p.assert_serving()
    finally:
        black_hole.close()


@pytest.mark.pgwarden_only  # transaction_timeout is newer than PgBouncer 1.18
def test_transaction_timeout(pgwarden):
    """A transaction open longer than transaction_timeout is ended, busy or
    idle; short transactions are untouched."""
    p = pgwarden({"transaction_timeout": 1})
    c = p.connect(autocommit=False)
    try:
        c.execute("SELECT 1")
        time.sleep(0.6)
        c.execute("SELECT 1")  # still inside the limit, and not idle long
        time.sleep(1.2)
        with pytest.raises(psycopg.OperationalError) as ei:
            c.execute("SELECT 1")
            c.commit()
        assert "transaction timeout" in str(ei.value)
    finally:
        c.close()
    p.wait_log("transaction timeout")
    with p.connect(autocommit=False) as c2:
        c2.execute("SELECT 1")
        c2.commit()
        time.sleep(1.5)  # idle outside a transaction: fine
        assert c2.execute("SELECT 2").fetchone()[0] == 2


@pytest.mark.pgwarden_only  # per-user timeouts are newer than PgBouncer 1.18
def test_query_timeout_per_user(pgwarden):
    """A [users] query_timeout applies to that user only."""
    p = pgwarden(users={"appuser": "query_timeout=1"})
    with p.connect(user="appuser") as c:
        with pytest.raises(psycopg.OperationalError) as ei:
            c.execute("SELECT pg_sleep(4)")
        assert "query timeout" in str(ei.value)
    with p.connect(user="md5user") as c:
        assert c.execute("SELECT 1 FROM pg_sleep(1.5)").fetchone()[0] == 1


@pytest.mark.pgwarden_only  # per-user transaction_timeout is newer than PgBouncer 1.18 (1.25)
def test_transaction_timeout_per_user(pgwarden):
    """A [users] transaction_timeout ends that user's long transactions only."""
    p = pgwarden(users={"appuser": "transaction_timeout=1"})
    with p.connect(user="appuser", autocommit=False) as c:
        c.execute("SELECT 1")
        time.sleep(1.5)
        with pytest.raises(psycopg.OperationalError) as ei:
            c.execute("SELECT 1")
        assert "transaction timeout" in str(ei.value)
    with p.connect(user="md5user", autocommit=False) as c:
        c.execute("SELECT 1")
        time.sleep(1.5)
        assert c.execute("SELECT 2").fetchone()[0] == 2
        c.commit()


def held_pool_wait(p, db, user):
    """With the only server of (db, user)'s pool held in a transaction by
    one client, how another client's query ends: the error text, or 'ran'."""
    holder = p.connect(db=db, user=user, autocommit=False)
    release = threading.Timer(3, holder.commit)
    try:
        holder.execute("SELECT 1")
        t0 = time.monotonic()
        try:
            with p.connect(db=db, user=user) as waiter:
                release.start()
                waiter.execute("SELECT 2")
            return "ran", time.monotonic() - t0
        except psycopg.OperationalError as e:
            return str(e), time.monotonic() - t0
    finally:
        release.cancel()
        if release.ident:
            release.join()
        holder.close()


# query_wait_timeout in [databases] and [users] is newer than PgBouncer 1.18
@pytest.mark.pgwarden_only
def test_query_wait_timeout_per_database_and_user(pgwarden, pg):
    """The [users] value wins over the [databases] one, which wins over the
    global one (off here)."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 0},
                 databases={"quick": f"host=127.0.0.1 port={pg.port} dbname=appdb query_wait_timeout=1"},
                 users={"md5user": "query_wait_timeout=2"})
    outcome, elapsed = held_pool_wait(p, "quick", "appuser")
    assert "query_wait_timeout" in outcome and 0.8 < elapsed < 2.8, (outcome, elapsed)
    outcome, elapsed = held_pool_wait(p, "appdb", "appuser")
    assert outcome == "ran", outcome  # the global setting: no limit
    outcome, elapsed = held_pool_wait(p, "quick", "md5user")
    assert "query_wait_timeout" in outcome and 1.8 < elapsed, (outcome, elapsed)
