package addrbook

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Errors of the files. Load and LoadAnchors do not return them for a bad
// file (they set it aside and log one of these); they name what was wrong.
var (
	ErrCorrupt = errors.New("addrbook: corrupt file")
	// ErrVersion is a file of a format this version cannot read; it wraps
	// ErrCorrupt, since the book treats it the same way.
	ErrVersion = fmt.Errorf("%w: unsupported version", ErrCorrupt)
)

// File layout (all integers little endian), followed by the SHA-256 of
// everything before it:
//
//	book:    "RENGAADR" | version u16 (1) | key [32] | new u32 | tried u32 |
//	         new × (record | refs u8 | refs × bucket u16) | tried × record
//	record:  addr [16] | port u16 | services u64 | last seen, last try,
//	         last success i64 (Unix seconds, 0 = never) | attempts u32 |
//	         source [16] (all zero = none)
//	anchors: "RENGAANC" | version u16 (1) | count u8 (≤ 2) | count × (addr [16] | port u16)
//
// IPv4 addresses are stored IPv4-mapped.
const (
	bookMagic      = "RENGAADR"
	anchorsMagic   = "RENGAANC"
	fileVersion    = 1
	recordSize     = 16 + 2 + 8 + 3*8 + 4 + 16
	maxBookFile    = 16 << 20 // far above the largest book (about 5 MB)
	maxAnchors     = 2
	maxAttempts    = 1 << 20 // a bound for what a file may claim
	checksumLength = sha256.Size
)

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) time(t time.Time) {
	var v int64
	if !t.IsZero() {
		v = t.Unix()
	}
	e.u64(uint64(v))
}
func (e *encoder) addr(a netip.Addr) {
	var b [16]byte
	if a.IsValid() {
		b = a.As16()
	}
	e.b = append(e.b, b[:]...)
}
func (e *encoder) addrPort(a netip.AddrPort) { e.addr(a.Addr()); e.u16(a.Port()) }

func (e *encoder) record(x *Entry) {
	e.addrPort(x.Addr)
	e.u64(x.Services)
	e.time(x.LastSeen)
	e.time(x.LastTry)
	e.time(x.LastSuccess)
	e.u32(uint32(x.Attempts))
	e.addr(x.Source)
}

// seal appends the checksum.
func (e *encoder) seal() []byte {
	sum := sha256.Sum256(e.b)
	return append(e.b, sum[:]...)
}

// decoder reads a file's body, remembering the first problem.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return make([]byte, n)
	}
	if len(d.b) < n {
		d.fail("truncated")
		return make([]byte, n)
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) u8() uint8   { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }
func (d *decoder) time() time.Time {
	v := int64(d.u64())
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0)
}
func (d *decoder) addr() netip.Addr {
	b := [16]byte(d.take(16))
	if b == [16]byte{} {
		return netip.Addr{}
	}
	return netip.AddrFrom16(b).Unmap()
}
func (d *decoder) addrPort() netip.AddrPort { a := d.addr(); return netip.AddrPortFrom(a, d.u16()) }

func (d *decoder) record() Entry {
	var x Entry
	x.Addr = d.addrPort()
	x.Services = d.u64()
	x.LastSeen = d.time()
	x.LastTry = d.time()
	x.LastSuccess = d.time()
	if a := d.u32(); a > maxAttempts {
		d.fail("%d attempts", a)
	} else {
		x.Attempts = int(a)
	}
	x.Source = d.addr()
	return x
}

// count reads a count of items of at least size bytes each, bounded by
// limit and by the bytes left.
func (d *decoder) count(raw uint32, limit, size int, what string) int {
	if d.err == nil && (int64(raw) > int64(limit) || int64(raw)*int64(size) > int64(len(d.b))) {
		d.fail("%d %s", raw, what)
	}
	if d.err != nil {
		return 0
	}
	return int(raw)
}

