"""Named prepared statements in transaction mode (max_prepared_statements):
each client's names follow it from server connection to server connection."""

import os
import struct
import threading

import psycopg
import pytest

from conftest import PASSWORDS
from pgproto import message, parse_error_fields

# PgBouncer 1.18, the reference the suite can also run against, has no
# prepared-statement support (it came in 1.21).
pytestmark = pytest.mark.pgwarden_only

SYNC = message(b"S")


def parse(name, sql, types=()):
    body = name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", len(types))
    body += b"".join(struct.pack("!I", t) for t in types)
    return message(b"P", body)


def bind(stmt, params=(), portal=""):
    body = portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!HH", 0, len(params))
    for p in params:
        v = str(p).encode()
        body += struct.pack("!i", len(v)) + v
    return message(b"B", body + struct.pack("!H", 0))


def describe_statement(name):
    return message(b"D", b"S" + name.encode() + b"\0")


def execute(portal=""):
    return message(b"E", portal.encode() + b"\0" + struct.pack("!I", 0))


def close_statement(name):
    return message(b"C", b"S" + name.encode() + b"\0")


def run(raw, *msgs):
    """Send the messages; return [(type, body)] up to and with ReadyForQuery."""
    raw.send(b"".join(msgs))
    out = []
    while True:
        mtype, body = raw.recv_msg()
        out.append((mtype.decode(), body))
        if mtype == b"Z":
            return out


def types(replies):
    return "".join(t for t, _ in replies)


def error_of(replies):
    for t, body in replies:
        if t == "E":
            return parse_error_fields(body)
    return None


def values(replies):
    rows = []
    for t, body in replies:
        if t == "D":
            (n,) = struct.unpack("!H", body[:2])
            pos, row = 2, []
            for _ in range(n):
                (ln,) = struct.unpack("!i", body[pos:pos + 4])
                row.append(body[pos + 4:pos + 4 + ln].decode())
                pos += 4 + ln
            rows.append(tuple(row))
    return rows


def login(p):
    raw = p.raw()
    raw.login("appuser", "appdb", PASSWORDS["appuser"])
    return raw


@pytest.fixture
def tx_pooler(pgwarden):
    def start(pool_size=3, max_prepared=None, **kw):
        ini = {"pool_mode": "transaction", "default_pool_size": str(pool_size)}
        if max_prepared is not None:
            ini["max_prepared_statements"] = str(max_prepared)
        ini.update(kw)
        return pgwarden(ini)
    return start


def test_psycopg_prepared_statements_across_servers(tx_pooler):
    """20 clients, 200 transactions, pool of 3: every statement psycopg
    prepares (prepare_threshold=0) keeps working on whichever server."""
    p = tx_pooler(pool_size=3)
    errors = []

    def client(n):
        try:
            with p.connect(prepare_threshold=0) as c:
                for i in range(10):
                    with c.transaction():
                        assert c.execute("SELECT %s::int + %s::int", (n, i)).fetchone()[0] == n + i
                        assert c.execute("SELECT %s::text || 'x'", (str(i),)).fetchone()[0] == f"{i}x"
                        assert c.execute("SELECT count(*) FROM generate_series(1, %s::int)",
                                         (i + 1,)).fetchone()[0] == i + 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    servers = p.admin_rows("SHOW SERVERS")
    assert 1 <= len(servers) <= 3
    assert all(s["prepared_statements"] <= 3 for s in servers), servers
    assert sum(s["prepared_statements"] for s in servers) >= 3, servers
    stats = {r["database"]: r for r in p.admin_rows("SHOW STATS")}["appdb"]
    assert stats["total_client_parse_count"] == 20 * 3
    assert stats["total_bind_count"] == 200 * 3
    # three statements, each prepared at most once per server
    assert 3 <= stats["total_server_parse_count"] <= 9, stats


def test_statement_names_on_the_server_are_pgwardens(tx_pooler, pg):
    p = tx_pooler(pool_size=1)
    with p.connect(prepare_threshold=0) as c:
        c.execute("SELECT %s::int", (1,))
        names = [r[0] for r in c.execute("SELECT name FROM pg_prepared_statements", prepare=False)]
    assert names and all(n.startswith("PGWARDEN_") for n in names), names


def test_describe_of_a_statement_prepared_on_another_server(tx_pooler):
    p = tx_pooler(pool_size=2)
    with login(p) as a, login(p) as holder:
        # a prepares s1 on the only server there is so far
        assert types(run(a, parse("s1", "SELECT $1::int AS n, 'x'::text AS t"), SYNC)) == "1Z"
        # holder keeps that server in a transaction: a gets the second one
        assert types(run(holder, message(b"Q", b"BEGIN\0"))) == "CZ"
        r = run(a, describe_statement("s1"), bind("s1", [7]), execute(), SYNC)
        assert types(r) == "tT2DCZ", r
        assert values(r) == [("7", "x")]
        run(holder, message(b"Q", b"COMMIT\0"))
    servers = p.admin_rows("SHOW SERVERS")
    assert sorted(s["prepared_statements"] for s in servers) == [1, 1]


