// Package kubernetes holds the example manifests; its test checks them
// offline (no cluster, no kubectl): they parse, they agree with each other,
// and the ConfigMap's config.yaml loads in leadsync with the Secret's values.
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
)

// object is the part of a manifest the tests read; unknown fields are
// ignored, so only what is checked needs a field here.
type object struct {
	APIVersion string                `yaml:"apiVersion"`
	Kind       string                `yaml:"kind"`
	Metadata   struct{ Name string } `yaml:"metadata"`
	Data       map[string]string     `yaml:"data"`
	StringData map[string]string     `yaml:"stringData"`
	Resources  []string              `yaml:"resources"` // Kustomization
	Spec       struct {
		Replicas    *int                  `yaml:"replicas"`
		AccessModes []string              `yaml:"accessModes"`
		Strategy    struct{ Type string } `yaml:"strategy"`
		Template    struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	file string
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string
		ConfigMap *struct{ Name string } `yaml:"configMap"`
		PVC       *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string
	Image string
	Args  []string
	Env   []struct {
		Name      string
		Value     *string
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	Resources       struct{ Requests, Limits map[string]string }
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port yaml.Node // a number or a port name
	} `yaml:"httpGet"`
}

// load decodes every document of every *.yaml file in this folder.
func load(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 1; ; i++ {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if o.Kind == "" && o.APIVersion == "" {
				continue // an empty document between "---" lines
			}
			o.file = f
			objs = append(objs, o)
		}
	}
	return objs
}

// one returns the only object of kind (and name, when not ""), failing otherwise.
func one(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

func leadsyncContainer(t *testing.T, objs []object) (podSpec, container) {
	t.Helper()
	pod := one(t, objs, "Deployment", "").Spec.Template.Spec
	for _, c := range pod.Containers {
		if c.Name == "leadsync" {
			return pod, c
		}
	}
	t.Fatal("the Deployment has no container named leadsync")
	return pod, container{}
}

func TestEveryManifestParsesAndIsInTheKustomization(t *testing.T) {
	objs := load(t)
	files := map[string]bool{}
	for _, o := range objs {
		if o.APIVersion == "" || o.Kind == "" {
			t.Errorf("%s: a document without apiVersion or kind", o.file)
		}
		if o.Kind != "Kustomization" && o.Metadata.Name == "" {
			t.Errorf("%s: %s without metadata.name", o.file, o.Kind)
		}
		if o.Kind != "Kustomization" {
			files[o.file] = true
		}
	}
	var want []string
	for f := range files {
		want = append(want, f)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(one(t, objs, "Kustomization", "").Resources))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("kustomization.yaml resources vs the manifests here (-files +listed):\n%s", d)
	}
}

func TestProbesHitTheHealthEndpointsOnTheListenPort(t *testing.T) {
	_, c := leadsyncContainer(t, load(t))
	env := plainEnv(c)
	host, port, err := net.SplitHostPort(env["LEADSYNC_LISTEN"])
	if err != nil || host != "0.0.0.0" {
		t.Fatalf("LEADSYNC_LISTEN = %q, want 0.0.0.0:PORT (other containers and the kubelet must reach it)", env["LEADSYNC_LISTEN"])
	}
	for _, p := range []struct {
		name, path string
		probe      *probe
	}{
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path = %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolvePort(c, p.probe.HTTPGet.Port.Value); got != port {
			t.Errorf("%s port %q is %q, want the listen port %s", p.name, p.probe.HTTPGet.Port.Value, got, port)
		}
	}
}

// resolvePort turns a probe's port (a number or a containerPort name) into a number.
func resolvePort(c container, p string) string {
	for _, cp := range c.Ports {
		if cp.Name == p {
			return strconv.Itoa(cp.ContainerPort)
		}
	}
	return p
}

func TestEveryContainerIsLockedDown(t *testing.T) {
	objs := load(t)
	pod := one(t, objs, "Deployment", "").Spec.Template.Spec
	podNonRoot := pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	if len(pod.Containers) < 2 {
		t.Errorf("want leadsync beside an app container, found %d containers", len(pod.Containers))
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", c.Name)
			continue
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			t.Errorf("%s: runAsNonRoot is not set (pod or container)", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
		}
		if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("%s: capabilities.drop = %v, want [ALL]", c.Name, sc.Capabilities.Drop)
		}
		if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: memory request or limit missing", c.Name)
		}
	}
}

func TestLeadsyncResourcesAndStateVolume(t *testing.T) {
	objs := load(t)
	d := one(t, objs, "Deployment", "")
	pod, c := leadsyncContainer(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("replicas %v, strategy %q: want 1 and Recreate (one process per state file)", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	res := map[string]string{
		"requests.memory": c.Resources.Requests["memory"], "requests.cpu": c.Resources.Requests["cpu"],
		"limits.memory": c.Resources.Limits["memory"],
	}
	want := map[string]string{"requests.memory": "32Mi", "requests.cpu": "20m", "limits.memory": "128Mi"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("leadsync resources (-want +got):\n%s", diff)
	}

	mounts := map[string]string{} // mount path -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	statePath := plainEnv(c)["LEADSYNC_STATE_PATH"]
	if filepath.Dir(statePath) != "/data" || mounts["/data"] == "" {
		t.Fatalf("LEADSYNC_STATE_PATH %q with mounts %v: want the state file on the /data volume", statePath, mounts)
	}
	claim, cm := "", ""
	for _, v := range pod.Volumes {
		if v.Name == mounts["/data"] && v.PVC != nil {
			claim = v.PVC.ClaimName
		}
		if v.Name == mounts[filepath.Dir(configPath(t, c))] && v.ConfigMap != nil {
			cm = v.ConfigMap.Name
		}
	}
	pvc := one(t, objs, "PersistentVolumeClaim", claim)
	if !slices.Equal(pvc.Spec.AccessModes, []string{"ReadWriteOnce"}) {
		t.Errorf("PVC %s accessModes %v, want [ReadWriteOnce]", claim, pvc.Spec.AccessModes)
	}
	if _, ok := one(t, objs, "ConfigMap", cm).Data[filepath.Base(configPath(t, c))]; !ok {
		t.Errorf("ConfigMap %s has no %s", cm, filepath.Base(configPath(t, c)))
	}
}

// configPath is the --config argument of the leadsync container.
func configPath(t *testing.T, c container) string {
	t.Helper()
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("leadsync args %v: no --config FILE", c.Args)
	}
	return c.Args[i+1]
}

// plainEnv is the container's env entries that have a literal value.
func plainEnv(c container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.Value != nil {
			env[e.Name] = *e.Value
		}
	}
	return env
}

func TestConfigMapLoadsWithTheSecretsValues(t *testing.T) {
	objs := load(t)
	pod, c := leadsyncContainer(t, objs)
	env := plainEnv(c)
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		v, ok := one(t, objs, "Secret", ref.Name).StringData[ref.Key]
		if !ok {
			t.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
		}
		env[e.Name] = v
	}
	var cmName string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	raw := one(t, objs, "ConfigMap", cmName).Data[filepath.Base(configPath(t, c))]
	cfg, err := config.Parse([]byte(raw), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load with the container's environment: %v", err)
	}
	if *cfg.Listen != "0.0.0.0:9464" || cfg.State.Path != "/data/leadsync.db" {
		t.Errorf("listen %q, state %q: want the environment's 0.0.0.0:9464 and /data/leadsync.db", *cfg.Listen, cfg.State.Path)
	}
	grace := pod.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= time.Duration(cfg.ShutdownTimeout) {
		t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown_timeout %v", grace, time.Duration(cfg.ShutdownTimeout))
	}
}
