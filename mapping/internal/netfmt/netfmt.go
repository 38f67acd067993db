// Package netfmt re-implements .NET's custom date and time format strings (invariant culture), which
// FormatDateTime takes; Go's reference-time layouts cannot express them.
package netfmt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scimsync/scimsync/mapping/internal/dates"
)

// This file re-implements .NET's custom date and time format strings (invariant culture) for
// FormatDateTime, both to parse the input (DateTime.ParseExact) and to render the output
// (DateTime.ToString). Go's reference-time layouts cannot express them (for instance "f" versus "F",
// "K", or the literal-"Z" rule), so the format is tokenized once at compile time and interpreted.

// fmtTok is one element of a .NET format: a specifier letter repeated n times, or literal text.
type fmtTok struct {
	c   byte // 0 for literal text
	n   int
	lit string
}

// Format is a tokenized .NET date format.
type Format struct {
	src  string
	toks []fmtTok
}

// standardFormats are .NET's single-letter standard formats, expanded to invariant-culture patterns.
var standardFormats = map[byte]string{
	'd': "MM/dd/yyyy",
	'D': "dddd, dd MMMM yyyy",
	'f': "dddd, dd MMMM yyyy HH:mm",
	'F': "dddd, dd MMMM yyyy HH:mm:ss",
	'g': "MM/dd/yyyy HH:mm",
	'G': "MM/dd/yyyy HH:mm:ss",
	'm': "MMMM dd",
	'M': "MMMM dd",
	'o': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'O': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'r': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	'R': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	's': "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
	't': "HH:mm",
	'T': "HH:mm:ss",
	'u': "yyyy'-'MM'-'dd HH':'mm':'ssZ",
	'U': "dddd, dd MMMM yyyy HH:mm:ss",
	'y': "yyyy MMMM",
	'Y': "yyyy MMMM",
}

func isFormatSpecifier(c byte) bool {
	switch c {
	case 'd', 'f', 'F', 'g', 'h', 'H', 'K', 'm', 'M', 's', 't', 'y', 'z', 'Z':
		return true
	}
	return false
}

