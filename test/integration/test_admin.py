"""Admin console (database `pgbouncer`).  Column lists: PgBouncer 1.18 has
fewer columns than the reference (HEAD); pgwarden must have the HEAD lists
(compat reference §2), PgBouncer 1.18 its own."""

import os
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import IS_PGBOUNCER, PG_BIN, TARGET_BIN, as_postgres_kwargs, run_target

SOCKET_COLS_118 = ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
                   "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
                   "remote_pid", "tls", "application_name"]
SOCKET_COLS_HEAD = ["type", "user", "database", "replication", "state", "addr", "port", "local_addr",
                    "local_port", "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr",
                    "link", "remote_pid", "tls", "application_name", "prepared_statements", "id"]
POOLS_COLS_118 = ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                  "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested",
                  "sv_login", "maxwait", "maxwait_us", "pool_mode"]
POOLS_COLS_HEAD = POOLS_COLS_118 + ["load_balance_hosts"]
DATABASES_COLS_118 = ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                      "reserve_pool", "pool_mode", "max_connections", "current_connections", "paused", "disabled"]
DATABASES_COLS_HEAD = ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                       "reserve_pool_size", "server_lifetime", "pool_mode", "load_balance_hosts",
                       "max_connections", "current_connections", "max_client_connections",
                       "current_client_connections", "paused", "disabled"]
STATS_COLS_118 = ["database", "total_xact_count", "total_query_count", "total_received", "total_sent",
                  "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count",
                  "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time"]


def columns(p, command):
    with p.admin() as c:
        cur = c.execute(command)
        return [d.name for d in cur.description]


def expect(cols_118, cols_head):
    return cols_118 if IS_PGBOUNCER else cols_head


def test_show_version_matches_dash_v(pooler):
    rows = pooler.admin_rows("SHOW VERSION")
    assert list(rows[0]) == ["version"]
    assert rows[0]["version"] == run_target(["-V"]).stdout.splitlines()[0]


def test_admin_login_parameters(pooler):
    with pooler.admin() as c:
        assert c.info.parameter_status("server_version").endswith("/bouncer")
        assert c.info.parameter_status("client_encoding") == "UTF8"


@pytest.mark.parametrize("command,cols_118,cols_head", [
    ("SHOW CLIENTS", SOCKET_COLS_118, SOCKET_COLS_HEAD),
    ("SHOW SERVERS", SOCKET_COLS_118, SOCKET_COLS_HEAD),
    ("SHOW POOLS", POOLS_COLS_118, POOLS_COLS_HEAD),
    ("SHOW DATABASES", DATABASES_COLS_118, DATABASES_COLS_HEAD),
])
def test_show_columns(pooler, command, cols_118, cols_head):
    assert columns(pooler, command) == expect(cols_118, cols_head)


def test_show_stats_columns(pooler):
    cols = columns(pooler, "SHOW STATS")
    if IS_PGBOUNCER:
        assert cols == STATS_COLS_118
    else:
        assert cols[0] == "database" and "total_xact_count" in cols and "avg_wait_time" in cols


def test_show_pools_and_clients_content(pooler):
    with pooler.connect() as c:
        c.execute("SELECT 1")
        pools = [r for r in pooler.admin_rows("SHOW POOLS") if r["database"] == "appdb"]
        assert len(pools) == 1
        assert pools[0]["user"] == "appuser"
        assert pools[0]["cl_active"] == 1
        assert pools[0]["sv_active"] == 1
        assert pools[0]["pool_mode"] == "session"
        clients = [r for r in pooler.admin_rows("SHOW CLIENTS") if r["database"] == "appdb"]
        assert len(clients) == 1 and clients[0]["user"] == "appuser" and clients[0]["type"] == "C"
        servers = pooler.admin_rows("SHOW SERVERS")
        assert [s["type"] for s in servers] == ["S"]
        assert servers[0]["remote_pid"] == c.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_show_databases_content(pooler, pg):
    dbs = {r["name"]: r for r in pooler.admin_rows("SHOW DATABASES")}
    assert {"appdb", "otherdb", "pgbouncer"} <= set(dbs)
    assert dbs["appdb"]["host"] == "127.0.0.1"
    assert dbs["appdb"]["port"] == pg.port
    assert dbs["appdb"]["pool_size"] == 20
    assert dbs["pgbouncer"]["pool_mode"] == "statement"


def test_show_lists(pooler):
    rows = {r["list"]: r["items"] for r in pooler.admin_rows("SHOW LISTS")}
    for key in ("databases", "users", "pools", "free_clients", "used_clients", "login_clients",
                "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending"):
        assert key in rows


