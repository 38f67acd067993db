// Package docs holds the project's documentation, one file per topic; its test keeps the documents
// linked correctly and free of copies, so that every fact has one source.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// markdown returns every Markdown file of the repository (relative to its root), leaving out
// dependencies installed by the tests.
func markdown(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	heading = regexp.MustCompile(`^#{1,6} +(.*)$`)
	link    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	punct   = regexp.MustCompile(`[^\p{L}\p{N}\- ]`)
)

// slug is the anchor GitHub gives a heading.
func slug(h string) string {
	return strings.ReplaceAll(punct.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

// parsed is one Markdown file: its anchors and its prose outside code fences.
type parsed struct {
	anchors map[string]bool
	lines   []string
}

func parse(t *testing.T, path string) parsed {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{anchors: map[string]bool{}}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			p.lines = append(p.lines, "")
			continue
		}
		if fence {
			p.lines = append(p.lines, "")
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			p.anchors[slug(m[1])] = true
		}
		p.lines = append(p.lines, line)
	}
	return p
}

// TestLinks fails on a relative link to a file that does not exist or to an anchor its file lacks.
func TestLinks(t *testing.T) {
	root := ".."
	files := markdown(t, root)
	docs := map[string]parsed{}
	for _, f := range files {
		docs[f] = parse(t, filepath.Join(root, f))
	}
	for _, f := range files {
		for n, line := range docs[f].lines {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.Clean(filepath.Join(filepath.Dir(f), path))
					if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
						t.Errorf("%s:%d: link to %s: no such file", f, n+1, target)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				d, ok := docs[dest]
				if !ok {
					t.Errorf("%s:%d: link to %s: an anchor in a file that is not Markdown", f, n+1, target)
					continue
				}
				if !d.anchors[anchor] {
					t.Errorf("%s:%d: link to %s: %s has no heading with that anchor", f, n+1, target, dest)
				}
			}
		}
	}
}

// TestOneSourcePerParagraph fails when two places share a paragraph (a block of 80 or more
// characters between blank lines, outside code): a topic is written once and linked from elsewhere.
func TestOneSourcePerParagraph(t *testing.T) {
	root := ".."
	seen := map[string]string{}
	for _, f := range markdown(t, root) {
		p := parse(t, filepath.Join(root, f))
		var block []string
		start := 0
		flush := func() {
			text := strings.Join(strings.Fields(strings.Join(block, " ")), " ")
			block = nil
			if len(text) < 80 {
				return
			}
			at := f + ":" + strconv.Itoa(start+1)
			if prev, dup := seen[text]; dup {
				t.Errorf("%s repeats the paragraph of %s: %.100q", at, prev, text)
				return
			}
			seen[text] = at
		}
		for i, line := range p.lines {
			if strings.TrimSpace(line) == "" {
				flush()
				continue
			}
			if len(block) == 0 {
				start = i
			}
			block = append(block, line)
		}
		flush()
	}
}