// Compile tokenizes a .NET custom (or single-letter standard) date format.
func Compile(f string) (*Format, error) {
	if f == "" {
		return nil, errors.New("empty date format")
	}
	src := f
	if len(f) == 1 {
		std, ok := standardFormats[f[0]]
		if !ok {
			return nil, fmt.Errorf("%q is not a standard date format (use %%%s for the custom specifier)", f, f)
		}
		f = std
	}
	nf := &Format{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			nf.toks = append(nf.toks, fmtTok{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(f) && f[j] != c; j++ {
				if f[j] == '\\' && j+1 < len(f) {
					j++
				}
				lit.WriteByte(f[j])
			}
			if j >= len(f) {
				return nil, fmt.Errorf("unterminated quoted text in date format %q", src)
			}
			i = j + 1
		case c == '\\':
			if i+1 >= len(f) {
				return nil, fmt.Errorf("date format %q ends with an escape character", src)
			}
			lit.WriteByte(f[i+1])
			i += 2
		case c == '%':
			if i+1 >= len(f) || !isFormatSpecifier(f[i+1]) {
				return nil, fmt.Errorf("'%%' in date format %q must be followed by a format specifier", src)
			}
			flush()
			nf.toks = append(nf.toks, fmtTok{c: f[i+1], n: 1})
			i += 2
		case c == 'K' || c == 'Z':
			flush()
			nf.toks = append(nf.toks, fmtTok{c: c, n: 1})
			i++
		case isFormatSpecifier(c):
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			n := j - i
			if (c == 'f' || c == 'F') && n > 7 {
				return nil, fmt.Errorf("date format %q has more than 7 %c specifiers", src, c)
			}
			flush()
			nf.toks = append(nf.toks, fmtTok{c: c, n: n})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return nf, nil
}

// Kind mirrors .NET's DateTimeKind, which decides how K renders. The daemon's "local" time zone is
// UTC, like the service's servers, so only K's rendering differs between kinds.
type Kind uint8

const (
	Unspecified Kind = iota
	UTC
	Local
)

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayNames   = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

func pad(b *strings.Builder, v, width int) {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
}

// Render renders t (already in UTC) like DateTime.ToString(format, CultureInfo.InvariantCulture).
//
// long: one case per .NET format specifier, side by side as in the .NET reference table; split up,
// the table would be harder to check against it.
func (nf *Format) Render(t time.Time, kind Kind) string {
	var b strings.Builder
	b.Grow(len(nf.src) + 8)
	for _, tk := range nf.toks {
		n := tk.n
		switch tk.c {
		case 0:
			b.WriteString(tk.lit)
		case 'd':
			switch {
			case n == 1:
				pad(&b, t.Day(), 1)
			case n == 2:
				pad(&b, t.Day(), 2)
			case n == 3:
				b.WriteString(dayNames[t.Weekday()][:3])
			default:
				b.WriteString(dayNames[t.Weekday()])
			}
		case 'M':
			switch {
			case n <= 2:
				pad(&b, int(t.Month()), n)
			case n == 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			default:
				b.WriteString(monthNames[t.Month()-1])
			}
		case 'y':
			if n <= 2 {
				pad(&b, t.Year()%100, n)
			} else {
				pad(&b, t.Year(), n)
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(&b, h, min(n, 2))
		case 'H':
			pad(&b, t.Hour(), min(n, 2))
		case 'm':
			pad(&b, t.Minute(), min(n, 2))
		case 's':
			pad(&b, t.Second(), min(n, 2))
		case 'f', 'F':
			digits := fmt.Sprintf("%07d", t.Nanosecond()/100)[:n]
			if tk.c == 'F' {
				digits = strings.TrimRight(digits, "0")
				if digits == "" {
					// .NET drops the decimal point too when an all-zero F fraction prints nothing.
					s := b.String()
					if strings.HasSuffix(s, ".") {
						b.Reset()
						b.WriteString(s[:len(s)-1])
					}
				}
			}
			b.WriteString(digits)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if n == 1 {
				ampm = ampm[:1]
			}
			b.WriteString(ampm)
		case 'z':
			switch n {
			case 1:
				b.WriteString("+0")
			case 2:
				b.WriteString("+00")
			default:
				b.WriteString("+00:00")
			}
		case 'K':
			switch kind {
			case UTC:
				b.WriteByte('Z')
			case Local:
				b.WriteString("+00:00")
			}
		case 'Z':
			b.WriteByte('Z')
		case 'g':
			b.WriteString("A.D.")
		}
	}
	return b.String()
}

// Styles is .NET's DateTimeStyles, the second argument of FormatDateTime.
type Styles uint16

const (
	styleAllowLeadingWhite    Styles = 1
	styleAllowTrailingWhite   Styles = 2
	styleAllowInnerWhite      Styles = 4
	styleAllowWhiteSpaces     Styles = 7
	styleNoCurrentDateDefault Styles = 8
	styleAdjustToUniversal    Styles = 16
	styleAssumeLocal          Styles = 32
	styleAssumeUniversal      Styles = 64
	styleRoundtripKind        Styles = 128
	// DefaultStyles is the documented default when the argument is omitted.
	DefaultStyles = styleRoundtripKind | styleAllowLeadingWhite | styleAllowTrailingWhite
)

var styleNames = map[string]Styles{
	"none": 0, "allowleadingwhite": styleAllowLeadingWhite, "allowtrailingwhite": styleAllowTrailingWhite,
	"allowinnerwhite": styleAllowInnerWhite, "allowwhitespaces": styleAllowWhiteSpaces,
	"nocurrentdatedefault": styleNoCurrentDateDefault, "adjusttouniversal": styleAdjustToUniversal,
	"assumelocal": styleAssumeLocal, "assumeuniversal": styleAssumeUniversal, "roundtripkind": styleRoundtripKind,
}

// ParseStyles reads DateTimeStyles as names ("AdjustToUniversal, AllowWhiteSpaces", also with '|') or
// as the enum's integer value.
func ParseStyles(s string) (Styles, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		if n > 255 {
			return 0, fmt.Errorf("invalid DateTimeStyles value %d", n)
		}
		return Styles(n), nil
	}
	var st Styles
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || unicode.IsSpace(r) }) {
		name := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(part, "DateTimeStyles."), "System.Globalization.DateTimeStyles."))
		v, ok := styleNames[name]
		if !ok {
			return 0, fmt.Errorf("unknown DateTimeStyles value %q", part)
		}
		st |= v
	}
	return st, nil
}

// dateParse is the state of one ParseExact run: the input, the position, and the parts read so far
// (-1: not in the input).
type dateParse struct {
	in  string
	pos int

	year, month, day         int
	hour, minute, sec, nanos int
	ampm                     int // -1 none, 0 AM, 1 PM
	hour12                   bool
	zoneOff                  int
	hasZone, isUTC           bool
}