// open checks a file's frame (length, checksum, magic, version) and returns
// a decoder over its body.
func open(raw []byte, magic string) *decoder {
	d := &decoder{}
	if len(raw) < len(magic)+2+checksumLength {
		d.fail("truncated: %d bytes", len(raw))
		return d
	}
	body, sum := raw[:len(raw)-checksumLength], raw[len(raw)-checksumLength:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		d.fail("checksum mismatch")
		return d
	}
	d.b = body
	if string(d.take(len(magic))) != magic {
		d.fail("not a %s file", magic)
		return d
	}
	if v := d.u16(); d.err == nil && v != fileVersion {
		d.err = fmt.Errorf("%w %d (this version reads %d)", ErrVersion, v, fileVersion)
	}
	return d
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so that a
// crash leaves either the old file or the new one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// readFile reads a whole file of at most limit bytes; a larger one is
// corrupt (nothing this package writes is that big).
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, limit)
	}
	return raw, nil
}

// setAside renames a bad file to path.corrupt-<UTC time> (with a number if
// that exists) and logs it, so that the node starts without it and the
// file is still there to look at.
func (b *Book) setAside(path string, why error) error {
	stamp := b.cfg.Now().UTC().Format("20060102T150405Z")
	aside := path + ".corrupt-" + stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i == 100 {
			return fmt.Errorf("addrbook: set aside %s: too many corrupt copies", path)
		}
		aside = fmt.Sprintf("%s.corrupt-%s-%d", path, stamp, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("addrbook: set aside %s: %w", path, err)
	}
	b.log.Warn("unreadable file set aside; starting without it", "path", path, "moved_to", aside, "err", why)
	return nil
}

// Save writes the book to path atomically. Collisions waiting for a test
// are not kept (a feeler finds them again).
func (b *Book) Save(path string) error {
	b.mu.Lock()
	e := &encoder{b: make([]byte, 0, 64+len(b.random)*(recordSize+17)+checksumLength)}
	e.b = append(e.b, bookMagic...)
	e.u16(fileVersion)
	e.b = append(e.b, b.key[:]...)
	e.u32(uint32(b.nNew))
	e.u32(uint32(b.nTried))
	for _, x := range b.random {
		if x.triedSlot < 0 {
			e.record(&x.Entry)
			e.u8(uint8(len(x.refs)))
			for _, s := range x.refs {
				e.u16(uint16(int(s) / bucketSize))
			}
		}
	}
	for _, x := range b.random {
		if x.triedSlot >= 0 {
			e.record(&x.Entry)
		}
	}
	b.mu.Unlock()
	if err := writeAtomic(path, e.seal()); err != nil {
		return fmt.Errorf("addrbook: save %s: %w", path, err)
	}
	return nil
}

// Load replaces the book's contents, key included, with what Save wrote to
// path. A missing file leaves the book empty. A file that is truncated,
// corrupt, of another version or fails its checksum is set aside (renamed
// to path.corrupt-<time>) with a warning naming it and the reason, and the
// book starts empty: a bad file never stops the node. Load returns an error
// only when the file cannot be read or set aside; the book is empty and
// usable then too.
func (b *Book) Load(path string) error {
	raw, err := readFile(path, maxBookFile)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reset()
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, ErrCorrupt):
		return b.setAside(path, err)
	case err != nil:
		return fmt.Errorf("addrbook: load %s: %w", path, err)
	}
	key := b.key
	if err := b.decode(raw); err != nil {
		b.reset()
		b.key = key
		return b.setAside(path, err)
	}
	b.log.Info("address book loaded", "path", path, "new", b.nNew, "tried", b.nTried)
	return nil
}

