package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/renga-p2p/renga/crypto/secp"
)

func TestSigCacheRemembersOnlySuccess(t *testing.T) {
	key, err := secp.GenerateKeyFrom(rand.NewChaCha8([32]byte{7}))
	if err != nil {
		t.Fatal(err)
	}
	pub := key.PublicKey().Compressed()
	hash := sha256.Sum256([]byte("signed"))
	sig := key.Sign(hash)
	other := sha256.Sum256([]byte("not signed"))

	c := NewSigCache(1 << 20)
	for i, want := range []SigCacheStats{{Entries: 1, Misses: 1}, {Entries: 1, Hits: 1, Misses: 1}} {
		if !c.Verify(pub, sig, hash) {
			t.Fatalf("verify %d: a good signature failed", i)
		}
		if got := c.Stats(); got != want {
			t.Fatalf("after verify %d: %+v, want %+v", i, got, want)
		}
	}
	// A failure is not remembered (and a success of another hash is not a
	// success of this one).
	for range 2 {
		if c.Verify(pub, sig, other) {
			t.Fatal("the signature verified for another hash")
		}
	}
	if got := c.Stats(); got.Entries != 1 || got.Misses != 3 {
		t.Fatalf("after two failures: %+v", got)
	}
	// Another cache has another salt: its keys differ.
	d := NewSigCache(1 << 20)
	if c.key(pub, sig, &hash) == d.key(pub, sig, &hash) {
		t.Fatal("two caches share their salt")
	}
	// The key length is part of the key: moving a byte between key and
	// signature makes another entry.
	if c.key(pub, sig, &hash) == c.key(pub[:32], append([]byte{pub[32]}, sig...), &hash) {
		t.Fatal("a key/signature split collides")
	}
	var nilCache *SigCache
	if !nilCache.Verify(pub, sig, hash) || nilCache.Stats() != (SigCacheStats{}) {
		t.Fatal("a nil cache does not verify plainly")
	}
}

// The cache holds at most its bound in bytes: entries beyond it replace
// others, and the heap it takes per entry is within sigCacheEntryBytes.
func TestSigCacheBounded(t *testing.T) {
	const maxBytes = 4 << 20
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	c := NewSigCache(maxBytes)
	var k [32]byte
	for i := range 3 * maxBytes / sigCacheEntryBytes {
		k = sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i))) // keys are hashes
		c.add(k)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st := c.Stats()
	if limit := maxBytes / sigCacheEntryBytes; st.Entries > limit || st.Entries < limit*9/10 {
		t.Fatalf("%d entries for a bound of %d", st.Entries, limit)
	}
	// The last keys added are found (a new key always gets a slot).
	if !c.has(k) {
		t.Fatal("the last key added is not in the cache")
	}
	grew := int64(ms.HeapAlloc) - int64(before)
	t.Logf("%d entries: %d bytes of heap (%.1f per entry)", st.Entries, grew, float64(grew)/float64(st.Entries))
	tables := 0
	for i := range c.shards {
		tables += len(c.shards[i].slots) * sigCacheEntryBytes
	}
	if tables > maxBytes {
		t.Fatalf("the tables hold %d bytes, over the bound %d", tables, maxBytes)
	}
	// The heap agrees, give or take the struct and the runtime's own.
	if grew > maxBytes+64<<10 {
		t.Fatalf("the cache takes %d bytes of heap, over its bound %d", grew, maxBytes)
	}
	runtime.KeepAlive(c)
}

func TestSigCacheConcurrent(t *testing.T) {
	key, err := secp.GenerateKeyFrom(rand.NewChaCha8([32]byte{8}))
	if err != nil {
		t.Fatal(err)
	}
	pub := key.PublicKey().Compressed()
	type job struct {
		sig  []byte
		hash [32]byte
	}
	jobs := make([]job, 32)
	for i := range jobs {
		jobs[i].hash = sha256.Sum256([]byte{byte(i)})
		jobs[i].sig = key.Sign(jobs[i].hash)
	}
	c := NewSigCache(1 << 20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range jobs {
				j := jobs[(i+g*8)%len(jobs)]
				if !c.Verify(pub, j.sig, j.hash) {
					t.Errorf("signature %d failed", i)
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.Entries != len(jobs) || st.Hits+st.Misses != 4*uint64(len(jobs)) {
		t.Fatalf("%+v", st)
	}
}
