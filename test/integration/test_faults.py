"""Fault injection: PostgreSQL crashing under load, slow servers, clients
that vanish or stop reading, connect storms, SIGTERM under load and an
audit file that stops being writable.

Every test is bounded in time and uses loopback only.  The core tests run
against PgBouncer too (the reference behaviour); the audit ones are
pgwarden's.
"""

import os
import resource
import shutil
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import TMP_ROOT, wait_for
from pgproto import RawConn, message, parse_error_fields, startup_packet
from test_audit import audited  # noqa: F401  (fixture)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Load:
    """Client threads running short statements until stopped; each
    statement is tagged so that the audit log can be checked against what
    clients were answered.  A client that gets an error reconnects."""

    def __init__(self, pooler, clients=8, sql="SELECT '{}'::text, pg_sleep(0.005)"):
        self.pooler, self.sql = pooler, sql
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answered = []	# (client, tag, monotonic time)
        self.errors = []	# (client, sqlstate or class name, monotonic time)
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(clients)]

    def run(self, n):
        i = 0
        while not self.stop_flag.is_set():
            try:
                with self.pooler.connect(connect_timeout=5) as c:
                    while not self.stop_flag.is_set():
                        tag = f"c{n}-{i}"
                        i += 1
                        c.execute(self.sql.format(tag))
                        with self.lock:
                            self.answered.append((n, tag, time.monotonic()))
            except psycopg.Error as e:
                with self.lock:
                    self.errors.append((n, getattr(e, "sqlstate", None) or type(e).__name__, time.monotonic()))
                time.sleep(0.1)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)
        assert not [t for t in self.threads if t.is_alive()], "a client hung"

    def answered_since(self, t0):
        with self.lock:
            return {n for n, _, t in self.answered if t > t0}


def unaudited(audit, load, wait=5.0):
    """Tags of answered statements the audit file lacks (after waiting up to
    `wait` seconds for the writer's batches)."""
    deadline = time.monotonic() + wait
    while True:
        recorded = {r["sql"] for r in audit.rows("SELECT sql FROM statements")}
        missing = [tag for _, tag, _ in load.answered if load.sql.format(tag) not in recorded]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# PostgreSQL dies under load
# ---------------------------------------------------------------------------

def crash_and_restart_under_load(pooler, pg, down_seconds=2.0):
    """Crash PostgreSQL (pg_ctl stop -m immediate) under load from 8
    clients, keep it down for a while, restart it.  Returns the Load after
    every client has been answered again."""
    with Load(pooler) as load:
        wait_for(lambda: len(load.answered) > 50, timeout=10, what="load to start")
        crashed_at = time.monotonic()
        pg.crash()
        try:
            time.sleep(down_seconds)
        finally:
            pg.restart()
        restarted_at = time.monotonic()
        wait_for(lambda: load.answered_since(restarted_at) == set(range(8)), timeout=30,
                 what="every client to be answered after the restart")
    assert [e for e in load.errors if e[2] > crashed_at], "no client saw the crash"
    return load


def test_postgres_crash_under_load_recovers(pgwarden, pg):
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 4, "query_wait_timeout": 5})
    crash_and_restart_under_load(p, pg)
    p.assert_serving()
    # the pool holds live servers only: every one answers
    pools = [r for r in p.admin_rows("SHOW POOLS") if r["database"] == "appdb"]
    assert pools and int(pools[0]["cl_waiting"]) == 0, pools
    with p.connect() as c:
        for _ in range(8):
            assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.pgwarden_only
def test_postgres_crash_is_audited(audited, pg):  # noqa: F811
    p, a = audited(overrides={"pool_mode": "transaction", "default_pool_size": 4, "query_wait_timeout": 5})
    load = crash_and_restart_under_load(p, pg)
    missing = unaudited(a, load)
    assert not missing, f"{len(missing)} answered statements not audited: {missing[:5]}"
    failed = a.wait_rows("SELECT sqlstate, error FROM statements WHERE sqlstate IS NOT NULL")
    assert failed, "the statements the crash broke are not recorded as failures"
    assert {(r["sqlstate"], r["error"]) for r in failed} <= {
        ("08006", "server conn crashed?"), ("57P01", "terminating connection due to administrator command"),
        ("57P01", "terminating connection due to immediate shutdown command")}, failed
    ended = a.wait_rows("SELECT end_reason FROM sessions WHERE end_reason IS NOT NULL")
    assert ended
    p.stop()
    assert a.verify().returncode == 0


