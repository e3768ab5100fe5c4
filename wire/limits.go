package wire

// Protocol constants and limits. The limits are Bitcoin Core's: a peer that sends
// more is misbehaving, and Renga never sends more.
const (
	// ProtocolVersion is the version Renga speaks (BIP339 wtxidrelay era).
	ProtocolVersion = 70016

	// MaxMessageSize bounds every payload (Core's MAX_PROTOCOL_MESSAGE_LENGTH).
	MaxMessageSize = 4_000_000
	// MaxInvEntries bounds inv, getdata and notfound (MAX_INV_SZ).
	MaxInvEntries = 50_000
	// MaxHeaders bounds a headers message (MAX_HEADERS_RESULTS).
	MaxHeaders = 2_000
	// MaxLocator bounds the locator of getheaders and getblocks (MAX_LOCATOR_SZ).
	MaxLocator = 101
	// MaxAddrs bounds addr and addrv2 (MAX_ADDR_TO_SEND).
	MaxAddrs = 1_000
	// MaxUserAgent bounds the version message's user agent (MAX_SUBVERSION_LENGTH).
	MaxUserAgent = 256
	// MaxAddrV2Size bounds one BIP155 address (MAX_ADDRV2_SIZE).
	MaxAddrV2Size = 512
	// MaxRejectReason bounds the reason string of a reject message
	// (MAX_REJECT_MESSAGE_LENGTH; the rejected command is bounded by CommandSize).
	MaxRejectReason = 111
	// MaxCompactIndex is the largest transaction index BIP152 can express.
	MaxCompactIndex = 1<<16 - 1
	// MaxCodecs bounds the codec list of sendcmpr.
	MaxCodecs = 16

	// HeaderSize is the size of a serialized block header.
	HeaderSize = 80
	// FrameHeaderSize is the size of a message frame header.
	FrameHeaderSize = 24
	// CommandSize is the size of the NUL-padded command field.
	CommandSize = 12

	// MaxDecodeOverhead bounds what decoding a block or a transaction
	// allocates: at most this many bytes per payload byte, whatever the shape
	// (the payload itself, which scripts and witnesses alias, comes on top).
	// The worst shape is a run of outputs with empty scripts: 9 bytes on the
	// wire, a 32-byte TxOut decoded (3.6x); an input is 41 bytes and an 88-byte
	// TxIn (2.1x); a witness item costs nothing (see [Witness]).
	MaxDecodeOverhead = 4
)

// Smallest encodings, used to bound counts by the bytes actually present.
const (
	minTxInSize  = 32 + 4 + 1 + 4 // outpoint, empty script, sequence
	minTxOutSize = 8 + 1          // value, empty script
	minTxSize    = 4 + 1 + 1 + 4  // version, two counts, lock time
	invVectSize  = 4 + 32
	netAddrSize  = 8 + 16 + 2
)
