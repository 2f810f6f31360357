"""Client authentication (auth_type) and server login.

Real PgBouncer 1.18 behaviour, checked against the binary:
* a wrong password gives FATAL "password authentication failed" with SQLSTATE
  08P01 for auth_type plain/md5 (the reference doc is silent; newer PgBouncer
  and PostgreSQL say 'password authentication failed for user "x"' / 28P01, so
  the tests accept both spellings and both codes);
* SCRAM failures say "SASL authentication failed";
* an unknown user gets the same error as a wrong password (no user
  enumeration); with auth_type=trust it is '"trust" authentication failed'.
"""

import base64
import hashlib
import hmac
import shutil
import signal
import struct
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import PASSWORDS, md5_secret
from pgproto import ServerError, message, parse_error_fields

AUTH_FAILED_CODES = {"08P01", "28P01"}  # 1.18 sends 08P01; PostgreSQL sends 28P01


def login_ok(p, user, password, db="appdb"):
    with p.connect(db=db, user=user, password=password) as c:
        return c.execute("SELECT current_user").fetchone()[0]


def login_error(p, user, password, db="appdb"):
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(db=db, user=user, password=password) as c:
            c.execute("SELECT 1")
    return str(ei.value)


def raw_login_error(p, user, password, db="appdb"):
    with pytest.raises(ServerError) as ei:
        with p.raw() as r:
            r.login(user, db, password)
    return ei.value


def first_auth_request(p, user, db="appdb"):
    """The authentication request code the pooler sends first."""
    with p.raw() as r:
        r.startup({"user": user, "database": db})
        mtype, body = r.recv_msg()
        assert mtype == b"R", (mtype, body)
        return struct.unpack("!I", body[:4])[0]


def test_trust(pgwarden):
    p = pgwarden({"auth_type": "trust"})
    assert first_auth_request(p, "appuser") == 0  # AuthenticationOk straight away
    assert login_ok(p, "appuser", "whatever") == "appuser"
    assert login_ok(p, "md5user", "") == "md5user"
    # the user must still be in auth_file
    msg = login_error(p, "nosuchuser", "x")
    assert '"trust" authentication failed' in msg


def test_any_requires_forced_user(pgwarden, pg):
    p = pgwarden({"auth_type": "any"},
                 databases={"forced": f"host=127.0.0.1 port={pg.port} dbname=appdb user=appuser password=apppass"})
    assert login_ok(p, "someone_else", "", db="forced") == "appuser"
    assert login_ok(p, "nosuchuser", "bogus", db="forced") == "appuser"
    # a database without a forced user cannot be used with auth_type=any
    assert "bouncer config error" in login_error(p, "appuser", "apppass", db="appdb")


def test_plain(pgwarden):
    p = pgwarden({"auth_type": "plain"})
    assert first_auth_request(p, "appuser") == 3  # AuthenticationCleartextPassword
    assert login_ok(p, "appuser", "apppass") == "appuser"
    assert login_ok(p, "md5user", "md5pass") == "md5user"  # md5 secret in userlist
    assert "password authentication failed" in login_error(p, "appuser", "wrong")
    err = raw_login_error(p, "appuser", "wrong")
    assert "password authentication failed" in err.message
    assert err.sqlstate in AUTH_FAILED_CODES
    assert err.fields.get("S") == "FATAL"


