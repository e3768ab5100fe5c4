package miner

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
)

// Errors; see the package comment.
var (
	// ErrConfig: Config.Validate found a problem.
	ErrConfig = errors.New("miner: invalid config")
	// ErrBusy: Run or Generate was called while the miner was already mining.
	ErrBusy = errors.New("miner: already mining")
	// ErrNoScript: Run without Config.Script, or Generate without a script.
	ErrNoScript = errors.New("miner: no payout script")
)

// Defaults, in one place.
//
// RefreshInterval: a transaction that arrives while the pool has been quiet
// for a second is in the template within milliseconds; a burst is batched
// into one new template a second, so a flood of transactions does not keep
// the workers restarting. A second against devnet's 5-second blocks.
const (
	DefaultRefreshInterval = time.Second
	// rateWindow is how far back Stats.Rate looks, and rateSamples how many
	// samples (one per tick) it keeps to do so.
	rateWindow  = 10 * time.Second
	rateSamples = 11
	// tick is how often the miner samples its rate and brings the header
	// time up to the clock.
	tick = time.Second
)

// Config configures a [Miner]. It is passed by value to [New], which keeps a
// copy; zero fields take the defaults noted.
type Config struct {
	// Chain is the chain to extend. Required.
	Chain *chain.Chain
	// Pool supplies the transactions. Nil mines blocks with only a coinbase.
	Pool *mempool.Pool
	// Script is the output script the coinbase pays to, for Run. Generate
	// takes its own. Copied by New.
	Script []byte
	// Tag is put in every coinbase script after the height and extranonce,
	// at most MaxTagSize bytes. Empty means DefaultTag.
	Tag string
	// Threads is the number of workers. Zero means runtime.GOMAXPROCS(0).
	Threads int
	// Kernel names the scan kernel ("generic", "shani", "shani4", "avx2", "avx512";
	// see [Kernels]). Empty means the $RENGA_KERNEL variable if set, else
	// the fastest found by a short calibration in New.
	Kernel string
	// MaxWeight bounds the weight of the blocks made (Bitcoin Core's
	// -blockmaxweight). Zero means chain.MaxBlockWeight.
	MaxWeight int
	// RefreshInterval is the least time between two templates made because
	// the mempool accepted transactions (a new tip always makes one at once).
	// Zero means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// OnBlock is called with every block the miner finds, after the chain
	// has processed it, on the miner's coordinating goroutine (so one at a
	// time, in order). It must return quickly; it may call Stats, not Run or
	// Generate. Nil ignores them; Stats counts them either way.
	OnBlock func(Found)
	// Logger receives blocks found at Info and refusals at Error. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for block times and the rate. Nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with c, each wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	if c.Chain == nil {
		errs = append(errs, fmt.Errorf("%w: no chain", ErrConfig))
	}
	if len(c.Tag) > MaxTagSize {
		errs = append(errs, fmt.Errorf("%w: tag of %d bytes (at most %d)", ErrConfig, len(c.Tag), MaxTagSize))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("%w: %d threads", ErrConfig, c.Threads))
	}
	if c.MaxWeight < 0 || c.MaxWeight > chain.MaxBlockWeight {
		errs = append(errs, fmt.Errorf("%w: max weight %d (0 to %d)", ErrConfig, c.MaxWeight, chain.MaxBlockWeight))
	}
	if c.RefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: negative refresh interval", ErrConfig))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields filled.
func (c Config) withDefaults() Config {
	if c.Tag == "" {
		c.Tag = DefaultTag
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.MaxWeight == 0 {
		c.MaxWeight = chain.MaxBlockWeight
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.OnBlock == nil {
		c.OnBlock = func(Found) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Script = append([]byte(nil), c.Script...)
	return c
}
