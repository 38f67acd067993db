// Package codec is the binary form of the state's records: the anchor record (versions 1 and 2), the
// compact log record of schema 2, the target index's values and the log's keys. Every backend stores
// anchors in this form, since JSON would lose the Go types of their Values.
package codec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Links use a small hand-rolled binary record instead of JSON for two reasons: JSON cannot tell an
// int64 2 from a float64 2 (Values must round-trip with their Go types or every anchor would look changed),
// and loading 100,000 anchors at the start of each cycle should take well under a second.
//
// Record layout (version 1); strings and byte lengths are uvarint-prefixed:
//
//	version byte (1)
//	TargetID string
//	CreatedAt time, UpdatedAt time   (flag byte 0 = zero time, else 1 + varint seconds + uvarint nanos)
//	flags byte                       (1 Managed, 2 Disabled)
//	Hash, MatchedBy, ManagerID string
//	Members                          (uvarint n+1; 0 = nil slice) then n strings
//	Values                           (uvarint n+1; 0 = nil map) then n x (key string, tag byte, payload)
//
// TargetID and the times come first so an update can read them from the old record without decoding the
// rest.
const LinkV1 = 1

// LinkV2 is version 1 with every string compact (compact.go): the layout the bbolt file
// writes since schema 2. EncodeLink, which the PostgreSQL backend stores, keeps version 1.
const LinkV2 = 2

// stringWriter appends one string of a record: appendString (version 1) or a compact string.
type stringWriter func(dst []byte, s string) []byte

func appendCompact(dst []byte, s string) []byte { return appendStr(dst, s, "") }

// Value tags.
const (
	tagNil     = 0
	tagString  = 1
	tagFalse   = 2
	tagTrue    = 3
	tagInt64   = 4 // zigzag varint
	tagFloat64 = 5 // 8 bytes IEEE 754, big-endian
	tagStrings = 6 // uvarint n, n strings
	tagNilStrs = 7 // []string(nil)
	tagInt     = 8 // zigzag varint, decoded as int
	tagJSON    = 9 // anything else: JSON, decoded with normalizeJSON
)

const (
	flagManaged  = 1
	flagDisabled = 2
)

// AppendLink appends a record of the given version. It never fails: a value of an unexpected type is
// stored as JSON, and one JSON cannot encode (a channel, a func) as its fmt representation, so one odd
// mapping result cannot block the batcher.
func AppendLink(dst []byte, a *Link, version byte) []byte {
	put := stringWriter(appendString)
	if version == LinkV2 {
		put = appendCompact
	}
	dst = append(dst, version)
	dst = put(dst, a.TargetID)
	dst = appendTime(dst, a.CreatedAt)
	dst = appendTime(dst, a.UpdatedAt)
	var flags byte
	if a.Managed {
		flags |= flagManaged
	}
	if a.Disabled {
		flags |= flagDisabled
	}
	dst = append(dst, flags)
	dst = put(dst, a.Hash)
	dst = put(dst, a.MatchedBy)
	dst = put(dst, a.ManagerID)
	if a.Members == nil {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(a.Members))+1)
		for _, m := range a.Members {
			dst = put(dst, m)
		}
	}
	if a.Values == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(a.Values))+1)
	keys := make([]string, 0, len(a.Values))
	for k := range a.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic bytes: equal anchors encode equally
	for _, k := range keys {
		dst = put(dst, k)
		dst = appendValue(dst, a.Values[k], put)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendValue(dst []byte, v any, put stringWriter) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNil)
	case string:
		return put(append(dst, tagString), x)
	case bool:
		if x {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case int64:
		return binary.AppendVarint(append(dst, tagInt64), x)
	case int:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case int32:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case int16:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case int8:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case uint32:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case uint16:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case uint8:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat64), math.Float64bits(x))
	case float32:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat64), math.Float64bits(float64(x)))
	case json.Number:
		return appendValue(dst, numberValue(x), put)
	case []string:
		if x == nil {
			return append(dst, tagNilStrs)
		}
		dst = binary.AppendUvarint(append(dst, tagStrings), uint64(len(x)))
		for _, s := range x {
			dst = put(dst, s)
		}
		return dst
	case []any:
		if ss, ok := allStrings(x); ok {
			return appendValue(dst, ss, put)
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return put(append(dst, tagString), fmt.Sprint(v))
	}
	return put(append(dst, tagJSON), string(raw))
}

func allStrings(xs []any) ([]string, bool) {
	ss := make([]string, len(xs))
	for i, x := range xs {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		ss[i] = s
	}
	return ss, true
}

// numberValue turns a JSON number into int64 when it is an integer that fits, else float64, so values read
// back from JSON compare equal to what the mapping engine produces.
func numberValue(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(string(n), 64); err == nil {
		return f
	}
	return string(n)
}

// normalizeJSON converts a value decoded with UseNumber into the types Link.Values documents:
// json.Number -> int64/float64, []any of strings -> []string, recursively.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		return numberValue(x)
	case []any:
		if ss, ok := allStrings(x); ok {
			return ss
		}
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeJSON(e)
		}
		return x
	}
	return v
}

var errTruncated = errors.New("truncated record")

// decoder reads a record with a sticky error, so a damaged record yields an error, never a panic. It works
// on one string copy of the record and hands out substrings of it, which turns a dozen string allocations
// per anchor into one (and copies out of bbolt's memory, which is only valid inside the transaction).
type decoder struct {
	b   string
	err error
	// compact: the record's strings are compact (anchor version 2), not length-prefixed.
	compact bool
}

