"""Plugin ABI: loading, the hook chains and what each decision does on the wire.

The plugins are the shared objects the build makes next to the binary under
test (test/plugins/testplug.so, plugins/example/example.so); see
test/plugins/testplug.c for the markers that pick its decisions.
"""

import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import TARGET_BIN, TMP_ROOT, PoolerFailed, chown_postgres
from pgproto import RawConn, message, parse_error_fields

pytestmark = pytest.mark.pgwarden_only

BUILD_DIR = Path(TARGET_BIN).resolve().parent
# Where `make install` runs: the build tree, also when run-all.sh tests a
# staged copy of its programs (see there).
MAKE_DIR = Path(os.environ.get("PGWARDEN_BUILD_DIR") or BUILD_DIR)
TESTPLUG = BUILD_DIR / "test" / "plugins" / "testplug.so"
EXAMPLE = BUILD_DIR / "plugins" / "example" / "example.so"


def plugin_ini(*names, path=TESTPLUG, **keys):
    """[plugin.NAME] sections for names, each with path and keys."""
    out = []
    for name in names:
        out.append(f"[plugin.{name}]")
        out.append(f"path = {path}")
        for k, v in keys.items():
            out.append(f"{k} = {v}")
        out.append("")
    return "\n".join(out)


@pytest.fixture
def with_plugins(pgwarden):
    def start(*names, overrides=None, extra="", **keys):
        settings = {"plugins": ", ".join(names)}
        settings.update(overrides or {})
        return pgwarden(settings, extra_ini=plugin_ini(*names, **keys) + extra)
    return start


def log_lines(p, plugin, event):
    return [m.group(1) for m in re.finditer(rf"plugin {plugin}: {event} ?(.*)", p.log_text())]


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------

def test_plugin_loads_with_its_config(with_plugins):
    p = with_plugins("one", colour="blue")
    p.wait_log(r"plugin one: init with 2 keys, first path=")
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def refuses_to_start(pgwarden, settings, extra, pattern):
    with pytest.raises(PoolerFailed) as exc:
        pgwarden(settings, extra_ini=extra)
    assert re.search(pattern, str(exc.value)), str(exc.value)


def test_listed_plugin_without_section(pgwarden):
    refuses_to_start(pgwarden, {"plugins": "ghost"}, "",
                     r'plugin "ghost" is listed in plugins but has no \[plugin.ghost\] section')


def test_plugin_without_path(pgwarden):
    refuses_to_start(pgwarden, {"plugins": "nopath"}, "[plugin.nopath]\ncolour = red\n",
                     r'plugin "nopath": \[plugin.nopath\] has no path')


def test_missing_plugin_file(pgwarden):
    refuses_to_start(pgwarden, {"plugins": "gone"}, "[plugin.gone]\npath = /nonexistent/gone.so\n",
                     r'plugin "gone" \(/nonexistent/gone.so\): cannot load')


def test_shared_object_without_abi_symbol(pgwarden):
    # Any shared object that is not a plugin: libc has no pgwarden symbols.
    refuses_to_start(pgwarden, {"plugins": "libc"}, "[plugin.libc]\npath = libc.so.6\n",
                     r'plugin "libc" \(libc.so.6\): no pgwarden_plugin_abi symbol')


def test_plugin_init_failure_unloads_everything(pgwarden):
    extra = plugin_ini("good") + plugin_ini("bad", fail_init="yes")
    refuses_to_start(pgwarden, {"plugins": "good, bad"}, extra,
                     r'plugin "bad" .*initialisation failed: fail_init is set')


