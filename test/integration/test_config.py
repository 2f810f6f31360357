"""Configuration: [databases] entries, the `*` fallback, %include,
ignore_startup_parameters, reload."""

import signal
import threading
import time

import psycopg
import pytest

from conftest import PoolerFailed
from pgproto import ServerError, startup_packet


def connect_error(p, **kw):
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(**kw) as c:
            c.execute("SELECT 1")
    return str(ei.value)


def test_no_such_database(pooler):
    assert "no such database: nosuchdb" in connect_error(pooler, db="nosuchdb")
    pooler.assert_serving()


def test_database_alias_and_dbname(pgwarden, pg):
    p = pgwarden(databases={"alias": f"host=127.0.0.1 port={pg.port} dbname=otherdb"})
    with p.connect(db="alias") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"


def test_database_quoted_connstr_value(pgwarden, pg):
    p = pgwarden(databases={"q": f"host=127.0.0.1 port={pg.port} dbname='appdb' "
                                 f"connect_query='SELECT ''connected'''"})
    with p.connect(db="q") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "appdb"


def test_fallback_database(pgwarden, pg):
    """`*` creates databases on demand, named after what the client asked."""
    p = pgwarden(databases={"appdb": None, "otherdb": None, "*": f"host=127.0.0.1 port={pg.port}"})
    with p.connect(db="appdb") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "appdb"
    with p.connect(db="otherdb") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"
    # a database PostgreSQL does not have: PostgreSQL's own error comes back
    assert 'database "nosuchdb" does not exist' in connect_error(p, db="nosuchdb")
    names = [r["name"] for r in p.admin_rows("SHOW DATABASES")]
    assert "appdb" in names and "otherdb" in names


def test_forced_user(pgwarden, pg):
    p = pgwarden({"auth_type": "md5"},
                 databases={"asmd5": f"host=127.0.0.1 port={pg.port} dbname=appdb user=md5user password=md5pass"})
    with p.connect(db="asmd5", user="appuser") as c:
        assert c.execute("SELECT current_user, session_user").fetchone() == ("md5user", "md5user")


def test_connect_query(pgwarden, pg):
    p = pgwarden(databases={"cq": f"host=127.0.0.1 port={pg.port} dbname=appdb "
                                  f"connect_query='SET search_path = pg_catalog'"})
    with p.connect(db="cq") as c:
        # connect_query runs once after server login; session settings stick
        # until the reset query, which in session mode happens at release.
        assert "pg_catalog" in c.execute("SHOW search_path").fetchone()[0]


def test_forced_server_parameters(pgwarden, pg):
    p = pgwarden(databases={"tz": f"host=127.0.0.1 port={pg.port} dbname=appdb timezone=Asia/Kolkata"})
    with p.connect(db="tz") as c:
        assert c.execute("SHOW TimeZone").fetchone()[0] == "Asia/Kolkata"


def test_include_directive(pgwarden, pg):
    p = pgwarden(files={"more.ini": f"[databases]\nincluded = host=127.0.0.1 port={pg.port} dbname=otherdb\n"},
                 extra_ini="%include @DIR@/more.ini\n")
    with p.connect(db="included") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"


def test_include_relative_to_cwd(pgwarden, pg):
    """A relative %include path is resolved from the process's working
    directory (the fixture starts the pooler in its temp dir)."""
    p = pgwarden(files={"rel.ini": f"[databases]\nrel = host=127.0.0.1 port={pg.port} dbname=otherdb\n"},
                 extra_ini="%include rel.ini\n")
    with p.connect(db="rel") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"


def test_repeated_pgbouncer_section_starts_from_defaults(pgwarden, pg):
    """Real PgBouncer 1.18 quirk (not in the reference doc): a second
    [pgbouncer] section header resets every [pgbouncer] setting to its
    default before applying the keys that follow it.  Here the second section
    re-states listen_addr/port/socket dir/auth_file and sets
    max_client_conn; admin_users from the first section is forgotten."""
    p = pgwarden({"max_client_conn": 50},
                 extra_ini=("[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = @PORT@\n"
                            "unix_socket_dir = @DIR@\nauth_file = @DIR@/userlist.txt\n"
                            "max_client_conn = 2\n"))
    with p.connect(), p.connect():
        with pytest.raises(psycopg.OperationalError, match="max_client_conn"):
            p.connect()
    # admin_users was only in the first section: after the reset nobody is admin
    with pytest.raises(psycopg.OperationalError):
        with p.admin() as c:
            c.execute("SHOW VERSION")