def scram_secret(password, iterations, salt=b"pgwarden-salt-16"):
    """A SCRAM-SHA-256 secret as PostgreSQL stores it (RFC 5802 keys)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def send_cleartext_password(p, user, database, password):
    """A raw connection that has sent its password when asked for it in
    cleartext; the answer is left to read."""
    r = p.raw(timeout=30)
    r.startup({"user": user, "database": database})
    assert r.recv_msg()[0] == b"R"  # cleartext password, please
    r.send(message(b"p", password.encode() + b"\0"))
    return r


@pytest.mark.pgwarden_only  # PgBouncer runs this PBKDF2 on its event loop
def test_cleartext_password_against_scram_secret_runs_off_the_event_loop(pgwarden, pg):
    """auth_type = plain with a SCRAM secret in auth_file costs one PBKDF2
    per login, here of 2,000,000 rounds (as long as Python takes to make the
    secret): other clients do not wait for it, the right password gets in,
    a wrong one gets the usual error, and a client that leaves meanwhile is
    forgotten."""
    t0 = time.monotonic()
    secret = scram_secret("slowpass", 2_000_000)
    pbkdf2_seconds = time.monotonic() - t0
    p = pgwarden({"auth_type": "plain"}, userlist={"slowuser": secret},
                 databases={"slowdb": f"host=127.0.0.1 port={pg.port} dbname=appdb user=appuser password=apppass"})

    def send_password(password):
        return send_cleartext_password(p, "slowuser", "slowdb", password)

    slow = send_password("slowpass")
    t0 = time.monotonic()
    with p.connect(user="md5user", password="md5pass") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    others = time.monotonic() - t0
    mtype, body = slow.recv_msg(timeout=30)
    assert (mtype, struct.unpack("!I", body[:4])[0]) == (b"R", 0), (mtype, body)  # AuthenticationOk
    slow.close()
    assert others < pbkdf2_seconds / 2, f"another login took {others:.2f}s during a {pbkdf2_seconds:.2f}s check"

    wrong = send_password("wrong")
    mtype, body = wrong.recv_msg(timeout=30)
    err = ServerError(parse_error_fields(body))
    assert mtype == b"E" and "password authentication failed" in err.message, (mtype, body)
    assert err.sqlstate in AUTH_FAILED_CODES
    wrong.close()

    send_password("slowpass").close()  # leaves while its check runs
    time.sleep(pbkdf2_seconds * 1.5)   # the check ends with nobody to tell
    p.assert_serving()


def slow_password_pooler(pgwarden, pg):
    """auth_type = plain against a SCRAM secret of 1,000,000 rounds: every
    login of slowuser is one PBKDF2 on a worker thread.  Returns the pooler
    and how long one such login takes through it, alone (sanitizer builds
    are slower than Python's PBKDF2)."""
    p = pgwarden({"auth_type": "plain"}, userlist={"slowuser": scram_secret("slowpass", 1_000_000)},
                 databases={"slowdb": f"host=127.0.0.1 port={pg.port} dbname=appdb user=appuser password=apppass"})
    t0 = time.monotonic()
    r = send_cleartext_password(p, "slowuser", "slowdb", "slowpass")
    assert r.recv_msg(timeout=60)[0] == b"R"
    r.close()
    return p, time.monotonic() - t0


@pytest.mark.pgwarden_only  # PgBouncer checks passwords on its event loop, nothing is queued
def test_queued_password_checks_of_departed_clients_are_skipped(pgwarden, pg):
    """Clients that send a password and leave while its PBKDF2 waits in the
    worker queue cost nothing: the next login waits for the checks already
    running, not for theirs (before: every queued check ran, 8 of them
    ahead of it here: about 5 check times, now about 2)."""
    p, check_seconds = slow_password_pooler(pgwarden, pg)
    departed = [send_cleartext_password(p, "slowuser", "slowdb", "slowpass") for _ in range(10)]
    time.sleep(0.2)  # all ten read and queued (two of them running)
    for r in departed:
        r.close()
    t0 = time.monotonic()
    r = send_cleartext_password(p, "slowuser", "slowdb", "slowpass")
    mtype, body = r.recv_msg(timeout=120)
    waited = time.monotonic() - t0
    r.close()
    assert (mtype, struct.unpack("!I", body[:4])[0]) == (b"R", 0), (mtype, body)  # AuthenticationOk
    assert waited < 3.5 * check_seconds, \
        f"the login took {waited:.2f}s with 8 departed clients' checks queued ({check_seconds:.2f}s each)"
    assert p.log_text().count("client unexpected eof") >= 10


@pytest.mark.pgwarden_only  # PgBouncer checks passwords on its event loop, nothing is queued
def test_fast_exit_does_not_run_queued_password_checks(pgwarden, pg):
    """SIGTERM (fast exit) while 10 clients wait for their PBKDF2: pgwarden
    waits for the two checks running on the worker threads, not for the
    queue behind them, and lets no client in on its way out."""
    p, check_seconds = slow_password_pooler(pgwarden, pg)
    waiting = [send_cleartext_password(p, "slowuser", "slowdb", "slowpass") for _ in range(10)]
    time.sleep(0.2)
    threads = [(t / "comm").read_text().strip() for t in Path(f"/proc/{p.pid}/task").iterdir()]
    assert threads.count("login-worker") == 2 and "plugin-worker" not in threads, threads
    t0 = time.monotonic()
    p.stopped_by_us = True  # the exit is the test
    p.signal(signal.SIGTERM)
    p.proc.wait(timeout=120)
    exit_seconds = time.monotonic() - t0
    assert exit_seconds < 2 * check_seconds, \
        f"exit took {exit_seconds:.2f}s with 8 checks queued ({check_seconds:.2f}s each)"
    answered = 0
    for r in waiting:
        try:
            m = r.recv_msg(timeout=5)
        except OSError:
            m = None
        if m and m[0] == b"R":
            answered += 1
        r.close()
    assert answered == 0, f"{answered} clients were let in during the exit"


@pytest.mark.pgwarden_only  # PgBouncer builds this secret on its event loop
def test_scram_secret_of_a_plain_password_is_built_off_the_event_loop(pgwarden, pg):
    """A user with a plain-text password in auth_file logs in with SCRAM:
    the secret pgwarden checks the proof against is a PBKDF2 of
    scram_iterations rounds (2,000,000 here), built once per user and
    password.  Other clients do not wait for it, and the login succeeds."""
    t0 = time.monotonic()
    scram_secret("plainscrampass", 2_000_000)
    pbkdf2_seconds = time.monotonic() - t0
    p = pgwarden({"auth_type": "scram-sha-256", "scram_iterations": "2000000"},
                 userlist={"plainscram": "plainscrampass", "fastuser": scram_secret("fastpass", 4096)},
                 databases={"plaindb": f"host=127.0.0.1 port={pg.port} dbname=appdb user=appuser password=apppass"})
    result = {}

    def slow_login():
        try:
            with p.connect(db="plaindb", user="plainscram", password="plainscrampass") as c:
                result["user"] = c.execute("SELECT current_user").fetchone()[0]
        except psycopg.Error as e:
            result["error"] = e

    first = threading.Thread(target=slow_login)
    first.start()
    time.sleep(pbkdf2_seconds * 0.2)  # its secret is being built
    t0 = time.monotonic()
    with p.connect(db="plaindb", user="fastuser", password="fastpass") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    others = time.monotonic() - t0
    first.join(60)
    assert result.get("user") == "appuser", result
    assert others < pbkdf2_seconds / 2, f"another login took {others:.2f}s while a {pbkdf2_seconds:.2f}s secret was built"
    with pytest.raises(psycopg.OperationalError, match="SASL authentication failed"):
        p.connect(db="plaindb", user="plainscram", password="wrong")


@pytest.mark.pgwarden_only  # PgBouncer derives the server's SCRAM keys on its event loop
def test_server_scram_keys_are_derived_off_the_event_loop(pgwarden, pg):
    """Logging in to PostgreSQL with SCRAM from a plain-text password costs a
    PBKDF2 with the server's iteration count, once per salt; here 2,000,000
    rounds.  Other clients do not wait for it, the login succeeds, and the
    keys are kept for the next server connection."""
    t0 = time.monotonic()
    slow_secret = scram_secret("apppass", 2_000_000)
    pbkdf2_seconds = time.monotonic() - t0
    with pg.connect() as c:
        c.execute(f"ALTER ROLE appuser PASSWORD '{slow_secret}'")
    try:
        p = pgwarden({"auth_type": "trust", "pool_mode": "session"}, userlist={"appuser": "apppass"})
        result = {}

        def slow_login():
            t = time.monotonic()
            with p.connect(user="appuser") as c:
                result["user"] = c.execute("SELECT current_user").fetchone()[0]
            result["seconds"] = time.monotonic() - t

        first = threading.Thread(target=slow_login)
        first.start()
        time.sleep(pbkdf2_seconds * 0.2)  # its server login is under way
        t0 = time.monotonic()
        with p.connect(user="md5user") as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
        others = time.monotonic() - t0
        first.join(30)
        assert result.get("user") == "appuser"
        assert others < pbkdf2_seconds / 2, f"another login took {others:.2f}s during a {pbkdf2_seconds:.2f}s PBKDF2"
        # a second server connection (session mode, the first is still held) reuses the keys
        with p.connect(user="appuser") as held:
            t0 = time.monotonic()
            with p.connect(user="appuser") as c:
                assert c.execute("SELECT current_user").fetchone()[0] == "appuser"
            assert time.monotonic() - t0 < pbkdf2_seconds / 2, "the keys were derived again"
            held.execute("SELECT 1")
    finally:
        with pg.connect() as c:
            c.execute(f"ALTER ROLE appuser PASSWORD '{pg.scram_secrets['appuser']}'")


@pytest.mark.parametrize("user", ["appuser", "md5user"])
def test_md5(pgwarden, user):
    """md5 against a plain-text and an md5 secret in the userlist."""
    p = pgwarden({"auth_type": "md5"})
    assert first_auth_request(p, user) == 5  # AuthenticationMD5Password
    assert login_ok(p, user, PASSWORDS[user]) == user
    assert "password authentication failed" in login_error(p, user, "wrong")
    err = raw_login_error(p, user, "wrong")
    assert "password authentication failed" in err.message
    assert err.sqlstate in AUTH_FAILED_CODES


def test_md5_unknown_user(pgwarden):
    p = pgwarden({"auth_type": "md5"})
    assert "password authentication failed" in login_error(p, "nosuchuser", "x")
    err = raw_login_error(p, "nosuchuser", "x")
    assert err.sqlstate in AUTH_FAILED_CODES


def test_scram(pgwarden):
    p = pgwarden({"auth_type": "scram-sha-256"})
    assert first_auth_request(p, "appuser") == 10  # AuthenticationSASL
    assert login_ok(p, "appuser", "apppass") == "appuser"
    assert login_ok(p, "plainuser", "plainpass") == "plainuser"
    msg = login_error(p, "appuser", "wrong")
    assert "SASL authentication failed" in msg or "password authentication failed" in msg
    # an md5 secret cannot be used for SCRAM
    msg = login_error(p, "md5user", "md5pass")
    assert "SASL authentication failed" in msg or "password authentication failed" in msg
    msg = login_error(p, "nosuchuser", "x")
    assert "SASL authentication failed" in msg or "password authentication failed" in msg


def scram_server_first(p, user, db="appdb"):
    """The salt and iteration count the pooler's server-first-message offers."""
    with p.raw() as r:
        r.startup({"user": user, "database": db})
        mtype, body = r.recv_msg()
        assert (mtype, struct.unpack("!I", body[:4])[0]) == (b"R", 10), (mtype, body)
        client_first = b"n,,n=,r=abcdefghijklmnopqrstuvwx"
        r.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(client_first)) + client_first))
        mtype, body = r.recv_msg()
        assert (mtype, struct.unpack("!I", body[:4])[0]) == (b"R", 11), (mtype, body)
        attrs = dict(kv.split("=", 1) for kv in body[4:].decode().split(","))
        return attrs["s"], attrs["i"]


