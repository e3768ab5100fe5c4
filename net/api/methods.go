package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/p2p"
	"github.com/renga-p2p/renga/wire"
)

type method func(ctx context.Context, s *Server, p params) (any, error)

var methods = map[string]method{
	"getblockchaininfo":    getBlockchainInfo,
	"getblockcount":        func(_ context.Context, s *Server, _ params) (any, error) { return s.cfg.Chain.Tip().Height, nil },
	"getbestblockhash":     func(_ context.Context, s *Server, _ params) (any, error) { return s.cfg.Chain.Tip().Hash.String(), nil },
	"getblockhash":         getBlockHash,
	"getblock":             getBlock,
	"getblockheader":       getBlockHeader,
	"getrawtransaction":    getRawTransaction,
	"sendrawtransaction":   sendRawTransaction,
	"getrawmempool":        getRawMempool,
	"getmempoolinfo":       getMempoolInfo,
	"gettxspendingprevout": getTxSpendingPrevout,
	"getpeerinfo":          getPeerInfo,
	"getnetworkinfo":       getNetworkInfo,
	"getconnectioncount":   getConnectionCount,
	"getnodeaddresses":     getNodeAddresses,
	"getmininginfo":        getMiningInfo,
	"addnode":              addNode,
	"disconnectnode":       disconnectNode,
	"setban":               setBan,
	"setmessagecapture":    setMessageCapture,
	"getdiscoveryinfo":     getDiscoveryInfo,
	"listbanned":           listBanned,
	"clearbanned":          clearBanned,
	"generatetoaddress":    generateToAddress,
	"submitblock":          submitBlock,
	"scantxoutset":         scanTxOutSet,
	"stop":                 stop,
}

// difficulty is the work of a target relative to difficulty 1 (0x1d00ffff),
// as bitcoind reports it on every network.
func difficulty(bits uint32) float64 {
	target, _, _ := chain.CompactToTarget(bits)
	one, _, _ := chain.CompactToTarget(0x1d00ffff)
	if target.IsZero() {
		return 0
	}
	d, _ := new(big.Float).Quo(new(big.Float).SetInt(one.ToBig()), new(big.Float).SetInt(target.ToBig())).Float64()
	return d
}

func chainName(p *chain.Params) string {
	if p.Name == "mainnet" {
		return "main" // bitcoind's name
	}
	return p.Name
}

func getBlockchainInfo(_ context.Context, s *Server, _ params) (any, error) {
	c := s.cfg.Chain
	tip := c.Tip()
	best := c.BestHeader()
	if best == nil {
		best = tip
	}
	progress := 1.0
	if best.Height > 0 {
		progress = float64(tip.Height) / float64(best.Height)
	}
	return map[string]any{
		"chain":                chainName(c.Params()),
		"blocks":               tip.Height,
		"headers":              best.Height,
		"bestblockhash":        tip.Hash.String(),
		"difficulty":           difficulty(tip.Header.Bits),
		"time":                 tip.Header.Time,
		"mediantime":           tip.MedianTimePast(),
		"verificationprogress": progress,
		"initialblockdownload": best.Height-tip.Height > 6,
		"chainwork":            fmt.Sprintf("%064x", tip.Work.ToBig()),
		"pruned":               false,
		"warnings":             "",
	}, nil
}

func getBlockHash(_ context.Context, s *Server, p params) (any, error) {
	h, err := p.int(0, "height", -1)
	if err != nil {
		return nil, err
	}
	n := s.cfg.Chain.NodeAt(int32(h))
	if h < 0 || h > math.MaxInt32 || n == nil {
		return nil, rpcErr(codeInvalidParam, "Block height out of range")
	}
	return n.Hash.String(), nil
}

func (s *Server) node(h sha256d.Hash) (*chain.Node, error) {
	n := s.cfg.Chain.NodeByHash(h)
	if n == nil {
		return nil, rpcErr(codeNotFound, "Block not found")
	}
	return n, nil
}

