// Package capture is Renga's traffic inspection: packet capture files, a
// recorder of a node's own traffic, Bitcoin Core's message-capture files,
// TCP reassembly, and the decoding of Bitcoin frames and discovery beacons
// into one-line records. It has no cgo and
// no libpcap: the file formats, the packet headers and the reassembly are
// written here from their specifications. It is not a capture engine: a live
// capture reads packets from an AF_PACKET socket of net/sock and feeds them
// to a [Decoder] the same way a file does.
//
// # Files
//
// [NewReader] reads classic pcap (either byte order, microsecond or
// nanosecond timestamps) and pcapng (draft-ietf-opsawg-pcapng: section
// header, interface description, enhanced, simple and obsolete packet blocks,
// either byte order, any if_tsresol and if_tsoffset, several sections;
// other block types skipped). [NewPcapWriter] and [NewPcapngWriter] write
// them; pcapng packets may carry a comment (opt_comment) and a direction
// (epb_flags). Nothing a file says can make the reader allocate more than
// [MaxPacketSize] plus a little per block.
//
// # Recording a node's traffic
//
// A [Recorder] writes pcapng to an io.Writer (the caller's file). The node
// calls, per connection, [Recorder.Conn] when it is established (a SYN,
// SYN-ACK, ACK handshake is written, with MSS and window-scale options),
// then [Conn.Sent] and [Conn.Received] with each whole wire frame (24-byte
// header and payload) exactly as written to or read from the socket (or
// [Conn.ReceivedFrame] with the wire.Frame a read loop has), and
// [Conn.Close] when it ends (FIN both ways). Each frame becomes MSS-sized
// IPv4 (or IPv6) TCP segments with correct checksums and sequence numbers
// continuous per direction, so Wireshark and tshark reassemble and decode the
// stream; the first segment of each frame carries a comment naming direction,
// command and peer ("out block peer=10.0.0.2:28333 (12 segments)"), and every
// packet carries its direction in epb_flags. Discovery datagrams go through
// [Recorder.Datagram] as UDP. [RecorderConfig] filters by peer prefix and by
// command (a filtered frame is left out of the stream, so sequence numbers
// stay continuous). The link type is raw IP ([LinkRaw]); initial sequence
// numbers derive from the endpoints, so a recording is reproducible.
//
// Recording costs one Write per call and no allocation per segment (about
// 1.8 GB/s for a block-sized frame on the machine it was measured on, see
// BenchmarkRecorder). A write error stops the recording; [Recorder.Err] and
// [Recorder.Close] return it and RecorderConfig.Logger hears of it once: the
// node's traffic is never held up by its capture.
//
// # Bitcoin Core's message-capture files
//
// A [MessageCapture] writes what Core's -capturemessages writes, which Core's
// contrib/message-capture parser and Warnet read: under a data directory,
// message_capture/<addr>_<port>/msgs_sent.dat and msgs_recv.dat, one
// directory per peer ([MessageCaptureName]: the address and port as Core
// prints them, "10.0.0.2_18444", "[2001_db8__1]_8333"), each file a sequence
// of records: time (µs since 1970, uint64 LE) | command[12], NUL-padded |
// length (uint32 LE) | payload. Files are opened for appending, as Core
// does, so a peer reconnecting from the same address continues its files;
// nothing is created until a connection records its first message.
// [MessageCapture.Conn] gives one connection's [MessageConn], a tap with the
// same methods as a [Conn] (net/peer's Tap) and a cheap run-time switch
// ([MessageConn.SetEnabled]). A record holds a command and a payload, not a
// frame, so a cmpr frame is recorded as the message it carries,
// decompressed (Core's tools know no cmpr); the files therefore do not say
// which messages came compressed, nor the network magic or the node's own
// address. [MultiTap] gives one connection several taps (pcapng and
// message capture). A write error stops all recording and is logged once,
// as with the Recorder.
//
// [OpenMessageCapture] reads a data directory, its message_capture
// directory, a peer's directory or one .dat file ([FindMessageFiles]) as one
// sequence in time order (as Core's parser sorts; messages of the same
// microsecond in the two files of a peer cannot be ordered), taking the
// peer from the directory name and the direction from the file name;
// [Decoder.Message] turns each [MessageRecord] into the same [Record] a
// frame of a packet capture gives. A [MessageReader] reads one file; no
// record may claim more than wire.MaxMessageSize bytes.
//
// # Decoding
//
// [ParsePacket] strips the link layer (Ethernet with VLAN tags, raw IPv4/IPv6,
// Linux cooked SLL and SLL2, BSD null and loop), IPv4 or IPv6 (with extension
// headers; fragments are not reassembled) and returns the TCP or UDP
// [Segment]. A [Decoder] follows each TCP connection on Renga's ports (or
// beginning with a known magic): per direction it orders segments by sequence
// number, drops retransmitted bytes (the first copy wins), keeps
// out-of-order segments until the hole before them fills, and declares a gap
// when a hole cannot fill (its buffer bound is reached, the stream ends, the
// capture ends). The reassembled bytes are cut into frames with
// wire.ParseFrameHeader and decoded with wire.DecodeMessage. After a gap inside
// a frame whose header arrived, it skips exactly to the frame's end; after any
// other gap, or bytes that are not frames, it resynchronises on the next frame
// magic. The magics tried are regtest's and mainnet's, any given in
// [DecoderConfig], and any learned from a beacon or from a stream whose first
// frame has an unknown magic but a known command and a valid checksum (Renga's
// devnet). UDP datagrams that carry "rnga" or go to a Renga port are decoded
// as beacons (wire.DecodeBeacon). [DefaultPorts] and [KnownMagics] give the
// defaults; [Decoder.Stats] counts what was seen, ignored and lost.
//
// Each message, beacon, gap and malformed item becomes a [Record]: time,
// endpoints, direction, [Kind], command, size and a one-line summary such as
// "3 (tx 2, block 1)" for an inv, or for a cmpctblock its hash, short-id and
// prefilled counts and the prefilled indexes (a getblocktxn's indexes are
// listed absolute, as the differential encoding resolves). A cmpr frame is
// decompressed (zstd or s2, as net/peer's Codecs; never past the declared
// length, which the wire package holds to the inner command's limit) and
// reported as the message it carries, as if sent plain, with
// [Record.Codec] and [Record.Compressed] saying how it travelled; one whose
// inner command is unknown is not decompressed, and one that does not
// decompress is a malformed record of command cmpr ("inner=block
// 1245250→412345 zstd: …"). Directions come from the capture when it has them (pcapng epb_flags,
// which the Recorder writes); otherwise a message to the side that accepted
// the connection (got the SYN, or else listens on a Renga port) is "in".
// [Record.AppendText] and [Record.MarshalJSON] give the forms `renga decode`
// prints; [Filter] selects records by peer, command and direction.
//
// Memory is bounded whatever the capture holds: [DecoderConfig] bounds the
// streams followed, the out-of-order bytes per stream and all bytes held;
// beyond them streams are closed out, holes declared gaps and partial frames
// dropped, each reported as a record.
//
// # Wireshark
//
// [WiresharkPlugin] returns a Lua plugin that registers Wireshark's built-in
// bitcoin dissector on Renga's TCP ports (the preference renga.ports) and on
// streams on any port that begin with a magic of the preference
// renga.magics (devnet's, regtest's and mainnet's by default); verifies
// every frame's checksum, a mismatch being the expert error
// renga.checksum.bad (SHA-256 in Lua, about 0.7 MB of payload per second;
// renga.verify_checksums turns it off); and decodes sendcmpr, the cmpr
// envelope, BIP152's sendcmpct, cmpctblock, getblocktxn and blocktxn in
// full (indexes resolved to absolute), the discovery beacon (UDP 28334),
// BIP144 witness transactions (alone or in a block: the built-in dissector
// misreads them silently) and the outline of the other later BIPs' messages
// the built-in dissector does not know. [PortFilter] builds the classic BPF
// program that `renga capture` attaches to its socket.
//
// # Concurrency and ownership
//
// A Recorder and its Conns are safe for concurrent use and write each call's
// packets with one Write; a nil Recorder or Conn records nothing. The same
// holds of a MessageCapture and its MessageConns (a record goes out in one
// write up to 4 KiB, in two beyond), and of a MultiTap's taps. Readers,
// writers and Decoders are not safe for concurrent use. A [Packet]'s Data from
// a Reader is valid until the next call; a Decoder copies what it keeps.
//
// # Errors
//
// Problems with a file's bytes are a [*FileError] naming the format, the byte
// offset and what is wrong; it wraps [ErrFormat], and also [ErrTruncated] when
// the file ends inside a record (a capture whose writer was killed), so what
// came before can still be used; message-capture files report theirs the
// same way (format "message capture").
// [ParsePacket] returns errors wrapping [ErrUnsupported] (not Renga's kind of
// packet) or [ErrBadPacket] (broken headers). Decoding never fails: bad bytes
// become records of [KindMalformed] or [KindGap]; a cmpr that does not
// decompress is one, its summary saying why.
package capture
