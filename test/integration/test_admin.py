"""Admin console (database `pgbouncer`, alias `pgwarden`), compat reference §2.

Every SHOW has PgBouncer 1.18's exact column names, order and types first;
pgwarden appends the columns later versions added.  The acceptance check,
test_show_columns_match_pgbouncer, runs Debian's pgbouncer next to the binary
under test with the same config and compares the two, command by command.
The other tests check what each command does, and PgBouncer's errors."""

import os
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import (IS_PGBOUNCER, PG_BIN, Pooler, as_postgres_kwargs, chown_postgres, popen_tied, run_target,
                      wait_for)

REFERENCE_BIN = "/usr/sbin/pgbouncer"

# The SHOW commands of the issue, in its order.
SHOW_COMMANDS = ["HELP", "CONFIG", "DATABASES", "POOLS", "CLIENTS", "SERVERS", "STATS", "STATS_TOTALS",
                 "STATS_AVERAGES", "TOTALS", "LISTS", "USERS", "FDS", "SOCKETS", "ACTIVE_SOCKETS", "MEM",
                 "DNS_HOSTS", "DNS_ZONES", "VERSION", "STATE"]

# PgBouncer 1.18's columns (from the Debian 12 binary), and what pgwarden
# appends: the columns of later versions.
SOCKET_118 = ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port", "connect_time",
              "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
              "application_name"]
SOCKET_LATER = ["replication", "prepared_statements", "id"]
SBUF_COLS = ["recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail"]
STATS_118 = ["xact_count", "query_count", "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time"]
STATS_LATER = ["server_assignment_count", "client_parse_count", "server_parse_count", "bind_count",
               "client_login_count"]
COLUMNS = {
    # command: (1.18 columns, later columns)
    "CLIENTS": (SOCKET_118, SOCKET_LATER),
    "SERVERS": (SOCKET_118, SOCKET_LATER),
    "SOCKETS": (SOCKET_118 + SBUF_COLS, SOCKET_LATER),
    "ACTIVE_SOCKETS": (SOCKET_118 + SBUF_COLS, SOCKET_LATER),
    "POOLS": (["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
               "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested",
               "sv_login", "maxwait", "maxwait_us", "pool_mode"],
              ["load_balance_hosts"]),
    "DATABASES": (["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "reserve_pool",
                   "pool_mode", "max_connections", "current_connections", "paused", "disabled"],
                  ["reserve_pool_size", "server_lifetime", "load_balance_hosts", "max_client_connections",
                   "current_client_connections"]),
    "USERS": (["name", "pool_mode"],
              ["pool_size", "reserve_pool_size", "max_user_connections", "current_connections",
               "max_user_client_connections", "current_client_connections"]),
    "STATS": (["database"] + ["total_" + c for c in ("xact_count", "query_count", "received", "sent", "xact_time",
                                                    "query_time", "wait_time")]
              + ["avg_" + c for c in ("xact_count", "query_count", "recv", "sent", "xact_time", "query_time",
                                      "wait_time")],
              ["total_" + c for c in STATS_LATER] + ["avg_" + c for c in STATS_LATER]),
    "STATS_TOTALS": (["database"] + STATS_118, STATS_LATER),
    "STATS_AVERAGES": (["database"] + STATS_118,
                       ["server_assignment_count", "avg_client_parse_count", "avg_server_parse_count",
                        "avg_bind_count", "avg_client_login_count"]),
    "TOTALS": (["name", "value"], []),
    "LISTS": (["list", "items"], []),
    "CONFIG": (["key", "value", "default", "changeable"], []),
    "FDS": (["fd", "task", "user", "database", "addr", "port", "cancel", "link", "client_encoding", "std_strings",
             "datestyle", "timezone", "password", "scram_client_key", "scram_server_key"], []),
    "MEM": (["name", "size", "used", "free", "memtotal"], []),
    "DNS_HOSTS": (["hostname", "ttl", "addrs"], []),
    "DNS_ZONES": (["zonename", "serial", "count"], []),
    "VERSION": (["version"], []),
}


def columns(p, command):
    with p.admin() as c:
        cur = c.execute(command)
        return [d.name for d in cur.description]


def admin_error(p, command, user="postgres"):
    """The error a console command gets (it must fail)."""
    with p.admin(user=user) as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute(command)
        return ei.value