def test_show_config_and_set(pooler):
    cfg = {r["key"]: r for r in pooler.admin_rows("SHOW CONFIG")}
    assert list(next(iter(cfg.values()))) == ["key", "value", "default", "changeable"]
    assert cfg["default_pool_size"]["value"] == "20"
    assert cfg["default_pool_size"]["changeable"] == "yes"
    assert cfg["listen_port"]["changeable"] == "no"
    assert cfg["listen_port"]["default"] == "6432"
    with pooler.admin() as c:
        cur = c.execute("SET default_pool_size = 7")
        assert cur.statusmessage == "SET default_pool_size=7"
    cfg = {r["key"]: r for r in pooler.admin_rows("SHOW CONFIG")}
    assert cfg["default_pool_size"]["value"] == "7"
    # alphabetical (at HEAD pool_idle_timeout sits right after pool_mode)
    keys = [r["key"] for r in pooler.admin_rows("SHOW CONFIG") if r["key"] != "pool_idle_timeout"]
    assert keys == sorted(keys)


def test_fake_parameters(pooler):
    with pooler.admin() as c:
        assert c.execute("SHOW client_encoding").fetchone()[0] == "UTF-8"
        assert c.execute("SHOW timezone").fetchone()[0] == "GMT"
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        cur = c.execute("SET client_encoding = 'LATIN1'")
        assert cur.statusmessage == "SET"
        assert "SET ignored" in notices


def test_show_help(pooler):
    with pooler.admin() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        cur = c.execute("SHOW HELP")
        assert cur.statusmessage == "SHOW"
        assert any("Console usage" in n for n in notices)


@pytest.mark.parametrize("command", ["FOO", "SHOW NOTHING", "SHOW POOLS POOLS POOLS"])
def test_invalid_command(pooler, command):
    with pooler.admin() as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute(command)
        assert ei.value.sqlstate == "08P01"
        assert str(ei.value) == f"invalid command '{command}', use SHOW HELP;"


def test_extended_protocol_rejected(pooler):
    with pooler.admin() as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute("SHOW %s", ("POOLS",), prepare=False)
        assert "extended query protocol not supported by admin console" in str(ei.value)
    pooler.assert_serving()


def test_pause_resume(pooler):
    with pooler.admin() as adm:
        adm.execute("PAUSE")
        result = {}

        def client():
            t0 = time.monotonic()
            with pooler.connect() as c:
                result["v"] = c.execute("SELECT 1").fetchone()[0]
            result["t"] = time.monotonic() - t0

        t = threading.Thread(target=client)
        t.start()
        time.sleep(1.0)
        assert "v" not in result, "query ran while paused"
        adm.execute("RESUME")
        t.join(10)
        assert result["v"] == 1 and result["t"] >= 0.9
        with pytest.raises(psycopg.Error) as ei:
            adm.execute("RESUME")
        assert "not paused" in str(ei.value)


def test_disable_enable(pooler):
    with pooler.admin() as adm:
        adm.execute("DISABLE appdb")
        with pytest.raises(psycopg.OperationalError):
            with pooler.connect() as c:
                c.execute("SELECT 1")
        adm.execute("ENABLE appdb")
    pooler.assert_serving()


def test_kill_database(pooler):
    c = pooler.connect()
    try:
        c.execute("SELECT 1")
        with pooler.admin() as adm:
            adm.execute("KILL appdb")
            with pytest.raises(psycopg.OperationalError):
                c.execute("SELECT 1")
            adm.execute("RESUME appdb")
    finally:
        c.close()
    pooler.assert_serving()


def test_reconnect_replaces_servers(pooler, pg):
    with pooler.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    with pooler.admin() as adm:
        adm.execute("RECONNECT appdb")
    time.sleep(0.3)
    with pooler.connect() as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_console_via_unix_socket_as_pgbouncer_user(pooler):
    """User `pgbouncer` over the Unix socket with the same uid as the pooler
    gets in without a password."""
    kw = as_postgres_kwargs()  # same uid as the pooler
    out = subprocess.run([str(PG_BIN / "psql"), "-X", "-A", "-t", "-h", str(pooler.dir), "-p", str(pooler.port),
                          "-U", "pgbouncer", "-d", "pgbouncer", "-w", "-c", "SHOW VERSION"],
                         capture_output=True, text=True, timeout=15, **kw)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == run_target(["-V"]).stdout.splitlines()[0]


@pytest.mark.pgwarden_only
def test_show_state(pooler):
    rows = {r["key"]: r["value"] for r in pooler.admin_rows("SHOW STATE")}
    assert rows == {"active": "yes", "paused": "no", "suspended": "no"}
