"""The shipped example configuration (etc/pgwarden.ini, etc/userlist.txt)
loads and works, with only the addresses and paths adapted."""

import re

from conftest import REPO_ROOT


def test_example_config_loads_and_serves(pgwarden, pg):
    ini = (REPO_ROOT / "etc" / "pgwarden.ini").read_text()
    userlist = (REPO_ROOT / "etc" / "userlist.txt").read_text()
    ini, n1 = re.subn(r"(?m)^listen_port = 6432$", "listen_port = @PORT@", ini)
    ini, n2 = re.subn(r"(?m)^;unix_socket_dir = /tmp$", "unix_socket_dir = @DIR@", ini)
    ini, n3 = re.subn(r"(?m)^auth_file = etc/userlist.txt$", "auth_file = @DIR@/userlist.txt", ini)
    ini, n4 = re.subn(r"(?m)^appdb = host=127.0.0.1 port=5432 dbname=appdb$",
                      f"appdb = host=127.0.0.1 port={pg.port} dbname=appdb", ini)
    assert (n1, n2, n3, n4) == (1, 1, 1, 1), "example config layout changed; update this test"
    p = pgwarden(userlist=userlist, raw_ini=ini)
    with p.connect(user="postgres", password="change-me") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "appdb"
    with p.admin(password="change-me") as c:
        assert c.execute("SHOW VERSION").fetchone()[0]
    # the example's settings are in effect
    cfg = {r["key"]: r["value"] for r in p.admin_rows_as("postgres", "change-me", "SHOW CONFIG")}
    assert cfg["pool_mode"] == "transaction"
    assert cfg["auth_type"] == "scram-sha-256"
