// Command teams-preview shows a message as Teams would, before it is sent: it renders
// ProactiveMessage YAML, or an Alertmanager card template (or the built-in card) with an Alertmanager
// or Grafana notification, to one
// self-contained HTML file (the emulator viewer's page, with Microsoft's Adaptive Cards renderer
// and Teams' host config inlined), and checks each message as the manager does before sending
// (the spec's rules, the card rules of internal/cardcheck, the size).
//
//	teams-preview -o preview.html config/samples/message_card.yaml
//	teams-preview -o preview.html --alertmanager-template card.tmpl [--alertmanager-payload alerts.json]
//
// It exits 1 when a message breaks a rule (the page lists the problems too), 2 on bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	out, amTemplate, amPayload, grafanaPayload, namespace string
	files                                                 []string
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("teams-preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "o", "preview.html", "the HTML file to write (- for standard output)")
	fs.StringVar(&o.amTemplate, "alertmanager-template", "",
		"an Alertmanager card template (the card.tmpl of the receiver's ConfigMap) to render instead of YAML files")
	fs.StringVar(&o.amPayload, "alertmanager-payload", "",
		"an Alertmanager webhook notification (JSON) for the template or the built-in card (default: a sample)")
	fs.StringVar(&o.grafanaPayload, "grafana-payload", "",
		"a Grafana webhook notification (JSON, Grafana's own body) for the template or the built-in card")
	fs.StringVar(&o.namespace, "namespace", "default", "the namespace the template sees")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "Usage: teams-preview [-o FILE] MESSAGE.yaml ...\n"+
			"       teams-preview [-o FILE] --alertmanager-template card.tmpl [--alertmanager-payload alerts.json]\n"+
			"       teams-preview [-o FILE] --alertmanager-payload alerts.json   (the built-in card)\n"+
			"       teams-preview [-o FILE] --grafana-payload grafana.json [--alertmanager-template card.tmpl]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.files = fs.Args()
	alertmanager := o.amTemplate != "" || o.amPayload != "" || o.grafanaPayload != ""
	if alertmanager == (len(o.files) > 0) || (o.amPayload != "" && o.grafanaPayload != "") {
		fs.Usage()
		return 2
	}
	var p *preview
	var err error
	if alertmanager {
		p, err = alertmanagerPreview(&o)
	} else {
		p, err = yamlPreview(o.files)
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "teams-preview:", err)
		return 2
	}
	if err := p.write(o.out, stdout); err != nil {
		_, _ = fmt.Fprintln(stderr, "teams-preview:", err)
		return 2
	}
	for _, prob := range p.view.Problems {
		_, _ = fmt.Fprintln(stderr, prob)
	}
	if o.out != "-" {
		_, _ = fmt.Fprintf(stderr, "%d message(s), %d problem(s): %s\n", p.count, len(p.view.Problems), o.out)
	}
	if len(p.view.Problems) > 0 {
		return 1
	}
	return 0
}
