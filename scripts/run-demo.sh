#!/usr/bin/env bash
# Start q2o on this machine with a demo tenant, and show how to use it.
#
# Expects Postgres and Redis to answer (scripts/services.sh) and bin/q2o to be
# built (make build); `make run` does all three. Then it:
#   1. creates the database if missing and applies the migrations;
#   2. creates a demo tenant (plan starter, subscription active, 3 activation codes);
#   3. prints its API key, a code and a journey of curl lines that runs as it
#      is: create, assign, run, watch, the client's view and download, a sign-in
#      through mailpit, and a Stripe past_due and back (through stripe-mock);
#      the values are saved in .run/demo.env (Q2O_DEMO_ENV), to `source`;
#   4. runs the API and a worker in one process: `q2o all` (Ctrl-C stops it).
# Every Q2O_* setting already in the environment is kept.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PG_HOST="${Q2O_PG_HOST:-127.0.0.1}"
PG_PORT="${Q2O_PG_PORT:-5432}"
REDIS_HOST="${Q2O_REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${Q2O_REDIS_PORT:-6379}"

export Q2O_DATABASE_URL="${Q2O_DATABASE_URL:-postgres://postgres@${PG_HOST}:${PG_PORT}/q2o?sslmode=disable}"
export Q2O_REDIS_URL="${Q2O_REDIS_URL:-redis://${REDIS_HOST}:${REDIS_PORT}/0}"
export Q2O_HTTP_ADDR="${Q2O_HTTP_ADDR:-:8080}"
export Q2O_ADMIN_TOKEN="${Q2O_ADMIN_TOKEN:-dev-admin-token}"
export Q2O_OUTPUT_ROOT="${Q2O_OUTPUT_ROOT:-$ROOT/data/Tenant_Projects}"
# The sample main.py: the worker passes none of its Q2O_* variables on, so the
# demo knobs Q2O_SAMPLE_SECONDS / Q2O_SAMPLE_FAIL become flags of the command.
if [[ -z ${Q2O_RUNNER:-} ]]; then
	Q2O_RUNNER="python3 '$ROOT/examples/main.py'"
	if [[ ${Q2O_SAMPLE_SECONDS:-} =~ ^[0-9]+([.][0-9]+)?$ ]]; then
		Q2O_RUNNER+=" --seconds $Q2O_SAMPLE_SECONDS"
	fi
	case "${Q2O_SAMPLE_FAIL:-}" in
	"" | 0 | false | no) ;;
	*) Q2O_RUNNER+=" --fail" ;;
	esac
fi
export Q2O_RUNNER
export Q2O_LOG_FORMAT="${Q2O_LOG_FORMAT:-text}"
# main.py runs in the worker's sandbox, as q2o-run (scripts/services.sh made
# it); that needs root. Without root the demo runs it unconfined, and says so.
if [[ -z ${Q2O_SANDBOX:-} ]] && ((EUID != 0)); then
	export Q2O_SANDBOX=off
	echo "run-demo: not root, so main.py runs WITHOUT the sandbox (Q2O_SANDBOX=off); run as root for the real thing" >&2
fi

