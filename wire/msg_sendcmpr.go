package wire

import (
	"encoding/binary"
	"fmt"
)

// Codec names a link-compression algorithm of Renga's cmpr message.
type Codec uint8

// Codecs. The numbers are Renga's own; the node decides which it implements.
const (
	CodecZstd Codec = 1 // Zstandard (klauspost/compress/zstd)
	CodecS2   Codec = 2 // S2, a faster Snappy extension (klauspost/compress/s2)
)

func (c Codec) String() string {
	switch c {
	case CodecZstd:
		return "zstd"
	case CodecS2:
		return "s2"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// MsgSendCmpr is Renga's link-compression offer, sent right after verack to a
// peer whose version set [SFNodeCompress]: the codecs the sender can decompress,
// in order of preference, and the smallest payload worth compressing for it.
// Wire form: varint count (at most [MaxCodecs]) | codec bytes | min size uint32.
type MsgSendCmpr struct {
	Codecs  []Codec
	MinSize uint32
}

// Command implements [Message].
func (*MsgSendCmpr) Command() string { return CmdSendCmpr }

// AppendBinary implements [Message].
func (m *MsgSendCmpr) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Codecs) > MaxCodecs {
		return b, fmt.Errorf("sendcmpr: %w: %d codecs", ErrTooMany, len(m.Codecs))
	}
	b = AppendVarint(b, uint64(len(m.Codecs)))
	for _, c := range m.Codecs {
		b = append(b, byte(c))
	}
	return binary.LittleEndian.AppendUint32(b, m.MinSize), nil
}

// Decode implements [Message].
func (m *MsgSendCmpr) Decode(p []byte) error {
	d := newDecoder(p)
	n := d.count("sendcmpr.codecs", MaxCodecs, 1)
	m.Codecs = nil
	if n > 0 {
		m.Codecs = make([]Codec, n)
	}
	for i := range m.Codecs {
		m.Codecs[i] = Codec(d.u8("sendcmpr.codecs"))
	}
	m.MinSize = d.u32("sendcmpr.minsize")
	return d.finish("sendcmpr")
}
