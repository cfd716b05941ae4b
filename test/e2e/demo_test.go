// Package e2e runs `make demo`'s program non-interactively, as a newcomer would, against the real
// processes on loopback (kube-apiserver, etcd, the Teams emulator, the manager binary, kubectl),
// and checks what it reports and that it leaves nothing behind.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

var repoRoot = filepath.Join("..", "..")

// The demo's summary (hack/demo/watch.go), as far as this test reads it.
type demoSummary struct {
	OK         bool                      `json:"ok"`
	Problems   []string                  `json:"problems"`
	Namespace  string                    `json:"namespace"`
	Dir        string                    `json:"dir"`
	PIDs       map[string]int            `json:"pids"`
	Edited     map[string]string         `json:"edited"`
	Objects    []demoObject              `json:"objects"`
	Activities []emulator.StoredActivity `json:"activities"`
}

type demoObject struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Ready      string `json:"ready"`
	Reason     string `json:"reason"`
	Phase      string `json:"phase"`
	ActivityID string `json:"activityId"`
	SendAt     string `json:"sendAt"`
	OK         bool   `json:"ok"`
}

// activity is the part of a Bot Framework activity the test checks.
type activity struct {
	Text        string `json:"text"`
	Summary     string `json:"summary"`
	Attachments []struct {
		ContentType string `json:"contentType"`
		Content     struct {
			Type string `json:"type"`
			Body []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"body"`
		} `json:"content"`
	} `json:"attachments"`
	Entities []struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Mentioned struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"mentioned"`
	} `json:"entities"`
}

func TestDemo(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the control plane")
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is not on PATH: the demo applies the samples with the real kubectl")
	}

	tmp := t.TempDir()
	demoBin := filepath.Join(tmp, "demo")
	build := exec.Command("go", "build", "-o", demoBin, "./hack/demo")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "building hack/demo:\n%s", out)

	runDir := filepath.Join(tmp, "run")
	summaryFile := filepath.Join(tmp, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin, "--exit-when-done", "--timeout", "150s",
		"--dir", runDir, "--bin-dir", filepath.Join(tmp, "bin"), "--summary", summaryFile)
	cmd.Dir = repoRoot
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // let it clean up
	cmd.WaitDelay = 45 * time.Second
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("demo ran for %s", time.Since(start).Round(time.Second))
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", output.String())
		}
	}()

	// Nothing it started is left, whatever happened.
	g.Expect(processesMentioning(runDir)).To(BeEmpty(), "processes left behind by the demo")
	_, err = os.Stat(runDir)
	g.Expect(errors.Is(err, os.ErrNotExist)).To(BeTrue(), "the demo directory %s was not removed", runDir)

	g.Expect(runErr).NotTo(HaveOccurred(), "the demo failed")
	g.Expect(output.String()).To(ContainSubstring("DEMO RESULT: ok"))
	b, err := os.ReadFile(summaryFile)
	g.Expect(err).NotTo(HaveOccurred())
	var sum demoSummary
	g.Expect(json.Unmarshal(b, &sum)).To(Succeed())
	if t.Failed() {
		return
	}
	defer func() {
		if t.Failed() {
			t.Logf("summary: %s", b)
		}
	}()

	g.Expect(sum.Problems).To(BeEmpty())
	g.Expect(sum.OK).To(BeTrue())
	g.Expect(sum.PIDs).To(HaveKey("manager"))
	g.Expect(sum.PIDs).To(HaveKey("teams-emulator"))
	for name, pid := range sum.PIDs {
		g.Expect(syscall.Kill(pid, 0)).To(MatchError(syscall.ESRCH), "%s (pid %d) is still running", name, pid)
	}

	// Every sample, in its expected state.
	objects := map[string]demoObject{}
	for _, o := range sum.Objects {
		objects[o.Kind+"/"+o.Name] = o
	}
	want := map[string][]string{
		"TeamsAppInstallation": {"platform-team", "adele", "alex", "oncall-chat"},
		"ConversationTarget": {"adele", "alex", "platform-alerts", "platform-general", "oncall-chat",
			"known-conversation"},
		"ProactiveMessage": {"welcome-adele", "release-notes", "disk-pressure", "page-megan",
			"maintenance-reminder", "disk-pressure-update"},
	}
	n := 0
	for kind, names := range want {
		for _, name := range names {
			n++
			o, ok := objects[kind+"/"+name]
			g.Expect(ok).To(BeTrue(), "%s/%s is missing from the summary", kind, name)
			g.Expect(o.OK).To(BeTrue(), "%s/%s: %+v", kind, name, o)
			g.Expect(o.Ready).To(Equal("True"), "%s/%s", kind, name)
			if kind == "ProactiveMessage" {
				g.Expect(o.Phase).To(Equal("Delivered"), name)
				g.Expect(o.ActivityID).NotTo(BeEmpty(), name)
			}
		}
	}
	g.Expect(sum.Objects).To(HaveLen(n), "the samples and nothing else")
	for _, name := range want["TeamsAppInstallation"] {
		g.Expect(objects["TeamsAppInstallation/"+name].Reason).To(Equal("Installed"), name)
	}

	// Every message, as Teams holds it.
	acts := map[string]emulator.StoredActivity{}
	for _, a := range sum.Activities {
		g.Expect(a.Deleted).To(BeFalse(), "activity %s was deleted", a.ActivityID)
		g.Expect(a.TenantID).To(Equal(emulator.DefaultTenantID))
		g.Expect(a.BotID).To(Equal(emulator.DefaultBotAppID))
		acts[a.ActivityID] = a
	}
	g.Expect(sum.Activities).To(HaveLen(len(want["ProactiveMessage"])), "one Teams message per ProactiveMessage")
	msg := func(name string) (emulator.StoredActivity, activity) {
		a, ok := acts[objects["ProactiveMessage/"+name].ActivityID]
		g.Expect(ok).To(BeTrue(), "the activity of %s is not in the emulator", name)
		var body activity
		g.Expect(json.Unmarshal(a.Activity, &body)).To(Succeed())
		return a, body
	}

	a, body := msg("welcome-adele")
	g.Expect(a.ConversationType).To(Equal(emulator.ConversationPersonal))
	g.Expect(a.UserID).To(Equal(emulator.DefaultUserAdeleID))
	g.Expect(body.Text).To(Equal("Welcome! This bot tells you when your deployments need attention."))
	g.Expect(a.UpdatedAt).To(BeNil())

	a, body = msg("page-megan")
	g.Expect(a.ConversationID).To(Equal(emulator.DefaultGroupChatID))
	g.Expect(body.Text).To(Equal("<at>Megan Bowen</at>, you are on call for the payments incident."))
	g.Expect(body.Entities).To(ContainElement(And(
		HaveField("Type", "mention"), HaveField("Text", "<at>Megan Bowen</at>"),
		HaveField("Mentioned.Name", "Megan Bowen"))))

	card, body := msg("disk-pressure")
	g.Expect(card.ConversationID).To(Equal(emulator.DefaultAlertsChannelID))
	g.Expect(card.ConversationType).To(Equal(emulator.ConversationChannel))
	g.Expect(body.Attachments).To(HaveLen(1))
	g.Expect(body.Attachments[0].ContentType).To(Equal("application/vnd.microsoft.card.adaptive"))
	g.Expect(body.Attachments[0].Content.Body).NotTo(BeEmpty())
	g.Expect(body.Attachments[0].Content.Body[0].Text).To(Equal("FIRING: NodeDiskPressure"))
	g.Expect(body.Summary).To(Equal("FIRING: NodeDiskPressure on node-7"))

	a, body = msg("disk-pressure-update")
	g.Expect(a.ConversationID).To(Equal(emulator.DefaultAlertsChannelID))
	g.Expect(a.ReplyToID).To(Equal(card.ActivityID), "the reply is in the card's thread")
	g.Expect(a.ThreadID).To(Equal(card.ActivityID))
	g.Expect(body.Text).To(Equal("Mitigation: old images pruned on node-7; watching."))

	a, body = msg("release-notes")
	g.Expect(a.ConversationID).To(Equal(emulator.DefaultGeneralChannelID))
	g.Expect(a.UpdatedAt).NotTo(BeNil(), "release-notes was edited in place")
	g.Expect(body.Text).To(ContainSubstring("**Release 1.4.0** is rolling out to _production_."))
	g.Expect(body.Text).To(ContainSubstring(sum.Edited["marker"]))
	g.Expect(sum.Edited["marker"]).NotTo(BeEmpty())

	a, body = msg("maintenance-reminder")
	g.Expect(a.ConversationID).To(Equal(emulator.DefaultGeneralChannelID))
	g.Expect(body.Text).To(Equal("Reminder: the cluster maintenance window starts in 15 minutes."))
	sendAt, err := time.Parse(time.RFC3339, objects["ProactiveMessage/maintenance-reminder"].SendAt)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.CreatedAt).To(BeTemporally(">=", sendAt), "the scheduled message was not sent before sendAt")
}

// processesMentioning lists the processes whose command line contains s (the demo's directory
// is in every command line it starts: --kubeconfig, --ca-dir, --data-dir, --cert-dir).
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, s) {
			found = append(found, strconv.Itoa(pid)+": "+cmdline)
		}
	}
	return found
}
