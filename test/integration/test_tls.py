"""TLS on both sides and auth_type = cert ([tls-auth]).

Certificates are made here with the openssl command: a CA, a server
certificate for "localhost" (DNS name only, so that verify-full against
127.0.0.1 must fail), client certificates for appuser and mallory signed by
the CA, and a self-signed "appuser" certificate the CA never saw.  Clients
are libpq (psycopg) with each sslmode, plus Python's ssl module for the
byte-level cases.
"""

import shutil
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import TMP_ROOT, chown_postgres, wait_for
from pgproto import SSL_REQUEST, startup_packet


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_key(d, name):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", f"{name}.key", cwd=d)


def sign(d, name, cn, ext=None, ca="ca"):
    make_key(d, name)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt"]
    if ext:
        (d / f"{name}.ext").write_text(ext)
        args += ["-extfile", f"{name}.ext"]
    openssl(*args, cwd=d)


@pytest.fixture(scope="module")
def certs():
    d = Path(tempfile.mkdtemp(prefix="pgwarden-certs-", dir=TMP_ROOT))
    make_key(d, "ca")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=pgwarden test CA", "-days", "2",
            "-out", "ca.crt", cwd=d)
    sign(d, "server", "localhost", "subjectAltName=DNS:localhost\n")
    sign(d, "server2", "localhost", "subjectAltName=DNS:localhost\n")	# for the reload test
    sign(d, "appuser", "appuser")
    sign(d, "mallory", "mallory")
    make_key(d, "rogue")
    openssl("req", "-x509", "-new", "-key", "rogue.key", "-subj", "/CN=appuser", "-days", "2",
            "-out", "rogue.crt", cwd=d)
    for f in d.iterdir():
        f.chmod(0o600)
    chown_postgres(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start_https_server(certs, handler):
    """An HTTPS server on 127.0.0.1 (certs' localhost certificate) running
    handler in a daemon thread; stop it with shutdown() and server_close()."""
    import http.server
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs / "server.crt"), str(certs / "server.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tls_settings(certs, mode="require", **extra):
    s = {"client_tls_sslmode": mode,
         "client_tls_key_file": str(certs / "server.key"),
         "client_tls_cert_file": str(certs / "server.crt")}
    s.update(extra)
    return s


def client_cert(certs, name):
    return {"sslcert": str(certs / f"{name}.crt"), "sslkey": str(certs / f"{name}.key")}


def ssl_of(conn):
    return conn.pgconn.ssl_in_use


# ---------------------------------------------------------------------------
# clients -> pgwarden
# ---------------------------------------------------------------------------

def test_client_tls_with_each_libpq_sslmode(pgwarden, certs):
    p = pgwarden(tls_settings(certs, "prefer"))
    for mode in ("prefer", "require"):
        with p.connect(sslmode=mode) as c:
            assert ssl_of(c) and c.execute("SELECT 1").fetchone() == (1,)
    with p.connect(sslmode="disable") as c:	# prefer: plain text still welcome
        assert not ssl_of(c)
    with p.connect(host="localhost", hostaddr="127.0.0.1", sslmode="verify-full",
                   sslrootcert=str(certs / "ca.crt")) as c:
        assert ssl_of(c)
        tls = [r["tls"] for r in p.admin_rows("SHOW CLIENTS") if r["user"] == "appuser"]
        assert tls and tls[0].startswith("TLSv1.3/"), tls
    assert "tls=TLSv1.3/" in p.log_text()


def test_pipelined_records_on_both_tls_sides(pgwarden, pg_with_tls, certs):
    """Many TLS records per read (OpenSSL reads ahead): clients pipeline
    hundreds of statements while they wait for the one server, so their
    reading pauses with records still buffered in OpenSSL, and the server
    side answers in bursts too.  Every answer must come, in order."""
    p = pgwarden(tls_settings(certs, pool_mode="transaction", default_pool_size="1",
                              server_tls_sslmode="require"))
    errors = []

    def client(n):
        try:
            with p.connect(sslmode="require", prepare_threshold=None) as c:
                assert ssl_of(c)
                with c.pipeline():
                    curs = [c.execute("SELECT %s::int, repeat('x', %s)", (i, i % 700))
                            for i in range(300)]
                got = [cur.fetchone() for cur in curs]
                assert got == [(i, "x" * (i % 700)) for i in range(300)]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {n}: {e!r}")
    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert backend_ssl(p, sslmode="require")[0] is True


def test_verify_full_checks_the_host_name(pgwarden, certs):
    p = pgwarden(tls_settings(certs))
    # the certificate names localhost only
    with pytest.raises(psycopg.OperationalError, match="does not match host name|certificate"):
        p.connect(host="127.0.0.1", sslmode="verify-full", sslrootcert=str(certs / "ca.crt"))
    # and another CA's client does not trust it
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        p.connect(host="localhost", hostaddr="127.0.0.1", sslmode="verify-ca",
                  sslrootcert=str(certs / "rogue.crt"))


def test_require_refuses_plain_tcp_but_not_the_unix_socket(pgwarden, certs):
    p = pgwarden(tls_settings(certs, "require"))
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        p.connect(sslmode="disable")
    with p.connect(host=str(p.dir), sslmode="disable") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    with p.connect(sslmode="require") as c:
        assert ssl_of(c)


def test_disabled_tls_answers_no(pgwarden):
    p = pgwarden()
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        p.connect(sslmode="require")


def test_client_certificates_with_verify_ca(pgwarden, certs):
    p = pgwarden(tls_settings(certs, "verify-ca", client_tls_ca_file=str(certs / "ca.crt")))
    with p.connect(sslmode="require", **client_cert(certs, "appuser")) as c:
        assert ssl_of(c)
    for bad in ({}, client_cert(certs, "rogue")):
        with pytest.raises(psycopg.OperationalError):
            with p.connect(sslmode="require", **bad) as c:
                c.execute("SELECT 1")
    assert "TLS handshake failed" in p.log_text()


def test_auth_type_cert(pgwarden, certs):
    p = pgwarden(tls_settings(certs, "prefer", client_tls_ca_file=str(certs / "ca.crt"), auth_type="cert"))
    with p.connect(sslmode="require", password="", **client_cert(certs, "appuser")) as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)
    # the certificate of one user does not log in another
    with pytest.raises(psycopg.OperationalError, match='certificate authentication failed for user "md5user"'):
        p.connect(user="md5user", password="", sslmode="require", **client_cert(certs, "appuser"))
    # a valid certificate of a user the auth file does not know
    with pytest.raises(psycopg.OperationalError, match='certificate authentication failed for user "mallory"'):
        p.connect(user="mallory", password="", sslmode="require", **client_cert(certs, "mallory"))
    with pytest.raises(psycopg.OperationalError, match="requires a valid client certificate"):
        p.connect(password="", sslmode="require")
    with pytest.raises(psycopg.OperationalError, match="TLS connection required"):
        p.connect(password="", sslmode="disable")


