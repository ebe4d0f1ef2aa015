package jsdl

import "math"

// RangeValue is the JSDL RangeValue_Type used by all numeric resources. It
// denotes the union of all its parts; a value satisfies the RangeValue when
// it satisfies at least one part.
//
// JSDL resource quantities (counts, times, sizes, speeds) are never negative,
// so the domain of a RangeValue is the non-negative numbers: Parse rejects
// negative bounds, and [RangeValue.Contains] is false for negative x.
type RangeValue struct {
	// UpperBoundedRange parts: x <= Value (x < Value if ExclusiveBound).
	UpperBoundedRange []Bound
	// LowerBoundedRange parts: x >= Value (x > Value if ExclusiveBound).
	LowerBoundedRange []Bound
	// Exact parts: Value-Epsilon <= x <= Value+Epsilon.
	Exact []Exact
	// Range parts: between Lower and Upper.
	Range []Range
}

// Bound is a JSDL Boundary_Type: a finite number and its exclusiveBound
// attribute (default false).
type Bound struct {
	Value          float64
	ExclusiveBound bool
}

// Exact is a JSDL Exact_Type: a finite number with an epsilon attribute
// (default 0, meaning exact match).
type Exact struct {
	Value   float64
	Epsilon float64
}

// Range is a JSDL Range_Type with its mandatory LowerBound and UpperBound.
type Range struct {
	Lower Bound
	Upper Bound
}

// IsEmpty reports whether the RangeValue has no parts at all.
func (rv *RangeValue) IsEmpty() bool {
	return rv == nil || len(rv.UpperBoundedRange)+len(rv.LowerBoundedRange)+len(rv.Exact)+len(rv.Range) == 0
}

// Contains reports whether x satisfies the RangeValue. It is false for NaN,
// negative x and a nil or empty RangeValue.
func (rv *RangeValue) Contains(x float64) bool {
	if rv == nil || math.IsNaN(x) || x < 0 {
		return false
	}
	for _, b := range rv.UpperBoundedRange {
		if b.admitsBelow(x) {
			return true
		}
	}
	for _, b := range rv.LowerBoundedRange {
		if b.admitsAbove(x) {
			return true
		}
	}
	for _, e := range rv.Exact {
		lo, hi := e.bounds()
		if lo <= x && x <= hi {
			return true
		}
	}
	for _, r := range rv.Range {
		if r.Lower.admitsAbove(x) && r.Upper.admitsBelow(x) {
			return true
		}
	}
	return false
}

// Min returns the least value that satisfies the RangeValue, and false when
// nothing does (for example a nil or empty RangeValue). It is what a backend
// needs to translate a requirement into "at least N": for an integral
// quantity such as a CPU count use math.Ceil(min).
//
// An exclusive lower bound v has no least real satisfying value; Min then
// returns the least float64 greater than v (math.Nextafter(v, +Inf)), so
// Contains(min) always holds and math.Ceil of a "> 2" bound gives 3. An
// upper bound alone is satisfied by 0.
func (rv *RangeValue) Min() (float64, bool) {
	if rv == nil {
		return 0, false
	}
	best, found := math.Inf(1), false
	consider := func(v float64) {
		if rv.Contains(v) && v < best {
			best, found = v, true
		}
	}
	for _, b := range rv.UpperBoundedRange {
		if b.admitsBelow(0) {
			consider(0)
		}
	}
	for _, b := range rv.LowerBoundedRange {
		consider(b.least())
	}
	for _, e := range rv.Exact {
		lo, _ := e.bounds()
		consider(math.Max(lo, 0))
	}
	for _, r := range rv.Range {
		consider(r.Lower.least())
	}
	return best, found
}

// admitsBelow reports whether x satisfies b used as an upper bound.
func (b Bound) admitsBelow(x float64) bool {
	if b.ExclusiveBound {
		return x < b.Value
	}
	return x <= b.Value
}

// admitsAbove reports whether x satisfies b used as a lower bound.
func (b Bound) admitsAbove(x float64) bool {
	if b.ExclusiveBound {
		return x > b.Value
	}
	return x >= b.Value
}

// least is the least non-negative float64 satisfying b as a lower bound.
func (b Bound) least() float64 {
	v := b.Value
	if b.ExclusiveBound {
		v = math.Nextafter(v, math.Inf(1))
	}
	return math.Max(v, 0)
}

// bounds returns the closed interval an Exact part denotes.
func (e Exact) bounds() (lo, hi float64) {
	return e.Value - e.Epsilon, e.Value + e.Epsilon
}

// empty reports whether no non-negative number satisfies the Range.
func (r Range) empty() bool {
	lo := r.Lower.least()
	return !r.Upper.admitsBelow(lo) || !r.Lower.admitsAbove(lo)
}
