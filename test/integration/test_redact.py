"""The redact plugin's guardrails and read_only mode (plugins/redact).

Statements are parsed with libpg_query; what a policy forbids is blocked
with 42501 before it reaches PostgreSQL, the connection stays usable and
the transaction state is PostgreSQL's.  Each guardrail is tried together
with an allowed neighbour, in the simple and the extended protocol.
"""

from pathlib import Path

import psycopg
import pytest

from conftest import TARGET_BIN, PoolerFailed

pytestmark = pytest.mark.pgwarden_only

REDACT_SO = Path(TARGET_BIN).resolve().parent / "plugins" / "redact" / "redact.so"

POLICY = """\
; the test policy
[policy readers]
users = plainuser
read_only = on
block = all

[policy default]
block = all
block_functions = pg_read_file, pg_ls_dir, lo_export, dblink*
"""


@pytest.fixture
def guarded(pgwarden, pg):
    with pg.connect("appdb") as c:
        c.execute("DROP TABLE IF EXISTS rd_t")
        c.execute("CREATE TABLE rd_t (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO rd_t SELECT g, 'v' || g FROM generate_series(1, 5) g")
        c.execute("GRANT ALL ON rd_t TO PUBLIC")

    def start(policy=POLICY, settings=None, extra="", **kw):
        ini = {"plugins": "redact"}
        ini.update(settings or {})
        extra = f"[plugin.redact]\npath = {REDACT_SO}\npolicy_file = @DIR@/policy.ini\n" + extra
        return pgwarden(ini, extra_ini=extra, files={"policy.ini": policy}, **kw)
    yield start
    with pg.connect("appdb") as c:
        c.execute("DROP TABLE IF EXISTS rd_t")


def blocked(c, sql, params=None):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as ei:
        c.execute(sql, params)
    return str(ei.value)


# (statement, reason) pairs blocked by the default policy, each followed in
# ALLOWED by neighbours that must pass.
BLOCKED = [
    ("DROP TABLE rd_t", "DROP"),
    ("DROP INDEX IF EXISTS nothing_here", "DROP"),
    ("TRUNCATE rd_t", "TRUNCATE"),
    ("ALTER TABLE rd_t ADD COLUMN z int", "ALTER"),
    ("ALTER TABLE rd_t RENAME TO rd_u", "ALTER"),
    ("DELETE FROM rd_t", "DELETE without WHERE"),
    ("DELETE FROM rd_t WHERE true", "DELETE without WHERE"),
    ("DELETE FROM rd_t WHERE 1 = 1", "DELETE without WHERE"),
    ("WITH d AS (DELETE FROM rd_t RETURNING *) SELECT count(*) FROM d", "DELETE without WHERE"),
    ("EXPLAIN ANALYZE DELETE FROM rd_t", "DELETE without WHERE"),
    ("EXPLAIN (ANALYZE true, COSTS off) DELETE FROM rd_t", "DELETE without WHERE"),
    ("PREPARE wipe AS DELETE FROM rd_t", "DELETE without WHERE"),
    ("UPDATE rd_t SET v = v", "UPDATE without WHERE"),
    ("UPDATE rd_t SET v = 'x' WHERE (SELECT true)", "UPDATE without WHERE"),
    ("GRANT SELECT ON rd_t TO PUBLIC", "GRANT/REVOKE"),
    ("REVOKE SELECT ON rd_t FROM PUBLIC", "GRANT/REVOKE"),
    ("GRANT md5user TO appuser", "GRANT/REVOKE"),
    ("CREATE EXTENSION IF NOT EXISTS hstore", "CREATE EXTENSION"),
    ("COPY rd_t TO PROGRAM 'cat'", "COPY PROGRAM"),
    ("COPY rd_t FROM PROGRAM 'echo 9'", "COPY PROGRAM"),
    ("DO $$BEGIN NULL; END$$", "DO"),
    ("SET ROLE md5user", "SET ROLE"),
    ("SET LOCAL ROLE md5user", "SET ROLE"),
    ("SET SESSION AUTHORIZATION md5user", "SET ROLE"),
    ("SELECT set_config('role', 'md5user', false)", "SET ROLE"),
    ("ALTER SYSTEM SET work_mem = '8MB'", "ALTER SYSTEM"),
    ("SELECT pg_read_file('/etc/hostname')", "function pg_read_file"),
    ("SELECT pg_catalog.PG_READ_FILE('/etc/hostname')", "function pg_read_file"),
    ("SELECT * FROM pg_ls_dir('.')", "function pg_ls_dir"),
    ("SELECT dblink_exec('x', 'y')", "function dblink_exec"),
    ("SELECT length(v) FROM rd_t WHERE id IN (SELECT 1 FROM pg_ls_dir('.'))", "function pg_ls_dir"),
]