def test_wrong_abi_version(pgwarden):
    d = Path(tempfile.mkdtemp(prefix="pgwarden-abi-", dir=TMP_ROOT))
    src, so = d / "oldabi.c", d / "oldabi.so"
    src.write_text("const int pgwarden_plugin_abi = 999;\n"
                   "int pgwarden_plugin_init(void) { return 0; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    d.chmod(0o755)
    chown_postgres(d)
    refuses_to_start(pgwarden, {"plugins": "old"}, f"[plugin.old]\npath = {so}\n",
                     r'plugin "old" .*built for plugin ABI version 999, this pgwarden has 1')


# ---------------------------------------------------------------------------
# session and statement hooks
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_session_and_statement_hooks_see_the_session(with_plugins, mode):
    p = with_plugins("spy", overrides={"pool_mode": mode})
    with p.connect(application_name="spyapp") as c:
        c.execute("SELECT 41 + 1")
        c.execute("SELECT %s::int", (7,), prepare=False)
    p.wait_log(r"plugin spy: session_end")
    start = log_lines(p, "spy", "session_start")
    assert len(start) == 1
    assert "user=appuser database=appdb app=spyapp subject=-" in start[0]
    stmts = log_lines(p, "spy", "statement")
    assert any(s.startswith("source=Q name= subject=- count=1 sql=SELECT 41 + 1") for s in stmts), stmts
    assert any(s.startswith("source=P name= ") and "sql=SELECT $1::int" in s for s in stmts), stmts
    end = log_lines(p, "spy", "session_end")
    assert re.match(r"statements=2 reason=client close request", end[0]), end


def test_named_prepared_statement_name_is_seen(with_plugins):
    p = with_plugins("spy")
    with p.connect(prepare_threshold=0) as c:
        c.execute("SELECT %s::int + 2", (1,))
    assert any(re.match(r"source=P name=_pg3_\d+ ", s) for s in log_lines(p, "spy", "statement"))


def test_rewrite_simple_and_extended(with_plugins):
    p = with_plugins("rw", rewrite_to="SELECT 'rewritten'::text AS r")
    with p.connect() as c:
        assert c.execute("SELECT 'original' /* pgw:rewrite */").fetchone() == ("rewritten",)
        assert c.execute("SELECT 1").fetchone() == (1,)
    p2 = with_plugins("rw2", rewrite_to="SELECT $1::int * 10")
    with p2.connect() as c:
        # Parse keeps its name and parameter types; the server sees the new SQL.
        assert c.execute("SELECT %s::int /* pgw:rewrite */", (4,), prepare=False).fetchone() == (40,)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_block_simple_query_outside_transaction(with_plugins, mode):
    p = with_plugins("guard", overrides={"pool_mode": mode})
    with p.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by guard"):
            c.execute("SELECT 1 /* pgw:block */")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert c.execute("SELECT 2").fetchone() == (2,)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_block_inside_transaction_fails_it_like_postgres(with_plugins, mode):
    p = with_plugins("guard", overrides={"pool_mode": mode}, block_sqlstate="42P01")
    with p.connect() as c:
        c.execute("BEGIN")
        c.execute("SELECT 1")
        with pytest.raises(psycopg.errors.UndefinedTable, match="blocked by guard"):
            c.execute("SELECT 1 /* pgw:block */")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        # The transaction is really failed on the server, as in PostgreSQL.
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("SELECT 3")
        c.execute("ROLLBACK")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert c.execute("SELECT 4").fetchone() == (4,)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_block_extended_protocol(with_plugins, mode):
    p = with_plugins("guard", overrides={"pool_mode": mode})
    with p.connect() as c:
        for _ in range(3):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by guard"):
                c.execute("SELECT %s::int /* pgw:block */", (1,), prepare=False)
            assert c.execute("SELECT %s::int + 1", (1,), prepare=False).fetchone() == (2,)
        c.execute("BEGIN")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT %s::int /* pgw:block */", (1,), prepare=False)
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        c.execute("ROLLBACK")
        assert c.execute("SELECT %s::text", ("ok",), prepare=False).fetchone() == ("ok",)


def test_invalid_decision_fails_closed(with_plugins):
    p = with_plugins("broken")
    with p.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by plugin broken"):
            c.execute("SELECT 1 /* pgw:bad */")
        assert c.execute("SELECT 1").fetchone() == (1,)
    p.wait_log(r"plugin broken: invalid decision 99 from statement hook")


def test_later_completed_by_timer(with_plugins):
    p = with_plugins("slow")
    with p.connect() as c:
        assert c.execute("SELECT 'waited' /* pgw:later */").fetchone() == ("waited",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by slow"):
            c.execute("SELECT 1 /* pgw:later pgw:block */")
        assert c.execute("SELECT %s::int /* pgw:later */", (5,), prepare=False).fetchone() == (5,)
    assert len(log_lines(p, "slow", "completing later request")) == 3


def test_client_leaving_while_statement_is_held(with_plugins):
    p = with_plugins("slow")
    c = p.connect()
    c.pgconn.send_query(b"SELECT 1 /* pgw:later */")
    c.close()
    p.wait_log(r"plugin slow: completing later request")
    with p.connect() as c2:
        assert c2.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("in_transaction", [False, True])
def test_cancel_reaches_a_held_statement(with_plugins, in_transaction):
    p = with_plugins("slow", later_ms=1500)
    with p.connect() as c:
        if in_transaction:
            c.execute("BEGIN")
        timer = threading.Timer(0.3, c.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("SELECT 1 /* pgw:later */")
        timer.join()
        assert time.monotonic() - started < 1.2
        if in_transaction:
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
            c.execute("ROLLBACK")
        assert c.execute("SELECT 'after cancel'").fetchone() == ("after cancel",)
        # The plugin's late answer arrives later and is dropped.
        p.wait_log(r"plugin slow: completing later request")
        assert c.execute("SELECT 2").fetchone() == (2,)


def test_two_plugins_chain_in_config_order(with_plugins):
    p = with_plugins("first", "second", rewrite_to="SELECT 'chained pgw:block'")
    with p.connect() as c:
        # first rewrites; second sees the new text (which asks for a block).
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by first"):
            c.execute("SELECT 1 /* pgw:block */")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="blocked by second"):
            c.execute("SELECT 1 /* pgw:rewrite */")
        # ALLOW from the first one ends the chain: the second never sees it.
        assert c.execute("SELECT 7 /* pgw:allow:first */").fetchone() == (7,)
    text = p.log_text()
    assert text.index("plugin first: init") < text.index("plugin second: init")
    assert not re.search(r"plugin second: statement .*sql=SELECT 7", text)


# ---------------------------------------------------------------------------
# client_auth
# ---------------------------------------------------------------------------

def test_auth_accept_with_identity_and_mapping(with_plugins):
    p = with_plugins("idp", auth="on", map_user="appuser")
    with p.connect(user="alice_from_idp", password="letmein") as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)
    p.wait_log(r"plugin idp: session_end")
    assert "user=alice_from_idp database=appdb" in log_lines(p, "idp", "client_auth")[0]
    start = log_lines(p, "idp", "session_start")[0]
    assert "subject=alice groups=1 email=alice@example.com" in start


def test_auth_maps_database_but_never_the_console(with_plugins):
    p = with_plugins("idp", auth="on", map_user="appuser", map_database="otherdb")
    with p.connect(db="appdb", user="carol", password="letmein") as c:
        assert c.execute("SELECT current_database(), current_user").fetchone() == ("otherdb", "appuser")
    p2 = with_plugins("idp", auth="on", map_database="pgbouncer")
    with pytest.raises(psycopg.OperationalError, match="no such database: pgbouncer"):
        p2.connect(user="carol", password="letmein")


def test_auth_later(with_plugins):
    p = with_plugins("idp", auth="on", map_user="appuser")
    with p.connect(user="bob", password="later-ok") as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)


