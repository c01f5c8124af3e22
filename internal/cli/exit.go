package cli

import (
	"errors"
	"fmt"
)

// Exit codes, the same for every command (each command's help lists the ones it uses).
const (
	ExitOK       = 0 // success; check: every certificate healthy
	ExitFailure  = 1 // the operation failed or was refused; check: warnings only
	ExitCritical = 2 // check: something expired or invalid
	ExitUsage    = 3 // bad flags, arguments or input files
)

// ExitError carries an exit code with its cause.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks an error as the user's (exit 3): flags, arguments, input files.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// usagef is usageError(fmt.Errorf(...)).
func usagef(format string, a ...any) error { return usageError(fmt.Errorf(format, a...)) }

// silentExit ends with a code and no message (the command already printed).
func silentExit(code int) error { return &ExitError{Code: code} }

func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
