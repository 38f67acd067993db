package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Daemon is a daemon configuration: the file `scimsync run --jobs FILE` reads when one process runs
// several jobs listed explicitly rather than every file of one folder. Each job keeps its own job
// file; this one only says which, and what the process shares (the cycle slots, the claim interval,
// the metrics listener).
//
//	jobs:
//	  - jobs.d/              # a folder: every *.yaml and *.yml in it
//	  - /etc/scimsync/gong.yaml
//	maxConcurrent: 4
//	claimInterval: 10s
//	metrics: {listen: "127.0.0.1:9464"}
type Daemon struct {
	// File is the path the configuration was loaded from.
	File string
	// Jobs are job files or folders of job files, relative paths resolved against File's folder.
	Jobs []string
	// MaxConcurrent is how many cycles run at once; 0 when unset.
	MaxConcurrent int
	// ClaimInterval is how often the replicas' coordinator is asked which jobs are this process's; 0 when unset.
	ClaimInterval time.Duration
	// MetricsListen is where /metrics, /healthz and /status listen; "" when off.
	MetricsListen string
}

// LoadDaemon reads a daemon configuration; the error is Errors, each naming file:line:key.
func LoadDaemon(path string) (*Daemon, error) {
	data, err := readLimited(path, maxConfigSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the daemon configuration: %v", err)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Errors{{File: path, Msg: "a daemon configuration is a mapping with a jobs: list"}}
	}
	d := &Daemon{File: path}
	var errs Errors
	bad := func(n *yaml.Node, key, msg string) {
		errs = append(errs, &Error{File: path, Line: n.Line, Column: n.Column, Key: key, Msg: msg})
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "jobs":
			d.Jobs = daemonJobs(path, v, bad)
		case "maxConcurrent":
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
				bad(v, "maxConcurrent", "must be a whole number of at least 1")
			}
			d.MaxConcurrent = n
		case "claimInterval":
			t, err := time.ParseDuration(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || t < time.Second {
				bad(v, "claimInterval", "must be a duration of at least 1s, such as 10s")
			}
			d.ClaimInterval = t
		case "metrics":
			if v.Kind != yaml.MappingNode || len(v.Content) != 2 || v.Content[0].Value != "listen" || v.Content[1].Value == "" {
				bad(v, "metrics", `must be {listen: "HOST:PORT"}`)
				continue
			}
			d.MetricsListen = v.Content[1].Value
		default:
			bad(k, k.Value, "unknown key; a daemon configuration has jobs, maxConcurrent, claimInterval and metrics (the rest belongs in the job files)")
		}
	}
	if len(d.Jobs) == 0 && len(errs) == 0 {
		bad(root, "jobs", "lists no job file or folder")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// daemonJobs reads the jobs: list, resolving relative paths against the daemon file's folder.
func daemonJobs(path string, v *yaml.Node, bad func(*yaml.Node, string, string)) []string {
	if v.Kind != yaml.SequenceNode {
		bad(v, "jobs", "must be a list of job files or folders")
		return nil
	}
	var out []string
	for i, n := range v.Content {
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			bad(n, fmt.Sprintf("jobs[%d]", i), "must be the path of a job file or folder")
			continue
		}
		p := n.Value
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		out = append(out, p)
	}
	return out
}
