// Package node is a whole Renga node as a library: the chain in its data
// directory, the mempool, the miner, the P2P server, the JSON-RPC server
// and the traffic capture, assembled from one [Config] and supervised by
// [Node.Run]. `renga node` turns its flags and config file into a Config;
// `renga devnet` and the tests run nodes in-process through the same
// Config, or as `renga node` processes (design.md §2: the composition root
// is a package, never main). It is the only net package that imports the
// miner.
//
//	n, err := node.New(node.Config{Network: chain.Regtest, Dir: dir, Listen: "127.0.0.1:18444",
//		RPC: "127.0.0.1:18443", Logger: log})
//	...
//	err = n.Run(ctx) // until ctx ends or the RPC stop
//
// # Lifetime
//
// [New] only checks the configuration ([Config.Validate]). [Node.Run] opens
// the chain (creating the directory), the capture file and the wallet that
// mining pays (made with one key if missing), then runs the P2P server, the
// RPC server, the profile server and the miner, each until the context ends.
// The first part that fails stops the others with its error as the cause;
// the RPC `stop` stops them with [ErrStopRequested]. Run returns after every
// part has stopped and the chain is closed, with the parts' errors. A Node
// runs once. [Node.Ready] is closed when everything is open and the P2P
// server listens; the accessors ([Node.Chain], [Node.P2P], ...) are valid
// from then on.
//
// # Mining policy
//
// With Config.Mine the miner starts only once the node is synced enough to
// mine ([Synced]): every header it knows is connected and no peer has shown
// more than it has, or it has found no peer within [SyncGrace] (a node
// alone on a new network), or [SyncPatience] has passed (a peer that never
// lets it catch up, on a branch with more height but less work, must not
// keep it from mining). A node that joins a network therefore does not mine
// on an old tip and fork itself off.
//
// # Logs
//
// Every block connected or disconnected gets a line like bitcoind's
// UpdateTip, and every transaction accepted one, up to 20 a second; beyond
// that they are summed up every 2 seconds, so a node catching up writes a
// line every few seconds rather than thousands.
package node
