package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// renderCase is one value set, what its rendering must contain, and where it is dry-run.
type renderCase struct {
	values valueSet
	// extraNamespaces exist before the dry-run (the rendering has objects in them).
	extraNamespaces []string
	// check asserts on the rendered objects.
	check func(g Gomega, r rendered)
}

// rendered is one rendering of the chart, with the manager Deployment decoded.
type rendered struct {
	manifest string
	objs     []*unstructured.Unstructured
	deploy   *appsv1.Deployment
	args     []string
	env      map[string]string
}

func (r rendered) kinds() map[string]int {
	n := map[string]int{}
	for _, o := range r.objs {
		n[o.GetKind()]++
	}
	return n
}

func (r rendered) get(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func renderCases() map[string]renderCase {
	return map[string]renderCase{
		"defaults": {
			values: valueSet{release: "teams-operator", namespace: "defaults"},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements(
					"--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--leader-elect", "--cloud=Public"))
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--default-credentials")), "no default credentials by default")
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--max-send-rps")), "the manager's default rate")
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--message-workers")), "the manager's default")
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--authority-host")))
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--alertmanager-")), "the receiver is off by default")
				g.Expect(r.kinds()).To(And(
					HaveKeyWithValue("CustomResourceDefinition", 4),
					HaveKeyWithValue("Deployment", 1),
					HaveKeyWithValue("ServiceAccount", 1),
					HaveKeyWithValue("Role", 1),
					HaveKeyWithValue("RoleBinding", 1),
					HaveKeyWithValue("Service", 1),
					HaveKeyWithValue("Secret", 1), // only the delivery-proof key
					Not(HaveKey("ServiceMonitor")),
					Not(HaveKey("NetworkPolicy")),
				))
				svc := r.get("Service", "teams-operator-metrics")
				g.Expect(svc).NotTo(BeNil())
				g.Expect(svc.Object).To(HaveKeyWithValue("spec", HaveKeyWithValue("ports", ConsistOf(And(
					HaveKeyWithValue("name", "https"), HaveKeyWithValue("port", BeNumerically("==", 8443)),
					HaveKeyWithValue("targetPort", "metrics"))))))
				sa := r.get("ServiceAccount", "teams-operator")
				g.Expect(sa.GetLabels()).NotTo(HaveKey("azure.workload.identity/use"))
				g.Expect(r.deploy.Spec.Template.Labels).NotTo(HaveKey("azure.workload.identity/use"))
				g.Expect(r.env).To(BeEmpty())
			},
		},
		"workload identity": {
			values: valueSet{release: "teams-operator", namespace: "wi", files: []string{"values-workload-identity.yaml"}},
			check: func(g Gomega, r rendered) {
				sa := r.get("ServiceAccount", "teams-operator")
				g.Expect(sa).NotTo(BeNil())
				g.Expect(sa.GetLabels()).To(HaveKeyWithValue("azure.workload.identity/use", "true"))
				g.Expect(sa.GetAnnotations()).To(And(
					HaveKeyWithValue("azure.workload.identity/client-id", "f41b1632-b10d-445c-a564-1c769fa12d39"),
					HaveKeyWithValue("azure.workload.identity/tenant-id", "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1b")))
				// The webhook mutates pods with this label.
				g.Expect(r.deploy.Spec.Template.Labels).To(HaveKeyWithValue("azure.workload.identity/use", "true"))
				g.Expect(r.deploy.Spec.Template.Spec.ServiceAccountName).To(Equal("teams-operator"))
				g.Expect(r.args).To(ContainElement("--default-credentials=wi/teams-credentials"))
				g.Expect(r.get("Secret", "teams-credentials")).To(BeNil(), "the Secret is referenced, not created")
				g.Expect(r.kinds()).To(HaveKeyWithValue("Secret", 1), "only the delivery-proof key")
				g.Expect(r.get("Secret", "teams-operator-delivery-proof")).NotTo(BeNil())
				g.Expect(r.args).To(ContainElement("--annotation-key-file=/etc/teams-operator/delivery-proof/key"))
				g.Expect(r.env).NotTo(HaveKey("AZURE_FEDERATED_TOKEN_FILE"), "the webhook sets it")
			},
		},
		"workload identity without the webhook": {
			values: valueSet{release: "teams-operator", namespace: "wi-projected",
				files: []string{"values-workload-identity-projected.yaml"}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.deploy.Spec.Template.Labels).NotTo(HaveKey("azure.workload.identity/use"))
				g.Expect(r.env).To(HaveKeyWithValue("AZURE_FEDERATED_TOKEN_FILE",
					"/var/run/secrets/azure/tokens/azure-identity-token"))
				spec := r.deploy.Spec.Template.Spec
				g.Expect(spec.Volumes).To(ContainElement(HaveField("Projected.Sources", ConsistOf(
					HaveField("ServiceAccountToken", And(
						HaveField("Audience", "api://AzureADTokenExchange"),
						HaveField("Path", "azure-identity-token"),
						HaveField("ExpirationSeconds", HaveValue(BeNumerically("==", 3600)))))))))
				g.Expect(spec.Containers[0].VolumeMounts).To(ContainElement(And(
					HaveField("MountPath", "/var/run/secrets/azure/tokens"), HaveField("ReadOnly", true))))
				g.Expect(r.args).To(ContainElement("--default-credentials=platform/teams-credentials"))
			},
		},
		"sovereign cloud with overrides": {
			values: valueSet{release: "teams", namespace: "sovereign", files: []string{"values-sovereign.yaml"}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements(
					"--cloud=USGovGCCHigh",
					"--authority-host=https://login.microsoftonline.us/",
					"--graph-endpoint=https://graph.microsoft.us",
					"--bot-service-url=https://smba.infra.gov.teams.microsoft.us/teams/",
					"--max-send-rps=20",
					"--message-workers=16",
					"--default-credentials=sovereign/teams-teams-operator-credentials",
					"--zap-log-level=debug", "--zap-encoder=console",
				))
				secret := r.get("Secret", "teams-teams-operator-credentials")
				g.Expect(secret).NotTo(BeNil(), "defaultCredentials.create renders the Secret")
				g.Expect(secret.Object["stringData"]).To(Equal(map[string]any{
					"tenantId":     "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1b",
					"clientId":     "f41b1632-b10d-445c-a564-1c769fa12d39",
					"clientSecret": "not-a-real-secret",
				}))
				// The custom CA is added to the system roots, not substituted for them.
				g.Expect(r.env).To(Equal(map[string]string{"SSL_CERT_DIR": "/etc/teams-operator/trusted-ca"}))
				g.Expect(r.deploy.Spec.Template.Spec.Volumes).To(ContainElement(
					HaveField("ConfigMap.LocalObjectReference.Name", "corporate-ca")))
			},
		},
		"metrics off, one replica without leader election": {
			values: valueSet{release: "teams-operator", namespace: "minimal", set: []string{
				"metrics.enabled=false", "leaderElection.enabled=false", "networkPolicy.enabled=true",
				"rbac.aggregateToDefaultRoles=false",
			}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElement("--metrics-bind-address=0"))
				g.Expect(r.args).NotTo(ContainElement("--leader-elect"))
				g.Expect(r.kinds()).To(And(Not(HaveKey("Service")), Not(HaveKey("Role")), Not(HaveKey("RoleBinding"))))
				g.Expect(r.get("ClusterRole", "teams-operator-metrics-auth")).To(BeNil())
				g.Expect(r.get("ClusterRole", "teams-operator-view")).To(BeNil())
				np := r.get("NetworkPolicy", "teams-operator")
				g.Expect(np).NotTo(BeNil())
				g.Expect(np.Object["spec"]).To(HaveKeyWithValue("ingress", BeEmpty()))
			},
		},
		"alertmanager receiver over TLS": {
			values: valueSet{release: "teams-operator", namespace: "receiver",
				files: []string{"values-alertmanager.yaml"}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements(
					"--alertmanager-bind-address=:9443", "--alertmanager-token-secret=teams-webhook",
					"--alertmanager-resolved-ttl=12h", "--alertmanager-cert-path=/etc/teams-operator/alertmanager-tls",
					"--receiver-person-namespace-selector=teams.operator.dev/people in (allowed, on-call),env!=dev"))
				sel, err := labels.Parse("teams.operator.dev/people in (allowed, on-call),env!=dev")
				g.Expect(err).NotTo(HaveOccurred(), "the manager parses the flag with labels.Parse")
				g.Expect(sel.Matches(labels.Set{"teams.operator.dev/people": "on-call"})).To(BeTrue())
				c := r.deploy.Spec.Template.Spec.Containers[0]
				g.Expect(c.Ports).To(ContainElement(And(HaveField("Name", "alertmanager"), HaveField("ContainerPort", int32(9443)))))
				g.Expect(c.VolumeMounts).To(ContainElement(And(
					HaveField("MountPath", "/etc/teams-operator/alertmanager-tls"), HaveField("ReadOnly", true))))
				g.Expect(r.deploy.Spec.Template.Spec.Volumes).To(ContainElement(
					HaveField("Secret.SecretName", "alertmanager-receiver-tls")))
				svc := r.get("Service", "teams-operator-alertmanager")
				g.Expect(svc).NotTo(BeNil())
				g.Expect(svc.Object["spec"]).To(And(
					HaveKeyWithValue("ports", ConsistOf(And(HaveKeyWithValue("name", "https"),
						HaveKeyWithValue("port", BeNumerically("==", 9443)), HaveKeyWithValue("targetPort", "alertmanager")))),
					// Every replica answers: the selector is not narrowed to the leader.
					HaveKeyWithValue("selector", Equal(map[string]any{
						"app.kubernetes.io/name": "teams-operator", "app.kubernetes.io/instance": "teams-operator"}))))
				np := r.get("NetworkPolicy", "teams-operator")
				g.Expect(np).NotTo(BeNil())
				g.Expect(np.Object["spec"]).To(HaveKeyWithValue("ingress", ConsistOf(
					HaveKeyWithValue("ports", ConsistOf(HaveKeyWithValue("port", "metrics"))),
					And(HaveKeyWithValue("ports", ConsistOf(HaveKeyWithValue("port", "alertmanager"))),
						HaveKeyWithValue("from", ConsistOf(HaveKeyWithValue("namespaceSelector",
							HaveKeyWithValue("matchLabels", HaveKeyWithValue("kubernetes.io/metadata.name", "monitoring")))))),
				)))
			},
		},
		"alertmanager receiver, plain HTTP, no metrics": {
			values: valueSet{release: "teams-operator", namespace: "receiver-http", set: []string{
				"alertmanager.enabled=true", "metrics.enabled=false", "networkPolicy.enabled=true",
			}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements("--alertmanager-bind-address=:9443",
					"--alertmanager-token-secret=alertmanager-webhook", "--alertmanager-resolved-ttl=24h"))
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--alertmanager-cert-path")))
				g.Expect(r.args).NotTo(ContainElement(HavePrefix("--receiver-person-namespace-selector")),
					"no namespace may address a person by label unless the value says which")
				svc := r.get("Service", "teams-operator-alertmanager")
				g.Expect(svc).NotTo(BeNil())
				g.Expect(svc.Object["spec"]).To(HaveKeyWithValue("ports", ConsistOf(HaveKeyWithValue("name", "http"))))
				np := r.get("NetworkPolicy", "teams-operator")
				g.Expect(np.Object["spec"]).To(HaveKeyWithValue("ingress", ConsistOf(
					HaveKeyWithValue("ports", ConsistOf(HaveKeyWithValue("port", "alertmanager"))))))
			},
		},
		"tenant isolation: shared credentials and Secrets narrowed": {
			values: valueSet{release: "teams-operator", namespace: "isolation",
				files: []string{"values-tenant-isolation.yaml"}},
			extraNamespaces: []string{"team-a", "team-b"},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements(
					"--shared-credentials-namespace-selector=kubernetes.io/metadata.name in (team-a)",
					"--secret-namespaces=isolation,team-a,team-b",
					"--secret-label-selector=teams.operator.dev/credentials=true"))
				// No Secret in the ClusterRole: a Role in each namespace instead.
				manager := r.get("ClusterRole", "teams-operator-manager")
				g.Expect(manager).NotTo(BeNil())
				g.Expect(fmt.Sprint(manager.Object["rules"])).NotTo(ContainSubstring("secrets"))
				// Namespaces share a generated rule with Secrets; the manager still reads their labels
				// (the shared-credentials selector).
				g.Expect(manager.Object["rules"]).To(ContainElement(And(
					HaveKeyWithValue("resources", ContainElement("namespaces")),
					HaveKeyWithValue("verbs", ContainElements("get", "list", "watch")))))
				for _, ns := range []string{"isolation", "team-a", "team-b"} {
					var role, binding *unstructured.Unstructured
					for _, o := range r.objs {
						if o.GetNamespace() == ns && o.GetName() == "teams-operator-secrets" {
							switch o.GetKind() {
							case "Role":
								role = o
							case "RoleBinding":
								binding = o
							}
						}
					}
					g.Expect(role).NotTo(BeNil(), "a Secrets Role in %s", ns)
					g.Expect(role.Object["rules"]).To(ConsistOf(And(
						HaveKeyWithValue("resources", ConsistOf("secrets")),
						HaveKeyWithValue("verbs", ConsistOf("get", "list", "watch")))))
					g.Expect(binding).NotTo(BeNil(), "a Secrets RoleBinding in %s", ns)
				}
			},
		},
		"metrics certificate from a Secret": {
			values: valueSet{release: "teams-operator", namespace: "metrics-tls",
				files: []string{"values-metrics-tls.yaml"}},
			check: func(g Gomega, r rendered) {
				g.Expect(r.args).To(ContainElements("--metrics-bind-address=:8443",
					"--metrics-cert-path=/etc/teams-operator/metrics-tls"))
				g.Expect(r.deploy.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(And(
					HaveField("MountPath", "/etc/teams-operator/metrics-tls"), HaveField("ReadOnly", true))))
				g.Expect(r.deploy.Spec.Template.Spec.Volumes).To(ContainElement(
					HaveField("Secret.SecretName", "teams-operator-metrics-tls")))
				sm := r.get("ServiceMonitor", "teams-operator")
				g.Expect(sm).NotTo(BeNil())
				g.Expect(sm.Object["spec"]).To(HaveKeyWithValue("endpoints", ConsistOf(HaveKeyWithValue("tlsConfig", Equal(map[string]any{
					"ca":         map[string]any{"secret": map[string]any{"name": "teams-operator-metrics-tls", "key": "ca.crt"}},
					"serverName": "teams-operator-metrics.metrics-tls.svc",
				})))))
			},
		},
		"observability and network policy": {
			values: valueSet{release: "teams-operator", namespace: "observability",
				files: []string{"values-observability.yaml"}},
			check: func(g Gomega, r rendered) {
				g.Expect(*r.deploy.Spec.Replicas).To(BeEquivalentTo(2))
				g.Expect(r.args).To(ContainElement("--leader-elect"))
				sm := r.get("ServiceMonitor", "teams-operator")
				g.Expect(sm).NotTo(BeNil())
				g.Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
				// The scrape verifies the certificate unless someone chose otherwise (issue 14).
				g.Expect(sm.Object["spec"]).To(HaveKeyWithValue("endpoints", ConsistOf(HaveKeyWithValue("tlsConfig", Equal(map[string]any{
					"serverName": "teams-operator-metrics.observability.svc",
				})))))
				np := r.get("NetworkPolicy", "teams-operator")
				g.Expect(np).NotTo(BeNil())
				g.Expect(np.Object["spec"]).To(And(
					HaveKeyWithValue("policyTypes", ConsistOf("Ingress", "Egress")),
					HaveKeyWithValue("ingress", ConsistOf(HaveKeyWithValue("ports",
						ConsistOf(HaveKeyWithValue("port", "metrics"))))),
				))
				// Both selectors must match: the Service's pods and the policy's pods are the manager.
				g.Expect(r.deploy.Spec.Template.Labels).To(HaveKeyWithValue("team", "platform"))
			},
		},
	}
}

