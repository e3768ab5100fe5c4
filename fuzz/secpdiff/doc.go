// Package secpdiff holds crypto/secp's verifiers to one another on real and
// hostile inputs. In the cgo build crypto/secp has two — dcrd, pure Go, the
// reference, and Bitcoin Core's libsecp256k1, the default — behind one Renga
// front end; every test here runs each input through every verifier
// secp.Verifiers returns and fails on the first disagreement:
//
//   - TestSighashVectors: the hash of each of btcd's sighash.json vectors
//     (Bitcoin Core's legacy signature-hash vectors), signed, with its
//     high-S twin, hybrid key, lax-DER re-encodings and wrong hash, key and R;
//   - TestScriptVectorsP2PK: the P2PK cases of btcd's script_tests.json that
//     run without flags (Core's own odd signatures: R and S padding, BIP66's
//     example, high S, a hybrid key, undefined hash types), with Core's verdict;
//   - TestMainnetSignatures: every signature in mainnet blocks 0–14131, its
//     sighash computed with package chain, which must verify;
//   - FuzzVerifyDiff: random keys, messages and signatures and mutations of
//     them (high and zero and out-of-range R and S, DER edge cases, bad keys,
//     arbitrary bytes).
//
// In the pure-Go build (CGO_ENABLED=0) dcrd is alone: the tests still demand
// the right verdicts from it, and the fuzz target skips, naming the verifier.
package secpdiff
