package wire

import "github.com/renga-p2p/renga/crypto/sha256d"

// MsgGetHeaders asks for up to [MaxHeaders] headers following the first locator hash on the receiver's best chain.
type MsgGetHeaders struct {
	Version uint32
	Locator []sha256d.Hash
	Stop    sha256d.Hash
}

// Command implements [Message].
func (*MsgGetHeaders) Command() string { return CmdGetHeaders }

// AppendBinary implements [Message].
func (m *MsgGetHeaders) AppendBinary(b []byte) ([]byte, error) {
	return appendLocator(b, "getheaders", m.Version, m.Locator, m.Stop)
}

// Decode implements [Message].
func (m *MsgGetHeaders) Decode(p []byte) (err error) {
	m.Version, m.Locator, m.Stop, err = decodeLocator(p, "getheaders")
	return err
}
