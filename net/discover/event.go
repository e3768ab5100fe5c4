package discover

import (
	"fmt"
	"net/netip"
	"time"
)

// Peer is what discovery knows of another node.
type Peer struct {
	// Addr is where to dial it: the source address of its beacons and the
	// TCP port they carry.
	Addr netip.AddrPort
	// Instance is its random instance id: a new one means the node
	// restarted.
	Instance uint64
	// Services and Height are those of its latest beacon.
	Services uint64
	Height   int32
	// LastSeen is when its latest beacon arrived.
	LastSeen time.Time
	// Verified: the node told [Discovery.Verified] that it connected to
	// this instance at Addr. A full table never gives up a verified peer
	// for a newcomer; a new address clears it.
	Verified bool
}

// EventKind tells what happened to a peer.
type EventKind uint8

// Event kinds.
const (
	// PeerNew: an instance heard for the first time (or again after it
	// expired).
	PeerNew EventKind = iota + 1
	// PeerUpdated: its address, services or height changed.
	PeerUpdated
	// PeerExpired: nothing heard for MissedIntervals×MaxInterval, or a new
	// instance now beacons from the same address (the node restarted), or
	// an unverified peer made room for a new instance in a full table
	// (counted in Stats.Evicted). Its connection, if the node has one, is
	// the node's business.
	PeerExpired
)

func (k EventKind) String() string {
	switch k {
	case PeerNew:
		return "new"
	case PeerUpdated:
		return "updated"
	case PeerExpired:
		return "expired"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change to the peer table, given to Config.OnEvent. Peer is the
// peer after the change (for PeerExpired, as last seen).
type Event struct {
	Kind EventKind
	Peer Peer
}

// DropReason is why a datagram was dropped.
type DropReason uint8

// Drop reasons, in the order they are checked. The first three look only at
// where the datagram came from and went, before the rate limiter: what a
// source off the link sends must not take the tokens (or the limiter's
// table slots) of a neighbour whose address it forges.
const (
	// DropUnicast: not sent to the group (unicast to our port, a
	// broadcast), or the conn could not say where it was sent.
	DropUnicast DropReason = iota
	// DropSource: a source address no one can dial (unspecified, multicast).
	DropSource
	// DropOffLink: a source outside the subnets of the interface it arrived
	// on, or an arrival on another interface.
	DropOffLink
	// DropRate: over its source address's limit (Config.SourceLimit).
	DropRate
	// DropMalformed: not a beacon (wire.DecodeBeacon failed for a reason
	// other than the HMAC), or one that advertises TCP port 0.
	DropMalformed
	// DropAuth: a LAN secret is set, and the beacon has no HMAC or a wrong one.
	DropAuth
	// DropNetwork: another network's beacon (magic or genesis differ).
	DropNetwork
	// DropSelf: our own beacon, looped back.
	DropSelf
	// DropStale: a signed beacon whose time is more than
	// Config.ReplayWindow from our clock, either way.
	DropStale
	// DropReplay: a signed beacon whose sequence number is not above the
	// last one accepted from its instance.
	DropReplay
	// DropFull: a new instance while the table holds Config.MaxPeers
	// verified peers (an unverified one would have made room), or while the
	// replay memory is full of instances heard within 2×ReplayWindow.
	DropFull
	// NumDropReasons is the number of reasons, for Stats.Dropped.
	NumDropReasons
)

func (r DropReason) String() string {
	switch r {
	case DropUnicast:
		return "unicast"
	case DropOffLink:
		return "off-link"
	case DropStale:
		return "stale"
	case DropReplay:
		return "replay"
	case DropRate:
		return "rate"
	case DropMalformed:
		return "malformed"
	case DropAuth:
		return "auth"
	case DropNetwork:
		return "network"
	case DropSelf:
		return "self"
	case DropSource:
		return "source"
	case DropFull:
		return "full"
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Stats are discovery's counters since New, for a status display.
type Stats struct {
	Sent       uint64 // beacons sent
	SendErrors uint64 // beacons the socket refused
	Received   uint64 // datagrams read
	Accepted   uint64 // beacons that passed every check
	// Dropped counts the other datagrams by reason: Received = Accepted +
	// the sum of Dropped.
	Dropped [NumDropReasons]uint64
	// Evicted counts the unverified peers that made room in a full table
	// for a new instance.
	Evicted  uint64
	Peers    int // peers in the table now
	Verified int // of which verified
}

// DroppedTotal is the sum of s.Dropped.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}
