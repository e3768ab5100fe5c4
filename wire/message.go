package wire

// Message is one protocol message: its command and its payload codec.
//
// AppendBinary appends the payload (not the frame) and implements
// encoding.BinaryAppender; it fails only for a message that breaks a protocol
// limit, which a peer would refuse. Decode parses a whole payload, accepting only
// canonical bytes (what it accepts, AppendBinary reproduces exactly); byte slices
// in the decoded message alias the payload, so the caller hands the payload over
// to the message and must not modify it afterwards.
type Message interface {
	Command() string
	AppendBinary(b []byte) ([]byte, error)
	Decode(payload []byte) error
}

// Commands, as they appear NUL-padded in the frame header.
const (
	CmdVersion     = "version"
	CmdVerack      = "verack"
	CmdPing        = "ping"
	CmdPong        = "pong"
	CmdGetAddr     = "getaddr"
	CmdAddr        = "addr"
	CmdAddrV2      = "addrv2"
	CmdSendAddrV2  = "sendaddrv2"
	CmdInv         = "inv"
	CmdGetData     = "getdata"
	CmdNotFound    = "notfound"
	CmdGetHeaders  = "getheaders"
	CmdGetBlocks   = "getblocks"
	CmdHeaders     = "headers"
	CmdBlock       = "block"
	CmdTx          = "tx"
	CmdSendHeaders = "sendheaders"
	CmdMempool     = "mempool"
	CmdFeeFilter   = "feefilter"
	CmdWtxidRelay  = "wtxidrelay"
	CmdReject      = "reject"
	CmdSendCmpct   = "sendcmpct"
	CmdCmpctBlock  = "cmpctblock"
	CmdGetBlockTxn = "getblocktxn"
	CmdBlockTxn    = "blocktxn"
	CmdSendCmpr    = "sendcmpr"
	CmdCmpr        = "cmpr"
)

// command describes one known command: how to make an empty message of its type
// and the largest payload it can have, checked before the payload is read.
type command struct {
	name       string
	new        func() Message
	maxPayload int
}

// maxVersionPayload: every fixed field plus the longest user agent.
const maxVersionPayload = 4 + 8 + 8 + 2*netAddrSize + 8 + 3 + MaxUserAgent + 4 + 1

var commands = []command{
	{CmdVersion, func() Message { return new(MsgVersion) }, maxVersionPayload},
	{CmdVerack, func() Message { return new(MsgVerack) }, 0},
	{CmdPing, func() Message { return new(MsgPing) }, 8},
	{CmdPong, func() Message { return new(MsgPong) }, 8},
	{CmdGetAddr, func() Message { return new(MsgGetAddr) }, 0},
	{CmdAddr, func() Message { return new(MsgAddr) }, 3 + MaxAddrs*(4+netAddrSize)},
	{CmdAddrV2, func() Message { return new(MsgAddrV2) }, maxAddrV2Payload},
	{CmdSendAddrV2, func() Message { return new(MsgSendAddrV2) }, 0},
	{CmdInv, func() Message { return new(MsgInv) }, 3 + MaxInvEntries*invVectSize},
	{CmdGetData, func() Message { return new(MsgGetData) }, 3 + MaxInvEntries*invVectSize},
	{CmdNotFound, func() Message { return new(MsgNotFound) }, 3 + MaxInvEntries*invVectSize},
	{CmdGetHeaders, func() Message { return new(MsgGetHeaders) }, 4 + 1 + MaxLocator*32 + 32},
	{CmdGetBlocks, func() Message { return new(MsgGetBlocks) }, 4 + 1 + MaxLocator*32 + 32},
	{CmdHeaders, func() Message { return new(MsgHeaders) }, 3 + MaxHeaders*(HeaderSize+1)},
	{CmdBlock, func() Message { return new(Block) }, MaxMessageSize},
	{CmdTx, func() Message { return new(Tx) }, MaxMessageSize},
	{CmdSendHeaders, func() Message { return new(MsgSendHeaders) }, 0},
	{CmdMempool, func() Message { return new(MsgMempool) }, 0},
	{CmdFeeFilter, func() Message { return new(MsgFeeFilter) }, 8},
	{CmdWtxidRelay, func() Message { return new(MsgWtxidRelay) }, 0},
	{CmdReject, func() Message { return new(MsgReject) }, 1 + CommandSize + 1 + 3 + MaxRejectReason + 32},
	{CmdSendCmpct, func() Message { return new(MsgSendCmpct) }, 9},
	{CmdCmpctBlock, func() Message { return new(MsgCmpctBlock) }, MaxMessageSize},
	{CmdGetBlockTxn, func() Message { return new(MsgGetBlockTxn) }, MaxMessageSize},
	{CmdBlockTxn, func() Message { return new(MsgBlockTxn) }, MaxMessageSize},
	{CmdSendCmpr, func() Message { return new(MsgSendCmpr) }, 1 + MaxCodecs + 9},
	{CmdCmpr, func() Message { return new(MsgCmpr) }, MaxMessageSize},
}

// lookupCommand finds a command by its name. The frame reader calls it with the
// raw command bytes; the linear scan over a few dozen short strings costs less
// than hashing, and the returned name is a constant, so decoding a known command
// allocates no string.
func lookupCommand(name []byte) *command {
	for i := range commands {
		if commands[i].name == string(name) {
			return &commands[i]
		}
	}
	return nil
}

// Commands returns the names of every command this package decodes.
func Commands() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// NewMessage returns an empty message for command, or an error wrapping
// [ErrUnknownCommand].
func NewMessage(cmd string) (Message, error) {
	c := lookupCommand([]byte(cmd))
	if c == nil {
		return nil, &UnknownCommandError{Command: cmd}
	}
	return c.new(), nil
}

// MaxPayload returns the largest payload a command may carry, or
// [MaxMessageSize] for a command this package does not know.
func MaxPayload(cmd string) int {
	if c := lookupCommand([]byte(cmd)); c != nil {
		return c.maxPayload
	}
	return MaxMessageSize
}

// DecodeMessage decodes a payload of the given command. The message aliases payload.
func DecodeMessage(cmd string, payload []byte) (Message, error) {
	msg, err := NewMessage(cmd)
	if err != nil {
		return nil, err
	}
	if err := msg.Decode(payload); err != nil {
		return nil, err
	}
	return msg, nil
}
