#!/usr/bin/env bash
# A production-shaped latchkey on one machine, all on loopback: nginx terminating HTTP in front
# of two latchkey instances that share one PostgreSQL database (created fresh for this run) and,
# optionally, Redis. The smoke test (test/deploy-smoke.test.ts) runs against it; it is also a
# way to try the deployment of docs/deployment.md by hand.
#
#   deploy/local-cluster.sh start RUN_DIR   start everything; writes RUN_DIR/cluster.env
#   deploy/local-cluster.sh stop RUN_DIR    stop what start started and drop its database
#
# Settings (environment):
#   CLUSTER_POSTGRES_URL  a PostgreSQL server to create the run's database on, as a user
#                         allowed to CREATE DATABASE
#                         (default postgres://postgres@127.0.0.1:5432/postgres)
#   CLUSTER_REDIS_URL     optional: given to every instance as LATCHKEY_REDIS_URL
#   CLUSTER_INSTANCES     how many instances (default 2, or as many as CLUSTER_INSTANCE_PORTS)
#   CLUSTER_PROXY_PORT    nginx's port (default: a free one)
#   CLUSTER_INSTANCE_PORTS  the instances' ports, e.g. "8081 8082" (default: free ones)
#   LATCHKEY_ARGON2_MEMORY_KIB, LATCHKEY_ARGON2_ITERATIONS  passed on (tests make them cheaper)
#
# The instances get only what RUN_DIR/latchkey.env holds (as under systemd), not this
# shell's environment.
#
# Needs: node (with `npm ci` done, so dist/ is built), nginx (Debian package nginx), psql, curl.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMMAND="${1:-}"
RUN_DIR="${2:-}"
if [ -z "$COMMAND" ] || [ -z "$RUN_DIR" ]; then
  sed -n '6,7p' "$0" | sed 's/^#   //' >&2
  exit 2
fi

fail() {
  echo "local-cluster: $*" >&2
  exit 1
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Exit status 0 when 127.0.0.1:$1 can be listened on now.
port_is_free() {
  node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close())' "$1"
}

# A fixed port asked for: a number, free now. Checked before anything is created.
check_port() {
  local name="$1" port="$2"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
    fail "$name: a port is a number from 1 to 65535, not '$port'"
  port_is_free "$port" || fail "$name: 127.0.0.1:$port is already in use"
}

# Poll an URL until it answers 200, for at most $2 seconds, while process $3 lives.
wait_ready() {
  local url="$1" seconds="$2" pid="$3" waited=0
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    waited=$((waited + 1))
    [ "$waited" -le $((seconds * 10)) ] || return 1
    sleep 0.1
  done
}

NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

start() {
  [ -x "$NGINX" ] || fail "nginx is not installed (Debian: apt-get install nginx)"
  command -v psql >/dev/null || fail "psql is not installed (Debian: apt-get install postgresql-client)"
  [ -f "$ROOT/dist/src/cli/main.js" ] || fail "dist/ is not built: run npm ci (or npm run build) first"
  mkdir -p "$RUN_DIR"
  RUN_DIR="$(cd "$RUN_DIR" && pwd)"
  [ ! -e "$RUN_DIR/cluster.env" ] || fail "$RUN_DIR already holds a cluster; stop it first"
  # nginx's workers drop privileges when started as root: let them reach their files.
  chmod 755 "$RUN_DIR"

  local admin_url="${CLUSTER_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  local -a instance_ports
  read -r -a instance_ports <<<"${CLUSTER_INSTANCE_PORTS:-}"
  local instances="${CLUSTER_INSTANCES:-${#instance_ports[@]}}"
  [ "$instances" != 0 ] || instances=2
  [[ "$instances" =~ ^[1-9][0-9]*$ ]] || fail "CLUSTER_INSTANCES must be a whole number, not '$instances'"
  if [ "${#instance_ports[@]}" -gt 0 ] && [ "${#instance_ports[@]}" -ne "$instances" ]; then
    fail "CLUSTER_INSTANCE_PORTS names ${#instance_ports[@]} port(s) for $instances instance(s)"
  fi
  [ -z "${CLUSTER_PROXY_PORT:-}" ] || check_port CLUSTER_PROXY_PORT "$CLUSTER_PROXY_PORT"
  local fixed
  for fixed in "${instance_ports[@]}"; do check_port CLUSTER_INSTANCE_PORTS "$fixed"; done
  local database="latchkey_$(node -e 'console.log(require("crypto").randomBytes(6).toString("hex"))')"
  psql "$admin_url" -v ON_ERROR_STOP=1 -qc "create database $database" >/dev/null ||
    fail "cannot create database $database on $admin_url"
  local database_url
  database_url="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$admin_url" "$database")"
  {
    echo "DATABASE=$database"
    echo "ADMIN_DATABASE_URL=$admin_url"
  } >"$RUN_DIR/cluster.env"

  # What every instance shares, as a systemd EnvironmentFile would hold it (deploy/latchkey.service).
  # The proxy's port first: the instances are told it as their public URL.
  local proxy_port="${CLUSTER_PROXY_PORT:-}"
  [ -n "$proxy_port" ] || proxy_port="$(free_port)"
  local admin_password secret_keys
  admin_password="Adm1n-$(node -e 'console.log(require("crypto").randomBytes(12).toString("base64url"))')"
  secret_keys="1:$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')"
  cat >"$RUN_DIR/latchkey.env" <<ENV
