package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/store"
)

// damageAlertPath is where the daemon remembers that it emailed about a damaged state file: the damaged
// file cannot record it, and without a record every cycle (or every cron-started sync) would email again.
func damageAlertPath(statePath string) string { return statePath + ".damage-notified" }

// damageAlert is the content of that file. The state file's size and modification time identify the
// damaged file: a damaged file is never written, so they stay put, and a file that was replaced and
// damaged again differs and gets its own email.
type damageAlert struct {
	Size    int64
	ModTime time.Time
	Sent    time.Time
	Detail  string
}

// alertDamaged emails the administrators once per damaged state file when err says the file is damaged.
// Waiting cannot fix a damaged file, so it does not wait for the abort streak that quarantines a job.
func (j *Job) alertDamaged(ctx context.Context, err error) {
	var ce *store.CorruptError
	if j.alerter == nil || !errors.As(err, &ce) {
		return
	}
	side := damageAlertPath(j.cfg.StatePath)
	var cur damageAlert
	if fi, err := os.Stat(j.cfg.StatePath); err == nil {
		cur.Size, cur.ModTime = fi.Size(), fi.ModTime().UTC()
	}
	var last damageAlert
	if raw, err := os.ReadFile(side); err == nil && json.Unmarshal(raw, &last) == nil &&
		last.Size == cur.Size && last.ModTime.Equal(cur.ModTime) {
		return
	}
	now := time.Now()
	host, _ := os.Hostname()
	ev := notify.Event{Kind: notify.StateDamaged, Job: j.cfg.Name, ReasonText: ce.Error(), Since: now, Host: host,
		StatePath: j.cfg.StatePath, ConfigPath: j.cfg.File}
	if _, sent := j.alerter.Notify(ctx, ev, ""); !sent {
		return // logged by the notifier; tried again at the next cycle
	}
	cur.Sent, cur.Detail = now.UTC(), ce.Error()
	raw, _ := json.Marshal(cur)
	if err := os.WriteFile(side, raw, 0o600); err != nil {
		j.log.Warn("could not record the damaged-state email; it may be sent again", zap.String("file", side), zap.Error(err))
	}
}

// ForgetDamageAlert removes the record once the state file was rebuilt, so a later damage is announced.
func ForgetDamageAlert(statePath string) error {
	if err := os.Remove(damageAlertPath(statePath)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", damageAlertPath(statePath), err)
	}
	return nil
}

// DamagedMessage turns an error caused by a damaged state file, however deeply the engine wrapped it, into
// the one sentence an operator needs: which file, what is damaged, and the command that fixes it.
func DamagedMessage(err error, configFile string) (string, bool) {
	var ce *store.CorruptError
	if !errors.As(err, &ce) {
		return "", false
	}
	return fmt.Sprintf("%v; run `scimsync restart --rebuild --config %s` to rebuild it from the target", ce, ShellQuote(configFile)), true
}

// ShellQuote quotes s for a POSIX shell when it needs it, so a suggested command can be pasted as is.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
