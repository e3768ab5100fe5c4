package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
)

// BenchmarkSync measures a fresh node syncing the 5,000-block chain (with a
// transaction in most blocks) from 1 and from 4 peers over loopback TCP, all
// in one process: loopback has no bandwidth limit, so this measures what the
// node's own work allows (BenchmarkSyncLimited puts each peer behind a
// limited uplink). Compare the two with:
//
//	go test ./net/p2p -run '^$' -bench 'Sync$' -benchtime 3x -count 5
func BenchmarkSync(b *testing.B) {
	blocks := syncChain(b)
	for _, peers := range []int{1, 4} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			var addrs []string
			for range peers {
				src := startNode(b, chainOf(b, blocks), nil)
				addrs = append(addrs, src.srv.ListenAddr().String())
			}
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				fresh := startNode(b, chaintest.New(b, chain.Regtest), func(c *Config) { c.Connect = addrs })
				fresh.waitTip(blocks[len(blocks)-1].Hash())
				b.ReportMetric(float64(len(blocks))/time.Since(start).Seconds(), "blocks/s")
				fresh.stop()
			}
		})
	}
}
