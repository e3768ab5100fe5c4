package chain

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Monetary constants.
const (
	// Coin is the number of base units (satoshis) in one coin.
	Coin int64 = 100_000_000
	// MaxMoney is the most value any output or sum of outputs may carry.
	MaxMoney = 21_000_000 * Coin
)

// Block limits (Bitcoin's).
const (
	MaxBlockWeight    = 4_000_000
	MaxBlockSigOpCost = 80_000
	WitnessScale      = 4
	// MaxFutureBlockTime is how far ahead of the local clock a block's time may be.
	MaxFutureBlockTime = 2 * time.Hour
	// medianTimeBlocks is how many blocks the median time past looks at.
	medianTimeBlocks = 11
)

// Params are a network's consensus parameters and identity.
type Params struct {
	Name          string
	Magic         wire.Magic
	DefaultPort   uint16
	DiscoveryPort uint16 // UDP port of LAN discovery; 0 where discovery is off by default
	RPCPort       uint16 // JSON-RPC on loopback (bitcoind's for mainnet and regtest)

	Genesis     *wire.Block
	GenesisHash sha256d.Hash // constant, checked against Genesis by the tests

	PowLimit       uint256.Int // easiest target allowed
	PowLimitBits   uint32
	Difficulty     DifficultyRule
	TargetSpacing  int64 // seconds between blocks
	TargetTimespan int64 // seconds per retarget window (RetargetBitcoin)
	ASERTHalfLife  int64 // seconds (RetargetASERT)
	ASERTMaxSolve  int64 // seconds: one block's solve time counts at most this much either way (RetargetASERT)

	SubsidyHalvingInterval int32
	CoinbaseMaturity       int32 // see Mature

	// Heights from which soft forks are enforced.
	BIP34Height int32 // coinbase starts with the height; block version ≥ 2
	BIP66Height int32 // strict DER signatures; block version ≥ 3
	BIP65Height int32 // block version ≥ 4 (CHECKLOCKTIMEVERIFY itself is never spendable here)
	CSVHeight   int32 // BIP68 sequence locks and BIP113 median-time-past lock times

	// Address and key encodings.
	PubKeyHashVersion byte // P2PKH address version byte
	WIFVersion        byte // private key (WIF) version byte
}

// mustBlock decodes a hex block at package initialization; only constant
// genesis blocks come here.
func mustBlock(s string) *wire.Block {
	raw, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	b := new(wire.Block)
	if err := b.Decode(raw); err != nil {
		panic(err)
	}
	return b
}

func limit(bits uint32) uint256.Int {
	t, _, _ := CompactToTarget(bits)
	return t
}

// The genesis coinbase of Bitcoin (mainnet and regtest share it).
const bitcoinGenesisTx = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104" +
	"455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365" +
	"636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967" +
	"f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c" +
	"702b6bf11d5fac00000000"

// Mainnet is Bitcoin's main network: for validating and importing real
// historical blocks, not for joining the internet.
var Mainnet = &Params{
	Name:        "mainnet",
	Magic:       wire.Magic{0xf9, 0xbe, 0xb4, 0xd9},
	DefaultPort: 8333,
	RPCPort:     8332,
	Genesis: mustBlock("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2" +
		"7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c01" + bitcoinGenesisTx),
	GenesisHash:            sha256d.MustParseHash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
	PowLimit:               limit(0x1d00ffff),
	PowLimitBits:           0x1d00ffff,
	Difficulty:             RetargetBitcoin,
	TargetSpacing:          600,
	TargetTimespan:         14 * 24 * 3600,
	SubsidyHalvingInterval: 210_000,
	CoinbaseMaturity:       100,
	BIP34Height:            227_931,
	BIP66Height:            363_725,
	BIP65Height:            388_381,
	CSVHeight:              419_328,
	PubKeyHashVersion:      0x00,
	WIFVersion:             0x80,
}

