package wire

import "github.com/renga-p2p/renga/crypto/sha256d"

// MsgGetBlocks asks for an inv of up to 500 blocks following the first locator hash on the receiver's best chain.
type MsgGetBlocks struct {
	Version uint32
	Locator []sha256d.Hash
	Stop    sha256d.Hash
}

// Command implements [Message].
func (*MsgGetBlocks) Command() string { return CmdGetBlocks }

// AppendBinary implements [Message].
func (m *MsgGetBlocks) AppendBinary(b []byte) ([]byte, error) {
	return appendLocator(b, "getblocks", m.Version, m.Locator, m.Stop)
}

// Decode implements [Message].
func (m *MsgGetBlocks) Decode(p []byte) (err error) {
	m.Version, m.Locator, m.Stop, err = decodeLocator(p, "getblocks")
	return err
}
