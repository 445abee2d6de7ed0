#!/usr/bin/env bash
# Make sure Postgres and Redis answer where q2o and its tests expect them.
#
#   scripts/services.sh         ensure both answer (start what is missing)
#   scripts/services.sh stop    stop the private instances this script started
#
# Where: Q2O_PG_HOST:Q2O_PG_PORT (127.0.0.1:5432) and
#        Q2O_REDIS_HOST:Q2O_REDIS_PORT (127.0.0.1:6379).
#
# For each one that does not answer, in this order:
#   1. a Docker engine answers  -> `docker compose up -d <service>` (docker-compose.yml);
#   2. otherwise (Debian/Ubuntu) -> install `postgresql` / `redis-server` with apt-get
#      if their programs are missing, and start a private instance under .run/
#      (data in .run/pg and .run/redis, logs in .run/pg.log and .run/redis.log).
# Running it again is harmless: what already answers is left alone.
#
# It also makes sure the tests' SMTP server, mailpit, answers on
# Q2O_TEST_SMTP_ADDR (127.0.0.1:1025; its API on Q2O_TEST_MAILPIT_URL,
# http://127.0.0.1:8025): when nothing answers there it installs mailpit with
# `go install` (into $(go env GOPATH)/bin) if needed and starts it in the
# background (log in .run/mailpit.log). Likewise stripe-mock, the Stripe API
# the billing tests call, on Q2O_TEST_STRIPE_MOCK_ADDR (127.0.0.1:12111; log in
# .run/stripe-mock.log). Last, it installs Debian's chromium when no browser
# is found (Q2O_CHROMIUM names another): the portal's tests drive it headless;
# Debian's prometheus package when promtool is missing (a test checks
# deploy/prometheus/alerts.yml with it); and, as root, it installs iproute2 and curl
# when missing (scripts/cluster.sh builds the cluster test's hosts with them) and
# creates the runner user q2o-run (Q2O_RUNNER_USER) that main.py runs as in the
# worker's sandbox.
#
# The S3 storage tests (artifacts/store) start their own SeaweedFS; this
# script only makes sure its `weed` binary is there: when neither PATH nor
# $(go env GOPATH)/bin has one it builds SeaweedFS $SEAWEED_VERSION from its
# Go module into $(go env GOPATH)/bin/weed (about 15 minutes once, cached
# afterwards; log in .run/weed-build.log). `go install` refuses that module
# (replace directives), so it is built from a copy of the downloaded module.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"

PG_HOST="${Q2O_PG_HOST:-127.0.0.1}"
PG_PORT="${Q2O_PG_PORT:-5432}"
REDIS_HOST="${Q2O_REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${Q2O_REDIS_PORT:-6379}"
WAIT_SECONDS="${Q2O_SERVICES_WAIT:-30}"

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

# --- probes (no client tools needed) -----------------------------------------

tcp_open() { # host port
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

pg_up() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1
	else
		tcp_open "$PG_HOST" "$PG_PORT"
	fi
}

redis_up() { # a PING answered with +PONG, spoken over /dev/tcp
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
	timeout 2 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "PING\r\n" >&3
		IFS= read -r reply <&3 || exit 1
		[[ $reply == +PONG* ]]
	' _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
}

wait_until() { # name probe
	local name=$1 probe=$2 deadline=$((SECONDS + WAIT_SECONDS))
	until "$probe"; do
		if ((SECONDS >= deadline)); then
			return 1
		fi
		sleep 0.5
	done
	log "$name answers"
}

listen_ip() { # what a private server binds to for the wanted host
	if [[ $1 == localhost ]]; then echo 127.0.0.1; else echo "$1"; fi
}

is_local() {
	case "$1" in
	127.* | localhost | ::1 | 0.0.0.0) return 0 ;;
	*) return 1 ;;
	esac
}

# --- helpers ------------------------------------------------------------------

as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