ALLOWED = [
    "SELECT count(*) FROM rd_t",
    "DELETE FROM rd_t WHERE id = 1",
    "DELETE FROM rd_t WHERE id > 100",
    "UPDATE rd_t SET v = 'x' WHERE id = 2",
    "EXPLAIN DELETE FROM rd_t",
    "CREATE TEMP TABLE rd_tmp (a int)",
    "SET search_path = public",
    "RESET ROLE",
    "SELECT set_config('search_path', 'public', false)",
    "SELECT length('dblink')",
    "COPY (SELECT 1) TO STDOUT",
]


def test_each_guardrail_and_its_neighbours(guarded):
    p = guarded()
    with p.connect() as c:
        for sql, reason in BLOCKED:
            msg = blocked(c, sql)
            assert msg == f'pgwarden: blocked by policy "default": {reason}', (sql, msg)
        for sql in ALLOWED:
            if sql.startswith("COPY"):
                with c.cursor().copy(sql) as copy:
                    assert b"".join(copy) == b"1\n"
            else:
                c.execute(sql)
        assert c.execute("SELECT count(*) FROM rd_t").fetchone() == (4,)  # only id = 1 went


def test_extended_protocol_is_checked_at_parse(guarded):
    p = guarded()
    with p.connect(prepare_threshold=0) as c:
        assert "DELETE without WHERE" in blocked(c, "DELETE FROM rd_t WHERE %s", (True,))
        c.execute("DELETE FROM rd_t WHERE id = %s", (3,))
        assert c.execute("SELECT count(*) FROM rd_t WHERE id = %s", (3,)).fetchone() == (0,)
        assert "function pg_read_file" in blocked(c, "SELECT pg_read_file(%s)", ("/etc/hostname",))
        assert c.execute("SELECT %s::int + 1", (41,)).fetchone() == (42,)


def test_multi_statement_query_is_blocked_whole(guarded):
    p = guarded()
    with p.connect() as c:
        assert "DROP" in blocked(c, "INSERT INTO rd_t VALUES (99, 'x'); DROP TABLE rd_t")
        assert c.execute("SELECT count(*) FROM rd_t WHERE id = 99").fetchone() == (0,)


def test_block_inside_a_transaction_leaves_postgres_state(guarded):
    p = guarded()
    with p.connect(autocommit=False) as c:
        c.execute("INSERT INTO rd_t VALUES (50, 'x')")
        blocked(c, "TRUNCATE rd_t")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("SELECT 1")
        c.rollback()
        assert c.execute("SELECT count(*) FROM rd_t WHERE id = 50").fetchone() == (0,)
        c.commit()