func (p *dateParse) digits(minN, maxN int) (int, bool) {
	start := p.pos
	for p.pos < len(p.in) && p.pos-start < maxN && asciiDigit(p.in[p.pos]) {
		p.pos++
	}
	if p.pos-start < minN {
		return 0, false
	}
	v, err := strconv.Atoi(p.in[start:p.pos])
	return v, err == nil
}

func (p *dateParse) name(names []string, abbrev bool) (int, bool) {
	for i, n := range names {
		if abbrev {
			n = n[:3]
		}
		if len(p.in)-p.pos >= len(n) && strings.EqualFold(p.in[p.pos:p.pos+len(n)], n) {
			p.pos += len(n)
			return i, true
		}
	}
	return 0, false
}

func (p *dateParse) skipWhite() {
	for p.pos < len(p.in) && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t') {
		p.pos++
	}
}

// offset reads [+-]h[h][[:]mm].
func (p *dateParse) offset() (int, bool) {
	if p.pos >= len(p.in) || (p.in[p.pos] != '+' && p.in[p.pos] != '-') {
		return 0, false
	}
	sign := 1
	if p.in[p.pos] == '-' {
		sign = -1
	}
	p.pos++
	h, ok := p.digits(1, 2)
	if !ok || h > 14 {
		return 0, false
	}
	m := 0
	if p.pos < len(p.in) && p.in[p.pos] == ':' {
		p.pos++
		if m, ok = p.digits(2, 2); !ok {
			return 0, false
		}
	} else if p.pos+1 < len(p.in) && asciiDigit(p.in[p.pos]) && asciiDigit(p.in[p.pos+1]) {
		m, _ = p.digits(2, 2)
	}
	if m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

// Parse reads s like DateTime.ParseExact(s, format, InvariantCulture, styles). now supplies the
// current date for formats without a date part, as .NET does.
func (nf *Format) Parse(s string, styles Styles, now time.Time) (time.Time, Kind, error) {
	fail := fmt.Errorf("cannot parse %q with date format %q", s, nf.src)
	in := s
	if styles&styleAllowLeadingWhite != 0 {
		in = strings.TrimLeft(in, " \t\r\n")
	}
	if styles&styleAllowTrailingWhite != 0 {
		in = strings.TrimRight(in, " \t\r\n")
	}
	p := &dateParse{in: in, year: -1, month: -1, day: -1, ampm: -1}
	for _, tk := range nf.toks {
		if styles&styleAllowInnerWhite != 0 {
			p.skipWhite()
		}
		if !p.token(tk) {
			return time.Time{}, 0, fail
		}
	}
	if p.pos != len(p.in) {
		return time.Time{}, 0, fail
	}
	t, kind, ok := p.result(styles, now)
	if !ok {
		return time.Time{}, 0, fail
	}
	return t, kind, nil
}

// token reads one element of the format at the current position.
func (p *dateParse) token(tk fmtTok) bool {
	switch tk.c {
	case 0:
		return p.literal(tk.lit)
	case 'd', 'M', 'y':
		return p.datePart(tk)
	case 'h', 'H', 'm', 's', 'f', 'F', 't':
		return p.timePart(tk)
	case 'z', 'K', 'Z', 'g':
		return p.zonePart(tk)
	}
	return true
}

// literal matches literal text; a space in the format matches any run of white space.
func (p *dateParse) literal(lit string) bool {
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		if c == ' ' {
			if p.pos >= len(p.in) || (p.in[p.pos] != ' ' && p.in[p.pos] != '\t') {
				return false
			}
			p.skipWhite()
			continue
		}
		if p.pos >= len(p.in) || p.in[p.pos] != c {
			return false
		}
		p.pos++
	}
	return true
}

// datePart reads d (day or day name), M (month or month name) and y (year).
func (p *dateParse) datePart(tk fmtTok) (ok bool) {
	n := tk.n
	switch tk.c {
	case 'd':
		if n <= 2 {
			p.day, ok = p.digits(n, 2)
		} else {
			_, ok = p.name(dayNames[:], n == 3)
		}
	case 'M':
		if n <= 2 {
			p.month, ok = p.digits(n, 2)
		} else {
			p.month, ok = p.name(monthNames[:], n == 3)
			p.month++
		}
	case 'y':
		switch {
		case n <= 2:
			p.year, ok = p.digits(n, 2)
			if ok {
				// .NET's Gregorian TwoDigitYearMax is 2029.
				if p.year <= 29 {
					p.year += 2000
				} else {
					p.year += 1900
				}
			}
		case n == 3:
			p.year, ok = p.digits(3, 4)
		default:
			p.year, ok = p.digits(n, n)
		}
	}
	return ok
}

