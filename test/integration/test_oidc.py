"""The OIDC plugin (plugins/oidc): agents log in with a JWT as their password.

Keys are made here (python3-cryptography): RSA, EC P-256 and P-384, Ed25519;
tokens are signed with PyJWT (python3-jwt), or by hand for the attacks PyJWT
refuses to produce.  A local HTTPS server (http.server + ssl, loopback, the
certificates of test_tls.py) plays the identity provider for discovery, key
rotation and the unknown-kid rate limit.  Most clients connect over the unix
socket: the plugin refuses tokens over plain TCP unless told otherwise.
"""

import base64
import hashlib
import hmac
import http.server
import json
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from conftest import TARGET_BIN
from pgproto import RawConn, ServerError
from test_tls import certs, start_https_server, tls_settings  # noqa: F401 - the certs fixture is used here too

pytestmark = pytest.mark.pgwarden_only

OIDC_SO = Path(TARGET_BIN).resolve().parent / "plugins" / "oidc" / "oidc.so"
ISSUER = "https://idp.test"
AUDIENCE = "pgwarden"
RULES = {
    "rule.5": "sub=rogue-agent -> deny",
    "rule.10": "groups=analysts -> role=appuser databases=appdb",
    "rule.20": "groups=ops -> role=md5user",
}


# ---------------------------------------------------------------------------
# keys and tokens
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keys():
    return {
        "rsa1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec256": ec.generate_private_key(ec.SECP256R1()),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
        "ed1": ed25519.Ed25519PrivateKey.generate(),
    }


def jwk_of(private_key, kid):
    pub = private_key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(pub))
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(pub))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(pub))
    jwk["kid"] = kid
    jwk["use"] = "sig"
    return jwk


def jwks_of(keys, *kids):
    return json.dumps({"keys": [jwk_of(keys[k], k) for k in kids]})


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "jti": "jti-%d" % time.monotonic_ns(),
         "iat": now, "exp": now + 300, "groups": ["analysts"]}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def mint(keys, kid="rsa1", alg="RS256", header_kid=True, **over):
    headers = {"kid": kid} if header_kid else {}
    return jwt.encode(claims(**over), keys[kid], algorithm=alg, headers=headers)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, payload, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


# ---------------------------------------------------------------------------
# poolers
# ---------------------------------------------------------------------------

def oidc_ini(**keys):
    out = ["[plugin.oidc]", f"path = {OIDC_SO}"]
    out += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(out) + "\n"


@pytest.fixture
def gateway(pgwarden, keys):
    """A pooler with the oidc plugin and a JWKS file of every test key but rsa2."""
    def start(settings=None, jwks=None, files=None, extra="", **plugin_keys):
        conf = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": "@DIR@/jwks.json"}
        conf.update(RULES)
        conf.update(plugin_keys)
        conf = {k: v for k, v in conf.items() if v is not None}
        ini = {"plugins": "oidc"}
        ini.update(settings or {})
        all_files = {"jwks.json": jwks or jwks_of(keys, "rsa1", "ec256", "ec384", "ed1")}
        all_files.update(files or {})
        return pgwarden(ini, extra_ini=oidc_ini(**conf) + extra, files=all_files)
    return start


def connect(p, token, user="agent", db="appdb", **kw):
    kw.setdefault("host", str(p.dir))
    return p.connect(db=db, user=user, password=token, **kw)


def login_user(p, token, **kw):
    with connect(p, token, **kw) as c:
        return c.execute("SELECT current_user").fetchone()[0]


def rejected(p, token, **kw):
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(p, token, **kw).close()
    return ei.value


def raw_rejected(p, token, user="agent", db="appdb"):
    """The ErrorResponse a raw client gets (plain TCP: the pooler must allow
    it), for its SQLSTATE, which libpq does not expose at login."""
    with pytest.raises(ServerError) as ei:
        with RawConn(p.host, p.port) as r:
            r.login(user, db, password=token)
    return ei.value


# ---------------------------------------------------------------------------
# accepted
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kid,alg", [("rsa1", "RS256"), ("rsa1", "RS384"), ("rsa1", "RS512"),
                                     ("rsa1", "PS256"), ("ec256", "ES256"), ("ec384", "ES384"),
                                     ("ed1", "EdDSA")])
