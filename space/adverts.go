package space

import (
	"context"
	"encoding/json"
	"fmt"

	"tuplebroker"
)

// Advertise announces an agent's advert at tuplebroker.AdvertName.
func (n *Names) Advertise(ctx context.Context, ad tuplebroker.Advert) error {
	data, err := json.Marshal(ad)
	if err != nil {
		return fmt.Errorf("advert %s: %w", ad.Agent, err)
	}
	return n.Announce(ctx, tuplebroker.AdvertName(ad.Agent), data)
}

// Adverts reads every agent advert; undecodable ones are skipped.
func (n *Names) Adverts(ctx context.Context) ([]tuplebroker.Advert, error) {
	as, err := n.List(ctx, tuplebroker.AdvertPrefix)
	if err != nil {
		return nil, fmt.Errorf("agent adverts: %w", err)
	}
	out := make([]tuplebroker.Advert, 0, len(as))
	for _, a := range as {
		var ad tuplebroker.Advert
		if json.Unmarshal(a.Value, &ad) == nil && ad.Agent != "" {
			ad.Seen = a.Updated
			out = append(out, ad)
		}
	}
	return out, nil
}
