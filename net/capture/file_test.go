package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// testPackets are varied packets: sizes from empty to large, times with
// nanoseconds, comments and directions.
func testPackets() []Packet {
	rng := rand.New(rand.NewPCG(11, 11))
	var ps []Packet
	t0 := time.Date(2025, 12, 31, 23, 59, 59, 999_999_123, time.UTC)
	for i, size := range []int{0, 1, 3, 4, 60, 1514, 9000, 65535} {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		p := Packet{Time: t0.Add(time.Duration(i) * 1234567 * time.Nanosecond), LinkType: LinkEthernet, Data: data, Length: size + i%2*100}
		switch i % 3 {
		case 1:
			p.Comment, p.Direction = "out ping peer=10.0.0.2:18444", DirOut
		case 2:
			p.Comment, p.Direction = "ünïcode comment of odd length", DirIn
		}
		ps = append(ps, p)
	}
	return ps
}

func readAll(t *testing.T, file []byte) ([]Packet, *Reader) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var ps []Packet
	for {
		p, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return ps, rd
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Data = bytes.Clone(p.Data)
		ps = append(ps, p)
	}
}

func samePacket(t *testing.T, i int, got, want Packet, resolution time.Duration, comments bool) {
	t.Helper()
	if !got.Time.Equal(want.Time.Truncate(resolution)) {
		t.Errorf("packet %d: time %v, want %v", i, got.Time, want.Time.Truncate(resolution))
	}
	if !bytes.Equal(got.Data, want.Data) || got.Length != want.Length || got.LinkType != want.LinkType {
		t.Errorf("packet %d: %d bytes of %d, link %v; want %d of %d, link %v", i, len(got.Data), got.Length, got.LinkType,
			len(want.Data), want.Length, want.LinkType)
	}
	if comments && (got.Comment != want.Comment || got.Direction != want.Direction) {
		t.Errorf("packet %d: comment %q dir %v, want %q %v", i, got.Comment, got.Direction, want.Comment, want.Direction)
	}
}

func TestPcapRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts PcapOptions
		res  time.Duration
	}{
		{"little-endian microseconds", PcapOptions{LinkType: LinkEthernet}, time.Microsecond},
		{"big-endian microseconds", PcapOptions{LinkType: LinkEthernet, BigEndian: true}, time.Microsecond},
		{"little-endian nanoseconds", PcapOptions{LinkType: LinkEthernet, Nanosecond: true}, time.Nanosecond},
		{"big-endian nanoseconds", PcapOptions{LinkType: LinkEthernet, Nanosecond: true, BigEndian: true}, time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewPcapWriter(&buf, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := testPackets()
			for _, p := range want {
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
			got, rd := readAll(t, buf.Bytes())
			if rd.Format() != "pcap" || len(got) != len(want) {
				t.Fatalf("%s: %d packets, want %d", rd.Format(), len(got), len(want))
			}
			for i := range got {
				samePacket(t, i, got[i], want[i], tc.res, false)
			}
		})
	}
	t.Run("snaplen cuts", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := NewPcapWriter(&buf, PcapOptions{LinkType: LinkRaw, Snaplen: 100})
		if err := w.WritePacket(Packet{Time: baseTime, Data: make([]byte, 1000), Length: 1000}); err != nil {
			t.Fatal(err)
		}
		got, _ := readAll(t, buf.Bytes())
		if len(got) != 1 || len(got[0].Data) != 100 || got[0].Length != 1000 {
			t.Fatalf("got %d bytes of %d", len(got[0].Data), got[0].Length)
		}
	})
}

func TestPcapngRoundTrip(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(map[bool]string{false: "little-endian", true: "big-endian"}[big], func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewPcapngWriter(&buf, PcapngOptions{Application: "renga test", BigEndian: big})
			if err != nil {
				t.Fatal(err)
			}
			eth, _ := w.AddInterface(Interface{LinkType: LinkEthernet, Name: "lo"})
			raw, _ := w.AddInterface(Interface{LinkType: LinkRaw, Snaplen: 2000})
			want := testPackets()
			for i, p := range want {
				ifc := eth
				if i%2 == 1 {
					// On the raw interface, 10 more bytes, and the writer cuts
					// to its snaplen of 2000.
					ifc, p.LinkType = raw, LinkRaw
					p.Data = append(bytes.Clone(p.Data), make([]byte, 10)...)
					p.Length = max(p.Length, len(p.Data))
					want[i] = p
					want[i].Data = p.Data[:min(len(p.Data), 2000)]
				}
				if err := w.WritePacket(ifc, p); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WritePacket(2, want[0]); err == nil {
				t.Fatal("wrote a packet on an interface never described")
			}
			got, rd := readAll(t, buf.Bytes())
			if rd.Format() != "pcapng" || len(got) != len(want) {
				t.Fatalf("%s: %d packets, want %d", rd.Format(), len(got), len(want))
			}
			for i := range got {
				samePacket(t, i, got[i], want[i], time.Nanosecond, true)
			}
		})
	}
}

