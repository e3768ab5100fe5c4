package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/wire"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the
// module version or VCS revision from the build information is shown.
var version = ""

func runVersion(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "version", "", "Print the version of renga, the protocol version it speaks, the Go version and\nthe library that verifies signatures (libsecp256k1 in the cgo build, dcrd in the pure-Go one).", "  renga version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "renga %s (protocol %d, %s %s/%s)\n", buildVersion(), wire.ProtocolVersion,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(io.out, "signatures verified by %s\n", verifierText())
	return nil
}

// dcrdModule is the pure-Go secp256k1 library crypto/secp builds on.
const dcrdModule = "github.com/decred/dcrd/dcrec/secp256k1/v4"

// verifierText names the signature verifier this binary was built with, so
// that a user can tell the fast (cgo) build from the pure-Go one.
func verifierText() string {
	switch name := secp.DefaultVerifier().Name; name {
	case "libsecp256k1":
		return "libsecp256k1 (Bitcoin Core's C library, through cgo)"
	case "dcrd":
		v := ""
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, d := range info.Deps {
				if d.Path == dcrdModule {
					v = " " + d.Version
				}
			}
		}
		return "dcrd" + v + " (pure Go; build with cgo and libsecp256k1 installed for the faster verifier)"
	default:
		return name
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