// headerJSON is bitcoind's block header object.
func (s *Server) headerJSON(n *chain.Node) map[string]any {
	c := s.cfg.Chain
	confirmations := int32(-1)
	if c.InActiveChain(n) {
		confirmations = c.Tip().Height - n.Height + 1
	}
	m := map[string]any{
		"hash":          n.Hash.String(),
		"confirmations": confirmations,
		"height":        n.Height,
		"version":       n.Header.Version,
		"versionHex":    fmt.Sprintf("%08x", uint32(n.Header.Version)),
		"merkleroot":    n.Header.MerkleRoot.String(),
		"time":          n.Header.Time,
		"mediantime":    n.MedianTimePast(),
		"nonce":         n.Header.Nonce,
		"bits":          fmt.Sprintf("%08x", n.Header.Bits),
		"difficulty":    difficulty(n.Header.Bits),
		"chainwork":     fmt.Sprintf("%064x", n.Work.ToBig()),
	}
	if n.Parent != nil {
		m["previousblockhash"] = n.Parent.Hash.String()
	}
	if next := c.NodeAt(n.Height + 1); next != nil && confirmations > 0 {
		m["nextblockhash"] = next.Hash.String()
	}
	return m
}

func getBlockHeader(_ context.Context, s *Server, p params) (any, error) {
	h, err := p.hash(0, "blockhash")
	if err != nil {
		return nil, err
	}
	verbose, err := p.boolOrInt(1, "verbose", 1)
	if err != nil {
		return nil, err
	}
	n, err := s.node(h)
	if err != nil {
		return nil, err
	}
	if verbose == 0 {
		b := n.Header.Bytes()
		return hex.EncodeToString(b[:]), nil
	}
	m := s.headerJSON(n)
	return m, nil
}

func getBlock(_ context.Context, s *Server, p params) (any, error) {
	h, err := p.hash(0, "blockhash")
	if err != nil {
		return nil, err
	}
	verbosity, err := p.boolOrInt(1, "verbosity", 1)
	if err != nil {
		return nil, err
	}
	n, err := s.node(h)
	if err != nil {
		return nil, err
	}
	raw, err := s.cfg.Chain.RawBlock(n)
	if err != nil {
		return nil, rpcErr(codeMisc, "Block not available")
	}
	if verbosity == 0 {
		return hex.EncodeToString(raw), nil
	}
	var b wire.Block
	if err := b.Decode(raw); err != nil {
		return nil, err
	}
	m := s.headerJSON(n)
	m["size"], m["strippedsize"], m["weight"], m["nTx"] = len(raw), len(raw), 4*len(raw), len(b.Txs)
	var txs []any
	for i := range b.Txs {
		if verbosity >= 2 {
			txs = append(txs, s.txJSON(&b.Txs[i], nil, nil))
		} else {
			txs = append(txs, b.Txs[i].TxID().String())
		}
	}
	m["tx"] = txs
	return m, nil
}

// txJSON is bitcoind's decoded transaction, with block context when known.
func (s *Server) txJSON(tx *wire.Tx, block *chain.Node, raw []byte) map[string]any {
	if raw == nil {
		raw, _ = tx.AppendBinary(nil)
	}
	var vin []any
	for _, in := range tx.Inputs {
		if tx.IsCoinbase() {
			vin = append(vin, map[string]any{"coinbase": hex.EncodeToString(in.ScriptSig), "sequence": in.Sequence})
			continue
		}
		vin = append(vin, map[string]any{
			"txid": in.PrevOut.Hash.String(), "vout": in.PrevOut.Index,
			"scriptSig": map[string]any{"hex": hex.EncodeToString(in.ScriptSig)},
			"sequence":  in.Sequence,
		})
	}
	var vout []any
	for i, out := range tx.Outputs {
		class, _ := chain.Classify(out.ScriptPubKey)
		spk := map[string]any{"hex": hex.EncodeToString(out.ScriptPubKey), "type": class.String()}
		if a, ok := s.addressOf(out.ScriptPubKey); ok {
			spk["address"] = a
		}
		vout = append(vout, map[string]any{"value": chain.Amount(out.Value), "n": i, "scriptPubKey": spk})
	}
	m := map[string]any{
		"txid": tx.TxID().String(), "hash": tx.WTxID().String(), "version": tx.Version,
		"size": len(raw), "vsize": (tx.Weight() + 3) / 4, "weight": tx.Weight(), "locktime": tx.LockTime,
		"vin": vin, "vout": vout, "hex": hex.EncodeToString(raw),
	}
	if block != nil {
		m["blockhash"] = block.Hash.String()
		m["blocktime"], m["time"] = block.Header.Time, block.Header.Time
		if s.cfg.Chain.InActiveChain(block) {
			m["confirmations"] = s.cfg.Chain.Tip().Height - block.Height + 1
		}
	}
	return m
}

