package configs

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The documentation made from the table: the settings part of --help,
// configs/example.yaml and the README's settings tables.

//go:generate go run ./internal/configdocs -example example.yaml -readme ../README.md

// Usage is the settings part of --help: every setting one of cmds reads,
// with its YAML key, default and meaning.
func Usage(cmds Commands) string {
	var b strings.Builder
	b.WriteString("\nSettings (environment variables; also keys of the --config YAML file):\n")
	for _, s := range settings {
		if s.For&cmds == 0 {
			continue
		}
		def := s.shownDefault()
		if s.defaultOf != nil {
			def = s.defaultOf() // this machine's, not the documentation's placeholder
		}
		fmt.Fprintf(&b, "  %s, %s  default: %s\n      %s\n", s.Env, s.Key(), plain(def), plain(s.Help))
	}
	return b.String()
}

// shownDefault is the default as the documentation says it, in Markdown.
func (s Setting) shownDefault() string {
	switch {
	case s.Shown != "":
		return s.Shown
	case s.Default != "":
		return "`" + s.Default + "`"
	}
	return "unset"
}

var mdLink = regexp.MustCompile(`\[([^\]]+)\]\(#[^)]*\)`)

// plain turns the table's Markdown into text for a terminal: no backticks,
// and a link to a README section becomes its title in quotes.
func plain(md string) string {
	return strings.ReplaceAll(mdLink.ReplaceAllString(md, `README "$1"`), "`", "")
}

// ExampleYAML is configs/example.yaml: each setting under its group's
// heading, with its default, or commented out with its example.
func ExampleYAML() []byte {
	var b bytes.Buffer
	b.WriteString("# q2o settings file, given with `q2o --config configs/example.yaml <cmd>`.\n" +
		"# Every key is optional; Q2O_* environment variables override what is here.\n" +
		"# `q2o <cmd> --help` says what each one means and which command reads it.\n" +
		"# Made by `make config-docs` from configs/settings.go: edit that, not this.\n")
	var last *group
	for _, s := range settings {
		if s.group != last {
			last = s.group
			b.WriteString("\n")
			if s.group.title != "" {
				b.WriteString("# " + s.group.title + "\n")
			}
		}
		if s.Note != "" {
			b.WriteString("# " + strings.ReplaceAll(s.Note, "\n", "\n# ") + "\n")
		}
		switch {
		case strings.HasPrefix(s.Example, "\n"):
			b.WriteString("# " + s.Key() + ":" + strings.ReplaceAll(s.Example, "\n", "\n# ") + "\n")
		case s.Example != "":
			b.WriteString("# " + s.Key() + ": " + s.Example + "\n")
		default:
			b.WriteString(s.Key() + ": " + s.yamlDefault() + "\n")
		}
	}
	return b.Bytes()
}

var yamlPlain = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./:?=@%+-]*$`)

// yamlDefault is the default as a YAML value: a text quoted unless it is
// plainly a text to any YAML reader (on and off are booleans to some).
func (s Setting) yamlDefault() string {
	if _, isText := s.bind.field(&Config{}).(*string); isText {
		switch strings.ToLower(s.Default) {
		case "on", "off", "yes", "no", "y", "n", "true", "false", "null", "~":
			return strconv.Quote(s.Default)
		}
		if !yamlPlain.MatchString(s.Default) {
			return strconv.Quote(s.Default)
		}
	}
	return s.Default
}

// readmeTable is the Markdown table of the settings of the README section
// (the main table: section ""), between the markers
// <!-- settings:begin[ section] --> and <!-- settings:end[ section] -->.
func readmeTable(section string) string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var last *group
	for _, s := range settings {
		switch {
		case s.group.section == section:
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Env, cell(s.shownDefault()), cell(s.Help))
		case section == "" && s.group != last:
			b.WriteString(s.group.pointer + "\n")
		}
		last = s.group
	}
	return b.String()
}

// UpdateREADME returns the README with its settings tables made anew from
// the table: the main one and one per group documented in its own section.
func UpdateREADME(readme []byte) ([]byte, error) {
	sections := []string{""}
	var last *group
	for _, s := range settings {
		if s.group != last && s.group.section != "" {
			sections = append(sections, s.group.section)
		}
		last = s.group
	}
	out := string(readme)
	for _, sec := range sections {
		name := strings.TrimSpace("settings:begin " + sec)
		begin, end := "<!-- "+name+" -->\n", "<!-- "+strings.Replace(name, "begin", "end", 1)+" -->"
		i := strings.Index(out, begin)
		j := strings.Index(out, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("README: no %q … %q around a settings table", strings.TrimSpace(begin), end)
		}
		out = out[:i+len(begin)] + readmeTable(sec) + out[j:]
	}
	return []byte(out), nil
}
