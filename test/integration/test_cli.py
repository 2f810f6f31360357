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


def test_unknown_setting(cfgdir):
    path = write_config(cfgdir, "[databases]\n[pgbouncer]\nlisten_port = 1\nbogus_setting = 5\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "bogus_setting" in out.stderr
    assert "cannot load config file" in out.stderr


def test_bad_integer_value(cfgdir):
    path = write_config(cfgdir, "[databases]\n[pgbouncer]\nlisten_port = 1\ndefault_pool_size = lots\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "default_pool_size" in out.stderr
    assert '"lots"' in out.stderr


def test_boolean_on_is_rejected(cfgdir):
    """Booleans are integers: 'on' is not accepted."""
    path = write_config(cfgdir, "[databases]\n[pgbouncer]\nlisten_port = 1\nlog_connections = on\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "log_connections" in out.stderr


def test_bad_pool_mode(cfgdir):
    path = write_config(cfgdir, "[databases]\n[pgbouncer]\nlisten_port = 1\npool_mode = sometimes\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "pool_mode" in out.stderr


def test_unknown_section(cfgdir):
    path = write_config(cfgdir, "[databases]\n[pgbouncer]\nlisten_port = 1\n[nonsense]\nx = 1\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "nonsense" in out.stderr


def test_bad_database_connstr_fails_startup(cfgdir):
    """An unknown key in a [databases] connection string fails the load."""
    path = write_config(cfgdir, "[databases]\nbad = host=127.0.0.1 colour=blue\n[pgbouncer]\nlisten_port = 1\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "unrecognized connection parameter: colour" in out.stderr
    assert "cannot load config file" in out.stderr


def test_empty_connstr_value_fails_startup(cfgdir):
    path = write_config(cfgdir, "[databases]\nbad = host=127.0.0.1 dbname=\n[pgbouncer]\nlisten_port = 1\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "bad" in out.stderr


def test_reserved_database_name(cfgdir):
    path = write_config(cfgdir, "[databases]\npgbouncer = host=127.0.0.1\n[pgbouncer]\nlisten_port = 1\n")
    out = run_target([path])
    assert out.returncode != 0
    assert "reserved" in out.stderr


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
