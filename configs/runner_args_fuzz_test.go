package configs_test

import (
	"strings"
	"testing"

	"github.com/google/shlex"

	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/worker/runner"
)

// FuzzRunnerArgs: whatever a tenant puts in a project's name, description
// and objectives, the default argument template (Q2O_RUNNER_ARGS) gives
// main.py the same number of arguments, each value lands whole inside its
// own one, and no value is expanded again (a "{project_id}" typed into a
// name stays literal). `make test` runs the seeds; `make fuzz` explores.
func FuzzRunnerArgs(f *testing.F) {
	for _, seed := range [][3]string{
		{"Acme", "a description", "objectives"},
		{"a b c", `"quoted" 'single'`, `back\slash`},
		{"; rm -rf / #", "$(reboot)", "`id`"},
		{"--output-folder=/etc", "-x", "--"},
		{"{project_id}", "{output_dir}{description}", "{nope}"},
		{"line\nbreak", "tab\there", "\x00nul"},
		{"", " ", "é ✓ 漢字"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	cfg := configs.Default()
	words, err := shlex.Split(cfg.RunnerArgs)
	if err != nil {
		f.Fatal(err)
	}
	prog, err := shlex.Split(cfg.Runner)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, description, objectives string) {
		v := runner.Vars{ProjectID: "01a23100-0000-7000-8000-000000000001", ProjectName: name, Description: description,
			Objectives: objectives, OutputDir: "/srv/out/p1", TenantID: "t1", ExecutionID: "e1"}
		argv, err := runner.Argv(cfg.Runner, cfg.RunnerArgs, v)
		if err != nil {
			t.Fatalf("Argv: %v", err)
		}
		if len(argv) != len(prog)+len(words) {
			t.Fatalf("values %q %q %q gave %d arguments, want %d: %q", name, description, objectives, len(argv), len(prog)+len(words), argv)
		}
		for i, w := range words {
			got := argv[len(prog)+i]
			want := strings.NewReplacer("{project_id}", v.ProjectID, "{project_name}", name, "{description}", description,
				"{objectives}", objectives, "{output_dir}", v.OutputDir, "{tenant_id}", v.TenantID, "{execution_id}", v.ExecutionID).Replace(w)
			if got != want {
				t.Fatalf("argument %d is %q, want %q", i, got, want)
			}
		}
	})
}
