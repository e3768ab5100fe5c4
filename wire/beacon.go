package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Beacon is the LAN discovery datagram Renga nodes send to a UDP multicast
// group: who is here, on which network, at which TCP port and height, when,
// and how many beacons that instance has sent before. It is Renga's own
// format, not Bitcoin's. Wire form (integers little-endian):
//
//	offset size  field
//	0      2     length of what follows (80, or 112 with an HMAC)
//	2      4     "rnga"
//	6      1     format version (2)
//	7      1     flags: bit 0 query (asks others to answer at once), bit 1 HMAC present
//	8      4     network magic
//	12     32    genesis block hash
//	44     8     instance id (random at each start; tells restarts and self apart)
//	52     2     TCP port of the node's P2P listener
//	54     8     services (as in version)
//	62     4     best height
//	66     8     time sent, Unix milliseconds (signed)
//	74     8     sequence number: 1 for the instance's first beacon, then one more each
//	82     32    HMAC-SHA256 over bytes 0..81 with the LAN secret (only if flag bit 1)
//
// A beacon without an HMAC is accepted only where no secret is configured; the
// secret keeps other Renga LANs (or a prankster) from steering a node, it does
// not hide anything. The HMAC covers the time and the sequence number so that
// a receiver can refuse a signed beacon recorded and sent again (net/discover
// does: a time too far from its clock, or a sequence number not above the last
// it accepted from that instance). Version 1, without them, is refused.
type Beacon struct {
	Query       bool
	Magic       Magic
	Genesis     sha256d.Hash
	Instance    uint64
	Port        uint16
	Services    uint64
	StartHeight int32 // the node's best height when sent
	Time        int64 // when sent, in Unix milliseconds
	Sequence    uint64
}

// Beacon format constants.
const (
	BeaconVersion  = 2
	beaconBodySize = 80 // after the length prefix, before the HMAC
	beaconMACSize  = sha256.Size
	// MaxBeaconSize is the largest datagram a valid beacon takes.
	MaxBeaconSize = 2 + beaconBodySize + beaconMACSize

	beaconFlagQuery = 1 << 0
	beaconFlagMAC   = 1 << 1
)

var beaconID = [4]byte{'r', 'n', 'g', 'a'}

// AppendBeacon appends the datagram for b, signed with secret when secret is
// not empty.
func AppendBeacon(dst []byte, b *Beacon, secret []byte) []byte {
	start := len(dst)
	size := beaconBodySize
	flags := byte(0)
	if b.Query {
		flags |= beaconFlagQuery
	}
	if len(secret) > 0 {
		flags |= beaconFlagMAC
		size += beaconMACSize
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(size))
	dst = append(dst, beaconID[:]...)
	dst = append(dst, BeaconVersion, flags)
	dst = append(dst, b.Magic[:]...)
	dst = append(dst, b.Genesis[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, b.Instance)
	dst = binary.LittleEndian.AppendUint16(dst, b.Port)
	dst = binary.LittleEndian.AppendUint64(dst, b.Services)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(b.StartHeight))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Time))
	dst = binary.LittleEndian.AppendUint64(dst, b.Sequence)
	if len(secret) > 0 {
		dst = append(dst, beaconMAC(dst[start:], secret)...)
	}
	return dst
}

// BeaconSigned reports whether datagram p says it carries an HMAC (flag bit
// 1), for a decoder that has no secret to check it with (a capture, say): of
// a beacon that [DecodeBeacon] accepted, it tells whether it was signed.
func BeaconSigned(p []byte) bool { return len(p) >= 8 && p[7]&beaconFlagMAC != 0 }

func beaconMAC(signed, secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(signed)
	return m.Sum(nil)
}

// Beacon verification errors (both wrap ErrMalformed through *MalformedError).
var (
	// ErrBeaconUnsigned: a secret is configured but the beacon carries no HMAC.
	ErrBeaconUnsigned = fmt.Errorf("wire: beacon has no HMAC but a LAN secret is set")
	// ErrBeaconMAC: the HMAC does not match the configured secret.
	ErrBeaconMAC = fmt.Errorf("wire: beacon HMAC mismatch")
)

// DecodeBeacon parses a discovery datagram. With a secret, the beacon must carry
// a valid HMAC; without one, an HMAC present is not checked (the node cannot)
// but must be well-formed. Every failure wraps [ErrMalformed]; the beacon is
// returned only when err is nil. It does not retain p.
func DecodeBeacon(p []byte, secret []byte) (Beacon, error) {
	var b Beacon
	d := newDecoder(p)
	size := d.u16le("beacon.length")
	if d.ok() && int(size) != len(p)-2 {
		d.off = 0
		d.fault("beacon.length", fmt.Errorf("%w: says %d bytes, datagram has %d", io.ErrUnexpectedEOF, size, len(p)-2))
	}
	if id := d.bytes("beacon.id", 4); d.ok() && [4]byte(id) != beaconID {
		d.off -= 4
		d.fault("beacon.id", ErrInvalid)
	}
	if v := d.u8("beacon.version"); d.ok() && v != BeaconVersion {
		d.off--
		d.fault("beacon.version", fmt.Errorf("%w: version %d", ErrInvalid, v))
	}
	flags := d.u8("beacon.flags")
	if d.ok() && flags&^(beaconFlagQuery|beaconFlagMAC) != 0 {
		d.off--
		d.fault("beacon.flags", ErrInvalid)
	}
	b.Query = flags&beaconFlagQuery != 0
	if m := d.bytes("beacon.magic", 4); m != nil {
		b.Magic = Magic(m)
	}
	d.hashTo(&b.Genesis, "beacon.genesis")
	b.Instance = d.u64("beacon.instance")
	b.Port = d.u16le("beacon.port")
	b.Services = d.u64("beacon.services")
	b.StartHeight = int32(d.u32("beacon.height"))
	b.Time = int64(d.u64("beacon.time"))
	b.Sequence = d.u64("beacon.sequence")
	signedEnd := d.off
	var mac []byte
	if flags&beaconFlagMAC != 0 {
		mac = d.bytes("beacon.hmac", beaconMACSize)
	}
	if err := d.finish("beacon"); err != nil {
		return Beacon{}, err
	}
	switch {
	case len(secret) > 0 && mac == nil:
		return Beacon{}, malformed("beacon.hmac", signedEnd, ErrBeaconUnsigned)
	case len(secret) > 0 && !hmac.Equal(mac, beaconMAC(p[:signedEnd], secret)):
		return Beacon{}, malformed("beacon.hmac", signedEnd, ErrBeaconMAC)
	}
	return b, nil
}