def test_each_algorithm_logs_in(gateway, keys, kid, alg):
    p = gateway()
    assert login_user(p, mint(keys, kid, alg)) == "appuser"
    p.wait_log(r"login accepted: sub=agent-7 jti=jti-\d+ rule.10 -> role appuser")


def test_mapping_rules_choose_the_role(gateway, keys):
    p = gateway()
    assert login_user(p, mint(keys, groups=["analysts"])) == "appuser"
    assert login_user(p, mint(keys, groups="ops"), db="otherdb") == "md5user"
    rows = {r["name"]: r for r in p.admin_rows("SHOW OIDC") if r["item"] == "rule"}
    assert rows["rule.10"]["value"] == "1" and rows["rule.20"]["value"] == "1"
    assert rows["rule.5"]["value"] == "0"
    key_rows = [r for r in p.admin_rows("SHOW OIDC") if r["item"] == "key"]
    assert {r["name"] for r in key_rows} == {"rsa1", "ec256", "ec384", "ed1"}


def test_signature_cache(gateway, keys):
    """A token seen before skips the signature check, not the other checks;
    a reload (new key set) forgets it."""
    p = gateway()
    token = mint(keys)

    def cache():
        return next(r["detail"] for r in p.admin_rows("SHOW OIDC") if r["item"] == "cache")
    assert login_user(p, token) == "appuser"
    assert login_user(p, token) == "appuser"
    assert cache() == "hits 1, misses 1"
    assert "database \"otherdb\" is not allowed" in str(rejected(p, token, db="otherdb"))
    assert cache() == "hits 2, misses 1"
    h, pl, sig = token.split(".")
    assert "signature is invalid" in str(rejected(p, f"{h}.{pl}.{sig[:-4]}AAAA"))
    p.configure(extra_ini=p.extra_ini)
    p.reload()
    assert login_user(p, token) == "appuser"
    assert cache() == "hits 2, misses 3"


def test_pem_public_key_and_login_user_claim(gateway, keys):
    pem = keys["ec256"].public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    p = gateway(jwks_file=None, public_key_file="@DIR@/key.pem", login_user="claim:preferred_username",
                files={"key.pem": pem.decode()})
    token = mint(keys, "ec256", "ES256", header_kid=False, preferred_username="bot-1")
    assert login_user(p, token, user="bot-1") == "appuser"
    # a key without a kid serves tokens that name one, too
    assert login_user(p, mint(keys, "ec256", "ES256", preferred_username="bot-1"), user="bot-1") == "appuser"
    err = rejected(p, token, user="someone-else")
    assert "the user name does not match the token" in str(err)


def test_identity_reaches_other_plugins(gateway, keys, pgwarden):
    """The identity the plugin sets is what the testplug plugin sees."""
    testplug = Path(TARGET_BIN).resolve().parent / "test" / "plugins" / "testplug.so"
    p = gateway(settings={"plugins": "oidc, seer"}, extra=f"[plugin.seer]\npath = {testplug}\n")
    token = mint(keys, email="agent7@example.com", groups=["analysts", "readers"])
    assert login_user(p, token) == "appuser"
    p.wait_log(r"plugin seer: session_start .* subject=agent-7 groups=2 email=agent7@example.com")


# ---------------------------------------------------------------------------
# rejected
# ---------------------------------------------------------------------------

def rsa_public_pem(keys):
    return keys["rsa1"].public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)


def bad_tokens(keys):
    now = int(time.time())
    good = mint(keys)
    h, pl, sig = good.split(".")
    other_payload = b64(json.dumps(claims(groups=["ops"])).encode())
    flipped_sig = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    return [
        ("expired", mint(keys, exp=now - 3600, iat=now - 7200), "28000", "token expired at"),
        ("not yet valid", mint(keys, nbf=now + 3600), "28000", "token is not valid before"),
        ("wrong issuer", mint(keys, iss="https://evil.test"), "28000", "issuer (iss)"),
        ("wrong audience", mint(keys, aud="someone-else"), "28000", 'audience (aud) does not include "pgwarden"'),
        ("no exp", mint(keys, exp=None), "28000", "no expiry"),
        ("alg none", hand_made({"alg": "none", "kid": "rsa1"}, claims(), lambda m: b""), "28P01",
         'token algorithm "none" is not allowed'),
        ("HS256 with the RSA public key", hand_made(
            {"alg": "HS256", "kid": "rsa1"}, claims(),
            lambda m: hmac.new(rsa_public_pem(keys), m, hashlib.sha256).digest()), "28P01",
         'token algorithm "HS256" is not allowed'),
        ("unknown kid", mint(keys, "rsa2"), "28P01", 'unknown signing key (kid "rsa2")'),
        ("tampered payload", f"{h}.{other_payload}.{sig}", "28P01", "token signature is invalid"),
        ("tampered signature", f"{h}.{pl}.{flipped_sig}", "28P01", "token signature is invalid"),
        ("malformed base64", f"{h}.{pl[:10]}*{pl[11:]}.{sig}", "28P01", "malformed token"),
        ("malformed JSON", f"{h}.{b64(b'{not json')}.{sig}", "28P01", "malformed token"),
        ("two parts", f"{h}.{pl}", "28P01", "malformed token"),
        ("too large", mint(keys, padding="x" * 20000), "28P01", "token is too large"),
        ("no matching rule", mint(keys, groups=["visitors"]), "28000", "no mapping rule matches the token"),
        ("deny rule", mint(keys, sub="rogue-agent"), "28000", "denied by mapping rule rule.5"),
    ]