// addressOf is the P2PKH address an output pays to, if it is one.
func (s *Server) addressOf(script []byte) (string, bool) {
	if class, hash := chain.Classify(script); class == chain.PayToPubKeyHash {
		return address.P2PKH{Version: s.cfg.Chain.Params().PubKeyHashVersion, Hash: [20]byte(hash)}.String(), true
	}
	return "", false
}

func getRawTransaction(_ context.Context, s *Server, p params) (any, error) {
	txid, err := p.hash(0, "txid")
	if err != nil {
		return nil, err
	}
	verbose, err := p.boolOrInt(1, "verbose", 0)
	if err != nil {
		return nil, err
	}
	var tx *wire.Tx
	var block *chain.Node
	if p.has(2) {
		bh, err := p.hash(2, "blockhash")
		if err != nil {
			return nil, err
		}
		if block, err = s.node(bh); err != nil {
			return nil, err
		}
		b, err := s.cfg.Chain.Block(block)
		if err != nil {
			return nil, rpcErr(codeMisc, "Block not available")
		}
		for i := range b.Txs {
			if b.Txs[i].TxID() == txid {
				tx = &b.Txs[i]
			}
		}
	} else if s.cfg.Pool != nil {
		if e := s.cfg.Pool.Get(txid); e != nil {
			tx = e.Tx
		}
	}
	if tx == nil {
		return nil, rpcErr(codeNotFound, "No such mempool or blockchain transaction (give the blockhash of a confirmed one)")
	}
	raw, _ := tx.AppendBinary(nil)
	if verbose == 0 {
		return hex.EncodeToString(raw), nil
	}
	return s.txJSON(tx, block, raw), nil
}

func sendRawTransaction(_ context.Context, s *Server, p params) (any, error) {
	h, err := p.str(0, "hexstring")
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return nil, rpcErr(codeDeserialization, "TX decode failed: %v", err)
	}
	var tx wire.Tx
	if err := tx.Decode(raw); err != nil {
		return nil, rpcErr(codeDeserialization, "TX decode failed: %v", err)
	}
	if s.cfg.Pool == nil {
		return nil, rpcErr(codeMisc, "no mempool")
	}
	if _, err := s.cfg.Pool.Accept(&tx); err != nil {
		switch {
		case errors.Is(err, mempool.ErrConfirmed):
			return nil, rpcErr(codeAlreadyInChain, "Transaction already in block chain")
		case errors.Is(err, mempool.ErrDuplicate):
			return tx.TxID().String(), nil // bitcoind returns the txid again
		case errors.Is(err, mempool.ErrOrphan):
			return nil, rpcErr(codeVerifyError, "bad-txns-inputs-missingorspent")
		default:
			return nil, rpcErr(codeVerifyRejected, "%v", err)
		}
	}
	return tx.TxID().String(), nil
}

func getRawMempool(_ context.Context, s *Server, p params) (any, error) {
	verbose, err := p.boolOrInt(0, "verbose", 0)
	if err != nil {
		return nil, err
	}
	if s.cfg.Pool == nil {
		return []string{}, nil
	}
	entries := s.cfg.Pool.Entries()
	if verbose == 0 {
		ids := make([]string, 0, len(entries))
		for _, e := range entries {
			ids = append(ids, e.TxID.String())
		}
		return ids, nil
	}
	out := map[string]any{}
	for _, e := range entries {
		out[e.TxID.String()] = map[string]any{
			"vsize": e.Size, "weight": 4 * e.Size, "time": e.Added.Unix(), "height": e.Height,
			"fees": map[string]any{"base": chain.Amount(e.Fee)}, "wtxid": e.TxID.String(),
		}
	}
	return out, nil
}

