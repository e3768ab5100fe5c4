package wire
import ("os";"testing")
const blk574 = "/root/go/pkg/mod/github.com/btcsuite/btcd/wire/v2@v2.0.1/testdata/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
func BenchmarkPhaseMeasure(b *testing.B){ raw,_:=os.ReadFile(blk574); for b.Loop(){ d:=newDecoder(raw); d.off=80; n:=d.count("",1<<20,10); off:=d.off; for i:=0;i<n;i++{ _,_,_,next,ok:=measureTx(raw,off); off=next; if !ok {b.Fatal("x")}} } }
func BenchmarkPhaseAll(b *testing.B){ raw,_:=os.ReadFile(blk574); var blk Block; b.ReportAllocs(); for b.Loop(){ blk.Decode(raw)} }
const blk540 = "/root/go/pkg/mod/github.com/btcsuite/btcd/wire/v2@v2.0.1/testdata/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk"
func BenchmarkPhaseEncode540(b *testing.B){ raw,_:=os.ReadFile(blk540); var blk Block; blk.Decode(raw); buf:=make([]byte,0,len(raw)); b.SetBytes(int64(len(raw))); for b.Loop(){ buf,_=blk.AppendBinary(buf[:0])} }
func BenchmarkPhaseMemcpy540(b *testing.B){ raw,_:=os.ReadFile(blk540); buf:=make([]byte,len(raw)); b.SetBytes(int64(len(raw))); for b.Loop(){ copy(buf,raw)} }