def pool_row(p, db="appdb", user="appuser"):
    rows = [r for r in p.admin_rows("SHOW POOLS") if r["database"] == db and r["user"] == user]
    return rows[0] if rows else None


def in_thread(fn):
    """Run fn in a thread; returns (thread, result dict with 'value' or 'error')."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def held_until(fn, release, what, hold=1.0):
    """fn() (run in a thread) must still be waiting after `hold` seconds, and
    finish once release() ran; returns what fn returned."""
    t, result = in_thread(fn)
    time.sleep(hold)
    assert not result, f"{what} did not wait"
    release()
    t.join(10)
    assert "value" in result, f"{what}: {result.get('error', 'still waiting')}"
    return result["value"]


def query_once(p, sql, db="appdb"):
    """Log in, run one query, return its value, log out."""
    with p.connect(db=db) as c:
        return c.execute(sql).fetchone()[0]


def admin_command(p, command):
    """Run a console command on a connection of its own; returns the tag."""
    with p.admin() as c:
        return c.execute(command).statusmessage


# ---------------------------------------------------------------------------
# column lists
# ---------------------------------------------------------------------------

class ReferencePooler(Pooler):
    """Debian's PgBouncer, configured exactly as a Pooler would be."""

    def start(self, wait=True):
        self.stopped_by_us = False
        self.proc = popen_tied([REFERENCE_BIN, self.ini_path], self.stderr_path, cwd=self.dir)
        if wait:
            self.wait_ready()


def describe_show_commands(p):
    """For each SHOW command: [(column name, type OID)], or the error."""
    out = {}
    with p.admin() as adm, p.connect() as app:
        app.execute("SELECT 1")  # rows for CLIENTS, SERVERS, SOCKETS
        for cmd in SHOW_COMMANDS:
            try:
                cur = adm.execute("SHOW " + cmd)
                out[cmd] = [(d.name, d.type_code) for d in cur.description or []]
            except psycopg.Error as e:
                out[cmd] = e
        out["rows:LISTS"] = [r[0] for r in adm.execute("SHOW LISTS").fetchall()]
        out["rows:TOTALS"] = [r[0] for r in adm.execute("SHOW TOTALS").fetchall()]
        out["rows:CONFIG"] = [r[0] for r in adm.execute("SHOW CONFIG").fetchall()]
    return out


@pytest.mark.skipif(not os.path.exists(REFERENCE_BIN), reason="Debian's pgbouncer is not installed (test/deps.sh)")
def test_show_columns_match_pgbouncer(pgwarden, pg):
    """The acceptance check: for every SHOW command, PgBouncer 1.18's column
    names, order and type OIDs are a prefix of the binary under test's."""
    settings = {"stats_users": "md5user"}
    target = pgwarden(settings)
    reference = ReferencePooler(pg, settings)
    try:
        reference.start()
        want = describe_show_commands(reference)
        got = describe_show_commands(target)
    finally:
        reference.stop()
    for cmd in SHOW_COMMANDS:
        if isinstance(want[cmd], psycopg.Error):
            # Newer than 1.18 (SHOW STATE): the reference rejects it.
            assert str(want[cmd]) == f"invalid command 'SHOW {cmd}', use SHOW HELP;"
            if not IS_PGBOUNCER:
                assert isinstance(got[cmd], list), f"SHOW {cmd}: {got[cmd]}"
            continue
        assert isinstance(got[cmd], list), f"SHOW {cmd}: {got[cmd]}"
        assert got[cmd][:len(want[cmd])] == want[cmd], f"SHOW {cmd}"
    # Name/value listings: exporters look rows up by name.
    for listing in ("LISTS", "TOTALS"):
        want_rows = want["rows:" + listing]
        assert got["rows:" + listing][:len(want_rows)] == want_rows, f"SHOW {listing} rows"
    assert set(want["rows:CONFIG"]) <= set(got["rows:CONFIG"])


@pytest.mark.parametrize("command", sorted(COLUMNS))
def test_show_columns(pooler, command):
    cols_118, later = COLUMNS[command]
    cols = columns(pooler, "SHOW " + command)
    assert cols[:len(cols_118)] == cols_118
    if not IS_PGBOUNCER:
        assert cols == cols_118 + later


