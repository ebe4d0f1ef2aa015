package space

import "errors"

// Sentinel errors. Match them with errors.Is; every error the space returns
// wraps one of these or a NATS error with context.
var (
	// ErrNoMatch: a non-blocking Read or Take found no matching tuple.
	ErrNoMatch = errors.New("space: no matching tuple")
	// ErrExists: Write of a tuple whose key (kind and index fields) is already in the space.
	ErrExists = errors.New("space: tuple already exists")
	// ErrLeaseExpired: the lease of a tuple or transaction ended before the operation.
	ErrLeaseExpired = errors.New("space: lease expired")
	// ErrChanged: the tuple changed since it was read (a renewal lost a race).
	ErrChanged = errors.New("space: tuple changed concurrently")
	// ErrTxnDone: the transaction was already committed or aborted.
	ErrTxnDone = errors.New("space: transaction already finished")
	// ErrTxnTooLarge: a transaction holds more operations than one atomic commit can carry.
	ErrTxnTooLarge = errors.New("space: transaction too large")
	// ErrInvalid: a tuple, template or option is malformed.
	ErrInvalid = errors.New("space: invalid argument")
	// ErrCorrupt: a stored value could not be decoded (unknown version, bad bytes).
	ErrCorrupt = errors.New("space: corrupt or unknown-version value")
	// ErrClosed: the space was closed.
	ErrClosed = errors.New("space: closed")
)
