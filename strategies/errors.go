package strategies

import "errors"

// Sentinel errors. Match them with errors.Is; every error this package
// returns wraps exactly one of them, with the details in its message.
var (
	// ErrUnknownStrategy: a constructor was given a name that is not in its
	// registry. The message lists the valid names.
	ErrUnknownStrategy = errors.New("strategies: unknown strategy")
	// ErrInvalidConfig: a configuration failed Validate. The message names
	// the field and the rule it broke.
	ErrInvalidConfig = errors.New("strategies: invalid configuration")
	// ErrNoAgents: a Dispatcher was asked to choose from an empty list.
	ErrNoAgents = errors.New("strategies: no agents to choose from")
)
