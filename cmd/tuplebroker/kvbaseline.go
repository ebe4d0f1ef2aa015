package main

import (
	"context"
	"time"

	"tuplebroker/space"
)

// kvBaseline is the raw JetStream KV put rate on the pool's own server,
// measured by bench in the same run as the jobs.
type kvBaseline struct {
	Seq  float64 `json:"put_per_second_1_in_flight"`
	Par8 float64 `json:"put_per_second_8_in_flight"`
}

// kvBaselineFor is how long each baseline measurement runs.
const kvBaselineFor = 2 * time.Second

// measureKV measures the raw KV put rate on the server at url, kvBaselineFor
// with one put in flight and as long with 8 (space.MeasureKVBaseline).
func measureKV(ctx context.Context, url string) (*kvBaseline, error) {
	b, err := space.MeasureKVBaseline(ctx, url, kvBaselineFor)
	if err != nil {
		return nil, err
	}
	return &kvBaseline{Seq: b.Seq, Par8: b.Par8}, nil
}
