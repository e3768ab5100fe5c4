package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// schemaVersion changes when the key layout or a record format does.
const schemaVersion = 1

// Key prefixes (see the package comment).
const (
	keyMagic   = 'N'
	keyVersion = 'V'
	keyTip     = 'T'
	keyIndex   = 'i'
	keyHeight  = 'h'
	keyCoin    = 'c'
	keyUndo    = 'u'
)

// FS is the file system the store works on (Pebble's interface), so that
// other packages can pass one without importing Pebble.
type FS = vfs.FS

// DiskFS is the operating system's file system.
func DiskFS() FS { return vfs.Default }

// Options configures Open. The zero value is usable: the real file system, no
// logging, a 64 MiB cache.
type Options struct {
	// FS is the file system for both the database and the block files; tests
	// pass an in-memory or crashable one. Nil means the operating system's.
	FS FS
	// CacheSize is Pebble's block cache in bytes. Zero means 64 MiB.
	CacheSize int64
	// MemTableSize is the size of Pebble's memtable in bytes (up to two may
	// be held while one is flushed). Zero means 32 MiB: fewer flushes while
	// importing.
	MemTableSize uint64
	// Logger receives Pebble's messages at debug level. Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 32 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DB is an open chain store.
type DB struct {
	dir    string
	fs     vfs.FS
	magic  wire.Magic
	db     *pebble.DB
	blocks *blockFiles
}

// Open opens (creating if needed) the store in dir for the network with the
// given magic. A directory that holds another network's data is refused.
func Open(dir string, magic wire.Magic, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref() // the DB holds its own reference
	pdb, err := pebble.Open(fs.PathJoin(dir, "chainstate"), &pebble.Options{
		FS:    fs,
		Cache: cache,
		// Pebble logs to stdout ("Found 0 WALs") unless given a logger.
		Logger:       pebbleLogger{opts.Logger},
		MemTableSize: opts.MemTableSize,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	db := &DB{dir: dir, fs: fs, magic: magic, db: pdb}
	if err := db.checkMeta(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, errors.Join(err, pdb.Close()))
	}
	db.blocks, err = openBlockFiles(fs, fs.PathJoin(dir, "blocks"), magic)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, errors.Join(err, pdb.Close()))
	}
	// A directory created above is only durable once its parent is synced;
	// without this a crash can lose the whole data directory, however well
	// the files inside it were synced.
	if err := errors.Join(syncDir(fs, fs.PathDir(dir)), syncDir(fs, dir)); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, errors.Join(err, db.Close()))
	}
	return db, nil
}

// syncDir makes a directory's entries durable.
func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// checkMeta records the network and schema on first open and refuses a
// mismatch afterwards.
func (db *DB) checkMeta() error {
	magic, err := db.get([]byte{keyMagic})
	switch {
	case errors.Is(err, ErrNotFound):
		b := db.db.NewBatch()
		return errors.Join(
			b.Set([]byte{keyMagic}, db.magic[:], nil),
			b.Set([]byte{keyVersion}, []byte{schemaVersion}, nil),
			b.Commit(pebble.Sync))
	case err != nil:
		return err
	case !bytes.Equal(magic, db.magic[:]):
		return fmt.Errorf("%w: magic %x, want %s", ErrWrongNetwork, magic, db.magic)
	}
	v, err := db.get([]byte{keyVersion})
	if err != nil {
		return err
	}
	if len(v) != 1 || v[0] != schemaVersion {
		return fmt.Errorf("%w: schema version %x, this build reads %d", ErrCorrupt, v, schemaVersion)
	}
	return nil
}

// Dir returns the directory the store was opened in.
func (db *DB) Dir() string { return db.dir }

// Close closes the database and the block files.
func (db *DB) Close() error {
	return errors.Join(db.blocks.close(), db.db.Close())
}

// get returns a copy of the value at key, or ErrNotFound.
func (db *DB) get(key []byte) ([]byte, error) {
	v, closer, err := db.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %q: %w", key, err)
	}
	v = bytes.Clone(v) // the value belongs to Pebble until closed
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("store: get %q: %w", key, err)
	}
	return v, nil
}

