package pace

import (
	"math"
	"time"
)

// aimd decides how many requests may be in flight (the window) and how fast they may start (the pace),
// from what the target's answers say. It is a pure state machine: every method takes the time as an
// argument and nothing here sleeps or locks, so its decisions can be replayed in tests from synthetic
// observations. The Gate (gate.go) enforces them.
//
// The window follows a hill climb on throughput (Little's law: requests in flight / mean latency). Each
// full window of samples at the current limit is compared with the one before: while one more request in
// flight still buys at least aimdGain more throughput (latency grows more slowly than concurrency: "flat"),
// the limit goes up by one, never above max; when the last step up did not pay, it goes back down by one
// and holds there for aimdHold windows before probing again. A 429 or 503 halves the limit (once per
// congestion event: answers to requests sent before the cut do not cut again) and pauses every request
// for the Retry-After the target asked for.
//
// The pace exists because a rate limit is not a concurrency limit: against a target that allows 20
// requests/s and answers in 1 ms, even one request in flight sends 1,000/s. On a congestion event the pace
// is set to the rate the target accepted since the previous event (successes / the time from that event
// to the end of this one's Retry-After), and it then rises by aimdRateGrowth of itself per second while no 429
// comes, so the client probes slowly above the allowance instead of bursting into it.
type aimd struct {
	min, max int
	limit    int

	// The current measurement window.
	samples   int
	latSum    time.Duration
	inflight  int // sum of in-flight counts at send, for the mean
	saturated int // samples sent while the window was full

	prevThr float64 // throughput of the previous window, 0 before the first
	probed  bool    // the last decision raised the limit
	hold    int     // windows left before the next probe

	// Congestion.
	seq        uint64    // sequence number of the next request sent
	cutSeq     uint64    // requests numbered below this were sent before the last cut
	pauseUntil time.Time // no request starts before this
	rate       float64   // pace in requests/s; 0 = none
	rateAt     time.Time // when rate last grew
	okSince    int       // successes since the last congestion event
	since      time.Time // time of the last congestion event, or of the first request
	started    bool
	halvings   int // count, for tests and logs
}

// Tuning. A window holds aimdWindowPer samples per unit of limit (at least aimdMinWindow), enough to
// average out scheduling noise on a loaded machine; one step up must gain 3 % to count.
const (
	aimdWindowPer  = 4
	aimdMinWindow  = 16
	aimdGain       = 0.03
	aimdHold       = 8
	aimdRateGrowth = 0.01 // of the pace, per second
	aimdMinRate    = 1.0  // requests/s: the pace never falls below this
	// aimdMinEvidence is how many successes an interval needs before it sets the pace: fewer say
	// nothing about the target's allowance.
	aimdMinEvidence = 4
)

// outcome classifies one answered attempt for the controller.
type outcome int

const (
	outcomeOK        outcome = iota // the target handled the request (2xx, or a 4xx about the request)
	outcomeCongested                // 429 or 503: the target asks us to slow down
	outcomeOther                    // transport errors and other 5xx: no latency sample, no cut
)

// observation is one finished attempt.
type observation struct {
	seq        uint64        // from sent
	inflight   int           // requests in flight when it was sent, itself included
	latency    time.Duration // send to answer
	outcome    outcome
	retryAfter time.Duration // the target's Retry-After, 0 if none
}

func newAIMD(start, ceiling int) *aimd {
	ceiling = max(ceiling, 1)
	return &aimd{min: 1, max: ceiling, limit: min(max(start, 1), ceiling)}
}

// sent records that a request starts now and returns its sequence number.
func (a *aimd) sent(now time.Time) uint64 {
	if !a.started {
		a.started, a.since, a.rateAt = true, now, now
	}
	a.grow(now)
	a.seq++
	return a.seq - 1
}

// grow raises the pace for the time since it last grew. A gap of more than a second (nothing to send)
// counts as one second, so an idle client does not come back with a pace far above what it last saw.
func (a *aimd) grow(now time.Time) {
	if a.rate <= 0 {
		a.rateAt = now
		return
	}
	dt := min(now.Sub(a.rateAt).Seconds(), 1)
	if dt > 0 {
		a.rate += a.rate * aimdRateGrowth * dt
		a.rateAt = now
	}
}

// observe takes one finished attempt. It reports whether the limit was halved, for the log line.
func (a *aimd) observe(now time.Time, o observation) (halved bool) {
	switch o.outcome {
	case outcomeCongested:
		if o.seq < a.cutSeq {
			// Sent before the last cut: the same congestion event, already answered.
			if o.retryAfter > 0 && now.Add(o.retryAfter).After(a.pauseUntil) {
				a.pauseUntil = now.Add(o.retryAfter)
			}
			return false
		}
		a.cut(now, o.retryAfter)
		return true
	case outcomeOther:
		return false
	}
	a.okSince++
	if o.seq < a.cutSeq {
		return false // measured at a limit that no longer holds
	}
	a.samples++
	a.latSum += o.latency
	a.inflight += o.inflight
	if o.inflight >= a.limit {
		a.saturated++
	}
	if a.samples < max(aimdWindowPer*a.limit, aimdMinWindow) {
		return false
	}
	a.decide()
	return false
}

// cut halves the window, pauses for retryAfter and sets the pace from the rate accepted since the last
// event.
func (a *aimd) cut(now time.Time, retryAfter time.Duration) {
	a.halvings++
	a.limit = max(a.min, a.limit/2)
	a.cutSeq = a.seq
	a.resetWindow()
	a.prevThr, a.probed, a.hold = 0, false, 0
	if retryAfter > 0 {
		a.pauseUntil = now.Add(retryAfter)
	}
	// The target accepted okSince requests from the last event until now, and will accept none before
	// the Retry-After has passed: that span, not the burst before the 429, is its allowance.
	if el := (now.Sub(a.since) + retryAfter).Seconds(); a.okSince >= aimdMinEvidence && el > 0 {
		a.rate = float64(a.okSince) / el
	} else if a.rate > 0 {
		// Too little evidence for a new estimate: back off from the pace in force.
		a.rate /= 2
	}
	if a.rate > 0 {
		a.rate = math.Max(a.rate, aimdMinRate)
	}
	a.rateAt = now
	a.since, a.okSince = now, 0
}

// decide ends a full window.
func (a *aimd) decide() {
	meanLat := a.latSum.Seconds() / float64(a.samples)
	thr := 0.0
	if meanLat > 0 {
		thr = float64(a.inflight) / float64(a.samples) / meanLat
	}
	full := a.saturated*2 >= a.samples
	a.resetWindow()
	probed := a.probed
	a.probed = false
	switch {
	case !full:
		// The caller did not fill the window: latency says nothing about more concurrency.
	case probed && a.prevThr > 0 && thr < a.prevThr*(1+aimdGain):
		a.limit = max(a.min, a.limit-1)
		a.hold = aimdHold
	case a.hold > 0:
		a.hold--
	case a.limit < a.max:
		a.limit++
		a.probed = true
	}
	a.prevThr = thr
}

func (a *aimd) resetWindow() { a.samples, a.latSum, a.inflight, a.saturated = 0, 0, 0, 0 }
