// Package webview tests the live web view of `renga devnet` (net/lab) in a
// real browser: Debian's chromium, driven headless over the DevTools
// protocol with github.com/chromedp/chromedp, which is why the test lives in
// this module and not beside the page. Everything runs in a private network
// namespace with loopback only: the devnet's nodes, the page's server and
// the browser. The test skips, saying why, where chromium is not installed
// (Debian package chromium; .ci/run installs it) or no namespace can be made.
package webview
