package tuplebroker

import (
	"context"
	"time"
)

// StopGrace is how long a role that is stopping still spends finishing
// what it began (a commit, an abort, releasing a courier): a process asked
// to stop never hangs longer than this on an unreachable store. Whatever
// is left unfinished is covered by leases: taken tuples come back when
// their transaction's lease ends.
const StopGrace = 2 * time.Second

// FinishContext is the context for work that must outlive ctx once begun
// — a commit or an abort after a take: it keeps ctx's values, is not
// cancelled with ctx, and ends after limit, or StopGrace after ctx ends,
// whichever comes first. Call cancel when the work is done.
func FinishContext(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(StopGrace, cancel)
		context.AfterFunc(fctx, func() { t.Stop() })
	})
	return fctx, func() { stop(); cancel() }
}
