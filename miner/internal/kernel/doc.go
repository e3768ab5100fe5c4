// Package kernel holds the SHA-256d nonce-scan kernels of the miner.
package kernel
