"""auth_user / auth_query / auth_dbname: secrets of users missing from auth_file
are looked up in PostgreSQL through a pooled connection, without blocking the
event loop.

The cluster's roles (conftest): appuser has a SCRAM secret and pg_hba
scram-sha-256, md5user an md5 secret and pg_hba md5, trustuser no password;
the superuser postgres logs in by trust.  The auth_file of these poolers lists
only the auth user, so every other login goes through auth_query.

pgwarden differs from PgBouncer 1.18 on purpose in two places (security):
an unknown user gets the same "password authentication failed" as a wrong
password instead of PgBouncer's revealing "no such user", and an auth_query
answer with several rows or another user's name fails the login instead of
using the last row.
"""

import threading
import time

import psycopg
import pytest

from conftest import PASSWORDS, free_port, md5_secret, wait_for

AUTH_ONLY = '"postgres" "postgres"\n'


@pytest.fixture
def aq(pgwarden):
    """A pooler whose auth_file has only the auth user (postgres)."""
    def start(overrides=None, **kw):
        settings = {"auth_user": "postgres"}
        settings.update(overrides or {})
        kw.setdefault("userlist", AUTH_ONLY)
        return pgwarden(settings, **kw)
    return start


def pg_exec(pg, sql):
    with pg.connect("postgres") as c:
        c.execute(sql)


def current_user(p, user, password=None, db="appdb"):
    with p.connect(db=db, user=user, password=password) as c:
        return c.execute("SELECT current_user").fetchone()[0]


def login_error(p, user, password, db="appdb"):
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(db=db, user=user, password=password).close()
    return ei.value


# ---------------------------------------------------------------------------
# lookups that succeed
# ---------------------------------------------------------------------------

def test_scram_user_found_by_default_query(aq):
    """SCRAM secret from pg_authid: the client proves it, and the server
    login (pg_hba scram-sha-256) reuses the client's proof."""
    p = aq({"auth_type": "scram-sha-256"})
    assert current_user(p, "appuser") == "appuser"
    assert current_user(p, "appuser") == "appuser"  # a second login, pool reused
    pools = {(r["database"], r["user"]) for r in p.admin_rows("SHOW POOLS")}
    assert ("appdb", "appuser") in pools
    # the lookup ran as the auth user, in its own pool
    assert ("appdb", "postgres") in pools
    assert "SASL authentication failed" in str(login_error(p, "appuser", "wrong"))


def test_md5_user_found(aq):
    """An md5 secret answers md5 both ways; a SCRAM secret upgrades an md5
    client to SCRAM, as with auth_file."""
    p = aq({"auth_type": "md5"})
    assert current_user(p, "md5user") == "md5user"
    assert current_user(p, "appuser") == "appuser"
    assert "password authentication failed" in str(login_error(p, "md5user", "wrong"))


def test_password_change_applies_to_next_login(aq, pg):
    pg_exec(pg, "DROP ROLE IF EXISTS aq_changer")
    pg_exec(pg, "CREATE ROLE aq_changer LOGIN PASSWORD 'first'")
    try:
        p = aq({"auth_type": "scram-sha-256"})
        assert current_user(p, "aq_changer", "first") == "aq_changer"
        pg_exec(pg, "ALTER ROLE aq_changer PASSWORD 'second'")
        assert "SASL authentication failed" in str(login_error(p, "aq_changer", "first"))
        assert current_user(p, "aq_changer", "second") == "aq_changer"
    finally:
        pg_exec(pg, "DROP ROLE aq_changer")


