package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKubernetesManifest keeps deploy/kubernetes/scimsync-replicas.yaml consistent: several replicas,
// `run --jobs` pointed at where the jobs ConfigMap is mounted, every job file a valid configuration
// whose secrets and database password are all set from the Secret, with its state in PostgreSQL (a
// state file would not be shared by the replicas).
func TestKubernetesManifest(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "deploy", "kubernetes", "scimsync-replicas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type container struct {
		Args []string
		Env  []struct {
			Name      string
			ValueFrom struct {
				SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		}
		VolumeMounts []struct {
			Name      string
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	type object struct {
		Kind string
		Data map[string]string
		Spec struct {
			Replicas int
			Template struct {
				Spec struct {
					Containers []container
					Volumes    []struct {
						Name      string
						ConfigMap struct{ Name string } `yaml:"configMap"`
					}
				}
			}
		}
		Metadata struct{ Name string }
	}
	configMaps := map[string]map[string]string{}
	var deployments []object
	dec := yaml.NewDecoder(f)
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch o.Kind {
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		case "Deployment":
			deployments = append(deployments, o)
		}
	}
	if len(deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(deployments))
	}
	d := deployments[0]
	if d.Spec.Replicas < 2 {
		t.Errorf("replicas: %d", d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	i := slices.Index(c.Args, "--jobs")
	if len(c.Args) < 3 || c.Args[0] != "run" || i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %v: want run --jobs DIR", c.Args)
	}
	volume := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == c.Args[i+1] {
			volume = m.Name
		}
	}
	var jobs map[string]string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume {
			jobs = configMaps[v.ConfigMap.Name]
		}
	}
	if len(jobs) == 0 {
		t.Fatalf("nothing from a ConfigMap of this file is mounted at --jobs %s", c.Args[i+1])
	}
	for _, e := range c.Env {
		if e.ValueFrom.SecretKeyRef.Name == "" {
			t.Errorf("env %s is not from a Secret", e.Name)
		}
		t.Setenv(e.Name, "from-the-secret")
	}
	dir := t.TempDir()
	for name, text := range jobs {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p)
		if err != nil {
			t.Errorf("job %s: %v", name, err)
			continue
		}
		if cfg.StateDatabase == nil || !strings.HasPrefix(cfg.StateDatabase.URL, "postgres://") {
			t.Errorf("job %s keeps its state in %s, not PostgreSQL", name, cfg.StatePath)
		}
	}
}
