"""Just-in-time approval (the redact policy's approve = guardrails): a risky
statement is held — nothing reaches PostgreSQL — until an approver answers
in the admin console, the timeout passes or the client gives up."""

import signal
import socket
import threading
import time

import psycopg
import pytest

from conftest import PASSWORDS, wait_for
from test_tls import certs, start_https_server  # noqa: F401 - the fixture
from test_redact import guarded  # noqa: F401 - the fixture
from test_auth import scram_secret

pytestmark = pytest.mark.pgwarden_only

POLICY = """\
[policy default]
block = drop, truncate
approve = delete_without_where, update_without_where
"""

APPROVERS = "approvers = postgres, md5user\napproval_timeout = {timeout}\n"


def start(guarded, timeout=30, settings=None):  # noqa: F811
    ini = {"admin_users": "postgres, md5user"}
    ini.update(settings or {})
    return guarded(POLICY, settings=ini, extra=APPROVERS.format(timeout=timeout))


class Held:
    """A statement run in a thread; .result or .error once it ends."""

    def __init__(self, p, sql, user="appuser"):
        self.conn = p.connect(user=user, password=PASSWORDS[user])
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(sql,))
        self.thread.start()

    def _run(self, sql):
        try:
            cur = self.conn.execute(sql)
            self.result = cur.statusmessage
        except psycopg.Error as e:
            self.error = e

    def wait(self, timeout=10):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the statement is still held"
        return self

    def close(self):
        self.conn.close()


def pending(p):
    return p.admin_rows("SHOW APPROVALS")


def wait_pending(p, n=1):
    wait_for(lambda: len(pending(p)) >= n, what=f"{n} approval request(s)")
    return pending(p)


def console(p, command, user="postgres"):
    with p.connect(db="pgbouncer", user=user, password=PASSWORDS.get(user)) as adm:
        return adm.execute(command).statusmessage


def console_error(p, command, user="postgres"):
    with p.connect(db="pgbouncer", user=user, password=PASSWORDS.get(user)) as adm:
        with pytest.raises(psycopg.Error) as ei:
            adm.execute(command)
        return ei.value


def row_count(pg):
    with pg.connect("appdb") as c:
        return c.execute("SELECT count(*) FROM rd_t").fetchone()[0]


def test_held_until_approved_then_runs(guarded, pg):  # noqa: F811
    p = start(guarded)
    h = Held(p, "DELETE FROM rd_t")
    (req,) = wait_pending(p)
    assert req["identity"] == "appuser" and req["database"] == "appdb"
    assert req["statement"] == "DELETE FROM rd_t" and req["rule"] == "DELETE without WHERE"
    assert req["fingerprint"] and req["policy"] == "default"
    time.sleep(0.3)
    assert row_count(pg) == 5, "nothing may reach PostgreSQL before the approval"
    assert h.thread.is_alive()
    assert console(p, f"APPROVE {req['id']}") == "APPROVE"
    assert h.wait().result == "DELETE 5"
    assert row_count(pg) == 0
    assert pending(p) == []
    h.close()


def test_deny_gives_the_reason(guarded, pg):  # noqa: F811
    p = start(guarded)
    h = Held(p, "UPDATE rd_t SET v = 'x'")
    (req,) = wait_pending(p)
    assert console(p, f"DENY {req['id']} not during business hours") == "DENY"
    err = h.wait().error
    assert isinstance(err, psycopg.errors.InsufficientPrivilege)
    assert str(err) == "pgwarden: denied by approver postgres: not during business hours"
    assert h.conn.execute("SELECT count(*) FROM rd_t WHERE v = 'x'").fetchone()[0] == 0
    h.close()


def test_timeout(guarded):  # noqa: F811
    p = start(guarded, timeout=1)
    h = Held(p, "DELETE FROM rd_t")
    err = h.wait(timeout=10).error
    assert isinstance(err, psycopg.errors.QueryCanceled), err
    assert "approval timed out after 1 s" in str(err)
    assert pending(p) == []
    assert h.conn.execute("SELECT 1").fetchone() == (1,)
    h.close()


