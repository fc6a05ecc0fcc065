// Package pagetest drives the encryption page (package encryptpage) in
// headless Chromium through chromedp, as a customer would: it types a SAS
// URL, picks a residency, clicks Encrypt and reads the cipher or the
// error the page shows, and it records every request the page makes.
//
// Chromium runs with a user data folder of the test's own and is stopped
// when the test ends: the chromedp contexts are cancelled (which kills and
// reaps the browser process), then any process still using that folder
// (Chromium's helpers can outlive the browser) is killed by PID. A missing
// chromium fails the test with AUDITLOG_REQUIRE_EMULATORS=1 or in CI, and
// skips it otherwise (testenv.RequireTools).
//
// Tests only: production code never imports it (encryptpage's and
// auditctl's tests do). Of this module it imports sas and the local test
// environment (internal/localdev/testenv, emulator). It opens the page by
// its URL, as a browser does, so it does not import encryptpage.
package pagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/contentful/auditlogs/internal/localdev/emulator"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
)

// Timeout bounds each step in the browser, so a page whose script does
// not run (a CSP hash that does not match, say) fails the test quickly.
const Timeout = 30 * time.Second

// Browser starts headless Chromium for the test and returns its context.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	testenv.RequireTools(tb, "chromium")
	path, err := emulator.LookTool("chromium")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir() // removed after the cleanup below has run
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // kills the browser process if it is still there, and reaps it
		if n := killUsing(dir); n > 0 {
			tb.Logf("killed %d Chromium helper processes left after the browser stopped", n)
		}
		if n := killUsing(dir); n > 0 {
			tb.Errorf("%d Chromium processes still ran after being killed", n)
		}
	})
	// Start the browser now, so a broken installation fails here. As root
	// (CI), chromedp adds --no-sandbox, without which Chromium refuses to
	// start.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// killUsing kills, by PID, the processes started with --user-data-dir=dir
// and waits until they are gone; it returns how many there were.
func killUsing(dir string) int {
	want := []byte("--user-data-dir=" + dir)
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmdline, want) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for emulator.Running(pid, "chromium") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return len(pids)
}

// Page is the encryption page open in a browser tab.
type Page struct {
	tb  testing.TB
	ctx context.Context
	log *requestLog
}

type requestLog struct {
	mu   sync.Mutex
	urls []string
}

// For returns the same page reporting failures to tb, for subtests.
func (p *Page) For(tb testing.TB) *Page {
	q := *p
	q.tb = tb
	return &q
}

// Open opens url in a new tab of the browser and waits until the page's
// script has run. Every request the tab makes is recorded.
func Open(tb testing.TB, browser context.Context, url string) *Page {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb.Cleanup(cancel)
	p := &Page{tb: tb, ctx: ctx, log: &requestLog{}}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			p.log.mu.Lock()
			p.log.urls = append(p.log.urls, e.Request.URL)
			p.log.mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatalf("page: listen: %v", err)
	}
	p.do("open "+url,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
			return err
		}),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	return p
}

func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.tb.Fatalf("page: %s: %v", what, err)
	}
}

func run[T any](p *Page, what string, action chromedp.Action[T]) T {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		p.tb.Fatalf("page: %s: %v", what, err)
	}
	return v
}

// Requests are the URLs of every request the tab has made.
func (p *Page) Requests() []string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return append([]string(nil), p.log.urls...)
}

// Residency is the residency selected in the page.
func (p *Page) Residency() sas.Residency {
	p.tb.Helper()
	return sas.Residency(run(p, "read residency", chromedp.Value(chromedp.ID("residency"))))
}

// Residencies are the residencies the page offers, in order.
func (p *Page) Residencies() []sas.Residency {
	p.tb.Helper()
	vs := run(p, "list residencies", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#residency option"), o => o.value)`))
	var out []sas.Residency
	for _, v := range vs {
		out = append(out, sas.Residency(v))
	}
	return out
}

// Select picks a residency in the select element and tells the page, as a
// person's choice does.
func (p *Page) Select(r sas.Residency) {
	p.tb.Helper()
	p.do("select "+string(r), chromedp.SetValue(chromedp.ID("residency"), string(r)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("residency").dispatchEvent(new Event("change", {bubbles: true}))`))
	if got := p.Residency(); got != r {
		p.tb.Fatalf("page: selected %q, want %q", got, r)
	}
}

// Type empties the SAS URL field and types s into it key by key ("\n"
// presses Enter, which adds a line break as in any text area; "\t" would
// move the focus away, use Paste for it).
func (p *Page) Type(s string) {
	p.tb.Helper()
	p.do("type the SAS URL",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("sas").value = ""`),
		chromedp.SendKeys(chromedp.ID("sas"), s))
	if got := run(p, "read the SAS URL field", chromedp.Value(chromedp.ID("sas"))); got != s {
		p.tb.Fatalf("page: the field holds %d characters after typing %d", len(got), len(s))
	}
}

// Paste empties the SAS URL field and puts s into it at once, as pasting
// does: for text a keyboard cannot type into a text area (Tab moves the
// focus instead).
func (p *Page) Paste(s string) {
	p.tb.Helper()
	p.do("paste the SAS URL", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(el => { el.value = %s; el.dispatchEvent(new Event("input", {bubbles: true})); })(document.getElementById("sas"))`, jsString(s))))
	if got := run(p, "read the SAS URL field", chromedp.Value(chromedp.ID("sas"))); got != s {
		p.tb.Fatalf("page: the field holds %d characters after pasting %d", len(got), len(s))
	}
}

// jsString quotes s as a JavaScript string literal (JSON's is one).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Encrypt clicks Encrypt and returns the cipher the page shows, or the
// error it shows instead (one of them is empty).
func (p *Page) Encrypt() (cipher, problem string) {
	p.tb.Helper()
	p.do("click Encrypt", chromedp.Click(chromedp.ID("encrypt")))
	run(p, "wait for a cipher or an error", chromedp.Poll[bool](
		`document.getElementById("cipher").value !== "" || document.getElementById("error").textContent !== ""`,
		chromedp.WithPollingInterval(20*time.Millisecond)))
	cipher = run(p, "read the cipher", chromedp.Value(chromedp.ID("cipher")))
	problem = run(p, "read the error", chromedp.Evaluate[string](`document.getElementById("error").textContent`))
	return cipher, problem
}

// Fetch makes the page's own script context request url and returns how
// the attempt ended ("sent", or "failed: " and the error). A failure
// alone proves nothing (a cross-origin request that was sent fails too):
// check what the server received and Requests.
func (p *Page) Fetch(url string) string {
	p.tb.Helper()
	return run(p, "fetch from the page", chromedp.Evaluate[string](
		fmt.Sprintf(`fetch(%s).then(() => "sent", e => "failed: " + e)`, jsString(url)), chromedp.EvalAwaitPromise))
}
