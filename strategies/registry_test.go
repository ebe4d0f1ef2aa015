package strategies

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRegistryNames(t *testing.T) {
	for _, tc := range []struct {
		got, want []string
	}{
		{ThrottleNames(), []string{"adaptive", "fixed"}},
		{FactoryStrategyNames(), []string{"hybrid", "pull", "push"}},
		{DispatcherNames(), []string{"roundrobin"}},
		{AdmissionNames(), []string{"activity", "maxjobs"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("names %v, want %v", tc.got, tc.want)
		}
	}
}

func TestRegistryBuildsEveryName(t *testing.T) {
	for _, n := range ThrottleNames() {
		th, err := NewThrottle(n, DefaultThrottleConfig())
		if err != nil || th == nil {
			t.Errorf("NewThrottle(%q) = %v, %v", n, th, err)
		}
	}
	for _, n := range FactoryStrategyNames() {
		if s, err := NewFactoryStrategy(n, DefaultFactoryConfig()); err != nil || s == nil {
			t.Errorf("NewFactoryStrategy(%q) = %v, %v", n, s, err)
		}
	}
	for _, n := range DispatcherNames() {
		if d, err := NewDispatcher(n); err != nil || d == nil {
			t.Errorf("NewDispatcher(%q) = %v, %v", n, d, err)
		}
	}
	for _, n := range AdmissionNames() {
		if a, err := NewAdmission(n, DefaultAdmissionConfig()); err != nil || a == nil {
			t.Errorf("NewAdmission(%q) = %v, %v", n, a, err)
		}
	}
}

// Each NewThrottle call returns an independent throttle.
func TestRegistryFreshThrottles(t *testing.T) {
	a, _ := NewThrottle("adaptive", DefaultThrottleConfig())
	b, _ := NewThrottle("adaptive", DefaultThrottleConfig())
	a.Observe(Refused, t0)
	if a.Rate() == b.Rate() {
		t.Fatal("two adaptive throttles share state")
	}
	f1, _ := NewThrottle("fixed", DefaultThrottleConfig())
	f2, _ := NewThrottle("fixed", DefaultThrottleConfig())
	f1.Allow(t0)
	if ok, _ := f2.Allow(t0); !ok {
		t.Fatal("two fixed throttles share a bucket")
	}
}

func TestRegistryUnknownNames(t *testing.T) {
	for _, tc := range []struct {
		point string
		valid []string
		call  func(name string) error
	}{
		{"throttle", ThrottleNames(), func(n string) error { _, err := NewThrottle(n, DefaultThrottleConfig()); return err }},
		{"factory strategy", FactoryStrategyNames(), func(n string) error { _, err := NewFactoryStrategy(n, DefaultFactoryConfig()); return err }},
		{"dispatcher", DispatcherNames(), func(n string) error { _, err := NewDispatcher(n); return err }},
		{"admission", AdmissionNames(), func(n string) error { _, err := NewAdmission(n, DefaultAdmissionConfig()); return err }},
	} {
		for _, name := range []string{"", "Fixed", "round-robin", "nope", " pull"} {
			err := tc.call(name)
			if !errors.Is(err, ErrUnknownStrategy) {
				t.Errorf("%s %q: %v, want ErrUnknownStrategy", tc.point, name, err)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.point) || !strings.Contains(msg, fmt.Sprintf("%q", name)) ||
				!strings.Contains(msg, "valid: "+strings.Join(tc.valid, ", ")) {
				t.Errorf("%s %q: message %q should name the point, the name and the valid names", tc.point, name, msg)
			}
		}
	}
	// An unknown name is reported before the configuration is looked at.
	if _, err := NewThrottle("nope", ThrottleConfig{}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown name with a bad config: %v", err)
	}
	// roundrobin is a baseline dispatcher, not a factory strategy.
	if _, err := NewFactoryStrategy("roundrobin", DefaultFactoryConfig()); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("roundrobin as a factory strategy: %v", err)
	}
}
