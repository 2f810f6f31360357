"""Fixtures for the pgwarden integration suite.

* `pg`        -- a throwaway PostgreSQL 15 cluster for the whole session, with
                 roles using SCRAM, md5, cleartext and trust authentication.
* `pgwarden`  -- a factory: pgwarden(ini_overrides, databases=..., users=...,
                 userlist=...) writes an ini + userlist into a temp dir, starts
                 the pooler under test and returns a `Pooler` handle.  Every
                 pooler is stopped at teardown and its log is checked for
                 sanitizer reports.

The binary under test is $PGWARDEN_BIN (default: ./pgwarden at the repo
top); it runs as the postgres OS user, since both pgwarden and PgBouncer
refuse to run as root.  PGWARDEN_BIN=/usr/sbin/pgbouncer runs the same suite
against the real PgBouncer; tests marked `pgwarden_only` are skipped then.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from pgproto import RawConn

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_BIN = os.path.abspath(os.environ.get("PGWARDEN_BIN") or str(REPO_ROOT / "pgwarden"))
IS_PGBOUNCER = "pgbouncer" in os.path.basename(TARGET_BIN).lower()

# Passwords of the roles the cluster fixture creates.
PASSWORDS = {
    "appuser": "apppass",      # stored as SCRAM, pg_hba: scram-sha-256
    "md5user": "md5pass",      # stored as md5,   pg_hba: md5
    "plainuser": "plainpass",  # stored as SCRAM, pg_hba: password (cleartext)
    "postgres": "postgres",    # superuser,       pg_hba: trust
}

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
)

_postgres_pw = pwd.getpwnam("postgres")

# Where the cluster and pooler temp dirs go (run-all.sh points this at a
# per-run directory it removes afterwards); default: the system temp dir.
TMP_ROOT = os.environ.get("PGWARDEN_TEST_TMPDIR") or None


def md5_secret(user, password):
    import hashlib
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chown_postgres(path):
    path = Path(path)
    os.chown(path, _postgres_pw.pw_uid, _postgres_pw.pw_gid)
    if path.is_dir():
        for p in path.rglob("*"):
            try:
                os.chown(p, _postgres_pw.pw_uid, _postgres_pw.pw_gid, follow_symlinks=False)
            except FileNotFoundError:
                pass


def as_postgres_kwargs():
    """subprocess kwargs that run the child as the postgres OS user."""
    env = dict(os.environ)
    env.update(HOME=_postgres_pw.pw_dir, USER="postgres", LOGNAME="postgres")
    return dict(user=_postgres_pw.pw_uid, group=_postgres_pw.pw_gid, extra_groups=[], env=env)


def run_as_postgres(args, timeout=60):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True,
                          timeout=timeout, **as_postgres_kwargs())


# Children started through this prefix run as postgres and get SIGKILL if the
# pytest process dies, so a killed test run cannot leave servers behind.
AS_POSTGRES_TIED = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                    "--pdeathsig=KILL", "--"]


def popen_tied(args, log_path, **kw):
    """Start a long-running child as postgres, tied to our lifetime, in its
    own session, with stdout+stderr appended to log_path."""
    env = as_postgres_kwargs()["env"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(AS_POSTGRES_TIED + [str(a) for a in args], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, env=env, **kw)


def target_cmd_kwargs():
    """Run the binary under test as postgres: like PgBouncer, pgwarden refuses root."""
    return as_postgres_kwargs()


def run_target(args, timeout=10, cwd=None):
    """Run the binary under test with `args` and wait for it (command-line tests)."""
    return subprocess.run([TARGET_BIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, **target_cmd_kwargs())


def psql(args, sql, timeout=30):
    """Run psql (no psqlrc, unaligned, tuples only) and return stdout.
    `args` is a conninfo string."""
    out = subprocess.run([str(PG_BIN / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-d", args, "-c", sql], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed ({out.returncode}): {out.stderr}")
    return out.stdout


def copy_round_trip(conn, n=100):
    """COPY n rows into a new temp table cp, then COPY them out: the rows read."""
    conn.execute("CREATE TEMP TABLE cp (x int)")
    with conn.cursor().copy("COPY cp FROM STDIN") as cp:
        for i in range(n):
            cp.write_row((i,))
    with conn.cursor().copy("COPY cp TO STDOUT") as cp:
        return list(cp.rows())


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# pytest hooks
# ---------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "pgwarden_only: pgwarden-specific behaviour; skipped against PgBouncer")


def pytest_sessionstart(session):
    if not (os.path.isfile(TARGET_BIN) and os.access(TARGET_BIN, os.X_OK)):
        pytest.exit(f"binary under test not found or not executable: {TARGET_BIN} "
                    f"(build it, or set PGWARDEN_BIN)", returncode=3)


def pytest_report_header(config):
    return f"binary under test: {TARGET_BIN} ({'PgBouncer reference mode' if IS_PGBOUNCER else 'pgwarden'})"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_collection_modifyitems(config, items):
    if IS_PGBOUNCER:
        skip = pytest.mark.skip(reason="pgwarden-only behaviour (running against PgBouncer)")
        for item in items:
            if "pgwarden_only" in item.keywords:
                item.add_marker(skip)


# ---------------------------------------------------------------------------
# PostgreSQL cluster
# ---------------------------------------------------------------------------

class PgCluster:
    host = "127.0.0.1"

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="pgwarden-pg-", dir=TMP_ROOT))
        chown_postgres(self.base)
        self.data = self.base / "data"
        self.port = free_port()
        # also a socket in Linux's abstract namespace, for host=@name tests
        self.abstract_dir = f"@pgwarden-test-pg-{self.port}"
        self.logfile = self.base / "postgres.log"
        self.scram_secrets = {}

    def start(self):
        run_as_postgres([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], timeout=120)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.base}, {self.abstract_dir}'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
log_connections = on
log_disconnections = on
""")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all appuser 127.0.0.1/32 scram-sha-256\n"
            "host all md5user 127.0.0.1/32 md5\n"
            "host all plainuser 127.0.0.1/32 password\n"
            "host all all 127.0.0.1/32 trust\n")
        chown_postgres(self.data)
        self.run_postmaster()
        self.setup_roles()

    def run_postmaster(self):
        # The postmaster runs in the foreground as our child (not via pg_ctl),
        # so that it dies with us even if pytest is killed.
        self.proc = popen_tied([PG_BIN / "postgres", "-D", self.data], self.logfile)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited during startup:\n{self.logfile.read_text()}")
            try:
                self.connect("postgres").close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start:\n{self.logfile.read_text()}")
                time.sleep(0.1)

    def crash(self):
        """pg_ctl stop -m immediate: every backend dies at once, no checkpoint."""
        run_as_postgres([PG_BIN / "pg_ctl", "stop", "-D", self.data, "-m", "immediate", "-w"])
        self.proc.wait(timeout=30)

    def restart(self):
        """Start the postmaster again after crash() (it runs crash recovery)."""
        self.run_postmaster()

    def setup_roles(self):
        with self.connect("postgres") as c:
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute("CREATE ROLE appuser LOGIN PASSWORD 'apppass'")
            c.execute("CREATE ROLE plainuser LOGIN PASSWORD 'plainpass'")
            c.execute("CREATE ROLE trustuser LOGIN")
            c.execute("SET password_encryption = 'md5'")
            c.execute("CREATE ROLE md5user LOGIN PASSWORD 'md5pass'")
            c.execute("CREATE DATABASE appdb OWNER appuser")
            c.execute("CREATE DATABASE otherdb OWNER appuser")
            for row in c.execute("SELECT rolname, rolpassword FROM pg_authid "
                                 "WHERE rolpassword LIKE 'SCRAM-SHA-256$%'"):
                self.scram_secrets[row[0]] = row[1]
        for db in ("appdb", "otherdb"):
            with self.connect(db) as c:
                c.execute("GRANT ALL ON SCHEMA public TO PUBLIC")
                c.execute("GRANT ALL ON DATABASE %s TO PUBLIC" % db)

    def connect(self, dbname="appdb", user="postgres", **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(host=self.host, port=self.port, dbname=dbname, user=user,
                               sslmode="disable", connect_timeout=5, **kw)

    def query(self, sql, params=None, dbname="postgres"):
        with self.connect(dbname) as c:
            return c.execute(sql, params).fetchall()

    def backends(self, user=None, dbname=None):
        """Client backends (as seen by PostgreSQL) for user/db, excluding ours."""
        sql = ("SELECT pid, usename, datname, application_name, state FROM pg_stat_activity "
               "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        params = []
        if user:
            sql += " AND usename = %s"
            params.append(user)
        if dbname:
            sql += " AND datname = %s"
            params.append(dbname)
        return self.query(sql, params)

    def stop(self):
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_clean(pg):
    """The cluster, after checking that no pooled backends from an earlier
    test linger (so counts in pg_stat_activity mean something)."""
    def no_backends():
        return not [b for b in pg.backends() if b[1] != "postgres" or b[2] != "postgres"]
    try:
        wait_for(no_backends, timeout=5, what="backends of earlier tests to go away")
    except AssertionError:
        pg.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    return pg


# ---------------------------------------------------------------------------
# pooler under test
# ---------------------------------------------------------------------------

class PoolerFailed(Exception):
    pass


class Pooler:
    host = "127.0.0.1"

    def __init__(self, pg, ini_overrides=None, databases=None, users=None, userlist=None,
                 extra_ini="", files=None, args=(), raw_ini=None):
        self.pg = pg
        self.dir = Path(tempfile.mkdtemp(prefix="pgwarden-pooler-", dir=TMP_ROOT))
        self.port = free_port()
        self.ini_path = self.dir / "pgwarden.ini"
        self.userlist_path = self.dir / "userlist.txt"
        self.stderr_path = self.dir / "pooler.log"
        self.args = list(args)
        self.proc = None
        self.stopped_by_us = False
        self.needed_kill = False
        self.settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": str(self.dir),
            "auth_type": "md5",
            "auth_file": str(self.userlist_path),
            "admin_users": "postgres",
            "stats_users": "",
            "pool_mode": "session",
            "default_pool_size": "20",
            "max_client_conn": "100",
            "server_login_retry": "1",
            "server_connect_timeout": "5",
            "log_connections": "1",
            "log_disconnections": "1",
            "log_pooler_errors": "1",
        }
        self.databases = {
            "appdb": f"host=127.0.0.1 port={pg.port} dbname=appdb",
            "otherdb": f"host=127.0.0.1 port={pg.port} dbname=otherdb",
            "postgres": f"host=127.0.0.1 port={pg.port} dbname=postgres",
        }
        self.users = {}
        self.userlist = {
            "appuser": PASSWORDS["appuser"],
            "md5user": md5_secret("md5user", PASSWORDS["md5user"]),
            "plainuser": PASSWORDS["plainuser"],
            "postgres": PASSWORDS["postgres"],
            "trustuser": "",
        }
        self.extra_ini = extra_ini
        self.raw_ini = raw_ini  # use this text verbatim instead of generating the ini
        for name, text in (files or {}).items():
            (self.dir / name).write_text(text.replace("@DIR@", str(self.dir)))
        self.configure(ini_overrides, databases, users, userlist)

    # -- configuration ------------------------------------------------------
    def _merge(self, target, changes):
        """Apply `changes` to a settings dict: None deletes a key, "@DIR@" in
        a value stands for the pooler's temp dir."""
        for k, v in (changes or {}).items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = str(v).replace("@DIR@", str(self.dir))

    def configure(self, ini_overrides=None, databases=None, users=None, userlist=None, extra_ini=None):
        """Update the settings and rewrite the files (call reload() to apply)."""
        self._merge(self.settings, ini_overrides)
        self._merge(self.databases, databases)
        self._merge(self.users, users)
        if isinstance(userlist, str):
            self.userlist = userlist
        elif userlist is not None:
            if isinstance(self.userlist, str):
                self.userlist = {}
            self._merge(self.userlist, userlist)
        if extra_ini is not None:
            self.extra_ini = extra_ini
        self.write_files()

    def ini_text(self):
        if self.raw_ini is not None:
            return self.raw_ini.replace("@DIR@", str(self.dir)).replace("@PORT@", str(self.port))
        out = ["[databases]"]
        out += [f"{k} = {v}" for k, v in self.databases.items()]
        out += ["", "[users]"]
        out += [f"{k} = {v}" for k, v in self.users.items()]
        out += ["", "[pgbouncer]"]
        out += [f"{k} = {v}" for k, v in self.settings.items()]
        return "\n".join(out) + "\n" + self.extra_ini.replace("@DIR@", str(self.dir)).replace("@PORT@", str(self.port)) + "\n"

    def userlist_text(self):
        if isinstance(self.userlist, str):
            return self.userlist
        return "".join(f'"{u}" "{p}"\n' for u, p in self.userlist.items())

    def write_files(self):
        self.ini_path.write_text(self.ini_text())
        self.userlist_path.write_text(self.userlist_text())
        chown_postgres(self.dir)

    # -- process --------------------------------------------------------------
    def start(self, wait=True):
        self.stopped_by_us = False
        self.needed_kill = False
        self.proc = popen_tied([TARGET_BIN] + self.args + [self.ini_path], self.stderr_path, cwd=self.dir)
        if wait:
            self.wait_ready()

    @property
    def pid(self):
        return self.proc.pid

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stopped_by_us = True  # reported here, not again at teardown
                raise PoolerFailed(f"pooler exited with status {self.proc.returncode} during startup; "
                                   f"log:\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PoolerFailed(f"pooler did not accept connections within {timeout}s; "
                                   f"log:\n{self.log_text()}")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self, settle=0.5):
        """SIGHUP (reload config) and give the event loop a moment to apply it."""
        self.signal(signal.SIGHUP)
        time.sleep(settle)

    def stop(self):
        """SIGTERM, then a second SIGTERM (fast exit), then SIGKILL to the
        whole process group.  Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.stopped_by_us = True
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGTERM, 2.0)):
                try:
                    self.proc.send_signal(sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if self.proc.poll() is None:
                self.needed_kill = True
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def log_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_text()), timeout=timeout,
                        what=f"log line matching {pattern!r}; log:\n{self.log_text()[-3000:]}")

    def sanitizer_reports(self):
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    # -- clients --------------------------------------------------------------
    def conninfo(self, db="appdb", user="appuser", password=None, **kw):
        if password is None:
            password = PASSWORDS.get(user, "")
        parts = dict(host=self.host, port=self.port, dbname=db, user=user, sslmode="disable",
                     gssencmode="disable", connect_timeout=5)
        if password:
            parts["password"] = password
        parts.update(kw)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})

    dsn = conninfo

    def connect(self, db="appdb", user="appuser", password=None, autocommit=True, **kw):
        conn_kw = {k: kw.pop(k) for k in list(kw) if k in ("prepare_threshold", "row_factory")}
        return psycopg.connect(self.conninfo(db, user, password, **kw), autocommit=autocommit, **conn_kw)

    def admin(self, user="postgres", password=None):
        return self.connect(db="pgbouncer", user=user, password=password)

    def admin_rows(self, command):
        """Run an admin console command; rows as lists of dicts."""
        return self.admin_rows_as("postgres", None, command)

    def admin_rows_as(self, user, password, command):
        with self.admin(user=user, password=password) as c:
            cur = c.execute(command)
            if cur.description is None:
                return []
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def raw(self, timeout=5.0):
        return RawConn(self.host, self.port, timeout=timeout)

    def assert_serving(self):
        """A normal client can still log in and run a query."""
        with self.connect() as c:
            assert c.execute("SELECT 41 + 1").fetchone()[0] == 42


@pytest.fixture
def pgwarden(pg_clean, request):
    started = []

    def factory(ini_overrides=None, wait=True, **kw):
        p = Pooler(pg_clean, ini_overrides, **kw)
        started.append(p)
        p.start(wait=wait)
        return p

    yield factory

    problems = []
    for p in started:
        crashed = p.proc is not None and p.proc.poll() is not None and not p.stopped_by_us
        status = p.stop()
        if crashed:
            problems.append(f"pooler {p.pid} died during the test (status {status})")
        if p.needed_kill:
            problems.append(f"pooler {p.pid} did not exit within 7s of SIGTERM (twice); killed")
        reports = p.sanitizer_reports()
        if reports:
            problems.append(f"sanitizer report(s) {reports} in pooler log:\n{p.log_text()[-20000:]}")
        test_failed = getattr(getattr(request.node, "rep_call", None), "failed", False)
        if test_failed or problems:
            print(f"\n----- pooler log ({p.dir}) -----\n{p.log_text()[-6000:]}")
        if not problems:
            shutil.rmtree(p.dir, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def pooler(pgwarden):
    """A default pooler: session mode, md5 auth."""
    return pgwarden()
