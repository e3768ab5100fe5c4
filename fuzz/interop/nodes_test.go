package interop

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/api"
)

// btcdConfig is how startBtcd runs one btcd.
type btcdConfig struct {
	name string
	// home is btcd's HOME; its data directory is home/data and its logs
	// home/logs, unless datadir names another data directory.
	home, datadir string
	// listen makes btcd accept peers on a port of 127.0.0.1 it is given;
	// otherwise it runs with --nolisten.
	listen bool
	// connect is the one peer btcd dials (--connect), if any.
	connect string
	// miningAddr pays the blocks `generate` makes.
	miningAddr string
	// peerDebug logs the subsystems that report a dropped peer at debug
	// level (see btcdDropMarks); the rest stays at info.
	peerDebug bool
	log       string // where its output goes
	extra     []string
}

// btcdNode is a running btcd.
type btcdNode struct {
	*process
	p2p string // its listening address, "" with --nolisten
	rpc *btcdRPC
}

// startBtcd starts btcd on regtest with its RPC on a free port of 127.0.0.1,
// no DNS seeds and no peers but cfg.connect, and waits for its RPC to answer.
func startBtcd(t testing.TB, bin string, cfg btcdConfig) *btcdNode {
	t.Helper()
	if cfg.datadir == "" {
		cfg.datadir = filepath.Join(cfg.home, "data")
	}
	ports := freePorts(t, 2)
	n := &btcdNode{}
	rpcAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	pass := rand.Text()
	args := []string{
		"--regtest",
		"--datadir=" + cfg.datadir,
		"--logdir=" + filepath.Join(cfg.home, "logs"),
		"--rpclisten=" + rpcAddr,
		"--rpcuser=interop",
		"--rpcpass=" + pass,
		"--notls",
		"--nodnsseed",
	}
	if cfg.listen {
		n.p2p = "127.0.0.1:" + strconv.Itoa(ports[1])
		args = append(args, "--listen="+n.p2p)
	} else {
		args = append(args, "--nolisten")
	}
	if cfg.connect != "" {
		args = append(args, "--connect="+cfg.connect)
	}
	if cfg.miningAddr != "" {
		args = append(args, "--miningaddr="+cfg.miningAddr)
	}
	if cfg.peerDebug {
		args = append(args, "--debuglevel=SRVR=debug,CMGR=debug,PEER=debug,SYNC=debug")
	}
	args = append(args, cfg.extra...)
	n.process = startProcess(t, cfg.name, cfg.log, []string{"HOME=" + cfg.home}, bin, args...)
	n.rpc = &btcdRPC{url: "http://" + rpcAddr + "/", user: "interop", pass: pass}
	waitUntil(t, syncTimeout, cfg.name+"'s RPC", func() (bool, string) {
		if _, err := n.bestBlockHash(t.Context()); err != nil {
			return false, err.Error()
		}
		return true, ""
	}, n.process)
	return n
}

func (n *btcdNode) bestBlockHash(ctx context.Context) (string, error) {
	var h string
	err := n.rpc.call(ctx, &h, "getbestblockhash")
	return h, err
}

func (n *btcdNode) blockCount(ctx context.Context) (int64, error) {
	var c int64
	err := n.rpc.call(ctx, &c, "getblockcount")
	return c, err
}

// rengaConfig is how startRenga runs one `renga node`.
type rengaConfig struct {
	name    string
	datadir string
	listen  bool   // accept peers on a free port of 127.0.0.1 (else --listen off)
	connect string // the one peer it dials
	log     string
	level   string // --log-level; "info" when empty
}

// rengaNode is a running `renga node`.
type rengaNode struct {
	*process
	datadir string
	p2p     string // its listening address, "" when it does not listen
	rpcAddr string
	client  *api.Client // made once the cookie file exists
}

