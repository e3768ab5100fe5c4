// Package wire is every byte format Renga puts on the network: the message
// frame, CompactSize integers, block headers, transactions (legacy and BIP144
// witness serialization), blocks, and each message of the Bitcoin P2P protocol
// at version 70016, plus Renga's own sendcmpr and cmpr link-compression framing.
// It is not the protocol's behaviour (that is net/peer and net/p2p) and knows
// nothing of networks beyond a magic value, nor of consensus (that is chain).
//
// # Frame
//
// Every message travels in a frame:
//
//	 0               4                              16              20              24
//	+---------------+-------------------------------+---------------+---------------+---------
//	| magic         | command, ASCII, NUL-padded    | length uint32 | checksum      | payload
//	| (network id)  | e.g. "version\0\0\0\0\0"      | little-endian | SHA-256d[0:4] | (length bytes)
//	+---------------+-------------------------------+---------------+---------------+---------
//
// [Reader] checks a frame header (magic, command charset, length against both
// [MaxMessageSize] and the command's own limit) before it reads any payload
// byte, grows the payload buffer only as bytes arrive, and verifies the checksum
// before anything is decoded. [AppendFrame] writes a frame.
//
// # Messages
//
// Each message is a type implementing [Message] (one file each, msg_*.go; [Tx]
// and [Block] are messages as they are). Encoders append to a caller's slice.
// Decoders accept canonical bytes only: every payload a decoder accepts
// re-encodes to exactly the same bytes (CompactSize integers in shortest form,
// booleans 0 or 1, no superfluous witness marker, no trailing bytes). Every count
// is bounded by its protocol limit (Bitcoin Core's values, in limits.go) and by
// the bytes actually present before anything is allocated, so hostile lengths
// cost nothing.
//
// # Ownership
//
// Decoding copies nothing: scripts, witness items and other byte fields of a
// decoded message alias the payload it was decoded from. The caller hands the
// payload to the message and must not modify it afterwards; a [Reader] returns a
// fresh payload buffer per message for this reason. A block of any size decodes
// in four allocations (the transaction slice and one slab each of inputs and
// outputs, plus the block itself when made by [Reader]); an input's [Witness]
// is a view of its serialized stack, so witness items cost nothing. What a
// decoded block or transaction allocates is at most [MaxDecodeOverhead] bytes
// per payload byte, whatever its shape.
// Encoding never retains its input. Values are not safe for concurrent mutation;
// the package has no global mutable state.
//
// # Errors
//
// Every error caused by the bytes wraps [ErrMalformed] through
// [*MalformedError], which names the field and offset and also wraps the reason
// ([ErrBadMagic], [ErrBadCommand], [ErrOversize], [ErrChecksum], [ErrTooMany],
// [ErrNonCanonical], [ErrTrailing], [ErrInvalid], or io.ErrUnexpectedEOF for
// truncation). A command this package does not know is [ErrUnknownCommand],
// returned after its frame has been consumed, and does not wrap ErrMalformed.
// Errors from the underlying reader (io.EOF, timeouts) pass through unwrapped, so
// the peer layer can tell a misbehaving peer from a broken connection.
package wire
