// Package wirediff checks Renga's wire codec against btcd's, the independent
// implementation: on real blocks, and on arbitrary bytes by differential fuzzing.
package wirediff

import (
	"bytes"
	"fmt"

	btcwire "github.com/btcsuite/btcd/wire/v2"
)

// btcdCommands are the messages both implementations decode. btcd has no
// compact blocks (BIP152) and, naturally, no Renga link compression.
var btcdCommands = []string{
	"version", "verack", "ping", "pong", "getaddr", "addr", "addrv2", "sendaddrv2",
	"inv", "getdata", "notfound", "getheaders", "getblocks", "headers", "block", "tx",
	"sendheaders", "mempool", "feefilter", "wtxidrelay", "reject",
}

// btcdResult is what btcd made of a payload.
type btcdResult struct {
	msg       btcwire.Message
	err       error
	consumed  int    // bytes btcd read
	reencoded []byte // btcd's own encoding of what it decoded
}

// btcdDecode decodes a payload with btcd the way its peer code does: protocol
// version 70016 with witness encoding, from a bytes.Buffer.
func btcdDecode(cmd string, payload []byte) btcdResult {
	msg, err := makeBtcdMessage(cmd)
	if err != nil {
		return btcdResult{err: err}
	}
	buf := bytes.NewBuffer(bytes.Clone(payload))
	err = safely(func() error {
		return msg.BtcDecode(buf, btcwire.ProtocolVersion, btcwire.WitnessEncoding)
	})
	res := btcdResult{msg: msg, err: err, consumed: len(payload) - buf.Len()}
	if err == nil {
		var out bytes.Buffer
		if encErr := msg.BtcEncode(&out, btcwire.ProtocolVersion, btcwire.WitnessEncoding); encErr == nil {
			res.reencoded = out.Bytes()
		}
	}
	return res
}

// makeBtcdMessage returns btcd's empty message for a command (btcd keeps its
// own table unexported).
func makeBtcdMessage(cmd string) (btcwire.Message, error) {
	switch cmd {
	case "version":
		return &btcwire.MsgVersion{}, nil
	case "verack":
		return &btcwire.MsgVerAck{}, nil
	case "ping":
		return &btcwire.MsgPing{}, nil
	case "pong":
		return &btcwire.MsgPong{}, nil
	case "getaddr":
		return &btcwire.MsgGetAddr{}, nil
	case "addr":
		return &btcwire.MsgAddr{}, nil
	case "addrv2":
		return &btcwire.MsgAddrV2{}, nil
	case "sendaddrv2":
		return &btcwire.MsgSendAddrV2{}, nil
	case "inv":
		return &btcwire.MsgInv{}, nil
	case "getdata":
		return &btcwire.MsgGetData{}, nil
	case "notfound":
		return &btcwire.MsgNotFound{}, nil
	case "getheaders":
		return &btcwire.MsgGetHeaders{}, nil
	case "getblocks":
		return &btcwire.MsgGetBlocks{}, nil
	case "headers":
		return &btcwire.MsgHeaders{}, nil
	case "block":
		return &btcwire.MsgBlock{}, nil
	case "tx":
		return &btcwire.MsgTx{}, nil
	case "sendheaders":
		return &btcwire.MsgSendHeaders{}, nil
	case "mempool":
		return &btcwire.MsgMemPool{}, nil
	case "feefilter":
		return &btcwire.MsgFeeFilter{}, nil
	case "wtxidrelay":
		return &btcwire.MsgWTxIdRelay{}, nil
	case "reject":
		return &btcwire.MsgReject{}, nil
	}
	return nil, fmt.Errorf("wirediff: btcd has no %q message", cmd)
}

// safely turns a panic inside btcd into an error, so that a btcd bug found by
// the fuzzer is reported as a disagreement rather than crashing the run.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return f()
}

type panicError struct{ v any }

func (p *panicError) Error() string { return "btcd panicked" }
