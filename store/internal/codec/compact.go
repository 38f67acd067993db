package codec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Compact records (schema version 2). At 100,000 users the provisioning log and the anchors are most
// of the state file, and most of their bytes were the same strings again and again: JSON field names,
// the SCIM paths of the mapping ("urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country"),
// the step texts, the user's own name inside them, and UUIDs spelt in 36 characters. A compact
// string names a string of strtab by its index, stores a canonical UUID in 16 bytes, and a string
// that holds the log entry's identity as the text around it, which brings a user's log entry from
// about 1,650 bytes of JSON to about 300 and an anchor from about 640 bytes to about 330
// (docs/performance.md has the figures).
//
// A compact string is a uvarint v then:
//
//	v&3 == 0: a literal of v>>2 bytes
//	v&3 == 1: strtab[v>>2]
//	v == 2:   16 bytes of a lower-case canonical UUID
//	v&3 == 2: v>>2 bytes of a lower-case hex string (a hash, a cycle id)
//	v == 3:   two compact strings (no identity inside), the text before and after the identity
const (
	strLiteral = 0
	strTable   = 1
	strUUID    = 2 // also hex, with a length
	strAround  = 3
)

// strtab is append-only: a record names its strings by index, so an entry may never move or change.
var strtab = [...]string{
	"",
	// Provisioning log: steps, statuses, actions, kinds, step texts of sync/engine.
	"import", "scoping", "matching", "processing", "referenceResolution", "export",
	"success", "failure", "skipped", "warning",
	"Success", "Failure", "Skipped", "Warning",
	"Create", "Update", "Disable", "Delete", "StagedDelete", "Other",
	"user", "group",
	"Received user ", "Received group ", " from Microsoft Graph",
	"In scope: assigned and passed the scoping filters",
	"No matching user in the target", "No matching group in the target",
	"Create user in the target", "Create group in the target",
	"Update user in the target", "Update group in the target",
	"Disable user in the target", "Delete user in the target", "Delete group in the target",
	"The target already holds these values: nothing to send",
	"Matched the existing target user by ", "Matched the existing target group by ",
	"Linked to target user ", "Linked to target group ",
	"true", "false", "created",
	// SCIM paths of the Gong preset and of Entra's default user and group mappings.
	"userName", "active", "displayName", "title", "externalId", "locale", "timezone", "preferredLanguage",
	"nickName", "userType", "members", "name.givenName", "name.familyName", "name.formatted",
	`emails[type eq "work"].value`, `phoneNumbers[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value`,
	`phoneNumbers[type eq "fax"].value`, `addresses[type eq "work"].streetAddress`, `addresses[type eq "work"].locality`,
	`addresses[type eq "work"].region`, `addresses[type eq "work"].postalCode`, `addresses[type eq "work"].country`,
	`addresses[type eq "work"].formatted`, "roles", "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country",
	"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
}

var strIndex = func() map[string]uint64 {
	m := make(map[string]uint64, len(strtab))
	for i, s := range strtab {
		m[s] = uint64(i)
	}
	return m
}()

// appendStr appends s as a compact string; ident, when not empty, is the text an strAround stands for.
func appendStr(dst []byte, s, ident string) []byte {
	if i, ok := strIndex[s]; ok {
		return binary.AppendUvarint(dst, i<<2|strTable)
	}
	if u, ok := uuidBytes(s); ok {
		dst = binary.AppendUvarint(dst, strUUID)
		return append(dst, u[:]...)
	}
	if n := len(s) / 2; n > 0 && len(s)%2 == 0 && n < 1024 && isHex(s) {
		dst = binary.AppendUvarint(dst, uint64(n)<<2|strUUID)
		for i := 0; i < len(s); i += 2 {
			dst = append(dst, byte(strings.IndexByte(hexDigits, s[i])<<4|strings.IndexByte(hexDigits, s[i+1])))
		}
		return dst
	}
	if ident != "" {
		if i := strings.Index(s, ident); i >= 0 {
			dst = binary.AppendUvarint(dst, strAround)
			dst = appendStr(dst, s[:i], "")
			return appendStr(dst, s[i+len(ident):], "")
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s))<<2|strLiteral)
	return append(dst, s...)
}

// str reads a compact string; an strAround is refused where no identity is known (and so inside
// another), which also bounds the recursion on a damaged record.
func (d *decoder) str(ident string) string {
	v := d.uvarint()
	if d.err != nil {
		return ""
	}
	switch v & 3 {
	case strLiteral:
		return d.take(v >> 2)
	case strTable:
		if v>>2 >= uint64(len(strtab)) {
			d.fail(fmt.Errorf("unknown string %d", v>>2))
			return ""
		}
		return strtab[v>>2]
	}
	if v == strUUID {
		if b := d.take(16); d.err == nil {
			return uuidString(b)
		}
		return ""
	}
	if v&3 == strUUID {
		b := d.take(v >> 2)
		out := make([]byte, 2*len(b))
		for i := range len(b) {
			out[2*i], out[2*i+1] = hexDigits[b[i]>>4], hexDigits[b[i]&15]
		}
		return string(out)
	}
	if v != strAround || ident == "" {
		d.fail(fmt.Errorf("bad string tag %d", v))
		return ""
	}
	before := d.str("")
	after := d.str("")
	return before + ident + after
}

