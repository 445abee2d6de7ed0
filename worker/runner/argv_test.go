package runner

import (
	"slices"
	"strings"
	"testing"
)

func TestArgv(t *testing.T) {
	t.Parallel()
	const runner = "python3 /srv/q2o/examples/main.py"
	base := Vars{ProjectID: "p-1", ProjectName: "Shop", Description: "A shop", Objectives: "Sell",
		OutputDir: "/out/p-1", TenantID: "t-1", ExecutionID: "e-1"}
	with := func(change func(*Vars)) Vars { v := base; change(&v); return v }
	portal := func(v Vars) []string {
		return []string{"python3", "/srv/q2o/examples/main.py", "--project-id=" + v.ProjectID, "--project-name=" + v.ProjectName,
			"--description=" + v.Description, "--objectives=" + v.Objectives, "--output-folder=" + v.OutputDir}
	}

	tests := []struct {
		name     string
		runner   string
		template string
		vars     Vars
		want     []string
	}{
		{"portal mode", runner, DefaultArgsTemplate, base, portal(base)},
		{"shell injection in the name", runner, DefaultArgsTemplate,
			with(func(v *Vars) { v.ProjectName = `x"; touch /tmp/pwned; echo "` }),
			portal(with(func(v *Vars) { v.ProjectName = `x"; touch /tmp/pwned; echo "` }))},
		{"newline and command substitution", runner, DefaultArgsTemplate,
			with(func(v *Vars) { v.Description = "line one\n$(id) `id` ${HOME} 'quoted' \\ end" }),
			portal(with(func(v *Vars) { v.Description = "line one\n$(id) `id` ${HOME} 'quoted' \\ end" }))},
		{"a value that looks like a placeholder is not expanded again", runner, DefaultArgsTemplate,
			with(func(v *Vars) { v.ProjectName = "{project_id} {nope}" }),
			portal(with(func(v *Vars) { v.ProjectName = "{project_id} {nope}" }))},
		{"a name that starts with -- stays a value", runner, DefaultArgsTemplate,
			with(func(v *Vars) { v.ProjectName = "--help" }),
			portal(with(func(v *Vars) { v.ProjectName = "--help" }))},
		{"empty value stays one element", runner, DefaultArgsTemplate,
			with(func(v *Vars) { v.Objectives = "" }),
			portal(with(func(v *Vars) { v.Objectives = "" }))},
		{"quoted runner path with spaces", `"/opt/my python/bin/python3" -u '/srv/q2o app/main.py'`, "{project_id}", base,
			[]string{"/opt/my python/bin/python3", "-u", "/srv/q2o app/main.py", "p-1"}},
		{"placeholders inside a word, all of them", "main", `--name={project_name} "{tenant_id}/{execution_id}" {output_dir}/x`,
			with(func(v *Vars) { v.ProjectName = "a b" }),
			[]string{"main", "--name=a b", "t-1/e-1", "/out/p-1/x"}},
		{"template words are split like a shell, without expansion", "main", `--flag 'two words' "\$HOME" $HOME {description}`, base,
			[]string{"main", "--flag", "two words", "$HOME", "$HOME", "A shop"}},
		{"empty template", "main", "", base, []string{"main"}},
		{"braces that are no placeholder stay", "main", `--json '{}' --x {`, base, []string{"main", "--json", "{}", "--x", "{"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Argv(tt.runner, tt.template, tt.vars)
			if err != nil {
				t.Fatalf("Argv: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Argv =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestArgvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, runner, template, wantInErr string
	}{
		{"empty runner", "", DefaultArgsTemplate, "runner is empty"},
		{"blank runner", "  \t ", DefaultArgsTemplate, "runner is empty"},
		{"unknown placeholder", "main", "--name {project}", "unknown placeholder {project}"},
		{"misspelt placeholder", "main", "--out={outputdir}", "unknown placeholder {outputdir}"},
		{"unbalanced quote in the template", "main", `--name "{project_name}`, "closing quote"},
		{"unbalanced quote in the runner", `"python3 main.py`, "", "closing quote"},
		{"placeholder in the runner", "{project_name} main.py", "", "placeholders belong in the argument template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Argv(tt.runner, tt.template, Vars{ProjectName: "x"})
			if err == nil {
				t.Fatalf("Argv = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("error %q does not say %q", err, tt.wantInErr)
			}
		})
	}
}