apt_install() { # packages...
	command -v apt-get >/dev/null 2>&1 ||
		die "$* not installed and apt-get not found: install them, or start Postgres/Redis yourself"
	log "installing $* with apt-get"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$RUN_DIR/apt.log" 2>&1; then
		log "install failed; running apt-get update first"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$RUN_DIR/apt.log" 2>&1 || true
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$RUN_DIR/apt.log" 2>&1 ||
			die "apt-get install $* failed; see $RUN_DIR/apt.log"
	fi
}

compose() {
	if docker compose version >/dev/null 2>&1; then
		docker compose -f "$ROOT/docker-compose.yml" "$@"
	elif command -v docker-compose >/dev/null 2>&1; then
		docker-compose -f "$ROOT/docker-compose.yml" "$@"
	else
		return 1
	fi
}

docker_works() {
	command -v docker >/dev/null 2>&1 &&
		timeout 10 docker info >/dev/null 2>&1 &&
		{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }
}

# --- Postgres, private instance -----------------------------------------------

pg_bindir() { # newest /usr/lib/postgresql/<ver>/bin with initdb and pg_ctl
	local dir
	dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
	if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
		printf '%s\n' "$dir"
	elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# as_pg runs a command as the OS user that owns the private cluster: initdb and
# postgres refuse to run as root, so root hands them to the `postgres` user.
as_pg() {
	if ((EUID != 0)); then
		"$@"
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")")
	fi
}

pg_trusts() { # the tests connect as postgres, without a password
	command -v psql >/dev/null 2>&1 || return 0
	PGCONNECT_TIMEOUT=3 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -w -Atqc 'select 1' >/dev/null 2>&1
}

# stop_package_cluster stops the cluster that installing the postgresql package
# just created on the wanted port (it asks for passwords over TCP) and keeps it
# from starting at boot, so the private, trusting one can take the port.
stop_package_cluster() {
	command -v pg_lsclusters >/dev/null 2>&1 || die "Postgres on port $PG_PORT wants a password; set it free or set Q2O_PG_PORT"
	local ver name port _
	while read -r ver name port _; do
		[[ $port == "$PG_PORT" ]] || continue
		log "stopping the package's cluster $ver/$name on port $port (it wants passwords) and setting it to start manually"
		as_root pg_ctlcluster "$ver" "$name" stop || true
		if [[ -f /etc/postgresql/$ver/$name/start.conf ]]; then
			echo manual | as_root tee "/etc/postgresql/$ver/$name/start.conf" >/dev/null
		fi
	done < <(pg_lsclusters -h 2>/dev/null)
}

# pg_base is where the private cluster lives: .run/ when the postgres user can
# reach it, else a folder in /tmp (a repo under /root is not searchable by it).
pg_base() {
	if ((EUID != 0)) || runuser -u postgres -- test -x "$RUN_DIR" 2>/dev/null; then
		printf '%s\n' "$RUN_DIR"
	else
		printf '%s/q2o-%s\n' "${TMPDIR:-/tmp}" "$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
	fi
}

