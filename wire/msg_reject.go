package wire

import (
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// MsgReject is BIP61's rejection notice. Bitcoin Core stopped sending it in 0.20
// and Renga never sends it; it is decoded so that older peers' notices can be
// logged and captured traffic shown. The hash is present exactly when the
// rejected message was a block or a transaction.
type MsgReject struct {
	Message string // the rejected message's command
	Code    uint8
	Reason  string
	Hash    sha256d.Hash
}

// Reject codes (BIP61).
const (
	RejectMalformed       uint8 = 0x01
	RejectInvalid         uint8 = 0x10
	RejectObsolete        uint8 = 0x11
	RejectDuplicate       uint8 = 0x12
	RejectNonstandard     uint8 = 0x40
	RejectDust            uint8 = 0x41
	RejectInsufficientFee uint8 = 0x42
	RejectCheckpoint      uint8 = 0x43
)

// Command implements [Message].
func (*MsgReject) Command() string { return CmdReject }

func (m *MsgReject) hasHash() bool { return m.Message == CmdBlock || m.Message == CmdTx }

// AppendBinary implements [Message]; it exists for tests and captures.
func (m *MsgReject) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Message) > CommandSize || len(m.Reason) > MaxRejectReason {
		return b, fmt.Errorf("reject: %w: message or reason too long", ErrTooMany)
	}
	b = appendVarString(b, m.Message)
	b = append(b, m.Code)
	b = appendVarString(b, m.Reason)
	if m.hasHash() {
		b = append(b, m.Hash[:]...)
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgReject) Decode(p []byte) error {
	d := newDecoder(p)
	m.Message = d.varString("reject.message", CommandSize)
	m.Code = d.u8("reject.code")
	m.Reason = d.varString("reject.reason", MaxRejectReason)
	m.Hash = sha256d.Hash{}
	if m.hasHash() {
		m.Hash = d.hash("reject.hash")
	}
	return d.finish("reject")
}
