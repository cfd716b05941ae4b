package main

import (
	"flag"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// sourcesFlags are the flags of the receiver's sources and routes (docs/sources.md).
type sourcesFlags struct {
	personNamespaces string
}

func (s *sourcesFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&s.personNamespaces, "receiver-person-namespace-selector", "",
		"Label selector of the namespaces whose receiver routes may send to a person named in a label (personLabel); "+
			"empty: none may, and such labels are ignored.")
}

// personSelector is nil (no namespace) for an empty flag.
func (s *sourcesFlags) personSelector() (labels.Selector, error) {
	if strings.TrimSpace(s.personNamespaces) == "" {
		return nil, nil
	}
	sel, err := labels.Parse(s.personNamespaces)
	if err != nil {
		return nil, fmt.Errorf("--receiver-person-namespace-selector: %w", err)
	}
	return sel, nil
}