@pytest.mark.pgwarden_only
@pytest.mark.parametrize("command,cols", [
    ("STATE", ["key", "value"]),
    ("PEERS", ["peer_id", "host", "port", "pool_size"]),
    ("PEER_POOLS", ["peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active_cancel", "sv_login"]),
])
def test_show_columns_newer_than_118(pooler, command, cols):
    assert columns(pooler, "SHOW " + command) == cols


def test_show_lists_and_totals_row_order(pooler):
    lists = [r["list"] for r in pooler.admin_rows("SHOW LISTS")]
    assert lists[:12] == ["databases", "users", "pools", "free_clients", "used_clients", "login_clients",
                          "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending"]
    totals = [r["name"] for r in pooler.admin_rows("SHOW TOTALS")]
    names = ["xact_count", "query_count", "client_bytes", "server_bytes", "xact_time", "query_time", "wait_time"]
    assert totals[:14] == ["total_" + n for n in names] + ["avg_" + n for n in names]


# ---------------------------------------------------------------------------
# contents
# ---------------------------------------------------------------------------

def test_show_version_matches_dash_v(pooler):
    rows = pooler.admin_rows("SHOW VERSION")
    assert list(rows[0]) == ["version"]
    assert rows[0]["version"] == run_target(["-V"]).stdout.splitlines()[0]


def test_admin_login_parameters(pooler):
    with pooler.admin() as c:
        assert c.info.parameter_status("server_version").endswith("/bouncer")
        assert c.info.parameter_status("client_encoding") == "UTF8"


@pytest.mark.pgwarden_only
def test_console_alias_pgwarden(pooler):
    with pooler.connect(db="pgwarden", user="postgres") as c:
        assert c.execute("SHOW VERSION").fetchone()[0].startswith("pgwarden ")


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


def test_show_databases_content(pgwarden, pg):
    p = pgwarden(databases={"tx": f"host=127.0.0.1 port={pg.port} dbname=appdb pool_mode=transaction "
                                  f"pool_size=3 reserve_pool=2 user=appuser"})
    dbs = {r["name"]: r for r in p.admin_rows("SHOW DATABASES")}
    assert {"appdb", "otherdb", "pgbouncer", "tx"} <= set(dbs)
    assert dbs["appdb"]["host"] == "127.0.0.1"
    assert dbs["appdb"]["port"] == pg.port
    assert dbs["appdb"]["pool_size"] == 20
    assert dbs["appdb"]["pool_mode"] is None
    assert dbs["pgbouncer"]["pool_mode"] == "statement"
    assert (dbs["tx"]["pool_size"], dbs["tx"]["reserve_pool"], dbs["tx"]["force_user"]) == (3, 2, "appuser")
    assert dbs["tx"]["pool_mode"] == "transaction"
    if not IS_PGBOUNCER:
        assert dbs["tx"]["reserve_pool_size"] == 2


def test_show_users_content(pgwarden):
    p = pgwarden(users={"md5user": "pool_mode=transaction"})
    users = {r["name"]: r for r in p.admin_rows("SHOW USERS")}
    # PgBouncer lists the console's own user too
    assert {"pgbouncer", "appuser", "md5user", "postgres"} <= set(users)
    assert users["md5user"]["pool_mode"] == "transaction"
    assert users["appuser"]["pool_mode"] is None


def test_show_lists(pooler):
    rows = {r["list"]: r["items"] for r in pooler.admin_rows("SHOW LISTS")}
    for key in ("databases", "users", "pools", "free_clients", "used_clients", "login_clients",
                "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending"):
        assert key in rows
    assert rows["used_clients"] >= 1


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
        # not reloadable: accepted and ignored, as PgBouncer does
        assert c.execute(f"SET listen_port = {pooler.port + 1}").statusmessage == f"SET listen_port={pooler.port + 1}"
    cfg = {r["key"]: r for r in pooler.admin_rows("SHOW CONFIG")}
    assert cfg["default_pool_size"]["value"] == "7"
    assert cfg["listen_port"]["value"] == str(pooler.port)
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


@pytest.mark.parametrize("command", ["SELECT pools", "show pools;", 'SHOW "pools"', "  Show   Pools  ;  "])
def test_command_grammar(pooler, command):
    assert admin_command(pooler, command) == "SHOW"


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
    with pooler.admin() as c:
        c.execute("PAUSE")
        rows = {r[0]: r[1] for r in c.execute("SHOW STATE").fetchall()}
        assert rows == {"active": "no", "paused": "yes", "suspended": "no"}
        c.execute("RESUME")


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------

