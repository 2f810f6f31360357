"""Command line: -V, -h, bad options, missing/bad config, -d."""

import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IS_PGBOUNCER, TARGET_BIN, TMP_ROOT, chown_postgres, run_target, wait_for

PROG = os.path.basename(TARGET_BIN)


def test_version():
    out = run_target(["-V"])
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert re.fullmatch(r"(PgBouncer|pgwarden) \d+\.\d+\.\d+\S*", first), first
    assert any(line.startswith("libevent ") for line in out.stdout.splitlines())
    assert any(line.startswith("tls: ") for line in out.stdout.splitlines())
    assert run_target(["--version"]).stdout == out.stdout


def test_help():
    out = run_target(["-h"])
    assert out.returncode == 0
    text = out.stdout + out.stderr
    assert "config" in text.lower() or ".ini" in text
    for opt in ("-d", "-q", "-v", "-u", "-V", "-h"):
        assert opt in text, f"{opt} missing from help:\n{text}"
    assert run_target(["--help"]).returncode == 0


def test_bad_option():
    out = run_target(["--no-such-option", "x.ini"])
    assert out.returncode == 1
    assert "--help" in out.stderr


def test_unknown_short_option():
    out = run_target(["-Z", "x.ini"])
    assert out.returncode == 1


def test_no_config_file_argument():
    out = run_target([])
    assert out.returncode == 1
    assert "no configuration file specified" in out.stderr


def test_two_config_file_arguments(tmp_path):
    out = run_target(["a.ini", "b.ini"])
    assert out.returncode == 1
    assert "no configuration file specified" in out.stderr


def test_missing_config_file(tmp_path):
    out = run_target([str(tmp_path / "does-not-exist.ini")])
    assert out.returncode != 0
    assert "does-not-exist.ini" in out.stderr or "cannot load config" in out.stderr


def write_config(cfg_dir, body):
    path = cfg_dir / "bad.ini"
    path.write_text(body)
    chown_postgres(path)
    return path


@pytest.fixture
def cfgdir():
    """A temp dir the pooler (running as postgres) can read."""
    d = Path(tempfile.mkdtemp(prefix="pgwarden-cli-", dir=TMP_ROOT))
    chown_postgres(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


PGB = "[pgbouncer]\nlisten_port = 1\n"

# (config text, what the error on stderr must contain)
BAD_CONFIGS = {
    "unknown setting": ("[databases]\n" + PGB + "bogus_setting = 5\n",
                        ["bogus_setting", "cannot load config file"]),
    "bad integer": ("[databases]\n" + PGB + "default_pool_size = lots\n",
                    ["default_pool_size", '"lots"']),
    # booleans are integers: 'on' is not accepted
    "boolean on": ("[databases]\n" + PGB + "log_connections = on\n", ["log_connections"]),
    "bad pool_mode": ("[databases]\n" + PGB + "pool_mode = sometimes\n", ["pool_mode"]),
    "unknown section": ("[databases]\n" + PGB + "[nonsense]\nx = 1\n", ["nonsense"]),
    # an unknown key in a [databases] connection string fails the load
    "bad connstr key": ("[databases]\nbad = host=127.0.0.1 colour=blue\n" + PGB,
                        ["unrecognized connection parameter: colour", "cannot load config file"]),
    "empty connstr value": ("[databases]\nbad = host=127.0.0.1 dbname=\n" + PGB, ["bad"]),
    "reserved name": ("[databases]\npgbouncer = host=127.0.0.1\n" + PGB, ["reserved"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_startup(cfgdir, case):
    text, expected = BAD_CONFIGS[case]
    out = run_target([write_config(cfgdir, text)])
    assert out.returncode != 0
    for fragment in expected:
        assert fragment in out.stderr, out.stderr


def test_daemon_needs_pidfile(pgwarden):
    p = pgwarden()
    p.stop()
    out = run_target(["-d", p.ini_path])
    assert out.returncode != 0
    assert "pidfile" in out.stderr


def test_daemon_mode(pgwarden):
    """-d forks into the background, writes the pidfile and keeps serving;
    SIGTERM stops it and removes the pidfile."""
    p = pgwarden()
    pidfile = p.dir / "daemon.pid"
    p.stop()
    p.configure({"pidfile": str(pidfile)})
    out = run_target(["-d", p.ini_path])
    assert out.returncode == 0, out.stderr
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=5,
                       what="pidfile"))
    try:
        p.assert_serving()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="daemon to exit")
    assert not pidfile.exists()


def test_quiet_flag(pgwarden):
    p = pgwarden(args=["-q"])
    p.assert_serving()
    assert "login attempt" not in p.log_text()


def test_verbose_flag(pgwarden):
    p = pgwarden(args=["-v", "-v"])
    p.assert_serving()
    assert re.search(r" (DEBUG|NOISE) ", p.log_text())


def test_pidfile_of_running_process_blocks_second_start(pgwarden):
    p = pgwarden()
    pidfile = p.dir / "one.pid"
    p.stop()
    p.configure({"pidfile": str(pidfile)})
    p.start()
    out = run_target([p.ini_path], timeout=10)
    assert out.returncode != 0
    p.assert_serving()


def test_refuses_root(pgwarden):
    """Why the fixtures run the pooler as user postgres."""
    import subprocess
    p = pgwarden()
    p.stop()
    out = subprocess.run([TARGET_BIN, str(p.ini_path)], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert re.search(r"(PgBouncer|pgwarden) should not run as root", out.stderr), out.stderr


def test_dash_u_drops_privileges(pgwarden):
    """Started as root with -u postgres, the pooler runs as postgres."""
    import os
    import pwd
    import signal
    import subprocess
    import time
    if os.getuid() != 0:
        pytest.skip("needs root to switch users")
    p = pgwarden()
    p.stop()
    proc = subprocess.Popen([TARGET_BIN, "-u", "postgres", str(p.ini_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        uid = None
        while time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/status") as f:
                uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
            if uid == pwd.getpwnam("postgres").pw_uid:
                break
            time.sleep(0.05)
        assert uid == pwd.getpwnam("postgres").pw_uid
        with p.connect() as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
