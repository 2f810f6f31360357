"""Connection limits."""

import threading
import time

import psycopg
import pytest

from pgproto import ServerError


def test_max_client_conn(pgwarden):
    p = pgwarden({"max_client_conn": 3})
    conns = [p.connect() for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect()
        assert "no more connections allowed (max_client_conn)" in str(ei.value)
        with pytest.raises(ServerError) as ei:
            with p.raw() as r:
                r.login("appuser", "appdb", "apppass")
        # PgBouncer 1.18 sends this as a FATAL with SQLSTATE 08P01
        assert ei.value.message == "no more connections allowed (max_client_conn)"
        assert ei.value.sqlstate in ("08P01", "53300")
        for c in conns:
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        for c in conns:
            c.close()
    # a slot frees up once a client leaves
    time.sleep(0.3)
    p.assert_serving()


def concurrent_sleepers(p, targets, seconds):
    """Run pg_sleep(seconds) concurrently for each (db, user); return
    (results, elapsed)."""
    results = [None] * len(targets)

    def run(i, db, user):
        try:
            with p.connect(db=db, user=user) as c:
                results[i] = c.execute("SELECT pg_backend_pid() FROM pg_sleep(%s)", (seconds,)).fetchone()[0]
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, db, user)) for i, (db, user) in enumerate(targets)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, time.monotonic() - t0


def test_max_db_connections(pgwarden, pg):
    """Two users on one database with max_db_connections=1 in transaction
    mode: both succeed, one after the other, never more than one backend."""
    p = pgwarden({"pool_mode": "transaction", "max_db_connections": 1, "auth_type": "trust"})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser"), ("appdb", "md5user")], 1.0)
    assert all(isinstance(r, int) for r in results), results
    assert elapsed >= 1.9, f"queries were not serialised ({elapsed:.2f}s)"


def test_max_db_connections_per_database(pgwarden, pg):
    p = pgwarden({"pool_mode": "transaction", "auth_type": "trust"},
                 databases={"limited": f"host=127.0.0.1 port={pg.port} dbname=appdb max_db_connections=1"})
    results, elapsed = concurrent_sleepers(p, [("limited", "appuser"), ("limited", "md5user")], 1.5)
    assert all(isinstance(r, int) for r in results), results
    assert elapsed >= 2.9
    # an unlimited database runs them side by side
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser"), ("appdb", "md5user")], 1.5)
    assert all(isinstance(r, int) for r in results), results
    assert elapsed < 2.7


def test_max_user_connections(pgwarden):
    """One user on two databases with max_user_connections=1."""
    p = pgwarden({"pool_mode": "transaction", "max_user_connections": 1})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser"), ("otherdb", "appuser")], 1.0)
    assert all(isinstance(r, int) for r in results), results
    assert elapsed >= 1.9


def test_max_user_connections_in_users_section(pgwarden):
    p = pgwarden({"pool_mode": "transaction"}, users={"appuser": "max_user_connections=1"})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser"), ("otherdb", "appuser")], 1.0)
    assert all(isinstance(r, int) for r in results), results
    assert elapsed >= 1.9


def test_default_pool_size_caps_servers(pgwarden, pg):
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 2})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser")] * 4, 0.7)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) <= 2
    assert elapsed >= 1.3


def test_reserve_pool(pgwarden):
    """With reserve_pool_size=1, a client that waited reserve_pool_timeout
    gets an extra server beyond default_pool_size."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1, "reserve_pool_size": 1,
                  "reserve_pool_timeout": 0.2})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser")] * 2, 1.5)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 2
    assert elapsed < 2.8


# [users] pool_size and reserve_pool_size came after PgBouncer 1.18 (1.20, 1.24).
@pytest.mark.pgwarden_only
def test_users_pool_size_overrides_database_and_default(pgwarden, pg):
    """[users] pool_size caps that user's pools, over the database's
    pool_size and default_pool_size; other users keep the database's."""
    p = pgwarden({"pool_mode": "transaction", "auth_type": "trust", "default_pool_size": 4},
                 databases={"sized": f"host=127.0.0.1 port={pg.port} dbname=appdb pool_size=3"},
                 users={"appuser": "pool_size=1"})
    results, elapsed = concurrent_sleepers(p, [("sized", "appuser")] * 2, 1.0)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1 and elapsed >= 1.9, f"appuser's pool was not capped at 1 ({elapsed:.2f}s)"
    results, elapsed = concurrent_sleepers(p, [("sized", "md5user")] * 2, 1.0)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 2 and elapsed < 1.8, f"md5user's pool was capped ({elapsed:.2f}s)"
    users = {r["name"]: r for r in p.admin_rows("SHOW USERS")}
    assert users["appuser"]["pool_size"].strip() == "1"


@pytest.mark.pgwarden_only
def test_users_reserve_pool_size(pgwarden):
    """[users] reserve_pool_size gives that user's waiting client an extra
    server although the global reserve pool is off."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1, "reserve_pool_timeout": 0.2},
                 users={"appuser": "reserve_pool_size=1"})
    results, elapsed = concurrent_sleepers(p, [("appdb", "appuser")] * 2, 1.5)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 2 and elapsed < 2.8, f"no reserve server ({elapsed:.2f}s)"