def test_auth_reject(with_plugins):
    p = with_plugins("idp", auth="on")
    with pytest.raises(psycopg.OperationalError, match="rejected by test plugin"):
        p.connect(user="appuser", password="reject")


def test_auth_continue_falls_back_to_core(with_plugins):
    p = with_plugins("idp", auth="on")
    with p.connect(user="appuser", password="apppass") as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(user="appuser", password="wrong")


def test_auth_continue_with_auth_query(with_plugins):
    """CONTINUE for a user missing from auth_file: the password the plugin
    saw is checked once auth_query has found the user's secret."""
    p = with_plugins("idp", auth="on", overrides={"auth_user": "postgres", "auth_type": "md5"})
    p.configure(userlist='"postgres" "postgres"\n')
    p.reload()
    with p.connect(user="md5user", password="md5pass") as c:
        assert c.execute("SELECT current_user").fetchone() == ("md5user",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(user="md5user", password="wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(user="nosuchuser", password="whatever")


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_server_query_runs_on_a_pooled_connection(with_plugins, pool_mode):
    p = with_plugins("q", overrides={"pool_mode": pool_mode})
    with p.connect() as c:
        assert c.execute("SELECT 1 /* pgw:query */").fetchone() == (1,)
        assert c.execute("SELECT 2 /* pgw:query */").fetchone() == (2,)
    lines = log_lines(p, "q", "server_query")
    assert lines == ["rows=2 cols=2 first=pg_class error=- -"] * 2, lines
    assert len([s for s in p.admin_rows("SHOW SERVERS") if s["database"] == "appdb"]) >= 1


def test_server_query_errors_reach_the_plugin(with_plugins):
    p = with_plugins("q", query_sql="SELECT * FROM no_such_table")
    with p.connect() as c:
        assert c.execute("SELECT 1 /* pgw:query */").fetchone() == (1,)
    assert log_lines(p, "q", "server_query") == [
        'rows=0 cols=0 first=- error=42P01 relation "no_such_table" does not exist']
    p.assert_serving()


def test_server_query_waits_for_the_pool_and_times_out(with_plugins):
    """pool_size 1 in session mode: the client holds the only connection,
    so the plugin's query waits — until query_wait_timeout."""
    p = with_plugins("q", overrides={"default_pool_size": "1", "query_wait_timeout": "1"})
    with p.connect() as c:
        c.execute("SELECT 0")  # takes the one server for the session
        assert c.execute("SELECT 1 /* pgw:query */").fetchone() == (1,)
    assert log_lines(p, "q", "server_query") == ["rows=0 cols=0 first=- error=08006 query_wait_timeout"]


def closing_error(r, timeout=5.0):
    """The FATAL the pooler sends, read without writing first: a client that
    writes to a closed socket may lose the message to the RST."""
    errors = r.read_errors_until_close(timeout)
    assert len(errors) == 1, errors
    return errors[0]


def test_session_close_waits_for_the_transaction(with_plugins):
    p = with_plugins("closer", close_after_ms="300")
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.query("BEGIN")
        time.sleep(0.6)
        assert r.query("SELECT 2") == [("2",)]  # the transaction goes on
        r.query("COMMIT")
        err = closing_error(r)
    assert (err["S"], err["C"], err["M"]) == ("FATAL", "08006", "closed by test plugin")
    p.wait_log(r"closing because: closed by test plugin")
    # an idle client goes when the plugin says so
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        assert closing_error(r)["M"] == "closed by test plugin"
    p.assert_serving()


def test_session_close_now_ends_a_transaction(with_plugins):
    p = with_plugins("closer", close_after_ms="300", close_now="on")
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.query("BEGIN")
        assert closing_error(r)["M"] == "closed by test plugin"


# ---------------------------------------------------------------------------
# console commands
# ---------------------------------------------------------------------------

def test_plugin_console_command(with_plugins):
    p = with_plugins("cmd", command="poke")
    with p.admin() as adm:
        assert adm.execute("POKE some args here;").statusmessage == "POKE"
        assert adm.execute("poke tag").statusmessage == "CUSTOM TAG"
        notices = []
        adm.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert adm.execute("Poke notice").statusmessage == "POKE"
        assert notices == ["testplug says hello"]
        with pytest.raises(psycopg.Error) as ei:
            adm.execute("POKE fail")
        assert (ei.value.sqlstate, str(ei.value)) == ("22023", "testplug: failing as asked")
        assert adm.execute("POKE").statusmessage == "POKE"
        # the console's own grammar is untouched
        with pytest.raises(psycopg.Error) as ei:
            adm.execute("POKEX 1")
        assert "invalid command" in str(ei.value)
    assert "plugin cmd: command user=postgres args=some args here" in p.log_text()
    assert re.search(r"plugin cmd: command user=postgres args=$", p.log_text(), re.M)


def test_plugin_console_command_needs_admin(with_plugins):
    p = with_plugins("cmd", command="poke", overrides={"stats_users": "md5user"})
    with p.admin(user="md5user") as adm:
        with pytest.raises(psycopg.Error) as ei:
            adm.execute("POKE now")
        assert str(ei.value) == "admin access needed"
    assert "command user=" not in p.log_text()


@pytest.mark.parametrize("verb", ["pause", "SHOW", "set", "bad verb", "x;y"])
def test_plugin_may_not_take_a_console_command(pgwarden, verb):
    refuses_to_start(pgwarden, {"plugins": "cmd"}, plugin_ini("cmd", command=verb),
                     r'plugin "cmd" .*initialisation failed: command_register: .* is taken or invalid')


# ---------------------------------------------------------------------------
# the example plugin
# ---------------------------------------------------------------------------

def test_example_plugin_deny_and_allow_lists(pgwarden):
    extra = f"[plugin.guard]\npath = {EXAMPLE}\ndeny = DROP, TRUNCATE\nallow = SELECT, SHOW\nsqlstate = 42501\n"
    p = pgwarden({"plugins": "guard"}, extra_ini=extra)
    with p.connect() as c:
        assert c.execute("select 1").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not allowed by guard: DROP"):
            c.execute("  drop table nothing_here")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="allow list"):
            c.execute("CREATE TEMP TABLE x (a int)")
        assert c.execute("SHOW server_version_num").fetchone()
    counters = {r["counter"]: int(r["value"]) for r in p.admin_rows("SHOW PLUGIN_COUNTERS")}
    assert counters == {"statements": 4, "blocked": 2, "hidden_values": 0, "errors": 2}


def test_example_plugin_hides_columns_and_logs_slow_statements(pgwarden):
    extra = (f"[plugin.guard]\npath = {EXAMPLE}\nhide_columns = api_key\nlog_slow_ms = 100\n"
             "require_application_name = on\n")
    p = pgwarden({"plugins": "guard"}, extra_ini=extra)
    with pytest.raises(psycopg.OperationalError, match="application_name is required"):
        p.connect(password="apppass")
    with p.connect(password="apppass", application_name="agent") as c:
        rows = c.execute("SELECT 'k-123' AS api_key, 'visible' AS note, pg_sleep(0.15)::text AS s").fetchall()
        assert rows == [(None, "visible", "")]
    p.wait_log(r"plugin guard: session \d+: slow statement \(\d+ ms\): SELECT 1, 1 rows sent")
    counters = {r["counter"]: int(r["value"]) for r in p.admin_rows("SHOW PLUGIN_COUNTERS")}
    assert counters["hidden_values"] == 1


# ---------------------------------------------------------------------------
# the wire, message by message
# ---------------------------------------------------------------------------

def parse_msg(sql, name=b""):
    return message(b"P", name + b"\0" + sql.encode() + b"\0" + b"\0\0")


def bind_execute(name=b""):
    return (message(b"B", b"\0" + name + b"\0" + b"\0\0" + b"\0\0" + b"\0\0")
            + message(b"E", b"\0" + b"\0\0\0\0"))


def until_ready(raw):
    out = []
    while True:
        mtype, body = raw.recv_msg()
        out.append((mtype, body))
        if mtype == b"Z":
            return out


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_blocked_parse_in_a_pipeline_keeps_message_order(with_plugins, mode):
    """P1 B1 E1 P2(blocked) B2 E2 S: the answers to the first statement come
    first, then the plugin's error, then one ReadyForQuery; B2/E2 are skipped."""
    p = with_plugins("guard", overrides={"pool_mode": mode})
    with RawConn(p.host, p.port) as raw:
        raw.login("appuser", "appdb", password="apppass")
        for first in (True, False):  # unlinked, then (session mode) linked
            batch = b""
            if not first:
                batch += parse_msg("SELECT 1") + bind_execute()
            batch += parse_msg("SELECT 2 /* pgw:block */") + bind_execute() + message(b"S")
            raw.send(batch)
            msgs = until_ready(raw)
            types = [m[0] for m in msgs]
            expect = [b"E", b"Z"] if first else [b"1", b"2", b"D", b"C", b"E", b"Z"]
            assert types == expect, msgs
            err = parse_error_fields(msgs[-2][1])
            assert err["C"] == "42501" and err["M"] == "blocked by guard"
            assert msgs[-1][1] == b"I"
        assert raw.scalar("SELECT 'still usable'") == "still usable"


def test_header_is_self_contained_for_out_of_tree_builds():
    """A plugin builds with nothing but include/ (what `make install` ships),
    as C99 and as C++."""
    include = Path(__file__).resolve().parents[2] / "include"
    example = include.parent / "plugins" / "example" / "example.c"
    d = Path(tempfile.mkdtemp(prefix="pgwarden-oot-", dir=TMP_ROOT))
    try:
        subprocess.run(["cc", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                        f"-I{include}", "-o", str(d / "example.so"), str(example)], check=True)
        (d / "probe.cc").write_text("#include <pgwarden/plugin.h>\nint probe() { return PGW_ABI_VERSION; }\n")
        if subprocess.run(["sh", "-c", "command -v c++"], capture_output=True).returncode == 0:
            subprocess.run(["c++", "-Wall", "-Werror", "-c", f"-I{include}", "-o", str(d / "probe.o"),
                            str(d / "probe.cc")], check=True)
    finally:
        subprocess.run(["rm", "-rf", str(d)])


# ---------------------------------------------------------------------------
# reload
# ---------------------------------------------------------------------------

def test_reload_reconfigures_plugin_without_dropping_clients(with_plugins):
    p = with_plugins("one", colour="blue")
    p.wait_log(r"plugin one: init with 2 keys")
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        p.configure(extra_ini=plugin_ini("one", colour="red", shape="round"))
        p.reload()
        p.wait_log(r"plugin one: reload with 3 keys")
        # the connected client goes on through the same pooler
        assert c.execute("SELECT 2").fetchone() == (2,)


def test_reload_refused_by_plugin_keeps_running(with_plugins):
    p = with_plugins("one")
    p.configure(extra_ini=plugin_ini("one", fail_reload="1"))
    p.reload()
    p.wait_log(r"refusing reload as asked")
    assert p.alive()
    with p.connect() as c:
        assert c.execute("SELECT 3").fetchone() == (3,)


def test_show_plugins_lists_loaded_plugins_in_order(with_plugins):
    p = with_plugins("one", "two")
    with p.connect() as c:
        c.execute("SELECT 1")
    rows = p.admin_rows("SHOW PLUGINS")
    assert [r["name"] for r in rows] == ["one", "two"]
    for r in rows:
        assert r["path"] == str(TESTPLUG)
        assert int(r["abi_version"]) == 1
        assert "statement" in r["hooks"].split(",")
        assert int(r["calls"]) >= 1
        assert int(r["errors"]) == 0


def test_show_plugins_empty_without_plugins(pgwarden):
    p = pgwarden()
    assert p.admin_rows("SHOW PLUGINS") == []


def test_out_of_tree_plugin_against_installed_header(pgwarden):
    """`make install` ships the header and pgwarden.pc; a plugin compiled with
    nothing but `pkg-config --cflags pgwarden` loads and works."""
    if not (MAKE_DIR / "Makefile").exists():
        pytest.skip("binary under test is not in a build directory")
    d = Path(tempfile.mkdtemp(prefix="pgwarden-inst-", dir=TMP_ROOT))
    try:
        subprocess.run(["make", "-s", "-C", str(MAKE_DIR), "install-pkgincludeHEADERS",
                        "install-pkgconfigDATA", f"DESTDIR={d}"], check=True, capture_output=True)
        pcs = list(d.rglob("pgwarden.pc"))
        assert len(pcs) == 1
        prefix = next(p for p in d.rglob("include") if (p / "pgwarden" / "plugin.h").exists()).parent
        cflags = subprocess.run(["pkg-config", f"--define-variable=prefix={prefix}", "--cflags", "pgwarden"],
                                env={"PKG_CONFIG_PATH": str(pcs[0].parent), "PATH": "/usr/bin:/bin"},
                                check=True, capture_output=True, text=True).stdout.split()
        assert cflags == [f"-I{prefix}/include"]
        src = Path(__file__).resolve().parents[2] / "plugins" / "example" / "example.c"
        so = d / "guard.so"
        subprocess.run(["cc", "-shared", "-fPIC", *cflags, str(src), "-o", str(so)], check=True)
        chown_postgres(d)
        p = pgwarden({"plugins": "guard"}, extra_ini=f"[plugin.guard]\npath = {so}\ndeny = DROP\n")
        with p.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
            with pytest.raises(psycopg.Error):
                c.execute("DROP TABLE IF EXISTS nothing_here")
            assert c.execute("SELECT 2").fetchone() == (2,)
    finally:
        subprocess.run(["rm", "-rf", str(d)])


def test_pipelined_query_larger_than_the_buffer(with_plugins):
    """A small Query forwarded, then one larger than pkt_buf in the same read:
    the buffer grows to show the plugin the whole second one, and the first
    must still reach the server intact (regression: it was sent from the
    buffer's old address)."""
    p = with_plugins("spy", overrides={"pkt_buf": "4096"})
    big = "x" * 100_000
    with RawConn(p.host, p.port) as raw:
        raw.login("appuser", "appdb", password="apppass")
        raw.send(message(b"Q", b"SELECT 'first'\0") + message(b"Q", f"SELECT '{big}'\0".encode()))
        values = []
        for _ in range(2):
            for mtype, body in until_ready(raw):
                if mtype == b"D":
                    values.append(body[6:].decode())
        assert values == ["first", big]
