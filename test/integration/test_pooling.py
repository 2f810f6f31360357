"""Pool modes: session, transaction, statement."""

import threading
import time

import psycopg
import pytest

from conftest import wait_for


def test_simple_query(pooler):
    with pooler.connect() as c:
        assert c.execute("SELECT 1 + 1").fetchone()[0] == 2
        assert c.execute("SELECT current_user, current_database()").fetchone() == ("appuser", "appdb")


def test_session_mode_keeps_backend(pooler):
    with pooler.connect(autocommit=False) as c:
        pids = set()
        for _ in range(5):
            with c.transaction():
                pids.add(c.execute("SELECT pg_backend_pid()").fetchone()[0])
        assert len(pids) == 1


def test_session_mode_server_reused_and_reset(pgwarden):
    """After a client leaves, its server is reused by the next client, and
    server_reset_query (DISCARD ALL) has wiped the session state."""
    p = pgwarden({"default_pool_size": 1})
    with p.connect() as c1:
        pid1 = c1.execute("SELECT pg_backend_pid()").fetchone()[0]
        c1.execute("CREATE TEMP TABLE scratch (x int)")
        c1.execute("SET statement_timeout = '12345ms'")
    with p.connect() as c2:
        assert c2.execute("SELECT pg_backend_pid()").fetchone()[0] == pid1
        assert c2.execute("SHOW statement_timeout").fetchone()[0] == "0"
        assert c2.execute("SELECT to_regclass('pg_temp.scratch')").fetchone()[0] is None


def test_transaction_mode_many_clients_few_servers(pgwarden, pg):
    """100 concurrent clients on a pool of 5: everyone gets correct answers
    and PostgreSQL never sees more than 5 server connections."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 5, "max_client_conn": 200})
    nclients, rounds = 100, 3
    errors, backend_pids, max_seen = [], set(), [0]
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        try:
            with p.connect(prepare_threshold=None) as c:
                for r in range(rounds):
                    with c.transaction():
                        v, pid = c.execute("SELECT %s::int * 2, pg_backend_pid() FROM pg_sleep(0.005)",
                                           (i * 10 + r,)).fetchone()
                        if v != (i * 10 + r) * 2:
                            raise AssertionError(f"client {i} got {v}")
                    with lock:
                        backend_pids.add(pid)
        except Exception as e:  # collected and asserted below
            with lock:
                errors.append(f"client {i}: {e!r}")

    def monitor():
        while not stop.is_set():
            n = len(pg.backends(user="appuser", dbname="appdb"))
            max_seen[0] = max(max_seen[0], n)
            time.sleep(0.02)

    mon = threading.Thread(target=monitor)
    mon.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        stop.set()
        mon.join(10)
    assert not [t for t in threads if t.is_alive()], "client threads hung"
    assert errors == []
    assert 1 <= len(backend_pids) <= 5
    assert max_seen[0] <= 5
    pools = [r for r in p.admin_rows("SHOW POOLS") if r["database"] == "appdb" and r["user"] == "appuser"]
    assert len(pools) == 1
    servers = sum(pools[0][k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
    assert 1 <= servers <= 5


def test_transaction_mode_isolation(pgwarden):
    """With one server, client B waits while client A is inside a
    transaction, then gets the same server without A's transaction-local
    state."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1})
    a = p.connect(autocommit=False, prepare_threshold=None)
    b = p.connect(prepare_threshold=None)
    try:
        a.execute("SET LOCAL statement_timeout = '12345ms'")
        a.execute("CREATE TEMP TABLE only_a (x int) ON COMMIT DROP")
        a.execute("INSERT INTO only_a VALUES (1)")
        pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        result = {}

        def run_b():
            result["row"] = b.execute("SELECT pg_backend_pid(), current_setting('statement_timeout'), "
                                      "to_regclass('pg_temp.only_a') IS NULL").fetchone()
            result["t"] = time.monotonic()

        t = threading.Thread(target=run_b)
        t.start()
        time.sleep(0.5)
        assert "row" not in result, "client B ran while A held the only server in a transaction"
        committed = time.monotonic()
        a.commit()
        t.join(10)
        assert result["row"] == (pid_a, "0", True)
        assert result["t"] >= committed
    finally:
        a.close()
        b.close()


def test_transaction_mode_server_switches(pgwarden):
    """Two clients in transaction mode, pool of 1: both share one backend."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1})
    with p.connect() as a, p.connect() as b:
        pa = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        pb = b.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pa == pb


def test_statement_mode_rejects_transaction_blocks(pgwarden):
    p = pgwarden({"pool_mode": "statement"})
    with p.connect() as c:
        assert c.execute("SELECT 7").fetchone()[0] == 7
        assert c.execute("SELECT 8").fetchone()[0] == 8
    c = p.connect(autocommit=False)
    try:
        with pytest.raises(psycopg.Error) as ei:
            c.execute("SELECT 1")  # psycopg sends BEGIN first
            c.execute("SELECT 2")
        assert "transaction blocks not allowed in statement pooling mode" in str(ei.value)
    finally:
        c.close()
    p.assert_serving()


def test_per_database_pool_mode(pgwarden, pg):
    """pool_mode in a [databases] entry overrides the global one."""
    p = pgwarden({"pool_mode": "session"},
                 databases={"txdb": f"host=127.0.0.1 port={pg.port} dbname=appdb pool_mode=transaction pool_size=1"})
    with p.connect(db="txdb") as a, p.connect(db="txdb") as b:
        assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == \
            b.execute("SELECT pg_backend_pid()").fetchone()[0]
