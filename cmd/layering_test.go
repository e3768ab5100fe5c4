// The import direction of design.md §2, enforced per package:
//
//	crypto ← wire ← chain ← {miner, net/*} ← net/node ← net/lab ← cmd
//
// with each third-party library confined to the one package that owns it.
// It lives in cmd because cmd is the top of the graph, the only place
// allowed to see all of it.
package cmd_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/renga-p2p/renga"

// rank orders the layers: a package may import packages of lower rank, and
// of its own rank only as allowed below.
func rank(pkg string) int {
	top, _, _ := strings.Cut(pkg, "/")
	switch {
	case top == "crypto":
		return 0
	case top == "wire":
		return 1
	case top == "chain":
		return 2
	case top == "miner":
		return 3
	case pkg == "net/node" || strings.HasPrefix(pkg, "net/node/"):
		return 4
	case pkg == "net/lab" || strings.HasPrefix(pkg, "net/lab/"):
		return 5
	case top == "net":
		return 3
	case top == "cmd":
		return 6
	}
	return -1
}

// unit is the package a sub-package belongs to (net/sock/netns is part of
// net/sock; chain/store of chain), for the rules below.
func unit(pkg string) string {
	parts := strings.Split(pkg, "/")
	if parts[0] == "net" && len(parts) > 1 {
		return "net/" + parts[1]
	}
	return parts[0]
}

// siblings lists, for each package of rank 3, the other rank-3 units it
// may import: the net packages' own order (design.md §2's table), in which
// only net/node, a layer up, may import miner.
var siblings = map[string][]string{
	"miner":        nil,
	"net/sock":     nil,
	"net/peer":     nil,
	"net/addrbook": nil,
	"net/discover": {"net/sock"},
	"net/capture":  {"net/sock"},
	"net/p2p":      {"net/peer", "net/addrbook", "net/discover", "net/capture", "net/sock"},
	"net/api":      {"net/p2p", "net/peer", "net/addrbook", "net/discover", "net/capture"},
}

// testOnly are packages any test may import, whatever its layer: fixtures
// and fakes, not code the package itself depends on.
var testOnly = []string{"chain/chaintest", "chain/store/storetest", "net/sock/memnet", "net/sock/netns", "net/sock/nstest"}

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
	{"github.com/dchest/siphash", []string{"wire"}},
	{"github.com/btcsuite/", nil}, // only in the fuzz/ module
}

// allowedImport reports whether package from may import package to (both
// relative to the module), and why not.
func allowedImport(from, to string, test bool) (bool, string) {
	if test && slices.Contains(testOnly, to) {
		return true, ""
	}
	fr, tr := rank(from), rank(to)
	fu, tu := unit(from), unit(to)
	switch {
	case fu == tu:
		return true, "" // within a package's own tree
	case tr < 0:
		return false, "outside the designed layout"
	case tr > fr:
		return false, "imports run crypto ← wire ← chain ← {miner, net/*} ← net/node ← net/lab ← cmd"
	case tr < fr:
		return true, ""
	case fr == 3 && slices.Contains(siblings[fu], tu):
		return true, ""
	case tu == "miner":
		return false, "only net/node (and what is above it) may import the miner"
	case fr == 3:
		return false, "not among " + fu + "'s allowed siblings " + strings.Join(siblings[fu], ", ")
	}
	return false, "same layer"
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
		pkg := filepath.ToSlash(rel)
		if rank(pkg) < 0 {
			t.Errorf("%s: package %s is outside the designed layout (design.md §2)", path, pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(name, "_test.go")
		for _, imp := range f.Imports {
			target, _ := strconv.Unquote(imp.Path.Value)
			checked++
			if to, ok := strings.CutPrefix(target, module+"/"); ok {
				if ok, why := allowedImport(pkg, to, test); !ok {
					t.Errorf("%s imports %s: %s", path, to, why)
				}
				continue
			}
			for _, o := range owners {
				if !strings.HasPrefix(target, o.prefix) {
					continue
				}
				ok := false
				for _, a := range o.allowed {
					ok = ok || strings.HasPrefix(pkg, a)
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

// The rules themselves, on the cases design.md §2 names.
func TestImportRules(t *testing.T) {
	tests := []struct {
		from, to string
		test     bool
		want     bool
	}{
		{"wire", "crypto/sha256d", false, true},
		{"wire", "chain", false, false},
		{"chain/mempool", "chain", false, true},
		{"chain", "net/p2p", false, false},
		{"miner", "chain/mempool", false, true},
		{"miner", "net/p2p", false, false},
		{"net/p2p", "miner", false, false},
		{"net/api", "miner", false, false},
		{"net/node", "miner", false, true},
		{"net/node", "net/p2p", false, true},
		{"net/p2p", "net/node", false, false},
		{"net/p2p", "net/peer", false, true},
		{"net/peer", "net/p2p", false, false},
		{"net/peer", "net/sock/memnet", false, false},
		{"net/peer", "net/sock/memnet", true, true},
		{"net/discover", "net/sock", false, true},
		{"net/lab", "net/node", false, true},
		{"net/node", "net/lab", false, false},
		{"cmd/renga", "net/node", false, true},
		{"net/sock/netns", "net/sock", false, true},
	}
	for _, tt := range tests {
		if got, why := allowedImport(tt.from, tt.to, tt.test); got != tt.want {
			t.Errorf("%s → %s (test %v): allowed %v (%s), want %v", tt.from, tt.to, tt.test, got, why, tt.want)
		}
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