// startRenga starts `renga node` on regtest with discovery off (no
// multicast), its RPC on a free port of 127.0.0.1 and cfg.connect as its
// only peer.
func startRenga(t testing.TB, bin string, cfg rengaConfig) *rengaNode {
	t.Helper()
	if cfg.level == "" {
		cfg.level = "info"
	}
	ports := freePorts(t, 2)
	n := &rengaNode{datadir: cfg.datadir, rpcAddr: "127.0.0.1:" + strconv.Itoa(ports[0])}
	listen := "off"
	if cfg.listen {
		n.p2p = "127.0.0.1:" + strconv.Itoa(ports[1])
		listen = n.p2p
	}
	args := []string{"node",
		"--network", "regtest",
		"--datadir", cfg.datadir,
		"--listen", listen,
		"--rpc", n.rpcAddr,
		"--discover=false",
		"--log-level", cfg.level,
	}
	if cfg.connect != "" {
		args = append(args, "--connect", cfg.connect)
	}
	n.process = startProcess(t, cfg.name, cfg.log, nil, bin, args...)
	return n
}

// call calls the node's RPC. The client is made on first use, once the node
// has written its cookie, and made again after an error (the node may not
// have been listening yet).
func (n *rengaNode) call(ctx context.Context, out any, method string, params ...any) error {
	if n.client == nil {
		c, err := api.NewClient(n.rpcAddr, filepath.Join(n.datadir, "regtest", ".cookie"))
		if err != nil {
			return err
		}
		n.client = c
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if err := n.client.CallInto(ctx, out, method, params...); err != nil {
		n.client = nil
		return fmt.Errorf("%s: %w", n.name, err)
	}
	return nil
}

func (n *rengaNode) bestBlockHash(ctx context.Context) (string, error) {
	var h string
	err := n.call(ctx, &h, "getbestblockhash")
	return h, err
}

func (n *rengaNode) blockCount(ctx context.Context) (int64, error) {
	var c int64
	err := n.call(ctx, &c, "getblockcount")
	return c, err
}

// node is what the sync tests need of either kind of node.
type node interface {
	bestBlockHash(context.Context) (string, error)
	blockCount(context.Context) (int64, error)
}

// awaitTip polls n every tick until its best block is tip and returns the
// time it first saw it. It fails the test after timeout, or if one of procs
// exits first.
func awaitTip(t testing.TB, what string, n node, tip string, timeout, tick time.Duration, procs ...*process) time.Time {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		best, err := n.bestBlockHash(ctx)
		if err == nil && best == tip {
			return time.Now()
		}
		state := func() string {
			if err != nil {
				return err.Error()
			}
			h, err := n.blockCount(ctx)
			if err != nil {
				return fmt.Sprintf("best %s (%v)", best, err)
			}
			return fmt.Sprintf("at height %d, best %s, want %s", h, best, tip)
		}
		for _, p := range procs {
			if gone, err := p.exited(); gone {
				t.Fatalf("interop: %s exited (%v) while waiting for %s; last state: %s", p.name, err, what, state())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("interop: no %s within %v; last state: %s", what, timeout, state())
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			t.Fatalf("interop: test ended while waiting for %s", what)
		}
	}
}

// btcdDropMarks are what btcd v0.26.2 logs when a connection to a peer ends
// or is about to be ended by btcd, with its subsystem and level: the server
// forgetting the peer (SRVR debug), the connection manager seeing a
// connection it made end (CMGR debug), the sync manager losing a peer (SYNC
// info), and the reasons btcd itself drops one (PEER debug, warn and error;
// SRVR warn and info).
var btcdDropMarks = []string{
	"SRVR: Removed peer",
	"CMGR: Disconnected from",
	"SYNC: Lost peer",
	"appears to be stalled or misbehaving",
	"Can't read message from",
	"no answer for",
	"Misbehaving peer",
	"Banned peer",
}

// btcdNewPeerMark is what btcd's server logs (SRVR debug) for every
// connection that completes the version handshake.
const btcdNewPeerMark = "SRVR: New peer "

// rengaDropMark is what Renga logs (info) for every disconnect, with the
// peer's address and the reason.
const rengaDropMark = `msg="peer disconnected"`

// rengaStallMark is what Renga logs (info) when a peer is too slow to send
// the blocks asked of it and they are asked of others.
const rengaStallMark = `msg="peer stalls the download`

// logLines returns the lines of the log at path that contain any of marks.
func logLines(t testing.TB, path string, marks ...string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		for _, m := range marks {
			if strings.Contains(line, m) {
				out = append(out, strings.TrimRight(line, "\n"))
				break
			}
		}
	}
	return out
}
