package space

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func newJS(nc *nats.Conn) (jetstream.JetStream, error) { return jetstream.New(nc) }

// present reports whether subject's last message is a tuple (claimed or not)
// rather than a removal or nothing.
func present(ctx context.Context, st jetstream.Stream, subject string) bool {
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return false
	}
	return !isRemoval(msg.Header)
}
