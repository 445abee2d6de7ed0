package configs

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example file loads, and names every setting (set or commented out).
func TestExampleNamesEverySetting(t *testing.T) {
	if _, err := Load("example.yaml"); err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		key := s.Key()
		if !strings.Contains(string(b), "\n"+key+":") && !strings.Contains(string(b), "# "+key+":") {
			t.Errorf("example.yaml lacks %s", key)
		}
	}
}

// Every field of Config is set by exactly one setting of the table, and
// each setting is complete: a Q2O_ name of its own, help, the commands
// that read it, and a default or an example for example.yaml.
func TestEveryFieldHasOneSetting(t *testing.T) {
	var c Config
	owner := map[uintptr]string{}
	names := map[string]bool{}
	for _, s := range Settings() {
		if !strings.HasPrefix(s.Env, "Q2O_") || names[s.Env] {
			t.Errorf("%s: want a Q2O_ name used once", s.Env)
		}
		names[s.Env] = true
		if s.Help == "" || s.For == 0 || (s.defaultValue() == "" && s.Example == "") {
			t.Errorf("%s: needs help, the commands that read it, and a default or an example", s.Env)
		}
		addr := reflect.ValueOf(s.bind.field(&c)).Pointer()
		if other, ok := owner[addr]; ok {
			t.Errorf("%s and %s set the same field", s.Env, other)
		}
		owner[addr] = s.Env
	}
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if _, ok := owner[v.Field(i).Addr().Pointer()]; !ok {
			t.Errorf("Config.%s has no setting", v.Type().Field(i).Name)
		}
	}
}

// The example values example.yaml shows commented out all decode into
// their fields and, taken together, pass validation: uncommenting them
// gives a working file.
func TestExampleValuesAreValid(t *testing.T) {
	cfg := Default()
	for _, s := range Settings() {
		if s.Example == "" {
			continue
		}
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(s.Key()+": "+s.Example), &node); err != nil {
			t.Fatalf("%s: example %q: %v", s.Env, s.Example, err)
		}
		if err := node.Content[0].Content[1].Decode(s.bind.field(&cfg)); err != nil {
			t.Errorf("%s: example %q: %v", s.Env, s.Example, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the examples together: %v", err)
	}
}

// configs/example.yaml and the README's settings tables are what
// `make config-docs` makes from the table now.
func TestDocsAreCurrent(t *testing.T) {
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(ExampleYAML()) {
		t.Error("configs/example.yaml is stale: run make config-docs")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := UpdateREADME(readme)
	if err != nil {
		t.Fatal(err)
	}
	if string(fresh) != string(readme) {
		t.Error("README.md's settings tables are stale: run make config-docs")
	}
}

// --help of a command lists the settings it reads and no other.
func TestUsageByCommand(t *testing.T) {
	for _, c := range []struct {
		cmds       Commands
		has, lacks []string
	}{
		{Admin, []string{"Q2O_DATABASE_URL", "Q2O_LOG_LEVEL"}, []string{"Q2O_REDIS_URL", "Q2O_RUNNER", "Q2O_HTTP_ADDR"}},
		{API, []string{"Q2O_HTTP_ADDR", "Q2O_SMTP_HOST", "Q2O_OUTBOX_INTERVAL"}, []string{"Q2O_RUNNER", "Q2O_SANDBOX"}},
		{Worker, []string{"Q2O_RUNNER", "Q2O_SANDBOX", "Q2O_OUTBOX_INTERVAL"}, []string{"Q2O_HTTP_ADDR", "Q2O_SMTP_HOST"}},
		{API | Worker, []string{"Q2O_HTTP_ADDR", "Q2O_RUNNER"}, nil},
	} {
		u := Usage(c.cmds)
		for _, name := range c.has {
			if !strings.Contains(u, "  "+name+",") {
				t.Errorf("Usage(%b) lacks %s", c.cmds, name)
			}
		}
		for _, name := range c.lacks {
			if strings.Contains(u, "  "+name+",") {
				t.Errorf("Usage(%b) lists %s", c.cmds, name)
			}
		}
		if strings.Contains(u, "`") || strings.Contains(u, "](#") {
			t.Errorf("Usage(%b) shows Markdown", c.cmds)
		}
	}
}
