package daemon

import (
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notifySystemd sends an sd_notify message (READY=1, STOPPING=1, STATUS=..., WATCHDOG=1) when running
// under systemd with Type=notify; elsewhere NOTIFY_SOCKET is unset and it does nothing.
func notifySystemd(state string) {
	_, _ = sd.SdNotify(false, state)
}

// systemdStatus is the one-line state `systemctl status` shows.
func systemdStatus(s string) { notifySystemd("STATUS=" + s) }

// idleStatus is the STATUS= line between cycles: when the next one starts, in local time as an admin
// reads `systemctl status` on the machine.
func idleStatus(next time.Time) string {
	if next.IsZero() {
		return "idle"
	}
	return "idle, next cycle " + next.Local().Format("15:04")
}

// watchdogTicker returns a channel that ticks at half the unit's WatchdogSec= (nil, which never
// ticks, when the watchdog is off). The daemon's scheduler loop pings on each tick, so a loop that
// hangs (not a long cycle: cycles run beside it) gets the service restarted.
func watchdogTicker() (<-chan time.Time, func()) {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(d / 2)
	return t.C, t.Stop
}
