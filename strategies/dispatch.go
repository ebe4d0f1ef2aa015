package strategies

// Dispatcher sends each job straight to an agent it picks, bypassing the
// tuplespace. It is the central delegation the paper sets out to replace (a
// front end handing requests to brokers in turn) and exists only as the
// baseline that the push, pull and hybrid strategies and the throttles are
// compared against in load-balancing benchmarks; no production role uses it.
//
// Next returns the index in agents of the agent for the next job, or
// ErrNoAgents if agents is empty. A Dispatcher keeps state between calls and
// is not safe for concurrent use.
type Dispatcher interface {
	Next(agents []string) (int, error)
}

// roundRobin picks positions 0, 1, 2, … in turn, modulo the length of the
// list it is given at each call.
type roundRobin struct{ n uint64 }

func (r *roundRobin) Next(agents []string) (int, error) {
	if len(agents) == 0 {
		return 0, ErrNoAgents
	}
	i := int(r.n % uint64(len(agents)))
	r.n++
	return i, nil
}
