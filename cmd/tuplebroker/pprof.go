package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiling endpoints on addr (TUPLEBROKER_PPROF, for
// performance work; keep it on loopback).
func startPprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			log.Warn("pprof", "err", err)
		}
	}()
	log.Info("profiling endpoints", "addr", addr)
}
