// Package realdata finds the real Bitcoin data that ships inside btcd's Go
// modules (blocks in wire/testdata and blockchain/testdata, script and sighash
// vectors in txscript/data), so that Renga is tested on real bytes without
// copying them into the repository.
package realdata

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Module paths and the versions pinned in this module's go.mod.
const (
	WireModule     = "github.com/btcsuite/btcd/wire/v2"
	TxscriptModule = "github.com/btcsuite/btcd/txscript/v2"
	BtcdModule     = "github.com/btcsuite/btcd"
)

// File returns the path of a file inside a module of the build list.
func File(tb testing.TB, module string, rel ...string) string {
	tb.Helper()
	path, err := Path(module, rel...)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// Path is File for programs.
func Path(module string, rel ...string) (string, error) {
	dir, err := ModuleDir(module)
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{dir}, rel...)...), nil
}

// MainnetBlocksFile is the path of btcd's file of mainnet blocks 0–14131.
func MainnetBlocksFile() (string, error) {
	return Path(BtcdModule, "blockchain", "testdata", "blk_0_to_14131.dat")
}

// The two real mainnet blocks in btcd's wire/testdata, named by their hashes.
const (
	// Block574200 is mainnet block 574,200: 1.2 MB, 3,315 transactions.
	Block574200 = "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2"
	// Block540107 is mainnet block 540,107: 2.3 MB, a large segwit block.
	Block540107 = "00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab"
)

var dirs sync.Map // module path -> directory

// ModuleDir returns the directory of a module in this module's build list,
// downloading it through the module proxy if needed.
func ModuleDir(module string) (string, error) {
	if d, ok := dirs.Load(module); ok {
		return d.(string), nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	dir := strings.TrimSpace(string(out))
	if err == nil && dir == "" {
		// In the build list but not yet extracted: download it.
		if err = exec.Command("go", "mod", "download", module).Run(); err == nil {
			out, err = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
			dir = strings.TrimSpace(string(out))
		}
	}
	if err != nil || dir == "" {
		return "", fmt.Errorf("realdata: locate module %s: %v %s", module, err, exitText(err))
	}
	dirs.Store(module, dir)
	return dir, nil
}

func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// Block returns the raw bytes of one of the blocks in btcd's wire/testdata.
func Block(tb testing.TB, hash string) []byte {
	tb.Helper()
	b, err := LoadBlock(hash)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// LoadBlock is [Block] for programs: it returns an error instead of failing a test.
func LoadBlock(hash string) ([]byte, error) {
	dir, err := ModuleDir(WireModule)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "testdata", "block-"+hash+".blk")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("realdata: %w", err)
	}
	// The file name is the block hash: check that we read the right bytes.
	if got := sha256d.Sum(b[:80]).String(); got != hash {
		return nil, fmt.Errorf("realdata: %s: header hashes to %s", path, got)
	}
	return b, nil
}
