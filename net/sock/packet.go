package sock

import "time"

// The live-capture socket's types, shared by every operating system; the
// socket itself exists on Linux only (packet_linux.go).

// PacketType is the kernel's classification of a captured packet (sll_pkttype).
type PacketType uint8

// Packet types. On a loopback interface every packet is seen twice: once
// PacketOutgoing as it is sent and once PacketHost as it is received.
// The values are Linux's (linux/if_packet.h).
const (
	PacketHost      PacketType = 0 // addressed to this host
	PacketBroadcast PacketType = 1 // link-layer broadcast
	PacketMulticast PacketType = 2 // link-layer multicast
	PacketOtherHost PacketType = 3 // to another host (promiscuous mode)
	PacketOutgoing  PacketType = 4 // sent by this host
)

// BPFInstruction is one classic BPF instruction, as struct sock_filter.
type BPFInstruction struct {
	Op     uint16
	Jt, Jf uint8
	K      uint32
}

// PacketOptions configures [ListenPacket].
type PacketOptions struct {
	// Interface is the name of the interface to capture on, e.g. "lo".
	Interface string
	// Filter is the classic BPF program run on every packet before it is
	// queued; it returns how many bytes to keep (0 drops the packet). nil
	// captures everything, which on a busy interface is rarely wanted.
	Filter []BPFInstruction
	// ReceiveBuffer is SO_RCVBUF in bytes; 0 means 4 MiB, so bursts of
	// block-sized traffic are not dropped while the reader decodes.
	ReceiveBuffer int
}

// PacketInfo describes one packet read from a PacketConn.
type PacketInfo struct {
	N        int        // bytes stored in the buffer
	Length   int        // the packet's length; more than N when the buffer was too short
	Type     PacketType // incoming, outgoing, …
	Time     time.Time  // the kernel's receive timestamp (SO_TIMESTAMPNS)
	Protocol uint16     // the ethertype (sll_protocol)
}
