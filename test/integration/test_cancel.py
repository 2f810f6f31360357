"""Cancel requests through the pooler."""

import socket
import struct
import threading
import time

import psycopg
import pytest

from conftest import PoolerFailed
from pgproto import ServerError


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_cancel_long_query(pgwarden, mode):
    p = pgwarden({"pool_mode": mode})
    with p.connect() as c:
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT pg_sleep(10)")
        finally:
            timer.cancel()
        elapsed = time.monotonic() - t0
        assert elapsed < 5, f"cancel took {elapsed:.1f}s"
        # The connection is still usable afterwards.
        assert c.execute("SELECT 5").fetchone()[0] == 5


def test_cancel_does_not_hit_other_clients(pgwarden):
    """A cancel aimed at one client must not cancel another client's query."""
    p = pgwarden({"pool_mode": "transaction", "default_pool_size": 2})
    with p.connect() as a, p.connect() as b:
        result = {}

        def run_b():
            try:
                result["b"] = b.execute("SELECT 1 FROM pg_sleep(1.5)").fetchone()[0]
            except Exception as e:
                result["b"] = e

        tb = threading.Thread(target=run_b)
        tb.start()
        timer = threading.Timer(0.3, a.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            a.execute("SELECT pg_sleep(10)")
        tb.join(10)
        assert result["b"] == 1


def test_cancel_idle_connection_is_harmless(pooler):
    with pooler.connect() as c:
        c.cancel()
        time.sleep(0.3)
        assert c.execute("SELECT 3").fetchone()[0] == 3


# ---------------------------------------------------------------------------
# peering (PgBouncer 1.19; 1.18 has none)
# ---------------------------------------------------------------------------

def send_cancel_request(host, port, key):
    """A CancelRequest with key (pid, secret) to host:port; waits until the
    other side closes the connection, as libpq does."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(struct.pack("!IIII", 16, 80877102, *key))
        s.settimeout(5)
        while s.recv(16):
            pass


def peered_pair(pgwarden, b_knows_a=True):
    """Two pgwardens with peer_id 1 and 2; each lists the other in [peers]
    (unless b_knows_a is false)."""
    a = pgwarden({"pool_mode": "transaction", "peer_id": "1"})
    b = pgwarden({"pool_mode": "transaction", "peer_id": "2"})
    peers = {1: f"1 = host=127.0.0.1 port={a.port}", 2: f"2 = host=127.0.0.1 port={b.port}"}
    a.configure(extra_ini="[peers]\n" + peers[2] + "\n")
    b.configure(extra_ini="[peers]\n" + (peers[1] + "\n" if b_knows_a else "") + peers[2] + "\n")
    a.reload()
    b.reload()
    return a, b


def peer_id_of(key):
    """Where PgBouncer's peering puts the id: the key's 2nd and 3rd bytes."""
    raw = struct.pack("!II", *key)
    return raw[1] | raw[2] << 8


@pytest.mark.pgwarden_only
def test_cancel_sent_to_a_peer_is_forwarded_to_the_client_s_process(pgwarden):
    a, b = peered_pair(pgwarden)
    with a.raw() as r:
        r.login("appuser", "appdb", "apppass")
        assert peer_id_of(r.backend_key) == 1
        assert r.backend_key[1] & 0x03 == 0x03  # forwarding TTL
        assert r.backend_key[0] > 0
        threading.Timer(0.5, send_cancel_request, ("127.0.0.1", b.port, r.backend_key)).start()
        t0 = time.monotonic()
        with pytest.raises(ServerError) as ei:
            r.query("SELECT pg_sleep(10)", timeout=10)
        assert ei.value.sqlstate == "57014", ei.value.message
        assert time.monotonic() - t0 < 5
        assert r.scalar("SELECT 7") == "7"
    rows = {row["peer_id"]: row for row in b.admin_rows("SHOW PEERS")}
    assert rows[1]["port"] == a.port and rows[1]["host"] == "127.0.0.1"


@pytest.mark.pgwarden_only
def test_cancel_for_an_unknown_peer_is_dropped(pgwarden):
    a, b = peered_pair(pgwarden, b_knows_a=False)
    with a.raw() as r:
        r.login("appuser", "appdb", "apppass")
        threading.Timer(0.3, send_cancel_request, ("127.0.0.1", b.port, r.backend_key)).start()
        assert r.query("SELECT 1 FROM pg_sleep(1.5)", timeout=10) == [("1",)]
    b.wait_log("could not find peer 1 to forward cancel request to")


@pytest.mark.pgwarden_only
def test_cancel_whose_ttl_is_spent_is_not_forwarded(pgwarden):
    a, b = peered_pair(pgwarden)
    with a.raw() as r:
        r.login("appuser", "appdb", "apppass")
        spent = (r.backend_key[0], r.backend_key[1] & ~0x03)
        threading.Timer(0.3, send_cancel_request, ("127.0.0.1", b.port, spent)).start()
        assert r.query("SELECT 1 FROM pg_sleep(1.5)", timeout=10) == [("1",)]
    b.wait_log("failed to forward cancel request because its TTL was exhausted")


@pytest.mark.pgwarden_only
def test_bad_peers_section_stops_startup(pgwarden):
    with pytest.raises(PoolerFailed) as failed:
        pgwarden(extra_ini="[peers]\n1 = host=127.0.0.1 port=6432 nosuch=1\n")
    assert "unrecognized peer parameter: nosuch" in str(failed.value)
    with pytest.raises(PoolerFailed) as failed:
        pgwarden(extra_ini="[peers]\n0 = host=127.0.0.1\n")
    assert "invalid peer id: 0" in str(failed.value)