@pytest.mark.pgwarden_only
def test_scram_salt_does_not_tell_unknown_users(pgwarden):
    """As PostgreSQL's mock authentication: an unknown user is offered a salt
    that stays the same from one attempt to the next, like a real user's, and
    differs from other names'.  A user with a plain password in auth_file gets
    a stable salt of its own too (derived once, then cached), and still logs
    in.  (PgBouncer 1.18 draws a new random salt for both at every attempt.)"""
    p = pgwarden({"auth_type": "scram-sha-256"})
    unknown = scram_server_first(p, "nosuchuser")
    assert scram_server_first(p, "nosuchuser") == unknown
    assert scram_server_first(p, "nosuchuser2")[0] != unknown[0]
    plain = scram_server_first(p, "plainuser")
    assert scram_server_first(p, "plainuser") == plain
    assert plain != unknown and plain[1] == unknown[1] == "4096"
    for _ in range(2):
        assert login_ok(p, "plainuser", "plainpass") == "plainuser"
    assert scram_server_first(p, "plainuser") == plain
    msg = login_error(p, "plainuser", "wrong")
    assert "SASL authentication failed" in msg or "password authentication failed" in msg


def test_md5_upgrades_to_scram_for_scram_secret(pgwarden, pg):
    """auth_type=md5 with a SCRAM secret in the userlist: the client is asked
    for SCRAM, and the pooler logs in to PostgreSQL (which requires SCRAM for
    appuser) with the keys the client proved."""
    p = pgwarden({"auth_type": "md5"}, userlist={"appuser": pg.scram_secrets["appuser"]})
    assert first_auth_request(p, "appuser") == 10
    assert login_ok(p, "appuser", "apppass") == "appuser"
    msg = login_error(p, "appuser", "wrong")
    assert "SASL authentication failed" in msg or "password authentication failed" in msg


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_scram_passthrough_to_server(pgwarden, pg, mode):
    """The userlist holds only the SCRAM secret copied from pg_authid; the
    server side (pg_hba scram-sha-256) is logged into with the client's keys,
    again for a new server connection once the first one is gone."""
    p = pgwarden({"auth_type": "scram-sha-256", "pool_mode": mode},
                 userlist={"appuser": pg.scram_secrets["appuser"]})
    with p.connect() as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "appuser"
        pid1 = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    # Kill the idle server connection; the pooler sees it close.
    pg.query("SELECT pg_terminate_backend(%s)", (pid1,))
    time.sleep(0.5)
    with p.connect() as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "appuser"
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid1