def test_rejections_say_which_check_failed(gateway, keys):
    p = gateway(allow_insecure_transport="on")
    for name, token, sqlstate, fragment in bad_tokens(keys):
        err = raw_rejected(p, token)
        assert err.sqlstate == sqlstate, (name, err.sqlstate, err.message)
        assert fragment in err.message, (name, err.message)
        assert token not in err.message, name
    log = p.log_text()
    for name, token, _, _ in bad_tokens(keys):
        assert token not in log, name
    assert "login rejected" in log and "sub=agent-7 jti=jti-" in log
    assert int(next(r["value"] for r in p.admin_rows("SHOW PLUGIN_COUNTERS")
                    if r["counter"] == "rejected")) == len(bad_tokens(keys))
    assert login_user(p, mint(keys)) == "appuser"  # and nothing broke


def test_password_fallback(gateway, keys):
    """Off: a password is a malformed token.  On: the core's auth_type
    checks it against auth_file (a JWT-shaped one is still a token)."""
    p = gateway()
    assert "malformed token" in str(rejected(p, "apppass", user="appuser"))
    p2 = gateway(password_fallback="on")
    assert login_user(p2, "apppass", user="appuser") == "appuser"
    assert "password authentication failed" in str(rejected(p2, "wrong", user="appuser"))
    assert login_user(p2, mint(keys)) == "appuser"
    assert "malformed token" in str(rejected(p2, "a.b.c", user="appuser"))


def test_database_not_allowed_by_the_rule(gateway, keys):
    p = gateway()
    err = rejected(p, mint(keys), db="otherdb")
    assert 'database "otherdb" is not allowed by mapping rule rule.10' in str(err)


def test_plain_tcp_is_refused_tls_is_welcome(gateway, keys, certs):  # noqa: F811
    p = gateway(settings=tls_settings(certs, "prefer"))
    err = raw_rejected(p, mint(keys))
    assert err.sqlstate == "28000"
    assert "only over TLS or a unix socket" in err.message
    assert login_user(p, mint(keys), host="127.0.0.1", sslmode="require") == "appuser"


def test_max_lifetime_required_claims_and_typ(gateway, keys):
    p = gateway(max_token_lifetime="600", required_claims="jti, email", typ="JWT")
    now = int(time.time())
    err = rejected(p, mint(keys, email="a@b.c", exp=now + 3600))
    assert "lifetime exceeds max_token_lifetime" in str(err)
    err = rejected(p, mint(keys))
    assert 'lacks the required claim "email"' in str(err)
    assert login_user(p, mint(keys, email="a@b.c")) == "appuser"
    no_typ = jwt.encode(claims(email="a@b.c"), keys["rsa1"], algorithm="RS256", headers={"kid": "rsa1", "typ": "at+jwt"})
    assert 'token type is not "JWT"' in str(rejected(p, no_typ))


@pytest.mark.parametrize("keys_,message", [
    ({"issuer": None}, "issuer: required"),
    ({"audience": None}, "audience: required"),
    ({"algorithms": "RS256, HS256"}, "algorithms: only"),
    ({"rule.10": "groups=analysts -> role=appuser role2"}, "rule.10: unknown target"),
    ({"rule.10": "groups analysts -> role=appuser"}, "rule.10: condition"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"jwks_file": "@DIR@/missing.json"}, "missing.json"),
])
def test_bad_configuration_refuses_to_start(gateway, keys_, message):
    from conftest import PoolerFailed
    with pytest.raises(PoolerFailed) as ei:
        gateway(**keys_)
    assert message in str(ei.value)


