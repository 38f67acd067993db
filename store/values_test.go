package store_test

import (
	"reflect"
	"testing"

	"github.com/scimsync/scimsync/store"
)

func TestPackValuesRoundTrips(t *testing.T) {
	for _, values := range []map[string]any{
		nil,
		{},
		{"userName": "a@x", "active": true, "name.givenName": "", "employeeNumber": int64(-7),
			"emails[type eq \"work\"].value": "a@x", "roles": []string{"Admin", ""}, "none": []string{}, "gone": nil},
	} {
		packed := store.PackValues(values)
		got, err := store.UnpackValues(packed)
		if err != nil || !reflect.DeepEqual(got, values) {
			t.Errorf("%v: got %#v, %v", values, got, err)
		}
	}
	if _, err := store.UnpackValues([]byte{2, 0xff}); err == nil {
		t.Error("damaged bytes decoded")
	}
}
