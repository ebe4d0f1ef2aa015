package factory

import (
	"net/http"

	"tuplebroker/space"
)

// Health is the body of GET /healthz.
type Health struct {
	// Status is "ok", or "unavailable" (503) while the space's server
	// cannot be reached.
	Status string `json:"status"`
	// Tuples is how many tuples this process's view of the space holds.
	Tuples int `json:"tuples"`
}

// HealthHandler answers GET /healthz from sp, for a factory and for a
// process that serves HTTP without one. It needs no token.
func HealthHandler(sp *space.Space) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h, code := Health{Status: "ok", Tuples: sp.Stats().Tuples}, http.StatusOK
		if !sp.Connected() {
			h.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	return mux
}