def test_comments_and_whitespace(pgwarden, pg):
    p = pgwarden(extra_ini=(
        "; a comment\n"
        "# another comment\n"
        "\n[databases]\n"
        f"  spaced\t=\thost=127.0.0.1 port={pg.port} dbname=appdb   \n"))
    with p.connect(db="spaced") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "appdb"


def test_unsupported_startup_parameter(pooler):
    with pytest.raises(ServerError) as ei:
        with pooler.raw() as r:
            r.login("appuser", "appdb", "apppass", foo="bar")
    assert ei.value.message == "unsupported startup parameter: foo"
    assert ei.value.sqlstate == "08P01"
    # libpq's `options` is a startup parameter too
    assert "unsupported startup parameter: options" in connect_error(pooler, options="-c work_mem=64MB")


def test_ignore_startup_parameters(pgwarden):
    p = pgwarden({"ignore_startup_parameters": "foo, extra_float_digits,options"})
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass", foo="bar", extra_float_digits="2")
        assert r.scalar("SELECT 1") == "1"
    with p.connect(options="-c work_mem=64MB") as c:
        # ignored, so the server keeps its default
        assert c.execute("SHOW work_mem").fetchone()[0] == "4MB"


# track_extra_parameters is newer than PgBouncer 1.18 (1.20).
@pytest.mark.pgwarden_only
def test_track_extra_parameters_keeps_each_clients_value(pgwarden):
    """A reported parameter named in track_extra_parameters is accepted in
    the startup packet, reported back, and kept per client: two clients
    taking turns on one server (transaction mode, pool_size 1) each run
    with their own value."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 1,
                  "track_extra_parameters": "IntervalStyle, default_transaction_read_only"})
    with p.raw() as ro, p.raw() as rw:
        ro.login("appuser", "appdb", "apppass", default_transaction_read_only="on")
        rw.login("appuser", "appdb", "apppass")
        assert ro.params["default_transaction_read_only"] == "on"
        assert rw.params["default_transaction_read_only"] == "off"
        for _ in range(3):
            assert ro.scalar("SHOW default_transaction_read_only") == "on"
            with pytest.raises(ServerError) as ei:
                ro.query("CREATE TABLE extra_params_t (x int)")
            assert ei.value.sqlstate == "25006"  # read-only transaction
            assert rw.scalar("SHOW default_transaction_read_only") == "off"
        assert ro.scalar("SELECT pg_backend_pid()") == rw.scalar("SELECT pg_backend_pid()")


@pytest.mark.pgwarden_only
def test_untracked_parameter_is_still_refused(pgwarden):
    p = pgwarden({"pool_mode": "transaction"})
    with p.raw() as r:
        with pytest.raises(ServerError) as ei:
            r.login("appuser", "appdb", "apppass", default_transaction_read_only="on")
        assert ei.value.message == "unsupported startup parameter: default_transaction_read_only"


@pytest.mark.pgwarden_only
@pytest.mark.parametrize("value, error", [
    ("search_path;drop", "track_extra_parameters: invalid parameter name: search_path;drop"),
    (",".join(f"p{i}" for i in range(9)),
     "track_extra_parameters: at most 8 parameters besides the always tracked ones"),
])
def test_bad_track_extra_parameters_stops_startup(pgwarden, value, error):
    with pytest.raises(PoolerFailed) as failed:
        pgwarden({"track_extra_parameters": value})
    assert error in str(failed.value)


@pytest.mark.pgwarden_only
def test_track_extra_parameters_counts_each_name_once(pgwarden):
    """Eight distinct extra names, one of them repeated in another case and the
    always-tracked ones listed too: within the limit, so pgwarden starts."""
    names = [f"p{i}" for i in range(8)] + ["P0", "p7", "TimeZone", "application_name"]
    p = pgwarden({"track_extra_parameters": ", ".join(names)})
    p.assert_serving()


def test_reload_adds_database(pooler, pg):
    assert "no such database: added" in connect_error(pooler, db="added")
    pooler.configure(databases={"added": f"host=127.0.0.1 port={pg.port} dbname=otherdb"})
    pooler.reload()
    with pooler.connect(db="added") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"


def test_reload_changes_pool_mode(pooler):
    with pooler.connect() as a, pooler.connect() as b:
        assert a.execute("SELECT pg_backend_pid()").fetchone() != b.execute("SELECT pg_backend_pid()").fetchone()
    pooler.configure({"pool_mode": "transaction", "default_pool_size": 1})
    pooler.reload()
    pooler.wait_log("got SIGHUP|re-?reading|reload", timeout=5)
    with pooler.connect() as a, pooler.connect() as b:
        assert a.execute("SELECT pg_backend_pid()").fetchone() == b.execute("SELECT pg_backend_pid()").fetchone()


def test_reload_with_bad_config_keeps_running(pooler):
    pooler.configure({"no_such_setting": "1"})
    pooler.reload()
    assert pooler.alive()
    pooler.assert_serving()


def test_admin_reload_command(pooler, pg):
    pooler.configure(databases={"viaadmin": f"host=127.0.0.1 port={pg.port} dbname=appdb"})
    with pooler.admin() as c:
        c.execute("RELOAD")
    with pooler.connect(db="viaadmin") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_listen_on_unix_socket(pooler):
    with psycopg.connect(host=str(pooler.dir), port=pooler.port, dbname="appdb", user="appuser",
                         password="apppass", autocommit=True) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    assert (pooler.dir / f".s.PGSQL.{pooler.port}").exists()


def test_abstract_unix_sockets(pgwarden, pg):
    """unix_socket_dir = @name listens in Linux's abstract namespace (no
    file), and host=@name reaches a server there, as in PgBouncer and
    PostgreSQL."""
    listen_dir = f"@pgwarden-test-pooler-{pg.port}"
    p = pgwarden({"unix_socket_dir": listen_dir},
                 databases={"viaabstract": f"host={pg.abstract_dir} port={pg.port} dbname=otherdb"})
    with psycopg.connect(host=listen_dir, port=p.port, dbname="viaabstract", user="appuser",
                         password="apppass", sslmode="disable", connect_timeout=5) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "otherdb"
        # the server connection is a unix one: no client address on PostgreSQL's side
        assert c.execute("SELECT inet_client_addr() IS NULL").fetchone()[0] is True
        # a cancel request reaches the server over the abstract socket too
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("SELECT pg_sleep(10)")
    assert not list(p.dir.glob(".s.PGSQL.*")), "an abstract socket left a file behind"


def test_logfile_setting(pgwarden):
    p = pgwarden()
    logfile = p.dir / "file.log"
    p.stop()
    p.configure({"logfile": str(logfile)})
    p.start()
    p.assert_serving()
    assert logfile.exists()
    assert "login attempt" in logfile.read_text()


def test_pidfile(pgwarden):
    p = pgwarden()
    pidfile = p.dir / "pooler.pid"
    p.stop()
    p.configure({"pidfile": str(pidfile)})
    p.start()
    assert int(pidfile.read_text().strip()) == p.pid
    p.stop()
    time.sleep(0.2)
    assert not pidfile.exists()


def ipv6_loopback_available():
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_listen_on_several_addresses_ipv4_and_ipv6(pgwarden):
    """listen_addr takes a list; IPv6 addresses work like IPv4 ones."""
    p = pgwarden({"listen_addr": "127.0.0.1, ::1"})
    for host in ("127.0.0.1", "::1"):
        with psycopg.connect(host=host, port=p.port, dbname="appdb", user="appuser",
                             password="apppass", sslmode="disable", connect_timeout=5) as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.pgwarden_only  # login_notify_message is newer than PgBouncer 1.18
def test_login_notify_message(pgwarden):
    """The NOTICE comes during login, so read it with psql, which prints it."""
    import subprocess
    from conftest import PG_BIN
    p = pgwarden({"login_notify_message": "welcome to the pool"})
    out = subprocess.run([str(PG_BIN / "psql"), "-X", "-At", "-d", p.conninfo(), "-c", "SELECT 7"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "7"
    assert "NOTICE:  welcome to the pool" in out.stderr


def test_unix_socket_group(pgwarden):
    import grp
    import os
    p = pgwarden({"unix_socket_group": "postgres", "unix_socket_mode": "0770"})
    st = os.stat(p.dir / f".s.PGSQL.{p.port}")
    assert st.st_gid == grp.getgrnam("postgres").gr_gid
    assert st.st_mode & 0o777 == 0o770


@pytest.mark.pgwarden_only  # pool_idle_timeout is newer than PgBouncer 1.18
def test_pool_idle_timeout_forgets_unused_pools(pgwarden):
    # server_lifetime = 0 closes each server after use, so the pool empties
    p = pgwarden({"pool_mode": "transaction", "pool_idle_timeout": "1", "server_lifetime": "0"})
    with p.connect(user="md5user") as c:
        c.execute("SELECT 1")
    pools = lambda: {(r["database"], r["user"]) for r in p.admin_rows("SHOW POOLS")}
    assert ("appdb", "md5user") in pools()
    time.sleep(2.5)
    assert ("appdb", "md5user") not in pools()
    with p.connect(user="md5user") as c:  # and it comes back when needed
        assert c.execute("SELECT 1").fetchone()[0] == 1
