package scimclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
)

// page is what a fake server answers for the n-th request (1-based) asking for startIndex.
type page struct {
	total, startIndex, itemsPerPage int
	ids                             []string
}

func ids(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, from+i)
	}
	return out
}

// pagingServer answers every GET with answer(n, startIndex) as a ListResponse and counts requests.
func pagingServer(t *testing.T, answer func(n, startIndex int) page) (*scimclient.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		if start == 0 {
			start = 1
		}
		p := answer(int(n.Add(1)), start)
		res := make([]map[string]any, 0, len(p.ids))
		for _, id := range p.ids {
			res = append(res, map[string]any{"id": id, "userName": id + "@x"})
		}
		w.Header().Set("Content-Type", "application/scim+json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
			"totalResults": p.total, "startIndex": p.startIndex, "itemsPerPage": p.itemsPerPage, "Resources": res,
		})
	}))
	t.Cleanup(srv.Close)
	c, err := scimclient.New(scimclient.Options{BaseURL: srv.URL + "/scim", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

func TestPagingWithoutProgress(t *testing.T) {
	tests := []struct {
		name   string
		answer func(n, start int) page
		// wantErr is the text the error must contain ("" = success); requests and listed are the
		// requests the server must have received and the distinct resources handed to the callback.
		wantErr          string
		requests, listed int
	}{
		{"totalResults that never ends, one a page", func(n, start int) page {
			return page{total: 1e9, startIndex: start, itemsPerPage: 1, ids: ids("u", start, 1)}
		}, "needs 1000000000 pages, more than the 20000 allowed", 1, 1},
		{"pages shrink to one after the first", func(n, start int) page {
			if n == 1 {
				return page{total: 30, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
			}
			return page{total: 30, startIndex: start, itemsPerPage: 1, ids: ids("u", start, 1)}
		}, "stopped after 16 pages", 16, 25},
		{"empty page while more remain", func(n, start int) page {
			if n == 1 {
				return page{total: 100, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
			}
			return page{total: 100, startIndex: start, itemsPerPage: 10}
		}, "page 2 (startIndex 11): no resources (itemsPerPage 10) although totalResults is 100", 2, 10},
		{"itemsPerPage 0", func(n, start int) page {
			if n == 1 {
				return page{total: 50, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
			}
			return page{total: 50, startIndex: start, itemsPerPage: 0}
		}, "no resources (itemsPerPage 0)", 2, 10},
		{"startIndex ignored: the same page again", func(n, start int) page {
			return page{total: 100, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
		}, "does not advance", 2, 10},
		{"startIndex ignored, echo omitted", func(n, start int) page {
			return page{total: 100, itemsPerPage: 10, ids: ids("u", 1, 10)}
		}, "page 2 (startIndex 11): all 10 resources were on earlier pages", 2, 10},
		{"startIndex echoed backwards with new ids", func(n, start int) page {
			return page{total: 100, startIndex: 1, itemsPerPage: 10, ids: ids("u", start, 10)}
		}, "the answer's startIndex 1 does not advance past the previous page's 1", 2, 10},
		// Legitimate: an account created during the walk shifts the next page by one.
		{"one repeat after a concurrent create", func(n, start int) page {
			if n == 1 {
				return page{total: 20, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
			}
			// The list is now n0, u1..u20: every index moved up by one.
			all := append([]string{"n0"}, ids("u", 1, 20)...)
			end := min(start-1+10, len(all))
			return page{total: 21, startIndex: start, itemsPerPage: end - start + 1, ids: all[start-1 : end]}
		}, "", 3, 20},
		// Legitimate: accounts deleted during the walk; the last page is empty and says so.
		{"total shrinks during the walk", func(n, start int) page {
			if n == 1 {
				return page{total: 20, startIndex: 1, itemsPerPage: 10, ids: ids("u", 1, 10)}
			}
			return page{total: 8, startIndex: start}
		}, "", 2, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n := pagingServer(t, tt.answer)
			listed := map[string]int{}
			err := c.ListUsers(context.Background(), 10, func(r scimclient.Resource) error {
				listed[r.ID()]++
				return nil
			})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, scimclient.ErrCompliance) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrCompliance containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "/Users of http://127.0.0.1:") {
					t.Fatalf("err = %v, want it to name the collection and the target", err)
				}
			}
			if got := n.Load(); got != int64(tt.requests) {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if len(listed) != tt.listed {
				t.Errorf("listed %d resources, want %d", len(listed), tt.listed)
			}
			for id, k := range listed {
				if k != 1 {
					t.Errorf("%s handed to the callback %d times", id, k)
				}
			}
		})
	}
}

// TestFilterQueryWithoutProgress: the lookup before a create pages too, and must not loop on a server
// whose filter answer claims a billion matches.
func TestFilterQueryWithoutProgress(t *testing.T) {
	c, n := pagingServer(t, func(_, start int) page {
		return page{total: 1e9, startIndex: start, itemsPerPage: 1, ids: ids("u", start, 1)}
	})
	_, err := c.FindUsers(context.Background(), "userName", "a@x")
	if !errors.Is(err, scimclient.ErrCompliance) || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests", err, n.Load())
	}
}
