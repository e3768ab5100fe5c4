package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/renga-p2p/renga/chain"
)

// Client calls a node's JSON-RPC with cookie authentication.
type Client struct {
	url, user, pass string
	http            *http.Client
	id              atomic.Int64
}

// NewClient reads the cookie file and returns a client for the server at
// addr (host:port).
func NewClient(addr, cookieFile string) (*Client, error) {
	raw, err := os.ReadFile(cookieFile)
	if err != nil {
		return nil, fmt.Errorf("api: read cookie (is the node running?): %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(raw)), ":")
	if !ok {
		return nil, fmt.Errorf("api: cookie file %s is not user:password", cookieFile)
	}
	return &Client{url: "http://" + addr + "/", user: user, pass: pass, http: &http.Client{}}, nil
}

// SetDial makes the client connect with dial (to reach a node in another
// network namespace, say). Call it before the first call.
func (c *Client) SetDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	c.http = &http.Client{Transport: &http.Transport{DialContext: dial}}
}

// Call invokes method with params and returns the raw result. An error the
// server reports is an *RPCError.
func (c *Client) Call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api: %s: %w", method, err)
	}
	defer func() { _ = resp.Body.Close() }() // fully read below; nothing to lose
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, errors.New("api: unauthorized (a stale cookie file?)")
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("api: %s: HTTP %d: %s", method, resp.StatusCode, bytes.TrimSpace(data))
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return r.Result, nil
}

// CallInto calls method and decodes the result into out.
func (c *Client) CallInto(ctx context.Context, out any, method string, params ...any) error {
	raw, err := c.Call(ctx, method, params...)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// ScanResult is the part of scantxoutset's answer (bitcoind's shape) that
// a wallet reads: the height scanned at and the outputs found.
type ScanResult struct {
	Height   int32         `json:"height"`
	Unspents []ScanUnspent `json:"unspents"`
}

// ScanUnspent is one output scantxoutset found.
type ScanUnspent struct {
	TxID     string       `json:"txid"`
	Vout     uint32       `json:"vout"`
	Script   string       `json:"scriptPubKey"`
	Amount   chain.Amount `json:"amount"`
	Coinbase bool         `json:"coinbase"`
	Height   int32        `json:"height"`
}
