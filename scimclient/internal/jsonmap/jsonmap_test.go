package jsonmap

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

var decodeSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+3,"b":[1,2,{"c":null}],"d":true,"e":false,"f":"x"}`,
	`{"s":"\"\\\/\b\f\n\r\t\u00e9\u4e2d\ud83d\ude42"}`, `{"lone":"\ud83d x","bad":"\udc00","pair":"\ud83d\u0041"}`,
	"{\"utf8\":\"é中🙂\",\"invalid\":\"\xff\xfe\"}", `{"dup":1,"dup":2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`,
	`{"a":-}`, `{"a":1e400}`, `{"a":tru}`, `{"a":"x}`, "{\"a\":\"\x01\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `[1]`, `null`, `"x"`,
	`{"a":1} x`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":[1,]}`, `{"a":[}`, `{"a":{"b":{"c":[[[]]]}}}`, ``, `{`,
	strings.Repeat(`{"a":`, 1200) + `1` + strings.Repeat(`}`, 1200),
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"7de62e24","userName":"a@x","active":true,` +
		`"name":{"givenName":"Ä"},"emails":[{"primary":true,"type":"work","value":"a@x"}],"meta":{"location":"http://h/Users/7de62e24"}}`,
}

// TestDecodeObjectMatchesEncodingJSON compares the fast decoder with json.Unmarshal, the oracle:
// same value, and an error exactly when it errs.
func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	inputs := append([]string(nil), decodeSeeds...)
	rnd := rand.New(rand.NewPCG(7, 9))
	for range 3000 {
		b := []byte(decodeSeeds[rnd.IntN(len(decodeSeeds))])
		for range 1 + rnd.IntN(3) {
			if len(b) == 0 {
				break
			}
			switch i := rnd.IntN(len(b)); rnd.IntN(3) {
			case 0:
				const alphabet = "{}[]\",:\\u0123456789.eE+-truefalsnl \xff"
				b[i] = alphabet[rnd.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]byte{b[i]}, b[i:]...)...)
			}
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		compareDecode(t, in)
	}
}

func compareDecode(t *testing.T, in string) {
	t.Helper()
	var want map[string]any
	wantErr := json.Unmarshal([]byte(in), &want)
	got, err := Decode([]byte(in))
	if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("%.80q:\n got %#v, %v\nwant %#v, %v", in, got, err, want, wantErr)
	}
}

// objectsSeeds are the cases of DecodeObjects: listing pages' Resources and what a target may send.
var objectsSeeds = []string{
	`[]`, ` [ ] `, `[{}]`, `[{"id":"a"},{"id":"b","userName":"x@y"}]`, `[null]`, `[{"id":"a"},null]`, `[1]`, `["x"]`,
	`[[]]`, `[{"id":"a"},1]`, `null`, `{}`, `{"id":"a"}`, `[{"id":"a"}`, `[{"id":"a"},]`, `[{"id":"a"}] x`, ``,
	"[{\"a\":\"\xff\"}]", `[{"a":1e400}]`, `[` + strings.Repeat(`[`, 1200) + strings.Repeat(`]`, 1200) + `]`,
	`[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"7de62e24","userName":"a@x","active":true,` +
		`"name":{"givenName":"Ä"},"emails":[{"primary":true,"type":"work","value":"a@x"}]},{"id":"b","active":false}]`,
}

// TestDecodeObjectsMatchesEncodingJSON compares DecodeObjects with json.Unmarshal into a
// []map[string]any, the oracle, on its seeds, the object decoder's seeds wrapped in an array and
// random mutations of both.
func TestDecodeObjectsMatchesEncodingJSON(t *testing.T) {
	seeds := append([]string(nil), objectsSeeds...)
	for _, s := range decodeSeeds {
		seeds = append(seeds, "["+s+"]", "["+s+","+s+"]")
	}
	for _, in := range withMutations(seeds, rand.New(rand.NewPCG(11, 13)), "{}[]\",:\\u0123456789.eE+-truefalsnl \xff") {
		compareObjects(t, in)
	}
}

// withMutations is seeds and 3,000 of them with one byte replaced by one of alphabet's.
func withMutations(seeds []string, rnd *rand.Rand, alphabet string) []string {
	inputs := append([]string(nil), seeds...)
	for range 3000 {
		b := []byte(seeds[rnd.IntN(len(seeds))])
		if len(b) > 0 {
			b[rnd.IntN(len(b))] = alphabet[rnd.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	return inputs
}

func compareObjects(t *testing.T, in string) {
	t.Helper()
	var want []map[string]any
	wantErr := json.Unmarshal([]byte(in), &want)
	got, err := DecodeObjects([]byte(in))
	if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("%.80q:\n got %#v, %v\nwant %#v, %v", in, got, err, want, wantErr)
	}
}

func FuzzDecodeObjects(f *testing.F) {
	for _, s := range objectsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { compareObjects(t, in) })
}

// fieldSeeds are the cases of Field beyond decodeSeeds: the id escaped, repeated, not a string, nested.
var fieldSeeds = []string{
	`{"id":"a"}`, `{"\u0069d":"a"}`, `{"id":"a","id":"b"}`, `{"id":"a","id":1}`, `{"id":1,"id":"b"}`, `{"id":null}`,
	`{"id":{"id":"x"}}`, `{"x":{"id":"x"}}`, `{"x":["id","y"],"id":"z"}`, `{"id":"a\"b\u00e9\ud83d"}`, "{\"id\":\"\xff\"}",
	`{"id":"a"}x`, `{"id":"a",}`, `{"id":"a"`, `{"id":1e400,"x":1}`, `{"x":1e400,"id":"a"}`, ` {"id" : "a" } `,
	`{"a":[{"b":[]},{},[],"s",-1.5e3,true,false,null],"id":"a"}`, `{"a":[1 2],"id":"a"}`, `{"a":{"b" 1},"id":"a"}`,
	strings.Repeat(`{"a":`, 1200) + `1` + strings.Repeat(`}`, 1200), `{"id":"a","d":` + strings.Repeat(`[`, 1200) + strings.Repeat(`]`, 1200) + `}`,
}

// TestFieldMatchesEncodingJSON compares Field with json.Unmarshal into a map and a string assertion,
// the oracle, on the decoder's inputs, Field's own and random mutations of both.
func TestFieldMatchesEncodingJSON(t *testing.T) {
	seeds := append(append([]string(nil), decodeSeeds...), fieldSeeds...)
	for _, in := range withMutations(seeds, rand.New(rand.NewPCG(3, 5)), "{}[]\",:\\u0123456789.eE+-truefalsnlid \xff") {
		compareField(t, in, "id")
	}
	compareField(t, `{"a":"1","b":"2"}`, "a")
}

func compareField(t *testing.T, in, key string) {
	t.Helper()
	var m map[string]any
	wantErr := json.Unmarshal([]byte(in), &m)
	want, _ := m[key].(string)
	got, isObject, err := Field([]byte(in), key)
	if got != want || isObject != (m != nil) || (err != nil) != (wantErr != nil) {
		t.Errorf("%.80q: got %q, %v, %v; want %q, %v, %v", in, got, isObject, err, want, m != nil, wantErr)
	}
}

func FuzzField(f *testing.F) {
	for _, s := range append(append([]string(nil), decodeSeeds...), fieldSeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { compareField(t, in, "id") })
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { compareDecode(t, in) })
}

func BenchmarkDecodeCreated(b *testing.B) {
	raw := []byte(decodeSeeds[len(decodeSeeds)-1])
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
		}
	})
	b.Run("jsonmap.Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Decode(raw)
		}
	})
	b.Run("jsonmap.Field", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = Field(raw, "id")
		}
	})
}

// BenchmarkDecodeListingPage decodes the Resources of a listing page of 500 users.
func BenchmarkDecodeListingPage(b *testing.B) {
	user := objectsSeeds[len(objectsSeeds)-1]
	user = user[1 : strings.Index(user, `},{"id":"b"`)+1]
	raw := []byte("[" + strings.TrimSuffix(strings.Repeat(user+",", 500), ",") + "]")
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out []map[string]any
			if err := json.Unmarshal(raw, &out); err != nil || len(out) != 500 {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonmap.DecodeObjects", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out, err := DecodeObjects(raw); err != nil || len(out) != 500 {
				b.Fatal(err)
			}
		}
	})
}