// decode fills an empty book from a file. Placements are recomputed from
// the key and checked against the tables; what no longer fits is dropped,
// as Bitcoin Core does.
func (b *Book) decode(raw []byte) error {
	d := open(raw, bookMagic)
	key := [32]byte(d.take(32))
	nNew := d.count(d.u32(), newBucketCount*bucketSize, recordSize+3, "new entries")
	nTried := d.count(d.u32(), triedBucketCount*bucketSize, recordSize, "tried entries")
	if d.err != nil {
		return d.err
	}
	b.key = key
	lost := 0
	for range nNew {
		x := d.record()
		n := int(d.u8())
		if n == 0 || n > maxNewRefs {
			d.fail("%d new buckets for one entry", n)
		}
		var buckets [maxNewRefs]int
		for i := range n {
			buckets[i] = int(d.u16())
			if buckets[i] >= newBucketCount {
				d.fail("new bucket %d", buckets[i])
			}
		}
		if d.err != nil {
			return d.err
		}
		if !b.restorable(&x) {
			lost++
			continue
		}
		e := b.create(x.Addr, x.Source, x.Services, x.LastSeen)
		e.Entry = x
		for _, bucket := range buckets[:n] {
			if slot := b.newSlot(e, bucket); b.newT.slots[slot] == nil && !inBucket(e.refs, bucket) {
				b.newT.set(slot, e)
				e.refs = append(e.refs, int32(slot))
			}
		}
		if len(e.refs) == 0 {
			b.drop(e)
			lost++
		}
	}
	for range nTried {
		x := d.record()
		if d.err != nil {
			return d.err
		}
		if !b.restorable(&x) || x.LastSuccess.IsZero() {
			lost++
			continue
		}
		e := b.create(x.Addr, x.Source, x.Services, x.LastSeen)
		e.Entry = x
		slot := b.triedSlotFor(e)
		if b.triedT.slots[slot] != nil {
			b.drop(e)
			lost++
			continue
		}
		b.triedT.set(slot, e)
		e.triedSlot = int32(slot)
		b.nNew--
		b.nTried++
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the entries", len(d.b))
	}
	if lost > 0 {
		b.log.Info("address book entries dropped while loading", "lost", lost)
	}
	return d.err
}

// restorable reports whether a record from a file may enter the book.
func (b *Book) restorable(x *Entry) bool {
	if !x.Source.IsValid() {
		x.Source = x.Addr.Addr()
	}
	_, dup := b.entries[x.Addr]
	return !dup && acceptable(x.Addr, x.Source)
}

// SaveAnchors writes the addresses of the block-relay-only peers to keep
// across a restart (Bitcoin Core's anchors.dat) to path, atomically: at
// most the first two.
func (b *Book) SaveAnchors(path string, anchors []netip.AddrPort) error {
	anchors = anchors[:min(len(anchors), maxAnchors)]
	e := &encoder{}
	e.b = append(e.b, anchorsMagic...)
	e.u16(fileVersion)
	e.u8(uint8(len(anchors)))
	for _, a := range anchors {
		e.addrPort(unmapAP(a))
	}
	if err := writeAtomic(path, e.seal()); err != nil {
		return fmt.Errorf("addrbook: save anchors %s: %w", path, err)
	}
	return nil
}

// LoadAnchors reads what SaveAnchors wrote and deletes the file, so that a
// crash before the next clean shutdown does not bring the same anchors back
// (they may be what made us crash). A missing file is no anchors; a bad one
// is set aside as Load does. The book keeps nothing of it (these methods
// belong to Book for its logger and clock).
func (b *Book) LoadAnchors(path string) ([]netip.AddrPort, error) {
	raw, err := readFile(path, 1024)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, ErrCorrupt):
		return nil, b.setAside(path, err)
	case err != nil:
		return nil, fmt.Errorf("addrbook: load anchors %s: %w", path, err)
	}
	d := open(raw, anchorsMagic)
	n := d.count(uint32(d.u8()), maxAnchors, 18, "anchors")
	var out []netip.AddrPort
	for range n {
		a := d.addrPort()
		if d.err == nil && !acceptable(a, netip.Addr{}) {
			d.fail("anchor %v", a)
		}
		out = append(out, a)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the anchors", len(d.b))
	}
	if d.err != nil {
		return nil, b.setAside(path, d.err)
	}
	if err := os.Remove(path); err != nil {
		return out, fmt.Errorf("addrbook: remove anchors %s: %w", path, err)
	}
	return out, nil
}
