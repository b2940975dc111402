#!/usr/bin/env bash
# One entry point for Oficina: install, run, test, demo, and manage.py for any service.
#   ./manage_all.sh up                 run the whole system (Ctrl-C stops everything it started)
#   ./manage_all.sh test [suite…]      install what is missing and run every test suite
#   ./manage_all.sh demo               walk one order through the saga against a running system
#   ./manage_all.sh chaos [--orders N] the fault run: orders through the saga while workers die and the broker loses all
#   ./manage_all.sh install            only install (virtualenv, Python and npm packages, from the locks)
#   ./manage_all.sh lock [--upgrade]   after changing a pyproject.toml: resolve uv.lock again
#   ./manage_all.sh <os|billing|execution|all> <manage.py args…>
# NO_COLOR=1 (no-color.org) turns the colours off; they are off anyway when the output is not a terminal.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
DATA_DIR="${OFICINA_DATA_DIR:-$ROOT/.data}"
SERVICES=(os billing execution)

# The local services' addresses, for the test verb's checks too.
POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

# Every address and secret the running system uses can be overridden from the environment; these
# are development defaults. Only `up`, `demo` and the manage.py verbs export them: the test suites
# pick their own databases, broker database numbers and ports (Celery would let an exported
# CELERY_BROKER_URL override a suite's broker and its messages would land in the wrong place).
dev_environment() {
  export POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}"
  export POSTGRES_PORT="${POSTGRES_PORT:-5432}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export DATABASE_URL="${DATABASE_URL:-postgres://$POSTGRES_USER@$POSTGRES_HOST:$POSTGRES_PORT/oficina_os}"
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  export CELERY_BROKER_URL="${CELERY_BROKER_URL:-$REDIS_URL}"
  export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
  export DYNAMODB_ENDPOINT_URL="${DYNAMODB_ENDPOINT_URL-http://127.0.0.1:$DYNAMODB_PORT}"
  export DYNAMODB_TABLE_PREFIX="${DYNAMODB_TABLE_PREFIX:-oficina_}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export OS_PORT="${OS_PORT:-8001}" BILLING_PORT="${BILLING_PORT:-8002}" EXECUTION_PORT="${EXECUTION_PORT:-8003}"
  export SANDBOX_PORT="${SANDBOX_PORT:-8004}"
  export OS_SERVICE_URL="${OS_SERVICE_URL:-http://127.0.0.1:$OS_PORT}"
  export BILLING_SERVICE_URL="${BILLING_SERVICE_URL:-http://127.0.0.1:$BILLING_PORT}"
  export EXECUTION_SERVICE_URL="${EXECUTION_SERVICE_URL:-http://127.0.0.1:$EXECUTION_PORT}"
  export MERCADOPAGO_BASE_URL="${MERCADOPAGO_BASE_URL:-http://127.0.0.1:$SANDBOX_PORT}"
  export MERCADOPAGO_ACCESS_TOKEN="${MERCADOPAGO_ACCESS_TOKEN:-TEST-sandbox-access-token}"
  export MERCADOPAGO_WEBHOOK_SECRET="${MERCADOPAGO_WEBHOOK_SECRET:-dev-webhook-secret}"
  export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-$BILLING_SERVICE_URL}"
  export ADMIN_USERNAME="${ADMIN_USERNAME:-admin}"
  export ADMIN_PASSWORD="${ADMIN_PASSWORD:-admin}"
}

# --- output -------------------------------------------------------------------------------------
# Colours only on a terminal, and never with NO_COLOR set to anything (no-color.org): then not one
# ANSI escape is written. Progress lines that count seconds rewrite themselves (\r) on a terminal only.
colour() { [ -z "${NO_COLOR:-}" ] && [ -t "$1" ]; }  # colour FD
# Django's commands do not read NO_COLOR; its own switch says the same (uv, pip and Celery read it).
[ -z "${NO_COLOR:-}" ] || export DJANGO_COLORS=nocolor
say() { if colour 1; then printf '\033[1;34m==>\033[0m %s\n' "$*"; else printf '==> %s\n' "$*"; fi; }
die() { if colour 2; then printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; else printf 'xx %s\n' "$*" >&2; fi; exit 1; }

