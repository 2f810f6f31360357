"""Malformed and unusual input on the client socket.  Whatever arrives, the
pooler must close (or keep waiting on, until client_login_timeout) the
offending connection without crashing, and keep serving everyone else.

PgBouncer 1.18 answers broken startup packets with FATAL 08P01 ("bad packet
header: '<hex>'", "client sent partial pkt in startup phase"); for a length
below 4 it just waits for more bytes until client_login_timeout."""

import struct

import psycopg
import pytest

from pgproto import (GSSENC_REQUEST, SSL_REQUEST, CANCEL_REQUEST, RawConn, message, startup_packet)


@pytest.fixture
def p(pgwarden):
    return pgwarden({"client_login_timeout": 2, "tcp_defer_accept": 0})


def assert_rejected(p, data, expect_error=None, close=False):
    """Send `data`; the pooler must close the connection within 6 s (either
    at once or by client_login_timeout), any ErrorResponse must be 08P01, and
    the pooler must keep serving other clients."""
    with p.raw() as r:
        r.send(data)
        if close:
            r.sock.shutdown(1)  # half-close: no more data from us
        errors = r.read_errors_until_close(timeout=6)
    for e in errors:
        assert e.get("C") == "08P01", e
        assert e.get("S") == "FATAL", e
    if expect_error:
        assert errors, "expected an ErrorResponse before the close"
        assert expect_error in errors[0].get("M", ""), errors
    p.assert_serving()
    return errors


def test_garbage_startup_packet(p):
    assert_rejected(p, b"\x00\x00\x00\x08garb", expect_error="bad packet header")


def test_http_request(p):
    assert_rejected(p, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")


def test_random_bytes(p):
    import random
    rnd = random.Random(1234)
    for _ in range(5):
        assert_rejected(p, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))))


@pytest.mark.parametrize("length", [0, 1, 3])
def test_length_below_header(p, length):
    assert_rejected(p, struct.pack("!I", length))


def test_negative_length(p):
    assert_rejected(p, struct.pack("!iI", -16, 196608), expect_error="bad packet header")


def test_huge_length(p):
    assert_rejected(p, struct.pack("!II", 0x7F000000, 196608), expect_error="bad packet header")


def test_truncated_startup_then_close(p):
    pkt = startup_packet({"user": "appuser", "database": "appdb"})
    assert_rejected(p, pkt[:10], close=True)


def test_truncated_startup_then_wait(p):
    pkt = startup_packet({"user": "appuser", "database": "appdb"})
    assert_rejected(p, pkt[:10])


def test_startup_without_terminator(p):
    body = struct.pack("!I", 196608) + b"user\0appuser\0database\0appdb"  # no final NULs
    assert_rejected(p, struct.pack("!I", len(body) + 4) + body)


def test_startup_without_user(p):
    assert_rejected(p, startup_packet({"database": "appdb"}), expect_error="no username supplied")


def test_protocol_version_2(p):
    assert_rejected(p, startup_packet({"user": "appuser", "database": "appdb"}, protocol=0x20000))


def test_unknown_request_code(p):
    assert_rejected(p, struct.pack("!II", 8, 12345678))


def test_bogus_cancel_request(p):
    """A cancel request with an unknown key is silently dropped."""
    with p.raw() as r:
        r.send(struct.pack("!IIII", 16, CANCEL_REQUEST, 1234, 5678))
        r.wait_closed(timeout=6)
    p.assert_serving()


def test_short_cancel_request(p):
    assert_rejected(p, struct.pack("!III", 12, CANCEL_REQUEST, 1234))


def test_ssl_request_refused_with_n(p):
    """client_tls_sslmode=disable: SSLRequest is answered 'N' and the client
    can continue in plain text on the same connection."""
    with p.raw() as r:
        r.send(struct.pack("!II", 8, SSL_REQUEST))
        assert r.recv_byte() == b"N"
        r.login("appuser", "appdb", "apppass")
        assert r.scalar("SELECT 6 * 7") == "42"


def test_gssenc_request_refused_with_n(p):
    with p.raw() as r:
        r.send(struct.pack("!II", 8, GSSENC_REQUEST))
        assert r.recv_byte() == b"N"
        r.login("appuser", "appdb", "apppass")
        assert r.scalar("SELECT 6 * 7") == "42"


def test_libpq_sslmode_prefer_falls_back(p):
    with psycopg.connect(p.conninfo(sslmode="prefer"), autocommit=True) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        assert c.pgconn.ssl_in_use is False


def test_unknown_message_type_after_login(p):
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.send(message(b"!", b"junk"))
        errors = r.read_errors_until_close(timeout=5)
    assert errors and errors[0]["C"] == "08P01", errors
    p.assert_serving()


def test_password_message_after_login(p):
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.send(message(b"p", b"stray\0"))
        errors = r.read_errors_until_close(timeout=5)
    assert errors and errors[0]["C"] == "08P01", errors
    p.assert_serving()


@pytest.mark.parametrize("header", [b"Q\xff\xff\xff\xff", b"Q\x00\x00\x00\x02", b"Q\x80\x00\x00\x00"])
def test_bad_length_after_login(p, header):
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.send(header)
        errors = r.read_errors_until_close(timeout=5)
    assert errors and errors[0]["C"] == "08P01", errors
    p.assert_serving()


def test_truncated_message_after_login_then_close(p):
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.send(message(b"Q", b"SELECT 1\0")[:7])
        r.sock.shutdown(1)
        r.read_errors_until_close(timeout=5)
    p.assert_serving()


def test_query_without_terminator(p):
    """A Query message whose string lacks its NUL terminator: the server (or
    pooler) reports an error; nothing crashes."""
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.send(message(b"Q", b"SELECT 1"))
        try:
            r.query("SELECT 2", timeout=5)
        except Exception:
            pass
    p.assert_serving()


def test_terminate_mid_transaction(p):
    """A client that disappears inside a transaction: its server is cleaned
    up (rolled back) and reusable."""
    with p.raw() as r:
        r.login("appuser", "appdb", "apppass")
        r.query("BEGIN")
        r.query("CREATE TEMP TABLE gone (x int)")
    p.assert_serving()


def test_many_bad_clients_then_good(p):
    for i in range(30):
        with p.raw() as r:
            r.send(struct.pack("!II", 8, 99999 + i))
    p.assert_serving()
