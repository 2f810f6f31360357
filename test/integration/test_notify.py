"""LISTEN/NOTIFY and asynchronous messages from the server."""

import time

import psycopg


def test_listen_notify_session_mode(pooler):
    with pooler.connect() as listener, pooler.connect() as sender:
        got = []
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute("LISTEN pgw_channel")
        sender.execute("NOTIFY pgw_channel, 'hello'")
        sender.execute("SELECT pg_notify('pgw_channel', 'world')")
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            listener.execute("SELECT 1")  # notifications arrive with the next result
            time.sleep(0.05)
        assert got == [("pgw_channel", "hello"), ("pgw_channel", "world")]


def test_notify_delivered_while_idle(pooler):
    """A NotificationResponse sent while the listener is idle is forwarded
    at once (not held until the client's next query)."""
    with pooler.connect() as listener, pooler.connect() as sender:
        listener.execute("LISTEN idle_channel")
        sender.execute("NOTIFY idle_channel, 'ping'")
        gen = listener.notifies()
        # notifies() blocks until a notification arrives; psycopg 3.1 has no
        # timeout argument, so bound it with a socket-level deadline instead.
        import select
        r, _, _ = select.select([listener.pgconn.socket], [], [], 5)
        assert r, "no notification within 5s"
        n = next(gen)
        assert (n.channel, n.payload) == ("idle_channel", "ping")


def test_notice_forwarded(pooler):
    with pooler.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("DO $$ BEGIN RAISE NOTICE 'note from server %', 42; END $$")
        assert notices == ["note from server 42"]


def test_parameter_status_forwarded(pooler):
    with pooler.connect() as c:
        c.execute("SET application_name = 'changed_app'")
        assert c.info.parameter_status("application_name") == "changed_app"
        assert c.info.parameter_status("server_version").startswith("15")