# Sign-in codes: to mailpit (scripts/services.sh starts it; its web page
# shows every mail) unless an SMTP server is set already; without either,
# q2o writes them to its log.
MAILPIT_SMTP="${Q2O_TEST_SMTP_ADDR:-127.0.0.1:1025}"
MAILPIT_WEB="${Q2O_TEST_MAILPIT_URL:-http://127.0.0.1:8025}"
if [[ -z ${Q2O_SMTP_HOST:-} ]] && timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${MAILPIT_SMTP%:*}" "${MAILPIT_SMTP##*:}" 2>/dev/null; then
	export Q2O_SMTP_HOST="${MAILPIT_SMTP%:*}" Q2O_SMTP_PORT="${MAILPIT_SMTP##*:}" Q2O_SMTP_TLS=none
	export Q2O_SMTP_FROM="${Q2O_SMTP_FROM:-q2o demo <no-reply@q2o.localhost>}"
	SIGNIN_CODES="in mailpit: $MAILPIT_WEB"
elif [[ -n ${Q2O_SMTP_HOST:-} ]]; then
	SIGNIN_CODES="mailed through $Q2O_SMTP_HOST"
else
	SIGNIN_CODES="in this terminal's log (look for 'sign-in code')"
fi

# Stripe: to the stripe-mock scripts/services.sh starts (upgrade and the
# customer portal answer as Stripe's test API would), with a webhook secret,
# so `q2o admin stripe-event` can play Stripe's side. Real keys already in the
# environment are kept.
STRIPE_MOCK="${Q2O_TEST_STRIPE_MOCK_URL:-http://127.0.0.1:12111}"
STRIPE_NOTE="off (set Q2O_STRIPE_SECRET_KEY and Q2O_STRIPE_WEBHOOK_SECRET)"
if [[ -z ${Q2O_STRIPE_SECRET_KEY:-}${Q2O_STRIPE_WEBHOOK_SECRET:-} ]]; then
	hostport="${STRIPE_MOCK#*://}"
	if timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${hostport%:*}" "${hostport##*:}" 2>/dev/null; then
		export Q2O_STRIPE_SECRET_KEY=sk_test_q2o_demo Q2O_STRIPE_API_BASE="$STRIPE_MOCK"
		export Q2O_STRIPE_WEBHOOK_SECRET=whsec_q2o_demo_not_a_secret
		export Q2O_STRIPE_PRICES="${Q2O_STRIPE_PRICES:-starter=price_q2o_starter,pro=price_q2o_pro}"
		STRIPE_NOTE="stripe-mock at $STRIPE_MOCK (a test double: Checkout links lead nowhere)"
	fi
elif [[ -n ${Q2O_STRIPE_WEBHOOK_SECRET:-} ]]; then
	STRIPE_NOTE="webhook on (your Q2O_STRIPE_WEBHOOK_SECRET)"
fi

BIN="${Q2O_BIN:-$ROOT/bin/q2o}"
[[ -x $BIN ]] || {
	echo "run-demo: $BIN is missing; run 'make build' (or 'make run')" >&2
	exit 1
}

# base_url turns a listen address (":8080", "0.0.0.0:8080", "127.0.0.1:9000") into a URL.
base_url() {
	local addr=$1 host port
	host="${addr%:*}"
	port="${addr##*:}"
	case "$host" in
	"" | 0.0.0.0 | "[::]" | "::") host=localhost ;;
	esac
	printf 'http://%s:%s\n' "$host" "$port"
}
API="$(base_url "$Q2O_HTTP_ADDR")"
if [[ -n ${Q2O_METRICS_ADDR:-} ]]; then
	METRICS_URL="$(base_url "$Q2O_METRICS_ADDR")/metrics"
	METRICS_AUTH="no auth, on its own listener"
else
	METRICS_URL="$API/metrics"
	METRICS_AUTH="Bearer or Basic with the admin token"
fi

echo "==> migrating $(printf '%s' "$Q2O_DATABASE_URL" | sed -E 's#//([^:@/]+):[^@/]*@#//\1:***@#')"
"$BIN" migrate --create-database

echo "==> creating the demo tenant"
# The same demo tenant at every start (found by its email; it gets a new API
# key and 3 new codes each time, since those are shown only once).
DEMO_EMAIL="${Q2O_DEMO_EMAIL:-demo@example.com}"
tenant_json="$("$BIN" admin create-tenant --reuse --name "Demo Co" --email "$DEMO_EMAIL" \
	--plan starter --status active --codes 3)"
read -r TENANT_ID KEY CODE ALL_CODES < <(python3 -c '
import json, sys
t = json.load(sys.stdin)
codes = [c["code"] for c in t["codes"]]
print(t["id"], t["api_key"], codes[0], " ".join(codes))
' <<<"$tenant_json")

DEMO_ENV="${Q2O_DEMO_ENV:-$ROOT/.run/demo.env}"
mkdir -p "$(dirname "$DEMO_ENV")" "$Q2O_OUTPUT_ROOT"
cat >"$DEMO_ENV" <<EOF
# q2o demo tenant $TENANT_ID, made $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/run-demo.sh
export API=$API
export KEY=$KEY
export CODE=$CODE
export CODES="$ALL_CODES"
export Q2O_ADMIN_TOKEN=$Q2O_ADMIN_TOKEN
export DEMO_EMAIL=$DEMO_EMAIL
export MAILPIT=$MAILPIT_WEB
export Q2O_DATABASE_URL='$Q2O_DATABASE_URL'
export Q2O_STRIPE_WEBHOOK_SECRET=${Q2O_STRIPE_WEBHOOK_SECRET:-}
EOF

# Lines of the journey that depend on how mail and Stripe are wired.
if [[ $SIGNIN_CODES == in\ mailpit* ]]; then
	SIGNIN_HOW="from mailpit"
	SIGNIN_READ=$(
		cat <<'EOF'
   newest() { curl -sf -G "$MAILPIT/api/v1/search" --data-urlencode "query=to:$DEMO_EMAIL" --data-urlencode limit=1 \
     | python3 -c 'import sys,json,re; m=(json.load(sys.stdin)["messages"] or [{"ID":"-","Snippet":""}])[0]; print(m["ID"], (re.findall(r"\b[0-9]{6}\b", m["Snippet"]) or ["-"])[0])'; }
   read -r SEEN _ < <(newest)
   curl -sf -X POST "$API/api/auth/otp/request" -H 'Content-Type: application/json' -d "{\"email\":\"$DEMO_EMAIL\"}"; echo
   for i in $(seq 40); do sleep 0.25; read -r ID SIGNIN < <(newest); [ "$ID" != "$SEEN" ] && break; done; echo "code $SIGNIN"
EOF
	)
else
	SIGNIN_HOW="$SIGNIN_CODES"
	SIGNIN_READ=$(
		cat <<'EOF'
   curl -sf -X POST "$API/api/auth/otp/request" -H 'Content-Type: application/json' -d "{\"email\":\"$DEMO_EMAIL\"}"; echo
   read -r -p 'sign-in code: ' SIGNIN
EOF
	)
fi
if [[ -n ${Q2O_STRIPE_WEBHOOK_SECRET:-} ]]; then
	STRIPE_ENV="Q2O_DATABASE_URL='$Q2O_DATABASE_URL' Q2O_STRIPE_WEBHOOK_SECRET='$Q2O_STRIPE_WEBHOOK_SECRET'"
	STRIPE_LINES=$(
		cat <<EOF
   $STRIPE_ENV $BIN admin stripe-event --url "\$API" --email "\$DEMO_EMAIL" --status past_due
   curl -sf "\$API/api/tenant/billing" -H "Authorization: Bearer \$KEY" | json '["subscription"]["status"]'
   $STRIPE_ENV $BIN admin stripe-event --url "\$API" --email "\$DEMO_EMAIL" --status active
EOF
	)
else
	STRIPE_LINES="   # (Stripe is off: no Q2O_STRIPE_WEBHOOK_SECRET, and no stripe-mock answered)"
fi

cat <<EOF

================================================================================
 q2o demo
================================================================================
 PORTAL            $API/   <- open this in a browser
   sign in as      $DEMO_EMAIL
   sign-in code    $SIGNIN_CODES
   then            New project -> assign a code -> Run project -> watch the Status page;
                   each code's client link (Codes page, or $API/status/<code>) is
                   the client's view: open it in another browser to download the zip
 API               $API   (health: $API/readyz)
 demo tenant       Demo Co  ($TENANT_ID, plan starter, subscription active)
 API key           $KEY
 activation code   $CODE
 all its codes     $ALL_CODES   (each good for one project)
 admin token       $Q2O_ADMIN_TOKEN
 mailpit           $MAILPIT_WEB   (every mail q2o sends: sign-in codes)
 stripe            $STRIPE_NOTE
 monitoring UI     $API/monitoring   (asynq web UI; any user name, the admin token as password)
 metrics           $METRICS_URL   (Prometheus; $METRICS_AUTH)
 outputs           $Q2O_OUTPUT_ROOT/<project_id>/   (zips in $Q2O_OUTPUT_ROOT/_artifacts/)
 runner            $Q2O_RUNNER
 sandbox           ${Q2O_SANDBOX:-on} (main.py as ${Q2O_RUNNER_USER:-q2o-run}: its folder, a private /tmp, the system read-only)

 Or with curl, in another terminal: the lines between the two rules below run
 as they are (bash, with curl and python3), or: source $DEMO_ENV and pick.
 ---- journey ----
   export API=$API KEY=$KEY CODE=$CODE DEMO_EMAIL=$DEMO_EMAIL MAILPIT=$MAILPIT_WEB
   json() { python3 -c "import sys,json; print(json.load(sys.stdin)\$1)"; }

   # 1. create a project, keep its id
   PROJECT=\$(curl -sf -X POST "\$API/api/tenant/projects" -H "Authorization: Bearer \$KEY" \\
     -H 'Content-Type: application/json' \\
     -d '{"name":"Todo app","description":"A small todo web app","objectives":"CRUD API, tests, docs"}' | json '["id"]'); echo "project \$PROJECT"

   # 2. assign the activation code (its client's page: \$API/status/\$CODE)
   curl -sf -X POST "\$API/api/tenant/projects/\$PROJECT/assign-activation-code" \\
     -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d "{\\"code\\":\\"\$CODE\\"}" >/dev/null && echo assigned

   # 3. run it (202), keep the execution id
   EXECUTION=\$(curl -sf -X POST "\$API/api/tenant/projects/\$PROJECT/run" -H "Authorization: Bearer \$KEY" | json '["execution_id"]'); echo "execution \$EXECUTION"

   # 4. watch it until it ends: status, progress and message, once a second
   for i in \$(seq 120); do
     STATUS=\$(curl -sf "\$API/api/tenant/projects/\$PROJECT" -H "Authorization: Bearer \$KEY" | json '["execution_status"]')
     curl -sf "\$API/api/tenant/projects/\$PROJECT" -H "Authorization: Bearer \$KEY" | json '["progress"]'
     case \$STATUS in completed | failed | cancelled | paused) break ;; esac; sleep 1
   done; echo "\$STATUS"

   # 5. the execution: attempt, exit code, error, download and log links, events
   curl -sf "\$API/api/tenant/projects/\$PROJECT/executions/\$EXECUTION" -H "Authorization: Bearer \$KEY" | python3 -m json.tool

   # 6. the client, with only the code: the project as it sees it, then the zip
   curl -sf -X POST "\$API/api/public/activate-project" -H 'Content-Type: application/json' -d "{\\"code\\":\\"\$CODE\\"}" | python3 -m json.tool
   for i in \$(seq 60); do
     [ "\$(curl -s -o project.zip -w '%{http_code}' "\$API/api/public/projects/\$PROJECT/download" -H "X-Activation-Code: \$CODE")" = 200 ] && break; sleep 1
   done; python3 -m zipfile -l project.zip

   # 7. the tenant signs in by email: ask for a code, read it $SIGNIN_HOW
$SIGNIN_READ
   TOKEN=\$(curl -sf -X POST "\$API/api/auth/otp/verify" -H 'Content-Type: application/json' \\
     -d "{\\"email\\":\\"\$DEMO_EMAIL\\",\\"code\\":\\"\$SIGNIN\\"}" | json '["token"]')
   curl -sf "\$API/api/tenant/profile" -H "Authorization: Bearer \$TOKEN" | json '["name"]'

   # 8. Stripe's side: the subscription goes past_due (its running projects pause), then back
$STRIPE_LINES
 ---- end ----

 Set Q2O_SAMPLE_SECONDS=N (run length, default 5) or Q2O_SAMPLE_FAIL=1 for
 'make run' to change what the sample examples/main.py does, or Q2O_RUNNER to
 run another main.py.
================================================================================

EOF

echo "==> starting q2o all (API on $Q2O_HTTP_ADDR and a worker); Ctrl-C to stop"
exec "$BIN" all
