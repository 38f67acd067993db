package job

// Kind says why a job could not do what it was asked, so that a command can tell a bad job file from
// a cycle that could not run (the exit codes of docs/commands.md).
type Kind int

const (
	// KindConfig: the job file, or something it points at (a CA bundle, a credential, an environment
	// variable), cannot be used; fixing the configuration fixes it.
	KindConfig Kind = iota + 1
	// KindAborted: the job could not run now (its state is locked or held by another replica, the
	// state cannot be opened, the lease was lost); nothing was changed.
	KindAborted
)

// Error is an error of a known Kind; errors.As finds it however deeply it is wrapped.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func configError(err error) error { return kindError(KindConfig, err) }
func abortError(err error) error  { return kindError(KindAborted, err) }

func kindError(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}
