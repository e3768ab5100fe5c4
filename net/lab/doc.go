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
// Everything read from a file is bounded: [MaxGraphMLBytes], [MaxNodes]
// and [MaxLinks]. Errors about a topology wrap [ErrTopology]; about link
// conditions, [ErrCondition]; about a generator spec, [ErrSpec].
package lab
