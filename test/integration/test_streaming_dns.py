"""Large messages are streamed through a small buffer, and server host
names are resolved asynchronously (c-ares) and re-resolved after
dns_max_ttl."""

import time
from pathlib import Path

import psycopg
import pytest


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_large_messages_stream_with_bounded_memory(pgwarden):
    """A 32 MiB parameter and a 32 MiB result pass through a pooler with
    pkt_buf = 1024; its peak memory must not grow by anything like that
    (the message is forwarded in pieces, never buffered whole)."""
    p = pgwarden({"pool_mode": "transaction", "pkt_buf": "1024"})
    size = 32 * 1024 * 1024
    with p.connect(prepare_threshold=None) as c:
        c.execute("SELECT 1")
        before = rss_kib(p.pid, "VmRSS")
        assert c.execute("SELECT length(%s::text)", ("x" * size,)).fetchone()[0] == size
        assert len(c.execute("SELECT repeat('z', %s)", (size,)).fetchone()[0]) == size
        peak = rss_kib(p.pid, "VmHWM")
    assert peak - before < 16 * 1024, f"pooler grew by {peak - before} KiB for a {size >> 20} MiB message"


HOSTS = Path("/etc/hosts")
TEST_NAME = "pgwarden-dns-test.invalid"


@pytest.fixture
def hosts_entry():
    original = HOSTS.read_text()

    def point_to(addr):
        lines = [l for l in original.splitlines() if TEST_NAME not in l]
        lines.append(f"{addr} {TEST_NAME}")
        HOSTS.write_text("\n".join(lines) + "\n")

    try:
        yield point_to
    finally:
        HOSTS.write_text(original)


# PgBouncer 1.18 leaves the client waiting once the address stops answering
# (the test times out against it), so this checks pgwarden only.
@pytest.mark.pgwarden_only
def test_host_name_resolved_and_re_resolved_after_ttl(pgwarden, pg, hosts_entry):
    hosts_entry("127.0.0.1")
    # server_lifetime = 0: every transaction opens a new server connection,
    # so each one goes through the resolver.
    p = pgwarden({"pool_mode": "transaction", "dns_max_ttl": "1", "server_lifetime": "0"},
                 databases={"byname": f"host={TEST_NAME} port={pg.port} dbname=appdb"})
    with p.connect(db="byname") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    # Nothing listens on 127.0.0.3: once the cached answer expires, new
    # server connections go there and fail.
    hosts_entry("127.0.0.3")
    time.sleep(1.5)
    with pytest.raises(psycopg.OperationalError):
        with p.connect(db="byname") as c:
            c.execute("SELECT 1")
    hosts_entry("127.0.0.1")
    time.sleep(1.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            with p.connect(db="byname") as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1
            break
        except psycopg.OperationalError:
            # server_login_retry keeps failing fast for a moment
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
