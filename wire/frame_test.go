package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

var testMagic = Magic{0xfa, 0xbf, 0xb5, 0xda}

func frameOf(t testing.TB, m Message) []byte {
	t.Helper()
	f, err := AppendFrame(nil, testMagic, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFrameRoundTrip(t *testing.T) {
	var stream []byte
	for _, m := range sampleMessages() {
		stream = append(stream, frameOf(t, m)...)
	}
	// A reader that returns one byte at a time exercises every partial read.
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), testMagic)
	for _, want := range sampleMessages() {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("%s: %v", want.Command(), err)
		}
		if got.Command() != want.Command() || !bytes.Equal(encode(t, got), encode(t, want)) {
			t.Fatalf("%s: decoded a different message", want.Command())
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestVerackFrameBytes(t *testing.T) {
	// The regtest verack frame: magic, "verack" padded, length 0, checksum of
	// nothing (5df6e0e2, the first bytes of SHA-256d("")).
	want := mustHex(t, "fabfb5da76657261636b000000000000000000005df6e0e2")
	if got := frameOf(t, &MsgVerack{}); !bytes.Equal(got, want) {
		t.Fatalf("verack frame = %x, want %x", got, want)
	}
}

// mutate returns a copy of frame with f applied to it.
func mutate(frame []byte, f func(p []byte)) []byte {
	p := bytes.Clone(frame)
	f(p)
	return p
}

func TestFrameHeaderChecks(t *testing.T) {
	good := frameOf(t, &MsgPing{Nonce: 7})
	tests := []struct {
		name   string
		frame  []byte
		reason error
	}{
		{"wrong magic", mutate(good, func(p []byte) { p[0] ^= 1 }), ErrBadMagic},
		{"other network's magic", mutate(good, func(p []byte) { copy(p, []byte{0xf9, 0xbe, 0xb4, 0xd9}) }), ErrBadMagic},
		{"control character in command", mutate(good, func(p []byte) { p[5] = '\n' }), ErrBadCommand},
		{"non-ASCII command", mutate(good, func(p []byte) { p[4] = 0xc3 }), ErrBadCommand},
		{"byte after NUL padding", mutate(good, func(p []byte) { p[15] = 'x' }), ErrBadCommand},
		{"length over 4,000,000", mutate(good, func(p []byte) { binary.LittleEndian.PutUint32(p[16:], MaxMessageSize+1) }), ErrOversize},
		{"ping longer than 8 bytes", mutate(good, func(p []byte) { binary.LittleEndian.PutUint32(p[16:], 9) }), ErrOversize},
		{"checksum", mutate(good, func(p []byte) { p[20] ^= 0x80 }), ErrChecksum},
		{"payload bit flip", mutate(good, func(p []byte) { p[24] ^= 1 }), ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.frame), testMagic).ReadFrame()
			if !errors.Is(err, tt.reason) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("ReadFrame error = %v, want %v wrapping ErrMalformed", err, tt.reason)
			}
			_, err = NewReader(bytes.NewReader(tt.frame), testMagic).ReadMessage()
			if !errors.Is(err, tt.reason) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("ReadMessage error = %v, want %v wrapping ErrMalformed", err, tt.reason)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestOversizeRefusedBeforePayload(t *testing.T) {
	var hdr [FrameHeaderSize]byte
	PutFrameHeader(&hdr, testMagic, CmdBlock, nil)
	binary.LittleEndian.PutUint32(hdr[16:], MaxMessageSize+1)
	// The header is followed by plenty of payload; none of it may be read.
	c := &countingReader{r: io.MultiReader(bytes.NewReader(hdr[:]), bytes.NewReader(make([]byte, 1<<20)))}
	_, err := NewReader(c, testMagic).ReadMessage()
	if !errors.Is(err, ErrOversize) {
		t.Fatalf("error = %v, want ErrOversize", err)
	}
	if c.n != FrameHeaderSize {
		t.Fatalf("read %d bytes, want only the %d-byte header", c.n, FrameHeaderSize)
	}
}

func TestStalledPeerCostsLittle(t *testing.T) {
	// A frame announcing 4,000,000 bytes followed by 10 bytes and then the end
	// of the stream must not allocate anything near 4 MB.
	var hdr [FrameHeaderSize]byte
	PutFrameHeader(&hdr, testMagic, CmdBlock, nil)
	binary.LittleEndian.PutUint32(hdr[16:], MaxMessageSize)
	stream := append(hdr[:], make([]byte, 10)...)
	allocated := bytesAllocated(func() {
		_, err := NewReader(bytes.NewReader(stream), testMagic).ReadFrame()
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrMalformed) {
			t.Fatalf("error = %v, want io.ErrUnexpectedEOF (a connection problem, not ErrMalformed)", err)
		}
	})
	if allocated > 2*firstChunk {
		t.Fatalf("allocated %d bytes for a 10-byte partial payload", allocated)
	}
}

func TestLargePayloadGrowsToExactSize(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab}, 3*firstChunk+17)
	frame := AppendRawFrame(nil, testMagic, "blob", payload)
	f, err := NewReader(bytes.NewReader(frame), testMagic).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Payload, payload) || f.Header.Command != "blob" {
		t.Fatal("payload differs")
	}
}