def stats_row(p, command="SHOW STATS", db="appdb"):
    rows = [r for r in p.admin_rows(command) if r["database"] == db]
    return rows[0] if rows else None


def test_stats_move_as_queries_run(pgwarden):
    p = pgwarden({"stats_period": "1"})
    with p.connect() as c:
        c.execute("SELECT 1")
        before = stats_row(p)
        for _ in range(10):
            c.execute("SELECT repeat('x', 1000)").fetchone()
        with c.transaction():
            c.execute("SELECT 1")
            c.execute("SELECT 2")
    after = stats_row(p)
    assert after["total_query_count"] >= before["total_query_count"] + 12
    assert after["total_xact_count"] >= before["total_xact_count"] + 11
    assert after["total_received"] > before["total_received"]
    assert after["total_sent"] >= before["total_sent"] + 10 * 1000
    assert after["total_query_time"] > before["total_query_time"]
    assert after["total_xact_time"] > before["total_xact_time"]
    totals = stats_row(p, "SHOW STATS_TOTALS")
    assert totals["query_count"] >= after["total_query_count"]
    assert totals["bytes_sent"] >= after["total_sent"]
    pool_totals = {r["name"]: r["value"] for r in p.admin_rows("SHOW TOTALS")}
    assert pool_totals["total_query_count"] >= after["total_query_count"]
    # averages: per second over the last stats_period, logged each period
    wait_for(lambda: stats_row(p, "SHOW STATS_AVERAGES")["query_count"] > 0, timeout=5,
             what="avg query count")
    p.wait_log(r"stats: \d+ xacts/s, \d+ queries/s, in \d+ B/s, out \d+ B/s, xact \d+ us, query \d+ us, "
               r"wait \d+ us", timeout=5)


@pytest.mark.pgwarden_only
def test_stats_period_follows_a_reload(pgwarden):
    """A new stats_period starts at the reload (PgBouncer 1.18 keeps the
    period it started with until a restart)."""
    p = pgwarden({"stats_period": "60", "log_stats": "1"})
    p.configure({"stats_period": "1"})
    p.reload()
    p.wait_log(r"stats: \d+ xacts/s", timeout=4)


def test_console_counts_one_query_per_connection(pooler):
    """As PgBouncer: a console connection counts one transaction and one
    query, however many commands it runs."""
    with pooler.admin() as c:
        for _ in range(3):
            c.execute("SHOW POOLS")
        row = [r for r in c.execute("SHOW STATS").fetchall() if r[0] == "pgbouncer"][0]
    cols = COLUMNS["STATS"][0]
    assert row[cols.index("total_query_count")] == 1
    assert row[cols.index("total_xact_count")] == 1


# ---------------------------------------------------------------------------
# effects of the control commands
# ---------------------------------------------------------------------------

def test_pause_resume(pooler):
    with pooler.admin() as adm:
        assert adm.execute("PAUSE").statusmessage == "PAUSE"
        assert held_until(lambda: query_once(pooler, "SELECT 1"),
                          lambda: adm.execute("RESUME"), "a query while paused") == 1
        with pytest.raises(psycopg.Error) as ei:
            adm.execute("RESUME")
        assert "not paused" in str(ei.value)


def test_pause_waits_for_transactions(pgwarden, pg):
    """PAUSE returns once running transactions are over, and closes the
    servers; new queries wait until RESUME."""
    p = pgwarden({"pool_mode": "transaction"})
    with p.connect() as c:
        c.execute("BEGIN")
        backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]

        def end_transaction():
            assert c.execute("SELECT 2").fetchone()[0] == 2  # the transaction goes on
            c.execute("COMMIT")

        assert held_until(lambda: admin_command(p, "PAUSE"), end_transaction, "PAUSE") == "PAUSE"
        wait_for(lambda: backend not in [b[0] for b in pg.backends()], what="server closed by PAUSE")
        assert held_until(lambda: c.execute("SELECT 3").fetchone()[0],
                          lambda: admin_command(p, "RESUME"), "a query while paused") == 3


