// Package api is the node's JSON-RPC interface over HTTP, with bitcoind's
// method names, parameters and result shapes where bitcoind has them, so that
// tools written for bitcoind (and `renga cli`) work unchanged:
//
//	getblockchaininfo getblockcount getbestblockhash getblockhash getblock
//	getblockheader getrawtransaction sendrawtransaction getrawmempool
//	getmempoolinfo getpeerinfo getnetworkinfo getconnectioncount getmininginfo
//	addnode disconnectnode generatetoaddress submitblock scantxoutset stop
//
// and a few of Renga's own: getdiscoveryinfo, setmessagecapture (recording
// chosen peers in Bitcoin Core's message-capture files while the node runs).
//
// Requests are JSON-RPC 1.0 or 2.0, single or batched. Authentication is
// bitcoind's cookie: at start the server writes "__cookie__:<random hex>" to
// a file (mode 0600) in the data directory and accepts HTTP basic
// authentication with that user and password; the file is removed at
// shutdown. The server listens on loopback only. GET /metrics serves a few
// gauges and counters in Prometheus' text format, without authentication.
//
// GET /events (cookie authentication) is the node's event stream, as
// Server-Sent Events or, with ?format=jsonl, JSON lines: a hello with the
// tip, then peers connected and disconnected (with the reason), messages
// sent and received (only when asked for, by command, optionally sampled),
// each block and transaction hash the first time a peer names it, blocks
// connected (with when and from whom first heard) and disconnected, tip
// changes and transactions accepted ([Event], [EventFilter]). [Events] is
// the hub: it hears the chain and the mempool itself and is fed peer
// events and every frame by the node ([Events.Peer], [Events.Conn]).
// Publishing never blocks; a subscriber that falls behind is told how many
// events it lost. [Client.Events] follows a stream.
//
// Errors use bitcoind's codes (-5 not found, -8 invalid parameter, -25/-26/-27
// transaction rejected, -32601 unknown method, …).
//
// The server is safe for concurrent use; Run blocks until its context ends
// and shuts the HTTP server down gracefully.
package api
