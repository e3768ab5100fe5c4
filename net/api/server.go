package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/p2p"
)

// Miner is what the API needs of the miner (which package cmd adapts).
type Miner interface {
	// Generate mines n blocks paying to script and returns their hashes.
	Generate(ctx context.Context, n int, script []byte) ([]sha256d.Hash, error)
	// Hashrate is the local miner's current rate in hashes per second
	// (0 when not mining).
	Hashrate() float64
}

// Config configures the server.
type Config struct {
	Listen     string // host:port on loopback
	CookieFile string // where to write the cookie
	Chain      *chain.Chain
	Pool       *mempool.Pool
	P2P        *p2p.Server // nil when the node does not network
	Miner      Miner       // nil without a miner
	Version    string      // the node's version, for getnetworkinfo
	Stop       func()      // what `stop` calls
	// Events is the node's event hub (made by NewEvents with the same
	// Chain and Pool), which the node also feeds with peer and message
	// events (p2p.Config.OnPeer = Events.Peer, and Events.Conn as each
	// connection's tap); nil: the server makes one that hears only the
	// chain and the mempool. GET /events serves it.
	Events *Events
	Logger *slog.Logger
}

// Server serves JSON-RPC.
type Server struct {
	cfg    Config
	cookie string
	ln     net.Listener
	log    *slog.Logger
	events *Events
	// stopping closes when shutdown begins: it ends the event streams,
	// which would otherwise hold Shutdown until its deadline.
	stopping chan struct{}
}

// CookieUser is the user name of cookie authentication.
const CookieUser = "__cookie__"

// Listen opens the listener (on loopback only) and writes the cookie file.
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: listen address %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("api: listen address %q: RPC is served on loopback only", cfg.Listen)
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, cookie: hex.EncodeToString(secret[:]), log: cfg.Logger, events: cfg.Events,
		stopping: make(chan struct{})}
	if s.events == nil {
		s.events = NewEvents(EventsConfig{Chain: cfg.Chain, Pool: cfg.Pool, Logger: cfg.Logger})
	}
	if err := os.WriteFile(cfg.CookieFile, []byte(CookieUser+":"+s.cookie), 0o600); err != nil {
		return nil, fmt.Errorf("api: write cookie: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("api: %w", err), os.Remove(cfg.CookieFile))
	}
	s.ln = ln
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down and removes the cookie file.
func (s *Server) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", s.serveRPC)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /events", s.serveEvents)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(func() { close(s.stopping) })
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
		if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	case err = <-errc:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, os.Remove(s.cfg.CookieFile))
}

// RPCError is a JSON-RPC error with bitcoind's codes.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// bitcoind's error codes.
const (
	codeMisc            = -1
	codeTypeError       = -3
	codeInvalidAddress  = -5
	codeNotFound        = -5
	codeInvalidParam    = -8
	codeDeserialization = -22
	codeVerifyError     = -25
	codeVerifyRejected  = -26
	codeAlreadyInChain  = -27
	codeClientNotConn   = -9
	codeClientInvalidIP = -30
	codeNodeNotAdded    = -24
	codeMethodNotFound  = -32601
	codeInvalidRequest  = -32600
	codeParseError      = -32700
)

func rpcErr(code int, format string, args ...any) *RPCError {
	return &RPCError{Code: code, Message: fmt.Sprintf(format, args...)}
}

type request struct {
	JSONRPC string            `json:"jsonrpc,omitempty"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

type response struct {
	Result any             `json:"result"`
	Error  *RPCError       `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// authorized checks the cookie in constant time.
func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	return ok && user == CookieUser && subtle.ConstantTimeCompare([]byte(pass), []byte(s.cookie)) == 1
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var reqs []request
		if err := json.Unmarshal(body, &reqs); err != nil {
			writeJSON(w, http.StatusOK, response{Error: rpcErr(codeParseError, "parse error: %v", err)})
			return
		}
		out := make([]response, len(reqs))
		for i, req := range reqs {
			out[i] = s.call(r.Context(), req)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusInternalServerError, response{Error: rpcErr(codeParseError, "parse error: %v", err)})
		return
	}
	resp := s.call(r.Context(), req)
	status := http.StatusOK
	if resp.Error != nil { // bitcoind's JSON-RPC 1.0 convention
		status = http.StatusInternalServerError
		if resp.Error.Code == codeMethodNotFound {
			status = http.StatusNotFound
		}
	}
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not an error of ours
}

func (s *Server) call(ctx context.Context, req request) response {
	resp := response{ID: req.ID}
	m, ok := methods[req.Method]
	if !ok {
		resp.Error = rpcErr(codeMethodNotFound, "Method not found: %s", req.Method)
		return resp
	}
	result, err := m(ctx, s, params(req.Params))
	if err != nil {
		var re *RPCError
		if !errors.As(err, &re) {
			re = rpcErr(codeMisc, "%v", err)
		}
		resp.Error = re
		return resp
	}
	resp.Result = result
	return resp
}
