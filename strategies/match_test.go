package strategies

import (
	"slices"
	"testing"
)

func TestUnmet(t *testing.T) {
	pool := [][]string{{"os=LINUX", "arch=x86_64"}, {"os=LINUX", "arch=aarch64", "exclusive=true"}}
	cases := []struct {
		name string
		req  []string
		sets [][]string
		want []string
	}{
		{"nothing required", nil, pool, nil},
		{"one set serves all", []string{"arch=aarch64", "exclusive=true"}, pool, nil},
		{"split across sets is not enough", []string{"arch=x86_64", "exclusive=true"}, pool, []string{"exclusive=true"}},
		{"closest set named", []string{"os=WINNT", "arch=aarch64", "exclusive=true"}, pool, []string{"os=WINNT"}},
		{"empty pool", []string{"os=LINUX"}, nil, []string{"os=LINUX"}},
		{"empty pool, no requirements", nil, nil, []string{"no agent in the pool"}},
		{"duplicates once", []string{"x=1", "x=1"}, pool, []string{"x=1"}},
	}
	for _, c := range cases {
		if got := Unmet(c.req, c.sets); !slices.Equal(got, c.want) {
			t.Errorf("%s: Unmet = %v, want %v", c.name, got, c.want)
		}
	}
}
