module github.com/renga-p2p/renga/fuzz

go 1.26.0

require (
	github.com/btcsuite/btcd/wire/v2 v2.0.1
	github.com/renga-p2p/renga v0.0.0
)

require (
	github.com/btcsuite/btcd/chainhash/v2 v2.0.0 // indirect
	golang.org/x/crypto v0.40.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/renga-p2p/renga => ../
