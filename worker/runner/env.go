package runner

import "strings"

// secretMarkers are the parts of a variable name that say it may hold a
// secret. Matching is on the upper-cased name, so "stripe_secret_key" and
// "Sentry_Token" are dropped too.
var secretMarkers = []string{
	"SECRET", "PASSWORD", "PASSWD", "TOKEN", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL",
	"DATABASE_URL", "REDIS_URL",
}

// isSecret reports whether the variable name may hold a secret. Every Q2O_
// variable counts: those are the worker's own settings (database and Redis
// URLs, admin token, Stripe keys, SMTP password), none of main.py's business.
func isSecret(name string) bool {
	upper := strings.ToUpper(name)
	if strings.HasPrefix(upper, "Q2O_") {
		return true
	}
	for _, m := range secretMarkers {
		if strings.Contains(upper, m) {
			return true
		}
	}
	return false
}

// Env returns the environment of main.py: base (usually os.Environ()) minus
// every variable that could hold a secret, plus Q2O_PROJECT_ID,
// Q2O_TENANT_ID, Q2O_EXECUTION_ID and Q2O_OUTPUT_DIR from v and
// PYTHONUNBUFFERED=1 (so progress lines arrive as they are printed).
//
// A variable may hold a secret when its name starts with Q2O_ or contains,
// in any case, SECRET, PASSWORD, PASSWD, TOKEN, API_KEY, ACCESS_KEY,
// PRIVATE_KEY, CREDENTIAL, DATABASE_URL or REDIS_URL. Note that this drops
// the keys of LLM providers (OPENAI_API_KEY…) too; use [EnvPassing] to hand
// those over on purpose.
func Env(base []string, v Vars) []string {
	return EnvPassing(base, v, nil)
}

// EnvPassing is [Env], except that the variables named in pass are kept even
// when their names look secret: the credentials main.py itself needs, such
// as OPENAI_API_KEY. Names are matched exactly. Q2O_ variables are never
// passed, whatever pass says.
func EnvPassing(base []string, v Vars, pass []string) []string {
	keep := make(map[string]bool, len(pass))
	for _, name := range pass {
		keep[name] = true
	}
	own := map[string]string{
		"Q2O_PROJECT_ID":   v.ProjectID,
		"Q2O_TENANT_ID":    v.TenantID,
		"Q2O_EXECUTION_ID": v.ExecutionID,
		"Q2O_OUTPUT_DIR":   v.OutputDir,
		"PYTHONUNBUFFERED": "1",
	}
	env := make([]string, 0, len(base)+len(own))
	for _, kv := range base {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if _, ours := own[name]; ours {
			continue
		}
		if isSecret(name) && !(keep[name] && !strings.HasPrefix(strings.ToUpper(name), "Q2O_")) {
			continue
		}
		env = append(env, kv)
	}
	for _, name := range []string{"Q2O_PROJECT_ID", "Q2O_TENANT_ID", "Q2O_EXECUTION_ID", "Q2O_OUTPUT_DIR", "PYTHONUNBUFFERED"} {
		env = append(env, name+"="+own[name])
	}
	return env
}