# wait_until WHAT SECONDS COMMAND…: run COMMAND every half second until it succeeds, saying what is
# awaited and for how long (on a terminal a counter; otherwise a line every 10 s). False after SECONDS.
wait_until() {
  local what="$1" limit="$2" start=$SECONDS elapsed=0 told=0
  shift 2
  [ -t 1 ] || say "waiting for $what (up to $limit s)"
  until "$@" >/dev/null 2>&1; do
    elapsed=$((SECONDS - start))
    if [ "$elapsed" -ge "$limit" ]; then
      [ -t 1 ] && printf '\n'
      return 1
    fi
    if [ -t 1 ]; then
      printf '\r    waiting for %s … %d s ' "$what" "$elapsed"
    elif [ "$elapsed" -ge $((told + 10)) ]; then
      told=$elapsed
      printf '    still waiting for %s … %d s\n' "$what" "$elapsed"
    fi
    sleep 0.5
  done
  [ -t 1 ] && printf '\r%*s\r' $((${#what} + 32)) ''
  say "$what: ready after $((SECONDS - start)) s"
}

# timed WHAT COMMAND…: say WHAT, run COMMAND, and say how long it took (its failure is the caller's).
timed() {
  local what="$1" start=$SECONDS
  shift
  say "$what"
  "$@" || return
  printf '    done in %d s\n' $((SECONDS - start))
}

quietly() { "$@" >/dev/null; }

service_dir() {
  case "$1" in
    os) echo "$ROOT/os_project" ;;
    billing) echo "$ROOT/billing_project" ;;
    execution) echo "$ROOT/execution_project" ;;
    *) die "unknown service '$1' (os, billing, execution)" ;;
  esac
}

# --- installation ---------------------------------------------------------------------------
# Python: one uv workspace (pyproject.toml at the root; libs, the services and the sandbox are its
# members) and one lock, uv.lock, with every package's hashes. install puts exactly the lock into
# .venv (uv sync: what the lock does not name is removed), and refuses a lock older than the
# pyproject.toml files: `./manage_all.sh lock` resolves it again, and the two are committed together.
# uv itself comes from requirements-uv.txt, exported from the same lock (hashes checked by pip).
UV="$VENV/bin/uv"
# The workspace's one environment, whatever the caller's shell says.
export UV_PROJECT_ENVIRONMENT="$VENV"

refuse_stray_requirements() {
  local stray
  stray="$(cd "$ROOT" && ls requirements*.txt */requirements*.txt 2>/dev/null | grep -v '^requirements-uv.txt$' || true)"
  [ -z "$stray" ] || die "dependencies are declared in the pyproject.toml files now (uv workspace), not in: $stray." \
    "Move its lines into the pyproject.toml beside it (test tools in [dependency-groups] test), delete it," \
    "and run ./manage_all.sh lock"
}

ensure_uv() {  # the virtualenv, and the pinned uv in it
  command -v python3 >/dev/null || die "python3 (3.11+) is needed: apt-get install python3 python3-venv"
  if [ ! -x "$PY" ]; then
    timed "creating the virtualenv in .venv" python3 -m venv "$VENV" || die "python3 -m venv failed"
  fi
  local pinned
  pinned="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$ROOT/requirements-uv.txt")"
  [ -n "$pinned" ] || die "requirements-uv.txt names no uv: run ./manage_all.sh lock"
  if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$pinned" ]; then
    # This machine's pip configuration may name package folders that do not exist: its warnings
    # are left out, its exit status is not (pipefail).
    timed "installing uv $pinned with pip (requirements-uv.txt, hashes checked)" \
      pip_quietly install --quiet --require-hashes --no-deps -r "$ROOT/requirements-uv.txt" \
      || die "pip could not install uv $pinned (requirements-uv.txt): is PyPI reachable?"
  fi
}

