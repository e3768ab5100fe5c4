package webview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/lab"
	"github.com/renga-p2p/renga/net/node"
	"github.com/renga-p2p/renga/net/sock/nstest"
)

// nodes is the size of the devnet the page shows.
const nodes = 5

// TestWebView runs a devnet of five in-process nodes on loopback (a ring,
// each node dialling the next, a block every two seconds on average from
// the lab's scheduled miner) with its web view, and opens the page in
// headless chromium: the page must draw every node of the topology, show a
// block mined after it loaded reaching every node (in the block list and
// in every node's height), and, after a click on the link between nodes 1
// and 2, draw a sequence diagram of their messages with block relay among
// them. A screenshot of the page is saved as the test's artifact
// (webview.png; go test -artifacts keeps it).
func TestWebView(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (Debian package chromium; .ci/run installs it): %v", err)
	}
	if testing.Short() {
		t.Skip("end-to-end: a devnet and a browser for half a minute")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	url := startDevnet(ctx, t)
	browser := openBrowser(ctx, t, chrome)

	// within runs one action for at most d: its failure names what did
	// not happen.
	within := func(what string, d time.Duration) context.Context {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, d)
		t.Cleanup(cancel)
		t.Logf("waiting up to %v for %s", d, what)
		return sctx
	}
	poll := func(d time.Duration) []chromedp.PollOption {
		return []chromedp.PollOption{chromedp.WithPollingInterval(200 * time.Millisecond), chromedp.WithPollingTimeout(d)}
	}
	if err := chromedp.Do(within("the page to load", 30*time.Second), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	what := "the page to draw every node"
	if _, err := chromedp.Run(within(what, 60*time.Second), chromedp.Poll[bool](
		fmt.Sprintf(`document.querySelectorAll("#topology circle.node").length === %d`, nodes), poll(60*time.Second)...)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	drawn, err := chromedp.Run(within("the links", 10*time.Second), chromedp.Evaluate[int](`document.querySelectorAll("#topology line.link").length`))
	if err != nil || drawn != nodes {
		t.Errorf("the page draws %d links of the ring's %d (%v)", drawn, nodes, err)
	}

	// A block mined after the page loaded, connected by every node.
	known, err := chromedp.Run(within("the page's blocks", 10*time.Second), chromedp.Evaluate[[]string](`[...window.lab.blocks.keys()]`))
	if err != nil {
		t.Fatal(err)
	}
	type newBlock struct {
		Hash   string `json:"hash"`
		Height int    `json:"height"`
	}
	what = "a block mined after the page loaded to reach every node on the page"
	block, err := chromedp.Run(within(what, 90*time.Second), chromedp.Poll[newBlock](fmt.Sprintf(`(() => {
			const known = new Set(%s);
			for (const [hash, b] of window.lab.blocks)
				if (!known.has(hash) && b.origin && b.reached.size === %d) return {hash, height: b.height};
			return false;
		})()`, jsStrings(known), nodes), poll(90*time.Second)...))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("block %s at height %d reached all %d nodes on the page", block.Hash, block.Height, nodes)
	type listed struct {
		Reached string `json:"reached"`
		Heights []int  `json:"heights"`
	}
	what = "the block list to show it and every node's height to pass it"
	shown, err := chromedp.Run(within(what, 10*time.Second), chromedp.Poll[listed](fmt.Sprintf(`(() => {
			const li = document.querySelector('#blocks li[data-hash="%s"]');
			const heights = [...document.querySelectorAll("#topology circle.node")].map(c => +c.dataset.height);
			return li && heights.every(h => h >= %d) && {reached: li.dataset.reached, heights};
		})()`, block.Hash, block.Height), poll(10*time.Second)...))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if shown.Reached != fmt.Sprint(nodes) {
		t.Errorf("the block list says block %s reached %s nodes, want %d", block.Hash, shown.Reached, nodes)
	}

	// The sequence diagram of the link between nodes 1 and 2, as a user
	// opens it: a click on the link.
	if err := chromedp.Do(within("a click on link 1-2", 10*time.Second),
		chromedp.Click(chromedp.CSS(`#topology line.link[data-a="1"][data-b="2"]`))); err != nil {
		t.Fatalf("click on link 1-2: %v", err)
	}
	what = "a sequence diagram of nodes 1 and 2 with block relay in it"
	arrows, err := chromedp.Run(within(what, 90*time.Second), chromedp.Poll[[]string](`(() => {
			const cmds = [...document.querySelectorAll("#seq line.msg")].map(l => l.dataset.command);
			const relay = cmds.some(c => ["cmpctblock", "headers", "block", "inv", "getdata"].includes(c));
			return cmds.length >= 4 && relay && cmds;
		})()`, poll(90*time.Second)...))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	note, err := chromedp.Run(within("the diagram's note", 10*time.Second), chromedp.Text(chromedp.CSS("#seq-note")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sequence diagram: %d arrows (%s); %s", len(arrows), strings.Join(arrows, " "), note)
	if !strings.Contains(note, "between nodes 1 and 2") {
		t.Errorf("the diagram's note says %q, want it to name nodes 1 and 2", note)
	}

	shot, err := chromedp.Run(within("a screenshot", 30*time.Second), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	file := filepath.Join(t.ArtifactDir(), "webview.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))
}

// startDevnet runs the lab until the test ends and returns the web view's
// address; the test waits for the lab to stop.
func startDevnet(ctx context.Context, t *testing.T) string {
	t.Helper()
	top, err := lab.Generate("ring", nodes, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range top.Nodes {
		top.Nodes[i].Mine = true
	}
	top.SetDefaults(lab.Conditions{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out lockedBuffer
	l, err := lab.New(lab.Config{
		Topology: top, Network: lab.NewLoopback(38400, top.Links), Params: chain.Regtest, Dir: dir,
		Launcher: lab.InProcessLauncher{Config: nodeConfig}, BlockInterval: 2 * time.Second, Web: ln,
		ReportDir: filepath.Join(dir, "report"), Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(lctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("the devnet: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("the devnet did not stop within 60 s of its context's end")
		}
		if t.Failed() {
			t.Logf("the devnet's output:\n%s", out.String())
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

// nodeConfig is the in-process node of a lab spec: what `renga node` makes
// of the flags the devnet would give it.
func nodeConfig(spec lab.NodeSpec) (node.Config, error) {
	p, err := chain.NetworkByName(spec.Network)
	if err != nil {
		return node.Config{}, err
	}
	return node.Config{
		Network: p, Dir: filepath.Join(spec.Dir, spec.Network), Listen: spec.Listen, RPC: spec.RPC,
		Connect: spec.Connect, Threads: spec.Threads, Compress: true,
		Logger: slog.New(slog.NewTextHandler(spec.Log, nil)),
	}, nil
}

// openBrowser starts headless chromium for the test and returns its tab's
// context.
func openBrowser(ctx context.Context, t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // as root; the namespace has loopback only
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelTab)
	// The first run starts the browser, which lives as long as that run's
	// context: the tab's own, bounded by the test's.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// jsStrings writes ss as a JavaScript array literal.
func jsStrings(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", s) // hashes: hex digits only
	}
	b.WriteByte(']')
	return b.String()
}

// lockedBuffer is the devnet's output, written by its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
