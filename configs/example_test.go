package configs

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The example file loads, and names every setting (set or commented out),
// and every setting of the struct is in the --help list.
func TestExampleNamesEverySetting(t *testing.T) {
	if _, err := Load("example.yaml"); err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	help := map[string]bool{}
	for _, s := range Settings() {
		help[s.Env] = true
	}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		key, env := f.Tag.Get("yaml"), f.Tag.Get("env")
		if !strings.Contains(string(b), "\n"+key+":") && !strings.Contains(string(b), "# "+key+":") {
			t.Errorf("example.yaml lacks %s", key)
		}
		if !help[env] {
			t.Errorf("Settings() lacks %s", env)
		}
	}
}
