#!/usr/bin/env bash
# A q2o fleet over separate hosts on this one machine: each host is a Linux
# network namespace with its own address on a private bridge, so every
# process listens on its own host's address and reaches the others over the
# network, as on separate machines. Nothing is shared between hosts but the
# network: each host has its own folder (its own Q2O_OUTPUT_ROOT), and the
# only things q2o processes share are Postgres, Redis and the object store.
#
#   scripts/cluster.sh up      build the hosts and start everything; prints the
#                              state folder (Q2O_CLUSTER_DIR) and its cluster.env
#   scripts/cluster.sh test    `go test ./internal/cluster/`: the Go test builds
#                              a cluster with `up`, proves the fleet with it and
#                              takes it down; a trap removes it whatever happens
#   scripts/cluster.sh down [DIR]
#                              stop every process of the cluster and remove its
#                              namespaces, bridge and folder
#   scripts/cluster.sh status [DIR]
#                              the hosts and the processes in each
#
# Faults, for the tests (DIR is the state folder, or $Q2O_CLUSTER_DIR):
#   scripts/cluster.sh kill-host HOST [DIR]   kill -9 every process on HOST
#   scripts/cluster.sh stop PROC [DIR]        SIGKILL one process (PROC as in status)
#   scripts/cluster.sh start PROC [DIR]       start it again, as it was started
#
# Hosts (10.A.B.0/24, a /24 chosen per invocation; the bridge is .1, which is
# how the machine itself, and the tests, reach every host):
#   infra .10  Postgres :5432, Redis master :6379 and replica :6380,
#              3 Sentinels :26379-26381 (master name q2o, quorum 2, down
#              after 2 s),
#              SeaweedFS (S3 on :8333) when its weed binary is found
#   api1  .21, api2 .22     q2o api on :8080
#   w1 .31, w2 .32, w3 .33  q2o worker (health on :9090), 2 run slots each
#
# Names carry a random id per invocation (namespaces q2o-<id>-<host>, bridge
# q2o<id>), so runs side by side (CI, two test processes) never collide; `up`
# first removes what an earlier invocation left behind when its owner
# process (Q2O_CLUSTER_OWNER, else the caller) is gone.
#
# Settings (environment):
#   Q2O_BIN             the q2o binary (default: built into the state folder)
#   Q2O_CLUSTER_DIR     the state folder (default: a new one under $TMPDIR)
#   Q2O_CLUSTER_RUNNER  Q2O_RUNNER of the workers (default: examples/main.py)
#   Q2O_CLUSTER_OWNER   pid whose end makes this cluster stale (default: $PPID)
#   Q2O_CLUSTER_S3      off: no object store even when weed is found
#   Q2O_CLUSTER_ARTIFACTS  Q2O_ARTIFACTS of api and workers: s3 (the default
#                       with the object store) or local (each host keeps its
#                       own zips: runs complete, downloads cannot reach them)
#   Q2O_CLUSTER_WORKER_ENV, Q2O_CLUSTER_API_ENV
#                       more NAME=value words for the workers' / APIs' environment
# Needs root, iproute2 (`ip netns`), Debian's postgresql and redis-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REGISTRY=/run/q2o-cluster
HOSTS=(infra api1 api2 w1 w2 w3)
declare -A OCTET=([infra]=10 [api1]=21 [api2]=22 [w1]=31 [w2]=32 [w3]=33)
ADMIN_TOKEN=cluster-admin-token-0123456789
# billingtest.WebhookSecret: the tests sign Stripe events with it.
WEBHOOK_SECRET=whsec_test_0123456789abcdef
S3_KEY=q2ocluster
S3_SECRET=q2ocluster-secret-key
S3_BUCKET=q2o-artifacts

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
	printf 'cluster: error: %s\n' "$*" >&2
	exit 1
}

tcp_open() { # ns host port
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
	ip netns exec "$1" timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>/dev/null
}

