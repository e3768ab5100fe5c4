// Package discover finds the other Renga nodes of a LAN by UDP multicast, as
// design.md §6 describes, and tells the node about them. It does not connect
// to anyone: whether to dial a peer it reports, and when, is the node's
// policy (a beacon never replaces a working peer).
//
// # Protocol
//
// Every node sends a [wire.Beacon] (network magic, genesis hash, a random
// instance id, its P2P TCP port, services, best height, the time, a
// sequence number one above its last, and an HMAC over all of them when a
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
// # What is refused
//
// Only the LAN may speak to discovery. A datagram is dropped, and counted
// by [DropReason], in this order:
//
//   - when it was not sent to the group: the socket is bound to the wildcard
//     address, so a datagram sent by unicast to the discovery port from
//     anywhere a route reaches arrives too, and IP_PKTINFO tells it apart
//     ([DropUnicast]);
//   - when its source address cannot be dialled ([DropSource]), or is not
//     on a subnet of the interface it arrived on, or it arrived on another
//     interface ([DropOffLink]);
//   - when its source address is over its rate limit (SourceLimit per
//     MinInterval, [DropRate]). These first checks cost a comparison, a
//     look at a few prefixes and a map lookup, so a flood costs little, and
//     a sender off the link, whatever source it forges, never spends a
//     neighbour's tokens or a slot of the limiter's table;
//   - when it is not a well-formed beacon of format 2 with a TCP port
//     ([DropMalformed]), when its HMAC is missing or wrong while a secret is
//     set ([DropAuth]), when it comes from another network (magic or genesis
//     differ, [DropNetwork]), or when it is our own (same instance id:
//     multicast loops back, [DropSelf]);
//   - with a secret, when its time is more than ReplayWindow (1 min) from our
//     clock either way ([DropStale]), or its sequence number is not above
//     the last accepted from its instance ([DropReplay]): a recorded beacon
//     sent again, from any address, is refused while its instance's number
//     is remembered (2×ReplayWindow after the last beacon accepted, at most
//     4,096 instances) and stale after. Without a secret neither is checked,
//     since anyone could forge both;
//   - when it announces a new instance while the table holds MaxPeers
//     verified peers, or the replay memory is full ([DropFull]).
//
// # The table
//
// A peer is known by its instance id and dialled at the datagram's source
// address with the beacon's TCP port. It expires after MissedIntervals (3)
// × MaxInterval without a beacon, or at once when a new instance beacons
// from its address (the node restarted). The node marks the peers it has
// connected to with [Discovery.Verified]: when the table is full, a new
// instance takes the place of the unverified peer heard from least recently
// (counted in Stats.Evicted) and never that of a verified one, so a flood of
// made-up instances pushes out only itself and peers not yet tried, which
// come back with their next beacon. A peer that moves to another address is
// unverified again. Each change is an [Event]: [PeerNew], [PeerUpdated]
// (address, services or height changed), [PeerExpired] (expired, displaced
// or pushed out).
//
// # Wiring
//
//	secret, err := discover.ReadSecretFile(path) // --lan-secret-file: mode 0600
//	...
//	d, err := discover.New(discover.Config{
//		Magic: params.Magic, Genesis: params.Genesis, Port: listenPort,
//		BestHeight: func() int32 { return chain.Height() }, // atomic
//		Secret: secret, Interface: "eth0",
//		OnEvent: func(e discover.Event) { p2pEvents <- e }, // buffered
//		Logger: log,
//	})
//	...
//	g.Go(func() error { return d.Run(ctx) })
//	...
//	// after a handshake with the node dialled at e.Peer.Addr:
//	d.Verified(e.Peer.Instance, e.Peer.Addr)
//
// [Discovery.Run] opens the socket through [sock.ListenMulticast] (the only
// place a real socket is made); [Discovery.Serve] runs over any [Conn],
// which is how the tests run the logic over a fake network. Serve also takes
// a plain [PacketConn] (a bare *net.UDPConn), which cannot say where a
// datagram was sent or whether its source is a neighbour: it then logs a
// warning and refuses neither unicast nor off-link datagrams.
//
// # Concurrency and ownership
//
// Run and Serve block until ctx is done and return after joining the two
// goroutines they start: a reader that reads, checks and decodes datagrams
// (it owns the rate limiter and the replay memory), and a loop that owns the
// schedule and the peer table and calls Config.OnEvent, one event at a time,
// in order. A Discovery runs once. [Discovery.Stats], [Discovery.Peers],
// [Discovery.Verified] and [Discovery.Instance] are safe from any goroutine
// at any time. Run owns the socket it opens; Serve borrows the conn it is
// given and leaves it open.
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
// beacon tries again. [ReadSecretFile]'s errors wrap [ErrSecretFile]
// ([ErrSecretExposed] for a file others can read) or the file system's.
package discover