# ---------------------------------------------------------------------------
# sessions end with their tokens
# ---------------------------------------------------------------------------

def test_session_ends_when_the_token_does(gateway, keys):
    from test_plugins import closing_error
    p = gateway(clock_skew="0", allow_insecure_transport="on")
    with RawConn(p.host, p.port) as r:
        r.login("agent", "appdb", password=mint(keys, exp=int(time.time()) + 2))
        r.query("BEGIN")  # a transaction is open when the token expires
        time.sleep(2.5)
        assert r.query("SELECT 2") == [("2",)]
        r.query("COMMIT")
        err = closing_error(r)
    assert (err["S"], err["C"]) == ("FATAL", "08006")
    assert err["M"] == "session ended: the OIDC token expired"
    p2 = gateway(clock_skew="0", expire_action="immediate")
    with connect(p2, mint(keys, exp=int(time.time()) + 2), autocommit=False) as c:
        c.execute("SELECT 1")
        time.sleep(2.5)
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 2")
    p2.wait_log(r"closing because: session ended: the OIDC token expired")


# ---------------------------------------------------------------------------
# the credential stays with the gateway
# ---------------------------------------------------------------------------

class CapturingConn(RawConn):
    """A raw client that keeps every byte the pooler sent it."""
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.received = b""

    def _fill(self, deadline):
        chunk = super()._fill(deadline)
        self.received += chunk
        return chunk


def test_server_password_never_reaches_the_client(gateway, keys):
    p = gateway(allow_insecure_transport="on")
    token = mint(keys)
    with CapturingConn(p.host, p.port) as r:
        r.login("agent", "appdb", password=token)
        assert r.query("SELECT current_user") == [("appuser",)]
        with pytest.raises(ServerError):
            r.query("SELECT 1/0")
    assert r.received
    assert b"apppass" not in r.received
    assert token.encode() not in r.received
    assert token not in p.log_text()


# ---------------------------------------------------------------------------
# keys from the issuer over HTTPS
# ---------------------------------------------------------------------------

class IdP:
    """A loopback HTTPS identity provider: discovery document and JWKS."""

    def __init__(self, certs, keys):  # noqa: F811
        self.keys = keys
        self.kids = ["rsa1"]
        self.hits = Counter()
        self.discovery_issuer = None  # None: its own
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                idp.hits[self.path] += 1
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": idp.discovery_issuer or idp.issuer, "jwks_uri": idp.issuer + "/jwks.json"}
                    data = json.dumps(body).encode()
                elif self.path == "/jwks.json":
                    data = jwks_of(idp.keys, *idp.kids).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = start_https_server(certs, Handler)
        self.issuer = f"https://localhost:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp(certs, keys):  # noqa: F811
    server = IdP(certs, keys)
    yield server
    server.stop()


def remote_gateway(gateway, idp, certs, **kw):  # noqa: F811
    kw.setdefault("ca_file", str(certs / "ca.crt"))
    return gateway(jwks_file=None, issuer=idp.issuer, **kw)


def keys_loaded(p, kid):
    return any(r["item"] == "key" and r["name"] == kid for r in p.admin_rows("SHOW OIDC"))


def test_discovery_then_rotation_on_an_unknown_kid(gateway, idp, keys, certs):  # noqa: F811
    from conftest import wait_for
    p = remote_gateway(gateway, idp, certs, refresh_min_interval="1")
    wait_for(lambda: keys_loaded(p, "rsa1"), what="the issuer's keys")
    assert idp.hits["/.well-known/openid-configuration"] == 1
    assert login_user(p, mint(keys, iss=idp.issuer)) == "appuser"
    # the issuer rotates to rsa2; the first token with the new kid waits for a refresh
    idp.kids = ["rsa2"]
    time.sleep(1.1)
    assert login_user(p, mint(keys, "rsa2", iss=idp.issuer)) == "appuser"
    assert idp.hits["/jwks.json"] == 2
    assert keys_loaded(p, "rsa2") and not keys_loaded(p, "rsa1")
    refresh = next(r for r in p.admin_rows("SHOW OIDC") if r["item"] == "refresh")
    assert refresh["detail"].startswith("ok 2, failed 0"), refresh


