// Command configdocs writes configs/example.yaml and the settings tables of
// README.md from the table of settings in package configs. `go generate
// ./configs` (or `make config-docs`) runs it; configs' tests fail while
// either file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/q2o/q2o/configs"
)

func main() {
	example := flag.String("example", "configs/example.yaml", "the example settings file to write")
	readme := flag.String("readme", "README.md", "the README whose settings tables to rewrite")
	flag.Parse()
	if err := write(*example, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "configdocs:", err)
		os.Exit(1)
	}
}

func write(example, readme string) error {
	if err := os.WriteFile(example, configs.ExampleYAML(), 0o644); err != nil {
		return err
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	out, err := configs.UpdateREADME(b)
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, out, 0o644)
}