@pytest.mark.parametrize("user", ["appuser", "md5user", "plainuser"])
def test_server_login_methods(pgwarden, user):
    """Server login with SCRAM (appuser), md5 (md5user) and cleartext
    (plainuser) using the passwords in the userlist; two clients at once need
    two server logins (for SCRAM the second takes the keys PBKDF2 gave the
    first)."""
    p = pgwarden({"auth_type": "trust"})
    assert login_ok(p, user, "") == user
    with p.connect(user=user, password="") as a, p.connect(user=user, password="") as b:
        pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in (a, b)}
        assert len(pids) == 2


def test_server_login_wrong_password_in_userlist(pgwarden):
    p = pgwarden({"auth_type": "trust"}, userlist={"md5user": md5_secret("md5user", "not-the-password")})
    msg = login_error(p, "md5user", "")
    assert "password authentication failed" in msg
    p.assert_serving()


def test_userlist_reload(pgwarden):
    p = pgwarden({"auth_type": "md5"})
    assert login_ok(p, "appuser", "apppass") == "appuser"
    p.configure(userlist={"newuser": "newpass"})
    p.reload()
    # newuser is known to the pooler now; PostgreSQL lets it in via trust... but
    # the role does not exist there, so PostgreSQL refuses it.
    msg = login_error(p, "newuser", "newpass")
    assert 'role "newuser" does not exist' in msg
    assert "password authentication failed" in login_error(p, "newuser", "wrong")


