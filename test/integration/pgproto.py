"""A tiny PostgreSQL wire-protocol client for tests that need to send exact
bytes: malformed packets, unusual startup parameters, SSL/GSS requests.

Only what the tests need: startup, cleartext and md5 password auth, simple
query, and reading messages with a deadline.  Everything fails loudly with a
timeout instead of hanging.
"""

import hashlib
import socket
import struct
import time

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class ProtocolError(Exception):
    pass


class ServerError(Exception):
    """An ErrorResponse; .fields maps field codes (S, V, C, M, ...) to text."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{fields.get('S', '?')} {fields.get('C', '?')}: {fields.get('M', '')}")

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M", "")


def parse_error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def startup_packet(params, protocol=PROTOCOL_3):
    body = struct.pack("!I", protocol)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(mtype, body=b""):
    return mtype + struct.pack("!I", len(body) + 4) + body


class RawConn:
    def __init__(self, host, port, timeout=5.0, rcvbuf=None):
        self.timeout = timeout
        self.sock = socket.socket()
        if rcvbuf:  # before connect(): the window is agreed in the handshake
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.params = {}
        self.login_param_names = []	# in the order of the login's ParameterStatus
        self.backend_key = None
        self.notices = []

    # -- bytes level -------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from peer before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from peer before the deadline")
        except ConnectionResetError:
            chunk = b""
        return chunk

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            chunk = self._fill(deadline)
            if not chunk:
                raise EOFError("connection closed by peer")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_byte(self, timeout=None):
        return self.recv_exact(1, timeout)

    def recv_msg(self, timeout=None):
        """Return (type, body), or None when the peer closed the connection."""
        try:
            hdr = self.recv_exact(5, timeout)
        except EOFError:
            return None
        mtype = hdr[:1]
        (length,) = struct.unpack("!I", hdr[1:])
        if length < 4 or length > 64 * 1024 * 1024:
            raise ProtocolError(f"bad length {length} for message {mtype!r}")
        try:
            body = self.recv_exact(length - 4, timeout)
        except EOFError:
            raise ProtocolError(f"connection closed inside message {mtype!r}")
        return mtype, body

    def wait_closed(self, timeout=5.0):
        """Read (and return) everything until the peer closes.  Raises
        TimeoutError if it is still open after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while True:
            chunk = self._fill(deadline)
            if not chunk:
                return data
            data += chunk

    def read_errors_until_close(self, timeout=5.0):
        """Collect ErrorResponses the peer sends before closing; returns a list
        of field dicts.  Fails with TimeoutError if the peer never closes."""
        data = self.wait_closed(timeout)
        errors = []
        while len(data) >= 5:
            mtype = data[:1]
            (length,) = struct.unpack("!I", data[1:5])
            body = data[5:1 + length]
            if mtype == b"E":
                errors.append(parse_error_fields(body))
            data = data[1 + length:]
        return errors

    # -- protocol level ----------------------------------------------------
    def startup(self, params, protocol=PROTOCOL_3):
        self.send(startup_packet(params, protocol))

    def login(self, user, database, password=None, protocol=PROTOCOL_3, **extra):
        """Send a startup packet and complete authentication (trust,
        cleartext or md5).  Raises ServerError on an ErrorResponse.  A
        NegotiateProtocolVersion is kept in self.negotiated as
        (version, [option names])."""
        params = {"user": user, "database": database}
        params.update(extra)
        self.startup(params, protocol)
        while True:
            msg = self.recv_msg()
            if msg is None:
                raise EOFError("connection closed during login")
            mtype, body = msg
            if mtype == b"E":
                raise ServerError(parse_error_fields(body))
            if mtype == b"R":
                (code,) = struct.unpack("!I", body[:4])
                if code == 0:
                    continue
                if code == 3:
                    if password is None:
                        raise ProtocolError("password requested but none given")
                    self.send(message(b"p", password.encode() + b"\0"))
                elif code == 5:
                    if password is None:
                        raise ProtocolError("password requested but none given")
                    salt = body[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
                else:
                    raise ProtocolError(f"unsupported auth request {code}")
            elif mtype == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
                self.login_param_names.append(k.decode())
            elif mtype == b"K":
                self.backend_key = struct.unpack("!II", body)
            elif mtype == b"v":
                version, count = struct.unpack("!II", body[:8])
                names = [n.decode() for n in body[8:].split(b"\0")[:count]]
                self.negotiated = (version, names)
            elif mtype == b"N":
                self.notices.append(parse_error_fields(body))
            elif mtype == b"Z":
                return self
            else:
                raise ProtocolError(f"unexpected message {mtype!r} during login")

    def query(self, sql, timeout=None):
        """Simple query.  Returns a list of rows (tuples of str/None) of the
        last result set; raises ServerError on error (after ReadyForQuery)."""
        self.send(message(b"Q", sql.encode() + b"\0"))
        rows, error = [], None
        while True:
            msg = self.recv_msg(timeout)
            if msg is None:
                if error:
                    raise ServerError(error)
                raise EOFError("connection closed during query")
            mtype, body = msg
            if mtype == b"T":
                rows = []
            elif mtype == b"D":
                (n,) = struct.unpack("!H", body[:2])
                pos, row = 2, []
                for _ in range(n):
                    (ln,) = struct.unpack("!i", body[pos:pos + 4])
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(body[pos:pos + ln].decode())
                        pos += ln
                rows.append(tuple(row))
            elif mtype == b"E":
                error = parse_error_fields(body)
            elif mtype == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif mtype == b"N":
                self.notices.append(parse_error_fields(body))
            elif mtype == b"Z":
                if error:
                    raise ServerError(error)
                return rows

    def scalar(self, sql):
        return self.query(sql)[0][0]

    def terminate(self):
        try:
            self.send(message(b"X"))
        except OSError:
            pass
        self.close()
