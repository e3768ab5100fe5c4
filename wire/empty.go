package wire

// decodeEmpty accepts only an empty payload.
func decodeEmpty(p []byte, cmd string) error {
	d := newDecoder(p)
	return d.finish(cmd)
}