wait_tcp() { # ns host port what [seconds]
	local i
	for ((i = 0; i < ${5:-30} * 10; i++)); do
		tcp_open "$1" "$2" "$3" && return 0
		sleep 0.1
	done
	die "$4 did not answer on $2:$3 (logs in $DIR/logs)"
}

wait_http() { # url what seconds [min-status-ok]: any answer below 500
	local i code
	for ((i = 0; i < $3 * 5; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
		if [[ $code =~ ^[1-4][0-9][0-9]$ ]]; then
			return 0
		fi
		sleep 0.2
	done
	die "$2 did not answer at $1 (logs in $DIR/logs)"
}

need_root() {
	[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
	command -v ip >/dev/null || die "needs iproute2 (ip): apt-get install iproute2"
	ip netns list >/dev/null 2>&1 || die "ip netns does not work here"
}

# load DIR: the state of an existing cluster.
load() {
	DIR="${1:-${Q2O_CLUSTER_DIR:-}}"
	[[ -n $DIR && -f $DIR/cluster.env ]] || die "no cluster state (give its folder, or set Q2O_CLUSTER_DIR)"
	# shellcheck source=/dev/null
	source "$DIR/cluster.env"
}

ns() { echo "q2o-$CLUSTER_ID-$1"; }

# --- processes --------------------------------------------------------------

# launch HOST PROC CMD...: runs CMD on HOST in the background, with its own
# hostname (the host's name: worker ids say where they run), its output in
# logs/PROC.log and its pid in procs/PROC.pid. The command is kept in
# procs/PROC.sh, so `start PROC` can start it again as it was.
launch() {
	local host=$1 proc=$2
	shift 2
	{
		printf '#!/usr/bin/env bash\n# on host %s\n' "$host"
		printf 'hostname %q\n' "$host"
		printf 'echo $$ >%q\n' "$DIR/procs/$proc.pid"
		printf 'exec'
		printf ' %q' "$@"
		printf '\n'
	} >"$DIR/procs/$proc.sh"
	printf '%s\n' "$host" >"$DIR/procs/$proc.host"
	start_proc "$proc"
}

start_proc() {
	local proc=$1 host
	[[ -f $DIR/procs/$proc.sh ]] || die "no process $proc"
	host=$(cat "$DIR/procs/$proc.host")
	rm -f "$DIR/procs/$proc.pid"
	ip netns exec "$(ns "$host")" unshare --uts bash "$DIR/procs/$proc.sh" \
		>>"$DIR/logs/$proc.log" 2>&1 </dev/null &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $DIR/procs/$proc.pid ]] && return 0
		sleep 0.05
	done
	die "$proc did not start"
}

stop_proc() {
	local pid
	pid=$(cat "$DIR/procs/$1.pid" 2>/dev/null) || die "no pid of $1"
	kill -9 "$pid" 2>/dev/null || true
	# Gone, or a zombie (dead; its parent, init, has not reaped it yet).
	local i state
	for ((i = 0; i < 200; i++)); do
		state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || return 0
		state=${state%% *}
		[[ $state == Z ]] && return 0
		sleep 0.05
	done
	die "$1 (pid $pid) did not die"
}

kill_host() {
	local n pids
	n=$(ns "$1")
	for _ in 1 2 3 4 5; do
		pids=$(ip netns pids "$n" 2>/dev/null || true)
		[[ -z $pids ]] && return 0
		# shellcheck disable=SC2086 # a list of pids
		kill -9 $pids 2>/dev/null || true
		sleep 0.1
	done
}

# q2o_env HOST: the environment of a q2o process on HOST, as NAME=value words.
q2o_env() {
	local host=$1
	printf '%s\n' PATH="$PATH" HOME="$DIR/hosts/$host" LANG=C.UTF-8 \
		Q2O_DATABASE_URL="$DATABASE_URL" \
		Q2O_REDIS_URL="redis://$IP_INFRA:6379/0" \
		Q2O_REDIS_SENTINELS="$REDIS_SENTINELS" Q2O_REDIS_MASTER_NAME=q2o \
		Q2O_OUTPUT_ROOT="$DIR/hosts/$host/output" \
		Q2O_ADMIN_TOKEN="$ADMIN_TOKEN" Q2O_LOG_FORMAT=text Q2O_LOG_LEVEL=info \
		Q2O_SMTP_HOST= Q2O_METRICS_ADDR= \
		Q2O_STRIPE_WEBHOOK_SECRET="$WEBHOOK_SECRET" Q2O_STRIPE_SECRET_KEY= \
		Q2O_STRIPE_REFETCH=false Q2O_PAST_DUE_GRACE=0s \
		Q2O_RUN_WATCH_INTERVAL=200ms Q2O_RUN_KILL_GRACE=1s Q2O_WORKER_POLL_INTERVAL=50ms \
		Q2O_OUTBOX_INTERVAL=200ms Q2O_SHUTDOWN_TIMEOUT=2s
	printf '%s\n' Q2O_ARTIFACTS="$ARTIFACTS"
	if [[ $ARTIFACTS == s3 ]]; then
		printf '%s\n' Q2O_S3_ENDPOINT="$S3_ENDPOINT" Q2O_S3_BUCKET="$S3_BUCKET" \
			Q2O_S3_REGION=us-east-1 Q2O_S3_ACCESS_KEY_ID="$S3_KEY" \
			Q2O_S3_SECRET_ACCESS_KEY="$S3_SECRET" Q2O_S3_PATH_STYLE=true Q2O_S3_UPLOAD_RETRY=1m
	fi
}

# --- up ---------------------------------------------------------------------

sweep_stale() {
	local f owner dir
	mkdir -p "$REGISTRY"
	for f in "$REGISTRY"/*; do
		[[ -f $f ]] || continue
		read -r owner dir <"$f" || continue
		if ! kill -0 "$owner" 2>/dev/null; then
			log "removing the cluster $(basename "$f") left by process $owner"
			(down "$dir" "$(basename "$f")") || true
		fi
	done
}

pick_subnet() {
	local a b
	for _ in $(seq 50); do
		a=$((200 + RANDOM % 50)) b=$((RANDOM % 250))
		if ! ip -4 route show to match "10.$a.$b.1" | grep -vq '^default'; then
			echo "10.$a.$b"
			return
		fi
	done
	die "no free 10.x.y.0/24 for the bridge"
}

network() {
	local br="q2o$CLUSTER_ID" host n veth
	ip link add "$br" type bridge
	ip addr add "$SUBNET.1/24" dev "$br"
	ip link set "$br" up
	for host in "${HOSTS[@]}"; do
		n=$(ns "$host")
		veth="q$CLUSTER_ID-$host"
		ip netns add "$n"
		ip link add "$veth" type veth peer name eth0 netns "$n"
		ip link set "$veth" master "$br" up
		ip -n "$n" addr add "$SUBNET.${OCTET[$host]}/24" dev eth0
		ip -n "$n" link set lo up
		ip -n "$n" link set eth0 up
		ip -n "$n" route add default via "$SUBNET.1"
	done
}

start_postgres() {
	local pgbin data
	pgbin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
	[[ -n $pgbin ]] || die "no /usr/lib/postgresql/*/bin: apt-get install postgresql"
	data="$DIR/hosts/infra/pg"
	mkdir -p "$data"
	chown postgres: "$data"
	runuser -u postgres -- "$pgbin/initdb" -D "$data" -A trust -U postgres --no-sync -E UTF8 >"$DIR/logs/initdb.log" 2>&1 ||
		die "initdb failed: $DIR/logs/initdb.log"
	# Trust the cluster's own network (a test setup, like the shared one).
	printf 'host all all %s.0/24 trust\n' "$SUBNET" >>"$data/pg_hba.conf"
	launch infra postgres setpriv --reuid=postgres --regid=postgres --init-groups -- "$pgbin/postgres" -D "$data" -k "$data" \
		-c listen_addresses="$IP_INFRA" -c fsync=off -c max_connections=300
	wait_tcp "$(ns infra)" "$IP_INFRA" 5432 postgres
}

start_redis() {
	local d="$DIR/hosts/infra/redis" i port
	mkdir -p "$d"
	launch infra redis-master redis-server --bind "$IP_INFRA" --port 6379 --save '' --appendonly no --protected-mode no --dir "$d"
	wait_tcp "$(ns infra)" "$IP_INFRA" 6379 "redis master"
	launch infra redis-replica redis-server --bind "$IP_INFRA" --port 6380 --save '' --appendonly no --protected-mode no --dir "$d" \
		--replicaof "$IP_INFRA" 6379
	wait_tcp "$(ns infra)" "$IP_INFRA" 6380 "redis replica"
	for i in 0 1 2; do
		port=$((26379 + i))
		printf 'port %d\nbind %s\nprotected-mode no\ndir %s\nsentinel monitor q2o %s 6379 2\nsentinel down-after-milliseconds q2o 2000\nsentinel failover-timeout q2o 5000\nsentinel parallel-syncs q2o 1\n' \
			"$port" "$IP_INFRA" "$d" "$IP_INFRA" >"$d/sentinel$i.conf"
		launch infra "sentinel$i" redis-server "$d/sentinel$i.conf" --sentinel
	done
	for i in 0 1 2; do wait_tcp "$(ns infra)" "$IP_INFRA" $((26379 + i)) "sentinel$i"; done
}

weed_bin() {
	command -v weed 2>/dev/null && return
	local p
	p="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin/weed"
	[[ -x $p ]] && echo "$p"
}

start_seaweed() {
	local weed=$1 d="$DIR/hosts/infra/seaweed"
	mkdir -p "$d/data"
	printf '{"identities":[{"name":"q2o","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
		"$S3_KEY" "$S3_SECRET" >"$d/s3.json"
	launch infra weed-server "$weed" server -dir "$d/data" -ip "$IP_INFRA" -ip.bind "$IP_INFRA" \
		-master.port 9333 -volume.port 8081 -filer -filer.port 8888 \
		-master.volumeSizeLimitMB 128 -volume.max 100
	# The master hands out file ids only once a volume server has joined.
	local i
	for ((i = 0; i < 300; i++)); do
		curl -s --max-time 2 "http://$IP_INFRA:9333/dir/assign" 2>/dev/null | grep -q '"fid"' && break
		sleep 0.2
	done
	((i < 300)) || die "SeaweedFS's master assigned no file id (logs in $DIR/logs)"
	launch infra weed-s3 "$weed" s3 -filer "$IP_INFRA:8888" -ip.bind "$IP_INFRA" -port 8333 \
		-port.iceberg 0 -port.lance 0 -config "$d/s3.json"
	wait_http "$S3_ENDPOINT/" "the S3 gateway" 60
}

start_q2o() {
	local host words extra
	for host in "${HOSTS[@]}"; do mkdir -p "$DIR/hosts/$host/output"; done
	mapfile -t words < <(q2o_env api1)
	ip netns exec "$(ns api1)" env -i "${words[@]}" "$BIN" migrate --create-database >"$DIR/logs/migrate.log" 2>&1 ||
		die "q2o migrate failed: $DIR/logs/migrate.log"
	for host in api1 api2; do
		mapfile -t words < <(q2o_env "$host")
		read -ra extra <<<"${Q2O_CLUSTER_API_ENV:-}"
		launch "$host" "q2o-$host" env -i "${words[@]}" Q2O_HTTP_ADDR="$SUBNET.${OCTET[$host]}:8080" \
			"${extra[@]}" "$BIN" api
	done
	for host in w1 w2 w3; do
		mapfile -t words < <(q2o_env "$host")
		read -ra extra <<<"${Q2O_CLUSTER_WORKER_ENV:-}"
		launch "$host" "q2o-$host" env -i "${words[@]}" \
			Q2O_WORKER_HEALTH_ADDR="$SUBNET.${OCTET[$host]}:9090" Q2O_SANDBOX=off Q2O_WORKER_CONCURRENCY=2 \
			Q2O_RUNNER="${Q2O_CLUSTER_RUNNER:-python3 $ROOT/examples/main.py}" \
			Q2O_RUNNER_PASS_ENV=CLUSTER_HOST,CLUSTER_HOST_DIR \
			CLUSTER_HOST="$host" CLUSTER_HOST_DIR="$DIR/hosts/$host" \
			"${extra[@]}" "$BIN" worker
	done
	for host in api1 api2; do wait_http "http://$SUBNET.${OCTET[$host]}:8080/healthz" "q2o api on $host" 60; done
	for host in w1 w2 w3; do wait_http "http://$SUBNET.${OCTET[$host]}:9090/healthz" "q2o worker on $host" 60; done
}

up() {
	need_root
	sweep_stale
	CLUSTER_ID=$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	DIR="${Q2O_CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/q2o-cluster-$CLUSTER_ID.XXXX")}"
	mkdir -p "$DIR/procs" "$DIR/logs" "$DIR/hosts"
	chmod 755 "$DIR" "$DIR/hosts"
	printf '%s %s\n' "${Q2O_CLUSTER_OWNER:-$PPID}" "$DIR" >"$REGISTRY/$CLUSTER_ID"
	# Whatever fails from here on, nothing is left behind.
	trap 'log "up failed; tearing down"; show_logs; down "$DIR" "$CLUSTER_ID" || true' EXIT
	SUBNET=$(pick_subnet)
	IP_INFRA="$SUBNET.10"
	DATABASE_URL="postgres://postgres@$IP_INFRA:5432/q2o?sslmode=disable"
	REDIS_SENTINELS="$IP_INFRA:26379,$IP_INFRA:26380,$IP_INFRA:26381"
	S3_ENDPOINT=""
	BIN="${Q2O_BIN:-}"
	if [[ -z $BIN ]]; then
		BIN="$DIR/q2o"
		log "building $BIN"
		(cd "$ROOT" && go build -o "$BIN" ./cmd/q2o)
	fi
	local weed=""
	[[ ${Q2O_CLUSTER_S3:-} == off ]] || weed=$(weed_bin || true)
	[[ -n $weed ]] && S3_ENDPOINT="http://$IP_INFRA:8333"
	ARTIFACTS=${Q2O_CLUSTER_ARTIFACTS:-$([[ -n $S3_ENDPOINT ]] && echo s3 || echo local)}
	[[ $ARTIFACTS == local || -n $S3_ENDPOINT ]] || die "Q2O_CLUSTER_ARTIFACTS=s3 needs the object store (weed)"
	write_env
	log "hosts on $SUBNET.0/24 (namespaces q2o-$CLUSTER_ID-*), state in $DIR"
	network
	start_postgres
	start_redis
	if [[ -n $weed ]]; then
		start_seaweed "$weed"
	else
		log "no weed binary (scripts/services.sh builds it): no object store in this cluster"
	fi
	start_q2o
	trap - EXIT
	log "up: Q2O_CLUSTER_DIR=$DIR ($DIR/cluster.env); stop it with: $0 down $DIR"
	log "API hosts http://$SUBNET.21:8080 and http://$SUBNET.22:8080 (artifacts: $ARTIFACTS); try:"
	log "  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' http://$SUBNET.21:8080/api/admin/tenants"
	log "  $0 status $DIR"
	echo "$DIR"
}

