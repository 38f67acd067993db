package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs the root command in-process, as a user would run the binary.
func runCLI(args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func exitCode(err error) int {
	if code, _, ok := codeOf(err); ok {
		return code
	}
	if err != nil {
		return exitConfig
	}
	return exitOK
}

func TestEvalCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErrSub string
		code       int
	}{
		{name: "append", args: []string{"--expr", `Append([userPrincipalName], ".test")`, "--attr", "userPrincipalName=John.Doe@contoso.com"},
			wantOut: "John.Doe@contoso.com.test\n"},
		{name: "absent attribute is null", args: []string{"--expr", `Coalesce([mail],[userPrincipalName])`, "--attr", "userPrincipalName=a@b.c"},
			wantOut: "a@b.c\n"},
		{name: "empty attribute", args: []string{"--expr", `IsNullOrEmpty([department])`, "--attr", "department="},
			wantOut: "True\n"},
		{name: "repeated attr is multi-valued", args: []string{"--expr", `RemoveDuplicates([proxyAddresses])`,
			"--attr", "proxyAddresses=SMTP:a@b.c", "--attr", "proxyAddresses=smtp:x@b.c", "--attr", "proxyAddresses=SMTP:a@b.c"},
			wantOut: "SMTP:a@b.c\nsmtp:x@b.c\n"},
		{name: "count of multi-valued", args: []string{"--expr", `Count([otherMails])`, "--attr", "otherMails=a", "--attr", "otherMails=b"},
			wantOut: "2\n"},
		{name: "ignore flow prints nothing", args: []string{"--expr", `IgnoreFlowIfNullOrEmpty([department])`},
			wantOut: "", wantErrSub: "would not flow"},
		{name: "syntax error", args: []string{"--expr", `Append([a], "x"`}, wantErrSub: "", code: exitConfig},
		{name: "evaluation error", args: []string{"--expr", `CDate([d])`, "--attr", "d=not a date"}, code: exitFailures},
		{name: "unknown function", args: []string{"--expr", `Frobnicate([a])`}, code: exitConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCLI(append([]string{"eval"}, tc.args...)...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
			if tc.code == 0 && out != tc.wantOut {
				t.Errorf("stdout %q, want %q", out, tc.wantOut)
			}
			if tc.wantErrSub != "" && !strings.Contains(errOut, tc.wantErrSub) {
				t.Errorf("stderr %q lacks %q", errOut, tc.wantErrSub)
			}
			if tc.code != 0 && err.Error() == "" {
				t.Error("an error without a message")
			}
		})
	}
}
