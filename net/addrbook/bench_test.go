package addrbook

import (
	"testing"
	"time"
)

// BenchmarkAddMessage measures what one full addr message (1,000 made-up
// addresses from one peer) costs the book, in a book that such messages
// have already filled, against the flat book as the baseline:
//
//	go test -run '^$' -bench AddMessage -count 6 ./net/addrbook/ | benchstat -col /book -
func BenchmarkAddMessage(b *testing.B) {
	c := newClock()
	msg := func(i int) []Entry {
		out := make([]Entry, 1000)
		for j := range out {
			out[j] = Entry{Addr: pub((i*7+j)%50_000, i), LastSeen: c.now()}
		}
		return out
	}
	b.Run("book=manager", func(b *testing.B) {
		book := testBook(b, 1, c)
		for i := range 200 {
			book.Add(pub(i%64, 1).Addr(), 2*time.Hour, msg(i)...)
		}
		b.ReportAllocs()
		i := 200
		for b.Loop() {
			book.Add(pub(i%64, 1).Addr(), 2*time.Hour, msg(i)...)
			i++
		}
	})
	b.Run("book=flat", func(b *testing.B) {
		book := newFlatBook(flatConfig{Now: c.now})
		add := func(i int) {
			for _, e := range msg(i) {
				book.Add(flatEntry{Addr: e.Addr, LastSeen: e.LastSeen})
			}
		}
		for i := range 200 {
			add(i)
		}
		b.ReportAllocs()
		i := 200
		for b.Loop() {
			add(i)
			i++
		}
	})
}