# ---------------------------------------------------------------------------
# a slow server
# ---------------------------------------------------------------------------

def fake_login(conn):
    """Answer a PostgreSQL stand-in's login: the startup packet is read, any
    user is let in with a plausible set of parameters."""
    def msg(kind, body=b""):
        return kind + struct.pack("!I", len(body) + 4) + body

    (length,) = struct.unpack("!I", conn.recv(4))
    conn.recv(length - 4)
    params = [(b"server_version", b"15.0"), (b"client_encoding", b"UTF8"), (b"DateStyle", b"ISO, MDY"),
              (b"integer_datetimes", b"on"), (b"standard_conforming_strings", b"on"),
              (b"TimeZone", b"UTC"), (b"IntervalStyle", b"postgres")]
    conn.sendall(msg(b"R", struct.pack("!I", 0)) + msg(b"K", struct.pack("!II", 4242, 7))
                 + b"".join(msg(b"S", k + b"\0" + v + b"\0") for k, v in params) + msg(b"Z", b"I"))


def fake_postgres(listener, ready_after_query):
    """A PostgreSQL stand-in on listener: logs in anyone, then answers the
    first statement with ready_after_query as its ReadyForQuery."""
    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            fake_login(conn)
            try:
                if conn.recv(1024):
                    conn.sendall(ready_after_query)
                conn.recv(1024)	# until pgwarden closes
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.pgwarden_only
@pytest.mark.parametrize("ready", [b"Z\0\0\0\x05X", b"Z\0\0\0\x04", b"Z\0\0\0\x06II"],
                         ids=["unknown-status", "no-status", "trailing-byte"])
def test_server_sending_a_malformed_ready_for_query(pgwarden, ready):
    """A server whose ReadyForQuery is not one of 'I', 'T', 'E' cannot be
    pooled (idle or in a transaction?): it is closed, its client gets an
    error, everyone else is served."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        t = fake_postgres(listener, ready)
        p = pgwarden({"pool_mode": "transaction", "server_tls_sslmode": "disable"},
                     databases={"fakedb": f"host=127.0.0.1 port={listener.getsockname()[1]} dbname=appdb"})
        with pytest.raises(psycopg.OperationalError):
            with p.connect(db="fakedb") as c:
                c.execute("SELECT 1")
        t.join(3)	# the stand-in itself gives up after 5 s
        assert not t.is_alive(), "the malformed server was not closed"
        p.wait_log("server sent a malformed ReadyForQuery")
        with p.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        assert p.alive()
    finally:
        listener.close()


def hung_postgres(listener, cancel_conn):
    """A PostgreSQL stand-in that logs in anyone and never answers a query;
    it accepts the cancel connection and holds it open, as a hung server
    would, noting in cancel_conn what arrived and when pgwarden closed it."""
    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(15)
            fake_login(conn)
            cancel, _ = listener.accept()	# the query stays unanswered
            cancel.settimeout(15)
            cancel_conn["request"] = cancel.recv(16)
            cancel_conn["accepted_at"] = time.monotonic()
            try:
                while cancel.recv(16):	# until pgwarden closes it
                    pass
                cancel_conn["closed_after"] = time.monotonic() - cancel_conn["accepted_at"]
            except OSError:
                pass
            cancel.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.pgwarden_only
def test_cancel_to_a_hung_server_is_given_up_after_cancel_wait_timeout(pgwarden):
    """A server that takes the CancelRequest but never closes the connection
    does not keep pgwarden's cancel connection forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    cancel_conn = {}
    try:
        t = hung_postgres(listener, cancel_conn)
        p = pgwarden({"pool_mode": "transaction", "server_tls_sslmode": "disable", "cancel_wait_timeout": "1"},
                     databases={"hungdb": f"host=127.0.0.1 port={listener.getsockname()[1]} dbname=appdb"})
        c = p.connect(db="hungdb")

        def run_query():
            try:
                c.execute("SELECT 1")
            except psycopg.Error:
                pass	# the stand-in never answers; the stop of pgwarden ends it

        threading.Thread(target=run_query, daemon=True).start()
        wait_for(lambda: p.admin_rows("SHOW POOLS") and
                 any(r["database"] == "hungdb" and r["sv_active"] == 1 for r in p.admin_rows("SHOW POOLS")),
                 what="the query sent to the hung server")
        c.cancel()
        t.join(8)
        assert cancel_conn.get("request", b"")[:8] == struct.pack("!II", 16, 80877102), cancel_conn
        assert 0.8 <= cancel_conn.get("closed_after", 99) < 4, cancel_conn
        p.wait_log("cancel_wait_timeout")
        with p.connect() as other:
            assert other.execute("SELECT 1").fetchone() == (1,)
    finally:
        listener.close()