pip_quietly() {
  "$PY" -m pip --disable-pip-version-check "$@" 2>&1 | { grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true; }
}

# What install reads: the workspace's manifests (the root's and its members'), the lock and uv's pin.
lock_inputs_digest() {
  (cd "$ROOT" && cat pyproject.toml ./*/pyproject.toml uv.lock requirements-uv.txt) | sha256sum | cut -d' ' -f1
}

install_python() {
  refuse_stray_requirements
  local stamp="$VENV/.install-stamp" want
  # Packages compiled to bytecode at install (uv's --compile-bytecode): with PYTHONDONTWRITEBYTECODE
  # set, or a read-only venv, every process would otherwise compile Django, boto3... at each start.
  want="$(lock_inputs_digest)-bytecode"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$UV" ] && return
  rm -f "$stamp"  # written again only when everything below has succeeded
  ensure_uv
  say "checking that uv.lock matches the pyproject.toml files"
  "$UV" lock --project "$ROOT" --check --quiet \
    || die "uv.lock does not match the pyproject.toml files (a dependency changed without the lock):" \
      "run ./manage_all.sh lock and commit uv.lock with the change"
  timed "installing the Python packages of uv.lock into .venv (uv sync)" \
    "$UV" sync --project "$ROOT" --locked --all-packages --all-groups --compile-bytecode \
    || die "uv sync could not install uv.lock into .venv (see above)"
  "$PY" -c "import django, rest_framework, celery, boto3, oficina_common" \
    || die "Python packages did not install"
  echo "$want" > "$stamp"
}

cmd_lock() {  # ./manage_all.sh lock [uv lock options, e.g. --upgrade or --upgrade-package NAME]
  refuse_stray_requirements
  ensure_uv
  timed "resolving the workspace's dependencies into uv.lock" "$UV" lock --project "$ROOT" "$@" \
    || die "uv lock failed (see above)"
  (cd "$ROOT" && "$UV" export --quiet --frozen --only-group bootstrap --no-emit-project --no-emit-workspace \
    -o requirements-uv.txt) || die "could not export requirements-uv.txt from uv.lock"
  say "uv.lock and requirements-uv.txt are up to date: commit them with the pyproject.toml change"
}

install_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Node.js (for the DynamoDB emulator, dynalite)"
      apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    else
      die "Node.js and npm are needed for dynalite: install them (e.g. sudo apt-get install nodejs npm)"
    fi
  fi
  # Exactly package-lock.json (npm ci refuses a lock that does not match package.json).
  local stamp="$ROOT/node_modules/.install-stamp" want
  want="$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  local colour_flag=--color=false
  colour 1 && colour_flag=--color=true
  timed "installing dynalite with npm ci (package-lock.json)" \
    npm ci --prefix "$ROOT" --no-audit --no-fund --loglevel=error "$colour_flag" \
    || die "npm ci failed (see above)"
  echo "$want" > "$stamp"
}

install_browser() {
  # The customer-page tests drive Debian's chromium through Playwright (no browser download).
  command -v chromium >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium (browser tests of the customer pages)"
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }) \
      || die "could not install chromium: apt-get install chromium"
  else
    die "chromium is needed for the browser tests: sudo apt-get install chromium"
  fi
}

install_all() { install_python; install_node; }

# --- the local services this machine provides -----------------------------------------------
ensure_postgres() {
  if pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" 2>/dev/null; then return; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_until "PostgreSQL on $POSTGRES_HOST:$POSTGRES_PORT" 15 pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" \
      && return
  fi
  die "PostgreSQL is not answering on $POSTGRES_HOST:$POSTGRES_PORT: install it (apt-get install postgresql) or set DATABASE_URL"
}

redis_answers() {
  "$PY" -c 'import redis, sys; sys.exit(0 if redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping() else 1)' "$1" \
    2>/dev/null
}

ensure_redis() {
  local url="${CELERY_BROKER_URL:-$REDIS_URL}"
  if redis_answers "$url"; then return; fi
  if command -v redis-server >/dev/null; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/oficina.log || true
    wait_until "Redis at $url" 10 redis_answers "$url" && return
  fi
  die "Redis is not answering at $url: install it (apt-get install redis-server) or set CELERY_BROKER_URL"
}

create_database() {
  local name="${DATABASE_URL##*/}"
  name="${name%%\?*}"
  if ! psql -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$name'" | grep -q 1; then
    say "creating database $name"
    psql -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d postgres -qc "CREATE DATABASE \"$name\""
  fi
}

