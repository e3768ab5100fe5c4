// Package discover finds the other Renga nodes of a LAN by UDP multicast, as
// design.md §6 describes, and tells the node about them. It does not connect
// to anyone: whether to dial a peer it reports, and when, is the node's
// policy (a beacon never replaces a working peer).
//
// # Protocol
//
// Every node sends a [wire.Beacon] (network magic, genesis hash, a random
// instance id, its P2P TCP port, services, best height, and an HMAC when a
// LAN secret is set) to one multicast group, [DefaultGroup] unless
// configured, with TTL 1:
//
//   - at start, with the query flag set, so that everyone answers at once;
//   - then every MinInterval–MaxInterval (15–30 s), the time drawn at random
//     each time so that nodes started together do not beacon in step;
//   - at once when it hears a query or a new instance, but never two such
//     answers within AnswerGap (1 s): answers due inside the gap are sent as
//     one at its end. Its own query does not count (a node started at the
//     same moment may have missed it, and its query deserves an answer at
//     once). An answer never carries the query flag, so answers do not
//     breed answers: a node joining a LAN of N nodes costs N+1 or N+2
//     beacons.
//
// A datagram is dropped, and counted by [DropReason], when its source
// address is over its rate limit (SourceLimit per MinInterval, checked first
// so a flood costs little), when it is not a well-formed beacon with a TCP
// port, when its HMAC is missing or wrong while a secret is set, when it
// comes from another network (magic or genesis differ), when it is our own
// (same instance id: multicast loops back), when its source address cannot
// be dialled, or when it announces a new instance while the table is full
// (MaxPeers).
//
// A peer is known by its instance id and dialled at the datagram's source
// address with the beacon's TCP port. It expires after MissedIntervals (3)
// × MaxInterval without a beacon, or at once when a new instance beacons
// from its address (the node restarted). Each change is an [Event]:
// [PeerNew], [PeerUpdated] (address, services or height changed),
// [PeerExpired].
//
// # Wiring
//
//	d, err := discover.New(discover.Config{
//		Magic: params.Magic, Genesis: params.Genesis, Port: listenPort,
//		BestHeight: func() int32 { return chain.Height() }, // atomic
//		Secret: lanSecret, Interface: "eth0",
//		OnEvent: func(e discover.Event) { p2pEvents <- e }, // buffered
//		Logger: log,
//	})
//	...
//	g.Go(func() error { return d.Run(ctx) })
//
// [Discovery.Run] opens the socket through [sock.ListenMulticastUDP] (the
// only place a real socket is made); [Discovery.Serve] runs over any
// [PacketConn], which is how the tests run the logic over a fake network.
//
// # Concurrency and ownership
//
// Run and Serve block until ctx is done and return after joining the two
// goroutines they start: a reader that reads, rate-limits and decodes
// datagrams, and a loop that owns the schedule and the peer table and calls
// Config.OnEvent, one event at a time, in order. A Discovery runs once.
// [Discovery.Stats], [Discovery.Peers] and [Discovery.Instance] are safe
// from any goroutine at any time. Run owns the socket it opens; Serve
// borrows the conn it is given and leaves it open.
//
// IPv4 only, one interface per Discovery: see net/sock.
//
// # Errors
//
// [New] and [Config.Validate] return errors wrapping [ErrConfig], listing
// every problem. Run returns an error when the socket cannot be opened (it
// wraps net/sock's: [sock.ErrNoInterface], say) or reading fails; [ErrStarted]
// for a second run; nil when ctx ends it. Datagrams never cause errors: they
// are dropped and counted. A failed send is counted and logged, and the next
// beacon tries again.
package discover
