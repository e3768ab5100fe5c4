package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/renga-p2p/renga/wire"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the
// module version or VCS revision from the build information is shown.
var version = ""

func runVersion(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "version", "", "Print the version of renga, the protocol version it speaks and the Go version.", "  renga version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "renga %s (protocol %d, %s %s/%s)\n", buildVersion(), wire.ProtocolVersion,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
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