// pcapng hand-built, to test what Renga's writer never writes.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type ngBuilder struct {
	o   byteOrder
	buf []byte
}

func (b *ngBuilder) block(typ uint32, body []byte) {
	body = pad4(append([]byte(nil), body...))
	b.buf = b.o.AppendUint32(b.buf, typ)
	b.buf = b.o.AppendUint32(b.buf, uint32(12+len(body)))
	b.buf = append(b.buf, body...)
	b.buf = b.o.AppendUint32(b.buf, uint32(12+len(body)))
}

func (b *ngBuilder) shb() {
	body := b.o.AppendUint32(nil, pcapngByteOrderMagic)
	body = b.o.AppendUint16(body, 1)
	body = b.o.AppendUint16(body, 0)
	body = b.o.AppendUint64(body, ^uint64(0))
	b.block(pcapngSHBType, body)
}

func (b *ngBuilder) idb(link LinkType, snaplen uint32, opts ...[]byte) {
	body := b.o.AppendUint16(nil, uint16(link))
	body = b.o.AppendUint16(body, 0)
	body = b.o.AppendUint32(body, snaplen)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(pcapngIDBType, body)
}

func (b *ngBuilder) opt(code uint16, v []byte) []byte {
	o := b.o.AppendUint16(nil, code)
	o = b.o.AppendUint16(o, uint16(len(v)))
	return pad4(append(o, v...))
}

func (b *ngBuilder) epb(ifc uint32, ts uint64, data []byte) {
	body := b.o.AppendUint32(nil, ifc)
	body = b.o.AppendUint32(body, uint32(ts>>32))
	body = b.o.AppendUint32(body, uint32(ts))
	body = b.o.AppendUint32(body, uint32(len(data)))
	body = b.o.AppendUint32(body, uint32(len(data)))
	b.block(pcapngEPBType, append(body, pad4(append([]byte(nil), data...))...))
}

func TestPcapngReaderFeatures(t *testing.T) {
	pkt := []byte("packet data")
	for _, o := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(o.String(), func(t *testing.T) {
			b := &ngBuilder{o: o}
			b.shb()
			b.block(0x0bad, []byte("a block type nobody knows")) // skipped
			// Interface 0: milliseconds; interface 1: 2^-10 s with a 1000 s offset.
			b.idb(LinkEthernet, 0, b.opt(optIfTsresol, []byte{3}), b.opt(optEndOfOpt, nil))
			b.idb(LinkRaw, 0, b.opt(optIfTsresol, []byte{0x80 | 10}), b.opt(optIfTsoffset, o.AppendUint64(nil, 1000)))
			b.epb(0, 1_700_000_000_123, pkt)
			b.epb(1, 5<<10|512, pkt)
			// A simple packet block: interface 0, no timestamp.
			b.block(pcapngSPBType, append(o.AppendUint32(nil, uint32(len(pkt))), pkt...))
			// An obsolete packet block on interface 1.
			pb := o.AppendUint16(nil, 1)
			pb = o.AppendUint16(pb, 0)
			pb = o.AppendUint32(pb, 0)
			pb = o.AppendUint32(pb, 3<<10)
			pb = o.AppendUint32(pb, uint32(len(pkt)))
			pb = o.AppendUint32(pb, uint32(len(pkt)))
			b.block(pcapngPBType, append(pb, pkt...))
			// A second section, in the other byte order, with its own interface.
			other := &ngBuilder{o: map[bool]byteOrder{true: binary.BigEndian, false: binary.LittleEndian}[o == binary.LittleEndian]}
			other.shb()
			other.idb(LinkLinuxSLL, 0)
			other.epb(0, 42e6, pkt) // no if_tsresol: microseconds
			file := append(b.buf, other.buf...)

			got, _ := readAll(t, file)
			want := []struct {
				t    time.Time
				link LinkType
			}{
				{time.Unix(1_700_000_000, 123e6), LinkEthernet},
				{time.Unix(1005, 5e8), LinkRaw},
				{time.Time{}, LinkEthernet},
				{time.Unix(1003, 0), LinkRaw},
				{time.Unix(42, 0), LinkLinuxSLL},
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, want %d", len(got), len(want))
			}
			for i, w := range want {
				if !got[i].Time.Equal(w.t) || got[i].LinkType != w.link || string(got[i].Data) != string(pkt) {
					t.Errorf("packet %d: %v %v %q, want %v %v", i, got[i].Time, got[i].LinkType, got[i].Data, w.t, w.link)
				}
			}
		})
	}
}

