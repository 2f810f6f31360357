"""Extended query protocol: Parse/Bind/Describe/Execute/Sync."""

import datetime
import decimal
import time

import psycopg
import pytest


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_parameters_unnamed_statements(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        for i in range(20):
            row = c.execute("SELECT %s::int + 1, %s::text || 'x', %s::numeric * 2",
                            (i, f"s{i}", decimal.Decimal("1.5")), prepare=False).fetchone()
            assert row == (i + 1, f"s{i}x", decimal.Decimal("3.0"))


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_binary_parameters_and_results(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        cur = c.cursor(binary=True)
        d = datetime.date(2024, 2, 29)
        row = cur.execute("SELECT %b::int8 * 3, %b::bytea, %b::date + 1", (7, b"\x00\x01\xff", d)).fetchone()
        assert row == (21, b"\x00\x01\xff", datetime.date(2024, 3, 1))


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_executemany(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        c.execute("CREATE TABLE IF NOT EXISTS em_%s (a int, b text)" % mode)
        c.execute("TRUNCATE em_%s" % mode)
        with c.cursor() as cur:
            cur.executemany("INSERT INTO em_%s VALUES (%%s, %%s)" % mode, [(i, str(i)) for i in range(500)])
        assert c.execute("SELECT count(*), sum(a) FROM em_%s" % mode).fetchone() == (500, 124750)
        c.execute("DROP TABLE em_%s" % mode)


def test_named_prepared_statements_session_mode(pooler):
    with pooler.connect(prepare_threshold=0) as c:
        for i in range(10):
            assert c.execute("SELECT %s::int * 10", (i,), prepare=True).fetchone()[0] == i * 10
        n = c.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        assert n >= 1


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_error_in_extended_protocol_recovers(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        with pytest.raises(psycopg.errors.SyntaxError):
            c.execute("SELEC %s", (1,))
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1 / %s::int", (0,))
        assert c.execute("SELECT %s::int", (4,)).fetchone()[0] == 4


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_pipeline(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        with c.pipeline():
            curs = [c.execute("SELECT %s::int * 2", (i,)) for i in range(50)]
        assert [cur.fetchone()[0] for cur in curs] == [i * 2 for i in range(50)]


def test_large_result_and_large_parameter(pgwarden):
    p = pgwarden({"pool_mode": "transaction"})
    big = "y" * (4 * 1024 * 1024)
    with p.connect(prepare_threshold=None) as c:
        assert c.execute("SELECT length(%s::text)", (big,)).fetchone()[0] == len(big)
        rows = c.execute("SELECT g, repeat('z', 200) FROM generate_series(1, 20000) g").fetchall()
        assert len(rows) == 20000 and rows[-1][0] == 20000


@pytest.mark.pgwarden_only  # PgBouncer 1.18 hands the server on at the Query's ReadyForQuery
@pytest.mark.parametrize("max_prepared", [0, 200])
def test_bind_execute_pipelined_after_query_keep_the_server(pgwarden, max_prepared):
    """Query, then Parse/Bind/Execute without Sync: the Query's
    ReadyForQuery must not send the server back to the pool, or the next
    client would get this one's pending result."""
    import struct
    import threading
    from pgproto import RawConn, message

    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1,
                  "max_prepared_statements": max_prepared})
    a = RawConn(p.host, p.port)
    a.login("appuser", "appdb", password="apppass")
    a.send(message(b"Q", b"SELECT 1\0")
           + message(b"P", b"\0SELECT 'a-secret'\0\0\0")
           + message(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
           + message(b"E", b"\0" + struct.pack("!i", 0)))
    types = []
    while not types or types[-1] != b"Z":
        types.append(a.recv_msg()[0])
    assert types == [b"T", b"D", b"C", b"Z"], types

    seen = {}

    def other_client():
        with p.connect() as c:
            seen["b"] = c.execute("SELECT 'b'").fetchone()[0]

    t = threading.Thread(target=other_client)
    t.start()
    time.sleep(0.5)
    assert "b" not in seen, "another client got the server while this one's Execute was pending"
    a.send(message(b"S"))
    rest = []
    while not rest or rest[-1][0] != b"Z":
        rest.append(a.recv_msg())
    assert [m[0] for m in rest] == [b"1", b"2", b"D", b"C", b"Z"], rest
    assert b"a-secret" in rest[2][1]
    t.join(10)
    assert seen.get("b") == "b"
    a.close()
