package addrbook_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/net/addrbook"
)

// A node's use of the book: addresses relayed by a peer go to the new
// table, a completed outbound handshake moves an address to the tried
// table, and Select chooses what to dial next.
func Example() {
	book := addrbook.New(addrbook.Config{Seed: 1})
	peer := netip.MustParseAddr("5.6.7.8")
	now := time.Now()
	added := book.Add(peer, 2*time.Hour,
		addrbook.Entry{Addr: netip.MustParseAddrPort("1.2.3.4:8333"), Services: 1, LastSeen: now.Add(-time.Hour)},
		addrbook.Entry{Addr: netip.MustParseAddrPort("192.168.1.9:8333"), LastSeen: now}, // a LAN address from a public peer: refused
	)
	fmt.Println("added:", added)

	a, _ := book.Select(true, nil) // a feeler's choice: new table only
	book.Attempt(a.Addr, true)
	book.Good(a.Addr, 1) // its handshake completed
	newCount, tried := book.Len()
	fmt.Println("new:", newCount, "tried:", tried)
	fmt.Println(addrbook.GroupOf(a.Addr.Addr()))
	// Output:
	// added: 1
	// new: 0 tried: 1
	// 1.2.0.0/16
}