const hexDigits = "0123456789abcdef"

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// uuidBytes parses the canonical lower-case form only, so that uuidString gives back the same text.
func uuidBytes(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j, hi := 0, -1
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		n := strings.IndexByte(hexDigits, s[i])
		if n < 0 {
			return u, false
		}
		if hi < 0 {
			hi = n
			continue
		}
		u[j] = byte(hi<<4 | n)
		j, hi = j+1, -1
	}
	return u, true
}

func uuidString(b string) string {
	var out [36]byte
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[b[i]>>4], hexDigits[b[i]&15]
		j += 2
	}
	return string(out[:])
}

// logRecordV2 starts a compact log record; a JSON one (schema 1) starts with '{'.
const logRecordV2 = 0xB2

// AppendLog renders e compactly. ID and Time are the record's key (LogKey) and are not repeated.
func AppendLog(dst []byte, e *LogEntry) []byte {
	id := e.Identity
	dst = append(dst, logRecordV2)
	dst = appendStr(dst, e.CycleID, "")
	dst = appendStr(dst, string(e.Kind), "")
	dst = appendStr(dst, e.SourceID, "")
	dst = appendStr(dst, e.TargetID, "")
	dst = appendStr(dst, id, "")
	dst = appendStr(dst, e.Action, "")
	dst = appendStr(dst, e.Status, "")
	dst = binary.AppendUvarint(dst, uint64(len(e.Steps)))
	for _, s := range e.Steps {
		dst = appendStr(dst, s.Name, "")
		dst = appendStr(dst, s.Status, "")
		dst = appendStr(dst, s.Description, id)
		dst = appendStr(dst, s.Details, id)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Modified)))
	for _, p := range e.Modified {
		dst = appendStr(dst, p.Name, "")
		dst = appendStr(dst, p.Old, id)
		dst = appendStr(dst, p.New, id)
	}
	dst = appendStr(dst, e.ErrorCode, "")
	dst = appendStr(dst, e.Error, id)
	return binary.AppendVarint(dst, e.DurationMs)
}

// DecodeLog reads a log record of either schema; key is its LogKey, which holds ID and Time.
func DecodeLog(key, rec []byte, e *LogEntry) error {
	if len(rec) > 0 && rec[0] != logRecordV2 {
		return json.Unmarshal(rec, e)
	}
	if len(key) < 8 {
		return errors.New("log key shorter than its time")
	}
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(key)^(1<<63))).UTC()
	e.ID = string(key[8:])
	d := decoder{b: string(rec)}
	d.byte()
	e.CycleID = d.str("")
	e.Kind = Kind(d.str(""))
	e.SourceID = d.str("")
	e.TargetID = d.str("")
	id := d.str("")
	e.Identity = id
	e.Action = d.str("")
	e.Status = d.str("")
	if n, ok := d.length(); ok && n > 0 {
		e.Steps = make([]Step, n)
		for i := range e.Steps {
			e.Steps[i] = Step{Name: d.str(""), Status: d.str(""), Description: d.str(id), Details: d.str(id)}
		}
	}
	if n, ok := d.length(); ok && n > 0 {
		e.Modified = make([]Property, n)
		for i := range e.Modified {
			e.Modified[i] = Property{Name: d.str(""), Old: d.str(id), New: d.str(id)}
		}
	}
	e.ErrorCode = d.str("")
	e.Error = d.str(id)
	e.DurationMs = d.varint()
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return nil
}

// length reads a count, bounded by the bytes left (every element takes at least one), so a damaged
// count cannot make the decoder allocate gigabytes.
func (d *decoder) length() (int, bool) {
	n := d.uvarint()
	if d.err != nil {
		return 0, false
	}
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return 0, false
	}
	return int(n), true
}

// IndexValue is how the target index stores a source id (schema 2): a UUID in 17 bytes (strUUID and
// its 16 bytes), anything else as it is. Graph ids are UUIDs; no source id starts with byte 2.
func IndexValue(source []byte) []byte {
	if u, ok := uuidBytes(string(source)); ok {
		return append([]byte{strUUID}, u[:]...)
	}
	return source
}

// IndexSource reads an index value of either schema back to the source id.
func IndexSource(v []byte) []byte {
	if len(v) == 17 && v[0] == strUUID {
		return []byte(uuidString(string(v[1:])))
	}
	return v
}
