"""The audit plugin (plugins/audit): what it records, the hash chain that
pgwarden-audit verifies, and fail-closed behaviour.

The audit file is read with Python's sqlite3 while pgwarden writes it (WAL
mode); records are committed by a writer thread, so tests wait for them.
"""

import hashlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import TARGET_BIN, TMP_ROOT, chown_postgres, copy_round_trip, wait_for
from pgproto import RawConn, message

pytestmark = pytest.mark.pgwarden_only

BUILD_DIR = Path(TARGET_BIN).resolve().parent
AUDIT_SO = BUILD_DIR / "plugins" / "audit" / "audit.so"
TESTPLUG = BUILD_DIR / "test" / "plugins" / "testplug.so"
AUDIT_CLI = BUILD_DIR / "pgwarden-audit"


class Audit:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.file = self.dir / "audit.db"
        self.key = self.dir / "audit.key"

    def rows(self, sql, *args):
        with sqlite3.connect(f"file:{self.file}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, args)]

    def wait_rows(self, sql, *args, count=1, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(sql, *args)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def statements(self, count=1, where="1=1"):
        return self.wait_rows(f"SELECT * FROM statements WHERE {where} ORDER BY id", count=count)

    def cli(self, *args):
        return subprocess.run([str(AUDIT_CLI), *map(str, args)], capture_output=True, text=True, timeout=30)

    def verify(self, *extra):
        return self.cli("verify", self.file, "--key", self.key, *extra)

    @property
    def ini_section(self):
        return f"[plugin.audit]\npath = {AUDIT_SO}\nfile = {self.file}\nkey_file = {self.key}\n"

    def tamper(self, script):
        db = sqlite3.connect(self.file)
        db.executescript(script)
        db.close()


def new_audit(directory=None):
    """An Audit in a directory (fresh when None) that pgwarden, as user
    postgres, may write."""
    d = Path(directory or tempfile.mkdtemp(prefix="pgwarden-audit-", dir=TMP_ROOT))
    chown_postgres(d)
    return Audit(d)


@pytest.fixture
def audited(pgwarden):
    """Start pgwarden with [plugin.audit] (after the plugins in `before`)."""
    made = []

    def start(before=(), audit_dir=None, overrides=None, **keys):
        a = new_audit(audit_dir)
        d = a.dir
        names = [name for name, _ in before] + ["audit"]
        extra = ""
        for name, plugin_keys in before:
            extra += f"[plugin.{name}]\npath = {TESTPLUG}\n"
            extra += "".join(f"{k} = {v}\n" for k, v in plugin_keys.items())
        extra += a.ini_section
        extra += "".join(f"{k} = {v}\n" for k, v in keys.items())
        settings = {"plugins": ", ".join(names)}
        settings.update(overrides or {})
        made.append(d)	# before starting: a mount is undone even if pgwarden fails to start
        p = pgwarden(settings, extra_ini=extra)
        return p, a

    yield start
    for d in made:
        subprocess.run(["umount", "-l", "-q", str(d)], capture_output=True)  # lazy: pgwarden may still hold the file


def rows_digest(rows):
    """SHA-256 over each field as sent: 4-byte length, then the bytes."""
    h = hashlib.sha256()
    for row in rows:
        for value in row:
            if value is None:
                h.update(struct.pack("!i", -1))
            else:
                data = value.encode()
                h.update(struct.pack("!i", len(data)) + data)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# what is recorded
# ---------------------------------------------------------------------------

def test_session_and_simple_query(audited):
    p, a = audited()
    with p.connect(application_name="agent-1") as c:
        rows = c.execute("SELECT g, 'row ' || g FROM generate_series(1, 3) g WHERE g > 0").fetchall()
    st = a.statements()[0]
    assert st["sql"] == "SELECT g, 'row ' || g FROM generate_series(1, 3) g WHERE g > 0"
    assert st["kind"] == "SELECT"
    assert st["normalized"] == "SELECT g, $1 || g FROM generate_series($2, $3) g WHERE g > $4"
    assert len(st["fingerprint"]) == 16
    assert st["command_tag"] == "SELECT 3" and st["rows_returned"] == 3 and st["rows_affected"] == 0
    assert json.loads(st["columns"]) == ["g", "?column?"]
    assert st["result_sha256"] == rows_digest([(str(g), s) for g, s in rows])
    assert st["bytes_returned"] > 0 and st["duration_us"] >= 0
    assert st["decision"] == "allowed" and st["sqlstate"] is None
    s = a.wait_rows("SELECT * FROM sessions WHERE end_reason IS NOT NULL")[0]
    assert s["id"] == st["session_id"] and s["run"] == st["run"]
    assert (s["pooler_user"], s["database"], s["application_name"]) == ("appuser", "appdb", "agent-1")
    assert s["server_user"] == "appuser" and s["client_addr"] == "127.0.0.1" and s["client_port"] > 0
    assert s["end_reason"] == "client close request" and s["subject"] is None


def test_statement_record_leaves_out_null_keys(audited):
    """A statement's record has the keys with a value, in the documented
    order; those whose value is null are left out, which readers see as null."""
    p, a = audited()
    with p.connect() as c:
        c.execute("SELECT 1 AS one")
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1 / 0")
    a.statements(count=2)
    ok, failed = [json.loads(r["record"]) for r in
                  a.rows("SELECT record FROM events WHERE kind = 'statement' ORDER BY seq")]
    assert list(ok) == ["session", "start_us", "duration_us", "sql", "statement_index", "command_tag",
                        "rows_returned", "rows_affected", "bytes_returned", "columns", "result_sha256",
                        "decision", "run", "kind", "fingerprint", "normalized"]
    assert failed["sqlstate"] == "22012" and failed["error"] == "division by zero"
    assert "command_tag" not in failed and "original_sql" not in failed and "params" not in failed
    st = a.statements(count=2)[1]
    assert st["command_tag"] is None and st["original_sql"] is None and st["sqlstate"] == "22012"


@pytest.mark.parametrize("policy", ["redacted", "full", "none"])
def test_extended_protocol_parameters_by_policy(audited, policy):
    p, a = audited(params=policy)
    with p.connect() as c:
        c.execute("SELECT %s::text AS secret, %s::text AS nothing", ("s3cret", None))
    st = a.statements()[0]
    assert st["sql"] == "SELECT $1::text AS secret, $2::text AS nothing"
    assert st["statement_name"] == ""
    expect = {"redacted": [{"format": "text", "length": 6}, {"format": "text", "length": None}],
              "full": ["s3cret", None], "none": None}[policy]
    assert (json.loads(st["params"]) if st["params"] else None) == expect


def test_multi_statement_query_one_record_per_statement(audited):
    p, a = audited()
    with p.connect() as c:
        c.execute("CREATE TEMP TABLE m (x int); INSERT INTO m VALUES (1), (2); SELECT * FROM m")
    sts = a.statements(count=3)
    assert [s["command_tag"] for s in sts] == ["CREATE TABLE", "INSERT 0 2", "SELECT 2"]
    assert [s["rows_affected"] for s in sts] == [0, 2, 0]
    assert all(s["kind"] == "DDL,INSERT,SELECT" for s in sts)
    assert [json.loads(s["columns"]) if s["columns"] else None for s in sts] == [None, None, ["x"]]


def test_error_is_recorded_with_sqlstate(audited):
    p, a = audited()
    with p.connect() as c:
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1/0")
    st = a.statements()[0]
    assert st["sqlstate"] == "22012" and st["error"] == "division by zero"
    assert st["command_tag"] is None and st["decision"] == "allowed"


def test_blocked_and_rewritten_statements(audited):
    p, a = audited(before=[("guard", {"rewrite_to": "SELECT 'safe'"})])
    with p.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DROP TABLE x /* pgw:block */")
        assert c.execute("SELECT 'unsafe' /* pgw:rewrite */").fetchone() == ("safe",)
    blocked, rewritten = a.statements(count=2)
    assert blocked["decision"] == "blocked" and blocked["decided_by"] == "guard"
    assert blocked["sql"] == "DROP TABLE x /* pgw:block */" and blocked["sqlstate"] == "42501"
    assert blocked["kind"] == "DDL"
    assert rewritten["decision"] == "rewritten"
    assert rewritten["sql"] == "SELECT 'safe'" and rewritten["original_sql"] == "SELECT 'unsafe' /* pgw:rewrite */"


def test_masked_columns_and_digest_of_what_the_client_saw(audited):
    p, a = audited(before=[("mask", {"results": "on", "mask_column": "secret"})], result_sample_rows="2")
    with p.connect() as c:
        rows = c.execute("SELECT 'hunt' || 'er2' AS secret, g AS n FROM generate_series(1, 3) g").fetchall()
    assert rows[0][0] == "***"
    st = a.statements()[0]
    assert json.loads(st["masked_columns"]) == {"secret": "mask:masked"}
    assert st["result_sha256"] == rows_digest([(s, str(n)) for s, n in rows])
    assert json.loads(st["result_sample"]) == [["***", "1"], ["***", "2"]]
    assert "hunter2" not in json.dumps(a.rows("SELECT record FROM events"))


def test_copy_is_recorded(audited):
    p, a = audited()
    with p.connect() as c:
        copy_round_trip(c, 100)
    sts = a.statements(count=3)
    assert [(s["kind"], s["command_tag"], s["rows_affected"]) for s in sts[1:]] == [
        ("COPY", "COPY 100", 100), ("COPY", "COPY 100", 100)]


def test_client_vanishing_mid_result_ends_its_session(audited):
    p, a = audited()
    raw = RawConn(p.host, p.port)
    raw.login("appuser", "appdb", password="apppass")
    raw.send(message(b"Q", b"SELECT repeat('x', 1000) FROM generate_series(1, 100000)\0"))
    raw.recv_msg()
    raw.close()  # no Terminate, result not read: the socket just goes
    s = a.wait_rows("SELECT * FROM sessions WHERE end_reason IS NOT NULL")[0]
    assert s["end_reason"].startswith("client") and s["end_reason"] != "client close request", s
    # the statement it abandoned is recorded as failed, with what it was sent
    st = a.statements()[0]
    assert st["sql"].startswith("SELECT repeat('x', 1000)") and st["sqlstate"] == "08006", st
    assert st["error"] == s["end_reason"] and st["rows_returned"] > 0, st


def test_show_audit_in_the_console(audited):
    p, a = audited()
    with p.connect() as c:
        c.execute("SELECT 1")
    a.statements()
    row = p.admin_rows("SHOW AUDIT")[0]
    assert row["file"] == str(a.file)
    assert int(row["written"]) >= 3 and int(row["pending"]) == 0 and row["failed"] == "no"
    assert int(row["file_size"]) > 0


def pending_records(p):
    return int(p.admin_rows("SHOW AUDIT")[0]["pending"])


def test_flush_ms_follows_reload(audited):
    """RELOAD changes the batching window: at flush_ms = 3000 a statement's
    record is still queued a second later (it was ignored before: the
    window stayed at its start-up value)."""
    p, a = audited()
    with p.connect() as c:
        c.execute("SELECT 1")
    a.statements()
    p.configure(extra_ini=a.ini_section + "flush_ms = 3000\n")
    p.reload()
    with p.connect() as c:
        c.execute("SELECT 2")
        time.sleep(1)
        assert pending_records(p) > 0
    wait_for(lambda: pending_records(p) == 0, timeout=10, what="the records written after the window")


def test_queue_longer_than_a_batch_is_written_in_order(audited):
    """6,000 records queued within one long window (flush_ms = 10000) are
    more than a batch (5,000): the writer commits a full batch as soon as
    there is one, without waiting for the window, and every record is on
    file once, in order (the chain verifies).  (What is left after a full
    batch is due at once, so whether any of it is still queued when the
    first batch is on file depends on when the writer got the lock.)"""
    p, a = audited(flush_ms="10000")
    count = 6000
    with p.connect() as c, c.pipeline():
        for i in range(count):
            c.execute("SELECT %s::int", (i,))
    wait_for(lambda: int(p.admin_rows("SHOW AUDIT")[0]["written"]) >= 5000, timeout=30,
             what="the first full batch written before its window ends")
    p.stop()
    assert len(a.rows("SELECT id FROM statements WHERE sql = 'SELECT $1::int'")) == count
    out = a.verify()
    assert out.returncode == 0, out.stdout + out.stderr


SCHED_OTHER, SCHED_IDLE = 0, 5


def writer_policy(p):
    """The scheduling policy of pgwarden's thread named audit-writer."""
    for task in Path(f"/proc/{p.pid}/task").iterdir():
        if (task / "comm").read_text().strip() == "audit-writer":
            after_comm = (task / "stat").read_text().rsplit(")", 1)[1].split()
            return int(after_comm[41 - 3])  # field 41 of stat(5); the list starts at field 3
    raise AssertionError("no audit-writer thread")


def test_writer_priority(audited):
    """The writer thread runs at idle priority (SCHED_IDLE) by default,
    at normal priority with writer_priority = normal, and by default also
    with synchronous = on (every result waits for it there); idle when
    asked for even then."""
    p, _ = audited()
    assert writer_policy(p) == SCHED_IDLE
    p, _ = audited(writer_priority="normal")
    assert writer_policy(p) == SCHED_OTHER
    p, _ = audited(synchronous="on")
    assert writer_policy(p) == SCHED_OTHER
    p, _ = audited(synchronous="on", writer_priority="idle")
    assert writer_policy(p) == SCHED_IDLE


def test_synchronous_reload_with_idle_writer_warns(audited):
    """synchronous = on by RELOAD cannot raise the idle writer (start-only):
    the log says so, and statements still run, each result committed first."""
    p, a = audited()
    p.configure(extra_ini=a.ini_section + "synchronous = on\n")
    p.reload()
    p.wait_log(r"WARNING.*synchronous = on with the writer at idle priority.*restart")
    with p.connect() as c:
        c.execute("SELECT 1")
        assert pending_records(p) == 0
    assert writer_policy(p) == SCHED_IDLE


def test_idle_writer_keeps_up_while_every_cpu_is_busy(audited):
    """With a busy loop on every CPU at normal priority, the idle-priority
    writer still gets its share: every record reaches the file."""
    p, a = audited()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count())]
    time.sleep(0.5)  # spinning
    try:
        with p.connect() as c:
            for i in range(1000):
                c.execute("SELECT %s::int", (i,))
        wait_for(lambda: pending_records(p) == 0, timeout=60, what="every record written")
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert len(a.statements(1000, where="sql = 'SELECT $1::int'")) == 1000