start_private_pg() {
	is_local "$PG_HOST" || die "Postgres at $PG_HOST:$PG_PORT does not answer, and it is not this machine"
	local bin base data pglog
	bin="$(pg_bindir)"
	if [[ -z $bin ]]; then
		apt_install postgresql
		# The package may start its own cluster on the wanted port. Keep it
		# if it lets postgres in without a password, as the tests expect.
		if wait_until_quick pg_up; then
			if pg_trusts; then
				log "Postgres from the package answers on $PG_HOST:$PG_PORT"
				return
			fi
			stop_package_cluster
		fi
		bin="$(pg_bindir)"
		[[ -n $bin ]] || die "installed postgresql but found no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
	fi
	if ((EUID == 0)) && ! id postgres >/dev/null 2>&1; then
		log "creating the postgres OS user"
		useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi

	base="$(pg_base)"
	if [[ $base != "$RUN_DIR" ]]; then
		log "the postgres user cannot reach $RUN_DIR (a parent folder is private), so the cluster goes in $base"
	fi
	data="$base/pg"
	pglog="$base/pg.log"
	mkdir -p "$base"
	chmod 755 "$base"
	touch "$pglog"
	if ((EUID == 0)); then chown postgres: "$pglog"; fi

	if [[ ! -s $data/PG_VERSION ]]; then
		log "initialising a private cluster in $data"
		mkdir -p "$data"
		if ((EUID == 0)); then chown postgres: "$data"; fi
		chmod 700 "$data"
		as_pg "$bin/initdb" -D "$data" --auth=trust -U postgres --encoding=UTF8 --locale=C >>"$pglog" 2>&1 ||
			die "initdb failed; see $pglog"
		# A throwaway development cluster: durability traded for speed.
		as_pg tee -a "$data/postgresql.conf" >/dev/null <<-EOF

			# added by scripts/services.sh
			listen_addresses = '$(listen_ip "$PG_HOST")'
			unix_socket_directories = ''
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 200
		EOF
	fi

	if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		die "the private Postgres in $data runs but not on port $PG_PORT; run 'scripts/services.sh stop' first"
	fi
	log "starting a private Postgres on $PG_HOST:$PG_PORT (log: $pglog)"
	as_pg "$bin/pg_ctl" -D "$data" -l "$pglog" -o "-p $PG_PORT" -w -t "$WAIT_SECONDS" start >/dev/null ||
		die "Postgres did not start; see $pglog"
}

# --- Redis, private instance ----------------------------------------------------

start_private_redis() {
	is_local "$REDIS_HOST" || die "Redis at $REDIS_HOST:$REDIS_PORT does not answer, and it is not this machine"
	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server
		if wait_until_quick redis_up; then
			log "Redis from the package answers on $REDIS_HOST:$REDIS_PORT"
			return
		fi
		command -v redis-server >/dev/null 2>&1 || die "installed redis-server but it is not on PATH"
	fi
	mkdir -p "$RUN_DIR/redis"
	log "starting a private Redis on $REDIS_HOST:$REDIS_PORT (log: $RUN_DIR/redis.log)"
	# Nothing kept on disk: the queue is rebuilt from Postgres (the outbox).
	redis-server --daemonize yes --bind "$(listen_ip "$REDIS_HOST")" --port "$REDIS_PORT" \
		--dir "$RUN_DIR/redis" --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" \
		--save "" --appendonly no ||
		die "redis-server did not start; see $RUN_DIR/redis.log"
}

wait_until_quick() { # probe: a few seconds, for a service a package may have started
	local probe=$1 i
	for i in 1 2 3 4 5 6; do
		"$probe" && return 0
		[[ $i == 6 ]] || sleep 0.5
	done
	return 1
}

# --- weed (SeaweedFS), the S3 server of the storage tests -------------------------

SEAWEED_VERSION="${Q2O_SEAWEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"

ensure_weed() {
	if command -v weed >/dev/null 2>&1; then
		log "weed (SeaweedFS) found at $(command -v weed)"
		return 0
	fi
	command -v go >/dev/null 2>&1 || die "weed is not installed and Go is not on PATH to build it"
	local bin dir src
	bin="$(go env GOPATH)/bin/weed"
	if [[ -x $bin ]]; then
		log "weed (SeaweedFS) found at $bin"
		return 0
	fi
	mkdir -p "$RUN_DIR" "$(dirname "$bin")"
	log "building weed (SeaweedFS $SEAWEED_VERSION) into $bin, ~15 min (log: $RUN_DIR/weed-build.log)"
	dir="$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEED_VERSION" 2>>"$RUN_DIR/weed-build.log" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -n $dir && -d $dir ]] || die "go mod download of seaweedfs failed; see $RUN_DIR/weed-build.log"
	src="$(mktemp -d)"
	cp -r "$dir/." "$src" && chmod -R u+w "$src"
	(cd "$src" && go build -o "$bin.tmp" ./weed) >>"$RUN_DIR/weed-build.log" 2>&1 ||
		{ rm -rf "$src"; die "building weed failed; see $RUN_DIR/weed-build.log"; }
	mv "$bin.tmp" "$bin"
	rm -rf "$src"
	log "weed built: $bin"
}