manage() {
  local service="$1"; shift
  (cd "$(service_dir "$service")" && "$PY" manage.py "$@")
}

# --- test -----------------------------------------------------------------------------------
# Each suite runs in its own pytest process (each project has its own `config` package).
SUITES=(libs os_project billing_project execution_project mercadopago_sandbox deploy_tests tests)

run_suite() {
  local suite="$1"; shift
  case "$suite" in  # the services' short names, as everywhere else in this script
    os|billing|execution) suite="${suite}_project" ;;
    sandbox) suite="mercadopago_sandbox" ;;
  esac
  [ -f "$ROOT/$suite/pytest.ini" ] || die "no test suite '$suite': one of ${SUITES[*]} (or os, billing, execution, sandbox)"
  say "testing $suite"
  local rc=0
  # A broker URL from the caller's shell would override the suite's own (Celery reads it first).
  (cd "$ROOT/$suite" && env -u CELERY_BROKER_URL "$PY" -m pytest "$@") || rc=$?
  if [ "$rc" = 5 ]; then
    die "suite $suite collected no tests: that proves nothing"
  elif [ "$rc" != 0 ]; then
    die "suite $suite failed (exit $rc)"
  fi
}

cmd_test() {
  install_all
  install_browser
  ensure_postgres
  ensure_redis
  local suites=("$@")
  [ ${#suites[@]} -gt 0 ] || suites=("${SUITES[@]}")
  say "ruff"
  "$VENV/bin/ruff" check "$ROOT" || die "ruff found problems"
  for suite in "${suites[@]}"; do run_suite "$suite"; done
  say "all suites passed: ${suites[*]}"
}

# --- up ---------------------------------------------------------------------------------------
PIDS=()
STOPPING=""
LOG_DIR="$DATA_DIR/logs"

start_bg() {  # start_bg NAME DIR COMMAND…: in the background, its pid kept for stop_all
  local name="$1" dir="$2"; shift 2
  (cd "$dir" && exec "$@") >"$LOG_DIR/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$!" >"$LOG_DIR/$name.pid"
}

stop_all() {
  trap - INT TERM HUP EXIT
  STOPPING=1
  # The terminal or a pipe (`up | tee log`) may be gone already, killed by the same Ctrl-C: a failed
  # write must not end the script (SIGPIPE, set -e) before the processes are stopped.
  trap '' PIPE
  say "stopping everything ./manage_all.sh up started" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

wait_http() {  # wait_http NAME LOG URL: a process this script started, until its URL answers
  local name="$1" log="$2" url="$3" port
  port="${url#http://*:}"
  port="${port%%/*}"
  wait_until "$name on :$port" 60 curl -fsS -o /dev/null "$url" \
    || die "$name did not answer at $url within 60 s; see $LOG_DIR/$log.log"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open() { ! port_free "$1"; }

# Billing talks to the project's sandbox unless MERCADOPAGO_BASE_URL points elsewhere (the real
# Mercado Pago, or a sandbox this script does not run): then nothing here uses a local sandbox.
uses_local_sandbox() {
  case "${MERCADOPAGO_BASE_URL%/}" in
    "http://127.0.0.1:$SANDBOX_PORT" | "http://localhost:$SANDBOX_PORT") return 0 ;;
    *) return 1 ;;
  esac
}

cmd_up() {
  dev_environment
  install_all
  ensure_postgres
  ensure_redis
  mkdir -p "$LOG_DIR" "$DATA_DIR/dynalite"
  local sandbox=""
  [ -d "$ROOT/mercadopago_sandbox" ] && uses_local_sandbox && sandbox=1
  local ports=("$OS_PORT" "$BILLING_PORT" "$EXECUTION_PORT")
  [ -n "$sandbox" ] && ports+=("$SANDBOX_PORT")
  for port in "${ports[@]}"; do
    port_free "$port" || die "port $port is taken (another ./manage_all.sh up?); stop it or set *_PORT"
  done
  trap stop_all INT TERM HUP EXIT  # HUP: the terminal was closed

  if [ -n "$DYNAMODB_ENDPOINT_URL" ] && [ "$DYNAMODB_ENDPOINT_URL" = "http://127.0.0.1:$DYNAMODB_PORT" ]; then
    port_free "$DYNAMODB_PORT" || die "port $DYNAMODB_PORT is taken; stop it or set DYNAMODB_PORT"
    say "starting dynalite on $DYNAMODB_PORT (data in $DATA_DIR/dynalite)"
    start_bg dynalite "$ROOT" "$ROOT/node_modules/.bin/dynalite" --port "$DYNAMODB_PORT" --path "$DATA_DIR/dynalite"
    wait_until "dynalite on :$DYNAMODB_PORT" 30 port_open "$DYNAMODB_PORT" \
      || die "dynalite did not open port $DYNAMODB_PORT within 30 s; see $LOG_DIR/dynalite.log"
  fi

  if [ -n "$sandbox" ]; then
    say "starting the Mercado Pago sandbox on $SANDBOX_PORT"
    MERCADOPAGO_SANDBOX_DATA_FILE="$DATA_DIR/mercadopago_sandbox.json" \
      start_bg sandbox "$ROOT" "$PY" -m mercadopago_sandbox --host 127.0.0.1 --port "$SANDBOX_PORT"
  else
    # Its health is no business of ours (the real one has no /healthz), and a sandbox page next to
    # it would only let someone approve payments Billing never sees.
    say "Billing uses the Mercado Pago at $MERCADOPAGO_BASE_URL: the sandbox is not started, and up does not wait for it"
    [ "$MERCADOPAGO_ACCESS_TOKEN" != "TEST-sandbox-access-token" ] \
      || say "MERCADOPAGO_ACCESS_TOKEN is still the sandbox's; set your application's token or payments are refused"
    say "its notifications go to ${MERCADOPAGO_NOTIFICATION_BASE_URL:-$PUBLIC_BASE_URL}/api/v1/webhooks/mercadopago/" \
      "(an address it must reach: PUBLIC_BASE_URL; until then the reconciliation polls the payments)"
  fi

  create_database
  timed "migrating the OS database" manage os migrate --noinput --verbosity 0 || die "os: migrate failed"
  manage os ensure_admin
  timed "loading the demo catalogue" quietly manage os seed_demo || die "os: seed_demo failed"
  for service in billing execution; do
    [ -f "$(service_dir "$service")/manage.py" ] || continue
    timed "creating $service's DynamoDB tables" manage "$service" create_tables || die "$service: create_tables failed"
  done

  for service in "${SERVICES[@]}"; do
    local dir port_var
    dir="$(service_dir "$service")"
    [ -f "$dir/manage.py" ] || continue
    port_var="$(echo "${service}_PORT" | tr '[:lower:]' '[:upper:]')"
    say "starting $service on ${!port_var} with its Celery worker and beat"
    start_bg "$service-web" "$dir" "$PY" manage.py runserver --noreload "127.0.0.1:${!port_var}"
    start_bg "$service-worker" "$dir" "$VENV/bin/celery" -A config worker -Q "$service" \
      --hostname "$service@%h" --concurrency 2 --loglevel INFO
    start_bg "$service-beat" "$dir" "$VENV/bin/celery" -A config beat \
      --schedule "$DATA_DIR/$service-beat-schedule" --loglevel INFO
  done

  # The sandbox's own port, whatever MERCADOPAGO_BASE_URL says.
  [ -z "$sandbox" ] || wait_http "the Mercado Pago sandbox" sandbox "http://127.0.0.1:$SANDBOX_PORT/healthz"
  for service in "${SERVICES[@]}"; do
    [ -f "$(service_dir "$service")/manage.py" ] || continue
    local port_var url
    port_var="$(echo "${service}_PORT" | tr '[:lower:]' '[:upper:]')"
    url="http://127.0.0.1:${!port_var}"
    wait_http "$service" "$service-web" "$url/healthz"
  done

  local mercadopago="Mercado Pago sandbox  http://127.0.0.1:$SANDBOX_PORT/sandbox/"
  [ -n "$sandbox" ] || mercadopago="Mercado Pago       $MERCADOPAGO_BASE_URL (not the sandbox; not started)"
  cat <<EOF

  Oficina is up. Ctrl-C stops everything started here. Logs: $LOG_DIR/

  OS service         $OS_SERVICE_URL/api/v1/      admin: $OS_SERVICE_URL/admin/
                     Swagger: $OS_SERVICE_URL/api/docs/
  Billing service    $BILLING_SERVICE_URL/api/v1/      Swagger: $BILLING_SERVICE_URL/api/docs/
  Execution service  $EXECUTION_SERVICE_URL/api/v1/      Swagger: $EXECUTION_SERVICE_URL/api/docs/
  $mercadopago
  DynamoDB endpoint  ${DYNAMODB_ENDPOINT_URL:-AWS ($AWS_REGION)}   Redis: $CELERY_BROKER_URL
  PostgreSQL         $DATABASE_URL

  Staff login        $ADMIN_USERNAME / $ADMIN_PASSWORD
  Try it             ./manage_all.sh demo

EOF
  wait -n "${PIDS[@]}" || true
  # Ctrl-C lands here too, after stop_all has run: only a process that died on its own is news.
  [ -n "$STOPPING" ] || say "a process stopped on its own; see $LOG_DIR (stopping the rest)"
}

cmd_chaos() {  # the fault run (bench/chaos.py): its own system on free ports, like the tests
  install_all
  ensure_postgres
  ensure_redis
  "$PY" "$ROOT/bench/chaos.py" "$@"
}

cmd_demo() {
  dev_environment
  [ -x "$PY" ] || die "run ./manage_all.sh up first"
  # The demo pays by approving the payment in the sandbox, as the customer's bank would.
  uses_local_sandbox || die "the demo pays through the Mercado Pago sandbox; MERCADOPAGO_BASE_URL is $MERCADOPAGO_BASE_URL"
  "$PY" "$ROOT/tests/demo.py" "$@"
}

main() {
  local verb="${1:-help}"
  [ $# -gt 0 ] && shift
  case "$verb" in
    up) cmd_up "$@" ;;
    test) cmd_test "$@" ;;
    demo) cmd_demo "$@" ;;
    chaos) cmd_chaos "$@" ;;
    install) install_all; say "installed: .venv from uv.lock, node_modules from package-lock.json" ;;
    lock) cmd_lock "$@" ;;
    os|billing|execution) dev_environment; install_python; manage "$verb" "$@" ;;
    all)
      dev_environment
      install_python
      for service in "${SERVICES[@]}"; do
        [ -f "$(service_dir "$service")/manage.py" ] || continue
        say "$service: manage.py $*"; manage "$service" "$@"
      done ;;
    help|-h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$verb' (up, test, demo, chaos, install, lock, os, billing, execution, all)" ;;
  esac
}

# Sourced (the tests call its functions), it only defines them.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
