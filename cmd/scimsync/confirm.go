package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/sync/record"
)

// stdinIsTerminal says whether r is an interactive terminal; tests replace it.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errNotConfirmed ends allow-deletes when the admin did not confirm; nothing was sent.
var errNotConfirmed = errors.New("not confirmed; nothing was disabled or deleted")

// confirmHeld shows what allow-deletes would do, as the deletion-threshold email does, and asks
// before doing it: releasing a mistaken hold can disable a whole tenant's accounts. It returns false
// with no error when nothing is held.
func confirmHeld(cmd *cobra.Command, j *job.Job, yes bool) (bool, error) {
	st, err := job.OpenState(j.Config(), true)
	if err != nil {
		return false, err
	}
	ops, err := st.StagedOps()
	var held []notify.HeldObject
	if err == nil {
		held = record.HeldObjects(st, ops[:min(len(ops), notify.MaxHeld)])
	}
	st.Close()
	if err != nil {
		return false, withCode(exitAborted, fmt.Errorf("read staged operations: %w", err))
	}
	out := cmd.OutOrStdout()
	if len(ops) == 0 {
		fmt.Fprintln(out, "applied 0 staged operation(s), 0 failed: nothing is held")
		return false, nil
	}
	fmt.Fprintf(out, "%d operation(s) held by the deletion threshold:\n", len(ops))
	for i, h := range held {
		fmt.Fprintf(out, "  %2d. %s %s (%s): would be %s\n", i+1, h.Kind, h.Identity, h.SourceID, h.Effect())
	}
	if more := len(ops) - len(held); more > 0 {
		fmt.Fprintf(out, "  ... and %d more (scimsync logs --status Skipped --action StagedDelete lists them all)\n", more)
	}
	if yes {
		return true, nil
	}
	if !stdinIsTerminal(cmd.InOrStdin()) {
		return false, withCode(exitConfig, fmt.Errorf("allow-deletes asks for confirmation and standard input is not a terminal; "+
			"review the list above and run `scimsync allow-deletes --yes --config %s`", job.ShellQuote(j.Config().File)))
	}
	fmt.Fprintf(out, "Apply these %d operation(s) to the target? Type yes to continue: ", len(ops))
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(line)) != "yes" {
		return false, withCode(exitAborted, errNotConfirmed)
	}
	return true, nil
}