write_env() {
	{
		printf '# scripts/cluster.sh up, %s\n' "$(date -u +%FT%TZ)"
		# NAME='value' lines: sourced by this script, read by internal/cluster.
		printf "%s='%s'\n" CLUSTER_ID "$CLUSTER_ID" CLUSTER_DIR "$DIR" SUBNET "$SUBNET" BIN "$BIN" \
			IP_INFRA "$IP_INFRA" DATABASE_URL "$DATABASE_URL" \
			REDIS_MASTER "$IP_INFRA:6379" REDIS_REPLICA "$IP_INFRA:6380" REDIS_SENTINELS "$REDIS_SENTINELS" \
			ARTIFACTS "$ARTIFACTS" S3_ENDPOINT "$S3_ENDPOINT" S3_BUCKET "$S3_BUCKET" S3_ACCESS_KEY_ID "$S3_KEY" S3_SECRET_ACCESS_KEY "$S3_SECRET" \
			API1_URL "http://$SUBNET.21:8080" API2_URL "http://$SUBNET.22:8080" \
			ADMIN_TOKEN "$ADMIN_TOKEN" WEBHOOK_SECRET "$WEBHOOK_SECRET" CLUSTER_HOSTS "${HOSTS[*]}"
		for host in "${HOSTS[@]}"; do
			printf "IP_%s='%s'\n" "${host^^}" "$SUBNET.${OCTET[$host]}"
		done
	} >"$DIR/cluster.env"
}

