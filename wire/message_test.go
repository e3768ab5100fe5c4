package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

func TestSamplesCoverEveryCommand(t *testing.T) {
	var got []string
	for _, m := range sampleMessages() {
		got = append(got, m.Command())
	}
	want := Commands()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("samples cover %v\nthe package knows %v", got, want)
	}
}

func encode(t testing.TB, m Message) []byte {
	t.Helper()
	p, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatalf("%s: AppendBinary: %v", m.Command(), err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Command(), func(t *testing.T) {
			p := encode(t, m)
			back, err := DecodeMessage(m.Command(), p)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(back), normalize(m)) {
				t.Fatalf("decoded message differs:\n got %+v\nwant %+v", back, m)
			}
			if again := encode(t, back); !bytes.Equal(again, p) {
				t.Fatalf("re-encode differs:\n got %x\nwant %x", again, p)
			}
			// Appending must not disturb what is already in the buffer.
			prefix := []byte("prefix")
			withPrefix, _ := m.AppendBinary(slices.Clone(prefix))
			if !bytes.HasPrefix(withPrefix, prefix) || !bytes.Equal(withPrefix[len(prefix):], p) {
				t.Fatal("AppendBinary does not append")
			}
			if size, ok := m.(interface{ SerializeSize() int }); ok && size.SerializeSize() != len(p) {
				t.Fatalf("SerializeSize = %d, encoded %d bytes", size.SerializeSize(), len(p))
			}
		})
	}
}

// normalize makes empty slices nil so that DeepEqual compares content: decoding
// yields nil for empty byte fields.
func normalize(m Message) Message {
	v := reflect.ValueOf(m).Elem()
	clean := reflect.New(v.Type()).Elem()
	clean.Set(v)
	normalizeValue(clean)
	out := reflect.New(v.Type())
	out.Elem().Set(clean)
	return out.Interface().(Message)
}

func normalizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		// Copy before normalizing so that samples shared with other tests stay intact.
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			normalizeValue(c.Index(i))
		}
		if v.CanSet() {
			v.Set(c)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				normalizeValue(v.Field(i))
			}
		}
	}
}

func TestEveryStrictPrefixIsMalformed(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Command(), func(t *testing.T) {
			p := encode(t, m)
			end := len(p)
			if m.Command() == CmdCmpr {
				// Its compressed bytes run to the end of the payload, so only the
				// envelope (command, length, codec) can be cut short; a cut inside
				// the data shows when it is decompressed to the declared length.
				end = CommandSize + VarintSize(uint64(m.(*MsgCmpr).Length)) + 1
			}
			for n := range end {
				fresh, _ := NewMessage(m.Command())
				err := fresh.Decode(slices.Clone(p[:n]))
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("prefix of %d/%d bytes: error %v, want ErrMalformed", n, len(p), err)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNonCanonical) {
					t.Fatalf("prefix of %d/%d bytes: error %v, want io.ErrUnexpectedEOF", n, len(p), err)
				}
			}
		})
	}
}

func TestTrailingBytesAreMalformed(t *testing.T) {
	for _, m := range sampleMessages() {
		if m.Command() == CmdCmpr {
			continue // its last field runs to the end of the payload
		}
		t.Run(m.Command(), func(t *testing.T) {
			p := append(encode(t, m), 0)
			fresh, _ := NewMessage(m.Command())
			if err := fresh.Decode(p); !errors.Is(err, ErrTrailing) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrTrailing wrapping ErrMalformed", err)
			}
		})
	}
}

func TestMaxPayloadHoldsTheLimits(t *testing.T) {
	// A message at every limit must fit the payload bound the frame reader
	// enforces for its command; otherwise honest peers would be refused.
	long := string(bytes.Repeat([]byte{'x'}, MaxUserAgent))
	full := []Message{
		&MsgVersion{UserAgent: long},
		&MsgAddr{Addrs: make([]TimedAddr, MaxAddrs)},
		&MsgAddrV2{Addrs: slices.Repeat([]AddrV2{{Services: 1 << 63, Network: 99, Addr: make([]byte, MaxAddrV2Size)}}, MaxAddrs)},
		&MsgInv{Inv: make([]InvVect, MaxInvEntries)},
		&MsgGetData{Inv: make([]InvVect, MaxInvEntries)},
		&MsgNotFound{Inv: make([]InvVect, MaxInvEntries)},
		&MsgGetHeaders{Locator: make([]sha256d.Hash, MaxLocator)},
		&MsgGetBlocks{Locator: make([]sha256d.Hash, MaxLocator)},
		&MsgHeaders{Headers: make([]Header, MaxHeaders)},
		&MsgReject{Message: CmdBlock, Reason: string(bytes.Repeat([]byte{'r'}, MaxRejectReason))},
		&MsgSendCmpr{Codecs: make([]Codec, MaxCodecs), MinSize: 1},
	}
	for _, m := range full {
		p := encode(t, m)
		if len(p) > MaxPayload(m.Command()) {
			t.Errorf("%s at its limits is %d bytes, over MaxPayload %d", m.Command(), len(p), MaxPayload(m.Command()))
		}
		if _, err := DecodeMessage(m.Command(), p); err != nil {
			t.Errorf("%s at its limits does not decode: %v", m.Command(), err)
		}
	}
}

func TestEncodeRefusesOverLimit(t *testing.T) {
	over := []Message{
		&MsgVersion{UserAgent: string(make([]byte, MaxUserAgent+1))},
		&MsgAddr{Addrs: make([]TimedAddr, MaxAddrs+1)},
		&MsgAddrV2{Addrs: make([]AddrV2, MaxAddrs+1)},
		&MsgAddrV2{Addrs: []AddrV2{{Addr: make([]byte, MaxAddrV2Size+1)}}},
		&MsgInv{Inv: make([]InvVect, MaxInvEntries+1)},
		&MsgGetHeaders{Locator: make([]sha256d.Hash, MaxLocator+1)},
		&MsgHeaders{Headers: make([]Header, MaxHeaders+1)},
		&MsgReject{Message: "averyveryverylongcommand"},
		&MsgGetBlockTxn{Indexes: []uint16{5, 5}},
		&MsgCmpctBlock{Prefilled: []PrefilledTx{{Index: 2}, {Index: 1}}},
		&MsgSendCmpr{Codecs: make([]Codec, MaxCodecs+1)},
		&MsgCmpr{Inner: CmdCmpr},
		&MsgCmpr{Inner: ""},
		&MsgCmpr{Inner: CmdPing, Length: 9},
	}
	for _, m := range over {
		if _, err := m.AppendBinary(nil); err == nil {
			t.Errorf("%s %+v: AppendBinary accepted a message a peer would refuse", m.Command(), m)
		}
	}
}
