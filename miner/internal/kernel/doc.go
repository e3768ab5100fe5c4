// Package kernel holds the miner's SHA-256d nonce-scan kernels and chooses
// among them. It is the inner loop of mining and nothing else: templates,
// workers, extranonce rolling and cancellation belong to package miner.
//
// # What a kernel computes
//
// A Bitcoin block header is 80 bytes. SHA-256 reads it as two 64-byte blocks;
// the first (bytes 0..63: version, previous block hash, the first 28 bytes of
// the merkle root) does not depend on the nonce and is hashed once into a
// midstate. A [Job] carries that midstate, the next 12 header bytes as three
// big-endian words (merkle-root tail, time, bits) and a filter. For each nonce
// a kernel then computes
//
//	inner = Compress(midstate, tail[0] tail[1] tail[2] bswap(nonce) 0x80000000 0 … 0 640)
//	outer = Compress(IV, inner[0..7] 0x80000000 0 … 0 256)
//
// (the nonce is little-endian in the header, and 640 and 256 are the message
// lengths in bits), so the header hash is outer as 32 big-endian bytes.
// Bitcoin compares that hash as a little-endian 256-bit number, so its most
// significant 32 bits ([Top32]) are bytes 28..31 read little-endian: the
// byte-swapped last state word, bswap(outer[7]). A nonce is a candidate when
// Top32 ≤ Job.Filter. That is a first filter only: the caller confirms each
// candidate against the full 256-bit target with [Job.Confirm] ([TargetFilter]
// gives the filter that cannot miss a solution).
//
// # The contract
//
// [Kernel.Scan](j, start, count, hits) covers nonces start … start+count−1 in
// order, never past 0xffffffff (a longer range is cut there), writes the
// candidates to hits in increasing order and stops as soon as hits is full,
// right after the nonce that filled it. It returns how many hits it wrote and
// how many nonces it covered, so the caller resumes at start+scanned. A kernel
// with L lanes hashes L nonces per step and masks the lanes of the last step
// that lie past the range, including a step that would wrap past 0xffffffff.
// With an easy target (regtest's bits 0x207fffff make about half of all
// nonces candidates) a buffer fills within one step; the results are still
// exactly the generic kernel's. Scan allocates nothing, keeps no state between
// calls and may be called from many goroutines at once; each call does a
// little per-job work (a few rounds, the job's constant table), so a call
// should cover about 1–10 ms: [Kernel.Chunk] is a count of about 4 ms at the
// rates below, which keeps cancellation prompt.
//
// # Choosing a kernel
//
// [Kernels] is the table, slowest first; the generic kernel is always first
// and always available, and on amd64 (without the purego tag) the assembly
// kernels follow with availability from CPU feature detection
// (golang.org/x/sys/cpu for AVX2, AVX-512F/BW, BMI1/BMI2, which already
// accounts for the operating system saving the YMM/ZMM state; CPUID leaf 7 EBX
// bit 29 for the SHA extensions, which x/sys/cpu does not report). [Lookup]
// finds one by name; an unknown name wraps [ErrUnknownKernel] and a kernel this
// CPU or build cannot run wraps [ErrKernelUnavailable]. [Select] honours
// $RENGA_KERNEL ([EnvKernel]) and fails on a bad name rather than ignoring it;
// otherwise it times every available kernel for [CalibrationTime] with
// [Calibrate] and returns the fastest. [Measure] times one kernel (for
// `renga bench`).
//
// # Kernels and rates
//
// Measured on the development machine (Intel Xeon, family 6 model 207, 2 cores,
// about 3.0 GHz; SHA-NI, AVX2, AVX-512F/BW/VL), one core, median of 5 runs of
//
//	go test ./miner/internal/kernel/ -run '^$' -bench . -count 5
//
//	kernel   lanes  MH/s   × stdlib  what limits it
//	generic      1   1.74   0.40     plain Go through sha256d.Compress (the specification)
//	avx2         8  11.37   2.6      ~6,300 VEX instructions per 8 nonces on 3 vector ports
//	shani        4  14.33   3.3      62 SHA256RNDS2 per nonce; this CPU issues one every ~3.0 cycles
//	avx512      16  30.77   7.1      ~2,970 EVEX instructions per 16 nonces at 2 per cycle
//	stdlib       –   4.32   1        sha256.Sum256(sha256.Sum256(header)), BenchmarkStdlib
//
// (shani there is the earlier 4-stream kernel; shani4 did not exist yet.) On
// an AMD EPYC of the Zen 5 family (family 26 model 2, 2 cores of a shared
// virtual machine, ~3.4 GHz; SHA-NI, AVX2, AVX-512), same command:
//
//	kernel   lanes  MH/s   × stdlib  what limits it
//	generic      1   1.52   0.33
//	avx2         8  14.20   3.1      ~6,230 VEX instructions per 8 nonces at ~3 per cycle
//	shani        2  23.15   5.0      SHA256RNDS2 every 2 cycles, latency 4: 2 streams, no slack
//	shani4       4  24.37   5.3      4 streams: ~130 cycles per nonce for 61 SHA256RNDS2
//	avx512      16  45.59   9.8      ~3,140 EVEX instructions per 16 nonces at ~2.7 per cycle
//	stdlib       –   4.64   1
//
// The generic kernel is the specification: it is written from [Job.digest]
// with [sha256d.Compress], and the tests pin it to crypto/sha256 hashing the
// whole header. Every other kernel must return exactly its hits and scanned
// count, on random jobs, lane edges, the end of the nonce space, full buffers,
// the mainnet and regtest genesis headers and fuzzed jobs (FuzzKernels).
//
// # The generated assembly
//
// The assembly is generated by avo from _asm (its own module, so the main
// module does not depend on avo) and committed; it is never edited by hand.
// Regenerate with `go generate ./miner/internal/kernel/`; a stale file shows
// as a diff afterwards. Assembly and its stubs are built only for
// `amd64 && !purego`; with -tags purego or on other architectures only the
// generic kernel exists.
//
// The AVX2 and AVX-512 kernels come from one description of SHA-256d written
// as arithmetic on staged values (_asm/program.go). Go's assembler does not
// schedule, allocate or fold anything, so the generator does:
//
//   - Staging. A value known while generating (IV, K, padding words and
//     everything computed from them) is folded; a value that depends on the job
//     but not the nonce is computed once per call into a table of
//     already-broadcast vectors; only nonce-dependent work is in the loop.
//     This removes rounds 0–2 of the second block (the nonce is word 3),
//     turns round 3 into two additions, turns every schedule term made of
//     constant words (most of W16–W33 of the second block and W16–W31 of the
//     outer hash, where words 8–15 are padding) into a table read, and folds
//     the outer hash's constant first state into its first round.
//   - Constants as memory operands. Round constants and job values are read
//     from the 64-byte-aligned table as full-width memory operands (loads run
//     on ports the arithmetic does not use, and a table of pre-broadcast
//     vectors avoids a broadcast per use); the table's base sits in its middle
//     so EVEX compressed 8-bit displacements reach every slot, which keeps the
//     loop body (~3,100 instructions, ~20 KB) inside the instruction and uop
//     caches — doubling to 32 lanes lost 40% here.
//   - Early exit. State word 7 of the outer hash is IV[7] plus the e computed
//     in round 60, so rounds 61–63 are skipped, rounds 57–60 compute only e
//     (their a is never read) and message words 61–63 are never computed.
//   - Short add chains. Where vector integer operations take 2 cycles (Zen 5)
//     the kernel waits on the chain from one round's e to the next, so the
//     sums are associated for it: d+h+K+W of the next round is summed one
//     round early from c and g, e' = ((d+h+K+W) + Ch) + Σ1(e) is 6 cycles
//     after e (10 for ((Σ1 + Ch) + h+K+W) + d), a' = (e' + (Maj − d)) + Σ0(a)
//     reuses e' instead of a separate T1, and each message word adds its
//     σ1 term last; sums that are one lane term plus constants stay lazy so
//     constants meeting later fold into one table slot; each message word is
//     computed just before the round that first needs it.
//   - Register allocation. The loop body is straight-line code, so a
//     linear-scan allocator that frees a register at its value's last read
//     (counted in a dry run) never spills on AVX-512; VPTERNLOGD, which
//     overwrites an input, is given an input that dies there (Ch overwrites g,
//     which is why h+K+W is computed from g first) and otherwise a copy that
//     move elimination makes free. AVX2 keeps message words in stack slots.
//   - AVX-512 specifics: VPRORD for rotates, VPTERNLOGD for Ch, Maj and the
//     three-way xors of Σ and σ, VPCMPUD into a mask register for the filter.
//
// The SHA-NI kernels (_asm/shani.go) interleave independent nonces
// instruction by instruction: shani 2, shani4 4. Their limit is the SHA unit:
// SHA256RNDS2 has a latency of ~4 cycles and issues every 3 on Intel's
// Golden Cove cores, where 2 streams keep it busy and SHA256MSG1, SHA256MSG2
// and PALIGNR share its port, and every 2 on AMD Zen 5, where 2 streams have
// no slack and 4 are needed (SSE's 16 registers then hold the streams'
// states, and their message quads live in stack slots with the newest in a
// register). Calibration picks the faster of the two on each machine. The
// generator spends SHA instructions only where the nonce makes them
// necessary. Rounds 0–2 of the second block are done in Go per call
// (shaniParams) and round 3 is the job's state plus the nonce word in lanes E
// and A, so the block takes 30 SHA256RNDS2; message quad 4 is job constants
// plus σ0 of the nonce word (on scalar registers), quads 5–7 need no
// SHA256MSG1; the outer hash starts from the IV, its padding quads are
// constants, and it stops after the SHA256RNDS2 of rounds 60–61, whose F
// output is that same e of round 60: 61 SHA256RNDS2, 19 SHA256MSG1, 23
// SHA256MSG2 and 21 PALIGNR per nonce. Each message quad is scheduled two
// quads ahead of the rounds that read it.
package kernel

//go:generate go run -C _asm . -kernel cpuid -out ../cpuid_amd64.s -stubs ../cpuid_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel avx2 -out ../avx2_amd64.s -stubs ../avx2_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel shani -out ../shani_amd64.s -stubs ../shani_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel
