// Package netns makes Linux network namespaces and works inside them: it
// starts processes in one, dials from one, and names one to the ip command.
// `renga devnet --netns` puts each node in a namespace of its own joined to
// the others by a bridge, and the end-to-end tests build their LANs of node
// processes the same way, so that nothing they send reaches the host's
// interfaces (design.md §6, "Network safety").
//
// A namespace is held by a file descriptor, not by a name under /run/netns:
// it vanishes when the descriptor is closed and the last process in it has
// exited, however the program ends. Work inside a namespace runs on an OS
// thread that enters it and is then thrown away, so no other goroutine ever
// runs in the wrong namespace.
//
// Making a namespace needs CAP_SYS_ADMIN: root, or root inside a user
// namespace (which is how the tests run without root). Linux only:
// elsewhere the package is empty.
package netns
