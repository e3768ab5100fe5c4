package capture_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/wire"
)

// A node records its own traffic: one Conn per connection, fed the frames
// exactly as they cross the socket; the file then decodes (or opens in
// Wireshark) as ordinary TCP.
func ExampleRecorder() {
	regtest := wire.Magic{0xfa, 0xbf, 0xb5, 0xda}
	local := netip.MustParseAddrPort("127.0.0.1:50123")
	remote := netip.MustParseAddrPort("127.0.0.1:18444")
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	var file bytes.Buffer // a *os.File in the node
	rec, err := capture.NewRecorder(&file, capture.RecorderConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	conn := rec.Conn(at, local, remote, false) // we dialed out
	ping, _ := wire.AppendFrame(nil, regtest, &wire.MsgPing{Nonce: 7})
	pong, _ := wire.AppendFrame(nil, regtest, &wire.MsgPong{Nonce: 7})
	conn.Sent(at.Add(time.Millisecond), ping)
	conn.Received(at.Add(2*time.Millisecond), pong)
	conn.Close(at.Add(3 * time.Millisecond))
	if err := rec.Close(); err != nil {
		fmt.Println(err)
		return
	}

	rd, _ := capture.NewReader(&file)
	dec := capture.NewDecoder(capture.DecoderConfig{})
	var recs []capture.Record
	for {
		p, err := rd.Next()
		if err != nil {
			break
		}
		recs = dec.Feed(p, recs)
	}
	for _, r := range dec.Flush(recs) {
		fmt.Println(string(r.AppendText(nil, time.UTC)))
	}
	// Output:
	// 2026-01-01 12:00:00.001000  127.0.0.1:50123       → 127.0.0.1:18444        out  ping                8  nonce=0000000000000007
	// 2026-01-01 12:00:00.002000  127.0.0.1:18444       → 127.0.0.1:50123        in   pong                8  nonce=0000000000000007
}

// Decoding a capture file: bad bytes never stop the decoder, they become
// records; a file cut short ends with an error that says so, after the
// packets before the cut.
func ExampleDecoder() {
	regtest := wire.Magic{0xfa, 0xbf, 0xb5, 0xda}
	var file bytes.Buffer
	rec, _ := capture.NewRecorder(&file, capture.RecorderConfig{})
	conn := rec.Conn(time.Unix(0, 0), netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:18444"), false)
	inv, _ := wire.AppendFrame(nil, regtest, &wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx}, {Type: wire.InvTx}, {Type: wire.InvBlock}}})
	conn.Received(time.Unix(1, 0), inv)
	conn.Received(time.Unix(2, 0), wire.AppendRawFrame(nil, regtest, "ping", []byte{1, 2})) // a ping is 8 bytes
	conn.Received(time.Unix(3, 0), wire.AppendRawFrame(nil, regtest, "mystery", nil))
	pong, _ := wire.AppendFrame(nil, regtest, &wire.MsgPong{Nonce: 1})
	conn.Received(time.Unix(4, 0), pong) // its packet will be cut

	cut := file.Bytes()[:file.Len()-10]
	rd, _ := capture.NewReader(bytes.NewReader(cut))
	dec := capture.NewDecoder(capture.DecoderConfig{})
	var recs []capture.Record
	for {
		p, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		recs = dec.Feed(p, recs)
	}
	for _, r := range dec.Flush(recs) {
		fmt.Printf("%s %s %q\n", r.Kind, r.Command, r.Summary)
	}
	// Output:
	// error: capture: pcapng: block of 148 bytes at byte 936 cut short: the file ends early
	// message inv "3 (tx 2, block 1)"
	// malformed ping "wire: malformed ping.nonce at byte 0: unexpected EOF"
	// unknown mystery "unknown command"
}
