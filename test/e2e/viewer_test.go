package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// TestViewer drives headless Chromium (Debian's chromium) against the emulator's conversation
// viewer once `make demo`'s samples are delivered: the page shows the card's text, the mention,
// the thread reply under its root and the edited marker, and a message delivered while the page
// is open appears without a reload. It takes the screenshot the README shows: set
// VIEWER_SCREENSHOT to where it goes (make viewer-screenshot).
func TestViewer(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the control plane")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: install Debian's chromium (.ci/run does)")
	}
	demo := startDemo(t)
	url, kubeconfig := demo.waitReady(t)
	ctx := newBrowser(t, chromium)

	open := func(conv string) {
		t.Helper()
		sel := fmt.Sprintf(`nav a[data-conv=%q]`, conv)
		g.Expect(chromedp.Do(ctx, chromedp.WaitVisible(sel), chromedp.Click(sel),
			chromedp.WaitVisible(fmt.Sprintf(`section.conversation[data-conv=%q]`, conv)))).To(Succeed())
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		g.Expect(err).NotTo(HaveOccurred(), sel)
		return s
	}
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("section.conversation"))).To(Succeed())

	// The card, rendered by the Adaptive Cards renderer, and the thread reply under its root.
	open("channel:" + emulator.DefaultAlertsChannelID)
	thread := `section.conversation .thread`
	g.Expect(text(thread + ` > article .card .ac-adaptiveCard`)).To(ContainSubstring("FIRING: NodeDiskPressure"))
	g.Expect(text(thread + ` > article .card .ac-adaptiveCard`)).To(ContainSubstring("node-7"))
	g.Expect(text(thread + ` > article .alert-flag`)).To(Equal("Alert"))
	g.Expect(text(thread + ` > .replies > article`)).To(ContainSubstring("Mitigation: old images pruned on node-7"))
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(shot).To(HavePrefix("\x89PNG"))
	screenshot := os.Getenv("VIEWER_SCREENSHOT")
	if screenshot == "" {
		screenshot = filepath.Join(t.TempDir(), "viewer.png")
	}
	g.Expect(os.WriteFile(screenshot, shot, 0o644)).To(Succeed())

	// The mention, highlighted.
	open("chat:" + emulator.DefaultGroupChatID)
	g.Expect(text(`section.conversation article .mention`)).To(Equal("Megan Bowen"))
	g.Expect(text(`section.conversation article .text`)).To(ContainSubstring("you are on call for the payments incident"))

	// The edited marker on the message the demo edits.
	open("channel:" + emulator.DefaultGeneralChannelID)
	g.Expect(text(`section.conversation`)).To(ContainSubstring("is now live in every region"))
	g.Expect(text(`section.conversation article .edited`)).To(Equal("Edited"))

	// A message delivered now appears without a reload.
	open("channel:" + emulator.DefaultAlertsChannelID)
	g.Expect(chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))).To(Succeed())
	news := fmt.Sprintf("Viewer test %d: the pods are healthy again", time.Now().UnixNano())
	apply := exec.Command("kubectl", "--kubeconfig", kubeconfig, "-n", "teams-demo", "apply", "-f", "-")
	apply.Stdin = strings.NewReader(fmt.Sprintf(`apiVersion: teams.operator.dev/v1alpha1
kind: ProactiveMessage
metadata: {name: viewer-live}
spec: {targetRef: {name: platform-alerts}, text: %q}
`, news))
	out, err := apply.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", out)
	// The page redraws when the message arrives: a query that meets the old DOM is tried again.
	g.Eventually(func() (string, error) { return chromedp.Run(ctx, chromedp.Text(`section.conversation`)) },
		60*time.Second, 250*time.Millisecond).Should(ContainSubstring(news))
	stillThere, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(stillThere).To(BeTrue(), "the page was reloaded")
}

// newBrowser starts headless Chromium for one test.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 720),
		// The emulator serves TLS with a CA it made; only this browser, in this test, skips
		// checking it.
		chromedp.IgnoreCertErrors)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancel()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// demoRun is `make demo`'s program running interactively, as a newcomer starts it.
type demoRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (d *demoRun) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func (d *demoRun) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func startDemo(t *testing.T) *demoRun {
	t.Helper()
	g := NewWithT(t)
	tmp := t.TempDir()
	demoBin := filepath.Join(tmp, "demo")
	build := exec.Command("go", "build", "-o", demoBin, "./hack/demo")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "building hack/demo:\n%s", out)

	d := &demoRun{done: make(chan struct{})}
	d.cmd = exec.Command(demoBin, "--dir", filepath.Join(tmp, "run"), "--bin-dir", filepath.Join(tmp, "bin"))
	d.cmd.Dir = repoRoot
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	g.Expect(d.cmd.Start()).To(Succeed())
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			_, _ = d.Write(append(sc.Bytes(), '\n'))
		}
	}()
	go func() {
		_ = d.cmd.Wait()
		_ = pw.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		// Ctrl-C, as a person stops it: the demo stops everything it started.
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", d.output())
		}
	})
	return d
}

var (
	viewerURL  = regexp.MustCompile(`https://127\.0\.0\.1:\d+/_emulator/ui/`)
	kubeconfig = regexp.MustCompile(`export KUBECONFIG=(\S+)`)
)

// waitReady waits until the demo has delivered its samples and prints how to look around,
// viewer first.
func (d *demoRun) waitReady(t *testing.T) (url, kubeconfigPath string) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func() string {
		select {
		case <-d.done:
			return "the demo exited"
		default:
		}
		return d.output()
	}, 5*time.Minute, time.Second).Should(ContainSubstring("Everything keeps running"))
	out := d.output()
	url = viewerURL.FindString(out)
	g.Expect(url).NotTo(BeEmpty(), "the demo prints the viewer's URL")
	m := kubeconfig.FindStringSubmatch(out)
	g.Expect(m).To(HaveLen(2), "the demo prints its kubeconfig")
	return url, m[1]
}