def test_close_then_bind_fails_as_in_postgresql(tx_pooler):
    p = tx_pooler()
    with login(p) as a:
        assert types(run(a, parse("s1", "SELECT 1"), bind("s1"), execute(), close_statement("s1"), SYNC)) \
            == "12DC3Z"
        r = run(a, bind("s1"), execute(), SYNC)
        assert types(r) == "EZ"
        err = error_of(r)
        assert (err["C"], err["M"]) == ("26000", 'prepared statement "s1" does not exist')
        # closing an unknown name is not an error, as in PostgreSQL
        assert types(run(a, close_statement("nope"), SYNC)) == "3Z"
        # the name can be used again
        assert values(run(a, parse("s1", "SELECT 2"), bind("s1"), execute(), SYNC)) == [("2",)]


def test_reparse_of_a_name_is_refused_and_the_rest_skipped_to_sync(tx_pooler):
    p = tx_pooler()
    with login(p) as a:
        run(a, parse("s1", "SELECT 1"), SYNC)
        r = run(a, parse("s1", "SELECT 2"), bind("s1"), execute(), SYNC)
        assert types(r) == "EZ", r
        err = error_of(r)
        assert (err["C"], err["M"]) == ("42P05", 'prepared statement "s1" already exists')
        # the first text is still what s1 means
        assert values(run(a, bind("s1"), execute(), SYNC)) == [("1",)]


def test_parse_error_is_reported_at_parse_and_registers_nothing(tx_pooler):
    p = tx_pooler()
    with login(p) as a:
        r = run(a, parse("bad", "SELEC 1"), bind("bad"), execute(), SYNC)
        assert types(r) == "EZ"
        assert error_of(r)["C"] == "42601"
        assert values(run(a, parse("bad", "SELECT 5"), bind("bad"), execute(), SYNC)) == [("5",)]
        # an error before a Parse answered here: that Parse did not happen either
        run(a, parse("known", "SELECT 6"), SYNC)
        with login(p) as b:
            run(b, parse("known", "SELECT 6"), SYNC)  # held by the server: answered here
            r = run(b, message(b"Q", b"SELECT 1/0\0"))
            assert error_of(r)["C"] == "22012"
            # 1/0 is folded when the Bind plans it: the error comes there
            r = run(b, parse("x", "SELECT 1/0"), bind("x"), execute(), parse("y", "SELECT 6"), SYNC)
            assert types(r) == "1EZ", r
            r = run(b, bind("y"), execute(), SYNC)
            assert error_of(r)["C"] == "26000", r


def test_pipeline_answers_keep_their_order(tx_pooler):
    p = tx_pooler(pool_size=1)
    with login(p) as a, login(p) as b:
        run(a, parse("old", "SELECT 'old'"), SYNC)
        # b's Parse of the same text is answered here, between the server's answers
        r = run(b, parse("new", "SELECT 'new'"), bind("new"), execute(),
                parse("old2", "SELECT 'old'"), bind("old2"), execute(), SYNC)
        assert types(r) == "12DC12DCZ", r
        assert values(r) == [("new",), ("old",)]


def test_lru_eviction_closes_statements_on_the_server(tx_pooler):
    p = tx_pooler(pool_size=1, max_prepared=2)
    with login(p) as a:
        for i in range(5):
            run(a, parse(f"s{i}", f"SELECT {i}"), SYNC)
        (server,) = p.admin_rows("SHOW SERVERS")
        assert server["prepared_statements"] == 2
        on_server = values(run(a, message(b"Q", b"SELECT count(*) FROM pg_prepared_statements\0")))
        assert on_server == [("2",)]
        # every name still works: evicted statements are prepared again
        for i in range(5):
            assert values(run(a, bind(f"s{i}"), execute(), SYNC)) == [(str(i),)]
    assert p.admin_rows("SHOW SERVERS")[0]["prepared_statements"] == 2


def test_deallocate_all_forgets_the_clients_names(tx_pooler):
    p = tx_pooler(pool_size=1)
    with login(p) as a:
        run(a, parse("s1", "SELECT 1"), SYNC)
        assert p.admin_rows("SHOW CLIENTS")[0]["prepared_statements"] == 1
        run(a, message(b"Q", b"DEALLOCATE ALL\0"))
        assert p.admin_rows("SHOW SERVERS")[0]["prepared_statements"] == 0
        r = run(a, bind("s1"), execute(), SYNC)
        assert error_of(r)["C"] == "26000"
        assert values(run(a, parse("s1", "SELECT 3"), bind("s1"), execute(), SYNC)) == [("3",)]


