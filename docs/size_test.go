package docs

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The size rules of the house (docs/development.md): a newcomer reads a package in one sitting and a
// function on one screen. A function may run longer when its doc comment says why, in a line that
// starts with "long:" (a flat table, a state machine that reads best in one piece).
const (
	maxPackageLines  = 1500
	maxFunctionLines = 80
)

// stillBeingSplit lists the packages other work is still reshaping (issue 11); the size rules are not
// checked there yet. Empty this list as each one is split: it is a to-do list, not a licence.
var stillBeingSplit = map[string]bool{
	"emulator/scimserver": true,
}

// TestSizeLimits counts every package's non-test lines of code (lines holding a Go token: comments and
// blank lines are not code, the measure issue 11 used for "sync/engine is 2.6k lines") and every
// function's lines from "func" to its closing brace.
func TestSizeLimits(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	lines := map[string]int{}
	var long []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if stillBeingSplit[pkg] {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		n, err := codeLines(p)
		if err != nil {
			return err
		}
		lines[pkg] += n
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > maxFunctionLines && !hasLongReason(fd.Doc) {
				long = append(long, rel+": "+fd.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var big []string
	for pkg, n := range lines {
		if n > maxPackageLines {
			big = append(big, pkg)
		}
	}
	sort.Strings(big)
	for _, pkg := range big {
		t.Errorf("package %s has %d non-test lines (at most %d): split it along a seam", pkg, lines[pkg], maxPackageLines)
	}
	for _, f := range long {
		t.Errorf("%s is over %d lines: split it or say why in a \"long:\" line of its doc comment", f, maxFunctionLines)
	}
}

// codeLines counts the lines of a Go file that hold at least one token other than a comment.
func codeLines(path string) (int, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fs := token.NewFileSet()
	file := fs.AddFile(path, -1, len(src))
	var sc scanner.Scanner
	sc.Init(file, src, nil, 0)
	seen := map[int]bool{}
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue
		}
		seen[fs.Position(pos).Line] = true
	}
	return len(seen), nil
}

func hasLongReason(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, line := range strings.Split(doc.Text(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "long:") {
			return true
		}
	}
	return false
}
