package batch

import "testing"

func TestDefaults(t *testing.T) {
	b := New(nil, 0, -1)
	if b.max != DefaultItems || b.delay != DefaultDelay {
		t.Errorf("defaults: %d %v, want %d %v", b.max, b.delay, DefaultItems, DefaultDelay)
	}
	b = New(nil, 7, 3)
	if b.max != 7 || b.delay != 3 {
		t.Errorf("limits given: %d %v", b.max, b.delay)
	}
}
