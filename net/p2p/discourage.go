package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// discouragedPerGeneration bounds the discouraged set: two generations of
// this many addresses each, the older forgotten when the newer fills (a
// rolling filter, as Bitcoin Core's CRollingBloomFilter of 50,000, but
// exact). A misbehaving address is remembered for at least this many later
// discouragements; nothing persists across restarts.
const discouragedPerGeneration = 25_000

// discouraged is the bounded set of addresses that misbehaved. They may
// still connect inbound while slots are free, and are evicted first.
type discouraged struct {
	mu       sync.Mutex
	cur, old map[netip.Addr]struct{}
}

func newDiscouraged() *discouraged {
	return &discouraged{cur: map[netip.Addr]struct{}{}, old: map[netip.Addr]struct{}{}}
}

func (d *discouraged) add(ip netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.cur) >= discouragedPerGeneration {
		d.old, d.cur = d.cur, make(map[netip.Addr]struct{}, discouragedPerGeneration)
	}
	d.cur[ip.Unmap()] = struct{}{}
}

func (d *discouraged) has(ip netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ip = ip.Unmap()
	_, a := d.cur[ip]
	_, b := d.old[ip]
	return a || b
}

// Ban is an address or subnet the user banned (RPC setban): refused
// inbound, never dialled, until it expires. Bans persist in the ban list.
type Ban struct {
	Subnet netip.Prefix `json:"address"`
	Until  time.Time    `json:"banned_until"`
	Since  time.Time    `json:"ban_created"`
}

// ErrBanList: the ban list file cannot be read.
var ErrBanList = errors.New("p2p: ban list")

// bans are the user's bans, saved to a JSON file at every change.
type bans struct {
	path string // "" for none
	now  func() time.Time

	mu   sync.Mutex
	list []Ban
}

// loadBans reads the ban list at path (none if it does not exist).
func loadBans(path string, now func() time.Time) (*bans, error) {
	b := &bans{path: path, now: now}
	if path == "" {
		return b, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("%w: %s: %v", ErrBanList, path, err)
	}
	if err := json.Unmarshal(data, &b.list); err != nil {
		b.list = nil
		return b, fmt.Errorf("%w: %s: %v", ErrBanList, path, err)
	}
	return b, nil
}

// save writes the list atomically. b.mu is held.
func (b *bans) save() error {
	if b.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(b.list, "", "  ")
	if err != nil {
		return err
	}
	tmp := b.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("p2p: save bans: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("p2p: save bans: %w", err)
	}
	return syncDir(filepath.Dir(b.path))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// expire drops bans past their time. b.mu is held.
func (b *bans) expire() {
	now := b.now()
	b.list = slices.DeleteFunc(b.list, func(x Ban) bool { return !now.Before(x.Until) })
}

func (b *bans) banned(ip netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	ip = ip.Unmap()
	for _, x := range b.list {
		if x.Subnet.Contains(ip) {
			return true
		}
	}
	return false
}

func (b *bans) add(subnet netip.Prefix, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	now := b.now()
	b.list = slices.DeleteFunc(b.list, func(x Ban) bool { return x.Subnet == subnet })
	b.list = append(b.list, Ban{Subnet: subnet, Until: now.Add(d), Since: now})
	return b.save()
}

func (b *bans) remove(subnet netip.Prefix) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.list)
	b.list = slices.DeleteFunc(b.list, func(x Ban) bool { return x.Subnet == subnet })
	return len(b.list) < n, b.save()
}

func (b *bans) clear() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = nil
	return b.save()
}

func (b *bans) all() []Ban {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	return slices.Clone(b.list)
}

// localAddrs are this machine's own addresses (loopback and every
// interface's): a peer at one is never discouraged, since every other
// process on the machine shares it (a devnet's nodes, say).
type localAddrs struct {
	mu  sync.Mutex
	set map[netip.Addr]bool
	at  time.Time
}

// refreshEvery is how often the interface addresses are read again.
const refreshEvery = time.Minute

func (l *localAddrs) has(ip netip.Addr, now time.Time) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil || now.Sub(l.at) >= refreshEvery {
		l.set, l.at = map[netip.Addr]bool{}, now
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						l.set[ip.Unmap()] = true
					}
				}
			}
		}
	}
	return l.set[ip]
}
