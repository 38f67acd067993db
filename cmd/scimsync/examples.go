package main

import "github.com/spf13/cobra"

// examples are the Example: sections of the commands, kept in one place so that they read alike: as
// the service user, with the absolute configuration path an installed job has.
var examples = map[string]string{
	"run": `  sudo systemctl start scimsync          # the usual way: the unit runs this
  sudo -u scimsync scimsync run --config /etc/scimsync/scimsync.yaml --log-format console`,
	"sync": `  sudo -u scimsync scimsync sync --dry-run --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync sync --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync sync --initial --config /etc/scimsync/scimsync.yaml`,
	"status": `  sudo -u scimsync scimsync status --config /etc/scimsync/scimsync.yaml`,
	"logs": `  sudo -u scimsync scimsync logs --status Failure --since 24h --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync logs --object alice@contoso.com --json --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync logs --status Skipped --action StagedDelete --config /etc/scimsync/scimsync.yaml`,
	"restart":         `  sudo -u scimsync scimsync restart --config /etc/scimsync/scimsync.yaml`,
	"test-connection": `  sudo -u scimsync scimsync test-connection --config /etc/scimsync/scimsync.yaml`,
	"provision": `  sudo -u scimsync scimsync provision --user alice@contoso.com --dry-run --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync provision --user 'bob_fabrikam.com#EXT#@contoso.onmicrosoft.com' --config /etc/scimsync/scimsync.yaml`,
	"eval": `  scimsync eval --expr 'Join(" ", [givenName], [surname])' --attr givenName=Ada --attr surname=Lovelace`,
	"demo": `  scimsync demo
  scimsync demo --serve                  # keep the emulated tenant and target running; prints a config`,
	"authorize": `  sudo -u scimsync scimsync authorize --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync authorize --no-browser --config /etc/scimsync/scimsync.yaml   # on a headless server`,
	"state": `  sudo -u scimsync scimsync state export --config /etc/scimsync/gong.yaml > gong-state.json
  sudo -u scimsync scimsync state import --config /etc/scimsync/gong-pg.yaml < gong-state.json`,
}

// addExamples fills Example: of every command that has none.
func addExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if ex, ok := examples[c.Name()]; ok && c.Example == "" {
			c.Example = ex
		}
	}
}