def test_cancel_withdraws_the_request(guarded, pg):  # noqa: F811
    p = start(guarded)
    h = Held(p, "DELETE FROM rd_t")
    (req,) = wait_pending(p)
    h.conn.cancel()
    err = h.wait().error
    assert isinstance(err, psycopg.errors.QueryCanceled), err
    assert pending(p) == []
    assert console_error(p, f"APPROVE {req['id']}").sqlstate == "42704"
    assert row_count(pg) == 5
    h.close()


def test_self_approval_and_non_approvers_refused(guarded, pg):  # noqa: F811
    p = start(guarded, settings={"admin_users": "postgres, md5user, appuser"})
    h = Held(p, "DELETE FROM rd_t", user="md5user")
    (req,) = wait_pending(p)
    err = console_error(p, f"APPROVE {req['id']}", user="md5user")
    assert (err.sqlstate, str(err)) == ("42501", "an identity cannot approve its own request")
    err = console_error(p, f"APPROVE {req['id']}", user="appuser")
    assert err.sqlstate == "42501" and "not an approver" in str(err)
    assert console_error(p, "APPROVE x").sqlstate == "22023"
    assert console_error(p, f"APPROVE {req['id']} FOR ever").sqlstate == "22023"
    assert h.thread.is_alive() and row_count(pg) == 5
    assert console(p, f"APPROVE {req['id']}") == "APPROVE"
    assert h.wait().result == "DELETE 5"
    h.close()


def test_grant_for_an_interval_is_reused_then_expires(guarded, pg):  # noqa: F811
    p = start(guarded)
    h = Held(p, "UPDATE rd_t SET v = 'a'")
    (req,) = wait_pending(p)
    assert console(p, f"APPROVE {req['id']} FOR 2s") == "APPROVE"
    assert h.wait().result == "UPDATE 5"
    # the same statement shape (other literal) runs without asking while the grant lasts
    assert h.conn.execute("UPDATE rd_t SET v = 'b'").statusmessage == "UPDATE 5"
    time.sleep(2.5)
    h2 = Held(p, "UPDATE rd_t SET v = 'c'")
    (req2,) = wait_pending(p)
    assert req2["id"] != req["id"]
    assert console(p, f"DENY {req2['id']}") == "DENY"
    assert isinstance(h2.wait().error, psycopg.errors.InsufficientPrivilege)
    h.close()
    h2.close()


def test_blocked_parts_are_not_approvable(guarded, pg):  # noqa: F811
    """A statement with an approvable and a refused part is refused."""
    p = start(guarded)
    with p.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as ei:
            c.execute("DELETE FROM rd_t; DROP TABLE rd_t")
        assert "DELETE without WHERE" in str(ei.value) or "DROP" in str(ei.value)
    assert pending(p) == []
    assert row_count(pg) == 5


def test_many_held_statements_do_not_stall_others(guarded):  # noqa: F811
    p = start(guarded, settings={"pool_mode": "transaction", "default_pool_size": "2"})
    held = [Held(p, "DELETE FROM rd_t") for _ in range(8)]
    reqs = wait_pending(p, 8)
    with p.connect() as c:
        for i in range(20):
            assert c.execute("SELECT %s::int", (i,)).fetchone() == (i,)
    for r in reqs:
        console(p, f"DENY {r['id']}")
    for h in held:
        assert isinstance(h.wait().error, psycopg.errors.InsufficientPrivilege)
        h.close()


def test_bad_approval_timeout_is_refused(guarded):  # noqa: F811
    from conftest import PoolerFailed
    with pytest.raises(PoolerFailed):
        guarded(POLICY, extra="approval_timeout = soon\n")


def test_shutdown_with_held_statements(guarded):  # noqa: F811
    p = start(guarded)
    h = Held(p, "DELETE FROM rd_t")
    wait_pending(p)
    p.stop()
    assert h.wait().error is not None
    h.close()


