package jsdl

import (
	"math"
	"testing"
)

func TestRangeValueContains(t *testing.T) {
	two := math.Nextafter(2, 3)
	tests := []struct {
		name string
		rv   *RangeValue
		in   []float64
		out  []float64
	}{
		{"nil", nil, nil, []float64{0, 1}},
		{"empty", &RangeValue{}, nil, []float64{0, 1}},
		{"upper inclusive", &RangeValue{UpperBoundedRange: []Bound{{Value: 8}}}, []float64{0, 7.9, 8}, []float64{8.0001, -1, math.NaN()}},
		{"upper exclusive", &RangeValue{UpperBoundedRange: []Bound{{Value: 8, ExclusiveBound: true}}}, []float64{0, 7.999}, []float64{8}},
		{"lower inclusive", &RangeValue{LowerBoundedRange: []Bound{{Value: 2}}}, []float64{2, 1e300, math.Inf(1)}, []float64{1.999, 0}},
		{"lower exclusive", &RangeValue{LowerBoundedRange: []Bound{{Value: 2, ExclusiveBound: true}}}, []float64{two, 3}, []float64{2}},
		{"exact", &RangeValue{Exact: []Exact{{Value: 4}}}, []float64{4}, []float64{3.999, 4.001}},
		{"exact with epsilon", &RangeValue{Exact: []Exact{{Value: 4, Epsilon: 0.5}}}, []float64{3.5, 4, 4.5}, []float64{3.49, 4.51}},
		{"exact epsilon rounding", &RangeValue{Exact: []Exact{{Value: 0.3, Epsilon: 0.1}}}, []float64{0.3 - 0.1, 0.3 + 0.1, 0.25}, []float64{0.1}},
		{"range", &RangeValue{Range: []Range{{Lower: Bound{Value: 16}, Upper: Bound{Value: 32, ExclusiveBound: true}}}}, []float64{16, 31.99}, []float64{15.99, 32}},
		{
			"union",
			&RangeValue{Exact: []Exact{{Value: 1}, {Value: 2}}, Range: []Range{{Lower: Bound{Value: 10}, Upper: Bound{Value: 20}}}, LowerBoundedRange: []Bound{{Value: 100}}},
			[]float64{1, 2, 10, 15, 20, 100, 1000}, []float64{0, 1.5, 3, 21, 99},
		},
		{"negative x never", &RangeValue{UpperBoundedRange: []Bound{{Value: 5}}}, nil, []float64{-1, math.Inf(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, x := range tt.in {
				if !tt.rv.Contains(x) {
					t.Errorf("Contains(%v) = false, want true", x)
				}
			}
			for _, x := range tt.out {
				if tt.rv.Contains(x) {
					t.Errorf("Contains(%v) = true, want false", x)
				}
			}
		})
	}
}

func TestRangeValueMin(t *testing.T) {
	tests := []struct {
		name   string
		rv     *RangeValue
		min    float64
		ok     bool
		ceilTo float64 // math.Ceil(min), the "at least N CPUs" translation
	}{
		{"nil", nil, 0, false, 0},
		{"empty", &RangeValue{}, 0, false, 0},
		{"upper only", &RangeValue{UpperBoundedRange: []Bound{{Value: 8}}}, 0, true, 0},
		{"upper exclusive zero", &RangeValue{UpperBoundedRange: []Bound{{Value: 0, ExclusiveBound: true}}}, 0, false, 0},
		{"lower inclusive", &RangeValue{LowerBoundedRange: []Bound{{Value: 4}}}, 4, true, 4},
		{"lower exclusive", &RangeValue{LowerBoundedRange: []Bound{{Value: 2, ExclusiveBound: true}}}, math.Nextafter(2, 3), true, 3},
		{"lower fractional", &RangeValue{LowerBoundedRange: []Bound{{Value: 2.5}}}, 2.5, true, 3},
		{"exact", &RangeValue{Exact: []Exact{{Value: 8}, {Value: 4}}}, 4, true, 4},
		{"exact with epsilon", &RangeValue{Exact: []Exact{{Value: 8, Epsilon: 1.5}}}, 6.5, true, 7},
		{"exact epsilon below zero", &RangeValue{Exact: []Exact{{Value: 1, Epsilon: 5}}}, 0, true, 0},
		{"range", &RangeValue{Range: []Range{{Lower: Bound{Value: 16}, Upper: Bound{Value: 32}}}}, 16, true, 16},
		{"range exclusive lower", &RangeValue{Range: []Range{{Lower: Bound{Value: 16, ExclusiveBound: true}, Upper: Bound{Value: 32}}}}, math.Nextafter(16, 17), true, 17},
		{"empty range", &RangeValue{Range: []Range{{Lower: Bound{Value: 2, ExclusiveBound: true}, Upper: Bound{Value: 2}}}}, 0, false, 0},
		{"inverted range", &RangeValue{Range: []Range{{Lower: Bound{Value: 3}, Upper: Bound{Value: 2}}}}, 0, false, 0},
		{
			"union takes least",
			&RangeValue{LowerBoundedRange: []Bound{{Value: 64}}, Exact: []Exact{{Value: 32}}, Range: []Range{{Lower: Bound{Value: 8}, Upper: Bound{Value: 16}}}},
			8, true, 8,
		},
		{"union skips empty parts", &RangeValue{Range: []Range{{Lower: Bound{Value: 3}, Upper: Bound{Value: 2}}}, Exact: []Exact{{Value: 5}}}, 5, true, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			min, ok := tt.rv.Min()
			if ok != tt.ok || (ok && min != tt.min) {
				t.Fatalf("Min() = %v, %v; want %v, %v", min, ok, tt.min, tt.ok)
			}
			if !ok {
				return
			}
			if !tt.rv.Contains(min) {
				t.Errorf("Contains(Min()) = false")
			}
			if prev := math.Nextafter(min, math.Inf(-1)); prev >= 0 && tt.rv.Contains(prev) {
				t.Errorf("Contains(%v) below Min() %v", prev, min)
			}
			if c := math.Ceil(min); c != tt.ceilTo {
				t.Errorf("Ceil(Min()) = %v, want %v", c, tt.ceilTo)
			}
		})
	}
}

