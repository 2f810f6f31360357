"""Plugin ABI, the result side: row_description, data_row, command_complete
and error hooks; the worker pool; plugin counters; the raw startup
parameters handed to client_auth.

The plugin is test/plugins/testplug.so with results = on (see its header
comment for what it logs and masks).
"""

import re
import struct

import psycopg
import pytest

from conftest import copy_round_trip
from pgproto import RawConn, message, parse_error_fields
from test_plugins import log_lines, with_plugins  # noqa: F401 (fixture)

pytestmark = pytest.mark.pgwarden_only

ROWS_SQL = "SELECT g AS n, 'v' || g AS secret FROM generate_series(1, 3) g"


def fetch(conn, sql, binary=False):
    with conn.cursor(binary=binary) as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_result_hooks_see_columns_rows_and_tag(with_plugins, binary):
    p = with_plugins("res", results="on")
    with p.connect() as c:
        assert fetch(c, ROWS_SQL, binary) == [(1, "v1"), (2, "v2"), (3, "v3")]
    fmt = 1 if binary else 0
    desc = log_lines(p, "res", "row_description")
    assert f"n=2 cols=n:23:{fmt}:0,secret:25:{fmt}:0" in desc, desc
    done = log_lines(p, "res", "command_complete")
    assert any(re.match(r"tag=SELECT 3 rows=3 rows_sent=3 bytes=\d+ timed=1 marks0=-", d) for d in done), done


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masking_rewrites_text_and_binary_values(with_plugins, binary):
    p = with_plugins("mask", results="on", mask_column="secret")
    with p.connect() as c:
        assert fetch(c, ROWS_SQL, binary) == [(1, "***"), (2, "***"), (3, "***")]
        # NULL stays NULL: nothing to hide
        assert fetch(c, "SELECT NULL::text AS secret", binary) == [(None,)]
        # a table column, through the extended protocol with a parameter
        c.execute("CREATE TEMP TABLE people (name text, secret text)")
        c.execute("INSERT INTO people VALUES ('ann', 'hunter2'), ('bob', 'swordfish')")
        with c.cursor(binary=binary) as cur:
            cur.execute("SELECT name, secret FROM people WHERE name <> %s ORDER BY name", ("zed",))
            assert cur.fetchall() == [("ann", "***"), ("bob", "***")]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masking_a_binary_int_keeps_its_wire_size(with_plugins, binary):
    p = with_plugins("mask", results="on", mask_column="n", mask_value="0")
    with p.connect() as c:
        assert fetch(c, ROWS_SQL, binary) == [(0, "v1"), (0, "v2"), (0, "v3")]


def test_marks_are_visible_to_other_plugins(with_plugins):
    # "mask" marks column 0; "spy" (after it in the chain) reads the marks
    p = with_plugins("mask", "spy", results="on", mask_column="n", mask_value="0")
    with p.connect() as c:
        c.execute(ROWS_SQL).fetchall()
    done = log_lines(p, "spy", "command_complete")
    assert any("marks0=mask:masked, spy:masked" in d for d in done), done


def test_rows_larger_than_the_buffer(with_plugins):
    p = with_plugins("mask", results="on", mask_column="secret", overrides={"pkt_buf": "4096"})
    big = 200_000
    with p.connect() as c:
        rows = c.execute(f"SELECT repeat('a', {big}) AS secret, repeat('b', {big}) AS other").fetchall()
        assert rows == [("***", "b" * big)]
        # a result nobody asked to see is streamed as before
        assert c.execute(f"SELECT repeat('c', {big}) AS plain").fetchone() == ("c" * big,)


