package api

import (
	"fmt"
	"net/http"
	"slices"
)

// serveMetrics writes a few gauges and counters in Prometheus' text format.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	tip := s.cfg.Chain.Tip()
	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	counter := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %v\n", name, help, name, name, v)
	}
	gauge("renga_height", "Height of the active chain's tip.", tip.Height)
	if best := s.cfg.Chain.BestHeader(); best != nil {
		gauge("renga_headers", "Height of the best known header.", best.Height)
	}
	if s.cfg.Pool != nil {
		info := s.cfg.Pool.Info()
		gauge("renga_mempool_transactions", "Transactions in the mempool.", info.Count)
		gauge("renga_mempool_bytes", "Bytes of transactions in the mempool.", info.Bytes)
	}
	if s.cfg.P2P != nil {
		gauge("renga_peers", "Connected peers.", len(s.cfg.P2P.Peers()))
		st := s.cfg.P2P.Stats()
		counter("renga_blocks_received_total", "Blocks received from peers.", st.BlocksReceived)
		counter("renga_blocks_served_total", "Blocks sent to peers.", st.BlocksServed)
		counter("renga_download_stalls_total", "Peers that stalled the block download.", st.Stalls)
		counter("renga_peers_misbehaved_total", "Peers disconnected for misbehaving.", st.Misbehaved)
		counter("renga_dials_total", "Outbound connection attempts.", st.Dials)
		c := st.Compact
		fmt.Fprintf(w, "# HELP renga_compact_blocks_total Compact blocks (BIP152) received, by how they were rebuilt.\n"+
			"# TYPE renga_compact_blocks_total counter\n")
		for _, o := range []struct {
			name string
			n    uint64
		}{{"reconstructed", c.Reconstructed}, {"requested", c.Requested}, {"fallback", c.Fallback}} {
			fmt.Fprintf(w, "renga_compact_blocks_total{outcome=%q} %d\n", o.name, o.n)
		}
		counter("renga_compact_blocks_received_total", "Compact blocks taken up for reconstruction.", c.Received)
		counter("renga_compact_blocks_sent_total", "Compact blocks sent to peers.", c.Sent)
		fmt.Fprintf(w, "# HELP renga_disconnects_total Connections ended, by reason.\n# TYPE renga_disconnects_total counter\n")
		reasons := make([]string, 0, len(st.Disconnects))
		for r := range st.Disconnects {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			fmt.Fprintf(w, "renga_disconnects_total{reason=%q} %d\n", r, st.Disconnects[r])
		}
	}
	if s.cfg.Miner != nil {
		gauge("renga_hashrate", "Local mining rate in hashes per second.", s.cfg.Miner.Hashrate())
	}
}
