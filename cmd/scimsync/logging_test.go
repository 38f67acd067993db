package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestLoggerNeverSamplesWarnings: 1,000 identical warnings all reach the log, while identical info
// lines are still sampled (zap keeps 100 a second, then 1 in 100).
func TestLoggerNeverSamplesWarnings(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = w
	log, err := newLogger("info", "json")
	os.Stderr = orig
	if err != nil {
		t.Fatal(err)
	}
	counts := make(chan map[string]int)
	go func() {
		c := map[string]int{}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			switch {
			case strings.Contains(sc.Text(), `"level":"warn"`):
				c["warn"]++
			case strings.Contains(sc.Text(), `"level":"info"`):
				c["info"]++
			}
		}
		counts <- c
	}()
	for range 1000 {
		log.Warn("a user failed")
		log.Info("a user was read")
	}
	_ = log.Sync()
	w.Close()
	c := <-counts
	if c["warn"] != 1000 {
		t.Errorf("%d of 1000 warnings logged", c["warn"])
	}
	if c["info"] == 0 || c["info"] >= 1000 {
		t.Errorf("%d of 1000 identical info lines logged; want them sampled", c["info"])
	}
}