# ---------------------------------------------------------------------------
# bad input on the TLS path
# ---------------------------------------------------------------------------

def ssl_request(p):
    s = socket.create_connection((p.host, p.port), timeout=5)
    s.sendall(struct.pack("!II", 8, SSL_REQUEST))
    return s


def raw_tls(p):
    """A TLS connection through an SSLRequest, the certificate unchecked."""
    s = ssl_request(p)
    assert s.recv(1) == b"S"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s)


def closed_by_peer(s, timeout=5.0):
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_plaintext_pipelined_after_ssl_request_is_refused(pgwarden, certs):
    p = pgwarden(tls_settings(certs))
    s = socket.create_connection((p.host, p.port), timeout=5)
    # CVE-2021-23222: a startup packet right behind the SSLRequest must not
    # be read as if it had come over TLS
    s.sendall(struct.pack("!II", 8, SSL_REQUEST) + startup_packet({"user": "appuser", "database": "appdb"}))
    s.settimeout(5)
    first = s.recv(1)
    assert first in (b"",), first
    s.close()
    p.wait_log("unencrypted data after SSLRequest")


@pytest.mark.parametrize("garbage", [b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.0\r\n\r\n",
                                     startup_packet({"user": "appuser", "database": "appdb"})])
def test_garbage_instead_of_a_handshake(pgwarden, certs, garbage):
    p = pgwarden(tls_settings(certs, "prefer"))
    s = ssl_request(p)
    assert s.recv(1) == b"S"
    s.sendall(garbage)
    assert closed_by_peer(s)
    s.close()
    with p.connect(sslmode="require") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.pgwarden_only  # PgBouncer 1.18 logs such a client as an EOF
