package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/renga-p2p/renga/wire"
)

// MaxBlockFileSize is when a block file is closed and the next one started.
const MaxBlockFileSize = 128 << 20

const recordHeaderSize = 8 // magic | length

// blockFiles appends block bodies to blkNNNNN.dat files and reads them back.
type blockFiles struct {
	fs    vfs.FS
	dir   string
	magic wire.Magic

	mu      sync.Mutex
	cur     vfs.File // the file being appended to
	curNum  uint32
	curSize int64
	readers map[uint32]vfs.File // open files for reading, by number
}

func blockFileName(n uint32) string { return fmt.Sprintf("blk%05d.dat", n) }

// openBlockFiles finds the highest numbered file and starts the next one, so
// that bytes a crashed process wrote past its last commit are never extended.
func openBlockFiles(fs vfs.FS, dir string, magic wire.Magic) (*blockFiles, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, err
	}
	next := uint32(0)
	for _, name := range names {
		var n uint32
		if _, err := fmt.Sscanf(name, "blk%05d.dat", &n); err == nil && strings.HasSuffix(name, ".dat") && n+1 > next {
			next = n + 1
		}
	}
	bf := &blockFiles{fs: fs, dir: dir, magic: magic, readers: map[uint32]vfs.File{}}
	if err := bf.startFile(next); err != nil {
		return nil, err
	}
	return bf, nil
}

func (bf *blockFiles) startFile(n uint32) error {
	f, err := bf.fs.Create(bf.fs.PathJoin(bf.dir, blockFileName(n)), vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	// The new file's directory entry must survive a crash too.
	if err := syncDir(bf.fs, bf.dir); err != nil {
		return errors.Join(err, f.Close())
	}
	var closeErr error
	if bf.cur != nil {
		closeErr = bf.cur.Close() // already synced: nothing is lost if this fails
	}
	bf.cur, bf.curNum, bf.curSize = f, n, 0
	return closeErr
}

func (bf *blockFiles) append(raws [][]byte) ([]BlockPos, error) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	pos := make([]BlockPos, 0, len(raws))
	var buf []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := bf.cur.Write(buf); err != nil {
			return fmt.Errorf("store: write %s: %w", blockFileName(bf.curNum), err)
		}
		bf.curSize += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	for _, raw := range raws {
		if bf.curSize+int64(len(buf))+recordHeaderSize+int64(len(raw)) > MaxBlockFileSize && bf.curSize+int64(len(buf)) > 0 {
			if err := errors.Join(flush(), bf.sync()); err != nil {
				return nil, err
			}
			if err := bf.startFile(bf.curNum + 1); err != nil {
				return nil, fmt.Errorf("store: start block file: %w", err)
			}
		}
		offset := bf.curSize + int64(len(buf)) + recordHeaderSize
		buf = append(buf, bf.magic[:]...)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(raw)))
		buf = append(buf, raw...)
		pos = append(pos, BlockPos{File: bf.curNum, Offset: uint32(offset), Size: uint32(len(raw))})
		if len(buf) > 4<<20 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := errors.Join(flush(), bf.sync()); err != nil {
		return nil, err
	}
	return pos, nil
}

func (bf *blockFiles) sync() error {
	if err := bf.cur.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", blockFileName(bf.curNum), err)
	}
	return nil
}

func (bf *blockFiles) read(pos BlockPos) ([]byte, error) {
	if pos.Size == 0 || pos.Offset < recordHeaderSize {
		return nil, fmt.Errorf("store: read block: %w: no body at %+v", ErrNotFound, pos)
	}
	f, err := bf.reader(pos.File)
	if err != nil {
		return nil, err
	}
	name := bf.fs.PathJoin(bf.dir, blockFileName(pos.File))
	rec := make([]byte, recordHeaderSize+int(pos.Size))
	if _, err := f.ReadAt(rec, int64(pos.Offset)-recordHeaderSize); err != nil {
		return nil, fmt.Errorf("store: read %s at %d: %w: %v", name, pos.Offset, ErrCorrupt, err)
	}
	if wire.Magic(rec[:4]) != bf.magic || binary.LittleEndian.Uint32(rec[4:]) != pos.Size {
		return nil, fmt.Errorf("store: read %s at %d: %w: record header %x does not match", name, pos.Offset, ErrCorrupt, rec[:8])
	}
	return rec[recordHeaderSize:], nil
}

// reader returns an open handle on a block file.
func (bf *blockFiles) reader(n uint32) (vfs.File, error) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	// The file being appended to gets its own read handle too, so that a
	// rotation closing the append handle cannot break a read in progress.
	if f, ok := bf.readers[n]; ok {
		return f, nil
	}
	name := bf.fs.PathJoin(bf.dir, blockFileName(n))
	f, err := bf.fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if len(bf.readers) >= 64 { // bound open files: drop the lowest numbered
		keys := slices.Sorted(maps.Keys(bf.readers))
		if err := bf.readers[keys[0]].Close(); err != nil {
			return nil, fmt.Errorf("store: close %s: %w", blockFileName(keys[0]), err)
		}
		delete(bf.readers, keys[0])
	}
	bf.readers[n] = f
	return f, nil
}

func (bf *blockFiles) close() error {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	var errs []error
	for _, f := range bf.readers {
		errs = append(errs, f.Close())
	}
	if bf.cur != nil {
		errs = append(errs, bf.cur.Close())
	}
	return errors.Join(errs...)
}
