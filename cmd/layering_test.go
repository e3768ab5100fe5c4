// The import direction of design.md §2, enforced: crypto ← wire ← chain ←
// {miner, net/*} ← cmd, with each third-party library confined to the one
// package that owns it. It lives in cmd because cmd is the top of the graph,
// the only place allowed to see all of it.
package cmd_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/renga-p2p/renga"

// layer returns a package's layer and its group (the top-level folder, or
// net/<name> for the net packages, which are siblings of miner, not of each
// other's internals).
func layer(pkg string) (rank int, group string) {
	rel := strings.TrimPrefix(pkg, module+"/")
	top, _, _ := strings.Cut(rel, "/")
	switch top {
	case "crypto":
		return 0, top
	case "wire":
		return 1, top
	case "chain":
		return 2, top
	case "miner", "net":
		return 3, top
	case "cmd":
		return 4, top
	}
	return -1, top
}

// owners confines third-party imports (by path prefix) to the packages (by
// path prefix, relative to the module) allowed to use them.
var owners = []struct {
	prefix  string
	allowed []string
}{
	{"github.com/cockroachdb/pebble", []string{"chain/store"}},
	{"github.com/decred/dcrd/dcrec/secp256k1", []string{"crypto/secp"}},
	{"golang.org/x/sys/unix", []string{"net/sock"}},
	{"github.com/klauspost/compress", []string{"net/"}},
	{"github.com/holiman/uint256", []string{"chain", "miner"}},
	{"github.com/btcsuite/", nil}, // only in the fuzz/ module
}

func TestImportDirection(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// Not part of the main module's build: the fuzz/ module, the
			// generators' own modules (_asm), test data, hidden folders.
			if path != root && (name == "fuzz" || name == "testdata" || strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := module + "/" + filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		fromRank, fromGroup := layer(pkg)
		if fromRank < 0 {
			t.Errorf("%s: package %s is outside the designed layout (design.md §2)", path, pkg)
		}
		for _, imp := range f.Imports {
			target, _ := strconv.Unquote(imp.Path.Value)
			checked++
			if strings.HasPrefix(target, module+"/") {
				toRank, toGroup := layer(target)
				switch {
				case toRank > fromRank:
					t.Errorf("%s imports %s: imports run crypto ← wire ← chain ← {miner, net/*} ← cmd", path, target)
				case toRank == fromRank && toGroup != fromGroup:
					t.Errorf("%s imports %s: miner and net/* are siblings; cmd wires them together", path, target)
				}
				continue
			}
			for _, o := range owners {
				if !strings.HasPrefix(target, o.prefix) {
					continue
				}
				ok := false
				for _, a := range o.allowed {
					ok = ok || strings.HasPrefix(filepath.ToSlash(rel), a)
				}
				if !ok {
					t.Errorf("%s imports %s, which only %v may import", path, target, o.allowed)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no imports checked: is the walk looking at the right tree?")
	}
}

// TestMainModuleHasNoBtcd keeps btcd out of go.mod: it is only the reference
// implementation in the fuzz/ module.
func TestMainModuleHasNoBtcd(t *testing.T) {
	for _, name := range []string{"../go.mod", "../go.sum"} {
		b, err := os.ReadFile(name)
		if err != nil {
			if name == "../go.sum" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if strings.Contains(string(b), "btcsuite") {
			t.Errorf("%s mentions btcsuite: btcd belongs in the fuzz/ module only", name)
		}
	}
}
