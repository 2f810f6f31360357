"""Large messages are streamed through a small buffer, and server host
names are resolved asynchronously (c-ares), re-resolved after
dns_max_ttl, and through the nameserver resolv_conf names."""

import hashlib
import socket
import struct
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import PoolerFailed, wait_for


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


@pytest.mark.parametrize("loopcnt", ["0", "1", "5"])
def test_many_buffers_in_a_row_arrive_intact(pgwarden, loopcnt):
    """sbuf_loopcnt (reads in a row on one connection): a result and a COPY
    many pkt_bufs long come through whole and in order, and the pooler
    serves other clients afterwards."""
    p = pgwarden({"pool_mode": "transaction", "pkt_buf": "4096", "sbuf_loopcnt": loopcnt})
    rows = 20000
    expected = hashlib.md5("".join(f"{i}\t{'x' * 100}{i}\n" for i in range(rows)).encode()).hexdigest()
    with p.connect() as streaming, p.connect() as other:
        got = streaming.execute("SELECT md5(string_agg(i || E'\\t' || repeat('x', 100) || i || E'\\n', '' ORDER BY i)) "
                                "FROM generate_series(0, %s) i", (rows - 1,)).fetchone()[0]
        assert got == expected
        result = streaming.execute("SELECT i, repeat('x', 100) || i FROM generate_series(0, %s) i ORDER BY i",
                                   (rows - 1,)).fetchall()
        assert result == [(i, "x" * 100 + str(i)) for i in range(rows)]
        assert other.execute("SELECT 42").fetchone()[0] == 42
        out = hashlib.md5()
        with streaming.cursor().copy(f"COPY (SELECT i, repeat('x', 100) || i FROM generate_series(0, {rows - 1}) i) "
                                     "TO STDOUT") as copy:
            for block in copy:
                out.update(block)
        assert out.hexdigest() == expected
    config = {r["key"]: r["value"] for r in p.admin_rows("SHOW CONFIG")}
    assert config["sbuf_loopcnt"] == loopcnt


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


class FakeDns:
    """A tiny DNS server on 127.0.0.2:53 (UDP) that knows one name: A
    records get `address`, an SOA query for the name's zone (what follows its
    first dot) gets `serial`, everything else an empty answer.  Both can be
    changed while it runs."""

    def __init__(self, name, address, serial=1):
        self.name = name.lower()
        self.zone = self.name.split(".", 1)[1]
        self.address = address
        self.serial = serial
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.2", 53))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def answer(self, query):
        labels, pos = [], 12
        while query[pos]:
            labels.append(query[pos + 1:pos + 1 + query[pos]].decode("ascii", "replace"))
            pos += 1 + query[pos]
        qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0]
        question = query[12:pos + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        if name == self.name and qtype == 1:
            record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(self.address)
        elif name == self.zone and qtype == 6:
            # mname and rname point at the question's name; then serial,
            # refresh, retry, expire, minimum
            rdata = struct.pack("!HH5I", 0xC00C, 0xC00C, self.serial, 60, 60, 600, 60)
            record = struct.pack("!HHHIH", 0xC00C, 6, 1, 60, len(rdata)) + rdata
        else:
            record = b""
        header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if record else 0, 0, 0)
        return header + question + record

    def serve(self):
        while not self.stopping:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            try:
                self.sock.sendto(self.answer(query), peer)
            except (IndexError, struct.error):
                pass

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


FAKE_DNS_NAME = "db.pgwarden-resolv.test"


def test_resolv_conf_names_the_nameserver(pgwarden, pg):
    """resolv_conf: names are resolved through the nameserver that file
    lists (a fake one here), not the system's."""
    dns = FakeDns(FAKE_DNS_NAME, "127.0.0.1")
    try:
        p = pgwarden({"pool_mode": "transaction"},
                     databases={"byname": f"host={FAKE_DNS_NAME} port={pg.port} dbname=appdb"},
                     files={"resolv.conf": "nameserver 127.0.0.2\n"},
                     extra_ini="resolv_conf = @DIR@/resolv.conf\n")
        with p.connect(db="byname") as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
        assert (FAKE_DNS_NAME, 1) in dns.queries
    finally:
        dns.stop()


@pytest.mark.pgwarden_only
def test_unreadable_resolv_conf_stops_startup(pgwarden):
    """c-ares would quietly fall back to its defaults; pgwarden says why it
    cannot start."""
    with pytest.raises(PoolerFailed) as failed:
        pgwarden({"resolv_conf": "/nonexistent/resolv.conf"})
    assert "resolv_conf: cannot read /nonexistent/resolv.conf" in str(failed.value)


ZONE_NAME = "db.pgwarden-zone.test"


# PgBouncer 1.18 gets as far as the new address, then leaves the client
# waiting once that address does not answer (as above): pgwarden only.
@pytest.mark.pgwarden_only
@pytest.mark.parametrize("zone_check", ["1", "0"])
def test_zone_serial_change_looks_names_up_again(pgwarden, pg, zone_check):
    """dns_zone_check_period: when the zone's SOA serial changes, its names
    are looked up again at once, long before dns_max_ttl, and connections to
    the old address are replaced.  Without it the cached answer stays."""
    dns = FakeDns(ZONE_NAME, "127.0.0.1")
    try:
        p = pgwarden({"pool_mode": "transaction", "dns_max_ttl": "60", "dns_zone_check_period": zone_check},
                     databases={"byzone": f"host={ZONE_NAME} port={pg.port} dbname=appdb"},
                     files={"resolv.conf": "nameserver 127.0.0.2\n"},
                     extra_ini="resolv_conf = @DIR@/resolv.conf\n")
        with p.connect(db="byzone") as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
        if zone_check == "1":
            wait_for(lambda: any(r["zonename"] == "pgwarden-zone.test" and r["serial"] == 1
                                 for r in p.admin_rows("SHOW DNS_ZONES")), what="the zone's first serial")
        hosts = {r["hostname"]: r for r in p.admin_rows("SHOW DNS_HOSTS")}
        assert hosts[ZONE_NAME]["addrs"] == "127.0.0.1:0"  # PgBouncer's form
        # nothing listens on 127.0.0.3
        dns.address, dns.serial = "127.0.0.3", 2
        time.sleep(2.5)
        if zone_check == "0":
            with p.connect(db="byzone") as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1
            return
        p.wait_log(r"zone pgwarden-zone\.test serial changed \(1 -> 2\)")
        p.wait_log(f"the addresses of {ZONE_NAME} changed")
        wait_for(lambda: {r["hostname"]: r["addrs"] for r in p.admin_rows("SHOW DNS_HOSTS")}.get(ZONE_NAME)
                 == "127.0.0.3:0", what="the new address looked up")
        # the idle server to the old address is gone; a new one goes to the new address
        wait_for(lambda: not [s for s in p.admin_rows("SHOW SERVERS") if s["database"] == "byzone"],
                 what="the old server connection replaced")
        with pytest.raises(psycopg.OperationalError):
            with p.connect(db="byzone") as c:
                c.execute("SELECT 1")
    finally:
        dns.stop()
