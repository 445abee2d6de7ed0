package runner

import (
	"path/filepath"
	"strings"
)

// allowed are the worker's variables main.py gets: nothing that could hold
// a secret. Everything else of the worker's environment (its database and
// Redis URLs, admin token, Stripe and SMTP secrets, SENTRY_DSN, DB_PASS,
// a proxy URL with a password…) stays out, whatever its name looks like.
var allowed = []string{"PATH", "HOME", "LANG", "TZ"}

// EnvOptions say how main.py's environment is made.
type EnvOptions struct {
	// Pass names more variables to hand over from the worker's environment
	// (Q2O_RUNNER_PASS_ENV): the credentials main.py itself needs, such as
	// OPENAI_API_KEY. Names are matched exactly; Q2O_ variables never pass.
	Pass []string
	// PATH and HOME, when set, replace the worker's (inside the sandbox
	// they name the sandbox's own folders).
	PATH, HOME string
}

// Env returns the environment of main.py, by allowlist: PATH, HOME, LANG
// and TZ from base (usually os.Environ()) or from o, the variables named in
// o.Pass, then Q2O_PROJECT_ID, Q2O_TENANT_ID, Q2O_EXECUTION_ID and
// Q2O_OUTPUT_DIR from v, Q2O_PROGRESS_FILE (the progress file [Run] watches
// in the output folder, ProgressFileName) and PYTHONUNBUFFERED=1 (so
// progress lines arrive as they are printed). Nothing else.
func Env(base []string, v Vars, o EnvOptions) []string {
	keep := map[string]bool{}
	for _, name := range allowed {
		keep[name] = true
	}
	for _, name := range o.Pass {
		if !strings.HasPrefix(strings.ToUpper(name), "Q2O_") {
			keep[name] = true
		}
	}
	set := map[string]string{}
	if o.PATH != "" {
		set["PATH"] = o.PATH
	}
	if o.HOME != "" {
		set["HOME"] = o.HOME
	}
	env := make([]string, 0, len(keep)+8)
	for _, kv := range base {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || !keep[name] {
			continue
		}
		if _, over := set[name]; over {
			continue
		}
		env = append(env, kv)
	}
	for _, name := range []string{"PATH", "HOME"} {
		if val, ok := set[name]; ok {
			env = append(env, name+"="+val)
		}
	}
	return append(env,
		"Q2O_PROJECT_ID="+v.ProjectID, "Q2O_TENANT_ID="+v.TenantID, "Q2O_EXECUTION_ID="+v.ExecutionID,
		"Q2O_OUTPUT_DIR="+v.OutputDir, "Q2O_PROGRESS_FILE="+filepath.Join(v.OutputDir, ProgressFileName), "PYTHONUNBUFFERED=1")
}
