package rawload_test

import (
	"context"
	"testing"

	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/emulator/scimserver"
)

func TestCreate(t *testing.T) {
	s := scimserver.New(scimserver.Options{Token: "tok"})
	base := s.Start()
	defer s.Close()
	res, err := rawload.Create(context.Background(), base, "tok", 200, 4)
	if err != nil || res.N != 200 || res.PerSecond <= 0 || len(s.Users()) != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := rawload.Create(context.Background(), base, "wrong", 5, 2); err == nil {
		t.Fatal("401 not reported")
	}
}