// getTxSpendingPrevout is Bitcoin Core's: for each {"txid", "vout"}, the
// pool's transaction spending it, if any ("spendingtxid").
func getTxSpendingPrevout(_ context.Context, s *Server, p params) (any, error) {
	if !p.has(0) {
		return nil, rpcErr(codeInvalidParam, "missing outputs")
	}
	var outs []struct {
		TxID string  `json:"txid"`
		Vout *uint32 `json:"vout"`
	}
	if err := json.Unmarshal(p[0], &outs); err != nil {
		return nil, rpcErr(codeTypeError, "outputs must be an array of {\"txid\": hex, \"vout\": n}")
	}
	res := make([]map[string]any, 0, len(outs))
	for _, o := range outs {
		h, err := sha256d.ParseHash(o.TxID)
		if err != nil || o.Vout == nil {
			return nil, rpcErr(codeInvalidParam, "bad output {%q, %v}: need a txid and a vout", o.TxID, o.Vout)
		}
		r := map[string]any{"txid": o.TxID, "vout": *o.Vout}
		if e := s.cfg.Pool.SpentBy(wire.OutPoint{Hash: h, Index: *o.Vout}); e != nil {
			r["spendingtxid"] = e.TxID.String()
		}
		res = append(res, r)
	}
	return res, nil
}

func getMempoolInfo(_ context.Context, s *Server, _ params) (any, error) {
	var info mempool.Info
	if s.cfg.Pool != nil {
		info = s.cfg.Pool.Info()
	}
	return map[string]any{
		"loaded": true, "size": info.Count, "bytes": info.Bytes, "usage": info.Bytes,
		"mempoolminfee": chain.Amount(info.MinRelayFee), "minrelaytxfee": chain.Amount(info.MinRelayFee),
		"orphans": info.Orphans,
	}, nil
}

func getPeerInfo(_ context.Context, s *Server, _ params) (any, error) {
	out := []any{}
	if s.cfg.P2P == nil {
		return out, nil
	}
	for i, pi := range s.cfg.P2P.Peers() {
		out = append(out, map[string]any{
			"id": i, "addr": pi.Addr.String(), "addrlocal": pi.Local.String(),
			"services": fmt.Sprintf("%016x", pi.Services), "relaytxes": true,
			"bytessent": pi.Stats.BytesSent, "bytesrecv": pi.Stats.BytesRecv,
			"conntime": pi.Stats.ConnectedAt.Unix(), "pingtime": pi.Stats.PingRTT.Seconds(),
			"version": pi.Version, "subver": pi.UserAgent, "inbound": pi.Inbound,
			"startingheight": pi.StartHeight, "synced_headers": pi.SyncedTo, "synced_blocks": pi.SyncedTo,
			"inflight": pi.InFlight, "compression": pi.Stats.Compressing, "connection_type": pi.Kind,
			"bytessent_per_msg": pi.Stats.BytesSentPerMsg, "bytesrecv_per_msg": pi.Stats.BytesRecvPerMsg,
			"send_backlog": pi.Stats.SendBacklog, "send_pauses": pi.Stats.SendPauses,
			"bip152_hb_to": pi.HBTo, "bip152_hb_from": pi.HBFrom, "compact_blocks": pi.Compact,
			"capturing_messages": pi.CapturingMessages,
		})
	}
	return out, nil
}

func getConnectionCount(_ context.Context, s *Server, _ params) (any, error) {
	if s.cfg.P2P == nil {
		return 0, nil
	}
	return len(s.cfg.P2P.Peers()), nil
}

// getNodeAddresses is bitcoind's: up to count known addresses (1 by
// default, all for 0).
func getNodeAddresses(_ context.Context, s *Server, p params) (any, error) {
	n, err := p.int(0, "count", 1)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, rpcErr(codeInvalidParam, "Address count out of range")
	}
	out := []any{}
	if s.cfg.P2P == nil {
		return out, nil
	}
	for _, e := range s.cfg.P2P.Addresses(int(n)) {
		network := "ipv4"
		if e.Addr.Addr().Is6() && !e.Addr.Addr().Is4In6() {
			network = "ipv6"
		}
		out = append(out, map[string]any{
			"time": e.LastSeen.Unix(), "services": e.Services, "address": e.Addr.Addr().Unmap().String(),
			"port": e.Addr.Port(), "network": network,
		})
	}
	return out, nil
}