# --- mailpit, the tests' SMTP server ---------------------------------------------

MAILPIT_VERSION=v1.33.1
SMTP_ADDR="${Q2O_TEST_SMTP_ADDR:-127.0.0.1:1025}"
MAILPIT_URL="${Q2O_TEST_MAILPIT_URL:-http://127.0.0.1:8025}"

mailpit_up() { tcp_open "${SMTP_ADDR%:*}" "${SMTP_ADDR##*:}"; }

mailpit_bin() {
	if command -v mailpit >/dev/null 2>&1; then
		command -v mailpit
	elif command -v go >/dev/null 2>&1 && [[ -x "$(go env GOPATH)/bin/mailpit" ]]; then
		printf '%s/bin/mailpit\n' "$(go env GOPATH)"
	fi
}

ensure_mailpit() {
	if mailpit_up; then
		log "mailpit (SMTP $SMTP_ADDR) already answers"
		return
	fi
	is_local "${SMTP_ADDR%:*}" || die "no SMTP server answers on $SMTP_ADDR, and it is not this machine"
	local bin http_addr
	http_addr="${MAILPIT_URL#*://}"
	http_addr="${http_addr%%/*}"
	mkdir -p "$RUN_DIR"
	bin="$(mailpit_bin)"
	if [[ -z $bin ]]; then
		command -v go >/dev/null 2>&1 || die "mailpit is not installed and Go is not on PATH to install it"
		log "installing mailpit $MAILPIT_VERSION with go install"
		go install "github.com/axllent/mailpit@$MAILPIT_VERSION" >"$RUN_DIR/mailpit-install.log" 2>&1 ||
			die "go install mailpit failed; see $RUN_DIR/mailpit-install.log"
		bin="$(go env GOPATH)/bin/mailpit"
	fi
	log "starting mailpit: SMTP on $SMTP_ADDR, API on $http_addr (log: $RUN_DIR/mailpit.log)"
	nohup "$bin" --smtp "$SMTP_ADDR" --listen "$http_addr" --disable-version-check --max 5000 \
		--database "$RUN_DIR/mailpit.db" >"$RUN_DIR/mailpit.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/mailpit.pid"
	wait_until "mailpit (SMTP $SMTP_ADDR)" mailpit_up ||
		die "mailpit did not answer on $SMTP_ADDR within ${WAIT_SECONDS}s; see $RUN_DIR/mailpit.log"
}

stop_mailpit() {
	local pid
	[[ -f $RUN_DIR/mailpit.pid ]] || return 0
	pid="$(<"$RUN_DIR/mailpit.pid")"
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		log "stopping mailpit (pid $pid)"
		kill -TERM "$pid"
	fi
	rm -f "$RUN_DIR/mailpit.pid"
}

# --- stripe-mock, the tests' Stripe API ------------------------------------------

STRIPE_MOCK_VERSION=v0.203.0
STRIPE_MOCK_ADDR="${Q2O_TEST_STRIPE_MOCK_ADDR:-127.0.0.1:12111}"

stripe_mock_up() { tcp_open "${STRIPE_MOCK_ADDR%:*}" "${STRIPE_MOCK_ADDR##*:}"; }

ensure_stripe_mock() {
	if stripe_mock_up; then
		log "stripe-mock ($STRIPE_MOCK_ADDR) already answers"
		return
	fi
	is_local "${STRIPE_MOCK_ADDR%:*}" || die "no stripe-mock answers on $STRIPE_MOCK_ADDR, and it is not this machine"
	local bin
	mkdir -p "$RUN_DIR"
	bin="$(command -v stripe-mock || true)"
	if [[ -z $bin ]] && command -v go >/dev/null 2>&1 && [[ -x "$(go env GOPATH)/bin/stripe-mock" ]]; then
		bin="$(go env GOPATH)/bin/stripe-mock"
	fi
	if [[ -z $bin ]]; then
		command -v go >/dev/null 2>&1 || die "stripe-mock is not installed and Go is not on PATH to install it"
		log "installing stripe-mock $STRIPE_MOCK_VERSION with go install"
		go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >"$RUN_DIR/stripe-mock-install.log" 2>&1 ||
			die "go install stripe-mock failed; see $RUN_DIR/stripe-mock-install.log"
		bin="$(go env GOPATH)/bin/stripe-mock"
	fi
	log "starting stripe-mock on $STRIPE_MOCK_ADDR (log: $RUN_DIR/stripe-mock.log)"
	nohup "$bin" -http-addr "$STRIPE_MOCK_ADDR" >"$RUN_DIR/stripe-mock.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/stripe-mock.pid"
	wait_until "stripe-mock ($STRIPE_MOCK_ADDR)" stripe_mock_up ||
		die "stripe-mock did not answer on $STRIPE_MOCK_ADDR within ${WAIT_SECONDS}s; see $RUN_DIR/stripe-mock.log"
}