def test_names_of_other_clients_are_not_reachable(tx_pooler):
    """A client cannot run another client's statement by its server-side name."""
    p = tx_pooler(pool_size=1)
    with login(p) as a, login(p) as b:
        run(a, parse("mine", "SELECT 'secret'"), SYNC)
        r = run(b, bind("PGWARDEN_1"), execute(), SYNC)
        assert error_of(r)["C"] == "26000"
        r = run(b, bind("mine"), execute(), SYNC)
        assert error_of(r)["C"] == "26000"


def test_off_passes_names_through(tx_pooler):
    p = tx_pooler(pool_size=1, max_prepared=0)
    with login(p) as a:
        run(a, parse("s1", "SELECT 1"), SYNC)
        r = run(a, message(b"Q", b"SELECT name FROM pg_prepared_statements\0"))
        assert values(r) == [("s1",)]


def test_session_mode_is_untouched(pgwarden):
    p = pgwarden({"pool_mode": "session"})
    with login(p) as a:
        run(a, parse("s1", "SELECT 1"), SYNC)
        assert values(run(a, message(b"Q", b"SELECT name FROM pg_prepared_statements\0"))) == [("s1",)]


def test_large_bind_parameters_stream_through(tx_pooler):
    p = tx_pooler(pool_size=1)
    big = "x" * (3 * 1024 * 1024)
    with p.connect(prepare_threshold=0) as c:
        for _ in range(2):
            assert c.execute("SELECT length(%s::text)", (big,)).fetchone()[0] == len(big)


def test_extended_protocol_with_a_statement_plugin(pgwarden):
    """With a statement plugin loaded (audit), named statements still follow
    the client across servers, and each run is recorded."""
    from test_audit import new_audit

    audit = new_audit()
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": "2", "plugins": "audit"},
                 extra_ini=audit.ini_section)
    with p.connect(prepare_threshold=0) as c:
        for i in range(5):
            with c.transaction():
                assert c.execute("SELECT %s::int * 2", (i,)).fetchone()[0] == i * 2
    rows = audit.statements(count=5, where="sql LIKE '%* 2%'")
    assert len(rows) == 5, rows


def spy_pooler(pgwarden, **keys):
    from test_plugins import plugin_ini
    return pgwarden({"pool_mode": "transaction", "default_pool_size": "2", "plugins": "spy"},
                    extra_ini=plugin_ini("spy", **keys))


def test_statement_hook_sees_each_named_parse_once_per_client(pgwarden):
    from test_plugins import log_lines
    p = spy_pooler(pgwarden)
    for _ in range(2):
        with p.connect(prepare_threshold=0) as c:
            for i in range(5):
                with c.transaction():
                    assert c.execute("SELECT %s::int + 100", (i,)).fetchone()[0] == 100 + i
    parses = [s for s in log_lines(p, "spy", "statement") if s.startswith("source=P") and "+ 100" in s]
    assert len(parses) == 2, parses
    # one statement on the servers, prepared where needed
    stats = {r["database"]: r for r in p.admin_rows("SHOW STATS")}["appdb"]
    assert stats["total_client_parse_count"] == 2
    assert stats["total_bind_count"] == 10


def test_named_parse_blocked_by_a_plugin_registers_nothing(pgwarden):
    p = spy_pooler(pgwarden)
    with login(p) as a:
        # linked to a server by an open transaction: the block goes through it
        assert types(run(a, message(b"Q", b"BEGIN\0"))) == "CZ"
        r = run(a, parse("ok", "SELECT 1"), bind("ok"), execute(),
                parse("bad", "SELECT 2 /* pgw:block */"), bind("bad"), execute(), SYNC)
        assert types(r) == "12DCEZ", r
        assert error_of(r)["C"] == "42501"
        run(a, message(b"Q", b"ROLLBACK\0"))
        r = run(a, bind("bad"), execute(), SYNC)
        assert error_of(r)["C"] == "26000", r
        assert values(run(a, bind("ok"), execute(), SYNC)) == [("1",)]


def test_malformed_extended_messages_get_errors_not_crashes(tx_pooler):
    p = tx_pooler(pool_size=1)
    with login(p) as a:
        # Bind whose names run off the end, Describe/Close without a name
        for bad in (message(b"B", b"portal-without-end"), message(b"D", b"S"), message(b"C", b"Sname"),
                    message(b"P", b"name-only")):
            a.send(bad + SYNC)
            msgs = []
            while True:
                m = a.recv_msg()
                if m is None:
                    break
                msgs.append(m)
                if m[0] == b"Z":
                    break
            if m is None:  # the pooler may drop a client that sends garbage
                a = login(p)
    p.assert_serving()