NODE_ENV=production
LATCHKEY_HOST=127.0.0.1
LATCHKEY_DATABASE_URL=$database_url
LATCHKEY_SECRET_KEYS=$secret_keys
LATCHKEY_TRUSTED_PROXIES=127.0.0.1
LATCHKEY_PUBLIC_URL=http://127.0.0.1:$proxy_port
LATCHKEY_BOOTSTRAP_ADMIN_USERNAME=admin
LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=$admin_password
LATCHKEY_ARGON2_MEMORY_KIB=${LATCHKEY_ARGON2_MEMORY_KIB:-19456}
LATCHKEY_ARGON2_ITERATIONS=${LATCHKEY_ARGON2_ITERATIONS:-2}
ENV
  if [ -n "${CLUSTER_REDIS_URL:-}" ]; then
    echo "LATCHKEY_REDIS_URL=$CLUSTER_REDIS_URL" >>"$RUN_DIR/latchkey.env"
  fi
  chmod 600 "$RUN_DIR/latchkey.env"
  echo "ADMIN_PASSWORD=$admin_password" >>"$RUN_DIR/cluster.env"

  local upstreams="" n port pid
  for n in $(seq 1 "$instances"); do
    port="${instance_ports[$((n - 1))]:-}"
    [ -n "$port" ] || port="$(free_port)"
    mkdir -p "$RUN_DIR/instance-$n"
    # shellcheck disable=SC2046
    env -i PATH="$PATH" $(cat "$RUN_DIR/latchkey.env") \
      LATCHKEY_PORT="$port" LATCHKEY_DATA_DIR="$RUN_DIR/instance-$n" \
      node "$ROOT/dist/src/cli/main.js" serve >"$RUN_DIR/instance-$n.log" 2>&1 &
    pid=$!
    {
      echo "INSTANCE_${n}_URL=http://127.0.0.1:$port"
      echo "INSTANCE_${n}_PID=$pid"
    } >>"$RUN_DIR/cluster.env"
    upstreams="${upstreams}server 127.0.0.1:$port max_fails=1 fail_timeout=10s;"$'\n'
  done
  for n in $(seq 1 "$instances"); do
    local url
    url="$(sed -n "s/^INSTANCE_${n}_URL=//p" "$RUN_DIR/cluster.env")"
    pid="$(sed -n "s/^INSTANCE_${n}_PID=//p" "$RUN_DIR/cluster.env")"
    wait_ready "$url/health/ready" 60 "$pid" ||
      fail "instance $n is not ready; its log: $RUN_DIR/instance-$n.log"$'\n'"$(tail -5 "$RUN_DIR/instance-$n.log")"
  done

  mkdir -p "$RUN_DIR/nginx"
  printf '%s' "$upstreams" >"$RUN_DIR/nginx/upstreams.conf"
  sed -e "s|@LISTEN@|127.0.0.1:$proxy_port|" -e "s|@RUN_DIR@|$RUN_DIR/nginx|g" \
    "$ROOT/deploy/nginx.conf" >"$RUN_DIR/nginx/nginx.conf"
  "$NGINX" -t -q -p "$RUN_DIR/nginx" -e "$RUN_DIR/nginx/error.log" -c "$RUN_DIR/nginx/nginx.conf" ||
    fail "nginx refused its configuration: $RUN_DIR/nginx/nginx.conf"
  "$NGINX" -p "$RUN_DIR/nginx" -e "$RUN_DIR/nginx/error.log" -c "$RUN_DIR/nginx/nginx.conf" -g 'daemon off;' \
    >"$RUN_DIR/nginx/stdout.log" 2>&1 &
  pid=$!
  {
    echo "NGINX_PID=$pid"
    echo "PROXY_URL=http://127.0.0.1:$proxy_port"
  } >>"$RUN_DIR/cluster.env"
  wait_ready "http://127.0.0.1:$proxy_port/health/ready" 20 "$pid" ||
    fail "nginx does not answer; its log: $RUN_DIR/nginx/error.log"
  cat "$RUN_DIR/cluster.env"
}

stop() {
  [ -f "$RUN_DIR/cluster.env" ] || fail "no cluster in $RUN_DIR"
  local pids
  pids="$(sed -n 's/^\(INSTANCE_[0-9]*\|NGINX\)_PID=//p' "$RUN_DIR/cluster.env")"
  # SIGTERM: nginx and latchkey both finish what is in flight and exit.
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -n "$alive" ] || break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  local database admin_url
  database="$(sed -n 's/^DATABASE=//p' "$RUN_DIR/cluster.env")"
  admin_url="$(sed -n 's/^ADMIN_DATABASE_URL=//p' "$RUN_DIR/cluster.env")"
  if [ -n "$database" ]; then
    psql "$admin_url" -qc "drop database if exists $database with (force)" >/dev/null ||
      echo "local-cluster: could not drop database $database" >&2
  fi
  rm -f "$RUN_DIR/cluster.env"
}

case "$COMMAND" in
  start) start ;;
  stop) stop ;;
  *) fail "unknown command '$COMMAND' (start or stop)" ;;
esac
