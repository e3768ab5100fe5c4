package chaindiff

// These btcd modules are in this module's build list for their data: the
// txscript module's sighash.json and the btcd module's
// blockchain/testdata/blk_0_to_14131.dat. Nothing uses their code; the blank
// imports (of their smallest packages) keep `go mod tidy` from dropping them.
import (
	_ "github.com/btcsuite/btcd/limits"
	_ "github.com/btcsuite/btcd/txscript/v2"
)
