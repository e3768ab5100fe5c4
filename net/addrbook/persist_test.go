package addrbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// filledBook is a book with new entries (some in several buckets), tried
// entries and loopback ones.
func filledBook(t *testing.T, c *clock) *Book {
	t.Helper()
	b := testBook(t, 21, c)
	for i := range 3000 {
		b.Add(pub(500+i%40, 1).Addr(), 2*time.Hour, Entry{Addr: pub(i%1500, i), Services: uint64(i), LastSeen: c.now().Add(-time.Duration(i) * time.Second)})
	}
	for i := range 200 {
		a := pub(i, i)
		b.Attempt(a, true)
		b.Good(a, 9)
		c.advance(time.Second)
	}
	for i := range 16 {
		b.Add(ip("127.0.0.1"), 0, Entry{Addr: netip.AddrPortFrom(ip("127.0.0.1"), uint16(30000+i)), LastSeen: c.now()})
	}
	b.Attempt(pub(1400, 1400), true)
	check(t, b)
	return b
}

func TestSaveLoad(t *testing.T) {
	c := newClock()
	b := filledBook(t, c)
	path := filepath.Join(t.TempDir(), "peers.dat")
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	back := testBook(t, 22, c) // another key: Load takes the file's
	if err := back.Load(path); err != nil {
		t.Fatal(err)
	}
	check(t, back)
	if back.key != b.key {
		t.Fatal("the key was not restored")
	}
	n1, t1 := b.Len()
	n2, t2 := back.Len()
	if n1 != n2 || t1 != t2 {
		t.Fatalf("saved %d new %d tried, loaded %d %d", n1, t1, n2, t2)
	}
	loaded := map[netip.AddrPort]Entry{}
	for _, e := range back.Entries() {
		loaded[e.Addr] = e
	}
	for _, w := range b.Entries() {
		g := loaded[w.Addr]
		if w.Addr != g.Addr || w.Services != g.Services || w.LastSeen.Unix() != g.LastSeen.Unix() || w.LastTry.Unix() != g.LastTry.Unix() ||
			w.LastSuccess.Unix() != g.LastSuccess.Unix() || w.Attempts != g.Attempts || w.Source != g.Source || w.Tried != g.Tried {
			t.Fatalf("saved %+v, loaded %+v", w, g)
		}
		r1, s1 := b.placement(w.Addr)
		r2, s2 := back.placement(w.Addr)
		if IsLocal(w.Addr.Addr()) { // may take another free position of the same bucket
			for i := range r1 {
				r1[i] /= bucketSize
			}
			for i := range r2 {
				r2[i] /= bucketSize
			}
			s1, s2 = s1/bucketSize, s2/bucketSize
		}
		if !slices.Equal(r1, r2) || s1 != s2 {
			t.Fatalf("%v: saved at %v/%d, loaded at %v/%d", w.Addr, r1, s1, r2, s2)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("files left beside the book: %v", entries)
	}
	if err := New(Config{}).Load(filepath.Join(t.TempDir(), "none.dat")); err != nil {
		t.Fatalf("a missing file: %v", err)
	}
}

// reseal replaces a file's checksum after a change to its body.
func reseal(raw []byte, change func(body []byte) []byte) []byte {
	body := change(slices.Clone(raw[:len(raw)-sha256.Size]))
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

func TestLoadBadFiles(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.dat")
	if err := filledBook(t, c).Save(good); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const header = 8 + 2 + 32 // magic, version, key
	for _, tc := range []struct {
		name    string
		data    []byte
		version bool // the reason is ErrVersion
	}{
		{"empty", nil, false},
		{"truncated to the header", raw[:header], false},
		{"truncated by one byte", raw[:len(raw)-1], false},
		{"truncated in half", raw[:len(raw)/2], false},
		{"a flipped bit", func() []byte { r := slices.Clone(raw); r[len(r)/3] ^= 4; return r }(), false},
		{"a flipped checksum", func() []byte { r := slices.Clone(raw); r[len(r)-1] ^= 1; return r }(), false},
		{"another version", reseal(raw, func(b []byte) []byte { binary.LittleEndian.PutUint16(b[8:], 2); return b }), true},
		{"another magic", reseal(raw, func(b []byte) []byte { b[0] = 'X'; return b }), false},
		{"bytes after the entries", reseal(raw, func(b []byte) []byte { return append(b, 0) }), false},
		{"an entry cut off", reseal(raw, func(b []byte) []byte { return b[:len(b)-5] }), false},
		{"a count past the bytes", reseal(raw, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[header:], 60_000); return b }), false},
		{"a count past the table", reseal(raw, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[header:], 1<<30); return b }), false},
		{"no buckets for an entry", reseal(raw, func(b []byte) []byte { b[header+8+recordSize] = 0; return b }), false},
		{"a bucket past the table", reseal(raw, func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[header+8+recordSize+1:], 5000)
			return b
		}), false},
		{"too big", bytes.Repeat([]byte{1}, maxBookFile+1), false},
		{"text", []byte(`{"addresses": []}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peers.dat")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			logs := &logRecorder{}
			b := New(Config{Seed: 1, Now: c.now, Logger: slog.New(logs)})
			b.Add(ip("9.9.9.9"), 0, Entry{Addr: ap("1.2.3.4:8333"), LastSeen: c.now()}) // Load replaces this
			if err := b.Load(path); err != nil {
				t.Fatalf("Load = %v, want nil (a bad file never stops the node)", err)
			}
			if n, tr := b.Len(); n != 0 || tr != 0 {
				t.Fatalf("book has %d new %d tried after a bad file", n, tr)
			}
			attrs, ok := logs.find(slog.LevelWarn, "unreadable file set aside; starting without it")
			if !ok {
				t.Fatal("no warning logged")
			}
			why, _ := attrs["err"].(error)
			if attrs["path"] != path || !errors.Is(why, ErrCorrupt) || errors.Is(why, ErrVersion) != tc.version {
				t.Fatalf("warning %v: want path %s and a reason wrapping ErrCorrupt (ErrVersion %v)", attrs, path, tc.version)
			}
			moved, _ := attrs["moved_to"].(string)
			if kept, err := os.ReadFile(moved); err != nil || !bytes.Equal(kept, tc.data) {
				t.Fatalf("the bad file is not at %q unchanged: %v", moved, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the bad file is still at %s: %v", path, err)
			}
			// The book works, and the next save and load are clean.
			b.Good(ap("1.2.3.4:8333"), 1)
			if err := b.Save(path); err != nil {
				t.Fatal(err)
			}
			if err := b.Load(path); err != nil {
				t.Fatal(err)
			}
			if _, tr := b.Len(); tr != 1 {
				t.Fatalf("after a clean save and load: %d tried", tr)
			}
		})
	}
	t.Run("two bad files in one second", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "peers.dat")
		b := New(Config{Now: c.now})
		for range 2 {
			if err := os.WriteFile(path, []byte("junk"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := b.Load(path); err != nil {
				t.Fatal(err)
			}
		}
		aside, _ := filepath.Glob(path + ".corrupt-*")
		if len(aside) != 2 {
			t.Fatalf("set aside: %v, want both", aside)
		}
	})
}

func TestAnchors(t *testing.T) {
	c := newClock()
	b := testBook(t, 23, c)
	dir := t.TempDir()
	path := filepath.Join(dir, "anchors.dat")
	in := []netip.AddrPort{ap("1.2.3.4:8333"), ap("[2a01:4f8::1]:8333"), ap("5.6.7.8:8333")}
	if err := b.SaveAnchors(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadAnchors(path)
	if err != nil || !slices.Equal(got, in[:2]) {
		t.Fatalf("LoadAnchors = %v %v, want the first two of %v", got, err, in)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("anchors file still there after loading: %v", err)
	}
	if got, err := b.LoadAnchors(path); got != nil || err != nil {
		t.Fatalf("second LoadAnchors = %v %v, want none", got, err)
	}
	if err := b.SaveAnchors(path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LoadAnchors(path); len(got) != 0 || err != nil {
		t.Fatalf("no anchors: %v %v", got, err)
	}
	if err := b.SaveAnchors(path, in); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", raw[:len(raw)-3]},
		{"bad checksum", func() []byte { r := slices.Clone(raw); r[12] ^= 1; return r }()},
		{"another version", reseal(raw, func(b []byte) []byte { b[8] = 9; return b })},
		{"three anchors", reseal(raw, func(b []byte) []byte { b[10] = 3; return append(b, make([]byte, 18)...) })},
		{"an unusable address", reseal(raw, func(b []byte) []byte { clear(b[11:27]); return b })},
		{"the book's magic", reseal(raw, func(b []byte) []byte { copy(b, bookMagic); return b })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "anchors.dat")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			logs := &logRecorder{}
			b := New(Config{Now: c.now, Logger: slog.New(logs)})
			got, err := b.LoadAnchors(p)
			if got != nil || err != nil {
				t.Fatalf("LoadAnchors = %v %v, want nothing and no error", got, err)
			}
			attrs, ok := logs.find(slog.LevelWarn, "unreadable file set aside; starting without it")
			if why, _ := attrs["err"].(error); !ok || attrs["path"] != p || !errors.Is(why, ErrCorrupt) {
				t.Fatalf("warning %v %v", attrs, ok)
			}
			if aside, _ := filepath.Glob(p + ".corrupt-*"); len(aside) != 1 {
				t.Fatalf("set aside: %v", aside)
			}
		})
	}
}

// FuzzDecode feeds bodies past the checksum (random bytes never carry a
// valid one): decoding must never panic, and whatever it accepts must be
// a consistent book that saves and loads to the same counts.
func FuzzDecode(f *testing.F) {
	c := newClock()
	small := testBook(f, 31, c)
	for i := range 40 {
		small.Add(pub(i%5, 1).Addr(), 0, Entry{Addr: pub(i, i), LastSeen: c.now()})
	}
	small.Good(pub(3, 3), 1)
	small.Add(ip("127.0.0.1"), 0, Entry{Addr: ap("127.0.0.1:30000"), LastSeen: c.now()})
	path := filepath.Join(f.TempDir(), "seed.dat")
	if err := small.Save(path); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw[:len(raw)-sha256.Size])
	f.Add(raw[:8+2+32+8])
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		b := New(Config{Seed: 1, Now: c.now})
		b.mu.Lock()
		err := b.decode(append(slices.Clone(body), sum[:]...))
		if err == nil {
			if cerr := b.consistency(); cerr != nil {
				t.Fatalf("accepted an inconsistent book: %v", cerr)
			}
		}
		b.mu.Unlock()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		p := filepath.Join(t.TempDir(), "again.dat")
		if err := b.Save(p); err != nil {
			t.Fatal(err)
		}
		back := New(Config{Now: c.now})
		if err := back.Load(p); err != nil {
			t.Fatal(err)
		}
		n1, t1 := b.Len()
		n2, t2 := back.Len()
		if n1 != n2 || t1 != t2 {
			t.Fatalf("saved %d/%d, loaded %d/%d", n1, t1, n2, t2)
		}
	})
}
