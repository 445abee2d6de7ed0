package runner

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/shlex"
)

// Vars are the placeholder values of the argument template.
type Vars struct {
	ProjectID, ProjectName, Description, Objectives, OutputDir, TenantID, ExecutionID string
}

// DefaultArgsTemplate is the portal-mode command line of main.py.
const DefaultArgsTemplate = `--project-id={project_id} --project-name={project_name} --description={description} --objectives={objectives} --output-folder={output_dir}`

// placeholderRE finds things that look like placeholders, so that a typo in
// the template ({project-name}, {projectid}) is an error instead of a literal
// argument that main.py silently receives.
var placeholderRE = regexp.MustCompile(`\{[A-Za-z0-9_]+\}`)

func (v Vars) placeholders() map[string]string {
	return map[string]string{
		"{project_id}":   v.ProjectID,
		"{project_name}": v.ProjectName,
		"{description}":  v.Description,
		"{objectives}":   v.Objectives,
		"{output_dir}":   v.OutputDir,
		"{tenant_id}":    v.TenantID,
		"{execution_id}": v.ExecutionID,
	}
}

// Argv builds the argv of main.py. It splits runner (the program and its
// leading arguments, e.g. "python3 /srv/q2o/examples/main.py") and
// argsTemplate into words the way a POSIX shell splits words (quotes and
// backslashes, no expansion of any kind), then replaces the placeholders
// {project_id} {project_name} {description} {objectives} {output_dir}
// {tenant_id} {execution_id} inside the template's words. Splitting comes
// first, so each value lands inside exactly one argv element whatever it
// contains (spaces, quotes, ";", "$()", newlines), and a value is never
// scanned again for placeholders.
//
// The runner is taken literally: a placeholder in it is an error, because a
// user-supplied value must never choose the program. An empty runner, an
// unknown {placeholder} in the template, or unbalanced quotes in either are
// errors.
func Argv(runner, argsTemplate string, v Vars) ([]string, error) {
	prog, err := shlex.Split(runner)
	if err != nil {
		return nil, fmt.Errorf("runner %q: %w", runner, err)
	}
	if len(prog) == 0 {
		return nil, errors.New("runner is empty: it must name the program to start")
	}
	values := v.placeholders()
	for _, w := range prog {
		for _, p := range placeholderRE.FindAllString(w, -1) {
			if _, known := values[p]; known {
				return nil, fmt.Errorf("runner %q contains the placeholder %s: placeholders belong in the argument template", runner, p)
			}
		}
	}

	words, err := shlex.Split(argsTemplate)
	if err != nil {
		return nil, fmt.Errorf("argument template %q: %w", argsTemplate, err)
	}
	pairs := make([]string, 0, 2*len(values))
	for p, val := range values {
		pairs = append(pairs, p, val)
	}
	repl := strings.NewReplacer(pairs...)
	argv := append(make([]string, 0, len(prog)+len(words)), prog...)
	for _, w := range words {
		for _, p := range placeholderRE.FindAllString(w, -1) {
			if _, known := values[p]; !known {
				return nil, fmt.Errorf("argument template %q: unknown placeholder %s (known: {project_id} {project_name} {description} {objectives} {output_dir} {tenant_id} {execution_id})", argsTemplate, p)
			}
		}
		argv = append(argv, repl.Replace(w))
	}
	return argv, nil
}