def test_pause_one_database(pooler):
    with pooler.admin() as adm:
        adm.execute("PAUSE otherdb")
        pooler.assert_serving()  # appdb is not paused
        assert held_until(lambda: query_once(pooler, "SELECT 1", db="otherdb"),
                          lambda: adm.execute("RESUME otherdb"), "otherdb") == 1


def test_suspend_resume(pooler):
    with pooler.connect() as c:
        c.execute("SELECT 1")
        with pooler.admin() as adm:
            assert adm.execute("SUSPEND").statusmessage == "SUSPEND"
            assert held_until(lambda: c.execute("SELECT 2").fetchone()[0],
                              lambda: adm.execute("RESUME"), "a query while suspended") == 2


def test_disable_enable(pooler):
    with pooler.admin() as adm:
        assert adm.execute("DISABLE appdb").statusmessage == "DISABLE"
        with pytest.raises(psycopg.OperationalError):
            with pooler.connect() as c:
                c.execute("SELECT 1")
        assert adm.execute("ENABLE appdb").statusmessage == "ENABLE"
    pooler.assert_serving()


def test_kill_database(pooler, pg):
    """KILL drops the database's clients and servers at once; the database
    stays paused until RESUME."""
    with pooler.connect() as c:
        backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        with pooler.admin() as adm:
            assert adm.execute("KILL appdb").statusmessage == "KILL"
            with pytest.raises(psycopg.OperationalError):
                c.execute("SELECT 1")
            wait_for(lambda: backend not in [b[0] for b in pg.backends()], what="server killed")
            assert not [s for s in adm.execute("SHOW SERVERS").fetchall() if s[2] == "appdb"]
            assert held_until(lambda: query_once(pooler, "SELECT 1"),
                              lambda: adm.execute("RESUME appdb"), "the killed database") == 1
    pooler.assert_serving()


def test_reconnect_replaces_idle_servers(pooler):
    with pooler.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert admin_command(pooler, "RECONNECT appdb") == "RECONNECT"
    with pooler.connect() as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_server_fast_close_ends_a_marked_session(pgwarden, pg):
    """server_fast_close = 1: in session mode, the server that RECONNECT
    marked is closed once idle, and its client with it (PgBouncer's reason);
    the client's next connection gets a new server."""
    p = pgwarden({"pool_mode": "session", "server_fast_close": "1"})
    with p.connect() as c:
        old = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert admin_command(p, "RECONNECT appdb") == "RECONNECT"
        wait_for(lambda: old not in [b[0] for b in pg.backends()], what="the marked server closed")
        with pytest.raises(psycopg.OperationalError, match="database configuration changed"):
            c.execute("SELECT 1")
    with p.connect() as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != old


def test_without_server_fast_close_a_marked_session_keeps_its_server(pgwarden):
    p = pgwarden({"pool_mode": "session"})
    with p.connect() as c:
        old = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert admin_command(p, "RECONNECT appdb") == "RECONNECT"
        time.sleep(1.5)  # several janitor rounds
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == old


# PgBouncer 1.18 closes the server as soon as it is between statements, even
# inside a transaction (which is rolled back); pgwarden waits for the end of
# the transaction, as PgBouncer's documentation of the setting says.
@pytest.mark.pgwarden_only
def test_server_fast_close_lets_the_transaction_finish(pgwarden, pg):
    p = pgwarden({"pool_mode": "session", "server_fast_close": "1"})
    with p.connect() as c:
        c.execute("BEGIN")
        old = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert admin_command(p, "RECONNECT appdb") == "RECONNECT"
        time.sleep(1.5)  # several janitor rounds
        c.execute("CREATE TEMP TABLE fast_close_t (x int)")
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == old
        c.execute("COMMIT")
        wait_for(lambda: old not in [b[0] for b in pg.backends()], what="the marked server closed")
        with pytest.raises(psycopg.OperationalError, match="database configuration changed"):
            c.execute("SELECT 1")


def test_reconnect_waits_for_transaction(pgwarden, pg):
    """RECONNECT marks the servers; one in a transaction stays until the
    transaction ends, then is replaced (WAIT_CLOSE returns then)."""
    p = pgwarden({"pool_mode": "transaction"})
    with p.connect() as c:
        c.execute("BEGIN")
        old = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert admin_command(p, "RECONNECT") == "RECONNECT"
        servers = [s for s in p.admin_rows("SHOW SERVERS") if s["remote_pid"] == old]
        assert servers and servers[0]["close_needed"] == 1

        def end_transaction():
            assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == old
            c.execute("COMMIT")

        assert held_until(lambda: admin_command(p, "WAIT_CLOSE appdb"), end_transaction, "WAIT_CLOSE",
                          hold=0.5) == "WAIT_CLOSE"
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != old
    wait_for(lambda: old not in [b[0] for b in pg.backends()], what="old server closed")