def test_multi_statement_query_gets_one_result_per_statement(with_plugins):
    p = with_plugins("res", results="on")
    with RawConn(p.host, p.port) as raw:
        raw.login("appuser", "appdb", password="apppass")
        raw.send(message(b"Q", b"SELECT 1; SELECT 2, 3 UNION ALL SELECT 4, 5\0"))
        while raw.recv_msg()[0] != b"Z":
            pass
    p.wait_log(r"plugin res: command_complete tag=SELECT 2 ")
    done = log_lines(p, "res", "command_complete")
    assert [d.split(" bytes=")[0] for d in done[-2:]] == ["tag=SELECT 1 rows=1 rows_sent=1",
                                                          "tag=SELECT 2 rows=2 rows_sent=2"], done


def test_dml_tags_carry_row_counts(with_plugins):
    p = with_plugins("res", results="on")
    with p.connect() as c:
        c.execute("CREATE TEMP TABLE t (x int)")
        c.execute("INSERT INTO t SELECT generate_series(1, 5)")
        c.execute("UPDATE t SET x = x + 1 WHERE x > 2")
        c.execute("DELETE FROM t")
    done = log_lines(p, "res", "command_complete")
    tags = [re.match(r"tag=(.*?) rows=(\d+)", d).groups() for d in done]
    assert ("INSERT 0 5", "5") in tags and ("UPDATE 3", "3") in tags and ("DELETE 5", "5") in tags, tags


@pytest.mark.parametrize("in_transaction", [False, True])
def test_error_hook_sees_server_and_plugin_errors(with_plugins, in_transaction):
    p = with_plugins("res", results="on")
    with p.connect(autocommit=not in_transaction) as c:
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1/0")
        if in_transaction:
            c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by res"):
            c.execute("SELECT 2 /* pgw:block */")
    errors = log_lines(p, "res", "error")
    assert any(e.startswith("severity=ERROR sqlstate=22012 blocked_by=- message=division by zero")
               for e in errors), errors
    assert any(e.startswith("severity=ERROR sqlstate=42501 blocked_by=res message=blocked by res")
               for e in errors), errors


def test_describe_statement_leaves_formats_unknown(with_plugins):
    """Parse + Describe('S'): the server reports text for every column, but
    the client picks formats in a later Bind — plugins are told -1, and the
    test plugin masks such values as NULL."""
    p = with_plugins("mask", results="on", mask_column="secret")
    with RawConn(p.host, p.port) as raw:
        raw.login("appuser", "appdb", password="apppass")
        raw.send(message(b"P", b"s1\0SELECT 'hidden'::text AS secret, 7 AS n\0\0\0")
                 + message(b"D", b"Ss1\0") + message(b"S"))
        types = []
        while True:
            mtype, _ = raw.recv_msg()
            types.append(mtype)
            if mtype == b"Z":
                break
        assert types == [b"1", b"t", b"T", b"Z"]
        # Bind with binary results, no Describe of the portal
        bind = b"\0s1\0" + b"\0\0" + b"\0\0" + struct.pack("!hh", 1, 1)
        raw.send(message(b"B", bind) + message(b"E", b"\0\0\0\0\0") + message(b"S"))
        rows = []
        while True:
            mtype, body = raw.recv_msg()
            if mtype == b"D":
                rows.append(body)
            if mtype == b"Z":
                break
    assert len(rows) == 1
    ncols, first_len = struct.unpack("!hi", rows[0][:6])
    assert ncols == 2 and first_len == -1, rows
    assert "n=2 cols=secret:25:-1:0,n:23:-1:0" in log_lines(p, "mask", "row_description")


def test_copy_out_and_in_pass_with_result_hooks(with_plugins):
    p = with_plugins("res", results="on")
    with p.connect() as c:
        assert len(copy_round_trip(c, 100)) == 100
    assert any(d.startswith("tag=COPY 100 rows=100") for d in log_lines(p, "res", "command_complete"))


# ---------------------------------------------------------------------------
# worker pool, counters
# ---------------------------------------------------------------------------

def test_worker_runs_off_the_loop_and_completes_on_it(with_plugins):
    p = with_plugins("w")
    with p.connect() as c, p.connect() as other:
        assert c.execute("SELECT 'worked' /* pgw:worker */").fetchone() == ("worked",)
        assert other.execute("SELECT 'meanwhile'").fetchone() == ("meanwhile",)
    assert log_lines(p, "w", "worker done") == ["answer=499999500000"]


