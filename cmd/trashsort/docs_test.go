package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// modulePath is the module's name, the prefix of its import paths.
const modulePath = "trashsort"

// goPackage is what the documentation tests need of a package.
type goPackage struct {
	imports map[string]bool // trashsort packages, relative to the module root
	cgo     bool
}

// modulePackages reads the non-test Go files below the module root and
// returns each folder that has any, by its path relative to the root.
func modulePackages(t *testing.T, root string) map[string]*goPackage {
	t.Helper()
	pkgs := map[string]*goPackage{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && p != root {
				return filepath.SkipDir // a nested module (beam/) is not this module's
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		pkg := pkgs[rel]
		if pkg == nil {
			pkg = &goPackage{imports: map[string]bool{}}
			pkgs[rel] = pkg
		}
		for _, im := range f.Imports {
			path, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return err
			}
			if path == "C" {
				pkg.cgo = true
			}
			if dep, ok := strings.CutPrefix(path, modulePath+"/"); ok {
				pkg.imports[dep] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// moduleRoot is the folder of go.mod, two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module "+modulePath+"\n") {
		t.Fatalf("%s is not the module root (%v)", root, err)
	}
	return root
}

// docRow is a row of a Markdown table whose first column names packages.
type docRow struct {
	packages []string // the backquoted names of the first column
	cells    []string
}

var backquoted = regexp.MustCompile("`([^`]+)`")

// packageTable returns the rows of the Markdown table in file whose header
// line starts with header.
func packageTable(t *testing.T, file, header string) []docRow {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, header) })
	if start < 0 {
		t.Fatalf("%s has no table starting %q", file, header)
	}
	var rows []docRow
	for _, l := range lines[start+2:] { // the header and the |---| line
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		var r docRow
		for _, m := range backquoted.FindAllStringSubmatch(cells[0], -1) {
			r.packages = append(r.packages, m[1])
		}
		r.cells = cells
		rows = append(rows, r)
	}
	return rows
}

// TestArchitectureDoc holds docs/ARCHITECTURE.md's package table to the
// code: every package has a row, every row a package, each package imports
// only what its row allows, a row allows only packages below it, and only
// dnnl and h5 use cgo.
func TestArchitectureDoc(t *testing.T) {
	root := moduleRoot(t)
	pkgs := modulePackages(t, root)
	rows := packageTable(t, filepath.Join(root, "docs", "ARCHITECTURE.md"), "| package | its one job |")
	position := map[string]int{}
	for i, r := range rows {
		if len(r.packages) != 1 || len(r.cells) != 3 {
			t.Fatalf("row %q: want one backquoted package and three cells", strings.Join(r.cells, "|"))
		}
		name := r.packages[0]
		if _, dup := position[name]; dup {
			t.Errorf("%s has two rows", name)
		}
		position[name] = i
		if pkgs[name] == nil {
			t.Errorf("the table lists %s, which has no Go code", name)
		}
	}
	var missing []string
	for name := range pkgs {
		if _, ok := position[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/ARCHITECTURE.md lacks %v", missing)
	}
	for i, r := range rows {
		name := r.packages[0]
		allowedCell := strings.TrimSpace(r.cells[2])
		allowed := map[string]bool{}
		switch allowedCell {
		case "none":
		case "everything below":
			for _, below := range rows[i+1:] {
				allowed[below.packages[0]] = true
			}
		default:
			for _, m := range backquoted.FindAllStringSubmatch(allowedCell, -1) {
				allowed[m[1]] = true
				if p, ok := position[m[1]]; !ok || p <= i {
					t.Errorf("%s may import %s, which is not below it in the table", name, m[1])
				}
			}
			if len(allowed) == 0 {
				t.Errorf("%s: imports cell %q names no package", name, allowedCell)
			}
		}
		if pkg := pkgs[name]; pkg != nil {
			for dep := range pkg.imports {
				if !allowed[dep] {
					t.Errorf("%s imports %s, which its row does not allow (%s)", name, dep, allowedCell)
				}
			}
			if pkg.cgo && name != "dnnl" && name != "h5" {
				t.Errorf("%s uses cgo; only dnnl and h5 may", name)
			}
		}
	}
}

// readmeMaxBytes bounds the README: what the project is, the two commands,
// one results table, the commands and links; the rest lives in docs/.
const readmeMaxBytes = 12 << 10

// TestReadmeSize: the README stays short enough to read in ten minutes.
func TestReadmeSize(t *testing.T) {
	st, err := os.Stat(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > readmeMaxBytes {
		t.Errorf("README.md is %d bytes, over %d: move detail to docs/", st.Size(), readmeMaxBytes)
	}
}

// mdLink matches a Markdown link's target: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinks: every relative link in the README, docs/ and deploy/ names
// a file that exists, and every #anchor a heading of that file.
func TestDocLinks(t *testing.T) {
	root := moduleRoot(t)
	files := []string{"README.md", "deploy/README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, rel)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := filepath.Join(root, f)
			if path != "" {
				dest = filepath.Join(filepath.Dir(dest), path)
			}
			st, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
				continue
			}
			if anchor != "" && !st.IsDir() && !slices.Contains(anchors(t, dest), anchor) {
				t.Errorf("%s links to %s: no heading with that anchor", f, target)
			}
		}
	}
}

// anchors returns the GitHub-style anchors of a Markdown file's headings.
func anchors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var a strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				a.WriteRune(r)
			}
		}
		out = append(out, a.String())
	}
	return out
}