// TestRenderAndDryRun renders the chart for each value set, checks what it contains, and applies it with
// server-side dry-run into a namespace that enforces Pod Security "restricted". The Deployment is only warned
// about there; a Pod built from its template is what Pod Security enforces, so that is dry-run too.
func TestRenderAndDryRun(t *testing.T) {
	cases := renderCases()
	cluster := startControlPlane(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			manifest := render(t, tc.values)
			r := decode(t, manifest)
			checkSecure(g, r)
			tc.check(g, r)

			cluster.namespace(t, tc.values.namespace, true)
			manifests := map[string]string{tc.values.namespace: manifest}
			if len(tc.extraNamespaces) > 0 {
				manifests = byNamespace(t, r.objs, tc.values.namespace)
			}
			accepted, outs := 0, ""
			for ns, m := range manifests {
				if ns != tc.values.namespace {
					cluster.namespace(t, ns, false)
				}
				out := cluster.dryRun(t, ns, m)
				accepted += strings.Count(out, "(server dry run)")
				outs += out
			}
			g.Expect(accepted).To(Equal(len(r.objs)), "every object is accepted:\n%s", outs)
			cluster.dryRun(t, tc.values.namespace, podFromTemplate(t, r.deploy))
		})
	}
}

// TestDryRunUnrestrictedNamespace applies the default rendering into a namespace without Pod Security labels.
func TestDryRunUnrestrictedNamespace(t *testing.T) {
	cluster := startControlPlane(t)
	v := valueSet{release: "teams-operator", namespace: "teams-operator-system"}
	manifest := render(t, v)
	cluster.namespace(t, v.namespace, false)
	cluster.dryRun(t, v.namespace, manifest)
}

