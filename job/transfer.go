package job

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/store"
)

// stateDump is the document of `state export`: the job's name, so an import into another job is a
// deliberate act, and its whole state.
type stateDump struct {
	Job string `json:"job"`
	*store.Snapshot
}

// ErrStateNotEmpty is the refusal to overwrite a job's state without --replace.
var ErrStateNotEmpty = errors.New("the job already has state")

// ExportState writes the job's whole state, read in one consistent snapshot, as the JSON document of
// `state export`.
func ExportState(cfg *config.Config, out io.Writer) error {
	st, err := OpenState(cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	snap, err := st.Snapshot()
	if err != nil {
		return abortError(err)
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(stateDump{Job: cfg.Name, Snapshot: snap}); err != nil {
		return abortError(fmt.Errorf("write the export: %w", err))
	}
	if err := w.Flush(); err != nil {
		return abortError(fmt.Errorf("write the export: %w", err))
	}
	return nil
}

// ImportState makes the document of `state export` read from in the job's state, in one transaction.
// A dump of another job is refused unless fromJob names it, and a job that already has state unless
// replace is set (ErrStateNotEmpty). It returns a line saying what was imported.
func ImportState(cfg *config.Config, in io.Reader, fromJob string, replace bool) (string, error) {
	var dump stateDump
	dec := json.NewDecoder(io.LimitReader(in, 4<<30))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&dump); err != nil {
		return "", configError(fmt.Errorf("read the export from standard input: %w", err))
	}
	if dump.Snapshot == nil {
		return "", configError(errors.New("read the export from standard input: no state in it"))
	}
	if dump.Job != cfg.Name && dump.Job != fromJob {
		return "", configError(fmt.Errorf("the export is of job %q, this configuration is job %q; add --from-job %s to import it anyway",
			dump.Job, cfg.Name, dump.Job))
	}
	st, err := OpenState(cfg, false)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if !replace {
		if err := checkEmpty(st); err != nil {
			return "", abortError(fmt.Errorf("%w: %v; add --replace to overwrite it", ErrStateNotEmpty, err))
		}
	}
	if err := st.Restore(dump.Snapshot); err != nil {
		return "", abortError(err)
	}
	return fmt.Sprintf("imported the state of job %s into %s: %d links, %d cycles, %d log entries",
		dump.Job, st.Path(), len(dump.Links), len(dump.Cycles), len(dump.Log)), nil
}

// checkEmpty says what the state already holds, nil when nothing that an import would lose.
func checkEmpty(st store.State) error {
	for _, k := range []store.Kind{store.KindUser, store.KindGroup} {
		n, err := st.CountLinks(k)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d %s links", n, k)
		}
	}
	cycles, err := st.Cycles(1)
	if err != nil {
		return err
	}
	if len(cycles) > 0 {
		return errors.New("a cycle history")
	}
	for _, w := range []string{"users", "groups"} {
		if v, err := st.Watermark(w); err != nil {
			return err
		} else if v != "" {
			return fmt.Errorf("a %s watermark", w)
		}
	}
	return nil
}
