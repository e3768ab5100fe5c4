// Package storetest provides file systems for testing the chain store without
// a disk: in memory, and crashable (a copy of the disk as a crash at any
// moment could leave it). It wraps Pebble's vfs, so that tests outside
// chain/store need not import Pebble. For tests only.
package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/renga-p2p/renga/chain/store"
)

// MemFS returns an empty in-memory file system.
func MemFS() store.FS { return vfs.NewMem() }

// CrashFS is an in-memory file system that, while armed, takes a crash clone
// before every operation that changes it: each clone is the disk as a crash
// just before that write could leave it, with synced data kept and
// UnsyncedPercent percent of unsynced data surviving.
type CrashFS struct {
	mem             *vfs.MemFS
	fs              store.FS
	unsyncedPercent int
	rng             *rand.Rand

	mu     sync.Mutex
	armed  bool
	clones []Clone
}

// Clone is the disk at one crash point.
type Clone struct {
	FS store.FS
	Op string // the operation that was about to happen
}

// NewCrashFS returns an empty crashable file system.
func NewCrashFS(unsyncedPercent int, seed uint64) *CrashFS {
	c := &CrashFS{mem: vfs.NewCrashableMem(), unsyncedPercent: unsyncedPercent, rng: rand.New(rand.NewPCG(seed, 7))}
	c.fs = errorfs.Wrap(c.mem, errorfs.InjectorFunc(c.inject))
	return c
}

// FS is the file system to give the store.
func (c *CrashFS) FS() store.FS { return c.fs }

func (c *CrashFS) inject(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed {
		c.clones = append(c.clones, Clone{FS: c.clone(), Op: fmt.Sprintf("%v %s", op.Kind, op.Path)})
	}
	return nil
}

func (c *CrashFS) clone() store.FS {
	return c.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: c.unsyncedPercent, RNG: c.rng})
}

// Arm starts taking clones.
func (c *CrashFS) Arm() {
	c.mu.Lock()
	c.armed, c.clones = true, nil
	c.mu.Unlock()
}

// Disarm stops taking clones and returns them, plus one of the disk as it is
// now (a crash right after the operation returned).
func (c *CrashFS) Disarm() []Clone {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	return append(c.clones, Clone{FS: c.clone(), Op: "after the operation returned"})
}

// FlipByte inverts one byte of a file in place.
func FlipByte(fs store.FS, name string, offset int64) error {
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err = f.ReadAt(b, offset); err == nil {
		b[0] ^= 0xff
		_, err = f.WriteAt(b, offset)
	}
	return errors.Join(err, f.Close())
}