def test_reload_applies_pool_size_and_new_database_live(pgwarden, pg):
    """RELOAD: a bigger pool serves the client that was waiting, a new
    [databases] entry works, and connected clients stay."""
    p = pgwarden({"default_pool_size": "1"})
    with p.connect() as holder:
        holder.execute("SELECT 1")  # session mode: holds the only server
        t, result = in_thread(lambda: query_once(p, "SELECT 2"))
        wait_for(lambda: (pool_row(p) or {}).get("cl_waiting") == 1, what="a waiting client")
        p.configure({"default_pool_size": "2"},
                    databases={"added": f"host=127.0.0.1 port={pg.port} dbname=otherdb"})
        assert admin_command(p, "RELOAD") == "RELOAD"
        t.join(10)
        assert result.get("value") == 2
        dbs = {r["name"]: r for r in p.admin_rows("SHOW DATABASES")}
        assert dbs["appdb"]["pool_size"] == 2
        assert "added" in dbs
        with p.connect(db="added") as c:
            assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"
        assert holder.execute("SELECT 3").fetchone()[0] == 3  # not dropped


def test_set_conffile_makes_reload_read_that_file(pgwarden):
    """SET conffile points the next RELOAD at another file, as in PgBouncer;
    the file given on the command line is left alone."""
    p = pgwarden({"default_pool_size": "3"})
    other = p.dir / "other.ini"
    other.write_text(p.ini_text().replace("default_pool_size = 3", "default_pool_size = 7"))
    chown_postgres(p.dir)
    with p.admin() as adm:
        adm.execute(f"SET conffile = '{other}'")
        adm.execute("RELOAD")
    config = {r["key"]: r["value"] for r in p.admin_rows("SHOW CONFIG")}
    assert config["conffile"] == str(other)
    assert config["default_pool_size"] == "7"
    assert "default_pool_size = 3" in p.ini_path.read_text()


@pytest.mark.pgwarden_only
def test_reload_failure(pooler):
    """Later PgBouncers' answer (1.18 logs the failure and says RELOAD)."""
    pooler.configure({"no_such_setting": "1"})
    err = admin_error(pooler, "RELOAD")
    assert err.sqlstate == "F0000"
    assert str(err) == "RELOAD failed, see logs for additional details"
    pooler.assert_serving()


def test_shutdown_exits_cleanly(pooler):
    with pooler.connect() as c:
        c.execute("SELECT 1")
        pooler.stopped_by_us = True
        with pooler.admin() as adm:
            with pytest.raises(psycopg.OperationalError):
                adm.execute("SHUTDOWN")
        assert pooler.proc.wait(timeout=5) == 0
        pooler.wait_log("SHUTDOWN command issued")
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")


@pytest.mark.pgwarden_only
def test_shutdown_wait_for_clients(pooler):
    with pooler.connect() as c:
        pooler.stopped_by_us = True
        assert admin_command(pooler, "SHUTDOWN WAIT_FOR_CLIENTS") == "SHUTDOWN"
        assert c.execute("SELECT 2").fetchone()[0] == 2
        assert pooler.alive()
    assert pooler.proc.wait(timeout=10) == 0


@pytest.mark.pgwarden_only
def test_kill_client(pooler):
    with pooler.connect() as c:
        c.execute("SELECT 1")
        client_id = [r["id"] for r in pooler.admin_rows("SHOW CLIENTS") if r["database"] == "appdb"][0]
        assert admin_command(pooler, f"KILL_CLIENT {client_id}") == "KILL_CLIENT"
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["FOO", "SHOW", "SHOW NOTHING", "SHOW POOLS POOLS POOLS", "SHOW POOLS extra",
                                     "RELOAD now", "SUSPEND x", "SHUTDOWN x", "SET a b", "SHOW 'pools'"])