stop_stripe_mock() {
	local pid
	[[ -f $RUN_DIR/stripe-mock.pid ]] || return 0
	pid="$(<"$RUN_DIR/stripe-mock.pid")"
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		log "stopping stripe-mock (pid $pid)"
		kill -TERM "$pid"
	fi
	rm -f "$RUN_DIR/stripe-mock.pid"
}

# --- Chromium, the browser of the portal tests -----------------------------------

# chromium_bin prints the browser the web tests drive: Q2O_CHROMIUM, else
# Debian's chromium on PATH.
chromium_bin() {
	if [[ -n ${Q2O_CHROMIUM:-} ]]; then
		printf '%s\n' "$Q2O_CHROMIUM"
		return
	fi
	command -v chromium || command -v chromium-browser || true
}

# ensure_chromium installs Debian's chromium when no browser is found. The
# tests start it themselves (headless, one per test package).
ensure_chromium() {
	if [[ -n $(chromium_bin) ]]; then
		log "chromium found: $(chromium_bin)"
		return 0
	fi
	mkdir -p "$RUN_DIR"
	apt_install chromium
	[[ -n $(chromium_bin) ]] || die "chromium is still not on PATH after installing it; see $RUN_DIR/apt.log"
	log "chromium installed: $(chromium_bin)"
}

# --- promtool, the checker of deploy/prometheus/alerts.yml -------------------------

# ensure_promtool installs Debian's prometheus package (which has promtool)
# when promtool is missing: a test runs `promtool check rules` on the alerts.
ensure_promtool() {
	if command -v promtool >/dev/null 2>&1; then
		log "promtool found: $(command -v promtool)"
		return 0
	fi
	mkdir -p "$RUN_DIR"
	apt_install prometheus
	command -v promtool >/dev/null 2>&1 || die "promtool is still not on PATH after installing prometheus; see $RUN_DIR/apt.log"
	log "promtool installed: $(command -v promtool)"
}

# --- iproute2 and curl, for scripts/cluster.sh ------------------------------------

