"""COPY through the pooler."""

import hashlib

import pytest

NROWS = 100_000


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_copy_in_and_out(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect(prepare_threshold=None) as c:
        c.execute("DROP TABLE IF EXISTS copy_t_%s" % mode)
        c.execute("CREATE TABLE copy_t_%s (id int, label text)" % mode)
        sent = hashlib.sha256()
        with c.cursor() as cur:
            with cur.copy("COPY copy_t_%s (id, label) FROM STDIN" % mode) as cp:
                for i in range(NROWS):
                    line = f"{i}\tlabel-{i}-{'x' * (i % 17)}\n"
                    sent.update(line.encode())
                    cp.write(line)
        assert c.execute("SELECT count(*), sum(id) FROM copy_t_%s" % mode).fetchone() == \
            (NROWS, NROWS * (NROWS - 1) // 2)
        got = hashlib.sha256()
        nbytes = 0
        with c.cursor() as cur:
            with cur.copy("COPY (SELECT id, label FROM copy_t_%s ORDER BY id) TO STDOUT" % mode) as cp:
                for chunk in cp:
                    got.update(chunk)
                    nbytes += len(chunk)
        assert got.hexdigest() == sent.hexdigest()
        assert nbytes > NROWS * 10
        c.execute("DROP TABLE copy_t_%s" % mode)


def test_copy_error_recovers(pooler):
    """A COPY that fails on the server leaves the client connection usable."""
    import psycopg
    with pooler.connect() as c:
        c.execute("CREATE TEMP TABLE copy_err (id int)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with c.cursor().copy("COPY copy_err FROM STDIN") as cp:
                cp.write("1\nnot-a-number\n3\n")
        assert c.execute("SELECT count(*) FROM copy_err").fetchone()[0] == 0
        assert c.execute("SELECT 9").fetchone()[0] == 9
