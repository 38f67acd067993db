// Package dates holds the date arithmetic of the expression language (DateAdd, DateDiff, FILETIME)
// with VBA's rules, and the date formats it accepts.
package dates

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// dateLayouts are the date strings the service accepts wherever a function needs a date (CDate,
// DateAdd, DateDiff, NumFromDate): ISO-8601 forms as Workday, SuccessFactors and Graph send them, and the
// service's own output format, so that functions chain. Go also accepts fractional seconds after the
// seconds field in every layout that has one. A date without a time is midnight; without an offset, UTC.
var dateLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02Z07:00",
	"2006-01-02",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006",
}

// Parse reads a date string in any of dateLayouts and returns it in UTC.
func Parse(s string) (time.Time, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t != "" {
		for _, layout := range dateLayouts {
			if d, err := time.Parse(layout, t); err == nil {
				if err := CheckRange(d); err != nil {
					return time.Time{}, err
				}
				return d.UTC(), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a date (expected ISO-8601 such as 2021-08-24, 2020-03-16-07:00, 2021-08-24T10:00:00Z, or M/d/yyyy h:mm:ss tt)", s)
}

// ErrRange is the error for a date .NET cannot hold.
var ErrRange = errors.New("date out of range (years 1 to 9999)")

// CheckRange keeps dates inside .NET's DateTime range, which the service (and FILETIME, and the
// rendering in DateLayout) assume.
func CheckRange(t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return ErrRange
	}
	return nil
}

// NormInterval maps VB's interval strings (case-insensitive, as in VB) to one canonical spelling.
func NormInterval(s string) (string, bool) {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s":
		return l, true
	}
	return "", false
}

const IntervalList = `"yyyy", "q", "m", "y", "d", "w", "ww", "h", "n" or "s"`

// addMonths follows .NET's DateTime.AddMonths: the day is clamped to the last day of the target month
// (Jan 31 + 1 month = Feb 28/29), where Go's AddDate would roll over into March.
func addMonths(t time.Time, months int64) (time.Time, error) {
	if months > 12*10000 || months < -12*10000 {
		return time.Time{}, ErrRange
	}
	y, m, d := t.Date()
	total := int64(y)*12 + int64(m-1) + months
	ny := total / 12
	nm := total % 12
	if nm < 0 {
		nm += 12
		ny--
	}
	if ny < 1 || ny > 9999 {
		return time.Time{}, ErrRange
	}
	month := time.Month(nm + 1)
	if last := DaysIn(int(ny), month); d > last {
		d = last
	}
	return time.Date(int(ny), month, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
}

func DaysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Add follows VB's DateAdd for the documented intervals.
func Add(interval string, n int64, t time.Time) (time.Time, error) {
	var unit time.Duration
	switch interval {
	case "yyyy":
		if n > 10000 || n < -10000 {
			return time.Time{}, ErrRange
		}
		return addMonths(t, n*12)
	case "q":
		if n > 40000 || n < -40000 {
			return time.Time{}, ErrRange
		}
		return addMonths(t, n*3)
	case "m":
		return addMonths(t, n)
	case "y", "d", "w":
		unit = 24 * time.Hour
	case "ww":
		unit = 7 * 24 * time.Hour
	case "h":
		unit = time.Hour
	case "n":
		unit = time.Minute
	case "s":
		unit = time.Second
	default:
		return time.Time{}, fmt.Errorf("unknown interval %q (expected %s)", interval, IntervalList)
	}
	// 10,000 years is the whole DateTime range; anything beyond cannot land inside it.
	const maxSpanSeconds = int64(10000 * 366 * 24 * 3600)
	unitSeconds := int64(unit / time.Second)
	if n > maxSpanSeconds/unitSeconds || n < -maxSpanSeconds/unitSeconds {
		return time.Time{}, ErrRange
	}
	// Add in seconds to stay clear of Duration's 292-year limit.
	r := time.Unix(t.Unix()+n*unitSeconds, int64(t.Nanosecond())).UTC()
	if err := CheckRange(r); err != nil {
		return time.Time{}, err
	}
	return r, nil
}

// Diff follows VB.NET's Microsoft.VisualBasic.DateAndTime.DateDiff, which is what the service
// runs: day, hour, minute and second intervals truncate the elapsed TimeSpan toward zero; month, quarter
// and year count calendar boundaries; "ww" first moves both dates back to the Sunday starting their week
// (keeping the time of day) and then divides the whole days between them by 7.
func Diff(interval string, d1, d2 time.Time) (int64, error) {
	y1, m1, _ := d1.Date()
	y2, m2, _ := d2.Date()
	switch interval {
	case "yyyy":
		return int64(y2 - y1), nil
	case "q":
		return int64((y2-y1)*4 + (int(m2)-1)/3 - (int(m1)-1)/3), nil
	case "m":
		return int64((y2-y1)*12 + int(m2) - int(m1)), nil
	case "y", "d":
		return elapsedSeconds(d1, d2) / 86400, nil
	case "w":
		return elapsedSeconds(d1, d2) / 86400 / 7, nil
	case "ww":
		s1 := d1.AddDate(0, 0, -int(d1.Weekday()))
		s2 := d2.AddDate(0, 0, -int(d2.Weekday()))
		return elapsedSeconds(s1, s2) / 86400 / 7, nil
	case "h":
		return elapsedSeconds(d1, d2) / 3600, nil
	case "n":
		return elapsedSeconds(d1, d2) / 60, nil
	case "s":
		return elapsedSeconds(d1, d2), nil
	}
	return 0, fmt.Errorf("unknown interval %q (expected %s)", interval, IntervalList)
}

// elapsedSeconds is d2-d1 in whole seconds truncated toward zero, computed without time.Duration, which
// saturates beyond 292 years.
func elapsedSeconds(d1, d2 time.Time) int64 {
	s := d2.Unix() - d1.Unix()
	ns := int64(d2.Nanosecond() - d1.Nanosecond())
	if s > 0 && ns < 0 {
		s--
	} else if s < 0 && ns > 0 {
		s++
	}
	return s
}

// fileTimeEpoch is the number of 100-ns ticks between 1601-01-01 (FILETIME's epoch, used by Active
// Directory's accountExpires) and 1970-01-01.
const fileTimeEpoch = 116444736000000000

// maxFileTime is the last FILETIME .NET's DateTime.FromFileTimeUtc accepts (9999-12-31 23:59:59.9999999).
const maxFileTime = 2650467743999999999

func FromFileTime(n int64) (time.Time, error) {
	if n < 0 || n > maxFileTime {
		return time.Time{}, fmt.Errorf("%d is not a FILETIME between 0 and %d", n, int64(maxFileTime))
	}
	d := n - fileTimeEpoch
	return time.Unix(d/10000000, (d%10000000)*100).UTC(), nil
}

func ToFileTime(t time.Time) (int64, error) {
	t = t.UTC()
	if t.Year() < 1601 || t.Year() > 9999 {
		return 0, fmt.Errorf("%s cannot be expressed as a FILETIME (years 1601 to 9999)", t.Format(time.RFC3339))
	}
	return t.Unix()*10000000 + int64(t.Nanosecond()/100) + fileTimeEpoch, nil
}