# ensure_cluster_tools installs Debian's iproute2 (`ip netns`, veth pairs) and
# curl when they are missing and this is root: the cluster test
# (internal/cluster, scripts/cluster.sh) builds its hosts with them. Without
# root that test is skipped, so nothing is installed.
ensure_cluster_tools() {
	((EUID == 0)) || return 0
	local missing=()
	command -v ip >/dev/null 2>&1 || missing+=(iproute2)
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	((${#missing[@]} == 0)) && return 0
	mkdir -p "$RUN_DIR"
	apt_install "${missing[@]}"
}

# --- the runner user of main.py's sandbox ---------------------------------------

# ensure_runner_user creates Q2O_RUNNER_USER (q2o-run), the unprivileged
# user the worker runs main.py as, when it is missing and this is root. A
# uid[:gid] names no account and needs none.
ensure_runner_user() {
	local name="${Q2O_RUNNER_USER:-q2o-run}"
	if [[ $name =~ ^[0-9]+(:[0-9]+)?$ ]] || id -u "$name" >/dev/null 2>&1; then
		return 0
	fi
	if ((EUID != 0)); then
		log "runner user $name is missing and this is not root: the sandbox needs both (or Q2O_SANDBOX=off)"
		return 0
	fi
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$name" ||
		die "could not create the runner user $name"
	log "created the runner user $name (main.py runs as it, in the worker's sandbox)"
}

# --- commands -------------------------------------------------------------------

ensure() {
	local need_pg=0 need_redis=0
	pg_up || need_pg=1
	redis_up || need_redis=1
	if ((need_pg == 0 && need_redis == 0)); then
		log "Postgres ($PG_HOST:$PG_PORT) and Redis ($REDIS_HOST:$REDIS_PORT) already answer"
		return
	fi
	if ((need_pg)); then log "Postgres does not answer on $PG_HOST:$PG_PORT"; fi
	if ((need_redis)); then log "Redis does not answer on $REDIS_HOST:$REDIS_PORT"; fi

	# Something on the port that is not (yet) ready: give it the wait, never a second server.
	if ((need_pg)) && tcp_open "$PG_HOST" "$PG_PORT"; then
		log "something listens on $PG_HOST:$PG_PORT; waiting for it to accept connections"
		wait_until "Postgres" pg_up || die "$PG_HOST:$PG_PORT is taken by something that is not a ready Postgres"
		need_pg=0
	fi
	if ((need_redis)) && tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
		log "something listens on $REDIS_HOST:$REDIS_PORT; waiting for it to answer PING"
		wait_until "Redis" redis_up || die "$REDIS_HOST:$REDIS_PORT is taken by something that does not answer PING with PONG (a password?)"
		need_redis=0
	fi

	local services=()
	if ((need_pg)); then services+=(postgres); fi
	if ((need_redis)); then services+=(redis); fi
	if ((${#services[@]} == 0)); then return 0; fi

	mkdir -p "$RUN_DIR"
	if docker_works; then
		log "a Docker engine answers: docker compose up -d ${services[*]}"
		Q2O_PG_PORT="$PG_PORT" Q2O_REDIS_PORT="$REDIS_PORT" compose up -d "${services[@]}" ||
			die "docker compose up failed"
	else
		if ((need_pg)); then start_private_pg; fi
		if ((need_redis)); then start_private_redis; fi
	fi

	if ((need_pg)); then
		wait_until "Postgres ($PG_HOST:$PG_PORT)" pg_up ||
			die "Postgres did not answer on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s (logs: $(pg_base)/pg.log or 'docker compose logs postgres')"
	fi
	if ((need_redis)); then
		wait_until "Redis ($REDIS_HOST:$REDIS_PORT)" redis_up ||
			die "Redis did not answer on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECONDS}s (logs: $RUN_DIR/redis.log or 'docker compose logs redis')"
	fi
}

stop() {
	local stopped=0 base bin pid
	for base in "$RUN_DIR" "$(pg_base)"; do
		if [[ -f $base/pg/postmaster.pid ]]; then
			bin="$(pg_bindir)"
			[[ -n $bin ]] || die "found $base/pg running but no pg_ctl"
			log "stopping the private Postgres in $base/pg"
			as_pg "$bin/pg_ctl" -D "$base/pg" -m fast -w stop >/dev/null || log "pg_ctl stop failed"
			stopped=1
		fi
	done
	if [[ -f $RUN_DIR/redis.pid ]]; then
		pid="$(<"$RUN_DIR/redis.pid")"
		if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			log "stopping the private Redis (pid $pid)"
			kill -TERM "$pid"
			for _ in $(seq 1 60); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.25
			done
			stopped=1
		fi
		rm -f "$RUN_DIR/redis.pid"
	fi
	if ((stopped == 0)); then log "no private instance is running"; fi
}

case "${1:-up}" in
up | start | ensure)
	ensure
	ensure_mailpit
	ensure_stripe_mock
	ensure_weed
	ensure_chromium
	ensure_promtool
	ensure_cluster_tools
	ensure_runner_user
	;;
stop)
	stop
	stop_mailpit
	stop_stripe_mock
	;;
-h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" ;;
*) die "unknown command '$1' (use: up | stop)" ;;
esac