def test_admin_console_requires_admin_user(pgwarden):
    p = pgwarden({"auth_type": "md5", "admin_users": "postgres", "stats_users": "md5user"})
    with p.admin() as c:
        assert c.execute("SHOW VERSION").fetchone()[0]
    with p.admin(user="md5user") as c:
        c.execute("SHOW POOLS")
        with pytest.raises(psycopg.Error) as ei:
            c.execute("PAUSE")
        assert "admin access needed" in str(ei.value)
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.admin(user="appuser") as c:
            c.execute("SHOW POOLS")
    assert "not allowed" in str(ei.value)


# ---------------------------------------------------------------------------
# auth_type = pam (a real PAM stack: pam_exec runs a checker script)
# ---------------------------------------------------------------------------

PAM_CONF = Path("/etc/pam.d/pgbouncer")  # PgBouncer's service name, kept

PAM_CHECKER = """#!/bin/sh
# pam_exec expose_authtok: the password arrives on stdin
IFS= read -r pw || true
# appuser's checks take `delay` seconds
[ "$PAM_USER" = appuser ] && sleep "$(cat {dir}/delay 2>/dev/null || echo 0)"
case "$PAM_USER:$pw" in
  plainuser:plainpass|appuser:apppass) exit 0 ;;
esac
exit 1
"""