// goodFiles are one capture in each format and byte order.
func goodFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{"recorder pcapng": record(t, scenario(t, regtest)[:6], RecorderConfig{})}
	var le, be bytes.Buffer
	for _, c := range []struct {
		buf *bytes.Buffer
		big bool
	}{{&le, false}, {&be, true}} {
		w, _ := NewPcapWriter(c.buf, PcapOptions{LinkType: LinkEthernet, Nanosecond: c.big, BigEndian: c.big})
		for _, p := range testPackets()[:4] {
			if err := w.WritePacket(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	files["pcap le"], files["pcap be"] = le.Bytes(), be.Bytes()
	var ng bytes.Buffer
	w, _ := NewPcapngWriter(&ng, PcapngOptions{BigEndian: true})
	if _, err := w.AddInterface(Interface{LinkType: LinkEthernet}); err != nil {
		t.Fatal(err)
	}
	for _, p := range testPackets()[:4] {
		if err := w.WritePacket(0, p); err != nil {
			t.Fatal(err)
		}
	}
	files["pcapng be"] = ng.Bytes()
	return files
}

// readErr reads a whole file and returns how many packets came before the
// first error, and the error (nil at a clean end).
func readErr(file []byte) (int, error) {
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		return 0, err
	}
	for n := 0; ; n++ {
		if _, err := rd.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}

func TestTruncatedFiles(t *testing.T) {
	for name, file := range goodFiles(t) {
		t.Run(name, func(t *testing.T) {
			total, err := readErr(file)
			if err != nil {
				t.Fatal(err)
			}
			// Every prefix either ends cleanly between records or fails with
			// an error that says the file ends early.
			clean := 0
			for n := range len(file) {
				got, err := readErr(file[:n])
				if err == nil {
					clean++
					if got > total {
						t.Fatalf("prefix %d: %d packets of %d", n, got, total)
					}
					continue
				}
				if !errors.Is(err, ErrFormat) || !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d: %v, want a truncation error", n, err)
				}
			}
			if clean == 0 || clean > total+4 {
				t.Fatalf("%d prefixes read cleanly for %d packets", clean, total)
			}
		})
	}
}

func TestCorruptFiles(t *testing.T) {
	files := goodFiles(t)
	ng := files["recorder pcapng"]
	pc := files["pcap le"]
	set32 := func(file []byte, off int, v uint32) []byte {
		f := append([]byte(nil), file...)
		binary.LittleEndian.PutUint32(f[off:], v)
		return f
	}
	// Offsets in the recorder's file: SHB at 0, its length at 4.
	shbLen := int(binary.LittleEndian.Uint32(ng[4:]))
	idbLen := int(binary.LittleEndian.Uint32(ng[shbLen+4:]))
	epb := shbLen + idbLen
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"not a capture", []byte("GIF89a and then some"), "neither pcap nor pcapng"},
		{"pcap version", set32(pc, 4, 0x00000005), "version 5.0"},
		{"pcap microseconds", set32(pc, 24+4, 2_000_000), "microseconds"},
		{"pcap huge packet", set32(pc, 24+8, 1<<30), "limit"},
		{"pcapng byte-order magic", set32(ng, 8, 0x12345678), "byte-order magic"},
		{"pcapng block length not a multiple of 4", set32(ng, epb+4, 101), "multiple of 4"},
		{"pcapng block length too small", set32(ng, epb+4, 8), "multiple of 4"},
		{"pcapng block too large", set32(ng, epb+4, 1<<30), "multiple of 4"},
		{"pcapng trailer", set32(ng, epb+int(binary.LittleEndian.Uint32(ng[epb+4:]))-4, 12), "trailer"},
		{"pcapng interface", set32(ng, epb+8, 7), "interface 7"},
		{"pcapng captured length", set32(ng, epb+20, 1<<20), "captured length"},
		{"pcapng first block", set32(ng, 0, pcapngEPBType), "neither pcap nor pcapng"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readErr(tc.file)
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v, want ErrFormat", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FileError", err)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(nil))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("empty file: %v", err)
		}
	})
}
