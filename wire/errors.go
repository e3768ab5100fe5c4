package wire

import (
	"errors"
	"fmt"
)

// ErrMalformed is the class of every error caused by the bytes themselves: a bad
// frame header, a checksum mismatch, a truncated or non-canonical payload, a count
// over its limit, trailing bytes. The peer layer treats it as the peer's fault; an
// error that does not wrap it came from the connection (EOF, a deadline, a reset).
var ErrMalformed = errors.New("wire: malformed")

// The specific reasons, each wrapped (through [*MalformedError]) together with
// [ErrMalformed]. Truncated input is reported as io.ErrUnexpectedEOF.
var (
	// ErrBadMagic: the frame does not start with the network's magic.
	ErrBadMagic = errors.New("wire: wrong network magic")
	// ErrBadCommand: the command field is not printable ASCII followed by NUL padding.
	ErrBadCommand = errors.New("wire: invalid command field")
	// ErrOversize: a frame declares a payload longer than the limit for its command.
	ErrOversize = errors.New("wire: payload too large")
	// ErrChecksum: the payload does not hash to the frame's checksum. The frame has
	// been consumed, so the caller may drop the message and read the next one.
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrTooMany: a count exceeds its protocol limit.
	ErrTooMany = errors.New("wire: count over limit")
	// ErrNonCanonical: the bytes would not re-encode to themselves (a varint not in
	// its shortest form, a boolean other than 0 or 1, a superfluous witness marker…).
	ErrNonCanonical = errors.New("wire: non-canonical encoding")
	// ErrTrailing: bytes are left after the last field of a payload.
	ErrTrailing = errors.New("wire: trailing bytes")
	// ErrInvalid: a field holds a value the protocol does not allow.
	ErrInvalid = errors.New("wire: invalid value")
)

// ErrUnknownCommand is returned (wrapped in [*UnknownCommandError]) for a well-formed
// frame whose command this package does not know. It does not wrap [ErrMalformed]:
// the frame has been consumed and the caller can carry on, as Bitcoin Core does.
var ErrUnknownCommand = errors.New("wire: unknown command")

// MalformedError describes bytes that cannot be decoded: which field, where, and why.
// It unwraps to both [ErrMalformed] and the reason (one of the errors above or
// io.ErrUnexpectedEOF).
type MalformedError struct {
	Field  string // dotted path of the field being read, e.g. "tx.input.script"
	Offset int    // byte offset in the payload (or frame header) where it failed
	Err    error  // the reason
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("wire: malformed %s at byte %d: %v", e.Field, e.Offset, e.Err)
}

// Unwrap returns [ErrMalformed] and the reason, so errors.Is finds either.
func (e *MalformedError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// UnknownCommandError names the command of a frame this package cannot decode.
type UnknownCommandError struct{ Command string }

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("wire: unknown command %q", e.Command)
}

// Unwrap returns [ErrUnknownCommand].
func (e *UnknownCommandError) Unwrap() error { return ErrUnknownCommand }

func malformed(field string, off int, reason error) error {
	return &MalformedError{Field: field, Offset: off, Err: reason}
}