def test_plugin_counters_in_the_console(with_plugins):
    p = with_plugins("mask", results="on", mask_column="secret")
    with p.connect() as c:
        c.execute(ROWS_SQL).fetchall()
        c.execute("SELECT 1")
    rows = {(r["plugin"], r["counter"]): int(r["value"]) for r in p.admin_rows("SHOW PLUGIN_COUNTERS")}
    assert rows[("mask", "rows_masked")] == 3
    assert rows[("mask", "statements")] >= 2
    hooks = p.admin_rows("SHOW PLUGINS")[0]["hooks"].split(",")
    for h in ("row_description", "data_row", "command_complete", "error"):
        assert h in hooks


# ---------------------------------------------------------------------------
# client_auth sees every startup parameter
# ---------------------------------------------------------------------------

def test_client_auth_gets_all_startup_parameters(with_plugins):
    p = with_plugins("idp", auth="on", map_user="appuser",
                     overrides={"ignore_startup_parameters": "options, extra_float_digits"})
    with p.connect(user="alice", password="letmein", application_name="agent-7",
                   options="-c geqo=off") as c:
        c.execute("SELECT 1")
    params = log_lines(p, "idp", "client_auth_params")[0]
    for kv in ("user=alice;", "database=appdb;", "application_name=agent-7;", "options=-c geqo=off;"):
        assert kv in params, params


# ---------------------------------------------------------------------------
# which statement a result answers
# ---------------------------------------------------------------------------

def test_results_name_their_statement_simple_and_multi(with_plugins):
    p = with_plugins("res", results="on")
    with p.connect() as c:
        c.execute("SELECT 1 AS a; SELECT 2 AS b")
    done = log_lines(p, "res", "command_complete")
    assert any(d.endswith("stmt=- idx=0 params=[] orig=- sql=SELECT 1 AS a; SELECT 2 AS b") for d in done), done
    assert any(d.endswith("stmt=- idx=1 params=[] orig=- sql=SELECT 1 AS a; SELECT 2 AS b") for d in done), done


def test_results_name_prepared_statement_and_parameters(with_plugins):
    p = with_plugins("res", results="on")
    with p.connect(prepare_threshold=0) as c:
        for i in range(2):
            c.execute("SELECT %s::int + %s::int AS total", (str(i), None))  # str: sent in text format
        c.execute("SELECT %s::int + 1 AS b", (7,))  # int: sent in binary format
        c.execute("SELECT %s::text AS t", ("unnamed",), prepare=False)
    done = log_lines(p, "res", "command_complete")
    named = [d for d in done if "sql=SELECT $1::int + $2::int AS total" in d]
    assert len(named) == 2, done
    assert re.search(r"stmt=_pg3_\d+ idx=0 params=\[0\|NULL\]", named[0]), named
    assert re.search(r"stmt=_pg3_\d+ idx=0 params=\[1\|NULL\]", named[1]), named
    assert any("stmt= idx=0 params=[unnamed] orig=- sql=SELECT $1::text AS t" in d for d in done), done
    assert any(re.search(r"params=\[.*\(b\)\] orig=- sql=SELECT \$1::int \+ 1 AS b", d) for d in done), done


def test_pipeline_error_skips_queued_executes(with_plugins):
    """P B E(ok) P B E(error) P B E(skipped by the server) S, then a Query:
    each result is matched to its own statement, the skipped one to none."""
    p = with_plugins("res", results="on")
    with RawConn(p.host, p.port) as raw:
        raw.login("appuser", "appdb", password="apppass")
        batch = b""
        for sql in ("SELECT 'one'", "SELECT 1/0", "SELECT 'three'"):
            batch += (message(b"P", b"\0" + sql.encode() + b"\0\0\0")
                      + message(b"B", b"\0\0\0\0\0\0\0\0") + message(b"E", b"\0\0\0\0\0"))
        raw.send(batch + message(b"S"))
        while raw.recv_msg()[0] != b"Z":
            pass
        assert raw.scalar("SELECT 'after'") == "after"
    done = log_lines(p, "res", "command_complete")
    errors = log_lines(p, "res", "error")
    assert any(d.startswith("tag=SELECT 1 ") and d.endswith("sql=SELECT 'one'") for d in done), done
    assert any("sqlstate=22012" in e and e.endswith("sql=SELECT 1/0") for e in errors), errors
    assert not any("three" in d for d in done)
    assert any(d.endswith("sql=SELECT 'after'") for d in done), done


