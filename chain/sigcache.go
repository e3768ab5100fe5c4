package chain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/renga-p2p/renga/crypto/secp"
)

// DefaultSigCacheBytes bounds a chain's signature cache (Options.SigCacheBytes):
// Bitcoin Core's default (-maxsigcachesize, 32 MiB): 1,048,576 signatures,
// more than a full mempool's.
const DefaultSigCacheBytes = 32 << 20

// sigCacheEntryBytes is what one remembered signature costs: its 32-byte key
// in a fixed table (see sigShard).
const sigCacheEntryBytes = 32

// sigCacheShards spreads the cache over this many locks, so that the
// script-checking workers of a block rarely wait for each other.
const sigCacheShards = 64

// sigCacheWays is how many slots a key may occupy in its shard's table: a
// lookup compares at most this many keys, and a full bucket gives up one of
// them (chosen by the new key's bits) to a new key.
const sigCacheWays = 4

// SigCache remembers signatures that verified (Bitcoin Core's signature
// cache), so that a transaction's signatures are checked once, when it enters
// the mempool, and not again when it comes in a block. An entry is a salted
// SHA-256 of (signature hash, public key, signature): the salt is random per
// cache, so nobody can aim collisions at it, and only successful
// verifications are remembered (a failure may be retried with no effect). It
// replaces the ECDSA verification only: the encoding rules a script's flags
// impose are checked before it is consulted, and the signature hash is
// computed either way (it is the key).
//
// It is bounded in bytes: a table of 32-byte keys, allocated shard by shard
// as it is first used, never grows; a full bucket replaces one of its keys.
// Safe for concurrent use. The zero value is not usable: see NewSigCache; a
// nil *SigCache caches nothing.
type SigCache struct {
	salt     [32]byte
	perShard int
	shards   [sigCacheShards]sigShard
	hits     atomic.Uint64
	misses   atomic.Uint64
}

// sigShard is an open-addressed table of keys in buckets of sigCacheWays;
// the zero key marks a free slot (SHA-256 does not make it).
type sigShard struct {
	mu    sync.RWMutex
	slots [][32]byte // perShard slots, made on the first add
	n     int        // slots in use
}

// NewSigCache returns an empty cache of at most maxBytes (at least one
// bucket per shard).
func NewSigCache(maxBytes int) *SigCache {
	buckets := max(maxBytes/sigCacheEntryBytes/sigCacheShards/sigCacheWays, 1)
	c := &SigCache{perShard: buckets * sigCacheWays}
	if _, err := rand.Read(c.salt[:]); err != nil {
		panic(err) // crypto/rand.Read never fails (it crashes the program first)
	}
	return c
}

// key is the salted hash of what a verification depends on. The public key
// is length-prefixed so that no split of the bytes between it and the
// signature makes the same key.
func (c *SigCache) key(pubKey, der []byte, hash *[32]byte) [32]byte {
	var buf [32 + 32 + 1 + 65 + 73]byte // salt, hash, key length, the longest key and usual signature
	b := append(buf[:0], c.salt[:]...)
	b = append(b, hash[:]...)
	b = append(b, byte(len(pubKey)))
	b = append(b, pubKey...)
	b = append(b, der...)
	return sha256.Sum256(b)
}

// Verify is secp.Verify, answered from the cache when the same signature of
// the same hash by the same key verified before.
func (c *SigCache) Verify(pubKey, der []byte, hash [32]byte) bool {
	if c == nil {
		return secp.Verify(pubKey, der, hash)
	}
	return c.verify(pubKey, der, hash, true)
}

// verify is Verify, remembering a success only if store.
func (c *SigCache) verify(pubKey, der []byte, hash [32]byte, store bool) bool {
	k := c.key(pubKey, der, &hash)
	if c.has(k) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	if !secp.Verify(pubKey, der, hash) {
		return false
	}
	if store {
		c.add(k)
	}
	return true
}

// bucket returns k's shard and the first slot of its bucket there.
func (c *SigCache) bucket(k *[32]byte) (*sigShard, int) {
	s := &c.shards[k[0]%sigCacheShards]
	b := binary.LittleEndian.Uint64(k[8:]) % uint64(c.perShard/sigCacheWays)
	return s, int(b) * sigCacheWays
}

func (c *SigCache) has(k [32]byte) bool {
	s, at := c.bucket(&k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.slots == nil {
		return false
	}
	for _, slot := range s.slots[at : at+sigCacheWays] {
		if slot == k {
			return true
		}
	}
	return false
}

func (c *SigCache) add(k [32]byte) {
	s, at := c.bucket(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots == nil {
		s.slots = make([][32]byte, c.perShard)
	}
	b := s.slots[at : at+sigCacheWays]
	for i := range b {
		switch b[i] {
		case k:
			return
		case [32]byte{}:
			b[i] = k
			s.n++
			return
		}
	}
	b[int(k[16])%sigCacheWays] = k // full: a key's own bits choose whom it replaces
}

// SigCacheStats describes a SigCache's use.
type SigCacheStats struct {
	Entries int
	// Hits are verifications answered from the cache; Misses, the ones
	// that ran ECDSA.
	Hits, Misses uint64
}

// Stats returns the cache's size and how often it answered.
func (c *SigCache) Stats() SigCacheStats {
	if c == nil {
		return SigCacheStats{}
	}
	st := SigCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		st.Entries += s.n
		s.mu.RUnlock()
	}
	return st
}
