package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/mapping"
)

// newEvalCmd is the command-line twin of the portal's expression builder: admins try an expression on
// sample values before they put it in a mapping.
func newEvalCmd() *cobra.Command {
	var expr string
	var attrs []string
	cmd := &cobra.Command{
		Use:   "eval --expr EXPRESSION [--attr name=value ...]",
		Short: "Evaluate an attribute-mapping expression, like the Entra expression builder",
		Long: `Evaluate an attribute-mapping expression with sample attribute values.

An attribute not given is null; --attr name= makes it empty; repeating --attr for one name makes it
multi-valued. The result is printed on stdout (a multi-valued result one value a line). When the
attribute would not flow (IgnoreFlowIfNullOrEmpty, or a null result) nothing is printed and a note
goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expr == "" {
				return withCode(exitConfig, fmt.Errorf("--expr is required"))
			}
			am := mapping.AttributeMap{}
			multi := map[string][]string{}
			var order []string
			for _, a := range attrs {
				name, value, ok := strings.Cut(a, "=")
				if !ok || name == "" {
					return withCode(exitConfig, fmt.Errorf("--attr %q: want name=value", a))
				}
				if _, seen := multi[name]; !seen {
					order = append(order, name)
				}
				multi[name] = append(multi[name], value)
			}
			for _, name := range order {
				if vs := multi[name]; len(vs) > 1 {
					am[name] = mapping.Multi(vs)
				} else {
					am[name] = mapping.Str(vs[0])
				}
			}
			e, err := mapping.Compile(expr, mapping.CompileOptions{})
			if err != nil {
				return withCode(exitConfig, fmt.Errorf("compile: %w", err))
			}
			r, err := e.Eval(am, nil)
			if err != nil {
				return withCode(exitFailures, fmt.Errorf("evaluate: %w", err))
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			switch {
			case !r.Flow:
				fmt.Fprintln(errw, "note: the attribute would not flow (IgnoreFlowIfNullOrEmpty)")
			case r.Value.IsNull():
				fmt.Fprintln(errw, "note: the result is null; the attribute would not flow")
			default:
				for _, s := range r.Value.Strings() {
					fmt.Fprintln(out, s)
				}
				if r.Redacted {
					fmt.Fprintln(errw, "note: the value is redacted in provisioning logs")
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&expr, "expr", "", "the expression")
	cmd.Flags().StringArrayVar(&attrs, "attr", nil, "an attribute value, name=value (repeat for multi-valued)")
	return cmd
}