func getNetworkInfo(_ context.Context, s *Server, _ params) (any, error) {
	in, out := 0, 0
	var peers int
	if s.cfg.P2P != nil {
		for _, pi := range s.cfg.P2P.Peers() {
			if pi.Inbound {
				in++
			} else {
				out++
			}
			peers++
		}
	}
	var relay int64
	if s.cfg.Pool != nil {
		relay = s.cfg.Pool.Info().MinRelayFee
	}
	return map[string]any{
		"version": s.cfg.Version, "subversion": "/renga:" + s.cfg.Version + "/", "protocolversion": wire.ProtocolVersion,
		"localservices": fmt.Sprintf("%016x", wire.SFNodeNetwork|wire.SFNodeWitness), "localrelay": true,
		"connections": peers, "connections_in": in, "connections_out": out, "networkactive": s.cfg.P2P != nil,
		"relayfee": chain.Amount(relay), "warnings": "",
	}, nil
}

func getMiningInfo(_ context.Context, s *Server, _ params) (any, error) {
	tip := s.cfg.Chain.Tip()
	var rate float64
	if s.cfg.Miner != nil {
		rate = s.cfg.Miner.Hashrate()
	}
	pooled := 0
	if s.cfg.Pool != nil {
		pooled = s.cfg.Pool.Info().Count
	}
	return map[string]any{
		"blocks": tip.Height, "difficulty": difficulty(tip.Header.Bits), "networkhashps": networkHashrate(tip),
		"hashespersec": rate, "pooledtx": pooled, "chain": chainName(s.cfg.Chain.Params()), "warnings": "",
	}, nil
}

// networkHashrate estimates the network's hash rate from the work and time of
// the last 120 blocks (bitcoind's getnetworkhashps default).
func networkHashrate(tip *chain.Node) float64 {
	start := tip.Ancestor(max(tip.Height-120, 0))
	if start == tip {
		return 0
	}
	var work big.Int
	work.Sub(tip.Work.ToBig(), start.Work.ToBig())
	secs := int64(tip.Header.Time) - int64(start.Header.Time)
	if secs <= 0 {
		return 0
	}
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(&work), big.NewFloat(float64(secs))).Float64()
	return f
}

func addNode(_ context.Context, s *Server, p params) (any, error) {
	addr, err := p.str(0, "node")
	if err != nil {
		return nil, err
	}
	cmd, err := p.str(1, "command")
	if err != nil {
		return nil, err
	}
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	switch cmd {
	case "add":
		err = s.cfg.P2P.AddNode(addr, false)
	case "onetry":
		err = s.cfg.P2P.AddNode(addr, true)
	case "remove":
		err = s.cfg.P2P.RemoveNode(addr)
	default:
		return nil, rpcErr(codeInvalidParam, "command must be add, remove or onetry")
	}
	if err != nil {
		return nil, rpcErr(codeNodeNotAdded, "%v", err)
	}
	return nil, nil
}

func disconnectNode(_ context.Context, s *Server, p params) (any, error) {
	addr, err := p.str(0, "address")
	if err != nil {
		return nil, err
	}
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	if err := s.cfg.P2P.Disconnect(addr); err != nil {
		return nil, rpcErr(codeClientNotConn, "Node not found in connected nodes")
	}
	return nil, nil
}

// setMessageCapture is Renga's own (Bitcoin Core's -capturemessages is set
// at start only; its issue #21079 asks for this): setmessagecapture on
// ("address"): recording in message-capture files switched on or off for
// the connections to address, or, without one, for every connection now
// and every later one. It returns the directory and the peers switched.
func setMessageCapture(_ context.Context, s *Server, p params) (any, error) {
	if !p.has(0) {
		return nil, rpcErr(codeInvalidParam, "missing parameter on")
	}
	var on bool
	if err := json.Unmarshal(p[0], &on); err != nil {
		return nil, rpcErr(codeTypeError, "on must be a boolean")
	}
	addr := ""
	if p.has(1) {
		a, err := p.str(1, "address")
		if err != nil {
			return nil, err
		}
		addr = a
	}
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	switched, err := s.cfg.P2P.SetMessageCapture(addr, on)
	switch {
	case errors.Is(err, p2p.ErrNoMessageCapture):
		return nil, rpcErr(codeMisc, "message capture is not available on this node")
	case err != nil:
		return nil, rpcErr(codeClientNotConn, "Node not found in connected nodes")
	}
	peers := []string{}
	for _, a := range switched {
		peers = append(peers, a.String())
	}
	return map[string]any{"dir": s.cfg.P2P.MessageCaptureDir(), "capturing": on, "peers": peers}, nil
}

