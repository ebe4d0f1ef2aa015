package strategies

import "slices"

// Unmet returns the requirements that no single one of the pools' capability
// sets offers in full, for a 422 answer: nil if some set serves them all.
// When no set serves them all, it names the requirements missing from the
// set that comes closest (fewest missing), sorted; with no sets at all,
// every requirement is unmet. Matchmaking is exact label equality, the same
// rule agents apply when they take requests.
func Unmet(requirements []string, capabilitySets [][]string) []string {
	if len(capabilitySets) == 0 {
		if len(requirements) == 0 {
			return []string{"no agent in the pool"}
		}
		out := slices.Clone(requirements)
		slices.Sort(out)
		return slices.Compact(out)
	}
	var best []string
	for i, caps := range capabilitySets {
		var missing []string
		for _, r := range requirements {
			if !slices.Contains(caps, r) && !slices.Contains(missing, r) {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if i == 0 || len(missing) < len(best) {
			best = missing
		}
	}
	slices.Sort(best)
	return best
}
