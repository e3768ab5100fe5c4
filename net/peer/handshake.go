package peer

import (
	"fmt"
	"net/netip"

	"github.com/renga-p2p/renga/wire"
)

// sendVersion queues our version message.
func (p *Peer) sendVersion() error {
	p.sentVersion = true
	v := &wire.MsgVersion{
		ProtocolVersion: wire.ProtocolVersion,
		Services:        p.cfg.Services,
		Timestamp:       p.now().Unix(),
		AddrRecv:        wire.NetAddr{Services: 0, Addr: unmapped(p.remote)},
		AddrFrom:        wire.NetAddr{Services: p.cfg.Services, Addr: netip.AddrPortFrom(p.local.Addr().Unmap(), p.cfg.ListenPort)},
		Nonce:           p.cfg.Nonce,
		UserAgent:       p.cfg.UserAgent,
		StartHeight:     p.cfg.StartHeight(),
		Relay:           p.cfg.Relay,
	}
	if !p.enqueue(v) {
		return p.cause
	}
	return nil
}

func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// handshakeMessage processes a message received before the handshake is
// complete.
func (p *Peer) handshakeMessage(msg wire.Message) error {
	switch m := msg.(type) {
	case *wire.MsgVersion:
		if p.version.ProtocolVersion != 0 {
			return fmt.Errorf("%w: second version message", ErrProtocol)
		}
		if m.Nonce == p.cfg.Nonce || p.cfg.IsOwnNonce != nil && p.cfg.IsOwnNonce(m.Nonce) {
			return ErrSelf
		}
		if m.ProtocolVersion < MinProtocolVersion {
			return fmt.Errorf("%w: %d", ErrObsolete, m.ProtocolVersion)
		}
		p.version = *m
		p.gotVersion.Store(true)
		if !p.sentVersion {
			if err := p.sendVersion(); err != nil {
				return err
			}
		}
		// BIP339 and BIP155 are negotiated before verack.
		if m.ProtocolVersion >= wire.ProtocolVersion {
			p.enqueue(&wire.MsgWtxidRelay{})
			p.enqueue(&wire.MsgSendAddrV2{})
		}
		p.enqueue(&wire.MsgVerack{})
	case *wire.MsgWtxidRelay:
		if p.version.ProtocolVersion == 0 {
			return fmt.Errorf("%w: wtxidrelay before version", ErrProtocol)
		}
		p.wtxidRelay = true
	case *wire.MsgSendAddrV2:
		if p.version.ProtocolVersion == 0 {
			return fmt.Errorf("%w: sendaddrv2 before version", ErrProtocol)
		}
		p.addrV2 = true
	case *wire.MsgVerack:
		if p.version.ProtocolVersion == 0 {
			return fmt.Errorf("%w: verack before version", ErrProtocol)
		}
		p.gotVerack = true
		p.connectedAt = p.now()
		p.handshaken.Store(true)
		p.afterHandshake()
	default:
		return fmt.Errorf("%w: %s before the handshake", ErrProtocol, msg.Command())
	}
	return nil
}

// afterHandshake sends what follows verack.
func (p *Peer) afterHandshake() {
	p.log.Debug("handshake complete", "version", p.version.ProtocolVersion, "agent", p.version.UserAgent,
		"height", p.version.StartHeight, "services", p.version.Services)
	if p.version.ProtocolVersion >= 70012 {
		p.Send(&wire.MsgSendHeaders{})
	}
	if p.cfg.compression() && p.version.Services&wire.SFNodeCompress != 0 {
		p.Send(&wire.MsgSendCmpr{Codecs: p.cfg.Codecs.Supported(), MinSize: p.cfg.MinCompressSize})
	}
	// The first ping goes at once, as Bitcoin Core's does: the round trip is
	// known from the start (getpeerinfo's pingtime) and a dead link shows
	// within the ping timeout, not the interval plus the timeout.
	_ = p.ping() // the first: nothing to time out yet
}