def test_messages_the_server_skips_after_an_error_change_nothing(tx_pooler):
    """An error with no Sync sent yet: the server skips every message up to
    the Sync, so a Close, a Parse and an eviction among them must not
    happen here either (max 1 statement per server: the Parse would evict)."""
    p = tx_pooler(pool_size=1, max_prepared=1)
    with login(p) as a:
        run(a, message(b"Q", b"BEGIN\0"))  # keep the one server linked
        run(a, parse("known", "SELECT 'known'"), SYNC)
        a.send(parse("", "SELECT 1/0") + bind("") + execute() + message(b"H"))
        assert a.recv_msg()[0] == b"1"
        assert a.recv_msg()[0] == b"E"
        r = run(a, close_statement("known"), parse("new", "SELECT 'new'"), SYNC)
        assert types(r) == "Z", r
        run(a, message(b"Q", b"ROLLBACK\0"))
        assert values(run(a, bind("known"), execute(), SYNC)) == [("known",)]
        assert error_of(run(a, bind("new"), execute(), SYNC))["C"] == "26000"
    (server,) = p.admin_rows("SHOW SERVERS")
    assert server["prepared_statements"] == 1


def replies_summary(replies):
    """What a client can tell apart: message types, error codes, row values."""
    out = []
    for t, body in replies:
        if t in ("N", "S"):
            continue
        if t == "E":
            out.append("E" + parse_error_fields(body)["C"])
        elif t == "D":
            out.append("D" + repr(values([(t, body)])))
        else:
            out.append(t)
    return out


def random_batch(rng):
    texts = [("SELECT 1", ()), ("SELECT $1::int + 1", (23,)), ("SELECT 'x'::text", ()),
             ("SELEC broken", ()), ("SELECT 1/0", ()), ("SELECT $1::int, 'y'", (23,))]
    msgs = []
    unnamed = False  # the unnamed statement lives on one server: within a batch only
    for _ in range(rng.randint(1, 6)):
        op = rng.choice("PPBBDDECQ")
        name = rng.choice(["s0", "s1", "s2", ""] if op == "P" or unnamed else ["s0", "s1", "s2"])
        unnamed = unnamed or (op == "P" and name == "")
        if op == "P":
            sql, types_ = rng.choice(texts)
            msgs.append(parse(name, sql, types_))
        elif op == "B":
            msgs.append(bind(name, [rng.randint(0, 9)] * rng.randint(0, 1)))
        elif op == "D":
            msgs.append(describe_statement(name) if rng.random() < 0.7 else message(b"D", b"P\0"))
        elif op == "E":
            msgs.append(execute())
        elif op == "Q":
            msgs.append(message(b"Q", rng.choice([b"SELECT 7\0", b"SELECT 1/0\0", b"DEALLOCATE ALL\0"])))
        else:
            msgs.append(close_statement(name))
    return msgs + [SYNC]


def run_batch(raw, msgs):
    """Send a batch that may hold Query messages (each with its own
    ReadyForQuery, unless an earlier error skips it); a marker query after
    it shows where its answers end."""
    raw.send(b"".join(msgs) + message(b"Q", b"SELECT 'batch-end'\0"))
    out = []
    while True:
        mtype, body = raw.recv_msg()
        out.append((mtype.decode(), body))
        if mtype == b"Z" and len(out) >= 4 and values(out[-3:-2]) == [("batch-end",)]:
            return out[:-4]


def test_random_pipelines_answer_as_postgresql_does(tx_pooler, pg):
    """Differential: random batches of Parse/Bind/Describe/Execute/Close
    from two clients, through pgwarden (2 servers, at most 2 statements
    each, so statements move and get evicted) and straight to PostgreSQL,
    must get the same answers.  PS_SEED and PS_N choose other batches."""
    import random

    rng = random.Random(int(os.environ.get("PS_SEED", "20261126")))
    p = tx_pooler(pool_size=2, max_prepared=2)
    clients = []
    for _ in range(2):
        via = p.raw()
        via.login("md5user", "appdb", PASSWORDS["md5user"])
        direct = pg_raw(pg)
        clients.append((via, direct))
    try:
        for i in range(int(os.environ.get("PS_N", "1000"))):
            via, direct = rng.choice(clients)
            batch = random_batch(rng)
            got, want = replies_summary(run_batch(via, batch)), replies_summary(run_batch(direct, batch))
            assert got == want, (i, batch, got, want)
    finally:
        for via, direct in clients:
            via.close()
            direct.close()
    stats = {r["database"]: r for r in p.admin_rows("SHOW STATS")}["appdb"]
    assert stats["total_client_parse_count"] > 100


def pg_raw(pg):
    from pgproto import RawConn
    raw = RawConn(pg.host, pg.port)
    raw.login("postgres", "appdb")
    return raw