// timePart reads h and H (hours), m, s, f and F (fractions) and t (AM/PM designator).
func (p *dateParse) timePart(tk fmtTok) (ok bool) {
	n := tk.n
	switch tk.c {
	case 'h':
		p.hour, ok = p.digits(min(n, 2), 2)
		p.hour12 = true
	case 'H':
		p.hour, ok = p.digits(min(n, 2), 2)
	case 'm':
		p.minute, ok = p.digits(min(n, 2), 2)
	case 's':
		p.sec, ok = p.digits(min(n, 2), 2)
	case 'f', 'F':
		start := p.pos
		minN := n
		if tk.c == 'F' {
			minN = 0
		}
		var frac int
		frac, ok = p.digits(minN, n)
		if ok && p.pos > start {
			for i := p.pos - start; i < 9; i++ {
				frac *= 10
			}
			p.nanos = frac
		}
	case 't':
		if p.pos < len(p.in) {
			switch unicode.ToUpper(rune(p.in[p.pos])) {
			case 'A':
				p.ampm, ok = 0, true
			case 'P':
				p.ampm, ok = 1, true
			}
			if ok {
				p.pos++
				if n >= 2 {
					ok = p.pos < len(p.in) && (p.in[p.pos] == 'M' || p.in[p.pos] == 'm')
					p.pos++
				}
			}
		}
	}
	return ok
}

// zonePart reads z (offset), K (Z or offset or nothing), a literal Z and g (era).
func (p *dateParse) zonePart(tk fmtTok) (ok bool) {
	switch tk.c {
	case 'z':
		p.zoneOff, ok = p.offset()
		p.hasZone = true
	case 'K':
		ok = true
		if p.pos < len(p.in) && (p.in[p.pos] == 'Z' || p.in[p.pos] == 'z') {
			p.pos++
			p.isUTC = true
		} else if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.zoneOff, ok = p.offset()
			p.hasZone = true
		}
	case 'Z':
		// .NET reads an unquoted 'Z' in a ParseExact format as "this time is UTC".
		ok = p.pos < len(p.in) && (p.in[p.pos] == 'Z' || p.in[p.pos] == 'z')
		p.pos++
		p.isUTC = true
	case 'g':
		ok = true
		for _, era := range []string{"A.D.", "AD"} {
			if strings.HasPrefix(p.in[p.pos:], era) {
				p.pos += len(era)
				break
			}
		}
	}
	return ok
}

// result assembles the parts read into a time, with .NET's defaults for missing parts and its
// DateTimeKind rules for the styles.
func (p *dateParse) result(styles Styles, now time.Time) (time.Time, Kind, bool) {
	year, month, day, hour := p.year, p.month, p.day, p.hour
	if p.hour12 || p.ampm >= 0 {
		if p.hour12 && (hour < 1 || hour > 12) {
			return time.Time{}, 0, false
		}
		if p.ampm == 1 && hour < 12 {
			hour += 12
		} else if p.ampm == 0 && hour == 12 {
			hour = 0
		}
	}
	if year < 0 && month < 0 && day < 0 && styles&styleNoCurrentDateDefault == 0 {
		year, month, day = now.Year(), int(now.Month()), now.Day()
	}
	if year < 0 {
		if styles&styleNoCurrentDateDefault != 0 {
			year = 1
		} else {
			year = now.Year()
		}
	}
	if month < 0 {
		month = 1
	}
	if day < 0 {
		day = 1
	}
	if year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > dates.DaysIn(year, time.Month(month)) ||
		hour > 23 || p.minute > 59 || p.sec > 59 {
		return time.Time{}, 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, p.minute, p.sec, p.nanos, time.UTC)
	kind := Unspecified
	switch {
	case p.hasZone:
		t = t.Add(-time.Duration(p.zoneOff) * time.Second)
		kind = Local
		if styles&styleAdjustToUniversal != 0 {
			kind = UTC
		}
	case p.isUTC:
		kind = Local
		if styles&(styleAdjustToUniversal|styleRoundtripKind) != 0 {
			kind = UTC
		}
	case styles&styleAssumeUniversal != 0:
		kind = Local
		if styles&styleAdjustToUniversal != 0 {
			kind = UTC
		}
	case styles&styleAssumeLocal != 0:
		kind = Local
	}
	if dates.CheckRange(t) != nil {
		return time.Time{}, 0, false
	}
	return t, kind, true
}

// asciiDigit reports a digit: the .NET formats and patterns read ASCII digits only.
func asciiDigit(c byte) bool { return c >= '0' && c <= '9' }
