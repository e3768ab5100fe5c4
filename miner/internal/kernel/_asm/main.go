// Command _asm generates the assembly of the miner's scan kernels with avo.
// Run through go generate in the parent package; each run writes one kernel:
//
//	go run . -kernel avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel
package main

import (
	"flag"
	"fmt"
	"os"

	. "github.com/mmcloughlin/avo/build"
)

func main() {
	kernel := flag.String("kernel", "", "kernel to generate: avx512, avx2 or shani")
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	switch *kernel {
	case "avx512":
		genSIMD("scanAVX512", avx512{}, 16, false)
	case "avx2":
		genSIMD("scanAVX2", avx2{}, 8, true)
	case "shani":
		genSHANI(shaniTwo)
		genSHANI(shaniFour)
	case "cpuid":
		genCPUID()
	default:
		fmt.Fprintf(os.Stderr, "unknown kernel %q\n", *kernel)
		os.Exit(2)
	}
	Generate()
}