def test_many_concurrent_lookups_share_a_small_pool(aq):
    """20 clients log in at once through one auth connection."""
    p = aq({"auth_type": "md5", "default_pool_size": "1", "max_db_connections": "3"})
    errors, users = [], []

    def login():
        try:
            users.append(current_user(p, "md5user"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=login) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert users == ["md5user"] * 20


def test_per_database_auth_user(pgwarden, pg):
    """auth_user= in [databases] applies to that database only."""
    p = pgwarden({"auth_type": "md5"}, userlist=AUTH_ONLY,
                 databases={"appdb": f"host=127.0.0.1 port={pg.port} dbname=appdb auth_user=postgres"})
    assert current_user(p, "md5user", db="appdb") == "md5user"
    assert "password authentication failed" in str(login_error(p, "md5user", "md5pass", db="otherdb"))


@pytest.mark.pgwarden_only  # auth_dbname is PgBouncer 1.19+
def test_auth_dbname_runs_the_query_elsewhere(aq):
    p = aq({"auth_type": "md5", "auth_dbname": "postgres"})
    assert current_user(p, "md5user", db="appdb") == "md5user"
    pools = {(r["database"], r["user"]) for r in p.admin_rows("SHOW POOLS")}
    assert ("postgres", "postgres") in pools
    assert ("appdb", "postgres") not in pools


def test_auth_user_with_password_and_security_definer_function(pgwarden, pg):
    """The setup PgBouncer's documentation recommends: a non-superuser auth
    user (here md5user, whose server login needs its auth_file secret) runs
    a SECURITY DEFINER function."""
    with pg.connect("appdb") as c:
        c.execute("CREATE OR REPLACE FUNCTION public.pgw_lookup(uname text) "
                  "RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER AS "
                  "$$ SELECT rolname, rolpassword FROM pg_authid WHERE rolname = uname $$")
        c.execute("REVOKE ALL ON FUNCTION public.pgw_lookup(text) FROM PUBLIC")
        c.execute("GRANT EXECUTE ON FUNCTION public.pgw_lookup(text) TO md5user")
    try:
        p = pgwarden({"auth_type": "scram-sha-256", "auth_user": "md5user",
                      "auth_query": "SELECT usename, passwd FROM public.pgw_lookup($1)"},
                     userlist=f'"md5user" "{md5_secret("md5user", PASSWORDS["md5user"])}"\n')
        assert current_user(p, "appuser") == "appuser"
    finally:
        with pg.connect("appdb") as c:
            c.execute("DROP FUNCTION public.pgw_lookup(text)")


def test_auth_file_user_needs_no_lookup(aq):
    """A user in auth_file is checked against auth_file, not PostgreSQL."""
    p = aq({"auth_type": "md5"}, userlist=AUTH_ONLY + '"appuser" "fromfile"\n')
    assert "password authentication failed" in str(login_error(p, "appuser", "apppass"))
    pools = {(r["database"], r["user"]) for r in p.admin_rows("SHOW POOLS")}
    assert ("appdb", "postgres") not in pools  # no auth_query ran


# ---------------------------------------------------------------------------
# lookups that find nothing, or fail
# ---------------------------------------------------------------------------

@pytest.mark.pgwarden_only
@pytest.mark.parametrize("auth_type,known,message", [
    ("md5", "md5user", "password authentication failed"),
    ("scram-sha-256", "appuser", "SASL authentication failed")])
def test_unknown_user_looks_like_a_wrong_password(aq, auth_type, known, message):
    p = aq({"auth_type": auth_type})
    unknown = login_error(p, "nosuchuser", "whatever")
    wrong = login_error(p, known, "wrong")
    assert message in str(unknown)
    assert str(unknown) == str(wrong).replace(known, "nosuchuser")
    assert unknown.sqlstate == wrong.sqlstate
    p.wait_log(r"no such user: nosuchuser")


@pytest.mark.pgwarden_only
def test_user_without_password_cannot_log_in(aq):
    """trustuser's rolpassword is NULL: nothing matches, as in PgBouncer."""
    p = aq({"auth_type": "md5"})
    assert "password authentication failed" in str(login_error(p, "trustuser", "anything"))


@pytest.mark.pgwarden_only
@pytest.mark.parametrize("query,log", [
    ("SELECT nosuchcolumn FROM pg_authid WHERE rolname = $1", r"auth_query failed: 42703"),
    ("SELECT rolname FROM pg_authid WHERE rolname = $1", r"two columns"),
    ("SELECT $1::text, 'x' UNION ALL SELECT $1::text, 'y'", r"more than one row"),
    ("SELECT 'postgres'::text, rolpassword FROM pg_authid WHERE rolname = $1", r"another user"),
])
def test_bad_auth_query_fails_the_login_not_the_pooler(aq, query, log):
    p = aq({"auth_type": "md5", "auth_query": query})
    err = login_error(p, "md5user", "md5pass")
    assert "auth_query failed" in str(err)
    p.wait_log(log)
    # the auth connection went back to its pool and still works
    p.configure({"auth_query": None})
    p.reload()
    assert current_user(p, "md5user") == "md5user"
    servers = p.admin_rows("SHOW SERVERS")
    assert len([s for s in servers if s["user"] == "postgres"]) == 1, servers


@pytest.mark.pgwarden_only
def test_postgres_down(aq):
    """The auth database's server refuses connections: the login fails with
    a clear error and the pooler serves everyone else.  (PgBouncer 1.18
    keeps the client waiting until its connect_timeout; pgwarden fails the
    lookup as it fails any client waiting for a pool whose logins fail.)"""
    dead = free_port()
    p = aq({"auth_type": "md5"}, databases={"deaddb": f"host=127.0.0.1 port={dead} dbname=appdb"})
    started = time.monotonic()
    err = login_error(p, "md5user", "md5pass", db="deaddb")
    assert time.monotonic() - started < 5
    assert "server login has been failing" in str(err) or "server conn crashed" in str(err), str(err)
    assert current_user(p, "md5user") == "md5user"
    assert p.alive()


@pytest.mark.pgwarden_only  # PgBouncer 1.18 keeps the client waiting
def test_auth_user_cannot_log_in_to_the_server(pgwarden):
    """md5user is the auth user but auth_file has no secret for it (pg_hba
    wants md5): the lookup cannot run and the client is told so."""
    p = pgwarden({"auth_type": "md5", "auth_user": "md5user"}, userlist='"postgres" "postgres"\n')
    err = login_error(p, "appuser", "apppass")
    assert "server login has been failing" in str(err) or "password" in str(err), str(err)
    p.wait_log(r"server login failed|wrong password type")
    assert p.alive()


@pytest.mark.pgwarden_only
def test_unknown_auth_dbname(aq):
    p = aq({"auth_type": "md5", "auth_dbname": "nosuchdb"})
    assert "bouncer config error" in str(login_error(p, "md5user", "md5pass"))
    p.wait_log(r'auth_dbname "nosuchdb" is not a usable database')


@pytest.mark.pgwarden_only
def test_slow_auth_query_does_not_block_others(aq):
    """A lookup that hangs holds its client only: an auth_file user keeps
    working meanwhile, and client_login_timeout ends the stuck login."""
    p = aq({"auth_type": "md5", "client_login_timeout": "2",
            "auth_query": "SELECT $1::text, (pg_sleep(30) IS NULL)::text"},
           userlist=AUTH_ONLY + f'"plainuser" "{PASSWORDS["plainuser"]}"\n')
    result = {}

    def stuck():
        started = time.monotonic()
        try:
            p.connect(user="md5user", password="md5pass", connect_timeout=20).close()
        except psycopg.OperationalError as e:
            result["error"] = str(e)
        result["took"] = time.monotonic() - started
    t = threading.Thread(target=stuck)
    t.start()
    wait_for(lambda: any(s["user"] == "postgres" and s["state"] == "active"
                         for s in p.admin_rows("SHOW SERVERS")), what="the auth query to run")
    assert current_user(p, "plainuser") == "plainuser"
    t.join(20)
    assert "client_login_timeout" in result.get("error", ""), result
    assert result["took"] < 10
    assert p.alive()
