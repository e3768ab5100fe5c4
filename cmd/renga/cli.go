package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/api"
)

// rpcFlags locate a node's RPC server: its address and cookie file.
type rpcFlags struct {
	chain  *chainFlags
	rpc    *string
	cookie *string
}

func addRPCFlags(fs *flag.FlagSet) *rpcFlags {
	return &rpcFlags{
		chain:  addChainFlags(fs, "devnet"),
		rpc:    fs.String("rpc", "", "the node's RPC `ADDR` (default 127.0.0.1:RPCPORT of the network)"),
		cookie: fs.String("rpccookiefile", "", "the node's cookie `FILE` (default DATADIR/<network>/.cookie)"),
	}
}

// client returns an RPC client for the node the flags name.
func (f *rpcFlags) client() (*api.Client, *chain.Params, error) {
	p, err := f.chain.params()
	if err != nil {
		return nil, nil, err
	}
	addr := *f.rpc
	if addr == "" {
		addr = "127.0.0.1:" + strconv.Itoa(int(p.RPCPort))
	}
	cookie := *f.cookie
	if cookie == "" {
		cookie = filepath.Join(f.chain.dir(p), ".cookie")
	}
	c, err := api.NewClient(addr, cookie)
	return c, p, err
}

func runCLI(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "cli", "[flags] METHOD [ARG...]",
		"Call a running node's JSON-RPC method (bitcoind's names and result shapes) and print the\n"+
			"result: a string as it is, anything else as indented JSON. Each ARG is read as JSON when it\n"+
			"parses as JSON (numbers, true, arrays, objects) and as a string otherwise; hashes, hex,\n"+
			"addresses and commands are always strings. Authenticates with the node's cookie file.",
		"  renga cli getblockchaininfo\n"+
			"  renga cli getblock $(renga cli getbestblockhash) 1\n"+
			"  renga cli --network regtest --datadir /tmp/r1 generatetoaddress 101 mzXm…")
	rf := addRPCFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: cli needs a METHOD", errUsage)
	}
	client, _, err := rf.client()
	if err != nil {
		return err
	}
	method := fs.Arg(0)
	params := cliParams(method, fs.Args()[1:])
	res, err := client.Call(ctx, method, params...)
	var re *api.RPCError
	if errors.As(err, &re) {
		return fmt.Errorf("error code: %d\nerror message:\n%s", re.Code, re.Message)
	}
	if err != nil {
		return err
	}
	return printResult(io, res)
}

// stringParams lists, per method, the positions whose arguments are strings
// even when they would parse as JSON (a hash of digits, say): bitcoin-cli's
// conversion table turned around.
var stringParams = map[string][]int{
	"getblock":           {0},
	"getblockheader":     {0},
	"getrawtransaction":  {0},
	"sendrawtransaction": {0},
	"submitblock":        {0},
	"generatetoaddress":  {1},
	"addnode":            {0, 1},
	"disconnectnode":     {0},
	"setmessagecapture":  {1},
	"scantxoutset":       {0},
}

func cliParams(method string, args []string) []any {
	params := make([]any, len(args))
	for i, a := range args {
		params[i] = a
		if isStringParam(method, i) {
			continue
		}
		var v json.RawMessage
		if json.Unmarshal([]byte(a), &v) == nil {
			params[i] = v
		}
	}
	return params
}

func isStringParam(method string, i int) bool {
	for _, j := range stringParams[method] {
		if i == j {
			return true
		}
	}
	return false
}

// printResult prints a JSON result as bitcoin-cli does: strings bare,
// null as nothing, the rest indented.
func printResult(io stdio, res json.RawMessage) error {
	var s string
	if json.Unmarshal(res, &s) == nil {
		_, err := fmt.Fprintln(io.out, s)
		return err
	}
	if bytes.Equal(bytes.TrimSpace(res), []byte("null")) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, res, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := io.out.Write(buf.Bytes())
	return err
}
