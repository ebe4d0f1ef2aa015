package strategies

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The registries: one plain map literal per strategy point, name →
// constructor, built here and nowhere else. Constructors receive a validated
// configuration.

func throttles() map[string]func(ThrottleConfig) Throttle {
	return map[string]func(ThrottleConfig) Throttle{
		"fixed":    func(c ThrottleConfig) Throttle { return newFixed(c.Fixed) },
		"adaptive": func(c ThrottleConfig) Throttle { return newAdaptive(c.Adaptive) },
	}
}

func factoryStrategies() map[string]func(FactoryConfig) FactoryStrategy {
	return map[string]func(FactoryConfig) FactoryStrategy{
		"pull":   func(FactoryConfig) FactoryStrategy { return pullStrategy{} },
		"push":   func(c FactoryConfig) FactoryStrategy { return pushStrategy{c} },
		"hybrid": func(c FactoryConfig) FactoryStrategy { return hybridStrategy{c} },
	}
}

func dispatchers() map[string]func() Dispatcher {
	return map[string]func() Dispatcher{
		"roundrobin": func() Dispatcher { return &roundRobin{} },
	}
}

func admissions() map[string]func(AdmissionConfig) Admission {
	return map[string]func(AdmissionConfig) Admission{
		"maxjobs":  func(c AdmissionConfig) Admission { return maxJobs{c.MaxJobs} },
		"activity": func(c AdmissionConfig) Admission { return activity{c.Activity} },
	}
}

// NewThrottle returns a fresh throttle by name: "fixed" or "adaptive". It
// returns an error wrapping ErrUnknownStrategy for any other name and one
// wrapping ErrInvalidConfig if cfg does not validate.
func NewThrottle(name string, cfg ThrottleConfig) (Throttle, error) {
	return build(throttles(), "throttle", name, cfg)
}

// NewFactoryStrategy returns a factory strategy by name: "pull", "push" or
// "hybrid". Errors wrap ErrUnknownStrategy or ErrInvalidConfig.
func NewFactoryStrategy(name string, cfg FactoryConfig) (FactoryStrategy, error) {
	return build(factoryStrategies(), "factory strategy", name, cfg)
}

// NewDispatcher returns a fresh benchmark baseline dispatcher by name:
// "roundrobin". Errors wrap ErrUnknownStrategy.
func NewDispatcher(name string) (Dispatcher, error) {
	f, err := lookup(dispatchers(), "dispatcher", name)
	if err != nil {
		return nil, err
	}
	return f(), nil
}

// NewAdmission returns a manager admission strategy by name: "maxjobs" or
// "activity". Errors wrap ErrUnknownStrategy or ErrInvalidConfig.
func NewAdmission(name string, cfg AdmissionConfig) (Admission, error) {
	return build(admissions(), "admission", name, cfg)
}

// ThrottleNames lists the throttle names, sorted (for flag help).
func ThrottleNames() []string { return sortedKeys(throttles()) }

// FactoryStrategyNames lists the factory strategy names, sorted.
func FactoryStrategyNames() []string { return sortedKeys(factoryStrategies()) }

// DispatcherNames lists the baseline dispatcher names, sorted.
func DispatcherNames() []string { return sortedKeys(dispatchers()) }

// AdmissionNames lists the admission strategy names, sorted.
func AdmissionNames() []string { return sortedKeys(admissions()) }

type validator interface{ Validate() error }

func build[C validator, S any](reg map[string]func(C) S, point, name string, cfg C) (S, error) {
	var zero S
	f, err := lookup(reg, point, name)
	if err != nil {
		return zero, err
	}
	if err := cfg.Validate(); err != nil {
		return zero, err
	}
	return f(cfg), nil
}

func lookup[F any](reg map[string]F, point, name string) (F, error) {
	f, ok := reg[name]
	if !ok {
		return f, fmt.Errorf("%w: %s %q (valid: %s)", ErrUnknownStrategy, point, name, strings.Join(sortedKeys(reg), ", "))
	}
	return f, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