def test_keys_are_refreshed_on_schedule(gateway, idp, keys, certs):  # noqa: F811
    from conftest import wait_for
    p = remote_gateway(gateway, idp, certs, refresh_interval="1")
    wait_for(lambda: keys_loaded(p, "rsa1"), what="the issuer's keys")
    idp.kids = ["rsa1", "ec256"]
    wait_for(lambda: keys_loaded(p, "ec256"), timeout=5, what="the scheduled refresh")
    assert idp.hits["/.well-known/openid-configuration"] >= 2  # discovery is redone too
    assert login_user(p, mint(keys, "ec256", "ES256", iss=idp.issuer)) == "appuser"


def test_unknown_kid_flood_does_not_hammer_the_issuer(gateway, idp, keys, certs):  # noqa: F811
    from conftest import wait_for
    p = remote_gateway(gateway, idp, certs, refresh_min_interval="30")
    wait_for(lambda: keys_loaded(p, "rsa1"), what="the issuer's keys")
    for i in range(20):
        forged = hand_made({"alg": "RS256", "kid": f"random-{i}"}, claims(iss=idp.issuer), lambda m: b"x" * 256)
        assert f'unknown signing key (kid "random-{i}")' in str(rejected(p, forged))
    assert idp.hits["/jwks.json"] == 1


def test_issuer_with_an_untrusted_certificate(gateway, idp, keys, certs):  # noqa: F811
    from conftest import wait_for
    p = remote_gateway(gateway, idp, certs, ca_file=None)
    wait_for(lambda: any(r["item"] == "refresh" and r["value"] for r in p.admin_rows("SHOW OIDC")),
             what="the failed fetch")
    refresh = next(r for r in p.admin_rows("SHOW OIDC") if r["item"] == "refresh")
    assert "certificate" in refresh["value"].lower(), refresh
    assert "keys are not loaded yet" in str(rejected(p, mint(keys, iss=idp.issuer)))
    p.wait_log(r"cannot load the issuer's keys: .*certificate")


def test_discovery_naming_another_issuer_is_refused(gateway, idp, keys, certs):  # noqa: F811
    from conftest import wait_for
    idp.discovery_issuer = "https://evil.test"
    p = remote_gateway(gateway, idp, certs)
    p.wait_log(r"cannot load the issuer's keys: discovery document names another issuer")
    assert idp.hits["/jwks.json"] == 0
    assert "keys are not loaded yet" in str(rejected(p, mint(keys, iss=idp.issuer)))


def test_exit_does_not_wait_for_a_silent_issuer(gateway, certs):  # noqa: F811
    """An issuer that accepts the connection and never answers: the key fetch
    is stuck in the TLS handshake with http_timeout 60 s to go.  SIGTERM
    still ends pgwarden within a couple of seconds (the fetch gives up when
    the exit begins) instead of holding the exit for the whole timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the TCP handshake; nobody reads
    try:
        p = gateway(jwks_file=None, issuer=f"https://localhost:{silent.getsockname()[1]}",
                    ca_file=str(certs / "ca.crt"), http_timeout="60")
        time.sleep(1.0)  # the fetch is under way
        started = time.monotonic()
        p.stopped_by_us = True
        p.signal(signal.SIGTERM)
        p.proc.wait(timeout=15)
        assert time.monotonic() - started < 5.0
        p.wait_log(r"cannot load the issuer's keys: GET .*: abandoned: pgwarden is exiting")
    finally:
        silent.close()


def test_audit_records_the_token_identity(gateway, keys):
    """[audit] records who the token says the caller is, and the role it got."""
    from test_audit import new_audit
    a = new_audit()
    p = gateway(settings={"plugins": "oidc, audit"}, extra=a.ini_section)
    token = mint(keys, jti="token-42", groups=["analysts", "readers"])
    with connect(p, token) as c:
        c.execute("SELECT 1")
    s = a.wait_rows("SELECT * FROM sessions WHERE end_reason IS NOT NULL")[0]
    assert (s["subject"], s["issuer"], s["token_id"]) == ("agent-7", ISSUER, "token-42")
    assert json.loads(s["groups"]) == ["analysts", "readers"]
    assert s["server_user"] == "appuser" and s["pooler_user"] == "agent"
    assert s["token_expires_at"] > time.time()
    assert a.verify("--allow-open").returncode == 0
    p.stop()
    assert token not in a.file.read_bytes().decode(errors="replace")
