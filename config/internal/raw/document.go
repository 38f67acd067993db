package raw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (?:column (\d+): )?(.*)$`)

// document parses the YAML text into its root node. It refuses empty files, several documents and
// documents that grow too large through aliases.
func (d *Decoder) document(data []byte) (root Field, ok bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := safeDecode(dec, &doc)
	if errors.Is(err, io.EOF) {
		d.Errorf(Pos{}, "the configuration is empty")
		return Field{}, false
	}
	if err != nil {
		d.yamlError(err)
		return Field{}, false
	}
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case err == nil:
		d.Errorf(Pos{Line: next.Line, Col: next.Column}, "only one YAML document per file is accepted")
		return Field{}, false
	case !errors.Is(err, io.EOF):
		d.yamlError(err)
		return Field{}, false
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		d.Errorf(Pos{Line: doc.Line, Col: doc.Column}, "the configuration is empty")
		return Field{}, false
	}
	n, acyclic := expandedSize(&doc, maxExpandedNodes, map[*yaml.Node]int{}, map[*yaml.Node]bool{})
	switch {
	case !acyclic:
		d.Errorf(Pos{Line: 1, Col: 1}, "an alias refers to a node that contains it")
		return Field{}, false
	case n > maxExpandedNodes:
		d.Errorf(Pos{Line: 1, Col: 1}, "the document expands to more than %d nodes through aliases", maxExpandedNodes)
		return Field{}, false
	}
	return Field{Node: resolve(doc.Content[0])}, true
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

func (d *Decoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlErrRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		d.Errorf(Pos{Line: line, Col: col}, "%s", m[3])
		return
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	d.Errorf(Pos{}, "%s", msg)
}

// Decode reads one job file into its raw form. The Decoder it returns holds the errors found so far
// and goes on collecting those of the later checks, so that all of them are reported at once; the
// Config is nil when the file cannot be read as a mapping at all.
func Decode(data []byte, filename string) (*Config, *Decoder) {
	d := &Decoder{File: filename}
	root, ok := d.document(data)
	if !ok {
		return nil, d
	}
	if root.Node.Kind != yaml.MappingNode {
		// Everything else would only repeat that the keys are missing.
		d.Errorf(Pos{Line: root.Node.Line, Col: root.Node.Column}, "expected a mapping, got %s", kindName(root.Node))
		return nil, d
	}
	return d.decodeConfig(root), d
}