# show_logs: the end of every log, when up fails (the folder goes with down).
show_logs() {
	local f
	for f in "$DIR"/logs/*.log; do
		[[ -s $f ]] || continue
		printf -- '--- %s ---\n' "$(basename "$f")" >&2
		tail -n 8 "$f" >&2
	done
}

# --- down -------------------------------------------------------------------

# down DIR [ID]: works from the registry's id alone when DIR has no state.
down() {
	local dir=${1:-${Q2O_CLUSTER_DIR:-}} id=${2:-} host
	if [[ -f $dir/cluster.env ]]; then
		# shellcheck source=/dev/null
		source "$dir/cluster.env"
		id=$CLUSTER_ID
	fi
	[[ -n $id ]] || die "down: no cluster state in '$dir'"
	CLUSTER_ID=$id
	for host in "${HOSTS[@]}"; do
		ip netns list | grep -qw "$(ns "$host")" || continue
		kill_host "$host"
		ip netns del "$(ns "$host")" 2>/dev/null || true
	done
	ip link del "q2o$id" 2>/dev/null || true
	rm -f "$REGISTRY/$id"
	if [[ -n $dir && -d $dir && $dir != / ]]; then rm -rf "$dir"; fi
	log "down: cluster $id removed"
}

status() {
	local host pids
	for host in "${HOSTS[@]}"; do
		pids=$(ip netns pids "$(ns "$host")" 2>/dev/null | tr '\n' ' ')
		printf '%-6s %-16s %s\n' "$host" "$(eval echo "\$IP_${host^^}")" "pids: ${pids:-none}"
	done
	for f in "$DIR"/procs/*.pid; do
		printf '  %-14s pid %s\n' "$(basename "$f" .pid)" "$(cat "$f")"
	done
}

cmd=${1:-}
shift || true
case $cmd in
up) up ;;
down) need_root && down "${1:-}" ;;
status) load "${1:-}" && status ;;
kill-host)
	[[ -n ${1:-} ]] || die "kill-host HOST"
	load "${2:-}" && kill_host "$1"
	;;
stop)
	[[ -n ${1:-} ]] || die "stop PROC"
	load "${2:-}" && stop_proc "$1"
	;;
start)
	[[ -n ${1:-} ]] || die "start PROC"
	load "${2:-}" && start_proc "$1"
	;;
test)
	# The Go test builds its own cluster with this script (one q2o binary,
	# its own main.py) and tears it down; the trap removes it even when the
	# test process is killed.
	need_root
	trap sweep_stale EXIT
	(cd "$ROOT" && go test -race -count=1 -v -run '^TestCluster' "$@" ./internal/cluster/)
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	[[ -z $cmd ]] || exit 2
	;;
esac
