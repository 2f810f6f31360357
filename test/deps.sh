#!/usr/bin/env bash
# Install everything needed to build and test pgwarden on Debian 12.
# Idempotent: when every package is already installed it does not touch apt.
set -euo pipefail

PACKAGES=(
  # build
  build-essential autoconf automake libtool pkg-config
  libevent-dev libssl-dev libc-ares-dev libpam0g-dev
  # plugins: audit (SQLite, JSON, the PostgreSQL parser)
  libsqlite3-dev libjansson-dev libpg-query-dev
  # plugins: oidc (the issuer's keys over HTTPS); its tests mint tokens
  libcurl4-openssl-dev python3-jwt python3-cryptography
  # unit tests; fuzzing (clang's libFuzzer runtime)
  libcmocka-dev clang libclang-rt-14-dev
  # integration tests, demo, benchmark (pgbench ships in postgresql-15)
  postgresql-15 postgresql-client-15 pgbouncer
  python3 python3-psycopg python3-pytest python3-pytest-timeout
  procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root (or install them with sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