def test_broken_record_after_the_handshake_is_logged_as_a_tls_error(pgwarden, certs):
    """A client whose TLS record fails its integrity check is closed with
    OpenSSL's reason in the log, not as if it had hung up."""
    p = pgwarden(tls_settings(certs, "prefer"))
    with raw_tls(p) as t:
        t.sendall(startup_packet({"user": "appuser", "database": "appdb"}))
        # an application-data record whose MAC cannot verify, past the TLS layer
        os.write(t.fileno(), b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        with pytest.raises(ssl.SSLError, match="BAD_RECORD_MAC"):
            while t.recv(4096):  # the login's answer, then pgwarden's alert
                pass
    p.wait_log("appdb/appuser@.* closing because: TLS error: .*bad record mac")
    with p.connect(sslmode="require") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_stalled_handshake_times_out(pgwarden, certs):
    p = pgwarden(tls_settings(certs, client_login_timeout="1"))
    s = ssl_request(p)
    assert s.recv(1) == b"S"
    started = time.monotonic()
    assert closed_by_peer(s, timeout=10)
    assert time.monotonic() - started < 6
    s.close()


# ---------------------------------------------------------------------------
# reload
# ---------------------------------------------------------------------------

def peer_certificate(p):
    """The certificate pgwarden presents now (DER), via a raw handshake."""
    with raw_tls(p) as t:
        return t.getpeercert(binary_form=True)


def test_reload_picks_up_new_certificates_without_dropping_clients(pgwarden, certs):
    d = Path(tempfile.mkdtemp(prefix="pgwarden-reload-", dir=TMP_ROOT))
    for f in ("server.key", "server.crt"):
        shutil.copy(certs / f, d / f)
    chown_postgres(d)
    p = pgwarden({"client_tls_sslmode": "require", "client_tls_key_file": str(d / "server.key"),
                  "client_tls_cert_file": str(d / "server.crt")})
    before = peer_certificate(p)
    with p.connect(sslmode="require") as kept:
        shutil.copy(certs / "server2.key", d / "server.key")
        shutil.copy(certs / "server2.crt", d / "server.crt")
        chown_postgres(d)
        p.reload()
        after = peer_certificate(p)
        assert after != before
        assert kept.execute("SELECT 'still here'").fetchone() == ("still here",)
        # a key that does not load: the old context stays
        (d / "server.key").write_text("not a key\n")
        p.reload()
        p.wait_log("TLS settings could not be applied")
        assert peer_certificate(p) == after
        assert kept.execute("SELECT 2").fetchone() == (2,)
    with p.connect(sslmode="require") as c:
        assert ssl_of(c)
    shutil.rmtree(d, ignore_errors=True)


def test_bad_tls_settings_refuse_to_start(pgwarden, certs):
    with pytest.raises(Exception):
        pgwarden({"client_tls_sslmode": "require"})	# no key and certificate
    with pytest.raises(Exception):
        pgwarden(tls_settings(certs, client_tls_protocols="tlsv9"))


# ---------------------------------------------------------------------------
# pgwarden -> PostgreSQL
# ---------------------------------------------------------------------------

@pytest.fixture
def pg_with_tls(pg, certs):
    for f in ("server.crt", "server.key"):
        shutil.copy(certs / f, pg.data / f)
    chown_postgres(pg.data)
    with pg.connect("postgres") as c:
        c.execute("ALTER SYSTEM SET ssl_cert_file = 'server.crt'")
        c.execute("ALTER SYSTEM SET ssl_key_file = 'server.key'")
        c.execute("ALTER SYSTEM SET ssl = on")
        c.execute("SELECT pg_reload_conf()")
    wait_for(lambda: pg.query("SHOW ssl")[0][0] == "on", what="ssl on")
    yield pg
    with pg.connect("postgres") as c:
        c.execute("ALTER SYSTEM RESET ssl")
        c.execute("SELECT pg_reload_conf()")
    wait_for(lambda: pg.query("SHOW ssl")[0][0] == "off", what="ssl off")


def backend_ssl(p, **kw):
    with p.connect(**kw) as c:
        return c.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()


def test_server_tls_verify_full(pgwarden, pg_with_tls, certs):
    pg = pg_with_tls
    p = pgwarden({"server_tls_sslmode": "verify-full", "server_tls_ca_file": str(certs / "ca.crt")},
                 databases={"appdb": f"host=localhost port={pg.port} dbname=appdb"})
    assert backend_ssl(p) == (True, "TLSv1.3")
    tls = [r["tls"] for r in p.admin_rows("SHOW SERVERS")]
    assert tls and all(t.startswith("TLSv1.3/") for t in tls), tls


def test_server_tls_verify_full_refuses_the_wrong_name(pgwarden, pg_with_tls, certs):
    p = pgwarden({"server_tls_sslmode": "verify-full", "server_tls_ca_file": str(certs / "ca.crt")})
    # the databases use 127.0.0.1, which the certificate does not name
    with pytest.raises(psycopg.OperationalError):
        with p.connect() as c:
            c.execute("SELECT 1")
    p.wait_log("TLS handshake failed")


def test_server_tls_prefer_and_require(pgwarden, pg_with_tls):
    p = pgwarden({"server_tls_sslmode": "require"})
    assert backend_ssl(p)[0] is True
    p2 = pgwarden({"server_tls_sslmode": "disable"})
    assert backend_ssl(p2)[0] is False


def test_server_tls_require_against_a_plain_server(pgwarden, pg):
    p = pgwarden({"server_tls_sslmode": "require"})
    with pytest.raises(psycopg.OperationalError):
        with p.connect() as c:
            c.execute("SELECT 1")
    p.wait_log("server refused TLS")
    p2 = pgwarden({"server_tls_sslmode": "prefer"})
    assert backend_ssl(p2)[0] is False


def test_plaintext_after_the_servers_s_is_refused(pgwarden, pg):
    """CVE-2021-23214, the server side: bytes a man in the middle appends to
    the server's 'S' would be read as if they had come over TLS.  A fake
    server answers 'S' and, in the same write, an AuthenticationOk."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def fake_server():
        conn, _ = listener.accept()
        with conn:
            seen["request"] = conn.recv(8)
            conn.sendall(b"S" + b"R" + struct.pack("!II", 8, 0))
            conn.settimeout(5)
            try:
                seen["after"] = conn.recv(1024)
            except OSError:
                seen["after"] = b"?"
    t = threading.Thread(target=fake_server, daemon=True)
    t.start()
    try:
        p = pgwarden({"server_tls_sslmode": "prefer"},
                     databases={"fakedb": f"host=127.0.0.1 port={port} dbname=appdb"})
        with pytest.raises(psycopg.OperationalError):
            with p.connect(db="fakedb") as c:
                c.execute("SELECT 1")
        t.join(10)
        assert seen["request"] == struct.pack("!II", 8, SSL_REQUEST)
        assert seen["after"] == b"", seen  # closed: no handshake, no startup packet
        p.wait_log("cannot start TLS with server")
        assert p.alive()
    finally:
        listener.close()


# ---------------------------------------------------------------------------
# auth_type = hba
# ---------------------------------------------------------------------------

HBA_RULES = """\
# the console and the unix socket: trust
local   all        all                    trust
# TLS clients may use any password method
hostssl appdb      appuser   127.0.0.1/32 scram-sha-256
hostnossl appdb    appuser   127.0.0.1/32 reject
host    appdb      md5user   127.0.0.1/32 md5
host    otherdb    all       127.0.0.0/8  md5
host    postgres   postgres  all          scram-sha-256
"""


def hba_pooler(pgwarden, certs, rules=HBA_RULES):
    return pgwarden(tls_settings(certs, "prefer", auth_type="hba"), files={"hba.conf": rules},
                    extra_ini="auth_hba_file = @DIR@/hba.conf")


def test_hba_rules_choose_the_method(pgwarden, certs):
    p = hba_pooler(pgwarden, certs)
    # hostssl line: appuser over TLS with SCRAM
    with p.connect(sslmode="require") as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)
    # hostnossl line: the same user in plain text is rejected
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        p.connect(sslmode="disable")
    # md5 line, plain text
    with p.connect(user="md5user", sslmode="disable") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    # otherdb: md5 for everyone in 127/8; a wrong password fails
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(db="otherdb", user="md5user", password="wrong", sslmode="disable")
    # no line for trustuser over TCP
    with pytest.raises(psycopg.OperationalError,
                       match='no pg_hba.conf entry for host "127.0.0.1", user "trustuser", database "appdb"'):
        p.connect(user="trustuser", password="", sslmode="disable")
    # local: trust over the unix socket
    with p.connect(host=str(p.dir), user="trustuser", password="", sslmode="disable") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_hba_reload_and_bad_files(pgwarden, certs):
    p = hba_pooler(pgwarden, certs)
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        p.connect(user="trustuser", password="", sslmode="disable")
    (p.dir / "hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    p.reload()
    with p.connect(user="trustuser", password="", sslmode="disable") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    # a bad line: the whole file is refused, the running rules stay
    (p.dir / "hba.conf").write_text("host all all 127.0.0.1/32 ident\n")
    p.reload()
    p.wait_log('unsupported auth method|ident')
    with p.connect(user="trustuser", password="", sslmode="disable") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


MAPPED_RULES = """\
local     all  all                peer  map=localmap
hostssl   all  all  127.0.0.1/32  cert  clientcert=verify-full map=certmap
"""

IDENT_MAPS = """\
# MAP      SYSTEM-USER  DATABASE-USER
localmap   root         appuser
certmap    mallory      md5user
certmap    appuser      appuser
"""


@pytest.mark.pgwarden_only
def test_hba_user_name_maps(pgwarden, certs):
    """PgBouncer 1.23's auth_ident_file: map= on peer and cert rules lets an
    operating-system user (this test runs as root) or a certificate's common
    name log in as the database users its map names, and only those.  A
    reload reads the map again; a bad map file keeps the running maps."""
    p = pgwarden(tls_settings(certs, "prefer", auth_type="hba", client_tls_ca_file=str(certs / "ca.crt")),
                 files={"hba.conf": MAPPED_RULES, "ident.conf": IDENT_MAPS},
                 extra_ini="auth_hba_file = @DIR@/hba.conf\nauth_ident_file = @DIR@/ident.conf")
    local = dict(host=str(p.dir), password="", sslmode="disable")
    with p.connect(user="appuser", **local) as c:
        assert c.execute("SELECT current_user").fetchone() == ("appuser",)
    with pytest.raises(psycopg.OperationalError, match='peer authentication failed for user "md5user"'):
        p.connect(user="md5user", **local)
    p.wait_log(r'system user "root" is not mapped to the user by map "localmap"')
    with p.connect(user="md5user", password="", sslmode="require", **client_cert(certs, "mallory")) as c:
        assert c.execute("SELECT current_user").fetchone() == ("md5user",)
    with pytest.raises(psycopg.OperationalError, match='certificate authentication failed for user "appuser"'):
        p.connect(user="appuser", password="", sslmode="require", **client_cert(certs, "mallory"))
    with p.connect(user="appuser", password="", sslmode="require", **client_cert(certs, "appuser")) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)

    (p.dir / "ident.conf").write_text("localmap root md5user\n")
    p.reload()
    with pytest.raises(psycopg.OperationalError, match='peer authentication failed for user "appuser"'):
        p.connect(user="appuser", **local)
    with p.connect(user="md5user", **local) as c:
        assert c.execute("SELECT current_user").fetchone() == ("md5user",)

    (p.dir / "ident.conf").write_text("localmap /^(.*)$ \\1\n")
    p.reload()
    p.wait_log(r"ident.conf:1: system user name .*regular expressions, groups and files are not supported")
    with p.connect(user="md5user", **local) as c:  # the running maps stay
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_hba_bad_file_refuses_to_start(pgwarden, certs):
    with pytest.raises(Exception):
        hba_pooler(pgwarden, certs, rules="host all all 10.0.0.0/33 trust\n")