class Hook:
    """A local HTTPS webhook: records POSTed JSON; the first `fail` get 500."""

    def __init__(self, certs, fail=0):
        import http.server
        import json
        self.bodies, self.fail = [], fail
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.fail > 0:
                    hook.fail -= 1
                    self.send_error(500)
                    return
                hook.bodies.append(json.loads(data))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = start_https_server(certs, Handler)
        self.url = f"https://localhost:{self.server.server_address[1]}/approvals"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_announces_requests_and_retries(guarded, certs):  # noqa: F811
    hook = Hook(certs, fail=1)
    try:
        extra = APPROVERS.format(timeout=30) + f"notify_url = {hook.url}\nnotify_ca_file = {certs / 'ca.crt'}\n"
        p = guarded(POLICY, settings={"admin_users": "postgres"}, extra=extra)
        h = Held(p, "DELETE FROM rd_t")
        (req,) = wait_pending(p)
        wait_for(lambda: hook.bodies, timeout=10, what="the webhook POST (after one retry)")
        body = hook.bodies[0]
        assert body["id"] == req["id"] and body["statement"] == "DELETE FROM rd_t"
        assert body["identity"] == "appuser" and body["rule"] == "DELETE without WHERE"
        assert body["approve"] == f"APPROVE {req['id']}" and body["deny"] == f"DENY {req['id']}"
        assert "attempt 1 failed" in p.log_text()
        console(p, body["deny"])
        assert h.wait().error is not None
        h.close()
    finally:
        hook.stop()


