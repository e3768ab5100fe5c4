// Package nstest runs tests inside private Linux network namespaces, so that
// tests of real sockets (multicast above all) never send a packet on the
// host's interfaces (design.md §6, "Network safety").
//
// A test calls [Enter] first. Outside, Enter re-runs that one test in a child
// process of the test binary placed in a new network namespace, waits for it,
// reports its result as the test's own, and returns false; inside, it returns
// true and the test goes on, alone in a namespace whose only interface is a
// loopback interface that is still down ([LoopbackUp] brings it up). When the
// namespace cannot be made (no root and no unprivileged user namespaces) or
// the ip command is missing, the test is skipped with the reason.
//
// A test that needs several namespaces (one node in each, joined by veth
// pairs to a bridge) starts helper processes from inside its own namespace
// with [Command]; each helper is another test function of the same binary
// that calls [Helper] first. Every namespace belongs to a process the test
// started and vanishes with it, with every interface in it, however the test
// ends; nothing is created in the host's namespace or file system.
//
// Root gets a new network namespace (CLONE_NEWNET); anyone else gets a new
// user namespace too, with their user mapped to root inside, where the
// kernel allows it.
//
// Helpers fail the test with t.Fatal; they are for tests only.
//
// Linux only: elsewhere the package is empty.
package nstest