func TestParsedRangeMin(t *testing.T) {
	jd := mustParse(t, resDoc(`<jsdl:IndividualCPUCount><jsdl:LowerBoundedRange exclusiveBound="true">2</jsdl:LowerBoundedRange></jsdl:IndividualCPUCount>`+
		`<jsdl:TotalPhysicalMemory><jsdl:Range><jsdl:LowerBound>1073741824</jsdl:LowerBound><jsdl:UpperBound>2147483648</jsdl:UpperBound></jsdl:Range></jsdl:TotalPhysicalMemory>`))
	r := jd.JobDescription.Resources
	if min, ok := r.IndividualCPUCount.Min(); !ok || math.Ceil(min) != 3 {
		t.Errorf("IndividualCPUCount.Min() = %v, %v; want ceil 3", min, ok)
	}
	if min, ok := r.TotalPhysicalMemory.Min(); !ok || min != 1<<30 {
		t.Errorf("TotalPhysicalMemory.Min() = %v, %v", min, ok)
	}
	if r.TotalCPUCount != nil {
		t.Errorf("unspecified TotalCPUCount = %+v, want nil", r.TotalCPUCount)
	}
}

func TestParseDouble(t *testing.T) {
	good := map[string]float64{"0": 0, "1": 1, "+1": 1, "-0": 0, "1.": 1, ".5": 0.5, "1.5e3": 1500, "1E-3": 0.001, "007": 7, "1e-400": 0}
	for s, want := range good {
		if got, reason := parseDouble(s); reason != "" || got != want || math.Signbit(got) {
			t.Errorf("parseDouble(%q) = %v, %q; want %v", s, got, reason, want)
		}
	}
	for _, s := range []string{"", ".", "+", "e5", "1e", "1e+", "NaN", "nan", "INF", "-INF", "Infinity", "0x10", "1_0", "1,5", "1.5.2", " 1", "1 ", "1e400", "--1"} {
		if _, reason := parseDouble(s); reason == "" {
			t.Errorf("parseDouble(%q) accepted", s)
		}
	}
}