def test_invalid_command(pooler, command):
    err = admin_error(pooler, command)
    assert err.sqlstate == "08P01"
    assert str(err) == f"invalid command '{command}', use SHOW HELP;"


@pytest.mark.parametrize("command,message", [
    ("KILL", "a database is required"),
    ("DISABLE", "a database is required"),
    ("ENABLE", "a database is required"),
    ("KILL nosuch", "no such database: nosuch"),
    ("PAUSE nosuch", "no such database: nosuch"),
    ("RESUME nosuch", "no such database: nosuch"),
    ("ENABLE nosuch", "no such database: nosuch"),
    ("RECONNECT nosuch", "no such database: nosuch"),
    ("WAIT_CLOSE nosuch", "no such database: nosuch"),
    ("KILL pgbouncer", "cannot kill admin db: pgbouncer"),
    ("PAUSE pgbouncer", "cannot pause admin db: pgbouncer"),
    ("DISABLE pgbouncer", "cannot disable admin db: pgbouncer"),
    ("RECONNECT pgbouncer", "cannot reconnect admin db: pgbouncer"),
    ("WAIT_CLOSE pgbouncer", "cannot wait in admin db: pgbouncer"),
    ("RESUME", "pooler is not paused/suspended"),
    ("RESUME appdb", "database appdb is not paused"),
    ("SET nosuch = 1", "SET failed"),
    ("SET default_pool_size = abc", "SET failed"),
    ("SET pool_mode = bogus", "SET failed"),
    ("SHOW " + "a" * 70, "bad arguments"),
    ("a" * 20, "bad arguments"),
])
def test_wrong_arguments(pooler, command, message):
    err = admin_error(pooler, command)
    assert err.sqlstate == "08P01"
    assert str(err) == message


def test_pause_twice(pooler):
    with pooler.admin() as adm:
        adm.execute("PAUSE")
        for command in ("PAUSE", "SUSPEND", "KILL appdb"):
            with pytest.raises(psycopg.Error) as ei:
                adm.execute(command)
            assert str(ei.value) == "already suspended/paused"
        adm.execute("RESUME")


@pytest.mark.parametrize("command", ["PAUSE", "RESUME", "KILL appdb", "RELOAD", "SHUTDOWN", "SHOW FDS",
                                     "SET default_pool_size = 3", "RECONNECT", "DISABLE appdb"])
def test_stats_user_may_not_control(pgwarden, command):
    p = pgwarden({"stats_users": "md5user"})
    err = admin_error(p, command, user="md5user")
    assert err.sqlstate == "08P01"
    assert str(err) == "admin access needed"
    assert p.alive()


def test_stats_user_may_look(pgwarden):
    p = pgwarden({"stats_users": "md5user"})
    for command in ("SHOW POOLS", "SHOW STATS", "SHOW CONFIG", "SHOW SERVERS"):
        p.admin_rows_as("md5user", None, command)


def test_non_admin_user_not_allowed(pooler):
    with pytest.raises(psycopg.OperationalError) as ei:
        pooler.admin(user="appuser")
    assert "not allowed" in str(ei.value)


def test_extended_protocol_rejected(pooler):
    with pooler.admin() as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute("SHOW %s", ("POOLS",), prepare=False)
        assert "extended query protocol not supported by admin console" in str(ei.value)
    pooler.assert_serving()


@pytest.mark.pgwarden_only  # PgBouncer 1.18 reports its slab sizes, not buffers in use
def test_show_mem_idle_clients_hold_no_read_buffer(pgwarden):
    """Read buffers are held only while they hold bytes: 50 logged-in idle
    clients hold none, and SHOW MEM says so (the console's own is in use
    while it reads the command)."""
    p = pgwarden({"pool_mode": "transaction"})
    clients = [p.connect() for _ in range(50)]
    try:
        for c in clients:
            c.execute("SELECT 1")
        iobuf = [r for r in p.admin_rows("SHOW MEM") if r["name"] == "iobuf_cache"][0]
        # 50 clients and their server took turns with one or two buffers
        assert 1 <= int(iobuf["used"]) <= 2, iobuf
        assert int(iobuf["used"]) + int(iobuf["free"]) <= 4, iobuf
        assert int(iobuf["memtotal"]) == int(iobuf["size"]) * (int(iobuf["used"]) + int(iobuf["free"]))
    finally:
        for c in clients:
            c.close()