# ---------------------------------------------------------------------------
# the chain
# ---------------------------------------------------------------------------

def stopped_audit(audited, statements=5):
    p, a = audited()
    with p.connect() as c:
        for i in range(statements):
            c.execute("SELECT %s::int", (i,))
    p.stop()
    return a


def test_verify_intact_file_and_files_are_private(audited):
    a = stopped_audit(audited)
    r = a.verify()
    assert r.returncode == 0 and r.stdout.startswith("OK: "), r.stdout + r.stderr
    assert "stop checkpoint" in r.stdout
    assert oct(a.file.stat().st_mode & 0o777) == "0o600"
    assert oct(a.key.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("tamper,expect", [
    ("UPDATE events SET record = replace(record, 'SELECT', 'select') WHERE seq = 4", "record 4 was edited"),
    ("UPDATE events SET at_us = at_us + 1 WHERE seq = 4", "record 4 was edited"),
    ("DELETE FROM events WHERE seq = 4", "record 4 is missing"),
    ("UPDATE events SET seq = seq + 1000 WHERE seq >= 4; UPDATE events SET seq = seq - 999 WHERE seq >= 1004;"
     "INSERT INTO events SELECT 4, kind, at_us, record, prev_hash, hash FROM events WHERE seq = 3",
     "record 4 does not follow"),
    ("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)", "without a stop checkpoint"),
])
def test_verify_detects_tampering(audited, tamper, expect):
    a = stopped_audit(audited)
    a.tamper(tamper)
    r = a.verify()
    assert r.returncode == 1 and r.stdout.startswith("BROKEN: ") and expect in r.stdout, r.stdout


def test_verify_with_wrong_key_fails(audited):
    a = stopped_audit(audited)
    wrong = a.dir / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    wrong.chmod(0o600)
    r = a.cli("verify", a.file, "--key", wrong)
    assert r.returncode == 1 and "record 1 " in r.stdout


def test_restart_continues_the_chain(audited):
    a = stopped_audit(audited, statements=2)
    p, a2 = audited(audit_dir=a.dir)
    with p.connect() as c:
        c.execute("SELECT 'second run'")
    p.stop()
    r = a2.verify()
    assert r.returncode == 0, r.stdout
    runs = {s["run"] for s in a2.rows("SELECT run FROM statements")}
    assert len(runs) == 2


def test_export_and_tail(audited):
    a = stopped_audit(audited, statements=3)
    r = a.cli("export", a.file, "--format", "jsonl")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["kind"] == "start" and events[-1]["kind"] == "stop"
    r = a.cli("export", a.file, "--format", "csv", "--since", "2000-01-01")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == '"seq","kind","at_us","record","hash"'
    assert len(r.stdout.splitlines()) == len(events) + 1
    r = a.cli("export", a.file, "--since", "2999-01-01")
    assert r.returncode == 0 and r.stdout == ""
    r = a.cli("tail", a.file, "-n", "2")
    assert [json.loads(line)["seq"] for line in r.stdout.splitlines()] == [len(events) - 1, len(events)]


# ---------------------------------------------------------------------------
# bad config, failures
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("keys,message", [
    ({"on_failure": "maybe"}, "on_failure = maybe: expected block or continue"),
    ({"params": "some"}, "params = some: expected none, redacted or full"),
    ({"result_sample_rows": "-1"}, "result_sample_rows = -1: expected a number"),
    ({"flush_ms": "0"}, "flush_ms = 0: expected a number"),
    ({"writer_priority": "high"}, "writer_priority = high: expected normal or idle"),
])
def test_bad_config_refuses_to_start(audited, keys, message):
    from conftest import PoolerFailed
    with pytest.raises(PoolerFailed, match=message):
        audited(**keys)


def test_key_file_readable_by_others_is_refused(audited, tmp_path):
    from conftest import PoolerFailed
    d = Path(tempfile.mkdtemp(prefix="pgwarden-audit-", dir=TMP_ROOT))
    (d / "audit.key").write_bytes(os.urandom(32))
    (d / "audit.key").chmod(0o644)
    chown_postgres(d)
    with pytest.raises(PoolerFailed, match="group or world access"):
        audited(audit_dir=d)


def test_full_disk_refuses_statements_then_recovers(audited):
    d = Path(tempfile.mkdtemp(prefix="pgwarden-audit-", dir=TMP_ROOT))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(d)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    p, a = audited(audit_dir=d, flush_ms="50")
    filler = d / "filler"
    with p.connect() as c:
        c.execute("SELECT 1")
        a.statements()
        # fill the file system, then write until the store notices (its
        # next commit, at most flush_ms after the first record queued)
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        refused = None
        deadline = time.monotonic() + 10
        for i in range(100_000):
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
            try:
                # prepared: after the first, only Executes — refused too
                c.execute("SELECT repeat('x', 20000) AS pad, %s::int", (i,), prepare=True)
            except psycopg.errors.SystemError as e:
                refused = e
                break
            except psycopg.Error as e:
                refused = e
                break
        assert refused is not None, "statements kept running with the audit log full"
        assert refused.sqlstate == "58030" and "audit log unavailable" in str(refused)
        assert p.admin_rows("SHOW AUDIT")[0]["failed"] == "yes"
        filler.unlink()
        deadline = time.monotonic() + 5
        while True:
            try:
                assert c.execute("SELECT 'recovered'").fetchone() == ("recovered",)
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    p.stop()
    assert a.verify().returncode == 0


# ---------------------------------------------------------------------------
# cancel, server death, synchronous mode and kill -9
# ---------------------------------------------------------------------------

def test_cancelled_statement_is_recorded(audited):
    p, a = audited()
    with p.connect() as c:
        timer = threading.Timer(0.3, c.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("SELECT pg_sleep(5)")
        timer.join()
    st = a.statements()[0]
    assert st["sql"] == "SELECT pg_sleep(5)" and st["sqlstate"] == "57014"
    assert st["duration_us"] >= 200_000


def test_server_death_is_recorded(audited, pg):
    p, a = audited(overrides={"pool_mode": "session"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg.query("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 'after the kill'")
    errors = a.wait_rows("SELECT * FROM statements WHERE sqlstate IS NOT NULL")
    assert errors and errors[0]["sqlstate"] == "57P01", errors


def test_synchronous_mode_survives_kill_9(audited):
    """synchronous = on: every statement whose result a client received
    before pgwarden was killed with SIGKILL is in the file."""
    p, a = audited(synchronous="on")
    answered, stop = [], threading.Event()

    def client(n):
        with p.connect() as c:
            i = 0
            while not stop.is_set():
                tag = f"c{n}-{i}"
                try:
                    c.execute(f"SELECT '{tag}'")
                except psycopg.Error:
                    return
                answered.append(tag)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    p.stopped_by_us = True  # the kill is the test
    os.kill(p.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    recorded = {r["sql"] for r in a.rows("SELECT sql FROM statements")}
    missing = [t for t in answered if f"SELECT '{t}'" not in recorded]
    assert len(answered) > 50, answered
    assert not missing, f"{len(missing)} of {len(answered)} answered statements not recorded: {missing[:5]}"
    assert a.verify("--allow-open").returncode == 0