// text reads one string of a record, in the record's form.
func (d *decoder) text() string {
	if d.compact {
		return d.str("")
	}
	return d.string()
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = ""
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errTruncated)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uvarint is binary.Uvarint for a string.
func (d *decoder) uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < len(d.b) && i < binary.MaxVarintLen64; i++ {
		c := d.b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			d.b = d.b[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	d.fail(errTruncated)
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string { return d.take(d.uvarint()) }

// take returns the next n bytes.
func (d *decoder) take(n uint64) string {
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.fail(errors.New("bad nanoseconds"))
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec)).UTC()
	default:
		d.fail(errors.New("bad time flag"))
		return time.Time{}
	}
}

// count reads an n+1 length prefix; it bounds n by the bytes left so a damaged length cannot make us
// allocate gigabytes.
func (d *decoder) count() (n int, isNil bool) {
	v := d.uvarint()
	if v == 0 {
		return 0, true
	}
	if v-1 > uint64(len(d.b)) {
		d.fail(errTruncated)
		return 0, true
	}
	return int(v - 1), false
}

func (d *decoder) value() any {
	switch tag := d.byte(); tag {
	case tagNil:
		return nil
	case tagString:
		return d.text()
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt64:
		return d.varint()
	case tagInt:
		return int(d.varint())
	case tagFloat64:
		if len(d.b) < 8 {
			d.fail(errTruncated)
			return nil
		}
		var u uint64
		for i := range 8 {
			u = u<<8 | uint64(d.b[i])
		}
		d.b = d.b[8:]
		return math.Float64frombits(u)
	case tagStrings:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail(errTruncated)
			return nil
		}
		ss := make([]string, n)
		for i := range ss {
			ss[i] = d.text()
		}
		return ss
	case tagNilStrs:
		return []string(nil)
	case tagJSON:
		raw := d.text()
		if d.err != nil {
			return nil
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			d.fail(fmt.Errorf("value: %w", err))
			return nil
		}
		return normalizeJSON(v)
	default:
		d.fail(fmt.Errorf("unknown value tag %d", tag))
		return nil
	}
}

// ErrPacked refuses to write a link read with only some of its values (DecodeLinkPacked): written as
// it is, it would lose the others.
var ErrPacked = errors.New("the link was read with only some of its values; unpack it before writing it")

// DecodeLink fills a from rec; Kind and SourceID come from the bucket and key, not the record.
func DecodeLink(rec []byte, a *Link) error {
	return decodeLink(string(rec), a, false)
}

// DecodeLinkPacked is DecodeLink leaving a.Values nil and the whole record in a.Packed, for
// LinkValue and UnpackLink. Every value is read, so a damaged record fails here as in DecodeLink.
func DecodeLinkPacked(rec []byte, a *Link) error {
	s := string(rec)
	if err := decodeLink(s, a, true); err != nil {
		return err
	}
	a.Packed = s // the strings decoded from it share its bytes
	return nil
}

// UnpackLink restores all the values of a link DecodeLinkPacked read; other fields are left as they
// are. A link that is not packed is left alone.
func UnpackLink(a *Link) error {
	if a.Packed == "" {
		return nil
	}
	var full Link
	if err := decodeLink(a.Packed, &full, false); err != nil {
		return err
	}
	a.Values, a.Packed = full.Values, ""
	return nil
}

// decodeLink fills a from rec; with packed, the values are read (so a damaged one fails) but not kept.
func decodeLink(rec string, a *Link, packed bool) error {
	d, err := anchorDecoder(rec)
	if err != nil {
		return err
	}
	d.head(a)
	if n, isNil := d.count(); !isNil {
		if !packed {
			a.Values = make(map[string]any, n)
		}
		for range n {
			k := d.text()
			v := d.value()
			if !packed {
				a.Values[k] = v
			}
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return nil
}

// head reads what a record holds before its values into a: one reader of the layout for
// decodeLink and LinkValue.
func (d *decoder) head(a *Link) {
	a.TargetID = d.text()
	a.CreatedAt = d.time()
	a.UpdatedAt = d.time()
	flags := d.byte()
	a.Managed = flags&flagManaged != 0
	a.Disabled = flags&flagDisabled != 0
	a.Hash = d.text()
	a.MatchedBy = d.text()
	a.ManagerID = d.text()
	if n, isNil := d.count(); !isNil {
		a.Members = make([]string, n)
		for i := range a.Members {
			a.Members[i] = d.text()
		}
	}
}

// LinkValue is the value at path of the record rec (as DecodeLink would put it in Values), read
// without building the map: what a link read packed holds beside its Values.
func LinkValue(rec, path string) (v any, ok bool, err error) {
	d, err := anchorDecoder(rec)
	if err != nil {
		return nil, false, err
	}
	d.head(&Link{})
	if n, isNil := d.count(); !isNil {
		for range n {
			k := d.text()
			val := d.value()
			if d.err == nil && k == path {
				return val, true, nil
			}
		}
	}
	return nil, false, d.err
}

// DecodeLinkHead reads only what an update needs from the old record: the target id (to move the
// secondary index) and the creation time (to keep it).
func DecodeLinkHead(rec []byte) (targetID string, created time.Time, err error) {
	d, err := anchorDecoder(string(rec))
	if err != nil {
		return "", time.Time{}, err
	}
	targetID = d.text()
	created = d.time()
	return targetID, created, d.err
}

// anchorDecoder reads the version byte and returns a decoder for the rest of the record.
func anchorDecoder(rec string) (*decoder, error) {
	d := &decoder{b: rec}
	switch v := d.byte(); {
	case d.err != nil:
		return nil, d.err
	case v == LinkV1:
	case v == LinkV2:
		d.compact = true
	default:
		return nil, fmt.Errorf("unknown anchor record version %d", v)
	}
	return d, nil
}
