package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

var testMagic = wire.Magic{1, 2, 3, 4}

func open(t *testing.T, fs vfs.FS) *DB {
	t.Helper()
	db, err := Open("/data", testMagic, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func closeDB(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	db := open(t, fs)
	op := wire.OutPoint{Hash: sha256d.Sum([]byte("tx")), Index: 7}
	coin := Coin{Value: 12345, Script: []byte{0x76, 0xa9}, Height: 99, Coinbase: true}
	undo := Undo{Txs: []TxUndo{
		{TxID: sha256d.Sum([]byte("cb")), Outputs: 1},
		{TxID: sha256d.Sum([]byte("t1")), Outputs: 2, Spent: []SpentCoin{{OutPoint: op, Coin: coin}}},
	}}
	entry := IndexEntry{Header: wire.Header{Version: 4, Nonce: 9}, Height: 99, Status: 3, Seq: 42, Pos: BlockPos{File: 1, Offset: 8, Size: 300}}
	hash := entry.Header.Hash()
	b := db.NewBatch()
	b.PutCoin(op, &coin)
	b.PutUndo(hash, &undo)
	b.PutIndex(hash, &entry)
	b.PutHeight(99, hash)
	b.SetTip(Tip{Hash: hash, Height: 99})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	db = open(t, fs) // everything survives a reopen
	defer closeDB(t, db)
	if got, err := db.Coin(op); err != nil || got.Value != coin.Value || string(got.Script) != string(coin.Script) || !got.Coinbase || got.Height != 99 {
		t.Fatalf("coin: %+v %v", got, err)
	}
	if got, err := db.Undo(hash); err != nil || len(got.Txs) != 2 || got.Txs[1].Spent[0].Coin.Value != coin.Value {
		t.Fatalf("undo: %+v %v", got, err)
	}
	n := 0
	err := db.ForEachIndex(func(h sha256d.Hash, e IndexEntry) error {
		if h != hash || e != entry {
			t.Fatalf("index entry %+v", e)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tip, err := db.Tip(); err != nil || tip.Height != 99 || tip.Hash != hash || n != 1 {
		t.Fatalf("tip %+v %v", tip, err)
	}
	if _, err := db.Coin(wire.OutPoint{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing coin: %v", err)
	}
}

func TestDeleteIndex(t *testing.T) {
	db := open(t, vfs.NewMem())
	defer closeDB(t, db)
	keep := IndexEntry{Header: wire.Header{Nonce: 1}, Height: 1}
	drop := IndexEntry{Header: wire.Header{Nonce: 2}, Height: 1}
	b := db.NewBatch()
	b.PutIndex(keep.Header.Hash(), &keep)
	b.PutIndex(drop.Header.Hash(), &drop)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = db.NewBatch()
	b.DeleteIndex(drop.Header.Hash())
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var left []sha256d.Hash
	if err := db.ForEachIndex(func(h sha256d.Hash, _ IndexEntry) error { left = append(left, h); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != keep.Header.Hash() {
		t.Fatalf("index holds %v after deleting one of two entries", left)
	}
}

func TestBlockFiles(t *testing.T) {
	fs := vfs.NewMem()
	db := open(t, fs)
	pos, err := db.AppendBlocks([][]byte{[]byte("first block"), []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	db = open(t, fs) // a new file is started; old positions still read
	defer closeDB(t, db)
	more, _ := db.AppendBlocks([][]byte{[]byte("third")})
	if more[0].File == pos[0].File {
		t.Fatal("reopening should start a new block file")
	}
	for i, want := range []string{"first block", "second"} {
		got, err := db.ReadBlock(pos[i])
		if err != nil || string(got) != want {
			t.Fatalf("block %d: %q %v", i, got, err)
		}
	}
	bad := pos[1]
	bad.Size++
	if _, err := db.ReadBlock(bad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "blk00000.dat") {
		t.Fatalf("mismatched position: %v (want ErrCorrupt naming the file)", err)
	}
}

func TestCorruptRecordRefused(t *testing.T) {
	fs := vfs.NewMem()
	db := open(t, fs)
	defer closeDB(t, db)
	op := wire.OutPoint{Index: 1}
	b := db.db.NewBatch()
	err := errors.Join(
		b.Set(coinKey(&op), []byte{0xff}, nil), // a truncated varint
		b.Set(undoKey(&sha256d.Hash{}), []byte{5, 1}, nil),
		b.Commit(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Coin(op); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), op.String()) {
		t.Fatalf("corrupt coin: %v", err)
	}
	if _, err := db.Undo(sha256d.Hash{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt undo: %v", err)
	}
}

func TestWrongNetwork(t *testing.T) {
	fs := vfs.NewMem()
	closeDB(t, open(t, fs))
	_, err := Open("/data", wire.Magic{9, 9, 9, 9}, Options{FS: fs})
	if !errors.Is(err, ErrWrongNetwork) || !strings.Contains(err.Error(), "/data") {
		t.Fatalf("other network's directory: %v", err)
	}
}

func FuzzUndo(f *testing.F) {
	u := Undo{Txs: []TxUndo{{Outputs: 3, Spent: []SpentCoin{{Coin: Coin{Value: 5, Script: []byte{1}}}}}}}
	raw, _ := u.AppendBinary(nil)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, p []byte) {
		u, err := decodeUndo(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again, _ := u.AppendBinary(nil); len(again) > len(p) {
			t.Fatalf("decoded more than was there")
		}
	})
}
