package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestLowestRequeue(t *testing.T) {
	tests := map[string]struct {
		a, b, want time.Duration
	}{
		"both zero":      {},
		"first zero":     {b: time.Second, want: time.Second},
		"second zero":    {a: time.Minute, want: time.Minute},
		"sooner wins":    {a: time.Minute, b: time.Second, want: time.Second},
		"sooner wins, 2": {a: time.Second, b: time.Minute, want: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := lowestRequeue(ctrl.Result{RequeueAfter: tc.a}, ctrl.Result{RequeueAfter: tc.b})
			NewWithT(t).Expect(got.RequeueAfter).To(Equal(tc.want))
		})
	}
}