def test_slow_query_times_out_while_others_are_served(pgwarden):
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 2, "query_timeout": 1})
    outcome = {}

    def slow():
        t0 = time.monotonic()
        try:
            with p.connect() as c:
                c.execute("SELECT pg_sleep(30)")
            outcome["slow"] = "answered"
        except psycopg.Error as e:
            outcome["slow"] = str(e)
        outcome["slow_seconds"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    with p.connect() as c:
        for _ in range(20):
            t0 = time.monotonic()
            assert c.execute("SELECT 1").fetchone() == (1,)
            assert time.monotonic() - t0 < 0.5, "a fast query waited behind the slow one"
    t.join(10)
    assert not t.is_alive()
    assert "query timeout" in outcome["slow"] and outcome["slow_seconds"] < 5, outcome
    p.assert_serving()


# ---------------------------------------------------------------------------
# clients that vanish or stop reading
# ---------------------------------------------------------------------------

def pool_of_one(pgwarden, pg):
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 10})
    with pg.connect("appdb", user="appuser", password="apppass") as c:
        c.execute("DROP TABLE IF EXISTS fault_copy")
        c.execute("CREATE TABLE fault_copy (n int, pad text)")
    return p


def logged_in_raw(p):
    raw = RawConn(p.host, p.port)
    raw.login("appuser", "appdb", password="apppass")
    return raw


def next_client_is_served(p, pg):
    """The next client gets the pool's one server within a few seconds and
    PostgreSQL is left with no more backends than the pool size."""
    with p.connect(connect_timeout=5) as c:
        c.execute("SET statement_timeout = '5s'")
        assert c.execute("SELECT count(*) FROM fault_copy").fetchone() == (0,)
        with c.cursor().copy("COPY fault_copy FROM STDIN") as cp:
            cp.write_row((1, "after"))
        assert c.execute("SELECT count(*) FROM fault_copy").fetchone() == (1,)
    wait_for(lambda: len(pg.backends(user="appuser")) <= 1, timeout=5, what="at most one server")


def test_client_vanishes_mid_copy_in(pgwarden, pg):
    p = pool_of_one(pgwarden, pg)
    raw = logged_in_raw(p)
    raw.send(message(b"Q", b"COPY fault_copy FROM STDIN\0"))
    mtype, _ = raw.recv_msg()
    assert mtype == b"G"
    for n in range(1000):
        raw.send(message(b"d", f"{n}\tpartial\n".encode()))
    raw.close()	# mid-COPY: no CopyDone, no CopyFail, no Terminate
    next_client_is_served(p, pg)


@pytest.mark.parametrize("sql, first, then", [
    ("COPY (SELECT repeat('x', 200) FROM generate_series(1, 5000000)) TO STDOUT", b"H", b"d"),
    ("SELECT repeat('x', 200) FROM generate_series(1, 5000000)", b"T", b"D"),
], ids=["mid-copy-out", "mid-result"])
def test_client_vanishes_mid_answer(pgwarden, pg, sql, first, then):
    p = pool_of_one(pgwarden, pg)
    raw = logged_in_raw(p)
    raw.send(message(b"Q", sql.encode() + b"\0"))
    assert raw.recv_msg()[0] == first
    for _ in range(10):
        assert raw.recv_msg()[0] == then
    raw.close()	# the server is still sending
    next_client_is_served(p, pg)