def test_read_only_policy_by_pooler_user(guarded):
    p = guarded()
    with p.connect(user="plainuser") as c:
        assert c.execute("SELECT count(*) FROM rd_t").fetchone() == (5,)
        c.execute("SHOW search_path")
        c.execute("EXPLAIN SELECT * FROM rd_t")
        c.execute("EXPLAIN INSERT INTO rd_t VALUES (7, 'x')")  # explained, not run
        c.execute("SET application_name = 'reader'")
        c.execute("BEGIN")
        c.execute("SELECT 1")
        c.execute("COMMIT")
        for sql, what in [("INSERT INTO rd_t VALUES (7, 'x')", "INSERT"),
                          ("SELECT 1 AS a INTO rd_copy", "SELECT INTO"),
                          ("CREATE TEMP TABLE t2 (a int)", "CREATE"),
                          ("EXPLAIN ANALYZE INSERT INTO rd_t VALUES (7, 'x')", "INSERT"),
                          ("WITH i AS (INSERT INTO rd_t VALUES (7, 'x') RETURNING id) SELECT * FROM i", "INSERT"),
                          ("COPY rd_t FROM STDIN", "COPY"),
                          ("VACUUM rd_t", "VACUUM"),
                          ("PREPARE TRANSACTION 'x'", "TRANSACTION")]:
            msg = blocked(c, sql)
            assert msg == f'pgwarden: blocked by policy "readers": read_only: {what}', (sql, msg)
    with p.connect(user="md5user") as c:  # the default policy: writes with WHERE are fine
        c.execute("INSERT INTO rd_t VALUES (8, 'x')")
    rows = {(r["policy"], r["item"]): r for r in p.admin_rows("SHOW REDACT")}
    assert rows[("readers", "blocks")]["value"] == "8"
    assert rows[("readers", "sessions")]["detail"] == "read_only"
    assert rows[("*", "version")]["value"]


def test_unparseable_statement_is_blocked(guarded):
    p = guarded()
    with p.connect() as c:
        msg = blocked(c, "SELEC 1")
        assert msg == ('pgwarden: blocked by policy "default": the statement could not be parsed '
                       '(syntax error at or near "SELEC")')


def test_verdicts_are_cached_by_normalized_text(guarded):
    p = guarded()
    with p.connect() as c:
        for i in range(1, 6):
            c.execute(f"SELECT v FROM rd_t WHERE id = {i}")
        for _ in range(3):
            blocked(c, "SELECT pg_read_file('/etc/hostname')")
    cache = {r["item"]: r for r in p.admin_rows("SHOW REDACT")}["cache"]
    # the four other ids and the two repeats are found by shape key, without a parse
    assert cache["detail"] == "hits 6, misses 2, found without a parse 6", cache
    with p.connect() as c:  # a comment: no shape key, found by normalized text after one parse
        for i in (1, 2):
            c.execute(f"SELECT v FROM rd_t WHERE id = {i} /* agent */")
    cache = {r["item"]: r for r in p.admin_rows("SHOW REDACT")}["cache"]
    assert cache["detail"] == "hits 7, misses 3, found without a parse 6", cache


def test_reload_applies_to_open_sessions_and_bad_files_are_refused(guarded):
    p = guarded()
    with p.connect() as c:
        c.execute("INSERT INTO rd_t VALUES (20, 'x')")
        (p.dir / "policy.ini").write_text(POLICY.replace("[policy default]\n", "[policy default]\nread_only = on\n"))
        p.reload()
        assert "read_only: INSERT" in blocked(c, "INSERT INTO rd_t VALUES (21, 'x')")
        # a bad file: refused with its line, the policy in force stays
        (p.dir / "policy.ini").write_text(POLICY + "colour = blue\n")
        p.reload()
        p.wait_log(r"policy.ini:10: unknown key \"colour\"")
        assert "read_only: INSERT" in blocked(c, "INSERT INTO rd_t VALUES (22, 'x')")
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("policy,message", [
    (POLICY.replace("[policy default]", "[policy fallback]\nusers = nobody"), "no [policy default] section"),
    (POLICY.replace("block = all\n\n", "block = al\n\n"), "policy.ini:5:"),
    (POLICY + "mask public.rd_t.v = hash\n", "hash_key_file: (not set) must hold 64 hex digits"),
])
def test_bad_policy_refuses_to_start(guarded, policy, message):
    with pytest.raises(PoolerFailed) as ei:
        guarded(policy)
    assert message in str(ei.value)


def test_audit_records_the_block(guarded):
    from test_audit import new_audit
    a = new_audit()
    p = guarded(settings={"plugins": "redact, audit"}, extra=a.ini_section)
    with p.connect() as c:
        blocked(c, "DELETE FROM rd_t")
    st = a.statements(where="decision = 'blocked'")[0]
    assert st["sql"] == "DELETE FROM rd_t" and st["sqlstate"] == "42501"
