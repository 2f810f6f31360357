#!/usr/bin/env bash
# pgwarden demo: install deps, build in-tree, start a throwaway PostgreSQL 15
# and pgwarden (transaction pooling) in front of it with three plugins — OIDC
# logins (plugins/oidc, with a local throwaway "identity provider" key),
# masks and guardrails (plugins/redact) and the audit log (plugins/audit) —
# log in as an agent with a minted token, show its masked columns, a blocked
# DROP, a DELETE held for an approver, and the audit trail, then wait until
# Ctrl-C, which tears everything down.
#
#   bash test/demo.sh                      # interactive: waits for Ctrl-C
#   DEMO_NONINTERACTIVE=1 bash test/demo.sh  # exit right after the proof query
#
# Run as root on Debian 12.  Only loopback addresses are used.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3

step() { printf '\n==> %s\n' "$*"; }
# As postgres, from a directory it can enter (the checkout may be under /root).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

step "installing dependencies"
bash test/deps.sh

step "building pgwarden (in-tree)"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  autoreconf -fi
fi
if [ ! -f config.status ]; then
  ./configure >/dev/null
fi
make -j2 >/dev/null
echo "built $ROOT/pgwarden ($(./pgwarden -V | head -n1))"

DEMO_DIR=$(mktemp -d /tmp/pgwarden-demo.XXXXXX)
chown postgres:postgres "$DEMO_DIR"
# pgwarden runs as postgres, who may not reach this checkout (e.g. under
# /root): it runs from a copy of the programs in the demo directory.
BIN="$DEMO_DIR/bin"
mkdir -p "$BIN"
cp pgwarden pgwarden-audit plugins/oidc/oidc.so plugins/redact/redact.so plugins/audit/audit.so "$BIN/"
chmod 755 "$BIN" "$BIN"/*
PGDATA="$DEMO_DIR/pgdata"
PG_LOG="$DEMO_DIR/postgres.log"
PGW_LOG="$DEMO_DIR/pgwarden.log"
PGW_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  step "cleaning up"
  if [ -n "$PGW_PID" ] && kill -0 "$PGW_PID" 2>/dev/null; then
    kill -TERM "$PGW_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PGW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PGW_PID" 2>/dev/null || true
    wait "$PGW_PID" 2>/dev/null || true
  fi
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DEMO_DIR"
  echo "done"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PG_PORT=$(free_port)
PGW_PORT=$(free_port)
while [ "$PGW_PORT" = "$PG_PORT" ]; do PGW_PORT=$(free_port); done
DEMO_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_hex(8))')

step "starting a throwaway PostgreSQL 15 on 127.0.0.1:$PG_PORT"
as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 \
  --locale=C.UTF-8 --no-sync >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DEMO_DIR'
password_encryption = 'scram-sha-256'
EOF
cat >"$PGDATA/pg_hba.conf" <<EOF
local all postgres trust
host  all all 127.0.0.1/32 scram-sha-256
EOF
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 start >/dev/null
as_postgres "$PGBIN/psql" -X -q -h "$DEMO_DIR" -p "$PG_PORT" -U postgres -d postgres \
  -v ON_ERROR_STOP=1 -v pw="$DEMO_PASSWORD" <<'EOF'
CREATE ROLE demo LOGIN PASSWORD :'pw';
CREATE DATABASE demo OWNER demo;
EOF
as_postgres "$PGBIN/psql" -X -q -h "$DEMO_DIR" -p "$PG_PORT" -U postgres -d demo \
  -v ON_ERROR_STOP=1 <<'EOF'
SET ROLE demo;
CREATE TABLE greetings (id serial PRIMARY KEY, msg text NOT NULL);
INSERT INTO greetings (msg) VALUES ('hello from PostgreSQL, through pgwarden');
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text);
INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com', '123-45-6789'),
                             (2, 'Grace', 'grace@example.org', '987-65-4321');
EOF

step "a local identity provider: a signing key and a token for an agent"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DEMO_DIR/idp-key.pem" 2>/dev/null
openssl pkey -in "$DEMO_DIR/idp-key.pem" -pubout -out "$DEMO_DIR/idp-pub.pem"
chown postgres:postgres "$DEMO_DIR/idp-pub.pem"
"$PY" - "$DEMO_DIR/idp-key.pem" >"$DEMO_DIR/agent.jwt" <<'PYEOF'
import sys, time, jwt
now = int(time.time())
claims = {"iss": "https://idp.demo.local", "aud": "pgwarden", "sub": "report-agent-1",
          "jti": "demo-%d" % now, "iat": now, "exp": now + 3600, "groups": ["analysts"]}
print(jwt.encode(claims, open(sys.argv[1]).read(), algorithm="ES256", headers={"kid": "demo"}))
PYEOF
echo "token for sub=report-agent-1, groups=[analysts], valid 1 h: $DEMO_DIR/agent.jwt"

step "starting pgwarden (transaction pooling) on 127.0.0.1:$PGW_PORT"
cat >"$DEMO_DIR/pgwarden.ini" <<EOF
[databases]
demo = host=127.0.0.1 port=$PG_PORT dbname=demo

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGW_PORT
unix_socket_dir = $DEMO_DIR
auth_type = scram-sha-256
auth_file = $DEMO_DIR/userlist.txt
admin_users = demo, approver
pool_mode = transaction
default_pool_size = 5
max_client_conn = 100
logfile = $PGW_LOG
plugins = oidc, redact, audit

[plugin.oidc]
path = $BIN/oidc.so
issuer = https://idp.demo.local
audience = pgwarden
public_key_file = $DEMO_DIR/idp-pub.pem
; people keep their passwords; agents present tokens
password_fallback = on
rule.10 = groups=analysts -> role=demo databases=demo

[plugin.redact]
path = $BIN/redact.so
policy_file = $DEMO_DIR/policy.ini
hash_key_file = $DEMO_DIR/mask.key
approvers = approver
approval_timeout = 60

[plugin.audit]
path = $BIN/audit.so
file = $DEMO_DIR/audit.db
key_file = $DEMO_DIR/audit.key
EOF
cat >"$DEMO_DIR/policy.ini" <<EOF
; agents (token group "analysts") see masked customer data and cannot write
[policy agents]
groups = analysts
read_only = on
mask public.customers.ssn = partial 4
mask public.customers.email = email

; everyone else: no DROP, ...; a DELETE without WHERE waits for an approver
[policy default]
block = all
approve = delete_without_where
EOF
"$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$DEMO_DIR/mask.key"
chown postgres:postgres "$DEMO_DIR/policy.ini" "$DEMO_DIR/mask.key"
chmod 600 "$DEMO_DIR/mask.key"
APPROVER_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_hex(8))')
printf '"demo" "%s"\n"approver" "%s"\n' "$DEMO_PASSWORD" "$APPROVER_PASSWORD" >"$DEMO_DIR/userlist.txt"
chmod 600 "$DEMO_DIR/userlist.txt" "$DEMO_DIR/pgwarden.ini"
chown postgres:postgres "$DEMO_DIR/userlist.txt" "$DEMO_DIR/pgwarden.ini"
# Like PgBouncer, pgwarden refuses to run as root: run it as postgres
# (the subshell execs setpriv, which execs pgwarden: $! is its pid).
(cd "$DEMO_DIR" && exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/pgwarden" -q "$DEMO_DIR/pgwarden.ini") &
PGW_PID=$!

for _ in $(seq 100); do
  if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PGW_PORT), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$PGW_PID" 2>/dev/null; then
    echo "pgwarden exited during startup; its log:" >&2
    cat "$PGW_LOG" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done

CONNSTR="host=127.0.0.1 port=$PGW_PORT dbname=demo user=demo password=$DEMO_PASSWORD"

step "proof: one query through pgwarden"
"$PGBIN/psql" -X "$CONNSTR" -v ON_ERROR_STOP=1 -c \
  "SELECT msg, current_user, split_part(version(), ' on ', 1) AS server FROM greetings"

step "an agent logs in with its token (no database password); pgwarden maps it to role demo"
AGENT_CONNSTR="host=$DEMO_DIR port=$PGW_PORT dbname=demo user=report-agent"
PGPASSWORD=$(cat "$DEMO_DIR/agent.jwt") "$PGBIN/psql" -X "$AGENT_CONNSTR" -v ON_ERROR_STOP=1 -c \
  "SELECT count(*) AS greetings, current_user AS logged_in_as FROM greetings"

step "the agent reads customers: ssn and email masked by the redact policy"
PGPASSWORD=$(cat "$DEMO_DIR/agent.jwt") "$PGBIN/psql" -X "$AGENT_CONNSTR" -v ON_ERROR_STOP=1 -c \
  "SELECT * FROM customers ORDER BY id"

step "... and cannot get around the mask, or write"
PGPASSWORD=$(cat "$DEMO_DIR/agent.jwt") "$PGBIN/psql" -X "$AGENT_CONNSTR" -c \
  "SELECT upper(ssn) FROM customers" || true
PGPASSWORD=$(cat "$DEMO_DIR/agent.jwt") "$PGBIN/psql" -X "$AGENT_CONNSTR" -c \
  "UPDATE customers SET name = 'x' WHERE id = 1" || true

step "a forged token is refused"
PGPASSWORD="$(cut -d. -f1,2 "$DEMO_DIR/agent.jwt").c2lnbmF0dXJl" "$PGBIN/psql" -X "$AGENT_CONNSTR" -c "SELECT 1" || true

step "a destructive statement, blocked by the redact guardrails before it reaches PostgreSQL"
"$PGBIN/psql" -X "$CONNSTR" -c "DROP TABLE greetings" || true

step "a DELETE without WHERE is held for an approver, who answers in the admin console"
APPROVER_CONNSTR="host=127.0.0.1 port=$PGW_PORT dbname=pgbouncer user=approver password=$APPROVER_PASSWORD"
"$PGBIN/psql" -X "$CONNSTR" -c "DELETE FROM greetings" &
HELD_PID=$!
REQUEST=""
for _ in $(seq 100); do
  REQUEST=$("$PGBIN/psql" -X -At "$APPROVER_CONNSTR" -c "SHOW APPROVALS" | cut -d'|' -f1 | head -1)
  [ -n "$REQUEST" ] && break
  sleep 0.1
done
"$PGBIN/psql" -X "$APPROVER_CONNSTR" -c "SHOW APPROVALS"
"$PGBIN/psql" -X "$APPROVER_CONNSTR" -c "DENY $REQUEST not during the demo"
wait "$HELD_PID" || true

step "the audit trail (plugins/audit, read with pgwarden-audit)"
sleep 0.3   # the writer thread commits within milliseconds
"$PY" - "$DEMO_DIR/audit.db" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
# who: the token's subject for agents, the login user for people
for row in db.execute("SELECT coalesce(s.subject, s.pooler_user), st.kind, st.decision, "
                      "coalesce(st.command_tag, st.sqlstate), st.rows_returned, st.sql, "
                      "coalesce('  [' || st.decision_note || ']', '') "
                      "FROM statements st JOIN sessions s ON s.id = st.session_id AND s.run = st.run "
                      "ORDER BY st.id"):
    print("  %-15s %-7s %-8s %-10s rows=%-3s %s%s" % row)
PYEOF
./pgwarden-audit verify "$DEMO_DIR/audit.db" --key "$DEMO_DIR/audit.key" --allow-open

cat <<EOF

pgwarden is running (pid $PGW_PID), pooling in transaction mode in front of
PostgreSQL 15 on 127.0.0.1:$PG_PORT.  Connect with:

    psql "$CONNSTR"

As the agent, with its token (over the unix socket; TCP would need TLS):

    PGPASSWORD=\$(cat $DEMO_DIR/agent.jwt) psql "$AGENT_CONNSTR"

Admin console (SHOW POOLS, SHOW CLIENTS, SHOW STATS, SHOW PLUGINS, SHOW AUDIT, SHOW OIDC,
SHOW APPROVALS, ...):

    psql "host=127.0.0.1 port=$PGW_PORT dbname=pgbouncer user=demo password=$DEMO_PASSWORD"

Held statements (a DELETE without WHERE as user demo) are approved by user approver:

    psql "$APPROVER_CONNSTR"      # then SHOW APPROVALS; APPROVE <id>; or DENY <id> <reason>;

Audit log (every statement, hash-chained):

    $ROOT/pgwarden-audit tail $DEMO_DIR/audit.db -n 5
    $ROOT/pgwarden-audit verify $DEMO_DIR/audit.db --key $DEMO_DIR/audit.key --allow-open

pgwarden log: $PGW_LOG
EOF

if [ "${DEMO_NONINTERACTIVE:-0}" = 1 ]; then
  exit 0
fi

echo
echo "Press Ctrl-C to stop pgwarden and PostgreSQL and delete everything."
wait "$PGW_PID" || true
echo "pgwarden exited; its log:"
cat "$PGW_LOG" 2>/dev/null || true