func indexKey(h *sha256d.Hash) []byte { return append([]byte{keyIndex}, h[:]...) }
func undoKey(h *sha256d.Hash) []byte  { return append([]byte{keyUndo}, h[:]...) }

func heightKey(height int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{keyHeight}, uint32(height))
}

func coinKey(op *wire.OutPoint) []byte {
	k := make([]byte, 0, 37)
	k = append(append(k, keyCoin), op.Hash[:]...)
	return binary.BigEndian.AppendUint32(k, op.Index)
}

// Tip is the active chain's tip as committed.
type Tip struct {
	Hash   sha256d.Hash
	Height int32
}

// Tip returns the committed tip, or ErrNotFound for an empty store.
func (db *DB) Tip() (Tip, error) {
	v, err := db.get([]byte{keyTip})
	if err != nil {
		return Tip{}, err
	}
	if len(v) != 36 {
		return Tip{}, fmt.Errorf("%w: tip marker of %d bytes", ErrCorrupt, len(v))
	}
	return Tip{Hash: sha256d.Hash(v[:32]), Height: int32(binary.BigEndian.Uint32(v[32:]))}, nil
}

// Coin returns the unspent output at op, or ErrNotFound.
func (db *DB) Coin(op wire.OutPoint) (Coin, error) {
	v, err := db.get(coinKey(&op))
	if err != nil {
		return Coin{}, err
	}
	c, err := decodeCoin(v)
	if err != nil {
		return Coin{}, fmt.Errorf("store: coin %s: %w", op, err)
	}
	return c, nil
}

// Undo returns the undo record of a connected block.
func (db *DB) Undo(hash sha256d.Hash) (Undo, error) {
	v, err := db.get(undoKey(&hash))
	if err != nil {
		return Undo{}, err
	}
	u, err := decodeUndo(v)
	if err != nil {
		return Undo{}, fmt.Errorf("store: undo of %s: %w", hash, err)
	}
	return u, nil
}

// HashAt returns the hash of the active chain's block at height.
func (db *DB) HashAt(height int32) (sha256d.Hash, error) {
	v, err := db.get(heightKey(height))
	if err != nil {
		return sha256d.Hash{}, err
	}
	if len(v) != 32 {
		return sha256d.Hash{}, fmt.Errorf("store: height %d: %w: %d bytes", height, ErrCorrupt, len(v))
	}
	return sha256d.Hash(v), nil
}

// ForEachIndex calls fn for every block index entry, in hash order.
func (db *DB) ForEachIndex(fn func(hash sha256d.Hash, e IndexEntry) error) error {
	return db.scan(keyIndex, func(k, v []byte) error {
		if len(k) != 33 {
			return fmt.Errorf("store: index key %x: %w", k, ErrCorrupt)
		}
		e, err := decodeIndexEntry(v)
		if err != nil {
			return fmt.Errorf("store: index entry %x: %w", k[1:], err)
		}
		return fn(sha256d.Hash(k[1:]), e)
	})
}

// ForEachCoin calls fn for every unspent output in (txid, index) order.
func (db *DB) ForEachCoin(fn func(op wire.OutPoint, c Coin) error) error {
	return db.scan(keyCoin, func(k, v []byte) error {
		if len(k) != 37 {
			return fmt.Errorf("store: coin key %x: %w", k, ErrCorrupt)
		}
		op := wire.OutPoint{Hash: sha256d.Hash(k[1:33]), Index: binary.BigEndian.Uint32(k[33:])}
		c, err := decodeCoin(v)
		if err != nil {
			return fmt.Errorf("store: coin %s: %w", op, err)
		}
		return fn(op, c)
	})
}

// scan iterates the keys with one prefix byte. Keys and values passed to fn
// are only valid during the call.
func (db *DB) scan(prefix byte, fn func(k, v []byte) error) (err error) {
	it, err := db.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store: scan: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return it.Error()
}

// AppendBlocks appends block bodies to the block files and makes them durable
// (one fsync for all of them) before returning where they are. Pass many
// blocks at once when importing or syncing: an fsync costs more than
// validating an early block.
func (db *DB) AppendBlocks(raws [][]byte) ([]BlockPos, error) {
	return db.blocks.append(raws)
}

// ReadBlock returns the body stored at pos, checking the record header in
// front of it.
func (db *DB) ReadBlock(pos BlockPos) ([]byte, error) { return db.blocks.read(pos) }