def test_client_that_stops_reading_keeps_memory_bounded(pgwarden, pg):
    """Half-open client: it asks for ~1.6 GB and reads nothing.  The pooler
    stops reading the server once the client's socket is full instead of
    buffering the result; others are served meanwhile."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 2})
    raw = RawConn(p.host, p.port, rcvbuf=4096)
    raw.login("appuser", "appdb", password="apppass")
    before = rss_kib(p.pid)
    raw.send(message(b"Q", b"SELECT repeat('x', 8000) FROM generate_series(1, 200000)\0"))
    samples = []
    for _ in range(6):
        time.sleep(0.5)
        samples.append(rss_kib(p.pid))
    assert max(samples) - before < 32 * 1024, f"RSS grew from {before} KiB to {samples} KiB"
    p.assert_serving()
    raw.close()
    # the half-read server is not handed to anyone: dropped, pool still serves
    wait_for(lambda: len(pg.backends(user="appuser")) <= 1, timeout=10, what="the stuck server to go")
    p.assert_serving()


# ---------------------------------------------------------------------------
# a connect storm beyond max_client_conn
# ---------------------------------------------------------------------------

STORM = 5000


def storm(host, port, total, concurrent=500, timeout=30.0):
    """Open `total` connections (at most `concurrent` in flight), send a
    startup packet on each and read until the pooler answers.  Returns a
    dict of outcome -> count: 'refused' (the max_client_conn error), 'accepted'
    (an authentication request: such a connection is kept open to the end,
    so it holds its slot), or another description."""
    startup = startup_packet({"user": "appuser", "database": "appdb"})
    sel = selectors.DefaultSelector()
    outcomes, started, done, kept = {}, 0, 0, []
    deadline = time.monotonic() + timeout

    def finish(sock, outcome):
        nonlocal done
        sel.unregister(sock)
        if outcome == "accepted":
            kept.append(sock)
        else:
            sock.close()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        done += 1

    def classify(data):
        if data[:1] == b"R":
            return "accepted"
        if data[:1] == b"E" and len(data) >= 5:
            (length,) = struct.unpack("!I", data[1:5])
            if len(data) >= 1 + length:
                fields = parse_error_fields(data[5:1 + length])
                # 53300 (PgBouncer 1.18 says 08P01)
                if fields.get("M") == "no more connections allowed (max_client_conn)":
                    return "refused"
                return f"error {fields.get('C')} {fields.get('M')}"
            return None
        return f"unexpected {data[:1]!r}" if data else None

    while done < total:
        while started < total and started - done < concurrent:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            sel.register(s, selectors.EVENT_WRITE, [b"", False])
            started += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"storm did not finish: {done}/{total} answered, {outcomes}")
        for key, ev in sel.select(timeout=1.0):
            sock, state = key.fileobj, key.data
            if not state[1]:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(sock, f"connect error {os.strerror(err)}")
                    continue
                sock.send(startup)
                state[1] = True
                sel.modify(sock, selectors.EVENT_READ, state)
                continue
            try:
                chunk = sock.recv(4096)
            except OSError as e:
                finish(sock, f"recv error {e.strerror}")
                continue
            state[0] += chunk
            outcome = classify(state[0])
            if outcome:
                finish(sock, outcome)
            elif not chunk:
                finish(sock, "closed without a word")
    for sock in kept:
        sock.close()
    return outcomes


def test_connect_storm_beyond_max_client_conn(pgwarden):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2000:
        pytest.skip(f"open-file hard limit {hard} too low for the storm")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    p = pgwarden({"pool_mode": "transaction", "max_client_conn": 50})
    latencies, stop = [], threading.Event()
    admin_ok, failures = [], []

    def recorded(fn):
        def run():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - reported by the test
                failures.append(f"{fn.__name__}: {e!r}")
        return run

    def steady_client():
        with p.connect() as c:
            while not stop.is_set():
                t0 = time.monotonic()
                assert c.execute("SELECT 1").fetchone() == (1,)
                latencies.append(time.monotonic() - t0)
                time.sleep(0.01)

    def console():
        with p.admin() as a:
            while not stop.is_set():
                a.execute("SHOW POOLS", prepare=False).fetchall()
                admin_ok.append(time.monotonic())
                time.sleep(0.05)

    threads = [threading.Thread(target=recorded(steady_client)), threading.Thread(target=recorded(console))]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: latencies and admin_ok, timeout=5, what="steady client and console")
        n_lat, n_admin = len(latencies), len(admin_ok)
        outcomes = storm(p.host, p.port, STORM)
        during_lat, during_admin = latencies[n_lat:], len(admin_ok) - n_admin
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not failures, failures
    # one slot is the steady client's (the console is not limited)
    assert outcomes.get("refused", 0) + outcomes.get("accepted", 0) == STORM, outcomes
    assert outcomes.get("accepted", 0) <= 49, outcomes
    assert during_lat and max(during_lat) < 2.0, f"steady client stalled: max {max(during_lat or [0]):.2f}s"
    assert during_admin > 0, "the admin console did not answer during the storm"
    p.assert_serving()


# ---------------------------------------------------------------------------
# audit under SIGTERM, audit file going read-only
# ---------------------------------------------------------------------------

@pytest.mark.pgwarden_only
def test_sigterm_under_load_loses_no_answered_statement(audited):  # noqa: F811
    p, a = audited(overrides={"pool_mode": "transaction", "default_pool_size": 4})
    with Load(p, clients=6, sql="SELECT '{}'::text") as load:
        wait_for(lambda: len(load.answered) > 200, timeout=10, what="load to start")
        p.stopped_by_us = True
        os.kill(p.proc.pid, signal.SIGTERM)
        p.proc.wait(timeout=15)
    missing = unaudited(a, load, wait=0)	# pgwarden has exited: all is on disk
    assert len(load.answered) > 200
    assert not missing, f"{len(missing)} of {len(load.answered)} answered statements not recorded: {missing[:5]}"
    assert a.verify().returncode == 0, a.verify().stdout


@pytest.fixture
def ext4_that_can_fail():
    """A small ext4 file system (loop device, errors=remount-ro) whose
    kernel can be told to hit an error: it then turns read-only under open
    files, as a disk going bad does.  Yields (directory, fail)."""
    base = Path(tempfile.mkdtemp(prefix="pgwarden-ext4-", dir=TMP_ROOT))
    image, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    os.chmod(base, 0o755)	# pgwarden runs as postgres
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True)
    mounted = made.returncode == 0 and subprocess.run(
        ["mount", "-o", "loop,errors=remount-ro", str(image), str(mnt)], capture_output=True).returncode == 0
    if not mounted:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("cannot mount an ext4 loop device here (needs root and /dev/loop*)")
    device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True,
                            text=True).stdout.strip()
    trigger = Path("/sys/fs/ext4") / os.path.basename(device) / "trigger_fs_error"

    def fail():
        trigger.write_text("pgwarden fault test")

    try:
        yield mnt, fail
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.pgwarden_only
def test_audit_file_system_going_read_only_fails_closed(audited, ext4_that_can_fail):  # noqa: F811
    mnt, fail = ext4_that_can_fail
    p, a = audited(audit_dir=mnt, flush_ms="20")
    with p.connect() as c:
        c.execute("SELECT 'before'")
        a.statements()
        fail()
        refused = None
        deadline = time.monotonic() + 10
        while refused is None and time.monotonic() < deadline:
            try:
                c.execute("SELECT 'while read-only'")
                time.sleep(0.02)
            except psycopg.Error as e:
                refused = e
        assert refused is not None, "statements kept running with the audit file read-only"
        assert refused.sqlstate == "58030" and "audit log unavailable" in str(refused), refused
        assert p.admin_rows("SHOW AUDIT")[0]["failed"] == "yes"
    # new sessions are refused too, and the pooler itself keeps running
    with pytest.raises(psycopg.Error, match="audit log unavailable"):
        with p.connect() as c:
            c.execute("SELECT 'new session'")
    assert p.alive()
    with p.admin() as console:
        console.execute("SHOW POOLS").fetchall()
    # what was written before the failure still verifies
    assert a.verify("--allow-open").returncode == 0, a.verify("--allow-open").stdout
