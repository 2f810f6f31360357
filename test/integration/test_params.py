"""Parameter synchronisation: each client sees its own TimeZone,
application_name and client_encoding even when clients share one server
connection in transaction mode."""

import psycopg
import pytest

from conftest import PASSWORDS
from pgproto import PROTOCOL_3, RawConn, message


def tx_pooler(pgwarden):
    return pgwarden({"pool_mode": "transaction", "default_pool_size": 1})


def test_startup_parameters_follow_the_client(pgwarden):
    p = tx_pooler(pgwarden)
    a = p.raw().login("appuser", "appdb", PASSWORDS["appuser"],
                      TimeZone="America/New_York", application_name="client_a")
    b = p.raw().login("appuser", "appdb", PASSWORDS["appuser"],
                      TimeZone="Asia/Tokyo", application_name="client_b")
    try:
        # The pooler reports the client's own values at login.
        assert a.params.get("TimeZone") == "America/New_York"
        assert b.params.get("TimeZone") == "Asia/Tokyo"
        assert a.params.get("application_name") == "client_a"
        assert b.params.get("application_name") == "client_b"
        pids = set()
        for _ in range(3):
            for conn, tz, app in ((a, "America/New_York", "client_a"), (b, "Asia/Tokyo", "client_b")):
                row = conn.query("SELECT current_setting('TimeZone'), current_setting('application_name'), "
                                 "pg_backend_pid()")[0]
                assert row[:2] == (tz, app)
                pids.add(row[2])
        assert len(pids) == 1, "both clients should have shared the single server"
    finally:
        a.terminate()
        b.terminate()


def test_welcome_reports_each_parameter_once(pgwarden, pg):
    """Every parameter PostgreSQL reports at login reaches the client
    exactly once: the shared ones with the server's values, the ones
    tracked per client with the client's own, for the pool's first client
    and for the ones after it."""
    p = tx_pooler(pgwarden)
    direct = RawConn("127.0.0.1", pg.port).login("md5user", "appdb", PASSWORDS["md5user"])
    direct.terminate()
    for tz in ("America/New_York", "Asia/Tokyo"):
        conn = p.raw().login("md5user", "appdb", PASSWORDS["md5user"], TimeZone=tz)
        try:
            names = conn.login_param_names
            assert len(names) == len(set(names)), names
            assert set(names) == set(direct.login_param_names)
            assert conn.params["TimeZone"] == tz
            for name in ("server_version", "server_encoding", "integer_datetimes", "session_authorization"):
                assert conn.params[name] == direct.params[name]
        finally:
            conn.terminate()


def test_set_commands_follow_the_client(pgwarden):
    p = tx_pooler(pgwarden)
    with p.connect() as a, p.connect() as b:
        a.execute("SET TimeZone = 'Europe/Paris'")
        a.execute("SET application_name = 'alpha'")
        b.execute("SET TimeZone = 'UTC'")
        b.execute("SET application_name = 'beta'")
        for _ in range(3):
            assert a.execute("SHOW TimeZone").fetchone()[0] == "Europe/Paris"
            assert b.execute("SHOW TimeZone").fetchone()[0] == "UTC"
            assert a.execute("SHOW application_name").fetchone()[0] == "alpha"
            assert b.execute("SHOW application_name").fetchone()[0] == "beta"
        assert a.execute("SELECT pg_backend_pid()").fetchone() == b.execute("SELECT pg_backend_pid()").fetchone()


def test_client_encoding_follows_the_client(pgwarden):
    p = tx_pooler(pgwarden)
    with p.connect(client_encoding="LATIN1") as a, p.connect(client_encoding="UTF8") as b:
        for _ in range(3):
            assert a.execute("SHOW client_encoding").fetchone()[0] == "LATIN1"
            assert b.execute("SHOW client_encoding").fetchone()[0] == "UTF8"
            # psycopg encodes the literal in the connection's encoding; the
            # server must decode it with the same one.
            assert a.execute("SELECT 'é' = chr(233), 'é'").fetchone() == (True, "é")
            assert b.execute("SELECT 'é' = chr(233), 'é'").fetchone() == (True, "é")


def test_client_encoding_latin1_bytes(pgwarden):
    """Check the bytes on the wire, not just psycopg's decoding."""
    p = tx_pooler(pgwarden)
    with p.connect(client_encoding="UTF8") as b:
        b.execute("SELECT 1")
        a = p.raw().login("appuser", "appdb", PASSWORDS["appuser"], client_encoding="LATIN1")
        try:
            a.send(message(b"Q", b"SELECT chr(233)::text\0"))
            rows = []
            while True:
                msg = a.recv_msg()
                assert msg is not None, "connection closed"
                if msg[0] == b"D":
                    rows.append(msg[1])
                elif msg[0] == b"Z":
                    break
            assert rows == [b"\x00\x01\x00\x00\x00\x01\xe9"]  # 1 column, length 1, byte 0xE9
            b.execute("SELECT 2")
        finally:
            a.terminate()


def test_datestyle_follows_the_client(pgwarden):
    p = tx_pooler(pgwarden)
    with p.connect() as a, p.connect() as b:
        a.execute("SET DateStyle = 'German, DMY'")
        assert a.execute("SELECT '2024-03-01'::date::text").fetchone()[0] == "01.03.2024"
        assert b.execute("SELECT '2024-03-01'::date::text").fetchone()[0] == "2024-03-01"
        assert a.execute("SELECT '2024-03-01'::date::text").fetchone()[0] == "01.03.2024"


@pytest.mark.pgwarden_only
def test_newer_protocol_version_is_negotiated_down(pgwarden, pg):
    """A client asking for protocol 3.2 with a protocol option gets a
    NegotiateProtocolVersion (3.0, the option not recognized) before the
    login goes on in 3.0, exactly what PostgreSQL 15 itself answers to the
    same startup packet (PgBouncer 1.18 says nothing and refuses the
    option as an unsupported startup parameter)."""
    protocol_3_2 = PROTOCOL_3 | 2
    p = pgwarden()
    conn = RawConn(p.host, p.port).login("md5user", "appdb", PASSWORDS["md5user"], protocol=protocol_3_2,
                                          **{"_pq_.test_option": "on"})
    try:
        assert conn.negotiated == (PROTOCOL_3, ["_pq_.test_option"])
        assert conn.query("SELECT 1") == [("1",)]
    finally:
        conn.terminate()
    direct = RawConn("127.0.0.1", pg.port).login("md5user", "appdb", PASSWORDS["md5user"], protocol=protocol_3_2,
                                                  **{"_pq_.test_option": "on"})
    try:
        assert direct.negotiated == (PROTOCOL_3, ["_pq_.test_option"])
    finally:
        direct.terminate()
    # 3.0 without options: no NegotiateProtocolVersion, as before
    plain = RawConn(p.host, p.port).login("md5user", "appdb", PASSWORDS["md5user"])
    try:
        assert not hasattr(plain, "negotiated")
    finally:
        plain.terminate()
