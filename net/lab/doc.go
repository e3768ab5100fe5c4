// Package lab turns `renga devnet` into a network lab: a topology of nodes
// and links, each link with its own conditions (delay, jitter, loss, rate),
// built from network namespaces and veth pairs with the kernel's own
// traffic control, and the tools to study how blocks and transactions
// cross it.
//
// # Topologies
//
// A [Topology] is nodes (which may mine, with a thread count) and
// undirected links between them, each with [Conditions]. [Generate] builds
// one from a spec: full, ring, line, star, random:degree=K (random
// K-regular), smallworld:k=K,p=P (Watts–Strogatz) and scalefree:m=M
// (Barabási–Albert); the random ones draw from a seed and are always
// connected. [ReadGraphML] reads one from GraphML as networkx and Gephi
// write it (node attributes mine and threads; edge attributes delay,
// jitter, loss and rate), and [WriteGraphML] writes one back with whatever
// the lab measured as further attributes. [Topology.ShortestPaths] with
// [DelayBound] is the propagation lower bound: one one-way link delay per
// hop of the quickest path.
//
// # Networks
//
// A [Network] places the nodes: [NewLoopback] on this host's 127.0.0.1
// (by discovery on lo, or along a topology's links), [NewLANNetwork] a
// namespace each on one bridge with multicast discovery, and
// [NewLinkNetwork] a namespace each with one veth pair per link, whose
// conditions tc applies on both ends (netem; where the kernel has no
// netem, tbf for a rate and an nftables rule on each end's ingress for
// loss: [ProbeShaping] says which, [Shaping.Supports] what is dropped). The last is a [LinkControl]: links can be cut (a
// blackhole route, one way or both), healed and changed while nodes run.
// Everything the namespaced networks make lives in namespaces they create
// and vanishes with Close.
//
// # Scenarios and runs
//
// [ReadScenario] reads a TOML file of timed events (partition, heal, kill,
// restart, link, mine, stop-mining, pay), checked against the topology.
// [New] takes a [Config] (topology, network, chain parameters, a
// [Launcher]: node processes through [ExecLauncher] or in-process nodes
// through [InProcessLauncher]) and [Lab.Run] starts the nodes, follows
// each node's event stream (net/api's GET /events), mines through each
// node's RPC, plays the scenario, and at the end stops the nodes and
// writes the [Report]: events.jsonl, propagation.jsonl, summary.txt,
// topology.graphml and the plots. Run blocks until then and waits for
// every goroutine it started.
//
// # The web view
//
// With Config.Web, Run serves one page (embedded: plain HTML, JavaScript
// and SVG) with the topology coloured by tips and conditions, blocks and
// payments spreading, and a message sequence diagram for a chosen link,
// from packet captures at both ends of the link in namespaces or from
// the nodes' message events on loopback. Its streams are bounded in
// clients and queue length; a client that falls behind loses records.
//
// Everything read from a file is bounded: [MaxGraphMLBytes], [MaxNodes]
// and [MaxLinks]. Errors about a topology wrap [ErrTopology]; about link
// conditions, [ErrCondition]; about a generator spec, [ErrSpec].
package lab