@pytest.fixture
def pam_service():
    """/etc/pam.d/pgbouncer asking a script that knows two passwords; the
    directory's `delay` file makes appuser's checks slow.  The old file comes
    back after."""
    saved = PAM_CONF.read_bytes() if PAM_CONF.exists() else None
    d = Path(tempfile.mkdtemp(prefix="pgwarden-pam-"))
    checker = d / "check.sh"
    checker.write_text(PAM_CHECKER.format(dir=d))
    checker.chmod(0o755)
    d.chmod(0o755)
    PAM_CONF.write_text(f"auth required pam_exec.so expose_authtok quiet {checker}\n"
                        "account required pam_permit.so\n")
    try:
        yield d
    finally:
        if saved is None:
            PAM_CONF.unlink()
        else:
            PAM_CONF.write_bytes(saved)
        shutil.rmtree(d, ignore_errors=True)


def test_pam_checks_the_password_and_logs_in_with_it(pgwarden, pam_service):
    """auth_type = pam: PAM decides, auth_file is not needed, and the server
    login uses the password PAM accepted (plainuser's server password)."""
    p = pgwarden({"auth_type": "pam"}, userlist={})
    with p.connect(user="plainuser", password="plainpass") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "plainuser"
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="plainuser", password="wrong")
    assert "PAM authentication failed" in str(ei.value)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="nobody", password="plainpass")
    assert "PAM authentication failed" in str(ei.value)


@pytest.mark.pgwarden_only  # timing of a slow PAM stack
def test_pam_runs_off_the_event_loop(pgwarden, pam_service):
    """A slow PAM check keeps other clients waiting for nothing, and a
    client that leaves while PAM runs is simply forgotten."""
    (pam_service / "delay").write_text("2")
    p = pgwarden({"auth_type": "pam"}, userlist={})
    slow = p.raw()
    slow.startup({"user": "appuser", "database": "appdb"})
    assert slow.recv_msg()[0] == b"R"  # cleartext password, please
    slow.send(message(b"p", b"apppass\0"))
    t0 = time.monotonic()
    with p.connect(user="plainuser", password="plainpass") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    assert time.monotonic() - t0 < 1.5, "another login waited for the slow PAM check"
    slow.close()  # leaves while PAM still runs
    time.sleep(2.5)  # its check ends with nobody to tell
    (pam_service / "delay").write_text("0")
    with p.connect(user="appuser", password="apppass") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "appuser"
