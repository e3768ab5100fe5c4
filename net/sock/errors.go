package sock

import "errors"

// Error classes; see the package comment.
var (
	// ErrInvalidOptions: the options given cannot describe a usable socket.
	ErrInvalidOptions = errors.New("sock: invalid options")
	// ErrNoInterface: the named network interface could not be found.
	ErrNoInterface = errors.New("sock: no such interface")
)