// TestRestrictedRefusesInsecurePod proves the Pod Security check above has teeth: the same pod without the
// chart's security context is refused in the restricted namespace.
func TestRestrictedRefusesInsecurePod(t *testing.T) {
	g := NewWithT(t)
	cluster := startControlPlane(t)
	v := valueSet{release: "teams-operator", namespace: "insecure", set: []string{
		"securityContext=null", "podSecurityContext=null",
	}}
	manifest := render(t, v)
	r := decode(t, manifest)
	cluster.namespace(t, v.namespace, true)
	// The Deployment is accepted, with a warning (which dryRun would fail on).
	_, stderr, err := cluster.kubectl(t, manifest,
		dryRunArgs(v.namespace)...)
	g.Expect(err).NotTo(HaveOccurred(), stderr)
	g.Expect(stderr).To(ContainSubstring(`Warning: would violate PodSecurity "restricted:latest"`))
	// Its pod is refused.
	_, stderr, err = cluster.kubectl(t, podFromTemplate(t, r.deploy),
		dryRunArgs(v.namespace)...)
	g.Expect(err).To(HaveOccurred())
	g.Expect(stderr).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))
}

// checkSecure asserts what every rendering must have: the restricted security context, probes and resources.
func checkSecure(g Gomega, r rendered) {
	spec := r.deploy.Spec.Template.Spec
	g.Expect(spec.SecurityContext).NotTo(BeNil())
	g.Expect(spec.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(spec.SecurityContext.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	g.Expect(spec.Containers).To(HaveLen(1))
	c := spec.Containers[0]
	g.Expect(c.Command).To(Equal([]string{"/manager"}))
	g.Expect(c.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.Capabilities).To(HaveValue(HaveField("Drop", ConsistOf(corev1.Capability("ALL")))))
	g.Expect(c.SecurityContext.Capabilities.Add).To(BeEmpty())
	g.Expect(c.SecurityContext.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	g.Expect(c.LivenessProbe).To(HaveValue(HaveField("HTTPGet.Path", "/healthz")))
	g.Expect(c.ReadinessProbe).To(HaveValue(HaveField("HTTPGet.Path", "/readyz")))
	g.Expect(c.Ports).To(ContainElement(And(HaveField("Name", "health"), HaveField("ContainerPort", int32(8081)))))
	g.Expect(c.Resources.Requests).NotTo(BeEmpty())
	g.Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
	// Every flag passed is one the manager defines.
	known, err := managerFlags()
	g.Expect(err).NotTo(HaveOccurred())
	for _, a := range r.args {
		flag, _, _ := strings.Cut(a, "=")
		g.Expect(known).To(ContainElement(flag), "the manager has no flag %s", flag)
	}
}

// managerFlags are the flags the manager's package (cmd/*.go: main.go and the *_flags.go beside it) defines, read
// from its source, plus zap's (BindFlags), so that the chart never passes a flag the manager lacks.
func managerFlags() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "*.go"))
	if err != nil {
		return nil, err
	}
	flags := []string{"--zap-devel", "--zap-encoder", "--zap-log-level", "--zap-stacktrace-level", "--zap-time-encoding"}
	def := regexp.MustCompile(`\b(?:flag|fs)\.\w+Var\([^,]+,\s*"([a-z0-9-]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f) // #nosec G304 -- the repository's own sources
		if err != nil {
			return nil, err
		}
		for _, m := range def.FindAllStringSubmatch(string(src), -1) {
			flags = append(flags, "--"+m[1])
		}
	}
	return flags, nil
}

func decode(t *testing.T, manifest string) rendered {
	t.Helper()
	r := rendered{manifest: manifest, objs: objects(t, manifest), env: map[string]string{}}
	d := find(t, r.objs, "Deployment", "")
	r.deploy = &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, r.deploy); err != nil {
		t.Fatalf("decoding the Deployment: %v", err)
	}
	if n := len(r.deploy.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, got %d", n)
	}
	c := r.deploy.Spec.Template.Spec.Containers[0]
	r.args = c.Args
	for _, e := range c.Env {
		r.env[e.Name] = e.Value
	}
	return r
}

// podFromTemplate is a Pod with the Deployment's pod template, as the ReplicaSet controller would create it.
func podFromTemplate(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-pod", d.Name), Labels: d.Spec.Template.Labels,
			Annotations: d.Spec.Template.Annotations,
		},
		Spec: d.Spec.Template.Spec,
	}
	out, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// byNamespace splits the rendered objects by namespace (cluster-scoped ones go with release), since kubectl applies
// one namespace at a time.
func byNamespace(t *testing.T, objs []*unstructured.Unstructured, release string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" {
			ns = release
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out[ns] += "---\n" + string(b)
	}
	return out
}
