// Package text holds the string helpers of the expression language that need no expression state:
// diacritics, proper case, words, random strings and the .NET regular expression dialect.
package text

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// diacriticSpecials are the letters of the service's NormalizeDiacritics table that are not a base
// letter plus combining marks, so Unicode decomposition alone would leave them unchanged.
var diacriticSpecials = map[rune]string{
	'æ': "ae", 'Æ': "AE", 'ǣ': "ae", 'Ǣ': "AE",
	'ø': "oe", 'Ø': "OE", 'œ': "oe", 'Œ': "OE",
	'ß': "ss", 'ẞ': "SS",
	'ł': "l", 'Ł': "L",
	'đ': "d", 'Đ': "D",
	'ɛ': "e", 'Ɛ': "E", 'ɔ': "o", 'Ɔ': "O",
	'ı': "i",
}

// NormalizeDiacritics replaces letters with diacritics by their base letters, following the service's
// table: the special letters above are substituted, then the text is decomposed (NFD), combining marks
// are dropped and what remains is recomposed (NFC).
func NormalizeDiacritics(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if rep, ok := diacriticSpecials[r]; ok {
			b.WriteString(rep)
			continue
		}
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// PCase upper-cases the first letter of every word and lower-cases the rest. Without separators a word
// ends at any character that is not a letter, mark, digit or apostrophe (the Unicode categories .NET's
// TextInfo.ToTitleCase treats as separators; "O'NEIL" gives "O'neil" as in .NET). With separators, only
// those characters end a word. Unlike ToTitleCase, all-uppercase words are not kept as acronyms: the
// documented example turns "PABLO GONSALVES (SECOND)" into "Pablo Gonsalves (Second)".
func PCase(s, seps string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		var sep bool
		if seps != "" {
			sep = strings.ContainsRune(seps, r)
		} else {
			sep = !(unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || r == '\'' || r == '’')
		}
		switch {
		case sep:
			b.WriteRune(r)
			start = true
		case start:
			b.WriteRune(unicode.ToTitle(r))
			start = false
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// word returns the n-th (1-based) word of s, words being separated by runs of any of the delimiter
// characters; "" when there are fewer words or n < 1, as documented.
func Word(s string, n int64, delims string) string {
	if n < 1 {
		return ""
	}
	var count int64
	inWord := false
	start := 0
	for i, r := range s {
		if strings.ContainsRune(delims, r) {
			if inWord && count == n {
				return s[start:i]
			}
			inWord = false
			continue
		}
		if !inWord {
			inWord = true
			count++
			start = i
		}
	}
	if inWord && count == n {
		return s[start:]
	}
	return ""
}

// Character classes of RandomString.
const (
	randDigits   = "0123456789"
	randSpecials = "!@#$%^&*()-_=+[]{};:,.?/~"
	randUpper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	randLower    = "abcdefghijklmnopqrstuvwxyz"
	// maxRandomLength is the documented maximum length of RandomString.
	maxRandomLength = 256
)

// RandomString builds a string of length characters with at least the given number of digits,
// special characters, capitals and lowercase letters, never using a character of avoid. The
// characters beyond the minimums are drawn from all four classes; the result is shuffled so the
// required characters are not at fixed positions.
func RandomString(r io.Reader, length, digits, specials, upper, lower int64, avoid string) (string, error) {
	if length < 1 || length > maxRandomLength {
		return "", fmt.Errorf("length %d is not between 1 and %d", length, maxRandomLength)
	}
	if digits < 0 || specials < 0 || upper < 0 || lower < 0 {
		return "", errors.New("minimum counts cannot be negative")
	}
	if digits+specials+upper+lower > length {
		return "", fmt.Errorf("minimum counts add up to %d, more than the length %d", digits+specials+upper+lower, length)
	}
	strip := func(set string) string {
		return strings.Map(func(c rune) rune {
			if strings.ContainsRune(avoid, c) {
				return -1
			}
			return c
		}, set)
	}
	classes := []struct {
		set string
		min int64
	}{{strip(randDigits), digits}, {strip(randSpecials), specials}, {strip(randUpper), upper}, {strip(randLower), lower}}
	out := make([]byte, 0, length)
	var all string
	for _, c := range classes {
		if c.min > 0 && c.set == "" {
			return "", errors.New("CharactersToAvoid removes every character of a required class")
		}
		for range c.min {
			i, err := randIntn(r, len(c.set))
			if err != nil {
				return "", err
			}
			out = append(out, c.set[i])
		}
		all += c.set
	}
	for int64(len(out)) < length {
		if all == "" {
			return "", errors.New("CharactersToAvoid removes every character")
		}
		i, err := randIntn(r, len(all))
		if err != nil {
			return "", err
		}
		out = append(out, all[i])
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIntn(r, i+1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

// randIntn draws a uniform integer in [0, n) from r by rejection sampling, so a biased modulo never
// favours some characters.
func randIntn(r io.Reader, n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("empty range")
	}
	limit := uint32((1 << 32) - (1<<32)%uint64(n))
	var buf [4]byte
	for attempt := 0; ; attempt++ {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return 0, fmt.Errorf("reading randomness: %w", err)
		}
		v := binary.LittleEndian.Uint32(buf[:])
		// The attempt cap only matters for a degenerate reader (a test's constant bytes), which must
		// not hang evaluation; a real source passes on the first try with probability > 1/2.
		if limit == 0 || v < limit || attempt == 64 {
			return int(v % uint32(n)), nil
		}
	}
}
