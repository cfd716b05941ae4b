package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// objState is one sample's state in the summary.
type objState struct {
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	Ready              string `json:"ready"`
	Reason             string `json:"reason"`
	Message            string `json:"message,omitempty"`
	Phase              string `json:"phase,omitempty"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observedGeneration"`
	ActivityID         string `json:"activityId,omitempty"`
	ConversationID     string `json:"conversationId,omitempty"`
	SendAt             string `json:"sendAt,omitempty"`
	Expected           string `json:"expected"`
	OK                 bool   `json:"ok"`
	Why                string `json:"why,omitempty"`
}

type summary struct {
	OK          bool                      `json:"ok"`
	Problems    []string                  `json:"problems"`
	Namespace   string                    `json:"namespace"`
	Dir         string                    `json:"dir"`
	Kubeconfig  string                    `json:"kubeconfig"`
	EmulatorURL string                    `json:"emulatorURL"`
	PIDs        map[string]int            `json:"pids"`
	Edited      map[string]string         `json:"edited"`
	Objects     []objState                `json:"objects"`
	Activities  []emulator.StoredActivity `json:"activities"`
}

func writeSummary(path string, s *summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func (d *demo) emulatorClient() (*http.Client, error) {
	pem, err := os.ReadFile(d.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", d.caFile)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}, nil
}

func (d *demo) activities(ctx context.Context, hc *http.Client) ([]emulator.StoredActivity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.emuURL+"/_emulator/v1/activities", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /_emulator/v1/activities: %s", resp.Status)
	}
	var body struct {
		Activities []emulator.StoredActivity `json:"activities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	slices.SortStableFunc(body.Activities, func(a, b emulator.StoredActivity) int {
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	return body.Activities, nil
}

func readyOf(conds []metav1.Condition) (status, reason, message string) {
	c := meta.FindStatusCondition(conds, "Ready")
	if c == nil {
		return "", "", ""
	}
	return string(c.Status), c.Reason, c.Message
}

// activityText is the text of an activity, or its Adaptive Card's first TextBlock.
func activityText(raw json.RawMessage) (text string, card bool) {
	var a struct {
		Text        string `json:"text"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Body []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	_ = json.Unmarshal(raw, &a)
	if a.Text != "" {
		return a.Text, false
	}
	if len(a.Attachments) == 0 {
		return "", false
	}
	for _, b := range a.Attachments[0].Content.Body {
		if b.Type == "TextBlock" && b.Text != "" {
			return b.Text, true
		}
	}
	return "(" + a.Attachments[0].ContentType + ")", true
}

// state lists the samples and evaluates each against its expected state.
func (d *demo) state(ctx context.Context, acts []emulator.StoredActivity, edited bool) ([]objState, error) {
	var out []objState
	var tais teamsv1alpha1.TeamsAppInstallationList
	if err := d.c.List(ctx, &tais, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, o := range tais.Items {
		s := objState{Kind: kindInstallation, Name: o.Name, Generation: o.Generation,
			ObservedGeneration: o.Status.ObservedGeneration}
		s.Ready, s.Reason, s.Message = readyOf(o.Status.Conditions)
		out = append(out, s)
	}
	var cts teamsv1alpha1.ConversationTargetList
	if err := d.c.List(ctx, &cts, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, o := range cts.Items {
		s := objState{Kind: kindTarget, Name: o.Name, Generation: o.Generation,
			ObservedGeneration: o.Status.ObservedGeneration, ConversationID: o.Status.ConversationID}
		s.Ready, s.Reason, s.Message = readyOf(o.Status.Conditions)
		out = append(out, s)
	}
	var pms teamsv1alpha1.ProactiveMessageList
	if err := d.c.List(ctx, &pms, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, o := range pms.Items {
		s := objState{Kind: kindMessage, Name: o.Name, Generation: o.Generation,
			ObservedGeneration: o.Status.ObservedGeneration, Phase: string(o.Status.Phase),
			ActivityID: o.Status.ActivityID, ConversationID: o.Status.ConversationID}
		if o.Spec.SendAt != nil {
			s.SendAt = o.Spec.SendAt.UTC().Format(time.RFC3339)
		}
		s.Ready, s.Reason, s.Message = readyOf(o.Status.Conditions)
		out = append(out, s)
	}
	byID := map[string]emulator.StoredActivity{}
	for _, a := range acts {
		byID[a.ActivityID] = a
	}
	for i := range out {
		s := &out[i]
		current := s.ObservedGeneration == s.Generation
		key := s.Kind + "/" + s.Name
		switch np, special := notReadyOnPurpose[key]; {
		case special:
			s.Expected = "Ready=False " + np.reason
			s.Why = np.why
			s.OK = current && s.Ready == "False" && s.Reason == np.reason
		case s.Kind != kindMessage:
			s.Expected = "Ready=True"
			s.OK = current && s.Ready == condTrue
		default:
			s.Expected = "Delivered, in Teams"
			a, inTeams := byID[s.ActivityID]
			s.OK = current && s.Ready == condTrue && s.Phase == string(teamsv1alpha1.PhaseDelivered) &&
				s.ActivityID != "" && inTeams && !a.Deleted
			if s.Name == editedName {
				s.Expected = "Delivered, then edited in place in Teams"
				text, _ := activityText(a.Activity)
				s.OK = s.OK && edited && a.UpdatedAt != nil && strings.Contains(text, editMarker)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b objState) int {
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) - kindOrder(b.Kind)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

const (
	kindInstallation = "TeamsAppInstallation"
	kindTarget       = "ConversationTarget"
	kindMessage      = "ProactiveMessage"
	condTrue         = "True"
	managerName      = "manager"
	emulatorName     = "teams-emulator"
)

func kindOrder(k string) int {
	return map[string]int{kindInstallation: 0, kindTarget: 1, kindMessage: 2}[k]
}

func (d *demo) kubectlGet() {
	cmd := exec.Command("kubectl", "--kubeconfig", d.kubeconfig, "get", "teams", "-n", namespace)
	out, err := cmd.CombinedOutput()
	if err != nil {
		info("kubectl get teams: %v", err)
	}
	for l := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Println("    " + l)
	}
}

// watch refreshes the tables until every sample is in its expected state (or the timeout),
// edits the edited sample once it is delivered, and shows the messages as Teams holds them.
func (d *demo) watch(ctx context.Context) (*summary, error) {
	sum := &summary{Problems: []string{}, Namespace: namespace, Dir: d.o.dir, Kubeconfig: d.kubeconfig,
		EmulatorURL: d.emuURL, PIDs: map[string]int{managerName: d.mgr.Pid(), emulatorName: d.emu.Pid(), "demo": os.Getpid()},
		Edited: map[string]string{"name": editedName, "marker": editMarker}}
	hc, err := d.emulatorClient()
	if err != nil {
		return sum, err
	}
	step("Watching the objects (kubectl get teams -n %s), until every sample is in its expected state", namespace)
	start := time.Now()
	deadline := start.Add(d.o.timeout)
	lastSig, edited := "", false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var objs []objState
	for {
		if d.mgr.Exited() {
			return sum, fmt.Errorf("the manager exited (%v); see %s", d.mgr.Err(), d.mgr.Log)
		}
		acts, err := d.activities(ctx, hc)
		if err != nil {
			return sum, err
		}
		sum.Activities = acts
		if objs, err = d.state(ctx, acts, edited); err != nil {
			return sum, err
		}
		sum.Objects = objs
		var sig strings.Builder
		allOK := len(objs) > 0
		for _, o := range objs {
			fmt.Fprintf(&sig, "%s/%s %s %s %s|", o.Kind, o.Name, o.Ready, o.Reason, o.Phase)
			allOK = allOK && o.OK
		}
		if s := sig.String(); s != lastSig {
			lastSig = s
			fmt.Printf("\n    --- after %s\n", time.Since(start).Round(time.Second))
			d.kubectlGet()
		}
		if !edited && delivered(objs, editedName) {
			edited = true
			if err := d.edit(ctx); err != nil {
				return sum, err
			}
			sum.Edited["patchedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
			continue // show the edit at once
		}
		if allOK {
			break
		}
		if time.Now().After(deadline) {
			for _, o := range objs {
				if !o.OK {
					sum.Problems = append(sum.Problems, fmt.Sprintf("%s/%s: want %s, have Ready=%s %s phase=%s: %s",
						o.Kind, o.Name, o.Expected, o.Ready, o.Reason, o.Phase, o.Message))
				}
			}
			info("timed out after %s: %d object(s) not in their expected state (manager log: %s):",
				d.o.timeout, len(sum.Problems), d.mgr.Log)
			for _, p := range sum.Problems {
				info("  %s", p)
			}
			break
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-tick.C:
		}
	}
	if len(sum.Problems) == 0 {
		step("Every sample reached its expected state in %s", time.Since(start).Round(time.Second))
		for k, v := range notReadyOnPurpose {
			info("%s is not Ready on purpose (%s): %s.", k, v.reason, v.why)
		}
		for k, v := range notes {
			info("Note: %s is %s.", k, v)
		}
	}
	d.showActivities(sum.Activities, objs)
	return sum, nil
}

func delivered(objs []objState, name string) bool {
	for _, o := range objs {
		if o.Kind == kindMessage && o.Name == name {
			return o.Phase == string(teamsv1alpha1.PhaseDelivered) && o.Ready == condTrue
		}
	}
	return false
}

func (d *demo) edit(ctx context.Context) error {
	var pm teamsv1alpha1.ProactiveMessage
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: editedName}, &pm); err != nil {
		return err
	}
	text := strings.TrimRight(pm.Spec.Text, "\n") + "\n\n" + editMarker + "\n"
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"text": text}})
	fmt.Printf("\n    --- %s is Delivered: changing its text (onUpdate: Edit, the default) "+
		"to edit the Teams message in place\n", editedName)
	return runShown(d.o.repo, "kubectl", "--kubeconfig", d.kubeconfig, "-n", namespace, "patch",
		"proactivemessage", editedName, "--type", "merge", "-p", string(patch))
}

// conversationLabels names the seed's conversations for people.
func conversationLabels() (conv map[string]string, users map[string]string) {
	conv, users = map[string]string{}, map[string]string{}
	for _, t := range emulator.DefaultSeed().Tenants {
		for _, u := range t.Users {
			users[u.ID] = u.DisplayName
		}
		for _, tm := range t.Teams {
			conv[tm.GeneralChannelID] = tm.DisplayName + " › General"
			for _, c := range tm.Channels {
				conv[c.ID] = tm.DisplayName + " › " + c.DisplayName
			}
		}
		for _, c := range t.Chats {
			conv[c.ID] = "group chat “" + c.Topic + "”"
		}
	}
	return conv, users
}

func (d *demo) showActivities(acts []emulator.StoredActivity, objs []objState) {
	step("The messages as Teams holds them (GET %s/_emulator/v1/activities)", d.emuURL)
	names := map[string]string{}
	for _, o := range objs {
		if o.ActivityID != "" {
			names[o.ActivityID] = o.Name
		}
	}
	conv, users := conversationLabels()
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "CONVERSATION\tACTIVITY ID\tPROACTIVEMESSAGE\tCONTENT\tCREATED\tUPDATED\tDELETED")
	for _, a := range acts {
		where := conv[a.ConversationID]
		switch {
		case a.ConversationType == emulator.ConversationPersonal:
			where = "1:1 with " + users[a.UserID]
		case where == "":
			where = a.ConversationID
		}
		if a.ReplyToID != "" {
			where += " (reply in thread " + a.ReplyToID + ")"
		}
		text, card := activityText(a.Activity)
		text = strings.Join(strings.Fields(text), " ")
		if len([]rune(text)) > 60 {
			text = string([]rune(text)[:57]) + "..."
		}
		if card {
			text = "[Adaptive Card] " + text
		}
		updated, deleted := "-", "no"
		if a.UpdatedAt != nil {
			updated = a.UpdatedAt.Local().Format("15:04:05") + " (edited)"
		}
		if a.Deleted {
			deleted = "yes"
		}
		name := names[a.ActivityID]
		if name == "" {
			name = "-"
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", where, a.ActivityID, name, text,
			a.CreatedAt.Local().Format("15:04:05"), updated, deleted)
	}
	_ = w.Flush()
	for l := range strings.SplitSeq(strings.TrimRight(buf.String(), "\n"), "\n") {
		fmt.Println("    " + l)
	}
	if len(acts) == 0 {
		info("(no messages yet)")
	}
	for _, a := range acts {
		if a.UpdatedAt != nil {
			text, _ := activityText(a.Activity)
			lines := strings.Split(strings.TrimSpace(text), "\n")
			info("%s (%s) was edited in place at %s; it now ends with: %s", names[a.ActivityID], a.ActivityID,
				a.UpdatedAt.Local().Format("15:04:05"), lines[len(lines)-1])
		}
	}
}
