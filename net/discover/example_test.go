package discover_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/wire"
)

// How a node wires discovery: its network, its listener's port, its height
// as an atomic, the LAN secret from a private file, events handed to its
// own goroutine, and Run beside the rest of the node until the context
// ends. (Not run as a test: it would open a multicast socket on eth0.)
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var height atomic.Int32 // the chain's best height, stored by the chain
	events := make(chan discover.Event, 64)

	secret, err := discover.ReadSecretFile("/etc/renga/lan-secret") // mode 0600
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := discover.New(discover.Config{
		Magic:      wire.Magic{0x72, 0x6e, 0x67, 0x61}, // the network's, from chain parameters
		Genesis:    sha256d.Hash{},                     // ditto
		Port:       28333,
		BestHeight: height.Load,
		Secret:     secret,
		Interface:  "eth0",
		OnEvent:    func(e discover.Event) { events <- e }, // never blocks for long
		Logger:     slog.Default(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		for e := range events {
			switch e.Kind {
			case discover.PeerNew:
				// Dial e.Peer.Addr if a slot is free and no connection to
				// it (or to instance e.Peer.Instance) exists; once the
				// handshake is done, d.Verified(e.Peer.Instance,
				// e.Peer.Addr) keeps it in the table through a flood.
			case discover.PeerExpired:
				// Forget the address; a working connection stays.
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Println("discovery:", err)
	}
	fmt.Printf("%+v\n", d.Stats())
}