func TestUnknownCommandIsSkipped(t *testing.T) {
	stream := AppendRawFrame(nil, testMagic, "futurecmd", []byte("whatever it carries"))
	stream = append(stream, frameOf(t, &MsgPing{Nonce: 11})...)
	r := NewReader(bytes.NewReader(stream), testMagic)
	_, err := r.ReadMessage()
	var unknown *UnknownCommandError
	if !errors.As(err, &unknown) || unknown.Command != "futurecmd" || errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want UnknownCommandError for futurecmd, not ErrMalformed", err)
	}
	m, err := r.ReadMessage()
	if err != nil || m.(*MsgPing).Nonce != 11 {
		t.Fatalf("next message after the unknown one: %v %v", m, err)
	}
}

func TestBadChecksumIsDroppedAndStreamContinues(t *testing.T) {
	bad := mutate(frameOf(t, &MsgPing{Nonce: 1}), func(p []byte) { p[24] ^= 1 })
	stream := append(bad, frameOf(t, &MsgPong{Nonce: 2})...)
	r := NewReader(bytes.NewReader(stream), testMagic)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrChecksum) {
		t.Fatalf("error = %v, want ErrChecksum", err)
	}
	m, err := r.ReadMessage()
	if err != nil || m.(*MsgPong).Nonce != 2 {
		t.Fatalf("message after the bad checksum: %v %v", m, err)
	}
}

func TestDecodeErrorNamesCommand(t *testing.T) {
	frame := AppendRawFrame(nil, testMagic, CmdPing, []byte{1, 2, 3, 4, 5, 6, 7})
	_, err := NewReader(bytes.NewReader(frame), testMagic).ReadMessage()
	var me *MalformedError
	if !errors.As(err, &me) || me.Field != "ping.nonce" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want a MalformedError in ping.nonce wrapping io.ErrUnexpectedEOF", err)
	}
}

func TestEndOfStream(t *testing.T) {
	frame := frameOf(t, &MsgPing{Nonce: 3})
	for _, n := range []int{0, 1, FrameHeaderSize - 1, FrameHeaderSize, len(frame) - 1} {
		_, err := NewReader(bytes.NewReader(frame[:n]), testMagic).ReadMessage()
		want := io.ErrUnexpectedEOF
		if n == 0 {
			want = io.EOF
		}
		if err != want {
			t.Errorf("stream cut at %d bytes: error %v, want %v", n, err, want)
		}
	}
}

func TestWriteMessage(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteMessage(w, testMagic, &MsgPing{Nonce: 5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), frameOf(t, &MsgPing{Nonce: 5})) {
		t.Fatal("WriteMessage and AppendFrame disagree")
	}
	if err := WriteMessage(&buf, testMagic, &MsgInv{Inv: make([]InvVect, MaxInvEntries+1)}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("oversized inv: %v, want ErrTooMany", err)
	}
}

// A parsed header appends back to the bytes it was parsed from: a tap gets
// the frame as received without its checksum computed again.
func TestFrameHeaderAppend(t *testing.T) {
	magic := Magic{0xfa, 0xbf, 0xb5, 0xda}
	for _, tc := range []struct {
		cmd     string
		payload []byte
	}{{CmdVerack, nil}, {CmdPing, []byte{1, 2, 3, 4, 5, 6, 7, 8}}, {"sendcmpct", []byte{1, 2, 0, 0, 0, 0, 0, 0, 0}}} {
		frame := AppendRawFrame(nil, magic, tc.cmd, tc.payload)
		h, err := ParseFrameHeader((*[FrameHeaderSize]byte)(frame[:FrameHeaderSize]), magic)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(h.Append(nil), tc.payload...); !bytes.Equal(got, frame) {
			t.Fatalf("%s: appended %x, want %x", tc.cmd, got, frame)
		}
	}
}
