package discover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Errors of ReadSecretFile (each wraps ErrSecretFile).
var (
	// ErrSecretFile: the LAN secret file cannot be used.
	ErrSecretFile = errors.New("discover: LAN secret file")
	// ErrSecretExposed: the file is readable (or writable) by its group or
	// by others, so the secret is not one.
	ErrSecretExposed = fmt.Errorf("%w: readable or writable by group or others", ErrSecretFile)
	// ErrSecretEmpty: the file holds no secret, which would switch signing
	// off without a word.
	ErrSecretEmpty = fmt.Errorf("%w: empty", ErrSecretFile)
)

// MaxSecretSize bounds a LAN secret file. HMAC-SHA256 hashes a longer key
// down to 32 bytes anyway; the bound is for a path that names something
// else by mistake.
const MaxSecretSize = 4096

// ReadSecretFile reads a LAN secret (for Config.Secret) from the file at
// path, so that it need not be given on a command line, where every user of
// the machine can read it (ps, /proc/PID/cmdline). The file must be a regular
// file that its group and others can neither read nor write (mode 0600 or
// 0400, say), of at most MaxSecretSize bytes; one trailing newline ("\n" or
// "\r\n"), as an editor or `echo` leaves, is not part of the secret, and
// what is left must not be empty. Errors wrap [ErrSecretFile]
// ([ErrSecretExposed], [ErrSecretEmpty]) or the file system's, and name the
// file.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("discover: LAN secret: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	// The mode of what was opened, not of what the path names now.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("discover: LAN secret: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file (%v)", ErrSecretFile, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w (%s has mode %04o; chmod 600 it)", ErrSecretExposed, path, perm)
	}
	secret, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("discover: LAN secret %s: %w", path, err)
	}
	if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("%w %s: longer than %d bytes", ErrSecretFile, path, MaxSecretSize)
	}
	if bytes.HasSuffix(secret, []byte("\n")) {
		secret = bytes.TrimSuffix(secret[:len(secret)-1], []byte("\r"))
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w (%s)", ErrSecretEmpty, path)
	}
	return secret, nil
}
