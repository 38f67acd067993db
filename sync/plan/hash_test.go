package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fmtHash is ValuesHash as it was first written (fmt into the hash), the form every stored link's
// hash was made with: ValuesHash must give the same bytes, or an upgrade would see every user changed.
func fmtHash(values map[string]any) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		v := values[k]
		if f, ok := toFloat(v); ok {
			fmt.Fprintf(h, "n:%g", f)
		} else if ss, ok := toStrings(v); ok {
			h.Write([]byte("l:"))
			for _, s := range ss {
				fmt.Fprintf(h, "%q,", s)
			}
		} else {
			switch x := v.(type) {
			case string:
				fmt.Fprintf(h, "s:%q", x)
			case bool:
				fmt.Fprintf(h, "b:%t", x)
			case nil:
				h.Write([]byte("z"))
			default:
				b, _ := json.Marshal(x)
				h.Write(b)
			}
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func TestValuesHashKeepsTheStoredForm(t *testing.T) {
	fixed := []map[string]any{
		nil, {},
		{"userName": "a@x", "active": true, "title": "", "n": int64(42), "f": 1.5, "big": 1e21, "neg": math.Copysign(0, -1),
			"inf": math.Inf(1), "nan": math.NaN(), "roles": []string{"a", "é\"\\\n", ""}, "any": []any{"x", "y"},
			"none": nil, "obj": map[string]any{"k": "v"}, "i": 7, "u8": uint8(3), "f32": float32(0.1)},
		{"quote": "\u2028\x00\xff tab\t", "emoji": "😀", "empty": []string{}},
	}
	for i, v := range fixed {
		if got, want := ValuesHash(v), fmtHash(v); got != want {
			t.Errorf("fixed %d: %s, want %s", i, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]rune, r.IntN(12))
		for i := range b {
			b[i] = rune(r.IntN(0x3000))
		}
		return string(b)
	}
	for i := range 3000 {
		v := map[string]any{}
		for range r.IntN(8) {
			switch r.IntN(5) {
			case 0:
				v[str()] = str()
			case 1:
				v[str()] = r.IntN(2) == 0
			case 2:
				v[str()] = int64(r.Uint64())
			case 3:
				v[str()] = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			default:
				v[str()] = []string{str(), str()}
			}
		}
		if got, want := ValuesHash(v), fmtHash(v); got != want {
			t.Fatalf("random %d %#v: %s, want %s", i, v, got, want)
		}
	}
}

// ValuesHash reuses pooled buffers: hashes made at once on several goroutines, of objects of every
// size (one past the largest buffer the pool keeps), must each be their own object's.
func TestValuesHashConcurrentAndLarge(t *testing.T) {
	objs := make([]map[string]any, 64)
	for i := range objs {
		objs[i] = map[string]any{"userName": fmt.Sprint("user", i), "n": int64(i), "pad": strings.Repeat("x", i*i*20)}
	}
	want := make([]string, len(objs))
	for i, v := range objs {
		want[i] = fmtHash(v)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(objs))
	for g := range 4 {
		wg.Go(func() {
			for j := range objs {
				i := (j + g*17) % len(objs)
				if got := ValuesHash(objs[i]); got != want[i] {
					errs <- fmt.Sprintf("object %d: %s, want %s", i, got, want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// BenchmarkValuesHash hashes a user of twenty attributes, as an initial cycle does twice per user.
func BenchmarkValuesHash(b *testing.B) {
	v := map[string]any{"active": true, "roles": []string{"a", "b"}}
	for i := range 18 {
		v[fmt.Sprintf("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:attr%d", i)] = fmt.Sprint("value number ", i)
	}
	for b.Loop() {
		ValuesHash(v)
	}
}