// Regtest is Bitcoin Core's regression-test network (the same rules as btcd
// v0.26.2): no retargeting, the easiest target, BIP34/65/66 and CSV from height
// 1, halving every 150 blocks. btcd can be a peer here.
var Regtest = &Params{
	Name:        "regtest",
	Magic:       wire.Magic{0xfa, 0xbf, 0xb5, 0xda},
	DefaultPort: 18444,
	RPCPort:     18443,
	Genesis: mustBlock("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2" +
		"7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f200200000001" + bitcoinGenesisTx),
	GenesisHash:            sha256d.MustParseHash("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
	PowLimit:               limit(0x207fffff),
	PowLimitBits:           0x207fffff,
	Difficulty:             RetargetNone,
	TargetSpacing:          600,
	TargetTimespan:         14 * 24 * 3600,
	SubsidyHalvingInterval: 150,
	CoinbaseMaturity:       100,
	BIP34Height:            1,
	BIP66Height:            1,
	BIP65Height:            1,
	CSVHeight:              1,
	PubKeyHashVersion:      0x6f,
	WIFVersion:             0xef,
}

// Devnet is Renga's own LAN chain: 5-second blocks, a target recomputed every
// block with ASERT, LAN discovery on. Its genesis pays nothing spendable and
// asks for about 2^26 hashes (a second or two of one machine's miner).
// Coinbases mature after 20 blocks (100 seconds) rather than 100: a LAN
// reorganizes a few blocks at most, and a newcomer should not wait eight minutes
// to make a first payment.
var Devnet = &Params{
	Name:          "devnet",
	Magic:         wire.Magic{0xd5, 0xe1, 0xb6, 0xa7},
	DefaultPort:   28333,
	DiscoveryPort: 28334,
	RPCPort:       28332,
	// "Renga devnet 2026-11-21: each verse hangs on the one before", paying 50
	// coins to OP_RETURN; time 2026-11-21T00:00:00Z, bits 0x1d400000 (2^26
	// hashes expected), nonce 4156888.
	Genesis: mustBlock("0100000000000000000000000000000000000000000000000000000000000000000000001a49f2a8c72d3f85" +
		"c4eec775e2af91172aedf18557f8f87a910ee1d2b2646df100df006b0000401dd86d3f000101000000010000000000000000" +
		"000000000000000000000000000000000000000000000000ffffffff3d003b52656e6761206465766e657420323032362d31" +
		"312d32313a20656163682076657273652068616e6773206f6e20746865206f6e65206265666f7265ffffffff0100f2052a01" +
		"000000016a00000000"),
	GenesisHash:            sha256d.MustParseHash("000000056986af80c2a8e62dfc83b4c0cebdecbe76b34b80fbf553e1b8e192a3"),
	PowLimit:               limit(0x1f00ffff),
	PowLimitBits:           0x1f00ffff,
	Difficulty:             RetargetASERT,
	TargetSpacing:          5,
	ASERTHalfLife:          devnetHalfLife,
	ASERTMaxSolve:          devnetMaxSolve,
	SubsidyHalvingInterval: 210_000,
	CoinbaseMaturity:       20,
	BIP34Height:            1,
	BIP66Height:            1,
	BIP65Height:            1,
	CSVHeight:              1,
	PubKeyHashVersion:      0x3c, // addresses start with 'R'
	WIFVersion:             0xbc,
}

// Networks lists the networks by name.
var Networks = []*Params{Devnet, Regtest, Mainnet}

// NetworkByName returns the parameters of a network.
func NetworkByName(name string) (*Params, error) {
	for _, p := range Networks {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown network %q (devnet, regtest or mainnet)", ErrNetwork, name)
}

// Mature reports whether a coinbase output created in the block at
// coinHeight may be spent by a transaction in the block at spendHeight: only
// CoinbaseMaturity blocks later (100 on Bitcoin's networks). It is the one
// place the rule is written: block validation, the mempool (which judges a
// transaction for the next block) and the wallet all ask it.
func (p *Params) Mature(coinHeight, spendHeight int32) bool {
	return spendHeight-coinHeight >= p.CoinbaseMaturity
}
