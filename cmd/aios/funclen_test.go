package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxFuncLines bounds every non-test function under cmd/ and api/,
// function literals measured on their own: a command is a small type whose
// run calls into the packages, a handler parses, calls and writes.
const maxFuncLines = 100

// TestFunctionLength measures every function declaration and function
// literal in the non-test files under cmd/ and api/ and fails on any longer than
// maxFuncLines; -v lists the five longest.
func TestFunctionLength(t *testing.T) {
	type fn struct {
		where string
		lines int
	}
	var fns []fn
	fset := token.NewFileSet()
	walk := func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var name string
			switch x := n.(type) {
			case *ast.FuncDecl:
				name = x.Name.Name
			case *ast.FuncLit:
				name = "func literal"
			default:
				return true
			}
			start, end := fset.Position(n.Pos()), fset.Position(n.End())
			fns = append(fns, fn{start.String() + " " + name, end.Line - start.Line + 1})
			return true
		})
		return nil
	}
	for _, root := range []string{"..", filepath.Join("..", "..", "api")} {
		if err := filepath.WalkDir(root, walk); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].lines > fns[j].lines })
	for i, f := range fns {
		if i < 5 {
			t.Logf("%3d lines  %s", f.lines, f.where)
		}
		if f.lines > maxFuncLines {
			t.Errorf("%s is %d lines long, more than %d", f.where, f.lines, maxFuncLines)
		}
	}
}