// ResetChainState deletes the UTXO set, the undo records and the height index
// and sets the tip to genesis, atomically and durably: the first step of
// rebuilding the chain state from the stored blocks.
func (db *DB) ResetChainState(genesis Tip) error {
	b := db.db.NewBatch()
	for _, prefix := range []byte{keyCoin, keyUndo, keyHeight} {
		if err := b.DeleteRange([]byte{prefix}, []byte{prefix + 1}, nil); err != nil {
			return fmt.Errorf("store: reset: %w", err)
		}
	}
	v := binary.BigEndian.AppendUint32(append([]byte(nil), genesis.Hash[:]...), uint32(genesis.Height))
	err := errors.Join(b.Set(heightKey(0), genesis.Hash[:], nil), b.Set([]byte{keyTip}, v, nil))
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("store: reset: %w", err)
	}
	return nil
}

// Batch is a set of chain-state changes committed atomically and durably. It
// remembers the first error of any change and Commit returns it.
type Batch struct {
	b   *pebble.Batch
	buf []byte
	err error
}

// NewBatch starts a batch.
func (db *DB) NewBatch() *Batch { return &Batch{b: db.db.NewBatch()} }

func (b *Batch) keep(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}

func (b *Batch) set(key []byte, rec interface{ AppendBinary([]byte) ([]byte, error) }) {
	var err error
	b.buf, err = rec.AppendBinary(b.buf[:0])
	b.keep(err)
	b.keep(b.b.Set(key, b.buf, nil)) // Set copies key and value into the batch
}

// PutIndex writes a block index entry.
func (b *Batch) PutIndex(hash sha256d.Hash, e *IndexEntry) { b.set(indexKey(&hash), e) }

// DeleteIndex removes a block index entry (a header the chain no longer
// keeps: a side branch that fell too far behind).
func (b *Batch) DeleteIndex(hash sha256d.Hash) { b.keep(b.b.Delete(indexKey(&hash), nil)) }

// PutCoin adds an unspent output.
func (b *Batch) PutCoin(op wire.OutPoint, c *Coin) { b.set(coinKey(&op), c) }

// DeleteCoin removes an output (spent, or created by a disconnected block).
func (b *Batch) DeleteCoin(op wire.OutPoint) { b.keep(b.b.Delete(coinKey(&op), nil)) }

// PutUndo writes a block's undo record.
func (b *Batch) PutUndo(hash sha256d.Hash, u *Undo) { b.set(undoKey(&hash), u) }

// DeleteUndo removes a disconnected block's undo record.
func (b *Batch) DeleteUndo(hash sha256d.Hash) { b.keep(b.b.Delete(undoKey(&hash), nil)) }

// PutHeight records the active chain's block at height.
func (b *Batch) PutHeight(height int32, hash sha256d.Hash) {
	b.keep(b.b.Set(heightKey(height), hash[:], nil))
}

// DeleteHeight removes a height that is no longer in the active chain.
func (b *Batch) DeleteHeight(height int32) { b.keep(b.b.Delete(heightKey(height), nil)) }

// SetTip moves the tip marker.
func (b *Batch) SetTip(t Tip) {
	v := binary.BigEndian.AppendUint32(append([]byte(nil), t.Hash[:]...), uint32(t.Height))
	b.keep(b.b.Set([]byte{keyTip}, v, nil))
}

// Len is the number of changes in the batch.
func (b *Batch) Len() int { return int(b.b.Count()) }

// Commit applies the batch atomically and waits until it is durable.
func (b *Batch) Commit() error {
	if b.err != nil {
		return fmt.Errorf("store: batch: %w", errors.Join(b.err, b.b.Close()))
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: commit: %w", errors.Join(err, b.b.Close()))
	}
	return b.b.Close()
}

// Discard drops an uncommitted batch.
func (b *Batch) Discard() error { return b.b.Close() }

// pebbleLogger sends Pebble's messages to slog at debug level (errors at error
// level); Pebble's Fatalf must not exit the process, so it logs and panics as
// Pebble expects of a Fatalf that returns.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble: fatal: " + msg)
	panic("pebble: " + msg)
}

var _ io.Closer = (*DB)(nil)