// getDiscoveryInfo is Renga's own: LAN discovery's peers and counters.
func getDiscoveryInfo(_ context.Context, s *Server, _ params) (any, error) {
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	st, peers := s.cfg.P2P.Discovery()
	list := []any{}
	for _, p := range peers {
		list = append(list, map[string]any{"addr": p.Addr.String(), "instance": fmt.Sprintf("%016x", p.Instance),
			"height": p.Height, "services": fmt.Sprintf("%016x", p.Services), "lastseen": p.LastSeen.Unix(),
			"verified": p.Verified})
	}
	dropped := map[string]uint64{}
	for r, n := range st.Dropped {
		if n > 0 {
			dropped[discover.DropReason(r).String()] = n
		}
	}
	return map[string]any{"peers": list, "sent": st.Sent, "received": st.Received, "accepted": st.Accepted,
		"dropped": dropped, "evicted": st.Evicted}, nil
}

// defaultBanTime is setban's default, bitcoind's -bantime: a day.
const defaultBanTime = 24 * 60 * 60

// setBan is bitcoind's setban "subnet" "add|remove" (bantime) (absolute):
// a subnet is an address or address/bits.
func setBan(_ context.Context, s *Server, p params) (any, error) {
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	target, err := p.str(0, "subnet")
	if err != nil {
		return nil, err
	}
	cmd, err := p.str(1, "command")
	if err != nil {
		return nil, err
	}
	subnet, err := netip.ParsePrefix(target)
	if err != nil {
		ip, ierr := netip.ParseAddr(target)
		if ierr != nil {
			return nil, rpcErr(codeClientInvalidIP, "Error: Invalid IP/Subnet")
		}
		subnet = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
	}
	switch cmd {
	case "add":
		secs, err := p.int(2, "bantime", defaultBanTime)
		if err != nil {
			return nil, err
		}
		absolute, err := p.boolOrInt(3, "absolute", 0)
		if err != nil {
			return nil, err
		}
		d := time.Duration(secs) * time.Second
		if secs == 0 {
			d = defaultBanTime * time.Second
		}
		if absolute != 0 {
			d = time.Until(time.Unix(secs, 0))
		}
		if d <= 0 {
			return nil, rpcErr(codeInvalidParam, "Error: Absolute timestamp is in the past")
		}
		if err := s.cfg.P2P.Ban(subnet, d); err != nil {
			return nil, rpcErr(codeMisc, "%v", err)
		}
	case "remove":
		ok, err := s.cfg.P2P.Unban(subnet)
		if err != nil {
			return nil, rpcErr(codeMisc, "%v", err)
		}
		if !ok {
			return nil, rpcErr(codeClientInvalidIP, "Error: Unban failed. Requested address/subnet was not previously manually banned.")
		}
	default:
		return nil, rpcErr(codeInvalidParam, "command must be add or remove")
	}
	return nil, nil
}

func listBanned(_ context.Context, s *Server, _ params) (any, error) {
	out := []any{}
	if s.cfg.P2P == nil {
		return out, nil
	}
	now := time.Now()
	for _, b := range s.cfg.P2P.Bans() {
		out = append(out, map[string]any{"address": b.Subnet.String(), "ban_created": b.Since.Unix(),
			"banned_until": b.Until.Unix(), "ban_duration": int64(b.Until.Sub(b.Since).Seconds()),
			"time_remaining": int64(b.Until.Sub(now).Seconds())})
	}
	return out, nil
}

func clearBanned(_ context.Context, s *Server, _ params) (any, error) {
	if s.cfg.P2P == nil {
		return nil, rpcErr(codeClientNotConn, "networking is off")
	}
	if err := s.cfg.P2P.ClearBans(); err != nil {
		return nil, rpcErr(codeMisc, "%v", err)
	}
	return nil, nil
}

// scriptFor turns an address of this network into its P2PKH script.
func (s *Server) scriptFor(a string) ([]byte, error) {
	addr, err := address.ParseP2PKH(strings.TrimSpace(a), s.cfg.Chain.Params().PubKeyHashVersion)
	if err != nil {
		return nil, rpcErr(codeInvalidAddress, "Invalid address: %v", err)
	}
	return chain.PayToPubKeyHashScript(addr.Hash), nil
}

