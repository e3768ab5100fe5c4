// Command btcdimport imports a bitcoind-style block file with btcd's own
// blockchain package doing full validation, as the fair opponent of
// `renga import` in `make compare`.
//
// btcd's addblock tool is not that opponent: it processes blocks with
// BFFastAdd, which skips script validation, and btcd also skips scripts for
// every block below its latest checkpoint. Here blocks are processed with
// BFNone and the network parameters have no checkpoints, so every script runs.
// With -verify, the program then proves it: for every signed input in the file
// it asks btcd's signature cache (filled only after a signature verifies)
// whether it holds that (sighash, signature, public key), and fails unless all
// are there.
//
// It shares btcd's node defaults where addblock leaves them at zero (a 250 MiB
// UTXO cache), so btcd is not slowed by settings it would not run with.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/database"
	_ "github.com/btcsuite/btcd/database/ffldb" // registers the ffldb driver
	"github.com/btcsuite/btcd/txscript/v2"
	btcwire "github.com/btcsuite/btcd/wire/v2"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/wire"
)

func main() {
	datadir := flag.String("datadir", "", "empty directory for btcd's database")
	in := flag.String("in", "", "block file (magic | length | block, repeated)")
	verify := flag.Bool("verify", false, "afterwards, check that btcd verified every signature")
	flag.Parse()
	if err := run(*datadir, *in, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "btcdimport:", err)
		os.Exit(1)
	}
}

func run(datadir, in string, verify bool) (err error) {
	params := chaincfg.MainNetParams
	params.Checkpoints = nil // no checkpoint may excuse a block from its scripts
	db, err := database.Create("ffldb", datadir, btcwire.MainNet)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	sigCache := txscript.NewSigCache(1 << 20)
	bc, err := blockchain.New(&blockchain.Config{
		DB:               db,
		ChainParams:      &params,
		TimeSource:       blockchain.NewMedianTime(),
		SigCache:         sigCache,
		UtxoCacheMaxSize: 250 << 20, // btcd's default --utxocachemaxsize
	})
	if err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only
	start := time.Now()
	var raws [][]byte
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(hdr[:4]) == 0 {
			break // pre-allocated zero padding
		}
		raw := make([]byte, binary.LittleEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(r, raw); err != nil {
			return err
		}
		block, err := btcutil.NewBlockFromBytes(raw)
		if err != nil {
			return err
		}
		if have, _ := bc.HaveBlock(block.Hash()); have {
			continue // genesis
		}
		mainChain, orphan, err := bc.ProcessBlock(block, blockchain.BFNone)
		if err != nil {
			return fmt.Errorf("block %s: %w", block.Hash(), err)
		}
		if !mainChain || orphan {
			return fmt.Errorf("block %s does not extend the main chain", block.Hash())
		}
		if verify {
			raws = append(raws, raw)
		}
	}
	best := bc.BestSnapshot()
	fmt.Printf("imported to height %d %s in %.2fs\n", best.Height, best.Hash, time.Since(start).Seconds())
	if verify {
		checked, err := checkSigCache(sigCache, raws)
		if err != nil {
			return err
		}
		fmt.Printf("btcd verified all %d signatures (each is in its signature cache)\n", checked)
	}
	return nil
}

// checkSigCache looks up every signed input's (sighash, signature, key) in the
// cache btcd fills only after a signature verifies.
func checkSigCache(sc *txscript.SigCache, raws [][]byte) (int, error) {
	outputs := map[wire.OutPoint][]byte{} // scripts of outputs seen so far
	checked := 0
	for _, raw := range raws {
		var b wire.Block
		if err := b.Decode(bytes.Clone(raw)); err != nil {
			return 0, err
		}
		for i := range b.Txs {
			tx := &b.Txs[i]
			if i > 0 {
				for j := range tx.Inputs {
					script := outputs[tx.Inputs[j].PrevOut]
					sig, pub, err := signatureAndKey(tx.Inputs[j].ScriptSig, script)
					if err != nil {
						return 0, fmt.Errorf("%s input %d: %w", tx.TxID(), j, err)
					}
					hash := chain.SignatureHash(script, tx, j, uint32(sig[len(sig)-1]))
					if !sc.Exists(chainhash.Hash(hash), sig[:len(sig)-1], pub) {
						return checked, fmt.Errorf("%s input %d: btcd never verified this signature", tx.TxID(), j)
					}
					checked++
				}
			}
			txid := tx.TxID()
			for k := range tx.Outputs {
				outputs[wire.OutPoint{Hash: txid, Index: uint32(k)}] = tx.Outputs[k].ScriptPubKey
			}
		}
	}
	return checked, nil
}

// signatureAndKey reads the signature (with its sighash byte) from a P2PK or
// P2PKH scriptSig, and the public key from the scriptSig or the output script.
func signatureAndKey(scriptSig, prevScript []byte) (sig, pub []byte, err error) {
	class, key := chain.Classify(prevScript)
	pushes, err := pushes(scriptSig)
	if err != nil || len(pushes) == 0 {
		return nil, nil, fmt.Errorf("unexpected scriptSig %x", scriptSig)
	}
	switch class {
	case chain.PayToPubKey:
		return pushes[0], key, nil
	case chain.PayToPubKeyHash:
		if len(pushes) != 2 {
			return nil, nil, fmt.Errorf("unexpected P2PKH scriptSig %x", scriptSig)
		}
		return pushes[0], pushes[1], nil
	}
	return nil, nil, fmt.Errorf("output script %x is not P2PK or P2PKH", prevScript)
}

// pushes splits a push-only script into its data (one-byte lengths and
// PUSHDATA1/2, which is all these early scripts use).
func pushes(s []byte) ([][]byte, error) {
	var out [][]byte
	for len(s) > 0 {
		n, skip := int(s[0]), 1
		switch {
		case s[0] == chain.OpPushData1 && len(s) > 1:
			n, skip = int(s[1]), 2
		case s[0] == chain.OpPushData2 && len(s) > 2:
			n, skip = int(binary.LittleEndian.Uint16(s[1:])), 3
		case s[0] >= chain.OpPushData1:
			return nil, fmt.Errorf("not a push: %#02x", s[0])
		}
		if skip+n > len(s) {
			return nil, fmt.Errorf("push past the end")
		}
		out = append(out, s[skip:skip+n])
		s = s[skip+n:]
	}
	return out, nil
}
