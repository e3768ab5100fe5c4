package chain

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// ImportProgress describes an import so far.
type ImportProgress struct {
	Blocks  int // blocks read from the file
	Skipped int // of which already known
	// Orphans is how many blocks the chain holds whose parent has not come
	// (yet): a file out of order holds some until their parents are read.
	Orphans int
	Bytes   int64 // bytes of the file consumed
	Height  int32 // the tip's height
	Elapsed time.Duration
}

// importChunk bounds the blocks handed to AcceptBlocks at once.
const importChunk = 500

// Import reads blocks in bitcoind's block-file format (magic | length uint32
// LE | block, repeated; a zero magic marks the end of a pre-allocated file)
// and processes each with full validation, committing in large batches. name
// is used in errors. progress, if not nil, is called after each chunk.
//
// Blocks already known are skipped, so an interrupted import can simply be
// run again. Blocks may come in any order within the bounds of the orphan
// pool (Options.MaxOrphans, Options.MaxOrphanBytes): one whose parent is not
// known yet waits there until the parent is read. On bad data the error names
// the file, the record's offset and the rule; every block before it stays
// imported.
func (c *Chain) Import(ctx context.Context, r io.Reader, name string, progress func(ImportProgress)) (ImportProgress, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	start := time.Now()
	var st ImportProgress
	var blocks []*wire.Block
	var raws [][]byte
	var offsets []int64
	flush := func() error {
		if len(blocks) == 0 {
			return nil
		}
		n, known, err := c.acceptBlocks(blocks, raws)
		st.Height = c.Tip().Height
		st.Elapsed = time.Since(start)
		st.Skipped += known
		st.Orphans, _ = c.Orphans()
		if err != nil {
			return fmt.Errorf("chain: import %s: block %s at offset %d: %w", name, blocks[n].Hash(), offsets[n], err)
		}
		blocks, raws, offsets = blocks[:0], raws[:0], offsets[:0]
		if progress != nil {
			progress(st)
		}
		return nil
	}
	var hdr [8]byte
	for {
		if err := ctx.Err(); err != nil {
			return st, errors.Join(flush(), err)
		}
		offset := st.Bytes
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return st, errors.Join(flush(), fmt.Errorf("chain: import %s: record at offset %d: %w", name, offset, err))
		}
		magic := wire.Magic(hdr[:4])
		if magic == (wire.Magic{}) {
			break // the zero padding of a pre-allocated file
		}
		if magic != c.params.Magic {
			return st, errors.Join(flush(), fmt.Errorf("chain: import %s: record at offset %d: %w: magic %s, %s uses %s",
				name, offset, ErrNetwork, magic, c.params.Name, c.params.Magic))
		}
		size := binary.LittleEndian.Uint32(hdr[4:])
		if size > wire.MaxMessageSize {
			return st, errors.Join(flush(), fmt.Errorf("chain: import %s: record at offset %d: block of %d bytes: %w",
				name, offset, size, wire.ErrOversize))
		}
		raw := make([]byte, size)
		if _, err := io.ReadFull(br, raw); err != nil {
			return st, errors.Join(flush(), fmt.Errorf("chain: import %s: record at offset %d: %w", name, offset, err))
		}
		st.Bytes += 8 + int64(size)
		b := new(wire.Block)
		if err := b.Decode(raw); err != nil {
			return st, errors.Join(flush(), fmt.Errorf("chain: import %s: record at offset %d: %w", name, offset, err))
		}
		blocks, raws, offsets = append(blocks, b), append(raws, raw), append(offsets, offset)
		st.Blocks++
		if len(blocks) == importChunk {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	return st, flush()
}