def test_a_silent_webhook_holds_up_neither_logins_nor_the_exit(guarded, pg):  # noqa: F811
    """Six held statements whose webhook POSTs go to a server that accepts
    the connection and never answers (each would wait 10 s): a login whose
    password check runs on a worker thread (cleartext against a SCRAM
    secret) still gets in at once, and SIGTERM exits without waiting for
    the POSTs, running or queued."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the TCP handshakes; nobody reads
    held = []
    try:
        extra = APPROVERS.format(timeout=60) + f"notify_url = https://localhost:{silent.getsockname()[1]}/hook\n"
        p = guarded(POLICY, settings={"admin_users": "postgres", "auth_type": "plain"}, extra=extra,
                    userlist={"slowuser": scram_secret("slowpass", 4096)},
                    databases={"slowdb": f"host=127.0.0.1 port={pg.port} dbname=appdb user=appuser password=apppass"})
        held = [Held(p, "DELETE FROM rd_t") for _ in range(6)]
        wait_pending(p, 6)
        time.sleep(0.5)  # both worker threads inside a POST
        t0 = time.monotonic()
        with p.connect(db="slowdb", user="slowuser", password="slowpass") as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
        login = time.monotonic() - t0
        assert login < 3, f"the login waited {login:.1f}s behind the webhook POSTs"
        t0 = time.monotonic()
        p.stopped_by_us = True  # the exit is the test
        p.signal(signal.SIGTERM)
        p.proc.wait(timeout=120)
        exit_seconds = time.monotonic() - t0
        assert exit_seconds < 5, f"exit took {exit_seconds:.1f}s with webhook POSTs hanging"
        assert row_count(pg) == 5  # nothing was deleted
    finally:
        for h in held:
            h.close()
        silent.close()


def test_webhook_must_be_https(guarded):  # noqa: F811
    from conftest import PoolerFailed
    with pytest.raises(PoolerFailed):
        guarded(POLICY, extra="notify_url = http://localhost:9/x\n")


def start_audited(guarded, timeout):  # noqa: F811
    """pgwarden with the redact policy and the audit plugin after it."""
    from test_audit import new_audit
    audit = new_audit()
    p = guarded(POLICY, settings={"admin_users": "postgres", "plugins": "redact, audit"},
                extra=APPROVERS.format(timeout=timeout) + audit.ini_section)
    return p, audit


def test_audit_records_who_decided(guarded):  # noqa: F811
    p, audit = start_audited(guarded, timeout=30)
    h = Held(p, "UPDATE rd_t SET v = 'x'")
    (req,) = wait_pending(p)
    console(p, f"APPROVE {req['id']} FOR 1h")
    assert h.wait().result == "UPDATE 5"
    h.conn.execute("UPDATE rd_t SET v = 'y'")  # under the grant
    h2 = Held(p, "DELETE FROM rd_t")
    (req2,) = wait_pending(p)
    console(p, f"DENY {req2['id']} no")
    h2.wait()
    rows = audit.statements(count=3, where="sql LIKE 'UPDATE%' OR sql LIKE 'DELETE%'")
    notes = [(r["sql"], r["decision"], r["decision_note"]) for r in rows]
    assert notes == [
        ("UPDATE rd_t SET v = 'x'", "allowed", f"approved by postgres (approval request {req['id']}, with a grant)"),
        ("UPDATE rd_t SET v = 'y'", "allowed", f"allowed by a 3600 s grant of postgres (approval request {req['id']})"),
        ("DELETE FROM rd_t", "blocked", f"denied by postgres (approval request {req2['id']})"),
    ], notes
    h.close()
    h2.close()


def test_approval_by_table_and_by_fingerprint(guarded, pg):  # noqa: F811
    with pg.connect("appdb") as c:
        c.execute("DROP TABLE IF EXISTS rd_secret")
        c.execute("CREATE TABLE rd_secret (id int, salary int)")
        c.execute("INSERT INTO rd_secret VALUES (1, 100)")
        c.execute("GRANT ALL ON rd_secret TO PUBLIC")
    try:
        by_table = "[policy default]\nblock = drop\napprove_tables = public.rd_secret\n"
        p = guarded(by_table, settings={"admin_users": "postgres"}, extra=APPROVERS.format(timeout=30))
        with p.connect() as c:  # other tables run freely
            assert c.execute("SELECT count(*) FROM rd_t WHERE id > %s", (1,)).fetchone() == (4,)
        h = Held(p, "SELECT salary FROM rd_secret WHERE id = 1")
        (req,) = wait_pending(p)
        assert req["rule"] == "needs approval: table public.rd_secret"
        console(p, f"APPROVE {req['id']}")
        assert h.wait().result == "SELECT 1"
        h.close()
        # by fingerprint: this statement shape (any literal), not the table
        (p.dir / "policy.ini").write_text(
            f"[policy default]\nblock = drop\napprove_fingerprints = {req['fingerprint']}\n")
        p.reload()
        with p.connect() as c:
            assert c.execute("SELECT id FROM rd_secret").fetchone() == (1,)
        h = Held(p, "SELECT salary FROM rd_secret WHERE id = 7")
        (req2,) = wait_pending(p)
        assert req2["rule"] == f"needs approval: fingerprint {req['fingerprint']}"
        console(p, f"DENY {req2['id']}")
        assert isinstance(h.wait().error, psycopg.errors.InsufficientPrivilege)
        h.close()
    finally:
        with pg.connect("appdb") as c:
            c.execute("DROP TABLE IF EXISTS rd_secret")


def test_audit_records_a_cancelled_request(guarded):  # noqa: F811
    p, audit = start_audited(guarded, timeout=60)
    h = Held(p, "DELETE FROM rd_t")
    (req,) = wait_pending(p)
    h.conn.cancel()
    assert isinstance(h.wait().error, psycopg.errors.QueryCanceled)
    (row,) = audit.statements(count=1, where="sql LIKE 'DELETE%'")
    assert (row["decision"], row["sqlstate"], row["decision_note"]) == \
        ("blocked", "57014", f"withdrawn by the client (approval request {req['id']})")
    h.close()


def test_audit_records_a_timeout(guarded):  # noqa: F811
    p, audit = start_audited(guarded, timeout=1)
    h = Held(p, "DELETE FROM rd_t")
    (req,) = wait_pending(p)
    assert isinstance(h.wait().error, psycopg.errors.QueryCanceled)
    (row,) = audit.statements(count=1, where="sql LIKE 'DELETE%'")
    assert (row["decision"], row["sqlstate"], row["decision_note"]) == \
        ("blocked", "57014", f"approval timed out (approval request {req['id']})")
    h.close()