func generateToAddress(ctx context.Context, s *Server, p params) (any, error) {
	n, err := p.int(0, "nblocks", 1)
	if err != nil {
		return nil, err
	}
	a, err := p.str(1, "address")
	if err != nil {
		return nil, err
	}
	script, err := s.scriptFor(a)
	if err != nil {
		return nil, err
	}
	if s.cfg.Miner == nil {
		return nil, rpcErr(codeMisc, "no miner")
	}
	if n < 1 || n > 100_000 {
		return nil, rpcErr(codeInvalidParam, "nblocks must be between 1 and 100000")
	}
	hashes, err := s.cfg.Miner.Generate(ctx, int(n), script)
	out := make([]string, 0, len(hashes))
	for _, h := range hashes {
		out = append(out, h.String())
	}
	if err != nil {
		return nil, rpcErr(codeMisc, "%v (after %d blocks)", err, len(out))
	}
	return out, nil
}

func submitBlock(_ context.Context, s *Server, p params) (any, error) {
	h, err := p.str(0, "hexdata")
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return nil, rpcErr(codeDeserialization, "Block decode failed")
	}
	var b wire.Block
	if err := b.Decode(raw); err != nil {
		return nil, rpcErr(codeDeserialization, "Block decode failed: %v", err)
	}
	_, err = s.cfg.Chain.ProcessBlock(&b, raw)
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, chain.ErrDuplicate):
		return "duplicate", nil
	case errors.Is(err, chain.ErrUnknownParent):
		return "inconclusive", nil
	case errors.Is(err, chain.ErrInvalidBlock):
		return string(chain.RuleOf(err)), nil // bitcoind answers with the reject reason
	}
	return nil, err
}

func scanTxOutSet(_ context.Context, s *Server, p params) (any, error) {
	action, err := p.str(0, "action")
	if err != nil {
		return nil, err
	}
	if action != "start" {
		return nil, rpcErr(codeInvalidParam, "only the action \"start\" is supported")
	}
	if !p.has(1) {
		return nil, rpcErr(codeInvalidParam, "missing scanobjects")
	}
	var objects []string
	if err := json.Unmarshal(p[1], &objects); err != nil {
		return nil, rpcErr(codeTypeError, "scanobjects must be an array of descriptors: addr(ADDRESS) or raw(HEX)")
	}
	want := map[string]string{} // script -> descriptor
	for _, d := range objects {
		var script []byte
		switch {
		case strings.HasPrefix(d, "addr(") && strings.HasSuffix(d, ")"):
			if script, err = s.scriptFor(d[5 : len(d)-1]); err != nil {
				return nil, err
			}
		case strings.HasPrefix(d, "raw(") && strings.HasSuffix(d, ")"):
			if script, err = hex.DecodeString(d[4 : len(d)-1]); err != nil {
				return nil, rpcErr(codeInvalidParam, "bad raw() descriptor %q", d)
			}
		default:
			return nil, rpcErr(codeInvalidParam, "unsupported descriptor %q: use addr(ADDRESS) or raw(HEX)", d)
		}
		want[string(script)] = d
	}
	tip := s.cfg.Chain.Tip()
	var unspents []any
	var total, count int64
	err = s.cfg.Chain.ForEachCoin(func(op wire.OutPoint, c store.Coin) error {
		count++
		if d, ok := want[string(c.Script)]; ok {
			unspents = append(unspents, map[string]any{
				"txid": op.Hash.String(), "vout": op.Index, "scriptPubKey": hex.EncodeToString(c.Script),
				"desc": d, "amount": chain.Amount(c.Value), "coinbase": c.Coinbase, "height": c.Height,
			})
			total += c.Value
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if unspents == nil {
		unspents = []any{}
	}
	return map[string]any{
		"success": true, "txouts": count, "height": tip.Height, "bestblock": tip.Hash.String(),
		"unspents": unspents, "total_amount": chain.Amount(total),
	}, nil
}

func stop(_ context.Context, s *Server, _ params) (any, error) {
	if s.cfg.Stop != nil {
		time.AfterFunc(100*time.Millisecond, s.cfg.Stop) // let this reply go out first
	}
	return "Renga server stopping", nil
}