def test_rewritten_statement_results_carry_both_texts(with_plugins):
    p = with_plugins("res", results="on", rewrite_to="SELECT 'new text'")
    with p.connect() as c:
        assert c.execute("SELECT 'old text' /* pgw:rewrite */").fetchone() == ("new text",)
    done = log_lines(p, "res", "command_complete")
    assert any(d.endswith("orig=SELECT 'old text' /* pgw:rewrite */ sql=SELECT 'new text'") for d in done), done


@pytest.mark.parametrize("in_transaction", [False, True])
def test_blocked_statement_error_names_its_sql(with_plugins, in_transaction):
    p = with_plugins("res", results="on")
    with p.connect(autocommit=not in_transaction) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT 'x' /* pgw:block */")
    errors = log_lines(p, "res", "error")
    assert any("blocked_by=res" in e and e.endswith("sql=SELECT 'x' /* pgw:block */") for e in errors), errors


# ---------------------------------------------------------------------------
# statement_decided: sees every outcome, may veto or hold
# ---------------------------------------------------------------------------

def test_statement_decided_sees_allowed_statements_too(with_plugins):
    # "first" allows (stops the chain); "audit" still sees the outcome
    p = with_plugins("first", "audit", decided="on")
    with p.connect() as c:
        c.execute("SELECT 1 /* pgw:allow:first */")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT 2 /* pgw:block */")
    seen = log_lines(p, "audit", "decided")
    assert any(d.startswith("source=Q decision=1 by=first sqlstate=-") and "pgw:allow:first" in d for d in seen), seen
    assert any(d.startswith("source=Q decision=3 by=first sqlstate=42501") and d.endswith("sql=-") for d in seen), seen


@pytest.mark.parametrize("in_transaction", [False, True])
def test_statement_decided_sees_and_vetoes_each_run_of_a_prepared_statement(with_plugins, in_transaction):
    p = with_plugins("audit", decided="on", overrides={"pool_mode": "transaction"})
    with p.connect(autocommit=not in_transaction) as c:
        # the Parse goes through; every Execute of it is shown and refused
        for _ in range(2):
            with pytest.raises(psycopg.Error, match="this run vetoed") as e:
                c.execute("SELECT %s::int /* pgw:deny-run */", (1,), prepare=True)
            assert e.value.sqlstate == "58030"
            if in_transaction:
                c.rollback()
        # the session goes on, prepared statements that are not vetoed run
        for i in range(3):
            assert c.execute("SELECT %s::int AS n", (i,), prepare=True).fetchone() == (i,)
    seen = log_lines(p, "audit", "decided")
    runs = [d for d in seen if d.startswith("source=E")]
    assert len([d for d in runs if "pgw:deny-run" in d]) == 2, seen
    assert len([d for d in runs if d.endswith("sql=SELECT $1::int AS n")]) == 3, seen


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_statement_decided_veto_and_hold(with_plugins, mode):
    p = with_plugins("audit", decided="on", later_ms="50", overrides={"pool_mode": mode})
    with p.connect() as c:
        with pytest.raises(psycopg.Error, match="vetoed after the decision"):
            c.execute("SELECT 1 /* pgw:veto */")
        assert c.execute("SELECT 'held' /* pgw:hold */").fetchone() == ("held",)
        assert c.execute("SELECT 'fine'").fetchone() == ("fine",)
