package chain

import (
	"errors"
	"fmt"
)

// The two classes of consensus rejection. Every rule violation wraps one of them
// through a *RuleError, so callers can tell "this block (or transaction) is
// invalid" from "the disk failed" with errors.Is.
var (
	ErrInvalidBlock = errors.New("chain: invalid block")
	ErrInvalidTx    = errors.New("chain: invalid transaction")
)

// Other errors.
var (
	// ErrUnknownParent: a header or block whose parent is not known (yet).
	ErrUnknownParent = errors.New("chain: unknown parent")
	// ErrDuplicate: the header or block is already known.
	ErrDuplicate = errors.New("chain: already known")
	// ErrNotFound: no such block, header or coin.
	ErrNotFound = errors.New("chain: not found")
	// ErrNetwork: a data directory or file of another network.
	ErrNetwork = errors.New("chain: wrong network")
	// ErrNotUseful: an unrequested block (or a chain of headers) that
	// cannot make the best chain was ignored; nothing of it is stored or
	// held. Not a fault of the data.
	ErrNotUseful = errors.New("chain: not useful")
	// ErrLowWork: headers below the anti-DoS work threshold are held (not
	// stored) until more of their chain arrives; see HeaderSync.
	ErrLowWork = errors.New("chain: headers below the work threshold held; more needed")
	// ErrTooManyHeaders: a HeaderSync would hold more low-work headers than
	// its bound (or all of them together more than theirs); it dropped them.
	ErrTooManyHeaders = errors.New("chain: too many low-work headers held")
)

// Rule names a consensus rule. The names follow Bitcoin Core's reject reasons
// where Core has one, so that logs can be compared.
type Rule string

// The rules Renga enforces (design.md §1).
const (
	// Header rules.
	RuleHighHash     Rule = "high-hash"              // proof of work below the target the bits claim
	RuleBadBits      Rule = "bad-diffbits"           // bits are not what the difficulty rule requires
	RuleTimeTooOld   Rule = "time-too-old"           // time not after the median of the previous 11
	RuleTimeTooNew   Rule = "time-too-new"           // time more than 2 hours ahead of the clock
	RuleBadVersion   Rule = "bad-version"            // version too low for a deployed soft fork
	RuleInvalidChain Rule = "bad-prevblk"            // the parent is invalid
	RuleCheckpoint   Rule = "checkpoint-mismatch"    // (unused; named for completeness)
	RuleGenesis      Rule = "genesis-mismatch"       // a chain that does not start at our genesis
	RuleBadMerkle    Rule = "bad-txnmrklroot"        // merkle root does not match the transactions
	RuleMutated      Rule = "bad-txns-duplicate"     // CVE-2012-2459: duplicated transactions
	RuleBadLength    Rule = "bad-blk-length"         // no transactions, or over the weight limit
	RuleBadCoinbase  Rule = "bad-cb-missing"         // first transaction is not a coinbase
	RuleMultiCB      Rule = "bad-cb-multiple"        // more than one coinbase
	RuleCBHeight     Rule = "bad-cb-height"          // BIP34: coinbase does not start with the height
	RuleCBAmount     Rule = "bad-cb-amount"          // coinbase pays more than subsidy plus fees
	RuleCBLength     Rule = "bad-cb-length"          // coinbase script not 2..100 bytes
	RuleSigops       Rule = "bad-blk-sigops"         // too many signature operations
	RuleNonFinal     Rule = "bad-txns-nonfinal"      // lock time or BIP68 sequence lock not reached
	RuleWitness      Rule = "unexpected-witness"     // witness data (Renga spends only P2PK/P2PKH)
	RuleBIP30        Rule = "bad-txns-BIP30"         // a transaction overwrites an unspent one
	RuleDoubleSpend  Rule = "bad-txns-inputs-double" // spends an output twice within the block
	RuleMissing      Rule = "bad-txns-inputs-missingorspent"
	RulePremature    Rule = "bad-txns-premature-spend-of-coinbase"
	RuleInBelowOut   Rule = "bad-txns-in-belowout"
	RuleScript       Rule = "mandatory-script-verify-flag-failed" // a spend's script fails
	RuleUnsupported  Rule = "unsupported-script"                  // spends an output that is not P2PK/P2PKH

	// Transaction rules checked without context.
	RuleNoInputs       Rule = "bad-txns-vin-empty"
	RuleNoOutputs      Rule = "bad-txns-vout-empty"
	RuleOversize       Rule = "bad-txns-oversize"
	RuleNegativeValue  Rule = "bad-txns-vout-negative"
	RuleTooLargeValue  Rule = "bad-txns-vout-toolarge"
	RuleTotalTooLarge  Rule = "bad-txns-txouttotal-toolarge"
	RuleDuplicateInput Rule = "bad-txns-inputs-duplicate"
	RuleNullPrevout    Rule = "bad-txns-prevout-null"
)

// RuleError is a consensus rejection: which rule, and the details.
type RuleError struct {
	Rule   Rule
	Detail string
	class  error // ErrInvalidBlock or ErrInvalidTx
}

func (e *RuleError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v: %s", e.class, e.Rule)
	}
	return fmt.Sprintf("%v: %s: %s", e.class, e.Rule, e.Detail)
}

// Unwrap returns ErrInvalidBlock or ErrInvalidTx.
func (e *RuleError) Unwrap() error { return e.class }

func blockErr(rule Rule, format string, args ...any) error {
	return &RuleError{Rule: rule, Detail: fmt.Sprintf(format, args...), class: ErrInvalidBlock}
}

func txErr(rule Rule, format string, args ...any) error {
	return &RuleError{Rule: rule, Detail: fmt.Sprintf(format, args...), class: ErrInvalidTx}
}

// RuleOf returns the rule a consensus error names, or "" for other errors.
func RuleOf(err error) Rule {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Rule
	}
	return ""
}

// asBlockErr turns a transaction's rule error into the block's.
func asBlockErr(err error, txIndex int) error {
	var re *RuleError
	if errors.As(err, &re) && re.class == ErrInvalidTx {
		return &RuleError{Rule: re.Rule, Detail: fmt.Sprintf("tx %d: %s", txIndex, re.Detail), class: ErrInvalidBlock}
	}
	return err
}
