package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// parse is Parse with the file reader injectable, so that the fuzz test never touches the file system.
func parse(data []byte, filename string, env func(string) (string, bool), readFile func(string) ([]byte, error)) (*Config, error) {
	return parseWith(data, filename, env, readFile, false)
}

func parseWith(data []byte, filename string, env func(string) (string, bool), readFile func(string) ([]byte, error), offline bool) (*Config, error) {
	d := &decoder{file: filename}
	root, ok := d.document(data)
	if !ok {
		return nil, d.errs.sorted()
	}
	if root.val.Kind != yaml.MappingNode {
		// Everything else would only repeat that the keys are missing.
		d.errorf(pos{line: root.val.Line, col: root.val.Column}, "expected a mapping, got %s", kindName(root.val))
		return nil, d.errs.sorted()
	}
	raw := d.decodeConfig(root)
	dir := "."
	if filename != "" {
		dir = filepath.Dir(filename)
	}
	f := &finalizer{decoder: d, env: env, readFile: readFile, dir: dir, offline: offline}
	cfg := f.finalize(raw)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	cfg.File = filename
	return cfg, nil
}

var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (?:column (\d+): )?(.*)$`)

// document parses the YAML text into its root node. It refuses empty files, several documents and
// documents that grow too large through aliases.
func (d *decoder) document(data []byte) (root field, ok bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := safeDecode(dec, &doc)
	if errors.Is(err, io.EOF) {
		d.errorf(pos{}, "the configuration is empty")
		return field{}, false
	}
	if err != nil {
		d.yamlError(err)
		return field{}, false
	}
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case err == nil:
		d.errorf(pos{line: next.Line, col: next.Column}, "only one YAML document per file is accepted")
		return field{}, false
	case !errors.Is(err, io.EOF):
		d.yamlError(err)
		return field{}, false
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		d.errorf(pos{line: doc.Line, col: doc.Column}, "the configuration is empty")
		return field{}, false
	}
	n, acyclic := expandedSize(&doc, maxExpandedNodes, map[*yaml.Node]int{}, map[*yaml.Node]bool{})
	switch {
	case !acyclic:
		d.errorf(pos{line: 1, col: 1}, "an alias refers to a node that contains it")
		return field{}, false
	case n > maxExpandedNodes:
		d.errorf(pos{line: 1, col: 1}, "the document expands to more than %d nodes through aliases", maxExpandedNodes)
		return field{}, false
	}
	return field{val: resolve(doc.Content[0])}, true
}

// safeDecode turns a panic inside the YAML parser into an error: a configuration file must never be
// able to crash the daemon.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: invalid document: %v", r)
		}
	}()
	return dec.Decode(n)
}

func (d *decoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlErrRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		d.errorf(pos{line: line, col: col}, "%s", m[3])
		return
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	d.errorf(pos{}, "%s", msg)
}
